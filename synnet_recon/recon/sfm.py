"""Camera poses for every synchronized frame from the static scene: pycolmap structure from motion
with the people masked out, and the people where the background does not connect the views.

1. Every video's frames at the synchronized instants (sync.json's ``frames`` table) are written to a
   temporary workspace, each with a mask that hides every detected person (their 2D joints drawn as
   thick limbs and a filled torso, dilated): the static scene is what the cameras share.
2. SIFT features (masked), matched over chosen pairs: each video's frames with their neighbours in
   time, the frames of different videos at nearby instants, and every pair of keyframes.
3. Incremental mapping on the keyframes, then every other synchronized frame registered into that
   model (existing frames held fixed). One camera (intrinsics) per video: the given ones, held fixed
   when every video has them, else estimated (``SIMPLE_RADIAL``: focal length, principal point at the
   centre, one radial distortion term, which is OpenCV's k1).
4. Frame: the reference video's camera at its first posed instant is the world (OpenCV axes); metric
   scale from the person: the main person's joints triangulated with these poses
   (``recon.triangulate``) and their ankle-knee-hip-neck chain fitted to ``person_height`` or, when
   none is given, ``assumed_height`` (``people_calib.height_scale``).
5. Where the background does not connect the views (wide baselines: a video that is not in the main
   model), the people pose it: at every instant where at least two videos are posed, the main
   person's triangulated joints give the missing camera by PnP, smoothed over time (moving cameras);
   with fewer than two videos posed by the scene, ``people_calib`` poses every camera from the
   pooled joints (static cameras). Every frame says where its pose came from (``source``).
6. Every frame's pose is checked against the person: the triangulated joints must reproject within
   ``max_person_px`` (scaled to the image width) of its 2D joints; a frame that disagrees is flagged.

A frame without a pose is ``ok=False`` with the reason; ``ScenePoses.missing()`` names them per video.
"""
from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..pinhole import Intrinsics
from ..skeleton import LIMBS

log = logging.getLogger(__name__)

_TORSO = (2, 5, 11, 8)  # r_shoulder, l_shoulder, l_hip, r_hip: filled


@dataclass
class SfmConf:
    """How the camera poses are found. Pixels are at the video's resolution."""

    keyframes: int = 16  # instants (evenly spaced) mapped first; the others are registered into that model
    sequential_overlap: int = 4  # a frame is matched with this many following frames of its own video
    cross_window: int = 1  # and with the frames of other videos up to this many instants away
    max_features: int = 4096  # SIFT features per image
    max_image_size: int = 1600  # SIFT works on images downscaled to this longest side
    mask_limb_frac: float = 0.09  # width of a masked limb, fraction of the person's height in the image
    mask_min_px: int = 6  # the limb width is at least this
    mask_dilate_px: int = 4  # then the mask grows by this
    min_joint_confidence: float = 0.2  # joints below this are neither masked nor used
    min_frame_points: int = 25  # a registered frame needs this many triangulated scene points to be ok
    person_height: float | None = None  # metres; None: assumed_height, said in ``scale``
    assumed_height: float = 1.70
    max_person_px: float = 25.0  # per 1000 px of image width: median joint reprojection error allowed
    max_people_disagreement_deg: float = 15.0  # SfM vs the people's pooled relative rotation of two videos
    max_limb_asymmetry: float = 0.25  # median |left - right| / mean of the triangulated limbs; above: wrong poses
    # two videos' SfM poses must put the person's joints near each other's epipolar lines: the median
    # over their shared joints and common instants, per 1000 px of image width. The hand-held demo
    # (seed 0, 480x360, MediaPipe): 1-4 px per instant with the true poses; 19-32 px with SfM's glued
    # a camera 21 deg off, 85-480 px one 161 deg off (each camera's own motion right within 0.5 deg)
    max_pair_epipolar_px: float = 15.0
    min_pair_joints: int = 20  # fewer shared joints: the pair is not checked
    # a video SfM saw turning by more than this between its frames is not static: when the scene's
    # poses are dropped, the people do not pose such cameras as static ones (their pooled joints
    # would fit a wrong rig)
    static_max_turn_deg: float = 2.0
    people_fallback: bool = True  # pose videos the background does not connect from the people
    people_pnp_px: float = 8.0  # RANSAC threshold of the per-instant PnP from the joints (per 1000 px)
    min_people_joints: int = 8  # joints a per-instant PnP needs
    default_hfov_deg: float = 60.0  # lens assumed for a video with no intrinsics and no SfM camera
    # one more global bundle adjustment (robust loss) over every registered frame: COLMAP's own is squared and
    # a share of observations a few px off bends the model (arc demo: 0.28 -> 0.07 deg, joints 3.58 -> 2.80 cm;
    # +35-60 % of SfM's CPU; docs/benchmarks.md, session 10)
    final_ba: bool = True
    final_ba_loss: str = "cauchy"  # its loss: "cauchy", "huber", "soft_l1" or "trivial" (COLMAP's global BA: trivial)
    final_ba_scale_px: float = 1.0  # where the loss turns robust (pixels)
    threads: int = 1  # COLMAP threads: 1 gives the same poses on every run; 2 is faster but varies run to run
    seed: int = 0
    keep_workspace: str | None = None  # a folder to keep the COLMAP workspace in (debugging)


@dataclass
class FramePose:
    """One synchronized frame of one video. world_to_camera: (4, 4) metres, world = the reference
    camera at its first posed instant; None when not posed."""

    instant: int  # row of sync.json's frames table
    frame: int  # the video's frame index (-1: the video has no frame at this instant)
    world_to_camera: np.ndarray | None = None
    ok: bool = False
    reason: str = ""
    source: str = ""  # "sfm" (scene), "people-pnp" (joints at this instant), "people-static" (pooled joints)
    points: int = 0  # scene points seen (sfm)
    person_px: float = float("nan")  # median reprojection error of the person's joints


