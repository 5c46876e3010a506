"""Look at fused point clouds: a browser viewer (viser, 127.0.0.1 only) with a time slider: the
person moving (``person/NNNNNN.ply`` and the skeleton of ``skeleton3d.json``) inside the fixed
static background (``fused.ply``), with every video's camera frustum at each instant, opened framed
on the cloud; an Open3D window when a display exists, or a PNG screenshot without one (Open3D
offscreen, else a matplotlib scatter). Output folders without a world pose per instant show
``frames/NNNNNN.ply`` instead.

PATH is a ``synrecon fuse`` output folder or a single ``.ply``.
"""
from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError

log = logging.getLogger(__name__)


@dataclass
class Frustum:
    """One camera at one instant: (4, 4) camera-to-cloud transform and its intrinsics."""

    name: str
    camera_to_cloud: np.ndarray
    width: int
    height: int
    fy: float


@dataclass
class ViewData:
    """What there is to show: per-instant clouds (lazy paths), fused.ply and the frusta; per
    position in ``frames``: the person's cloud, its world pose (4, 4) world_from_reference, and
    the skeleton (18, 3) in that instant's reference frame (NaN = unknown)."""

    frames: list[Path]
    fused: Path | None
    frusta: dict[int, list[Frustum]] = field(default_factory=dict)   # position in ``frames`` -> frusta
    person: dict[int, Path] = field(default_factory=dict)
    world: dict[int, np.ndarray] = field(default_factory=dict)
    skeleton: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def clouds(self) -> list[Path]:
        return self.frames if self.frames else ([self.fused] if self.fused else [])


def load_view(path: str | Path) -> ViewData:
    """An OUTDIR of ``synrecon fuse`` or a .ply file -> ViewData."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() != ".ply":
            raise InputError(path, "not a .ply file or a fuse output folder")
        return ViewData([], path)
    if not path.is_dir():
        raise InputError(path, "not found")
    frames = sorted((path / "frames").glob("*.ply")) if (path / "frames").is_dir() else []
    fused = path / "fused.ply" if (path / "fused.ply").is_file() else None
    if not frames and fused is None:
        if (path / "registration.json").is_file():  # fuse ran and fused no instant (every view flagged)
            raise InputError(path, "nothing to show: fuse fused no instant here (no frames/*.ply, no fused.ply; "
                                   "registration.json says why each view was flagged)")
        raise InputError(path, "no frames/*.ply and no fused.ply: not a fuse output folder")
    data = ViewData(frames, fused)
    reg_path = path / "registration.json"
    if reg_path.is_file():
        from .recon.registration import Registration

        reg = Registration.load(reg_path)
        intr = reg.intrinsics
        by_index = {int(p.stem): k for k, p in enumerate(frames) if p.stem.isdigit()}
        for rec in reg.frames:
            k = by_index.get(rec.index)
            if k is None:
                if rec.num_points > 0:
                    missing = path / "frames" / f"{rec.index:06d}.ply"
                    raise InputError(missing, "listed in registration.json but missing")
                continue
            data.frusta[k] = [Frustum(n, T, intr[n].width, intr[n].height, intr[n].fy)
                              for n, T in rec.registered().items() if n in intr]
            if rec.world_from_reference is not None:
                data.world[k] = rec.world_from_reference
            person = path / "person" / f"{rec.index:06d}.ply"
            if person.is_file():
                data.person[k] = person
    if (path / "skeleton3d.json").is_file():
        from .recon.skeleton3d import read_skeleton3d

        skeleton = read_skeleton3d(path / "skeleton3d.json")
        rows = {tuple(sorted(f.items())): i for i, f in enumerate(skeleton.frames)}
        if reg_path.is_file():
            for rec in reg.frames:
                k, i = by_index.get(rec.index), rows.get(tuple(sorted(rec.frames.items())))
                if k is not None and i is not None:
                    data.skeleton[k] = skeleton.joints[i]
    return data


def _moved(points: np.ndarray, T: np.ndarray) -> np.ndarray:
    return (points @ T[:3, :3].T + T[:3, 3]).astype(np.float32)


def skeleton_segments(joints: np.ndarray) -> np.ndarray:
    """(18, 3) joints (NaN = unknown) -> (S, 2, 3) bone segments between known joints."""
    from .skeleton import LIMBS

    segs = [(joints[a], joints[b]) for a, b in LIMBS if np.isfinite(joints[a]).all() and np.isfinite(joints[b]).all()]
    return np.array(segs, dtype=np.float32).reshape(-1, 2, 3)


def read_cloud(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A .ply -> points (N, 3) float32, colours (N, 3) uint8 (grey when it has none)."""
    from .o3d import o3d

    pcd = o3d.io.read_point_cloud(str(path))
    pts = np.asarray(pcd.points, dtype=np.float32)
    if pcd.has_colors():
        cols = (np.asarray(pcd.colors) * 255).clip(0, 255).astype(np.uint8)
    else:
        cols = np.full((len(pts), 3), 160, np.uint8)
    return pts, cols


