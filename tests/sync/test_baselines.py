"""Training-free sync scores: speed and trajectory correlation, affine and epipolar residuals."""
import numpy as np
import pytest

from synnet_recon.keypoints import Keypoints
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


def test_resample_same_rate_is_identity_and_handles_vfr(rng):
    xy = rng.normal(size=(20, 18, 2)).astype(np.float32)
    kp = Keypoints.from_fps(xy, np.ones((20, 18)), 30.0, (640, 480))
    np.testing.assert_allclose(B.resample_track(kp, 30.0), xy, atol=1e-6)
    # variable frame rate: times jittered, a linear signal is reproduced exactly on the regular clock
    times = np.cumsum(np.r_[0.0, rng.uniform(0.025, 0.04, size=39)])
    lin = np.broadcast_to((2.0 * times)[:, None, None], (40, 18, 2)).astype(np.float32)
    out = B.resample_track(Keypoints(lin, np.ones((40, 18)), times, (640, 480)), 30.0)
    t = times[0] + np.arange(len(out)) / 30.0
    np.testing.assert_allclose(out[:, 0, 0], 2.0 * t, atol=1e-4)
    # a gap (dropped frames) becomes NaN, not a long interpolation
    gap_times = np.r_[np.arange(10) / 30.0, 1.0 + np.arange(10) / 30.0]
    out = B.resample_track(Keypoints(np.zeros((20, 18, 2)), np.ones((20, 18)), gap_times, (640, 480)), 30.0)
    assert np.isnan(out[15]).all() and np.isfinite(out[0]).all()


def test_scores_peak_at_the_shift_of_a_copied_track(scene):
    noisy = scene[1].cameras[0].keypoints.xy.astype(np.float64)
    shift = 7
    a = noisy[shift:]          # a starts 7 frames later than b: frame i of a = frame i + 7 of b
    b = noisy
    offsets = np.arange(-40, 41)
    for fn in (B.speed_correlation_scores, B.trajectory_correlation_scores, B.affine_consistency_scores):
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
    assert abs(offsets[np.nanargmax(B.affine_consistency_scores(a, b, offsets))] - 9) <= 1
    exact = B.affine_cost_matrix(a, b, trim=0, swap_arms=False)
    assert offsets[np.nanargmax(B.affine_consistency_scores(a, b, offsets, cost=exact))] == 9
    assert abs(offsets[np.nanargmax(B.trajectory_correlation_scores(a, b, offsets))] - 9) <= 2


def test_scores_are_nan_safe(scene):
    a = scene[1].cameras[0].keypoints.xy.astype(np.float64).copy()
    b = scene[1].cameras[1].keypoints.xy.astype(np.float64).copy()
    a[::3] = np.nan            # whole frames lost
    b[:, 4] = np.nan           # a joint never seen
    offsets = np.arange(-200, 201)
    for fn in (B.speed_correlation_scores, B.trajectory_correlation_scores, B.affine_consistency_scores):
        s = fn(a, b, offsets)
        assert np.isnan(s[0]) and np.isnan(s[-1])        # no overlap at the extremes
        assert np.isfinite(s[200]) and np.all(np.isfinite(s) | np.isnan(s))


def test_affine_cost_is_zero_for_two_affine_views_of_one_pose(rng):
    X = rng.normal(size=(5, 18, 3))                     # 5 random 3D "poses"
    P1, P2 = rng.normal(size=(2, 2, 3))
    a = X @ P1.T + rng.normal(size=2)
    b = X @ P2.T * 3.0 + 100.0
    C = B.affine_cost_matrix(a, b)
    assert np.all(np.diag(C) < 1e-10)
    off = C[~np.eye(5, dtype=bool)]
    assert np.all(off > 1e-3)


