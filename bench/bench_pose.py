"""What decoding and 2D pose cost, per frame and for the whole video stage of align.

Usage: python bench/bench_pose.py [--video PATH] [--sides full,480,320] [--repeats 2] [--align]
Default video: the Pose2Sim demo balancing trial, cam01 (1080x1920 H.264, 60 fps, 100 frames) from
../shared/data. For each max_side it times
  - decode: iter_frames over all frames (FFmpeg decode + scale + RGB array),
  - decode, keep every 2nd: iter_frames(every=2) (all frames are decoded, half are converted),
  - pose: MediaPipe detect() on every 2nd frame (decode excluded), single-person graph (1) and
    Tasks API (4 people, the default),
  - estimate_pose with the default PoseConfig (pose on at most 30 frames/s, up to 4 people) and
    with num_people=1, per VIDEO frame (decode, scale, pose, tracking).
With --align also `synrecon align` on the trial's 4 videos (400 video frames) in a fresh process:
wall time and the child's CPU time, per video frame.
Wall time is best of N runs; CPU time (this process's or the child's, all threads) is printed beside
it because the dev machine is shared; "CPU frames/s on 2 cores" is 2 / (CPU s per frame), what the
stage would reach with two free cores if it kept both busy. One markdown table row per case.
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

from synnet_recon.io.video import iter_frames, probe_video  # noqa: E402
from synnet_recon.pose import MediaPipeBackend, PoseConfig, estimate_pose  # noqa: E402

TRIAL = (REPO.parent / "shared" / "data" / "multiview" / "pose2sim_demo" / "S00_P00_SingleParticipant"
         / "S00_P00_T01_BalancingTrial" / "videos")
DEFAULT_VIDEO = TRIAL / "cam01.mp4"


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


def align_run(videos: list[Path]) -> tuple[float, float, int]:
    """`synrecon align` in a fresh process: wall s, the child's CPU s, video frames."""
    frames = sum(probe_video(v).num_frames for v in videos)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as tmp:
        w0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from synnet_recon.cli import main; main()", "align",
                        *map(str, videos), "--out", str(Path(tmp) / "sync.json")], check=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - w0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--sides", default="full,480,320")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--align", action="store_true", help="also time `synrecon align` on the 4 trial videos")
    args = parser.parse_args()
    info = probe_video(args.video)
    print(f"# {args.video.name}: {info.width}x{info.height} {info.codec}, {info.fps:.0f} fps, "
          f"{info.num_frames} frames; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print("| case | max_side | frames | wall ms/frame | wall frames/s | CPU ms/frame | CPU frames/s on 2 cores |")
    print("|---|---|---|---|---|---|---|")
    sides = [None if s == "full" else int(s) for s in args.sides.split(",")]

    def row(case, side, result, note=""):
        wall, cpu, n = result
        print(f"| {case}{note} | {side or 'full'} | {n} | {1000 * wall / n:.1f} | {n / wall:.0f} | "
              f"{1000 * cpu / n:.1f} | {2 * n / cpu:.0f} |", flush=True)

    for side in sides:
        row("decode all frames", side, timed(decode_all(args.video, side), args.repeats))
        row("decode, keep every 2nd", side, timed(decode_all(args.video, side, every=2), args.repeats))
    for people, name in [(1, "1 person (legacy graph)"), (4, "up to 4 people (Tasks API)")]:
        for side in sides:
            run = pose_on(args.video, side, people)
            result = timed(run, args.repeats)
            row(f"pose, {name}, per posed frame", side, result, f" [{run.found}/{result[2]} found]")
    for people in (4, 1):
        for side in sides:
            def stage(side=side, people=people):
                estimate_pose(args.video, PoseConfig(max_side=side, num_people=people, progress=False))
                return info.num_frames
            row(f"estimate_pose (max_rate 30, num_people {people}), per video frame", side,
                timed(stage, args.repeats))
    if args.align:
        videos = sorted(TRIAL.glob("cam0*.mp4"))
        row(f"`synrecon align` on {len(videos)} videos (fresh process, defaults), per video frame", 480,
            align_run(videos))
    print(f"# load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
