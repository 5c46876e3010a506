"""A 2D pose detector's mistakes, simulated on clean keypoint projections.

Calibrated on a real 4-webcam MediaPipe recording (docs in ../shared/docs/sync-findings.md):
median 2D residual about 1.1-1.5% of body height, 90th percentile about 3x the median.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from ..skeleton import JOINT_INDEX, LEFT_RIGHT_SWAP, NUM_JOINTS

FACE_JOINTS = np.array([JOINT_INDEX[n] for n in ("nose", "r_eye", "l_eye", "r_ear", "l_ear")])


def _swap_perm(names: tuple[str, ...]) -> np.ndarray:
    """Permutation swapping only the left/right joints whose base name is in ``names``."""
    perm = np.arange(NUM_JOINTS)
    for side_a, side_b in (("r_", "l_"), ("l_", "r_")):
        for n in names:
            perm[JOINT_INDEX[side_a + n]] = JOINT_INDEX[side_b + n]
    return perm


# Swap kinds a detector makes: the arms, the legs, or the whole body (a front/back confusion).
SWAP_PERMS = (
    _swap_perm(("shoulder", "elbow", "wrist")),
    _swap_perm(("hip", "knee", "ankle")),
    LEFT_RIGHT_SWAP,
)


@dataclass
class DetectorNoise:
    """Detector error model. ``level`` scales every error: 0 = none, 1 = realistic, >1 = harder.

    Jitter is a bivariate Student-t (scale mixture of Gaussians) relative to the body's size in the
    image; rates are per joint per frame unless stated. Geometric visibility (behind the camera,
    outside the image) is not noise and applies at every level unless ``truncate`` is False.
    """

    level: float = 1.0
    jitter: float = 0.0087  # Gaussian scale per axis, fraction of body size (gives a ~1.3% median)
    jitter_dof: float = 2.2  # Student-t degrees of freedom: the heavy tail (p90 ~ 3x median)
    jitter_max: float = 12.0  # cap of the t scale factor: larger errors are detector failures
    temporal_corr: float = 0.4  # AR(1) frame-to-frame correlation of the jitter
    miss_rate: float = 0.03  # joints the detector drops at random
    face_miss_rate: float = 0.05  # extra drop rate of nose, eyes and ears
    face_jitter: float = 1.3  # face joints jitter this much more
    min_conf: float = 0.1  # joints whose confidence falls below this are dropped
    swap_rate: float = 0.02  # fraction of frames with a left/right swap (arms, legs or whole body)
    swap_frames: tuple[int, int] = (2, 6)  # length of one swap episode
    lost_frame_rate: float = 0.01  # frames where the person is not found at all
    truncate: bool = True  # joints outside the image or behind the camera are missing


def body_size_px(xy: np.ndarray) -> np.ndarray:
    """Size of the person in the image: the larger side of the joints' bounding box.

    xy: (..., 18, 2) with NaN for unknown joints -> (...) pixels (NaN when no joint is known).
    """
    x, y = xy[..., 0], xy[..., 1]
    width = np.fmax.reduce(x, axis=-1) - np.fmin.reduce(x, axis=-1)  # fmax/fmin skip NaN
    height = np.fmax.reduce(y, axis=-1) - np.fmin.reduce(y, axis=-1)
    return np.fmax(width, height)


def _ar1(shape: tuple[int, ...], rho: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary AR(1) Gaussian noise along axis 1 (time) with unit variance. shape: (B, T, ...)."""
    eps = rng.standard_normal(shape)
    if rho <= 0 or shape[1] < 2:
        return eps
    zi = rho * rng.standard_normal(shape[:1] + (1,) + shape[2:])
    out, _ = lfilter([np.sqrt(1.0 - rho**2)], [1.0, -rho], eps, axis=1, zi=zi)
    return out


