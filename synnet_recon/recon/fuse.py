"""Stage ``fuse``: synchronized frames (sync.json) -> depth -> coloured clouds per view, split into
the static background and the person -> each view placed onto the reference view by the person's
joints and the background, verified or flagged -> a pose graph over time -> clouds and skeletons.

Outputs (written into a temporary folder renamed onto ``out_dir`` only on success):
    frames/NNNNNN.ply   background + person of synchronized instant NNNNNN (row of sync.json
                        "frames"), in the reference camera's frame at that instant
    person/NNNNNN.ply   the person alone at that instant, same frame
    fused.ply           the static background of every ok instant, in the world frame (the
                        reference camera at the first fused instant), voxel-downsampled
    skeleton3d.json     the person's 18 joints per instant (recon/skeleton3d.py, docs/formats.md)
    registration.json   schema synnet-recon/registration (docs/formats.md, docs/fuse.md)
    mesh.ply            with ``mesh=True``: TSDF mesh of the background (Open3D, trimesh export)
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..blas import limited as blas_threads
from ..errors import InputError
from ..fileio import atomic_dir
from ..keypoints import Keypoints
from ..o3d import o3d, quiet
from ..o3d import threads as open3d_threads
from ..sync.result import SyncResult
from .anchored import Anchor, AnchorConfig, ViewInputs, anchor_view, place_view, steady
from .depth import DepthContext, load_backend
from .fine import FinePair, fine_check
from .frames import FrameReader, VideoSource
from .intrinsics import Intrinsics, estimate_intrinsics, load_intrinsics
from .lift import LiftConfig, backproject, lift, remove_outliers, to_cloud, voxel_down
from .mesh import cache_view, export_mesh, tsdf_mesh
from .person import PersonConfig, lift_joints, person_points, pixels_near_person
from .posegraph import Edge, PoseGraph, PoseGraphConfig, information
from .register import (
    PairRegistration,
    PreparedCloud,
    RegistrationConfig,
    correspondence_registration,
    feature_correspondences,
    normal_spread,
    prepare,
    register,
    settle,
    visibility_agreement,
)
from .registration import FrameRecord, RegisteredVideo, Registration
from .rgbd_odometry import RGBDOdometryConfig, odometry_image, rgbd_odometry
from .verify import ViewCheck

log = logging.getLogger(__name__)



@dataclass
class FuseConfig:
    """Everything ``fuse`` can be told; the CLI fills it from its options."""

    depth: str = "rgbd"                                   # backend: rgbd | stereo | mono | mvs | plugin
    depth_dirs: dict[str, str] = field(default_factory=dict)     # video name -> depth folder/file
    keypoint_dirs: dict[str, str] = field(default_factory=dict)  # video name -> OpenPose folder or tracks .npz
    #                                                     (default: where sync.json says its keypoints are)
    mono_model: str | None = None
    scale: float | None = None                            # stereo baseline (m) / mono depth factor
    intrinsics: str | None = None                         # file, "auto", or None = find or estimate
    calibration: str | None = None                        # mvs: camera poses (Pose2Sim / caliscope TOML)
    person_height: float | None = None                    # mvs: metres, scale of the poses from the people
    camera_poses: object | None = None                    # mvs: a recon.mvs.CameraPoses (e.g. SfM), first choice
    poses: str | None = None                              # mvs: "sfm" (recon.sfm, moving cameras too) or None
    depth_sink: object | None = None                      # mvs: sink(frames, {name: depth}) per instant (the rgb demo)
    #                                                       (the calibration if given, else the people)
    frames: str | None = None                             # "START:END:STEP" over sync.json rows
    voxel: float = 0.02                                   # fused.ply voxel (m)
    frame_voxel: float = 0.03                             # frames/*.ply voxel (m), 0 = none
    outlier_neighbors: int = 12                           # statistical outlier removal
    outlier_std: float = 2.5
    clean_frames: bool = False                            # outlier removal per instant (+40-70 % CPU) instead of on fused.ply
    pose_graph: bool = True                               # optimize all poses over time (else: instants apart)
    mesh: bool = False
    tsdf_voxel: float = 0.02
    autocalib_frames: int = 8                             # frames per video for intrinsics="auto"
    seed: int = 0                                         # every RANSAC (Open3D's and ours)
    lift: LiftConfig = field(default_factory=LiftConfig)
    registration: RegistrationConfig = field(default_factory=RegistrationConfig)
    person: PersonConfig = field(default_factory=PersonConfig)
    anchor: AnchorConfig = field(default_factory=AnchorConfig)
    graph: PoseGraphConfig = field(default_factory=PoseGraphConfig)
    odometry: RGBDOdometryConfig = field(default_factory=RGBDOdometryConfig)   # the odometry edges' first try
    workers: int = 2                                      # instants prepared ahead at once, in threads (rgbd):
    #                                                       frames, depth, clouds and the joints hypothesis
    open3d_threads: int = 0                               # at most this many Open3D (TBB) threads while several
    #                                                       workers run (0: Open3D's default, one per core); outputs the
    #                                                       same either way; 1 vs 0 made no CPU difference at load 11-12
    blas_threads: int = 1                                 # numpy's BLAS (OpenBLAS) threads inside fuse (0: as it is): its
    #                                                       idle threads spin while the workers multiply small matrices
    #                                                       (10 x 2 speed scene: 5.8-6.1 -> 5.0 CPU s with 1; outputs the same)
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
    skeleton: object = None                                    # Skeleton3D of the instants

    @property
    def num_ok(self) -> int:
        """Instants fused with every view verified."""
        return sum(f.ok for f in self.frames)

    @property
    def num_fused(self) -> int:
        """Instants in fused.ply (every view verified, or the reference and some others)."""
        return sum(bool(f.fused) for f in self.frames)

    def flagged_views(self) -> dict[str, int]:
        """View -> at how many instants it was flagged (not verified), for the views flagged at least once."""
        out: dict[str, int] = {}
        for f in self.frames:
            for n, status in f.status.items():
                if status == "flagged":
                    out[n] = out.get(n, 0) + 1
        return out
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


def _intrinsics_for(intr: Intrinsics, image: np.ndarray, where) -> Intrinsics:
    h, w = image.shape[:2]
    if (w, h) == (intr.width, intr.height):
        return intr
    if abs(w / h - intr.width / intr.height) > 0.01:
        raise InputError(where, f"frames are {w}x{h} but the intrinsics are for {intr.width}x{intr.height}")
    return intr.scaled(w, h)


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
    keypoints: dict[str, Keypoints]          # video name -> the person's 2D joints


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
    camera_poses = config.camera_poses
    if camera_poses is None and config.poses == "sfm":
        from .mvs import FramePoses
        from .sfm import SfmConf, scene_poses_from_sync

        camera_poses = FramePoses(scene_poses_from_sync(sync_result, intrinsics, [i for i, _ in rows],
                                                        SfmConf(person_height=config.person_height)))
    elif config.poses not in (None, "sfm", "people"):
        raise InputError("--poses", f"{config.poses!r} is not sfm or people")
    context = DepthContext(videos, intrinsics, {k: Path(v) for k, v in config.depth_dirs.items()}, keypoints,
                           Path(config.mono_model) if config.mono_model else None, config.scale, reference,
                           [{n: int(i) for n, i in r["frames"].items() if n in videos} for r in all_rows],
                           Path(config.calibration) if config.calibration else None, config.person_height,
                           camera_poses, depth_sink=config.depth_sink)
    backend = load_backend(config.depth, context)
    instants = []
    for row_index, row in rows:
        frames = {n: int(i) for n, i in row["frames"].items() if n in videos}
        if reference in frames:
            instants.append(Instant(row_index, row, frames, [reference] + [n for n in frames if n != reference]))
    return FuseInputs(sync_result, videos, reference, instants, intrinsics, backend, keypoints)


@dataclass
class InstantViews:
    """The views of one instant: colour (H, W, 3), intrinsics, depth (H, W) metres, 2D joints
    (18, 3) x, y, confidence (None: none), joint centres (18, 3) in each camera (NaN = unknown),
    each view's cloud split into background and person (points, colours; frame_voxel), and the
    background's registration cloud."""

    images: dict[str, np.ndarray]
    intrinsics: dict[str, Intrinsics]
    depths: dict[str, np.ndarray] | None = None
    keypoints: dict[str, np.ndarray | None] | None = None
    joints: dict[str, np.ndarray] | None = None
    background: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
    person: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
    prepared: dict[str, PreparedCloud] | None = None
    anchors: dict[str, Anchor] | None = None     # each other view's joints hypothesis (``anchored.anchor_view``)
    odometry: dict[str, object] | None = None    # each view's ``rgbd_odometry.odometry_image`` ({}: not used)


