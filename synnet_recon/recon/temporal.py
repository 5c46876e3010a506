"""The person's joints refined over time: one robust least-squares fit of the whole sequence.

Per-instant triangulation (``recon.triangulate``) treats every instant alone; with two views each
joint rests on two rays and every 2D error goes straight into the point. A body moves smoothly and
keeps its bone lengths, so ``refine_over_time`` fits all instants of every joint at once to
(every residual in units of its own standard deviation, robust Huber loss over all of them):

- **the 2D joints** of every view the triangulation kept for that joint (its inliers), weighted by
  the detector's confidence; sigma ``pixel_sigma`` (default: from the triangulation's own median
  reprojection error);
- **smooth motion**: the second difference of every joint over consecutive instants (spacing from
  their times), sigma ``acceleration`` m/s^2 times the instants' spacing squared;
- **constant bones** (neck-shoulder-elbow-wrist, neck-hip-knee-ankle, both sides): each bone's
  length at every instant against its median over the sequence, sigma ``bone_sigma`` metres.

Solved by ``scipy.optimize.least_squares`` (trust region, sparse finite-difference Jacobian), in
overlapping windows of ``window`` instants for long sequences. Joints known at no instant stay
unknown; joints unknown at some instants are not invented.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton import LIMBS

# bones held to their median length: upper arms, forearms, thighs, shins, shoulders and hips off the neck
BONES = LIMBS[:12]  # the body without the head


@dataclass
class TemporalConf:
    acceleration: float = 30.0     # m/s^2: sigma of a joint's acceleration between instants
    bone_sigma: float = 0.02       # m: sigma of a bone's length about its median over the sequence
    pixel_sigma: float | None = None  # px; None: 1.25 x the triangulation's median reprojection error
    huber: float = 2.0             # sigmas: where the loss turns linear
    window: int = 120              # instants solved at once (overlapping by ``overlap``)
    overlap: int = 10
    max_gap_s: float = 0.25        # instants further apart than this are not tied by the motion term
    max_nfev: int = 30


def _residuals(x, P, obs_var, obs_cam, obs_uv, w_obs, triples, acc_w, bones, bone_len, bone_w):
    X = x.reshape(-1, 3)
    Pm = P[obs_cam]
    p = np.einsum("mij,mj->mi", Pm[:, :, :3], X[obs_var]) + Pm[:, :, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = p[:, :2] / p[:, 2:3]
    r_obs = np.nan_to_num((uv - obs_uv) * w_obs[:, None], nan=1e3, posinf=1e3, neginf=-1e3).ravel()
    r_acc = (X[triples[:, 0]] * acc_w[:, 0:1] + X[triples[:, 1]] * acc_w[:, 1:2]
             + X[triples[:, 2]] * acc_w[:, 2:3]).ravel()
    r_bone = (np.linalg.norm(X[bones[:, 0]] - X[bones[:, 1]], axis=1) - bone_len) * bone_w
    return np.concatenate([r_obs, r_acc, r_bone])


def _problem(points, times, V: int, xy, conf, inliers, config: TemporalConf, sigma_px: float) -> dict:
    """Variables (the known joints), observations, motion triples and bones of one window."""
    T = points.shape[0]
    known = np.isfinite(points).all(axis=-1)  # (T, J)
    var = -np.ones(known.shape, dtype=int)
    var[known] = np.arange(int(known.sum()))
    use = inliers & known[:, None, :] & np.isfinite(xy).all(axis=-1)
    t, v, j = np.nonzero(use)
    triples, weights = [], []
    for k in range(1, T - 1):
        d0, d1 = times[k] - times[k - 1], times[k + 1] - times[k]
        if not (0 < d0 <= config.max_gap_s and 0 < d1 <= config.max_gap_s):
            continue
        # acceleration at k from uneven spacing: 2 / (d0 + d1) * ((X2 - X1) / d1 - (X1 - X0) / d0)
        coef = np.array([2 / ((d0 + d1) * d0), -2 / (d0 * d1), 2 / ((d0 + d1) * d1)]) / config.acceleration
        for jj in np.nonzero(known[k - 1] & known[k] & known[k + 1])[0]:
            triples.append((var[k - 1, jj], var[k, jj], var[k + 1, jj]))
            weights.append(coef)
    bones, lengths = [], []
    for a, b in BONES:
        both = known[:, a] & known[:, b]
        if both.sum() < 3:
            continue
        L = float(np.median(np.linalg.norm(points[both, a] - points[both, b], axis=1)))
        for k in np.nonzero(both)[0]:
            bones.append((var[k, a], var[k, b]))
            lengths.append(L)
    return {"known": known, "obs_var": var[t, j], "obs_cam": t * V + v, "obs_uv": xy[t, v, j],
            "w_obs": np.sqrt(np.maximum(conf[t, v, j], 1e-3)) / sigma_px,
            "triples": np.array(triples, dtype=int).reshape(-1, 3), "acc_w": np.array(weights).reshape(-1, 3),
            "bones": np.array(bones, dtype=int).reshape(-1, 2), "bone_len": np.array(lengths)}


def _sparsity(n_var: int, obs_var, triples, bones):
    """Which residuals depend on which variables (COO -> CSR)."""
    from scipy.sparse import coo_matrix

    rows, cols = [], []
    m = len(obs_var)
    r = np.arange(2 * m).reshape(m, 2)
    for axis in range(3):  # each 2D residual on the 3 coordinates of its point
        rows += [r.ravel()]
        cols += [np.repeat(3 * obs_var + axis, 2)]
    base = 2 * m
    ra = base + np.arange(3 * len(triples)).reshape(-1, 3)
    for k in range(3):
        for axis in range(3):
            rows += [ra[:, axis]]
            cols += [3 * triples[:, k] + axis]
    base += 3 * len(triples)
    rb = base + np.arange(len(bones))
    for k in range(2):
        for axis in range(3):
            rows += [rb]
            cols += [3 * bones[:, k] + axis]
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    S = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(base + len(bones), 3 * n_var))
    return S.tocsr()


def _solve_window(points, times, P, xy, conf, inliers, config: TemporalConf, sigma_px: float) -> np.ndarray:
    from scipy.optimize import least_squares

    V = P.shape[1]
    pr = _problem(points, times, V, xy, conf, inliers, config, sigma_px)
    known = pr["known"]
    n = int(known.sum())
    if n == 0 or not len(pr["obs_var"]):
        return points
    args = (P.reshape(-1, 3, 4), pr["obs_var"], pr["obs_cam"], pr["obs_uv"], pr["w_obs"], pr["triples"],
            pr["acc_w"], pr["bones"], pr["bone_len"], 1.0 / config.bone_sigma)
    S = _sparsity(n, pr["obs_var"], pr["triples"], pr["bones"])
    res = least_squares(_residuals, points[known].ravel(), jac_sparsity=S, loss="huber", f_scale=config.huber,
                        method="trf", x_scale="jac", max_nfev=config.max_nfev, args=args)
    out = points.copy()
    out[known] = res.x.reshape(-1, 3)
    return out


def refine_over_time(projections: np.ndarray, xy: np.ndarray, confidence: np.ndarray, points: np.ndarray,
                     inliers: np.ndarray, times: np.ndarray, reprojection_px: np.ndarray | None = None,
                     config: TemporalConf | None = None) -> np.ndarray:
    """Refined joints (T, J, 3) (module doc). projections: (T, V, 3, 4) (or (V, 3, 4) static);
    xy: (T, V, J, 2) undistorted pixels; confidence (T, V, J); points (T, J, 3) per-instant
    triangulation (NaN where unknown); inliers (T, V, J) the views each point was made from;
    times (T,) seconds; reprojection_px (T, J) its errors (for the default pixel sigma)."""
    config = config or TemporalConf()
    points = np.asarray(points, dtype=np.float64)
    T = len(points)
    P = np.asarray(projections, dtype=np.float64)
    if P.ndim == 3:
        P = np.broadcast_to(P, (T,) + P.shape)
    sigma = config.pixel_sigma
    if sigma is None:
        err = np.asarray(reprojection_px, dtype=np.float64) if reprojection_px is not None else np.array([np.nan])
        med = float(np.nanmedian(err)) if np.isfinite(err).any() else 2.0
        sigma = max(1.25 * med, 0.5)
    out = points.copy()
    step = max(config.window - config.overlap, 1)
    for start in range(0, T, step):
        end = min(T, start + config.window)
        solved = _solve_window(points[start:end], np.asarray(times[start:end], float), P[start:end],
                               xy[start:end], confidence[start:end], inliers[start:end], config, sigma)
        keep_from = 0 if start == 0 else config.overlap // 2
        out[start + keep_from:end] = solved[keep_from:]
        if end == T:
            break
    return out


def refine_triangulations(results: list, projections: np.ndarray, xy: np.ndarray, confidence: np.ndarray,
                          times: np.ndarray, config: TemporalConf | None = None) -> list:
    """``refine_over_time`` on the output of ``triangulate.triangulate_sequence`` (a list of
    ``Triangulation``, one per instant): the same views and confidences, the refined points and
    their reprojection errors over those views."""
    from dataclasses import replace

    from .triangulate import reproject

    if not results:
        return results
    T = len(results)
    P = np.asarray(projections, dtype=np.float64)
    if P.ndim == 3:
        P = np.broadcast_to(P, (T,) + P.shape)
    points = np.stack([r.points for r in results])
    inliers = np.stack([r.inliers for r in results])
    refined = refine_over_time(P, xy, confidence, points, inliers, times,
                               np.stack([r.reprojection_px for r in results]), config)
    out = []
    for t, r in enumerate(results):
        proj, _ = reproject(P[t], refined[t])
        err = np.linalg.norm(proj - xy[t], axis=-1)
        n = r.inliers.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(r.inliers, np.nan_to_num(err, nan=0.0), 0.0).sum(axis=0) / n
        known = np.isfinite(refined[t]).all(axis=1)
        out.append(replace(r, points=refined[t], reprojection_px=np.where(known, mean, np.nan)))
    return out
