"""Benchmark of 3D from video (docs/benchmarks.md, section "3D from video").

1. Camera poses from the people on the Pose2Sim demo: its four calibrated cameras from their
   OpenPose BODY_25B keypoints alone, given the intrinsics; relative rotation and translation
   direction errors of every pair against Calib_qualisys.toml, for several sets of trials.
2. The same on caliscope_4cam_A_rec4: its real triangulated MediaPipe landmarks (mapped to COCO-18)
   projected into its calibrated cameras with their distortion, detector-like noise added
   (synth.noise, level 1), poses solved from the noisy 2D alone.
3. Triangulation with detector-like noise: the packaged CMU dance seen by rings of 2-6 cameras,
   mean / median joint error against the truth, and time per synchronized instant; then the same
   joints refined over time (``bench_temporal``, ``--only-temporal``: smooth motion and constant
   bones, on the dance and the held-out walk).
4. The verification on two cameras 90 degrees apart (the dance, detector-like noise): for 40-200
   instants and four noise seeds, the rotation error, the pose uncertainty the solver reports
   (rotation_std_deg) and whether the camera was flagged; the same on narrower rigs of 2-4 cameras
   30-50 degrees apart (``bench_narrow_rigs``).
Times: wall and CPU (time.process_time) seconds; the load average is recorded.

Usage: python bench/bench_recon3d.py [--out /tmp/bench_recon3d.json] [--skip-pose2sim]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from synnet_recon.io.calibration import read_calibration_toml
from synnet_recon.paths import shared_data_dir
from synnet_recon.recon.people_calib import (
    calibrate_from_people,
    calibrate_from_tracks,
    direction_angle_deg,
    rotation_angle_deg,
    segment_from_openpose,
)

POSE2SIM_SETS = {
    "single-person trials (136 instants)": ["S00_P00_T00_StaticTrial", "S00_P00_T01_BalancingTrial",
                                            "S00_P01_T00_StaticTrialParticipant1",
                                            "S00_P01_T01_StaticTrialParticipant2"],
    "all five trials (2 people in one)": ["S00_P00_T00_StaticTrial", "S00_P00_T01_BalancingTrial",
                                          "S00_P01_T00_StaticTrialParticipant1",
                                          "S00_P01_T01_StaticTrialParticipant2", "S00_P01_T02_Participants1-2"],
    "balancing trial only (100 instants)": ["S00_P00_T01_BalancingTrial"],
    "static trial only (12 instants)": ["S00_P00_T00_StaticTrial"],
}
# MediaPipe pose ids of the COCO-18 joints (neck: mean of the shoulders).
MEDIAPIPE_TO_COCO18 = [0, None, 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7]


def pair_errors(result, truth: dict) -> list[dict]:
    rows = []
    names = list(truth)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            true = truth[b] @ np.linalg.inv(truth[a])
            if not (result.cameras[a].ok and result.cameras[b].ok):
                rows.append({"pair": f"{a}-{b}", "posed": False})
                continue
            est = result.relative(a, b)
            rows.append({"pair": f"{a}-{b}", "posed": True, "angle_apart_deg": rotation_angle_deg(true[:3, :3]),
                         "rotation_error_deg": rotation_angle_deg(est[:3, :3] @ true[:3, :3].T),
                         "direction_error_deg": direction_angle_deg(est[:3, 3], true[:3, 3])})
    return rows


def bench_pose2sim(shared: Path) -> dict:
    base = shared / "multiview/pose2sim_demo"
    cal = read_calibration_toml(base / "outputs_commit_a948c20/S00_Calibration/Calib_qualisys.toml")
    names = list(cal)
    out = {}
    for label, trials in POSE2SIM_SETS.items():
        segments = [segment_from_openpose([next(base.glob(f"*/{t}")) / "pose" / f"cam0{n[-1]}_json" for n in names],
                                          [cal[n] for n in names], fps=60) for t in trials]
        t0, c0 = time.perf_counter(), time.process_time()
        result, people = calibrate_from_tracks(names, segments, [cal[n].K for n in names])
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        rows = pair_errors(result, {n: cal[n].world_to_camera for n in names})
        out[label] = {"seconds": seconds, "cpu_seconds": cpu, "pairs": rows, "warnings": result.warnings,
                      "cameras": {n: {"ok": c.ok, "reason": c.reason, "inliers": c.inliers,
                                      "reprojection_px": c.reprojection_px, "rotation_std_deg": c.rotation_std_deg,
                                      "direction_std_deg": c.direction_std_deg}
                                  for n, c in result.cameras.items()}}
        print(label, f"{seconds:.0f} s", [(r["pair"], round(r.get("rotation_error_deg", np.nan), 2),
                                          round(r.get("direction_error_deg", np.nan), 2)) for r in rows], flush=True)
    return out


def caliscope_views(shared: Path, rng: np.random.Generator, stride: int = 3):
    """Noisy 2D COCO-18 joints of caliscope's real 3D landmarks in its calibrated cameras."""
    import cv2

    from synnet_recon.recon.triangulate import undistort_pixels
    from synnet_recon.synth.noise import DetectorNoise, apply_detector_noise

    base = shared / "multiview/caliscope_4cam_A_rec4"
    cal = read_calibration_toml(base / "config_calibration.toml")
    table = np.genfromtxt(base / "xyz_SIMPLE_HOLISTIC.csv", delimiter=",", skip_header=1)[:, 1:]
    sync = table[:, 0].astype(int)
    instants = np.unique(sync)[::stride]
    joints = np.full((len(instants), 18, 3), np.nan)
    where = {s: i for i, s in enumerate(instants)}
    for s, pid, x, y, z in table:
        i = where.get(int(s))
        if i is None:
            continue
        for j, m in enumerate(MEDIAPIPE_TO_COCO18):
            if m == int(pid):
                joints[i, j] = (x, y, z)
    joints[:, 1] = 0.5 * (joints[:, 2] + joints[:, 5])
    names = list(cal)
    xy_all, conf_all = [], []
    for n in names:
        c = cal[n]
        R, t = c.world_to_camera[:3, :3], c.world_to_camera[:3, 3]
        flat = joints.reshape(-1, 3)
        ok = np.isfinite(flat).all(axis=1)
        pix = np.full((len(flat), 2), np.nan)
        pix[ok] = cv2.projectPoints(flat[ok], cv2.Rodrigues(R)[0], t, c.K, c.dist)[0].reshape(-1, 2)
        depth = flat @ R[2] + t[2]
        noisy, conf = apply_detector_noise(pix.reshape(len(instants), 18, 2), depth.reshape(len(instants), 18),
                                           c.size, DetectorNoise(), rng)
        xy_all.append(undistort_pixels(noisy.astype(np.float64), c.K, c.dist))
        conf_all.append(conf.astype(np.float64))
    return names, cal, np.stack(xy_all), np.stack(conf_all), joints


