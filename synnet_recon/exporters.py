"""Exporters: hand synchronized frames (and their registration) to other toolkits.

An exporter is an :class:`Exporter` registered under the ``synnet_recon.exporters`` entry-point
group; ours are nerfstudio, COLMAP/OpenMVS and Open3D's reconstruction system (``plugins/``). A
built-in table finds ours in a checkout that was never ``pip install``-ed.

Every exporter is called as ``export(sync_json, recon_dir | None, out_dir, config) -> Path``. The
shared reading side lives here: :func:`load_scene` turns sync.json + registration.json into a list
of :class:`View` (one camera at one synchronized instant, with intrinsics and world pose), and
:func:`iter_view_images` decodes their video frames.

Conventions: metres, Y up; poses are OpenCV ``world_to_camera`` (x right, y down, z forward).
"World" is the frame of ``fused.ply``: fuse registers every view onto the reference camera per
instant (``camera_to_reference``) and chains the instants (``world_from_reference``), so a view's
camera-to-world is ``world_from_reference @ camera_to_reference``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import numpy as np

from .errors import InputError
from .io.depth_png import write_depth_png  # noqa: F401  (the depth codec; plugins import it from here)
from .schemas import TIMESTAMPS, TIMESTAMPS_VERSION

if TYPE_CHECKING:
    from .recon.registration import Registration
    from .sync.result import SyncResult, VideoSync

ENTRY_POINT_GROUP = "synnet_recon.exporters"

# Ours, found even without installed package metadata: name -> "module:attribute".
BUILTIN_EXPORTERS = {
    "nerfstudio": "plugins.nerfstudio_export:exporter",
    "colmap": "plugins.colmap_export:exporter",
    "open3d": "plugins.open3d_system:exporter",
    "trc": "plugins.trc_export:exporter",
}


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------
@dataclass
class ExportConfig:
    """Options shared by all exporters (third-party ones read ``options`` for their own)."""

    depth_dirs: dict[str, Path] = field(default_factory=dict)  # video name -> folder of <frame:06d>.png (mm)
    intrinsics: Path | None = None  # intrinsics file when registration.json has none (see recon.intrinsics)
    every: int = 1  # keep every n-th synchronized instant
    image_ext: str = "jpg"  # jpg or png
    jpeg_quality: int = 95
    max_points: int = 20_000  # COLMAP points3D subsampled from fused.ply (0 = none)
    options: dict[str, str] = field(default_factory=dict)  # exporter-specific KEY=VALUE


@dataclass
class Exporter:
    """One export format. ``export(sync_json, recon_dir | None, out_dir, config) -> Path``."""

    name: str
    description: str
    export: Callable[[Path, Path | None, Path, ExportConfig], Path]
    needs_recon: bool = True  # needs `synrecon fuse` output (poses, intrinsics)

    def __call__(self, sync_json, recon_dir, out_dir, config: ExportConfig | None = None) -> Path:
        sync_json = Path(sync_json)
        if recon_dir is None and self.needs_recon:
            raise InputError(sync_json, f"the {self.name} exporter needs the fuse output: pass --recon DIR")
        if recon_dir is not None and not Path(recon_dir).is_dir():
            raise InputError(recon_dir, "recon directory not found")
        return Path(self.export(sync_json, None if recon_dir is None else Path(recon_dir),
                                Path(out_dir), config or ExportConfig()))


def _as_exporter(name: str, obj) -> Exporter:
    """Entry points may name an Exporter, or a bare ``export`` callable."""
    if isinstance(obj, Exporter):
        return obj
    if callable(obj):
        doc = (obj.__doc__ or "").strip().splitlines()
        return Exporter(name, doc[0] if doc else name, obj, getattr(obj, "needs_recon", True))
    raise TypeError(f"exporter {name!r} is neither an Exporter nor callable: {obj!r}")


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def list_exporters() -> dict[str, str]:
    """Available export formats: name -> "module:attribute" (installed entry points win)."""
    found = dict(BUILTIN_EXPORTERS)
    found.update({name: ep.value for name, ep in _entry_points().items()})
    return dict(sorted(found.items()))


def get_exporter(name: str) -> Exporter:
    """The exporter registered as ``name``; InputError when there is none."""
    eps = _entry_points()
    if name in eps:
        return _as_exporter(name, eps[name].load())
    if name in BUILTIN_EXPORTERS:
        module, attr = BUILTIN_EXPORTERS[name].split(":")
        return _as_exporter(name, getattr(importlib.import_module(module), attr))
    raise InputError(None, f"unknown export format {name!r} (available: {', '.join(list_exporters())})")


# --------------------------------------------------------------------------------------------
# Reading sync.json and registration.json
# --------------------------------------------------------------------------------------------
@dataclass
class View:
    """One video's frame at one synchronized instant."""

    camera: str
    frame: int  # frame index in that video
    instant: int  # index of the synchronized instant (row of sync.json "frames")
    time: float  # the instant's time on the reference clock, s
    capture_time: float  # this frame's own capture time on the reference clock, s
    intrinsics: object | None  # synnet_recon.recon.intrinsics.Intrinsics, or None when unknown
    world_to_camera: np.ndarray | None  # (4, 4) OpenCV, or None without registration

    @property
    def camera_to_world(self) -> np.ndarray:
        """(4, 4) OpenCV camera-to-world."""
        return np.linalg.inv(self.world_to_camera)

    def image_name(self, ext: str = "jpg") -> str:
        """Name by time then camera, so sorting groups an instant's views: ``t0001.234_cam1.jpg``."""
        return f"t{self.time:08.3f}_{self.camera}.{ext}"


