"""Stage ``fuse``: synchronized frames (sync.json) -> depth -> coloured clouds per view ->
registered onto the reference view per instant -> fused clouds (and optionally a TSDF mesh).

Outputs (written into a temporary folder renamed onto ``out_dir`` only on success):
    frames/NNNNNN.ply   fused cloud of synchronized instant NNNNNN (row of sync.json "frames"),
                        in the reference camera's frame at that instant
    fused.ply           all accepted instants chained into the first one's reference frame,
                        voxel-downsampled
    registration.json   ``registration.Registration`` (docs/formats.md, docs/fuse.md)
    mesh.ply            with ``mesh=True``: TSDF mesh (Open3D ScalableTSDFVolume, trimesh export)
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..fileio import atomic_dir
from ..io.depth_png import read_depth_png, write_depth_png
from ..keypoints import Keypoints
from ..o3d import o3d
from ..sync.result import SyncResult
from .depth import DepthContext, load_backend
from .frames import FrameReader, VideoSource
from .intrinsics import Intrinsics, estimate_intrinsics, load_intrinsics
from .lift import LiftConfig, lift, remove_outliers, to_cloud, voxel_down
from .register import PairRegistration, PreparedCloud, RegistrationConfig, prepare, register
from .registration import FrameRecord, RegisteredVideo, Registration  # noqa: F401  (FrameRecord re-exported)

log = logging.getLogger(__name__)



@dataclass
class FuseConfig:
    """Everything ``fuse`` can be told; the CLI fills it from its options."""

    depth: str = "rgbd"                                   # backend: rgbd | stereo | mono | plugin
    depth_dirs: dict[str, str] = field(default_factory=dict)     # video name -> depth folder/file
    keypoint_dirs: dict[str, str] = field(default_factory=dict)  # video name -> OpenPose folder or tracks .npz
    #                                                     (default: where sync.json says its keypoints are)
    mono_model: str | None = None
    scale: float | None = None                            # stereo baseline (m) / mono depth factor
    intrinsics: str | None = None                         # file, "auto", or None = find or estimate
    frames: str | None = None                             # "START:END:STEP" over sync.json rows
    voxel: float = 0.02                                   # fused.ply voxel (m)
    frame_voxel: float = 0.03                             # frames/*.ply voxel (m), 0 = none
    outlier_neighbors: int = 12                           # statistical outlier removal
    outlier_std: float = 2.5
    clean_frames: bool = False                            # outlier removal per instant (+40-70 % CPU) instead of on fused.ply
    chain_instants: bool = True                           # register instant t onto t-1 for fused.ply
    mesh: bool = False
    tsdf_voxel: float = 0.02
    autocalib_frames: int = 8                             # frames per video for intrinsics="auto"
    lift: LiftConfig = field(default_factory=LiftConfig)
    registration: RegistrationConfig = field(default_factory=RegistrationConfig)
    progress: bool = True


@dataclass
class FuseResult:
    out_dir: Path
    frames: list[FrameRecord]
    intrinsics: dict[str, Intrinsics]
    fused_points: int
    mesh: Path | None
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)   # seconds per stage, summed

    @property
    def num_ok(self) -> int:
        return sum(f.ok for f in self.frames)


# ----------------------------------------------------------------------------------------------
# Inputs


def load_sync(sync: str | Path | dict | SyncResult) -> SyncResult:
    """sync.json (path, parsed dict or SyncResult) -> SyncResult, checked (``SyncResult.load``);
    relative paths in it resolve against its folder (``SyncResult.resolve``)."""
    if isinstance(sync, SyncResult):
        result = sync
    elif isinstance(sync, dict):
        result = SyncResult.from_json(sync, "sync")
    else:
        result = SyncResult.load(sync)
    if not result.frames_table():
        raise InputError(result.source or "sync", "sync.json has no frames")
    return result


def parse_range(spec: str | None, n: int, where="--frames") -> list[int]:
    """"START:END:STEP" (Python slice, any part optional) over n rows -> row indices."""
    if spec in (None, ""):
        return list(range(n))
    parts = spec.split(":")
    if len(parts) > 3:
        raise InputError(where, f"{spec!r} is not START:END:STEP")
    try:
        vals = [int(p) if p.strip() else None for p in parts] + [None] * (3 - len(parts))
    except ValueError:
        raise InputError(where, f"{spec!r} is not START:END:STEP") from None
    if vals[2] is not None and vals[2] <= 0:
        raise InputError(where, "STEP must be positive")
    if any(v is not None and not -n <= v <= n for v in vals[:2]):
        raise InputError(where, f"{spec!r} is out of bounds: sync.json has {n} rows")
    return list(range(n))[slice(*vals)]


def _videos(sync: SyncResult) -> dict[str, VideoSource]:
    out = {}
    for v in sync.videos:
        if v.kind != "video":
            raise InputError(v.path, f"video {v.name!r} is {v.kind!r}; fuse needs videos")
        if v.path is None:
            raise InputError(sync.source or "sync", f"video {v.name!r} has no path")
        out[v.name] = VideoSource(v.name, sync.resolve(v.path), float(v.fps), v.num_frames)
    return out


def _find_intrinsics_file(videos: dict[str, VideoSource], base: Path) -> Path | None:
    """truth.json of a simulate layout, or intrinsics.json / cameras.txt beside sync.json."""
    first = next(iter(videos.values())).path
    for c in (first.parent.parent / "truth.json", base / "truth.json", base / "intrinsics.json",
              base / "cameras.txt"):
        if c.is_file():
            return c
    return None


def resolve_intrinsics(config: FuseConfig, videos: dict[str, VideoSource], base: Path,
                       rows: list[dict]) -> dict[str, Intrinsics]:
    names = list(videos)
    spec = config.intrinsics
    if spec not in (None, "auto"):
        return load_intrinsics(spec, names)
    if spec is None:
        found = _find_intrinsics_file(videos, base)
        if found is not None:
            log.info("intrinsics from %s", found)
            return load_intrinsics(found, names)
    out = {}
    for name, video in videos.items():
        idx = sorted({r["frames"][name] for r in rows if name in r["frames"]})
        if not idx:
            raise InputError(video.path, "no intrinsics and none estimable (no frames)")
        pick = [idx[int(round(i))] for i in np.linspace(0, len(idx) - 1, min(config.autocalib_frames, len(idx)))]
        reader = FrameReader(video.path)
        frames = [reader.get(i) for i in sorted(set(pick))]
        reader.close()
        out[name] = estimate_intrinsics(frames, str(video.path))
        log.info("estimated intrinsics of %s: %s", name, out[name])
    return out


# ----------------------------------------------------------------------------------------------
# Per instant


def view_points(depth: np.ndarray, image: np.ndarray, intr: Intrinsics,
                config: FuseConfig) -> tuple[np.ndarray, np.ndarray]:
    """Depth (H, W) metres + colour (H, W, 3) of one view -> points (N, 3) in that camera's frame
    and colours (N, 3) in [0, 1], without depth-edge pixels (downsampling and outlier removal
    happen once per instant, on the fused cloud)."""
    if intr.distorted:
        import cv2

        K = intr.K
        dist = np.array(intr.dist)
        m1, m2 = cv2.initUndistortRectifyMap(K, dist, None, K, (intr.width, intr.height), cv2.CV_32FC1)
        image = cv2.remap(image, m1, m2, cv2.INTER_LINEAR)
        depth = cv2.remap(depth, m1, m2, cv2.INTER_NEAREST)
    return lift(depth, intr.K, image, config.lift)


def view_cloud(depth: np.ndarray, image: np.ndarray, intr: Intrinsics, config: FuseConfig):
    """``view_points`` as an Open3D cloud."""
    return to_cloud(*view_points(depth, image, intr, config))


def merge_prepared(parts: list[tuple[PreparedCloud, np.ndarray]]) -> PreparedCloud:
    """Registration clouds (with normals) of the views of one instant, moved by their (4, 4)
    transforms into one frame and concatenated (no new downsampling or normal estimation)."""
    merged = o3d.geometry.PointCloud()
    for prep, T in parts:
        merged += o3d.geometry.PointCloud(prep.cloud).transform(T)
    return PreparedCloud(merged, parts[0][0].voxel, parts[0][0].fpfh_radius)


def _intrinsics_for(intr: Intrinsics, image: np.ndarray, where) -> Intrinsics:
    h, w = image.shape[:2]
    if (w, h) == (intr.width, intr.height):
        return intr
    if abs(w / h - intr.width / intr.height) > 0.01:
        raise InputError(where, f"frames are {w}x{h} but the intrinsics are for {intr.width}x{intr.height}")
    return intr.scaled(w, h)


def _export_mesh(m, path: Path) -> None:
    """Open3D TriangleMesh -> PLY with vertex colours, written by trimesh."""
    import trimesh

    colors = (np.asarray(m.vertex_colors) * 255).clip(0, 255).astype(np.uint8) if m.has_vertex_colors() else None
    mesh = trimesh.Trimesh(np.asarray(m.vertices), np.asarray(m.triangles), vertex_colors=colors, process=False)
    mesh.export(path)


def _cache_view(folder: Path, k: int, depth, image, intr: Intrinsics, camera_to_world: np.ndarray):
    """Keep a view for a second TSDF pass: depth as 16-bit mm PNG, colour as PNG."""
    import cv2

    folder.mkdir(exist_ok=True)
    dp, cp = folder / f"{k:06d}_depth.png", folder / f"{k:06d}_color.png"
    write_depth_png(dp, depth)
    cv2.imwrite(str(cp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return dp, cp, intr, camera_to_world


def _uniform_tsdf_mesh(views, cloud, config: FuseConfig, max_resolution: int = 256):
    """TSDF of the cached views in a cube around ``cloud`` (voxel >= tsdf_voxel, <= 256^3 voxels)."""
    import cv2

    lo, hi = cloud.get_min_bound() - 0.1, cloud.get_max_bound() + 0.1
    length = float((hi - lo).max())
    resolution = int(min(max_resolution, np.ceil(length / config.tsdf_voxel)))
    voxel = length / resolution
    volume = o3d.pipelines.integration.UniformTSDFVolume(
        length=length, resolution=resolution, sdf_trunc=4 * voxel,
        color_type=o3d.pipelines.integration.TSDFVolumeColorType.RGB8, origin=lo.reshape(3, 1))
    for dp, cp, intr, c2w in views:
        depth = read_depth_png(dp)
        image = cv2.cvtColor(cv2.imread(str(cp)), cv2.COLOR_BGR2RGB)
        _integrate(volume, depth, image, intr, c2w, config)
    return volume.extract_triangle_mesh()


@dataclass
class Instant:
    """A row of sync.json's frames that has the reference view: names[0] is the reference."""

    row_index: int
    row: dict
    frames: dict[str, int]          # video name -> frame index
    names: list[str]


