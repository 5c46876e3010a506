"""Depth maps -> coloured 3D points (kornia), and cleaning of the clouds (Open3D)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..o3d import o3d


@dataclass
class LiftConfig:
    """How depth maps become points."""

    min_depth: float = 0.05          # metres
    max_depth: float = 20.0          # metres
    edge_threshold: float = 0.05     # drop pixels whose depth differs from a neighbour by > this
                                     # fraction of their depth (flying pixels at depth edges)
    stride: int = 2                  # keep every stride-th pixel in x and y


def depth_edges(depth: np.ndarray, threshold: float) -> np.ndarray:
    """(H, W) bool: pixels whose depth differs from a valid 4-neighbour by > ``threshold * depth``.

    Pixels without depth (0) are not neighbours, so sparse depth (stereo) keeps its isolated pixels.
    """
    d = depth.astype(np.float32)
    ok = d > 0
    jump = np.zeros_like(d)
    dx = np.where(ok[:, 1:] & ok[:, :-1], np.abs(np.diff(d, axis=1)), 0)
    dy = np.where(ok[1:, :] & ok[:-1, :], np.abs(np.diff(d, axis=0)), 0)
    jump[:, 1:] = np.maximum(jump[:, 1:], dx)
    jump[:, :-1] = np.maximum(jump[:, :-1], dx)
    jump[1:, :] = np.maximum(jump[1:, :], dy)
    jump[:-1, :] = np.maximum(jump[:-1, :], dy)
    return jump > threshold * np.maximum(d, 1e-6)


_GRIDS: dict[tuple, object] = {}


def _pixel_grid(height: int, width: int, K):
    """kornia's unprojected pixel grid (1, H, W, 3) for K (1, 3, 3), cached: building it is most of
    depth_to_3d_v2's time, and a video's camera rarely changes."""
    from kornia.geometry.depth import unproject_meshgrid

    key = (height, width, K.numpy().tobytes())
    if key not in _GRIDS:
        if len(_GRIDS) > 16:
            _GRIDS.clear()
        _GRIDS[key] = unproject_meshgrid(height, width, K, normalize_points=False, dtype=K.dtype)
    return _GRIDS[key]


def lift(depth: np.ndarray, K: np.ndarray, color: np.ndarray | None = None,
         config: LiftConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Back-project a depth map with kornia's ``depth_to_3d_v2``.

    depth: (H, W) metres, 0 = none; K: (3, 3); color: (H, W, 3) uint8 RGB or None.
    Returns points (N, 3) float64 in the camera frame (OpenCV: x right, y down, z forward) and
    colours (N, 3) float64 in [0, 1] (grey 0.5 without ``color``).
    """
    import torch
    from kornia.geometry.depth import depth_to_3d_v2

    config = config or LiftConfig()
    depth = np.asarray(depth, dtype=np.float32)
    valid = np.isfinite(depth) & (depth > config.min_depth) & (depth < config.max_depth)
    if config.edge_threshold > 0:
        valid &= ~depth_edges(np.where(valid, depth, 0), config.edge_threshold)
    K = np.asarray(K, dtype=np.float64)
    if config.stride > 1:  # sample pixels (s*i, s*j): the same camera with focal and centre / s
        s = config.stride
        valid, depth = valid[::s, ::s], depth[::s, ::s]
        color = None if color is None else color[::s, ::s]
        K = K.copy()
        K[:2] /= s
    d = torch.from_numpy(np.where(valid, depth, 0))[None]             # (1, H, W)
    k = torch.from_numpy(np.asarray(K, dtype=np.float32))[None]        # (1, 3, 3)
    grid = _pixel_grid(d.shape[1], d.shape[2], k)
    xyz = depth_to_3d_v2(d, k, xyz_grid=grid)[0].numpy()               # (H, W, 3)
    points = xyz[valid].astype(np.float64)
    if color is None:
        colors = np.full_like(points, 0.5)
    else:
        colors = color[valid].astype(np.float64) / 255.0
    return points, colors


def to_cloud(points: np.ndarray, colors: np.ndarray | None = None) -> "o3d.geometry.PointCloud":
    """(N, 3) points (+ (N, 3) colours in [0, 1]) -> Open3D legacy point cloud."""
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, dtype=np.float64)))
    if colors is not None:
        pcd.colors = o3d.utility.Vector3dVector(np.asarray(colors, dtype=np.float64))
    return pcd


def clean(pcd, voxel: float = 0.0, nb_neighbors: int = 16, std_ratio: float = 2.5):
    """Optional voxel downsampling, then statistical outlier removal (Open3D)."""
    if voxel > 0:
        pcd = pcd.voxel_down_sample(voxel)
    if len(pcd.points) > nb_neighbors + 1:
        pcd, _ = pcd.remove_statistical_outlier(nb_neighbors=nb_neighbors, std_ratio=std_ratio)
    return pcd
