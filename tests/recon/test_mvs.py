"""Tests of synnet_recon.recon.mvs (multi-view plane-sweep depth, ``--depth mvs``): rendered views
of the textured room against their true depth, the cross-view check, poses the images do not
confirm, and ``synrecon fuse --depth mvs`` with a calibration and without a depth folder."""
from __future__ import annotations

import json

import numpy as np
import pytest

from synnet_recon.recon.mvs import MVSConfig, MVSView, StaticPoses, consistency, mvs_depths, rank_views

W, H = 160, 120
F = W / 2 / np.tan(np.radians(75) / 2)
K = np.array([[F, 0, (W - 1) / 2], [0, F, (H - 1) / 2], [0, 0, 1.0]])
FAST_STEP = 1.5  # planes 1.5 px apart at the image centre (the default is 1): the tests stay quick


def _render(azimuths_deg, layout="room", radius=2.8):
    """Views of the wide scenes' room (a person in it) from cameras on a circle -> views, true depths."""
    from synnet_recon.synth.wide import ring_views

    K_views, shots = ring_views(azimuths_deg, W, H, layout, radius)
    assert np.allclose(K_views, K)
    return ({n: MVSView(rgb, K, T) for n, (rgb, T, _) in shots.items()},
            {n: depth for n, (_, _, depth) in shots.items()})


def _errors(depth, true):
    m = (depth > 0) & (true > 0)
    return m.mean(), np.abs(depth[m] - true[m]) / true[m]


@pytest.fixture(scope="module")
def three_views():
    return _render([20.0, 45.0, 70.0])


def test_two_views_against_true_depth(three_views):
    views, truth = three_views
    two = {n: views[n] for n in ("cam0", "cam1")}
    result = mvs_depths(two, MVSConfig(near=1.0, far=11.0, step_px=FAST_STEP))
    for n, r in result.items():
        cover, rel = _errors(r.depth, truth[n])
        assert cover > 0.15, (n, cover)
        assert np.median(rel) < 0.03, (n, np.median(rel))
        assert (rel > 0.1).mean() < 0.15
        assert r.views == [m for m in two if m != n]
        assert (r.confidence[r.depth > 0] > 0).all() and (r.confidence[r.depth == 0] == 0).all()
        # the cross-view check removes more wrong pixels than right ones
        raw_cover, raw_rel = _errors(r.raw_depth, truth[n])
        assert raw_cover > cover and (raw_rel > 0.1).mean() > (rel > 0.1).mean()


def test_three_views_against_true_depth(three_views):
    views, truth = three_views
    result = mvs_depths(views, MVSConfig(near=1.0, far=11.0, step_px=FAST_STEP))
    assert result["cam1"].views and set(result["cam1"].views) == {"cam0", "cam2"}
    for n, r in result.items():
        cover, rel = _errors(r.depth, truth[n])
        assert cover > 0.15 and np.median(rel) < 0.03, (n, cover, np.median(rel))


def test_depth_range_from_points(three_views):
    """The swept range from scene points (here the true depth's points) instead of near/far."""
    views, truth = three_views
    two = {n: views[n] for n in ("cam0", "cam1")}
    v, u = np.nonzero(truth["cam0"] > 0)
    z = truth["cam0"][v, u]
    cam = np.stack([(u - K[0, 2]) / F * z, (v - K[1, 2]) / F * z, z], 1)[::50]
    Tinv = np.linalg.inv(views["cam0"].world_to_camera)
    result = mvs_depths(two, MVSConfig(step_px=FAST_STEP), points_world=cam @ Tinv[:3, :3].T + Tinv[:3, 3])
    assert result["cam0"].near < z.min() * 1.05 and result["cam0"].far > np.percentile(z, 95)
    cover, rel = _errors(result["cam0"].depth, truth["cam0"])
    assert cover > 0.15 and np.median(rel) < 0.03


def test_views_ranked_by_placement(three_views):
    views, _ = three_views
    ref = views["cam0"]
    behind = MVSView(ref.image, K, np.diag([-1.0, 1.0, -1.0, 1.0]) @ ref.world_to_camera)  # looking away
    same = MVSView(ref.image, K, ref.world_to_camera)                                     # no baseline
    order = rank_views(ref, [views["cam2"], behind, same, views["cam1"]], 3.0, MVSConfig())
    assert order == [3]   # 25 degrees apart; 50 (over max_angle_deg), looking away and no baseline: unused
    assert rank_views(ref, [views["cam2"], views["cam1"]], 3.0, MVSConfig(max_angle_deg=60.0)) == [1, 0]


