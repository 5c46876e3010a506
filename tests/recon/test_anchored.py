"""fuse anchored on the person: a symmetric room that fools background-only ICP, planted wrong
registrations, background/person separation, skeleton3d.json against the truth, determinism.

Scenes are rendered by ``synth.wide`` (the simulator's renderer: a clothed dancer in a room)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synnet_recon.recon.fuse import FuseConfig, ViewLoader, fuse, read_inputs
from synnet_recon.recon.person import BODY_BONES, distance_to_bones
from synnet_recon.recon.posegraph import Edge, PoseGraph
from synnet_recon.recon.register import (
    RegistrationConfig,
    kabsch,
    ransac_kabsch,
    refine,
    register,
    rotation_error_deg,
    translation_error,
)
from synnet_recon.recon.skeleton3d import read_skeleton3d
from synnet_recon.recon.verify import VerifyConfig, check_view
from synnet_recon.synth.wide import (
    WideSceneConfig,
    render_wide_scene,
    truth_camera_to_reference,
    truth_joints_in_reference,
)


@pytest.fixture(scope="module")
def symmetric(tmp_path_factory) -> dict:
    """Two cameras 90 degrees apart in a room that repeats every 90 degrees, fused once."""
    root = tmp_path_factory.mktemp("symmetric")
    sync = render_wide_scene(WideSceneConfig(layout="symmetric", separation_deg=90.0, instants=3), root)
    result = fuse(sync, FuseConfig(progress=False), root / "recon")
    return {"root": root, "sync": sync, "truth": json.loads((root / "truth.json").read_text()), "result": result}


def _turn(deg: float) -> np.ndarray:
    """(4, 4) rotation about the camera's vertical (y) axis."""
    a = np.radians(deg)
    T = np.eye(4)
    T[[0, 0, 2, 2], [0, 2, 0, 2]] = np.cos(a), np.sin(a), -np.sin(a), np.cos(a)
    return T


def _views(sync: Path, k: int = 0):
    inputs = read_inputs(sync, FuseConfig(progress=False))
    loader = ViewLoader(inputs, FuseConfig(progress=False), {})
    try:
        return loader.read(inputs.instants[k]), inputs.instants[k]
    finally:
        loader.close()


def test_icp_alone_picks_a_wrong_turn_and_the_person_gets_it_right(symmetric):
    views, instant = _views(symmetric["sync"])
    true = truth_camera_to_reference(symmetric["truth"], instant.frames, "cam0")["cam1"]
    rc = RegistrationConfig()
    # background only, from no knowledge (identity): ICP settles on a turn of the symmetric room
    icp = register(views.prepared["cam1"], views.prepared["cam0"], rc, init=np.eye(4))
    assert icp.ok, "background-only registration accepts its result"
    assert rotation_error_deg(icp.transform, true) > 45
    # the person-anchored registration of fuse: right, and verified
    record = symmetric["result"].frames[0]
    assert record.ok and record.view_ok["cam1"]
    assert rotation_error_deg(record.camera_to_reference["cam1"], true) < 1.0
    assert translation_error(record.camera_to_reference["cam1"], true) < 0.03  # 10 m room: 0.3 cm per metre
    # the wrong turn ICP found is flagged by the joints
    bad = refine(views.prepared["cam1"], views.prepared["cam0"], icp.transform, rc)
    check = check_view(np.asarray(bad.transformation), "track", bad.fitness, bad.inlier_rmse, views.joints["cam1"],
                       views.joints["cam0"], np.asarray(views.prepared["cam1"].cloud.points), views.depths["cam1"],
                       views.intrinsics["cam1"].K, views.depths["cam0"], views.intrinsics["cam0"].K, 0.1, rc.voxel,
                       VerifyConfig())
    assert not check.ok and "joints disagree" in check.reason