@dataclass
class FuseInputs:
    """What fuse reads and resolves before the first instant."""

    sync: SyncResult
    videos: dict[str, VideoSource]
    reference: str
    instants: list[Instant]
    intrinsics: dict[str, Intrinsics]
    backend: object
    keypoints: dict[str, Keypoints]     # main person per video, where known (``_keypoint_tracks``)


def read_inputs(sync: str | Path | dict | SyncResult, config: FuseConfig) -> FuseInputs:
    """sync.json, the videos, the picked instants, intrinsics, the depth backend, keypoints."""
    sync_result = load_sync(sync)
    base = sync_result.base
    videos = _videos(sync_result)
    reference = sync_result.reference
    all_rows = sync_result.frames_table()
    picked = parse_range(config.frames, len(all_rows))
    if not picked:
        raise InputError("--frames", f"{config.frames!r} selects no frames of {len(all_rows)}")
    rows = [(i, all_rows[i]) for i in picked]
    for name, video in videos.items():
        if not video.path.is_dir() and not video.path.is_file():
            raise InputError(video.path, f"video {name!r} not found")
    for option, given in (("--depth-dir", config.depth_dirs), ("--keypoints", config.keypoint_dirs)):
        for name in given:
            if name not in videos:
                raise InputError(option, f"{name!r} is not a video of sync.json ({', '.join(videos)})")
    intrinsics = resolve_intrinsics(config, videos, base, [r for _, r in rows])
    keypoints = _keypoint_tracks(config, sync_result, videos)
    context = DepthContext(videos, intrinsics, {k: Path(v) for k, v in config.depth_dirs.items()}, keypoints,
                           Path(config.mono_model) if config.mono_model else None, config.scale, reference)
    backend = load_backend(config.depth, context)
    instants = []
    for row_index, row in rows:
        frames = {n: int(i) for n, i in row["frames"].items() if n in videos}
        if reference in frames:
            instants.append(Instant(row_index, row, frames, [reference] + [n for n in frames if n != reference]))
    return FuseInputs(sync_result, videos, reference, instants, intrinsics, backend, keypoints)


