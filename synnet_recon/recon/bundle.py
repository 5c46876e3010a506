"""Bundle adjustment of a few cameras and many points: Levenberg-Marquardt on the Schur complement.

Minimizes sum_i w_i rho(|pi(K_c (R_c X_p + t_c)) - x_i|) over the cameras' rotations and
translations and the points, with rho the Huber loss in pixels (iteratively reweighted) and w_i
optional per-observation weights (detector confidence). Analytic Jacobians; rotations are updated
on the left, R <- exp([d]x) R. The points' 3x3 blocks are eliminated (Schur complement), so a step
costs one dense solve of 6 x (cameras) unknowns: a few cameras and 10^4-10^5 points are cheap.
One camera is held fixed; the overall scale is free (the damping keeps the step defined).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class BundleResult:
    rotations: np.ndarray  # (V, 3, 3) world-to-camera
    translations: np.ndarray  # (V, 3)
    points: np.ndarray  # (P, 3)
    cost: float  # robust cost at the end (sum of Huber losses, px^2)
    initial_cost: float
    iterations: int


def _skew(v: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3) cross-product matrices."""
    z = np.zeros(v.shape[:-1])
    return np.stack([np.stack([z, -v[..., 2], v[..., 1]], -1), np.stack([v[..., 2], z, -v[..., 0]], -1),
                     np.stack([-v[..., 1], v[..., 0], z], -1)], -2)


def _exp(w: np.ndarray) -> np.ndarray:
    """Rodrigues: (..., 3) rotation vectors -> (..., 3, 3)."""
    theta = np.linalg.norm(w, axis=-1)[..., None, None]
    W = _skew(w)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(theta > 1e-12, np.sin(theta) / theta, 1.0)
        b = np.where(theta > 1e-12, (1.0 - np.cos(theta)) / theta**2, 0.5)
    return np.eye(3) + a * W + b * (W @ W)