def bench_caliscope(shared: Path) -> dict:
    names, cal, xy, conf, _ = caliscope_views(shared, np.random.default_rng(0))
    t0 = time.perf_counter()
    result = calibrate_from_people(names, xy, conf, [cal[n].K for n in names])
    seconds = time.perf_counter() - t0
    rows = pair_errors(result, {n: cal[n].world_to_camera for n in names})
    visible = (conf > 0).mean(axis=(1, 2))
    print("caliscope", f"{seconds:.0f} s", [(r["pair"], round(r.get("rotation_error_deg", np.nan), 2),
                                            round(r.get("direction_error_deg", np.nan), 2)) for r in rows], flush=True)
    return {"seconds": seconds, "instants": int(xy.shape[1]), "joints_visible": dict(zip(names, visible.tolist())),
            "pairs": rows, "warnings": result.warnings,
            "cameras": {n: {"ok": c.ok, "reason": c.reason} for n, c in result.cameras.items()}}


def bench_triangulation(instants: int = 200) -> dict:
    import importlib.util

    from synnet_recon.recon.triangulate import reproject, triangulate_sequence
    from synnet_recon.synth.noise import DetectorNoise, apply_detector_noise

    spec = importlib.util.spec_from_file_location("t", Path(__file__).parents[1] / "tests/recon/test_triangulate.py")
    t = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(t)
    out = {}
    X = t.dance(instants)
    for views in (2, 3, 4, 6):
        rng = np.random.default_rng(views)
        P = t.ring(views, spread_deg=90.0 if views == 2 else 360.0)
        xy, depth = reproject(P, X.reshape(-1, 3))
        noisy, conf = apply_detector_noise(xy.reshape(views, len(X), 18, 2), depth.reshape(views, len(X), 18),
                                           t.SIZE, DetectorNoise(), rng)
        t0 = time.perf_counter()
        res = triangulate_sequence(P, noisy.transpose(1, 0, 2, 3), conf.transpose(1, 0, 2))
        seconds = (time.perf_counter() - t0) / len(X)
        err = np.linalg.norm(np.stack([r.points for r in res]) - X, axis=-1)
        known = np.isfinite(err)
        out[views] = {"mean_cm": 100 * float(err[known].mean()), "median_cm": 100 * float(np.median(err[known])),
                      "p95_cm": 100 * float(np.percentile(err[known], 95)), "known": float(known.mean()),
                      "ms_per_instant": 1000 * seconds}
        print("triangulate", views, {k: round(v, 2) for k, v in out[views].items()}, flush=True)
    return out