@dataclass
class InstantViews:
    """The views of one instant: colour (H, W, 3), intrinsics, depth (H, W) metres, the cloud of
    each view downsampled to frame_voxel (points, colours) and its registration cloud."""

    images: dict[str, np.ndarray]
    intrinsics: dict[str, Intrinsics]
    depths: dict[str, np.ndarray] | None = None
    clouds: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
    prepared: dict[str, PreparedCloud] | None = None


class ViewLoader:
    """Frames of an instant (``read``), then depth, lifting and registration clouds (``complete``)."""

    def __init__(self, inputs: FuseInputs, config: FuseConfig, timings: dict[str, float]):
        self.inputs, self.config, self.timings = inputs, config, timings
        self.readers = {n: FrameReader(v.path) for n, v in inputs.videos.items()}
        self.stateless = config.depth == "rgbd"   # measured depth: safe to compute ahead, in a thread

    def read(self, instant: Instant) -> InstantViews:
        """Frames (and with measured depth, everything else) of one instant."""
        tick = time.perf_counter()
        images = {n: self.readers[n].get(instant.frames[n]) for n in instant.names}
        intr = {n: _intrinsics_for(self.inputs.intrinsics[n], images[n], self.inputs.videos[n].path)
                for n in instant.names}
        tick = _lap(self.timings, "read", tick)
        views = InstantViews(images, intr)
        return self.complete(views, instant, tick) if self.stateless else views

    def complete(self, views: InstantViews, instant: Instant, tick: float) -> InstantViews:
        names, config = instant.names, self.config
        views.depths = self.inputs.backend.depths({n: instant.frames[n] for n in names}, views.images)
        tick = _lap(self.timings, "depth", tick)
        # each view downsampled to frame_voxel at once (in the thread): registration and the
        # instant's cloud start from these, and the merged cloud needs one cheap pass more
        views.clouds = {n: voxel_down(*view_points(views.depths[n], views.images[n], views.intrinsics[n], config),
                                      config.frame_voxel) for n in names}
        tick = _lap(self.timings, "lift", tick)
        views.prepared = {n: prepare(views.clouds[n], config.registration) for n in names}
        _lap(self.timings, "prepare", tick)
        return views

    def close(self):
        for r in self.readers.values():
            r.close()