@pytest.mark.parametrize("turn", [90.0, 180.0, -90.0, 20.0])
def test_a_planted_wrong_registration_is_flagged(symmetric, turn):
    """The true pose turned about the room's vertical through the person, or slid 30 cm: flagged."""
    views, instant = _views(symmetric["sync"])
    true = truth_camera_to_reference(symmetric["truth"], instant.frames, "cam0")["cam1"]
    centre = np.nanmean(views.joints["cam0"], axis=0)
    about = np.eye(4)
    about[:3, 3] = centre
    wrong = about @ _turn(turn) @ np.linalg.inv(about) @ true
    check = check_view(wrong, "planted", 0.9, 0.01, views.joints["cam1"], views.joints["cam0"],
                       np.asarray(views.prepared["cam1"].cloud.points), views.depths["cam1"],
                       views.intrinsics["cam1"].K, views.depths["cam0"], views.intrinsics["cam0"].K, 0.1, 0.08,
                       VerifyConfig())
    assert not check.ok and check.reason
    right = check_view(true, "truth", 0.9, 0.01, views.joints["cam1"], views.joints["cam0"],
                       np.asarray(views.prepared["cam1"].cloud.points), views.depths["cam1"],
                       views.intrinsics["cam1"].K, views.depths["cam0"], views.intrinsics["cam0"].K, 0.1, 0.08,
                       VerifyConfig())
    assert right.ok, right.reason


def _fine_pair(views):
    from synnet_recon.recon.fine import FineConfig, FinePair

    return FinePair(*((views.images[n], views.depths[n], views.intrinsics[n].K) for n in ("cam1", "cam0")),
                    views.background["cam1"][0], views.background["cam0"][0], FineConfig())


@pytest.mark.parametrize("along", ["least certain", "x", "z"])
def test_a_pose_three_cm_off_passes_the_coarse_checks_and_the_fine_check_flags_it(symmetric, along):
    """The demo's failure (session 5: a view accepted 3.0 cm off along a wall): the true pose slid
    3 cm passes the joint, background, turn and pinning checks; the fine check flags it, and its
    own alignment lands within 0.5 cm of the truth, which passes every check."""
    from synnet_recon.recon.fine import FineConfig, _Sample, _sample, _system, least_certain

    views, instant = _views(symmetric["sync"])
    true = truth_camera_to_reference(symmetric["truth"], instant.frames, "cam0")["cam1"]
    pair = _fine_pair(views)
    if along == "least certain":
        fc = FineConfig()
        s = _Sample(*_sample(pair.source_points, pair.source, fc.points), *_sample(pair.target_points, pair.target,
                                                                                  fc.points))
        xi = least_certain(true, *_system(true, s, pair.source, pair.target, fc), fc)
        direction = xi[3:] + np.cross(xi[:3], true[:3, 3])
    else:
        direction = np.eye(3)["xyz".index(along)]
    wrong = true.copy()
    wrong[:3, 3] += 0.03 * direction / np.linalg.norm(direction)
    src, tgt = views.prepared["cam1"].cloud, views.prepared["cam0"].cloud

    def check(T, fine):
        return check_view(T, "planted", 0.7, 0.03, views.joints["cam1"], views.joints["cam0"], np.asarray(src.points),
                          views.depths["cam1"], views.intrinsics["cam1"].K, views.depths["cam0"],
                          views.intrinsics["cam0"].K, 0.1, 0.08, VerifyConfig(), np.asarray(src.normals),
                          np.asarray(tgt.points), np.asarray(tgt.normals), None, fine)

    coarse = check(wrong, None)
    assert coarse.ok, f"the coarse checks pass it (the blind spot): {coarse.reason}"
    flagged = check(wrong, pair)
    assert not flagged.ok and "fine alignment moves this pose" in flagged.reason
    assert 0.02 < flagged.fine_moved < 0.04
    assert translation_error(flagged.fine_transform, true) < 0.005
    assert rotation_error_deg(flagged.fine_transform, true) < 0.1
    right = check(flagged.fine_transform, pair)
    assert right.ok, right.reason
    assert check(true, pair).ok


@pytest.fixture(scope="module")
def open_floor(tmp_path_factory) -> dict:
    """Two cameras 45 degrees apart on the open tiled floor with a few boxes, one instant (where
    the wide-baseline bench found a wrong instant left unflagged: 17.7 degrees, joints 3.8 cm)."""
    root = tmp_path_factory.mktemp("open")
    sync = render_wide_scene(WideSceneConfig(layout="open", separation_deg=45.0, instants=1), root)
    return {"sync": sync, "truth": json.loads((root / "truth.json").read_text())}


