"""The wide scenes' floor options (``Environment.floor``/``floor_tile``/``floor_grain``) and sensor-like
depth (``WideSceneConfig.depth_noise``): a small-period checker or stripes repeats exactly, so a shift by
one period fits the floor's texture; the default tiles (each its own shade) do not."""
from __future__ import annotations

import numpy as np
import pytest

from synnet_recon.io.depth_png import read_depth_png
from synnet_recon.synth.depth_noise import DepthNoise
from synnet_recon.synth.render import Environment
from synnet_recon.synth.wide import WideSceneConfig, render_wide_scene


def _floor(env, xz):
    points = np.zeros((len(xz), 3), np.float32)
    points[:, [0, 2]] = xz
    return env.albedo(np.zeros(len(xz), np.int64), points)


@pytest.mark.parametrize("pattern, tile, period, repeats_along_z", [("checker", 0.1, 0.2, True),
                                                                    ("stripes", 0.15, 0.15, False)])
def test_a_periodic_floor_repeats_by_its_period(rng, pattern, tile, period, repeats_along_z):
    env = Environment(half_size=5.0, num_boxes=0, floor=pattern, floor_tile=tile, floor_grain=False)
    xz = rng.uniform(-3, 3, size=(2000, 2))
    here = _floor(env, xz)
    np.testing.assert_allclose(_floor(env, xz + [period, 0.0]), here, atol=1e-5)
    half = _floor(env, xz + [period / 2, 0.0])
    assert np.abs(half - here).mean() > 0.1                     # half a period off: the other colour
    along = _floor(env, xz + [0.0, 0.37 * period])
    assert (np.abs(along - here).max() < 1e-5) == (not repeats_along_z)   # stripes are constant across
    if pattern == "checker":                                    # and a checker repeats along its diagonal by one tile
        np.testing.assert_allclose(_floor(env, xz + [tile, tile]), here, atol=1e-5)


def test_the_default_tiles_do_not_repeat_and_grain_breaks_a_period(rng):
    xz = rng.uniform(-3, 3, size=(2000, 2))
    tiles = Environment(half_size=5.0, num_boxes=0)
    assert np.abs(_floor(tiles, xz + [0.5, 0.0]) - _floor(tiles, xz)).mean() > 0.02    # each tile its own shade
    grained = Environment(half_size=5.0, num_boxes=0, floor="checker", floor_tile=0.1)
    assert np.abs(_floor(grained, xz + [0.2, 0.0]) - _floor(grained, xz)).mean() > 0.01
    with pytest.raises(ValueError, match="floor"):
        Environment(num_boxes=0, floor="parquet")


def test_wide_scenes_with_sensor_depth_keep_their_keypoints(tmp_path):
    config = dict(layout="open", instants=1, width=64, height=48, seed=3)
    render_wide_scene(WideSceneConfig(**config), tmp_path / "exact")
    render_wide_scene(WideSceneConfig(**config, depth_noise=DepthNoise()), tmp_path / "noisy")
    render_wide_scene(WideSceneConfig(**config, depth_noise=DepthNoise()), tmp_path / "again")
    exact, noisy = (read_depth_png(tmp_path / k / "depth" / "cam0" / "000000.png") for k in ("exact", "noisy"))
    both = (exact > 0) & (noisy > 0)
    assert both.sum() > 500 and 0.001 < np.abs(noisy - exact)[both].mean() < 0.2
    assert np.array_equal(noisy, read_depth_png(tmp_path / "again" / "depth" / "cam0" / "000000.png"))
    kp = sorted((tmp_path / "exact" / "keypoints" / "cam0").iterdir())[0].name
    assert (tmp_path / "exact" / "keypoints" / "cam0" / kp).read_text() == \
        (tmp_path / "noisy" / "keypoints" / "cam0" / kp).read_text()
