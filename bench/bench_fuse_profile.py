"""Where fuse's CPU time goes (docs/benchmarks.md, "Fuse speed: profile and cuts").

Renders (once) a ``synth.wide`` scene, then fuses it on one thread (Open3D limited to one thread
with ``o3d.utility.set_max_threads(1)``: Open3D 0.20 parallelises with oneAPI TBB, which ignores
``OMP_NUM_THREADS``; the read-ahead thread off, so every step runs where cProfile sees it) under
cProfile timed by ``time.process_time``: the figures are CPU seconds, not inflated by a shared
machine's load.
Prints instants per CPU second, fuse's stage timings and the functions with the most CPU time.

Usage: python bench/bench_fuse_profile.py [--instants 10] [--cameras 2] [--size 640x480]
           [--out /tmp/bench_fuse_profile] [--top 40]
"""
from __future__ import annotations

import argparse
import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch / OpenCV load: one thread, all of it profiled

import cProfile  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--instants", type=int, default=10)
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--layout", default="room")
    ap.add_argument("--separation", type=float, default=60.0)
    ap.add_argument("--out", default="/tmp/bench_fuse_profile")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from synnet_recon.o3d import o3d

    o3d.utility.set_max_threads(1)   # Open3D's TBB threads (OMP_NUM_THREADS does not reach them)
    import synnet_recon.recon.fuse as fuse_module
    from synnet_recon.synth.wide import WideSceneConfig, render_wide_scene

    width, height = (int(v) for v in args.size.split("x"))
    root = Path(args.out) / f"{args.layout}_{args.separation:g}_{args.size}_{args.instants}_{args.cameras}"
    if not (root / "sync.json").is_file():
        render_wide_scene(WideSceneConfig(layout=args.layout, separation_deg=args.separation, instants=args.instants,
                                          width=width, height=height, cameras=args.cameras), root)

    class InOrder(fuse_module.ViewLoader):
        """Every step in the calling thread (no read-ahead), so cProfile sees it."""

        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.stateless = False

    fuse_module.ViewLoader = InOrder
    profile = cProfile.Profile(time.process_time)
    cpu, wall = time.process_time(), time.perf_counter()
    profile.enable()
    result = fuse_module.fuse(root / "sync.json", fuse_module.FuseConfig(progress=False), root / "recon")
    profile.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    n = len(result.frames)
    print(json.dumps({"instants": n, "cameras": args.cameras, "size": args.size, "ok": result.num_ok,
                      "cpu_seconds": round(cpu, 2), "instants_per_cpu_second": round(n / cpu, 2),
                      "wall_seconds": round(wall, 2), "load_average": round(os.getloadavg()[0], 1),
                      "stage_seconds": {k: round(v, 2) for k, v in result.timings.items()}}))
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
    if os.environ.get("PROFILE_DUMP"):
        profile.dump_stats(os.environ["PROFILE_DUMP"])


if __name__ == "__main__":
    main()
