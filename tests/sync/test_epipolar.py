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