@dataclass
class Tracking:
    """Per video, its last accepted camera-to-reference (4, 4) and that registration's fitness."""

    transform: dict[str, np.ndarray] = field(default_factory=dict)
    fitness: dict[str, float] = field(default_factory=dict)


@dataclass
class InstantRegistration:
    """Every view of an instant registered onto the reference view."""

    transform: dict[str, np.ndarray]
    fitness: dict[str, float]
    inlier_rmse: dict[str, float]
    view_ok: dict[str, bool]
    global_registration: dict[str, bool]

    @property
    def ok(self) -> bool:
        return all(self.view_ok.values())


def register_instant(instant: Instant, views: InstantViews, inputs: FuseInputs, tracking: Tracking,
                     config: RegistrationConfig) -> InstantRegistration:
    """Register each other view of ``instant`` onto the reference view (``register``'s order:
    tracking from the previous instant, then hints, then global registration); updates ``tracking``."""
    reference, prepared = inputs.reference, views.prepared
    out = InstantRegistration({reference: np.eye(4)}, {reference: 1.0}, {reference: 0.0},
                              {reference: len(prepared[reference].cloud.points) >= 10}, {reference: False})
    for n in instant.names[1:]:
        if len(prepared[n].cloud.points) < 10 or not out.view_ok[reference]:
            res = PairRegistration(tracking.transform.get(n, np.eye(4)), 0.0, float("inf"), False, False)
        else:
            res = register(prepared[n], prepared[reference], config, init=tracking.transform.get(n),
                           hints=_hints(instant, views, inputs, n, config),
                           expected_fitness=tracking.fitness.get(n))
        out.transform[n], out.fitness[n], out.inlier_rmse[n] = res.transform, res.fitness, res.inlier_rmse
        out.view_ok[n], out.global_registration[n] = res.ok, res.global_registration
        if res.ok:
            tracking.transform[n], tracking.fitness[n] = res.transform, res.fitness
        else:
            log.warning("instant %d: %s not registered (fitness %.3f, rmse %.4f); not fused",
                        instant.row_index, n, res.fitness, res.inlier_rmse)
    return out


