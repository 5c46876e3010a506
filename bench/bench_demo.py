"""Time per stage of `synrecon demo` (default and --quick settings), in a fresh process each.

    python bench/bench_demo.py [--seeds 0 1 2] [--only default|quick] [--out /tmp/bench_demo]

Prints a markdown table (wall seconds per stage, process CPU seconds, offset errors and
confidences per camera) for docs/benchmarks.md, one row per setting and scene seed. Each run is
a subprocess so imports (Open3D, MediaPipe, torch) count, as they do for a user.
"""
import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def run_once(setting: str, out: Path, seed: int = 0) -> dict:
    args = [sys.executable, "-m", "synnet_recon.cli", "demo", str(out), "--quiet", "--seed", str(seed)]
    if setting == "quick":
        args.append("--quick")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{setting}: demo failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    report = json.loads((out / "demo_report.json").read_text())
    report["process_wall"] = wall
    report["process_cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="scene seeds, one run each")
    parser.add_argument("--only", choices=["default", "quick"], default=None)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_demo"))
    args = parser.parse_args()
    settings = [args.only] if args.only else ["quick", "default"]
    stages = ["simulate", "render", "align", "fuse", "view"]
    print("| setting | seed | " + " | ".join(stages) + " | stages total | process wall | process CPU | "
          "error, frames (confidence) per camera | max error (frames) | instants fused |")
    print("|" + "---|" * (len(stages) + 8))
    for setting in settings:
        for seed in args.seeds:
            r = run_once(setting, args.out / f"{setting}{seed}", seed)
            c = r["config"]
            per_cam = ", ".join(
                f"{cam['name']} {'unsynced' if cam['error_frames'] is None else format(cam['error_frames'], '+.2f')}"
                f" ({cam['confidence']:.2f})" for cam in r["cameras"] if cam["name"] != r["reference"])
            err = "-" if r["max_error_frames"] is None else f"{r['max_error_frames']:.2f}"
            cells = [f"{r['stage_seconds'].get(s, 0.0):.1f}" for s in stages]
            print(f"| {setting} ({c['cameras']} x {c['seconds']:g} s, {c['width']}x{c['height']}) | {seed} | "
                  + " | ".join(cells) + f" | {r['total_seconds']:.1f} | {r['process_wall']:.1f} | "
                  f"{r['process_cpu']:.1f} | {per_cam} | {err} | {r['instants_ok']}/{r['instants']} |", flush=True)


if __name__ == "__main__":
    main()
