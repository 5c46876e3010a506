"""``synrecon triangulate --poses sfm|auto``: camera poses for every synchronized frame from the
scene (moving cameras), then the person triangulated with each instant's own poses.

1. ``recon.sfm.scene_poses_from_sync`` on sync.json's rows that the stage uses: structure from
   motion on the videos with the people masked, every synchronized frame registered; where the
   background does not connect a video, the people pose it per instant (PnP on the joints the
   scene-posed videos triangulate, smoothed); intrinsics given (held fixed) or estimated by SfM;
   metres from the person's height (given or assumed).
2. Every camera's poses over time are checked (``recon.camera_track.check_track``): an instant whose
   pose leaves the path of its neighbouring instants is flagged and not used; then, when
   ``smooth`` is on, smoothed over time (``smooth_track``).
3. The main person (the reference video's first track, matched in the others by their joints) is
   triangulated at every instant over the views posed at that instant.

``auto``: SfM when every video is a video file; when SfM poses fewer than two videos from the
scene (wide baselines, static cameras far apart) or a video is not a file (OpenPose folders), the
static cameras are posed from the people instead (``stage_triangulate.poses_from_people``). SfM runs
first on ``MovingConf.probe_instants`` of the instants only, and on every instant only when that
probe poses two or more videos from the scene.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..synth.camera import camera_centers
from .camera_track import TrackConf, check_track, smooth_track

log = logging.getLogger(__name__)


@dataclass
class MovingConf:
    """How the per-frame poses are found and checked (the stage's ``scene`` field)."""

    threads: int = 1           # COLMAP threads (1: the same poses on every run; 2 vary run to run)
    keyframes: int = 16
    smooth: bool = False       # smooth every camera's poses over time after the check
    track: TrackConf = field(default_factory=TrackConf)
    min_posed_frac: float = 0.5  # a camera posed at fewer of its instants than this is flagged
    probe_instants: int = 4    # --poses auto: SfM on this many instants first; fewer than 2 videos posed -> people
    probe_image_size: int = 1024  # the probe's SIFT works on images downscaled to this longest side


@dataclass
class ScenePosed:
    """Per camera and instant: K (V, 3, 3), world_to_camera (V, T, 4, 4) NaN where not posed, ok
    (V, T), source and reason (V, T) strings; the ``recon.sfm.ScenePoses`` they came from."""

    Ks: np.ndarray
    poses: np.ndarray
    ok: np.ndarray
    source: np.ndarray
    reason: np.ndarray
    scene: object
    warnings: list


def sfm_intrinsics(names, cameras) -> dict | None:
    """The stage's cameras as ``pinhole.Intrinsics`` for SfM (None: SfM estimates them)."""
    from ..pinhole import Intrinsics

    if cameras is None:
        return None
    out = {}
    for n in names:
        c = cameras[n]
        dist = tuple(float(d) for d in (list(c.dist) + [0.0] * 4)[:4]) if c.dist is not None else (0.0,) * 4
        out[n] = Intrinsics(int(c.size[0]), int(c.size[1]), float(c.K[0, 0]), float(c.K[1, 1]), float(c.K[0, 2]),
                            float(c.K[1, 2]), dist)
    return out


def videos_are_files(sync) -> str | None:
    """None when every video of sync.json is a readable video file, else why not."""
    for v in sync.videos:
        if v.path is None:
            return f"video {v.name!r} has no path in sync.json"
        p = sync.resolve(v.path)
        if not p.is_file():
            return f"video {v.name!r} is not a video file ({p})"
    return None


def scene_posed(sync, views, cameras, person_height, conf: MovingConf, seed: int, scene=None,
                probe: bool = False) -> ScenePosed:
    """SfM (or a given ``recon.sfm.ScenePoses`` over views.rows) -> the poses of every view at every
    instant of ``views``, checked over time (and smoothed when conf.smooth). probe: SIFT on images
    downscaled to ``conf.probe_image_size`` (the ``auto`` probe)."""
    from .sfm import SfmConf, scene_poses_from_sync

    if scene is None:
        sconf = SfmConf(person_height=person_height, threads=conf.threads, seed=seed, keyframes=conf.keyframes)
        if probe:
            sconf.max_image_size = min(sconf.max_image_size, conf.probe_image_size)
        scene = scene_poses_from_sync(sync, sfm_intrinsics(views.names, cameras), instants=views.rows, conf=sconf)
    V, T = len(views.names), len(views.rows)
    for n in views.names:
        got = [f.frame for f in scene.videos[n].frames] if n in scene.videos else []
        if got != [views.frames[t].get(n, -1) for t in range(T)]:
            raise ValueError(f"the given scene poses are not over the stage's instants (video {n})")
    Ks = np.zeros((V, 3, 3))
    poses = np.full((V, T, 4, 4), np.nan)
    ok = np.zeros((V, T), dtype=bool)
    source = np.full((V, T), "", dtype=object)
    reason = np.full((V, T), "", dtype=object)
    for v, n in enumerate(views.names):
        vp = scene.videos[n]
        if vp.intrinsics is None:
            reason[v] = "no intrinsics given nor estimated"
            continue
        Ks[v] = vp.intrinsics.K
        for t, f in enumerate(vp.frames):
            ok[v, t], source[v, t], reason[v, t] = f.ok, f.source if f.ok else "", f.reason
            if f.ok:
                poses[v, t] = f.world_to_camera
    warnings = list(scene.warnings)
    _check_over_time(views, poses, ok, reason, scene, conf, warnings)
    if conf.smooth:
        for v in range(V):
            poses[v] = smooth_track(poses[v], ok[v], views.times, conf.track)
    return ScenePosed(Ks, poses, ok, source, reason, scene, warnings)


def _check_over_time(views, poses, ok, reason, scene, conf: MovingConf, warnings: list) -> None:
    """Flag, per camera, the instants whose pose jumps off its neighbours' path (in place)."""
    joints = getattr(scene, "joints", None)
    middle = None
    if joints is not None and np.isfinite(joints).any():
        middle = np.nanmedian(joints.reshape(-1, 3), axis=0)
    for v, n in enumerate(views.names):
        if ok[v].sum() < 3:
            continue
        c = camera_centers(poses[v][ok[v]])
        spread = np.linalg.norm(c - (middle if middle is not None else c.mean(axis=0)), axis=1)
        scale = float(np.median(spread)) if middle is not None else float(np.linalg.norm(np.ptp(c, axis=0))) + 1.0
        flagged, why = check_track(poses[v], ok[v], views.times, scale, conf.track)
        for t in np.nonzero(flagged)[0]:
            ok[v, t], reason[v, t] = False, why[t]
        if flagged.any():
            warnings.append(f"{n}: {int(flagged.sum())} instants flagged, their pose jumps off the camera's path "
                            f"(frames {', '.join(str(views.frames[t].get(n, -1)) for t in np.nonzero(flagged)[0][:10])})")


def camera_results(views, posed: ScenePosed, conf: MovingConf) -> dict:
    """Per camera a ``stage_triangulate.CameraResult`` with its frames: ok when posed at enough of
    its instants; ``frames`` names every instant's source, or why it has no pose."""
    from .stage_triangulate import CameraResult

    out = {}
    for v, n in enumerate(views.names):
        has = np.array([n in views.frames[t] for t in range(len(views.rows))])
        posed_n = int((posed.ok[v] & has).sum())
        frac = posed_n / max(int(has.sum()), 1)
        sources = sorted({str(s) for s in posed.source[v][posed.ok[v]]})
        r = CameraResult(n, frac >= conf.min_posed_frac, source="scene (" + (", ".join(sources) or "none") + ")")
        if not r.ok:
            first = next((str(x) for x in posed.reason[v] if x), "no pose")
            r.reason = f"posed at {posed_n} of its {int(has.sum())} instants (< {conf.min_posed_frac:.0%}): {first}"
        r.unsupported_frames = [int(views.frames[t][n]) for t in range(len(views.rows)) if has[t] and not posed.ok[v, t]]
        r.frames = [{"instant": int(views.rows[t]), "frame": int(views.frames[t].get(n, -1)), "ok": bool(posed.ok[v, t]),
                     "source": str(posed.source[v, t]) if posed.ok[v, t] else "",
                     "reason": "" if posed.ok[v, t] else str(posed.reason[v, t]),
                     "world_to_camera": np.round(posed.poses[v, t], 7).tolist() if posed.ok[v, t] else None}
                    for t in range(len(views.rows))]
        if posed.ok[v].any():
            r.world_to_camera = posed.poses[v][int(np.argmax(posed.ok[v]))]
            px = [f.person_px for f, k in zip(posed.scene.videos[n].frames, posed.ok[v]) if k]
            r.reprojection_px = float(np.nanmedian(px)) if np.isfinite(px).any() else float("nan")
        out[n] = r
    return out


def undistorted(views, posed: ScenePosed) -> None:
    """Remove the lens distortion SfM estimated (one radial term) from the views' pixels, in place,
    where the stage was given no intrinsics (given ones were removed when the views were read)."""
    from .triangulate import undistort_pixels

    for v, n in enumerate(views.names):
        intr = posed.scene.videos[n].intrinsics
        if intr is not None and intr.distorted and posed.scene.videos[n].intrinsics_source != "given":
            views.xy[v] = undistort_pixels(views.xy[v], intr.K, intr.dist)


def projections(posed: ScenePosed, results: dict, names: list[str], use: list[int], allow_unverified: bool):
    """(T, len(use), 3, 4) per-instant K [R | t] and a (len(use), T) mask of the views to trust."""
    V, T = posed.ok.shape
    P = np.zeros((T, len(use), 3, 4))
    mask = np.zeros((len(use), T), dtype=bool)
    for i, v in enumerate(use):
        trusted = results[names[v]].ok or allow_unverified
        for t in range(T):
            if posed.ok[v, t] and trusted:
                P[t, i] = posed.Ks[v] @ posed.poses[v, t][:3]
                mask[i, t] = True
    return P, mask


def main_person(views, Ks) -> list:
    """The association of the reference video's tracks in the others, by their joints alone
    (essential-matrix inliers pooled over the instants; moving cameras make it approximate, so the
    main person is the one that matters)."""
    from .people_calib import associate_people

    return associate_people(views.xy, views.conf, list(Ks), 0)


def check_sfm_possible(sync, mode: str) -> str | None:
    """None when SfM can run; else why not (an InputError for ``sfm``, the reason for ``auto``)."""
    why = videos_are_files(sync)
    if why is not None and mode == "sfm":
        raise InputError(sync.source or "sync.json", f"--poses sfm needs the videos: {why}")
    return why