def _check_planted(views, T: np.ndarray, config: VerifyConfig):
    """``check_view`` of cam1 placed by ``T`` onto cam0 (a planted pose: fitness 0.7, RMSE 3 cm)."""
    src, tgt = views.prepared["cam1"].cloud, views.prepared["cam0"].cloud
    return check_view(T, "planted", 0.7, 0.03, views.joints["cam1"], views.joints["cam0"],
                      np.asarray(src.points), views.depths["cam1"], views.intrinsics["cam1"].K,
                      views.depths["cam0"], views.intrinsics["cam0"].K, 0.1, 0.08, config,
                      np.asarray(src.normals), np.asarray(tgt.points), np.asarray(tgt.normals))


def _about_person(joints: np.ndarray, deg: float) -> np.ndarray:
    """(4, 4) rotation by deg about the person's vertical axis (hips to neck) through their joints."""
    from synnet_recon.recon.joint_icp import turn_about
    from synnet_recon.recon.verify import person_axis

    return turn_about(*person_axis(joints), deg)


@pytest.mark.parametrize("turn", [-10.0, 10.0])
def test_a_turn_about_the_person_that_the_joints_miss_is_flagged(open_floor, turn):
    """The true pose turned by 10 degrees about the person's own vertical axis: the joints move
    little (the body is thin about it) and the floor stays on itself, so the joint and background
    checks alone accept it; the background far from the person, seen both ways, flags it."""
    views, instant = _views(open_floor["sync"])
    true = truth_camera_to_reference(open_floor["truth"], instant.frames, "cam0")["cam1"]
    wrong = _about_person(views.joints["cam0"], turn) @ true

    def check(T, config):
        return _check_planted(views, T, config)

    blind = check(wrong, VerifyConfig(min_turn_seen=0, min_turn_visibility=0.0, pin_turns_deg=()))
    assert blind.ok, "without the turn checks the planted turn passes (the blind spot this test is about)"
    assert blind.joint_error < 0.05
    flagged = check(wrong, VerifyConfig())
    assert not flagged.ok and "turned about the person" in flagged.reason
    pinned = check(wrong, VerifyConfig(min_turn_seen=0, min_turn_visibility=0.0))
    assert not pinned.ok and "not pinned" in pinned.reason, "the pinning test alone flags it too"
    # the pinning test also flags this instant's true pose (the open floor pins a 1 degree turn
    # only weakly: z 1.7); the turn check alone passes it
    right = check(true, VerifyConfig(pin_turns_deg=()))
    assert right.ok, right.reason
    assert right.turn_visibility > 0.99 and right.turn_seen > 200


@pytest.mark.parametrize("turn", [-5.0, 5.0])
def test_a_five_degree_turn_about_the_person_is_flagged_by_the_pinning_test(open_floor, turn):
    """5 degrees about the person (24 cm at the camera) passed the joint, background and turn
    checks (+5 here); the background at a fine tolerance prefers the pose turned back (z < 0):
    flagged. The true pose is preferred to its turns (z > 0; below the 4 needed here: this open
    floor's truth is flagged too, honestly, see above)."""
    views, instant = _views(open_floor["sync"])
    true = truth_camera_to_reference(open_floor["truth"], instant.frames, "cam0")["cam1"]
    wrong = _about_person(views.joints["cam0"], turn) @ true

    def check(T, config):
        return _check_planted(views, T, config)

    blind = check(wrong, VerifyConfig(pin_turns_deg=()))
    flagged = check(wrong, VerifyConfig())
    assert not flagged.ok and flagged.pin_z < 0
    if turn > 0:
        assert blind.ok, "every other check passes it"
        assert "not pinned" in flagged.reason
    assert check(true, VerifyConfig()).pin_z > 0


@pytest.fixture(scope="module")
def symmetric4(tmp_path_factory) -> dict:
    """The bench's symmetric room 90 degrees apart, 4 instants (rendered only, not fused)."""
    root = tmp_path_factory.mktemp("symmetric4")
    sync = render_wide_scene(WideSceneConfig(layout="symmetric", separation_deg=90.0, instants=4), root)
    return {"sync": sync, "truth": json.loads((root / "truth.json").read_text())}