def apply_detector_noise(xy: np.ndarray, depth: np.ndarray, image_size,
                         noise: DetectorNoise | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Turn clean projections into what a 2D pose detector would report.

    xy: (..., T, 18, 2) clean pixel positions (NaN allowed); depth: (..., T, 18) camera z in metres;
    image_size: (width, height), or (..., 2) per clip. Leading dimensions are independent clips.
    Returns (xy (..., T, 18, 2) float32 with NaN where missing, conf (..., T, 18) float32 in [0, 1],
    0 where missing).
    """
    noise = noise or DetectorNoise()
    xy = np.asarray(xy, dtype=np.float64)
    lead = xy.shape[:-3]
    T = xy.shape[-3]
    xy = xy.reshape((-1, T, NUM_JOINTS, 2))
    B = len(xy)
    depth = np.asarray(depth, dtype=np.float64).reshape((B, T, NUM_JOINTS))
    size_wh = np.broadcast_to(np.asarray(image_size, dtype=np.float64), lead + (2,)).reshape(B, 1, 1, 2)
    level = max(float(noise.level), 0.0)
    out = xy.copy()
    x, y = xy[..., 0], xy[..., 1]
    visible = np.isfinite(x) & np.isfinite(y)
    if noise.truncate:
        w, h = size_wh[..., 0], size_wh[..., 1]
        visible &= (depth > 0.05) & (x >= 0) & (x < w) & (y >= 0) & (y < h)

    def result(out, conf):
        return out.astype(np.float32).reshape(lead + (T, NUM_JOINTS, 2)), conf.astype(np.float32).reshape(lead + (T, NUM_JOINTS))

    if level == 0.0:
        out[~visible] = np.nan
        return result(out, visible)

    size = body_size_px(xy)  # (B, T)
    size = np.where(np.isfinite(size), size, 0.0)

    # Heavy-tailed jitter: Gaussian (AR(1) in time) times a per-joint Student-t scale.
    dof = noise.jitter_dof
    g = np.sqrt(dof / rng.chisquare(dof, size=(B, T, NUM_JOINTS)))
    g = np.minimum(g, noise.jitter_max)
    scale = np.full(NUM_JOINTS, noise.jitter)
    scale[FACE_JOINTS] *= noise.face_jitter
    z = _ar1((B, T, NUM_JOINTS, 2), noise.temporal_corr, rng)
    out += (level * size[..., None] * scale * g)[..., None] * z

    # Confidence falls as the error grows; face joints are a bit less sure of themselves.
    conf = 0.85 - 0.2 * np.log2(g) - 0.05 * min(level, 3.0) + rng.normal(0.0, 0.05, (B, T, NUM_JOINTS))
    conf[..., FACE_JOINTS] -= 0.08
    conf = np.clip(conf, 0.0, 1.0)

    # Left/right swaps lasting a few frames (a loop over the rare episodes, not over frames).
    p_swap = min(noise.swap_rate * level, 0.5)
    if p_swap > 0 and T > 0:
        mean_len = 0.5 * (noise.swap_frames[0] + noise.swap_frames[1])
        clips, starts = np.nonzero(rng.random((B, T)) < p_swap / mean_len)
        kinds = rng.integers(0, len(SWAP_PERMS), len(starts))
        lengths = rng.integers(noise.swap_frames[0], noise.swap_frames[1] + 1, len(starts))
        for b, s, k, n in zip(clips, starts, kinds, lengths):
            perm = SWAP_PERMS[k]
            out[b, s:s + n] = out[b, s:s + n][:, perm]
            conf[b, s:s + n] = conf[b, s:s + n][:, perm] * 0.9
            visible[b, s:s + n] = visible[b, s:s + n][:, perm]

    # Dropped joints, dropped face joints, unsure joints, lost frames.
    drop = rng.random((B, T, NUM_JOINTS)) < min(noise.miss_rate * level, 1.0)
    drop[..., FACE_JOINTS] |= rng.random((B, T, len(FACE_JOINTS))) < min(noise.face_miss_rate * level, 1.0)
    drop |= conf < noise.min_conf
    drop |= (rng.random((B, T)) < min(noise.lost_frame_rate * level, 1.0))[..., None]
    keep = visible & ~drop
    out[~keep] = np.nan
    conf = np.where(keep, np.maximum(conf, max(noise.min_conf, 0.01)), 0.0)  # kept joints: conf > 0
    return result(out, conf)
