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

from ..skeleton import JOINT_INDEX as J
from .tracks import MIN_COMMON_JOINTS, MIN_OVERLAP_FRAMES, SWAP_HYPOTHESES, as_xy, normalise_frames

# Worst joints dropped per frame pair (a misplaced arm: elbow + wrist). 0 since 2026-12-01 (h8): with
# upper-body views (10-12 joints) trimming 2 dropped the arms, the only joints that articulate, and left
# face + shoulders, nearly rigid at every offset; the coarse argmax within 2 frames went from 40-67 %
# to 60-83 % on upper-body and caliscope pairs, never worse on long, static, portrait (docs/benchmarks.md).
TRIM_JOINTS = 0
CHUNK_PAIRS = 100_000  # frame pairs scored at once by affine_diagonals (its peak memory, ~0.5 kB a pair)
# Joints the affine cue (``affine_diagonals``) can leave out: the eyes and ears. The four sit within a
# few centimetres on the head, rigid, noisy against their spread and often half seen (one ear in a
# side view), so they add residual without any articulation; the nose stays as the head's point.
# Measured (h5, bench/analyze_sync_cues.py, docs/benchmarks.md): the affine argmax within 2 frames
# rose in all six conditions tried (paper 75 -> 85 %, long 88 -> 100, upper body 62 -> 75,
# caliscope 86 -> 88, caliscope upper body 54 -> 56, Pose2Sim MediaPipe 88 -> 92).
# NOT the default yet (``DROP_JOINTS`` empty): with the shipped combiner, fitted on the old affine
# z, two unrelated stretches of one walk got confidence 0.57 (tests/sync/test_pair.py wants < 0.5).
# Set DROP_JOINTS = FACE_POINTS together with a refit of the combiner (bench/fit_combiner.py).
FACE_POINTS = tuple(J[n] for n in ("r_eye", "l_eye", "r_ear", "l_ear"))
DROP_JOINTS: tuple[int, ...] = ()


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


def _affine_pair_moments(ca, va, cb, vb):
    """``_affine_moments`` of matched frame pairs only: ca, cb (P, 18, 2), va, vb (P, 18) ->
    n (P, 1), first (P, 1, 4), second (P, 1, 4, 4) (the frame-pair axis of b has length 1)."""
    n = np.einsum("pj,pj->p", va, vb)
    za = [va * ca[..., k] for k in range(2)]
    zb = [vb * cb[..., k] for k in range(2)]
    first = np.stack([np.einsum("pj,pj->p", z, vb) for z in za] + [np.einsum("pj,pj->p", va, z) for z in zb], -1)
    second = np.empty(n.shape + (4, 4))
    for p in range(2):
        for q in range(p, 2):
            second[..., p, q] = second[..., q, p] = np.einsum("pj,pj->p", za[p] * ca[..., q], vb)
            second[..., 2 + p, 2 + q] = second[..., 2 + q, 2 + p] = np.einsum("pj,pj->p", va, zb[p] * cb[..., q])
        for q in range(2):
            second[..., p, 2 + q] = second[..., 2 + q, p] = np.einsum("pj,pj->p", za[p], zb[q])
    return n[:, None], first[:, None], second[:, None]


