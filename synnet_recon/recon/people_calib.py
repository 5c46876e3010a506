"""Camera poses from the people: the body as the calibration pattern.

Once videos are synchronized, a person's 2D joints at the same instant are correspondences across
views. For static cameras every instant is pooled:
1. every pair of cameras: an essential matrix from the shared joints (RANSAC on normalized
   coordinates, given intrinsics), its relative pose and inlier count;
2. the best pair (most inliers) starts the reconstruction: its joints are triangulated;
3. the other cameras are added one by one, most shared points first, by PnP with RANSAC on the
   triangulated joints; after each, the joints are triangulated again over all posed cameras with
   outlier views rejected per joint (``recon.triangulate``);
4. bundle adjustment over cameras and joints (scipy least_squares, Huber loss in pixels, sparse
   Jacobian), the first camera held fixed;
5. every pair's shared joints check the solution: under its relative pose, at least half as many
   of them must lie within ``essential_px`` of their epipolar lines as under the pair's own
   essential matrix; a pair that fails is reported in ``warnings``.

Poses come out in the reference camera's frame (OpenCV axes). Scale: with ``person_height`` the
skeleton's ankle-knee-hip-neck chain is fitted to that height (ratio from ``synth.body.standing_pose``);
otherwise the reference camera's distance to the first other posed camera is 1 (``scale`` says which).
A camera that cannot be posed is named with the reason and the frames it had detections in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from ..pinhole import rotation_angle_deg
from .bundle import bundle_adjust, pose_uncertainty
from .triangulate import TriangulateConf, reproject, triangulate

# Ankle-knee-hip-neck chain length of a standing person per metre of height: recon.depth.body_chain_length of
# synth.body.standing_pose(1.0) (tests/recon/test_people_calib.py checks it).
CHAIN_PER_HEIGHT = 0.7977

# COCO-18 joint groups left out one at a time for the pose spread: head, neck and shoulders, hips,
# elbows and wrists, knees, ankles.
JOINT_GROUPS = ((0, 14, 15, 16, 17), (1, 2, 5), (8, 11), (3, 4, 6, 7), (9, 12), (10, 13))


@dataclass
class PeopleCalibConf:
    min_confidence: float = 0.3  # 2D joints below this are not correspondences
    essential_px: float = 3.0  # RANSAC threshold of the essential matrix, pixels
    ransac_confidence: float = 0.9999
    pnp_px: float = 6.0  # RANSAC threshold of PnP when a camera is added, pixels
    triangulate_px: float = 12.0  # views further than this from a joint are rejected for it
    min_shared: int = 40  # a pair needs this many shared joint detections to propose a pose
    min_inliers: int = 30  # a camera needs this many inlier joints to be posed
    bundle_adjust: bool = True
    ba_rounds: int = 4  # bundle adjustments, each on the inliers under the previous one's poses
    weighted: bool = True  # bundle adjustment weighs each joint by its detector confidence
    # After the bundle adjustments, each (camera, joint)'s residual variance is measured and its
    # observations re-weighted by the median variance over it (clipped to [0.2, 5]), then one more
    # bundle adjustment: a joint one view places inconsistently with the others (a hip seen from
    # the side) counts less. Estimated from the residuals alone (no reference poses).
    joint_noise: bool = False
    # ...the same per camera (all its joints together) instead of per (camera, joint): a view the
    # joints fit worse counts less. Measured on four rigs in session 9 (docs/benchmarks.md): off.
    camera_noise: bool = False
    # Observations of fast joints count less: weight 1 / (1 + (s / (speed_weight x m))^2), s the joint's
    # image speed between the instants around it, m the camera's median speed; an error in the offset,
    # motion blur or a rolling shutter moves a joint in proportion to its speed. 0: off (session 9: off).
    speed_weight: float = 0.0
    # A detector's keypoint of a joint may sit off the joint centre by an offset of its own in each view:
    # this many rounds of (each (camera, joint)'s median residual over the instants, less its camera's
    # mean over the joints, taken off the observations; bundle adjustment again). 0: off (session 9: off).
    joint_offsets: int = 0
    # Temporal denoising of each person track's 2D joints before the solve (``smooth_tracks``): a
    # robust local polynomial of degree ``smooth_degree`` over ``smooth_window`` consecutive instants
    # (odd; 0: off) per (camera, person, joint), fitted on the detections above ``min_confidence``;
    # gaps and low-confidence joints are left as they are. Applied by ``calibrate_from_tracks`` to
    # each segment's tracks (consecutive instants of one recording). Session 12 (h1c): off.
    smooth_window: int = 0
    smooth_degree: int = 2
    smooth_robust_scale: float = 6.0  # Tukey biweight at this many times the track's median residual
    huber_px: float = 0.5  # scale of the bundle adjustment's Huber loss, pixels (0.5: 1.84-1.98 deg max on the short Pose2Sim trials, 2.0: 2.03-2.28)
    max_points: int = 4000  # joints (instant x joint) kept for bundle adjustment, evenly strided
    joints: tuple[int, ...] | None = None  # COCO-18 joints used as correspondences (None: all)
    person_height: float | None = None  # metres; None: unit distance between the first two cameras
    # A camera whose pose the joints do not pin down is flagged (ok=False): the bundle adjustment's
    # standard deviation of its rotation / translation direction (recon.bundle.pose_uncertainty)
    # must stay under these. Synthetic pairs 90 deg apart with detector-like noise: 150 instants
    # 0.4 deg (errors 0.4-0.7 deg), 60 instants 2.2-3.2 deg (errors 2.4-16 deg).
    max_rotation_std_deg: float = 0.7
    max_direction_std_deg: float = 1.5
    verify_huber_px: float = 2.0  # Huber scale of the residuals the uncertainty is computed on (thresholds set with it)
    # The spread of the poses under resampling (``rotation_spread_deg``): bundle adjustments from the
    # solution on ``bootstrap`` block-bootstrap resamples of the instants (blocks of ``bootstrap_block``
    # consecutive instants: a detector's errors last several frames), and with each joint group of
    # ``JOINT_GROUPS`` left out in turn (a joint the detector places away from the body's joint centre
    # biases every instant alike, which no resampling of instants shows). 0 replicates: not computed.
    # ...and a camera whose rotation moves by more than this (RMS, degrees) under that resampling is
    # flagged too: a pose 66 deg wrong that passed the Laplace check (OpenPose limbs only, two
    # cameras) moved by 3.5 deg; right poses 0.2-2.3 deg (Pose2Sim cameras, synthetic 40-60 instants).
    max_rotation_spread_deg: float = 3.0
    bootstrap: int = 12
    bootstrap_block: int = 10
    # iterations of each resampled bundle adjustment from the solution (all start there alike): 20
    # leave each camera's rotation within about 0.03 deg of the converged one (synthetic 4-camera rig)
    bootstrap_iterations: int = 20
    leave_group_out: bool = True
    # ...and the detectors' biases: wild-bootstrap copies with one random sign per (camera, joint) on
    # its residuals over all instants (``rotation_bias_deg`` of a pair; 0: not computed). Pose2Sim
    # cameras: 0.2-0.5 deg, far below the errors: the biases that move the poses are the ones the fit
    # absorbs into them, which no residual shows. So each pair's ``rotation_uncertainty_deg`` also
    # carries an assumed detector term, ``detector_bias_deg`` (RMS, degrees): sized on the one rig with
    # two detectors (MediaPipe and OpenPose on the same Pose2Sim frames: solutions 0.6-2.7 deg apart,
    # RMS 1.55 / 2.36 deg on the two trials, i.e. 1.1-1.7 deg each); not measured on the footage at hand.
    # ``detector_direction_deg`` is the same for each pair's translation direction (in
    # ``direction_uncertainty_deg``): the two detectors' directions are 0.3-1.3 deg apart, RMS 0.79 / 1.20
    # deg on the two trials, pooled over their 9 pairs 0.94, i.e. 0.67 deg each (session 8); the
    # constant (camera, joint) biases the residuals show move the directions by 0.06-0.25 deg only.
    # With two cameras only, the skeleton triangulated under their poses must hold its bone lengths: the
    # median over the limbs of each one's robust spread of length over the instants (``bone_spread``) at most
    # this. Two-camera solutions of the Pose2Sim OpenPose, caliscope and synthetic ring pairs (right or a few
    # degrees off): 0.04-0.15; four-camera solutions 0.00-0.18; the Pose2Sim balancing pair cam01-cam02 from
    # its videos (MediaPipe, 100 instants), posed 64 deg wrong with rotation std 0.50 and spread 2.5 deg,
    # both under their limits: 0.32 (session 13).
    max_bone_spread: float = 0.25
    # ...and with two cameras only, the pair's ``rotation_uncertainty_deg`` (the resampled spread, the biases and
    # the assumed detector term in quadrature) at most this, the accuracy docs/recon3d.md promises for poses from
    # the people: no third view can check the pair, so an answer known only to a few degrees is not claimed
    # verified. Two-camera solutions that passed every other check: Pose2Sim OpenPose pairs cam_01-cam_03 and
    # cam_02-cam_04 (100 instants) 5.2 / 3.9 deg off with uncertainties 2.7 / 2.2; caliscope cam_1-cam_2 2.75 deg
    # off at 2.05; the other caliscope pairs 0.2-1.9 deg off at 1.5-1.9 (session 14). inf: not checked.
    max_two_camera_uncertainty_deg: float = 2.0
    bias_bootstrap: int = 8
    detector_bias_deg: float = 1.2
    detector_direction_deg: float = 0.7
    seed: int = 0


@dataclass
class CameraPose:
    """One camera's pose from the people. world_to_camera: (4, 4) in the reference camera's frame."""

    name: str
    world_to_camera: np.ndarray | None
    ok: bool
    reason: str = ""
    inliers: int = 0  # joint observations within triangulate_px after bundle adjustment
    observations: int = 0  # joint observations above min_confidence
    reprojection_px: float = float("nan")  # median over its inliers
    confidence: float = 0.0
    rotation_std_deg: float = float("nan")  # how well the joints pin its rotation down (relative to ``anchor``)
    direction_std_deg: float = float("nan")  # same for the direction of its translation
    # RMS rotation angle / translation-direction angle (degrees, relative to ``anchor``) of the poses
    # under resampling (PeopleCalibConf.bootstrap): block bootstrap over instants and leave-one-
    # joint-group-out combined; NaN when not computed
    rotation_spread_deg: float = float("nan")
    direction_spread_deg: float = float("nan")
    unsupported_frames: list[int] = field(default_factory=list)  # frames with detections but no inlier


@dataclass
class PeopleCalibration:
    reference: str
    cameras: dict[str, CameraPose]
    points: np.ndarray  # (T, J, 3) joints in the reference frame, NaN where unknown
    scale: str  # "person_height" or "unit_baseline"
    pairs: list[dict]  # per camera pair: shared joints, essential inliers, disagreement with the result
    warnings: list[str] = field(default_factory=list)
    anchor: str = ""  # the camera held fixed in the bundle adjustment (uncertainties are relative to it)

    def relative(self, a: str, b: str) -> np.ndarray:
        """(4, 4) transform from camera a's frame to camera b's."""
        return self.cameras[b].world_to_camera @ np.linalg.inv(self.cameras[a].world_to_camera)


def bone_spread(points: np.ndarray, min_instants: int = 10) -> float:
    """How much the person's bones change length over the instants: (T, 18, 3) joints (NaN where
    unknown) -> the median over the limbs (``skeleton.LIMBS``) of each limb's robust spread of length
    (1.4826 MAD / median), for limbs known at ``min_instants`` instants or more; NaN when fewer than
    three limbs are. A rigid skeleton under right camera poses: a few per cent (detector noise)."""
    from ..skeleton import LIMBS

    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 3 or points.shape[1] != 18:
        return float("nan")
    out = []
    for a, b in LIMBS:
        length = np.linalg.norm(points[:, a] - points[:, b], axis=1)
        length = length[np.isfinite(length)]
        if len(length) >= min_instants and np.median(length) > 0:
            med = np.median(length)
            out.append(1.4826 * np.median(np.abs(length - med)) / med)
    return float(np.median(out)) if len(out) >= 3 else float("nan")


def direction_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    return float(np.degrees(np.arccos(np.clip(a @ b, -1.0, 1.0))))


def _normalized(xy: np.ndarray, K: np.ndarray) -> np.ndarray:
    return (xy - K[:2, 2]) / np.array([K[0, 0], K[1, 1]])


def _pose(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    W = np.eye(4)
    W[:3, :3], W[:3, 3] = R, np.ravel(t)
    return W


def _pair_pose(xa, xb, Ka, Kb, conf: PeopleCalibConf, max_points: int = 0, max_iters: int = 5000):
    """Relative pose b <- a from shared joints: (4, 4) with unit translation and the inlier count
    (of at most ``max_points`` correspondences, evenly strided, when it is not 0)."""
    import cv2

    if max_points and len(xa) > max_points:
        pick = np.linspace(0, len(xa) - 1, max_points).astype(int)
        xa, xb = xa[pick], xb[pick]
    na, nb = _normalized(xa, Ka), _normalized(xb, Kb)
    f = 0.5 * (Ka[0, 0] + Kb[0, 0])
    E, mask = cv2.findEssentialMat(na, nb, np.eye(3), method=cv2.RANSAC, prob=conf.ransac_confidence,
                                   threshold=conf.essential_px / f, maxIters=max_iters)
    if E is None or E.shape != (3, 3):
        return None, 0
    n, R, t, mask = cv2.recoverPose(E, na, nb, np.eye(3), mask=mask)
    return _pose(R, t), int(n)


def _projections(poses: dict[int, np.ndarray], Ks: list[np.ndarray]) -> tuple[list[int], np.ndarray]:
    cams = sorted(poses)
    return cams, np.stack([Ks[c] @ poses[c][:3] for c in cams])


def _triangulate_all(poses, Ks, xy, valid, conf: PeopleCalibConf):
    """Joints (N, 3) over the posed cameras, and the (V, N) inlier views of each."""
    cams, P = _projections(poses, Ks)
    tri = triangulate(P, xy[cams], valid[cams].astype(float),
                      TriangulateConf(min_confidence=0.5, max_reprojection_px=conf.triangulate_px))
    inliers = np.zeros(valid.shape, dtype=bool)
    inliers[cams] = tri.inliers
    return tri.points, inliers


def _reprojection_errors(poses, Ks, xy, points) -> np.ndarray:
    """(V, N) pixel error of the points in every camera; inf for cameras without a pose or unknown points."""
    err = np.full(xy.shape[:2], np.inf)
    cams, P = _projections(poses, Ks)
    proj, depth = reproject(P, points)
    e = np.linalg.norm(proj - xy[cams], axis=-1)
    err[cams] = np.where(np.isfinite(e) & (depth > 0), e, np.inf)
    return err


def _add_camera(c, points, xy, valid, K, conf: PeopleCalibConf):
    """Pose of camera c from the known joints by PnP + RANSAC; (pose or None, inliers, reason)."""
    import cv2

    use = valid[c] & np.isfinite(points).all(axis=1)
    if use.sum() < max(conf.min_inliers, 6):
        return None, int(use.sum()), f"only {int(use.sum())} of its joints are triangulated by the posed cameras"
    ok, rvec, tvec, inl = cv2.solvePnPRansac(points[use], xy[c][use], K, None, reprojectionError=conf.pnp_px,
                                             iterationsCount=2000, confidence=0.9999, flags=cv2.SOLVEPNP_EPNP)
    n = 0 if inl is None else len(inl)
    if not ok or n < conf.min_inliers:
        return None, n, f"PnP found {n} inlier joints (< {conf.min_inliers})"
    idx = inl.ravel()
    rvec, tvec = cv2.solvePnPRefineLM(points[use][idx], xy[c][use][idx], K, None, rvec, tvec)
    return _pose(cv2.Rodrigues(rvec)[0], tvec), n, ""


def _bundle_adjust(poses, Ks, xy, obs, points, fixed: int, conf: PeopleCalibConf, weights=None):
    """Refine poses (all but ``fixed``) and points on the observations ``obs`` (V, N) bool, each
    weighted by ``weights`` (V, N) (detector confidence) when given. Returns (poses, points)."""
    cams = sorted(poses)
    pts = np.nonzero(np.isfinite(points).all(axis=1) & (obs[cams].sum(axis=0) >= 2))[0]
    if len(pts) > conf.max_points:
        pts = pts[np.linspace(0, len(pts) - 1, conf.max_points).astype(int)]
    index = {c: i for i, c in enumerate(cams)}
    vv, pp = np.nonzero(obs[cams][:, pts])
    fit = bundle_adjust(np.stack([poses[c][:3, :3] for c in cams]), np.stack([poses[c][:3, 3] for c in cams]),
                        points[pts], np.stack([Ks[c] for c in cams]), vv, pp, xy[np.array(cams)[vv], pts[pp]],
                        None if weights is None else weights[np.array(cams)[vv], pts[pp]],
                        fixed=index[fixed], huber_px=conf.huber_px)
    out = {c: _pose(fit.rotations[i], fit.translations[i]) for c, i in index.items()}
    refined = points.copy()
    refined[pts] = fit.points
    return out, refined


def _pairs(xy, valid, Ks, conf: PeopleCalibConf) -> list[dict]:
    pairs = []
    for a, b in combinations(range(len(xy)), 2):
        shared = valid[a] & valid[b]
        row = {"a": a, "b": b, "shared": int(shared.sum()), "inliers": 0, "pose": None}
        if shared.sum() >= conf.min_shared:
            row["pose"], row["inliers"] = _pair_pose(xy[a][shared], xy[b][shared], Ks[a], Ks[b], conf)
        pairs.append(row)
    return pairs


def height_scale(points: np.ndarray, person_height: float) -> float | None:
    """Factor that makes a person of ``person_height`` metres out of joints (T, 18, 3): the median
    over instants of the ankle-knee-hip-neck chain is fitted. None when no instant has a chain."""
    from .depth import body_chain_length

    chain = [body_chain_length(p) for p in points]
    chain = np.array([c for c in chain if np.isfinite(c)])
    if not len(chain) or not np.median(chain) > 0:
        return None
    return person_height * CHAIN_PER_HEIGHT / float(np.median(chain))


def _scale(points: np.ndarray, poses: dict, ref: int, conf: PeopleCalibConf) -> tuple[float, str]:
    """Factor that makes the reconstruction metric (person_height) or the first baseline 1."""
    if conf.person_height:
        s = height_scale(points, conf.person_height)
        if s is not None:
            return s, "person_height"
    others = [c for c in sorted(poses) if c != ref]
    centers = {c: -poses[c][:3, :3].T @ poses[c][:3, 3] for c in poses}
    d = np.linalg.norm(centers[others[0]] - centers[ref]) if others else 1.0
    return (1.0 / d if d > 0 else 1.0), "unit_baseline"


def calibrate_from_people(names: list[str], xy: np.ndarray, confidence: np.ndarray, Ks: list[np.ndarray],
                          frames: np.ndarray | None = None, reference: int = 0,
                          conf: PeopleCalibConf | None = None) -> PeopleCalibration:
    """Poses of V static cameras from one person's joints at T synchronized instants.

    xy: (V, T, J, 2) undistorted pixels, NaN where not detected; confidence: (V, T, J);
    Ks: V (3, 3) intrinsics; frames: (V, T) each camera's frame index at each instant (for reports;
    default the instant index); reference: index of the camera whose frame the result is in.
    """
    import cv2

    conf = conf or PeopleCalibConf()
    cv2.setRNGSeed(conf.seed)
    V, T, J = xy.shape[:3]
    frames = np.tile(np.arange(T), (V, 1)) if frames is None else np.asarray(frames)
    flat = xy.reshape(V, T * J, 2).astype(np.float64)
    valid = np.isfinite(flat).all(axis=-1) & (np.nan_to_num(confidence.reshape(V, T * J)) >= conf.min_confidence)
    if conf.joints is not None:
        valid &= np.isin(np.arange(T * J) % J, conf.joints)
    pairs = _pairs(flat, valid, Ks, conf)
    usable = [p for p in pairs if p["pose"] is not None and p["inliers"] >= conf.min_inliers]
    cameras: dict[str, CameraPose] = {}
    if not usable:
        for v in range(V):
            cameras[names[v]] = CameraPose(names[v], None, False, "no camera pair shares enough consistent joints",
                                           observations=int(valid[v].sum()),
                                           unsupported_frames=_frames_with(valid[v], frames[v], J))
        return PeopleCalibration(names[reference], cameras, np.full((T, J, 3), np.nan), "none", _pair_rows(pairs, names))
    best = max(usable, key=lambda p: p["inliers"])
    poses = {best["a"]: np.eye(4), best["b"]: best["pose"]}
    reasons: dict[int, str] = {}
    points, inliers = _triangulate_all(poses, Ks, flat, valid, conf)
    todo = [v for v in range(V) if v not in poses]
    while todo:
        known = np.isfinite(points).all(axis=1)
        todo.sort(key=lambda v: -(valid[v] & known).sum())
        c = todo.pop(0)
        pose, n, reason = _add_camera(c, points, flat, valid, Ks[c], conf)
        if pose is None:
            reasons[c] = reason
            continue
        poses[c] = pose
        points, inliers = _triangulate_all(poses, Ks, flat, valid, conf)
    weights = np.nan_to_num(confidence.reshape(V, T * J)) if conf.weighted else None
    if conf.speed_weight > 0:
        weights = (1.0 if weights is None else weights) * _speed_weights(xy, conf.speed_weight).reshape(V, T * J)
    if conf.bundle_adjust and len(poses) >= 2:
        # Observations are chosen by their reprojection error, loosely first (a camera outvoted by the
        # others must still see its own joints to be corrected), then down to triangulate_px.
        for thr in np.geomspace(4 * conf.triangulate_px, conf.triangulate_px, max(conf.ba_rounds, 1)):
            obs = valid & (_reprojection_errors(poses, Ks, flat, points) < thr)
            poses, points = _bundle_adjust(poses, Ks, flat, obs, points, best["a"], conf, weights)
        if conf.joint_noise or conf.camera_noise:
            weights = (1.0 if weights is None else weights) * _joint_noise(poses, Ks, flat, valid, points,
                                                                            J if conf.joint_noise else 0, conf)
            obs = valid & (_reprojection_errors(poses, Ks, flat, points) < conf.triangulate_px)
            poses, points = _bundle_adjust(poses, Ks, flat, obs, points, best["a"], conf, weights)
        if conf.joint_offsets:
            poses, points, flat = _joint_offsets(poses, Ks, flat, valid, points, J, best["a"], conf, weights)
        points, inliers = _triangulate_all(poses, Ks, flat, valid, conf)
    spread = _uncertainty(poses, Ks, flat, valid, points, best["a"], conf, weights)
    resampled = _resampled(poses, Ks, flat, valid, points, best["a"], conf, weights, J)
    return _finish(names, poses, reasons, points, inliers, flat, valid, Ks, frames, reference, pairs, conf, T, J,
                   spread, best["a"], resampled)


def _joint_noise(poses, Ks, xy, valid, points, J: int, conf: PeopleCalibConf) -> np.ndarray:
    """(V, N) weight factor of every observation: the median over (camera, joint) of the residual
    variance divided by its own (camera, joint)'s, clipped to [0.2, 5]; 1 where fewer than 10 inliers.
    J 0: per camera (all its joints one group)."""
    err = _reprojection_errors(poses, Ks, xy, points)
    ok = valid & (err < conf.triangulate_px)
    joint = np.arange(xy.shape[1]) % J if J else np.zeros(xy.shape[1], dtype=int)
    var = np.full((len(xy), max(J, 1)), np.nan)
    for v in poses:
        for j in range(max(J, 1)):
            e = err[v][ok[v] & (joint == j)]
            if len(e) >= 10:
                var[v, j] = np.median(e**2) / 1.386  # median of sigma^2 chi2(2)
    if not np.isfinite(var).any():
        return np.ones(xy.shape[:2])
    factor = np.clip(np.nanmedian(var) / var, 0.2, 5.0)
    return np.where(np.isfinite(factor), factor, 1.0)[:, joint]


def _joint_offsets(poses, Ks, xy, valid, points, J: int, fixed: int, conf: PeopleCalibConf, weights):
    """``conf.joint_offsets`` rounds of: the median residual (V, J, 2) of each (camera, joint) over its
    inlier instants, centred per camera (a shift of all its joints is the camera's rotation, kept in the
    pose), subtracted from the observations, then one bundle adjustment. Returns (poses, points, xy)."""
    joint = np.arange(xy.shape[1]) % J
    offsets = np.zeros((len(xy), J, 2))
    corrected = xy
    for _ in range(conf.joint_offsets):
        err = _reprojection_errors(poses, Ks, corrected, points)
        cams, P = _projections(poses, Ks)
        residual = np.full(xy.shape, np.nan)
        residual[cams] = xy[cams] - reproject(P, points)[0]
        for v in cams:
            for j in range(J):
                use = valid[v] & (joint == j) & (err[v] < conf.triangulate_px)
                offsets[v, j] = np.median(residual[v][use], axis=0) if use.sum() >= 10 else 0.0
            offsets[v] -= offsets[v].mean(axis=0)
        corrected = xy - offsets[:, joint]
        obs = valid & (_reprojection_errors(poses, Ks, corrected, points) < conf.triangulate_px)
        poses, points = _bundle_adjust(poses, Ks, corrected, obs, points, fixed, conf, weights)
    return poses, points, corrected


def _speed_weights(xy: np.ndarray, scale: float) -> np.ndarray:
    """(V, T, J) weights 1 / (1 + (s / (scale x m))^2) of joints (V, T, J, 2): s the image speed
    (pixels per instant, central difference; one-sided at the ends), m each camera's median s; 1 where
    the speed is unknown."""
    prev = np.concatenate([xy[:, :1], xy[:, :-1]], axis=1)
    nxt = np.concatenate([xy[:, 1:], xy[:, -1:]], axis=1)
    step = np.concatenate([[1.0], np.full(xy.shape[1] - 2, 2.0), [1.0]]) if xy.shape[1] > 2 else np.ones(xy.shape[1])
    speed = np.linalg.norm(nxt - prev, axis=-1) / step[None, :, None]
    typical = np.nanmedian(speed.reshape(len(xy), -1), axis=1)[:, None, None] if np.isfinite(speed).any() else 1.0
    w = 1.0 / (1.0 + (speed / np.maximum(scale * typical, 1e-9)) ** 2)
    return np.where(np.isfinite(w), w, 1.0)


def _uncertainty(poses, Ks, xy, valid, points, fixed: int, conf: PeopleCalibConf, weights=None) -> dict:
    """{camera: (rotation std, direction std)} in degrees at the solution, relative to ``fixed``
    (``recon.bundle.pose_uncertainty`` on the inlier observations of the triangulated joints)."""
    cams = sorted(poses)
    if len(cams) < 2:
        return {c: (np.inf, np.inf) for c in cams}
    obs = valid & (_reprojection_errors(poses, Ks, xy, points) < conf.triangulate_px)
    pts = np.nonzero(np.isfinite(points).all(axis=1) & (obs[cams].sum(axis=0) >= 2))[0]
    if not len(pts):
        return {c: (np.inf, np.inf) for c in cams}
    index = {c: i for i, c in enumerate(cams)}
    vv, pp = np.nonzero(obs[cams][:, pts])
    cv = np.array(cams)[vv]
    u = pose_uncertainty(np.stack([poses[c][:3, :3] for c in cams]), np.stack([poses[c][:3, 3] for c in cams]),
                         points[pts], np.stack([Ks[c] for c in cams]), vv, pp, xy[cv, pts[pp]],
                         None if weights is None else weights[cv, pts[pp]], fixed=index[fixed],
                         huber_px=conf.verify_huber_px)
    return {c: (float(u.rotation_deg[i]), float(u.direction_deg[i])) for c, i in index.items()}


def _pair_deviation(R, t, R0, t0, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Rotation vector (degrees) of camera b relative to a under (R, t), against (R0, t0), and the
    tangent-plane deviation (degrees) of the direction of b's translation relative to a."""
    import cv2

    rel, rel0 = R[b] @ R[a].T, R0[b] @ R0[a].T
    rot = np.degrees(cv2.Rodrigues(rel @ rel0.T)[0].ravel())
    d, d0 = t[b] - rel @ t[a], t0[b] - rel0 @ t0[a]
    d, d0 = d / max(np.linalg.norm(d), 1e-12), d0 / max(np.linalg.norm(d0), 1e-12)
    return rot, np.degrees(d - (d @ d0) * d0)


