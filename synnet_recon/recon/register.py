"""Rigid registration of two views' clouds with Open3D's legacy pipelines (faster than the tensor
API on CPU): FPFH + RANSAC global registration (Open3D's features, our seeded RANSAC; or given 3D
correspondences), point-to-plane ICP,
then (``RegistrationConfig.colored_icp``, off by default) coloured ICP. Used per synchronized
instant by ``fuse``."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..o3d import o3d
from ..pinhole import rotation_angle_deg

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
    ransac_iterations: int = 5_000    # FPFH RANSAC minimal sets (``global_registration``; each scored unless its edges
    #                                   fail the length check): with Open3D's RANSAC the last resort never gave a verified
    #                                   pose on the bench grid or the default demo at 20,000 (8.6 CPU s a view there)
    ransac_confidence: float = 0.99   # FPFH RANSAC draws more blocks of ``ransac_iterations`` sets until a minimal set
    #                                   of the best hypothesis' inliers was drawn with this probability (at 5 % inliers
    #                                   one block finds it 1 time in 2: a room 30 deg apart was 0.5-28 deg off by seed)
    ransac_max_iterations: int = 50_000  # at most this many minimal sets in all (at ~1,000 matches: the first block
    #                                   ~0.15 CPU s, mostly its draw; each further one ~0.04; all ten ~0.5 CPU s)
    icp_iterations: int = 30
    colored_icp: bool = False         # coloured ICP after point-to-plane ICP (``refine``). Off: with it on, the
    #                                   default demo (seed 0, session 5 end) accepted a view 3.0 cm off (FAIL), with
    #                                   it off it passes; off costs the open floor 90 deg 2 of its 3 ok instants
    #                                   (flagged, not wrong: tests/recon/test_rgbd_odometry.py turns it on); on
    #                                   costs ~0.08 CPU s a view at 640x480 (docs/benchmarks.md "Fuse speed")
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
    correspondences: np.ndarray | None = None   # (M, 2) source, target indices at ``transform``


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
    """FPFH feature matching + RANSAC -> (4, 4) source-to-target. The features are Open3D's
    (``PreparedCloud.fpfh``), matched by ``fpfh_matches``; the RANSAC is ours (``ransac_kabsch``:
    ``config.ransac_iterations`` minimal sets of 3 drawn from ``config.seed``, those whose edge
    lengths differ by more than 10 % between the two clouds left out, inliers within
    ``ransac_distance`` voxels), not Open3D's ``registration_ransac_based_on_feature_matching``,
    which reads one global RNG from parallel threads: while fuse's workers run, the same inputs and
    seed could give different poses run to run. The identity when there are not 3 matches to fit."""
    s, t = fpfh_matches(source, target)
    if len(s) < 3:
        return np.eye(4)
    found = ransac_kabsch(np.asarray(source.cloud.points)[s], np.asarray(target.cloud.points)[t],
                          config.ransac_distance * config.voxel, config.ransac_iterations, config.seed,
                          min_inliers=3, edge_ratio=0.9, confidence=config.ransac_confidence,
                          max_iterations=config.ransac_max_iterations)
    return np.eye(4) if found.transform is None else found.transform


def fpfh_matches(source: PreparedCloud, target: PreparedCloud, min_mutual: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Correspondences (source indices (M,), target indices (M,)) of two clouds' FPFH features: each
    source point's nearest target point in feature space (scipy's k-d tree), kept where that target
    point's nearest source point is it again (mutual), unless fewer than ``min_mutual`` are: then
    every source point's nearest. Deterministic (one thread, no RNG)."""
    from scipy.spatial import cKDTree

    fs = np.asarray(source.fpfh.data, dtype=np.float64).T    # (N, 33)
    ft = np.asarray(target.fpfh.data, dtype=np.float64).T
    if len(fs) == 0 or len(ft) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    forward = cKDTree(ft).query(fs, k=1)[1].astype(np.int64)
    backward = cKDTree(fs).query(ft, k=1)[1].astype(np.int64)
    src = np.arange(len(fs))
    mutual = backward[forward] == src
    if mutual.sum() >= min_mutual:
        return src[mutual], forward[mutual]
    return src, forward