class ViewLoader:
    """Frames of an instant (``read``), then depth, the person, lifting, registration clouds and the
    joints hypothesis of each other view (``complete``). With measured depth (``stateless``) ``read``
    does it all and may run in several threads at once: the frames and depth maps are still read
    in the instants' order (the decoders are sequential), the rest in parallel."""

    def __init__(self, inputs: FuseInputs, config: FuseConfig, timings: dict[str, float]):
        self.inputs, self.config, self.timings = inputs, config, timings
        self.readers = {n: FrameReader(v.path) for n, v in inputs.videos.items()}
        self.stateless = config.depth == "rgbd"   # measured depth: safe to compute ahead, in threads
        self.in_order = False    # True: ``read`` is called for inputs.instants in order, some at once
        self._turn = threading.Condition()
        self._order = {id(instant): k for k, instant in enumerate(inputs.instants)}
        self._next = 0           # index (in inputs.instants) of the next instant to decode
        # index (in inputs.instants) -> {view: (its verified pose, the hypothesis) or None when
        # flagged}, as ``register_instant`` left them (``verified``); the ``kept`` hypothesis reads them
        self._verified: dict[int, dict[str, tuple[np.ndarray, str] | None]] = {}
        self._stopped = False

    def read(self, instant: Instant) -> InstantViews:
        """Frames (and with measured depth, everything else) of one instant."""
        tick = time.perf_counter()
        k = self._order.get(id(instant)) if self.in_order else None
        with self._turn:
            if k is not None:  # decode in order: wait for the previous instants' frames
                self._turn.wait_for(lambda: self._next >= k)
            try:
                images = {n: self.readers[n].get(instant.frames[n]) for n in instant.names}
                depths = self.inputs.backend.depths({n: instant.frames[n] for n in instant.names}, images) \
                    if self.stateless else None
            finally:
                if k is not None:
                    self._next = max(self._next, k + 1)
                    self._turn.notify_all()
        intr = {n: _intrinsics_for(self.inputs.intrinsics[n], images[n], self.inputs.videos[n].path)
                for n in instant.names}
        tick = _lap(self.timings, "read", tick)
        views = InstantViews(images, intr, depths)
        return self.complete(views, instant, tick) if self.stateless else views

    def complete(self, views: InstantViews, instant: Instant, tick: float) -> InstantViews:
        names, config = instant.names, self.config
        if views.depths is None:
            views.depths = self.inputs.backend.depths({n: instant.frames[n] for n in names}, views.images)
            tick = _lap(self.timings, "depth", tick)
        views.keypoints = {n: self.keypoints(n, instant.frames[n]) for n in names}
        views.joints = {n: lift_joints(views.keypoints[n], views.depths[n], views.intrinsics[n].K, config.person)
                        for n in names}
        views.background, views.person = {}, {}
        for n in names:
            points, colors = view_points(views.depths[n], views.images[n], views.intrinsics[n], config)
            body = person_points(points, views.joints[n], config.person)
            views.background[n] = voxel_down(points[~body], colors[~body], config.frame_voxel)
            views.person[n] = voxel_down(points[body], colors[body], config.frame_voxel)
        tick = _lap(self.timings, "lift", tick)
        views.prepared = {n: prepare(views.background[n], config.registration) for n in names}
        tick = _lap(self.timings, "prepare", tick)
        reference = _view_inputs(views, names[0])
        kept = self.steady_poses(instant)
        tick = _lap(self.timings, "wait for earlier instants", tick)
        views.anchors = {n: anchor_view(_view_inputs(views, n), reference, config.registration, config.anchor,
                                        kept.get(n))
                         for n in names[1:] if _enough_points(views, n, names[0])}
        tick = _lap(self.timings, "joints hypothesis", tick)
        # the odometry edges' images (RGB-D odometry, measured depth only) depend on this instant alone
        views.odometry = {n: odometry_image(views.images[n], views.depths[n], views.intrinsics[n].K, views.joints[n],
                                            config.odometry) for n in names} \
            if config.odometry.enabled and config.depth == "rgbd" else {}
        _lap(self.timings, "odometry images", tick)
        return views

    def verified(self, instant: Instant, checks: dict[str, ViewCheck]) -> None:
        """Record an instant's registrations (``register_instant``'s checks), for ``steady_poses``."""
        with self._turn:
            self._verified[self._order[id(instant)]] = {n: (c.transform, c.method) if c.ok else None
                                                         for n, c in checks.items()}
            self._turn.notify_all()

    def stop(self) -> None:
        """No more registrations will come (fuse is ending, or failed): nothing waits for them."""
        with self._turn:
            self._stopped = True
            self._turn.notify_all()

    def steady_poses(self, instant: Instant) -> dict[str, np.ndarray]:
        """View -> its pose for the ``kept`` hypothesis (``anchored.keep_view``, tried by ``anchor_view``) at ``instant``: the pose
        verified two instants before (KEEP_LAG, whatever the number of workers: the same outputs), for
        the views whose pose was kept there or held still (``anchored.steady``) over the two instants
        before that. Waits for that instant's registration (it is made by the main thread while this
        one is read ahead); none outside fuse's loop (``in_order`` False: no registrations come)."""
        k = self._order.get(id(instant))
        if not (self.config.anchor.keep and self.in_order) or k is None or k < KEEP_LAG:
            return {}
        with self._turn:
            self._turn.wait_for(lambda: k - KEEP_LAG in self._verified or self._stopped)
            last, before = self._verified.get(k - KEEP_LAG), self._verified.get(k - KEEP_LAG - 1, {})
        out = {}
        for n, pose in (last or {}).items():
            if pose is not None and (pose[1] == "kept" or
                                     steady([pose[0], (before.get(n) or (None,))[0]], self.config.anchor)):
                out[n] = pose[0]
        return out

    def keypoints(self, name: str, frame: int) -> np.ndarray | None:
        """The person's 2D joints (18, 3) in frame ``frame`` of video ``name`` (None: not known)."""
        track = self.inputs.keypoints.get(name)
        return None if track is None else track.at_frame(frame)

    def close(self):
        for r in self.readers.values():
            r.close()