def _resampled(poses, Ks, xy, valid, points, fixed: int, conf: PeopleCalibConf, weights, J: int) -> dict:
    """{(a, b): (rotation, direction)} for every pair of posed cameras: the RMS angle (degrees) by
    which the relative pose moves when the bundle adjustment is solved again from the solution on
    block-bootstrap resamples of the instants and with each of ``JOINT_GROUPS`` left out (variances
    added: the bootstrap's about its mean, the jackknife's (n - 1) / n sum of squares)."""
    cams = sorted(poses)
    if len(cams) < 2 or (conf.bootstrap <= 0 and not conf.leave_group_out):
        return {}
    obs = valid & (_reprojection_errors(poses, Ks, xy, points) < conf.triangulate_px)
    pts = np.nonzero(np.isfinite(points).all(axis=1) & (obs[cams].sum(axis=0) >= 2))[0]
    if len(pts) > conf.max_points:
        pts = pts[np.linspace(0, len(pts) - 1, conf.max_points).astype(int)]
    if not len(pts):
        return {}
    index = {c: i for i, c in enumerate(cams)}
    vv, pp = np.nonzero(obs[cams][:, pts])
    cv = np.array(cams)[vv]
    base = np.ones(len(vv)) if weights is None else weights[cv, pts[pp]]
    R0 = np.stack([poses[c][:3, :3] for c in cams])
    t0 = np.stack([poses[c][:3, 3] for c in cams])
    K = np.stack([Ks[c] for c in cams])
    target = xy[cv, pts[pp]]

    def solve(w, observed=target):
        use = w > 0
        count = np.bincount(pp[use], minlength=len(pts))
        use &= count[pp] >= 2
        keep = np.nonzero(count >= 2)[0]
        renum = np.full(len(pts), -1)
        renum[keep] = np.arange(len(keep))
        fit = bundle_adjust(R0, t0, points[pts[keep]], K, vv[use], renum[pp[use]], observed[use], w[use],
                            fixed=index[fixed], huber_px=conf.huber_px, max_iterations=conf.bootstrap_iterations)
        return fit.rotations, fit.translations

    Rc, tc = solve(base)
    instant, joint = pts[pp] // J, pts[pp] % J
    rng = np.random.default_rng(conf.seed)
    block = instant // max(conf.bootstrap_block, 1)
    blocks = int(block.max()) + 1
    boot = [solve(base * np.bincount(rng.integers(0, blocks, blocks), minlength=blocks)[block])
            for _ in range(conf.bootstrap)]
    jack = [solve(base * ~np.isin(joint, g)) for g in JOINT_GROUPS if np.isin(joint, g).any()] \
        if conf.leave_group_out else []
    wild = _wild_clusters(solve, poses, Ks, cams, points, pts, vv, pp, cv * J + joint, target, base, rng,
                          conf.bias_bootstrap)
    out = {}
    for a, b in combinations(range(len(cams)), 2):
        total, bias = np.zeros(2), np.zeros(2)
        for R, t in wild:  # RMS about the solution itself
            bias += np.array([float((d ** 2).sum()) for d in _pair_deviation(R, t, Rc, tc, a, b)]) / len(wild)
        for reps, jackknife in ((boot, False), (jack, True)):
            if len(reps) < 2:
                continue
            dev = [_pair_deviation(R, t, Rc, tc, a, b) for R, t in reps]
            for k in range(2):
                d = np.array([x[k] for x in dev])
                ss = float(((d - d.mean(axis=0)) ** 2).sum())
                total[k] += ss * (len(d) - 1) / len(d) if jackknife else ss / (len(d) - 1)
        out[(cams[a], cams[b])] = tuple(float(v) for v in np.sqrt(total)) + (
            tuple(float(v) for v in np.sqrt(bias)) if wild else (float("nan"), float("nan")))
    return out