@dataclass
class VideoPoses:
    name: str
    intrinsics: Intrinsics | None  # OpenCV convention (pixel centres at integers), dist = (k1, k2, p1, p2)
    intrinsics_source: str  # "given", "sfm", "assumed" or "none"
    frames: list[FramePose]

    @property
    def K(self) -> np.ndarray | None:
        return None if self.intrinsics is None else self.intrinsics.K

    def world_to_camera(self) -> np.ndarray:
        """(T, 4, 4) over the instants, NaN where not ok."""
        out = np.full((len(self.frames), 4, 4), np.nan)
        for i, f in enumerate(self.frames):
            if f.ok:
                out[i] = f.world_to_camera
        return out

    @property
    def ok(self) -> np.ndarray:
        return np.array([f.ok for f in self.frames], dtype=bool)

    def at_frame(self, frame: int) -> FramePose | None:
        """The synchronized frame with this video frame index (None: not one of the instants)."""
        return next((f for f in self.frames if f.frame == frame), None)


@dataclass
class ScenePoses:
    """Per video, per synchronized instant: K and world_to_camera with ok / reason / source."""

    reference: str
    videos: dict[str, VideoPoses]
    scale: str  # "person_height", "assumed_height" or "none" (SfM units)
    scale_factor: float
    source: str  # "sfm", "sfm+people", "people" or "none"
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds: wall and CPU per stage
    joints: np.ndarray | None = None  # (T, 18, 3) the main person triangulated with the poses (world, metres)

    def at(self, frames: dict) -> dict:
        """{video: frame index} -> {video: (4, 4) world_to_camera} of the ok ones (``recon.mvs.CameraPoses``)."""
        out = {}
        for n, i in frames.items():
            f = self.videos[n].at_frame(int(i)) if n in self.videos else None
            if f is not None and f.ok:
                out[n] = f.world_to_camera
        return out

    @property
    def reasons(self) -> dict[str, str]:
        """Video -> why it has no pose at all (``recon.mvs.CameraPoses``)."""
        return {n: next((f.reason for f in v.frames if f.reason), "no synchronized frame")
                for n, v in self.videos.items() if not v.ok.any()}

    def missing(self) -> dict[str, list[int]]:
        """Video -> the frame indices (of that video) without a pose."""
        return {n: [f.frame for f in v.frames if not f.ok and f.frame >= 0] for n, v in self.videos.items()
                if any(not f.ok and f.frame >= 0 for f in v.frames)}

    def to_json(self) -> dict:
        def frame(f: FramePose) -> dict:
            return {"instant": f.instant, "frame": f.frame, "ok": f.ok, "reason": f.reason, "source": f.source,
                    "points": f.points, "person_px": None if not np.isfinite(f.person_px) else round(f.person_px, 3),
                    "world_to_camera": None if f.world_to_camera is None else np.round(f.world_to_camera, 9).tolist()}
        return {"reference": self.reference, "scale": self.scale, "scale_factor": self.scale_factor,
                "source": self.source, "warnings": self.warnings,
                "videos": {n: {"intrinsics": None if v.intrinsics is None else v.intrinsics.to_dict(),
                               "intrinsics_source": v.intrinsics_source, "frames": [frame(f) for f in v.frames]}
                           for n, v in self.videos.items()}}


# ------------------------------------------------------------------------------------------- masks


