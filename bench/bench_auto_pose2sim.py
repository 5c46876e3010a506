"""`synrecon triangulate --poses auto` on the Pose2Sim demo's balancing-trial videos, end to end
(docs/benchmarks.md, "Camera poses from the scene": static cameras far apart).

1. `synrecon align` on the four videos (MediaPipe; offsets unknown) -> OUT/sync.json;
2. `synrecon triangulate OUT/sync.json --calibration Calib_qualisys.toml --poses auto`: the calibration's
   intrinsics and distortion only; SfM is probed on a few instants, and when the background does not
   connect two videos the people pose the cameras (static, every instant pooled);
3. every camera pair's relative rotation and translation direction against the calibration
   (targets: 2 deg, 5 deg), the pair's spread under resampling as triangulate.json reports it
   (people_calibration.pairs), and what the command said about each camera.
Wall and CPU seconds (this process and its children) and the load average are recorded.

Usage: python bench/bench_auto_pose2sim.py [--out /tmp/auto_pose2sim] [--skip-align] [--json bench/results/auto_pose2sim.json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from synnet_recon.io.calibration import read_calibration_toml
from synnet_recon.paths import shared_data_dir
from synnet_recon.recon.people_calib import direction_angle_deg, rotation_angle_deg

TRIAL = "S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial"
CALIBRATION = "outputs_commit_a948c20/S00_Calibration/Calib_qualisys.toml"


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _run(args: list[str]) -> tuple[int, float, float]:
    t0, c0 = time.perf_counter(), _cpu()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    rc = subprocess.run([sys.executable, "-m", "synnet_recon.cli", *args], env=env).returncode
    return rc, round(time.perf_counter() - t0, 1), round(_cpu() - c0, 1)


def compare(summary: dict, cal: dict) -> list[dict]:
    """Every camera pair: relative rotation and translation direction errors against the calibration."""
    names = list(summary["cameras"])
    by_number = {n[-1]: c for n, c in cal.items()}
    spread = {(p["a"], p["b"]): p for p in summary.get("people_calibration", {}).get("pairs", [])}
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ca, cb = summary["cameras"][a], summary["cameras"][b]
            if not (ca["ok"] and cb["ok"]):
                rows.append({"pair": f"{a}-{b}", "posed": False})
                continue
            true = by_number[b[-1]].world_to_camera @ np.linalg.inv(by_number[a[-1]].world_to_camera)
            est = np.asarray(cb["world_to_camera"]) @ np.linalg.inv(np.asarray(ca["world_to_camera"]))
            rows.append({"pair": f"{a}-{b}", "posed": True,
                         "angle_apart_deg": round(rotation_angle_deg(true[:3, :3]), 1),
                         "rotation_error_deg": round(rotation_angle_deg(est[:3, :3] @ true[:3, :3].T), 3),
                         "direction_error_deg": round(direction_angle_deg(est[:3, 3], true[:3, 3]), 3)}
                        | {k: round(spread[(a, b)][k], 3) for k in ("rotation_spread_deg", "direction_spread_deg",
                                                                    "rotation_bias_deg", "direction_bias_deg",
                                                                    "detector_bias_deg", "detector_direction_deg", "rotation_uncertainty_deg",
                                                                    "direction_uncertainty_deg")
                           if k in spread.get((a, b), {})})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/auto_pose2sim"))
    ap.add_argument("--skip-align", action="store_true", help="reuse OUT/sync.json")
    ap.add_argument("--json", type=Path, default=Path("bench/results/auto_pose2sim.json"))
    args = ap.parse_args()
    base = shared_data_dir() / "multiview/pose2sim_demo"
    videos = sorted((base / TRIAL / "videos").glob("cam0*.mp4"))
    out = {"load_before": os.getloadavg()}
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.skip_align:
        rc, wall, cpu = _run(["align", *map(str, videos), "--out", str(args.out / "sync.json"), "--quiet"])
        out["align"] = {"rc": rc, "wall_s": wall, "cpu_s": cpu}
    rc, wall, cpu = _run(["triangulate", str(args.out / "sync.json"), "--out", str(args.out / "auto"),
                          "--calibration", str(base / CALIBRATION), "--poses", "auto", "--quiet"])
    out["triangulate"] = {"rc": rc, "wall_s": wall, "cpu_s": cpu}
    summary = json.loads((args.out / "auto" / "triangulate.json").read_text(encoding="utf-8"))
    out.update(poses=summary["poses"], warnings=summary["warnings"], seconds=summary.get("seconds"),
               cameras={n: {k: c.get(k) for k in ("ok", "reason", "source", "rotation_std_deg", "direction_std_deg",
                                                          "rotation_spread_deg", "direction_spread_deg")}
                        for n, c in summary["cameras"].items()},
               pairs=compare(summary, read_calibration_toml(base / CALIBRATION)), load_after=os.getloadavg())
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")
    for p in out["pairs"]:
        print(p)
    print(json.dumps({k: out[k] for k in ("poses", "triangulate", "load_before", "load_after")}))


if __name__ == "__main__":
    main()