def correspondence_registration(source_points: np.ndarray, target_points: np.ndarray,
                                config: RegistrationConfig, iterations: int = 2000) -> np.ndarray | None:
    """Given corresponding 3D points (N, 3) (e.g. SIFT matches lifted with depth; NaN = missing):
    RANSAC over the correspondences (``ransac_kabsch``: minimal sets drawn from ``config.seed``,
    inliers within ``ransac_distance`` voxels) -> (4, 4) source-to-target, or None with fewer than
    3 inliers. numpy, not Open3D's RANSAC: that one reads one global RNG from parallel threads while
    fuse's workers run, so the same inputs and seed gave different poses run to run."""
    found = ransac_kabsch(source_points, target_points, config.ransac_distance * config.voxel, iterations,
                          config.seed, min_inliers=3)
    return found.transform


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
           config: RegistrationConfig, colored: bool | None = None, coarse: float = 0.0) -> "reg.RegistrationResult":
    """Point-to-plane ICP from ``init``, then (``colored``, default ``config.colored_icp``)
    coloured ICP when both clouds have colours; its result is kept only when it has at least the
    fitness and at most the inlier RMSE of the point-to-plane result. ``coarse`` > 0: a first ICP
    pass with that correspondence distance (metres), for initial poses tens of cm off (the
    person's joints give those); a pass that loses every correspondence is undone."""
    colored = config.colored_icp if colored is None else colored
    d = config.icp_distance * config.voxel
    if coarse > d:
        first = reg.registration_icp(
            source.cloud, target.cloud, coarse, init, reg.TransformationEstimationPointToPlane(),
            reg.ICPConvergenceCriteria(relative_fitness=1e-6, relative_rmse=1e-6, max_iteration=config.icp_iterations))
        if first.fitness > 0:
            init = np.asarray(first.transformation)
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
    if result.fitness == 0:  # diverged: keep the initial pose
        return reg.evaluate_registration(source.cloud, target.cloud, d, init)
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
             expected_fitness: float | None = None, global_fallback: bool = True) -> PairRegistration:
    """Register ``source`` onto ``target``.

    A source whose normals all point one way (``normal_spread`` < ``config.min_normal_spread``) is
    only refined and flagged (``ok`` False): its pose is not determined by its geometry.
    ``init``: a transform to refine first (e.g. the previous instant's); when ICP from it is
    accepted (and keeps at least 90 % of ``expected_fitness``, the fitness it had before),
    nothing else runs. Otherwise every one of ``hints`` (initial transforms, or callables returning
    one or None: image-feature or keypoint correspondences, the stereo backend's pose) is refined
    and the best accepted result wins; FPFH + RANSAC global registration runs only when none is
    accepted (and ``global_fallback``; without it the best refined result is returned).
    """
    if normal_spread(source) < config.min_normal_spread:  # degenerate: refine only, and flag
        r = refine(source, target, np.eye(4) if init is None else np.asarray(init, dtype=np.float64), config, False)
        return PairRegistration(np.asarray(r.transformation).copy(), float(r.fitness), float(r.inlier_rmse),
                                False, False)

    def result_of(r, used_global: bool) -> PairRegistration:
        return PairRegistration(np.asarray(r.transformation).copy(), float(r.fitness),
                                float(r.inlier_rmse), _accept(r, config), used_global,
                                np.asarray(r.correspondence_set))

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
    if not global_fallback:
        return result_of(best_of(tried + from_hints), False)
    coarse = global_registration(source, target, config)
    tried += from_hints + [refine(source, target, coarse, config)]
    return result_of(best_of(tried), True)


def settle(value, digits: int = 9):
    """Round a transform (or fitness, RMSE) to 1e-9: Open3D's parallel reductions differ between
    runs in the last bits (1e-16), which would otherwise make the outputs differ run to run."""
    return np.round(np.asarray(value, dtype=np.float64), digits) + 0.0 if np.ndim(value) else round(float(value), digits) + 0.0


