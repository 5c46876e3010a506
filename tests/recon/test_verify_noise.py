"""The pinning test on sensor-like depth (``verify.depth_noises``, ``filled_holes``, ``Photo.steadied``):
its tolerance grows with both depths' own noise, a Kinect's isolated holes do not switch a point's
evidence on and off, and the colour points sit on their local surface, not at their noisy depth. On
exact depth nothing changes (the fixed tolerance, the same states)."""
from __future__ import annotations

import numpy as np
import pytest

from synnet_recon.recon.joint_icp import turn_about
from synnet_recon.recon.verify import (
    Photo,
    VerifyConfig,
    agreement_states,
    check_view,
    depth_noises,
    filled_holes,
    person_axis,
    steady_points,
)
from synnet_recon.synth.depth_noise import DepthNoise, apply_depth_noise
from synnet_recon.synth.wide import WideSceneConfig

from .scenes import one_instant_views

K = np.array([[200.0, 0, 79.5], [0, 200.0, 59.5], [0, 0, 1]])


def _wall(z=5.0, shape=(120, 160)):
    return np.full(shape, z, np.float32)


def _points_of(depth):
    v, u = np.nonzero(depth > 0)
    z = depth[v, u].astype(np.float64)
    return np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], 1)


def test_exact_depth_keeps_the_fixed_tolerance():
    exact = _wall()
    assert depth_noises(exact, exact, None, VerifyConfig()) is None
    noisy = apply_depth_noise(exact, DepthNoise(), np.random.default_rng(0))
    n = depth_noises(noisy, exact, None, VerifyConfig())
    assert n is not None and 2.5e-3 < n[0] < 7.5e-3 and n[1] < 1e-4     # 2.5 x the map's ~1.7e-3
    assert depth_noises(noisy, noisy, None, VerifyConfig(noise_aware=False)) is None


def test_isolated_holes_take_their_neighbours_depth_and_large_ones_stay():
    depth = _wall()
    depth[10, 10] = 0.0                 # isolated
    depth[50:70, 50:70] = 0.0           # a region without depth
    u, v = np.array([10, 60, 5]), np.array([10, 60, 5])
    out = filled_holes(depth, u, v, depth[v, u])
    assert out[0] == 5.0 and out[1] == 0.0 and out[2] == 5.0


def test_the_noisy_wall_agrees_with_itself_once_the_tolerance_knows_its_noise():
    exact = _wall(7.0)                  # a room's far wall (the wide grid's backgrounds stand 2-8 m away)
    rng = np.random.default_rng(1)
    a, b = (apply_depth_noise(exact, DepthNoise(), rng) for _ in range(2))   # two looks at one wall
    points = _points_of(a)
    fixed = agreement_states(points, np.eye(4), b, K, 0.03)
    aware = agreement_states(points, np.eye(4), b, K, 0.03, noise=depth_noises(a, b, None, VerifyConfig()))
    assert (fixed == 1).mean() < 0.6             # 3 cm + 1 %: 10 cm at 7 m, against 2 x 7 cm of noise in 10 cm steps
    assert (aware == 1).mean() > 0.99
    # a wall 80 cm in front of the measured one is still free space
    ahead = points * (6.2 / 7.0)
    assert (agreement_states(ahead, np.eye(4), b, K, 0.03, noise=depth_noises(a, b, None, VerifyConfig())) < 0).mean() \
        > 0.9



def test_graded_states_see_a_shift_within_the_noise_band():
    """On a noisy wall a 3 cm shift (within the 2.5-sigma band of ~25 cm at 7 m) hardly flips 0/1
    states; graded by the residual the aligned pose is preferred surely. Exact depth: no grading."""
    from synnet_recon.recon.verify import paired_z

    exact = _wall(7.0)
    rng = np.random.default_rng(5)
    a, b = (apply_depth_noise(exact, DepthNoise(), rng) for _ in range(2))
    points, noise = _points_of(a), depth_noises(a, b, None, VerifyConfig())
    shifted = np.eye(4)
    shifted[2, 3] = 0.03

    def z(graded):
        return paired_z(agreement_states(points, np.eye(4), b, K, 0.03, noise=noise, graded=graded),
                        agreement_states(points, shifted, b, K, 0.03, noise=noise, graded=graded))

    assert z(True) > 10 and abs(z(False)) < 3, (z(True), z(False))    # here 19 and 0
    np.testing.assert_array_equal(agreement_states(_points_of(exact), shifted, exact, K, 0.03, graded=True),
                                  agreement_states(_points_of(exact), shifted, exact, K, 0.03))

