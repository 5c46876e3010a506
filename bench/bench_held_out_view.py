"""Refinement over time off / on, leave-one-view-out on real detections (docs/benchmarks.md, "Session 12
(h1): refinement over time as the default?", "Leave-one-view-out on real detections").

The Pose2Sim demo (real OpenPose keypoints, 4 calibrated synchronized 60 fps cameras, no true joints):
the stage's own steps (``recon.stage_triangulate``: keypoints at the synchronized instants, undistorted;
calibration poses; the people associated over all 4 views), then for each camera v the main person
(and any other person matched in all 4 views) triangulated from the other 3 (``triangulate_sequence``,
the stage's settings), per instant and refined over time (``refine_triangulations``, its defaults,
the same instants' times), projected into v and compared with v's own detections (confidence >= 0.5,
undistorted pixels), over the joints both know. At the native 60 fps and every 4th instant (15 fps).

Usage: python bench/bench_held_out_view.py [--out bench/results/held_out_view_h1_s12.json]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from synnet_recon.paths import shared_data_dir
from synnet_recon.recon.stage_triangulate import (
    TriangulateStageConfig,
    _cameras,
    load_keypoints,
    poses_from_calibration,
    poses_from_people,
    read_views,
)
from synnet_recon.recon.temporal import refine_triangulations
from synnet_recon.recon.triangulate import reproject, triangulate_sequence
from synnet_recon.skeleton import JOINT_INDEX
from synnet_recon.sync.result import SyncResult

POSE2SIM = "multiview/pose2sim_demo"
TRIALS = {"single (balancing)": "S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial",
          "multi (participants 1-2)": "S00_P01_MultiParticipants/S00_P01_T02_Participants1-2"}
CALIB = "outputs_commit_a948c20/S00_Calibration/Calib_qualisys.toml"
MIN_CONF = 0.5
GROUPS = {"head": ["nose", "r_eye", "l_eye", "r_ear", "l_ear"],
          "torso": ["neck", "r_shoulder", "l_shoulder", "r_hip", "l_hip"],
          "arms": ["r_elbow", "r_wrist", "l_elbow", "l_wrist"],
          "legs": ["r_knee", "r_ankle", "l_knee", "l_ankle"]}
STEPS = {"60 fps": 1, "15 fps": 4}


def write_sync(trial: Path, out: Path) -> Path:
    """A sync.json of the trial's 4 keypoint folders, frame i of each at i / 60 s (as the tests' _pose2sim_sync)."""
    names = [f"cam0{i}_json" for i in range(1, 5)]
    n = len(list((trial / "pose" / names[0]).glob("*.json")))
    videos = [{"name": c, "path": str(trial / "pose" / c), "kind": "keypoints", "fps": 60.0, "num_frames": n,
               "offset_seconds": 0.0, "offset_frames": 0.0, "confidence": 1.0, "keypoints": str(trial / "pose" / c)}
              for c in names]
    frames = [{"time": i / 60.0, "frames": {c: i for c in names}, "residual_seconds": {}} for i in range(n)]
    out.write_text(json.dumps({"schema": "synnet-recon/sync", "version": 2, "reference": names[0],
                               "videos": videos, "frames": frames}), encoding="utf-8")
    return out


def _stats(d: np.ndarray) -> dict:
    d = d[np.isfinite(d)]
    if not len(d):
        return {"n": 0}
    return {"n": int(len(d)), "median_px": round(float(np.median(d)), 3), "mean_px": round(float(np.mean(d)), 3),
            "p90_px": round(float(np.percentile(d, 90)), 3)}


def held_out(trial: Path, calib: Path, tmp: Path, poses: str) -> dict:
    config = TriangulateStageConfig(calibration=str(calib), progress=False)
    sync = SyncResult.load(write_sync(trial, tmp / "sync.json"))
    tracks, _ = load_keypoints(sync)
    names = [v.name for v in sync.videos]
    cameras = _cameras(config, names, {n: tuple(int(s) for s in tracks[n][0].image_size) for n in names},
                       sync.base, "calibration")
    views = read_views(sync, None, cameras, tracks, config.subframe)
    c0 = time.process_time()
    if poses == "calibration":
        results, people = poses_from_calibration(views, cameras)
    else:  # the stage's --poses-from-people on all 4 views (the held-out view's pose fitted with it)
        results, people, _ = poses_from_people(views, cameras, config)
    poses_cpu_s = round(time.process_time() - c0, 1)
    P_all = np.stack([cameras[n].K @ results[n].world_to_camera[:3] for n in views.names])
    rows = [r for r in people if all(k is not None for k in r)]
    out = {"poses": poses, "poses_cpu_s": poses_cpu_s, "cameras_ok": {n: bool(results[n].ok) for n in views.names},
           "instants": len(views.times), "people_in_all_views": len(rows), "cases": []}
    for p, row in enumerate(rows):
        xy = np.stack([views.xy[v][k] for v, k in enumerate(row)])  # (V, T, 18, 2)
        cf = np.stack([views.conf[v][k] for v, k in enumerate(row)])
        for rate, step in STEPS.items():
            sl = slice(None, None, step)
            for v, name in enumerate(views.names):
                use = [u for u in range(len(views.names)) if u != v]
                P = P_all[use]
                x, c = xy[use][:, sl].transpose(1, 0, 2, 3), cf[use][:, sl].transpose(1, 0, 2)
                c0 = time.process_time()
                tri = triangulate_sequence(P, x, c, config.triangulate, progress=False)
                c1 = time.process_time()
                ref = refine_triangulations(tri, P, x, c, views.times[sl])
                c2 = time.process_time()
                obs, ok = xy[v][sl], cf[v][sl] >= MIN_CONF
                dist = {}
                for key, res in (("per_instant", tri), ("over_time", ref)):
                    X = np.stack([r.points for r in res])
                    uv, _ = reproject(P_all[v][None], X.reshape(-1, 3))
                    dist[key] = np.linalg.norm(uv[0].reshape(obs.shape) - obs, axis=-1)
                both = ok & np.isfinite(dist["per_instant"]) & np.isfinite(dist["over_time"])
                moved = np.linalg.norm(np.stack([r.points for r in ref]) - np.stack([r.points for r in tri]), axis=-1)
                case = {"person": p, "rate": rate, "held_out": name, "scored": int(both.sum()),
                        "refinement_moved_mm_median": round(1000 * float(np.nanmedian(moved)), 2),
                        "detected": int(ok.sum()), "triangulate_cpu_s": round(c1 - c0, 2),
                        "refine_cpu_s": round(c2 - c1, 2)}
                for key in ("per_instant", "over_time"):
                    d = np.where(both, dist[key], np.nan)
                    case[key] = {"all": _stats(d)} | {
                        g: _stats(d[:, [JOINT_INDEX[j] for j in js]]) for g, js in GROUPS.items()}
                out["cases"].append(case)
                a, b = case["per_instant"]["all"], case["over_time"]["all"]
                print(f"{poses[:5]} p{p} {rate} held out {name}: n={a['n']:5d} median {a['median_px']:6.2f} -> "
                      f"{b['median_px']:6.2f} px  mean {a['mean_px']:6.2f} -> {b['mean_px']:6.2f} px  moved "
                      f"{case['refinement_moved_mm_median']} mm", flush=True)
    return out


def main() -> None:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench/results/held_out_view.json"))
    ap.add_argument("--trials", nargs="*", default=list(TRIALS))
    ap.add_argument("--poses", nargs="*", default=["calibration", "people"])
    args = ap.parse_args()
    base = (shared_data_dir() or Path("/work/shared/data")) / POSE2SIM
    load0, w0 = os.getloadavg(), time.perf_counter()
    out = {"min_confidence": MIN_CONF, "trials": {}}
    for t in args.trials:
        for poses in args.poses:
            print(t, poses, flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                out["trials"][f"{t}, poses from the {poses}"] = held_out(base / TRIALS[t], base / CALIB, Path(tmp), poses)
    out["machine"] = {"cpus": os.cpu_count(), "load_before": load0, "load_after": os.getloadavg(),
                      "wall_s": round(time.perf_counter() - w0, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