def _huber(r: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    """Huber loss of residual norms r and the IRLS weights."""
    rho = np.where(r <= k, r**2, 2.0 * k * r - k**2)
    w = np.where(r <= k, 1.0, k / np.maximum(r, 1e-12))
    return rho, w


def _sum_by(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Sum the rows of ``values`` (M, ...) that share an index in [0, n): (n, ...)."""
    flat = values.reshape(len(values), -1)
    out = np.stack([np.bincount(index, flat[:, k], minlength=n) for k in range(flat.shape[1])], axis=1)
    return out.reshape((n,) + values.shape[1:])


def _inv3(A: np.ndarray) -> np.ndarray:
    """Inverses of (P, 3, 3) symmetric positive definite matrices (adjugate formula, vectorized)."""
    a, b, c = A[:, 0, 0], A[:, 0, 1], A[:, 0, 2]
    d, e, f = A[:, 1, 1], A[:, 1, 2], A[:, 2, 2]
    co = np.stack([d * f - e * e, c * e - b * f, b * e - c * d,
                   c * e - b * f, a * f - c * c, b * c - a * e,
                   b * e - c * d, b * c - a * e, a * d - b * b], axis=1).reshape(-1, 3, 3)
    det = a * co[:, 0, 0] + b * co[:, 1, 0] + c * co[:, 2, 0]
    return co / det[:, None, None]


def _linearize(R, t, X, Ks, cam, pt, target):
    """Residuals (M, 2) and Jacobians w.r.t. camera (M, 2, 6) and point (M, 2, 3)."""
    RX = np.einsum("mij,mj->mi", R[cam], X[pt])
    pc = RX + t[cam]
    z = pc[:, 2]
    K = Ks[cam]
    fx, fy = K[:, 0, 0], K[:, 1, 1]
    u = fx * pc[:, 0] / z + K[:, 0, 2]
    v = fy * pc[:, 1] / z + K[:, 1, 2]
    res = np.stack([u, v], axis=1) - target
    A = np.zeros((len(cam), 2, 3))
    A[:, 0, 0], A[:, 0, 2] = fx / z, -fx * pc[:, 0] / z**2
    A[:, 1, 1], A[:, 1, 2] = fy / z, -fy * pc[:, 1] / z**2
    Jc = np.concatenate([A @ -_skew(RX), A], axis=2)
    Jp = A @ R[cam]
    return res, Jc, Jp, z


def _cost(R, t, X, Ks, cam, pt, target, sw, k):
    pc = np.einsum("mij,mj->mi", R[cam], X[pt]) + t[cam]
    z = pc[:, 2]
    if not np.all(z > 0):
        return np.inf
    K = Ks[cam]
    u = K[:, 0, 0] * pc[:, 0] / z + K[:, 0, 2] - target[:, 0]
    v = K[:, 1, 1] * pc[:, 1] / z + K[:, 1, 2] - target[:, 1]
    rho, _ = _huber(np.hypot(u, v), k)
    return float(np.sum(sw * rho))


def bundle_adjust(rotations: np.ndarray, translations: np.ndarray, points: np.ndarray, Ks: np.ndarray,
                  cam: np.ndarray, pt: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None,
                  fixed: int = 0, huber_px: float = 2.0, max_iterations: int = 50, tol: float = 1e-7) -> BundleResult:
    """Refine V cameras and P points from M observations.

    rotations (V, 3, 3), translations (V, 3): world-to-camera; points (P, 3); Ks (V, 3, 3);
    cam, pt: (M,) camera and point of each observation; target: (M, 2) pixels; weights: (M,) or None.
    """
    R, t, X = np.array(rotations, float), np.array(translations, float), np.array(points, float)
    Ks = np.asarray(Ks, dtype=np.float64)
    V, P = len(R), len(X)
    sw = np.ones(len(cam)) if weights is None else np.asarray(weights, dtype=np.float64)
    cost = initial = _cost(R, t, X, Ks, cam, pt, target, sw, huber_px)
    lam, iterations = 1e-3, 0
    n = 6 * V
    for _ in range(max_iterations):
        iterations += 1
        res, Jc, Jp, _ = _linearize(R, t, X, Ks, cam, pt, target)
        _, w = _huber(np.linalg.norm(res, axis=1), huber_px)
        w = (w * sw)[:, None, None]
        JcT, JpT = Jc.transpose(0, 2, 1), Jp.transpose(0, 2, 1)
        Hpp = _sum_by(pt, JpT @ (w * Jp), P)
        gp = _sum_by(pt, (JpT @ (w * res[:, :, None]))[..., 0], P)
        Hcc = _sum_by(cam, JcT @ (w * Jc), V)
        gc = _sum_by(cam, (JcT @ (w * res[:, :, None]))[..., 0], V)
        B = _sum_by(pt * V + cam, JcT @ (w * Jp), P * V).reshape(P, V, 6, 3)
        Bf = B.transpose(1, 2, 0, 3).reshape(n, 3 * P)
        while True:
            Hinv = _inv3(Hpp + lam * (np.trace(Hpp, axis1=1, axis2=2)[:, None, None] / 3 + 1e-9) * np.eye(3))
            Yf = (B @ Hinv[:, None]).transpose(1, 2, 0, 3).reshape(n, 3 * P)
            S = -(Yf @ Bf.T)
            for c in range(V):
                S[6 * c:6 * c + 6, 6 * c:6 * c + 6] += Hcc[c]
            rhs = gc.reshape(-1) - Yf @ gp.reshape(-1)
            keep = np.ones(n, dtype=bool)
            keep[6 * fixed:6 * fixed + 6] = False
            Sf = S[keep][:, keep]
            Sf = Sf + lam * np.diag(np.diag(Sf) + 1e-9)
            dc = np.zeros(n)
            dc[keep] = np.linalg.solve(Sf, -rhs[keep])
            dX = -(Hinv @ (gp + (Bf.T @ dc).reshape(P, 3))[:, :, None])[..., 0]
            dc = dc.reshape(V, 6)
            R_new = _exp(dc[:, :3]) @ R
            t_new = t + dc[:, 3:]
            X_new = X + dX
            new = _cost(R_new, t_new, X_new, Ks, cam, pt, target, sw, huber_px)
            if new < cost:
                R, t, X = R_new, t_new, X_new
                done = (cost - new) < tol * cost
                cost = new
                lam = max(lam / 3.0, 1e-9)
                break
            lam *= 5.0
            if lam > 1e8:
                done = True
                break
        if done:
            break
    return BundleResult(R, t, X, cost, initial, iterations)


@dataclass
class PoseUncertainty:
    """Standard deviations of each camera's pose at a bundle-adjustment solution (Laplace
    approximation: the inverse of the Gauss-Newton Hessian with the points eliminated, times the
    residual variance). The gauge is the fixed camera and the overall scale.

    rotation_deg: (V,) largest rotation standard deviation (degrees), 0 for the fixed camera;
    direction_deg: (V,) standard deviation of the direction of the camera's translation (degrees);
    sigma_px: the residual standard deviation the covariance is scaled by.
    """

    rotation_deg: np.ndarray
    direction_deg: np.ndarray
    sigma_px: float


def pose_uncertainty(rotations: np.ndarray, translations: np.ndarray, points: np.ndarray, Ks: np.ndarray,
                     cam: np.ndarray, pt: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None,
                     fixed: int = 0, huber_px: float = 2.0) -> PoseUncertainty:
    """How well the observations pin each camera down (arguments as ``bundle_adjust``'s).

    Independent residuals are assumed, so this is a lower bound on the real uncertainty: a camera
    with a large value is not determined by the data; a small value does not prove it right.
    """
    R, t, X = np.asarray(rotations, float), np.asarray(translations, float), np.asarray(points, float)
    Ks = np.asarray(Ks, dtype=np.float64)
    V, P = len(R), len(X)
    sw = np.ones(len(cam)) if weights is None else np.asarray(weights, dtype=np.float64)
    res, Jc, Jp, _ = _linearize(R, t, X, Ks, cam, pt, target)
    e = np.linalg.norm(res, axis=1)
    w = _huber(e, huber_px)[1] * sw
    dof = max(2 * len(cam) - 6 * (V - 1) - 3 * P + 1, 1)
    sigma2 = float(np.sum(w * e**2) / dof)
    w3 = w[:, None, None]
    JcT, JpT = Jc.transpose(0, 2, 1), Jp.transpose(0, 2, 1)
    Hpp = _sum_by(pt, JpT @ (w3 * Jp), P)
    Hcc = _sum_by(cam, JcT @ (w3 * Jc), V)
    n = 6 * V
    B = _sum_by(pt * V + cam, JcT @ (w3 * Jp), P * V).reshape(P, V, 6, 3)
    Bf = B.transpose(1, 2, 0, 3).reshape(n, 3 * P)
    Hinv = _inv3(Hpp + 1e-9 * (np.trace(Hpp, axis1=1, axis2=2)[:, None, None] + 1e-12) * np.eye(3))
    S = -((B @ Hinv[:, None]).transpose(1, 2, 0, 3).reshape(n, 3 * P) @ Bf.T)
    for c in range(V):
        S[6 * c:6 * c + 6, 6 * c:6 * c + 6] += Hcc[c]
    keep = np.ones(n, dtype=bool)
    keep[6 * fixed:6 * fixed + 6] = False
    u = np.zeros((V, 6))
    # scaling the scene about the fixed camera's centre c moves each translation by R (c_v - c)
    u[:, 3:] = t + np.einsum("vij,j->vi", R, -R[fixed].T @ t[fixed])
    u = u.reshape(-1)[keep]
    Q = np.eye(int(keep.sum()))
    if np.linalg.norm(u) > 0:
        u = u / np.linalg.norm(u)
        Q -= np.outer(u, u)
    cov = np.zeros((n, n))
    cov[np.ix_(keep, keep)] = Q @ np.linalg.pinv(Q @ S[keep][:, keep] @ Q, rcond=1e-12, hermitian=True) @ Q * sigma2
    rot, direction = np.zeros(V), np.zeros(V)
    for c in range(V):
        if c == fixed:
            continue
        rot[c] = np.degrees(np.sqrt(max(np.linalg.eigvalsh(cov[6 * c:6 * c + 3, 6 * c:6 * c + 3]).max(), 0.0)))
        norm = np.linalg.norm(t[c])
        if norm > 0:
            d = t[c] / norm
            perp = np.eye(3) - np.outer(d, d)
            Ct = perp @ cov[6 * c + 3:6 * c + 6, 6 * c + 3:6 * c + 6] @ perp
            direction[c] = np.degrees(np.sqrt(max(np.linalg.eigvalsh(Ct).max(), 0.0)) / norm)
    return PoseUncertainty(rot, direction, float(np.sqrt(sigma2)))
