"""Robust multi-view triangulation of 2D joints.

Per joint: every pair of views that detected it proposes a point (DLT); the pair whose point the
other views agree with best wins (MSAC over views: each view costs min(error², threshold²)). The
views within ``max_reprojection_px`` of that point are the joint's inliers; the rest are rejected
for that joint (a left/right swap, a bystander's wrist, a misdetection). A confidence-weighted DLT
over the inliers, then a robust nonlinear refinement of every joint (Gauss-Newton on the pixel
residuals with a Huber loss, iteratively reweighted, analytic Jacobian, vectorized over joints)
give the point.

Points come out in the frame the projection matrices map from (``P = K [R | t]`` maps that frame to
pixels). Pixels are assumed undistorted; ``undistort_pixels`` removes OpenCV lens distortion first.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np


@dataclass
class TriangulateConf:
    min_confidence: float = 0.2  # 2D joints less confident than this are not used
    max_reprojection_px: float = 15.0  # a view is an inlier of a joint when the point reprojects this close
    min_views: int = 2  # joints seen by fewer inlier views stay unknown
    refine: bool = True  # nonlinear refinement after the DLT
    huber_px: float = 3.0  # scale of the Huber loss of the refinement (pixels)
    max_passes: int = 2  # refinement passes (the inliers are re-chosen after each)


@dataclass
class Triangulation:
    """Result for N points seen by V views.

    points: (N, 3) float64, NaN where unknown. confidence: (N,) in [0, 1], 0 where unknown.
    reprojection_px: (N,) mean reprojection error over the inlier views, NaN where unknown.
    inliers: (V, N) bool, the views each point was made from.
    """

    points: np.ndarray
    confidence: np.ndarray
    reprojection_px: np.ndarray
    inliers: np.ndarray

    @property
    def num_views(self) -> np.ndarray:
        """(N,) number of views each point was made from."""
        return self.inliers.sum(axis=0)


def projection_matrix(K: np.ndarray, world_to_camera: np.ndarray) -> np.ndarray:
    """(3, 4) ``K [R | t]`` from a (3, 3) K and a (4, 4) or (3, 4) world-to-camera transform."""
    return np.asarray(K, dtype=np.float64) @ np.asarray(world_to_camera, dtype=np.float64)[:3, :4]


def undistort_pixels(xy: np.ndarray, K: np.ndarray, dist) -> np.ndarray:
    """Remove OpenCV lens distortion (k1, k2, p1, p2[, k3...]) from pixels. (..., 2) -> (..., 2), NaN kept."""
    import cv2

    xy = np.asarray(xy, dtype=np.float64)
    if dist is None or not np.any(np.asarray(dist)):
        return xy.copy()
    flat = xy.reshape(-1, 1, 2)
    ok = np.isfinite(flat).all(axis=-1)[:, 0]
    out = np.full_like(flat, np.nan)
    if ok.any():
        K = np.asarray(K, dtype=np.float64)
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
        out[ok] = cv2.undistortPointsIter(flat[ok], K, np.asarray(dist, dtype=np.float64), None, K, criteria)
    return out.reshape(xy.shape)


def reproject(projections: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """projections (V, 3, 4), points (N, 3) -> pixels (V, N, 2) and projective depth (V, N).

    The depth is the camera z when P = K [R | t] with K[2] = (0, 0, 1); pixels are NaN where <= 0.
    """
    h = np.concatenate([points, np.ones(points.shape[:-1] + (1,))], axis=-1)
    p = np.einsum("vij,nj->vni", projections, h)
    depth = p[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = p[..., :2] / depth[..., None]
    xy[depth <= 1e-9] = np.nan
    return xy, depth


def dlt(projections: np.ndarray, xy: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted linear triangulation, vectorized over points.

    projections (V, 3, 4); xy (V, N, 2); weights (V, N), 0 for views to leave out.
    Each view's two equations are scaled to unit norm before weighting (better conditioned than
    raw pixels). Returns (N, 3); NaN where fewer than two views have weight.
    """
    xy = np.nan_to_num(np.asarray(xy, dtype=np.float64))
    w = np.where(np.isfinite(weights), weights, 0.0)
    rows_x = xy[..., 0:1] * projections[:, None, 2, :] - projections[:, None, 0, :]  # (V, N, 4)
    rows_y = xy[..., 1:2] * projections[:, None, 2, :] - projections[:, None, 1, :]
    rows = np.concatenate([rows_x, rows_y], axis=0)  # (2V, N, 4)
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    rows = rows / np.where(norms > 0, norms, 1.0) * np.concatenate([w, w], axis=0)[..., None]
    A = np.transpose(rows, (1, 0, 2))  # (N, 2V, 4)
    _, _, vt = np.linalg.svd(A)
    X = vt[:, -1, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        points = X[:, :3] / X[:, 3:4]
    points[((w > 0).sum(axis=0) < 2) | (np.abs(X[:, 3]) < 1e-12)] = np.nan
    return points


def _errors(projections, points, xy) -> np.ndarray:
    """(V, N) pixel distance of the reprojected points to xy; inf behind a camera or where unknown."""
    proj, depth = reproject(projections, points)
    err = np.linalg.norm(proj - xy, axis=-1)
    return np.where(np.isfinite(err) & (depth > 0), err, np.inf)


def _best_pairs(projections, xy, valid, threshold: float) -> np.ndarray:
    """(V, N) inliers of the best two-view hypothesis of every point (MSAC over all pairs of views)."""
    V, N = valid.shape
    best_cost = np.full(N, np.inf)
    best_inliers = np.zeros((V, N), dtype=bool)
    for a, b in combinations(range(V), 2):
        both = valid[a] & valid[b]
        if not both.any():
            continue
        w = np.zeros((V, N))
        w[[a, b]] = both
        points = dlt(projections, xy, w)
        err = _errors(projections, points, xy)
        pair_ok = both & np.isfinite(err[a]) & np.isfinite(err[b]) & (err[a] < threshold) & (err[b] < threshold)
        cost = np.where(valid, np.minimum(err, threshold) ** 2, 0.0).sum(axis=0)
        better = pair_ok & (cost < best_cost)
        best_cost[better] = cost[better]
        best_inliers[:, better] = valid[:, better] & (err[:, better] < threshold)
    return best_inliers


def _refine(projections, xy, weights, points, huber_px: float, iterations: int = 10) -> np.ndarray:
    """Huber-robust Gauss-Newton on every point's reprojection errors over its weighted views
    (iteratively reweighted; a step that raises a point's cost is halved, up to 4 times)."""
    from .bundle import _inv3

    todo = np.isfinite(points).all(axis=1) & ((weights > 0).sum(axis=0) >= 2)
    if not todo.any():
        return points
    idx = np.nonzero(todo)[0]
    vv, nn = np.nonzero(weights[:, idx] > 0)  # observation (view, point position in idx)
    w0 = weights[vv, idx[nn]]
    target = xy[vv, idx[nn]]
    P = projections[vv]  # (M, 3, 4)
    n = len(idx)

    def residual(X):
        p = np.einsum("mij,mj->mi", P[:, :, :3], X[nn]) + P[:, :, 3]
        return p, p[:, :2] / p[:, 2:3] - target

    def cost(X):
        p, r = residual(X)
        e = np.linalg.norm(r, axis=1)
        rho = np.where(e <= huber_px, e**2, 2 * huber_px * e - huber_px**2) * w0
        rho = np.where(p[:, 2] > 0, rho, np.inf)
        return np.bincount(nn, rho, minlength=n)

    X = points[idx].copy()
    c = cost(X)
    for _ in range(iterations):
        p, r = residual(X)
        e = np.linalg.norm(r, axis=1)
        w = w0 * np.where(e <= huber_px, 1.0, huber_px / np.maximum(e, 1e-12))
        uv = p[:, :2] / p[:, 2:3]
        J = (P[:, :2, :3] - uv[:, :, None] * P[:, None, 2, :3]) / p[:, 2, None, None]  # (M, 2, 3)
        JtJ = np.einsum("mki,m,mkj->mij", J, w, J).reshape(-1, 9)
        Jtr = np.einsum("mki,m,mk->mi", J, w, r)
        H = np.stack([np.bincount(nn, JtJ[:, k], minlength=n) for k in range(9)], axis=1).reshape(n, 3, 3)
        g = np.stack([np.bincount(nn, Jtr[:, k], minlength=n) for k in range(3)], axis=1)
        step = -np.einsum("nij,nj->ni", _inv3(H + 1e-9 * np.eye(3)), g)
        step[~np.isfinite(step).all(axis=1)] = 0.0
        scale = np.ones(n)
        for _ in range(5):
            new = cost(X + scale[:, None] * step)
            worse = ~(new <= c)
            if not worse.any():
                break
            scale[worse] *= 0.5
        scale[worse] = 0.0
        X = X + scale[:, None] * step
        c = np.minimum(c, new)
        if np.abs(scale[:, None] * step).max() < 1e-7:
            break
    out = points.copy()
    out[idx] = X
    return out


def triangulate(projections: np.ndarray, xy: np.ndarray, confidence: np.ndarray,
                conf: TriangulateConf | None = None) -> Triangulation:
    """Robustly triangulate N points seen by V views.

    projections: (V, 3, 4) ``K [R | t]`` of every view; xy: (V, N, 2) undistorted pixels, NaN where
    not detected; confidence: (V, N) detector confidence in [0, 1].
    A point's confidence is the mean 2D confidence of its inlier views, times
    exp(-(error / max_reprojection_px)²), times 1/2 when only two views made it (two views cannot
    outvote each other's mistakes).
    """
    conf = conf or TriangulateConf()
    projections = np.asarray(projections, dtype=np.float64)
    xy = np.asarray(xy, dtype=np.float64)
    c2d = np.nan_to_num(np.asarray(confidence, dtype=np.float64))
    V, N = xy.shape[:2]
    valid = np.isfinite(xy).all(axis=-1) & (c2d >= conf.min_confidence)
    thr = float(conf.max_reprojection_px)
    inliers = _best_pairs(projections, xy, valid, thr)
    points = dlt(projections, xy, np.where(inliers, c2d, 0.0))
    for _ in range(conf.max_passes if conf.refine else 0):
        enough = inliers.sum(axis=0) >= max(conf.min_views, 2)
        points[~enough] = np.nan
        points = _refine(projections, xy, np.where(inliers & enough, c2d, 0.0), points, conf.huber_px)
        new = valid & (_errors(projections, points, xy) < thr)
        new[:, new.sum(axis=0) < 2] = inliers[:, new.sum(axis=0) < 2]  # keep a set that still triangulates
        if np.array_equal(new, inliers):
            break
        inliers = new
    err = _errors(projections, points, xy)
    n = inliers.sum(axis=0)
    known = np.isfinite(points).all(axis=1) & (n >= max(conf.min_views, 2))
    inliers &= known
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_err = np.where(inliers, err, 0.0).sum(axis=0) / n
        mean_c = np.where(inliers, c2d, 0.0).sum(axis=0) / n
    score = mean_c * np.exp(-(mean_err / thr) ** 2) * np.where(n >= 3, 1.0, 0.5)
    points[~known] = np.nan
    return Triangulation(points=points, confidence=np.where(known, np.clip(score, 0.0, 1.0), 0.0),
                         reprojection_px=np.where(known, mean_err, np.nan), inliers=inliers)


def triangulate_sequence(projections: np.ndarray, xy: np.ndarray, confidence: np.ndarray,
                         conf: TriangulateConf | None = None, progress: bool = False) -> list[Triangulation]:
    """``triangulate`` at T instants. projections: (V, 3, 4) for static cameras or (T, V, 3, 4);
    xy: (T, V, N, 2); confidence: (T, V, N)."""
    from tqdm import tqdm

    projections = np.asarray(projections, dtype=np.float64)
    T = len(xy)
    if projections.ndim == 3:
        projections = np.broadcast_to(projections, (T,) + projections.shape)
    return [triangulate(projections[t], xy[t], confidence[t], conf)
            for t in tqdm(range(T), desc="triangulate", unit="instant", disable=not progress)]
