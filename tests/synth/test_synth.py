"""Simulated cameras, detector noise, scene cutting and `synrecon simulate`."""
import json
import subprocess
import sys

import numpy as np
import pytest

from synnet_recon.errors import InputError
from synnet_recon.motion import Motion
from synnet_recon.skeleton import JOINT_INDEX as J
from synnet_recon.synth.camera import (
    MODES,
    CameraPathConfig,
    Intrinsics,
    camera_centers,
    look_at,
    project,
    random_intrinsics,
    sample_camera_path,
)
from synnet_recon.synth.noise import DetectorNoise, apply_detector_noise, body_size_px
from synnet_recon.synth.scene import (
    PACKAGED_MOTION,
    SceneConfig,
    film,
    sample_pair,
    sample_pair_batch,
    simulate_scene,
    subject_track,
)


def walker(seconds=12.0, fps=60.0, radius=3.0, speed=1.2, step_hz=1.8) -> Motion:
    """A stick figure walking a circle: swinging arms and legs, 1.65 m tall."""
    t = np.arange(int(seconds * fps) + 1) / fps
    body = np.zeros((len(t), 18, 3))  # body frame: x right, y up, z forward
    swing = 0.45 * np.sin(np.pi * step_hz * t)
    bounce = 0.02 * np.cos(2 * np.pi * step_hz * t)

    def put(name, x, y, z):
        body[:, J[name]] = np.stack(np.broadcast_arrays(x, y, z), axis=-1)

    put("neck", 0, 1.45 + bounce, 0)
    put("nose", 0, 1.6 + bounce, 0.1)
    for side, s in (("r", -1), ("l", 1)):
        sw = -s * swing
        put(f"{side}_eye", s * 0.035, 1.64 + bounce, 0.08)
        put(f"{side}_ear", s * 0.08, 1.62 + bounce, 0.0)
        put(f"{side}_shoulder", s * 0.19, 1.42 + bounce, 0)
        put(f"{side}_elbow", s * 0.21, 1.13 + bounce, -0.29 * np.sin(sw))
        put(f"{side}_wrist", s * 0.22, 0.88 + bounce, -0.55 * np.sin(sw))
        put(f"{side}_hip", s * 0.1, 0.93 + bounce, 0)
        put(f"{side}_knee", s * 0.1, 0.5 + 0.43 * (1 - np.cos(sw)), 0.43 * np.sin(sw))
        put(f"{side}_ankle", s * 0.1, 0.08 + 0.85 * (1 - np.cos(sw)), 0.85 * np.sin(sw))
    angle = speed / radius * t
    c, s_ = np.cos(angle + np.pi / 2)[:, None], np.sin(angle + np.pi / 2)[:, None]
    world = np.empty_like(body)
    world[..., 0] = body[..., 2] * c + body[..., 0] * s_ + radius * np.cos(angle)[:, None]
    world[..., 2] = body[..., 2] * s_ - body[..., 0] * c + radius * np.sin(angle)[:, None]
    world[..., 1] = body[..., 1]
    return Motion(world, fps, name="walker", source="walker.synthetic")


@pytest.fixture(scope="module")
def motion():
    return walker()


# ------------------------------------------------------------------------------------------------
# Projection and intrinsics


def test_project_hand_computed():
    K = Intrinsics(640, 480, 500.0, 510.0, 320.0, 240.0).K
    w2c = np.eye(4)
    pts = np.array([[0.0, 0.0, 5.0], [1.0, 0.5, 4.0], [0.0, 0.0, -2.0]])
    xy, depth = project(pts, K, w2c)
    np.testing.assert_allclose(xy[0], [320.0, 240.0])
    np.testing.assert_allclose(xy[1], [500.0 * 1.0 / 4.0 + 320.0, 510.0 * 0.5 / 4.0 + 240.0])
    assert np.isnan(xy[2]).all() and depth[2] == -2.0
    np.testing.assert_allclose(depth[:2], [5.0, 4.0])


