"""Refinement over time (``triangulate --over-time``, ``recon.temporal``) on or off: where does it hurt?
(docs/benchmarks.md, "Session 12 (h1): refinement over time as the default?").

The machinery of ``bench_recon3d.bench_temporal`` (the rings of ``tests/recon/test_triangulate.py``,
true poses, detector-like 2D noise ``synth.noise.DetectorNoise`` level 1, the stage's per-instant
triangulation, then ``refine_over_time`` with its defaults), swept over what could make a motion
prior hurt:

- **motion**: the packaged dance (05_02) and walk (131_02), and fast CMU clips from the shared mocap
  (a run 09_01, a forward jump 13_11, a soccer kick 10_03, a dance with a jete and pirouettes 05_06);
  up to 4 s of each; a constant velocity of the mid-hip is taken out (a Galilean change of frame: the
  accelerations the prior sees are unchanged, the runner stays in the cameras' view);
- **frame rate of the instants**: the detector runs on 30 fps video (its noise is correlated frame
  to frame at 30 fps), the instants are every 1st, 2nd, 3rd, 6th, 7th or 10th frame: 30, 15, 10, 5,
  4.3 fps (the rgb demo's 16 instants over 4 s) and 3 fps (its ``--quick`` 8 over 2.5 s: spacing over
  ``TemporalConf.max_gap_s``, so no motion term, the bones alone);
- **dropped instants**: 25 % of the 15 fps instants removed at random (irregular spacing, gaps);
- **partial bodies**: one view loses the knees and ankles over the middle half of the clip, another
  the elbows and wrists over the last third (with 2 views those joints are then unknown there);
- **rigs**: 2 views 90 degrees apart, 3 views 30 degrees apart (the rgb demo's arc), 3 views around.

Per case and seed: the mean joint error (cm) per instant and refined, over the joints the
per-instant triangulation knows (the refinement adds none); the same over the fastest 10 % of
(instant, joint) samples (true acceleration at 30 fps, central difference), where a motion prior
would cut peaks; CPU seconds of the triangulation and of the refinement.

Two checks on other data (``--demo DIR``, ``--pose2sim``):

- a finished ``synrecon demo --rgb-only --layout arc`` folder: SfM posed again as the demo does (its
  settings, true intrinsics and body height), then the stage run twice on those poses, the
  refinement off and on, each scored with the demo's own joint comparison (MediaPipe's joints);
- the Pose2Sim demo's balancing trial (real OpenPose keypoints, 4 calibrated cameras, no true
  joints): ``synrecon triangulate --calibration`` off and on; reprojection error, bone-length
  spread, frame-to-frame jitter (not accuracy).

Usage: python bench/bench_over_time.py [--out bench/results/over_time.json] [--seeds 3] [--groups ...]
       python bench/bench_over_time.py --summarize bench/results/over_time_h1_s12.json ...
       python bench/bench_over_time.py --demo DEMO_DIR ... | --pose2sim
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from pathlib import Path

import numpy as np

from synnet_recon.motion import load_motion
from synnet_recon.paths import PACKAGE_DATA, shared_data_dir
from synnet_recon.recon.temporal import refine_over_time
from synnet_recon.recon.triangulate import reproject, triangulate_sequence
from synnet_recon.skeleton import JOINT_INDEX
from synnet_recon.synth.noise import DetectorNoise, apply_detector_noise

VIDEO_FPS = 30.0
SECONDS = 4.0
# name: (path under the mocap folder or the package's, first frame (cgspeed BVH: frame 0 is a T-pose))
CLIPS = {
    "dance 05_02": ("package:05_02.bvh", 0),
    "walk 131_02": ("package:131_02.bvh", 0),
    "run 09_01": ("cmu_bvh_mb/09_01.bvh", 1),
    "jump 13_11": ("cmu_bvh_daz/13_11.bvh", 1),
    "kick 10_03": ("cmu_bvh_daz/10_03.bvh", 1),
    "jete 05_06": ("cmu_bvh_mb/05_06.bvh", 97),
}
RIGS = {"2 views 90 deg": (2, 90.0), "3 views 30 deg apart": (3, 90.0), "3 views around": (3, 360.0)}
STEPS = {"30 fps": 1, "15 fps": 2, "10 fps": 3, "5 fps": 6, "4.3 fps (the demo's spacing)": 7,
         "3 fps (the quick demo's)": 10}
LEGS = [JOINT_INDEX[n] for n in ("r_knee", "r_ankle", "l_knee", "l_ankle")]
ARMS = [JOINT_INDEX[n] for n in ("r_elbow", "r_wrist", "l_elbow", "l_wrist")]


def _rings():
    spec = importlib.util.spec_from_file_location("t", Path(__file__).parents[1] / "tests/recon/test_triangulate.py")
    t = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(t)
    return t


def clip_joints(name: str, mocap: Path | None, fps: float = VIDEO_FPS, seconds: float = SECONDS) -> np.ndarray:
    """(T, 18, 3) joints at ``fps``, up to ``seconds`` long, centred, the mid-hip's mean velocity removed."""
    where, first = CLIPS[name]
    path = PACKAGE_DATA / "mocap" / where.split(":", 1)[1] if where.startswith("package:") else mocap / where
    m = load_motion(path)
    step = int(round(m.fps / fps))
    X = m.joints[first::step][:int(seconds * fps)].astype(np.float64).copy()
    hip = 0.5 * (X[:, JOINT_INDEX["r_hip"]] + X[:, JOINT_INDEX["l_hip"]])
    t = np.arange(len(X))
    for axis in (0, 2):
        slope, icpt = np.polyfit(t, hip[:, axis], 1)
        X[..., axis] -= (slope * t + icpt)[:, None]
    return X