@dataclass
class Tracking:
    """Per video, its last verified camera-to-reference (4, 4)."""

    transform: dict[str, np.ndarray] = field(default_factory=dict)


def register_instant(instant: Instant, views: InstantViews, inputs: FuseInputs, tracking: Tracking,
                     config: FuseConfig) -> dict[str, ViewCheck]:
    """Place each other view of ``instant`` onto the reference view (``anchored.place_view``:
    joints, tracking, stereo pose, image features, FPFH; verified or flagged); updates ``tracking``."""
    reference = inputs.reference
    target = _view_inputs(views, reference)
    checks = {}
    for n in instant.names[1:]:
        if not _enough_points(views, n, reference):
            checks[n] = ViewCheck(tracking.transform.get(n, np.eye(4)), "none", 0.0, float("inf"), float("inf"), 0,
                                  0.0, 0, False, "too few background points")
        else:
            stereo = getattr(inputs.backend, "poses", {}).get(n)
            checks[n] = place_view(_view_inputs(views, n), target, config.registration, config.anchor,
                                   track=tracking.transform.get(n), stereo=stereo,
                                   anchor=(views.anchors or {}).get(n))
        if checks[n].ok:
            tracking.transform[n] = checks[n].transform
        else:
            log.warning("instant %d: %s flagged (%s); not fused", instant.row_index, n, checks[n].reason)
    return checks


def _enough_points(views: InstantViews, n: str, reference: str) -> bool:
    return len(views.prepared[n].cloud.points) >= 10 and len(views.prepared[reference].cloud.points) >= 10


def _view_inputs(views: InstantViews, n: str) -> ViewInputs:
    return ViewInputs(views.prepared[n], views.background[n], views.joints[n], views.images[n], views.depths[n],
                      views.intrinsics[n].K)


@dataclass
class Kept:
    """What the end of fuse needs of an instant once its poses are final."""

    instant: Instant
    checks: dict[str, ViewCheck]
    background: dict[str, tuple[np.ndarray, np.ndarray]]
    person: dict[str, tuple[np.ndarray, np.ndarray]]
    keypoints: dict[str, np.ndarray | None]
    intrinsics: dict[str, Intrinsics]
    tsdf: dict[str, tuple] = field(default_factory=dict)
    # the instant's outputs as they stand after its registration (``early_outputs``): (the views
    # used, background, person, skeleton row); ``write_outputs`` reuses them when the pose graph
    # leaves the same views in, else computes them again (the same function, the same values)
    early: tuple | None = None


# The ``kept`` hypothesis at instant k reads the registrations of instant k - KEEP_LAG (and the one
# before): made by the main thread while the workers prepare the next instants, so that waiting for
# them costs little with two workers
KEEP_LAG = 2


# Odometry: a camera's background at one instant against its previous instant's, both ways, must
# agree at least this much (same camera, nearby poses: the surfaces are the same ones; right motions
# on the default demo agree 98-100 % both ways, ICP slid 50-160 cm along the floor 19-81 % one way)
ODOMETRY_AGREEMENT = 0.9
FINE_ODOMETRY_ROUNDS = 3   # fine alignments of an unconfirmed odometry step before it is refused
# motions that confirm each other: two cameras' odometry steps (``confirmation``), a flagged view's pose
# against its own motion from a verified instant (``confirmed_over_time``)
CONFIRM_MAX_DEG, CONFIRM_MAX_M = 0.5, 0.01
RELOCALIZE_MIN_MATCHES = 20   # background SIFT matches needed to relocalize a camera between two instants