def test_icp_held_by_the_joints_recovers_where_plain_icp_slides(symmetric4):
    """90 degrees apart, instant 2: ICP on the background from the joints' Kabsch pose slides off
    (the views share little); solved with the joints, from a few turns about the person, and
    chosen by the depth agreement, it lands on the truth, unambiguously, and verifies."""
    from synnet_recon.recon.anchored import AnchorConfig, held_by_joints, place_view
    from synnet_recon.recon.fuse import _view_inputs
    from synnet_recon.recon.joint_icp import JointICPConfig

    views, instant = _views(symmetric4["sync"], 2)
    true = truth_camera_to_reference(symmetric4["truth"], instant.frames, "cam0")["cam1"]
    config = AnchorConfig(joint_icp=JointICPConfig())
    start = ransac_kabsch(views.joints["cam1"], views.joints["cam0"], config.ransac_threshold,
                          config.ransac_iterations, 0, config.min_inliers)
    plain = refine(views.prepared["cam1"], views.prepared["cam0"], start.transform, RegistrationConfig())
    assert rotation_error_deg(np.asarray(plain.transformation), true) > 2.0
    source, target = _view_inputs(views, "cam1"), _view_inputs(views, "cam0")
    held, z = held_by_joints(source, target, start, config.joint_icp)
    assert rotation_error_deg(held, true) < 0.5 and translation_error(held, true) < 0.03
    assert z >= config.verify.min_pin_z
    check = place_view(source, target, RegistrationConfig(), config)
    assert check.ok and check.method == "joints-icp", check.reason
    assert rotation_error_deg(check.transform, true) < 0.5


def test_at_120_degrees_the_joints_pose_aligned_finely_is_right(tmp_path):
    """120 degrees apart ICP from the joints' Kabsch pose slides (the views share mostly floor);
    the fine alignment from the Kabsch pose itself lands on the truth (``joints-fine``), and
    whatever the checks say of it, an ok pose is a right one."""
    from synnet_recon.recon.anchored import AnchorConfig, anchor_view
    from synnet_recon.recon.fuse import _view_inputs

    sync = render_wide_scene(WideSceneConfig(layout="room", separation_deg=120.0, instants=1), tmp_path)
    truth = json.loads((tmp_path / "truth.json").read_text())
    views, instant = _views(sync, 0)
    true = truth_camera_to_reference(truth, instant.frames, "cam0")["cam1"]
    anchor = anchor_view(_view_inputs(views, "cam1"), _view_inputs(views, "cam0"), RegistrationConfig(),
                         AnchorConfig())
    icp = anchor.checks[0]
    assert icp.method == "joints" and not icp.ok
    assert translation_error(icp.transform, true) > 0.1, "ICP slid from the joints' pose (the blind spot)"
    fine = anchor.checks[1]
    assert fine.method == "joints-fine"
    assert rotation_error_deg(fine.transform, true) < 0.2 and translation_error(fine.transform, true) < 0.01
    for c in anchor.checks:
        assert not c.ok or translation_error(c.transform, true) < 0.02


