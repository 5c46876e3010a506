"""fuse's speed cuts compute the same values as the plain computations they replaced (issue 13):
the vectorized patch medians, the column medians, the per-bone boxes of the person split, the
minimal sets drawn once, and the pinning test's pose states computed once for every turn."""
from __future__ import annotations

import warnings

import numpy as np

from synnet_recon.recon.person import BODY_BONES, BONE_RADIUS, distance_to_bones, person_points
from synnet_recon.recon.register import _depth_at, _minimal_sets, ransac_kabsch
from synnet_recon.recon.verify import column_medians, turn_pinned

K = np.array([[300.0, 0.0, 160.0], [0.0, 300.0, 120.0], [0.0, 0.0, 1.0]])


def _depth_at_plain(points, depth, K, window=2):
    out = np.full(len(points), np.nan)
    h, w = depth.shape
    for i, (x, y, z) in enumerate(points):
        if not np.isfinite(z) or z <= 0.05:
            continue
        u, v = int(round(K[0, 0] * x / z + K[0, 2])), int(round(K[1, 1] * y / z + K[1, 2]))
        if 0 <= u < w and 0 <= v < h:
            patch = depth[max(v - window, 0):v + window + 1, max(u - window, 0):u + window + 1]
            patch = patch[patch > 0]
            if patch.size:
                out[i] = float(np.median(patch))
    return out


def test_patch_medians_equal_the_per_point_loop():
    rng = np.random.default_rng(3)
    finite = 0
    for trial in range(150):
        depth = (rng.random((240, 320)) * 5).astype(np.float32)
        depth[rng.random(depth.shape) < rng.random()] = 0          # holes, some patches empty
        if trial % 3 == 0:
            depth = np.round(depth, 1)                               # ties in the patches
        points = rng.normal(0, 1.5, (18, 3))
        points[:, 2] = rng.uniform(-0.5, 4.0, 18)                    # some behind the camera
        points[rng.random(18) < 0.2] = np.nan
        points[0] = [-160.0 * points[0, 2] / 300.0, 0.0, points[0, 2]]  # on the image's border
        plain, fast = _depth_at_plain(points, depth, K), _depth_at(points, depth, K)
        assert np.array_equal(plain, fast, equal_nan=True)
        finite += np.isfinite(plain).sum()
    assert finite > 400


def test_column_medians_equal_nanmedian():
    rng = np.random.default_rng(4)
    for _ in range(500):
        a = rng.normal(0, 1, (int(rng.integers(1, 20)), 3))
        a[rng.random(len(a)) < 0.3] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # an all-NaN column
            expected = np.nanmedian(a, axis=0)
        assert np.array_equal(column_medians(a), expected, equal_nan=True)


def test_person_split_by_bone_boxes_equals_every_bone_measured():
    rng = np.random.default_rng(5)
    points = rng.uniform([-2.0, -1.5, 1.0], [2.0, 1.5, 6.0], (20_000, 3))
    for trial in range(30):
        joints = np.array([0.0, 0.0, 3.5]) + rng.normal(0, 0.4, (18, 3))
        joints[rng.random(18) < 0.25] = np.nan
        if trial % 10 == 0:                            # a lone joint (no bone known)
            joints[:] = np.nan
            joints[3] = [0.0, 0.0, 3.5]
        known = np.isfinite(joints).all(1)
        inside = (distance_to_bones(points, joints) <= BONE_RADIUS).any(1)
        lone = [j for j in np.flatnonzero(known)
                if not any(known[a] and known[b] and j in (a, b) for a, b in BODY_BONES)]
        for j in lone:
            inside |= np.linalg.norm(points - joints[j], axis=1) <= 0.2
        assert np.array_equal(person_points(points, joints), inside)


