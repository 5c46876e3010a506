"""Training-free offset scores for two 2D keypoint tracks on a common clock.

Every scorer takes two tracks ``a`` and ``b`` sampled at the same rate (``Keypoints``, or arrays
(T, 18, 2) pixels with NaN where a joint is missing) and candidate offsets ``offsets_frames``
(K,) integers, and returns (K,) scores, higher = better, NaN where the overlap is too short.

Offset convention (the same as ``synnet_recon.sync.model``): offset ``d`` means b's first frame
was captured ``d`` frames after a's, so frame ``i`` of a shows the same instant as frame ``i - d``
of b.

- ``speed_correlation_scores``: Pose2Sim-style. Per-frame keypoint speed summed over the joints,
  normalised by body size, Pearson-correlated over the overlap of each candidate offset.
- ``trajectory_correlation_scores``: per-frame pose descriptors that do not change under camera
  rotation, translation, scale or roll (limb-length ratios, joint-angle cosines, body-size
  normalised speeds), z-scored per track, Pearson-correlated per descriptor over the overlap.
- ``affine_consistency_scores``: a geometric test. Under a weak-perspective (affine) camera, the
  2D joints of one 3D pose seen by two cameras stack into a (4, J) matrix of rank 3 once centred
  (Tomasi-Kanade); the smallest eigenvalue of its 4x4 scatter measures how far frames ``i`` of a
  and ``j`` of b are from being two views of one pose. It holds for *any* camera motion, because
  every frame pair gets its own pair of cameras. The score of an offset is minus the robust mean
  of that cost along the matching frame pairs.

``resample_track`` brings a track with any frame rate, or variable frame rate, onto a regular clock.
"""
from __future__ import annotations

import numpy as np

from ..keypoints import Keypoints
from ..skeleton import JOINT_INDEX as J
from ..skeleton import NUM_JOINTS

MIN_OVERLAP_FRAMES = 8  # scores need at least this many frames in common
MIN_COMMON_JOINTS = 7   # a frame pair needs this many joints seen in both views for the rank test

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


# ------------------------------------------------------------------------------ helpers

def as_xy(track) -> np.ndarray:
    """Keypoints or array -> (T, 18, 2) float64 with NaN for missing joints."""
    xy = track.xy if isinstance(track, Keypoints) else track
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim != 3 or xy.shape[1:] != (NUM_JOINTS, 2):
        raise ValueError(f"expected (T, {NUM_JOINTS}, 2) keypoints, got {xy.shape}")
    return xy


def resample_track(kp: Keypoints, rate: float, min_conf: float = 0.0) -> np.ndarray:
    """Keypoints on a regular clock starting at the track's first frame: ``times[0] + k / rate``.

    Linear interpolation per joint between the two input frames around each sample; a sample is
    NaN when a needed neighbour is missing, when the input has a gap (> 1.5 median frame
    intervals) there, or past the last frame. Input frames exactly on the clock are copied as is
    (no smoothing), so resampling a constant-rate track at its own rate is the identity.
    Joints with confidence below ``min_conf`` count as missing.

    Returns (K, 18, 2) float64, K = floor((times[-1] - times[0]) * rate) + 1.
    """
    xy = np.array(kp.xy, dtype=np.float64)
    if min_conf > 0:
        xy[kp.conf < min_conf] = np.nan
    times = kp.times
    if len(times) < 2:
        return xy.copy()
    t0 = times[0]
    n_out = int(np.floor((times[-1] - t0) * rate + 1e-6)) + 1
    t = t0 + np.arange(n_out) / rate
    dt = np.diff(times)
    gap = 1.5 * np.median(dt)
    i1 = np.clip(np.searchsorted(times, t, side="left"), 0, len(times) - 1)
    # exact hits (within a microsecond) copy the frame
    exact = np.abs(times[i1] - t) < 1e-6
    i0 = np.clip(i1 - 1, 0, len(times) - 1)
    span = times[i1] - times[i0]
    w = np.where(span > 0, (t - times[i0]) / np.where(span > 0, span, 1.0), 0.0)
    out = (1.0 - w)[:, None, None] * xy[i0] + w[:, None, None] * xy[i1]
    out[exact] = xy[i1[exact]]
    bad = (~exact) & ((span > gap) | (span <= 0))
    out[bad] = np.nan
    return out