def _hints(instant: Instant, views: InstantViews, inputs: FuseInputs, n: str, config: RegistrationConfig) -> list:
    """Initial alignments of view ``n`` onto the reference: the backend's pose, the person's
    keypoints, SIFT matches (callables: computed only when needed)."""
    backend, reference, intr = inputs.backend, inputs.reference, views.intrinsics
    hints = [backend.poses[n]] if n in getattr(backend, "poses", {}) else []
    if n in inputs.keypoints and reference in inputs.keypoints:
        hints.append(_keypoint_hint(inputs.keypoints, instant.frames, n, reference, views.depths, intr, config))
    hints.append(_feature_hint(views.images[n], views.depths[n], intr[n], views.images[reference],
                               views.depths[reference], intr[reference], config))
    return hints


def frame_cloud(views: InstantViews, reg_: InstantRegistration, names: list[str],
                config: FuseConfig) -> tuple[np.ndarray, np.ndarray]:
    """The accepted views of an instant in the reference frame, downsampled to frame_voxel:
    points (N, 3), colours (N, 3)."""
    fused_views = [n for n in names if reg_.view_ok[n]]
    T, clouds = reg_.transform, views.clouds
    points, colors = voxel_down(
        np.concatenate([clouds[n][0] @ T[n][:3, :3].T + T[n][:3, 3] for n in fused_views] or [np.zeros((0, 3))]),
        np.concatenate([clouds[n][1] for n in fused_views] or [np.zeros((0, 3))]), config.frame_voxel)
    if config.clean_frames:
        keep = remove_outliers(points, config.outlier_neighbors, config.outlier_std)
        points, colors = points[keep], colors[keep]
    return points, colors


