"""The fine check (``recon/fine.py``) under sensor-like depth noise (docs/benchmarks.md, "Fine check on
noisy depth"): on the wide-grid renders (``bench_fuse_wide.py``'s cache), cam1's true pose onto cam0 and
planted wrong ones (slides of 1.5 and 3 cm, turns of 0.5 and 1 degree about the camera, seeded random
directions), checked on the exact depth and on ``synth.depth_noise``'s Kinect-like depth.

Background points: the (noisy) depth back-projected and voxel-averaged at fuse's frame voxel (3 cm),
the person included (both views are of the same instant). Prints one JSON line per check, then a
summary per condition.

Usage: python bench/bench_fine_noise.py --renders /tmp/h3s7/grid [--instants 0 2] [--noise exact kinect]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

PLANTED = [("truth", 0.0, 0.0), ("slide", 0.015, 0.0), ("slide", 0.03, 0.0), ("turn", 0.0, 0.5), ("turn", 0.0, 1.0)]


def _points(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    from synnet_recon.recon.lift import voxel_down

    v, u = np.nonzero(depth > 0)
    z = depth[v, u].astype(np.float64)
    p = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], 1)
    return voxel_down(p, None, 0.03)[0]


def _planted(T: np.ndarray, kind: str, shift: float, turn_deg: float, rng: np.random.Generator) -> np.ndarray:
    from synnet_recon.recon.joint_icp import rotation

    e = rng.standard_normal(3)
    e /= np.linalg.norm(e)
    out = T.copy()
    if kind == "slide":
        out[:3, 3] += shift * e
    elif kind == "turn":       # about the camera's own centre
        D = np.eye(4)
        D[:3, :3] = rotation(np.radians(turn_deg) * e)
        out = T @ D
    return out


def views(root: Path, frame: int):
    from synnet_recon.recon.depth import DepthSource
    from synnet_recon.recon.frames import FrameReader

    truth = json.loads((root / "truth.json").read_text())
    out = {}
    for cam in truth["cameras"]:
        i = cam["intrinsics"]
        K = np.array([[i["fx"], 0, i["cx"]], [0, i["fy"], i["cy"]], [0, 0, 1.0]])
        reader = FrameReader(root / "videos" / f"{cam['name']}.mp4")
        image = reader.get(frame)
        reader.close()
        out[cam["name"]] = (image, DepthSource(root / "depth" / cam["name"]).get(frame), K)
    return truth, out


def run(root: Path, frame: int, noise_name: str, seed: int) -> list[dict]:
    from synnet_recon.recon.fine import FineConfig, FinePair, fine_check
    from synnet_recon.synth.depth_noise import DepthNoise, apply_depth_noise
    from synnet_recon.synth.wide import truth_camera_to_reference

    truth, v = views(root, frame)
    rng = np.random.default_rng([seed, frame])
    depth = {n: (apply_depth_noise(d, DepthNoise(), rng) if noise_name == "kinect" else d) for n, (_, d, _) in v.items()}
    config = FineConfig()
    pair = FinePair((v["cam1"][0], depth["cam1"], v["cam1"][2]), (v["cam0"][0], depth["cam0"], v["cam0"][2]),
                    _points(depth["cam1"], v["cam1"][2]), _points(depth["cam0"], v["cam0"][2]), config)
    T = truth_camera_to_reference(truth, {"cam0": frame, "cam1": frame}, "cam0")["cam1"]
    rows = []
    for kind, shift, turn in PLANTED:
        cpu = time.process_time()
        f, reason = fine_check(_planted(T, kind, shift, turn, rng), pair, config)
        rows.append({"scene": root.name, "instant": frame, "noise": noise_name, "pose": kind, "shift_cm": 100 * shift,
                     "turn_deg": turn, "flagged": reason is not None, "reason": reason,
                     "moved_cm": round(100 * f.moved, 2), "turned_deg": round(f.turned_deg, 3), "pull": round(f.pull, 2),
                     "residuals": f.residuals, "cpu_s": round(time.process_time() - cpu, 2),
                     "load": round(os.getloadavg()[0], 1)})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--renders", default="/tmp/bench_fuse_wide")
    ap.add_argument("--instants", type=int, nargs="+", default=[0, 2])
    ap.add_argument("--noise", nargs="+", default=["exact", "kinect"])
    ap.add_argument("--scenes", nargs="*", default=None, help="folder names (default: every *_320x240_* render)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    roots = [Path(args.renders) / s for s in args.scenes] if args.scenes else \
        sorted(p for p in Path(args.renders).glob("*_320x240_*") if (p / "truth.json").is_file())
    rows = []
    for root in roots:
        for frame in args.instants:
            for noise in args.noise:
                for r in run(root, frame, noise, args.seed):
                    print(json.dumps(r), flush=True)
                    rows.append(r)
    for noise in args.noise:
        mine = [r for r in rows if r["noise"] == noise]
        right = [r for r in mine if r["pose"] == "truth"]
        wrong = [r for r in mine if r["pose"] != "truth"]
        print(json.dumps({"summary": noise, "truth_flagged": sum(r["flagged"] for r in right), "truth": len(right),
                          "wrong_passed": sum(not r["flagged"] for r in wrong), "wrong": len(wrong),
                          "cpu_s": round(sum(r["cpu_s"] for r in mine), 1)}), flush=True)


if __name__ == "__main__":
    main()
