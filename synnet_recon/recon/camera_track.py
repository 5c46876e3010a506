"""One moving camera's poses over the synchronized instants: a check for jumps, and smoothing.

A camera filmed by hand moves smoothly between instants a fraction of a second apart; a pose that
leaves that path (SfM registered the frame against the wrong part of a repetitive scene, a PnP on
the person's joints went astray) is a wrong pose, not motion. ``check_track`` predicts every posed
instant from its neighbours in time (a straight line in time through the rotation, as rotation
vectors relative to the predicted frame's own, and through the camera centre, fitted to the
neighbours only: leave one out) and flags the instants that are further from that prediction
than the thresholds allow. ``smooth_track`` replaces every pose by the same local straight-line
fit including itself (a centred moving fit: unbiased for motion that is locally uniform).

Poses are (T, 4, 4) world_to_camera; times (T,) seconds; ok (T,) which are posed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..pinhole import rotation_angle_deg
from ..synth.camera import camera_centers


@dataclass
class TrackConf:
    window: int = 2                # neighbours each side used for the prediction / the smoothing
    max_rotation_deg: float = 10.0  # a posed instant further than this from its neighbours' path is flagged
    max_centre_frac: float = 0.15  # or whose centre is further than this fraction of the camera's distance
    #                                to the scene (``scale``) from the path
    step_factor: float = 2.0       # the limits grow to this many times the camera's median step between
    #                                instants: a hand-held camera filmed at a few instants a second turns
    #                                4-6 degrees off a straight path between them (the demo's cameras at
    #                                0.27 s), which is motion, not a wrong pose
    min_neighbours: int = 2        # fewer posed neighbours: the instant is neither checked nor smoothed


def _fit(times: np.ndarray, values: np.ndarray, at: float) -> np.ndarray:
    """A straight line in time through values (n, d), least squares, evaluated at ``at`` (a
    constant when the times do not spread)."""
    dt = times - times.mean()
    spread = float((dt * dt).sum())
    slope = (dt[:, None] * values).sum(axis=0) / spread if spread > 1e-12 else 0.0
    return values.mean(axis=0) + slope * (at - times.mean())


def _off_path(poses: np.ndarray, times: np.ndarray, k: int, others) -> tuple[float, float]:
    """How far pose ``k`` lies off the path predicted from ``others``: degrees, centre distance."""
    pred = _predict(poses, times, k, others)
    deg = rotation_angle_deg(poses[k, :3, :3] @ pred[:3, :3].T)
    return deg, float(np.linalg.norm(camera_centers(poses[k]) - camera_centers(pred)))


def _predict(poses: np.ndarray, times: np.ndarray, k: int, others: np.ndarray) -> np.ndarray:
    """The pose at instant k from the poses at ``others`` (indices), rotation and centre fitted apart."""
    from scipy.spatial.transform import Rotation

    Rk = poses[k, :3, :3]
    rel = Rotation.from_matrix(np.einsum("nij,jk->nik", poses[others, :3, :3], Rk.T)).as_rotvec()  # R_s R_k^T
    R = Rotation.from_rotvec(_fit(times[others], rel, times[k])).as_matrix() @ Rk
    c = _fit(times[others], camera_centers(poses[others]), times[k])
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = R, -R @ c
    return out


def _neighbours(ok: np.ndarray, k: int, window: int, include: bool) -> np.ndarray:
    idx = np.nonzero(ok)[0]
    pos = int(np.searchsorted(idx, k))
    before = idx[max(0, pos - window):pos]
    after = idx[pos + (1 if pos < len(idx) and idx[pos] == k else 0):][:window]
    mid = np.array([k]) if include else np.array([], dtype=int)
    return np.concatenate([before, mid, after]).astype(int)


def check_track(poses: np.ndarray, ok: np.ndarray, times: np.ndarray, scale: float,
                conf: TrackConf | None = None) -> tuple[np.ndarray, list[str]]:
    """(T,) bool: the posed instants that leave their neighbours' path, and a reason for each
    instant (empty where not flagged). scale: the camera's distance to the scene (metres or the
    poses' unit)."""
    conf = conf or TrackConf()
    T = len(ok)
    flagged = np.zeros(T, dtype=bool)
    reasons = [""] * T
    max_deg, max_off = _limits(poses, ok, scale, conf)
    for k in np.nonzero(ok)[0]:
        others = _neighbours(ok, k, conf.window, include=False)
        if len(others) < conf.min_neighbours:
            continue
        deg, off = _off_path(poses, times, k, others)
        if deg > max_deg or off > max_off:
            flagged[k] = True
            reasons[k] = (f"the pose jumps off the camera's path over the neighbouring instants ({deg:.1f} deg, "
                          f"centre {off / max(scale, 1e-12):.0%} of its distance to the scene; limits "
                          f"{max_deg:.1f} deg, {max_off / max(scale, 1e-12):.0%})")
    # a jump flags its neighbours too (their predictions include it): keep only the worst of a run
    # when it alone explains them, by re-checking each flagged instant without the flagged ones
    if flagged.sum() > 1:
        clean = ok & ~flagged
        for k in np.nonzero(flagged)[0]:
            others = _neighbours(clean, k, conf.window, include=False)
            if len(others) < conf.min_neighbours:
                continue
            deg, off = _off_path(poses, times, k, others)
            if deg <= max_deg and off <= max_off:
                flagged[k], reasons[k] = False, ""
    return flagged, reasons


def _limits(poses: np.ndarray, ok: np.ndarray, scale: float, conf: TrackConf) -> tuple[float, float]:
    """The rotation (deg) and centre limits: the configured ones, or ``step_factor`` times the
    camera's median step between consecutive posed instants when that is larger."""
    idx = np.nonzero(ok)[0]
    if len(idx) < 2:
        return conf.max_rotation_deg, conf.max_centre_frac * scale
    R, c = poses[idx, :3, :3], camera_centers(poses[idx])
    turns = [rotation_angle_deg(R[k + 1] @ R[k].T) for k in range(len(idx) - 1)]
    moves = np.linalg.norm(np.diff(c, axis=0), axis=1)
    return (max(conf.max_rotation_deg, conf.step_factor * float(np.median(turns))),
            max(conf.max_centre_frac * scale, conf.step_factor * float(np.median(moves))))


def smooth_track(poses: np.ndarray, ok: np.ndarray, times: np.ndarray, conf: TrackConf | None = None) -> np.ndarray:
    """The poses with every posed instant replaced by the straight-line fit over itself and up to
    ``window`` posed neighbours each side (instants without a pose are left as they are)."""
    conf = conf or TrackConf()
    out = poses.copy()
    for k in np.nonzero(ok)[0]:
        around = _neighbours(ok, k, conf.window, include=True)
        if len(around) - 1 < conf.min_neighbours:
            continue
        out[k] = _predict(poses, times, k, around)
    return out
