"""recon.lift's back-projection in numpy against kornia's (the arithmetic it replaces), value for value."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from synnet_recon.recon.lift import LiftConfig, backproject, lift

kornia_depth = pytest.importorskip("kornia.geometry.depth")
kornia_camera = pytest.importorskip("kornia.geometry.camera")

CAMERAS = [(480, 640, 525.0, 525.0, 319.5, 239.5), (240, 320, 287.3, 291.9, 161.27, 118.6),
           (97, 131, 103.17, 99.91, 66.03, 47.7)]


def _kornia_lift(depth, K, color, config):
    """What lift computed before (kornia's unprojected grid times depth, at the valid pixels)."""
    depth = np.asarray(depth, dtype=np.float32)
    valid = np.isfinite(depth) & (depth > config.min_depth) & (depth < config.max_depth)
    from synnet_recon.recon.lift import depth_edges

    s = config.stride
    edges = depth_edges(np.where(valid, depth, 0), config.edge_threshold, s)
    K = np.asarray(K, dtype=np.float64).copy()
    valid, depth, color = valid[::s, ::s], depth[::s, ::s], color[::s, ::s]
    K[:2] /= s
    valid &= ~edges
    k = torch.from_numpy(K.astype(np.float32))[None]
    grid = kornia_depth.unproject_meshgrid(depth.shape[0], depth.shape[1], k, normalize_points=False, dtype=k.dtype)
    return (grid[0].numpy()[valid] * depth[valid][:, None]).astype(np.float64), color[valid].astype(np.float64) / 255


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("camera", CAMERAS)
def test_lift_equals_kornias_grid_bit_for_bit(camera, stride):
    h, w, fx, fy, cx, cy = camera
    rng = np.random.default_rng(stride + h)
    v, u = np.mgrid[0:h, 0:w]
    depth = (1.5 + 0.01 * u + 0.004 * v + rng.normal(0, 0.002, (h, w))).astype(np.float32)   # smooth: few edges
    depth[:, : w // 7] += 2.0                                                                # and one depth edge
    depth[rng.random((h, w)) < 0.1] = 0.0
    depth[rng.random((h, w)) < 0.02] = np.nan
    color = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
    config = LiftConfig(stride=stride)
    points, colors = lift(depth, K, color, config)
    ref_points, ref_colors = _kornia_lift(depth, K, color, config)
    assert len(points) > 0.5 * depth.size / stride ** 2
    assert np.array_equal(points, ref_points)
    assert np.array_equal(colors, ref_colors)


@pytest.mark.parametrize("camera", CAMERAS)
def test_backproject_equals_kornias_unproject_points(camera):
    h, w, fx, fy, cx, cy = camera
    rng = np.random.default_rng(h)
    pixels = rng.uniform(-5, w + 5, (500, 2))
    z = rng.uniform(0.1, 12.0, 500)
    z[::50] = np.nan
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
    ours = backproject(pixels, z, K)
    ref = kornia_camera.unproject_points(torch.from_numpy(pixels), torch.from_numpy(z[:, None]), torch.from_numpy(K),
                                         normalize=False).numpy()
    assert np.array_equal(ours, ref, equal_nan=True)
    assert backproject(np.zeros((0, 2)), np.zeros(0), K).shape == (0, 3)


def test_lifting_does_not_import_kornia():
    """The back-projection no longer pays kornia's import (~0.5 CPU s a fuse process)."""
    code = ("import sys, numpy as np\n"
            "from synnet_recon.recon.lift import lift, backproject\n"
            "from synnet_recon.recon.person import lift_joints, person_points\n"
            "d = np.full((48, 64), 2.0, np.float32)\n"
            "K = np.array([[50.0, 0, 32], [0, 50, 24], [0, 0, 1]])\n"
            "p, _ = lift(d, K, np.zeros((48, 64, 3), np.uint8))\n"
            "kp = np.array([[32.0, 24.0, 0.9]] * 18)\n"
            "person_points(p, lift_joints(kp, d, K))\n"
            "print('kornia' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