class Odometry:
    """The pose graph's nodes and edges as instants come: cross-camera edges from the verified
    views, odometry edges per camera from ICP of its background onto its previous instant's.

    Odometry is checked against the verified registrations before it becomes an edge: each camera
    registered at both instants implies a motion of the reference camera (its own odometry moved
    by its two registrations); the odometries whose implied motions agree (3 degrees, 8 cm) are
    kept; when none agree, none is (ICP sliding along a floor that fills a view passes the
    background checks, and which one slid cannot be told): the instant is then not connected to the
    previous one, and stays out of fused.ply unless a later camera links it. A camera's odometry
    that no other camera can confirm (the only motion there is) must pass the fine check of its
    background (``fine.fine_check``) between the two instants: on the default demo (seed 0) the
    reference camera's ICP slid 29.6 cm along the floor over 16 frames with both-way agreement of
    0.9 or more and no other camera registered, and three instants were fused 30 cm off; the fine
    alignment moved that step 8-13 cm, the right steps 0.05-0.4 cm."""

    def __init__(self, reference: str, config: FuseConfig):
        self.reference, self.config = reference, config
        self.graph = PoseGraph(reference, config.graph)
        self.last: dict[str, tuple[int, PreparedCloud, np.ndarray, np.ndarray]] = {}  # camera -> (k, cloud, depth, K)
        self.last_rgbd: dict[str, object] = {}      # camera -> its previous instant's ``odometry_image``
        self.last_checks: dict[str, ViewCheck] = {}
        self.last_view: dict[str, tuple] = {}  # camera -> its previous (image, depth, K, background points, joints)
        self.motion: dict[str, np.ndarray] = {}
        self.own: dict[tuple[int, str], np.ndarray] = {}  # (k, camera) -> its accepted step k -> k - 1, kept or not
        self.world_from_reference = np.eye(4)
        self.rejected = 0

    def add(self, k: int, instant: Instant, views: InstantViews, checks: dict[str, ViewCheck]) -> None:
        rc = self.config.registration
        rgbd = views.odometry  # made with the instant's other inputs (``ViewLoader.complete``)
        steps = {n: self._odometry(k, n, views, rgbd.get(n)) for n in instant.names}
        steps = {n: s for n, s in steps.items() if s is not None}
        self.own.update({(k, n): step[0] for n, step in steps.items()})

        def as_reference_motion(n: str, T: np.ndarray) -> np.ndarray:
            # camera n's odometry moved by its registrations at both instants
            return T if n == self.reference else self.last_checks[n].transform @ T @ np.linalg.inv(checks[n].transform)

        implied = {n: as_reference_motion(n, T) for n, (T, _, _) in steps.items()  # k -> k - 1
                   if n == self.reference or (n in checks and checks[n].ok and n in self.last_checks
                                              and self.last_checks[n].ok)}
        kept, unconfirmed = confirmation(implied, {n: steps[n][2] for n in implied})
        if unconfirmed:
            kept = []
            for n in unconfirmed:
                T = self._fine_step(k, n, steps[n][0], views)
                if T is not None:
                    steps[n] = (T, *steps[n][1:])
                    self.motion[n] = self.own[(k, n)] = T
                    implied[n] = as_reference_motion(n, T)
                    kept = [n]
                    break
        r = self.reference
        if not kept and r in self.last and self.last[r][0] == k - 1:
            found = self._relocalized(k, r, views)
            if found is not None:
                steps[r], implied[r], kept = found, found[0], [r]
                self.own[(k, r)] = found[0]
        self.rejected += len(steps) - len(kept)
        wfr = None
        if kept:
            best = max(kept, key=lambda n: steps[n][2])
            wfr = self._world(k - 1, self.reference) @ implied[best]
        self.world_from_reference = self.world_from_reference if wfr is None else wfr
        self.graph.add_node((k, self.reference), self.world_from_reference)
        for n in kept:
            T, info, _ = steps[n]
            self.graph.add_edge(Edge((k, n), (k - 1, n), T, info, uncertain=False))
        for n, check in checks.items():
            self.graph.add_node((k, n), self.world_from_reference @ check.transform)
            if check.ok:
                info = information(views.prepared[n].cloud, views.prepared[self.reference].cloud, check.transform,
                                   rc.icp_distance * rc.voxel, check.correspondences)
                self.graph.add_edge(Edge((k, n), (k, self.reference), check.transform, info,
                                         uncertain=self.config.graph.cross_uncertain))
        for n in instant.names:
            self.last[n] = (k, views.prepared[n], views.depths[n], views.intrinsics[n].K)
            self.last_view[n] = (views.images[n], views.depths[n], views.intrinsics[n].K, views.background[n][0],
                                 views.joints[n])
        self.last_rgbd = rgbd
        self.last_checks = checks

    def _fine_step(self, k: int, n: str, T: np.ndarray, views: InstantViews) -> np.ndarray | None:
        """Camera n's odometry step T (its camera at k -> at k - 1) through the fine check of its
        background between the two instants -> the step to keep, or None. When the fine alignment
        moves T too far, its result is checked in T's place, up to ``FINE_ODOMETRY_ROUNDS`` times (on
        a 320x240 dance scene ICP's step was 1.1 cm and 0.25 degrees off, the aligned one 0.01 cm).
        T itself when the check is off or cannot run."""
        fc = self.config.anchor.verify.fine
        if not fc.enabled or n not in self.last_view:
            return T
        image, depth, K, points = self.last_view[n][:4]
        pair = FinePair((views.images[n], views.depths[n], views.intrinsics[n].K), (image, depth, K),
                        views.background[n][0], points, fc)
        step = np.asarray(T, dtype=np.float64)
        for _ in range(FINE_ODOMETRY_ROUNDS):
            result, reason = fine_check(step, pair, fc)
            if reason is None:
                return settle(step)
            within = result.moved <= fc.max_shift and result.turned_deg <= fc.max_turn_deg
            if result.residuals < fc.min_points or (within and result.pull < fc.min_pull):
                break          # too few residuals, or not pinned where it stands: moving on cannot help
            step = np.asarray(result.transform, dtype=np.float64)
        log.info("instant %d: %s's odometry, unconfirmed by another camera, fails the fine check: %s", k, n, reason)
        return None

    def _relocalized(self, k: int, n: str, views: InstantViews):
        """Camera n's motion from instant k - 1 to k when its odometry was refused or failed: SIFT
        matches between its two images lifted with depth (the person's points left out), RANSAC
        Kabsch (``correspondence_registration``), ICP, then ``_fine_step`` -> ((4, 4) motion, its
        information (6, 6), its score) or None. On the default demo (seed 0) ICP slid the reference
        camera 29.6 cm along the floor over 16 frames and the fine check refused it; the instant is
        relocalized rather than left out."""
        rc = self.config.registration
        if not self.config.anchor.verify.fine.enabled:
            return None         # nothing would check the step
        image, depth, K, _, joints = self.last_view[n]
        source, target = feature_correspondences(views.images[n], views.depths[n], views.intrinsics[n].K,
                                                 image, depth, K)
        keep = np.isfinite(source).all(1) & np.isfinite(target).all(1)
        for points, body in ((source, views.joints[n]), (target, joints)):
            if body is not None:
                keep &= ~person_points(np.nan_to_num(points), body)
        if keep.sum() < RELOCALIZE_MIN_MATCHES:
            return None
        guess = correspondence_registration(source[keep], target[keep], rc)
        if guess is None:
            return None
        current, previous = views.prepared[n], self.last[n][1]
        step = register(current, previous, rc, init=guess, global_fallback=False)
        T = self._fine_step(k, n, step.transform, views)
        if T is None or self._agreement(n, T, views) < ODOMETRY_AGREEMENT:
            return None     # checked as every odometry step is, and finely
        log.info("instant %d: %s relocalized from image features (%d matches on the background)", k, n,
                 int(keep.sum()))
        self.motion[n] = T
        info = information(current.cloud, previous.cloud, T, rc.icp_distance * rc.voxel, step.correspondences)
        return T, info, step.fitness * normal_spread(current)

    def _world(self, k: int, n: str) -> np.ndarray:
        return self.graph.initial[(k, n)]

    def _odometry(self, k: int, n: str, views: InstantViews, rgbd=None):
        """Camera n's motion from instant k - 1 to k: RGB-D odometry of its images (``rgbd``: its
        ``odometry_image`` at k), else ICP of its background onto its previous instant's ->
        ((4, 4) camera n at k -> camera n at k - 1, information (6, 6), score), or None."""
        if n not in self.last or self.last[n][0] != k - 1:
            return None
        previous, current = self.last[n][1], views.prepared[n]
        if len(current.cloud.points) < 10 or len(previous.cloud.points) < 10:
            return None
        rc = self.config.registration

        def agreement(step) -> float:
            return self._agreement(n, step.transform, views)

        dense = self._dense(n, rgbd, current, previous)
        if dense is not None and dense.fitness > 0 and agreement(dense) >= ODOMETRY_AGREEMENT:
            # checked as ICP's is (both ways); ICP is not tried then
            return self._step(n, dense, current, previous)
        step = register(current, previous, rc, init=self.motion.get(n, np.eye(4)), hints=[np.eye(4)])
        seen_fraction = agreement(step)
        if (not step.ok or seen_fraction < ODOMETRY_AGREEMENT) and n in self.motion:
            # From the camera's last motion ICP can settle on a wrong pose that still overlaps enough
            # for ``register`` to stop there (the default demo's hand-held reference camera, 16 frames
            # on: 1.6 m off, fitness 0.62, 72 % of its points consistent; from no motion right, 0.91
            # and 100 %): once more from no motion, judged the same way
            again = register(current, previous, rc, init=np.eye(4), global_fallback=False)
            fraction = agreement(again)
            if again.ok and fraction >= ODOMETRY_AGREEMENT:
                step, seen_fraction = again, fraction
        if not step.ok or seen_fraction < ODOMETRY_AGREEMENT:
            log.info("instant %d: no odometry for %s (fitness %.2f, agreement both ways %.2f)", k, n, step.fitness,
                     seen_fraction)
            return None
        return self._step(n, step, current, previous)

    def _agreement(self, n: str, T: np.ndarray, views: InstantViews) -> float:
        """How well camera n's step T (at k -> at k - 1) fits its two backgrounds, both ways: this
        instant's background in the previous camera, the previous one's here (the smaller share of
        points that agree; ICP sliding along a floor leaves one way consistent: 98 % and 75-81 % on
        the demo)."""
        _, previous, depth, K = self.last[n]
        current = views.prepared[n]
        tolerance = self.config.anchor.verify.visibility_tolerance
        there = visibility_agreement(np.asarray(current.cloud.points), T, depth, K, tolerance)[0]
        here = visibility_agreement(np.asarray(previous.cloud.points), np.linalg.inv(T), views.depths[n],
                                    views.intrinsics[n].K, tolerance)[0]
        return min(there, here)

    def _step(self, n: str, step, current: PreparedCloud, previous: PreparedCloud):
        """An accepted odometry ``step`` (``.transform``, ``.fitness``, ``.correspondences``) of camera n
        -> (the (4, 4) motion, its information (6, 6), its score); remembered as n's last motion."""
        rc = self.config.registration
        T = settle(step.transform)
        self.motion[n] = T
        score = step.fitness * normal_spread(current)
        return T, information(current.cloud, previous.cloud, T, rc.icp_distance * rc.voxel, step.correspondences), score

    def _dense(self, n: str, rgbd, current: PreparedCloud, previous: PreparedCloud):
        """RGB-D odometry of camera n from its previous instant's image to ``rgbd`` (from its last
        motion), evaluated on the registration clouds like an ICP result; None when not run or
        not converged."""
        last = self.last_rgbd.get(n)
        if rgbd is None or last is None:
            return None
        T = rgbd_odometry(rgbd, last, self.motion.get(n, np.eye(4)), self.config.odometry)
        if T is None:
            return None
        rc = self.config.registration
        r = o3d.pipelines.registration.evaluate_registration(current.cloud, previous.cloud, rc.icp_distance * rc.voxel,
                                                             settle(T))
        return PairRegistration(settle(T), settle(r.fitness), settle(r.inlier_rmse), True, False,
                                np.asarray(r.correspondence_set))


