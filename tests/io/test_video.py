"""Video decoding: timestamps (incl. VFR), rotation metadata, downscaling, subsets, bad files."""
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from synnet_recon.errors import InputError
from synnet_recon.io.video import (
    frame_times,
    iter_frames,
    probe_video,
    read_frame,
    rotate_upright,
    rotation_from_display_matrix,
    scaled_size,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "video"
CLIP = DATA / "single_cam01.mp4"  # 360x640, 60 fps, 100 frames (Pose2Sim demo, BSD-3-Clause)

# iPhone-style portrait matrix (16.16 fixed point): pixels stored sideways, shown turned 90 deg clockwise.
PORTRAIT_MATRIX = [0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30]


def encode(path: Path, pts_ms, size=(64, 48), display_matrix=None, rotation=None, container_opts=None,
           gop=None):
    """Write an H.264 video whose frame k has presentation time pts_ms[k] milliseconds.

    Each frame (H, W) = size[::-1] is black with a white block in its stored top-left corner and
    its frame number written as a gray level in the bottom row.
    """
    w, h = size
    with av.open(str(path), "w", options=container_opts or {}) as out:
        stream = out.add_stream("libx264", rate=30, options={"g": str(gop)} if gop else {})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        if display_matrix is not None:
            stream.set_display_matrix(display_matrix)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for k, p in enumerate(pts_ms):
            img = np.zeros((h, w, 3), np.uint8)
            img[: h // 4, : w // 4] = 255
            img[-8:, :] = 10 * k
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = p, Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def white_centroid(image):
    """(row, col) centre of the white block, as fractions of the image height/width."""
    rows, cols = np.nonzero(image[..., 0] > 200)
    return rows.mean() / image.shape[0], cols.mean() / image.shape[1]


def test_probe_clip():
    info = probe_video(CLIP)
    assert (info.width, info.height) == (360, 640)
    assert info.fps == pytest.approx(60.0)
    assert info.num_frames == 100
    assert info.duration == pytest.approx(100 / 60)
    assert info.rotation == 0
    assert info.codec == "h264"


def test_iter_frames_times_and_downscale():
    frames = list(iter_frames(CLIP, max_side=320))
    assert [f.index for f in frames] == list(range(100))
    np.testing.assert_allclose([f.time for f in frames], np.arange(100) / 60, atol=1e-9)
    assert frames[0].image.shape == (320, 180, 3) and frames[0].image.dtype == np.uint8
    full = next(iter(iter_frames(CLIP)))
    assert full.image.shape == (640, 360, 3)
    # the downscaled frame looks like the full one
    small_from_full = full.image.reshape(320, 2, 180, 2, 3).mean(axis=(1, 3))
    assert np.abs(small_from_full - frames[0].image).mean() < 6


def test_every_indices_times_and_read_frame_agree():
    all_frames = {f.index: f for f in iter_frames(CLIP, max_side=160)}
    every3 = list(iter_frames(CLIP, every=3, max_side=160))
    assert [f.index for f in every3] == list(range(0, 100, 3))
    subset = list(iter_frames(CLIP, indices=[97, 5, 60, 61, 300], max_side=160))
    assert [f.index for f in subset] == [5, 60, 61, 97]
    for f in subset:
        assert f.time == pytest.approx(all_frames[f.index].time)
        np.testing.assert_array_equal(f.image, all_frames[f.index].image)
    by_time = list(iter_frames(CLIP, times=[0.5, 0.51, 1.0], max_side=160))
    assert [f.index for f in by_time] == [30, 31, 60]
    np.testing.assert_array_equal(read_frame(CLIP, 77, max_side=160), all_frames[77].image)
    with pytest.raises(IndexError):
        read_frame(CLIP, 100)


def test_variable_frame_rate_timestamps_exact(tmp_path):
    pts_ms = [0, 33, 70, 100, 160, 170, 240, 300, 301, 400, 1000, 1033]
    path = encode(tmp_path / "vfr.mp4", pts_ms)
    info = probe_video(path)
    assert info.num_frames == len(pts_ms)
    assert info.fps == pytest.approx((len(pts_ms) - 1) / 1.033)
    frames = list(iter_frames(path))
    np.testing.assert_allclose([f.time for f in frames], np.array(pts_ms) / 1000, atol=1e-9)
    np.testing.assert_allclose(frame_times(path), np.array(pts_ms) / 1000, atol=1e-9)
    # frames come back in the order they were written (gray level of the bottom row = 10 k)
    np.testing.assert_allclose([f.image[-3:, :, 0].mean() for f in frames], 10 * np.arange(len(pts_ms)), atol=4)
    assert [f.index for f in iter_frames(path, times=[0.165, 0.302, 0.9])] == [4, 8, 10]


def test_subsets_seek_across_keyframes(tmp_path):
    """With a keyframe every 8 frames, sparse subsets seek; they must give the very same frames."""
    pts_ms = [int(k * 1000 / 30) + (k % 3) for k in range(24)]  # slightly irregular
    path = encode(tmp_path / "gop.mp4", pts_ms, gop=8)
    every = list(iter_frames(path))
    assert len(every) == 24
    for wanted in ([20], [3, 17], [0, 9, 10, 23], [23, 1]):
        got = list(iter_frames(path, indices=wanted))
        assert [f.index for f in got] == sorted(wanted)
        for f in got:
            assert f.time == pytest.approx(pts_ms[f.index] / 1000, abs=1e-9)
            assert f.image[-3:, :, 0].mean() == pytest.approx(10 * f.index, abs=4)
            np.testing.assert_array_equal(f.image, every[f.index].image)


@pytest.mark.parametrize("kind, expected_rotation, expected_corner", [
    ("matrix", 270, (0.125, 0.875)),  # portrait phone: shown turned clockwise -> block top-right
    ("ccw90", 90, (0.875, 0.125)),     # turned counterclockwise -> block bottom-left
    ("180", 180, (0.875, 0.875)),
])
def test_rotation_metadata_turns_frames_upright(tmp_path, kind, expected_rotation, expected_corner):
    kwargs = {"matrix": dict(display_matrix=PORTRAIT_MATRIX), "ccw90": dict(rotation=90),
              "180": dict(rotation=180)}[kind]
    path = encode(tmp_path / f"{kind}.mp4", [0, 33, 67], size=(64, 32), **kwargs)
    info = probe_video(path)
    assert info.rotation == expected_rotation
    upright = read_frame(path, 1)
    if expected_rotation in (90, 270):
        assert (info.width, info.height) == (32, 64) and upright.shape == (64, 32, 3)
    else:
        assert (info.width, info.height) == (64, 32) and upright.shape == (32, 64, 3)
    np.testing.assert_allclose(white_centroid(upright), expected_corner, atol=0.05)
    small = next(iter(iter_frames(path, max_side=32)))
    assert max(small.image.shape[:2]) == 32
    np.testing.assert_allclose(white_centroid(small.image), expected_corner, atol=0.1)


def test_rotation_helpers():
    assert rotation_from_display_matrix(PORTRAIT_MATRIX) == 270
    assert rotation_from_display_matrix([1, 0, 0, 0, 1, 0, 0, 0, 1]) == 0
    assert rotation_from_display_matrix([-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1]) == 180
    assert rotation_from_display_matrix([0, -2.0, 0, 2.0, 0, 0, 0, 0, 1]) == 90  # scale is ignored
    img = np.zeros((2, 3, 1), np.uint8)
    img[0, 0] = 1  # top-left
    assert rotate_upright(img, 90).shape == (3, 2, 1) and rotate_upright(img, 90)[2, 0, 0] == 1  # bottom-left
    assert rotate_upright(img, 270)[0, 1, 0] == 1  # top-right
    assert rotate_upright(img, -90)[0, 1, 0] == 1
    assert scaled_size(1080, 1920, 480) == (270, 480)
    assert scaled_size(100, 50, 480) == (100, 50)


def write_audio_only(path):
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def test_bad_files_raise_input_error(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    head = tmp_path / "head.mp4"
    head.write_bytes(CLIP.read_bytes()[:3000])
    audio = write_audio_only(tmp_path / "sound.m4a")
    cases = {text: "cannot read video", empty: "empty file", head: "cannot read video",
             audio: "no video stream", tmp_path / "missing.mp4": "no such file",
             tmp_path: "is a directory"}
    for path, problem in cases.items():
        with pytest.raises(InputError) as err:
            list(iter_frames(path))
        assert err.value.path == str(path) and problem in err.value.problem
        assert "\n" not in str(err.value)


def test_video_stream_without_frames(tmp_path):
    path = tmp_path / "zero.mkv"
    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=30)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    out.start_encoding()
    out.close()
    with pytest.raises(InputError, match="no frames"):
        probe_video(path)


def test_truncated_file_with_header_first(tmp_path):
    """A file cut short after its index (moov first): the missing frames are reported."""
    whole = encode(tmp_path / "whole.mp4", list(range(0, 3000, 33)), size=(96, 64),
                   container_opts={"movflags": "faststart"})
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert probe_video(whole).num_frames == len(range(0, 3000, 33))
    with pytest.raises(InputError, match="truncated"):
        probe_video(cut)
