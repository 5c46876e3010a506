"""Epipolar consistency of two tracks, and the sub-frame offset it gives.

- ``epipolar_pair_costs``: one fundamental matrix per frame pair (moving cameras), robust (Cauchy
  IRLS, ridge toward the affine geometry, trimmed joints, optional arm-swap hypotheses).
- ``static_epipolar_costs``: one fundamental matrix per group of frame pairs (cameras standing still).
- ``FineScorer``: both costs of two native-rate tracks at arbitrary fractional offsets (seconds),
  on Gaussian-smoothed tracks; ``refine_offset`` finds the sub-frame minimum and its standard error;
  ``group_stderr`` the spread of that minimum when each group of joints is left out in turn.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from ..keypoints import Keypoints
from ..skeleton import JOINT_INDEX
from .threads import split_rows
from .tracks import SWAP_HYPOTHESES, gaussian_sample, normalise_frames, track_normalisation

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
    ca, va = normalise_frames(xa)
    cb, vb = normalise_frames(xb)
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
    f = None
    for _ in range(iters + 1):
        S = np.matmul((A * w[..., None]).transpose(0, 2, 1), A) / nn
        f = smallest_eigenvector(S + penalty, f)
        r = np.einsum("pkq,pq->pk", A, f)
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

def smallest_eigenvector(S: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Unit eigenvector of the smallest eigenvalue of each symmetric matrix S (P, n, n) -> (P, n).

    With ``start`` (P, n), a nearby vector (the previous IRLS step's): inverse iteration, first
    unshifted, then shifted to just below the start's improved Rayleigh quotient rho,
    sigma = rho - 1e-6 ||S||. A Cholesky factorization of S - sigma I exists only when no
    eigenvalue lies below sigma, so the iteration then converges to the smallest eigenpair, at a
    rate of (lambda_0 - sigma) / (lambda_1 - sigma) per step. A matrix keeps that answer only when
    both factorizations exist and the residual ||S v - rho v|| <= 1e-13 ||S|| (``eigh``'s own
    accuracy); the others, and all matrices without a start, get ``eigh``'s. Pure numpy over the
    batch (each step a few vector operations per row of the 9 x 9 matrices): ~5x cheaper than
    ``eigh``. The sign of the vector is arbitrary, as ``eigh``'s.
    """
    if start is None or not len(S):
        return np.linalg.eigh(S)[1][..., 0]
    S = np.asarray(S, dtype=np.float64)
    St = np.ascontiguousarray(S.transpose(1, 2, 0))  # (n, n, P): each entry a contiguous row of the batch
    size = np.sqrt((St ** 2).sum(axis=(0, 1)))
    v = _unit(np.asarray(start, dtype=np.float64).T.copy())  # (n, P)
    L, ok = _batched_cholesky(St)
    for _ in range(2):
        v = _unit(_cholesky_solve(L, v))
    rho = np.einsum("ip,ijp,jp->p", v, St, v)
    shifted = St.copy()
    idx = np.arange(St.shape[0])
    shifted[idx, idx] -= rho - 1e-6 * size
    L, pd = _batched_cholesky(shifted)
    ok &= pd
    for _ in range(3):
        v = _unit(_cholesky_solve(L, v))
    Sv = np.einsum("ijp,jp->ip", St, v)
    rho = (v * Sv).sum(0)
    with np.errstate(invalid="ignore"):
        ok &= np.sqrt(((Sv - rho * v) ** 2).sum(0)) <= 1e-13 * size
    v = np.ascontiguousarray(v.T)
    if not ok.all():
        v[~ok] = np.linalg.eigh(S[~ok])[1][..., 0]
    return v


def _unit(x: np.ndarray) -> np.ndarray:
    """Columns of x (n, P) scaled to unit length."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return x / np.sqrt((x ** 2).sum(0))


def _batched_cholesky(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower Cholesky factors of the symmetric matrices M (n, n, P) (batch last), column by column,
    and (P,) whether each is positive definite (the factor of a matrix that is not is garbage)."""
    n, _, P = M.shape
    L = np.zeros_like(M)
    ok = np.ones(P, dtype=bool)
    for j in range(n):
        d = M[j, j] - (L[j, :j] ** 2).sum(0)
        ok &= d > 0
        root = np.sqrt(np.where(d > 0, d, 1.0))
        L[j, j] = root
        if j + 1 < n:
            L[j + 1:, j] = (M[j + 1:, j] - (L[j + 1:, :j] * L[j, :j]).sum(1)) / root
    return L, ok