def confirmation(motions: dict[str, np.ndarray], scores: dict[str, float]) -> tuple[list[str], list[str]]:
    """The reference camera's motions (4, 4) at a step, as each camera implies it -> (the cameras
    whose motions confirm each other: two or more within ``CONFIRM_MAX_DEG`` and ``CONFIRM_MAX_M``,
    or none; the cameras whose own step must pass the fine check instead, best score first). A lone
    motion is unconfirmed; motions that agree only loosely (``_agreeing``'s 3 degrees and 8 cm) confirm
    none of them: on the default demo with fewer odometry iterations the reference's step 3.8 cm off
    agreed so with the motion another camera implied, and the fused instants were placed 3.8 cm off.
    Motions that do not agree at all: neither (the reference camera is relocalized)."""
    loose = _agreeing(motions, scores)
    if len(loose) == 1:
        return [], loose
    confirmed = _agreeing(motions, scores, CONFIRM_MAX_DEG, CONFIRM_MAX_M) if loose else []
    if confirmed:
        return confirmed, []
    return [], sorted(loose, key=lambda n: -scores[n])


def _agreeing(motions: dict[str, np.ndarray], fitness: dict[str, float], max_deg: float = 3.0,
              max_m: float = 0.08) -> list[str]:
    """The largest group (two at least, unless there is one motion only) of (4, 4) motions that agree
    with each other (ties: the best summed score)."""
    from .register import rotation_error_deg, translation_error

    best: list[str] = []
    for T in motions.values():
        group = [m for m, U in motions.items()
                 if rotation_error_deg(T, U) <= max_deg and translation_error(T, U) <= max_m]
        key = (len(group), sum(fitness[m] for m in group))
        if not best or key > (len(best), sum(fitness[m] for m in best)):
            best = group
    return best if len(best) > 1 or len(motions) <= 1 else []


