"""A camera's motion between two instants from its colour and depth images (Open3D's RGB-D
odometry, photometric and geometric terms together), the person's pixels left out.

ICP of a camera's background clouds (8 cm voxels) onto its previous instant's slides where the
background is a repetitive floor: on the bench's open floor it stopped 0.9 degree / 8-12 cm from
the true motion (1.2 degrees / 6 cm: most of the way back to no motion), the pose graph then
disagreed with the verified, right registrations and flagged them. The dense image alignment, on
the same frames, found every such motion within 0.03 degree / 0.3 cm. fuse tries it first and
checks it as it checks ICP's (``fuse.Odometry``); ICP remains the fallback.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..o3d import o3d
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


@dataclass
class OdometryImage:
    """A view prepared for ``rgbd_odometry``: Open3D RGB-D image, its K (3, 3) and (H, W)."""

    rgbd: object
    K: np.ndarray
    shape: tuple[int, int]


def odometry_image(image: np.ndarray, depth: np.ndarray, K: np.ndarray, joints: np.ndarray,
                   config: RGBDOdometryConfig) -> OdometryImage:
    """Colour (H, W, 3) uint8 and depth (H, W) metres of a view with intrinsics K, downsampled to
    ``config.max_width``, the person's pixels (``person.person_points`` of its joint centres
    (18, 3), NaN = unknown) cleared -> ``OdometryImage``."""
    import cv2

    from .lift import backproject
    from .person import person_points, pixels_near_person

    h, w = depth.shape
    K = np.asarray(K, dtype=np.float64)
    if w > config.max_width:
        s = config.max_width / w
        size = (config.max_width, max(1, int(round(h * s))))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        depth = cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)
        K = Intrinsics(w, h, K[0, 0], K[1, 1], K[0, 2], K[1, 2]).scaled(*size).K
    person = np.zeros(depth.shape, bool)
    v, u = np.nonzero(depth > 0)
    near = pixels_near_person(u, v, depth[v, u], K, joints)   # only those can be the person's
    v, u = v[near], u[near]
    body = person_points(backproject(np.stack([u, v], 1), depth[v, u], K), joints)
    person[v[body], u[body]] = True
    return OdometryImage(masked_rgbd(image, depth, person), K, depth.shape)


def masked_rgbd(image: np.ndarray, depth: np.ndarray, person: np.ndarray | None = None):
    """Open3D RGB-D image of colour (H, W, 3) uint8 and depth (H, W) metres, with the pixels where
    ``person`` (H, W) bool is set cleared (the person moves between instants; the scene does not)."""
    d = np.where(person, 0.0, depth) if person is not None else depth
    return o3d.geometry.RGBDImage.create_from_color_and_depth(
        o3d.geometry.Image(np.ascontiguousarray(image, dtype=np.uint8)),
        o3d.geometry.Image(np.ascontiguousarray(d, dtype=np.float32)), depth_scale=1.0, depth_trunc=1e6,
        convert_rgb_to_intensity=True)


def rgbd_odometry(current: OdometryImage, previous: OdometryImage, init: np.ndarray,
                  config: RGBDOdometryConfig) -> np.ndarray | None:
    """(4, 4) the camera at ``current`` -> the camera at ``previous`` (``odometry_image``s of one
    camera, the same size), from ``init``; None when Open3D reports no convergence."""
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