class Fusion:
    """Chains accepted instants into the first one's reference frame and gathers fused.ply (and
    the TSDF views for mesh.ply)."""

    def __init__(self, config: FuseConfig, tmp: Path):
        self.config, self.tmp = config, tmp
        self.prev_frame: PreparedCloud | None = None
        self.world_from_ref = np.eye(4)
        self.motion = np.eye(4)  # last reference-camera motion between accepted instants
        self.parts: list[tuple[np.ndarray, np.ndarray]] = []   # accepted instants' points, colours
        self.size = 0
        self.volume = None
        self.tsdf_views: list[tuple[Path, Path, Intrinsics, np.ndarray]] = []
        if config.mesh:
            self.volume = o3d.pipelines.integration.ScalableTSDFVolume(
                voxel_length=config.tsdf_voxel, sdf_trunc=4 * config.tsdf_voxel,
                color_type=o3d.pipelines.integration.TSDFVolumeColorType.RGB8)

    def chain(self, instant: Instant, views: InstantViews, reg_: InstantRegistration) -> np.ndarray | None:
        """world_from_reference (4, 4) of an accepted instant, or None when it does not chain."""
        config = self.config
        current = merge_prepared([(views.prepared[n], reg_.transform[n]) for n in instant.names])
        if not config.chain_instants:
            wfr = np.eye(4)
        elif self.prev_frame is None:
            wfr = self.world_from_ref.copy()
        else:
            step = register(current, self.prev_frame, config.registration, init=self.motion)
            if not step.ok:
                log.warning("instant %d: not chained to the previous instant (fitness %.3f)",
                            instant.row_index, step.fitness)
                return None
            self.motion = step.transform
            self.world_from_ref = self.world_from_ref @ step.transform
            wfr = self.world_from_ref.copy()
        self.prev_frame = current
        return wfr

    def add(self, instant: Instant, views: InstantViews, reg_: InstantRegistration, wfr: np.ndarray,
            points: np.ndarray, colors: np.ndarray) -> None:
        pts = points @ wfr[:3, :3].T + wfr[:3, 3]
        self.parts.append((pts, colors))
        self.size += len(pts)
        if self.size > 4_000_000:  # bound memory: downsample what there is so far
            self.parts = [_downsampled(self.parts, self.config.voxel)]
            self.size = len(self.parts[0][0])
        if self.volume is not None:
            for n in instant.names:
                c2w = wfr @ reg_.transform[n]
                _integrate(self.volume, views.depths[n], views.images[n], views.intrinsics[n], c2w, self.config)
                self.tsdf_views.append(_cache_view(self.tmp / ".tsdf", len(self.tsdf_views), views.depths[n],
                                                   views.images[n], views.intrinsics[n], c2w))

    def write(self) -> tuple[int, bool]:
        """fused.ply (and mesh.ply) into the temporary folder -> (fused points, mesh written)."""
        config = self.config
        points, colors = _downsampled(self.parts, config.voxel)
        if not config.clean_frames:
            keep = remove_outliers(points, config.outlier_neighbors, config.outlier_std)
            points, colors = points[keep], colors[keep]
        fused = to_cloud(points, colors)
        o3d.io.write_point_cloud(str(self.tmp / "fused.ply"), fused)
        if self.volume is None:
            return len(fused.points), False
        mesh = self.volume.extract_triangle_mesh()
        if len(mesh.triangles) == 0 and self.tsdf_views and len(fused.points):
            # ScalableTSDFVolume of some Open3D builds (open3d-cpu 0.20 here) extracts nothing:
            # integrate the cached views again into a UniformTSDFVolume around the cloud.
            log.info("ScalableTSDFVolume gave an empty mesh; using a UniformTSDFVolume")
            mesh = _uniform_tsdf_mesh(self.tsdf_views, fused, config)
        _export_mesh(mesh, self.tmp / "mesh.ply")
        shutil.rmtree(self.tmp / ".tsdf", ignore_errors=True)
        return len(fused.points), True


def registration(inputs: FuseInputs, config: FuseConfig, records: list[FrameRecord], fused_points: int) -> Registration:
    """What registration.json holds."""
    source = inputs.sync.source
    return Registration(
        reference=inputs.reference, depth=config.depth, sync=None if source is None else str(Path(source).resolve()),
        videos=[RegisteredVideo(n, str(v.path), inputs.intrinsics[n]) for n, v in inputs.videos.items()],
        config={"voxel": config.voxel, "frame_voxel": config.frame_voxel,
                "registration": asdict(config.registration), "lift": asdict(config.lift)},
        frames=records, fused_points=fused_points)