def final_poses(kept: list[Kept], odometry: Odometry, reference: str,
                use_graph: bool) -> list[tuple[dict[str, np.ndarray], np.ndarray | None, set[str]]]:
    """Per kept instant: (camera_to_reference per view, world_from_reference or None, views the
    pose graph pruned). Without the graph: the per-instant poses, world = the reference at each."""
    if not use_graph:
        return [({reference: np.eye(4), **{n: c.transform for n, c in k.checks.items()}}, np.eye(4), set())
                for k in kept]
    from .register import rotation_error_deg, translation_error

    result = odometry.graph.optimize()
    world = {key: settle(T) for key, T in result.world_from_camera.items()}
    out = []
    for k, item in enumerate(kept):
        wfr = world.get((k, reference))
        c2r = {reference: np.eye(4)}
        moved = set()
        for n, check in item.checks.items():
            # the verified registration is what is written; the graph's own view of it must agree
            # (within 1 degree and 2 cm), else the graph was pulled by a wrong edge: flagged
            c2r[n] = check.transform
            if wfr is not None and (k, n) in world and check.ok:
                graph = np.linalg.inv(wfr) @ world[(k, n)]
                if rotation_error_deg(graph, check.transform) > 1.0 or translation_error(graph, check.transform) > 0.02:
                    moved.add(n)
        out.append((c2r, wfr, {n for (i, n) in result.pruned if i == k} | moved))
    confirmed_over_time(kept, odometry, out)
    log.info("pose graph: %d nodes, %d edges kept, %d cross-camera edges pruned; %d odometry edges rejected",
             result.nodes, result.edges, len(result.pruned), odometry.rejected)
    return out


def confirmed_over_time(kept: list[Kept], odometry: Odometry, poses: list, max_deg: float = CONFIRM_MAX_DEG,
                        max_m: float = CONFIRM_MAX_M) -> None:
    """Views flagged only because the background does not pin them (``ViewCheck.unpinned``: their
    joints and background agree) are verified when their own motion confirms them: the view's
    verified pose at a neighbouring instant, carried by its own odometry step and the reference
    camera's world poses, lands within ``max_deg`` and ``max_m`` of the flagged pose, for every
    neighbour that can tell (two independent paths to one pose; only views verified at their own
    instant confirm, not views confirmed here). ``poses``: ``final_poses``'s
    list; the confirmed checks in ``kept`` are marked ok (method ``<hypothesis>+time``)."""
    from dataclasses import replace

    from .register import rotation_error_deg, translation_error

    verified = [{n for n, c in item.checks.items() if c.ok} for item in kept]   # before any is confirmed
    for k, item in enumerate(kept):
        wfr = poses[k][1]
        for n, check in list(item.checks.items()):
            if check.ok or not check.unpinned or wfr is None:
                continue
            agree = []
            for j in (k - 1, k + 1):
                if not 0 <= j < len(kept) or poses[j][1] is None or n in poses[j][2]:
                    continue
                there = kept[j].checks.get(n)
                step = odometry.own.get((k, n)) if j < k else odometry.own.get((j, n))
                if n not in verified[j] or step is None:    # a confirmed view confirms nothing further
                    continue
                step = step if j < k else np.linalg.inv(step)   # camera n at k -> camera n at j
                predicted = np.linalg.inv(wfr) @ poses[j][1] @ there.transform @ step
                agree.append(rotation_error_deg(predicted, check.transform) <= max_deg
                             and translation_error(predicted, check.transform) <= max_m)
            if agree and all(agree):
                log.warning("instant %d: %s verified over time after all: its own motion from %d neighbouring "
                            "instant(s) confirms the pose the background did not pin; fused",
                            item.instant.row_index, n, len(agree))
                item.checks[n] = replace(check, ok=True, reason=None, method=f"{check.method}+time")


def fuse(sync: str | Path | dict, config: FuseConfig | None = None, out_dir: str | Path = "recon") -> FuseResult:
    """Fuse the synchronized instants of ``sync`` into point clouds and skeletons under ``out_dir``
    (default settings when ``config`` is None)."""
    config = FuseConfig() if config is None else config
    _seed(config)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    # Open3D's warnings stay off the terminal (fuse flags hard views and checks its writes); numpy's BLAS on
    # ``blas_threads`` threads (its spinning threads cost CPU beside the workers)
    with quiet(), blas_threads(config.blas_threads):
        inputs = read_inputs(sync, config)
        _lap(timings, "setup", t_start)
        out_dir = Path(out_dir)
        loader = ViewLoader(inputs, config, timings)
        try:
            records, fused_points, mesh, skeleton = _fuse_instants(inputs, config, loader, out_dir, timings)
        finally:
            loader.close()
    partial = [r.index for r in records if r.fused and not r.ok]
    bad = [r.index for r in records if not r.fused]
    if partial:
        log.warning("%d of %d instants fused with some views flagged: %s", len(partial), len(records), partial[:20])
    if bad:
        log.warning("%d of %d instants not fused: %s", len(bad), len(records), bad[:20])
    return FuseResult(out_dir, records, inputs.intrinsics, fused_points, out_dir / "mesh.ply" if mesh else None,
                      time.perf_counter() - t_start, timings, skeleton)


def _seed(config: FuseConfig) -> None:
    """Every RNG fuse uses: Open3D's (RANSAC) and ours (joint RANSAC)."""
    o3d.utility.random.seed(int(config.seed))
    config.registration.seed = int(config.seed)
    config.anchor.seed = int(config.seed)


def _fuse_instants(inputs: FuseInputs, config: FuseConfig, loader: ViewLoader, out_dir: Path,
                   timings: dict[str, float]):
    """Every instant: views, placement, odometry; then the pose graph and every output, all in a
    temporary folder renamed onto ``out_dir`` at the end."""
    from tqdm import tqdm

    tracking = Tracking()
    odometry = Odometry(inputs.reference, config)
    kept: list[Kept] = []
    # The next instants are read, and with measured depth (stateless) lifted, prepared and given
    # their joints hypotheses, in ``workers`` threads while this one registers (Open3D, OpenCV,
    # PyAV and most numpy release the GIL); other depth backends may keep state between instants:
    # one is read ahead, and the rest runs here, in order.
    loader.in_order = True
    workers = max(1, config.workers) if loader.stateless else 1
    ahead = _ahead(loader.read, inputs.instants, workers)
    try:
        with atomic_dir(out_dir) as tmp:
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; the output is an ordinary folder
            with open3d_threads(config.open3d_threads if workers > 1 else 0):
                for k, instant in enumerate(tqdm(inputs.instants, desc="fuse", unit="instant",
                                                 disable=not config.progress)):
                    tick = time.perf_counter()
                    views = next(ahead)
                    tick = _lap(timings, "wait for input", tick)
                    if views.prepared is None:
                        views = loader.complete(views, instant, tick)
                    tick = time.perf_counter()
                    checks = register_instant(instant, views, inputs, tracking, config)
                    loader.verified(instant, checks)
                    tick = _lap(timings, "register", tick)
                    odometry.add(k, instant, views, checks)
                    tick = _lap(timings, "odometry", tick)
                    item = Kept(instant, checks, views.background, views.person, views.keypoints, views.intrinsics)
                    item.early = early_outputs(item, inputs.reference, config)
                    tick = _lap(timings, "early outputs", tick)
                    if config.mesh:
                        folder = tmp / ".tsdf"
                        item.tsdf = {n: cache_view(folder, len(kept) * 64 + j, _without_person(views, n), views.images[n],
                                                   views.intrinsics[n]) for j, n in enumerate(instant.names)}
                    kept.append(item)
                    _lap(timings, "keep", tick)
            tick = time.perf_counter()
            poses = final_poses(kept, odometry, inputs.reference, config.pose_graph)
            tick = _lap(timings, "pose graph", tick)
            records, fused_points, mesh, skeleton = write_outputs(tmp, inputs, config, kept, poses)
            _lap(timings, "finish", tick)
    finally:
        loader.stop()  # an instant read ahead may wait for registrations that will not come
        ahead.close()  # waits for the read in flight before the readers close
    return records, fused_points, mesh, skeleton