def _affine_scatter(n, first, second):
    """Centred scatter, each view scaled to unit trace: (..., 4, 4), and that scaling (..., 4)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = 1.0 / np.maximum(n, 1.0)
        mean = first * inv[..., None]
        S = second * inv[..., None, None]
        S -= mean[..., :, None] * mean[..., None, :]
        da = (S[..., 0, 0] + S[..., 1, 1]) ** -0.5
        db = (S[..., 2, 2] + S[..., 3, 3]) ** -0.5
        d = np.stack([da, da, db, db], -1)
        S *= d[..., :, None]  # in place, in the order of S * d_p * d_q
        S *= d[..., None, :]
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
    shape = lam.shape
    lam, c0, c1, c2, c3 = (np.ravel(v) for v in (lam, c0, c1, c2, c3))
    live = None  # indices still moving (None: all)
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(iters):
            # an entry whose step left it unchanged is at its fixed point: the next steps would
            # compute the same numbers, so only the entries still moving are iterated (same result)
            x, k0, k1, k2, k3 = (v if live is None else v[live] for v in (lam, c0, c1, c2, c3))
            p = (((x - k3) * x + k2) * x - k1) * x + k0
            dp = ((4 * x - 3 * k3) * x + 2 * k2) * x - k1
            step = np.where(dp < 0, p / dp, 0.0)
            new = x - np.where(np.isfinite(step), np.minimum(step, 0.0), 0.0)
            moved = new != x
            if live is None:
                lam = new
                if moved.mean() < 0.75:
                    live = np.flatnonzero(moved)
            else:
                lam[live] = new
                live = live[moved]
            if live is not None and not len(live):
                break
    return lam.reshape(shape)


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


def _affine_hypothesis_cost(ca, va, cb, vb, min_joints: int, trim: int, paired: bool = False) -> np.ndarray:
    """Trimmed rank-3 residual of every frame pair for one joint labelling of b -> (Ta, Tb).

    The rank-3 subspace is fitted to all common joints, the ``trim`` joints farthest from it are
    dropped (their moments subtracted: one least-trimmed-squares step), and the scatter of the rest
    gives the cost. Pairs with fewer than ``min_joints + trim`` joints are not trimmed.
    ``paired``: ca and cb hold P matched frames, frame p of a against frame p of b only -> (P, 1).
    """
    n, first, second = (_affine_pair_moments if paired else _affine_moments)(ca, va, cb, vb)
    b_axis = (slice(None), None) if paired else (None, slice(None))  # b's frames along the pair axis 1
    S, d, mean = _affine_scatter(n, first, second)
    bad = (n < min_joints) | ~np.isfinite(S).all(axis=(-2, -1))
    S[bad] = np.eye(4)
    if trim > 0:
        with np.errstate(invalid="ignore"):
            v = _null_vector_sym4(S, _smallest_eig_sym4(S)) * d  # normal of the fitted subspace
        v = np.where(np.isfinite(v), v, 0.0)
        off = (v * mean).sum(-1)[..., None]
        r = (v[..., 0, None] * ca[:, None, :, 0] + v[..., 1, None] * ca[:, None, :, 1]
             + v[..., 2, None] * cb[b_axis + (slice(None), 0)] + v[..., 3, None] * cb[b_axis + (slice(None), 1)]
             - off)
        r2 = np.where((va[:, None, :] * vb[b_axis]) > 0, r * r, -1.0)  # unseen joints never dropped
        del r, v, off, S, d  # memory: the pair arrays are freed as soon as they are used
        worst = []
        for _ in range(trim):
            k = np.argmax(r2, -1)[..., None]
            worst.append(k)
            np.put_along_axis(r2, k, -2.0, -1)
        worst = np.concatenate(worst, -1)                        # (Ta, Tb, trim)
        use = ((n >= min_joints + trim)[..., None]
               & (np.take_along_axis(r2, worst, -1) == -2.0)).astype(np.float64)
        del r2
        ia = np.arange(len(ca))[:, None, None]
        ib = np.arange(len(cb))[b_axis + (None,)]
        z = np.concatenate([ca[ia, worst], cb[ib, worst]], -1) * use[..., None]  # (Ta, Tb, trim, 4)
        n = n - use.sum(-1)
        # the sums over the trimmed joints, written out term by term (same numbers as .sum over them)
        zsum, zouter = z[..., 0, :].copy(), z[..., 0, :, None] * z[..., 0, None, :]
        for t in range(1, trim):
            zsum += z[..., t, :]
            zouter += z[..., t, :, None] * z[..., t, None, :]
        del z, mean
        first -= zsum
        second -= zouter
        del zsum, zouter
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
    from .threads import MIN_SPLIT, map_in_threads

    ca, va = normalise_frames(as_xy(a))
    cb, vb = normalise_frames(as_xy(b))
    labellings = [(cb, vb)] + ([(cb[:, perm], vb[:, perm]) for perm in swaps] if swap_arms else [])
    # the labellings of b are independent: in threads when the matrix is large enough
    costs = map_in_threads(lambda h: _affine_hypothesis_cost(ca, va, h[0], h[1], min_joints, trim), labellings,
                           None if len(ca) * len(cb) >= MIN_SPLIT else 1)
    cost = costs[0]
    for other in costs[1:]:
        cost = np.fmin(cost, other)
    return cost


def affine_pair_costs(ca, va, cb, vb, min_joints: int = MIN_COMMON_JOINTS, trim: int = TRIM_JOINTS,
                      swaps=SWAP_HYPOTHESES) -> np.ndarray:
    """``affine_cost_matrix`` of matched frame pairs only, with arm swaps: frames already through
    ``normalise_frames``, ca / cb (P, 18, 2), va / vb (P, 18) -> (P,) (frame p of a with frame p of b)."""
    cost = _affine_hypothesis_cost(ca, va, cb, vb, min_joints, trim, paired=True)[:, 0]
    for perm in swaps:
        cost = np.fmin(cost, _affine_hypothesis_cost(ca, va, cb[:, perm], vb[:, perm], min_joints, trim,
                                                     paired=True)[:, 0])
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
                     clip_sigmas: float | None = None, null_frames=None, null_offsets=None,
                     drop=None):
    """Mean log affine residual along every offset, and along offsets of mismatched pairings.

    xa: (Ta, 18, 2), xb: (Tb, 18, 2) on one clock; offsets (K,) frames. Returns (mean (K,),
    pairs (K,), null mean (R, L), null pairs (R, L)): frame i of a against b's frame j = i - d, and
    against b's frame ``null_frames[r][j]`` for each of R reorderings of b (default: b played
    backwards) at the L ``null_offsets`` (default: ``offsets``), which break any common timing:
    chance for the same two tracks. ``clip_sigmas``: single log residuals are first clipped to the
    median +- that many robust standard deviations (light tails: a short mean is then not ruled by
    a few extreme pairs).

    Two ways, the same numbers for the pairs they score: when the K + R L pairs a row of a needs
    are fewer than b's frames (long tracks with a bounded ``--max-offset``), only those pairs are
    scored (``_banded_costs``); otherwise whole rows of the Ta x Tb matrix. Either way rows of xa
    are strided to keep the pairs scored under ``max_pairs``, and processed in chunks of about
    ``CHUNK_PAIRS`` pairs (memory does not grow with the tracks' length); pair counts are of the
    rows used. The joints ``drop`` (None: ``DROP_JOINTS``; e.g. ``FACE_POINTS``) are left out of
    every frame pair.
    """
    drop = DROP_JOINTS if drop is None else drop
    if drop:
        xa, xb = np.array(xa, dtype=np.float64), np.array(xb, dtype=np.float64)
        xa[:, list(drop)] = np.nan
        xb[:, list(drop)] = np.nan
    offsets = np.asarray(offsets, dtype=int)
    null_offsets = offsets if null_offsets is None else np.asarray(null_offsets, dtype=int)
    orders = [np.arange(len(xb))] + list(null_frames if null_frames is not None else [np.arange(len(xb))[::-1]])
    sets = [offsets] + [null_offsets] * (len(orders) - 1)  # the offsets each ordering is read at
    banded = sum(len(o) for o in sets) < len(xb)
    per_row = sum(len(o) for o in sets) if banded else len(xb)
    stride = max(1, int(math.ceil(len(xa) * per_row / max_pairs)))
    rows = np.arange(0, len(xa), stride)
    sums, counts = [np.zeros(len(o)) for o in sets], [np.zeros(len(o)) for o in sets]
    chunk = max(1, CHUNK_PAIRS // max(per_row, 1))
    limits = None
    if banded:
        na, nb = normalise_frames(xa), normalise_frames(xb)
    for start in range(0, len(rows), chunk):
        r = rows[start:start + chunk]
        js = [r[None, :] - o[:, None] for o in sets]
        jc = [np.clip(j, 0, len(xb) - 1) for j in js]
        if banded:  # cost[k][o, i]: row r[i] against b's frame orders[k][jc[k][o, i]]
            cost = [_banded_costs(na, nb, r, order[j]) for order, j in zip(orders, jc)]
        else:
            full = np.log(affine_cost_matrix(xa[r], xb) + 1e-5)
            cost = [full[np.arange(len(r))[None, :], order[j]] for order, j in zip(orders, jc)]
        if clip_sigmas is not None:
            if limits is None:  # robust spread of single frame pairs, from the first chunk
                finite = np.concatenate([full.ravel()] if not banded else [c.ravel() for c in cost])
                finite = finite[np.isfinite(finite)]
                med = float(np.median(finite)) if finite.size else 0.0
                mad = 1.4826 * float(np.median(np.abs(finite - med))) if finite.size else 1.0
                limits = (med - clip_sigmas * mad, med + clip_sigmas * mad)
            cost = [np.clip(c, *limits) for c in cost]
        for k, (vals, j) in enumerate(zip(cost, js)):
            ok = (j >= 0) & (j < len(xb)) & np.isfinite(vals)
            sums[k] += np.where(ok, vals, 0.0).sum(axis=1)
            counts[k] += ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = [sm / c for sm, c in zip(sums, counts)]
    null = np.array(mean[1:]).reshape(len(orders) - 1, len(null_offsets))
    null_count = np.array(counts[1:]).reshape(len(orders) - 1, len(null_offsets))
    return mean[0], counts[0], null, null_count


def _banded_costs(na, nb, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Log affine residual of frame pairs (rows[i], cols[o, i]) of two normalised tracks -> (O, I)."""
    (ca, va), (cb, vb) = na, nb
    ia = np.broadcast_to(rows[None, :], cols.shape).ravel()
    ib = cols.ravel()
    return np.log(affine_pair_costs(ca[ia], va[ia], cb[ib], vb[ib]) + 1e-5).reshape(cols.shape)


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
