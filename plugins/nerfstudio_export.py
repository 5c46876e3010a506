"""nerfstudio export: ``transforms.json`` + images named by time, for dynamic (time-aware) NeRFs
and Gaussian splats.

Layout written to OUT::

    transforms.json   # nerfstudio fields; per-frame intrinsics and normalized "time"
    images/t0001.234_cam1.jpg ...
    depth/t0001.234_cam1.png ...   # with depth folders: 16-bit mm ("depth_file_path")
    fused.ply                      # copy of the fuse output ("ply_file_path"), when present
    timestamps.json, sync.json

``transform_matrix`` is camera-to-world in nerfstudio's (OpenGL) camera convention: x right,
y up, z backwards, i.e. our OpenCV camera-to-world times diag(1, -1, -1, 1). ``cx, cy`` are ours
+ 0.5: nerfstudio (like COLMAP) puts pixel centres at half-integer image coordinates. ``time`` is each
frame's capture time on the reference clock mapped linearly to [0, 1] (0 = earliest exported
frame, 1 = latest) as D-NeRF style models expect; the seconds are kept in ``time_seconds``.

:func:`parse_transforms` reads such a folder back into plain arrays; it is the logic behind the
nerfstudio dataparser in :mod:`plugins.nerfstudio_dataparser`.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
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

# OpenCV camera (x right, y down, z forward) -> OpenGL / nerfstudio camera (x right, y up, z back).
OPENCV_TO_OPENGL = np.diag([1.0, -1.0, -1.0, 1.0])


def opencv_to_nerfstudio(camera_to_world: np.ndarray) -> np.ndarray:
    """(..., 4, 4) OpenCV camera-to-world -> nerfstudio (OpenGL) camera-to-world."""
    return camera_to_world @ OPENCV_TO_OPENGL


def normalized_times(seconds: np.ndarray) -> np.ndarray:
    """(N,) seconds -> (N,) in [0, 1]; all zeros when every frame has the same time."""
    seconds = np.asarray(seconds, dtype=np.float64)
    span = float(seconds.max() - seconds.min()) if len(seconds) else 0.0
    return (seconds - seconds.min()) / span if span > 0 else np.zeros_like(seconds)


def export(sync_json: Path, recon_dir: Path | None, out_dir: Path, config: ExportConfig) -> Path:
    """Write the nerfstudio dataset of the registered views to ``out_dir``; returns transforms.json."""
    scene = load_scene(sync_json, recon_dir, config)
    depth = depth_sources(scene, config)
    if depth and len(depth) < len(scene.cameras()):
        missing = [n for n in scene.cameras() if n not in depth]
        raise InputError(sync_json, "nerfstudio needs depth for every camera or none: no depth for "
                                    f"{', '.join(missing)} (give --depth-dir NAME=DIR)")
    ext = config.image_ext.lower()
    times = normalized_times(np.array([v.capture_time for v in scene.views]))
    with atomic_dir(out_dir) as tmp:
        (tmp / "images").mkdir()
        if depth:
            (tmp / "depth").mkdir()
        frames = []
        views = {id(v): i for i, v in enumerate(scene.views)}
        for view, rgb in tqdm(iter_view_images(scene), total=len(scene.views), desc="nerfstudio", unit="img"):
            K = intrinsics_for_image(view, rgb, scene.video_path(view.camera))
            h, w = rgb.shape[:2]
            name = view.image_name(ext)
            write_image(tmp / "images" / name, rgb, config.jpeg_quality)
            k1, k2, p1, p2 = (float(d) for d in K.dist)
            frame = {
                "file_path": f"images/{name}",
                "transform_matrix": opencv_to_nerfstudio(view.camera_to_world).tolist(),
                # nerfstudio shoots rays through pixel centres at +0.5 (like COLMAP); ours are at integers.
                "fl_x": K.fx, "fl_y": K.fy, "cx": K.cx + 0.5, "cy": K.cy + 0.5, "w": int(w), "h": int(h),
                "k1": k1, "k2": k2, "p1": p1, "p2": p2,
                "time": float(times[views[id(view)]]),
                "time_seconds": view.capture_time, "instant_time": view.time,
                "camera": view.camera, "frame_index": view.frame,
            }
            if depth:
                frame["depth_file_path"] = f"depth/{Path(name).stem}.png"
                write_depth_png(tmp / frame["depth_file_path"], view_depth(depth, view, rgb))
            frames.append(frame)
        frames.sort(key=lambda f: f["file_path"])
        capture = [v.capture_time for v in scene.views]
        meta = {
            "camera_model": "OPENCV",
            "frames": frames,
            "synnet_recon": {"reference": scene.reference, "time_range_seconds": [min(capture), max(capture)],
                             "world": "registration reference frame, metres, Y up"},
        }
        if scene.fused_ply is not None:
            shutil.copyfile(scene.fused_ply, tmp / "fused.ply")
            meta["ply_file_path"] = "fused.ply"
        (tmp / "transforms.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        (tmp / "timestamps.json").write_text(json.dumps(timestamps(scene, [v.image_name(ext) for v in scene.views]), indent=2) + "\n", encoding="utf-8")
        shutil.copyfile(scene.sync_path, tmp / "sync.json")
    return Path(out_dir) / "transforms.json"


exporter = Exporter("nerfstudio", "nerfstudio transforms.json with per-frame time (dynamic NeRF / splats)",
                    export, needs_recon=True)


# --------------------------------------------------------------------------------------------
# Reading it back (plain numpy: the nerfstudio dataparser wraps this)
# --------------------------------------------------------------------------------------------
@dataclass
class ParsedDataset:
    """One split of an exported folder, poses centred and scaled into [-1, 1].

    Shapes: camera_to_world (N, 3, 4) nerfstudio convention; fx, fy, cx, cy, times (N,);
    width, height (N,) int; distortion (N, 6) as nerfstudio orders it (k1, k2, k3, k4, p1, p2);
    points_xyz (M, 3), points_rgb (M, 3) uint8 or None; transform (3, 4) applied before ``scale``.
    """

    image_filenames: list[Path]
    depth_filenames: list[Path] | None
    camera_to_world: np.ndarray
    fx: np.ndarray
    fy: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    width: np.ndarray
    height: np.ndarray
    distortion: np.ndarray
    times: np.ndarray
    transform: np.ndarray
    scale: float
    points_xyz: np.ndarray | None = None
    points_rgb: np.ndarray | None = None


def split_indices(n: int, split: str, eval_interval: int) -> np.ndarray:
    """Every ``eval_interval``-th frame is held out for eval/test; 0 puts every frame in every split."""
    idx = np.arange(n)
    if eval_interval <= 0:
        return idx
    held_out = idx % eval_interval == eval_interval - 1
    if split == "train":
        return idx[~held_out]
    if split in ("val", "test"):
        return idx[held_out]
    raise ValueError(f"unknown split {split!r}")


def parse_transforms(data: str | Path, split: str = "train", eval_interval: int = 8,
                     auto_scale: bool = True, scale_factor: float = 1.0) -> ParsedDataset:
    """Read an exported folder (or its transforms.json): cameras, times, depth and points."""
    data = Path(data)
    path = data if data.suffix == ".json" else data / "transforms.json"
    root = path.parent
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        frames = sorted(meta["frames"], key=lambda f: f["file_path"])
        poses = np.array([f["transform_matrix"] for f in frames], dtype=np.float64)
        get = lambda key, default=None: np.array([f.get(key, meta.get(key, default)) for f in frames], dtype=np.float64)
        fx, fy, cx, cy, w, h = (get(k) for k in ("fl_x", "fl_y", "cx", "cy", "w", "h"))
        dist = np.stack([get("k1", 0.0), get("k2", 0.0), get("k3", 0.0), get("k4", 0.0),
                         get("p1", 0.0), get("p2", 0.0)], axis=1)
        times = get("time", 0.0)
    except FileNotFoundError:
        raise InputError(path, "transforms.json not found") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(path, f"malformed transforms.json ({exc.__class__.__name__}: {exc})") from None
    if poses.ndim != 3 or poses.shape[1:] != (4, 4) or np.isnan(np.stack([fx, fy, cx, cy, w, h])).any():
        raise InputError(path, "every frame needs a 4x4 transform_matrix and fl_x, fl_y, cx, cy, w, h")

    # Centre the cameras at the origin and scale them into [-1, 1] (nerfstudio's scene box).
    transform = np.eye(4)[:3]
    transform[:, 3] = -poses[:, :3, 3].mean(axis=0)
    poses[:, :3, 3] += transform[:, 3]
    scale = float(scale_factor)
    if auto_scale:
        scale /= max(float(np.abs(poses[:, :3, 3]).max()), 1e-9)
    poses[:, :3, 3] *= scale

    points_xyz = points_rgb = None
    if meta.get("ply_file_path"):
        from synnet_recon.o3d import o3d

        ply = root / meta["ply_file_path"]
        cloud = o3d.io.read_point_cloud(str(ply))
        if cloud.is_empty():
            raise InputError(ply, "point cloud missing or empty")
        points_xyz = ((np.asarray(cloud.points) + transform[:, 3]) * scale).astype(np.float32)
        colors = np.asarray(cloud.colors) if cloud.has_colors() else np.full((len(points_xyz), 3), 0.5)
        points_rgb = np.round(colors * 255).astype(np.uint8)

    keep = split_indices(len(frames), split, eval_interval)
    has_depth = all("depth_file_path" in f for f in frames)
    return ParsedDataset(
        image_filenames=[root / frames[i]["file_path"] for i in keep],
        depth_filenames=[root / frames[i]["depth_file_path"] for i in keep] if has_depth else None,
        camera_to_world=poses[keep, :3, :4].astype(np.float32),
        fx=fx[keep], fy=fy[keep], cx=cx[keep], cy=cy[keep],
        width=w[keep].astype(np.int64), height=h[keep].astype(np.int64),
        distortion=dist[keep], times=times[keep], transform=transform, scale=scale,
        points_xyz=points_xyz, points_rgb=points_rgb)
