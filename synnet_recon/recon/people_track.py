"""A moving camera the scene cannot pose, posed from the people over time.

Where the background of one video does not connect to the others' (it films the far side of the
room), the other cameras, posed by the scene at an instant, triangulate the main person there; the
missing camera's pose at that instant is then a PnP of its 2D joints on those 3D joints. One instant's
joints pin the pose down poorly: the person is a small object, and turning the camera while sliding
it sideways moves the joints in its image almost alike (measured 3-9 degrees off per instant). A
hand-held camera's centre moves smoothly between instants a fraction of a second apart (the
operator walks; the shake is mostly in the aim), so every instant is refined together:

1. ``initial_poses``: a robust PnP (SQPNP inside RANSAC, then Levenberg-Marquardt on the inliers)
   per instant with enough joints; instants without one start from their neighbours' poses.
2. ``refine_track``: one least-squares fit over every instant's rotation and centre, of the joints'
   reprojection errors (pixels, Huber-weighted by iterative reweighting, times the detector's
   confidence) and of a prior that the camera moves smoothly: the change of its velocity between
   consecutive instants, in units of ``centre_sigma`` (a fraction of the camera's distance to the
   person, so the prior holds in any unit), and of its angular velocity, in ``rotation_sigma_deg``.
3. Verified per instant: the joints must reproject within ``max_px`` (per 1000 px of image width),
   at least ``min_inliers`` of them within ``inlier_px``; the rotation's standard deviation
   (Laplace: the fit's Gauss-Newton covariance times the residual variance) must stay under
   ``max_rotation_std_deg``; and the pose must move by less than ``max_spread_deg`` when each joint
   group is left out of the fit in turn (a joint the detector places off the body's joint centre
   biases every instant alike, which the Laplace spread cannot show). An instant that fails is not
   posed, with the reason.

Poses are world_to_camera (T, 4, 4) in the world of the triangulated joints (OpenCV axes).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..synth.camera import camera_centers
from .people_calib import JOINT_GROUPS  # the joint groups left out one at a time for the spread


@dataclass
class PeopleTrackConf:
    min_confidence: float = 0.2   # 2D joints below this are not used
    min_joints: int = 8           # an instant needs this many joints seen by it and triangulated
    pnp_px: float = 8.0           # RANSAC threshold of the per-instant PnP, per 1000 px of width
    huber_px: float = 2.0         # Huber scale of the reprojection residuals, per 1000 px of width
    reweight_rounds: int = 2
    # the smooth-motion prior: the change of velocity between consecutive instants, per instant
    # step, for the centre as a fraction of the camera's distance to the person, for the rotation in
    # degrees. The demo's hand-held operator walks at up to 1.2 m/s with 1-5 cm head-bob and aims with
    # 1-3 degrees of shake (``synth.camera.CameraPathConfig``): at 3-4 m, about 1-2 % and 2-3 degrees.
    centre_sigma: float = 0.015
    rotation_sigma_deg: float = 3.0
    max_px: float = 12.0          # median reprojection error allowed, per 1000 px of width
    inlier_px: float = 16.0       # a joint within this (per 1000 px) counts as an inlier
    min_inliers: int = 8
    max_rotation_std_deg: float = 0.25  # the errors were 1-6x this std on the demo (MediaPipe), 1-2x with noise alone
    max_spread_deg: float = 0.5   # RMS rotation change when a joint group is left out
    leave_group_out: bool = True


@dataclass
class PeopleTrack:
    """poses (T, 4, 4) NaN where not posed; ok (T,); reason (T,) why an instant is not posed;
    rotation_std_deg / spread_deg / median_px (T,) NaN where unknown."""

    poses: np.ndarray
    ok: np.ndarray
    reason: list[str]
    rotation_std_deg: np.ndarray
    spread_deg: np.ndarray
    median_px: np.ndarray


def _usable(xy: np.ndarray, c: np.ndarray, joints: np.ndarray, conf: PeopleTrackConf) -> np.ndarray:
    """(T, J) joints seen by the camera and triangulated by the others."""
    return (np.nan_to_num(c) >= conf.min_confidence) & np.isfinite(xy).all(axis=-1) & np.isfinite(joints).all(axis=-1)


def _pose(R: np.ndarray, centre: np.ndarray) -> np.ndarray:
    W = np.eye(4)
    W[:3, :3], W[:3, 3] = R, -R @ centre
    return W


def initial_poses(xy: np.ndarray, c: np.ndarray, joints: np.ndarray, K: np.ndarray, width: int,
                  conf: PeopleTrackConf | None = None) -> np.ndarray:
    """(T, 4, 4) a robust PnP per instant of the 2D joints xy (T, J, 2) on joints (T, J, 3); NaN where
    too few joints or no consensus."""
    import cv2

    conf = conf or PeopleTrackConf()
    T = len(xy)
    out = np.full((T, 4, 4), np.nan)
    use = _usable(xy, c, joints, conf)
    thr = conf.pnp_px * width / 1000.0
    for t in range(T):
        if use[t].sum() < conf.min_joints:
            continue
        X, x = joints[t][use[t]].astype(np.float64), xy[t][use[t]].astype(np.float64)
        good, rvec, tvec, inl = cv2.solvePnPRansac(X, x, K, None, reprojectionError=thr, iterationsCount=500,
                                                   confidence=0.999, flags=cv2.SOLVEPNP_SQPNP)
        if not good or inl is None or len(inl) < conf.min_joints:
            continue
        rvec, tvec = cv2.solvePnPRefineLM(X[inl.ravel()], x[inl.ravel()], K, None, rvec, tvec)
        out[t, :3, :3], out[t, :3, 3], out[t, 3] = cv2.Rodrigues(rvec)[0], tvec.ravel(), (0, 0, 0, 1)
    return out


def _fill(poses: np.ndarray) -> np.ndarray:
    """Instants without a pose start from the nearest posed one."""
    have = np.nonzero(np.isfinite(poses).all(axis=(1, 2)))[0]
    out = poses.copy()
    for t in range(len(poses)):
        if t not in have:
            out[t] = poses[have[np.argmin(np.abs(have - t))]]
    return out


class _Problem:
    """The least-squares problem over T instants: parameters (T, 6) = rotation vector applied on the
    left of the initial rotation, camera centre."""

    def __init__(self, xy, c, joints, K, times, R0, use, scale, conf: PeopleTrackConf, width: int):
        self.K, self.R0, self.times, self.conf = K, R0, np.asarray(times, float), conf
        self.t_idx, self.j_idx = np.nonzero(use)
        self.X = joints[use]
        self.x = xy[use]
        self.w = np.sqrt(np.clip(c[use], 0.0, 1.0))
        self.T = len(R0)
        self.huber = conf.huber_px * width / 1000.0
        self.robust = np.ones(len(self.X))
        dt = np.diff(self.times)
        self.step = float(np.median(dt)) if len(dt) else 1.0
        self.dt = np.where(dt > 1e-9, dt, self.step)
        self.centre_sigma = conf.centre_sigma * scale
        self.rot_sigma = np.radians(conf.rotation_sigma_deg)

    def rotations(self, p: np.ndarray) -> np.ndarray:
        from scipy.spatial.transform import Rotation

        return Rotation.from_rotvec(p[:, :3]).as_matrix() @ self.R0

    def pixels(self, p: np.ndarray) -> np.ndarray:
        R = self.rotations(p)
        cam = np.einsum("nij,nj->ni", R[self.t_idx], self.X - p[self.t_idx, 3:])
        z = np.where(cam[:, 2] > 1e-9, cam[:, 2], 1e-9)
        return np.stack([self.K[0, 0] * cam[:, 0] / z + self.K[0, 2], self.K[1, 1] * cam[:, 1] / z + self.K[1, 2]], 1)

    def prior(self, p: np.ndarray) -> np.ndarray:
        from scipy.spatial.transform import Rotation

        if self.T < 3:
            return np.zeros(0)
        R = self.rotations(p)
        omega = Rotation.from_matrix(R[1:] @ R[:-1].transpose(0, 2, 1)).as_rotvec() / self.dt[:, None]
        vel = np.diff(p[:, 3:], axis=0) / self.dt[:, None]
        return np.concatenate([(np.diff(vel, axis=0) * self.step / self.centre_sigma).ravel(),
                               (np.diff(omega, axis=0) * self.step / self.rot_sigma).ravel()])

    def residuals(self, flat: np.ndarray) -> np.ndarray:
        p = flat.reshape(self.T, 6)
        r = (self.pixels(p) - self.x) * (self.w * self.robust)[:, None]
        return np.concatenate([r.ravel(), self.prior(p)])

    def sparsity(self, active: np.ndarray | None = None):
        from scipy.sparse import lil_matrix

        n_px = 2 * len(self.X)
        n_prior = 0 if self.T < 3 else 6 * (self.T - 2)
        S = lil_matrix((n_px + n_prior, 6 * self.T), dtype=np.int8)
        for i, t in enumerate(self.t_idx):
            S[2 * i:2 * i + 2, 6 * t:6 * t + 6] = 1
        for k in range(self.T - 2):  # centre rows then rotation rows, 3 each per interior instant
            for d in range(3):
                S[n_px + 3 * k + d, 6 * k + 3 + d:6 * k + 18:6] = 1
                S[n_px + 3 * (self.T - 2) + 3 * k + d, 6 * k:6 * k + 18] = 1
        return S

    def reweight(self, flat: np.ndarray) -> None:
        e = np.linalg.norm(self.pixels(flat.reshape(self.T, 6)) - self.x, axis=1)
        self.robust = np.sqrt(np.where(e <= self.huber, 1.0, self.huber / np.maximum(e, 1e-12)))


def _solve(problem: _Problem, start: np.ndarray, rounds: int, max_nfev: int = 100):
    from scipy.optimize import least_squares

    flat = start.ravel().copy()
    sparsity = problem.sparsity()
    fit = None
    for _ in range(max(rounds, 1)):
        problem.reweight(flat)
        fit = least_squares(problem.residuals, flat, jac_sparsity=sparsity, method="trf", x_scale="jac",
                            max_nfev=max_nfev, ftol=1e-6, xtol=1e-6)
        flat = fit.x
    return flat.reshape(problem.T, 6), fit


def _rotation_std(problem: _Problem, fit) -> np.ndarray:
    """(T,) largest standard deviation of each instant's rotation (degrees), Laplace approximation
    with the pixel residuals' variance."""
    J = fit.jac
    n_px = 2 * len(problem.X)
    r = fit.fun[:n_px]
    dof = max(n_px - 6 * problem.T, 1)
    sigma2 = float(r @ r / dof)
    H = J.T @ J  # sparse when the Jacobian is: (6T, 6T) only, never the whole Jacobian dense
    H = H.toarray() if hasattr(H, "toarray") else np.asarray(H)
    cov = np.linalg.pinv(H, rcond=1e-12, hermitian=True) * sigma2
    out = np.full(problem.T, np.nan)
    for t in range(problem.T):
        block = cov[6 * t:6 * t + 3, 6 * t:6 * t + 3]
        out[t] = np.degrees(np.sqrt(max(np.linalg.eigvalsh(block).max(), 0.0)))
    return out