def test_consistency_drops_disagreeing_pixels():
    """Two cameras looking at a plane: depths agree except where one view was corrupted."""
    T0 = np.eye(4)
    T1 = np.eye(4)
    T1[0, 3] = -0.5  # camera 1 half a metre to the right
    views = {"a": MVSView(np.zeros((H, W), np.uint8), K, T0), "b": MVSView(np.zeros((H, W), np.uint8), K, T1)}
    plane = np.full((H, W), 4.0, np.float32)
    bad = plane.copy()
    bad[40:60, 60:80] = 3.0            # 25 % too near in view a
    counts = consistency({"a": bad, "b": plane}, views, MVSConfig())
    assert (counts["a"][40:60, 60:80] <= 0).all()
    assert (counts["a"][:, :40] == 1).all() or (counts["a"][:, 100:] == 1).all()


def test_unconfirmed_pose_gets_no_depth(three_views):
    """The backend checks the poses against SIFT matches: a camera tilted by 5 degrees (off the
    epipolar lines) is refused. (An error along the epipolar lines, a turn about the axis normal to
    the baseline, moves depths instead and cannot be seen this way.)"""
    from synnet_recon.recon.mvs import MVSDepth

    views, _ = three_views
    turned = views["cam1"].world_to_camera.copy()
    c, s = np.cos(np.radians(5)), np.sin(np.radians(5))
    turned[:3] = np.array([[1, 0, 0], [0, c, -s], [0, s, c]]) @ turned[:3]   # tilted about its own x axis
    poses = StaticPoses({"cam0": views["cam0"].world_to_camera, "cam1": turned}, "test")
    backend = MVSDepth.__new__(MVSDepth)
    backend.config = MVSConfig(near=1.0, far=11.0, step_px=FAST_STEP)
    backend.cameras, backend.poses, backend.confidence = poses, {}, {}

    class _Context:
        intrinsics = {n: _Intr() for n in ("cam0", "cam1")}

    backend.context = _Context()
    depths = backend.depths({"cam0": 0, "cam1": 0}, {n: views[n].image for n in ("cam0", "cam1")})
    assert not depths["cam0"].any() and not depths["cam1"].any()


class _Intr:
    width, height, distorted = W, H, False
    K = K


def _calibration_toml(path, truth, frame=0):
    import cv2

    lines = []
    for cam in truth["cameras"]:
        T = np.asarray(cam["world_to_camera"])[frame]
        i = cam["intrinsics"]
        rvec = cv2.Rodrigues(T[:3, :3])[0].ravel()
        lines += [f"[{cam['name']}]", f"name = \"{cam['name']}\"", f"size = [{i['width']}, {i['height']}]",
                  f"matrix = [[{i['fx']}, 0.0, {i['cx']}], [0.0, {i['fy']}, {i['cy']}], [0.0, 0.0, 1.0]]",
                  "distortions = [0.0, 0.0, 0.0, 0.0]", f"rotation = {list(map(float, rvec))}",
                  f"translation = {list(map(float, T[:3, 3]))}", ""]
    path.write_text("\n".join(lines))
    return path


@pytest.fixture(scope="module")
def wide_scene(tmp_path_factory):
    """Two static cameras 25 degrees apart, 160x120, 2 instants: videos, keypoints, truth; the depth
    folder is removed (mvs must not need it)."""
    import shutil

    from synnet_recon.synth.wide import WideSceneConfig, render_wide_scene

    out = tmp_path_factory.mktemp("wide")
    sync = render_wide_scene(WideSceneConfig(separation_deg=25, cameras=2, instants=2, width=W, height=H,
                                             drift_deg_per_s=0.0, start_deg=20.0), out)
    shutil.move(out / "depth", out.parent / f"{out.name}_true_depth")
    return sync, out.parent / f"{out.name}_true_depth"


