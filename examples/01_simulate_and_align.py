"""Simulate moving cameras filming motion capture, synchronize their keypoints, compare with the truth.

    python examples/01_simulate_and_align.py --cameras 3 --seconds 6 --seed 1

No rendering: the cameras' 2D keypoints come straight from the simulator (with realistic detector
noise), so this runs in seconds. Uses the CMU walk shipped in the package unless --motion is given.
"""
import argparse
import tempfile
from pathlib import Path

import synnet_recon as sr
from synnet_recon.synth.scene import PACKAGED_MOTION, SceneConfig, simulate_scene, write_scene

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--cameras", type=int, default=3)
parser.add_argument("--seconds", type=float, default=6.0)
parser.add_argument("--max-offset", type=float, default=1.5, help="true offsets are drawn from ±this (s)")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--motion", default=str(PACKAGED_MOTION), help="BVH or AMC clip")
parser.add_argument("--out", type=Path, default=None, help="folder for the scene and sync.json (default: temporary)")
args = parser.parse_args()

out = args.out or Path(tempfile.mkdtemp(prefix="synrecon-example01-"))

# 1. Simulate: every camera moves (orbits, follows, stands) and starts at a random sub-frame offset.
#    write_scene stores truth.json and one OpenPose JSON folder per camera (what a detector would give).
scene = simulate_scene(SceneConfig(cameras=args.cameras, seconds=args.seconds, max_offset=args.max_offset,
                                   motion=args.motion, seed=args.seed))
write_scene(scene, out / "scene")

# 2. Align the keypoint folders as a user would (`synrecon align DIR DIR ... --out sync.json`).
#    Folders hold frames only, so their frame rate is given (AlignConfig.fps).
folders = [str(out / "scene" / "keypoints" / cam.name) for cam in scene.cameras]
result = sr.align(folders, sr.AlignConfig(fps=scene.config.fps, progress=False))
result.save(out / "sync.json")

# 3. Compare: offsets are seconds on the reference camera's clock (cam0 = 0 in both).
fps = scene.config.fps
print(f"{'camera':<8}{'true (s)':>10}{'estimated (s)':>15}{'error (frames)':>16}{'confidence':>12}")
for cam in scene.cameras:
    est = result.video(cam.name)
    if est.offset_seconds is None:
        print(f"{cam.name:<8}{cam.offset_seconds:>+10.3f}{'not synced':>15}{'-':>16}{est.confidence:>12.2f}")
        continue
    error = (est.offset_seconds - cam.offset_seconds) * fps
    print(f"{cam.name:<8}{cam.offset_seconds:>+10.3f}{est.offset_seconds:>+15.3f}{error:>+16.2f}"
          f"{est.confidence:>12.2f}")
for warning in result.warnings:
    print("warning:", warning)
print(f"wrote {out / 'sync.json'}")