def test_at_120_degrees_the_wrong_pose_held_by_the_joints_is_flagged_twice(tmp_path):
    """120 degrees apart the views share mostly floor: ICP held by the joints lands ~6 degrees off,
    with the joints and the background agreeing (every check before the pinning test passes it).
    Another start ended degrees away and agrees as well (ambiguous), and the background does not
    prefer the pose to it turned by a degree (not pinned): flagged by both."""
    from synnet_recon.recon.anchored import AnchorConfig, held_by_joints
    from synnet_recon.recon.fuse import _view_inputs
    from synnet_recon.recon.joint_icp import JointICPConfig

    sync = render_wide_scene(WideSceneConfig(layout="symmetric", separation_deg=120.0, instants=4), tmp_path)
    truth = json.loads((tmp_path / "truth.json").read_text())
    views, instant = _views(sync, 0)
    true = truth_camera_to_reference(truth, instant.frames, "cam0")["cam1"]
    config = AnchorConfig(joint_icp=JointICPConfig())
    start = ransac_kabsch(views.joints["cam1"], views.joints["cam0"], config.ransac_threshold,
                          config.ransac_iterations, 0, config.min_inliers)
    held, z = held_by_joints(_view_inputs(views, "cam1"), _view_inputs(views, "cam0"), start, config.joint_icp)
    assert rotation_error_deg(held, true) > 2.0, "the blind spot this test is about"
    assert z < config.verify.min_pin_z
    src, tgt = views.prepared["cam1"].cloud, views.prepared["cam0"].cloud

    def check(verify):
        return check_view(held, "joints-icp", 0.5, 0.03, views.joints["cam1"], views.joints["cam0"],
                          np.asarray(src.points), views.depths["cam1"], views.intrinsics["cam1"].K,
                          views.depths["cam0"], views.intrinsics["cam0"].K, 0.1, 0.08, verify,
                          np.asarray(src.normals), np.asarray(tgt.points), np.asarray(tgt.normals))

    assert check(VerifyConfig(pin_turns_deg=())).ok
    flagged = check(VerifyConfig())
    assert not flagged.ok and "not pinned" in flagged.reason

    # with the fine check: the held pose is flagged (its alignment moves it), and the truth, whose
    # turn the count check cannot judge (under 50 points it would move), is pinned by the fine check
    def full(T, verify):
        return check_view(T, "planted", 0.5, 0.03, views.joints["cam1"], views.joints["cam0"],
                          np.asarray(src.points), views.depths["cam1"], views.intrinsics["cam1"].K,
                          views.depths["cam0"], views.intrinsics["cam0"].K, 0.1, 0.08, verify,
                          np.asarray(src.normals), np.asarray(tgt.points), np.asarray(tgt.normals), None,
                          _fine_pair(views))

    assert not full(held, VerifyConfig()).ok
    # fuse's joints-fine pose: the count check cannot judge its turn (under 50 points it would
    # move) and flags it; with the fine check's pull deciding instead, it passes, and it is right
    from synnet_recon.recon.anchored import anchor_view

    def joints_fine(verify):
        anchor = anchor_view(_view_inputs(views, "cam1"), _view_inputs(views, "cam0"), RegistrationConfig(),
                             AnchorConfig(verify=verify))
        return next(c for c in anchor.checks if c.method == "joints-fine")

    counted = joints_fine(VerifyConfig(fine_pins_turn=False))
    assert not counted.ok and "only" in counted.reason and counted.turn_seen < 50
    right = joints_fine(VerifyConfig())
    assert right.ok, right.reason
    assert right.fine_pull >= 0.5
    assert rotation_error_deg(right.transform, true) < 0.3 and translation_error(right.transform, true) < 0.01


def test_the_pose_graph_prunes_a_planted_wrong_cross_camera_edge():
    """Two cameras over 4 instants, consistent odometry; one cross-camera edge turned by 90 degrees."""
    rng = np.random.default_rng(0)
    world = {}
    for k in range(4):
        for n, offset in (("cam0", 0.0), ("cam1", 90.0)):
            T = _turn(offset + 3 * k)
            T[:3, 3] = rng.normal(0, 0.5, 3)
            world[(k, n)] = T
    graph = PoseGraph("cam0")
    info = np.eye(6) * 1000
    for key, T in world.items():
        graph.add_node(key, T)
    for k in range(4):
        for n in ("cam0", "cam1"):
            if k:
                graph.add_edge(Edge((k, n), (k - 1, n), np.linalg.inv(world[(k - 1, n)]) @ world[(k, n)], info, False))
        cross = np.linalg.inv(world[(k, "cam0")]) @ world[(k, "cam1")]
        graph.add_edge(Edge((k, "cam1"), (k, "cam0"), _turn(90) @ cross if k == 2 else cross, info, True))
    result = graph.optimize()
    assert result.pruned == {(2, "cam1")}
    for k in range(4):
        est = np.linalg.inv(result.world_from_camera[(k, "cam0")]) @ result.world_from_camera[(k, "cam1")]
        true = np.linalg.inv(world[(k, "cam0")]) @ world[(k, "cam1")]
        assert rotation_error_deg(est, true) < 0.1 and translation_error(est, true) < 1e-3


def test_odometry_that_disagrees_with_the_verified_registrations_is_dropped():
    from synnet_recon.recon.fuse import _agreeing

    move = _turn(5)
    move[:3, 3] = (0.2, 0.0, 0.1)
    slid = move.copy()
    slid[:3, 3] += (0.3, 0.0, 0.0)
    assert sorted(_agreeing({"cam0": move, "cam1": move.copy(), "cam2": slid},
                            {"cam0": 0.9, "cam1": 0.8, "cam2": 0.95})) == ["cam0", "cam1"]
    assert _agreeing({"cam0": move, "cam1": slid}, {"cam0": 0.9, "cam1": 0.6}) == []
    assert _agreeing({"cam0": slid}, {"cam0": 0.9}) == ["cam0"]