def test_fuse_mvs_with_calibration(wide_scene, tmp_path):
    from synnet_recon.cli import main
    from synnet_recon.io.depth_png import read_depth_png
    from synnet_recon.recon.fuse import FuseConfig, read_inputs

    sync, true_depth = wide_scene
    truth = json.loads((sync.parent / "truth.json").read_text())
    toml = _calibration_toml(tmp_path / "calib.toml", truth)
    inputs = read_inputs(sync, FuseConfig(depth="mvs", calibration=str(toml), progress=False))
    assert inputs.backend.cameras.source.startswith("calibration")
    from synnet_recon.recon.frames import FrameReader

    frames = inputs.instants[0].frames
    images = {n: FrameReader(inputs.videos[n].path).get(i) for n, i in frames.items()}
    depths = inputs.backend.depths(frames, images)
    for n, d in depths.items():
        cover, rel = _errors(d, read_depth_png(true_depth / n / f"{frames[n]:06d}.png"))
        assert cover > 0.1 and np.median(rel) < 0.03, (n, cover, np.median(rel))
    assert np.allclose(inputs.backend.poses["cam1"], truth_c2r(truth, "cam1"), atol=1e-6)
    with pytest.raises(SystemExit) as exc:
        main(["fuse", str(sync), "--out", str(tmp_path / "recon"), "--depth", "mvs", "--calibration", str(toml),
              "--quiet"])
    assert exc.value.code == 0
    reg = json.loads((tmp_path / "recon" / "registration.json").read_text())
    assert reg["depth"] == "mvs" and len(reg["frames"]) == 2


def truth_c2r(truth, name, frame=0):
    w2c = {c["name"]: np.asarray(c["world_to_camera"])[frame] for c in truth["cameras"]}
    return w2c["cam0"] @ np.linalg.inv(w2c[name])


def test_fuse_mvs_bad_inputs(wide_scene, tmp_path, capsys):
    from synnet_recon.cli import main

    sync, _ = wide_scene
    data = json.loads(sync.read_text())
    for v in data["videos"]:
        v["path"] = str(sync.parent / v["path"])
        v.pop("keypoints", None)
    bare = tmp_path / "sync.json"
    bare.write_text(json.dumps(data))
    (tmp_path / "truth.json").write_text((sync.parent / "truth.json").read_text())
    cases = [([str(bare)], "needs camera poses"),
             ([str(sync), "--person-height", "17"], "--person-height"),
             ([str(sync), "--calibration", str(tmp_path / "none.toml")], "none.toml")]
    for args, expected in cases:
        with pytest.raises(SystemExit) as exc:
            main(["fuse", *args, "--out", str(tmp_path / "o"), "--depth", "mvs", "--quiet"])
        err = capsys.readouterr().err.strip()
        assert exc.value.code == 2, err
        assert expected in err and len(err.splitlines()) == 1 and err.startswith("synrecon: error: "), err
        assert not (tmp_path / "o").exists()


def test_frame_poses_from_scene_poses():
    """recon.sfm's per-frame poses as the backend's CameraPoses: frames without a pose are left out."""
    from synnet_recon.recon.mvs import FramePoses
    from synnet_recon.recon.sfm import FramePose, ScenePoses, VideoPoses

    T = np.eye(4)
    T[0, 3] = 0.3
    scene = ScenePoses("a", {"a": VideoPoses("a", None, "given", [FramePose(0, 5, np.eye(4), True, source="sfm"),
                                                                    FramePose(1, 6, None, False, "no match")]),
                             "b": VideoPoses("b", None, "given", [FramePose(0, 7, T, True, source="sfm")])},
                       "person_height", 1.0, "sfm")
    poses = FramePoses(scene)
    assert poses.at({"a": 5, "b": 7})["b"][0, 3] == 0.3
    assert set(poses.at({"a": 6, "b": 7})) == {"b"}
    assert poses.source.startswith("structure from motion")