def _wild_clusters(solve, poses, Ks, cams, points, pts, vv, pp, cluster, target, base, rng, n: int) -> list:
    """Poses solved again on ``n`` wild-bootstrap copies of the observations: the projection at
    the solution plus each residual times a random sign shared by its whole cluster (one camera's
    one joint over every instant). A detector's bias of a joint in a view lasts the whole recording;
    the signs flip those biases, of the size the residuals show, so their effect on the poses shows
    (the block bootstrap keeps every bias as it is and cannot)."""
    if n <= 0:
        return []
    P = np.stack([Ks[c] @ poses[c][:3] for c in cams])
    proj = reproject(P, points[pts])[0][vv, pp]
    residual = np.nan_to_num(target - proj)
    ids, inverse = np.unique(cluster, return_inverse=True)
    return [solve(base, proj + residual * rng.choice([-1.0, 1.0], len(ids))[inverse][:, None]) for _ in range(n)]


def _frames_with(mask: np.ndarray, frames: np.ndarray, J: int) -> list[int]:
    return [int(f) for f in frames[mask.reshape(-1, J).any(axis=1)]]


def _pair_rows(pairs: list[dict], names: list[str]) -> list[dict]:
    return [{"a": names[p["a"]], "b": names[p["b"]], "shared": p["shared"], "inliers": p["inliers"]} for p in pairs]


