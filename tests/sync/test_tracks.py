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


def _walking_arms(rng, frames=120):
    """A body whose arms swing in antiphase, plus a little detector jitter: (T, 18, 2)."""
    from synnet_recon.skeleton import JOINT_INDEX as J

    t = np.arange(frames) / 30.0
    base = rng.uniform(-1, 1, size=(18, 2)) * 20 + 300
    xy = np.broadcast_to(base, (frames, 18, 2)).copy()
    for side, x0, phase in (("r", 260.0, 0.0), ("l", 340.0, np.pi)):
        swing = 25 * np.sin(2 * np.pi * 0.9 * t + phase)
        xy[:, J[f"{side}_shoulder"]] = np.stack([np.full(frames, x0), np.full(frames, 200.0)], 1)
        xy[:, J[f"{side}_elbow"]] = np.stack([x0 + 0.5 * swing, np.full(frames, 260.0)], 1)
        xy[:, J[f"{side}_wrist"]] = np.stack([x0 + swing, np.full(frames, 320.0)], 1)
    return xy + rng.normal(scale=1.0, size=xy.shape)


def test_consistent_arm_labels_undoes_arm_and_forearm_swaps(rng):
    clean = _walking_arms(rng)
    np.testing.assert_array_equal(T.consistent_arm_labels(clean), clean)  # nothing to undo
    noisy = clean.copy()
    noisy[20:35] = noisy[20:35][:, T.ARM_SWAP]       # whole arms exchanged for 15 frames
    noisy[60:70] = noisy[60:70][:, T.FOREARM_SWAP]   # forearms only for 10 frames
    noisy[80, 4] = np.nan                            # a missing wrist moves with its label
    fixed = T.consistent_arm_labels(noisy)
    ok = np.isfinite(fixed).all(-1)
    np.testing.assert_allclose(fixed[ok], clean[ok])
    assert np.isnan(fixed[80, 4]).all()
    # the speed signal no longer jumps by a shoulder width at the swaps
    from synnet_recon.sync import baselines as B

    jumpy, steady = B.speed_features(noisy, 0.0)[:, 0], B.speed_features(fixed, 0.0)[:, 0]
    assert np.nanmax(jumpy) > 3 * np.nanmax(steady)


def test_consistent_arm_labels_handles_short_and_empty_tracks():
    assert T.consistent_arm_labels(np.zeros((1, 18, 2))).shape == (1, 18, 2)
    empty = np.full((5, 18, 2), np.nan)
    assert np.isnan(T.consistent_arm_labels(empty)).all()


def test_track_cache_computes_once_per_track_inside_align_only(rng):
    cache = T.TrackCache(max_bytes=1 << 20)
    x = rng.normal(size=(30, 18, 2))
    calls = []

    def fn():
        calls.append(1)
        return x * 2.0

    # outside an active block nothing is kept: every call computes
    cache.get("double", x, fn)
    cache.get("double", x, fn)
    assert len(calls) == 2
    with cache.active():
        first = cache.get("double", x, fn)
        again = cache.get("double", x.copy(), fn)  # same content, another array: a hit
        assert len(calls) == 3 and again is first
        assert not first.flags.writeable  # a caller cannot change the next caller's value
        cache.get("double", x + 1.0, fn)  # other content: computed
        cache.get("triple", x, fn)        # other key: computed
        assert len(calls) == 5
        big = rng.normal(size=(3000, 18, 2))  # 864 kB > a quarter of the budget: not kept
        cache.get("big", big, lambda: big * 1.0)
        assert len(cache._items) == 3
    # emptied when the block ends: the next align computes everything again
    assert len(cache._items) == 0
    with cache.active():
        cache.get("double", x, fn)
    assert len(calls) == 6


def test_curve_evidence_is_the_same_with_the_track_cache(rng):
    from synnet_recon.sync.evidence import curve_evidence

    t = np.arange(90)[:, None, None]
    a = 300 + 40 * np.sin(0.2 * t + rng.uniform(0, 6, size=(1, 18, 2))) + rng.normal(0, 1, size=(90, 18, 2))
    b = a[10:80] * 0.8 + 20 + rng.normal(0, 1, size=(70, 18, 2))
    offsets = np.arange(-40, 40)
    cues = ("speed", "trajectory")
    plain, _ = curve_evidence(cues, a, b, offsets, 12, 2_000_000, 30.0)
    with T.TRACK_CACHE.active():
        cached, _ = curve_evidence(cues, a, b, offsets, 12, 2_000_000, 30.0)
        hits, _ = curve_evidence(cues, a, b, offsets, 12, 2_000_000, 30.0)  # all from the cache
    for cue in cues:
        np.testing.assert_array_equal(cached[cue], plain[cue])
        np.testing.assert_array_equal(hits[cue], plain[cue])