def fuse(sync: str | Path | dict | SyncResult, config: FuseConfig | None = None, out_dir: str | Path = "recon") -> FuseResult:
    """Fuse the synchronized instants of ``sync`` into point clouds under ``out_dir``
    (default settings when ``config`` is None)."""
    config = FuseConfig() if config is None else config
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    inputs = read_inputs(sync, config)
    _lap(timings, "setup", t_start)
    out_dir = Path(out_dir)
    loader = ViewLoader(inputs, config, timings)
    try:
        records, fused_points, mesh = _fuse_instants(inputs, config, loader, out_dir, timings)
    finally:
        loader.close()
    bad = [r.index for r in records if not r.ok]
    if bad:
        log.warning("%d of %d instants flagged (ok: false): %s", len(bad), len(records), bad[:20])
    return FuseResult(out_dir, records, inputs.intrinsics, fused_points, out_dir / "mesh.ply" if mesh else None,
                      time.perf_counter() - t_start, timings)


def _fuse_instants(inputs: FuseInputs, config: FuseConfig, loader: ViewLoader, out_dir: Path,
                   timings: dict[str, float]) -> tuple[list[FrameRecord], int, bool]:
    """Every instant: views, registration, frame cloud, chaining; then fused.ply and
    registration.json, all in a temporary folder renamed onto ``out_dir`` at the end."""
    from tqdm import tqdm

    records: list[FrameRecord] = []
    tracking = Tracking()
    writes = []
    # The next instant is read, and with measured depth (stateless) lifted and prepared, in a
    # thread while this one registers (Open3D, OpenCV, PyAV and most numpy release the GIL);
    # other depth backends may keep state between instants and run here, in order.
    ahead = _one_ahead(loader.read, inputs.instants)
    try:
        # frames/*.ply are written by a thread (Open3D's writer releases the GIL); leaving the block
        # waits for the writes before the folder is renamed or removed
        with atomic_dir(out_dir) as tmp, ThreadPoolExecutor(max_workers=1) as writer:
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; the output is an ordinary folder
            (tmp / "frames").mkdir()
            fusion = Fusion(config, tmp)
            for instant in tqdm(inputs.instants, desc="fuse", unit="instant", disable=not config.progress):
                tick = time.perf_counter()
                views = next(ahead)
                tick = _lap(timings, "wait for input", tick)
                if views.prepared is None:
                    views = loader.complete(views, instant, tick)
                tick = time.perf_counter()
                reg_ = register_instant(instant, views, inputs, tracking, config.registration)
                tick = _lap(timings, "register", tick)
                points, colors = frame_cloud(views, reg_, instant.names, config)
                writes.append(writer.submit(_write_cloud, tmp / "frames" / f"{instant.row_index:06d}.ply",
                                            points, colors))
                tick = _lap(timings, "frame cloud", tick)
                wfr = fusion.chain(instant, views, reg_) if reg_.ok else None
                if wfr is not None:
                    fusion.add(instant, views, reg_, wfr, points, colors)
                _lap(timings, "chain+fuse", tick)
                records.append(FrameRecord(instant.row_index, float(instant.row.get("time", 0.0)), instant.frames,
                                           reg_.transform, reg_.fitness, reg_.inlier_rmse, reg_.view_ok,
                                           reg_.global_registration, wfr, len(points), wfr is not None))
            tick = time.perf_counter()
            for w in writes:
                w.result()  # raises a failed write's error
            fused_points, mesh = fusion.write()
            registration(inputs, config, records, fused_points).save(tmp / "registration.json")
            _lap(timings, "finish", tick)
    finally:
        ahead.close()  # waits for the read in flight before the readers close
    return records, fused_points, mesh