def test_closed_form_4x4_eigen_matches_lapack(rng):
    X = rng.normal(size=(200, 4, 18))
    X[:100, 3] = X[:100, :3].sum(1) * 0.5 + 1e-3 * rng.normal(size=(100, 18))  # nearly rank 3
    S = X @ X.transpose(0, 2, 1) / 18
    w, V = np.linalg.eigh(S)
    lam = B._smallest_eig_sym4(S)
    np.testing.assert_allclose(lam, w[:, 0], rtol=1e-6, atol=1e-12)
    v = B._null_vector_sym4(S, lam)
    np.testing.assert_allclose(np.abs(np.sum(v * V[:, :, 0], 1)), 1.0, atol=1e-6)


def test_affine_cost_survives_swapped_and_misplaced_arms(rng):
    """MediaPipe-like errors: arms exchanged in one view, one forearm misplaced in the other."""
    from synnet_recon.skeleton import JOINT_INDEX as J

    X = rng.normal(size=(6, 18, 3))
    P1, P2 = rng.normal(size=(2, 2, 3))
    a = X @ P1.T * 40 + 200
    b = X @ P2.T * 40 + 300
    b_swapped = b[:, B.ARM_SWAP]
    exact = B.affine_cost_matrix(a, b, trim=0, swap_arms=False)
    assert np.all(B.affine_cost_matrix(a, b_swapped, trim=0, swap_arms=False).diagonal() > 1e-4)
    assert np.all(B.affine_cost_matrix(a, b_swapped, trim=0).diagonal() < 1e-10)
    a_biased = a.copy()
    a_biased[:, [J["l_elbow"], J["l_wrist"]]] += np.array([15.0, -20.0])
    plain = B.affine_cost_matrix(a_biased, b, trim=0, swap_arms=False)
    robust = B.affine_cost_matrix(a_biased, b)
    # one least-trimmed-squares step from the contaminated fit: usually exact, always better
    assert np.all(plain.diagonal() > 1e-4) and np.all(robust.diagonal() < plain.diagonal())
    assert np.mean(robust.diagonal() < 1e-10) >= 0.5
    # the other frame pairs (different poses) stay far from consistent
    off = ~np.eye(6, dtype=bool)
    assert np.all(robust[off] > 1e-4) and np.all(exact[off] > 1e-4)


def test_joint_reliability_weights_down_a_misplaced_arm():
    losses = np.full((50, 18), 0.2)
    losses[:, [3, 4]] = 3.0            # one elbow and wrist fit badly all along
    losses[:10, 6] = 5.0               # a few bad frames only: kept
    w = B.joint_reliability(losses)
    assert w[3] < 0.05 and w[4] < 0.05 and w[6] == 1.0 and w[0] == 1.0


def test_epipolar_cost_is_zero_for_perspective_views(rng):
    X = rng.normal(size=(4, 18, 3)) * 0.4 + np.array([0, 0, 3.0])
    def project(X, R, t):
        Y = X @ R.T + t
        return 500 * Y[..., :2] / Y[..., 2:3]
    from scipy.spatial.transform import Rotation
    a = project(X, np.eye(3), np.zeros(3))
    R = Rotation.from_euler("y", 40, degrees=True).as_matrix()
    b = project(X, R, np.array([-1.5, 0.0, 0.8]))
    same = B.epipolar_pair_costs(a, b, ridge=0.0)
    other = B.epipolar_pair_costs(a, b[[1, 2, 3, 0]], ridge=0.0)
    assert np.all(same < 1e-6) and np.all(other > 100 * same.max())


def test_gaussian_sample_reads_fractional_positions(rng):
    t = np.arange(50.0)
    xy = np.broadcast_to((3.0 * t)[:, None, None], (50, 18, 2)).copy()
    out = B.gaussian_sample(xy, np.array([10.25, 20.5, 30.75]), sigma=1.0)
    np.testing.assert_allclose(out[:, 0, 0], [30.75, 61.5, 92.25], atol=1e-4)
    assert np.isnan(B.gaussian_sample(xy, np.array([-1.0, 49.5]), 1.0)).all()