def test_project_vectorized_over_frames_with_pose():
    K = Intrinsics.from_fov(640, 480, 90.0).K
    assert K[0, 0] == pytest.approx(320.0)  # 90 deg: f = w / 2
    # Frame 0: camera at (0, 0, -2) looking along +z; frame 1: camera turned 90 deg to look along +x.
    w2c = np.tile(np.eye(4), (2, 1, 1))
    w2c[0, :3, 3] = [0.0, 0.0, 2.0]
    R = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # world +x -> camera +z
    w2c[1, :3, :3] = R
    pts = np.array([[[0.0, 0.0, 3.0], [1.0, 0.0, 3.0]], [[3.0, 0.0, 0.0], [3.0, 0.0, 1.0]]])
    xy, depth = project(pts, K, w2c)
    np.testing.assert_allclose(depth, [[5.0, 5.0], [3.0, 3.0]])
    np.testing.assert_allclose(xy[0, 0], [320.0, 240.0])
    np.testing.assert_allclose(xy[0, 1], [320.0 * 1 / 5 + 320.0, 240.0])
    np.testing.assert_allclose(xy[1, 0], [320.0, 240.0])
    np.testing.assert_allclose(xy[1, 1], [320.0 * -1 / 3 + 320.0, 240.0])


def test_look_at_puts_target_in_centre_and_up_upwards():
    pos = np.array([[0.0, 1.5, -5.0]])
    R = look_at(pos, np.array([[0.0, 1.0, 0.0]]))
    w2c = np.eye(4)[None].repeat(1, 0)
    w2c[:, :3, :3] = R
    w2c[:, :3, 3] = -R[0] @ pos[0]
    K = Intrinsics.from_fov(640, 480, 60).K
    xy, _ = project(np.array([[[0.0, 1.0, 0.0], [0.0, 2.0, 0.0]]]), K, w2c)
    np.testing.assert_allclose(xy[0, 0], [320.0, 240.0], atol=1e-9)
    assert xy[0, 1, 1] < 240.0  # higher in the world = higher in the image (smaller y)
    np.testing.assert_allclose(R[0] @ R[0].T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R[0]) == pytest.approx(1.0)


def test_random_intrinsics_ranges():
    rng = np.random.default_rng(3)
    fovs = [random_intrinsics(rng).hfov_deg for _ in range(200)]
    assert 49.0 < min(fovs) and max(fovs) < 101.0 and np.ptp(fovs) > 35
    portrait = random_intrinsics(rng, CameraPathConfig(portrait_prob=1.0))
    assert (portrait.width, portrait.height) == (480, 640)


# ------------------------------------------------------------------------------------------------
# Camera paths


@pytest.mark.parametrize("mode", MODES)
def test_camera_paths_smooth_in_range_subject_in_view(motion, mode):
    rng = np.random.default_rng(11)
    times = np.arange(180) / 30.0
    joints = motion.at(times)
    subject = subject_track(joints)
    in_view = []
    for _ in range(8):
        w2c = sample_camera_path(subject, times, None, rng, mode=mode)
        centres = camera_centers(w2c)
        horizontal = np.linalg.norm((centres - subject)[:, [0, 2]], axis=1)
        assert horizontal.min() >= 2.0 - 1e-6 and horizontal.max() <= 8.0 + 1e-6
        assert 1.1 < centres[:, 1].min() and centres[:, 1].max() < 2.1
        # Smooth: no teleporting (< 5 m/s) and no snapping of the view direction (< 120 deg/s).
        assert np.linalg.norm(np.diff(centres, axis=0), axis=1).max() < 5.0 / 30
        forward = w2c[:, 2, :3]
        turn = np.degrees(np.arccos(np.clip(np.sum(forward[1:] * forward[:-1], axis=1), -1, 1)))
        assert turn.max() < 4.0
        # Rotations stay rotations.
        RtR = np.einsum("tji,tjk->tik", w2c[:, :3, :3], w2c[:, :3, :3])
        np.testing.assert_allclose(RtR, np.broadcast_to(np.eye(3), RtR.shape), atol=1e-9)
        xy, depth = project(joints, random_intrinsics(rng).K, w2c)
        in_view.append(np.mean((depth > 0) & (xy[..., 0] >= 0) & (xy[..., 0] < 640)
                               & (xy[..., 1] >= 0) & (xy[..., 1] < 480)))
    if mode == "tripod":  # a fixed camera cannot keep a subject walking a 6 m circle in view
        assert np.mean(in_view) > 0.8 and min(in_view) > 0.4
    else:
        assert np.mean(in_view) > 0.9 and min(in_view) > 0.6