def _finish(names, poses, reasons, points, inliers, flat, valid, Ks, frames, reference, pairs, conf, T, J,
            spread=None, anchor=None, resampled=None):
    warnings = []
    ref = reference if reference in poses else min(poses)
    if ref != reference:
        warnings.append(f"reference camera {names[reference]} could not be posed; poses are in {names[ref]}'s frame")
    W_ref = poses[ref]
    to_ref = np.linalg.inv(W_ref)
    poses = {c: W @ to_ref for c, W in poses.items()}
    points = (points @ W_ref[:3, :3].T + W_ref[:3, 3]) if len(points) else points
    s, scale_kind = _scale(points.reshape(T, J, 3), poses, ref, conf)
    for c in poses:
        poses[c] = poses[c].copy()
        poses[c][:3, 3] *= s
    points = points * s
    rows = _pair_rows(pairs, names)
    checks: dict[int, list] = {}  # per posed camera, per pair checked: the other camera when it failed
    for p, row in zip(pairs, rows):
        a, b = p["a"], p["b"]
        if p["pose"] is None or a not in poses or b not in poses:
            continue
        rel = poses[b] @ np.linalg.inv(poses[a])
        row["rotation_vs_two_view_deg"] = rotation_angle_deg(rel[:3, :3] @ p["pose"][:3, :3].T)
        if (a, b) in (resampled or {}):
            row["rotation_spread_deg"], row["direction_spread_deg"], rb, db = resampled[(a, b)]
            if np.isfinite(rb):
                # the resampled spread, the biases' wild bootstrap and the assumed detector terms,
                # added in quadrature
                row["rotation_bias_deg"], row["direction_bias_deg"] = rb, db
                row["detector_bias_deg"] = conf.detector_bias_deg
                row["detector_direction_deg"] = conf.detector_direction_deg
                row["rotation_uncertainty_deg"] = _rotation_uncertainty(row["rotation_spread_deg"], rb, conf)
                row["direction_uncertainty_deg"] = float(np.sqrt(row["direction_spread_deg"] ** 2 + db**2
                                                                 + conf.detector_direction_deg**2))
        shared = valid[a] & valid[b]
        row["joint_solution_inliers"] = int((epipolar_px(flat[a][shared], flat[b][shared], Ks[a], Ks[b], rel)
                                             < conf.essential_px).sum())
        failed = row["joint_solution_inliers"] < 0.5 * p["inliers"]
        for v in (a, b):
            checks.setdefault(v, []).append(names[b if v == a else a] if failed else None)
        if failed:
            warnings.append(f"{names[a]}-{names[b]}: the solution explains {row['joint_solution_inliers']} of their "
                            f"shared joints, their own essential matrix {p['inliers']}")
    rigid = None
    if len(poses) == 2:
        warnings.append("only two cameras posed: no third view checks their relative pose; it is flagged unless "
                        "the joints pin it down (rotation_std_deg) and the skeleton it gives holds its bone lengths")
        bones = bone_spread(points.reshape(T, J, 3))
        if bones > conf.max_bone_spread:   # NaN (too few limbs known) passes
            rigid = (f"the person's bones change length by {100 * bones:.0f} % over the instants under this pose "
                     f"(median over the limbs; a rigid skeleton: at most {100 * conf.max_bone_spread:g} %): the "
                     "pair's relative pose is wrong; film more varied motion, add a camera or give a calibration")
    cameras = _camera_rows(names, poses, reasons, points, flat, valid, Ks, frames, conf, J, spread or {}, anchor,
                           resampled or {}, checks, rigid)
    flagged = [n for n, c in cameras.items() if not c.ok and c.world_to_camera is not None]
    if flagged:
        warnings.append(f"not verified (pose kept for inspection, ok=False): {', '.join(flagged)}")
    return PeopleCalibration(names[ref], cameras, points.reshape(T, J, 3), scale_kind, rows, warnings,
                             names[anchor] if anchor is not None else names[ref])