def acceleration(X: np.ndarray, fps: float = VIDEO_FPS) -> np.ndarray:
    """(T, 18) |second difference| * fps^2 (NaN at the ends)."""
    a = np.full(X.shape[:2], np.nan)
    a[1:-1] = np.linalg.norm(X[2:] - 2 * X[1:-1] + X[:-2], axis=-1) * fps ** 2
    return a


def _err(points, X, known, fast):
    e = np.linalg.norm(points - X, axis=-1)
    k = known & np.isfinite(e)
    f = k & fast
    return 100 * float(e[k].mean()), 100 * float(e[f].mean()) if f.any() else float("nan"), \
        100 * float(np.percentile(e[k], 95))


def run_case(t, X, rig, seed: int, partial: bool, steps: dict = STEPS, fps: float = VIDEO_FPS,
             level: float = 1.0, dropped: bool = True) -> list[dict]:
    """One clip (video at ``fps``), rig and noise seed: rows for every rate of ``steps`` (and, with
    ``dropped``, a quarter of the every-2nd-frame instants dropped)."""
    V, spread = rig
    P = t.ring(V, spread_deg=spread)
    T = len(X)
    rng = np.random.default_rng(seed)
    xy, depth = reproject(P, X.reshape(-1, 3))
    noisy, conf = apply_detector_noise(xy.reshape(V, T, 18, 2), depth.reshape(V, T, 18), t.SIZE,
                                       DetectorNoise(level=level), rng)
    noisy, conf = noisy.astype(np.float64), conf.astype(np.float64)
    if partial:
        mid = slice(T // 4, 3 * T // 4)
        conf[0, mid][:, LEGS] = 0.0
        noisy[0, mid][:, LEGS] = np.nan
        last = slice(2 * T // 3, T)
        conf[1, last][:, ARMS] = 0.0
        noisy[1, last][:, ARMS] = np.nan
    xy_t, c_t = noisy.transpose(1, 0, 2, 3), conf.transpose(1, 0, 2)
    c_t = np.where(np.isfinite(xy_t).all(axis=-1), c_t, 0.0)
    xy_t = np.nan_to_num(xy_t)
    c0 = time.process_time()
    res = triangulate_sequence(P, xy_t, c_t)
    tri_cpu = (time.process_time() - c0) / T
    points = np.stack([r.points for r in res])
    inl = np.stack([r.inliers for r in res])
    rep = np.stack([r.reprojection_px for r in res])
    acc = acceleration(X, fps)
    fast = np.nan_to_num(acc) >= np.nanpercentile(acc, 90)
    cases = [(k, np.arange(0, T, s)) for k, s in steps.items()]
    if dropped and not partial:
        keep = np.arange(0, T, 2)
        drop = np.random.default_rng(100 + seed).random(len(keep)) < 0.25
        drop[[0, -1]] = False
        cases.append((f"{fps / 2:g} fps, 25 % of instants dropped", keep[~drop]))
    rows = []
    for label, idx in cases:
        known = np.isfinite(points[idx]).all(axis=-1)
        c0 = time.process_time()
        refined = refine_over_time(P, xy_t[idx], c_t[idx], points[idx], inl[idx], idx / fps, rep[idx])
        cpu = time.process_time() - c0
        before = _err(points[idx], X[idx], known, fast[idx])
        after = _err(refined, X[idx], known, fast[idx])
        rows.append({"rate": label, "instants": len(idx), "known": float(known.mean()),
                     "per_instant_cm": before[0], "over_time_cm": after[0],
                     "fast10_per_instant_cm": before[1], "fast10_over_time_cm": after[1],
                     "p95_per_instant_cm": before[2], "p95_over_time_cm": after[2],
                     "triangulate_cpu_ms_per_instant": 1000 * tri_cpu,
                     "refine_cpu_ms_per_instant": 1000 * cpu / len(idx)})
    return rows


FAST = ["run 09_01", "jump 13_11", "kick 10_03", "jete 05_06"]
# the sweep (every clip, the three rigs, whole and partial bodies, every rate) and the extra groups
GROUPS = {
    "sweep": dict(clips=list(CLIPS), rigs=list(RIGS), partial=(False, True)),
    "more views": dict(clips=list(CLIPS), rigs=["4 views around", "6 views around"],
                       steps={"30 fps": 1, "15 fps": 2, "5 fps": 6}),
    "60 fps video": dict(clips=FAST, rigs=["2 views 90 deg", "3 views 30 deg apart"], fps=60.0,
                         steps={"60 fps": 1, "20 fps": 3}),
    "long (10 s, windows of 120 instants)": dict(clips=["dance 05_02", "walk 131_02"], seconds=12.0,
                                                 rigs=["2 views 90 deg", "3 views 30 deg apart"],
                                                 steps={"30 fps": 1, "15 fps": 2}, dropped=False),
    "detector noise level 2": dict(clips=["dance 05_02", "run 09_01", "kick 10_03"], level=2.0,
                                   rigs=["2 views 90 deg", "3 views 30 deg apart"],
                                   steps={"30 fps": 1, "10 fps": 3}),
}
RIGS.update({"4 views around": (4, 360.0), "6 views around": (6, 360.0)})


def dump(out: dict) -> str:
    """The report as JSON: ``columns`` and one row (a list) a line, floats to 4 digits (``load`` reads it back)."""
    cols = list(out["rows"][0]) if out["rows"] else []
    lines = ",\n".join(json.dumps([round(v, 4) if isinstance(v, float) else v for v in (r[c] for c in cols)])
                        for r in out["rows"])
    return ('{"machine": ' + json.dumps(out["machine"]) + ',\n"columns": ' + json.dumps(cols) + ',\n"rows": [\n'
            + lines + "\n]}\n")


def load(path: Path) -> list[dict]:
    """The rows of a report ``dump`` wrote, as dicts."""
    d = json.loads(Path(path).read_text(encoding="utf-8"))
    return [dict(zip(d["columns"], r)) for r in d["rows"]]


def summarize(paths) -> None:
    """Print, from reports ``dump`` wrote: every case (group, clip, rig, body, rate) averaged over its
    seeds, the worst case and seed, and the means per group and rate, clip, rig and body."""
    rows = [r for p in paths for r in load(p)]

    def groups(key):
        g: dict = {}
        for r in rows:
            g.setdefault(key(r), []).append(r)
        return g

    def line(rs):
        m = {k: np.nanmean([r[k] for r in rs]) for k in ("per_instant_cm", "over_time_cm", "fast10_per_instant_cm",
                                                       "fast10_over_time_cm", "p95_per_instant_cm", "p95_over_time_cm",
                                                       "refine_cpu_ms_per_instant", "triangulate_cpu_ms_per_instant")}
        return (f"n={len(rs):4d}  {m['per_instant_cm']:5.2f} -> {m['over_time_cm']:5.2f} cm  fast 10 % "
                f"{m['fast10_per_instant_cm']:5.2f} -> {m['fast10_over_time_cm']:5.2f}  p95 {m['p95_per_instant_cm']:5.2f} "
                f"-> {m['p95_over_time_cm']:5.2f}  CPU ms/instant: triangulate {m['triangulate_cpu_ms_per_instant']:.1f}, "
                f"refine {m['refine_cpu_ms_per_instant']:.1f}")

    cases = groups(lambda r: (r["group"], r["clip"], r["rig"], "partial" if r["partial"] else "whole", r["rate"]))
    delta = {k: np.mean([r["over_time_cm"] - r["per_instant_cm"] for r in rs]) for k, rs in cases.items()}
    fast = {k: np.nanmean([r["fast10_over_time_cm"] - r["fast10_per_instant_cm"] for r in rs]) for k, rs in cases.items()}
    worst = max(delta, key=delta.get)
    print(f"{len(cases)} cases, {len(rows)} seed rows; over time worse on the mean in {sum(d > 0 for d in delta.values())} "
          f"cases (worst {delta[worst]:+.3f} cm: {worst}), in {sum(r['over_time_cm'] > r['per_instant_cm'] for r in rows)} "
          f"seed rows (worst {max(r['over_time_cm'] - r['per_instant_cm'] for r in rows):+.3f} cm)")
    print("fastest 10 % worse:", {k: round(float(v), 3) for k, v in fast.items() if v > 0})
    for name, key in (("group, rate", lambda r: (r["group"], r["rate"])), ("clip", lambda r: r["clip"]),
                      ("rig", lambda r: r["rig"]), ("partial body", lambda r: r["partial"])):
        print(f"-- {name}")
        for k, rs in groups(key).items():
            print(f"  {str(k):62s} {line(rs)}")


def demo_ab(demo: Path) -> dict:
    """The rgb demo's own joint figure with the refinement off and on, the same SfM poses (module doc)."""
    import tempfile

    from synnet_recon.demo_rgb import _rows, _spec, joint_comparison, pose_comparison, true_body_height
    from synnet_recon.recon.intrinsics import load_intrinsics
    from synnet_recon.recon.sfm import SfmConf, scene_poses_from_sync
    from synnet_recon.recon.skeleton3d import read_skeleton3d
    from synnet_recon.recon.stage_triangulate import TriangulateStageConfig
    from synnet_recon.recon.stage_triangulate import main as triangulate
    from synnet_recon.sync.result import SyncResult

    cfg = json.loads((demo / "demo_report.json").read_text(encoding="utf-8"))["config"]
    truth = json.loads((demo / "scene" / "truth.json").read_text(encoding="utf-8"))
    joints = np.asarray(truth["joints"], dtype=np.float64)
    sync = SyncResult.load(demo / "sync.json")
    rows, height = _rows(sync, cfg["instants"]), true_body_height(joints)
    intrinsics = str(demo / "scene" / "truth.json")
    c0 = time.process_time()
    posed = scene_poses_from_sync(sync, load_intrinsics(intrinsics, [v.name for v in sync.videos]), rows,
                                  SfmConf(person_height=height, threads=cfg["sfm_threads"], seed=cfg["seed"]))
    out = {"demo": str(demo), "sfm_cpu_s": round(time.process_time() - c0, 1)}
    with tempfile.TemporaryDirectory() as tmp:
        for on in (False, True):
            c0 = time.process_time()
            conf = TriangulateStageConfig(poses="sfm", intrinsics=intrinsics, person_height=height, frames=_spec(rows),
                                          progress=False, scene_poses=posed, refine_over_time=on)
            d = Path(tmp) / str(int(on))
            triangulate(conf, sync.source, d)
            summary = json.loads((d / "triangulate.json").read_text(encoding="utf-8"))
            _, world = pose_comparison(summary, truth, joints)
            out["over_time" if on else "per_instant"] = {
                **joint_comparison(read_skeleton3d(d / "skeleton3d.json"), joints, truth, world),
                "stage_cpu_s": round(time.process_time() - c0, 2), "triangulation_s": summary["seconds"]["triangulation"]}
    print(json.dumps(out), flush=True)
    return out


def pose2sim_check(shared: Path) -> dict:
    """Real OpenPose keypoints, the Pose2Sim demo's calibration: the refinement off and on (module doc)."""
    import tempfile

    from synnet_recon.cli import main as cli
    from synnet_recon.recon.skeleton3d import read_skeleton3d
    from synnet_recon.recon.temporal import BONES

    spec = importlib.util.spec_from_file_location("ts", Path(__file__).parents[1] / "tests/recon/test_stage_triangulate.py")
    ts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ts)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        sync, calib, _ = ts._pose2sim_sync(shared, Path(tmp))
        for flag in ("--no-over-time", "--over-time"):
            d = Path(tmp) / flag.strip("-")
            c0 = time.process_time()
            try:
                cli(["triangulate", str(sync), "--out", str(d), "--calibration", str(calib), "--quiet", flag])
            except SystemExit as e:
                if e.code:
                    raise
            sk = read_skeleton3d(d / "skeleton3d.json")
            J = sk.joints
            bones = np.stack([np.linalg.norm(J[:, a] - J[:, b], axis=-1) for a, b in BONES], axis=1)
            out[flag] = {"instants": len(J), "known": round(float(sk.known.mean()), 4),
                         "reprojection_median_px": round(float(np.nanmedian(sk.reprojection_px)), 2),
                         "reprojection_mean_px": round(float(np.nanmean(sk.reprojection_px)), 2),
                         "bone_spread": round(float(np.nanmean(np.nanstd(bones, 0) / np.nanmedian(bones, 0))), 3),
                         "jitter_mm": round(1000 * float(np.nanmedian(np.linalg.norm(J[2:] - 2 * J[1:-1] + J[:-2], axis=-1))), 1),
                         "cpu_s": round(time.process_time() - c0, 2)}
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench/results/over_time.json"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--mocap", type=Path, default=None, help="the shared mocap folder (default: ../shared/data/mocap)")
    ap.add_argument("--groups", nargs="*", default=list(GROUPS))
    ap.add_argument("--clips", nargs="*", default=None, help="only these clips")
    ap.add_argument("--summarize", nargs="+", type=Path, help="print the tables of these reports and exit")
    ap.add_argument("--demo", nargs="+", type=Path, help="rgb demo folders: the stage off / on (module doc)")
    ap.add_argument("--pose2sim", action="store_true", help="the Pose2Sim demo's real keypoints off / on")
    args = ap.parse_args()
    shared = shared_data_dir() or Path("/work/shared/data")
    if args.summarize:
        summarize(args.summarize)
        return
    if args.demo or args.pose2sim:
        load0 = os.getloadavg()
        out = {"demos": [demo_ab(d) for d in args.demo or []],
               "pose2sim": pose2sim_check(shared) if args.pose2sim else None,
               "machine": {"cpus": os.cpu_count(), "load_before": load0, "load_after": os.getloadavg()}}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1), encoding="utf-8")
        return
    mocap = args.mocap or (shared / "mocap")
    t = _rings()
    load0, w0, c0 = os.getloadavg(), time.perf_counter(), time.process_time()
    rows = []
    for group in args.groups:
        g = GROUPS[group]
        fps = g.get("fps", VIDEO_FPS)
        for clip in g["clips"]:
            if args.clips and clip not in args.clips:
                continue
            X = clip_joints(clip, mocap, fps, g.get("seconds", SECONDS))
            acc = acceleration(X, fps)
            for rig in g["rigs"]:
                for partial in g.get("partial", (False,)):
                    for seed in range(args.seeds):
                        for r in run_case(t, X, RIGS[rig], seed, partial, g.get("steps", STEPS), fps,
                                          g.get("level", 1.0), g.get("dropped", True)):
                            r.update({"group": group, "clip": clip, "rig": rig, "partial": partial, "seed": seed,
                                      "clip_acc_p50": float(np.nanmedian(acc)),
                                      "clip_acc_p99": float(np.nanpercentile(acc, 99))})
                            rows.append(r)
                            print(f"{group[:12]:12s} {clip:12s} {rig:20s} {'partial' if partial else 'whole':7s} s{seed} "
                                  f"{r['rate']:32s} {r['per_instant_cm']:5.2f} -> {r['over_time_cm']:5.2f} cm  fast10 "
                                  f"{r['fast10_per_instant_cm']:5.2f} -> {r['fast10_over_time_cm']:5.2f}  "
                                  f"refine {r['refine_cpu_ms_per_instant']:.1f} ms/inst", flush=True)
    out = {"machine": {"cpus": os.cpu_count(), "load_before": load0, "load_after": os.getloadavg(),
                       "wall_s": round(time.perf_counter() - w0, 1), "cpu_s": round(time.process_time() - c0, 1)},
           "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dump(out), encoding="utf-8")
    print(json.dumps(out["machine"]))


if __name__ == "__main__":
    main()