def test_camera_path_has_walking_head_bob_and_roll(motion):
    rng = np.random.default_rng(5)
    times = np.arange(300) / 30.0
    cfg = CameraPathConfig(bob_amplitude=(0.03, 0.03), bob_hz=(2.0, 2.0))
    w2c = sample_camera_path(subject_track(motion.at(times)), times, cfg, rng, mode="orbit")
    y = camera_centers(w2c)[:, 1]
    spectrum = np.abs(np.fft.rfft(y - y.mean()))
    freqs = np.fft.rfftfreq(len(y), 1 / 30.0)
    band = (freqs > 1.0)
    assert freqs[band][np.argmax(spectrum[band])] == pytest.approx(2.0, abs=0.15)
    assert 0.03 < np.ptp(y) < 0.3
    # Roll: the camera's x axis tilts away from horizontal by at most a few degrees.
    roll = np.degrees(np.arcsin(np.abs(w2c[:, 0, 1])))
    assert roll.max() < 6.0


def test_close_ups_cut_off_the_legs(motion):
    rng = np.random.default_rng(8)
    cfg = CameraPathConfig(close_up_prob=1.0, hfov_deg=(50.0, 55.0))
    times = np.arange(90) / 30.0
    joints = motion.at(times)
    upper = [J[n] for n in ("nose", "neck", "r_shoulder", "l_shoulder")]
    lower = [J[n] for n in ("r_ankle", "l_ankle")]
    shares = []
    for _ in range(6):
        w2c = sample_camera_path(subject_track(joints), times, cfg, rng)
        xy, depth = project(joints, random_intrinsics(rng, cfg).K, w2c)
        inside = (depth > 0) & (xy[..., 0] >= 0) & (xy[..., 0] < 640) & (xy[..., 1] >= 0) & (xy[..., 1] < 480)
        shares.append((inside[:, upper].mean(), inside[:, lower].mean()))
    up, low = np.mean(shares, axis=0)
    assert up > 0.9 and low < 0.7, (up, low)


# ------------------------------------------------------------------------------------------------
# Detector noise


def _filmed(motion, noise, seed=0, n=6):
    """Clean and noisy keypoints of n random cameras filming 6 s of the walker."""
    rng = np.random.default_rng(seed)
    times = np.arange(180) / 30.0
    joints = motion.at(times)
    out = []
    for _ in range(n):
        K = random_intrinsics(rng)
        _, clean, depth, xy, conf = film(joints, times, K, CameraPathConfig(), noise, rng)
        out.append((clean, depth, xy, conf))
    return out


def test_noise_level_zero_is_exact(motion):
    for clean, _depth, xy, conf in _filmed(motion, DetectorNoise(level=0.0), n=3):
        seen = conf > 0
        assert seen.mean() > 0.5
        np.testing.assert_allclose(xy[seen], clean[seen], atol=1e-3)
        assert np.isnan(xy[~seen]).all()
        assert set(np.unique(conf)) <= {0.0, 1.0}


def test_noise_jitter_statistics_match_real_detector(motion):
    residuals, confs = [], []
    for clean, _depth, xy, conf in _filmed(motion, DetectorNoise(), n=10):
        r = np.linalg.norm(xy - clean, axis=2) / body_size_px(clean)[:, None]
        seen = conf > 0
        residuals.append(r[seen])
        confs.append(conf[seen])
    r, c = np.concatenate(residuals), np.concatenate(confs)
    median = np.median(r)
    assert 0.011 <= median <= 0.015
    assert 2.3 <= np.percentile(r, 90) / median <= 3.8
    # Confidence tells the large errors apart.
    assert np.median(r[c < np.percentile(c, 20)]) > 2 * np.median(r[c > np.percentile(c, 80)])


def test_noise_is_temporally_correlated(motion):
    noise = DetectorNoise(miss_rate=0, face_miss_rate=0, swap_rate=0, lost_frame_rate=0, jitter_dof=1e6,
                          min_conf=0, truncate=False)
    clean, depth, xy, conf = _filmed(motion, noise, n=1)[0]
    e = (xy - clean)[..., 0]
    rho = np.mean(np.sum(e[1:] * e[:-1], axis=0) / np.sum(e * e, axis=0))
    assert 0.25 < rho < 0.6  # configured 0.4