def _camera_rows(names, poses, reasons, points, flat, valid, Ks, frames, conf, J, spread, anchor, resampled,
                 checks=None, rigid: str | None = None) -> dict:
    """One CameraPose per camera: unposed ones with their reason and frames; posed ones with their
    inliers, reprojection error, confidence and uncertainty, flagged when it is too large, or when at
    least half of its pairs' own joints disagree with the solution (``checks``: per camera, the other
    camera of each pair checked, None where the pair agreed). A camera posed 90 deg wrong passed every
    other check on synthetic 4-camera rigs (40 instants, 3 of 30 seeds); the cameras of one such pair
    cannot be told apart, so both are flagged. ``rigid``: the reason every non-anchor camera is flagged
    when the skeleton under the poses does not hold its bone lengths (``bone_spread``; two cameras)."""
    err = _reprojection_errors(poses, Ks, flat, points)
    cameras = {}
    for v in range(len(names)):
        obs = int(valid[v].sum())
        if v not in poses:
            cameras[names[v]] = CameraPose(names[v], None, False, reasons.get(v, "not posed"), observations=obs,
                                           unsupported_frames=_frames_with(valid[v], frames[v], J))
            continue
        good = valid[v] & (err[v] < conf.triangulate_px)
        med = float(np.median(err[v][good])) if good.any() else float("nan")
        frac = good.sum() / max(obs, 1)
        c = frac * np.exp(-(med / conf.triangulate_px) ** 2) * min(1.0, good.sum() / 200.0) if good.any() else 0.0
        seen = valid[v].reshape(-1, J).any(axis=1) & ~good.reshape(-1, J).any(axis=1)
        rot, direction = spread.get(v, (float("nan"), float("nan")))
        reason = ""
        if v != anchor and not (rot <= conf.max_rotation_std_deg and direction <= conf.max_direction_std_deg):
            reason = (f"not pinned down by the joints: rotation std {rot:.2f} deg (max {conf.max_rotation_std_deg:g}), "
                      f"direction std {direction:.2f} deg (max {conf.max_direction_std_deg:g}) relative to "
                      f"{names[anchor]}; film more varied motion or give a calibration")
        rs, ds = (0.0, 0.0) if v == anchor else resampled.get((min(v, anchor), max(v, anchor)), (np.nan,) * 4)[:2]
        against = [n for n in (checks or {}).get(v, []) if n is not None]
        if not reason and against and 2 * len(against) >= len(checks[v]):
            reason = (f"the joints it shares with {', '.join(against)} disagree with the solution (under its pose, "
                      f"fewer than half as many lie on their epipolar lines as under the pair's own essential matrix; "
                      f"{len(checks[v]) - len(against)} of its {len(checks[v])} pairs agree)")
        if not reason and rigid and v != anchor:
            reason = rigid
        if not reason and rs > conf.max_rotation_spread_deg:  # NaN (not computed) passes
            reason = (f"its rotation moves by {rs:.2f} deg RMS when the instants are resampled or a joint group is "
                      f"left out (max {conf.max_rotation_spread_deg:g}) relative to {names[anchor]}; film more varied "
                      "motion or give a calibration")
        unc = _two_camera_uncertainty(v, anchor, poses, resampled, conf)
        if not reason and unc > conf.max_two_camera_uncertainty_deg:  # NaN (not computed) passes
            reason = (f"with two cameras nothing checks their relative pose, and its rotation is known only to "
                      f"{unc:.1f} deg (uncertainty; verified needs at most {conf.max_two_camera_uncertainty_deg:g}): "
                      "film more varied motion, add a camera or give a calibration")
        cameras[names[v]] = CameraPose(names[v], poses[v], not reason, reason, int(good.sum()), obs, med, float(c),
                                       unsupported_frames=[int(f) for f in frames[v][seen]],
                                       rotation_std_deg=rot, direction_std_deg=direction,
                                       rotation_spread_deg=rs, direction_spread_deg=ds)
    if anchor in poses and not any(cam.ok for v, cam in enumerate(cameras.values()) if v != anchor):
        a = cameras[names[anchor]]
        a.ok, a.reason = False, "no other camera's pose relative to it is verified"
    return cameras


