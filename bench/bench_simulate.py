"""Benchmark of the simulator (docs/benchmarks.md, section "Simulation").

1. `synrecon simulate OUT` end to end in a fresh process (default: 3 cameras, 6 s, 30 fps, no render):
   wall time, and the child's CPU time (less sensitive to other jobs on a shared machine).
2. In-process `simulate_scene` + `write_scene` (no interpreter start-up or imports).
3. Training pairs: `sample_pair` (one pair of 32-frame clips per call) and `sample_pair_batch`
   (many pairs per call), CPU and wall milliseconds per pair.
4. With --render: `synrecon simulate --render`, 2 cameras, 3 s, 640x480 (target < 60 s).

Usage: python bench/bench_simulate.py [--motion FILE] [--pairs 500] [--render] [--out /tmp/bench_simulate]
Prints a markdown table; copy it into docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cli(args: list[str], repeats: int) -> tuple[float, float]:
    """Best wall and best CPU seconds of `synrecon <args>` in fresh processes."""
    walls, cpus = [], []
    for _ in range(repeats):
        cpu0, t0 = child_cpu(), time.perf_counter()
        subprocess.run([sys.executable, "-m", "synnet_recon.cli", *args], check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)
        cpus.append(child_cpu() - cpu0)
    return min(walls), min(cpus)


def timed(fn, repeats: int) -> tuple[float, float]:
    """Best wall and best CPU seconds of fn() over repeats."""
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--motion", default=None, help="motion clip (default: simulate's default clip)")
    parser.add_argument("--pairs", type=int, default=500, help="pairs for the sample_pair timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--render", action="store_true", help="also time --render (2 cameras, 3 s, 640x480)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_simulate"))
    args = parser.parse_args()

    from synnet_recon.synth.scene import (
        SceneConfig,
        default_motion_path,
        load_scene_motion,
        sample_pair,
        sample_pair_batch,
        simulate_scene,
        write_scene,
    )

    motion_path = Path(args.motion) if args.motion else default_motion_path()
    motion, _ = load_scene_motion(motion_path)
    motion30 = motion.resample(30.0)
    rows = []
    load = os.getloadavg()[0]

    out = args.out / "scene"
    wall, cpu = run_cli(["simulate", str(out), "--motion", str(motion_path)], args.repeats)
    rows.append(("`synrecon simulate` (3 cameras, 6 s, 30 fps), fresh process", f"{wall:.2f} s", f"{cpu:.2f} s"))

    config = SceneConfig(motion=str(motion_path))
    wall, cpu = timed(lambda: simulate_scene(config, motion=motion), args.repeats)
    rows.append(("`simulate_scene` (3 cameras x 180 frames, in process)", f"{1000 * wall:.1f} ms", f"{1000 * cpu:.1f} ms"))
    scene = simulate_scene(config, motion=motion)
    wall, cpu = timed(lambda: write_scene(scene, args.out / "scene_inproc"), args.repeats)
    rows.append(("`write_scene` (truth.json + 540 OpenPose files)", f"{1000 * wall:.1f} ms", f"{1000 * cpu:.1f} ms"))

    rng = np.random.default_rng(0)
    n = args.pairs
    offsets = rng.uniform(-16, 12, n)
    for i in range(10):
        sample_pair(motion30, 32, 30.0, offsets[i], rng)

    def pairs():
        for off in offsets:
            sample_pair(motion30, 32, 30.0, off, rng)

    wall, cpu = timed(pairs, args.repeats)
    rows.append(("`sample_pair`, 2 x 32 frames, per pair", f"{1000 * wall / n:.2f} ms", f"{1000 * cpu / n:.2f} ms"))
    for batch in (64, 256):
        reps = max(1, n // batch)
        wall, cpu = timed(lambda batch=batch, reps=reps: [sample_pair_batch(motion30, batch, 32, 30.0, rng.uniform(-16, 12, batch), rng)
                                   for _ in range(reps)], args.repeats)
        rows.append((f"`sample_pair_batch`, {batch} pairs per call, per pair",
                     f"{1000 * wall / (reps * batch):.3f} ms", f"{1000 * cpu / (reps * batch):.3f} ms"))

    if args.render:
        out = args.out / "render"
        wall, cpu = run_cli(["simulate", str(out), "--motion", str(motion_path), "--cameras", "2", "--seconds", "3",
                             "--width", "640", "--height", "480", "--render"], 1)
        rows.append(("`synrecon simulate --render` (2 cameras, 3 s, 640x480)", f"{wall:.1f} s", f"{cpu:.1f} s"))

    print(f"motion: {motion_path} ({motion.duration:.1f} s); load average at start {load:.1f}; "
          f"best of {args.repeats}\n")
    print("| case | wall | CPU |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    shutil.rmtree(args.out, ignore_errors=True)


if __name__ == "__main__":
    main()
