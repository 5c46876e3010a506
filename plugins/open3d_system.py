"""Open3D reconstruction-system export: one RGB-D sequence per camera.

Open3D's reconstruction system (examples/python/reconstruction_system, ``run_system.py --config``)
reconstructs one RGB-D sequence of one camera; our cameras move independently, so each gets its
own dataset. Layout written to OUT::

    <cam>/color/000000.jpg ...        # the camera's synchronized frames in time order (or .png)
    <cam>/depth/000000.png ...        # 16-bit PNG, millimetres (depth_scale 1000)
    <cam>/camera_intrinsic.json       # PinholeCameraIntrinsic JSON (o3d.io.read_pinhole_camera_intrinsic)
    <cam>/config.json                 # run_system.py config: path_dataset, path_intrinsic, depth_scale, ...
    <cam>/trajectory.log              # with --recon: registered poses (o3d.io.read_pinhole_camera_trajectory)
    <cam>/frames.json                 # sequence index -> video frame, instant, times
    timestamps.json

With a trajectory the frames can also be integrated directly (TSDF) with the known poses, e.g.
Open3D's t_reconstruction_system ``integrate.py --path_trajectory <cam>/trajectory.log``.
Exporter options (``--option KEY=VALUE``): max_depth, min_depth, voxel_size (metres).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from synnet_recon.errors import InputError
from synnet_recon.exporters import (
    ExportConfig,
    Exporter,
    depth_sources,
    intrinsics_for_image,
    iter_view_images,
    load_scene,
    timestamps,
    view_depth,
    write_depth_png,
    write_image,
)
from synnet_recon.fileio import atomic_dir
from synnet_recon.io.depth_png import DEPTH_PNG_SCALE  # our depth PNGs are millimetres


def system_config(path_dataset: Path, n_frames: int, max_depth: float, min_depth: float,
                  voxel_size: float) -> dict:
    """Fields read by Open3D's reconstruction_system/initialize_config.py (the rest keep its defaults)."""
    return {
        "name": f"synnet-recon {path_dataset.name}",
        "path_dataset": str(path_dataset),
        "path_intrinsic": str(path_dataset / "camera_intrinsic.json"),
        "depth_map_type": "redwood",
        "depth_scale": DEPTH_PNG_SCALE,
        "min_depth": min_depth,
        "max_depth": max_depth,
        "voxel_size": voxel_size,
        "max_depth_diff": 0.07,
        "tsdf_cubic_size": float(np.ceil(2.0 * max_depth)),
        "n_frames_per_fragment": int(min(100, max(n_frames, 1))),
        "n_keyframes_per_n_frame": 5,
        "preference_loop_closure_odometry": 0.1,
        "preference_loop_closure_registration": 5.0,
        "icp_method": "color",
        "global_registration": "ransac",
        "python_multi_threading": False,
    }


def export(sync_json: Path, recon_dir: Path | None, out_dir: Path, config: ExportConfig) -> Path:
    """Write one Open3D RGB-D dataset per camera with depth under ``out_dir``; returns ``out_dir``."""
    from synnet_recon.o3d import o3d

    scene = load_scene(sync_json, recon_dir, config)
    depth = depth_sources(scene, config)
    if not depth:
        raise InputError(sync_json, "the open3d exporter needs depth: pass --depth-dir NAME=DIR "
                                    "(16-bit PNG folder in millimetres, .npy, or 16-bit depth video)")
    try:
        opts = {k: float(config.options[k]) for k in ("max_depth", "min_depth", "voxel_size") if k in config.options}
    except ValueError as exc:
        raise InputError(None, f"--option values must be numbers ({exc})") from None
    views = sorted((v for v in scene.views if v.camera in depth), key=lambda v: (v.camera, v.capture_time))
    final = Path(out_dir).resolve()
    with atomic_dir(out_dir) as tmp:
        index: dict[str, list[dict]] = {}
        intrinsics = {}
        for view, rgb in tqdm(iter_view_images(scene, views), total=len(views), desc="open3d", unit="img"):
            cam_dir = tmp / view.camera
            rows = index.setdefault(view.camera, [])
            if not rows:
                (cam_dir / "color").mkdir(parents=True)
                (cam_dir / "depth").mkdir()
            intrinsics[view.camera] = intrinsics_for_image(view, rgb, scene.video_path(view.camera))
            i = len(rows)
            write_image(cam_dir / "color" / f"{i:06d}.{config.image_ext.lower()}", rgb, config.jpeg_quality)
            write_depth_png(cam_dir / "depth" / f"{i:06d}.png", view_depth(depth, view, rgb))
            rows.append({"index": i, "frame": view.frame, "instant": view.instant, "time": view.time,
                         "capture_time": view.capture_time,
                         "world_to_camera": None if view.world_to_camera is None else view.world_to_camera.tolist()})

        for cam, rows in index.items():
            cam_dir = tmp / cam
            K = intrinsics[cam]
            o3d.io.write_pinhole_camera_intrinsic(
                str(cam_dir / "camera_intrinsic.json"),
                o3d.camera.PinholeCameraIntrinsic(K.width, K.height, K.fx, K.fy, K.cx, K.cy))
            if all(r["world_to_camera"] is not None for r in rows):
                trajectory = o3d.camera.PinholeCameraTrajectory()
                params = []
                for r in rows:
                    p = o3d.camera.PinholeCameraParameters()
                    p.intrinsic = o3d.camera.PinholeCameraIntrinsic(K.width, K.height, K.fx, K.fy, K.cx, K.cy)
                    p.extrinsic = np.asarray(r["world_to_camera"], dtype=np.float64)
                    params.append(p)
                trajectory.parameters = params
                o3d.io.write_pinhole_camera_trajectory(str(cam_dir / "trajectory.log"), trajectory)
            max_depth = opts.get("max_depth") or _depth_range(cam_dir / "depth")
            cfg = system_config(final / cam, len(rows), max_depth, opts.get("min_depth", 0.1),
                                opts.get("voxel_size", 0.05))
            (cam_dir / "config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
            (cam_dir / "frames.json").write_text(json.dumps({"camera": cam, "frames": rows}, indent=2) + "\n",
                                                 encoding="utf-8")
        names = {id(v): f"{v.camera}/color/{i:06d}.{config.image_ext.lower()}" for cam in index
                 for i, v in enumerate(w for w in views if w.camera == cam)}
        ts = timestamps(scene, [names.get(id(v), "") for v in scene.views])
        ts["images"] = [r for r in ts["images"] if r["image"]]
        (tmp / "timestamps.json").write_text(json.dumps(ts, indent=2) + "\n", encoding="utf-8")
    return Path(out_dir)


def _depth_range(folder: Path, percentile: float = 99.0) -> float:
    """A max_depth in metres covering ``percentile`` % of the valid depth, rounded up to 0.5 m."""
    from PIL import Image

    values = []
    for p in sorted(folder.glob("*.png"))[:: max(1, len(list(folder.glob("*.png"))) // 10)]:
        with Image.open(p) as img:
            d = np.asarray(img, dtype=np.float64)
        values.append(d[d > 0][::7])
    v = np.concatenate(values) if values else np.zeros(0)
    if not len(v):
        return 3.0
    return float(np.ceil(np.percentile(v, percentile) / DEPTH_PNG_SCALE * 2.0) / 2.0)


exporter = Exporter("open3d", "Open3D reconstruction-system RGB-D datasets (one per camera), with poses",
                    export, needs_recon=False)