def test_minimal_sets_are_the_draws_of_the_seed():
    for n, seed in ((5, 0), (18, 0), (18, 7)):
        rng = np.random.default_rng(seed)
        fresh = np.array([rng.choice(n, 3, replace=False) for _ in range(50)])
        assert np.array_equal(_minimal_sets(n, 50, seed), fresh)
        assert _minimal_sets(n, 50, seed) is _minimal_sets(n, 50, seed)   # drawn once
    rng = np.random.default_rng(0)
    source = rng.normal(0, 0.5, (18, 3))
    target = source + [0.1, 0.0, 0.2]
    assert ransac_kabsch(source, target, 0.1, 50).inliers.all()


def test_pinning_over_several_turns_is_the_smallest_single_turn():
    rng = np.random.default_rng(6)
    yy, xx = np.mgrid[0:240, 0:320]
    depth = (3.0 + 0.004 * xx + 0.002 * yy).astype(np.float32)   # a slanted wall
    depth[100:140, 150:200] = 2.0                                 # a box in front of it
    z = depth[::4, ::4].ravel().astype(np.float64)
    u, v = xx[::4, ::4].ravel(), yy[::4, ::4].ravel()
    points = np.stack([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z], 1)
    joints = np.array([0.0, 0.0, 2.5]) + rng.normal(0, 0.3, (18, 3))
    T = np.eye(4)
    T[:3, 3] = [0.01, 0.0, 0.0]
    single = [turn_pinned(T, points, depth, K, points, depth, K, joints, deg, 0.03) for deg in (1.0, 2.0)]
    assert np.isfinite(single).all() and single[0] != single[1]
    assert turn_pinned(T, points, depth, K, points, depth, K, joints, (1.0, 2.0), 0.03) == min(single)


def test_early_outputs_are_the_final_ones_or_computed_again():
    from types import SimpleNamespace

    import synnet_recon.recon.fuse as F
    from synnet_recon.recon.verify import ViewCheck

    rng = np.random.default_rng(7)
    turn = np.eye(4)
    turn[:3, :3] = [[np.cos(0.3), 0, np.sin(0.3)], [0, 1, 0], [-np.sin(0.3), 0, np.cos(0.3)]]
    turn[:3, 3] = [0.5, 0.0, 0.2]

    def cloud(n):
        return rng.uniform([-2, -1, 2], [2, 1, 5], (n, 3)), rng.random((n, 3))

    joints = np.array([0.0, 0.0, 3.5]) + rng.normal(0, 0.3, (18, 3))

    def pixels(T):
        p = joints @ T[:3, :3].T + T[:3, 3]
        return np.c_[K[0, 0] * p[:, 0] / p[:, 2] + K[0, 2], K[1, 1] * p[:, 1] / p[:, 2] + K[1, 2], np.ones(18)]

    names = ["cam0", "cam1"]
    check = ViewCheck(turn, "joints", 0.8, 0.01, 0.01, 18, 1.0, 500, True, None)
    item = F.Kept(F.Instant(0, {"time": 0.0}, {"cam0": 0, "cam1": 0}, names), {"cam1": check},
                  {n: cloud(3000) for n in names}, {n: cloud(300) for n in names},
                  {"cam0": pixels(np.eye(4)), "cam1": pixels(np.linalg.inv(turn))},
                  {n: SimpleNamespace(K=K) for n in names})
    config = F.FuseConfig()
    c2r = {"cam0": np.eye(4), "cam1": turn}
    item.early = F.early_outputs(item, "cam0", config)
    assert item.early[0] == names and np.isfinite(item.early[3][0]).all()    # both views, joints triangulated
    for pruned in (set(), {"cam1"}):
        record, background, person = F._record(item, c2r, np.eye(4), pruned, "cam0", config)
        plain = F.Kept(**{**item.__dict__, "early": None})
        record2, background2, person2 = F._record(plain, c2r, np.eye(4), pruned, "cam0", config)
        assert record.view_ok == record2.view_ok
        for a, b in ((background, background2), (person, person2)):
            assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        assert (background[0] is item.early[1][0]) == (not pruned)           # reused only when nothing pruned
