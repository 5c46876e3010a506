"""Affine consistency: are two frames two weak-perspective views of one 3D pose?

Under a weak-perspective (affine) camera, the 2D joints of one 3D pose seen by two cameras stack
into a (4, J) matrix of rank 3 once centred (Tomasi-Kanade); the smallest eigenvalue of its 4x4
scatter measures how far frames ``i`` of a and ``j`` of b are from being two views of one pose. It
holds for *any* camera motion, because every frame pair gets its own pair of cameras. The score of
an offset is minus the robust mean of that cost along the matching frame pairs.

Tracks: (T, 18, 2) pixels with NaN where missing (or ``Keypoints``); offsets as in ``tracks``.
"""
from __future__ import annotations

import math

import numpy as np

from .tracks import MIN_COMMON_JOINTS, MIN_OVERLAP_FRAMES, SWAP_HYPOTHESES, as_xy, normalise_frames

TRIM_JOINTS = 2  # worst joints dropped per frame pair (a misplaced arm: elbow + wrist)


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
    ca, va = normalise_frames(as_xy(a))
    cb, vb = normalise_frames(as_xy(b))
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

def affine_diagonals(xa: np.ndarray, xb: np.ndarray, offsets: np.ndarray, max_pairs: int = 2_000_000,
                     clip_sigmas: float | None = None, null_frames=None):
    """Mean log affine residual along every offset, and along the same offsets of mismatched pairings.

    xa: (Ta, 18, 2), xb: (Tb, 18, 2) on one clock; offsets (K,) frames. Returns (mean (K,),
    pairs (K,), null mean (R, K), null pairs (R, K)): frame i of a against b's frame j = i - d, and
    against b's frame ``null_frames[r][j]`` for each of R reorderings of b (default: b played
    backwards), which break any common timing: chance for the same two tracks. Rows of xa
    are strided when Ta * Tb exceeds ``max_pairs`` (long inputs), and processed in chunks; pair
    counts are of the rows used. ``clip_sigmas``: single log residuals are first clipped to the
    median +- that many robust standard deviations (light tails: a short mean is then not ruled by
    a few extreme pairs).
    """
    offsets = np.asarray(offsets, dtype=int)
    stride = max(1, int(math.ceil(len(xa) * len(xb) / max_pairs)))
    rows = np.arange(0, len(xa), stride)
    orders = [np.arange(len(xb))] + list(null_frames if null_frames is not None else [np.arange(len(xb))[::-1]])
    sums, counts = np.zeros((len(orders), len(offsets))), np.zeros((len(orders), len(offsets)))
    chunk = max(1, 400_000 // max(len(xb), 1))
    limits = None
    for start in range(0, len(rows), chunk):
        r = rows[start:start + chunk]
        cost = np.log(affine_cost_matrix(xa[r], xb) + 1e-5)
        if clip_sigmas is not None:
            if limits is None:  # robust spread of single frame pairs, from the first chunk
                finite = cost[np.isfinite(cost)]
                med = float(np.median(finite)) if finite.size else 0.0
                mad = 1.4826 * float(np.median(np.abs(finite - med))) if finite.size else 1.0
                limits = (med - clip_sigmas * mad, med + clip_sigmas * mad)
            cost = np.clip(cost, *limits)
        j = r[None, :] - offsets[:, None]
        inside = (j >= 0) & (j < len(xb))
        jc = np.clip(j, 0, len(xb) - 1)
        for k, order in enumerate(orders):
            vals = cost[np.arange(len(r))[None, :], order[jc]]
            ok = inside & np.isfinite(vals)
            sums[k] += np.where(ok, vals, 0.0).sum(axis=1)
            counts[k] += ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts
    return mean[0], counts[0], mean[1:], counts[1:]


def coarse_scores(xa: np.ndarray, xb: np.ndarray, offsets: np.ndarray, min_overlap: int,
                  max_pairs: int = 2_000_000) -> np.ndarray:
    """Geometric coarse score per offset: minus the mean log affine residual along the offset.

    xa: (Ta, 18, 2), xb: (Tb, 18, 2) on one clock; offsets (K,) frames -> (K,), NaN below
    ``min_overlap`` frames of overlap (see ``affine_diagonals``).
    """
    stride = max(1, int(math.ceil(len(xa) * len(xb) / max_pairs)))
    mean, counts, _, _ = affine_diagonals(xa, xb, offsets, max_pairs)
    out = -mean
    out[counts * stride < min_overlap] = np.nan
    return out