def refine_track(xy: np.ndarray, c: np.ndarray, joints: np.ndarray, K: np.ndarray, times: np.ndarray,
                 start: np.ndarray, width: int, conf: PeopleTrackConf | None = None) -> PeopleTrack:
    """Every instant's pose of one moving camera from its 2D joints xy (T, J, 2) (undistorted pixels,
    NaN where unseen), confidences c (T, J), the person's joints (T, J, 3) triangulated by the other
    cameras (NaN where unknown), K (3, 3), times (T,) seconds, start (T, 4, 4) initial poses (NaN
    where none: ``initial_poses``), the image width (pixel limits scale with it). Returns the poses,
    verified per instant (``PeopleTrack``)."""
    conf = conf or PeopleTrackConf()
    T = len(xy)
    use = _usable(xy, c, joints, conf)
    enough = use.sum(axis=1) >= conf.min_joints
    have = np.isfinite(start).all(axis=(1, 2))
    nan = np.full(T, np.nan)
    if not have.any() or not enough.any():
        return PeopleTrack(np.full((T, 4, 4), np.nan), np.zeros(T, bool), [_why_none(use[t].sum(), conf) for t in range(T)],
                           nan.copy(), nan.copy(), nan.copy())
    init = _fill(start)
    centres = camera_centers(init)
    middle = np.nanmedian(joints.reshape(-1, 3), axis=0)
    scale = float(np.median(np.linalg.norm(centres - middle, axis=1)))
    problem = _Problem(xy, c, joints, K, times, init[:, :3, :3], use & enough[:, None], scale, conf, width)
    p0 = np.zeros((T, 6))
    p0[:, 3:] = centres
    p, fit = _solve(problem, p0, conf.reweight_rounds)
    R = problem.rotations(p)
    poses = np.stack([_pose(R[t], p[t, 3:]) for t in range(T)])
    std = _rotation_std(problem, fit)
    spread = _spread(xy, c, joints, K, times, poses, width, use & enough[:, None], scale, conf) \
        if conf.leave_group_out else nan.copy()
    err = np.linalg.norm(problem.pixels(p) - problem.x, axis=1)
    med = nan.copy()
    inl = np.zeros(T, int)
    for t in range(T):
        mine = problem.t_idx == t
        if mine.any():
            med[t] = float(np.median(err[mine]))
            inl[t] = int((err[mine] <= conf.inlier_px * width / 1000.0).sum())
    ok, reason = _verify(use.sum(axis=1), enough, med, inl, std, spread, width, conf)
    poses[~ok] = np.nan
    return PeopleTrack(poses, ok, reason, std, spread, med)


