"""Per-pair descriptors of the detections, from the two tracks alone (no truth): what kind of pair
the combiner's pick is looking at, so that it can weigh a cue differently in clean full-body clips
and in noisy upper-body ones (its ``z*descriptor`` interactions, ``with_descriptor_terms``).

- ``joints_both``: share of the 18 joints seen in both tracks (per joint, the smaller of the two
  tracks' shares of frames where it is seen; mean over joints). 1: every joint always seen.
- ``legs_seen``: the smaller of the two tracks' shares of knee and ankle detections (an
  upper-body view: near 0).
- ``log_jitter``: log of the detector's jitter, the larger of the two tracks': the median distance
  of a joint from a quadratic fitted through its 5 frames around it (a smooth motion leaves almost
  nothing), in body sizes.
- ``log_box_motion``: log of how much the person's box moves in the image, mean of the two tracks:
  the median speed of the visible joints' centre, body sizes per second (a tripod filming a person
  in place: small; a hand-held camera: larger).
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ..keypoints import Keypoints
from ..skeleton import JOINT_INDEX
from .tracks import body_scale, resample_track

DESCRIPTORS = ("joints_both", "legs_seen", "log_jitter", "log_box_motion")
LEGS = tuple(JOINT_INDEX[n] for n in ("r_knee", "r_ankle", "l_knee", "l_ankle"))
# residual of a quadratic least-squares fit over 5 frames, at its centre (Savitzky-Golay, order 2)
_QUADRATIC_5 = np.array([-3.0, 12.0, 17.0, 12.0, -3.0]) / 35.0
SEEN_CONF = 1e-6  # a joint of confidence 0 is not seen
_FLOOR = 1e-3  # body sizes (per frame, per second): below it a track counts as still / noiseless


def _jitter(xy: np.ndarray, scale: np.ndarray) -> float:
    """Median joint residual from a 5-frame quadratic (body sizes); NaN when no joint has 5 frames."""
    if len(xy) < 5:
        return math.nan
    smooth = sum(w * xy[k:len(xy) - 4 + k] for k, w in enumerate(_QUADRATIC_5))
    residual = np.linalg.norm(xy[2:-2] - smooth, axis=2) / scale[2:-2, None]
    residual = residual[np.isfinite(residual)]
    return float(np.median(residual)) if residual.size else math.nan


def _box_motion(xy: np.ndarray, scale: np.ndarray, rate: float) -> float:
    """Median speed of the visible joints' centre (body sizes per second); NaN under 2 frames."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmean(xy, axis=1)
    speed = np.linalg.norm(np.diff(centre, axis=0), axis=1) * rate / scale[1:]
    speed = speed[np.isfinite(speed)]
    return float(np.median(speed)) if speed.size else math.nan


def _log(v: float) -> float:
    return math.log(max(v, _FLOOR)) if np.isfinite(v) else math.nan


def pair_descriptors(ka: Keypoints, kb: Keypoints, rate: float) -> dict[str, float]:
    """``DESCRIPTORS`` of the pair (NaN where a track is too short to say), on each track
    resampled at ``rate`` (the analysis rate, so the jitter means the same at any input rate)."""
    tracks = [resample_track(k, rate, min_conf=SEEN_CONF) for k in (ka, kb)]
    seen = [np.isfinite(t).all(axis=2).mean(axis=0) if len(t) else np.zeros(t.shape[1]) for t in tracks]
    scales = [np.where(body_scale(t) > 0, body_scale(t), np.nan) for t in tracks]
    jitter = [_jitter(t, s) for t, s in zip(tracks, scales)]
    motion = [_box_motion(t, s, rate) for t, s in zip(tracks, scales)]
    known_jitter = [v for v in jitter if np.isfinite(v)]
    known_motion = [_log(v) for v in motion if np.isfinite(v)]
    return {"joints_both": float(np.minimum(*seen).mean()),
            "legs_seen": float(min(s[list(LEGS)].mean() for s in seen)),
            "log_jitter": _log(max(known_jitter)) if known_jitter else math.nan,
            "log_box_motion": float(np.mean(known_motion)) if known_motion else math.nan}


def with_descriptor_terms(features, descriptors=DESCRIPTORS) -> tuple[str, ...]:
    """``features``, then each descriptor, then every plain feature (no ``*``) times each descriptor:
    a cue's weight in the pick changing with the kind of pair."""
    plain = [f for f in features if "*" not in f]
    return tuple(features) + tuple(descriptors) + tuple(f"{f}*{d}" for f in plain for d in descriptors)


def uses_descriptors(features) -> bool:
    """Whether a stage names any descriptor (then they are computed for it)."""
    return any(part in DESCRIPTORS for f in features for part in f.split("*"))
