"""The depth-map codec (io/depth_png.py): millimetres, 0 = no depth, deeper than 65.535 m dropped."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from synnet_recon.errors import InputError
from synnet_recon.io.depth_png import (
    DEPTH_PNG_SCALE,
    MAX_DEPTH_M,
    decode_depth,
    encode_depth,
    read_depth_png,
    write_depth_png,
)


@settings(max_examples=50)
@given(arrays(np.float32, (4, 5), elements=st.floats(0.0625, 65.5, width=32)))
def test_round_trip_within_half_a_millimetre(depth):
    back = decode_depth(encode_depth(depth))
    assert back.dtype == np.float32
    assert np.all(np.abs(back - depth) <= 0.5 / DEPTH_PNG_SCALE + 1e-6)


@pytest.mark.parametrize("metres, mm", [
    (1.2344, 1234), (0.0004, 0), (0.0, 0), (-1.0, 0), (np.nan, 0), (np.inf, 0),
    (MAX_DEPTH_M, 65535), (65.5355, 0), (70.0, 0),   # beyond the uint16 range: no depth, not clipped
])
def test_encoding_policy(metres, mm):
    assert encode_depth(np.array([[metres]], np.float64))[0, 0] == mm


def test_float32_maps_encode_as_the_renderer_always_did():
    d = np.random.default_rng(0).uniform(0.3, 12.0, (60, 80)).astype(np.float32)
    old = np.clip(np.where(np.isfinite(d) & (d > 0), np.round(d * 1000.0), 0), 0, 65535).astype(np.uint16)
    np.testing.assert_array_equal(encode_depth(d), old)


def test_png_file_round_trip_and_bad_files(tmp_path):
    d = np.array([[0.0, 1.5], [2.25, 80.0]], np.float32)
    write_depth_png(tmp_path / "d.png", d)
    np.testing.assert_array_equal(read_depth_png(tmp_path / "d.png"), [[0.0, 1.5], [2.25, 0.0]])
    import cv2

    cv2.imwrite(str(tmp_path / "rgb.png"), np.zeros((2, 2, 3), np.uint8))
    (tmp_path / "junk.png").write_bytes(b"not a png")
    for name, message in [("rgb.png", "not a 16-bit single-channel depth PNG"), ("junk.png", "unreadable: not a 16-bit single-channel depth PNG"),
                          ("none.png", "depth PNG not found")]:
        with pytest.raises(InputError, match=message):
            read_depth_png(tmp_path / name)
