"""ICP held by the person's joints, for views that share little background (wide baselines).

Point-to-plane ICP on the static background alone slides where the two views share little: at
wide baselines most of a view's background has no counterpart in the other, and nearest
neighbours within two registration voxels pull the pose 20-120 cm off, even from the true pose.
Here the background (point-to-plane, Tukey loss, only the points that land inside the reference
camera's image) and the lifted joints (point-to-point, Huber loss) are solved together by
Gauss-Newton, coarse to fine (the correspondence distance shrinks), so the directions the shared
background does not pin are held by the joints.

Started from the joints' Kabsch pose turned about the person's vertical axis by a few angles (the
joints pin that turn worst: the body is thin about it), the result that agrees best with what
both cameras measured (``verify.agreement_states`` at a fine tolerance) is kept.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bundle import _skew


@dataclass
class JointICPConfig:
    """The joint + background solve (metres)."""

    schedule: tuple[float, ...] = (0.2, 0.12, 0.08, 0.05)   # correspondence distances, coarse to fine
    iterations: int = 8                  # Gauss-Newton steps per distance (fewer when converged)
    background_sigma: float = 0.02       # point-to-plane noise of a background correspondence
    joint_sigma: float = 0.025           # noise of a lifted joint (each counts as (0.02 / 0.025)^2 ~ 0.64
    #                                      correspondences; at 0.05 ICP still slid 2 deg on the open floor)
    joint_huber: float = 0.1             # joints farther than this are down-weighted (Huber)
    turns_deg: tuple[float, ...] = (0.0, -2.0, 2.0, -4.0, 4.0, -6.0, 6.0)  # starts about the person's vertical
    score_points: int = 3000             # background points per view for the agreement score
    score_tolerance: float = 0.03        # agreement: |z - d| < this + 1 % of d
    free_penalty: float = 2.0            # a point in the free space in front of a surface costs this many seen
    distinct_deg: float = 1.0            # results of two starts farther apart than this are different poses


def rotation(vector: np.ndarray) -> np.ndarray:
    """(3, 3) rotation of a rotation vector (3,) (Rodrigues)."""
    a = float(np.linalg.norm(vector))
    if a < 1e-12:
        return np.eye(3) + _skew(vector)
    K = _skew(vector / a)
    return np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K


def turn_about(axis: np.ndarray, centre: np.ndarray, deg: float) -> np.ndarray:
    """(4, 4) rotation by ``deg`` about the line through ``centre`` along unit ``axis`` (Rodrigues
    about the axis as given; the one helper for turns about the person: ``verify.turn_pinned`` too)."""
    a = np.radians(deg)
    K = _skew(np.asarray(axis, dtype=np.float64))
    T = np.eye(4)
    T[:3, :3] = np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K
    T[:3, 3] = centre - T[:3, :3] @ centre
    return T


def in_image(points: np.ndarray, K: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(N,) bool: points (N, 3) in front of a camera (K (3, 3), image (H, W)) that project inside it."""
    z = points[:, 2]
    front = z > 0.05
    zs = np.where(front, z, 1.0)
    u, v = K[0, 0] * points[:, 0] / zs + K[0, 2], K[1, 1] * points[:, 1] / zs + K[1, 2]
    return front & (u >= 0) & (u < shape[1]) & (v >= 0) & (v < shape[0])


def joint_icp(source: np.ndarray, target: np.ndarray, target_normals: np.ndarray, source_joints: np.ndarray,
              target_joints: np.ndarray, init: np.ndarray, target_camera: tuple[np.ndarray, tuple[int, int]],
              config: JointICPConfig, tree=None) -> np.ndarray:
    """(4, 4) source -> target from ``init``: Gauss-Newton on background point-to-plane residuals
    (source points (N, 3) to their nearest target points (M, 3) with normals (M, 3), within the
    schedule's distance, only where they land in the target camera's image: K, (H, W)) and joint
    residuals (18, 3 each, NaN = unknown; joints known in both only)."""
    from scipy.spatial import cKDTree

    tree = tree if tree is not None else cKDTree(target)
    both = np.isfinite(source_joints).all(1) & np.isfinite(target_joints).all(1)
    S, J = source_joints[both], target_joints[both]
    T = np.asarray(init, dtype=np.float64).copy()
    wb0, wj0 = 1.0 / config.background_sigma ** 2, 1.0 / config.joint_sigma ** 2
    for d in config.schedule:
        for _ in range(config.iterations):
            R, t = T[:3, :3], T[:3, 3]
            p = source @ R.T + t
            p = p[in_image(p, *target_camera)]
            dist, idx = tree.query(p, distance_upper_bound=d)
            m = np.isfinite(dist)
            p, q, n = p[m], target[idx[m]], target_normals[idx[m]]
            r = np.einsum("ij,ij->i", p - q, n)
            w = np.where(np.abs(r) < d, (1 - (r / d) ** 2) ** 2, 0.0) * wb0          # Tukey
            A = np.hstack([np.cross(p, n), n])
            H, g = (A * w[:, None]).T @ A, (A * w[:, None]).T @ r
            if len(S):
                s = S @ R.T + t
                e = s - J
                norm = np.linalg.norm(e, axis=1)
                wj = np.where(norm < config.joint_huber, 1.0, config.joint_huber / np.maximum(norm, 1e-9)) * wj0
                for sk, ek, wk in zip(s, e, wj):
                    Ak = np.hstack([-_skew(sk), np.eye(3)])
                    H += wk * Ak.T @ Ak
                    g += wk * Ak.T @ ek
            try:
                x = -np.linalg.solve(H + 1e-9 * np.eye(6), g)
            except np.linalg.LinAlgError:
                break
            dR = rotation(x[:3])
            step = np.eye(4)
            step[:3, :3], step[:3, 3] = dR, x[3:]
            T = step @ T
            if np.linalg.norm(x[:3]) < 1e-6 and np.linalg.norm(x[3:]) < 1e-5:
                break
    return T


def sample(points: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """At most n of points (N, 3), drawn without replacement (deterministic)."""
    if len(points) <= n:
        return points
    return points[np.sort(np.random.default_rng(seed).choice(len(points), n, replace=False))]