def test_frame_poses_from_the_triangulate_summary():
    """triangulate.json's kept frames: a flagged frame and every frame of a flagged camera are left out."""
    from synnet_recon.recon.mvs import FramePoses

    T = np.eye(4)
    T[1, 3] = -0.2
    summary = {"cameras": {
        "a": {"ok": True, "frames": [{"frame": 3, "ok": True, "world_to_camera": np.eye(4).tolist()},
                                     {"frame": 4, "ok": False, "world_to_camera": None}]},
        "b": {"ok": True, "frames": [{"frame": 8, "ok": True, "world_to_camera": T.tolist()}]},
        "c": {"ok": False, "frames": [{"frame": 3, "ok": True, "world_to_camera": np.eye(4).tolist()}]}}}
    poses = FramePoses.from_summary(summary)
    assert set(poses.at({"a": 3, "b": 8, "c": 3})) == {"a", "b"} and poses.at({"b": 8})["b"][1, 3] == -0.2
    assert set(poses.at({"a": 4})) == set() and poses.reasons == {"c": "no frame posed"}
    assert "triangulate.json" in poses.source


def test_calibration_tables_matched_by_number(tmp_path):
    """A calibration with more cameras than videos, named cam_01.. for videos cam01..: matched by
    the number as `triangulate` does (was: an error asking to rename the tables); no match: one line."""
    from synnet_recon.errors import InputError
    from synnet_recon.recon.mvs import poses_from_calibration

    lines = []
    for k in range(1, 5):
        lines += [f"[cam_0{k}]", f'name = "cam_0{k}"', "size = [160.0, 120.0]",
                  "matrix = [[100.0, 0.0, 80.0], [0.0, 100.0, 60.0], [0.0, 0.0, 1.0]]",
                  "distortions = [0.0, 0.0, 0.0, 0.0]", f"rotation = [0.0, {0.1 * k}, 0.0]",
                  f"translation = [{float(k)}, 0.0, 0.0]", ""]
    toml = tmp_path / "calib.toml"
    toml.write_text("\n".join(lines))
    poses = poses_from_calibration(toml, ["cam01", "cam03"])
    assert sorted(poses.world_to_camera) == ["cam01", "cam03"]
    assert np.allclose(poses.world_to_camera["cam03"][:3, 3], [3.0, 0.0, 0.0])
    with pytest.raises(InputError, match="cam_01 for cam01"):
        poses_from_calibration(toml, ["left", "right"])
    with pytest.raises(InputError) as exc:  # fewer tables than videos: nothing to match in order either
        poses_from_calibration(toml, ["left", "right", "top", "back", "side"])
    assert "calib.toml" in str(exc.value) and "\n" not in str(exc.value)


class _Lens(_Intr):
    dist = None


def test_people_poses_interpolate_skipped_frames(monkeypatch):
    """Keypoints on every 2nd frame (align poses at 30 fps) of two 60 fps videos one frame apart: no
    row has both views detected at its exact frame; the joints are taken between the detections
    around it (was: no shared joints at all, 'no camera pair shares enough consistent joints')."""
    from synnet_recon.keypoints import Keypoints
    from synnet_recon.recon import mvs, people_calib

    T = 40
    frames = np.arange(0, 2 * T, 2)
    rng = np.random.default_rng(0)
    base = rng.uniform(100, 500, size=(18, 2))
    moving = base[None] + np.arange(2 * T)[:, None, None] * 1.0  # 1 px a frame: linear, interpolated exactly
    tracks = {}
    for n in ("a", "b"):
        k = Keypoints(moving[frames].astype(np.float32), np.full((T, 18), 0.9, np.float32), frames / 60.0,
                      (640, 480), n, {"frames": frames})
        tracks[n] = k
    rows = [{"a": f, "b": f + 1} for f in range(0, 2 * T - 2)]
    seen = {}

    def fake(names, xy, scores, Ks, *args, **kw):
        seen["xy"], seen["conf"] = xy, scores
        raise RuntimeError("stop")

    monkeypatch.setattr(people_calib, "calibrate_from_people", fake)
    with pytest.raises(RuntimeError, match="stop"):
        mvs.poses_from_people(tracks, {"a": _Lens(), "b": _Lens()}, rows, "a", 1.7)
    both = (seen["conf"][0] > 0).all(axis=-1) & (seen["conf"][1] > 0).all(axis=-1)
    assert both.all()
    t = int(np.flatnonzero(both)[0])
    assert np.allclose(seen["xy"][1, t], moving[rows[t]["b"]], atol=1e-3)
    assert np.allclose(seen["xy"][0, t], moving[rows[t]["a"]], atol=1e-3)