def test_steadied_points_lie_on_the_local_surface():
    exact = _wall()
    noisy = apply_depth_noise(exact, DepthNoise(), np.random.default_rng(2))
    points = _points_of(noisy)
    steady = steady_points(points, noisy, K, 2.5 * 1.7e-3)
    before, after = np.abs(points[:, 2] - 5.0), np.abs(steady[:, 2] - 5.0)
    assert np.median(after) < 0.4 * np.median(before)
    # along each point's ray: the pixel it lands on does not change
    np.testing.assert_allclose(steady[:, :2] / steady[:, 2:], points[:, :2] / points[:, 2:], atol=1e-9)
    photo = Photo(points, np.zeros_like(points), np.zeros((120, 160, 3), np.uint8))
    assert photo.steadied(noisy, K, 4e-3) is photo.steadied(noisy, K, 4e-3)     # made once per map
    np.testing.assert_allclose(steady_points(_points_of(exact), exact, K, 1e-5), _points_of(exact))


@pytest.fixture(scope="module")
def noisy_wide(tmp_path_factory):
    """Two cameras 120 degrees apart in the symmetric room, one instant, Kinect-like depth: its
    views (read as fuse reads them) and the true pose of cam1 onto cam0."""
    config = WideSceneConfig(layout="symmetric", separation_deg=120.0, instants=1, depth_noise=DepthNoise())
    return one_instant_views(config, tmp_path_factory.mktemp("noisy_wide"))


def _pin(views, T, config):
    src, tgt = views.prepared["cam1"].cloud, views.prepared["cam0"].cloud
    photos = tuple(Photo(*views.background[n], views.images[n]) for n in ("cam1", "cam0"))
    return check_view(T, "planted", 0.7, 0.03, views.joints["cam1"], views.joints["cam0"], np.asarray(src.points),
                      views.depths["cam1"], views.intrinsics["cam1"].K, views.depths["cam0"],
                      views.intrinsics["cam0"].K, 0.1, 0.08, config, np.asarray(src.normals),
                      np.asarray(tgt.points), np.asarray(tgt.normals), photos).pin_z


def test_the_noise_aware_pinning_test_pins_the_truth_on_noisy_depth(noisy_wide):
    views, true = noisy_wide
    aware, fixed = _pin(views, true, VerifyConfig()), _pin(views, true, VerifyConfig(noise_aware=False))
    assert aware >= VerifyConfig().min_pin_z > fixed, (aware, fixed)


@pytest.mark.parametrize("turn", [-2.0, 2.0])
def test_turns_about_the_person_stay_unpinned_on_noisy_depth(noisy_wide, turn):
    views, true = noisy_wide
    assert _pin(views, turn_about(*person_axis(views.joints["cam0"]), turn) @ true, VerifyConfig()) < 0


def test_the_turn_checks_visibility_leaves_out_flying_pixels():
    from synnet_recon.recon.register import at_depth_edge, visibility_agreement

    exact = _wall(7.0)
    exact[:, :40] = 3.0                 # a nearer wall: at the depth edge pixels fly and drop
    rng = np.random.default_rng(4)
    a, b = (apply_depth_noise(exact, DepthNoise(), rng) for _ in range(2))
    points, noise = _points_of(a), depth_noises(a, b, None, VerifyConfig())
    fixed = visibility_agreement(points, np.eye(4), b, K, 0.1)
    aware = visibility_agreement(points, np.eye(4), b, K, 0.1, noise, (a, K))
    assert aware[0] > fixed[0] and aware[0] > 0.999 and aware[1] > 0.9 * fixed[1]
    edge = at_depth_edge(points, a, K, noise[0])
    near = np.abs(K[0, 0] * points[:, 0] / points[:, 2] + K[0, 2] - 39.5) < 3
    assert edge[near].mean() > 0.1 and edge[~near].mean() < 0.02
    ahead = points * (5.5 / 7.0)        # 1.5 m in front of the far wall: in its free space
    assert visibility_agreement(ahead[points[:, 2] > 6], np.eye(4), b, K, 0.1, noise)[0] < 0.1