def person_mask(people: list[np.ndarray], height: int, width: int, conf: SfmConf | None = None) -> np.ndarray:
    """(H, W) uint8 mask, 255 where features may be found, 0 over the people.

    people: per person (18, 3) x, y, confidence. Every limb with both joints confident is drawn with a
    width of ``mask_limb_frac`` of the person's height in the image, the torso filled, each joint a
    disc, then the mask is dilated by ``mask_dilate_px``."""
    import cv2

    conf = conf or SfmConf()
    hidden = np.zeros((height, width), np.uint8)
    for kp in people:
        if kp is None:
            continue
        kp = np.asarray(kp, dtype=np.float64)
        good = (kp[:, 2] >= conf.min_joint_confidence) & np.isfinite(kp[:, :2]).all(axis=1)
        if not good.any():
            continue
        pts = kp[good, :2]
        size = max(float(np.ptp(pts[:, 1])), float(np.ptp(pts[:, 0])) * 0.6, 1.0)
        w = int(max(conf.mask_min_px, round(conf.mask_limb_frac * size)))
        ij = np.round(kp[:, :2]).astype(np.int64) if good.all() else np.round(np.nan_to_num(kp[:, :2])).astype(np.int64)
        for a, b in LIMBS:
            if good[a] and good[b]:
                cv2.line(hidden, tuple(map(int, ij[a])), tuple(map(int, ij[b])), 255, w)
        torso = [j for j in _TORSO if good[j]]
        if len(torso) >= 3:
            cv2.fillPoly(hidden, [ij[torso].astype(np.int32)], 255)
        for j in np.nonzero(good)[0]:
            cv2.circle(hidden, tuple(map(int, ij[j])), w, 255, -1)
        if good[0] or good[14] or good[15]:  # the head: a disc around the face joints
            face = [j for j in (0, 14, 15, 16, 17) if good[j]]
            c = ij[face].mean(axis=0)
            cv2.circle(hidden, (int(c[0]), int(c[1])), int(max(w, 0.09 * size)), 255, -1)
    if conf.mask_dilate_px > 0 and hidden.any():
        k = 2 * conf.mask_dilate_px + 1
        hidden = cv2.dilate(hidden, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return np.where(hidden > 0, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------- workspace


def _image_name(v: int, t: int) -> str:
    return f"v{v:03d}/{t:06d}.jpg"


def _parse_name(name: str) -> tuple[int, int]:
    folder, file = name.split("/")
    return int(folder[1:]), int(file.split(".")[0])


def keyframe_instants(available: np.ndarray, count: int) -> list[int]:
    """``count`` instants evenly spread over those where at least two videos have a frame."""
    idx = np.nonzero(available.sum(axis=0) >= min(2, available.shape[0]))[0]
    if len(idx) <= count:
        return [int(i) for i in idx]
    return sorted({int(idx[k]) for k in np.linspace(0, len(idx) - 1, count).round().astype(int)})


def match_pairs(available: np.ndarray, keyframes: list[int], conf: SfmConf) -> list[tuple[str, str]]:
    """Image pairs to match: each video's frames with their next ``sequential_overlap``, frames of
    different videos within ``cross_window`` instants, and all pairs of keyframes."""
    V, T = available.shape
    pairs = set()
    have = [(v, t) for v in range(V) for t in range(T) if available[v, t]]
    for v, t in have:
        for d in range(1, conf.sequential_overlap + 1):
            if t + d < T and available[v, t + d]:
                pairs.add((_image_name(v, t), _image_name(v, t + d)))
        for u in range(v + 1, V):
            for s in range(max(0, t - conf.cross_window), min(T, t + conf.cross_window + 1)):
                if available[u, s]:
                    pairs.add((_image_name(v, t), _image_name(u, s)))
    keys = [(v, t) for v, t in have if t in set(keyframes)]
    for i, (v, t) in enumerate(keys):
        for u, s in keys[i + 1:]:
            pairs.add((_image_name(v, t), _image_name(u, s)))
    return sorted(pairs)


def _colmap_camera(intr: Intrinsics):
    """COLMAP camera of OpenCV intrinsics (COLMAP puts pixel centres at +0.5)."""
    import pycolmap

    cx, cy = intr.cx + 0.5, intr.cy + 0.5
    if intr.distorted:
        return pycolmap.Camera(model="OPENCV", width=intr.width, height=intr.height,
                               params=[intr.fx, intr.fy, cx, cy, *intr.dist])
    return pycolmap.Camera(model="PINHOLE", width=intr.width, height=intr.height, params=[intr.fx, intr.fy, cx, cy])


def intrinsics_from_colmap(camera) -> Intrinsics:
    """OpenCV intrinsics (pixel centres at integers, dist = k1, k2, p1, p2) of a COLMAP camera."""
    model = str(camera.model).split(".")[-1]
    p = [float(x) for x in camera.params]
    w, h = int(camera.width), int(camera.height)
    if model == "SIMPLE_PINHOLE":
        return Intrinsics(w, h, p[0], p[0], p[1] - 0.5, p[2] - 0.5)
    if model == "SIMPLE_RADIAL":
        return Intrinsics(w, h, p[0], p[0], p[1] - 0.5, p[2] - 0.5, (p[3], 0.0, 0.0, 0.0))
    if model == "RADIAL":
        return Intrinsics(w, h, p[0], p[0], p[1] - 0.5, p[2] - 0.5, (p[3], p[4], 0.0, 0.0))
    if model == "PINHOLE":
        return Intrinsics(w, h, p[0], p[1], p[2] - 0.5, p[3] - 0.5)
    if model == "OPENCV":
        return Intrinsics(w, h, p[0], p[1], p[2] - 0.5, p[3] - 0.5, tuple(p[4:8]))
    raise ValueError(f"COLMAP camera model {model} is not converted")


# ---------------------------------------------------------------------------------------- mapping


def _process_seconds() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class _Clock:
    def __init__(self, timings: dict):
        self.timings = timings

    def lap(self, stage: str, start: tuple[float, float]) -> tuple[float, float]:
        now = (time.perf_counter(), _process_seconds())
        self.timings[f"{stage}_s"] = self.timings.get(f"{stage}_s", 0.0) + now[0] - start[0]
        self.timings[f"{stage}_cpu_s"] = self.timings.get(f"{stage}_cpu_s", 0.0) + now[1] - start[1]
        return now


def _extract(work: Path, names: list[str], intrinsics: list[Intrinsics | None], conf: SfmConf) -> None:
    import pycolmap

    reader = pycolmap.ImageReaderOptions()
    reader.mask_path = str(work / "masks")
    reader.camera_model = "SIMPLE_RADIAL"
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.num_threads = conf.threads
    extraction.max_image_size = conf.max_image_size
    extraction.sift.max_num_features = conf.max_features
    pycolmap.extract_features(work / "database.db", work / "images", image_names=names,
                              camera_mode=pycolmap.CameraMode.PER_FOLDER, reader_options=reader,
                              extraction_options=extraction, device=pycolmap.Device.cpu)
    with pycolmap.Database.open(work / "database.db") as db:
        for image in db.read_all_images():
            v = _parse_name(image.name)[0]
            if intrinsics[v] is None:
                continue
            camera = _colmap_camera(intrinsics[v])
            camera.camera_id = image.camera_id
            camera.has_prior_focal_length = True
            db.update_camera(camera)


def _match(work: Path, pairs: list[tuple[str, str]], conf: SfmConf) -> None:
    import pycolmap

    (work / "pairs.txt").write_text("".join(f"{a} {b}\n" for a, b in pairs))
    matching = pycolmap.FeatureMatchingOptions()
    matching.num_threads = conf.threads
    pairing = pycolmap.ImportedPairingOptions()
    pairing.match_list_path = str(work / "pairs.txt")
    pycolmap.match_image_pairs(work / "database.db", matching_options=matching, pairing_options=pairing,
                               device=pycolmap.Device.cpu)


def _mapping_options(names: list[str], fixed_intrinsics: bool, conf: SfmConf):
    import pycolmap

    opts = pycolmap.IncrementalPipelineOptions()
    opts.num_threads = conf.threads
    opts.random_seed = conf.seed
    opts.mapper.random_seed = conf.seed
    opts.triangulation.random_seed = conf.seed
    opts.image_names = names
    opts.min_model_size = 3
    if fixed_intrinsics:
        opts.ba_refine_focal_length = False
        opts.ba_refine_extra_params = False
        opts.ba_refine_principal_point = False
        opts.mapper.abs_pose_refine_focal_length = False
        opts.mapper.abs_pose_refine_extra_params = False
    return opts


@contextlib.contextmanager
def _colmap_errors_hidden():
    """COLMAP's own log at FATAL only, then as it was: a mapping that makes no model prints
    "E... sfm.cc:310] Failed to create any sparse model" on stderr, a line the user cannot act on;
    what it means is said in our own words (the views SfM did not register, and why)."""
    import pycolmap

    before = pycolmap.logging.minloglevel
    pycolmap.logging.minloglevel = max(before, 3)
    try:
        yield
    finally:
        pycolmap.logging.minloglevel = before


def _map(work: Path, keynames: list[str], allnames: list[str], fixed_intrinsics: bool, conf: SfmConf):
    """The largest model over the keyframes, then every frame registered into it; None when nothing maps."""
    import pycolmap

    pycolmap.set_random_seed(conf.seed)
    (work / "sparse").mkdir(exist_ok=True)
    with _colmap_errors_hidden():
        models = pycolmap.incremental_mapping(work / "database.db", work / "images", work / "sparse",
                                              _mapping_options(keynames, fixed_intrinsics, conf))
    if not models:
        return None, 0
    best = max(models.values(), key=lambda r: r.num_reg_images())
    others = len(models) - 1
    rest = sorted(set(allnames) - {im.name for im in best.images.values() if im.has_pose})
    if rest:
        (work / "model0").mkdir(exist_ok=True)
        best.write(work / "model0")
        opts = _mapping_options(allnames, fixed_intrinsics, conf)
        opts.fix_existing_frames = True
        opts.multiple_models = False
        (work / "sparse_all").mkdir(exist_ok=True)
        more = pycolmap.incremental_mapping(work / "database.db", work / "images", work / "sparse_all", opts,
                                            input_path=work / "model0")
        if more:
            best = max(more.values(), key=lambda r: r.num_reg_images())
    if conf.final_ba:
        _final_ba(best, fixed_intrinsics, conf)
    return best, others


def _final_ba(model, fixed_intrinsics: bool, conf: SfmConf) -> None:
    """One global bundle adjustment over every registered frame and point (``final_ba_loss`` at
    ``final_ba_scale_px``)."""
    import pycolmap

    opts = pycolmap.BundleAdjustmentOptions()
    opts.print_summary = False
    if fixed_intrinsics:
        opts.refine_focal_length = False
        opts.refine_extra_params = False
        opts.refine_principal_point = False
    opts.ceres.loss_function_type = getattr(pycolmap.LossFunctionType, conf.final_ba_loss.upper())
    opts.ceres.loss_function_scale = conf.final_ba_scale_px
    opts.ceres.solver_options.num_threads = conf.threads
    opts.ceres.solver_options.max_num_iterations = 200
    pycolmap.bundle_adjustment(model, opts)


def _read_model(model, V: int, T: int):
    """Poses (V, T, 4, 4) NaN where unregistered, scene points per frame (V, T), the cameras per video."""
    poses = np.full((V, T, 4, 4), np.nan)
    points = np.zeros((V, T), dtype=int)
    cameras: dict[int, Intrinsics] = {}
    if model is None:
        return poses, points, cameras
    for image in model.images.values():
        if not image.has_pose:
            continue
        v, t = _parse_name(image.name)
        W = np.eye(4)
        W[:3, :4] = image.cam_from_world().matrix()
        poses[v, t] = W
        points[v, t] = image.num_points3D
        cameras[v] = intrinsics_from_colmap(model.cameras[image.camera_id])
    return poses, points, cameras


# ------------------------------------------------------------------------------------ the people


def _main_person(people, V: int, T: int, intrinsics: list[Intrinsics]) -> tuple[np.ndarray, np.ndarray]:
    """The main person's undistorted 2D joints (V, T, 18, 2) (NaN where unknown) and confidences (V, T, 18)."""
    from .triangulate import undistort_pixels

    xy = np.full((V, T, 18, 2), np.nan)
    c = np.zeros((V, T, 18))
    for v in range(V):
        for t in range(T):
            kp = people[v][t][0] if people[v][t] else None
            if kp is None:
                continue
            kp = np.asarray(kp, dtype=np.float64)
            seen = (kp[:, 2] > 0) & np.isfinite(kp[:, :2]).all(axis=1)
            xy[v, t][seen], c[v, t][seen] = kp[seen, :2], kp[seen, 2]
        intr = intrinsics[v]
        if intr is not None and intr.distorted:
            xy[v] = undistort_pixels(xy[v], intr.K, intr.dist)
    return xy, c


def _triangulate_people(poses: np.ndarray, ok: np.ndarray, Ks: np.ndarray, xy: np.ndarray, c: np.ndarray,
                        conf: SfmConf) -> np.ndarray:
    """(T, 18, 3) the main person at every instant from the ok views (NaN where fewer than two)."""
    from .triangulate import TriangulateConf, triangulate

    V, T = ok.shape
    out = np.full((T, 18, 3), np.nan)
    for t in range(T):
        views = np.nonzero(ok[:, t])[0]
        if len(views) < 2:
            continue
        P = np.stack([Ks[v] @ poses[v, t][:3] for v in views])
        tri = triangulate(P, xy[views, t], c[views, t],
                          TriangulateConf(min_confidence=conf.min_joint_confidence, max_reprojection_px=15.0))
        out[t] = tri.points
    return out


def _person_px(poses, ok, Ks, xy, c, joints, conf: SfmConf) -> np.ndarray:
    """(V, T) median reprojection error of the triangulated joints in each ok frame (NaN: unknown)."""
    from .triangulate import reproject

    V, T = ok.shape
    out = np.full((V, T), np.nan)
    for v, t in zip(*np.nonzero(ok)):
        seen = (c[v, t] >= conf.min_joint_confidence) & np.isfinite(joints[t]).all(axis=1)
        if seen.sum() < 4:
            continue
        proj, depth = reproject((Ks[v] @ poses[v, t][:3])[None], joints[t][seen])
        err = np.linalg.norm(proj[0] - xy[v, t][seen], axis=1)
        out[v, t] = float(np.median(np.where(depth[0] > 0, err, np.inf)))
    return out


def _pnp_from_people(v: int, frames, poses, ok, source, notes, Ks, xy, c, joints, widths, conf: SfmConf) -> int:
    """Pose video v at the instants it is not posed, from the main person's joints triangulated by
    the others: a robust PnP per instant, then every instant refined together under a smooth-motion
    prior and verified per instant (``recon.people_track``). An instant that fails the check is
    not posed, with the reason in ``notes``. Returns how many were posed."""
    from .people_track import PeopleTrackConf, initial_poses, refine_track

    todo = ~ok[v] & (frames[v] >= 0)
    if not todo.any():
        return 0
    tconf = PeopleTrackConf(min_confidence=conf.min_joint_confidence, min_joints=conf.min_people_joints,
                            pnp_px=conf.people_pnp_px)
    known = np.where(todo[:, None, None], joints, np.nan)  # only the instants to pose
    start = initial_poses(xy[v], c[v], known, Ks[v], widths[v], tconf)
    if not np.isfinite(start).any():
        for t in np.nonzero(todo)[0]:
            notes[v, t] = notes[v, t] or "the people could not pose it either (too few of its joints triangulated)"
        return 0
    times = np.where(frames[v] >= 0, frames[v], np.arange(len(todo))).astype(float)
    track = refine_track(xy[v], c[v], known, Ks[v], times, start, widths[v], tconf)
    for t in np.nonzero(todo)[0]:
        if track.ok[t]:
            poses[v, t], ok[v, t], source[v, t] = track.poses[t], True, "people-pnp"
        else:
            notes[v, t] = f"not posed by the scene; from the people: {track.reason[t]}"
    return int(track.ok[todo].sum())


def _turning(names, sfm: np.ndarray, conf: SfmConf) -> str:
    """The videos SfM registered turning by more than ``static_max_turn_deg`` between their own
    frames (each video's own path is right even where the views were glued together wrongly), as
    'cam0 (12 deg), ...'; empty when none: the cameras may be static."""
    from ..pinhole import rotation_angle_deg

    out = []
    for v, n in enumerate(names):
        have = np.nonzero(np.isfinite(sfm[v]).all(axis=(1, 2)))[0]
        if len(have) < 2:
            continue
        turn = max(rotation_angle_deg(sfm[v, t, :3, :3] @ sfm[v, have[0], :3, :3].T) for t in have)
        if turn > conf.static_max_turn_deg:
            out.append(f"{n} ({turn:.0f} deg)")
    return ", ".join(out)


def _people_static(names, poses, ok, source, Ks, xy, c, conf: SfmConf, warnings: list[str]) -> None:
    """Every camera posed from the pooled joints of every instant (``people_calib``; static cameras)."""
    from .people_calib import PeopleCalibConf, calibrate_from_people

    V, T = ok.shape
    calib = calibrate_from_people(names, xy, c, list(Ks), conf=PeopleCalibConf(seed=conf.seed))
    warnings.extend(calib.warnings)
    for v, n in enumerate(names):
        cam = calib.cameras[n]
        if not cam.ok:
            warnings.append(f"{n}: not posed from the people either ({cam.reason})")
            continue
        poses[v, :] = cam.world_to_camera
        ok[v, :] = True
        source[v, :] = "people-static"


# ----------------------------------------------------------------------------------------- solve


def _resolve_intrinsics(given, cameras, sizes, conf: SfmConf, warnings):
    out, kinds = [], []
    for v, (g, (w, h)) in enumerate(zip(given, sizes)):
        if g is not None:
            out.append(g), kinds.append("given")
        elif v in cameras:
            out.append(cameras[v]), kinds.append("sfm")
        elif w:
            out.append(Intrinsics.from_fov(w, h, conf.default_hfov_deg)), kinds.append("assumed")
        else:
            out.append(None), kinds.append("none")
    return out, kinds


def _reframe(poses, ok, ref: int):
    """Poses relative to camera ref's first ok instant; returns the reference video used (or None)."""
    order = [ref] + [v for v in range(len(ok)) if v != ref]
    r = next((v for v in order if ok[v].any()), None)
    if r is None:
        return None
    W0 = np.linalg.inv(poses[r, int(np.argmax(ok[r]))])
    poses[ok] = poses[ok] @ W0
    return r


def scene_poses(names: list[str], frames: np.ndarray, image_at, people, intrinsics: list[Intrinsics | None] | None = None,
                reference: int = 0, conf: SfmConf | None = None) -> ScenePoses:
    """Camera poses of V videos at T synchronized instants.

    frames: (V, T) int, each video's frame at each instant (-1: none); image_at(v, frame) -> (H, W, 3)
    uint8 RGB; people[v][t]: the people detected in that frame, each (18, 3) x, y, confidence, the
    main person first (None where it is not detected; an empty list: nobody); intrinsics: per video, None where unknown.
    """
    conf = conf or SfmConf()
    frames = np.asarray(frames, dtype=int)
    V, T = frames.shape
    intrinsics = list(intrinsics) if intrinsics is not None else [None] * V
    timings: dict[str, float] = {}
    clock = _Clock(timings)
    tick = (time.perf_counter(), _process_seconds())
    work = Path(conf.keep_workspace) if conf.keep_workspace else Path(tempfile.mkdtemp(prefix="synrecon_sfm_"))
    try:
        available, sizes = _write_workspace(work, frames, image_at, people, conf)
        tick = clock.lap("prepare", tick)
        keys = keyframe_instants(available, conf.keyframes)
        allnames = [_image_name(v, t) for v in range(V) for t in range(T) if available[v, t]]
        _extract(work, allnames, intrinsics, conf)
        tick = clock.lap("extract", tick)
        _match(work, match_pairs(available, keys, conf), conf)
        tick = clock.lap("match", tick)
        fixed = all(i is not None for i in intrinsics)
        keynames = [n for n in allnames if _parse_name(n)[1] in set(keys)]
        model, others = _map(work, keynames, allnames, fixed, conf)
        tick = clock.lap("map", tick)
        sfm, points, cameras = _read_model(model, V, T)
    finally:
        if not conf.keep_workspace:
            shutil.rmtree(work, ignore_errors=True)
    result = _assemble(names, frames, available, sizes, sfm, points, cameras, others, people, intrinsics,
                       reference, conf)
    clock.lap("people", tick)
    result.timings = timings
    return result


def _write_workspace(work: Path, frames, image_at, people, conf: SfmConf):
    """Images and masks of every synchronized frame; returns (V, T) which were written and (w, h) per video."""
    import cv2

    V, T = frames.shape
    available = np.zeros((V, T), dtype=bool)
    sizes = [(0, 0)] * V
    for v in range(V):
        (work / "images" / f"v{v:03d}").mkdir(parents=True, exist_ok=True)
        (work / "masks" / f"v{v:03d}").mkdir(parents=True, exist_ok=True)
        for t in range(T):
            if frames[v, t] < 0:
                continue
            rgb = image_at(v, int(frames[v, t]))
            h, w = rgb.shape[:2]
            sizes[v] = (w, h)
            name = _image_name(v, t)
            cv2.imwrite(str(work / "images" / name), np.ascontiguousarray(rgb[..., ::-1]),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            cv2.imwrite(str(work / "masks" / f"{name}.png"), person_mask(people[v][t], h, w, conf))
            available[v, t] = True
    return available, sizes


def _assemble(names, frames, available, sizes, sfm, points, cameras, others, people, given, reference, conf):
    V, T = frames.shape
    warnings: list[str] = []
    intr, kinds = _resolve_intrinsics(given, cameras, sizes, conf, warnings)
    Ks = np.stack([i.K if i is not None else np.eye(3) for i in intr])
    widths = [max(w, 1) for w, _ in sizes]
    poses = sfm.copy()
    ok = np.isfinite(poses).all(axis=(2, 3)) & (points >= conf.min_frame_points)
    weak = np.isfinite(poses).all(axis=(2, 3)) & ~ok
    source = np.where(ok, "sfm", "").astype(object)
    if others:
        warnings.append(f"the scene split into {others + 1} SfM models; the largest is used")
    xy, c = _main_person(people, V, T, intr)
    limits = np.array([conf.max_person_px * w / 1000.0 for w in widths])
    disagree = _check_scene_poses(poses, ok, Ks, xy, c, limits, conf)
    ok &= ~np.isfinite(disagree)
    notes = np.full((V, T), "", dtype=object)  # why a frame SfM posed was dropped
    for v, t in zip(*np.nonzero(np.isfinite(disagree))):
        notes[v, t] = (f"SfM registered it, but the person's joints disagree with that pose (median "
                       f"{disagree[v, t]:.1f} px > {limits[v]:.1f} px), and the people did not pose it")
    def drop(dropped: dict[int, str]) -> None:  # a camera's SfM poses refused by a check, with its reason
        for v, text in dropped.items():
            warnings.append(f"{names[v]}: {text}")
            notes[v][ok[v]] = text + ", and the people did not pose it"
            ok[v] = False

    drop(_check_pairs(names, poses, ok, Ks, xy, c, widths, reference, conf))
    drop(_check_with_people(names, poses, ok, Ks, xy, c, conf))
    wrong, asymmetry = _check_body(poses, ok, Ks, xy, c, conf)
    drop({v: (f"the person triangulated with the scene's poses is not a body (left/right limbs differ by "
              f"{asymmetry:.0%} in the median): SfM poses dropped (a repetitive scene matched wrongly?)")
          for v in wrong})
    by_scene = [v for v in range(V) if ok[v].any()]
    used_people = False
    if conf.people_fallback and len(by_scene) >= 2:
        joints = _triangulate_people(poses, ok, Ks, xy, c, conf)
        for v in range(V):
            if available[v].any() and (~ok[v] & available[v]).any():
                used_people |= _pnp_from_people(v, frames, poses, ok, source, notes, Ks, xy, c, joints, widths,
                                                 conf) > 0
    elif conf.people_fallback and V >= 2 and (turning := _turning(names, sfm, conf)):
        warnings.append("the scene's poses were dropped, and the people cannot pose the cameras as static ones: "
                        f"SfM saw {turning} turn over the instants")
        poses[:], ok[:], source[:] = np.nan, False, ""
    elif conf.people_fallback and V >= 2:
        warnings.append("the background does not connect the videos: cameras posed from the people, "
                        "assumed static")
        poses[:], ok[:], source[:] = np.nan, False, ""
        _people_static(names, poses, ok, source, Ks, xy, c, conf, warnings)
        used_people = bool(ok.any())
    ok &= available
    for v in range(V):
        if kinds[v] == "assumed" and ok[v].any():
            warnings.append(f"{names[v]}: no intrinsics given nor estimated; a {conf.default_hfov_deg:g} degree "
                            "lens was assumed")
    ref = _reframe(poses, ok, reference)
    scale_kind, s, joints = "none", 1.0, None
    if ref is not None:
        # the person from the scene-posed views where two see it; the people-posed ones are checked against it
        scene = ok & (source == "sfm")
        trusted = np.where((scene.sum(axis=0) >= 2)[None], scene, ok)
        joints = _triangulate_people(poses, trusted, Ks, xy, c, conf)
        scale_kind, s = _metric(joints, conf, warnings)
        poses[ok, :3, 3] *= s
        joints = joints * s
        err = _person_px(poses, ok, Ks, xy, c, joints, conf)
    else:
        err = np.full((V, T), np.nan)
    kind = "none" if not ok.any() else ("people" if not (source == "sfm").any() else
                                        "sfm+people" if used_people else "sfm")
    videos = {n: VideoPoses(n, intr[v], kinds[v], _frame_rows(v, frames, ok, poses, source, points, err, limits[v],
                                                              notes, available, weak, conf))
              for v, n in enumerate(names)}
    result = ScenePoses(names[ref] if ref is not None else names[reference], videos, scale_kind, float(s), kind,
                        warnings, joints=joints)
    for v, n in enumerate(names):
        k = int((ok[v] & (source[v] == "people-pnp")).sum())
        if k:
            warnings.append(f"{n}: {k} frames posed from the person's joints (PnP per instant, smoothed): several "
                            "degrees less accurate than poses from the scene (source 'people-pnp')")
    for n, missing in result.missing().items():
        warnings.append(f"{n}: no pose at {len(missing)} of its synchronized frames ({_ranges(missing)})")
    return result


def _frame_rows(v, frames, ok, poses, source, points, err, limit, notes, available, weak, conf) -> list[FramePose]:
    rows = []
    for t in range(frames.shape[1]):
        f = FramePose(t, int(frames[v, t]), points=int(points[v, t]), person_px=float(err[v, t]))
        if ok[v, t]:
            f.world_to_camera, f.ok, f.source = poses[v, t].copy(), True, str(source[v, t])
            if err[v, t] > limit:
                f.ok, f.reason = False, (f"the person's joints disagree with this pose (median "
                                         f"{err[v, t]:.1f} px > {limit:.1f} px)")
        else:
            f.reason = notes[v, t] or _why(frames[v, t], available[v, t], weak[v, t], points[v, t], conf)
        rows.append(f)
    return rows


def _check_scene_poses(poses, ok, Ks, xy, c, limits, conf: SfmConf) -> np.ndarray:
    """(V, T) median joint reprojection error of the SfM frames that disagree with the person
    triangulated from the SfM frames (a wrong registration: a repetitive or symmetric scene), NaN elsewhere."""
    out = np.full(ok.shape, np.nan)
    if (ok.sum(axis=0) >= 2).sum() == 0:
        return out
    joints = _triangulate_people(poses, ok, Ks, xy, c, conf)
    err = _person_px(poses, ok, Ks, xy, c, joints, conf)
    bad = ok & (err > limits[:, None])
    out[bad] = err[bad]
    return out


def pair_epipolar_px(poses, ok, Ks, xy, c, a: int, b: int, conf: SfmConf) -> tuple[float, int]:
    """Median epipolar distance (pixels, in b) of the person's joints seen by videos a and b at
    their common posed instants under the poses, and how many joints it is over."""
    from .people_calib import epipolar_px

    dist = []
    for t in np.nonzero(ok[a] & ok[b])[0]:
        shared = (c[a, t] >= conf.min_joint_confidence) & (c[b, t] >= conf.min_joint_confidence) \
            & np.isfinite(xy[a, t]).all(axis=1) & np.isfinite(xy[b, t]).all(axis=1)
        if shared.any():
            rel = poses[b, t] @ np.linalg.inv(poses[a, t])
            dist.append(epipolar_px(xy[a, t][shared], xy[b, t][shared], Ks[a], Ks[b], rel))
    d = np.concatenate(dist) if dist else np.zeros(0)
    return (float(np.median(d)) if len(d) else float("nan")), len(d)


def _consistent_set(posed: list[int], bad: set, errors: dict, reference: int) -> list[int]:
    """The largest set of videos no two of which disagree; ties: the one with the reference, then
    the smallest summed pair error."""
    from itertools import combinations as comb

    if len(posed) > 12:  # greedy: drop the video in most disagreements until none is left
        keep = list(posed)
        while any((a, b) in bad for a, b in comb(keep, 2)):
            keep.remove(max(keep, key=lambda v: sum((min(v, u), max(v, u)) in bad for u in keep)))
        return keep
    for size in range(len(posed), 0, -1):
        sets = [s for s in comb(posed, size) if not any(p in bad for p in comb(s, 2))]
        if sets:
            return list(min(sets, key=lambda s: (reference not in s, sum(errors.get(p, 0.0) for p in comb(s, 2)))))
    return []


def _check_pairs(names, poses, ok, Ks, xy, c, widths, reference: int, conf: SfmConf) -> dict[int, str]:
    """Videos whose SfM poses disagree with the person's joints: every pair of scene-posed videos
    must put the joints they share within ``max_pair_epipolar_px`` (per 1000 px of width) of each
    other's epipolar lines (median over their common instants). SfM can glue each camera's own,
    right, path to the others wrongly (a repetitive room matched across views); the videos outside
    the largest set that agrees pairwise are returned with the reason (all of them when no two agree)."""
    posed = [v for v in range(len(ok)) if ok[v].any()]
    errors, bad = {}, set()
    for i, a in enumerate(posed):
        for b in posed[i + 1:]:
            e, n = pair_epipolar_px(poses, ok, Ks, xy, c, a, b, conf)
            limit = conf.max_pair_epipolar_px * 0.5 * (widths[a] + widths[b]) / 1000.0
            if n >= conf.min_pair_joints:
                errors[(a, b)] = e
                if e > limit:
                    bad.add((a, b))
    if not bad:
        return {}
    keep = _consistent_set(posed, bad, errors, reference)
    keep = keep if len(keep) >= 2 else []
    out = {}
    for v in posed:
        if v in keep:
            continue
        worst = [(errors[p], names[p[0] if p[1] == v else p[1]]) for p in bad if v in p]
        e, other = max(worst) if worst else (float("nan"), "?")
        out[v] = (f"its SfM poses put the person's joints {e:.0f} px from {other}'s epipolar lines in the median "
                  f"(> {conf.max_pair_epipolar_px:g} per 1000 px of width): SfM poses dropped (the scene matched "
                  "across the views wrongly?)")
    return out


def _check_with_people(names, poses, ok, Ks, xy, c, conf: SfmConf) -> dict[int, str]:
    """Videos whose SfM poses disagree with the people's: the pooled joints of every instant
    (``people_calib``, static cameras) give each pair of videos a relative rotation; where both are
    posed by the people and the SfM relative rotation (median over their common instants) is more
    than ``max_people_disagreement_deg`` off, the pair disagrees. A video in a disagreeing pair with
    most of its pairs disagreeing (both, when only two) is returned with the reason. Cameras that move
    against each other make the people's poses wrong: the check then flags, it never poses."""
    from ..pinhole import rotation_angle_deg
    from .people_calib import PeopleCalibConf, calibrate_from_people

    posed = [v for v in range(len(ok)) if ok[v].any()]
    if len(posed) < 2 or not np.isfinite(xy).any():
        return {}
    calib = calibrate_from_people([names[v] for v in posed], xy[posed], c[posed], [Ks[v] for v in posed],
                                  conf=PeopleCalibConf(seed=conf.seed))
    people = {v: calib.cameras[names[v]] for v in posed}
    off = {}
    for i, a in enumerate(posed):
        for b in posed[i + 1:]:
            both = ok[a] & ok[b]
            if not (people[a].ok and people[b].ok and both.any()):
                continue
            rel = people[b].world_to_camera[:3, :3] @ people[a].world_to_camera[:3, :3].T
            errs = [rotation_angle_deg(poses[b, t, :3, :3] @ poses[a, t, :3, :3].T @ rel.T) for t in np.nonzero(both)[0]]
            off[(a, b)] = float(np.median(errs))
    bad = {p: e for p, e in off.items() if e > conf.max_people_disagreement_deg}
    out = {}
    for v in posed:
        mine = [p for p in off if v in p]
        wrong = [p for p in bad if v in p]
        if wrong and (len(wrong) * 2 > len(mine) or len(posed) == 2):
            worst = max(bad[p] for p in wrong)
            out[v] = (f"its SfM poses disagree with the people's by up to {worst:.0f} degrees (relative rotation to "
                      f"{', '.join(names[b if a == v else a] for a, b in wrong)}): SfM poses dropped")
    return out


_LIMB_PAIRS = (((2, 3), (5, 6)), ((3, 4), (6, 7)), ((8, 9), (11, 12)), ((9, 10), (12, 13)))


def limb_asymmetry(joints: np.ndarray) -> tuple[float, int]:
    """Median over instants and limbs (upper arm, forearm, thigh, shin) of |left - right| / their mean
    length, of joints (T, 18, 3); and how many limb pairs it is over. A body is about symmetric (under
    0.1 when triangulated with right poses); wrong camera poses make it a different shape."""
    values = []
    for (a, b), (c, d) in _LIMB_PAIRS:
        left = np.linalg.norm(joints[:, a] - joints[:, b], axis=-1)
        right = np.linalg.norm(joints[:, c] - joints[:, d], axis=-1)
        both = np.isfinite(left + right) & (left + right > 0)
        values.extend(2 * np.abs(left[both] - right[both]) / (left[both] + right[both]))
    return (float(np.median(values)) if values else float("nan")), len(values)


def _check_body(poses, ok, Ks, xy, c, conf: SfmConf, min_limbs: int = 8) -> tuple[list[int], float]:
    """Videos whose scene poses make the person an implausible body: all scene-posed videos when no
    single one explains it (leaving each out in turn, with three or more), else that one."""
    asym, n = limb_asymmetry(_triangulate_people(poses, ok, Ks, xy, c, conf))
    if n < min_limbs or not asym > conf.max_limb_asymmetry:
        return [], asym
    posed = [v for v in range(len(ok)) if ok[v].any()]
    if len(posed) >= 3:
        for v in posed:
            keep = ok.copy()
            keep[v] = False
            a, m = limb_asymmetry(_triangulate_people(poses, keep, Ks, xy, c, conf))
            if m >= min_limbs and a <= conf.max_limb_asymmetry:
                return [v], asym
    return posed, asym


def _why(frame: int, available: bool, weak: bool, points: int, conf: SfmConf) -> str:
    if frame < 0:
        return "the video has no frame at this instant"
    if not available:
        return "the frame could not be read"
    if weak:
        return f"registered on only {points} scene points (< {conf.min_frame_points}), and the people did not pose it"
    return "not registered by SfM (its background matched no other frame), and the people did not pose it"


def _ranges(frames: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    out, start = [], None
    for i, f in enumerate(frames):
        if start is None:
            start = f
        if i + 1 == len(frames) or frames[i + 1] != f + 1:
            out.append(f"{start}" if start == f else f"{start}-{f}")
            start = None
    return ", ".join(out[:8]) + (", ..." if len(out) > 8 else "")


def _metric(joints: np.ndarray, conf: SfmConf, warnings: list[str]) -> tuple[str, float]:
    from .people_calib import height_scale

    height = conf.person_height or conf.assumed_height
    s = height_scale(joints, height)
    if s is None:
        warnings.append("no instant has the person's legs and torso triangulated: poses are in SfM units")
        return "none", 1.0
    if conf.person_height:
        return "person_height", s
    warnings.append(f"metric scale from an assumed body height of {conf.assumed_height:g} m")
    return "assumed_height", s


def scene_poses_from_sync(sync, intrinsics: dict[str, Intrinsics] | None = None, instants: list[int] | None = None,
                          conf: SfmConf | None = None) -> ScenePoses:
    """``scene_poses`` for the videos of a sync.json (a path or a ``SyncResult``): frames from the
    videos it names, people from the keypoints it names (every track masked, the first is the main
    person). instants: rows of its frames table to pose (default all)."""
    from ..errors import InputError
    from ..io.tracks import load_tracks
    from ..sync.result import SyncResult
    from .frames import FrameReader

    sync = sync if isinstance(sync, SyncResult) else SyncResult.load(sync)
    rows = sync.frames_table()
    instants = list(range(len(rows))) if instants is None else list(instants)
    names = [v.name for v in sync.videos]
    frames = np.array([[rows[t]["frames"].get(n, -1) for t in instants] for n in names], dtype=int).reshape(len(names), -1)
    readers, people = [], []
    for v in sync.videos:
        if v.path is None:
            raise InputError(sync.source or "sync.json", f"video {v.name!r} has no path")
        readers.append(FrameReader(sync.resolve(v.path)))
        path = sync.keypoints_path(v.name)
        tracks = load_tracks(path, fps=v.fps) if path is not None and path.exists() else []
        if not tracks:
            log.warning("%s: no keypoints, the people are not masked nor used", v.name)
        # the main person first, None where it is not detected (the others are only masked)
        people.append([[tr.at_frame(int(f)) for tr in tracks] if f >= 0 else [] for f in frames[len(people)]])
    given = [None if intrinsics is None else intrinsics.get(n) for n in names]
    try:
        return scene_poses(names, frames, lambda v, f: readers[v].get(f), people, given,
                           names.index(sync.reference) if sync.reference in names else 0, conf)
    finally:
        for r in readers:
            r.close()


def pose_errors(estimated: np.ndarray, truth: np.ndarray, ok: np.ndarray, reference: tuple[int, int],
                extent: np.ndarray | None = None) -> dict:
    """Errors of world_to_camera poses (V, T, 4, 4) against the truth (V, T, 4, 4), both taken
    relative to the frame ``reference`` = (video, instant), after one global scale of the
    translations (least squares over the camera centres). extent: points spanning the scene (N, 3)
    in the truth's world (default the true camera centres); scene size = their bounding-box diagonal.
    Returns per ok frame rotation_deg, translation (metres, truth units) and the summary."""
    from ..pinhole import rotation_angle_deg

    v0, t0 = reference
    est = estimated @ np.linalg.inv(estimated[v0, t0])
    tru = truth @ np.linalg.inv(truth[v0, t0])
    ce = -np.einsum("...ji,...j->...i", est[..., :3, :3], est[..., :3, 3])[ok]
    ct = -np.einsum("...ji,...j->...i", tru[..., :3, :3], tru[..., :3, 3])[ok]
    s = float((ce * ct).sum() / max((ce * ce).sum(), 1e-12))
    rot = np.array([rotation_angle_deg(a[:3, :3] @ b[:3, :3].T) for a, b in zip(est[ok], tru[ok])])
    trans = np.linalg.norm(s * ce - ct, axis=1)
    centres = -np.einsum("...ji,...j->...i", truth[..., :3, :3], truth[..., :3, 3]).reshape(-1, 3)
    span = np.concatenate([centres, np.asarray(extent).reshape(-1, 3)]) if extent is not None else centres
    size = float(np.linalg.norm(span.max(axis=0) - span.min(axis=0)))
    return {"rotation_deg": rot, "translation": trans, "scale": s, "scene_size": size,
            "frames": int(ok.sum()), "rotation_median_deg": float(np.median(rot)) if len(rot) else float("nan"),
            "rotation_p95_deg": float(np.percentile(rot, 95)) if len(rot) else float("nan"),
            "translation_max_frac": float(trans.max() / size) if len(trans) else float("nan"),
            "translation_median_frac": float(np.median(trans) / size) if len(trans) else float("nan")}
