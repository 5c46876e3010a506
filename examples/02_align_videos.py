"""Synchronize videos of the same person and print their offsets.

    python examples/02_align_videos.py phone.mp4 gopro.mp4 bodycam.mov --out sync.json

The same as `synrecon align ... --out sync.json`, from Python: every video goes through 2D pose
(MediaPipe by default; COCO-18 keypoints, per-frame timestamps), then the pairs are matched (the
coarse and fine epipolar stages, plus SynNet when the config turns it on) and solved jointly. The
script prints what ran, from the result. The first video is the reference clock; the keypoints
align computed are written beside sync.json (`<stem>_keypoints/`).
"""
import argparse
from pathlib import Path

import synnet_recon as sr

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("videos", nargs="+", help="two or more videos (mp4, mov, avi, mkv, ...)")
parser.add_argument("--out", type=Path, default=Path("sync.json"), help="sync.json to write")
parser.add_argument("--max-offset", type=float, default=None,
                    help="largest |offset| between any two videos, seconds (default: as wide as they allow)")
parser.add_argument("--reference", default=None, help="name of the reference video (default: the first)")
args = parser.parse_args()

try:
    result = sr.align(args.videos, sr.AlignConfig(max_offset=args.max_offset, reference=args.reference))
except sr.InputError as exc:  # a corrupt video, nobody in view, too short, ...
    raise SystemExit(f"error: {exc}") from None
result.save(args.out)

# offset_seconds: when the video's first frame was captured, on the reference video's clock.
for v in result.videos:
    if v.offset_seconds is None:
        print(f"{v.name}: not synchronized (too little shared motion)")
    else:
        print(f"{v.name}: {v.offset_seconds:+.4f} s = {v.offset_frames:+.2f} reference frames, "
              f"confidence {v.confidence:.2f}")
for pair in result.pairs:
    state = "inlier" if pair.inlier else "outlier"
    offset = "-" if pair.offset_seconds is None else f"{pair.offset_seconds:+.4f} s"
    print(f"  pair {pair.a} -> {pair.b}: {offset} ({pair.method}, confidence {pair.confidence:.2f}, {state})")
for warning in result.warnings:
    print("warning:", warning)
print("align ran:", result.cues())  # what the result says was used: pose backend, pair methods, SynNet or not
print(f"wrote {args.out}")