def test_ransac_kabsch_ignores_outlier_joints():
    rng = np.random.default_rng(1)
    src = rng.normal(0, 0.5, (18, 3))
    T = _turn(120)
    T[:3, 3] = (1.0, -0.2, 3.0)
    tgt = src @ T[:3, :3].T + T[:3, 3] + rng.normal(0, 0.01, (18, 3))
    tgt[[2, 7, 11]] += 0.5           # hidden joints lifted at the occluder
    src[5] = np.nan
    fit = ransac_kabsch(src, tgt, 0.1, 200, seed=0)
    assert rotation_error_deg(fit.transform, T) < 2 and translation_error(fit.transform, T) < 0.03
    assert not fit.inliers[[2, 5, 7, 11]].any() and fit.inliers.sum() == 14
    assert np.allclose(kabsch(src[:4], src[:4] @ T[:3, :3].T + T[:3, 3]), T, atol=1e-9)


def test_no_person_points_in_fused_ply_and_the_person_apart(symmetric):
    from synnet_recon.o3d import o3d

    root, truth, result = symmetric["root"], symmetric["truth"], symmetric["result"]
    fused = np.asarray(o3d.io.read_point_cloud(str(root / "recon" / "fused.ply")).points)
    assert len(fused) > 1000
    first = result.frames[0]
    for rec in result.frames:
        assert rec.ok
        # true joints of this instant in the world frame (the reference camera at the first instant)
        joints = truth_joints_in_reference(truth, rec.frames["cam0"])
        joints = joints @ rec.world_from_reference[:3, :3].T + rec.world_from_reference[:3, 3]
        near = distance_to_bones(fused, joints).min(1)
        assert (near < 0.1).sum() == 0, f"instant {rec.index}: {(near < 0.1).sum()} person points in fused.ply"
        person = np.asarray(o3d.io.read_point_cloud(str(root / "recon" / "person" / f"{rec.index:06d}.ply")).points)
        local = truth_joints_in_reference(truth, rec.frames["cam0"])
        assert len(person) > 200 and np.median(distance_to_bones(person, local).min(1)) < 0.12
        frame = np.asarray(o3d.io.read_point_cloud(str(root / "recon" / "frames" / f"{rec.index:06d}.ply")).points)
        assert len(frame) >= len(person)
    assert np.allclose(first.world_from_reference, np.eye(4))
    assert len(BODY_BONES) > 17


def test_skeleton3d_json_against_the_truth(symmetric):
    root, truth = symmetric["root"], symmetric["truth"]
    skeleton = read_skeleton3d(root / "recon" / "skeleton3d.json")
    assert skeleton.reference == "cam0" and len(skeleton) == 3
    errors = []
    for i, frames in enumerate(skeleton.frames):
        d = np.linalg.norm(skeleton.joints[i] - truth_joints_in_reference(truth, frames["cam0"]), axis=1)
        assert skeleton.known[i].sum() >= 14
        errors.extend(d[np.isfinite(d)])
    assert np.mean(errors) < 0.05, f"mean joint error {100 * np.mean(errors):.1f} cm"
    assert ((skeleton.confidence > 0) == skeleton.known).all()