def _quat_wxyz(R: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(R).as_quat()
    return np.array([w, x, y, z])


PALETTE = [(230, 60, 60), (60, 160, 230), (80, 200, 80), (230, 170, 40), (170, 80, 220), (40, 200, 190)]


@dataclass
class BrowserViewer:
    """A running viser viewer: ``show(k)`` displays instant k (what the slider does); ``stop()``."""

    server: object
    show: object
    slider: object | None

    def stop(self) -> None:
        self.server.stop()


def serve(data: ViewData, port: int = 8080, host: str = "127.0.0.1", point_size: float = 0.02) -> BrowserViewer:
    """Start the viser server, bound to loopback by default. With a world pose per instant: the
    background (fused.ply) stays, the person and the skeleton move with the slider."""
    import viser

    server = viser.ViserServer(host=host, port=port, verbose=False)
    server.scene.set_up_direction("-y")  # clouds are in OpenCV camera coordinates (y down)
    steps = sorted(data.world) if data.world and data.fused is not None else list(range(len(data.clouds)))
    in_world = bool(data.world) and data.fused is not None
    names = sorted({f.name for fr in data.frusta.values() for f in fr})
    colour = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
    framing = None
    if in_world:
        pts, cols = read_cloud(data.fused)
        server.scene.add_point_cloud("/background", pts, cols, point_size=point_size)
        framing = pts
    elif steps:
        framing = read_cloud(data.clouds[steps[0]])[0]
    if framing is not None and len(framing):
        _frame_on(server, framing)

    def show(k: int) -> None:
        world = data.world.get(k, np.eye(4)) if in_world else np.eye(4)
        if in_world:
            pts, cols = read_cloud(data.person[k]) if k in data.person else (np.zeros((0, 3), np.float32),
                                                                              np.zeros((0, 3), np.uint8))
            server.scene.add_point_cloud("/person", _moved(pts, world), cols, point_size=point_size * 0.75)
        else:
            pts, cols = read_cloud(data.clouds[k])
            server.scene.add_point_cloud("/cloud", pts, cols, point_size=point_size)
        segs = skeleton_segments(data.skeleton[k]) if k in data.skeleton else np.zeros((0, 2, 3), np.float32)
        if len(segs):
            server.scene.add_line_segments("/skeleton", _moved(segs.reshape(-1, 3), world).reshape(-1, 2, 3),
                                           colors=(255, 40, 40), line_width=4.0)
        else:
            server.scene.add_frame("/skeleton", show_axes=False, visible=False)
        for n in names:
            fr = next((f for f in data.frusta.get(k, []) if f.name == n), None)
            if fr is None:
                server.scene.add_frame(f"/cameras/{n}", show_axes=False, visible=False)
                continue
            c2w = world @ fr.camera_to_cloud
            fov = 2 * np.arctan2(fr.height / 2, fr.fy)
            server.scene.add_camera_frustum(f"/cameras/{n}", fov=float(fov), aspect=fr.width / fr.height,
                                            scale=0.3, color=colour[n], wxyz=_quat_wxyz(c2w[:3, :3]),
                                            position=c2w[:3, 3])

    slider = None
    if len(steps) > 1:
        slider = server.gui.add_slider("instant", min=0, max=len(steps) - 1, step=1, initial_value=0)
        label = server.gui.add_text("file", initial_value=data.clouds[steps[0]].name, disabled=True)

        @slider.on_update
        def _(_event) -> None:
            label.value = data.clouds[steps[int(slider.value)]].name
            show(steps[int(slider.value)])
    if steps:
        show(steps[0])
    return BrowserViewer(server, show, slider)


def _frame_on(server, points: np.ndarray) -> None:
    """Open framed on the cloud: from behind and above its centre, far enough to see it whole."""
    centre = np.median(points, axis=0)
    span = float(np.percentile(np.linalg.norm(points - centre, axis=1), 90))
    # OpenCV axes: -y is up, +z forward from the reference camera at the first instant
    position = centre + np.array([0.0, -0.8, -1.6]) * max(span, 0.5)
    server.initial_camera.position = tuple(float(v) for v in position)
    server.initial_camera.look_at = tuple(float(v) for v in centre)
    server.initial_camera.up = (0.0, -1.0, 0.0)


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_window(data: ViewData, frame: int | None = None) -> None:
    """An Open3D window (needs a display)."""
    from .o3d import o3d

    if not has_display():
        raise InputError(None, "no display ($DISPLAY is not set): use the browser viewer or --screenshot")
    path = _pick(data, frame)
    o3d.visualization.draw_geometries([o3d.io.read_point_cloud(str(path))], window_name=f"synrecon view {path.name}")


def _pick(data: ViewData, frame: int | None) -> Path:
    clouds = data.clouds
    if frame is None:
        return data.fused if data.fused is not None else clouds[0]
    if not data.frames:
        raise InputError(None, "--frame needs a fuse output folder with frames/")
    by_index = {int(p.stem): p for p in data.frames if p.stem.isdigit()}
    if frame not in by_index:
        raise InputError(data.frames[0].parent, f"no frame {frame} (have {min(by_index)}..{max(by_index)})")
    return by_index[frame]


@contextmanager
def _stderr_off():
    """File descriptor 2 to /dev/null inside (C libraries write to it directly, past Python and
    Open3D's verbosity); a failed window is reported by its return value, and handled."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _open3d_png(pcd, out: Path, width: int, height: int) -> bool:
    """Offscreen render with the legacy Visualizer (EGL without a display); False when it fails."""
    from .o3d import o3d

    try:
        vis = o3d.visualization.Visualizer()
        with _stderr_off():  # the windowing libraries print "XDG_RUNTIME_DIR is invalid" etc. without a session
            created = vis.create_window(visible=False, width=width, height=height)
        if not created:
            return False
        vis.add_geometry(pcd)
        opt = vis.get_render_option()
        if opt is None:
            vis.destroy_window()
            return False
        opt.point_size = 2.0
        opt.background_color = np.array([1.0, 1.0, 1.0])
        ctr = vis.get_view_control()
        ctr.set_front([0.0, -0.45, -1.0])  # from behind and above the reference camera (y down)
        ctr.set_up([0.0, -1.0, 0.0])
        ctr.set_lookat(pcd.get_center())
        ctr.set_zoom(0.6)
        vis.poll_events()
        vis.update_renderer()
        img = np.asarray(vis.capture_screen_float_buffer(do_render=True))
        vis.destroy_window()
    except Exception as exc:
        log.debug("Open3D offscreen failed: %s", exc)
        return False
    if img.size == 0 or img.std() < 1e-3:
        return False
    import cv2

    cv2.imwrite(str(out), cv2.cvtColor((img * 255).clip(0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    return True


def _matplotlib_png(pts: np.ndarray, cols: np.ndarray, out: Path, width: int, height: int,
                    frusta: list[Frustum] | None = None) -> None:
    """Scatter render: a perspective view from behind and above the reference camera."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    if len(pts) > 200_000:
        keep = rng.choice(len(pts), 200_000, replace=False)
        pts, cols = pts[keep], cols[keep]
    centre = np.median(pts, axis=0) if len(pts) else np.zeros(3)
    fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
    ax = fig.add_subplot(projection="3d")
    # Plot with matplotlib's z up: x -> x, z (forward) -> y, -y (up) -> z.
    ax.scatter(pts[:, 0], pts[:, 2], -pts[:, 1], c=cols / 255.0, s=0.3, marker=".", linewidths=0)
    for i, f in enumerate(frusta or []):
        c = f.camera_to_cloud[:3, 3]
        z = f.camera_to_cloud[:3, 2] * 0.5
        ax.plot([c[0], c[0] + z[0]], [c[2], c[2] + z[2]], [-c[1], -c[1] - z[1]],
                color=np.array(PALETTE[i % len(PALETTE)]) / 255, lw=2)
        ax.scatter([c[0]], [c[2]], [-c[1]], color=np.array(PALETTE[i % len(PALETTE)]) / 255, s=30)
    span = np.percentile(np.abs(pts - centre), 95, axis=0).max() if len(pts) else 1.0
    ax.set_xlim(centre[0] - span, centre[0] + span)
    ax.set_ylim(centre[2] - span, centre[2] + span)
    ax.set_zlim(-centre[1] - span, -centre[1] + span)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("z (m)")
    ax.set_zlabel("up (m)")
    ax.view_init(elev=25, azim=-100)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def screenshot(data: ViewData, out: str | Path, frame: int | None = None,
               width: int = 1024, height: int = 768) -> str:
    """Render a PNG of one cloud (``frame`` or fused.ply) with no display needed.

    Returns the renderer used: "open3d" or "matplotlib" (when Open3D's offscreen rendering fails).
    """
    from .fileio import atomic_path
    from .o3d import o3d, quiet

    path = _pick(data, frame)
    with quiet():  # a failed offscreen window (no EGL) is handled below, without Open3D's warnings
        pcd = o3d.io.read_point_cloud(str(path))
        if len(pcd.points) == 0:
            raise InputError(path, "the cloud is empty")
        out = Path(out)
        with atomic_path(out) as tmp:
            if _open3d_png(pcd, tmp, width, height):
                return "open3d"
            try:
                pts, cols = read_cloud(path)
                k = data.frames.index(path) if path in data.frames else None
                _matplotlib_png(pts, cols, tmp, width, height, data.frusta.get(k) if k is not None else None)
            except Exception as exc:
                raise InputError(out, f"cannot render a screenshot: Open3D offscreen and matplotlib both "
                                      f"failed ({exc.__class__.__name__})") from None
    return "matplotlib"
