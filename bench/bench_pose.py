"""What decoding and 2D pose cost per frame, at several resolutions.

Usage: python bench/bench_pose.py [--video PATH] [--sides full,480,320] [--repeats 2] [--multi]
Default video: the Pose2Sim demo balancing trial, cam01 (1080x1920 H.264, 60 fps, 100 frames) from
../shared/data. For each max_side it times
  - decode: iter_frames over all frames (FFmpeg decode + scale + RGB array),
  - decode every 2nd: iter_frames(every=2) (all frames are decoded, half are converted),
  - pose: MediaPipe single-person detect() on every 2nd frame (decode excluded),
  - with --multi also the Tasks API multi-person mode (num_people=2),
  - estimate_pose(every=2): the whole stage (decode all, pose on every 2nd, tracking), per video frame.
Wall time is best of N runs; CPU time (process time, all threads) is printed beside it because the
dev machine is shared. One markdown table row per case on stdout.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from synnet_recon.io.video import iter_frames, probe_video  # noqa: E402
from synnet_recon.pose import MediaPipeBackend, PoseConfig, estimate_pose  # noqa: E402

DEFAULT_VIDEO = (REPO.parent / "shared" / "data" / "multiview" / "pose2sim_demo" / "S00_P00_SingleParticipant"
                 / "S00_P00_T01_BalancingTrial" / "videos" / "cam01.mp4")


def timed(fn, repeats: int) -> tuple[float, float, int]:
    """Best wall seconds, its CPU seconds, and fn's count (frames)."""
    best = None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        n = fn()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        if best is None or wall < best[0]:
            best = (wall, cpu, n)
    return best


def decode_all(video, side, every=1):
    return lambda: sum(1 for _ in iter_frames(video, every=every, max_side=side))


def pose_on(video, side, num_people, every=2):
    frames = [f for f in iter_frames(video, every=every, max_side=side)]

    def run():
        with MediaPipeBackend(num_people=num_people) as backend:
            found = 0
            for f in frames:
                found += len(backend.detect(f.image, f.time)) > 0
        run.found = found
        return len(frames)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--sides", default="full,480,320")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--multi", action="store_true", help="also time the multi-person Tasks API mode")
    args = parser.parse_args()
    info = probe_video(args.video)
    print(f"# {args.video.name}: {info.width}x{info.height} {info.codec}, {info.fps:.0f} fps, "
          f"{info.num_frames} frames; load average {os.getloadavg()[0]:.1f}")
    print("| case | max_side | frames | wall ms/frame | frames/s | CPU ms/frame |")
    print("|---|---|---|---|---|---|")
    sides = [None if s == "full" else int(s) for s in args.sides.split(",")]

    def row(case, side, result, note=""):
        wall, cpu, n = result
        print(f"| {case}{note} | {side or 'full'} | {n} | {1000 * wall / n:.1f} | {n / wall:.0f} | "
              f"{1000 * cpu / n:.1f} |", flush=True)

    for side in sides:
        row("decode all frames", side, timed(decode_all(args.video, side), args.repeats))
        row("decode, keep every 2nd", side, timed(decode_all(args.video, side, every=2), args.repeats))
    for side in sides:
        run = pose_on(args.video, side, 1)
        result = timed(run, args.repeats)
        row("pose, 1 person (legacy graph)", side, result, f" [{run.found}/{result[2]} found]")
    if args.multi:
        for side in sides:
            run = pose_on(args.video, side, 2)
            result = timed(run, args.repeats)
            row("pose, 2 people (Tasks API)", side, result, f" [{run.found}/{result[2]} found]")
    for side in sides:
        def stage(side=side):
            estimate_pose(args.video, PoseConfig(every=2, max_side=side, progress=False))
            return info.num_frames
        row("estimate_pose every=2, per video frame", side, timed(stage, args.repeats))
    print(f"# load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