def test_missing_joints_and_lost_frames(motion):
    only_misses = DetectorNoise(face_miss_rate=0, swap_rate=0, lost_frame_rate=0, min_conf=0, miss_rate=0.1,
                                truncate=False)
    rng = np.random.default_rng(0)
    T = 4000
    xy = rng.uniform(100, 300, (T, 18, 2))
    depth = np.full((T, 18), 4.0)
    noisy, conf = apply_detector_noise(xy, depth, (640, 480), only_misses, rng)
    assert np.isnan(noisy).any(axis=2).mean() == pytest.approx(0.1, abs=0.01)
    assert np.all((conf == 0) == np.isnan(noisy[..., 0]))
    lost = DetectorNoise(miss_rate=0, face_miss_rate=0, swap_rate=0, lost_frame_rate=0.05, min_conf=0)
    noisy, conf = apply_detector_noise(xy, depth, (640, 480), lost, rng)
    frame_lost = (conf == 0).all(axis=1)
    assert frame_lost.mean() == pytest.approx(0.05, abs=0.015)
    assert not (conf == 0)[~frame_lost].any()
    doubled = DetectorNoise(level=2.0, face_miss_rate=0, swap_rate=0, lost_frame_rate=0, min_conf=0,
                            miss_rate=0.1)
    noisy, conf = apply_detector_noise(xy, depth, (640, 480), doubled, rng)
    assert (conf == 0).mean() == pytest.approx(0.2, abs=0.015)


def test_truncation_and_behind_camera():
    xy = np.full((1, 18, 2), 200.0)
    xy[0, 3] = [-5.0, 100.0]     # left of the image
    xy[0, 4] = [100.0, 480.0]    # just below it
    depth = np.full((1, 18), 3.0)
    depth[0, 7] = -1.0           # behind the camera
    noisy, conf = apply_detector_noise(xy, depth, (640, 480), DetectorNoise(level=0), np.random.default_rng(0))
    assert list(np.flatnonzero(conf[0] == 0)) == [3, 4, 7]
    assert np.isnan(noisy[0, [3, 4, 7]]).all()


def test_left_right_swaps(motion):
    swaps = DetectorNoise(jitter=0.0, miss_rate=0, face_miss_rate=0, lost_frame_rate=0, min_conf=0,
                          swap_rate=0.1, truncate=False)
    rng = np.random.default_rng(2)
    T = 3000
    clean = rng.uniform(0, 600, (T, 18, 2))
    noisy, conf = apply_detector_noise(clean, np.full((T, 18), 3.0), (640, 480), swaps, rng)
    wrists = [J["r_wrist"], J["l_wrist"]]
    knees = [J["r_knee"], J["l_knee"]]
    arms_swapped = np.all(np.isclose(noisy[:, wrists], clean[:, wrists[::-1]], atol=1e-3), axis=(1, 2))
    legs_swapped = np.all(np.isclose(noisy[:, knees], clean[:, knees[::-1]], atol=1e-3), axis=(1, 2))
    any_swap = arms_swapped | legs_swapped
    assert any_swap.mean() == pytest.approx(0.1, abs=0.03)
    # Swaps last several frames (episodes of 2-6 frames, possibly overlapping).
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, any_swap.astype(int), 0])))[::2]
    assert 2 <= np.median(runs) <= 6
    eyes = [J["r_eye"], J["l_eye"]]
    eyes_swapped = np.all(np.isclose(noisy[:, eyes], clean[:, eyes[::-1]], atol=1e-3), axis=(1, 2))
    unswapped = ~any_swap & ~eyes_swapped  # (overlapping episodes can leave only the face swapped)
    np.testing.assert_allclose(noisy[unswapped], clean[unswapped], atol=1e-3)


# ------------------------------------------------------------------------------------------------
# Scenes: cutting, truth, determinism


def test_scene_cutting_offsets_and_clean_projections(motion):
    config = SceneConfig(cameras=4, seconds=3.0, fps=30.0, max_offset=1.5, seed=7)
    scene = simulate_scene(config, motion=motion)
    assert [c.name for c in scene.cameras] == ["cam0", "cam1", "cam2", "cam3"]
    assert scene.cameras[0].offset_seconds == 0.0
    lengths = {len(c.keypoints) for c in scene.cameras} | {c.num_frames for c in scene.cameras}
    assert lengths == {90}
    fractional = []
    for cam in scene.cameras:
        assert abs(cam.offset_seconds) <= 1.5
        assert cam.motion_start - scene.cameras[0].motion_start == pytest.approx(cam.offset_seconds, abs=1e-12)
        assert motion.start <= cam.motion_start and cam.motion_times[-1] <= motion.start + motion.duration + 1e-9
        np.testing.assert_allclose(cam.keypoints.times, np.arange(90) / 30.0)
        # Noiseless keypoints of frame i are the projection of the motion at motion_start + i / fps.
        for i in (0, 17, 89):
            expected, _ = project(motion.at(np.array([cam.motion_start + i / 30.0]))[0], cam.intrinsics.K,
                                  cam.world_to_camera[i])
            np.testing.assert_allclose(cam.clean_xy[i], expected, atol=1e-6)
        fractional.append(abs(cam.offset_seconds * 30 - round(cam.offset_seconds * 30)))
    assert max(fractional) > 0.05  # offsets are not snapped to whole frames