def _downsampled(parts: list[tuple[np.ndarray, np.ndarray]], voxel: float) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate (points (N, 3), colours (N, 3)) parts, voxel-downsampled -> (M, 3), (M, 3)."""
    if not parts:
        return np.zeros((0, 3)), np.zeros((0, 3))
    return voxel_down(np.concatenate([p for p, _ in parts]), np.concatenate([c for _, c in parts]), voxel)


def _write_cloud(path: Path, points: np.ndarray, colors: np.ndarray) -> None:
    """(N, 3) points and (N, 3) colours in [0, 1] -> binary PLY (none for N = 0: Open3D writes none)."""
    if len(points) and not o3d.io.write_point_cloud(str(path), to_cloud(points, colors)):
        raise OSError(f"could not write {path}")


def _one_ahead(work, items: list):
    """Yield ``work(item)`` for each item in order, computing the next item's in a background thread
    while the caller uses the current one (one item ahead at most)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(work, items[0]) if items else None
        for k in range(len(items)):
            done = pending.result()
            pending = pool.submit(work, items[k + 1]) if k + 1 < len(items) else None
            yield done


def _lap(timings: dict[str, float], stage: str, tick: float) -> float:
    now = time.perf_counter()
    timings[stage] = timings.get(stage, 0.0) + now - tick
    return now


def _keypoint_tracks(config: FuseConfig, sync: SyncResult, videos: dict[str, VideoSource]) -> dict[str, Keypoints]:
    """The main person's keypoints per video (``keypoints.load_tracks``): from ``--keypoints`` when
    given, else from where sync.json says they are; videos with neither have none."""
    from ..keypoints import load_tracks

    for name in config.keypoint_dirs:
        if name not in videos:
            raise InputError(config.keypoint_dirs[name], f"--keypoints names unknown video {name!r}")
    out = {}
    for name, video in videos.items():
        path = Path(config.keypoint_dirs[name]) if name in config.keypoint_dirs else sync.keypoints_path(name)
        if path is None:
            continue
        if not path.exists() and name not in config.keypoint_dirs:
            log.warning("keypoints of %s not found at %s (named in sync.json): no keypoint hints", name, path)
            continue
        tracks = load_tracks(path, fps=video.fps)
        if tracks:
            out[name] = tracks[0]
    return out


def _keypoint_hint(keypoints: dict[str, Keypoints], frames, source: str, target: str, depths, intr,
                   config: RegistrationConfig):
    """A callable: the person's 2D keypoints lifted with depth in both views -> RANSAC transform."""
    from .person import lift_keypoints
    from .register import correspondence_registration

    def hint():
        ks = keypoints[source].at_frame(frames[source])
        kt = keypoints[target].at_frame(frames[target])
        if ks is None or kt is None:
            return None
        return correspondence_registration(lift_keypoints(ks, depths[source], intr[source].K),
                                           lift_keypoints(kt, depths[target], intr[target].K), config)
    return hint


def _feature_hint(src_image, src_depth, src_intr: Intrinsics, tgt_image, tgt_depth, tgt_intr: Intrinsics,
                  config: RegistrationConfig):
    """A callable: SIFT matches lifted to 3D -> RANSAC source-to-target transform (or None)."""
    from .register import correspondence_registration, feature_correspondences

    def hint():
        src, tgt = feature_correspondences(src_image, src_depth, src_intr.K, tgt_image, tgt_depth, tgt_intr.K)
        return correspondence_registration(src, tgt, config)
    return hint


def _integrate(volume, depth: np.ndarray, image: np.ndarray, intr: Intrinsics, camera_to_world: np.ndarray,
               config: FuseConfig) -> None:
    rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
        o3d.geometry.Image(np.ascontiguousarray(image)), o3d.geometry.Image(depth.astype(np.float32)),
        depth_scale=1.0, depth_trunc=config.lift.max_depth, convert_rgb_to_intensity=False)
    cam = o3d.camera.PinholeCameraIntrinsic(intr.width, intr.height, intr.fx, intr.fy, intr.cx, intr.cy)
    volume.integrate(rgbd, cam, np.linalg.inv(camera_to_world))