def _cholesky_solve(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x with L L^T x = b for each column: L (n, n, P) lower, b (n, P)."""
    n = L.shape[0]
    y = np.zeros_like(b)
    for i in range(n):
        y[i] = (b[i] - (L[i, :i] * y[:i]).sum(0)) / L[i, i]
    x = np.zeros_like(b)
    for i in range(n - 1, -1, -1):
        x[i] = (y[i] - (L[i + 1:, i] * x[i + 1:]).sum(0)) / L[i, i]
    return x


def static_epipolar_costs(xa: np.ndarray, xb: np.ndarray, groups: np.ndarray, n_groups: int,
                          norm_a=None, norm_b=None, scale: float = 0.05, iters: int = 3,
                          min_joints: int = 8, fit_rows: np.ndarray | None = None) -> np.ndarray:
    """Epipolar residuals when both cameras stand still: ONE fundamental matrix per group.

    xa, xb: (P, 18, 2) matched frame pairs (NaN where missing); groups: (P,) group index in
    [0, n_groups) (e.g. the candidate offset each pair belongs to). Coordinates are normalised
    once per track (``norm_a``/``norm_b`` = (centre, scale), default from the pairs themselves),
    an F is fitted per group by IRLS (Cauchy, width ``scale``) over all its joints, and each pair
    gets the mean Cauchy loss of its joints: (P,), NaN with fewer than ``min_joints`` joints.
    ``fit_rows`` (P,) bool: only these pairs fit the F (every pair gets its cost under it).
    """
    na = norm_a or track_normalisation(xa)
    nb = norm_b or track_normalisation(xb)
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
    fit = w0 if fit_rows is None else w0 * np.asarray(fit_rows, np.float64)[:, None]
    w = fit.copy()
    for _ in range(iters + 1):
        per_pair = np.matmul((A * w[..., None]).transpose(0, 2, 1), A)
        S = np.zeros((n_groups, 9, 9))
        np.add.at(S, groups, per_pair)
        _, V = np.linalg.eigh(S)
        f = V[:, :, 0][groups]
        r = np.einsum("pkq,pq->pk", A, f)
        w = fit / (1.0 + (r / scale) ** 2)
    n = w0.sum(axis=1)
    cost = (w0 * np.log1p((r / scale) ** 2)).sum(axis=1) / np.maximum(n, 1e-9)
    cost[n < min_joints] = np.nan
    return cost


class FineScorer:
    """Epipolar cost of two native-rate tracks at arbitrary (fractional) offsets in seconds.

    a is read at its own frames (strided to ``max_samples``), b at the matching fractional frame
    positions; both smoothed by a Gaussian of ``sigma_seconds``.
    """

    def __init__(self, ka: Keypoints, kb: Keypoints, sigma_seconds: float, max_samples: int, min_overlap: int,
                 swap_arms: bool = False):
        self.ta = ka.times - ka.times[0]
        self.tb = kb.times - kb.times[0]
        stride = max(1, int(math.ceil(len(self.ta) / max_samples)))
        self.ia = np.arange(0, len(self.ta), stride)
        fps_a = ka.fps if np.isfinite(ka.fps) else 30.0
        self.fps_b = kb.fps if np.isfinite(kb.fps) else 30.0
        self.xa = gaussian_sample(np.asarray(ka.xy, np.float64), self.ia.astype(float), sigma_seconds * fps_a)
        self.xb_raw = np.asarray(kb.xy, np.float64)
        self.sigma_b = sigma_seconds * self.fps_b
        # b smoothed once at its own frames; fractional positions interpolate linearly between
        # smoothed frames (after smoothing, neighbours are strongly correlated, so this adds no
        # noticeable noise difference between integer and half-frame positions)
        self.xb_smooth = gaussian_sample(self.xb_raw, np.arange(len(self.xb_raw), dtype=np.float64), self.sigma_b)
        self.min_overlap = max(3, int(min_overlap // stride))
        self.norm_a = track_normalisation(self.xa)
        self.norm_b = track_normalisation(self.xb_raw)
        self.joint_weights = None  # (18,) per-joint reliability of this pair (``learn_joint_weights``)
        self.swap_arms = swap_arms  # also try b's arms swapped per frame pair (AlignConfig.fine_swaps)

    def restricted(self, keep: np.ndarray, min_overlap: int) -> "FineScorer":
        """The same scorer on a subset of a's used frames (``keep``: (N,) bool), e.g. one window."""
        part = copy.copy(self)
        part.ia, part.xa, part.min_overlap = self.ia[keep], self.xa[keep], min_overlap
        return part

    def window_costs(self, windows, min_overlaps, offsets_seconds: np.ndarray, static: bool = False) -> list:
        """``restricted(sel, m).costs(offsets_seconds, static)`` for each window ``sel`` ((N,) bool) and
        its ``m`` of ``min_overlaps``: the same numbers; moving cameras in one batch over the windows'
        frames (every frame pair is fitted on its own), static ones window by window (one F each)."""
        if static or self.swap_arms or len(windows) < 2:  # an F, or the swap median, per window
            return [self.restricted(sel, m).costs(offsets_seconds, static) for sel, m in zip(windows, min_overlaps)]
        used = np.logical_or.reduce(windows)
        fc = self.restricted(used, self.min_overlap).frame_costs(offsets_seconds)
        # each window's columns laid out as its own call's (a row's sum depends on the layout)
        return [self.restricted(sel, m)._mean(np.ascontiguousarray(fc[:, sel[used]]))
                for sel, m in zip(windows, min_overlaps)]

    def _b_at(self, offsets_seconds: np.ndarray):
        """b's smoothed joints at a's used frames for each offset: (k_idx, n_idx, xb (P, 18, 2))."""
        t_local = self.ta[self.ia][None, :] - offsets_seconds[:, None]
        inside = (t_local >= self.tb[0]) & (t_local <= self.tb[-1])
        idx_b = np.interp(t_local, self.tb, np.arange(len(self.tb), dtype=np.float64))
        k_idx, n_idx = np.nonzero(inside)
        pos = idx_b[k_idx, n_idx]
        i0 = np.clip(np.floor(pos).astype(int), 0, len(self.xb_smooth) - 1)
        i1 = np.minimum(i0 + 1, len(self.xb_smooth) - 1)
        w = (pos - i0)[:, None, None]
        return k_idx, n_idx, (1.0 - w) * self.xb_smooth[i0] + w * self.xb_smooth[i1]

    def learn_joint_weights(self, offset_seconds: float) -> np.ndarray:
        """Per-joint reliability (18,) from the per-joint epipolar losses at ``offset_seconds``:
        joints that fit much worse than the others all along (a detector that misplaces an arm in
        one view) are weighted down for this pair from then on."""
        self.joint_weights = None
        k_idx, n_idx, xb = self._b_at(np.array([float(offset_seconds)]))
        if len(n_idx) >= 3:
            _, losses = epipolar_pair_costs(self.xa[n_idx], xb, return_joint_losses=True)
            self.joint_weights = joint_reliability(losses)
        return self.joint_weights

    def frame_costs(self, offsets_seconds: np.ndarray, static: bool = False) -> np.ndarray:
        """(K,) offsets (b's first frame on a's clock) -> (K, N) robust epipolar cost of each used
        frame of a with the matching instant of b (NaN: outside b, or too few joints).
        ``static``: one fundamental matrix per offset for all frames (cameras standing still)."""
        offsets_seconds = np.atleast_1d(np.asarray(offsets_seconds, dtype=np.float64))
        out = np.full((len(offsets_seconds), len(self.ia)), np.nan)
        k_idx, n_idx, xb = self._b_at(offsets_seconds)
        if len(k_idx):
            if static:
                out[k_idx, n_idx] = static_epipolar_costs(self.xa[n_idx], xb, k_idx, len(offsets_seconds),
                                                          self.norm_a, self.norm_b)
            elif self.swap_arms:  # the swapped labelling is tried on the worse half of the call's pairs
                out[k_idx, n_idx] = epipolar_pair_costs(self.xa[n_idx], xb, joint_weights=self.joint_weights,
                                                        swap_arms=True)
            else:  # every frame pair on its own: halves of the batch in threads, the same numbers
                out[k_idx, n_idx] = split_rows(lambda pa, pb: epipolar_pair_costs(pa, pb, joint_weights=self.joint_weights),
                                               len(n_idx), self.xa[n_idx], xb)
        return out

    def frame_costs_without(self, joint_sets, offsets_seconds: np.ndarray, static: bool = False) -> np.ndarray:
        """``frame_costs`` with each set of joints of ``joint_sets`` unseen in a's frames (so in every
        frame pair it scores) -> (G, K, N). The same numbers as G calls, in one batch (so it splits
        over the cores): every frame pair is fitted on its own, and with ``static`` each (set,
        offset) keeps its own F over its rows in the same order."""
        offsets_seconds = np.atleast_1d(np.asarray(offsets_seconds, dtype=np.float64))
        n_sets, n_off = len(joint_sets), len(offsets_seconds)
        out = np.full((n_sets, n_off, len(self.ia)), np.nan)
        k_idx, n_idx, xb = self._b_at(offsets_seconds)
        if not len(k_idx):
            return out
        xa = np.repeat(self.xa[n_idx][None], n_sets, axis=0)
        for g, joints in enumerate(joint_sets):
            xa[g][:, list(joints)] = np.nan
        xa, xb_all = xa.reshape((-1,) + xb.shape[1:]), np.tile(xb, (n_sets, 1, 1))
        if static:
            fits = (k_idx[None, :] + n_off * np.arange(n_sets)[:, None]).ravel()
            costs = static_epipolar_costs(xa, xb_all, fits, n_sets * n_off, self.norm_a, self.norm_b)
        elif self.swap_arms:  # the swap hypotheses depend on the call's median cost: one call per set
            costs = np.concatenate([epipolar_pair_costs(part, xb, joint_weights=self.joint_weights, swap_arms=True)
                                    for part in np.split(xa, n_sets)])
        else:
            costs = split_rows(lambda pa, pb: epipolar_pair_costs(pa, pb, joint_weights=self.joint_weights),
                               len(xa), xa, xb_all)
        out[:, k_idx, n_idx] = costs.reshape(n_sets, -1)
        return out

    def costs(self, offsets_seconds: np.ndarray, static: bool = False) -> np.ndarray:
        """(K,) offsets -> (K,) mean robust epipolar cost (NaN: too little overlap)."""
        return self._mean(self.frame_costs(offsets_seconds, static))

    def costs_and_counts(self, offsets_seconds: np.ndarray, static: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(K,) offsets -> mean cost (K,) as ``costs`` and the frame pairs behind each (K,)."""
        fc = self.frame_costs(offsets_seconds, static)
        return self._mean(fc), np.isfinite(fc).sum(axis=1)

    def _mean(self, fc: np.ndarray) -> np.ndarray:
        ok = np.isfinite(fc)
        cnt = ok.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(ok, fc, 0.0).sum(axis=1) / cnt
        out[cnt < self.min_overlap] = np.nan
        return out

    def refine(self, grid: np.ndarray, blocks: int = 8, half_width: int = 3,
               static: bool = False) -> tuple[float, float, np.ndarray]:
        """Sub-frame minimum of the cost over ``grid`` (seconds, regular) and its standard error.

        Returns (offset, standard error (s), mean cost curve (K,)). The error is a block jackknife:
        the minimum is recomputed leaving out each of ``blocks`` contiguous runs of frames.
        """
        fc = self.frame_costs(grid, static)
        curve = self._mean(fc)
        if not np.isfinite(curve).any():
            return float("nan"), float("inf"), curve
        offset = curve_minimum(grid, curve, half_width)
        used = np.flatnonzero(np.isfinite(fc).any(axis=0))
        if len(used) < 2 * blocks:
            return offset, float("inf"), curve
        vals = []
        for part in np.array_split(used, blocks):
            keep = fc.copy()
            keep[:, part] = np.nan
            c = self._mean(keep)
            if np.isfinite(c).any():
                vals.append(curve_minimum(grid, c, half_width))
        if len(vals) < 3:
            return offset, float("inf"), curve
        vals = np.array(vals)
        se = math.sqrt((len(vals) - 1) / len(vals) * np.sum((vals - vals.mean()) ** 2))
        return offset, se, curve


def curve_minimum(grid: np.ndarray, curve: np.ndarray, half_width: int) -> float:
    i = int(np.nanargmin(curve))
    return parabola_vertex(grid, curve, i, half_width)


def refine_offset(fine: FineScorer, center: float, step: float, radius: float, fine_step: float,
                  static: bool = False, max_shift: float | None = None, in_basin: bool = False):
    """Sub-frame minimum of ``fine``'s cost near ``center`` (s): (offset, stderr, fine curve) or None.

    ``step``: one analysis frame (s). A half-frame grid over +-``radius`` frames finds the basin
    (re-centred while the minimum sits on its edge, its centre at most ``max_shift`` frames from
    ``center``, default ``radius``), then a ``fine_step`` grid (frames) over +-0.6 frames around it
    gives the sub-frame minimum. The bound keeps the answer in the candidate's basin: the coarse
    cues chose the candidate, and on real detections the epipolar cost can slope away over several
    frames (Pose2Sim MediaPipe, 48 pairs: right picks walked more than 2 frames off, 6 -> 4).

    ``in_basin``: when the half-frame grid's minimum is still on its edge after the allowed shifts
    (the cost slopes away from the candidate: no basin of its own, so the edge is up to ``radius`` +
    ``max_shift`` + 0.6 frames away), the answer stays inside the candidate's frame (the minimum over
    ``center`` +- 0.5 frames), with the larger of the two standard errors (the walked one and the
    in-frame one): a slope is no evidence of where the minimum is, and the confidence is not raised.
    """
    half_width = max(2, int(round(0.35 / fine_step)))
    max_shift = radius if max_shift is None else max_shift
    coarse_grid = center + np.arange(-radius, radius + 1e-9, 0.5) * step
    interior = False
    for _ in range(4):
        c = fine.costs(coarse_grid, static)
        if not np.isfinite(c).any():
            return None
        imin = int(np.nanargmin(c))
        if 0 < imin < len(coarse_grid) - 1:
            interior = True
            break
        moved = coarse_grid + (coarse_grid[imin] - coarse_grid[len(coarse_grid) // 2])
        if abs(moved[len(moved) // 2] - center) > max_shift * step + 1e-9:
            break  # the minimum stays on the edge of the candidate's basin
        coarse_grid = moved
    grid = coarse_grid[imin] + np.arange(-0.6, 0.6 + 1e-9, fine_step) * step
    offset, se, curve = fine.refine(grid, half_width=half_width, static=static)
    if not np.isfinite(offset):
        return None
    if in_basin and not interior:
        frame_grid = center + np.arange(-0.5, 0.5 + 1e-9, fine_step) * step
        inside, se_inside, curve_inside = fine.refine(frame_grid, half_width=half_width, static=static)
        if np.isfinite(inside):
            return float(np.clip(inside, center - 0.5 * step, center + 0.5 * step)), max(se, se_inside), curve_inside
    return offset, se, curve


def parabola_vertex(x: np.ndarray, y: np.ndarray, center: int, half_width: int) -> float:
    """Least-squares parabola through y around index ``center``; its minimum (x units) if convex and inside."""
    lo, hi = max(0, center - half_width), min(len(x), center + half_width + 1)
    xs, ys = x[lo:hi], y[lo:hi]
    ok = np.isfinite(ys)
    if ok.sum() < 3:
        return float(x[center])
    c2, c1, _ = np.polyfit(xs[ok] - x[center], ys[ok], 2)
    if c2 <= 0:
        return float(x[center])
    v = -c1 / (2 * c2)
    step = abs(x[1] - x[0]) if len(x) > 1 else 1.0
    return float(x[center] + np.clip(v, -step * half_width, step * half_width))


# Groups of joints left out in turn by ``group_stderr``: the head, the arms below the shoulders, the
# torso (neck, shoulders, hips) and the legs below the hips.
JOINT_GROUPS: tuple[tuple[str, tuple[int, ...]], ...] = tuple(
    (name, tuple(JOINT_INDEX[j] for j in joints)) for name, joints in (
        ("head", ("nose", "r_eye", "l_eye", "r_ear", "l_ear")),
        ("arms", ("r_elbow", "r_wrist", "l_elbow", "l_wrist")),
        ("torso", ("neck", "r_shoulder", "l_shoulder", "r_hip", "l_hip")),
        ("legs", ("r_knee", "r_ankle", "l_knee", "l_ankle"))))


def group_stderr(fine: FineScorer, offset: float, step: float, static: bool = False, radius: float = 3.0,
                 grid_step: float = 0.5, max_frames: int = 120, groups=JOINT_GROUPS) -> tuple[float, dict]:
    """Jackknife standard error (s) of the epipolar minimum over groups of joints: the minimum is
    found again with each group of ``groups`` left out (a grid of ``grid_step`` frames over
    +-``radius`` analysis frames of ``step`` s around ``offset``, the scorer's joint weights kept,
    a's used frames strided to at most ``max_frames``), and the error is
    sqrt((G-1)/G * sum (v_g - mean)^2). The block jackknife over time cannot see an error shared by
    every frame (a detector that places one view's joints off the body's joint centres all along);
    leaving out the joints that carry it moves the minimum. Returns (error, {group: minimum (s)});
    inf when fewer than three groups leave a minimum."""
    stride = max(1, int(math.ceil(len(fine.ia) / max_frames)))
    if stride > 1:
        keep = np.zeros(len(fine.ia), bool)
        keep[::stride] = True
        fine = fine.restricted(keep, max(3, fine.min_overlap // stride))
    grid = offset + np.arange(-radius, radius + 1e-9, grid_step) * step
    found = {}
    for (name, _), fc in zip(groups, fine.frame_costs_without([j for _, j in groups], grid, static)):
        c = fine._mean(fc)
        if np.isfinite(c).any():
            found[name] = curve_minimum(grid, c, 2)
    if len(found) < 3:
        return float("inf"), found
    v = np.array(list(found.values()))
    return math.sqrt((len(v) - 1) / len(v) * float(np.sum((v - v.mean()) ** 2))), found
