"""Stage ``triangulate``: sync.json -> camera poses -> the person's joints in 3D at every synchronized instant.

Reads sync.json (``sync.result.SyncResult``), the keypoints it names for each video
(``io.load_tracks``) and its frames table; the camera intrinsics from a calibration TOML
(``io.calibration``), an intrinsics file (``recon.intrinsics.load_intrinsics``) or a field of view.
Camera poses come from that calibration when it has them, else from the people
(``recon.people_calib.calibrate_from_tracks``: every person track of every camera, associated across
the views); a camera whose pose the joints do not pin down is flagged and not used. The main person
(the reference video's first track) is triangulated at every instant over the verified cameras
(``recon.triangulate``), then all instants refined together (``recon.temporal``: smooth motion,
constant bone lengths; ``refine_over_time``, on by default).

Outputs (one folder, written atomically):
    skeleton3d.json   the person's 18 joints per instant, metres, in the reference camera's frame
    triangulate.json  per camera: ok / reason, pose, reprojection error, uncertainty, confidence;
                      the scale and where it came from; warnings; timings
    skeleton.trc      with ``trc=True``: the same joints as TRC markers (OpenSim, Pose2Sim)
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..fileio import atomic_dir, write_json
from ..pinhole import Intrinsics
from ..skeleton import NUM_JOINTS
from ..sync.result import SyncResult
from .people_calib import PeopleCalibConf, associate_people, calibrate_from_tracks
from .skeleton3d import Skeleton3D, write_skeleton3d
from .triangulate import TriangulateConf, triangulate_sequence, undistort_pixels
from .triangulate_moving import MovingConf

log = logging.getLogger(__name__)

ASSUMED_HEIGHT_M = 1.70  # body height assumed for the scale when none is given and no calibration has one
SUMMARY_SCHEMA = "synnet-recon/triangulate-summary"


@dataclass
class TriangulateStageConfig:
    """Everything the stage can be told; the CLI fills it from its options."""

    calibration: str | None = None  # Pose2Sim / caliscope TOML: intrinsics, distortion and poses
    intrinsics: str | None = None  # COLMAP cameras.txt, intrinsics JSON or truth.json (poses from the people)
    fov_deg: float | None = None  # horizontal field of view of every camera (poses from the people)
    person_height: float | None = None  # metres; None: ASSUMED_HEIGHT_M (unless the calibration is metric)
    frames: str | None = None  # "START:END:STEP" over sync.json's frames rows
    use_calibration_poses: bool = True  # False: only intrinsics from --calibration, poses from the people
    poses: str | None = None  # None: the calibration's, else the people's; "people", "sfm" (per frame, moving
    #                           cameras: recon.triangulate_moving) or "auto" (SfM where the background connects)
    scene: MovingConf = field(default_factory=MovingConf)
    scene_poses: object | None = None  # a recon.sfm.ScenePoses over the rows used (skips SfM; the demo's)
    allow_unverified: bool = False  # triangulate with flagged cameras too (marked in the outputs)
    trc: bool = False
    # one robust fit of all instants: smooth motion, constant bones (recon.temporal). On by default
    # since session 12 (h1): better in every measured case (docs/benchmarks.md, "Session 12 (h1):
    # refinement over time as the default?"); False: each instant alone (CLI --no-over-time)
    refine_over_time: bool = True
    # pair the views at each instant's exact time (align's sub-frame offsets), each view's joints
    # interpolated between its detections (recon.subframe); False: the nearest frame (frames table)
    subframe: bool = True
    # poses from the people: a video whose keypoints skip frames (align poses at 30 fps: every 2nd
    # frame at 60 fps) is posed again on every frame of the synchronized rows (the same backend and
    # size), when that is at most this many frames per video (0: never). Every frame, Pose2Sim
    # balancing videos: 2.44 -> 2.06 deg max (docs/benchmarks.md, session 7, h4)
    repose_max_frames: int = 600
    progress: bool = True
    people: PeopleCalibConf = field(default_factory=PeopleCalibConf)
    triangulate: TriangulateConf = field(default_factory=TriangulateConf)


@dataclass
class Camera:
    name: str
    K: np.ndarray
    dist: np.ndarray | None
    size: tuple[int, int]
    world_to_camera: np.ndarray | None = None  # from the calibration, its world frame
    fit: str = ""  # how intrinsics for another image size were fitted to its video (``_fit_size``), if they were


@dataclass
class Views:
    """Every person track of every camera at the synchronized instants."""

    names: list[str]  # videos with keypoints, reference first
    rows: list[int]  # sync.json frames rows used
    times: np.ndarray  # (T,) reference clock
    frames: list[dict[str, int]]  # per instant, the frame of each video
    xy: list[np.ndarray]  # per camera (P_v, T, 18, 2) undistorted pixels, NaN where missing
    conf: list[np.ndarray]  # per camera (P_v, T, 18)
    fps: float | None


def _camera_number(name: str) -> int | None:
    digits = re.findall(r"\d+", name)
    return int(digits[-1]) if digits else None


def match_calibration(names: list[str], cameras: dict, path) -> dict[str, object]:
    """Calibration cameras for the videos: by name, else by the number in the name (cam01_json ->
    cam_01), else by order when the counts match; an InputError names what is missing."""
    if all(n in cameras for n in names):
        return {n: cameras[n] for n in names}
    by_number = {}
    for key, cam in cameras.items():
        by_number.setdefault(_camera_number(key), []).append(cam)
    numbers = [_camera_number(n) for n in names]
    if None not in numbers and len(set(numbers)) == len(numbers) and all(len(by_number.get(k, [])) == 1
                                                                          for k in numbers):
        return {n: by_number[k][0] for n, k in zip(names, numbers)}
    raise InputError(path, f"cannot tell which camera is which video: cameras {', '.join(cameras)}, "
                           f"videos {', '.join(names)} (name them alike, e.g. cam_01 for cam01_json)")


def resolve_cameras(conf: TriangulateStageConfig, names: list[str], sizes: dict[str, tuple[int, int]],
                    base: Path) -> dict[str, Camera]:
    """Intrinsics (and calibration poses) of every video, from whichever source was given."""
    given = [o for o, v in (("--calibration", conf.calibration), ("--intrinsics", conf.intrinsics),
                            ("--fov", conf.fov_deg)) if v is not None]
    if len(given) > 1:
        raise InputError(given[1], f"give one of --calibration, --intrinsics, --fov (got {', '.join(given)})")
    if conf.calibration is not None:
        from ..io.calibration import read_calibration_toml

        cal = match_calibration(names, read_calibration_toml(conf.calibration), conf.calibration)
        out = {}
        for n in names:
            c, notes = cal[n], []
            K = _fit_size(c.K, c.size, sizes[n], conf.calibration, n, notes)
            out[n] = Camera(n, K, c.dist, sizes[n], c.world_to_camera if conf.use_calibration_poses else None,
                            "".join(notes))
        return out
    if conf.fov_deg is not None:
        if not 1.0 <= conf.fov_deg <= 170.0:
            raise InputError("--fov", f"expected a horizontal field of view in degrees in [1, 170], got {conf.fov_deg:g}")
        intr = {n: Intrinsics.from_fov(*sizes[n], conf.fov_deg) for n in names}
    else:
        from .intrinsics import load_intrinsics

        spec = conf.intrinsics
        if spec is None:
            found = [p for p in (base / "intrinsics.json", base / "cameras.txt", base / "truth.json") if p.is_file()]
            if not found:
                raise InputError("--intrinsics", "no intrinsics: give --calibration TOML, --intrinsics FILE or "
                                                 "--fov DEG (a phone's main camera is about 65-75 degrees wide)")
            spec = found[0]
            log.info("intrinsics from %s", spec)
        intr = load_intrinsics(spec, names)
    out = {}
    for n in names:
        notes = []
        K = _fit_size(intr[n].K, intr[n].image_size, sizes[n], conf.intrinsics or "--fov", n, notes)
        dist = np.array(intr[n].dist) if intr[n].distorted else None
        out[n] = Camera(n, K, dist, sizes[n], fit="".join(notes))
    return out


def portrait_fov_notes(fov_deg: float | None, sizes: dict[str, tuple[int, int]]) -> list[str]:
    """A note (logged, and returned for the warnings) for every portrait video given ``--fov``: the
    angle is taken across the image's width as stored, its short side; a phone's field of view is
    usually quoted for landscape, across the long side (the Pose2Sim demo's 1080x1920 videos: 35.6
    degrees across, 59.5 along; --fov 69 there is a focal length of 786 px against the true 1681)."""
    notes = []
    for n, (w, h) in sizes.items():
        if fov_deg is None or not h > w > 0:
            continue
        f = (w / 2.0) / np.tan(np.radians(fov_deg) / 2.0)
        long_fov = np.degrees(2.0 * np.arctan((h / 2.0) / f))
        note = (f"{n}: portrait video ({w}x{h}): --fov {fov_deg:g} is taken across its {w} px width (f = {f:.0f} px, "
                f"{long_fov:.1f} degrees along its {h} px height); a phone's field of view is usually quoted for "
                "landscape: give the angle across the short side, or --intrinsics")
        log.warning("%s", note)
        notes.append(note)
    return notes


def _fit_size(K: np.ndarray, size, image_size, where, name: str, notes: list | None = None) -> np.ndarray:
    """K for the keypoints' image size. The same aspect: scaled. A near-equal aspect (within 1 %):
    the video is taken to be the calibrated image scaled uniformly to fit inside it and centred, with
    borders where it falls short (a letterbox or pillarbox; the Pose2Sim balancing videos are 1080
    wide against a 1088 calibration: scaled by 1080/1088 and 7 black rows top and bottom, found by
    registering frames). What was assumed goes to the log and, when given, to ``notes``."""
    (w, h), (W, H) = size, image_size
    if (w, h) == (W, H) or not W or not H:
        return np.asarray(K, dtype=np.float64)
    if abs(w / h - W / H) > 0.01:
        raise InputError(where, f"{name}: intrinsics are for {w}x{h} images but its keypoints are {W}x{H}")
    s = min(W / w, H / h)
    pad_x, pad_y = (W - s * w) / 2.0, (H - s * h) / 2.0
    out = np.array(K, dtype=np.float64)
    out[0, 0], out[1, 1] = K[0, 0] * s, K[1, 1] * s
    out[0, 2], out[1, 2] = (K[0, 2] + 0.5) * s - 0.5 + pad_x, (K[1, 2] + 0.5) * s - 0.5 + pad_y
    if max(pad_x, pad_y) < 0.25:
        how = f"scaled by {s:.5g}"
    else:
        how = (f"assumed scaled by {s:.5g} and centred with {pad_x:.1f} px borders left and right, {pad_y:.1f} px "
               "top and bottom (a letterbox; a crop or a stretch would need other intrinsics)")
    note = f"{name}: intrinsics are for {w}x{h} images, its video is {W}x{H}: {how}"
    log.warning("%s", note)
    if notes is not None:
        notes.append(note)
    return out


def read_views(sync: SyncResult, frames: str | None, cameras: dict[str, Camera] | None,
               tracks: dict[str, list], subframe: bool = True) -> Views:
    """The person tracks of every video at the synchronized instants (rows with 2+ of the videos).

    ``subframe``: each video's joints are taken at the instant's exact position on its own clock
    (align's sub-frame offset), interpolated in time between the detections around it
    (``recon.subframe``); otherwise at the nearest frame of sync.json's frames table."""
    from .fuse import parse_range

    table = sync.frames_table()
    picked = parse_range(frames, len(table))
    if not picked:
        raise InputError("--frames", f"{frames!r} selects no rows of sync.json's {len(table)} frames")
    names = [sync.reference] if sync.reference in tracks else []
    names += [v.name for v in sync.videos if v.name in tracks and v.name not in names]
    rows = [i for i in picked if sum(n in table[i]["frames"] for n in names) >= 2]
    if not rows:
        raise InputError(sync.source or "sync.json", "no synchronized instant has two videos with keypoints")
    xy, conf = [], []
    for n in names:
        positions = _positions(sync, table, rows, n) if subframe else None
        x, c = _track_views(tracks[n], table, rows, n, positions)
        cam = cameras[n] if cameras else None
        if cam is not None and cam.dist is not None:
            x = undistort_pixels(x, cam.K, cam.dist)
        xy.append(x)
        conf.append(c)
    ref_fps = next((v.fps for v in sync.videos if v.name == names[0] and v.fps), None)
    return Views(names, rows, np.array([float(table[r].get("time", r)) for r in rows]),
                 [{n: int(table[r]["frames"][n]) for n in names if n in table[r]["frames"]} for r in rows],
                 xy, conf, float(ref_fps) if ref_fps else None)


def _positions(sync: SyncResult, table: list[dict], rows: list[int], name: str) -> np.ndarray:
    """(T,) fractional frame of video ``name`` at each row's time (NaN where the table has no frame of
    it): (time - offset) * fps, where that is within half a frame of the table's frame; the table's
    frame itself where it is not (or the offset or frame rate is unknown)."""
    video = next((v for v in sync.videos if v.name == name), None)
    out = np.full(len(rows), np.nan)
    for t, r in enumerate(rows):
        f = table[r]["frames"].get(name)
        if f is None:
            continue
        out[t] = float(f)
        if video is not None and video.offset_seconds is not None and video.fps and "time" in table[r]:
            exact = (float(table[r]["time"]) - video.offset_seconds) * video.fps
            if abs(exact - f) <= 0.5 + 1e-6:
                out[t] = exact
    return out


def _track_views(track_list: list, table: list[dict], rows: list[int], name: str, positions: np.ndarray | None):
    """(P, T, 18, 2) and (P, T, 18) of every person track of one video at the rows: at the nearest
    frame (``positions`` None) or interpolated at those fractional frames (``recon.subframe``)."""
    from .subframe import joints_at, stride

    T = len(rows)
    x, c = np.full((len(track_list), T, NUM_JOINTS, 2), np.nan), np.zeros((len(track_list), T, NUM_JOINTS))
    for p, track in enumerate(track_list):
        if positions is not None:
            at = np.isfinite(positions)
            frames = track.frame_indices
            x[p, at], c[p, at] = joints_at(frames, track.xy, track.conf, positions[at], 1.5 * stride(frames))
            continue
        for t, r in enumerate(rows):
            f = table[r]["frames"].get(name)
            kp = None if f is None else track.at_frame(int(f))
            if kp is not None:
                ok = kp[:, 2] > 0
                x[p, t, ok], c[p, t, ok] = kp[ok, :2], kp[ok, 2]
    return x, c


def load_keypoints(sync: SyncResult) -> tuple[dict[str, list], dict[str, str]]:
    """Every video's person tracks (main person first) as sync.json names them; the reason a video has none."""
    from ..io.tracks import load_tracks

    tracks, missing = {}, {}
    for v in sync.videos:
        path = sync.keypoints_path(v.name)
        if path is None:
            missing[v.name] = "sync.json names no keypoints for it"
        elif not path.exists():
            missing[v.name] = f"its keypoints are not at {path}"
        else:
            found = load_tracks(path, fps=v.fps)
            if found:
                tracks[v.name] = found
            else:
                missing[v.name] = f"no person in its keypoints ({path})"
    if len(tracks) < 2:
        raise InputError(sync.source or "sync.json", "fewer than two videos have keypoints: "
                         + "; ".join(f"{n}: {r}" for n, r in missing.items()))
    return tracks, missing


def repose_skipped(sync: SyncResult, tracks: dict[str, list], config: TriangulateStageConfig,
                   notes: list[str]) -> dict[str, list]:
    """Every video whose main track skips frames, posed again on every frame its synchronized rows
    use (``config.repose_max_frames`` at most; its own backend and image size). The new tracks take
    the old ones' order (each old track the new one nearest it over their shared frames: the main
    person stays first). A video that cannot be posed again keeps its tracks; ``notes`` says so."""
    from ..pose import PoseConfig, estimate_pose
    from .subframe import stride

    table = sync.frames_table()
    out = dict(tracks)
    for v in sync.videos:
        old = tracks.get(v.name)
        if not old or v.kind != "video" or not v.path or config.repose_max_frames <= 0:
            continue
        path = Path(v.path) if Path(v.path).is_absolute() else sync.base / v.path
        used = sorted({int(row["frames"][v.name]) for row in table if v.name in row["frames"]})
        if not path.is_file() or not used or stride(old[0].frame_indices) <= 1:
            continue
        last = used[-1] + 2 if not v.num_frames else min(used[-1] + 2, int(v.num_frames))
        wanted = list(range(max(used[0] - 1, 0), last))
        if len(wanted) > config.repose_max_frames:
            notes.append(f"{v.name}: keypoints on one frame in {stride(old[0].frame_indices):g} only (not posed again: "
                         f"its {len(wanted)} frames are more than repose_max_frames {config.repose_max_frames})")
            continue
        meta = old[0].meta
        try:
            new = estimate_pose(path, PoseConfig(backend=meta.get("backend", "mediapipe"),
                                                 max_side=meta.get("max_side", 480), max_rate=None, frames=wanted,
                                                 progress=False))
        except InputError as exc:
            notes.append(f"{v.name}: not posed again on every frame ({exc}); align's keypoints used")
            continue
        ordered = _same_people(old, new)
        if ordered is None:
            notes.append(f"{v.name}: posed again on every frame, but its main person was not found again; "
                         "align's keypoints used")
            continue
        out[v.name] = ordered
        notes.append(f"{v.name}: posed again on all {len(wanted)} frames of the synchronized rows (its keypoints had "
                     f"one frame in {stride(old[0].frame_indices):g}; --align-keypoints-only turns this off)")
    return out


def _same_people(old: list, new: list) -> list | None:
    """``new`` tracks in the order of the ``old`` ones they match (median joint distance over the
    frames both have, greedy in the old order); the unmatched new ones after. None when the first
    old track (the main person) matches none."""
    def distance(a, b) -> float:
        shared, ia, ib = np.intersect1d(a.frame_indices, b.frame_indices, return_indices=True)
        if not len(shared):
            return np.inf
        d = np.linalg.norm(a.xy[ia] - b.xy[ib], axis=-1)
        return float(np.nanmedian(d)) if np.isfinite(d).any() else np.inf

    left, ordered = list(range(len(new))), []
    for a in old:
        if not left:
            break
        cost = [distance(a, new[k]) for k in left]
        k = int(np.argmin(cost))
        if not np.isfinite(cost[k]):
            if not ordered:
                return None
            continue
        ordered.append(new[left.pop(k)])
    if not ordered:
        return None
    return ordered + [new[k] for k in left]


@dataclass
class CameraResult:
    """One camera's outcome, as triangulate.json reports it."""

    name: str
    ok: bool
    reason: str = ""
    source: str = ""  # "calibration" or "people"
    world_to_camera: np.ndarray | None = None  # in the reference camera's frame, metres (or the scale's unit)
    reprojection_px: float = float("nan")  # median over the joints it helped triangulate
    confidence: float = 0.0
    rotation_std_deg: float = float("nan")
    direction_std_deg: float = float("nan")
    inliers: int = 0
    unsupported_frames: list[int] = field(default_factory=list)
    frames: list[dict] | None = None  # moving cameras: per instant the pose, ok, source or reason
    # poses from the people: RMS angle of the rotation / translation direction relative to the
    # anchor camera under resampling (recon.people_calib: block bootstrap over instants and
    # leave-one-joint-group-out); the Laplace std above is a lower bound that ignores both
    rotation_spread_deg: float = float("nan")
    direction_spread_deg: float = float("nan")

    def to_json(self) -> dict:
        def num(v):
            return None if not np.isfinite(v) else round(float(v), 4)

        return {"ok": self.ok, "reason": self.reason, "source": self.source,
                "world_to_camera": None if self.world_to_camera is None else np.round(self.world_to_camera, 7).tolist(),
                "reprojection_px": num(self.reprojection_px), "confidence": round(float(self.confidence), 4),
                "rotation_std_deg": num(self.rotation_std_deg), "direction_std_deg": num(self.direction_std_deg),
                "rotation_spread_deg": num(self.rotation_spread_deg),
                "direction_spread_deg": num(self.direction_spread_deg),
                "inliers": int(self.inliers), "unsupported_frames": self.unsupported_frames[:200],
                "unsupported_frames_count": len(self.unsupported_frames)} | (
                    {} if self.frames is None else {"frames": self.frames})


def poses_from_calibration(views: Views, cameras: dict[str, Camera]) -> tuple[dict[str, CameraResult], list]:
    """Given poses, in the reference camera's frame; the main person associated by epipolar distance."""
    ref = cameras[views.names[0]].world_to_camera
    out = {n: CameraResult(n, True, source="calibration",
                           world_to_camera=cameras[n].world_to_camera @ np.linalg.inv(ref)) for n in views.names}
    poses = {i: out[n].world_to_camera for i, n in enumerate(views.names)}
    Ks = [cameras[n].K for n in views.names]
    people = associate_people(views.xy, views.conf, Ks, 0, poses=poses)
    if any(k is None for row in people[:1] for k in row):
        # A calibration the keypoints disagree with by more than 12 px (Pose2Sim's cam_03: ~30 px)
        # leaves a view unmatched: match it by the joints alone (essential-matrix inliers) instead.
        loose = associate_people(views.xy, views.conf, Ks, 0)
        people = [[k if k is not None else m for k, m in zip(row, other)] for row, other in zip(people, loose)]
    return out, people


def poses_from_people(views: Views, cameras: dict[str, Camera], conf: TriangulateStageConfig):
    """Poses of static cameras from every person seen at the synchronized instants."""
    from dataclasses import replace

    height = conf.person_height or ASSUMED_HEIGHT_M
    calib, people = calibrate_from_tracks(views.names, [(views.xy, views.conf)],
                                          [cameras[n].K for n in views.names], 0,
                                          replace(conf.people, person_height=height))
    out = {}
    for n, c in calib.cameras.items():
        out[n] = CameraResult(n, c.ok, c.reason, "people", c.world_to_camera, c.reprojection_px, c.confidence,
                              c.rotation_std_deg, c.direction_std_deg, c.inliers, c.unsupported_frames,
                              rotation_spread_deg=c.rotation_spread_deg, direction_spread_deg=c.direction_spread_deg)
    return out, people[0], calib


def _main_person(views: Views, people: list) -> tuple[np.ndarray, np.ndarray]:
    """(V, T, 18, 2) and (V, T, 18) of the reference video's first track and its matches."""
    row = next((r for r in people if r[0] == 0), [0] + [None] * (len(views.names) - 1))
    V, T = len(views.names), len(views.times)
    xy, conf = np.full((V, T, NUM_JOINTS, 2), np.nan), np.zeros((V, T, NUM_JOINTS))
    for v, k in enumerate(row):
        if k is not None:
            xy[v], conf[v] = views.xy[v][k], views.conf[v][k]
    return xy, conf, row


def _triangulate(views, cameras, results, xy, conf, config: TriangulateStageConfig, matched):
    """The main person over the cameras that are ok (or posed, with allow_unverified)."""
    use = [v for v, n in enumerate(views.names) if results[n].world_to_camera is not None and matched[v] is not None
           and (results[n].ok or config.allow_unverified)]
    if len(use) < 2:
        return None, use
    P = np.stack([cameras[views.names[v]].K @ results[views.names[v]].world_to_camera[:3] for v in use])
    tri = triangulate_sequence(P, xy[use].transpose(1, 0, 2, 3), conf[use].transpose(1, 0, 2), config.triangulate,
                               progress=config.progress)
    return _over_time(tri, P, xy[use].transpose(1, 0, 2, 3), conf[use].transpose(1, 0, 2), views, config), use


def _over_time(tri, P, xy, conf, views, config: TriangulateStageConfig):
    if not config.refine_over_time:
        return tri
    from .temporal import refine_triangulations

    return refine_triangulations(tri, P, xy, conf, views.times)


def _scale_note(config: TriangulateStageConfig, calibrated: bool, posed=None) -> dict:
    if calibrated:
        return {"source": "calibration", "units": "m"}
    if posed is not None and posed.scene.scale == "none":
        return {"source": "none", "units": "SfM units", "note": "no instant had the legs and torso triangulated"}
    if config.person_height:
        return {"source": "person_height", "person_height_m": config.person_height, "units": "m"}
    return {"source": "assumed_height", "person_height_m": ASSUMED_HEIGHT_M, "units": "m",
            "note": f"metres only if the person is {ASSUMED_HEIGHT_M} m tall; give --person-height"}


def _say(config: TriangulateStageConfig, text: str) -> None:
    if config.progress:
        import sys

        print(f"triangulate: {text}", file=sys.stderr, flush=True)


def pose_mode(config: TriangulateStageConfig, sync: SyncResult) -> tuple[str, list[str]]:
    """"calibration", "people" or "scene" (per-frame poses from SfM), and what was decided on the way."""
    notes = []
    if config.poses not in (None, "people", "sfm", "auto"):
        raise InputError("--poses", f"{config.poses!r} is not people, sfm or auto")
    if config.poses is None:
        return ("calibration" if config.calibration is not None and config.use_calibration_poses else "people"), notes
    if config.poses == "people":
        return "people", notes
    if config.scene_poses is not None:
        return "scene", notes
    from .triangulate_moving import check_sfm_possible

    why = check_sfm_possible(sync, config.poses)
    if why is not None:
        notes.append(f"--poses auto: no structure from motion ({why}); cameras posed from the people (static)")
        return "people", notes
    return "scene", notes


def _cameras(config: TriangulateStageConfig, names, sizes, base: Path, mode: str) -> dict[str, Camera] | None:
    """The cameras' intrinsics (and calibration poses in mode "calibration"); None in mode "scene"
    when none are given (SfM estimates them)."""
    from dataclasses import replace

    if mode != "calibration":
        config = replace(config, use_calibration_poses=False)
    try:
        return resolve_cameras(config, names, sizes, base)
    except InputError:
        if mode != "scene" or config.calibration or config.intrinsics or config.fov_deg is not None:
            raise
        return None  # nothing given nor beside sync.json: SfM estimates the lenses


def main(config: TriangulateStageConfig, sync_json: str | Path, out_dir: str | Path) -> Path:
    """Run the stage: sync.json -> OUT/skeleton3d.json, OUT/triangulate.json (+ OUT/skeleton.trc).
    Returns the output folder."""
    t0 = time.perf_counter()
    sync = SyncResult.load(sync_json)
    tracks, missing = load_keypoints(sync)
    names = list(dict.fromkeys(n for n in [sync.reference] + [v.name for v in sync.videos] if n in tracks))
    sizes = {n: tuple(int(s) for s in tracks[n][0].image_size) for n in names}
    mode, warnings = pose_mode(config, sync)
    if mode == "people" or config.poses == "auto":
        tracks = repose_skipped(sync, tracks, config, warnings)
    cameras = _cameras(config, names, sizes, sync.base, mode)
    warnings += portrait_fov_notes(config.fov_deg, sizes)
    views = read_views(sync, config.frames, cameras, tracks, config.subframe)
    calib = None
    _say(config, f"{len(views.names)} videos with keypoints, {len(views.rows)} synchronized instants; camera poses "
                 + {"calibration": "from the calibration",
                    "scene": "for every frame from the scene (structure from motion, about 1 CPU second a frame "
                             "at 320x240)",
                    "people": "from the people (about a minute per 100 instants of four cameras on 2 cores)"}[mode])
    posed = None
    if mode == "scene":
        results, people, posed, cameras, mode = _scene_or_people(config, sync, views, cameras, sizes, warnings)
        if posed is None:
            calib = people[1]
            people = people[0]
    elif mode == "calibration":
        results, people = poses_from_calibration(views, cameras)
    else:
        results, people, calib = poses_from_people(views, cameras, config)
    xy, conf, matched = _main_person(views, people)
    t1 = time.perf_counter()
    if posed is not None:
        tri, used = _triangulate_moving(views, posed, results, xy, conf, config, matched)
    else:
        tri, used = _triangulate(views, cameras, results, xy, conf, config, matched)
    warnings += list(calib.warnings) if calib is not None else []
    warnings += posed.warnings if posed is not None else []
    if views.names[0] != sync.reference:
        warnings.append(f"reference video {sync.reference} has no keypoints; the frame is {views.names[0]}'s")
    for v, n in enumerate(views.names):
        if matched[v] is None and results[n].ok:
            results[n].ok, results[n].reason = False, "the main person was not matched in this view"
    summary = {
        "schema": SUMMARY_SCHEMA, "version": 1, "sync": str(sync_json), "reference": views.names[0],
        "instants": len(views.rows), "triangulated": tri is not None, "poses": mode,
        "refined_over_time": bool(config.refine_over_time and tri is not None),
        "views_used": [views.names[v] for v in used] if tri is not None else [],
        "unverified_used": bool(tri is not None and any(not results[views.names[v]].ok for v in used)),
        "scale": _scale_note(config, mode == "calibration", posed),
        "cameras": {n: results[n].to_json() for n in views.names} | {
            n: {"ok": False, "reason": r} for n, r in missing.items()},
        "warnings": warnings,
        "seconds": {"poses": round(t1 - t0, 3), "triangulation": round(time.perf_counter() - t1, 3)},
    }
    _inputs_note(summary, config, cameras)
    if calib is not None:
        # every camera pair: shared joints, essential-matrix inliers, and the spread of the relative
        # pose under resampling (rotation_spread_deg / direction_spread_deg)
        summary["people_calibration"] = {"anchor": calib.anchor, "pairs": calib.pairs}
    if posed is not None:
        summary["frame"] = (f"the reference camera ({posed.scene.reference}) at its first posed instant; the cameras "
                            "move, so each instant has its own poses (cameras[].frames)")
        summary["seconds"]["sfm"] = {k: round(v, 3) for k, v in posed.scene.timings.items()}
    return _write(config, out_dir, views, tri, used, summary)


def _inputs_note(summary: dict, config: TriangulateStageConfig, cameras: dict[str, Camera] | None) -> None:
    """How the views were paired in time, and how intrinsics for another image size were fitted
    (per camera ``intrinsics_fit``, and among the warnings)."""
    summary["pairing"] = ("subframe: every view's joints interpolated in time to the instant (align's offsets)"
                          if config.subframe else "nearest frame (sync.json's frames table)")
    for n, cam in (cameras or {}).items():
        if cam.fit and n in summary["cameras"]:
            summary["cameras"][n]["intrinsics_fit"] = cam.fit
            summary["warnings"].append(cam.fit)


def _probe(views: Views, count: int) -> Views:
    """``count`` of the views' instants, evenly spread (all when there are no more)."""
    from dataclasses import replace

    T = len(views.rows)
    if T <= count:
        return views
    idx = np.unique(np.linspace(0, T - 1, count).round().astype(int))
    return replace(views, rows=[views.rows[i] for i in idx], times=views.times[idx],
                   frames=[views.frames[i] for i in idx], xy=[x[:, idx] for x in views.xy],
                   conf=[c[:, idx] for c in views.conf])


def _unposed(views: Views, posed) -> str:
    """Per video, why the scene did not pose it, at which of the probed frames."""
    out = []
    for v, n in enumerate(views.names):
        if (posed.source[v] == "sfm").any():
            continue
        frames = [views.frames[t].get(n, -1) for t in range(len(views.rows)) if not posed.ok[v, t]]
        why = next((str(r) for r in posed.reason[v] if r), "no pose").split(", and the people")[0]
        out.append(f"{n} (frames {', '.join(str(f) for f in frames[:8])}{', ...' if len(frames) > 8 else ''}: {why})")
    return "; ".join(out)


def _posed_by_scene(posed, views) -> int:
    """How many videos the scene (SfM) posed at one instant or more."""
    return sum(bool((posed.source[v] == "sfm").any()) for v in range(len(views.names)))


def _scene_or_people(config, sync, views, cameras, sizes, warnings):
    """Per-frame poses from the scene; with --poses auto, the people's (static) when the scene poses
    fewer than two videos. Returns (results, people, posed or None, cameras, mode); in the people
    case ``people`` is (association, calibration).

    ``auto`` first runs SfM on ``scene.probe_instants`` of the instants only (images downscaled to
    ``scene.probe_image_size``): when the background does not connect two videos there (static cameras
    far apart), the people pose them, without SfM on every frame (hundreds of images for nothing);
    else SfM poses every instant."""
    from . import triangulate_moving as tm

    probe = views if config.poses != "auto" or config.scene_poses is not None else _probe(views, config.scene.probe_instants)
    posed = tm.scene_posed(sync, probe, cameras, config.person_height, config.scene, config.people.seed,
                           config.scene_poses, probe=probe is not views)
    by_scene = _posed_by_scene(posed, views)
    if probe is not views and by_scene >= 2:
        probe, posed = views, tm.scene_posed(sync, views, cameras, config.person_height, config.scene,
                                             config.people.seed)
        by_scene = _posed_by_scene(posed, views)
    if cameras is None:
        tm.undistorted(views, posed)
        cameras = {n: Camera(n, posed.Ks[v], None, sizes[n]) for v, n in enumerate(views.names)}
    if config.poses == "auto" and by_scene < 2:
        warnings.append(f"--poses auto: the background posed {by_scene} video(s) at {len(probe.rows)} of the "
                        f"{len(views.rows)} instants (not posed: {_unposed(probe, posed)}); the cameras are posed "
                        "from the people instead (assumed static)")
        results, people, calib = poses_from_people(views, cameras, config)
        return results, (people, calib), None, cameras, "people"
    results = tm.camera_results(views, posed, config.scene)
    return results, tm.main_person(views, posed.Ks), posed, cameras, "scene"


def _triangulate_moving(views, posed, results, xy, conf, config: TriangulateStageConfig, matched):
    """The main person at every instant over the views posed at that instant."""
    from .triangulate_moving import projections

    use = [v for v, n in enumerate(views.names) if matched[v] is not None and posed.ok[v].any()
           and (results[n].ok or config.allow_unverified)]
    if len(use) < 2:
        return None, use
    P, mask = projections(posed, results, views.names, use, config.allow_unverified)
    c = np.where(mask[..., None], conf[use], 0.0)
    tri = triangulate_sequence(P, xy[use].transpose(1, 0, 2, 3), c.transpose(1, 0, 2), config.triangulate,
                               progress=config.progress)
    return _over_time(tri, P, xy[use].transpose(1, 0, 2, 3), c.transpose(1, 0, 2), views, config), use


def _write(config, out_dir, views: Views, tri, used, summary) -> Path:
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        if tri is not None:
            T = len(views.times)
            names = [views.names[v] for v in used]
            skeleton = Skeleton3D(
                views.names[0], np.stack([r.points for r in tri]).reshape(T, NUM_JOINTS, 3),
                np.stack([r.confidence for r in tri]), views.times, views.frames, "triangulate", views.fps,
                np.stack([r.reprojection_px for r in tri]),
                [[[names[v] for v in np.flatnonzero(r.inliers[:, j])] for j in range(NUM_JOINTS)] for r in tri],
                meta={"scale": summary["scale"], "views": names, "unverified_used": summary["unverified_used"]})
            summary["joints_known"] = round(float(skeleton.known.mean()), 4)
            write_skeleton3d(tmp / "skeleton3d.json", skeleton)
            if config.trc:
                from ..io.trc import skeleton_to_trc, write_trc

                write_trc(tmp / "skeleton.trc", skeleton_to_trc(skeleton))
        else:
            summary["reason"] = ("fewer than two verified cameras (see cameras[].reason; "
                                 "--allow-unverified triangulates with the flagged ones)")
        write_json(tmp / "triangulate.json", summary)
    return out_dir
