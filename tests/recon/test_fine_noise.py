"""The fine check on sensor-like depth (``synth.depth_noise``): the depth's own noise estimate
(``fine.depth_noise``) and the noise-aware point-to-plane scale. On the analytic floor-and-textured-wall
scene of test_fine.py with Kinect-like depth, the truth passes and a 3 cm slide is flagged; with the
scale fixed at 1 cm (the exact-depth setting) the truth is flagged (the wide grid: 18 of 18)."""
from __future__ import annotations

import numpy as np
import pytest

from synnet_recon.recon.fine import FineConfig, FinePair, depth_noise, fine_check, fine_view
from synnet_recon.synth.depth_noise import DepthNoise, apply_depth_noise

from .test_fine import K, _points, _pose, _render, _slid


def test_the_noise_model_grows_with_depth_squared_and_is_seeded():
    depth = np.full((120, 160), 2.0, np.float32)
    depth[:, 80:] = 4.0
    a = apply_depth_noise(depth, DepthNoise(), np.random.default_rng(3))
    assert np.array_equal(a, apply_depth_noise(depth, DepthNoise(), np.random.default_rng(3)))
    near, far = a[:, 5:70][a[:, 5:70] > 0], a[:, 90:155][a[:, 90:155] > 0]
    assert 2.0 < np.std(far - 4.0) / np.std(near - 2.0) < 6.0    # z^2: 4x, with 1/8 px steps
    assert 0.003 < np.std(near - 2.0) < 0.012
    edge = a[:, 79:81]
    assert (edge == 0).mean() > 0.2 and (a[:, 5:70] == 0).mean() < 0.05


def test_depth_noise_reads_the_sensor_noise_from_the_map():
    c = _pose(0.0, [0.0, 0.0, 0.0])
    exact, _ = _render(c, True)
    assert depth_noise(exact) < 1e-4          # slanted planes: second differences of 1/z vanish
    noisy = apply_depth_noise(exact, DepthNoise(), np.random.default_rng(0))
    assert 1.0e-3 < depth_noise(noisy) < 3.0e-3    # the model's 1.5e-3, and its quantisation
    # every 4th row and column: the same reading; FineView.noise_below decides as the whole map does
    assert depth_noise(exact, every=4) < 1e-4 and 1.0e-3 < depth_noise(noisy, every=4) < 3.0e-3
    for depth in (exact, noisy):
        view = fine_view(None, depth, K, FineConfig())
        for limit in (2.5e-4, 1e-3, 1.5e-3, 2e-3, 5e-3):
            assert view.noise_below(limit) == (depth_noise(depth) < limit)


@pytest.fixture(scope="module")
def noisy():
    rng = np.random.default_rng(5)
    c0, c1 = _pose(0.0, [0.0, 0.0, 0.0]), _pose(-30.0, [1.2, -0.2, 0.3])
    (d0, i0), (d1, i1) = _render(c0, True), _render(c1, True)
    d0, d1 = apply_depth_noise(d0, DepthNoise(), rng), apply_depth_noise(d1, DepthNoise(), rng)
    return (i1, d1, K), (i0, d0, K), _points(d1), _points(d0), np.linalg.inv(c0) @ c1


def test_noise_aware_scale_passes_the_truth_and_flags_a_slide(noisy):
    *views, true = noisy
    config = FineConfig()
    pair = FinePair(*views, config)
    result, reason = fine_check(true, pair, config)
    assert reason is None, reason
    slid, reason = fine_check(_slid(true, [0.03, 0.0, 0.0]), pair, config)
    assert reason is not None and "moves this pose" in reason


def test_a_fixed_scale_flags_the_truth_on_noisy_depth(noisy):
    *views, true = noisy
    config = FineConfig(noise_aware=False)
    _, reason = fine_check(true, FinePair(*views, config), config)
    assert reason is not None and "does not pin" in reason     # the noisy point-to-plane rows drown the texture's pull