def _spread(xy, c, joints, K, times, poses, width, use, scale, conf: PeopleTrackConf) -> np.ndarray:
    """(T,) RMS rotation change (degrees) of each instant when each joint group is left out in turn."""
    from ..pinhole import rotation_angle_deg

    T = len(xy)
    J = use.shape[1]
    dev = []
    start = np.zeros((T, 6))
    start[:, 3:] = camera_centers(poses)
    for group in JOINT_GROUPS:
        keep = use & ~np.isin(np.arange(J), group)[None]
        if keep.sum() == use.sum():
            continue
        problem = _Problem(xy, c, joints, K, times, poses[:, :3, :3], keep, scale, conf, width)
        p, _ = _solve(problem, start, 1, max_nfev=15)  # from the solution: a few steps move it
        R = problem.rotations(p)
        dev.append([rotation_angle_deg(R[t] @ poses[t, :3, :3].T) if keep[t].any() else np.nan for t in range(T)])
    d = np.array(dev) if dev else np.full((1, T), np.nan)
    seen = np.isfinite(d).any(axis=0)
    out = np.full(T, np.nan)
    out[seen] = np.sqrt(np.nanmean(d[:, seen] ** 2, axis=0))
    return out


def _why_none(n: int, conf: PeopleTrackConf) -> str:
    return (f"only {int(n)} of its joints are triangulated by the scene-posed cameras (< {conf.min_joints})"
            if n < conf.min_joints else "no PnP consensus on the person's joints at any instant")


def _verify(n_joints, enough, med, inl, std, spread, width, conf: PeopleTrackConf) -> tuple[np.ndarray, list[str]]:
    T = len(enough)
    ok = np.zeros(T, bool)
    reason = [""] * T
    limit = conf.max_px * width / 1000.0
    for t in range(T):
        if not enough[t]:
            reason[t] = _why_none(n_joints[t], conf)
        elif not med[t] <= limit:
            reason[t] = f"the person's joints reproject {med[t]:.1f} px off in the median (> {limit:.1f} px)"
        elif inl[t] < conf.min_inliers:
            reason[t] = f"only {inl[t]} of its joints fit the pose (< {conf.min_inliers})"
        elif not std[t] <= conf.max_rotation_std_deg:
            reason[t] = (f"the joints do not pin the rotation down: std {std[t]:.2f} deg "
                         f"(> {conf.max_rotation_std_deg:g})")
        elif spread[t] > conf.max_spread_deg:  # NaN (not computed) passes
            reason[t] = (f"the rotation moves by {spread[t]:.2f} deg RMS when a joint group is left out "
                         f"(> {conf.max_spread_deg:g})")
        else:
            ok[t] = True
    return ok, reason
