"""Training-free correlation baselines for two 2D keypoint tracks on a common clock.

Every scorer takes two tracks ``a`` and ``b`` sampled at the same rate (``Keypoints``, or arrays
(T, 18, 2) pixels with NaN where a joint is missing) and candidate offsets ``offsets_frames``
(K,) integers, and returns (K,) scores, higher = better, NaN where the overlap is too short.
Offsets as in ``synnet_recon.sync.tracks``.

- ``speed_correlation_scores``: Pose2Sim-style. Per-frame keypoint speed summed over the joints
  (tracks low-passed first, ``SMOOTH_FRAMES``), normalised by body size, Pearson-correlated over
  the overlap of each candidate offset.
- ``trajectory_correlation_scores``: per-frame pose descriptors that do not change under camera
  rotation, translation, scale or roll (limb-length ratios, joint-angle cosines, body-size
  normalised speeds), z-scored per track, Pearson-correlated per descriptor over the overlap.

The geometric scorers live in ``affine`` and ``epipolar``; track helpers in ``tracks``.
"""
from __future__ import annotations

import numpy as np

from ..skeleton import JOINT_INDEX as J
from .tracks import MIN_OVERLAP_FRAMES, as_xy, gaussian_sample, robust_track_scale

# Low-pass of the tracks before the correlation features (Gaussian, sigma in frames of the track's
# clock): the frame-to-frame jitter of a pose detector (1-1.5 % of body height, uncorrelated
# across cameras) is as large as the joint displacement of an ordinary motion between two frames
# at 30 fps, so unfiltered speeds are mostly noise (Pose2Sim's synchronization also low-passes its
# speeds). 2 frames: on the failure analysis (bench/analyze_sync_cues.py, docs/benchmarks.md) 3 was
# better on the 15 fps caliscope rig and worse on the Pose2Sim demo; not tuned further.
SMOOTH_FRAMES = 2.0