def bench_temporal(instants: int = 160, settings=None) -> dict:
    """Per-instant triangulation, then ``recon.temporal.refine_over_time`` (smooth motion, constant
    bones, robust), on 2-4 cameras with detector-like noise: the packaged dance (05_02, what the
    defaults were chosen on) and the packaged walk (131_02, held out), both at 120/7 = 17.1 fps."""
    import importlib.util

    from synnet_recon.motion import load_motion
    from synnet_recon.paths import PACKAGE_DATA
    from synnet_recon.recon.temporal import TemporalConf, refine_over_time
    from synnet_recon.recon.triangulate import reproject, triangulate_sequence
    from synnet_recon.synth.noise import DetectorNoise, apply_detector_noise

    spec = importlib.util.spec_from_file_location("t", Path(__file__).parents[1] / "tests/recon/test_triangulate.py")
    t = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(t)
    settings = settings or {"default": TemporalConf()}
    out = {}
    for clip in ("05_02", "131_02"):
        X = load_motion(PACKAGE_DATA / "mocap" / f"{clip}.bvh").joints[::7][:instants].copy()
        X[..., [0, 2]] -= X[..., [0, 2]].reshape(-1, 2).mean(axis=0)
        times = np.arange(len(X)) * 7 / 120.0
        for views in (2, 3, 4):
            rng = np.random.default_rng(views)
            P = t.ring(views, spread_deg=90.0 if views == 2 else 360.0)
            xy, depth = reproject(P, X.reshape(-1, 3))
            noisy, conf = apply_detector_noise(xy.reshape(views, len(X), 18, 2), depth.reshape(views, len(X), 18),
                                               t.SIZE, DetectorNoise(), rng)
            res = triangulate_sequence(P, noisy.transpose(1, 0, 2, 3), conf.transpose(1, 0, 2))
            points = np.stack([r.points for r in res])
            err0 = np.linalg.norm(points - X, axis=-1)
            row = {"per_instant_mean_cm": 100 * float(np.nanmean(err0)), "known": float(np.isfinite(err0).mean())}
            for name, conf_t in settings.items():
                c0, t0 = time.process_time(), time.perf_counter()
                refined = refine_over_time(P, noisy.transpose(1, 0, 2, 3), conf.transpose(1, 0, 2), points,
                                           np.stack([r.inliers for r in res]), times,
                                           np.stack([r.reprojection_px for r in res]), conf_t)
                cpu, wall = time.process_time() - c0, time.perf_counter() - t0
                err = np.linalg.norm(refined - X, axis=-1)
                row[name] = {"mean_cm": 100 * float(np.nanmean(err)), "median_cm": 100 * float(np.nanmedian(err)),
                             "p95_cm": 100 * float(np.nanpercentile(err, 95)),
                             "cpu_ms_per_instant": 1000 * cpu / len(X), "wall_ms_per_instant": 1000 * wall / len(X)}
            out[f"{clip} {views} views"] = row
            print("temporal", clip, views, json.dumps(row), flush=True)
    return out


def bench_two_cameras(instants=(40, 80, 120, 150, 200), seeds=range(4)) -> list[dict]:
    import importlib.util

    from synnet_recon.recon.triangulate import reproject
    from synnet_recon.synth.noise import DetectorNoise, apply_detector_noise

    spec = importlib.util.spec_from_file_location("t", Path(__file__).parents[1] / "tests/recon/test_triangulate.py")
    t = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(t)
    rows = []
    P = t.ring(2, spread_deg=180.0)
    W = [np.vstack([np.linalg.inv(t.K) @ p, [0, 0, 0, 1]]) for p in P]
    true = W[1] @ np.linalg.inv(W[0])
    for T in instants:
        X = t.dance(T)
        T = len(X)  # the clip has 161 instants at this stride
        for seed in seeds:
            rng = np.random.default_rng(seed + 7)
            xy, depth = reproject(P, X.reshape(-1, 3))
            noisy, conf = apply_detector_noise(xy.reshape(2, T, 18, 2), depth.reshape(2, T, 18), t.SIZE,
                                               DetectorNoise(), rng)
            c0 = time.process_time()
            r = calibrate_from_people(["a", "b"], noisy.astype(np.float64), conf.astype(np.float64), [t.K, t.K])
            cpu = time.process_time() - c0
            est = r.relative("a", "b")
            rows.append({"instants": T, "seed": seed, "ok": r.cameras["b"].ok, "cpu_seconds": cpu,
                         "rotation_error_deg": rotation_angle_deg(est[:3, :3] @ true[:3, :3].T),
                         "direction_error_deg": direction_angle_deg(est[:3, 3], true[:3, 3]),
                         "rotation_std_deg": r.cameras["b"].rotation_std_deg,
                         "direction_std_deg": r.cameras["b"].direction_std_deg})
            print("two cameras", {k: (round(v, 2) if isinstance(v, float) else v) for k, v in rows[-1].items()},
                  flush=True)
    return rows


