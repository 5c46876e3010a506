"""mesh.ply: the fused views integrated into a TSDF volume (Open3D), exported with trimesh."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..io.depth_png import read_depth_png, write_depth_png
from ..o3d import o3d
from .intrinsics import Intrinsics

log = logging.getLogger(__name__)


def cache_view(folder: Path, k: int, depth: np.ndarray, image: np.ndarray, intr: Intrinsics):
    """Keep a view for the TSDF pass at the end (its pose is known only then): depth as 16-bit mm
    PNG, colour as PNG -> (depth path, colour path, intrinsics)."""
    import cv2

    folder.mkdir(exist_ok=True)
    dp, cp = folder / f"{k:06d}_depth.png", folder / f"{k:06d}_color.png"
    write_depth_png(dp, depth)
    cv2.imwrite(str(cp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return dp, cp, intr


def _read_view(dp: Path, cp: Path):
    import cv2

    return read_depth_png(dp), cv2.cvtColor(cv2.imread(str(cp)), cv2.COLOR_BGR2RGB)


def integrate(volume, depth: np.ndarray, image: np.ndarray, intr: Intrinsics, camera_to_world: np.ndarray,
              max_depth: float) -> None:
    rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
        o3d.geometry.Image(np.ascontiguousarray(image)), o3d.geometry.Image(depth.astype(np.float32)),
        depth_scale=1.0, depth_trunc=max_depth, convert_rgb_to_intensity=False)
    cam = o3d.camera.PinholeCameraIntrinsic(intr.width, intr.height, intr.fx, intr.fy, intr.cx, intr.cy)
    volume.integrate(rgbd, cam, np.linalg.inv(camera_to_world))


def tsdf_mesh(views: list[tuple[Path, Path, Intrinsics, np.ndarray]], cloud, voxel: float, max_depth: float,
              max_resolution: int = 256):
    """TSDF mesh of cached views (depth path, colour path, intrinsics, camera-to-world (4, 4)):
    Open3D's ScalableTSDFVolume; when that extracts nothing (open3d-cpu 0.20 here), a
    UniformTSDFVolume in a cube around ``cloud`` (voxel >= ``voxel``, at most 256^3 voxels)."""
    integration = o3d.pipelines.integration
    volume = integration.ScalableTSDFVolume(voxel_length=voxel, sdf_trunc=4 * voxel,
                                            color_type=integration.TSDFVolumeColorType.RGB8)
    for dp, cp, intr, c2w in views:
        integrate(volume, *_read_view(dp, cp), intr, c2w, max_depth)
    mesh = volume.extract_triangle_mesh()
    if len(mesh.triangles) or not views or not len(cloud.points):
        return mesh
    log.info("ScalableTSDFVolume gave an empty mesh; using a UniformTSDFVolume")
    lo, hi = cloud.get_min_bound() - 0.1, cloud.get_max_bound() + 0.1
    length = float((hi - lo).max())
    resolution = int(min(max_resolution, np.ceil(length / voxel)))
    step = length / resolution
    volume = integration.UniformTSDFVolume(length=length, resolution=resolution, sdf_trunc=4 * step,
                                           color_type=integration.TSDFVolumeColorType.RGB8, origin=lo.reshape(3, 1))
    for dp, cp, intr, c2w in views:
        integrate(volume, *_read_view(dp, cp), intr, c2w, max_depth)
    return volume.extract_triangle_mesh()


def export_mesh(m, path: Path) -> None:
    """Open3D TriangleMesh -> PLY with vertex colours, written by trimesh."""
    import trimesh

    colors = (np.asarray(m.vertex_colors) * 255).clip(0, 255).astype(np.uint8) if m.has_vertex_colors() else None
    mesh = trimesh.Trimesh(np.asarray(m.vertices), np.asarray(m.triangles), vertex_colors=colors, process=False)
    mesh.export(path)