def _two_camera_uncertainty(v: int, anchor, poses: dict, resampled: dict, conf: PeopleCalibConf) -> float:
    """Rotation uncertainty (degrees) of camera v relative to the anchor when exactly two cameras are posed (as
    ``rotation_uncertainty_deg`` of their pair); NaN otherwise, or when it was not computed."""
    if len(poses) != 2 or v == anchor or anchor is None:
        return float("nan")
    rs, _, rb, _ = resampled.get((min(v, anchor), max(v, anchor)), (np.nan,) * 4)
    return _rotation_uncertainty(rs, rb, conf) if np.isfinite(rb) else float("nan")


def _rotation_uncertainty(spread: float, bias: float, conf: PeopleCalibConf) -> float:
    """A pair's ``rotation_uncertainty_deg``: its resampled spread, its biases' wild bootstrap and the assumed
    detector term, added in quadrature (degrees)."""
    return float(np.sqrt(spread**2 + bias**2 + conf.detector_bias_deg**2))


def views_from_keypoints(tracks: list, Ks: list[np.ndarray], dists: list | None = None,
                         length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stack synchronized ``Keypoints`` tracks (frame i of each = instant i) into (V, T, 18, 2)
    undistorted pixels and (V, T, 18) confidences; T = the shortest track (or ``length``)."""
    from .triangulate import undistort_pixels

    T = min(len(k) for k in tracks) if length is None else length
    xy = np.stack([np.asarray(k.xy[:T], dtype=np.float64) for k in tracks])
    if dists is not None:
        xy = np.stack([undistort_pixels(xy[v], Ks[v], dists[v]) for v in range(len(tracks))])
    conf = np.stack([np.asarray(k.conf[:T], dtype=np.float64) for k in tracks])
    return xy, conf


def epipolar_px(xa: np.ndarray, xb: np.ndarray, Ka: np.ndarray, Kb: np.ndarray, b_from_a: np.ndarray) -> np.ndarray:
    """(N,) distance in pixels of xb (N, 2) to the epipolar lines of xa (N, 2), cameras a -> b."""
    t = b_from_a[:3, 3]
    tx = np.array([[0.0, -t[2], t[1]], [t[2], 0.0, -t[0]], [-t[1], t[0], 0.0]])
    F = np.linalg.inv(Kb).T @ tx @ b_from_a[:3, :3] @ np.linalg.inv(Ka)
    ha, hb = np.c_[xa, np.ones(len(xa))], np.c_[xb, np.ones(len(xb))]
    lines = ha @ F.T
    return np.abs((lines * hb).sum(axis=1)) / np.maximum(np.linalg.norm(lines[:, :2], axis=1), 1e-12)


def associate_people(xy: list[np.ndarray], confidence: list[np.ndarray], Ks: list[np.ndarray], reference: int = 0,
                     conf: PeopleCalibConf | None = None, poses: dict[int, np.ndarray] | None = None,
                     max_epipolar_px: float = 12.0) -> list[list[int | None]]:
    """Which track is which person in every camera.

    xy[v]: (P_v, T, 18, 2) camera v's person tracks at the T synchronized instants (undistorted
    pixels, NaN where missing); confidence[v]: (P_v, T, 18). Every reference track is tried against
    every track of every other camera (Hungarian assignment per camera):
    - without ``poses`` (no calibration yet): the score is the number of shared joints that fit one
      essential matrix; pairings with fewer than ``min_inliers`` inliers or under half the best
      pairing's are left out. The epipolar constraint is weak (a wrong person still fits 15-30 %),
      so use this for the main subject and re-associate with poses;
    - with ``poses`` ({camera: world_to_camera}): the median epipolar distance of the shared joints;
      pairings over ``max_epipolar_px`` are left out.
    Returns one row per reference track: the track index in every camera (None: not matched).
    """
    from scipy.optimize import linear_sum_assignment

    conf = conf or PeopleCalibConf()
    R = len(xy[reference])
    rows: list[list[int | None]] = [[None] * len(xy) for _ in range(R)]
    for r in range(R):
        rows[r][reference] = r
    ok = [(np.isfinite(x).all(axis=-1) & (np.nan_to_num(c) >= conf.min_confidence)).reshape(len(x), -1)
          for x, c in zip(xy, confidence)]
    for v in range(len(xy)):
        if v == reference or not len(xy[v]) or not R:
            continue
        score = np.zeros((R, len(xy[v])))
        for r in range(R):
            for k in range(len(xy[v])):
                shared = ok[reference][r] & ok[v][k]
                if shared.sum() >= conf.min_shared:
                    a = xy[reference][r].reshape(-1, 2)[shared]
                    b = xy[v][k].reshape(-1, 2)[shared]
                    if poses is None:
                        score[r, k] = _pair_pose(a, b, Ks[reference], Ks[v], conf, max_points=400, max_iters=1000)[1]
                    elif reference in poses and v in poses:
                        rel = poses[v] @ np.linalg.inv(poses[reference])
                        score[r, k] = -np.median(epipolar_px(a, b, Ks[reference], Ks[v], rel))
                    else:
                        score[r, k] = -np.inf
                else:
                    score[r, k] = 0.0 if poses is None else -np.inf
        ri, ki = linear_sum_assignment(-np.where(np.isfinite(score), score, -1e9))
        best = score.max() if score.size else 0
        for r, k in zip(ri, ki):
            if (score[r, k] >= max(conf.min_inliers, 0.5 * best)) if poses is None else (-score[r, k] <= max_epipolar_px):
                rows[r][v] = int(k)
    return rows


def stack_people(xy: list[np.ndarray], confidence: list[np.ndarray], people: list[list[int | None]]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The associated people seen by at least two cameras, as extra instants: (V, P*T, 18, 2) and
    (V, P*T, 18); a camera that did not match a person has NaN / 0 there."""
    people = [row for row in people if sum(k is not None for k in row) >= 2]
    V, T = len(xy), next(len(x[0]) for x in xy if len(x))
    out = np.full((V, len(people) * T, 18, 2), np.nan)
    c = np.zeros((V, len(people) * T, 18))
    for p, row in enumerate(people):
        for v, k in enumerate(row):
            if k is not None:
                out[v, p * T:(p + 1) * T] = xy[v][k]
                c[v, p * T:(p + 1) * T] = confidence[v][k]
    return out, c


