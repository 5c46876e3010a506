"""Training-free correlation scores (speed, trajectory) beside the affine score, on shared cases."""
import numpy as np
import pytest

from synnet_recon.sync import affine as A
from synnet_recon.sync import baselines as B
from synnet_recon.synth.scene import PACKAGED_MOTION, SceneConfig, simulate_scene


@pytest.fixture(scope="module")
def scene():
    """Two synchronized moving cameras (noise-free and noisy) filming the packaged CMU walk."""
    from synnet_recon.motion import load_motion

    motion = load_motion(PACKAGED_MOTION)
    clean = simulate_scene(SceneConfig(cameras=2, seconds=5, fps=30, max_offset=0, seed=3, noise=0.0), motion)
    noisy = simulate_scene(SceneConfig(cameras=2, seconds=5, fps=30, max_offset=0, seed=3, noise=1.0), motion)
    return clean, noisy


def test_scores_peak_at_the_shift_of_a_copied_track(scene):
    noisy = scene[1].cameras[0].keypoints.xy.astype(np.float64)
    shift = 7
    a = noisy[shift:]          # a starts 7 frames later than b: frame i of a = frame i + 7 of b
    b = noisy
    offsets = np.arange(-40, 41)
    for fn in (B.speed_correlation_scores, B.trajectory_correlation_scores, A.affine_consistency_scores):
        s = fn(a, b, offsets)
        assert s.shape == offsets.shape
        assert offsets[np.nanargmax(s)] == -shift, fn.__name__


def test_view_invariant_scores_find_offset_between_two_moving_cameras(scene):
    clean = scene[0]
    a = clean.cameras[0].keypoints.xy.astype(np.float64)
    b = clean.cameras[1].keypoints.xy.astype(np.float64)[9:]  # b starts 9 frames later
    offsets = np.arange(-60, 61)
    # the coarse score only has to find the basin: trimming the worst joints of every frame pair
    # (robustness to detector errors) may move its noise-free peak by a frame; exact without trimming
    assert abs(offsets[np.nanargmax(A.affine_consistency_scores(a, b, offsets))] - 9) <= 1
    exact = A.affine_cost_matrix(a, b, trim=0, swap_arms=False)
    assert offsets[np.nanargmax(A.affine_consistency_scores(a, b, offsets, cost=exact))] == 9
    assert abs(offsets[np.nanargmax(B.trajectory_correlation_scores(a, b, offsets))] - 9) <= 2


def test_scores_are_nan_safe(scene):
    a = scene[1].cameras[0].keypoints.xy.astype(np.float64).copy()
    b = scene[1].cameras[1].keypoints.xy.astype(np.float64).copy()
    a[::3] = np.nan            # whole frames lost
    b[:, 4] = np.nan           # a joint never seen
    offsets = np.arange(-200, 201)
    for fn in (B.speed_correlation_scores, B.trajectory_correlation_scores, A.affine_consistency_scores):
        s = fn(a, b, offsets)
        assert np.isnan(s[0]) and np.isnan(s[-1])        # no overlap at the extremes
        assert np.isfinite(s[200]) and np.all(np.isfinite(s) | np.isnan(s))


def test_overlap_correlations_match_direct_sums_in_feature_blocks(rng, monkeypatch):
    """The FFT sums (features taken in blocks for long tracks) give the Pearson correlation of each
    offset's overlap, as computed directly."""
    fa, fb = rng.normal(size=(50, 5)), rng.normal(size=(40, 5))
    fa[3, 1] = np.nan
    fb[:6, 4] = np.nan
    offsets = np.arange(-30, 41, 7)
    monkeypatch.setattr(B, "_FFT_BLOCK", 2 * 90)  # two features per block
    score, frames = B._overlap_pearson_counts(fa, fb, offsets, 8)
    for d, s, n in zip(offsets, score, frames):
        i = np.arange(max(0, d), min(50, 40 + d))
        assert n == len(i)
        rs = []
        for f in range(5):
            x, y = fa[i, f], fb[i - d, f]
            ok = np.isfinite(x) & np.isfinite(y)
            if ok.sum() >= 8:
                rs.append(np.corrcoef(x[ok], y[ok])[0, 1])
        assert (np.isnan(s) and (len(i) < 8 or not rs)) or abs(s - np.mean(rs)) < 1e-9


def test_low_pass_keeps_the_speed_signal_under_detector_jitter(scene):
    """Independent frame-wise jitter in two copies of one view (3 % of body size): unfiltered
    speeds are mostly noise (correlation at the true offset ~0.5); the low-pass
    (``SMOOTH_FRAMES``) recovers the motion's speed (~0.95) and both correlations peak there."""
    from synnet_recon.sync.tracks import body_scale

    x = scene[0].cameras[0].keypoints.xy.astype(np.float64)
    size = float(np.nanmedian(body_scale(x)))
    rng = np.random.default_rng(5)
    a = x[7:] + rng.normal(size=x[7:].shape) * 0.03 * size
    b = x + rng.normal(size=x.shape) * 0.03 * size
    offsets = np.arange(-40, 41)
    truth = int(np.flatnonzero(offsets == -7)[0])
    raw = B.correlation_curve_of_features(B.speed_features(a, 0.0), B.speed_features(b, 0.0), offsets)[0]
    low = B.correlation_curve_of_features(B.speed_features(a), B.speed_features(b), offsets)[0]
    assert B.SMOOTH_FRAMES > 0
    assert raw[truth] < 0.75 and low[truth] > 0.9
    assert np.nanargmax(low) == truth
    traj_raw = B.correlation_curve_of_features(B.trajectory_features(a, 0.0), B.trajectory_features(b, 0.0), offsets)[0]
    traj = B.correlation_curve_of_features(B.trajectory_features(a), B.trajectory_features(b), offsets)[0]
    assert traj[truth] > traj_raw[truth] + 0.1 and np.nanargmax(traj) == truth


def test_a_periodic_speed_signal_matches_itself_one_period_later():
    from synnet_recon.sync.baselines import self_match_peak

    t = np.arange(150)
    rng = np.random.default_rng(0)
    periodic = (np.sin(2 * np.pi * t / 20.0) + 0.1 * rng.normal(size=t.size))[:, None]
    from scipy.ndimage import gaussian_filter1d

    irregular = gaussian_filter1d(rng.normal(size=t.size), 3.0)[:, None]  # as smooth, no period
    assert self_match_peak(periodic, 60, 30) > 0.8
    assert self_match_peak(irregular, 60, 30) < 0.5
    assert np.isnan(self_match_peak(periodic[:32], 60, 30))  # no lag beyond the lobe at 0 with 30 frames in common
