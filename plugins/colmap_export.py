"""COLMAP / OpenMVS export: the synchronized frames as a COLMAP workspace with known poses.

Layout written to OUT::

    images/t0001.234_cam1.jpg ...      # named by instant time, then camera
    sparse/0/cameras.txt images.txt points3D.txt   # COLMAP text model
    sparse/cameras.txt images.txt points3D.txt     # the same, where OpenMVS' InterfaceCOLMAP looks
    timestamps.json

One COLMAP camera per video (PINHOLE, or OPENCV when the intrinsics carry distortion; principal
point shifted by +0.5 px to COLMAP's pixel-corner origin); one image
per (instant, video) with pose ``cam_from_world`` = our ``world_to_camera`` (both OpenCV). No rigs:
our cameras move independently, so every image is its own trivial frame. ``points3D`` is a random
subsample of the fused cloud; each point's track lists the images that see it (in front, inside,
not behind other cloud points by a coarse z-buffer), and points no image sees are left out.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from synnet_recon.exporters import (
    ExportConfig,
    Exporter,
    intrinsics_for_image,
    iter_view_images,
    load_scene,
    timestamps,
    write_image,
)
from synnet_recon.fileio import atomic_dir


def camera_line(camera_id: int, K) -> str:
    """A cameras.txt line for our Intrinsics ``K``.

    Our principal point is OpenCV's (pixel centres at integer coordinates); COLMAP puts the image's
    top-left corner at (0, 0), so pixel centres sit at +0.5 and its principal point is ours + 0.5.
    """
    cx, cy = K.cx + 0.5, K.cy + 0.5
    if K.distorted:
        k1, k2, p1, p2 = K.dist
        return f"{camera_id} OPENCV {K.width} {K.height} {K.fx!r} {K.fy!r} {cx!r} {cy!r} {k1!r} {k2!r} {p1!r} {p2!r}"
    return f"{camera_id} PINHOLE {K.width} {K.height} {K.fx!r} {K.fy!r} {cx!r} {cy!r}"


def image_line(image_id: int, world_to_camera: np.ndarray, camera_id: int, name: str) -> str:
    """An images.txt pose line: IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME (world-to-camera)."""
    qx, qy, qz, qw = Rotation.from_matrix(world_to_camera[:3, :3]).as_quat()
    tx, ty, tz = world_to_camera[:3, 3]
    return " ".join([str(image_id)] + [repr(float(x)) for x in (qw, qx, qy, qz, tx, ty, tz)] + [str(camera_id), name])


def fused_points(ply: Path | None, max_points: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(M, 3) float points and (M, 3) uint8 colours subsampled from ``ply``; empty without one."""
    if ply is None or max_points <= 0:
        return np.zeros((0, 3)), np.zeros((0, 3), np.uint8)
    from synnet_recon.o3d import o3d

    cloud = o3d.io.read_point_cloud(str(ply))
    xyz = np.asarray(cloud.points)
    rgb = np.asarray(cloud.colors) if cloud.has_colors() else np.full_like(xyz, 0.5)
    if len(xyz) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(xyz), max_points, replace=False))
        xyz, rgb = xyz[keep], rgb[keep]
    return xyz, np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def _format_rows(rows: np.ndarray, fmt: str) -> str:
    """(N, k) numbers -> ``fmt`` (k fields) repeated N times, in one formatting call (fast)."""
    return (fmt * len(rows)) % tuple(rows.ravel().tolist()) if len(rows) else ""


