"""Benchmark of camera poses from the scene (recon/sfm.py; docs/benchmarks.md, "Camera poses from the scene").

Rendered scenes (synth.wide: the textured room, cameras drifting on arcs around the dancing person,
H.264 videos, keypoints = the true joints projected with 1 px noise), posed from their videos alone
through ``scene_poses_from_sync``:
1. accuracy: 640x480, 3 cameras 35 degrees apart, 16 instants; given and estimated intrinsics;
   rotation error of every synchronized frame and translation error after one global scale
   (``sfm.pose_errors``; both relative to cam0's first frame), against the issue's targets
   (rotation < 1 degree for >= 95 % of frames, translation < 2 % of the scene size);
2. wide baselines: 4 cameras 90 degrees apart, 320x240, 8 instants (what the scene poses and what
   the people pose);
3. growth: SfM wall and CPU time against instants (8/16/32, 3 views) and views (2/3/4, 8 instants)
   at 320x240 with given intrinsics.
Timings are CPU seconds of this process (all threads) and wall seconds, with the load average.

Usage: python bench/bench_sfm.py [--out bench/results/sfm.json] [--work /tmp/bench_sfm] [--parts accuracy,wide,growth]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from synnet_recon.pinhole import Intrinsics
from synnet_recon.recon.sfm import SfmConf, pose_errors, scene_poses_from_sync
from synnet_recon.synth.wide import WideSceneConfig, render_wide_scene


def scene(work: Path, **kw) -> Path:
    config = WideSceneConfig(step=6, drift_deg_per_s=15.0, **kw)
    name = "_".join(f"{k}{v}" for k, v in sorted(kw.items()))
    out = work / name
    if not (out / "sync.json").is_file():
        render_wide_scene(config, out)
    return out / "sync.json"


def run(sync: Path, given: bool, conf: SfmConf | None = None) -> dict:
    truth = json.loads((sync.parent / "truth.json").read_text())
    intr = {c["name"]: Intrinsics.from_json(c["intrinsics"]) for c in truth["cameras"]} if given else None
    load = os.getloadavg()[0]
    t = time.perf_counter()
    result = scene_poses_from_sync(sync, intr, conf=conf or SfmConf())
    wall = time.perf_counter() - t
    names = list(result.videos)
    est = np.stack([result.videos[n].world_to_camera() for n in names])
    ok = np.stack([result.videos[n].ok for n in names])
    true = np.stack([np.asarray(c["world_to_camera"]) for c in truth["cameras"]])
    row = {"scene": sync.parent.name, "intrinsics": "given" if given else "estimated", "views": len(names),
           "instants": int(ok.shape[1]), "frames_posed": int(ok.sum()), "frames": int(ok.size),
           "source": result.source, "sources": sorted({f.source for v in result.videos.values() for f in v.frames}),
           "scale": result.scale, "warnings": result.warnings, "wall_s": wall, "load_avg_1min": load,
           "timings": result.timings}
    if ok[0, 0] and ok.sum() > 1:
        e = pose_errors(est, true, ok, (0, 0), np.asarray(truth["joints"]).reshape(-1, 3))
        row.update({k: v for k, v in e.items() if not isinstance(v, np.ndarray) and k != "scale"})
        row["scale_vs_truth"] = e["scale"]  # true metres per estimated metre
        rot = e["rotation_deg"]
        row["rotation_under_1deg_frac"] = float((rot < 1.0).mean())
        row["translation_under_2pct_frac"] = float((e["translation"] < 0.02 * e["scene_size"]).mean())
        row["rotation_max_deg"] = float(rot.max())
        by_source = {}
        flat_sources = np.array([f.source for v in result.videos.values() for f in v.frames])[ok.ravel()]
        for s in sorted(set(flat_sources)):
            by_source[s] = {"frames": int((flat_sources == s).sum()),
                            "rotation_median_deg": float(np.median(rot[flat_sources == s])),
                            "translation_median_frac": float(np.median(e["translation"][flat_sources == s])
                                                             / e["scene_size"])}
        row["by_source"] = by_source
    if not given:
        row["focal_error_frac"] = [abs(result.videos[n].intrinsics.fx / Intrinsics.from_json(c["intrinsics"]).fx - 1)
                                   for n, c in zip(names, truth["cameras"]) if result.videos[n].intrinsics]
    print(json.dumps({k: v for k, v in row.items() if k not in ("warnings", "timings", "by_source")}), flush=True)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="bench/results/sfm.json")
    ap.add_argument("--work", default="/tmp/bench_sfm")
    ap.add_argument("--parts", default="accuracy,wide,growth", help="comma-separated; results merge into --out")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.is_file() else {}
    rows["machine"] = f"{os.cpu_count()}-core CPU, shared"
    for part in args.parts.split(","):
        if part == "accuracy":
            acc = scene(work, cameras=3, separation_deg=35.0, instants=16, width=640, height=480)
            rows["accuracy"] = [run(acc, given) for given in (True, False)]
        elif part in ("accuracy_given", "accuracy_estimated"):  # one of the two, merged into "accuracy"
            acc = scene(work, cameras=3, separation_deg=35.0, instants=16, width=640, height=480)
            rows["accuracy"] = [r for r in rows.get("accuracy", []) if r["intrinsics"] != part.split("_")[1]]
            rows["accuracy"].append(run(acc, part == "accuracy_given"))
        elif part == "wide":
            rows["wide"] = [run(scene(work, cameras=4, separation_deg=90.0, instants=8), g) for g in (True, False)]
        elif part == "growth":
            rows["growth"] = [run(scene(work, cameras=views, separation_deg=35.0, instants=instants), True)
                              for views, instants in ((3, 8), (3, 16), (3, 32), (2, 8), (4, 8))]
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows, indent=1))
        tmp.replace(out)


if __name__ == "__main__":
    main()
