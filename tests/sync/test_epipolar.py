"""Epipolar residuals of frame pairs and per-joint reliability."""
import numpy as np

from synnet_recon.sync import epipolar as E


def test_joint_reliability_weights_down_a_misplaced_arm():
    losses = np.full((50, 18), 0.2)
    losses[:, [3, 4]] = 3.0            # one elbow and wrist fit badly all along
    losses[:10, 6] = 5.0               # a few bad frames only: kept
    w = E.joint_reliability(losses)
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
    same = E.epipolar_pair_costs(a, b, ridge=0.0)
    other = E.epipolar_pair_costs(a, b[[1, 2, 3, 0]], ridge=0.0)
    assert np.all(same < 1e-6) and np.all(other > 100 * same.max())


class _SlopedCost:
    """A stand-in for FineScorer: a quadratic cost with its minimum at ``x0`` seconds."""

    def __init__(self, x0):
        self.x0 = x0

    def costs(self, grid, static=False):
        return (np.asarray(grid) - self.x0) ** 2

    def refine(self, grid, half_width=3, static=False):
        c = self.costs(grid)
        return E.curve_minimum(grid, c, half_width), 0.001, c


def test_refine_offset_stays_in_the_candidates_basin():
    step = 1 / 30
    near = E.refine_offset(_SlopedCost(1.0 + 1.2 * step), 1.0, step, 1.5, 0.1)
    assert abs(near[0] - (1.0 + 1.2 * step)) < 0.05 * step        # a minimum within reach is found
    far = E.refine_offset(_SlopedCost(1.0 + 5.0 * step), 1.0, step, 1.5, 0.1)
    # a cost sloping away is followed by one re-centring only (grid centre <= max_shift = radius away,
    # then +-radius, the 0.6-frame fine grid and the parabola's 0.35): not to the far minimum
    assert 3.0 * step <= far[0] - 1.0 <= 3.96 * step
    wide = E.refine_offset(_SlopedCost(1.0 + 5.0 * step), 1.0, step, 1.5, 0.1, max_shift=6.0)
    assert abs(wide[0] - (1.0 + 5.0 * step)) < 0.05 * step        # unless asked


class _JitteredSlope(_SlopedCost):
    """The same, with a standard error that grows with the grid's distance from ``x0``."""

    def refine(self, grid, half_width=3, static=False):
        offset, _, c = super().refine(grid, half_width, static)
        return offset, 0.01 + abs(float(np.mean(grid)) - 1.0), c


def test_refine_offset_in_basin_stays_in_the_picked_frame_on_a_slope():
    step = 1 / 30
    near = E.refine_offset(_SlopedCost(1.0 + 1.2 * step), 1.0, step, 1.5, 0.1, in_basin=True)
    assert abs(near[0] - (1.0 + 1.2 * step)) < 0.05 * step        # a basin of its own: found as before
    far = E.refine_offset(_SlopedCost(1.0 + 5.0 * step), 1.0, step, 1.5, 0.1, in_basin=True)
    assert 0.45 * step <= far[0] - 1.0 <= 0.5 * step + 1e-12       # a slope: the edge of the picked frame
    below = E.refine_offset(_SlopedCost(1.0 - 5.0 * step), 1.0, step, 1.5, 0.1, in_basin=True)
    assert -0.5 * step - 1e-12 <= below[0] - 1.0 <= -0.45 * step
    # the standard error is the larger of the walked one and the in-frame one (never made smaller)
    walked = E.refine_offset(_JitteredSlope(1.0 + 5.0 * step), 1.0, step, 1.5, 0.1)
    kept = E.refine_offset(_JitteredSlope(1.0 + 5.0 * step), 1.0, step, 1.5, 0.1, in_basin=True)
    assert kept[1] >= walked[1] > 0.01 and abs(kept[0] - 1.0) <= 0.5 * step + 1e-12


