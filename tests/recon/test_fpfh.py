"""FPFH global registration (``register.global_registration``): Open3D's features, matched mutually
(``fpfh_matches``), our seeded RANSAC (``ransac_kabsch`` with the edge-length check). Open3D's
own RANSAC read one global RNG from parallel threads, so fuse's workers got different poses run
to run; this one gives the same pose from any thread."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from synnet_recon.o3d import o3d
from synnet_recon.recon import register
from synnet_recon.recon.lift import LiftConfig, lift
from synnet_recon.recon.register import (
    PreparedCloud,
    RegistrationConfig,
    fpfh_matches,
    global_registration,
    prepare,
    refine,
    rotation_error_deg,
    translation_error,
)

CONFIG = RegistrationConfig(voxel=0.08)


@pytest.fixture(scope="module")
def room_views():
    """Two rendered views of the textured room 30 degrees apart, as registration clouds (8 cm
    voxels, normals, FPFH computed), and the true (4, 4) cam1 -> cam0."""
    from synnet_recon.synth.wide import ring_views

    K, shots = ring_views([0.0, 30.0], 320, 240, "room")
    prepared = {}
    for name, (rgb, _, depth) in shots.items():
        prepared[name] = prepare(lift(depth.astype(np.float32), K, rgb, LiftConfig(stride=1)), CONFIG)
        assert prepared[name].fpfh is not None
    return prepared["cam1"], prepared["cam0"], shots["cam0"][1] @ np.linalg.inv(shots["cam1"][1])


def test_two_views_of_a_room_are_registered(room_views):
    source, target, true = room_views
    T = global_registration(source, target, CONFIG)
    assert rotation_error_deg(T, true) < 2.0 and translation_error(T, true) < 0.1
    r = refine(source, target, T, CONFIG)
    assert rotation_error_deg(r.transformation, true) < 0.5 and translation_error(r.transformation, true) < 0.02


def test_a_known_transform_of_a_view_is_recovered(room_views):
    source, _, _ = room_views
    true = np.eye(4)
    true[:3, :3] = Rotation.from_rotvec(np.radians(40.0) * np.array([0.2, 1.0, 0.1]) / np.linalg.norm([0.2, 1.0, 0.1])
                                        ).as_matrix()
    true[:3, 3] = (0.4, -0.1, 0.3)
    moved = PreparedCloud(o3d.geometry.PointCloud(source.cloud).transform(true), CONFIG.voxel,
                          CONFIG.fpfh_radius * CONFIG.voxel)
    T = global_registration(source, moved, CONFIG)
    assert rotation_error_deg(T, true) < 0.1 and translation_error(T, true) < 0.005


def test_the_same_seed_gives_the_same_pose_from_parallel_threads(room_views):
    source, target, _ = room_views
    alone = global_registration(source, target, CONFIG)
    with ThreadPoolExecutor(4) as pool:
        poses = list(pool.map(lambda _: global_registration(source, target, CONFIG), range(4)))
    assert all(np.array_equal(alone, T) for T in poses)


def test_matches_are_mutual_unless_too_few(room_views):
    source, target, _ = room_views
    s, t = fpfh_matches(source, target)
    n = len(source.cloud.points)
    assert 30 <= len(s) < n and len(np.unique(t)) == len(t), "mutual nearest neighbours: one source point each"
    s_all, t_all = fpfh_matches(source, target, min_mutual=n + 1)
    assert np.array_equal(s_all, np.arange(n)) and len(t_all) == n


def test_the_edge_length_check_leaves_out_sets_a_rigid_motion_cannot_give():
    rng = np.random.default_rng(4)
    src = rng.uniform(-2, 2, (400, 3))
    true = np.eye(4)
    true[:3, :3] = Rotation.from_rotvec([0.3, 1.1, -0.2]).as_matrix()
    true[:3, 3] = (1.0, 0.2, -0.5)
    tgt = src @ true[:3, :3].T + true[:3, 3]
    bad = rng.random(len(src)) < 0.8
    tgt[bad] = rng.uniform(-2, 2, (int(bad.sum()), 3))
    picks = register._minimal_sets(len(src), 300, 0)
    a, b = src[picks], tgt[picks]
    ea, eb = (np.linalg.norm(x - np.roll(x, 1, axis=1), axis=2) for x in (a, b))
    kept = (np.minimum(ea, eb) >= 0.9 * np.maximum(ea, eb)).all(axis=1)
    assert kept.sum() < len(picks) / 2 and (~bad[picks]).all(axis=1)[~kept].sum() == 0, \
        "only sets with an outlier are left out"
    found = register.ransac_kabsch(src, tgt, 0.05, 300, 0, min_inliers=3, edge_ratio=0.9)
    assert rotation_error_deg(found.transform, true) < 1e-6 and np.array_equal(found.inliers, ~bad)


@pytest.mark.parametrize("seed", [0, 1, 4, 7])
def test_the_ransac_draws_until_the_best_hypothesis_is_likely_found(room_views, seed):
    """At ~5 % inliers one block of 5,000 minimal sets holds a set of 3 inliers about 1 time in 2 (one
    block gave this room 30 degrees apart 7.5, 28, 4.1 and 3.3 degrees at seeds 0, 1, 4, 7 on one
    machine); drawing blocks until the best hypothesis' inliers were likely drawn
    (``ransac_confidence``) finds the room's pose from any seed, the same pose twice."""
    import dataclasses

    source, target, true = room_views
    config = dataclasses.replace(CONFIG, seed=seed)
    T = global_registration(source, target, config)
    assert rotation_error_deg(T, true) < 2.0 and translation_error(T, true) < 0.1
    assert np.array_equal(T, global_registration(source, target, config))
