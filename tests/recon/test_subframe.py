"""recon/subframe.py: a view's 2D joints at sub-frame instants, interpolated between its detections."""
from __future__ import annotations

import numpy as np
import pytest

from synnet_recon.recon.subframe import joints_at, stride


def _track(frames, J=3):
    """Joint j at frame f is at (10 f + j, 5 f): linear motion, 10 px a frame in x."""
    frames = np.asarray(frames)
    xy = np.stack([np.stack([10.0 * frames + j, 5.0 * frames], -1) for j in range(J)], 1)
    conf = np.tile(np.linspace(0.5, 0.9, len(frames))[:, None], (1, J))
    return frames, xy, conf


def test_linear_motion_is_recovered_between_strided_detections():
    frames, xy, conf = _track([0, 2, 4, 6, 8])
    assert stride(frames) == 2.0
    pos = np.array([0.0, 1.0, 2.39, 4.01, 7.5])
    out, c = joints_at(frames, xy, conf, pos, max_gap=3.0)
    between = [0, 1, 2, 4]
    np.testing.assert_allclose(out[between, 1, 0], 10 * pos[between] + 1, atol=1e-9)
    np.testing.assert_allclose(out[between, 1, 1], 5 * pos[between], atol=1e-9)
    assert c[0, 0] == conf[0, 0] and c[1, 0] == min(conf[0, 0], conf[1, 0])
    # within EXACT of a detection: that detection as it is (4.01 -> frame 4)
    assert out[3, 0, 0] == xy[2, 0, 0] and c[3, 0] == conf[2, 0]


def test_no_value_outside_the_track_across_long_gaps_or_missing_joints():
    frames, xy, conf = _track([0, 1, 2, 6, 7])
    xy[1, 2], conf[1, 2] = np.nan, 0.0  # joint 2 missed at frame 1
    out, c = joints_at(frames, xy, conf, np.array([-0.5, 1.5, 4.0, 7.3, 1.0]), max_gap=1.5)
    assert np.isnan(out[0]).all() and (c[0] == 0).all()  # before the first detection
    assert np.isnan(out[2]).all() and (c[2] == 0).all()  # 4 frames between 2 and 6 > max_gap
    assert np.isnan(out[3]).all()  # after the last
    assert np.isfinite(out[1, :2]).all() and np.isnan(out[1, 2]).all()  # joint 2: only frames 0 and 2 around 1.5
    assert np.isnan(out[4, 2]).all() and np.isfinite(out[4, 0]).all()
    wide, _ = joints_at(frames, xy, conf, np.array([1.0, 4.0]), max_gap=4.0)
    assert wide[0, 2, 0] == pytest.approx(12.0) and wide[1, 0, 0] == pytest.approx(40.0)
