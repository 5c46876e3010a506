"""Fuse a rendered scene into point clouds and take a screenshot, without a display.

    synrecon simulate scene/ --cameras 3 --seconds 4 --render     # or use synrecon-demo/scene
    python examples/03_fuse_and_view.py scene/ --every 10

The scene's videos are synchronized with `align` first (or, with --true-offsets, with the offsets
in truth.json, to look at fusion alone). Then `fuse` lifts the rendered depth maps (rgbd backend)
with the true intrinsics, registers every view onto the reference camera (FPFH + RANSAC, ICP) and
fuses them; the estimated camera poses are compared with the true ones.
"""
import argparse
from pathlib import Path

import numpy as np

import synnet_recon as sr
from synnet_recon.demo import registration_errors
from synnet_recon.sync.align import SyncResult, VideoSync
from synnet_recon.synth.scene import read_truth
from synnet_recon.viewer import load_view, screenshot

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("scene", type=Path, help="output folder of `synrecon simulate --render`")
parser.add_argument("--out", type=Path, default=None, help="fuse output folder (default: SCENE/recon)")
parser.add_argument("--true-offsets", action="store_true", help="synchronize with truth.json instead of align")
parser.add_argument("--every", type=int, default=10, help="fuse every n-th synchronized instant")
parser.add_argument("--png", type=Path, default=None, help="screenshot (default: OUT/fused.png)")
args = parser.parse_args()

truth = read_truth(args.scene / "truth.json")
out = args.out or args.scene / "recon"
videos = [args.scene / cam["video"] for cam in truth["cameras"]]

# 1. Synchronize: sync.json lists, for every reference frame, the nearest frame of every video.
if args.true_offsets:
    fps = truth["fps"]
    result = SyncResult(truth["reference"], [
        VideoSync(cam["name"], str(args.scene / cam["video"]), "video", fps, cam["num_frames"],
                  cam["offset_seconds"], cam["offset_seconds"] * fps, 1.0, np.arange(cam["num_frames"]) / fps,
                  keypoints=str(args.scene / cam["keypoints"]))  # the simulator's 2D detections
        for cam in truth["cameras"]], pairs=[])
else:
    result = sr.align([str(v) for v in videos], sr.AlignConfig(progress=False))
sync_path = result.save(out.parent / f"{out.name}_sync.json")
print("offsets (s):", {name: None if o is None else round(o, 4) for name, o in result.offsets.items()})

# 2. Fuse: rendered depth for every camera (16-bit mm PNGs), intrinsics read from truth.json.
config = sr.FuseConfig(depth="rgbd", intrinsics=str(args.scene / "truth.json"), frames=f"::{args.every}",
                       depth_dirs={cam["name"]: str(args.scene / cam["depth"]) for cam in truth["cameras"]},
                       # the person's keypoints anchor the registration (align's sync.json names them;
                       # the true-offset sync.json made here does not, so give the simulator's)
                       keypoint_dirs={cam["name"]: str(args.scene / cam["keypoints"]) for cam in truth["cameras"]},
                       progress=False)
recon = sr.fuse(sync_path, config, out)
print(f"fused {recon.num_ok}/{len(recon.frames)} instants, {recon.fused_points} points in {out / 'fused.ply'}")

# 3. How far is each registered camera from its true pose (relative to the reference camera)?
per_camera, _ = registration_errors(recon.frames, truth, result.reference)
for name, errors in per_camera.items():
    rot, trans = np.median(np.array(errors), axis=0)
    print(f"  {name}: registered at {len(errors)} instants, median error {rot:.2f} deg, {100 * trans:.1f} cm")

# 4. Screenshot of fused.ply (Open3D offscreen, or a matplotlib scatter when that is unavailable).
png = args.png or out / "fused.png"
renderer = screenshot(load_view(out), png)
print(f"wrote {png} ({renderer})")