NARROW_RIGS = ((3, 90.0, 60), (3, 150.0, 24), (3, 150.0, 60), (2, 30.0, 24), (2, 30.0, 60), (4, 120.0, 40))


def bench_narrow_rigs(rigs=NARROW_RIGS, seeds=range(3)) -> list[dict]:
    """The verification on rigs of V cameras spread over S degrees (the dance, detector-like noise):
    each camera's error against the anchor camera, its reported uncertainty and whether it passed."""
    import importlib.util

    from synnet_recon.recon.triangulate import reproject
    from synnet_recon.synth.noise import DetectorNoise, apply_detector_noise

    spec = importlib.util.spec_from_file_location("t", Path(__file__).parents[1] / "tests/recon/test_triangulate.py")
    t = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(t)
    rows = []
    for V, spread, T in rigs:
        P = t.ring(V, spread_deg=spread)
        W = [np.vstack([np.linalg.inv(t.K) @ p, [0, 0, 0, 1]]) for p in P]
        X = t.dance(T)
        names = [f"c{v}" for v in range(V)]
        for seed in seeds:
            xy, depth = reproject(P, X.reshape(-1, 3))
            noisy, conf = apply_detector_noise(xy.reshape(V, T, 18, 2), depth.reshape(V, T, 18), t.SIZE,
                                               DetectorNoise(), np.random.default_rng(seed))
            r = calibrate_from_people(names, noisy.astype(np.float64), conf.astype(np.float64), [t.K] * V)
            a = names.index(r.anchor) if r.anchor in names else 0
            for v, n in enumerate(names):
                c = r.cameras[n]
                if v == a or c.world_to_camera is None:
                    continue
                true, est = W[v] @ np.linalg.inv(W[a]), r.relative(names[a], n)
                rows.append({"cameras": V, "spread_deg": spread, "instants": T, "seed": seed, "camera": n,
                             "ok": c.ok, "rotation_error_deg": rotation_angle_deg(est[:3, :3] @ true[:3, :3].T),
                             "direction_error_deg": direction_angle_deg(est[:3, 3], true[:3, 3]),
                             "rotation_std_deg": c.rotation_std_deg, "direction_std_deg": c.direction_std_deg})
                print("narrow", {k: (round(x, 2) if isinstance(x, float) else x) for k, x in rows[-1].items()},
                      flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_recon3d.json"))
    ap.add_argument("--skip-pose2sim", action="store_true")
    ap.add_argument("--only-temporal", action="store_true", help="only the refinement over time (bench_temporal)")
    args = ap.parse_args()
    if args.only_temporal:
        from synnet_recon.recon.temporal import TemporalConf

        settings = {"default": TemporalConf(), "acceleration 15": TemporalConf(acceleration=15.0),
                    "acceleration 60": TemporalConf(acceleration=60.0), "bones 0.05 m": TemporalConf(bone_sigma=0.05),
                    "no bones": TemporalConf(bone_sigma=1e3)}
        load = os.getloadavg()[0]
        report = {"machine": f"{os.cpu_count()} CPUs, load {load:.1f}", "temporal": bench_temporal(settings=settings),
                  "load_after": os.getloadavg()[0]}
        args.out.write_text(json.dumps(report, indent=2, default=float))
        print(f"wrote {args.out}")
        return
    shared = shared_data_dir()
    report = {"machine": f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", "triangulation": bench_triangulation(),
              "two_cameras": bench_two_cameras(), "narrow_rigs": bench_narrow_rigs()}
    if shared is not None:
        report["caliscope"] = bench_caliscope(shared)
        if not args.skip_pose2sim:
            report["pose2sim"] = bench_pose2sim(shared)
    report["load_after"] = os.getloadavg()[0]
    args.out.write_text(json.dumps(report, indent=2, default=float))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