def kabsch(source: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The rigid (4, 4) T minimising sum w |T source - target|^2 (no scale, no reflection);
    source, target (N, 3), N >= 3."""
    w = np.ones(len(source)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    cs, ct = w @ source, w @ target
    H = (source - cs).T @ ((target - ct) * w[:, None])
    U, _, Vt = np.linalg.svd(H)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(Vt.T @ U.T))])
    R = Vt.T @ D @ U.T
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, ct - R @ cs
    return T


@dataclass
class JointAlignment:
    """Robust Kabsch over corresponding joints: transform (4, 4) source -> target, the inlier
    joints (J,) bool and their median residual (metres; inf when none)."""

    transform: np.ndarray | None
    inliers: np.ndarray
    median_error: float


def ransac_kabsch(source: np.ndarray, target: np.ndarray, threshold: float = 0.1, iterations: int = 300,
                  seed: int = 0, min_inliers: int = 4, edge_ratio: float = 0.0, confidence: float = 0.0,
                  max_iterations: int = 0) -> JointAlignment:
    """RANSAC over corresponding 3D joints (J, 3) (NaN = unknown): minimal sets of 3, the hypothesis
    with the most inliers (distance < ``threshold``; ties: the smaller summed error) refit on them.
    The joints are labelled, so a symmetric room cannot fool it; a mirrored person (left/right
    swapped in one view) gives few inliers. ``transform`` is None with fewer than ``min_inliers``.
    ``edge_ratio`` > 0: minimal sets whose three edge lengths differ between source and target by
    more than that ratio (shorter / longer) are not scored (a rigid motion keeps them).
    ``confidence`` > 0: further blocks of ``iterations`` sets (``_minimal_sets``' blocks 1, 2, ...) until
    a minimal set of the best hypothesis' inliers was drawn with that probability (1 - (1 - w^3)^k,
    w its inlier share, k the sets drawn), at most ``max_iterations`` sets in all; a later block's
    hypothesis replaces the earlier one only with more inliers (ties: the smaller summed error)."""
    both = np.isfinite(source).all(1) & np.isfinite(target).all(1)
    idx = np.flatnonzero(both)
    none = JointAlignment(None, np.zeros(len(source), bool), float("inf"))
    if len(idx) < max(3, min_inliers):
        return none
    s, t = source[idx], target[idx]
    best, key, drawn = None, (-1, np.inf), 0
    while iterations > 0:
        found = _best_minimal_set(s, t, _minimal_sets(len(idx), iterations, seed, drawn // iterations),
                                  threshold, edge_ratio=edge_ratio)
        drawn += iterations
        if found is not None and (found[1] > key[0] or (found[1] == key[0] and found[2] < key[1])):
            best, key = found[0], found[1:]
        if confidence <= 0 or drawn + iterations > max_iterations or _drawn_enough(key[0] / len(idx), drawn,
                                                                                   confidence):
            break
    if best is None or best.sum() < min_inliers:
        return none
    T = kabsch(s[best], t[best])
    err = np.linalg.norm(s @ T[:3, :3].T + T[:3, 3] - t, axis=1)
    ok = err < threshold
    if ok.sum() >= min_inliers:
        T = kabsch(s[ok], t[ok])
        err = np.linalg.norm(s @ T[:3, :3].T + T[:3, 3] - t, axis=1)
        ok = err < threshold
    inliers = np.zeros(len(source), bool)
    inliers[idx[ok]] = True
    return JointAlignment(T, inliers, float(np.median(err[ok])) if ok.any() else float("inf"))


def _drawn_enough(inlier_share: float, drawn: int, confidence: float) -> bool:
    """Whether ``drawn`` random minimal sets of 3 include one of only inliers with probability
    ``confidence``, at that inlier share (the RANSAC stopping rule)."""
    p = inlier_share ** 3
    return p >= 1.0 or (p > 0 and 1.0 - (1.0 - p) ** drawn >= confidence)


@lru_cache(maxsize=64)
def _minimal_sets(n: int, iterations: int, seed: int, block: int = 0) -> np.ndarray:
    """(iterations, 3) the minimal sets of 3 of n joints that ``ransac_kabsch`` scores: block 0 one draw
    per iteration (``Generator.choice`` without replacement) from ``default_rng(seed)``, in that order;
    a further block (the adaptive RANSAC's) three distinct indices per row drawn at once (uniform, ~100x
    faster) from ``default_rng((seed, block))``. They depend on n, iterations, seed and block only
    (n: joints, or matches), so they are drawn once (read-only)."""
    if block == 0:
        rng = np.random.default_rng(seed)
        picks = np.array([rng.choice(n, 3, replace=False) for _ in range(iterations)],
                         dtype=np.int64).reshape(-1, 3)
    else:
        rng = np.random.default_rng((seed, block))
        first = rng.integers(0, n, iterations)
        second = rng.integers(0, n - 1, iterations)
        second += second >= first
        low, high = np.minimum(first, second), np.maximum(first, second)
        third = rng.integers(0, n - 2, iterations)
        third += third >= low
        third += third >= high
        picks = np.stack([first, second, third], axis=1).astype(np.int64)
    picks.flags.writeable = False
    return picks


def _best_minimal_set(s: np.ndarray, t: np.ndarray, picks: np.ndarray, threshold: float,
                      block_values: int = 4_000_000, edge_ratio: float = 0.0
                      ) -> tuple[np.ndarray, int, float] | None:
    """Kabsch on every minimal set (I, 3) of corresponding points s, t (N, 3) at once -> the inlier
    mask (N,) of the hypothesis with the most inliers (ties: the smaller summed error clipped at
    ``threshold``; then the first), its inlier count and that error; None when every set is collinear (or, with ``edge_ratio`` > 0,
    has edges of other lengths in t than in s). Hypotheses are scored in blocks of about
    ``block_values`` / N (memory flat in N; joints: one block)."""
    a, b = s[picks], t[picks]                                        # (I, 3, 3)
    valid = np.linalg.norm(np.cross(a[:, 1] - a[:, 0], a[:, 2] - a[:, 0]), axis=1) >= 1e-4
    if edge_ratio > 0:
        ea, eb = (np.linalg.norm(x - np.roll(x, 1, axis=1), axis=2) for x in (a, b))   # (I, 3) edge lengths
        valid &= (np.minimum(ea, eb) >= edge_ratio * np.maximum(ea, eb)).all(axis=1)
    if not valid.any():
        return None
    a, b = a[valid], b[valid]
    cs, ct = a.mean(1), b.mean(1)
    H = np.einsum("ikj,ikl->ijl", a - cs[:, None], b - ct[:, None])
    U, _, Vt = np.linalg.svd(H)
    V, Ut = np.swapaxes(Vt, 1, 2), np.swapaxes(U, 1, 2)
    D = np.zeros_like(H)
    D[:, 0, 0] = D[:, 1, 1] = 1.0
    D[:, 2, 2] = np.sign(np.linalg.det(V @ Ut))
    R = V @ D @ Ut
    shift = ct - np.einsum("ijk,ik->ij", R, cs)
    block = max(1, block_values // max(1, len(s)))
    best, best_count, best_total = None, -1, np.inf
    for i in range(0, len(R), block):
        moved = np.matmul(s, np.swapaxes(R[i:i + block], 1, 2)) + shift[i:i + block, None]   # (block, N, 3)
        err = np.linalg.norm(moved - t, axis=2)                      # (block, N)
        ok = err < threshold
        count, total = ok.sum(1), np.minimum(err, threshold).sum(1)
        top = np.flatnonzero(count == count.max())
        k = top[np.argmin(total[top])]
        if count[k] > best_count or (count[k] == best_count and total[k] < best_total):
            best, best_count, best_total = ok[k], count[k], total[k]
    return best, int(best_count), float(best_total)


def _depth_at(points: np.ndarray, depth: np.ndarray, K: np.ndarray, window: int = 2) -> np.ndarray:
    """Measured depth (median of a patch, NaN where none or outside) at the pixels of points (N, 3).
    All patches at once: each (2 window + 1)^2 patch, cut at the image's border, sorted with the
    pixels without depth last; the median of the valid ones is read at their middle (the same value
    as ``np.median`` of them, in the depth's dtype)."""
    out = np.full(len(points), np.nan)
    h, w = depth.shape
    x, y, z = (np.asarray(points, dtype=np.float64)[:, k] for k in range(3))
    with np.errstate(invalid="ignore", divide="ignore"):
        front = np.isfinite(z) & (z > 0.05)
        zs = np.where(front, z, 1.0)
        u = np.where(front, np.round(K[0, 0] * x / zs + K[0, 2]), -1)
        v = np.where(front, np.round(K[1, 1] * y / zs + K[1, 2]), -1)
    inside = front & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    if not inside.any():
        return out
    u, v = u[inside].astype(np.int64), v[inside].astype(np.int64)
    offsets = np.arange(-window, window + 1)
    rows, cols = v[:, None, None] + offsets[None, :, None], u[:, None, None] + offsets[None, None, :]
    within = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    patch = depth[np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)].reshape(len(u), -1)
    valid = within.reshape(len(u), -1) & (patch > 0)
    count = valid.sum(1)
    ordered = np.sort(np.where(valid, patch, np.inf), axis=1)
    some = count > 0
    i = np.flatnonzero(some)
    a, b = ordered[i, (count[i] - 1) // 2], ordered[i, count[i] // 2]
    median = np.where(count[i] % 2 == 1, a, (a + b) / np.asarray(2, dtype=ordered.dtype))
    values = np.full(len(u), np.nan)
    values[i] = median
    out[np.flatnonzero(inside)] = values
    return out


def joint_error(T: np.ndarray, source: np.ndarray, target: np.ndarray, views=None,
                occlusion_margin: float | np.ndarray = 0.15) -> tuple[float, int]:
    """Median distance (metres) between target joints and source joints moved by T, and over how
    many joints (inf, 0 when none). Joints are (18, 3) in each camera (NaN = unknown).

    ``views`` = (source depth, source K, target depth, target K): a joint that, placed by T, lies
    behind what the other camera measured at its pixel by more than ``occlusion_margin`` (scalar or
    (18,) per joint) is hidden there (that camera's depth at its pixel is the occluder's, not the
    joint's) and is left out."""
    both = np.isfinite(source).all(1) & np.isfinite(target).all(1)
    if views is not None and both.any():
        sd, sK, td, tK = views
        moved = source @ T[:3, :3].T + T[:3, 3]
        Ti = np.linalg.inv(T)
        back = target @ Ti[:3, :3].T + Ti[:3, 3]
        with np.errstate(invalid="ignore"):
            hidden_t = moved[:, 2] > _depth_at(moved, td, tK) + occlusion_margin
            hidden_s = back[:, 2] > _depth_at(back, sd, sK) + occlusion_margin
        both &= ~hidden_t & ~hidden_s
    if not both.any():
        return float("inf"), 0
    d = np.linalg.norm(source[both] @ T[:3, :3].T + T[:3, 3] - target[both], axis=1)
    return float(np.median(d)), int(both.sum())


def visibility_agreement(points: np.ndarray, T: np.ndarray, depth: np.ndarray, K: np.ndarray,
                         tolerance: float = 0.1, noise: tuple[float, float] | None = None,
                         own: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[float, int]:
    """Do a source view's points (N, 3), moved by T into a target camera, agree with what that camera
    measured (depth (H, W), K)? Each point projecting into the image onto a measured depth d at
    z is "seen" when |z - d| < tolerance + 3 % of d, "in free space" when z is in front of d by
    more (a wrong pose puts walls where the target sees through), and occluded when behind.
    Returns (seen / (seen + in free space), seen); (0, 0) when none projects.

    noise: (the points' own map's, this camera's) banded noise in 1/z (``verify.depth_noises``): the
    tolerance is then that one and the two depths' noise at the point (n z^2) in quadrature, isolated
    holes are filled (``filled_holes``) and no evidence is taken at a depth edge (``at_depth_edge``) of
    this camera's map where a point lands, nor of the points' own map (own: its depth (H, W), K), whose
    flying pixels float between the two sides."""
    if noise is not None and own is not None:
        points = points[~at_depth_edge(points, *own, noise[0])]
    p = points @ T[:3, :3].T + T[:3, 3]
    z = p[:, 2]
    front = z > 0.05
    own_z, p, z = points[front, 2], p[front], z[front]
    h, w = depth.shape
    u = np.round(K[0, 0] * p[:, 0] / z + K[0, 2]).astype(np.int64)
    v = np.round(K[1, 1] * p[:, 1] / z + K[1, 2]).astype(np.int64)
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    d = depth[v[inside], u[inside]]
    z, own_z = z[inside], own_z[inside]
    if noise is None:
        measured = d > 0
    else:
        d = filled_holes(depth, u[inside], v[inside], d)
        landed = p[inside] * (np.where(d > 0, d, z) / z)[:, None]   # the measured surface there
        measured = (d > 0) & ~at_depth_edge(landed, depth, K, noise[1])
    d, z, own_z = d[measured], z[measured], own_z[measured]
    tol = tolerance + 0.03 * d
    if noise is not None:
        a, b = noise[0] * own_z * own_z, noise[1] * d * d
        tol = np.sqrt(tol * tol + a * a + b * b)
    seen = int((np.abs(z - d) < tol).sum())
    free = int((z < d - tol).sum())
    return (seen / (seen + free) if seen + free else 0.0), seen


def at_depth_edge(points: np.ndarray, depth: np.ndarray, K: np.ndarray, noise: float) -> np.ndarray:
    """(N,) bool: points (N, 3) of a camera (its depth (H, W), K) at a depth edge of it: fewer than 6
    of their pixel's 8 neighbours measured (a sensor drops edge pixels), or the point farther from
    their median than 5 cm + noise z^2 (``noise``: banded sigma(1/z); a flying pixel)."""
    z = np.where(points[:, 2] > 0.05, points[:, 2], 1.0)
    h, w = depth.shape
    u = np.clip(np.round(K[0, 0] * points[:, 0] / z + K[0, 2]).astype(np.int64), 0, w - 1)
    v = np.clip(np.round(K[1, 1] * points[:, 1] / z + K[1, 2]).astype(np.int64), 0, h - 1)
    median, count = _ring_median(depth, u, v)
    return (count < 6) | ~(np.abs(median - z) <= 0.05 + noise * z * z)


_RING = [(dv, du) for dv in (-1, 0, 1) for du in (-1, 0, 1) if dv or du]


def filled_holes(depth: np.ndarray, u: np.ndarray, v: np.ndarray, d: np.ndarray) -> np.ndarray:
    """d (M,): depth (H, W) at pixels (u, v) (inside it), with each unmeasured one (0) that has at
    least 4 measured 8-neighbours given their median: a depth sensor's isolated holes (1 % of a
    Kinect's pixels) would otherwise turn a point's evidence on and off as a pose moves it by a pixel."""
    hole = np.flatnonzero(~(d > 0))
    if not len(hole):
        return d
    median, count = _ring_median(depth, u[hole], v[hole])
    out = d.astype(np.float64, copy=True)
    ok = count >= 4
    out[hole[ok]] = median[ok]
    return out


def _ring_median(depth: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The median (M,) float64 of the measured (> 0) of each pixel (u, v)'s 8 neighbours in depth
    (H, W) (clipped at the border; inf where none), and how many are measured (M,)."""
    h, w = depth.shape
    nb = np.stack([depth[np.clip(v + dv, 0, h - 1), np.clip(u + du, 0, w - 1)] for dv, du in _RING],
                  1).astype(np.float64)
    count = (nb > 0).sum(axis=1)
    nb = np.sort(np.where(nb > 0, nb, np.inf), axis=1)     # the measured ones first
    rows = np.arange(len(nb))
    return 0.5 * (nb[rows, np.maximum(count - 1, 0) // 2] + nb[rows, np.maximum(count, 1) // 2]), count


def rotation_error_deg(A: np.ndarray, B: np.ndarray) -> float:
    """Angle (degrees) of the rotation between two (4, 4) or (3, 3) transforms."""
    return rotation_angle_deg(np.asarray(A)[:3, :3].T @ np.asarray(B)[:3, :3])


def translation_error(A: np.ndarray, B: np.ndarray) -> float:
    """Distance between the translations of two (4, 4) transforms."""
    return float(np.linalg.norm(np.asarray(A)[:3, 3] - np.asarray(B)[:3, 3]))