def smoothed(xy: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """The track low-passed by a NaN-aware Gaussian of ``sigma`` frames (None: ``SMOOTH_FRAMES``; 0: unchanged)."""
    sigma = SMOOTH_FRAMES if sigma is None else sigma
    if not sigma > 0 or len(xy) < 2:
        return xy
    return gaussian_sample(xy, np.arange(len(xy), dtype=np.float64), sigma=sigma)

# Joints used by the descriptors (face joints are left out: small, noisy, often missing).
_BODY = np.array([J[n] for n in ("neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow",
                                   "l_wrist", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle")])
_LIMBS = [(J[a], J[b]) for a, b in (
    ("r_shoulder", "r_elbow"), ("r_elbow", "r_wrist"), ("l_shoulder", "l_elbow"), ("l_elbow", "l_wrist"),
    ("r_hip", "r_knee"), ("r_knee", "r_ankle"), ("l_hip", "l_knee"), ("l_knee", "l_ankle"),
    ("r_shoulder", "l_shoulder"), ("r_hip", "l_hip"), ("neck", "r_hip"), ("neck", "l_hip"),
    ("r_wrist", "l_wrist"), ("r_ankle", "l_ankle"), ("r_wrist", "r_hip"), ("l_wrist", "l_hip"))]
# (centre, end1, end2): cosine of the angle at ``centre``.
_ANGLES = [(J[c], J[a], J[b]) for c, a, b in (
    ("r_elbow", "r_shoulder", "r_wrist"), ("l_elbow", "l_shoulder", "l_wrist"),
    ("r_knee", "r_hip", "r_ankle"), ("l_knee", "l_hip", "l_ankle"),
    ("r_shoulder", "neck", "r_elbow"), ("l_shoulder", "neck", "l_elbow"),
    ("r_hip", "neck", "r_knee"), ("l_hip", "neck", "l_knee"))]


def _overlap_pearson(fa: np.ndarray, fb: np.ndarray, offsets: np.ndarray, min_overlap: int) -> np.ndarray:
    return _overlap_pearson_counts(fa, fb, offsets, min_overlap)[0]


def _overlap_pearson_counts(fa: np.ndarray, fb: np.ndarray, offsets: np.ndarray,
                            min_overlap: int) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlation of feature tracks over the overlap of each offset, averaged over features.

    fa: (Ta, F), fb: (Tb, F) with NaN where unknown -> (K,) (NaN where the overlap is too short).
    Also returns the frames of overlap (K,). All overlap sums (counts, sums, squares, cross
    products) for every offset come from FFT cross-correlations, so the cost does not grow with the
    number of offsets; features are taken in blocks so that memory stays flat in the tracks' length.
    """
    offsets = np.asarray(offsets, dtype=int)
    k = offsets + len(fb) - 1
    valid = (k >= 0) & (k < len(fa) + len(fb) - 1)
    kk = np.clip(k, 0, len(fa) + len(fb) - 2)
    block = max(1, _FFT_BLOCK // max(len(fa) + len(fb), 1))
    r = np.concatenate([_block_pearson(fa[:, c:c + block], fb[:, c:c + block], kk, min_overlap)
                        for c in range(0, fa.shape[1], block)], axis=1)
    r[~valid] = np.nan
    frames = _xcorr_at(np.isfinite(fa).any(axis=1, keepdims=True).astype(np.float64),
                       np.isfinite(fb).any(axis=1, keepdims=True).astype(np.float64), kk)[0][:, 0]
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        score = np.nanmean(r, axis=1)
    score[(np.round(frames) < min_overlap) | ~valid] = np.nan
    return score, np.where(valid, np.round(frames), 0.0)


_FFT_BLOCK = 1 << 19  # (frames of a + b) x features correlated at once (memory flat in length)


def _xcorr_at(x: np.ndarray, y: np.ndarray, kk: np.ndarray, pairs=((0, 0),)) -> list[np.ndarray]:
    """Cross-correlations c[d] = sum_i x[p][i] y[q][i - d] of column blocks, read at full-output
    indices kk (index k <-> d = k - (len(y) - 1)), for each (p, q) of ``pairs``; x, y: arrays or
    lists of arrays (T, F). The same numbers as scipy.signal.fftconvolve(x, y[::-1], "full", axes=0),
    with each input's spectrum computed once."""
    from scipy import fft as sp_fft

    xs, ys = (v if isinstance(v, (list, tuple)) else [v] for v in (x, y))
    n = len(xs[0]) + len(ys[0]) - 1
    fshape = [sp_fft.next_fast_len(n, True)]
    spx = [sp_fft.rfftn(v, fshape, axes=[0]) for v in xs]
    spy = [sp_fft.rfftn(v[::-1], fshape, axes=[0]) for v in ys]
    return [sp_fft.irfftn(spx[p] * spy[q], fshape, axes=[0])[:n][kk] for p, q in pairs]


def _block_pearson(fa: np.ndarray, fb: np.ndarray, kk: np.ndarray, min_overlap: int) -> np.ndarray:
    """Per-feature Pearson correlations (K, F) at full-output indices kk (see ``_xcorr_at``)."""
    ma, mb = np.isfinite(fa).astype(np.float64), np.isfinite(fb).astype(np.float64)
    a0, b0 = np.where(ma > 0, fa, 0.0), np.where(mb > 0, fb, 0.0)
    # pairs: n = ma*mb, sa = a0*mb, sb = ma*b0, saa = a0^2*mb, sbb = ma*b0^2, sab = a0*b0
    n, sa, sb, saa, sbb, sab = _xcorr_at([ma, a0, a0 * a0], [mb, b0, b0 * b0], kk,
                                         ((0, 0), (1, 0), (0, 1), (2, 0), (0, 2), (1, 1)))
    n = np.round(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sab - sa * sb / n
        va = saa - sa * sa / n
        vb = sbb - sb * sb / n
        r = cov / np.sqrt(np.maximum(va, 0) * np.maximum(vb, 0))
    r[(n < min_overlap) | ~np.isfinite(r) | (va <= 1e-9 * np.maximum(saa, 1e-12)) | (vb <= 1e-9 * np.maximum(sbb, 1e-12))] = np.nan
    return r


# ------------------------------------------------------------------------------ speed (Pose2Sim)

def speed_signal(xy: np.ndarray) -> np.ndarray:
    """Per-frame keypoint speed summed over the body joints, in body sizes per frame. -> (T,)."""
    v = np.linalg.norm(np.diff(xy[:, _BODY], axis=0), axis=2)  # (T-1, J)
    scale = robust_track_scale(xy)
    with np.errstate(invalid="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            # mean over the joints seen in both frames, times the joint count: a NaN-tolerant sum
            s = np.nanmean(v, axis=1) * len(_BODY) / scale[1:]
    return np.concatenate([[np.nan], s])


def speed_correlation_scores(a, b, offsets_frames, min_overlap: int = MIN_OVERLAP_FRAMES) -> np.ndarray:
    """Pose2Sim-style sync score: correlation of the summed keypoint speeds at each offset.

    a: (Ta, 18, 2), b: (Tb, 18, 2) (or Keypoints) on one clock; offsets_frames: (K,) -> (K,).
    """
    sa, sb = speed_features(a), speed_features(b)
    return _overlap_pearson(sa, sb, np.asarray(offsets_frames, dtype=int), min_overlap)


# ------------------------------------------------------------------------------ view-invariant trajectory

def pose_descriptors(xy: np.ndarray, smooth: float | None = 0.0) -> np.ndarray:
    """View-invariant per-frame descriptors: (T, 18, 2) -> (T, F), NaN where unknown.

    Limb lengths divided by the frame's body size, cosines of joint angles, the speed of the neck
    and of each other body joint relative to the neck, divided by the body size. None changes
    under image rotation, translation or scale. The speeds are taken on the track low-passed by
    ``smooth`` frames (``smoothed``; None: the module's default): differences of consecutive
    frames double the detector's jitter, poses do not. Relative to the neck, a moving camera's
    pan and shake (which move every joint alike) drop out of all speeds but the neck's.
    """
    scale = robust_track_scale(xy)[:, None]
    lengths = np.stack([np.linalg.norm(xy[:, i] - xy[:, k], axis=1) for i, k in _LIMBS], axis=1) / scale
    cosines = []
    for c, p, q in _ANGLES:
        u = xy[:, p] - xy[:, c]
        v = xy[:, q] - xy[:, c]
        with np.errstate(invalid="ignore", divide="ignore"):
            cosines.append(np.sum(u * v, axis=1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)))
    low = smoothed(xy, smooth)
    neck = low[:, [J["neck"]]]
    # the neck's own speed (the body moving as a whole), and every other body joint's relative to
    # the neck (articulation): a moving camera's pan and shake move all joints alike and drop out
    moved = np.concatenate([neck, low[:, _BODY[1:]] - neck], axis=1)
    speeds = np.linalg.norm(np.diff(moved, axis=0), axis=2) / scale[1:]
    speeds = np.concatenate([np.full((1, speeds.shape[1]), np.nan), speeds])
    return np.concatenate([lengths, np.stack(cosines, axis=1), speeds], axis=1)


def _zscore(f: np.ndarray) -> np.ndarray:
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mu = np.nanmean(f, axis=0)
        sd = np.nanstd(f, axis=0)
    sd = np.where(sd > 1e-9, sd, np.nan)
    return (f - mu) / sd


def trajectory_correlation_scores(a, b, offsets_frames, min_overlap: int = MIN_OVERLAP_FRAMES) -> np.ndarray:
    """View-invariant pose-trajectory correlation at each offset.

    a: (Ta, 18, 2), b: (Tb, 18, 2) (or Keypoints) on one clock; offsets_frames: (K,) -> (K,)
    mean over descriptors of the Pearson correlation over the overlap.
    """
    fa, fb = trajectory_features(a), trajectory_features(b)
    return _overlap_pearson(fa, fb, np.asarray(offsets_frames, dtype=int), min_overlap)


def speed_correlation_curve(a, b, offsets_frames, min_overlap: int = MIN_OVERLAP_FRAMES):
    """``speed_correlation_scores`` and the frames of overlap behind each: ((K,), (K,))."""
    return _overlap_pearson_counts(speed_features(a), speed_features(b), np.asarray(offsets_frames, dtype=int),
                                   min_overlap)


def trajectory_correlation_curve(a, b, offsets_frames, min_overlap: int = MIN_OVERLAP_FRAMES):
    """``trajectory_correlation_scores`` and the frames of overlap behind each: ((K,), (K,))."""
    return _overlap_pearson_counts(trajectory_features(a), trajectory_features(b),
                                   np.asarray(offsets_frames, dtype=int), min_overlap)


def speed_features(a, smooth: float | None = None) -> np.ndarray:
    """The speed correlation's per-frame signal of a track (low-passed first, ``smoothed``): (T, 1)."""
    return speed_signal(smoothed(as_xy(a), smooth))[:, None]


def trajectory_features(a, smooth: float | None = None) -> np.ndarray:
    """The trajectory correlation's per-frame descriptors of a track (speeds low-passed), z-scored: (T, F)."""
    return _zscore(pose_descriptors(as_xy(a), smooth))


def correlation_curve_of_features(fa: np.ndarray, fb: np.ndarray, offsets_frames, min_overlap: int = MIN_OVERLAP_FRAMES):
    """A correlation curve from features already computed (``speed_features`` / ``trajectory_features``)."""
    return _overlap_pearson_counts(fa, fb, np.asarray(offsets_frames, dtype=int), min_overlap)


def self_match_peak(f: np.ndarray, max_lag: int, min_overlap: int = MIN_OVERLAP_FRAMES) -> float:
    """How well a track's per-frame features ``f`` (T, F) (e.g. ``speed_features``) match themselves
    at a lag away from 0: the highest correlation over lags 1..``max_lag`` frames (at least
    ``min_overlap`` frames in common) beyond the first local minimum of the correlation (the lobe
    around lag 0, where any smooth signal matches itself). A periodic motion peaks again one period
    later (a walk: one step). NaN when no lag beyond that lobe is left."""
    max_lag = int(min(max_lag, len(f) - min_overlap))
    if max_lag < 3:
        return float("nan")
    r, _ = correlation_curve_of_features(f, f, np.arange(1, max_lag + 1), min_overlap)
    r = np.where(np.isfinite(r), r, -1.0)
    k = 1
    while k < len(r) - 1 and not (r[k] <= r[k - 1] and r[k] <= r[k + 1]):
        k += 1
    return float(np.max(r[k:])) if k < len(r) - 1 else float("nan")
