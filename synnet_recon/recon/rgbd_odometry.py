"""A camera's motion between two instants from its colour and depth images (Open3D's RGB-D
odometry, photometric and geometric terms together), the person's pixels left out.

Open3D's tensor odometry (``o3d.t.pipelines.odometry``, hybrid term, robust losses, stopping when
converged): 17-24 ms a call at 320x240 on one core against 75-90 ms for the legacy
``compute_rgbd_odometry`` (fixed iterations, most of the time per call not in them: its iterations
20/10/5 -> 10/5/3 saved 6 %). On the bench scenes both find the motion within 0.07 degree / 0.4 cm
(tensor: mean 0.03-0.04 degree, 0.16-0.21 cm; legacy 0.015-0.03 degree, 0.06-0.16 cm);
docs/benchmarks.md "Fuse speed (session 8, h4)".

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

from ..o3d import o3d, single_thread
from ..pinhole import Intrinsics


@dataclass
class RGBDOdometryConfig:
    """Open3D's tensor RGB-D odometry (hybrid term) for the odometry edges of fuse's pose graph."""

    enabled: bool = True            # False: ICP of the background clouds only (as before); used with measured
    #                                 depth (``--depth rgbd``) only: the other backends' depth is not measured here
    depth_max: float = 4.0          # metres: pixels farther are not used (at 20 m the far walls' noise cost 0.3 cm
    #                                 on the bench's open floor)
    depth_diff_max: float = 0.03    # metres: correspondences farther apart in depth are dropped
    depth_huber: float = 0.02       # metres: Huber threshold of the depth term (under depth_diff_max)
    intensity_huber: float = 0.1    # intensity (0-1): Huber threshold of the photometric term
    iterations: tuple[int, ...] = (10, 5, 3)   # at most, per pyramid level, coarse to fine (stops when converged)
    max_width: int = 320            # images wider are downsampled to this first (cost grows with the pixels;
    #                                 at 160 the motions were 0.9 degree / 4 cm off)


@dataclass
class OdometryImage:
    """A view prepared for ``rgbd_odometry``: Open3D tensor RGB-D image, its K (3, 3), (H, W), and
    the depth (H, W) metres it holds (0 where none or the person's)."""

    rgbd: object
    K: np.ndarray
    shape: tuple[int, int]
    depth: np.ndarray


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
    rgbd, cleared = masked_rgbd(image, depth, person)
    return OdometryImage(rgbd, K, depth.shape, cleared)


def masked_rgbd(image: np.ndarray, depth: np.ndarray, person: np.ndarray | None = None):
    """Open3D tensor RGB-D image of colour (H, W, 3) uint8 and depth (H, W) metres, with the pixels
    where ``person`` (H, W) bool is set cleared (the person moves between instants; the scene does
    not) -> (the image, the depth (H, W) float32 it holds)."""
    d = np.ascontiguousarray(np.where(person, 0.0, depth) if person is not None else depth, dtype=np.float32)
    d[~np.isfinite(d)] = 0.0
    colour = np.ascontiguousarray(image, dtype=np.uint8)
    rgbd = o3d.t.geometry.RGBDImage(o3d.t.geometry.Image(o3d.core.Tensor(colour)), o3d.t.geometry.Image(o3d.core.Tensor(d)))
    return rgbd, d


def rgbd_odometry(current: OdometryImage, previous: OdometryImage, init: np.ndarray,
                  config: RGBDOdometryConfig) -> np.ndarray | None:
    """(4, 4) the camera at ``current`` -> the camera at ``previous`` (``odometry_image``s of one
    camera, the same size), from ``init``; None when Open3D finds no motion (too few
    correspondences: its linear system is singular) or a non-finite one. On one Open3D thread: its
    parallel sums vary from run to run (repeats 4e-6 apart on two threads), one thread repeats them
    exactly (fuse's outputs are deterministic), and a call costs 17-24 ms on one at 320x240."""
    odometry = o3d.t.pipelines.odometry
    criteria = [odometry.OdometryConvergenceCriteria(int(i)) for i in config.iterations]
    loss = odometry.OdometryLossParams(config.depth_diff_max, config.depth_huber, config.intensity_huber)
    intrinsics, start = o3d.core.Tensor(np.asarray(current.K, dtype=np.float64)), \
        o3d.core.Tensor(np.asarray(init, dtype=np.float64))
    try:
        with single_thread():
            result = odometry.rgbd_odometry_multi_scale(current.rgbd, previous.rgbd, intrinsics, start, 1.0,
                                                        config.depth_max, criteria, odometry.Method.Hybrid, loss)
    except RuntimeError:   # "Singular 6x6 linear system detected, tracking failed."
        return None
    T = result.transformation.numpy()
    return T if np.isfinite(T).all() and result.fitness > 0 else None
