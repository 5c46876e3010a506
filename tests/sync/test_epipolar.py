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
