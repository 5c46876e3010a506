"""Track helpers: resampling onto a regular clock, smoothed fractional reads."""
import numpy as np

from synnet_recon.keypoints import Keypoints
from synnet_recon.sync import tracks as T


def test_resample_same_rate_is_identity_and_handles_vfr(rng):
    xy = rng.normal(size=(20, 18, 2)).astype(np.float32)
    kp = Keypoints.from_fps(xy, np.ones((20, 18)), 30.0, (640, 480))
    np.testing.assert_allclose(T.resample_track(kp, 30.0), xy, atol=1e-6)
    # variable frame rate: times jittered, a linear signal is reproduced exactly on the regular clock
    times = np.cumsum(np.r_[0.0, rng.uniform(0.025, 0.04, size=39)])
    lin = np.broadcast_to((2.0 * times)[:, None, None], (40, 18, 2)).astype(np.float32)
    out = T.resample_track(Keypoints(lin, np.ones((40, 18)), times, (640, 480)), 30.0)
    t = times[0] + np.arange(len(out)) / 30.0
    np.testing.assert_allclose(out[:, 0, 0], 2.0 * t, atol=1e-4)
    # a gap (dropped frames) becomes NaN, not a long interpolation
    gap_times = np.r_[np.arange(10) / 30.0, 1.0 + np.arange(10) / 30.0]
    out = T.resample_track(Keypoints(np.zeros((20, 18, 2)), np.ones((20, 18)), gap_times, (640, 480)), 30.0)
    assert np.isnan(out[15]).all() and np.isfinite(out[0]).all()


def test_gaussian_sample_reads_fractional_positions(rng):
    t = np.arange(50.0)
    xy = np.broadcast_to((3.0 * t)[:, None, None], (50, 18, 2)).copy()
    out = T.gaussian_sample(xy, np.array([10.25, 20.5, 30.75]), sigma=1.0)
    np.testing.assert_allclose(out[:, 0, 0], [30.75, 61.5, 92.25], atol=1e-4)
    assert np.isnan(T.gaussian_sample(xy, np.array([-1.0, 49.5]), 1.0)).all()


def test_gaussian_sample_in_chunks_is_the_same(rng, monkeypatch):
    xy = rng.normal(size=(50, 18, 2))
    xy[10:13, 4] = np.nan
    index = np.linspace(-1, 50, 97)
    whole = T.gaussian_sample(xy, index, 1.5)
    monkeypatch.setattr(T, "_SAMPLE_CHUNK", 10)
    np.testing.assert_array_equal(T.gaussian_sample(xy, index, 1.5), whole)
