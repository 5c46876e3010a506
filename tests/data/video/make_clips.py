"""Re-create the test clips from the Pose2Sim demo (BSD-3-Clause, see LICENSE_BSD-3-Clause.txt).

    python tests/data/video/make_clips.py /path/to/shared/data/multiview/pose2sim_demo

Each clip keeps the source's frames and timestamps (60 fps, 100 frames) but is shrunk by 3
(1080x1920 -> 360x640) and re-encoded with H.264 so that it stays well below 1 MB.
"""
import sys
from fractions import Fraction
from pathlib import Path

import av

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


if __name__ == "__main__":
    root = Path(sys.argv[1])
    for name, rel in CLIPS.items():
        shrink_clip(root / rel, Path(__file__).parent / name)
