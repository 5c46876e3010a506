"""Tests of synnet_recon.recon.triangulate: known 3D joints seen by a ring of cameras, with clean,
detector-like and outlier 2D joints."""
from __future__ import annotations

import numpy as np
import pytest

from synnet_recon.motion import load_motion
from synnet_recon.paths import PACKAGE_DATA
from synnet_recon.recon.triangulate import (
    TriangulateConf,
    dlt,
    projection_matrix,
    reproject,
    triangulate,
    triangulate_sequence,
    undistort_pixels,
)
from synnet_recon.skeleton import LEFT_RIGHT_SWAP
from synnet_recon.synth.camera import look_at
from synnet_recon.synth.noise import DetectorNoise, apply_detector_noise

K = np.array([[1000.0, 0.0, 640.0], [0.0, 1000.0, 360.0], [0.0, 0.0, 1.0]])
SIZE = (1280, 720)


def ring(n: int, radius: float = 3.5, spread_deg: float = 360.0, height: float = 1.4) -> np.ndarray:
    """(n, 3, 4) projections of cameras on a circle around the origin, looking at (0, 1, 0)."""
    ang = np.radians(15.0 + np.arange(n) * spread_deg / n)
    pos = np.stack([radius * np.cos(ang), np.full(n, height), radius * np.sin(ang)], axis=1)
    R = look_at(pos, np.tile([0.0, 1.0, 0.0], (n, 1)))
    t = -np.einsum("vij,vj->vi", R, pos)
    return np.stack([projection_matrix(K, np.concatenate([R[v], t[v, :, None]], axis=1)) for v in range(n)])


def dance(n: int) -> np.ndarray:
    """(n, 18, 3) real joints: the packaged CMU dance clip, centred on the origin."""
    joints = load_motion(PACKAGE_DATA / "mocap" / "05_02.bvh").joints[::7][:n].copy()
    joints[..., [0, 2]] -= joints[..., [0, 2]].reshape(-1, 2).mean(axis=0)
    return joints


@pytest.mark.parametrize("views", [2, 3, 4, 8])
def test_clean_points_exact(views):
    P = ring(views, spread_deg=180.0 if views == 2 else 360.0)
    X = dance(1)[0]
    xy, _ = reproject(P, X)
    r = triangulate(P, xy, np.ones((views, 18)))
    np.testing.assert_allclose(r.points, X, atol=1e-6)
    assert r.inliers.all()
    assert np.all(r.reprojection_px < 1e-4)
    assert np.all(r.confidence > (0.45 if views == 2 else 0.95))


@pytest.mark.parametrize("views, max_mean_cm", [(3, 3.0), (4, 3.0), (6, 2.5)])
def test_detector_noise_mean_error(views, max_mean_cm):
    rng = np.random.default_rng(views)
    P = ring(views)
    X = dance(40)
    xy, depth = reproject(P, X.reshape(-1, 3))  # (V, T*18, 2)
    xy = xy.reshape(views, len(X), 18, 2)
    noisy, conf = apply_detector_noise(xy, depth.reshape(views, len(X), 18), SIZE, DetectorNoise(), rng)
    results = triangulate_sequence(P, noisy.transpose(1, 0, 2, 3), conf.transpose(1, 0, 2))
    points = np.stack([r.points for r in results])
    err = np.linalg.norm(points - X, axis=-1)
    known = np.isfinite(err)
    assert known.mean() > 0.9
    assert 100 * err[known].mean() < max_mean_cm
    assert np.all(np.isfinite(np.stack([r.reprojection_px for r in results])[known]))


@pytest.mark.parametrize("bad_view", [0, 2])
@pytest.mark.parametrize("kind", ["shift", "swap", "other_person"])
def test_outlier_view_rejected(bad_view, kind):
    rng = np.random.default_rng(1)
    P = ring(4)
    X = dance(1)[0]
    xy, _ = reproject(P, X)
    xy = xy + rng.normal(0.0, 1.5, xy.shape)
    if kind == "shift":
        xy[bad_view] += [120.0, -80.0]
    elif kind == "swap":
        xy[bad_view] = xy[bad_view][LEFT_RIGHT_SWAP]
    else:  # a bystander 1.5 m to the side
        xy[bad_view], _ = reproject(P[bad_view:bad_view + 1], X + [1.5, 0.0, 0.5])
    r = triangulate(P, xy, np.full((4, 18), 0.9))
    moved = np.linalg.norm(xy[bad_view] - reproject(P[bad_view:bad_view + 1], X)[0][0], axis=-1) > 40
    assert moved.sum() >= 4
    assert not r.inliers[bad_view, moved].any()
    assert r.inliers[np.arange(4) != bad_view][:, moved].all()
    err = np.linalg.norm(r.points - X, axis=-1)
    assert err[moved].max() < 0.03 and np.median(err) < 0.01  # joints moved by about the threshold are ambiguous
    assert np.all(r.reprojection_px < 6.0)


def test_outliers_without_rejection_hurt():
    """The same outlier view pulls a plain DLT off: the test above measures the rejection."""
    P = ring(4)
    X = dance(1)[0]
    xy, _ = reproject(P, X)
    xy[1] += [120.0, -80.0]
    plain = dlt(P, xy, np.ones((4, 18)))
    assert np.linalg.norm(plain - X, axis=-1).mean() > 0.03


@pytest.mark.parametrize("seen_by", [0, 1])
def test_too_few_views_unknown(seen_by):
    P = ring(4)
    X = dance(1)[0]
    xy, _ = reproject(P, X)
    conf = np.ones((4, 18))
    xy[seen_by:, 3] = np.nan  # joint 3 seen by `seen_by` views only
    conf[:, 5] = 0.05  # joint 5 below the confidence floor everywhere
    r = triangulate(P, xy, conf, TriangulateConf(min_confidence=0.2))
    assert not np.isfinite(r.points[[3, 5]]).any()
    assert np.all(r.confidence[[3, 5]] == 0) and not r.inliers[:, [3, 5]].any()
    assert np.isfinite(r.points[np.r_[0:3, 4, 6:18]]).all()


def test_point_behind_cameras_not_accepted():
    P = ring(2, spread_deg=90.0)
    xy, _ = reproject(P, dance(1)[0])
    xy[1, 0] = xy[0, 0] + 400.0  # inconsistent: no point in front of both reprojects within 15 px
    r = triangulate(P, xy, np.ones((2, 18)))
    assert not np.isfinite(r.points[0]).any() and r.confidence[0] == 0


def test_undistort_pixels_inverts_opencv():
    import cv2

    dist = np.array([-0.2, 0.05, 0.001, -0.001])
    pts = np.array([[100.0, 80.0], [640.0, 360.0], [1200.0, 700.0]])
    rays = cv2.undistortPoints(pts.reshape(-1, 1, 2), K, None).reshape(-1, 2)
    distorted, _ = cv2.projectPoints(np.c_[rays, np.ones(3)], np.zeros(3), np.zeros(3), K, dist)
    back = undistort_pixels(np.vstack([distorted.reshape(-1, 2), [np.nan, np.nan]]), K, dist)
    np.testing.assert_allclose(back[:3], pts, atol=1e-3)
    assert np.isnan(back[3]).all()