def test_smallest_eigenvector_from_a_start_matches_eigh():
    """The warm-started solver of the IRLS steps gives eigh's smallest eigenvector (up to sign),
    falls back to eigh where the start is useless (orthogonal, or near a degenerate pair), and
    without a start is eigh."""
    from synnet_recon.sync.epipolar import smallest_eigenvector

    rng = np.random.default_rng(0)
    A = rng.normal(size=(400, 18, 9))
    S = np.einsum("pki,pkj->pij", A, A) / 18
    S[:5] = np.diag(np.r_[1.0, 1.0 + 1e-12, np.arange(2.0, 9.0)])  # nearly degenerate smallest pair
    ref = np.linalg.eigh(S)[1][..., 0]
    start = ref + 0.05 * rng.normal(size=ref.shape)
    start[5] = np.linalg.eigh(S[5])[1][..., 3]  # orthogonal to the answer: must not be kept
    got = smallest_eigenvector(S, start)
    err = np.minimum(np.abs(got - ref).max(1), np.abs(got + ref).max(1))
    assert err[5:].max() < 1e-8
    # the degenerate pair: any unit vector of its eigenspace is an answer (eigh's is arbitrary too)
    Sv = np.einsum("pij,pj->pi", S[:5], got[:5])
    rho = np.einsum("pi,pi->p", got[:5], Sv)
    assert np.allclose(np.linalg.norm(got[:5], axis=1), 1.0) and np.abs(Sv - rho[:, None] * got[:5]).max() < 1e-10
    assert np.allclose(rho, 1.0)
    np.testing.assert_array_equal(smallest_eigenvector(S), ref)
    # the IRLS costs are unchanged to far below their precision
    from synnet_recon.sync import epipolar as E
    xa = rng.normal(size=(60, 18, 2)) * 50 + 300
    xb = xa @ np.array([[0.9, 0.1], [-0.1, 0.95]]) + rng.normal(size=(60, 18, 2)) + 20
    fast = E.epipolar_pair_costs(xa, xb)
    orig = E.smallest_eigenvector
    try:
        E.smallest_eigenvector = lambda S, start=None: np.linalg.eigh(S)[1][..., 0]
        slow = E.epipolar_pair_costs(xa, xb)
    finally:
        E.smallest_eigenvector = orig
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)


def _two_static_views(seed: int, frames: int = 150, fps: float = 30.0):
    """Two static perspective views (50 deg apart) of 18 joints moving smoothly, 1 px noise; the
    3D joints too, for planting a detector bias. Offset 0."""
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    t = np.arange(frames + 3) / fps
    base = rng.normal(size=(18, 3)) * np.array([0.25, 0.5, 0.15])
    amp, freq = rng.normal(size=(18, 3, 3)) * 0.12, rng.uniform(0.3, 1.6, size=(18, 3, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(18, 3, 3))
    X = base + (amp * np.sin(2 * np.pi * freq * t[:, None, None, None] + phase)).sum(-1)
    X = X + np.array([0, 0, 4.0]) + np.stack([0.6 * np.sin(0.5 * t), 0 * t, 0.3 * np.cos(0.4 * t)], 1)[:, None]
    rb = Rotation.from_euler("y", -50, degrees=True).as_matrix()

    def view_b(X):
        Y = (X - np.array([3.2, 0.0, 1.4])) @ rb.T
        return 900 * Y[..., :2] / Y[..., 2:3] + np.array([640, 360])

    xa = 900 * X[:frames, :, :2] / X[:frames, :, 2:3] + np.array([640, 360]) + rng.normal(size=(frames, 18, 2))
    xb = view_b(X[:frames]) + rng.normal(size=(frames, 18, 2))
    return xa, xb, X, view_b


def test_group_stderr_sees_an_error_shared_by_every_frame():
    """One view's arms placed 3 frames late all along (a shared detector bias): the epipolar
    minimum moves by more than twice its block-jackknife error (the time blocks all share the
    bias), but not beyond the error over joint groups, which is several times the clean pair's."""
    from synnet_recon.keypoints import Keypoints

    fps = 30.0
    xa, xb, X, view_b = _two_static_views(3)
    arms = [3, 4, 6, 7]
    late = xb.copy()
    late[:, arms] = view_b(X[3:len(xb) + 3])[:, arms]
    found = []
    for b in (xb, late):
        ka, kb = (Keypoints(x, np.ones(x.shape[:2]), np.arange(len(x)) / fps, (720, 1280), n)
                  for x, n in ((xa, "a"), (b, "b")))
        fine = E.FineScorer(ka, kb, 1.5 / fps, 600, 12)
        fine.learn_joint_weights(0.0)
        offset, se, _ = E.refine_offset(fine, 0.0, 1 / fps, 1.5, 0.1)
        group_se, per_group = E.group_stderr(fine, offset, 1 / fps)
        assert set(per_group) == {"head", "arms", "torso", "legs"}
        found.append((offset * fps, se * fps, group_se * fps))
    (clean, clean_se, clean_group), (biased, biased_se, biased_group) = found
    assert abs(clean) < 0.2 and clean_group < 0.6
    assert abs(biased) > 2 * biased_se and abs(biased) < biased_group and biased_group > 2.5 * clean_group