def test_sub_frame_offset_interpolates_motion(motion):
    scene = simulate_scene(SceneConfig(cameras=2, seconds=1.0, fps=30.0, max_offset=0.5, seed=3, noise=0),
                           motion=motion)
    cam = scene.cameras[1]
    u = cam.motion_start * motion.fps
    i0 = int(np.floor(u))
    w = u - i0
    joints0 = (1 - w) * motion.joints[i0] + w * motion.joints[i0 + 1]
    expected, _ = project(joints0, cam.intrinsics.K, cam.world_to_camera[0])
    np.testing.assert_allclose(cam.clean_xy[0], expected, atol=1e-6)
    seen = cam.keypoints.conf[0] > 0
    np.testing.assert_allclose(cam.keypoints.xy[0][seen], expected[seen], atol=1e-3)


def test_scene_truth_dict(motion):
    scene = simulate_scene(SceneConfig(cameras=2, seconds=2.0, seed=1), motion=motion)
    truth = json.loads(json.dumps(scene.truth()))
    assert truth["schema"] == "synnet-recon/truth" and truth["version"] == 1
    assert truth["reference"] == "cam0" and truth["fps"] == 30.0 and truth["seconds"] == 2.0
    assert truth["motion"] == "walker.synthetic" and truth["seed"] == 1
    cam = truth["cameras"][1]
    assert set(cam) >= {"name", "offset_seconds", "motion_start", "fps", "num_frames", "intrinsics",
                        "world_to_camera", "keypoints", "video", "depth"}
    assert np.asarray(cam["world_to_camera"]).shape == (60, 4, 4)
    assert cam["keypoints"] == "keypoints/cam1" and cam["video"] is None
    assert cam["offset_seconds"] == pytest.approx(cam["motion_start"] - truth["cameras"][0]["motion_start"])


def test_scene_deterministic_with_seed(motion):
    a = simulate_scene(SceneConfig(cameras=2, seconds=1.0, seed=4), motion=motion)
    b = simulate_scene(SceneConfig(cameras=2, seconds=1.0, seed=4), motion=motion)
    c = simulate_scene(SceneConfig(cameras=2, seconds=1.0, seed=5), motion=motion)
    for ca, cb in zip(a.cameras, b.cameras):
        np.testing.assert_array_equal(ca.keypoints.xy, cb.keypoints.xy)
        np.testing.assert_array_equal(ca.world_to_camera, cb.world_to_camera)
    assert a.cameras[1].offset_seconds != c.cameras[1].offset_seconds


def test_too_short_clip_is_an_input_error(motion):
    short = Motion(motion.joints[:240], motion.fps, name="short", source="clips/short.bvh")  # 4 s
    with pytest.raises(InputError) as exc:
        simulate_scene(SceneConfig(cameras=3, seconds=6.0), motion=short)
    assert "clips/short.bvh" in str(exc.value) and "3.98 s" in str(exc.value)
    # Fits when offsets are small enough.
    scene = simulate_scene(SceneConfig(cameras=3, seconds=3.0, max_offset=0.4), motion=short)
    assert all(c.motion_start >= 0 and c.motion_times[-1] <= short.duration + 1e-9 for c in scene.cameras)


# ------------------------------------------------------------------------------------------------
# Training pairs


def test_sample_pair(motion):
    rng = np.random.default_rng(0)
    a, b = sample_pair(motion, 32, 30.0, 7.25, rng)
    assert len(a) == len(b) == 32 and a.xy.shape == (32, 18, 2)
    np.testing.assert_allclose(a.times, np.arange(32) / 30.0)
    assert b.meta["motion_start"] - a.meta["motion_start"] == pytest.approx(7.25 / 30.0)
    assert b.meta["offset_frames"] == 7.25
    assert (a.conf > 0).mean() > 0.7 and (b.conf > 0).mean() > 0.7
    # Same seed, same pair; noise level 0 keeps every visible joint exact (no missing ones in view).
    a2, _ = sample_pair(motion, 32, 30.0, 7.25, np.random.default_rng(0))
    np.testing.assert_array_equal(a.xy, a2.xy)
    a0, _ = sample_pair(motion, 32, 30.0, -3.0, rng, noise=DetectorNoise(level=0))
    assert set(np.unique(a0.conf)) <= {0.0, 1.0}
    with pytest.raises(InputError):
        sample_pair(Motion(motion.joints[:60], motion.fps), 32, 30.0, 10.0, rng)


