"""The joint-group check (``sync.pair.group_check``) on simulated pairs made for it: short static-camera
clips of TRAINING motions, filmed at 60 fps, with and without a detector bias shared by every frame of one
view (a group of its joints placed ``--lag`` frames late all along: a tracker that lags on the arms, or on
the legs). Per pair: the answer's error (frames of 60 fps), its confidence with the check off and on, and
its standard errors over time blocks and over joint groups. Not run in CI.

    python bench/analyze_group_check.py --pairs 24 --out bench/results/group_check_h1_s8.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synnet_recon.keypoints import Keypoints  # noqa: E402
from synnet_recon.sync import pair as P  # noqa: E402
from synnet_recon.sync.align import AlignConfig, align  # noqa: E402

GROUPS = {"arms": (3, 4, 6, 7), "legs": (9, 10, 12, 13)}


def lagged(kp: Keypoints, joints, lag: int) -> Keypoints:
    """``kp`` with ``joints`` taken from ``lag`` frames later (the last frames lose them)."""
    xy = np.array(kp.xy, dtype=np.float64)
    conf = np.array(kp.conf, dtype=np.float64)
    idx = list(joints)
    xy[:-lag, idx], conf[:-lag, idx] = xy[lag:, idx], conf[lag:, idx]
    xy[-lag:, idx], conf[-lag:, idx] = np.nan, 0.0
    return Keypoints(xy, conf, kp.times, kp.image_size, kp.name, dict(kp.meta))


def scene_pair(seed: int, motions, seconds: float):
    from synnet_recon.synth.camera import CameraPathConfig
    from synnet_recon.synth.scene import SceneConfig, simulate_scene

    rng = np.random.default_rng(seed)
    cfg = SceneConfig(cameras=2, seconds=seconds, fps=60.0, max_offset=0.1, seed=int(rng.integers(1 << 30)),
                      noise=float(rng.uniform(0.5, 1.5)), camera_path=CameraPathConfig(mode_weights=(0.0, 0.0, 1.0)))
    sc = simulate_scene(cfg, motions[int(rng.integers(len(motions)))])
    a, b = (Keypoints(c.keypoints.xy, c.keypoints.conf, c.keypoints.times, c.keypoints.image_size, n)
            for c, n in zip(sc.cameras, "ab"))
    return a, b, sc.cameras[1].offset_seconds - sc.cameras[0].offset_seconds


def one(a, b, truth, check: bool) -> dict:
    P.GROUP_CHECK_TOLERANCES = 3.0 if check else 0.0
    res = align([a, b], AlignConfig(progress=False))
    p = res.pairs[0]
    err = None if p.offset_seconds is None else float((p.offset_seconds - truth) * 60.0)
    return {"error_frames_60": err, "confidence": float(p.confidence),
            "stderr_frames": p.features.get("stderr_frames"), "group_stderr_frames": p.features.get("group_stderr_frames")}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=24)
    ap.add_argument("--lag", type=int, default=4, help="frames of 60 fps the biased group is late")
    ap.add_argument("--seconds", type=float, default=100 / 60.0)
    ap.add_argument("--motions", type=int, default=30, help="training motions loaded (the first of the split)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    from synnet_recon.sync.data import load_motions, motion_files, split_files

    motions = [m for m in load_motions(split_files(motion_files(), "train")[: args.motions], None, 0.0)
               if m.duration >= args.seconds + 1.0]
    t0, rows = time.process_time(), []
    for seed in range(args.pairs):
        a, b, truth = scene_pair(seed, motions, args.seconds)
        group = list(GROUPS)[seed % len(GROUPS)]
        for kind, kb in (("clean", b), (f"{group} late", lagged(b, GROUPS[group], args.lag))):
            row = {"seed": seed, "kind": kind, "off": one(a, kb, truth, False), "on": one(a, kb, truth, True)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {}
    for kind in ("clean", "biased"):
        sel = [r for r in rows if (r["kind"] == "clean") == (kind == "clean") and r["off"]["error_frames_60"] is not None]
        wrong = [abs(r["off"]["error_frames_60"]) >= 2 for r in sel]
        summary[kind] = {"pairs": len(sel), "wrong_2plus": int(sum(wrong)),
                         **{f"wrong_2plus_at_0.9_check_{m}": int(sum(w and r[m]["confidence"] >= 0.9 for w, r in zip(wrong, sel)))
                            for m in ("off", "on")},
                         **{f"right_at_0.9_check_{m}": int(sum((not w) and r[m]["confidence"] >= 0.9 for w, r in zip(wrong, sel)))
                            for m in ("off", "on")}}
    summary["cpu_seconds"] = round(time.process_time() - t0, 1)
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, "summary": summary, "rows": rows},
                                       indent=1, default=str))


if __name__ == "__main__":
    main()