def body_scale(xy: np.ndarray) -> np.ndarray:
    """Per-frame body size: RMS distance of the visible joints to their centroid. (T, 18, 2) -> (T,)."""
    with np.errstate(invalid="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            centre = np.nanmean(xy, axis=1, keepdims=True)
            return np.sqrt(np.nanmean(np.sum((xy - centre) ** 2, axis=2), axis=1))


def _robust_track_scale(xy: np.ndarray) -> np.ndarray:
    """Body size per frame, smoothed by a running median of 15 frames (NaN-aware). -> (T,)."""
    s = body_scale(xy)
    from scipy.ndimage import median_filter
    filled = s.copy()
    ok = np.isfinite(filled)
    if not ok.any():
        return s
    filled[~ok] = np.median(filled[ok])
    return median_filter(filled, size=15, mode="nearest")


def _gather(x: np.ndarray, offsets: np.ndarray, length_a: int) -> np.ndarray:
    """For each offset d, x[i - d] for i in [0, length_a): (K, length_a, ...) with NaN outside x."""
    idx = np.arange(length_a)[None, :] - offsets[:, None]
    inside = (idx >= 0) & (idx < len(x))
    out = x[np.clip(idx, 0, len(x) - 1)].astype(np.float64, copy=True)
    out[~inside] = np.nan
    return out


def _overlap_pearson(fa: np.ndarray, fb: np.ndarray, offsets: np.ndarray, min_overlap: int) -> np.ndarray:
    """Pearson correlation of feature tracks over the overlap of each offset, averaged over features.

    fa: (Ta, F), fb: (Tb, F) with NaN where unknown -> (K,) (NaN where the overlap is too short).
    All overlap sums (counts, sums, squares, cross products) for every offset come from six FFT
    cross-correlations, so the cost does not grow with the number of offsets.
    """
    from scipy.signal import fftconvolve

    offsets = np.asarray(offsets, dtype=int)
    ma, mb = np.isfinite(fa).astype(np.float64), np.isfinite(fb).astype(np.float64)
    a0, b0 = np.where(ma > 0, fa, 0.0), np.where(mb > 0, fb, 0.0)

    def xcorr(x, y):
        # c[d] = sum_i x[i] y[i - d]; full output index k <-> d = k - (len(y) - 1)
        return fftconvolve(x, y[::-1], mode="full", axes=0)

    n = xcorr(ma, mb)
    sa, sb = xcorr(a0, mb), xcorr(ma, b0)
    saa, sbb = xcorr(a0 * a0, mb), xcorr(ma, b0 * b0)
    sab = xcorr(a0, b0)
    k = offsets + len(fb) - 1
    valid = (k >= 0) & (k < len(n))
    kk = np.clip(k, 0, len(n) - 1)
    n, sa, sb, saa, sbb, sab = (x[kk] for x in (n, sa, sb, saa, sbb, sab))
    n = np.round(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sab - sa * sb / n
        va = saa - sa * sa / n
        vb = sbb - sb * sb / n
        r = cov / np.sqrt(np.maximum(va, 0) * np.maximum(vb, 0))
    r[(n < min_overlap) | ~np.isfinite(r) | (va <= 1e-9 * np.maximum(saa, 1e-12)) | (vb <= 1e-9 * np.maximum(sbb, 1e-12))] = np.nan
    r[~valid] = np.nan
    frames = xcorr(ma.any(axis=1, keepdims=True).astype(np.float64), mb.any(axis=1, keepdims=True).astype(np.float64))[kk, 0]
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        score = np.nanmean(r, axis=1)
    score[(np.round(frames) < min_overlap) | ~valid] = np.nan
    return score


# ------------------------------------------------------------------------------ speed (Pose2Sim)

def speed_signal(xy: np.ndarray) -> np.ndarray:
    """Per-frame keypoint speed summed over the body joints, in body sizes per frame. -> (T,)."""
    v = np.linalg.norm(np.diff(xy[:, _BODY], axis=0), axis=2)  # (T-1, J)
    scale = _robust_track_scale(xy)
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
    sa = speed_signal(as_xy(a))[:, None]
    sb = speed_signal(as_xy(b))[:, None]
    return _overlap_pearson(sa, sb, np.asarray(offsets_frames, dtype=int), min_overlap)


# ------------------------------------------------------------------------------ view-invariant trajectory

def pose_descriptors(xy: np.ndarray) -> np.ndarray:
    """View-invariant per-frame descriptors: (T, 18, 2) -> (T, F), NaN where unknown.

    Limb lengths divided by the frame's body size, cosines of joint angles, and the speed of each
    body joint divided by the body size. None changes under image rotation, translation or scale.
    """
    scale = _robust_track_scale(xy)[:, None]
    lengths = np.stack([np.linalg.norm(xy[:, i] - xy[:, k], axis=1) for i, k in _LIMBS], axis=1) / scale
    cosines = []
    for c, p, q in _ANGLES:
        u = xy[:, p] - xy[:, c]
        v = xy[:, q] - xy[:, c]
        with np.errstate(invalid="ignore", divide="ignore"):
            cosines.append(np.sum(u * v, axis=1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)))
    speeds = np.linalg.norm(np.diff(xy[:, _BODY], axis=0), axis=2) / scale[1:]
    speeds = np.concatenate([np.full((1, len(_BODY)), np.nan), speeds])
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
    fa = _zscore(pose_descriptors(as_xy(a)))
    fb = _zscore(pose_descriptors(as_xy(b)))
    return _overlap_pearson(fa, fb, np.asarray(offsets_frames, dtype=int), min_overlap)


# ------------------------------------------------------------------------------ geometric (affine rank)

def _normalise_frames(xy: np.ndarray):
    """Centre each frame on its visible joints and divide by its body size.

    Returns (coords (T, 18, 2) with 0 where missing, visible (T, 18) float)."""
    vis = np.isfinite(xy).all(axis=2)
    cnt = np.maximum(vis.sum(axis=1), 1)[:, None]
    x0 = np.where(vis[..., None], xy, 0.0)
    centre = x0.sum(axis=1) / cnt
    c = np.where(vis[..., None], x0 - centre[:, None], 0.0)
    s = np.sqrt((c ** 2).sum(axis=(1, 2)) / cnt[:, 0])
    s = np.where(s > 0, s, 1.0)
    return c / s[:, None, None], vis.astype(np.float64)


# Left/right swap of the arms (shoulder, elbow, wrist): pose detectors (MediaPipe in side views)
# often exchange the two arms for runs of frames. Swapping the shoulders too also covers swapped
# forearms (the two wrong shoulders are then trimmed).
ARM_SWAP = np.arange(NUM_JOINTS)
for _r, _l in (("r_shoulder", "l_shoulder"), ("r_elbow", "l_elbow"), ("r_wrist", "l_wrist")):
    ARM_SWAP[J[_r]], ARM_SWAP[J[_l]] = J[_l], J[_r]
TRIM_JOINTS = 2  # worst joints dropped per frame pair (a misplaced arm: elbow + wrist)
# Other labellings of b tried per frame pair (besides its own). The whole-body mirror
# (skeleton.LEFT_RIGHT_SWAP, also seen from MediaPipe in side views) can be added; it did not
# help on the rendered demos and costs a third evaluation.
SWAP_HYPOTHESES = (ARM_SWAP,)


def _affine_moments(ca, va, cb, vb):
    """Sums over the joints seen in both frames of every frame pair.

    ca (Ta, 18, 2), va (Ta, 18); cb, vb likewise -> n (Ta, Tb), first (Ta, Tb, 4),
    second (Ta, Tb, 4, 4) moments of the stacked coordinates z = (xa, ya, xb, yb).
    """
    n = va @ vb.T
    za = [va * ca[..., k] for k in range(2)]
    zb = [vb * cb[..., k] for k in range(2)]
    first = np.stack([z @ vb.T for z in za] + [va @ z.T for z in zb], -1)
    second = np.empty(n.shape + (4, 4))
    for p in range(2):
        for q in range(p, 2):
            second[..., p, q] = second[..., q, p] = (za[p] * ca[..., q]) @ vb.T
            second[..., 2 + p, 2 + q] = second[..., 2 + q, 2 + p] = va @ (zb[p] * cb[..., q]).T
        for q in range(2):
            second[..., p, 2 + q] = second[..., 2 + q, p] = za[p] @ zb[q].T
    return n, first, second


def _affine_scatter(n, first, second):
    """Centred scatter, each view scaled to unit trace: (..., 4, 4), and that scaling (..., 4)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = 1.0 / np.maximum(n, 1.0)
        mean = first * inv[..., None]
        S = second * inv[..., None, None] - mean[..., :, None] * mean[..., None, :]
        ta = S[..., 0, 0] + S[..., 1, 1]
        tb = S[..., 2, 2] + S[..., 3, 3]
        d = np.stack([ta, ta, tb, tb], -1) ** -0.5
        S = S * d[..., :, None] * d[..., None, :]
    return S, d, mean


def _det3(m, rows, cols):
    """Determinant of the 3x3 submatrix ``rows`` x ``cols`` of m (4, 4, ...), elementwise."""
    (a, b, c), (d, e, f), (g, h, i) = [[m[r, k] for k in cols] for r in rows]
    return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)


def _smallest_eig_sym4(S: np.ndarray, iters: int = 12) -> np.ndarray:
    """Smallest eigenvalue of symmetric positive semi-definite (..., 4, 4) matrices -> (...).

    Newton's method on the characteristic polynomial from 0: all its roots are real and >= 0, so
    the iteration rises monotonically to the smallest one. Elementwise (no per-matrix LAPACK call).
    """
    S = np.ascontiguousarray(np.moveaxis(S, (-2, -1), (0, 1)))  # (4, 4, ...): contiguous entries
    d = [S[k, k] for k in range(4)]
    c3 = d[0] + d[1] + d[2] + d[3]
    c2 = sum(d[i] * d[j] - S[i, j] ** 2 for i in range(4) for j in range(i + 1, 4))
    c1 = sum(_det3(S, [r for r in range(4) if r != k], [r for r in range(4) if r != k]) for k in range(4))
    c0 = (S[0, 0] * _det3(S, (1, 2, 3), (1, 2, 3)) - S[0, 1] * _det3(S, (1, 2, 3), (0, 2, 3))
          + S[0, 2] * _det3(S, (1, 2, 3), (0, 1, 3)) - S[0, 3] * _det3(S, (1, 2, 3), (0, 1, 2)))
    lam = np.zeros_like(c3)
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(iters):
            p = (((lam - c3) * lam + c2) * lam - c1) * lam + c0
            dp = ((4 * lam - 3 * c3) * lam + 2 * c2) * lam - c1
            step = np.where(dp < 0, p / dp, 0.0)
            lam = lam - np.where(np.isfinite(step), np.minimum(step, 0.0), 0.0)
    return lam


def _null_vector_sym4(S: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Unit eigenvector of (..., 4, 4) symmetric S for its simple eigenvalue ``lam`` (...) -> (..., 4).

    adj(S - lam I) = c v v^T: its column with the largest diagonal entry, normalised.
    """
    M = np.ascontiguousarray(np.moveaxis(S, (-2, -1), (0, 1)))
    for k in range(4):
        M[k, k] -= lam
    idx = range(4)
    cof = [[None] * 4 for _ in idx]
    for i in idx:
        for j in range(i, 4):
            c = ((-1) ** (i + j)) * _det3(M, [r for r in idx if r != i], [k for k in idx if k != j])
            cof[i][j] = cof[j][i] = c
    pick = np.argmax(np.abs(np.stack([cof[k][k] for k in idx], -1)), -1)
    col = np.stack([np.choose(pick, [cof[i][j] for j in idx]) for i in idx], -1)
    norm = np.linalg.norm(col, axis=-1, keepdims=True)
    return col / np.where(norm > 0, norm, 1.0)


def _affine_hypothesis_cost(ca, va, cb, vb, min_joints: int, trim: int) -> np.ndarray:
    """Trimmed rank-3 residual of every frame pair for one joint labelling of b -> (Ta, Tb).

    The rank-3 subspace is fitted to all common joints, the ``trim`` joints farthest from it are
    dropped (their moments subtracted: one least-trimmed-squares step), and the scatter of the rest
    gives the cost. Pairs with fewer than ``min_joints + trim`` joints are not trimmed.
    """
    n, first, second = _affine_moments(ca, va, cb, vb)
    S, d, mean = _affine_scatter(n, first, second)
    bad = (n < min_joints) | ~np.isfinite(S).all(axis=(-2, -1))
    S[bad] = np.eye(4)
    if trim > 0:
        with np.errstate(invalid="ignore"):
            v = _null_vector_sym4(S, _smallest_eig_sym4(S)) * d  # normal of the fitted subspace
        v = np.where(np.isfinite(v), v, 0.0)
        off = (v * mean).sum(-1)[..., None]
        r = (v[..., 0, None] * ca[:, None, :, 0] + v[..., 1, None] * ca[:, None, :, 1]
             + v[..., 2, None] * cb[None, :, :, 0] + v[..., 3, None] * cb[None, :, :, 1] - off)
        r2 = np.where((va[:, None, :] * vb[None, :, :]) > 0, r * r, -1.0)  # unseen joints never dropped
        worst = []
        for _ in range(trim):
            k = np.argmax(r2, -1)[..., None]
            worst.append(k)
            np.put_along_axis(r2, k, -2.0, -1)
        worst = np.concatenate(worst, -1)                        # (Ta, Tb, trim)
        use = ((n >= min_joints + trim)[..., None]
               & (np.take_along_axis(r2, worst, -1) == -2.0)).astype(np.float64)
        ia = np.arange(len(ca))[:, None, None]
        ib = np.arange(len(cb))[None, :, None]
        z = np.concatenate([ca[ia, worst], cb[ib, worst]], -1) * use[..., None]  # (Ta, Tb, trim, 4)
        n = n - use.sum(-1)
        first = first - z.sum(-2)
        second = second - (z[..., :, None] * z[..., None, :]).sum(-3)
        S, _, _ = _affine_scatter(n, first, second)
        S[bad | ~np.isfinite(S).all(axis=(-2, -1))] = np.eye(4)
    trace = S[..., 0, 0] + S[..., 1, 1] + S[..., 2, 2] + S[..., 3, 3]
    cost = _smallest_eig_sym4(S) / np.maximum(trace, 1e-12)
    cost[bad] = np.nan
    return cost


def affine_cost_matrix(a, b, min_joints: int = MIN_COMMON_JOINTS, trim: int = TRIM_JOINTS,
                       swap_arms: bool = True, swaps=SWAP_HYPOTHESES) -> np.ndarray:
    """Robust rank-3 residual of every frame pair: (Ta, 18, 2), (Tb, 18, 2) -> (Ta, Tb), NaN if too few joints.

    For frames i of a and j of b, the joints seen in both are centred and scaled per view; the cost
    is the smallest eigenvalue of the 4x4 scatter of the stacked coordinates divided by its trace
    (0 for two exact affine views of one rigid pose). All frame pairs are computed at once from
    per-joint moment matrices (matrix products over the joint axis). Robust to pose-detector errors:
    the ``trim`` worst-fitting joints of every pair are dropped (a misplaced arm), and with
    ``swap_arms`` the pair's cost is the lower of b's labelling and b with its arms swapped (left /
    right arm swaps).
    """
    ca, va = _normalise_frames(as_xy(a))
    cb, vb = _normalise_frames(as_xy(b))
    cost = _affine_hypothesis_cost(ca, va, cb, vb, min_joints, trim)
    if swap_arms:
        for perm in swaps:
            cost = np.fmin(cost, _affine_hypothesis_cost(ca, va, cb[:, perm], vb[:, perm], min_joints, trim))
    return cost


def diagonal_means(cost: np.ndarray, offsets_frames, min_overlap: int = MIN_OVERLAP_FRAMES,
                   clip: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``cost[i, i - d]`` over the frame pairs of each offset d, NaN-aware.

    cost: (Ta, Tb); offsets: (K,). ``clip`` caps single pairs (robustness to detector swaps).
    Returns (means (K,), number of pairs (K,)); means NaN below ``min_overlap`` pairs.
    """
    offsets = np.asarray(offsets_frames, dtype=int)
    Ta, Tb = cost.shape
    i = np.arange(Ta)[None, :]
    j = i - offsets[:, None]
    inside = (j >= 0) & (j < Tb)
    vals = cost[np.broadcast_to(i, j.shape), np.clip(j, 0, Tb - 1)]
    ok = inside & np.isfinite(vals)
    if clip is not None:
        vals = np.minimum(vals, clip)
    count = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(ok, vals, 0.0).sum(axis=1) / count
    means[count < min_overlap] = np.nan
    return means, count


def affine_consistency_scores(a, b, offsets_frames, min_overlap: int = MIN_OVERLAP_FRAMES,
                              cost: np.ndarray | None = None) -> np.ndarray:
    """Geometric sync score: minus the mean (robustly clipped) rank-3 residual along each offset.

    a: (Ta, 18, 2), b: (Tb, 18, 2) (or Keypoints) on one clock; offsets_frames: (K,) -> (K,).
    ``cost`` (Ta, Tb) may be passed when already computed. Per-pair residuals are capped at 4x their
    median so a few frames with swapped or lost joints do not dominate.
    """
    if cost is None:
        cost = affine_cost_matrix(a, b)
    finite = cost[np.isfinite(cost)]
    clip = 4.0 * float(np.median(finite)) if finite.size else None
    means, _ = diagonal_means(cost, offsets_frames, min_overlap, clip)
    return -means


# ------------------------------------------------------------------------------ fine: epipolar, sub-frame

def gaussian_sample(xy: np.ndarray, index: np.ndarray, sigma: float = 1.0, min_weight: float = 0.6) -> np.ndarray:
    """A track smoothed by a Gaussian of ``sigma`` frames, read at fractional frame indices.

    xy: (T, 18, 2) NaN where missing; index: (N,) fractional frame positions -> (N, 18, 2).
    Missing samples are left out of the weighted mean; a joint is NaN when the samples seen carry
    less than ``min_weight`` of the kernel's weight, or ``index`` is outside [0, T-1]. For
    sigma >= 1 frame the noise of the result barely depends on the fractional part of ``index``,
    so comparing offsets a fraction of a frame apart is not biased toward half-frame positions
    (plain linear interpolation would average two noisy frames there and look cleaner).
    """
    index = np.asarray(index, dtype=np.float64)
    radius = int(np.ceil(4 * sigma))
    ks = np.floor(index).astype(int)[:, None] + np.arange(-radius, radius + 2)[None, :]
    g = np.exp(-0.5 * ((ks - index[:, None]) / sigma) ** 2)
    inside = (ks >= 0) & (ks < len(xy))
    g = np.where(inside, g, 0.0)
    X = xy[np.clip(ks, 0, len(xy) - 1)]  # (N, K, 18, 2)
    seen = np.isfinite(X).all(axis=-1) & inside[..., None]
    w = g[..., None] * seen
    den = w.sum(axis=1)
    num = (np.where(seen[..., None], X, 0.0) * w[..., None]).sum(axis=1)
    out = num / np.maximum(den, 1e-12)[..., None]
    out[den < min_weight * g.sum(axis=1)[:, None]] = np.nan
    out[(index < 0) | (index > len(xy) - 1)] = np.nan
    return out


# Perspective entries (upper-left 2x2) of the fundamental matrix, in vec(F) order of kron(b, a).
_PERSPECTIVE = np.zeros(9)
_PERSPECTIVE[[0, 1, 3, 4]] = 1.0


def epipolar_pair_costs(xa: np.ndarray, xb: np.ndarray, ridge: float = 0.03, scale: float = 0.05,
                        iters: int = 3, min_joints: int = 8, swap_arms: bool = False,
                        trim: int = 0, joint_weights: np.ndarray | None = None,
                        return_joint_losses: bool = False, swaps=SWAP_HYPOTHESES):
    """Robust epipolar residual of frame pairs: xa[p] vs xb[p], each (P, 18, 2) NaN where missing -> (P,).

    Per pair, a fundamental matrix is fitted to the joints seen in both views (coordinates
    centred and scaled per frame) by iteratively reweighted least squares with a Cauchy loss of
    width ``scale``. The perspective block of F is ridge-penalised (``ridge``), which pulls the fit
    toward the affine epipolar geometry when 13-18 noisy joints cannot support all 8 degrees of
    freedom, but leaves room for the perspective of close cameras (which biases a purely affine
    test by up to a few frames). The cost is the mean Cauchy loss of the residuals without the
    ``trim`` largest (a misplaced arm would otherwise set a floor that hides the timing signal).
    With ``swap_arms`` it is the lower of b's labelling and b with its arms swapped (detector swaps),
    the swapped labelling being tried only for the pairs that fit worse than the median pair of
    the call (the others cannot be swaps; halves the extra work).
    ``joint_weights`` (18,) scales each joint's part in the fit and the cost (``joint_reliability``).
    With ``return_joint_losses`` also returns the per-joint Cauchy losses of b's own labelling
    (P, 18), NaN where a joint is not seen in both views.
    """
    cost, losses = _epipolar_hypothesis_costs(xa, xb, ridge, scale, iters, min_joints, trim, joint_weights)
    if swap_arms:
        for perm in swaps:
            # only frame pairs that fit badly as labelled can be swaps: the others keep their cost
            bad = ~(cost <= np.nanmedian(cost)) if np.isfinite(cost).any() else np.ones(len(cost), bool)
            alt, _ = _epipolar_hypothesis_costs(xa[bad], xb[bad][:, perm], ridge, scale, iters, min_joints, trim,
                                                joint_weights)
            cost[bad] = np.fmin(cost[bad], alt)
    return (cost, losses) if return_joint_losses else cost


def joint_reliability(losses: np.ndarray, tolerance: float = 2.0) -> np.ndarray:
    """Per-joint weights (18,) from per-joint losses (P, 18) of one track pair near its offset.

    A joint whose median loss over the frames is more than ``tolerance`` times the median joint's
    (a detector that misplaces one arm all along) is weighted down by the squared ratio.
    """
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(losses, axis=0)
    ok = np.isfinite(med)
    if ok.sum() < 3:
        return np.ones(losses.shape[1])
    ratio = med / max(float(np.median(med[ok])), 1e-12)
    w = np.where(ok & (ratio > tolerance), (tolerance / np.where(ok, ratio, 1.0)) ** 2, 1.0)
    return w


def _epipolar_hypothesis_costs(xa, xb, ridge, scale, iters, min_joints, trim, joint_weights=None):
    ca, va = _normalise_frames(xa)
    cb, vb = _normalise_frames(xb)
    seen = va * vb
    count = seen.sum(axis=1)
    w0 = seen if joint_weights is None else seen * joint_weights[None, :]
    n = w0.sum(axis=1)
    ones = np.ones(ca.shape[:2] + (1,))
    ah = np.concatenate([ca, ones], -1)
    bh = np.concatenate([cb, ones], -1)
    A = (bh[..., :, None] * ah[..., None, :]).reshape(len(ca), ca.shape[1], 9)
    penalty = ridge * np.diag(_PERSPECTIVE)
    w = w0.copy()
    nn = np.maximum(n, 1e-9)[:, None, None]
    for _ in range(iters + 1):
        S = np.matmul((A * w[..., None]).transpose(0, 2, 1), A) / nn
        _, V = np.linalg.eigh(S + penalty)
        r = np.einsum("pkq,pq->pk", A, V[..., 0])
        w = w0 / (1.0 + (r / scale) ** 2)
    joint_loss = np.log1p((r / scale) ** 2)
    loss = w0 * joint_loss
    total = loss.sum(axis=1)
    if trim > 0:  # drop the trim largest losses (when enough joints are left)
        can = count >= min_joints + trim
        worst = np.sort(np.where(seen > 0, joint_loss, -np.inf), axis=1)[:, -trim:]
        wk = np.take_along_axis(w0, np.argsort(np.where(seen > 0, joint_loss, -np.inf), axis=1)[:, -trim:], 1)
        total = np.where(can, total - (np.where(np.isfinite(worst), worst, 0) * wk).sum(1), total)
        n = np.where(can, n - wk.sum(1), n)
    cost = total / np.maximum(n, 1e-9)
    cost[count < min_joints] = np.nan
    return cost, np.where(seen > 0, joint_loss, np.nan)


def _track_normalisation(xy: np.ndarray) -> tuple[np.ndarray, float]:
    """One similarity normalisation for a whole track (centroid, RMS spread of all visible joints)."""
    pts = xy[np.isfinite(xy).all(axis=-1)]
    if len(pts) == 0:
        return np.zeros(2), 1.0
    centre = pts.mean(axis=0)
    scale = float(np.sqrt(np.mean(np.sum((pts - centre) ** 2, axis=1)))) or 1.0
    return centre, scale


def static_epipolar_costs(xa: np.ndarray, xb: np.ndarray, groups: np.ndarray, n_groups: int,
                          norm_a=None, norm_b=None, scale: float = 0.05, iters: int = 3,
                          min_joints: int = 8) -> np.ndarray:
    """Epipolar residuals when both cameras stand still: ONE fundamental matrix per group.

    xa, xb: (P, 18, 2) matched frame pairs (NaN where missing); groups: (P,) group index in
    [0, n_groups) (e.g. the candidate offset each pair belongs to). Coordinates are normalised
    once per track (``norm_a``/``norm_b`` = (centre, scale), default from the pairs themselves),
    an F is fitted per group by IRLS (Cauchy, width ``scale``) over all its joints, and each pair
    gets the mean Cauchy loss of its joints: (P,), NaN with fewer than ``min_joints`` joints.
    """
    na = norm_a or _track_normalisation(xa)
    nb = norm_b or _track_normalisation(xb)
    ca = (xa - na[0]) / na[1]
    cb = (xb - nb[0]) / nb[1]
    va = np.isfinite(ca).all(-1)
    vb = np.isfinite(cb).all(-1)
    w0 = (va & vb).astype(np.float64)
    ca = np.where(w0[..., None] > 0, ca, 0.0)
    cb = np.where(w0[..., None] > 0, cb, 0.0)
    ones = np.ones(ca.shape[:2] + (1,))
    ah = np.concatenate([ca, ones], -1)
    bh = np.concatenate([cb, ones], -1)
    A = (bh[..., :, None] * ah[..., None, :]).reshape(len(ca), ca.shape[1], 9)
    w = w0.copy()
    per_pair = np.matmul((A * w[..., None]).transpose(0, 2, 1), A)
    for _ in range(iters + 1):
        per_pair = np.matmul((A * w[..., None]).transpose(0, 2, 1), A)
        S = np.zeros((n_groups, 9, 9))
        np.add.at(S, groups, per_pair)
        _, V = np.linalg.eigh(S)
        f = V[:, :, 0][groups]
        r = np.einsum("pkq,pq->pk", A, f)
        w = w0 / (1.0 + (r / scale) ** 2)
    n = w0.sum(axis=1)
    cost = (w0 * np.log1p((r / scale) ** 2)).sum(axis=1) / np.maximum(n, 1e-9)
    cost[n < min_joints] = np.nan
    return cost
