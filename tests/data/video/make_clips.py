"""Re-create the test clips from the Pose2Sim demo (BSD-3-Clause, see LICENSE_BSD-3-Clause.txt).

    python tests/data/video/make_clips.py /path/to/shared/data/multiview/pose2sim_demo

Each clip keeps the source's frames and timestamps (60 fps, 100 frames) but is shrunk by 3
(1080x1920 -> 360x640) and re-encoded with H.264 so that it stays well below 1 MB.

bystander_cam01.mp4 / bystander_cam04.mp4: two views of the balancing trial (cam01 frames 0-89,
cam04 frames 6-95: cam04's clip starts 6 frames = 0.1 s later), each shrunk to 360x640 with a
240x640 panel on its right holding one still frame of a second person (participant 2 of the
two-person trial, cam01 frame 0, seen from behind) plus fresh sensor-like noise in every frame:
a bystander who does not move, the same in both views. 600x640, 60 fps, 90 frames.
"""
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CLIPS = {
    "single_cam01.mp4": "S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial/videos/cam01.mp4",
    "multi_cam01.mp4": "S00_P01_MultiParticipants/S00_P01_T02_Participants1-2/videos_from_pypi_pose2sim_0.10.49/cam01.mp4",
}
SHRINK = 3


def shrink_clip(src: Path, dst: Path) -> None:
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s_in = inp.streams.video[0]
        width, height = s_in.codec_context.width // SHRINK // 2 * 2, s_in.codec_context.height // SHRINK // 2 * 2
        s_out = out.add_stream("libx264", rate=s_in.average_rate, options={"crf": "26", "preset": "slow"})
        s_out.width, s_out.height, s_out.pix_fmt = width, height, "yuv420p"
        s_out.time_base = s_out.codec_context.time_base = Fraction(s_in.time_base)
        for frame in inp.decode(s_in):
            small = frame.reformat(width=width, height=height, format="yuv420p", interpolation="AREA")
            small.pts, small.time_base = frame.pts, frame.time_base
            out.mux(s_out.encode(small))
        out.mux(s_out.encode())


TRIAL = "S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial/videos"
BYSTANDER_SOURCE = ("S00_P01_MultiParticipants/S00_P01_T02_Participants1-2/videos_from_pypi_pose2sim_0.10.49/"
                    "cam01.mp4", (760, 1900, 600, 1000))  # frame 0, rows y0:y1, columns x0:x1
BYSTANDER_CLIPS = {"bystander_cam01.mp4": ("cam01.mp4", 0), "bystander_cam04.mp4": ("cam04.mp4", 6)}
CLIP_FRAMES = 90


def bystander_panel(root: Path) -> np.ndarray:
    """(640, 240, 3) uint8: the still bystander, scaled to the panel's height, centred."""
    import cv2

    rel, (y0, y1, x0, x1) = BYSTANDER_SOURCE
    with av.open(str(root / rel)) as inp:
        frame = next(inp.decode(video=0)).to_ndarray(format="rgb24")
    person = frame[y0:y1, x0:x1]
    h = 600
    w = round(person.shape[1] * h / person.shape[0])
    panel = np.full((640, 240, 3), 200, np.uint8)
    panel[20:20 + h, (240 - w) // 2:(240 - w) // 2 + w] = cv2.resize(person, (w, h), interpolation=cv2.INTER_AREA)
    return panel


def bystander_clip(src: Path, dst: Path, start: int, panel: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s_out = out.add_stream("libx264", rate=60, options={"crf": "26", "preset": "slow"})
        s_out.width, s_out.height, s_out.pix_fmt = 600, 640, "yuv420p"
        s_out.time_base = s_out.codec_context.time_base = Fraction(1, 60)
        for k, frame in enumerate(inp.decode(video=0)):
            if k < start:
                continue
            if k >= start + CLIP_FRAMES:
                break
            main = frame.reformat(width=360, height=640, format="rgb24", interpolation="AREA").to_ndarray()
            noisy = np.clip(panel + rng.normal(0, 2.0, panel.shape), 0, 255).astype(np.uint8)
            canvas = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.concatenate([main, noisy], axis=1)),
                                                format="rgb24")
            canvas.pts = k - start
            out.mux(s_out.encode(canvas))
        out.mux(s_out.encode())


if __name__ == "__main__":
    root = Path(sys.argv[1])
    here = Path(__file__).parent
    for name, rel in CLIPS.items():
        shrink_clip(root / rel, here / name)
    panel = bystander_panel(root)
    for seed, (name, (cam, start)) in enumerate(BYSTANDER_CLIPS.items()):
        bystander_clip(root / TRIAL / cam, here / name, start, panel, seed)
