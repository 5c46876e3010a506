"""Benchmark `synrecon batch`: 1 worker against 2 in one run, and the rerun of a finished batch.

    python bench/bench_batch.py                     # 8 recordings x 3 keypoint inputs, 6 s each
    python bench/bench_batch.py --recordings 8 --seconds 6 --repeat 2 --json bench/results/batch.json

Recordings are simulated scenes (``synnet_recon.synth.simulate_scene``, seeds 500..) written as
OpenPose JSON folders, ROOT/rec<k>/cam<i>/, the layout users give `synrecon batch`. Each run is
``run_batch`` on a fresh local Dask cluster (worker start-up included, as a user pays it) into its
own output folder; with ``--repeat`` the order of the 1- and 2-worker runs alternates. The rerun
is the 2-worker batch run again on its finished output (every recording skipped). The load
average of the machine is recorded around each run: on a shared machine the ratio is pessimistic.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synnet_recon.batch import BatchConfig, find_recordings, run_batch  # noqa: E402


def make_recordings(root: Path, count: int, cameras: int, seconds: float) -> Path:
    from synnet_recon.io.openpose import write_openpose_folder
    from synnet_recon.synth.scene import SceneConfig, simulate_scene

    for k in range(count):
        scene = simulate_scene(SceneConfig(cameras=cameras, seconds=seconds, seed=500 + k))
        for cam in scene.cameras:
            write_openpose_folder(root / f"rec{k}" / cam.name, cam.keypoints, cam.name)
    return root


def timed_batch(recordings, workers: int, out: Path) -> dict:
    load_before = os.getloadavg()[0]
    cpu0 = os.times()
    t0 = time.perf_counter()
    result = run_batch(recordings, BatchConfig(workers=workers, progress=False), out)
    wall = time.perf_counter() - t0
    cpu1 = os.times()
    statuses = [r.status for r in result.recordings]
    return {"workers": workers, "wall_s": round(wall, 2), "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2),
            "task_s_sum": round(sum(r.seconds for r in result.recordings), 2),
            "task_cpu_s_sum": round(sum(r.cpu_seconds for r in result.recordings), 2),
            "children_cpu_s": round((cpu1.children_user + cpu1.children_system)
                                    - (cpu0.children_user + cpu0.children_system), 2),
            "statuses": sorted(set(statuses)), "ok": statuses.count("ok"), "skipped": statuses.count("skipped")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recordings", type=int, default=8)
    ap.add_argument("--cameras", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--repeat", type=int, default=1, help="pairs of 1- and 2-worker runs (order alternates)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        recordings = find_recordings(make_recordings(tmp / "root", args.recordings, args.cameras, args.seconds))
        print(f"{len(recordings)} recordings x {args.cameras} keypoint inputs of {args.seconds:g} s "
              f"written in {time.perf_counter() - t0:.1f} s; {os.cpu_count()} CPUs")
        runs = []
        for rep in range(args.repeat):
            for workers in ((1, 2) if rep % 2 == 0 else (2, 1)):
                run = timed_batch(recordings, workers, tmp / f"out_{workers}w_{rep}")
                runs.append(run)
                print(f"  {workers} worker(s): {run['wall_s']:.1f} s wall (tasks {run['task_s_sum']:.1f} s, "
                      f"task CPU {run['task_cpu_s_sum']:.1f} s, "
                      f"load {run['load_before']:.1f} -> {run['load_after']:.1f}), {run['ok']} ok")
        rerun = timed_batch(recordings, 2, tmp / f"out_2w_{args.repeat - 1}")
        print(f"  rerun of a finished batch: {rerun['wall_s']:.2f} s, {rerun['skipped']} skipped")
        one = statistics.median(r["wall_s"] for r in runs if r["workers"] == 1)
        two = statistics.median(r["wall_s"] for r in runs if r["workers"] == 2)
        summary = {"speedup_2_vs_1": round(one / two, 3), "rerun_fraction_of_2w": round(rerun["wall_s"] / two, 4),
                   "wall_1w_s": one, "wall_2w_s": two, "rerun_s": rerun["wall_s"]}
        print(f"2 workers vs 1: {summary['speedup_2_vs_1']:.2f}x; rerun {100 * summary['rerun_fraction_of_2w']:.1f} % "
              f"of the 2-worker run")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": runs,
                                             "rerun": rerun, "summary": summary,
                                             "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
                                            indent=2) + "\n")


if __name__ == "__main__":
    main()