def smooth_tracks(xy: np.ndarray, confidence: np.ndarray, window: int, degree: int = 2,
                  min_confidence: float = 0.0, robust_iterations: int = 2, robust_scale: float = 6.0) -> np.ndarray:
    """Each joint's 2D trajectory denoised by a robust local polynomial (Savitzky-Golay on the samples
    that are there): xy (..., T, J, 2), confidence (..., T, J), time along axis -3 (consecutive,
    evenly spaced instants). At every detection (finite, confidence >= ``min_confidence``) a weighted
    least-squares polynomial of ``degree`` in the instant offset is fitted to the detections within
    ``window // 2`` instants and evaluated there; the weights are then those of a Tukey biweight on
    each detection's leave-one-out residual from its fit (``robust_scale`` x the track's median
    residual, per joint; 6: LOWESS's robustness step), ``robust_iterations`` times. A detection with fewer than ``degree + 2`` detections in its
    window (itself included), a missing joint and a low-confidence one are returned as given: gaps stay
    gaps. Returns a new array of xy's shape."""
    xy = np.asarray(xy, dtype=np.float64)
    half = int(window) // 2
    if half < 1:
        return xy.copy()
    shape = xy.shape
    T, J = shape[-3], shape[-2]
    x = xy.reshape(-1, T, J, 2)
    c = np.nan_to_num(np.asarray(confidence, dtype=np.float64).reshape(-1, T, J))
    ok = np.isfinite(x).all(axis=-1) & (c >= min_confidence)
    x0 = np.where(ok[..., None], x, 0.0)
    d = int(degree)
    offsets = np.arange(-half, half + 1)
    powers = offsets[:, None] ** np.arange(2 * d + 1)[None, :].astype(np.float64)  # (W, 2d+1)

    def shifted(a, k):  # a[:, t + k] with zeros outside
        out = np.zeros_like(a)
        if k >= 0:
            out[:, :T - k] = a[:, k:]
        else:
            out[:, -k:] = a[:, :T + k]
        return out

    robust = ok.astype(np.float64)
    fit = x.copy()
    for it in range(robust_iterations + 1):
        moments = np.zeros(x.shape[:3] + (2 * d + 1,))
        rhs = np.zeros(x.shape[:3] + (d + 1, 2))
        count = np.zeros(x.shape[:3])
        for i, k in enumerate(offsets):
            w = shifted(robust, k)
            moments += w[..., None] * powers[i]
            rhs += w[..., None, None] * shifted(x0, k)[..., None, :] * powers[i, :d + 1][:, None]
            count += shifted(ok.astype(np.float64), k) * (w > 0)
        A = moments[..., np.arange(d + 1)[:, None] + np.arange(d + 1)[None, :]]  # (B, T, J, d+1, d+1)
        enough = ok & (count >= d + 2)
        A[~enough] = np.eye(d + 1)
        coef = np.linalg.solve(A, rhs)  # (B, T, J, d+1, 2)
        fit = np.where(enough[..., None], coef[..., 0, :], x)
        if it == robust_iterations:
            break
        # leave-one-out residual: the detection against the fit of its neighbours, r / (1 - leverage)
        leverage = robust * np.linalg.inv(A)[..., 0, 0]
        residual = (np.linalg.norm(x0 - np.where(enough[..., None], fit, 0.0), axis=-1)
                    / np.maximum(1.0 - leverage, 1e-3))
        counted = np.maximum(enough.sum(axis=1, keepdims=True), 1)
        ranked = np.sort(np.where(enough, residual, np.inf), axis=1)  # the track's median residual per joint
        scale = np.take_along_axis(ranked, (counted - 1) // 2, axis=1)
        u = residual / np.maximum(robust_scale * np.where(np.isfinite(scale), scale, 1.0), 1e-9)
        robust = np.where(enough, np.clip(1.0 - u ** 2, 0.0, None) ** 2, ok.astype(np.float64))
    return fit.reshape(shape)


def _smoothed_segments(segments, conf: PeopleCalibConf):
    if conf.smooth_window <= 1:
        return segments
    return [([smooth_tracks(x, c, conf.smooth_window, conf.smooth_degree, conf.min_confidence,
                            robust_scale=conf.smooth_robust_scale) if len(x) else x
              for x, c in zip(xy, cs)], cs) for xy, cs in segments]


def calibrate_from_tracks(names: list[str], segments: list[tuple[list[np.ndarray], list[np.ndarray]]],
                          Ks: list[np.ndarray], reference: int = 0, conf: PeopleCalibConf | None = None
                          ) -> tuple[PeopleCalibration, list[list[list[int | None]]]]:
    """Static camera poses from every person in every segment (synchronized recordings of one rig).

    segments: per recording, (xy, confidence) as ``associate_people`` takes them (per camera, all
    its person tracks). Two passes: people associated by essential-matrix inliers, poses solved;
    then everyone re-associated by epipolar distance under those poses and the poses solved again
    on all of them. Returns the calibration and the association used (per segment, per person, the
    track index in each camera).
    """
    conf = conf or PeopleCalibConf()
    segments = _smoothed_segments(segments, conf)
    people = [associate_people(xy, c, Ks, reference, conf) for xy, c in segments]
    result = _calibrate_people(names, segments, people, Ks, reference, conf)
    poses = {names.index(n): p.world_to_camera for n, p in result.cameras.items() if p.ok}
    if len(poses) >= 2:
        again = [associate_people(xy, c, Ks, reference, conf, poses=poses) for xy, c in segments]
        if again != people:
            people, result = again, _calibrate_people(names, segments, again, Ks, reference, conf)
    return result, people


def _calibrate_people(names, segments, people, Ks, reference, conf) -> PeopleCalibration:
    stacked = [stack_people(xy, c, rows) for (xy, c), rows in zip(segments, people)]
    xy = np.concatenate([s[0] for s in stacked], axis=1)
    c = np.concatenate([s[1] for s in stacked], axis=1)
    return calibrate_from_people(names, xy, c, Ks, reference=reference, conf=conf)


def segment_from_openpose(folders: list, calibrations: list, fps: float | None = None
                          ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One synchronized recording as ``associate_people`` takes it: every person track of each
    camera's OpenPose folder (frame i of every folder = instant i), undistorted with that camera's
    ``io.calibration.CameraCalibration``. Returns per camera (P_v, T, 18, 2) and (P_v, T, 18)."""
    from ..io.openpose import read_openpose_tracks
    from .triangulate import undistort_pixels

    per_camera = [read_openpose_tracks(f, fps=fps, image_size=c.size) for f, c in zip(folders, calibrations)]
    T = min(len(k) for tracks in per_camera for k in tracks)
    xy = [np.stack([undistort_pixels(k.xy[:T].astype(np.float64), c.K, c.dist) for k in tracks])
          for tracks, c in zip(per_camera, calibrations)]
    conf = [np.stack([k.conf[:T].astype(np.float64) for k in tracks]) for tracks in per_camera]
    return xy, conf