def visible_points(xyz: np.ndarray, K, world_to_camera: np.ndarray, cell: int = 4,
                   tolerance: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """Points of the cloud this view sees: in front, inside the image, and not hidden behind
    other cloud points (a z-buffer over ``cell`` x ``cell`` pixel cells; ``tolerance`` relative).

    xyz: (M, 3) world; K: our Intrinsics (OpenCV pixel centres). Returns (idx (V,), uv (V, 2))
    with uv in COLMAP image coordinates (pixel centres at +0.5).
    """
    cam = xyz @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
    z = cam[:, 2]
    front = z > 1e-6
    with np.errstate(divide="ignore", invalid="ignore"):
        u = K.fx * cam[:, 0] / z + K.cx + 0.5
        v = K.fy * cam[:, 1] / z + K.cy + 0.5
    inside = front & (u >= 0) & (u < K.width) & (v >= 0) & (v < K.height)
    idx = np.flatnonzero(inside)
    if not len(idx):
        return idx, np.zeros((0, 2))
    cols = -(-K.width // cell)
    cells = (v[idx] // cell).astype(np.int64) * cols + (u[idx] // cell).astype(np.int64)
    nearest = np.full(cols * -(-K.height // cell), np.inf)
    np.minimum.at(nearest, cells, z[idx])
    keep = z[idx] <= nearest[cells] * (1.0 + tolerance)
    idx = idx[keep]
    return idx, np.stack([u[idx], v[idx]], axis=1)


def export(sync_json: Path, recon_dir: Path | None, out_dir: Path, config: ExportConfig) -> Path:
    """Write the COLMAP workspace to ``out_dir``; returns the sparse model folder (sparse/0)."""
    scene = load_scene(sync_json, recon_dir, config)
    ext = config.image_ext.lower()
    camera_ids = {name: i + 1 for i, name in enumerate(scene.cameras())}
    with atomic_dir(out_dir) as tmp:
        (tmp / "images").mkdir()
        cameras: dict[str, object] = {}
        posed = []  # (image_id, view, K, name)
        for image_id, (view, rgb) in enumerate(
                tqdm(iter_view_images(scene), total=len(scene.views), desc="colmap", unit="img"), start=1):
            K = intrinsics_for_image(view, rgb, scene.video_path(view.camera))
            cameras.setdefault(view.camera, K)
            name = view.image_name(ext)
            write_image(tmp / "images" / name, rgb, config.jpeg_quality)
            posed.append((image_id, view, K, name))
        xyz, rgb = fused_points(scene.fused_ply, config.max_points)

        # Observations: each point in every image that sees it. OpenMVS needs tracks (it stops
        # reading points3D.txt at a track-less point), so points no image sees are dropped.
        image_lines, obs = [], []  # obs: (point index, image id, point2D index) per observation
        for image_id, view, K, name in posed:
            idx, uv = visible_points(xyz, K, view.world_to_camera)
            obs.append(np.stack([idx, np.full(len(idx), image_id), np.arange(len(idx))], axis=1))
            points2d = _format_rows(np.column_stack([uv, idx + 1]), "%.3f %.3f %d ")
            image_lines += [image_line(image_id, view.world_to_camera, camera_ids[view.camera], name), points2d]
        obs = np.concatenate(obs) if obs else np.zeros((0, 3), np.int64)
        obs = obs[np.lexsort((obs[:, 1], obs[:, 0]))]  # by point, then image
        pairs = _format_rows(obs[:, 1:], "%d %d\n").splitlines()
        seen, starts = np.unique(obs[:, 0], return_index=True)
        ends = np.append(starts[1:], len(obs))
        point_lines = [f"{i + 1} {xyz[i, 0]!r} {xyz[i, 1]!r} {xyz[i, 2]!r} {rgb[i, 0]} {rgb[i, 1]} {rgb[i, 2]} 0 "
                       + " ".join(pairs[a:b]) for i, a, b in zip(seen.tolist(), starts.tolist(), ends.tolist())]

        texts = {
            "cameras.txt": ["# CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]", f"# Number of cameras: {len(cameras)}"]
            + [camera_line(camera_ids[n], K) for n, K in cameras.items()],
            "images.txt": ["# IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME", "# POINTS2D[] as (X, Y, POINT3D_ID)",
                           f"# Number of images: {len(scene.views)}"] + image_lines,
            "points3D.txt": ["# POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)",
                             f"# Number of points: {len(point_lines)}"] + point_lines,
        }
        model = tmp / "sparse" / "0"
        model.mkdir(parents=True)
        for fname, lines in texts.items():
            (model / fname).write_text("\n".join(lines) + "\n", encoding="utf-8")
            shutil.copyfile(model / fname, tmp / "sparse" / fname)
        (tmp / "timestamps.json").write_text(
            json.dumps(timestamps(scene, [v.image_name(ext) for v in scene.views]), indent=2) + "\n",
            encoding="utf-8")
    return Path(out_dir) / "sparse" / "0"


exporter = Exporter("colmap", "COLMAP workspace with known poses (images/, sparse/0), for COLMAP MVS or OpenMVS",
                    export, needs_recon=True)
