"""Peak memory of the video stage (decode, pose, tracking) against video length.

Usage: python bench/bench_memory.py [--minutes 1,5,30] [--stride 30] [--people 4] [--decode-only]
                                    [--workdir /tmp/synrecon_bench_memory]
Long 1080p videos are made in --workdir (never in the repository) by repeating a loop of the
Pose2Sim demo balancing trial (cam01, 1080x1920, 100 frames played forward then backward, so the
motion has no jumps), re-encoded once as H.264 at 30 fps with a keyframe every second and no
B-frames, then repeated by copying packets (no re-encoding). Each length runs in a fresh process
that reports its own peak RSS (ru_maxrss):
  - pose: estimate_pose with the default PoseConfig except every=--stride and max_rate=None (so
    pose runs on one frame in --stride; with --stride 30 on the keyframes). Every packet of the
    video is still demuxed into the frame table; the frames between posed ones are skipped by
    seeking, so decode cost stays small. One markdown table row per length.
  - --decode-only: iter_frames over every frame at max_side 480 (all frames decoded, scaled and
    converted), nothing kept.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = (REPO.parent / "shared" / "data" / "multiview" / "pose2sim_demo" / "S00_P00_SingleParticipant"
          / "S00_P00_T01_BalancingTrial" / "videos" / "cam01.mp4")
FPS = 30


def make_loop(src: Path, dst: Path) -> None:
    """src's frames forward then backward (no repeated end frames), as H.264 at 30 fps, keyframe
    every second, no B-frames."""
    import av

    with av.open(str(src)) as inp:
        frames = [f.to_ndarray(format="yuv420p") for f in inp.decode(video=0)]
        width, height = inp.streams.video[0].codec_context.width, inp.streams.video[0].codec_context.height
    loop = frames + frames[-2:0:-1]
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"crf": "23", "g": str(FPS), "bf": "0",
                                                                "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, FPS)
        for k, img in enumerate(loop):
            frame = av.VideoFrame.from_ndarray(img, format="yuv420p")
            frame.pts = k
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def make_long(loop: Path, dst: Path, minutes: float) -> int:
    """Repeat ``loop``'s packets until ``minutes`` of video; returns the number of frames."""
    import av

    total = int(round(minutes * 60 * FPS))
    with av.open(str(loop)) as inp:
        s_in = inp.streams.video[0]
        packets = [(p.pts, p.dts, bool(p.is_keyframe), bytes(p)) for p in inp.demux(s_in) if p.size]
        with av.open(str(dst), "w") as out:
            s_out = out.add_stream_from_template(s_in)
            s_out.time_base = s_in.time_base
            step = int(round(1 / (FPS * s_in.time_base)))  # pts ticks per frame
            span = len(packets) * step
            n = 0
            while n < total:
                for pts, dts, key, data in packets:
                    if n == total:
                        break
                    packet = av.Packet(data)
                    rep = n // len(packets)
                    packet.pts, packet.dts = pts + rep * span, dts + rep * span
                    packet.is_keyframe = key
                    packet.stream = s_out
                    packet.time_base = s_in.time_base
                    out.mux(packet)
                    n += 1
    return total


CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from synnet_recon.pose import PoseConfig, estimate_pose
from synnet_recon.io.video import iter_frames, probe_video
video, stride, people, decode_only = {video!r}, {stride}, {people}, {decode_only}
info = probe_video(video)
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
w0, c0 = time.perf_counter(), time.process_time()
if decode_only:
    n = sum(1 for _ in iter_frames(video, max_side=480))
    out = dict(posed=0, decoded=n, tracks=0, keypoint_mb=0.0)
else:
    tracks = estimate_pose(video, PoseConfig(every=stride, max_rate=None, num_people=people, progress=False))
    out = dict(posed=len(tracks[0]), tracks=len(tracks),
               keypoint_mb=sum(t.xy.nbytes + t.conf.nbytes + t.times.nbytes for t in tracks) / 1e6)
out.update(frames=info.num_frames, seconds=info.duration, wall=time.perf_counter() - w0,
           cpu=time.process_time() - c0, rss_start_mb=rss0 / 1024,
           peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(out))
"""


def measure(video: Path, stride: int, people: int, decode_only: bool) -> dict:
    code = CHILD.format(repo=str(REPO), video=str(video), stride=stride, people=people, decode_only=decode_only)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode:
        raise SystemExit(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="1,5,30")
    parser.add_argument("--stride", type=int, default=30)
    parser.add_argument("--people", type=int, default=4)
    parser.add_argument("--decode-only", action="store_true")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/synrecon_bench_memory"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    loop = args.workdir / "loop.mp4"
    if not loop.is_file():
        make_loop(SOURCE, loop)
    mode = "decode only, every frame at max_side 480" if args.decode_only else (
        f"estimate_pose, pose on 1 frame in {args.stride}, up to {args.people} people, max_side 480")
    print(f"# {mode}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print("| video | frames | posed frames | tracks | keypoints MB | RSS after imports MB | peak RSS MB "
          "| wall s | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for minutes in [float(m) for m in args.minutes.split(",")]:
        video = args.workdir / f"long_{minutes:g}min.mp4"
        if not video.is_file():
            t0 = time.perf_counter()
            make_long(loop, video, minutes)
            print(f"# made {video.name} ({video.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s",
                  flush=True)
        r = measure(video, args.stride, args.people, args.decode_only)
        print(f"| {minutes:g} min 1080x1920 {FPS} fps | {r['frames']} | {r['posed']} | {r['tracks']} | "
              f"{r['keypoint_mb']:.2f} | {r['rss_start_mb']:.0f} | {r['peak_mb']:.0f} | {r['wall']:.1f} | "
              f"{r['cpu']:.1f} |", flush=True)
    print(f"# load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
