"""Speed of `synrecon export` (nerfstudio, COLMAP, Open3D) on a rendered simulated scene.

Usage: python bench/bench_export.py [--cameras 3] [--seconds 2] [--size 320x240] [--repeats 2]
Simulates and renders a scene (`synrecon simulate --render`), writes sync.json and a fuse-style
registration.json from the true offsets and poses (so fuse itself is not timed), then times each
exporter in-process (imports warmed up first). Prints one line per format: images, best-of-N wall
time, images per second.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from synnet_recon.exporters import ExportConfig, get_exporter  # noqa: E402
from synnet_recon.o3d import o3d  # noqa: E402


def scene_from_truth(root: Path) -> tuple[Path, Path, dict[str, Path]]:
    """sync.json (nearest frames per reference frame) and recon/registration.json + fused.ply."""
    truth = json.loads((root / "truth.json").read_text())
    cams = {c["name"]: c for c in truth["cameras"]}
    ref = cams[truth["reference"]]
    rows = []
    for i in range(ref["num_frames"]):
        t = ref["offset_seconds"] + i / ref["fps"]
        frames = {}
        for n, c in cams.items():
            j = int(round((t - c["offset_seconds"]) * c["fps"]))
            if 0 <= j < c["num_frames"]:
                frames[n] = j
        rows.append({"time": t, "frames": frames, "residual_seconds": {n: 0.0 for n in frames}})
    sync = {"schema": "synnet-recon/sync", "version": 1, "reference": ref["name"],
            "videos": [{"name": n, "path": str(root / c["video"]), "kind": "video", "fps": c["fps"],
                        "num_frames": c["num_frames"], "offset_seconds": c["offset_seconds"],
                        "offset_frames": c["offset_seconds"] * ref["fps"], "confidence": 1.0} for n, c in cams.items()],
            "pairs": [], "frames": rows}
    (root / "sync.json").write_text(json.dumps(sync))
    recon = root / "recon"
    recon.mkdir(exist_ok=True)
    records, fused = [], o3d.geometry.PointCloud()
    for k, row in enumerate(rows):
        w2c_ref = np.array(ref["world_to_camera"][row["frames"][ref["name"]]])
        c2r = {n: (w2c_ref @ np.linalg.inv(np.array(cams[n]["world_to_camera"][j]))).tolist()
               for n, j in row["frames"].items()}
        records.append({"index": k, "time": row["time"], "frames": row["frames"], "camera_to_reference": c2r,
                        "view_ok": {n: True for n in c2r}, "world_from_reference": np.linalg.inv(w2c_ref).tolist(),
                        "ok": True})
        if k % 10 == 0:
            for n, j in row["frames"].items():
                K = cams[n]["intrinsics"]
                depth = o3d.io.read_image(str(root / cams[n]["depth"] / f"{j:06d}.png"))
                intr = o3d.camera.PinholeCameraIntrinsic(K["width"], K["height"], K["fx"], K["fy"], K["cx"], K["cy"])
                fused += o3d.geometry.PointCloud.create_from_depth_image(
                    depth, intr, np.array(cams[n]["world_to_camera"][j]), 1000.0, 20.0)
    o3d.io.write_point_cloud(str(recon / "fused.ply"), fused.voxel_down_sample(0.02))
    (recon / "registration.json").write_text(json.dumps({
        "schema": "synnet-recon/registration", "version": 1, "reference": ref["name"],
        "videos": [{"name": n, "intrinsics": c["intrinsics"]} for n, c in cams.items()], "frames": records}))
    return root / "sync.json", recon, {n: root / c["depth"] for n, c in cams.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        root = Path(tmp) / "sim"
        subprocess.run([sys.executable, "-m", "synnet_recon.cli", "simulate", str(root), "--cameras", str(args.cameras),
                        "--seconds", str(args.seconds), "--width", str(w), "--height", str(h), "--render"],
                       check=True, capture_output=True)
        sync, recon, depth = scene_from_truth(root)
        config = ExportConfig(depth_dirs=depth)
        for name in ("nerfstudio", "colmap", "open3d"):
            exporter = get_exporter(name)
            best = float("inf")
            for _r in range(args.repeats):
                t = time.perf_counter()
                exporter(sync, recon, Path(tmp) / f"out_{name}", config)
                best = min(best, time.perf_counter() - t)
            n = sum(1 for p in (Path(tmp) / f"out_{name}").rglob("*.jpg"))
            print(f"{name:10s} {n:5d} images {w}x{h}  {best:6.2f} s  {n / best:6.1f} images/s")


if __name__ == "__main__":
    main()