@dataclass
class ExportScene:
    sync_path: Path
    sync: "SyncResult"
    reference: str
    videos: dict[str, "VideoSync"]  # name -> sync.json video entry
    views: list[View]
    recon_dir: Path | None = None
    registration: "Registration | None" = None

    @property
    def fused_ply(self) -> Path | None:
        if self.recon_dir is None:
            return None
        p = self.recon_dir / "fused.ply"
        return p if p.is_file() else None

    def cameras(self) -> list[str]:
        """Cameras that appear in the views, in sync.json order."""
        used = {v.camera for v in self.views}
        return [n for n in self.videos if n in used]

    def video_path(self, name: str) -> Path:
        """The video file of camera ``name`` (relative paths of sync.json resolved against its folder)."""
        return self.sync.resolve(self.videos[name].path)


def read_sync(path: str | Path) -> "SyncResult":
    """sync.json, checked (``SyncResult.load``)."""
    from .sync.result import SyncResult

    return SyncResult.load(path)


def read_registration(path: str | Path) -> "Registration":
    """registration.json, checked (``Registration.load``). An instant's ``registered()`` views are
    placed; ``world_from_reference`` places the instant's reference camera in the frame of
    fused.ply (fuse chains the instants); flagged instants have none."""
    from .recon.registration import Registration

    return Registration.load(path)


def _intrinsics_for(names: list[str], registration: "Registration | None", config: ExportConfig,
                    required: bool, where: Path) -> dict[str, object]:
    from .recon.intrinsics import load_intrinsics

    out = {}
    if registration is not None:
        out = {n: K for n, K in registration.intrinsics.items() if n in names}
    missing = [n for n in names if n not in out]
    if missing and config.intrinsics is not None:
        out.update(load_intrinsics(config.intrinsics, missing))
        missing = []
    if missing and required:
        raise InputError(where, f"no intrinsics for {', '.join(missing)}: pass --intrinsics FILE")
    return out


def load_scene(sync_json: str | Path, recon_dir: str | Path | None, config: ExportConfig,
               need_intrinsics: bool = True) -> ExportScene:
    """The views to export: the registered views of the ``ok`` instants of registration.json when
    ``recon_dir`` is given (poses in fused.ply's frame), else every row of sync.json's ``frames``
    (no poses). Keypoint-only inputs are skipped.
    """
    sync_path = Path(sync_json)
    sync = read_sync(sync_path)
    videos = {v.name: v for v in sync.videos}
    image_videos = [n for n, v in videos.items() if v.kind == "video" and v.path]
    if not image_videos:
        raise InputError(sync_path, "no video inputs to export (keypoint folders have no images)")

    registration = None
    if recon_dir is not None:
        recon_dir = Path(recon_dir)
        reg_path = recon_dir / "registration.json"
        registration = read_registration(reg_path)
        # Flagged instants (ok false) have no world pose: they cannot be placed, so they are left out.
        rows = [(r.index, r.time, r.frames, r.registered(), r.world_from_reference) for r in registration.frames
                if r.fused and r.world_from_reference is not None]
        if not rows:
            raise InputError(reg_path, "no registered instants to export (every instant is flagged ok: false)")
    else:
        rows = [(k, r["time"], r["frames"], None, None) for k, r in enumerate(sync.frames_table())]
    rows = rows[:: max(1, int(config.every))]
    intrinsics = _intrinsics_for(image_videos, registration, config, need_intrinsics,
                                 recon_dir / "registration.json" if recon_dir else sync_path)

    views = []
    for index, time, frames, camera_to_reference, world_from_reference in rows:
        for cam, frame in frames.items():
            if cam not in image_videos:
                continue
            w2c = None
            if camera_to_reference is not None:
                if cam not in camera_to_reference:
                    continue  # this view did not register at this instant
                w2c = np.linalg.inv(world_from_reference @ camera_to_reference[cam])
            video = videos[cam]
            fps = float(video.fps or 0.0)
            capture = float(video.offset_seconds or 0.0) + (frame / fps if fps > 0 else 0.0)
            views.append(View(cam, int(frame), index, float(time), capture, intrinsics.get(cam), w2c))
    if not views:
        raise InputError(sync_path, "no frames to export")
    return ExportScene(sync_path, sync, sync.reference, videos, views, recon_dir, registration)


