"""Rigid registration of two views' clouds with Open3D's legacy pipelines (faster than the tensor
API on CPU): FPFH + RANSAC global registration (or given 3D correspondences), point-to-plane ICP,
then coloured ICP. Used per synchronized instant by ``fuse``."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..o3d import o3d

log = logging.getLogger(__name__)
reg = o3d.pipelines.registration


@dataclass
class RegistrationConfig:
    """Voxel sizes and thresholds, in metres."""

    voxel: float = 0.08               # registration runs on clouds downsampled to this
    icp_distance: float = 2.0         # ICP correspondence distance, in voxels
    ransac_distance: float = 1.5      # RANSAC inlier distance, in voxels
    fpfh_radius: float = 5.0          # FPFH radius, in voxels
    normal_radius: float = 2.0        # normal estimation radius, in voxels
    ransac_iterations: int = 20_000
    ransac_confidence: float = 0.999
    icp_iterations: int = 30
    colored_icp: bool = True
    colored_iterations: int = 10
    colored_when_tracking: bool = False  # coloured ICP also when ICP from the previous instant is accepted
    min_fitness: float = 0.35         # below: the view is flagged, not fused
    max_rmse: float = 1.0             # above (in voxels): flagged
    min_normal_spread: float = 0.01   # below (smallest eigenvalue of the source normals' mean n n^T):
                                      # geometry that does not pin all 6 DoF (planes of one
                                      # direction), flagged
    seed: int = 0


@dataclass
class PreparedCloud:
    """A cloud downsampled to the registration voxel, with normals; FPFH computed on demand."""

    cloud: "o3d.geometry.PointCloud"
    voxel: float
    fpfh_radius: float
    _fpfh: object = None

    @property
    def fpfh(self):
        if self._fpfh is None:
            self._fpfh = reg.compute_fpfh_feature(
                self.cloud, o3d.geometry.KDTreeSearchParamHybrid(radius=self.fpfh_radius, max_nn=100))
        return self._fpfh


@dataclass
class PairRegistration:
    """Result of registering a source view onto a target view.

    transform: (4, 4) mapping source coordinates to target coordinates.
    """

    transform: np.ndarray
    fitness: float
    inlier_rmse: float
    ok: bool
    global_registration: bool


def prepare(pcd, config: RegistrationConfig) -> PreparedCloud:
    """Downsample to ``config.voxel`` and estimate normals (oriented towards the camera at 0).

    ``pcd``: an Open3D cloud, or a tuple (points (N, 3), colours (N, 3) in [0, 1] or None) in the
    camera frame (downsampled in numpy, faster).
    """
    v = config.voxel
    if isinstance(pcd, tuple):
        from .lift import to_cloud, voxel_down

        down = to_cloud(*voxel_down(pcd[0], pcd[1], v))
    else:
        down = pcd.voxel_down_sample(v) if v > 0 else o3d.geometry.PointCloud(pcd)
    if len(down.points) >= 3:
        # a radius search: on a voxel grid a 2-voxel ball holds ~13 points on a surface (the hybrid
        # search with max_nn=30 finds the same ones at twice the cost)
        down.estimate_normals(o3d.geometry.KDTreeSearchParamRadius(radius=config.normal_radius * v))
        down.orient_normals_towards_camera_location(np.zeros(3))
    return PreparedCloud(down, v, config.fpfh_radius * v)


def global_registration(source: PreparedCloud, target: PreparedCloud, config: RegistrationConfig) -> np.ndarray:
    """FPFH feature matching + RANSAC -> (4, 4) source-to-target."""
    d = config.ransac_distance * config.voxel
    try:
        o3d.utility.random.seed(config.seed)
    except AttributeError:
        pass
    result = reg.registration_ransac_based_on_feature_matching(
        source.cloud, target.cloud, source.fpfh, target.fpfh, True, d,
        reg.TransformationEstimationPointToPoint(False), 3,
        [reg.CorrespondenceCheckerBasedOnEdgeLength(0.9), reg.CorrespondenceCheckerBasedOnDistance(d)],
        reg.RANSACConvergenceCriteria(config.ransac_iterations, config.ransac_confidence))
    return np.asarray(result.transformation)


def correspondence_registration(source_points: np.ndarray, target_points: np.ndarray,
                                config: RegistrationConfig) -> np.ndarray | None:
    """Given corresponding 3D points (N, 3) (e.g. lifted body keypoints; NaN = missing): RANSAC
    over the correspondences -> (4, 4) source-to-target, or None with fewer than 3 pairs."""
    ok = np.isfinite(source_points).all(1) & np.isfinite(target_points).all(1)
    if ok.sum() < 3:
        return None
    src = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(source_points[ok]))
    tgt = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(target_points[ok]))
    corr = o3d.utility.Vector2iVector(np.repeat(np.arange(int(ok.sum()))[:, None], 2, axis=1))
    result = reg.registration_ransac_based_on_correspondence(
        src, tgt, corr, config.ransac_distance * config.voxel,
        reg.TransformationEstimationPointToPoint(False), 3, [],
        reg.RANSACConvergenceCriteria(10_000, 0.999))
    return np.asarray(result.transformation)


def feature_correspondences(src_image: np.ndarray, src_depth: np.ndarray, src_K: np.ndarray,
                            tgt_image: np.ndarray, tgt_depth: np.ndarray, tgt_K: np.ndarray,
                            max_features: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """SIFT matches between two RGB-D views lifted to 3D: (N, 3) source points, (N, 3) target points.

    images (H, W, 3) uint8 RGB, depths (H, W) metres (0 = none), K (3, 3).
    """
    from .features import sift_matches
    from .lift import backproject

    p1, p2 = sift_matches(src_image, tgt_image, max_features=max_features, ratio=0.8)

    def lift_pixels(p, depth, K):
        u = np.clip(np.round(p[:, 0]).astype(int), 0, depth.shape[1] - 1)
        v = np.clip(np.round(p[:, 1]).astype(int), 0, depth.shape[0] - 1)
        z = depth[v, u].astype(np.float64)
        return backproject(np.stack([u, v], 1), np.where(z > 0, z, np.nan), K)

    return lift_pixels(p1, src_depth, src_K), lift_pixels(p2, tgt_depth, tgt_K)


def refine(source: PreparedCloud, target: PreparedCloud, init: np.ndarray,
           config: RegistrationConfig, colored: bool | None = None) -> "reg.RegistrationResult":
    """Point-to-plane ICP from ``init``, then (``colored``, default ``config.colored_icp``)
    coloured ICP when both clouds have colours; its result is kept only when it has at least the
    fitness and at most the inlier RMSE of the point-to-plane result."""
    colored = config.colored_icp if colored is None else colored
    d = config.icp_distance * config.voxel
    result = reg.registration_icp(
        source.cloud, target.cloud, d, init, reg.TransformationEstimationPointToPlane(),
        reg.ICPConvergenceCriteria(relative_fitness=1e-6, relative_rmse=1e-6,
                                   max_iteration=config.icp_iterations))
    if colored and source.cloud.has_colors() and target.cloud.has_colors() and result.fitness > 0:
        try:
            colored_result = reg.registration_colored_icp(
                source.cloud, target.cloud, config.voxel, result.transformation,
                reg.TransformationEstimationForColoredICP(),
                reg.ICPConvergenceCriteria(relative_fitness=1e-6, relative_rmse=1e-6,
                                           max_iteration=config.colored_iterations))
        except RuntimeError:  # no correspondences within one voxel
            return result
        final = reg.evaluate_registration(source.cloud, target.cloud, d, colored_result.transformation)
        # Coloured ICP can slide along textureless or repetitive surfaces: keep it only when it
        # does not lose geometric agreement.
        if final.fitness >= result.fitness and final.inlier_rmse <= result.inlier_rmse:
            result = final
    return result


def normal_spread(prepared: PreparedCloud) -> float:
    """Smallest eigenvalue of the mean n n^T of the cloud's normals: 0 when all normals are parallel
    (parallel planes: point-to-plane ICP cannot fix the translation along them), 1/3 at most."""
    n = np.asarray(prepared.cloud.normals)
    if len(n) < 3:
        return 0.0
    return float(np.linalg.eigvalsh(n.T @ n / len(n))[0])


def _accept(result, config: RegistrationConfig) -> bool:
    return (result.fitness >= config.min_fitness
            and result.inlier_rmse <= config.max_rmse * config.voxel and len(result.correspondence_set) >= 3)


def register(source: PreparedCloud, target: PreparedCloud, config: RegistrationConfig,
             init: np.ndarray | None = None, hints: list | None = None,
             expected_fitness: float | None = None) -> PairRegistration:
    """Register ``source`` onto ``target``.

    A source whose normals all point one way (``normal_spread`` < ``config.min_normal_spread``) is
    only refined and flagged (``ok`` False): its pose is not determined by its geometry.
    ``init``: a transform to refine first (e.g. the previous instant's); when ICP from it is
    accepted (and keeps at least 90 % of ``expected_fitness``, the fitness it had before),
    nothing else runs. Otherwise every one of ``hints`` (initial transforms, or callables returning
    one or None: image-feature or keypoint correspondences, the stereo backend's pose) is refined
    and the best accepted result wins; FPFH + RANSAC global registration runs only when none is
    accepted.
    """
    if normal_spread(source) < config.min_normal_spread:  # degenerate: refine only, and flag
        r = refine(source, target, np.eye(4) if init is None else np.asarray(init, dtype=np.float64), config, False)
        return PairRegistration(np.asarray(r.transformation).copy(), float(r.fitness), float(r.inlier_rmse),
                                False, False)

    def result_of(r, used_global: bool) -> PairRegistration:
        return PairRegistration(np.asarray(r.transformation).copy(), float(r.fitness),
                                float(r.inlier_rmse), _accept(r, config), used_global)

    def best_of(results):
        return max(results, key=lambda r: (_accept(r, config), r.fitness, -r.inlier_rmse))

    tried = []
    if init is not None:
        r = refine(source, target, np.asarray(init, dtype=np.float64), config, config.colored_when_tracking)
        tried.append(r)
        if _accept(r, config) and r.fitness >= 0.9 * (expected_fitness or 0.0):
            return result_of(r, False)
    from_hints = []
    for guess in hints or []:
        if callable(guess):  # computed only when needed (e.g. feature matching)
            guess = guess()
        if guess is not None:
            from_hints.append(refine(source, target, np.asarray(guess, dtype=np.float64), config))
    if from_hints:
        best = best_of(from_hints)
        if _accept(best, config):
            return result_of(best, False)
    coarse = global_registration(source, target, config)
    tried += from_hints + [refine(source, target, coarse, config)]
    return result_of(best_of(tried), True)


def rotation_error_deg(A: np.ndarray, B: np.ndarray) -> float:
    """Angle (degrees) of the rotation between two (4, 4) or (3, 3) transforms."""
    R = np.asarray(A)[:3, :3].T @ np.asarray(B)[:3, :3]
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1.0, 1.0))))


def translation_error(A: np.ndarray, B: np.ndarray) -> float:
    """Distance between the translations of two (4, 4) transforms."""
    return float(np.linalg.norm(np.asarray(A)[:3, 3] - np.asarray(B)[:3, 3]))