def test_sample_pair_batch(motion):
    rng = np.random.default_rng(1)
    offsets = np.array([-12.0, 0.5, 3.0, 20.0])
    batch = sample_pair_batch(motion, 4, 32, 30.0, offsets, rng)
    assert batch.xy.shape == (4, 2, 32, 18, 2) and batch.conf.shape == (4, 2, 32, 18)
    np.testing.assert_allclose(batch.motion_start[:, 1] - batch.motion_start[:, 0], offsets / 30.0)
    assert np.all(batch.motion_start >= 0) and np.all(batch.motion_start + 31 / 30 <= motion.duration + 1e-9)
    np.testing.assert_array_equal(batch.image_size, np.full((4, 2, 2), [640, 480]))
    assert (batch.conf > 0).mean() > 0.7
    # Every clip has its own camera: the same instant looks different from the two cameras.
    assert not np.allclose(batch.xy[:, 0], batch.xy[:, 1], equal_nan=True)


def test_default_motion_is_packaged_without_shared_data(monkeypatch):
    import synnet_recon.synth.scene as scene_module

    monkeypatch.setattr(scene_module, "shared_data_dir", lambda: None)
    assert scene_module.default_motion_path() == PACKAGED_MOTION and PACKAGED_MOTION.is_file()
    assert PACKAGED_MOTION.stat().st_size < 1_000_000
    readme = (PACKAGED_MOTION.parent / "README.md").read_text()
    assert "mocap.cs.cmu.edu" in readme and "NSF EIA-0196217" in readme
    scene = simulate_scene(SceneConfig(cameras=3, seconds=6.0, max_offset=2.0, seed=0))
    assert scene.motion_path == str(PACKAGED_MOTION) and len(scene.cameras[2].keypoints) == 180


# ------------------------------------------------------------------------------------------------
# The command line


def _run(*args):
    return subprocess.run([sys.executable, "-m", "synnet_recon.cli", "simulate", *args],
                          capture_output=True, text=True)


def test_simulate_cli_end_to_end(tmp_path):
    from synnet_recon.cli import main

    out = tmp_path / "scene"
    with pytest.raises(SystemExit) as exc:
        main(["simulate", str(out), "--cameras", "2", "--seconds", "1.5", "--fps", "20",
              "--motion", str(PACKAGED_MOTION), "--seed", "3", "--max-offset", "1"])
    assert exc.value.code == 0
    truth = json.loads((out / "truth.json").read_text())
    assert [c["name"] for c in truth["cameras"]] == ["cam0", "cam1"]
    for cam in truth["cameras"]:
        files = sorted((out / cam["keypoints"]).glob("*_keypoints.json"))
        assert len(files) == cam["num_frames"] == 30
        assert files[0].name == f"{cam['name']}_{0:012d}_keypoints.json"
    assert not list(tmp_path.glob(".*"))  # no temporary leftovers
    # The files hold exactly the scene that the same seed simulates in memory.
    from synnet_recon.io.openpose import read_openpose_folder

    scene = simulate_scene(SceneConfig(cameras=2, seconds=1.5, fps=20, motion=str(PACKAGED_MOTION), seed=3,
                                       max_offset=1))
    for cam, written in zip(scene.cameras, truth["cameras"]):
        assert written["offset_seconds"] == pytest.approx(cam.offset_seconds)
        kp = read_openpose_folder(out / written["keypoints"], fps=20)
        np.testing.assert_allclose(kp.xy, cam.keypoints.xy, atol=1e-3)
        np.testing.assert_allclose(kp.conf, cam.keypoints.conf, atol=1e-5)


@pytest.mark.parametrize("args, message", [
    (["--cameras", "1"], "--cameras"),
    (["--seconds", "0"], "--seconds"),
    (["--fps", "-5"], "--fps"),
    (["--motion", "nope.bvh"], "nope.bvh"),
])
def test_simulate_cli_rejects_bad_arguments(tmp_path, args, message):
    proc = _run(str(tmp_path / "out"), *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("synrecon: error:")
    assert not (tmp_path / "out").exists()