def _without_person(views: InstantViews, n: str) -> np.ndarray:
    """View n's depth with the person's pixels cleared (the TSDF mesh holds the static scene)."""
    depth = views.depths[n].copy()
    v, u = np.nonzero(depth > 0)
    near = pixels_near_person(u, v, depth[v, u], views.intrinsics[n].K, views.joints[n])  # only those can be
    v, u = v[near], u[near]
    points = backproject(np.stack([u, v], 1), depth[v, u], views.intrinsics[n].K)
    body = person_points(points, views.joints[n])
    depth[v[body], u[body]] = 0
    return depth


def write_outputs(tmp: Path, inputs: FuseInputs, config: FuseConfig, kept: list[Kept], poses):
    """frames/, person/, fused.ply, skeleton3d.json, registration.json (and mesh.ply) into ``tmp``."""
    from .skeleton3d import write_skeleton3d

    (tmp / "frames").mkdir()
    (tmp / "person").mkdir()
    records, fused_parts, tsdf_views = [], [], []
    skeleton_rows = []
    # frames/*.ply are written by a thread (Open3D's writer releases the GIL); leaving the block
    # waits for the writes
    with ThreadPoolExecutor(max_workers=1) as writer:
        writes = []
        for item, (c2r, wfr, pruned) in zip(kept, poses):
            record, background, person = _record(item, c2r, wfr, pruned, inputs.reference, config)
            name = f"{item.instant.row_index:06d}.ply"
            writes.append(writer.submit(_write_cloud, tmp / "frames" / name, *_stack([background, person])))
            if record.person_points:
                writes.append(writer.submit(_write_cloud, tmp / "person" / name, *person))
            if record.fused:  # the verified views only (``background`` holds those)
                fused_parts.append(((background[0] @ wfr[:3, :3].T + wfr[:3, 3]), background[1]))
                if len(fused_parts) > 1 and sum(len(p) for p, _ in fused_parts) > 4_000_000:  # bound memory
                    fused_parts = [_downsampled(fused_parts, config.voxel)]
                tsdf_views += [(*item.tsdf[n], wfr @ c2r[n]) for n in item.tsdf if record.view_ok[n]]
            early = _early_if_same(item, record.view_ok)
            skeleton_rows.append(early[3] if early is not None else _skeleton_row(item, c2r, record.view_ok))
            records.append(record)
        for w in writes:
            w.result()  # raises a failed write's error
    points, colors = _downsampled(fused_parts, config.voxel)
    if not config.clean_frames:
        keep = remove_outliers(points, config.outlier_neighbors, config.outlier_std)
        points, colors = points[keep], colors[keep]
    fused = to_cloud(points, colors)
    if len(points):
        _write_cloud(tmp / "fused.ply", points, colors)
    else:  # Open3D writes no PLY without points: none is written, and that is said
        log.warning("no instant was fused: no fused.ply written (it would have no points)")
    mesh = False
    if config.mesh:
        export_mesh(tsdf_mesh(tsdf_views, fused, config.tsdf_voxel, config.lift.max_depth), tmp / "mesh.ply")
        shutil.rmtree(tmp / ".tsdf", ignore_errors=True)
        mesh = True
    skeleton = _skeleton(inputs, kept, skeleton_rows)
    write_skeleton3d(tmp / "skeleton3d.json", skeleton)
    registration(inputs, config, records, len(fused.points)).save(tmp / "registration.json")
    return records, len(fused.points), mesh, skeleton


def _record(item: Kept, c2r: dict[str, np.ndarray], wfr: np.ndarray | None, pruned: set[str], reference: str,
            config: FuseConfig) -> tuple[FrameRecord, tuple, tuple]:
    """The instant's FrameRecord and its background and person clouds in the reference frame."""
    names = item.instant.names
    checks = item.checks
    view_ok = {reference: len(item.background[reference][0]) >= 10}
    reason = {reference: None if view_ok[reference] else "too few background points"}
    for n, c in checks.items():
        view_ok[n] = c.ok and n not in pruned
        reason[n] = c.reason if not c.ok else "pose graph: inconsistent with the cameras' motion (pruned, or " \
            "the optimized poses disagree with the verified registration)" if n in pruned else None
    if wfr is None:
        for n in names:
            reason[n] = reason[n] or "not connected over time (no odometry to the first instant)"
    early = _early_if_same(item, view_ok)
    if early is not None:
        background, person = early[1], early[2]
    else:
        background, person = _clouds(item, c2r, [n for n in names if view_ok[n]], config)
    # the verified views are fused (the reference and the others that passed); ok: all of them
    fused = view_ok[reference] and wfr is not None
    ok = fused and all(view_ok.values())
    record = FrameRecord(
        item.instant.row_index, float(item.instant.row.get("time", 0.0)), item.instant.frames, c2r,
        {reference: 1.0, **{n: c.fitness for n, c in checks.items()}},
        {reference: 0.0, **{n: c.inlier_rmse for n, c in checks.items()}}, view_ok,
        {reference: False, **{n: c.method == "fpfh" for n, c in checks.items()}}, wfr if fused else None,
        len(background[0]) + len(person[0]), ok,
        method={reference: "reference", **{n: c.method for n, c in checks.items()}},
        joint_error={reference: 0.0, **{n: c.joint_error if np.isfinite(c.joint_error) else None
                                        for n, c in checks.items()}},
        visibility={reference: 1.0, **{n: c.visibility for n, c in checks.items()}}, reason=reason,
        person_points=len(person[0]), fused=fused)
    return record, background, person


def early_outputs(item: Kept, reference: str, config: FuseConfig) -> tuple:
    """The instant's background and person clouds in the reference frame and its skeleton row from
    the views its registration verified, computed while the next instants are still prepared: the
    pose graph only ever takes views out (pruned), and a view's pose in the outputs is its verified
    registration, so these are the final ones unless the graph prunes a view."""
    c2r = {reference: np.eye(4), **{n: c.transform for n, c in item.checks.items()}}
    view_ok = {reference: len(item.background[reference][0]) >= 10, **{n: c.ok for n, c in item.checks.items()}}
    used = [n for n in item.instant.names if view_ok[n]]
    return (used, *_clouds(item, c2r, used, config), _skeleton_row(item, c2r, view_ok))