# --------------------------------------------------------------------------------------------
# Frames, depth and images
# --------------------------------------------------------------------------------------------
def _read_video_frames(path: Path, indices: set[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Decode ``path`` once, yielding (index, (H, W, 3) uint8 upright RGB) for the wanted frames."""
    from .io.video import iter_frames

    for frame in iter_frames(path, indices=sorted(indices)):
        yield frame.index, frame.image


def iter_view_images(scene: ExportScene, views: Iterable[View] | None = None) -> Iterator[tuple[View, np.ndarray]]:
    """(view, (H, W, 3) uint8 RGB) for each view, decoding each video once, in view order per video."""
    views = list(scene.views if views is None else views)
    by_cam: dict[str, list[View]] = {}
    for v in views:
        by_cam.setdefault(v.camera, []).append(v)
    for cam, cam_views in by_cam.items():
        path = scene.video_path(cam)
        if not path.is_file():
            raise InputError(path, f"video of {cam!r} not found")
        wanted = {v.frame for v in cam_views}
        frames = {}
        try:
            for index, rgb in _read_video_frames(path, wanted):
                frames[index] = rgb
        except InputError:
            raise
        except Exception as exc:  # PyAV raises many error types for corrupt files
            raise InputError(path, f"cannot decode video ({exc.__class__.__name__}: {exc})") from None
        for v in cam_views:
            if v.frame not in frames:
                raise InputError(path, f"frame {v.frame} not in video (it has {len(frames) and max(frames) + 1} frames)")
            yield v, frames[v.frame]


def intrinsics_for_image(view: View, rgb: np.ndarray, where) -> object:
    """The view's intrinsics at the decoded frame's size (videos may be downscaled copies)."""
    K = view.intrinsics
    h, w = rgb.shape[:2]
    if (w, h) == (K.width, K.height):
        return K
    if abs(w / h - K.width / K.height) > 0.01:
        raise InputError(where, f"frames of {view.camera!r} are {w}x{h} but its intrinsics are for {K.width}x{K.height}")
    return K.scaled(w, h)


def depth_sources(scene: ExportScene, config: ExportConfig) -> dict[str, object]:
    """Depth per exported camera, read like `synrecon fuse` reads it (recon.depth.DepthSource:
    16-bit mm PNG or .npy folder, (T, H, W) .npy, or 16-bit depth video): ``--depth-dir NAME=PATH``,
    else found beside the video (``OUT/videos/<cam>.mp4`` -> ``OUT/depth/<cam>``, ``x_depth/``...).
    Cameras without depth are left out of the result."""
    from .recon.depth import DepthSource, VideoSource, default_depth_path

    for n, d in config.depth_dirs.items():
        if n not in scene.videos:
            raise InputError(d, f"--depth-dir names unknown video {n!r} (videos: {', '.join(scene.videos)})")
    sources = {}
    for n in scene.cameras():
        path = config.depth_dirs.get(n) or default_depth_path(VideoSource(n, scene.video_path(n)))
        if path is not None:
            sources[n] = DepthSource(path)
    return sources


def view_depth(sources: dict[str, object], view: View, rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32 metres of the view's frame (0 = no depth), checked against the colour frame."""
    source = sources[view.camera]
    depth = source.get(view.frame)
    if depth.shape[:2] != rgb.shape[:2]:
        raise InputError(source.path, f"depth of frame {view.frame} is {depth.shape[1]}x{depth.shape[0]} but the "
                                      f"video frame is {rgb.shape[1]}x{rgb.shape[0]}")
    return depth


def write_image(path: Path, rgb: np.ndarray, quality: int = 95) -> None:
    """Write (H, W, 3) uint8 RGB as JPEG or PNG by suffix."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    if path.suffix.lower() in (".jpg", ".jpeg"):
        img.save(path, quality=int(quality))
    else:
        img.save(path)


def timestamps(scene: ExportScene, names: list[str] | None = None) -> dict:
    """``timestamps.json`` content: per exported image (``names``, default ``view.image_name()``)
    its camera, frame index, instant, instant time and own capture time (reference clock, s)."""
    names = names or [v.image_name() for v in scene.views]
    rows = [{"image": n, "camera": v.camera, "frame": v.frame, "instant": v.instant, "time": v.time,
             "capture_time": v.capture_time} for n, v in zip(names, scene.views)]
    return {"schema": TIMESTAMPS, "version": TIMESTAMPS_VERSION, "reference": scene.reference,
            "sync": str(scene.sync_path.resolve()), "images": rows}
