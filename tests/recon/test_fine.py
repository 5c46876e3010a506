"""The fine check (``recon/fine.py``) on analytic scenes: a floor and one wall seen by two cameras.

Their normals leave a slide along the wall free: the depth alone cannot pin the camera there (the
coarse checks passed a pose 3.0 cm off such a slide on the default demo). A textured wall pins it:
the fine alignment pulls a pose 3 cm off back onto the truth, and the check flags the pose it
started from."""
from __future__ import annotations

import numpy as np
import pytest

from synnet_recon.recon.fine import FineConfig, FinePair, fine_alignment, fine_check, fine_view

W, H = 160, 120
K = np.array([[120.0, 0.0, 80.0], [0.0, 120.0, 60.0], [0.0, 0.0, 1.0]])


def _pose(yaw_deg: float, centre) -> np.ndarray:
    """camera -> world: the camera at ``centre`` turned ``yaw_deg`` about the world's y (down)."""
    a = np.radians(yaw_deg)
    T = np.eye(4)
    T[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
    T[:3, 3] = centre
    return T


def _texture(p: np.ndarray, textured: bool) -> np.ndarray:
    """Intensity in [0, 1] of world points (N, 3): the wall (z = 5) and the floor (y = 1.5)."""
    if not textured:
        return np.full(len(p), 0.5)
    wall = np.abs(p[:, 2] - 5.0) < 1e-6
    stripes = 0.5 + 0.4 * np.sin(2 * np.pi * p[:, 0] / 0.4) * np.cos(2 * np.pi * p[:, 1] / 0.5)
    tiles = 0.5 + 0.3 * np.sign(np.sin(2 * np.pi * p[:, 0] / 0.6) * np.sin(2 * np.pi * p[:, 2] / 0.6))
    return np.where(wall, stripes, tiles)


def _render(c2w: np.ndarray, textured: bool):
    """Depth (H, W) and a grey RGB image of the floor and the wall for a camera -> world pose."""
    u, v = np.meshgrid(np.arange(W) + 0.0, np.arange(H) + 0.0)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1).reshape(-1, 3)
    d = rays @ c2w[:3, :3].T
    o = c2w[:3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_wall = (5.0 - o[2]) / d[:, 2]
        t_floor = (1.5 - o[1]) / d[:, 1]
    t_wall = np.where(t_wall > 0, t_wall, np.inf)
    t_floor = np.where(t_floor > 0, t_floor, np.inf)
    t = np.minimum(t_wall, t_floor)
    hit = np.isfinite(t) & (t < 20)
    points = o + d * np.where(hit, t, 0)[:, None]
    points[t == t_wall, 2] = 5.0
    points[t == t_floor, 1] = 1.5
    depth = np.where(hit, t, 0.0).reshape(H, W)          # rays have z = 1 in the camera: t is the depth
    grey = np.where(hit, _texture(points, textured), 0.0).reshape(H, W)
    image = np.repeat((255 * grey)[..., None], 3, axis=2).astype(np.uint8)
    return depth.astype(np.float32), image


def _points(depth: np.ndarray) -> np.ndarray:
    v, u = np.nonzero(depth[::2, ::2] > 0)
    v, u = 2 * v, 2 * u
    z = depth[v, u].astype(np.float64)
    return np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], 1)


def _scene(textured: bool):
    """(FinePair, the true (4, 4) camera 1 -> camera 0) of two cameras 30 degrees apart."""
    c0, c1 = _pose(0.0, [0.0, 0.0, 0.0]), _pose(-30.0, [1.2, -0.2, 0.3])
    d0, i0 = _render(c0, textured)
    d1, i1 = _render(c1, textured)
    pair = FinePair((i1, d1, K), (i0, d0, K), _points(d1), _points(d0), FineConfig())
    return pair, np.linalg.inv(c0) @ c1


@pytest.fixture(scope="module")
def textured():
    return _scene(True)


@pytest.fixture(scope="module")
def plain():
    return _scene(False)


def _slid(T: np.ndarray, offset) -> np.ndarray:
    out = T.copy()
    out[:3, 3] += offset
    return out


def test_the_truth_passes_on_a_textured_wall(textured):
    pair, true = textured
    result, reason = fine_check(true, pair, FineConfig())
    assert reason is None
    assert result.moved < 0.003 and result.pull > 0.5


@pytest.mark.parametrize("offset", [[0.03, 0.0, 0.0], [-0.02, 0.0, 0.01], [0.0, 0.02, 0.02]])
def test_a_pose_centimetres_off_is_pulled_back_and_flagged(textured, offset):
    pair, true = textured
    start = _slid(true, offset)
    result, reason = fine_check(start, pair, FineConfig())
    assert reason is not None and "moves this pose" in reason
    assert np.linalg.norm(result.transform[:3, 3] - true[:3, 3]) < 0.003
    again, reason = fine_check(result.transform, pair, FineConfig())
    assert reason is None, reason


def test_a_floor_and_a_plain_wall_do_not_pin_the_slide_along_the_wall(plain):
    pair, true = plain
    result, reason = fine_check(true, pair, FineConfig())
    assert result.pull < 0.5
    assert reason is not None and "does not pin" in reason
    slid = fine_alignment(_slid(true, [0.03, 0.0, 0.0]), pair.source_points, pair.target_points, pair.source,
                          pair.target, FineConfig())
    assert slid.pull < 0.5, "the slide along the wall stays free"


def test_without_an_image_the_depth_alone_is_used():
    depth = np.full((H, W), 3.0, np.float32)
    view = fine_view(None, depth, K, FineConfig())
    assert np.isnan(view.gray).all()
    v, u = np.mgrid[2:H - 2, 2:W - 2]
    inner = view.surface(v.ravel(), u.ravel())[1]
    assert np.allclose(inner, [0.0, 0.0, -1.0])


def test_too_few_points_fail_plainly(textured):
    pair, true = textured
    few = FinePair((None, np.zeros((H, W), np.float32), K), (None, np.zeros((H, W), np.float32), K),
                   pair.source_points[:10], pair.target_points[:10], FineConfig())
    result, reason = fine_check(true, few, FineConfig())
    assert reason is not None and "only" in reason and result.residuals < FineConfig().min_points