@pytest.mark.slow
def test_the_same_seed_gives_identical_outputs(symmetric, tmp_path):
    # and the same whether the instants are prepared ahead in one worker thread or in two
    root = symmetric["root"]
    assert FuseConfig().workers == 2
    again = fuse(symmetric["sync"], FuseConfig(progress=False, workers=1), tmp_path / "again")
    for name in ["registration.json", "skeleton3d.json", "fused.ply", "frames/000001.ply", "person/000002.ply"]:
        assert (root / "recon" / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    assert again.num_ok == symmetric["result"].num_ok


@pytest.mark.slow
def test_fuse_cli_end_to_end_in_a_subprocess(symmetric, tmp_path):
    out = tmp_path / "cli"
    r = subprocess.run([sys.executable, "-m", "synnet_recon.cli", "fuse", str(symmetric["sync"]), "--out", str(out),
                        "--frames", "0:2", "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "fused 2 of 2 instants (2 with every view)" in r.stdout
    for name in ("registration.json", "skeleton3d.json", "fused.ply", "frames/000001.ply", "person/000001.ply"):
        assert (out / name).is_file(), name


@pytest.mark.slow
def test_fused_background_lies_on_the_room_and_the_mesh_holds_it(tmp_path):
    """The simulator's textured room, cameras 60 degrees apart at different heights; --mesh."""
    from synnet_recon.o3d import o3d
    from synnet_recon.synth.render import Environment, RenderConfig

    config = WideSceneConfig(layout="room", separation_deg=60.0, heights=(1.2, 1.9), instants=2)
    sync = render_wide_scene(config, tmp_path / "scene")
    result = fuse(sync, FuseConfig(progress=False, mesh=True), tmp_path / "recon")
    assert result.num_ok == 2
    truth = json.loads((tmp_path / "scene" / "truth.json").read_text())
    env = Environment((0.0, 0.0), config.room_half_size, RenderConfig().wall_height, 10, config.seed, layout="room")
    w2c0 = np.asarray(truth["cameras"][0]["world_to_camera"][0])
    fused = np.asarray(o3d.io.read_point_cloud(str(tmp_path / "recon" / "fused.ply")).points)
    world = (fused - w2c0[:3, 3]) @ w2c0[:3, :3]
    dist = env.scene.compute_distance(o3d.core.Tensor(world.astype(np.float32))).numpy()
    assert len(fused) > 1000 and np.median(dist) < 0.01
    import trimesh

    assert len(trimesh.load(tmp_path / "recon" / "mesh.ply").faces) > 100


def test_a_view_whose_joints_cannot_verify_is_flagged_without_the_costly_fallbacks(symmetric, monkeypatch):
    """Fewer than min_joints joints known in both views: no pose can pass the joint check, so
    neither SIFT nor FPFH runs (seconds a view); the view is flagged and says why."""
    from synnet_recon.recon import anchored
    from synnet_recon.recon.fuse import _view_inputs

    def costly(*_args, **_kwargs):
        raise AssertionError("a fallback ran for a view that cannot verify")

    monkeypatch.setattr(anchored, "feature_correspondences", costly)
    monkeypatch.setattr(anchored, "global_registration", costly)
    views, _ = _views(symmetric["sync"])
    views.joints["cam1"][4:] = np.nan          # 4 joints left: fewer than VerifyConfig.min_joints (5)
    config = FuseConfig()
    check = anchored.place_view(_view_inputs(views, "cam1"), _view_inputs(views, "cam0"), config.registration,
                                config.anchor)
    assert not check.ok and "joints" in check.reason
    views.joints["cam1"][:] = np.nan           # none: not even a Kabsch start
    check = anchored.place_view(_view_inputs(views, "cam1"), _view_inputs(views, "cam0"), config.registration,
                                config.anchor)
    assert not check.ok and check.method == "none" and "not placed" in check.reason


@pytest.mark.parametrize("at_optimum", [True, False])
def test_a_verified_view_is_placed_at_its_fine_optimum_without_the_polish(symmetric, monkeypatch, at_optimum):
    """With ``at_fine_optimum`` the verified view is placed at the fine check's optimum (no polish,
    no second check); off, the polish runs as before. Either way right."""
    import synnet_recon.recon.anchored as anchored
    from synnet_recon.recon.fuse import _view_inputs

    views, instant = _views(symmetric["sync"])
    true = truth_camera_to_reference(symmetric["truth"], instant.frames, "cam0")["cam1"]
    config = FuseConfig(progress=False)
    config.anchor.at_fine_optimum = at_optimum
    polishes = []
    polish = anchored.polish
    monkeypatch.setattr(anchored, "polish", lambda *a, **k: polishes.append(1) or polish(*a, **k))
    check = anchored.place_view(_view_inputs(views, "cam1"), _view_inputs(views, "cam0"), config.registration,
                                config.anchor)
    assert check.ok, check.reason
    assert rotation_error_deg(check.transform, true) < 0.25 and translation_error(check.transform, true) < 0.01
    if at_optimum:
        assert not polishes
        np.testing.assert_allclose(check.transform, check.fine_optimum, atol=1e-9)
    else:
        assert polishes
