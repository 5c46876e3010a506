"""A camera's motion between two instants from its colour and depth images (Open3D's RGB-D
odometry, photometric and geometric terms together), the person's pixels left out.

ICP of a camera's background clouds (8 cm voxels) onto its previous instant's slides where the
background is a repetitive floor: on the bench's open floor it stopped 0.9 degree / 8-12 cm from
the true motion (1.2 degrees / 6 cm: most of the way back to no motion), the pose graph then
disagreed with the verified, right registrations and flagged them. The dense image alignment, on
the same frames, found every such motion within 0.03 degree / 0.3 cm. fuse tries it first and
checks it as it checks ICP's (``fuse.Odometry``); ICP remains the fallback.

``tensor`` (off by default): Open3D's tensor odometry (``o3d.t.pipelines.odometry``, hybrid,
Open3D's robust losses, stops when converged, on one thread: its parallel sums vary between runs
otherwise). Its error grows as the image shrinks: on the bench's 640x480 speed scene (18 steps)
at 320 px wide mean 0.045 degree / 0.25 cm a step (legacy 0.029 / 0.16), at 480 px 0.014 / 0.08
(over 78 steps of 40 instants 0.023 / 0.12, legacy 0.022 / 0.08) in 34 ms a call (legacy at 320:
~125 ms), at 640 px 0.009 / 0.05 (docs/benchmarks.md "Fuse speed (session 9, h3)"). Off because fuse's outputs with it differ between one and two workers
(tests/recon/test_anchored.py's symmetric scene: fused.ply 81,318 vs 81,321 points).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..o3d import o3d, single_thread
from ..pinhole import Intrinsics


@dataclass
class RGBDOdometryConfig:
    """Open3D's RGB-D odometry (hybrid term) for the odometry edges of fuse's pose graph."""

    enabled: bool = True            # False: ICP of the background clouds only (as before); used with measured
    #                                 depth (``--depth rgbd``) only: the other backends' depth is not measured here
    depth_max: float = 4.0          # metres: pixels farther are not used (Open3D's default; at 20 m the far
    #                                 walls' noise cost 0.3 cm on the bench's open floor)
    depth_diff_max: float = 0.03    # metres: correspondences farther apart in depth are dropped
    iterations: tuple[int, ...] = (20, 10, 5)   # per pyramid level, coarse to fine
    max_width: int = 320            # images wider are downsampled to this first (cost grows with the pixels)
    tensor: bool = False            # Open3D's tensor odometry instead of the legacy one (module docstring)
    tensor_max_width: int = 480     # its images are downsampled to this (at 320 its steps were 1.5x legacy's error)
    tensor_iterations: tuple[int, ...] = (10, 5, 3, 1)   # at most, per pyramid level, coarse to fine
    tensor_losses: tuple[float, float, float] = (0.07, 0.05, 0.1)  # depth truncation (m), depth and intensity
    #                                 Huber thresholds: Open3D's defaults (with 0.03 / 0.02 m, 2 of 78 steps were
    #                                 0.65 degree off in session 8)

    @property
    def width(self) -> int:
        """Images wider are downsampled to this first."""
        return self.tensor_max_width if self.tensor else self.max_width


@dataclass
class OdometryImage:
    """A view prepared for ``rgbd_odometry``: Open3D RGB-D image, its K (3, 3) and (H, W)."""

    rgbd: object
    K: np.ndarray
    shape: tuple[int, int]


def odometry_image(image: np.ndarray, depth: np.ndarray, K: np.ndarray, joints: np.ndarray,
                   config: RGBDOdometryConfig) -> OdometryImage:
    """Colour (H, W, 3) uint8 and depth (H, W) metres of a view with intrinsics K, downsampled to
    ``config.width``, the person's pixels (``person.person_points`` of its joint centres
    (18, 3), NaN = unknown) cleared -> ``OdometryImage``."""
    import cv2

    from .lift import backproject
    from .person import person_points, pixels_near_person

    h, w = depth.shape
    K = np.asarray(K, dtype=np.float64)
    if w > config.width:
        s = config.width / w
        size = (config.width, max(1, int(round(h * s))))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        depth = cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)
        K = Intrinsics(w, h, K[0, 0], K[1, 1], K[0, 2], K[1, 2]).scaled(*size).K
    person = np.zeros(depth.shape, bool)
    v, u = np.nonzero(depth > 0)
    near = pixels_near_person(u, v, depth[v, u], K, joints)   # only those can be the person's
    v, u = v[near], u[near]
    body = person_points(backproject(np.stack([u, v], 1), depth[v, u], K), joints)
    person[v[body], u[body]] = True
    if config.tensor:
        return OdometryImage(tensor_rgbd(image, depth, person), K, depth.shape)
    return OdometryImage(masked_rgbd(image, depth, person), K, depth.shape)


def masked_rgbd(image: np.ndarray, depth: np.ndarray, person: np.ndarray | None = None):
    """Open3D RGB-D image of colour (H, W, 3) uint8 and depth (H, W) metres, with the pixels where
    ``person`` (H, W) bool is set cleared (the person moves between instants; the scene does not)."""
    d = np.where(person, 0.0, depth) if person is not None else depth
    return o3d.geometry.RGBDImage.create_from_color_and_depth(
        o3d.geometry.Image(np.ascontiguousarray(image, dtype=np.uint8)),
        o3d.geometry.Image(np.ascontiguousarray(d, dtype=np.float32)), depth_scale=1.0, depth_trunc=1e6,
        convert_rgb_to_intensity=True)


def tensor_rgbd(image: np.ndarray, depth: np.ndarray, person: np.ndarray):
    """``masked_rgbd`` for the tensor odometry: an Open3D tensor RGB-D image (colour uint8, depth
    float32 metres, 0 where none or the person's)."""
    d = np.ascontiguousarray(np.where(person, 0.0, depth), dtype=np.float32)
    d[~np.isfinite(d)] = 0.0
    return o3d.t.geometry.RGBDImage(o3d.t.geometry.Image(o3d.core.Tensor(np.ascontiguousarray(image, dtype=np.uint8))),
                                    o3d.t.geometry.Image(o3d.core.Tensor(d)))


def rgbd_odometry(current: OdometryImage, previous: OdometryImage, init: np.ndarray,
                  config: RGBDOdometryConfig) -> np.ndarray | None:
    """(4, 4) the camera at ``current`` -> the camera at ``previous`` (``odometry_image``s of one
    camera, the same size), from ``init``; None when Open3D reports no convergence."""
    if config.tensor:
        return _tensor_odometry(current, previous, init, config)
    (h, w), K = current.shape, current.K
    intrinsic = o3d.camera.PinholeCameraIntrinsic(int(w), int(h), float(K[0, 0]), float(K[1, 1]), float(K[0, 2]),
                                                  float(K[1, 2]))
    option = o3d.pipelines.odometry.OdometryOption(o3d.utility.IntVector(list(config.iterations)),
                                                   config.depth_diff_max, 0.0, config.depth_max)
    ok, T, _ = o3d.pipelines.odometry.compute_rgbd_odometry(
        current.rgbd, previous.rgbd, intrinsic, np.asarray(init, dtype=np.float64),
        o3d.pipelines.odometry.RGBDOdometryJacobianFromHybridTerm(), option)
    T = np.asarray(T)
    return T if ok and np.isfinite(T).all() else None


def _tensor_odometry(current: OdometryImage, previous: OdometryImage, init: np.ndarray,
                     config: RGBDOdometryConfig) -> np.ndarray | None:
    """``rgbd_odometry`` with Open3D's tensor pipeline, on one Open3D thread (repeats exactly); None
    when its linear system is singular (too few correspondences) or the motion is not finite."""
    odometry = o3d.t.pipelines.odometry
    criteria = [odometry.OdometryConvergenceCriteria(int(i)) for i in config.tensor_iterations]
    loss = odometry.OdometryLossParams(*config.tensor_losses)
    intrinsics = o3d.core.Tensor(np.asarray(current.K, dtype=np.float64))
    start = o3d.core.Tensor(np.asarray(init, dtype=np.float64))
    try:
        with single_thread():
            result = odometry.rgbd_odometry_multi_scale(current.rgbd, previous.rgbd, intrinsics, start, 1.0,
                                                        config.depth_max, criteria, odometry.Method.Hybrid, loss)
    except RuntimeError:   # "Singular 6x6 linear system detected, tracking failed."
        return None
    T = result.transformation.numpy()
    return T if np.isfinite(T).all() and result.fitness > 0 else None