def _early_if_same(item: Kept, view_ok: dict[str, bool]) -> tuple | None:
    """``item.early`` when it was made from the same views as ``view_ok`` keeps (the pose graph
    pruned none of them), else None (the outputs are made again from the views kept)."""
    if item.early is None or item.early[0] != [n for n in item.instant.names if view_ok[n]]:
        return None
    return item.early


def _clouds(item: Kept, c2r: dict[str, np.ndarray], used: list[str], config: FuseConfig):
    """(background, person) of the views ``used``, moved into the reference frame (``_moved``)."""
    return (_moved([item.background[n] for n in used], [c2r[n] for n in used], config),
            _moved([item.person[n] for n in used], [c2r[n] for n in used], config))


def _moved(parts: list[tuple[np.ndarray, np.ndarray]], transforms: list[np.ndarray], config: FuseConfig):
    """Clouds of several views moved into one frame, downsampled to frame_voxel (cleaned with clean_frames)."""
    points = [p @ T[:3, :3].T + T[:3, 3] for (p, _), T in zip(parts, transforms)]
    points, colors = voxel_down(np.concatenate(points or [np.zeros((0, 3))]),
                                np.concatenate([c for _, c in parts] or [np.zeros((0, 3))]), config.frame_voxel)
    if config.clean_frames and len(points):
        keep = remove_outliers(points, config.outlier_neighbors, config.outlier_std)
        points, colors = points[keep], colors[keep]
    return points, colors


def _stack(parts):
    return np.concatenate([p for p, _ in parts]), np.concatenate([c for _, c in parts])


def _skeleton_row(item: Kept, c2r: dict[str, np.ndarray], view_ok: dict[str, bool]):
    """The person's joints at an instant in the reference camera's frame: triangulated from the
    2D joints of the ok views (``triangulate``, robust over views), which avoids the skin-surface
    bias of depth at a joint's pixel. (18, 3) NaN where unknown, (18,) confidence, (18,) px."""
    from ..skeleton import LEFT_RIGHT_SWAP, NUM_JOINTS
    from .triangulate import triangulate

    used = [n for n in item.instant.names if view_ok[n] and item.keypoints.get(n) is not None]
    if len(used) < 2:
        return np.full((NUM_JOINTS, 3), np.nan), np.zeros(NUM_JOINTS), np.full(NUM_JOINTS, np.nan), []
    P = np.stack([item.intrinsics[n].K @ np.linalg.inv(c2r[n])[:3] for n in used])
    kp = np.stack([item.keypoints[n][LEFT_RIGHT_SWAP] if n in item.checks and item.checks[n].method == "joints-swapped"
                   else item.keypoints[n] for n in used])
    tri = triangulate(P, kp[..., :2], kp[..., 2])
    views = [[used[v] for v in np.flatnonzero(tri.inliers[:, j])] for j in range(NUM_JOINTS)]
    return tri.points, tri.confidence, tri.reprojection_px, views


def _skeleton(inputs: FuseInputs, kept: list[Kept], rows):
    from .skeleton3d import Skeleton3D

    fps = inputs.videos[inputs.reference].fps
    return Skeleton3D(inputs.reference, np.array([r[0] for r in rows]).reshape(len(rows), -1, 3),
                      np.array([r[1] for r in rows]).reshape(len(rows), -1),
                      np.array([float(k.instant.row.get("time", 0.0)) for k in kept]),
                      [dict(k.instant.frames) for k in kept], method="triangulate", fps=fps,
                      reprojection_px=np.array([r[2] for r in rows]).reshape(len(rows), -1),
                      views=[r[3] if r[3] else [[] for _ in range(18)] for r in rows])


def registration(inputs: FuseInputs, config: FuseConfig, records: list[FrameRecord], fused_points: int) -> Registration:
    """What registration.json holds."""
    source = inputs.sync.source
    return Registration(
        reference=inputs.reference, depth=config.depth, sync=None if source is None else str(Path(source).resolve()),
        videos=[RegisteredVideo(n, str(v.path), inputs.intrinsics[n]) for n, v in inputs.videos.items()],
        config={"voxel": config.voxel, "frame_voxel": config.frame_voxel, "seed": config.seed,
                "pose_graph": config.pose_graph, "registration": asdict(config.registration),
                "lift": asdict(config.lift), "person": asdict(config.person), "anchor": asdict(config.anchor),
                "graph": asdict(config.graph), "odometry": asdict(config.odometry)},
        frames=records, fused_points=fused_points)


def _downsampled(parts: list[tuple[np.ndarray, np.ndarray]], voxel: float) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate (points (N, 3), colours (N, 3)) parts, voxel-downsampled -> (M, 3), (M, 3)."""
    if not parts:
        return np.zeros((0, 3)), np.zeros((0, 3))
    return voxel_down(np.concatenate([p for p, _ in parts]), np.concatenate([c for _, c in parts]), voxel)


def _write_cloud(path: Path, points: np.ndarray, colors: np.ndarray) -> None:
    """(N, 3) points and (N, 3) colours in [0, 1] -> binary PLY (none for N = 0: Open3D writes none;
    the callers record the count). A failed write (disk full, folder gone) is an error, one line."""
    if len(points) and not o3d.io.write_point_cloud(str(path), to_cloud(points, colors)):
        raise InputError(path, "could not write the point cloud (disk full, or the output folder not writable?)")


def _ahead(work, items: list, workers: int = 1):
    """Yield ``work(item)`` for each item in order, computing the next ``workers`` items' in that
    many background threads while the caller uses the current one."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = [pool.submit(work, item) for item in items[:workers]]
        for k in range(len(items)):
            done = pending.pop(0).result()
            if k + workers < len(items):
                pending.append(pool.submit(work, items[k + workers]))
            yield done


_TIMINGS = threading.Lock()


def _lap(timings: dict[str, float], stage: str, tick: float) -> float:
    now = time.perf_counter()
    with _TIMINGS:  # the worker threads add theirs too
        timings[stage] = timings.get(stage, 0.0) + now - tick
    return now


def _keypoint_tracks(config: FuseConfig, sync: SyncResult, videos: dict[str, VideoSource]) -> dict[str, Keypoints]:
    """The main person's keypoints per video (``io.load_tracks``): from ``--keypoints`` when
    given, else from where sync.json says they are; videos with neither have none."""
    from ..io.tracks import load_tracks

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
