"""Speed of the renderer: ray casting, shading, MP4 encoding and depth PNGs for a simulated scene.

Usage: python bench/bench_render.py [--cameras 2] [--seconds 3] [--fps 30] [--size 640x480] [--cli]
Simulates a scene (default motion clip, seed 0), renders every camera with ``render_scene`` in this
process (imports and the room build excluded from the per-frame split) and prints wall and CPU time,
split into ray casting (incl. posing the body), shading, H.264 encoding and depth PNG writing.
With --cli it also times the whole ``synrecon simulate OUT --render`` command in a fresh process.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from synnet_recon.synth.render import RenderConfig, render_scene  # noqa: E402
from synnet_recon.synth.scene import SceneConfig, simulate_scene  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cli", action="store_true", help="also time `synrecon simulate --render`")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    config = SceneConfig(cameras=args.cameras, seconds=args.seconds, fps=args.fps, width=width,
                         height=height, seed=args.seed, max_offset=0.5)
    scene = simulate_scene(config)
    frames = sum(c.num_frames for c in scene.cameras)
    print(f"motion {scene.motion_path}, {args.cameras} cameras x {config.num_frames} frames, {width}x{height}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        timings = render_scene(scene, Path(tmp) / "out", RenderConfig(), progress=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    parts = {k: sum(t[k] for t in timings.values()) for k in ("raycast", "shade", "encode", "depth_png")}
    print("| step | wall | per frame |")
    print("|---|---|---|")
    for k, v in parts.items():
        print(f"| {k} | {v:.2f} s | {1000 * v / frames:.0f} ms |")
    print(f"| render_scene total ({frames} frames) | {wall:.2f} s (CPU {cpu:.2f} s) | {1000 * wall / frames:.0f} ms |")

    if args.cli:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "synnet_recon.cli", "simulate", str(Path(tmp) / "sim"),
                   "--cameras", str(args.cameras), "--seconds", str(args.seconds), "--fps", str(args.fps),
                   "--width", str(width), "--height", str(height), "--seed", str(args.seed), "--render"]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            child_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(f"| `synrecon simulate --render`, fresh process | {t:.2f} s (CPU {child_cpu:.2f} s) | |")


if __name__ == "__main__":
    main()
