"""Loading speed of motion capture (load_motion) and OpenPose folders (read_openpose_tracks).

Usage: python bench/bench_motion_io.py [--shared ../shared/data] [--repeats 5]
Prints one line per case: frames, best-of-N wall time, frames per second of loading.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from synnet_recon.io.openpose import read_openpose_tracks  # noqa: E402
from synnet_recon.motion import list_motion_files, load_motion  # noqa: E402

MOTION_CASES = [
    ("BVH MotionBuilder", "mocap/cmu_bvh_mb/09_12.bvh"),
    ("BVH MotionBuilder, longest", "mocap/cmu_bvh_mb/06_13.bvh"),
    ("BVH DAZ", "mocap/cmu_bvh_daz/13_10.bvh"),
    ("BVH 3dsMax", "mocap/cmu_bvh_131/131_02.bvh"),
    ("ASF/AMC", "mocap/cmu_asfamc/02/02_06.amc"),
]
OPENPOSE_CASES = [
    ("OpenPose BODY_25B, 2-3 people", "multiview/pose2sim_demo/S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial/pose/cam01_json"),
    ("OpenPose BODY_25B, 3-4 people", "multiview/pose2sim_demo/S00_P01_MultiParticipants/S00_P01_T02_Participants1-2/pose/cam01_json"),
]


def best_time(fn, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    for label, rel in MOTION_CASES:
        seconds, motion = best_time(lambda rel=rel: load_motion(args.shared / rel), args.repeats)
        print(f"{label:32s} {len(motion):5d} frames  {seconds * 1000:7.1f} ms  {len(motion) / seconds:9.0f} frames/s")
    files = list_motion_files(args.shared / "mocap")
    t = time.perf_counter()
    total = sum(len(load_motion(f)) for f in files)
    seconds = time.perf_counter() - t
    print(f"{'all ' + str(len(files)) + ' mocap files':32s} {total:5d} frames  {seconds * 1000:7.1f} ms  {total / seconds:9.0f} frames/s")
    for label, rel in OPENPOSE_CASES:
        seconds, tracks = best_time(lambda rel=rel: read_openpose_tracks(args.shared / rel, fps=60.0), args.repeats)
        print(f"{label:32s} {len(tracks[0]):5d} frames  {seconds * 1000:7.1f} ms  {len(tracks[0]) / seconds:9.0f} frames/s"
              f"  ({len(tracks)} tracks)")


if __name__ == "__main__":
    main()
