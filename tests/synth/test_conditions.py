"""Realistic recording conditions (synth/conditions.py) and the fixed camera mode."""
import numpy as np
import pytest

from synnet_recon.skeleton import JOINT_INDEX as J
from synnet_recon.synth import SceneConfig, simulate_scene
from synnet_recon.synth import conditions as C
from synnet_recon.synth.camera import sample_camera_paths


@pytest.fixture(scope="module")
def scene():
    return simulate_scene(SceneConfig(cameras=3, seconds=4.0, seed=2))


@pytest.fixture(scope="module")
def batch(scene):
    xy = np.stack([c.keypoints.xy for c in scene.cameras])
    conf = np.stack([c.keypoints.conf for c in scene.cameras])
    return xy, conf, scene.cameras[0].keypoints.image_size, scene.cameras[0].keypoints.times


def _invariants(xy, conf):
    assert xy.dtype == np.float32 and conf.dtype == np.float32
    assert np.array_equal(np.isnan(xy).any(-1), conf == 0)
    assert np.isfinite(conf).all() and (conf >= 0).all() and (conf <= 1).all()


VIEWS = {
    "upper_body": lambda xy, conf, size, rng: C.upper_body_view(xy, conf, size, rng),
    "portrait": lambda xy, conf, size, rng: C.portrait_view(xy, conf, size, rng),
    "sideways": lambda xy, conf, size, rng: C.sideways_view(xy, conf, size, rng),
    "rotate_cw": lambda xy, conf, size, rng: C.rotate_view(xy, conf, size, 1),
}


@pytest.mark.parametrize("name", sorted(VIEWS))
@pytest.mark.parametrize("batched", [False, True])
def test_views_keep_shapes_and_stay_in_the_image(batch, name, batched):
    xy, conf, size, _ = batch
    rng = np.random.default_rng(0)
    x_in, c_in = (xy, conf) if batched else (xy[0], conf[0])
    x, c, s = VIEWS[name](x_in, c_in, size, rng)
    assert x.shape == x_in.shape and c.shape == c_in.shape
    _invariants(x, c)
    assert isinstance(s, tuple)  # one image size in, one out
    w, h = s
    seen = c > 0
    assert (x[seen][:, 0] >= 0).all() and (x[seen][:, 0] < w).all()
    assert (x[seen][:, 1] >= 0).all() and (x[seen][:, 1] < h).all()
    assert (c <= c_in + 1e-6).all()  # a view only loses joints
    if name in ("portrait",):
        assert h > w
    if name in ("sideways", "rotate_cw"):  # the person lies sideways: shoulders-to-hips runs along x
        torso = np.nanmedian(x[..., J["r_hip"], :] - x[..., J["r_shoulder"], :], axis=-2).reshape(-1, 2)
        assert (np.abs(torso[:, 0]) > np.abs(torso[:, 1])).all()


def test_upper_body_view_sees_10_to_12_joints(batch):
    xy, conf, size, _ = batch
    x, c, _ = C.upper_body_view(xy, conf, size, np.random.default_rng(1))
    per_frame = (c > 0).sum(-1).mean()
    assert 8.0 <= per_frame <= 13.5
    lower = [J[n] for n in ("r_knee", "l_knee", "r_ankle", "l_ankle")]
    assert (c[..., lower] > 0).mean() < 0.25
    assert (conf[..., lower] > 0).mean() > 0.8


@pytest.mark.parametrize("turns", [1, 2, 3, -1])
def test_rotate_view_round_trip(batch, turns):
    xy, conf, size, _ = batch
    x, c, s = C.rotate_view(xy[0], conf[0], size, turns)
    assert s == (size[::-1] if turns % 2 else tuple(size))
    back, cb, sb = C.rotate_view(x, c, s, -turns)
    assert sb == tuple(size)
    np.testing.assert_allclose(back, xy[0], atol=1e-3)


@pytest.mark.parametrize("fps", C.STANDARD_FPS)
@pytest.mark.parametrize("batched", [False, True])
def test_resample_frame_rate(batch, fps, batched):
    xy, conf, _, times = batch
    x_in, c_in = (xy, conf) if batched else (xy[0], conf[0])
    x, c, t = C.resample_frame_rate(x_in, c_in, times, fps, phase=0.25 / fps)
    _invariants(x, c)
    assert x.shape[:-3] == x_in.shape[:-3] and x.shape[-3] == len(t)
    assert t[0] == pytest.approx(times[0] + 0.25 / fps) and np.allclose(np.diff(t), 1.0 / fps)
    assert t[-1] <= times[-1] + 1e-9 and len(t) == pytest.approx((times[-1] - times[0]) * fps, abs=1.01)
    # At the source's own rate and phase 0 the track is unchanged.
    same, cs, _ = C.resample_frame_rate(x_in, c_in, times, 1.0 / np.median(np.diff(times)), phase=0.0)
    np.testing.assert_allclose(same, x_in, atol=1e-3)


def test_resample_interpolates_linearly():
    T = 31
    xy = np.zeros((T, 18, 2))
    xy[..., 0] = np.arange(T)[:, None] * 3.0  # x = 90 px/s
    conf = np.ones((T, 18))
    x, c, t = C.resample_frame_rate(xy, conf, np.arange(T) / 30.0, 25.0, phase=0.01)
    np.testing.assert_allclose(x[..., 0], np.broadcast_to(90.0 * t[:, None], (len(t), 18)), atol=1e-3)


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.3])
def test_drop_frames_keeps_timestamps(batch, rate):
    xy, conf, _, times = batch
    x, c, t = C.drop_frames(xy[0], conf[0], times, np.random.default_rng(3), rate=rate)
    assert len(x) == len(c) == len(t)
    assert np.isin(t, times).all() and (np.diff(t) > 0).all() and t[0] == times[0]
    lost = 1 - len(t) / len(times)
    assert abs(lost - rate) < 0.12
    idx = np.searchsorted(times, t)
    np.testing.assert_array_equal(np.nan_to_num(x), np.nan_to_num(xy[0][idx]))
    mask = C.dropped_frame_mask((5, 200), np.random.default_rng(0), rate)
    assert mask.shape == (5, 200) and mask[:, 0].all()


@pytest.mark.parametrize("level", [0.0, 1.0, 2.0])
def test_correlated_errors_are_slow_and_scale(batch, level):
    xy, conf, size, times = batch
    x, c = C.correlated_detector_errors(xy, conf, size, np.random.default_rng(4), level=level, times=times,
                                        swap_fraction=0.0, arm_shift=(0.0, 0.0))
    _invariants(x, c)
    err = x.astype(np.float64) - xy
    if level == 0:
        np.testing.assert_allclose(np.nan_to_num(err), 0.0)
        return
    body = np.nanmedian(C.body_size_px(xy))
    rms = np.sqrt(np.nanmean(err**2))
    assert 0.004 * level * body < rms < 0.04 * level * body
    # Correlated: consecutive frames' errors are nearly the same (unlike frame-wise jitter).
    r = np.nanmean(err[:, 1:] * err[:, :-1]) / np.nanmean(err**2)
    assert r > 0.95


def test_correlated_errors_swap_arms(batch):
    xy, conf, size, times = batch
    x, _ = C.correlated_detector_errors(xy[:1], conf[:1], size, np.random.default_rng(5), bias=0.0,
                                        swap_fraction=0.3, arm_shift=(0.0, 0.0))
    swapped = np.isclose(x[0, :, J["r_wrist"]], xy[0, :, J["l_wrist"]], atol=1e-3).all(-1)
    frac = swapped[np.isfinite(xy[0, :, J["l_wrist"], 0])].mean()
    assert 0.1 < frac < 0.6


@pytest.mark.parametrize("batched", [False, True])
def test_bystander_barely_moves_and_extra_person_moves(batch, batched):
    xy, conf, size, times = batch
    rng = np.random.default_rng(6)
    x_in, c_in = (xy, conf) if batched else (xy[0], conf[0])
    bx, bc = C.bystander_2d(x_in, c_in, size, rng, times=times)
    _invariants(bx, bc)
    assert bx.shape == x_in.shape
    body = np.nanmedian(C.body_size_px(x_in))
    assert np.nanmedian(np.nanstd(bx[..., J["neck"], :], axis=-2)) < 0.05 * body
    other = np.roll(x_in, 7, axis=-3)
    ex, ec = C.extra_person_2d(other, np.roll(c_in, 7, axis=-2), x_in, size, rng)
    _invariants(ex, ec)
    gap = np.nanmedian(np.abs(ex[..., J["neck"], 0] - x_in[..., J["neck"], 0]))
    assert gap > 0.5 * np.nanmedian(C.body_size_px(x_in)) * 0.5


def test_3d_people(scene):
    rng = np.random.default_rng(7)
    pose = scene.motion.joints[0]
    j = C.bystander_joints(pose, 90, rng, position=(3.0, -1.0), sway=0.01)
    assert j.shape == (90, 18, 3)
    assert abs(np.nanmin(j[..., 1])) < 0.05  # on the floor
    hips = j[:, [J["r_hip"], J["l_hip"]]].mean(axis=1)
    np.testing.assert_allclose(hips[:, [0, 2]].mean(axis=0), (3.0, -1.0), atol=0.1)
    moved = C.place_person(scene.motion.joints[:50], offset=(2.0, 0.5), heading=np.pi / 2)
    step = np.linalg.norm(np.diff(moved, axis=0), axis=-1)
    np.testing.assert_allclose(step, np.linalg.norm(np.diff(scene.motion.joints[:50], axis=0), axis=-1), atol=1e-9)


@pytest.mark.parametrize("mode", ["tripod", "static"])
def test_tripod_is_fixed_static_is_handheld(mode):
    rng = np.random.default_rng(8)
    subject = np.cumsum(rng.normal(0, 0.01, (1, 90, 3)), axis=1) + np.array([0.0, 1.0, 0.0])
    w2c = sample_camera_paths(subject, np.arange(90) / 30.0, None, rng, [mode])[0]
    change = np.abs(np.diff(w2c, axis=0)).max()
    assert (change == 0.0) if mode == "tripod" else (change > 1e-4)


def test_tripod_weight_keeps_old_random_stream():
    """A 4th (tripod) mode weight of 0 must not change cameras drawn with the 3 classic weights."""
    from synnet_recon.synth.camera import CameraPathConfig

    subject = np.zeros((4, 30, 3)) + np.array([0.0, 1.0, 0.0])
    a = sample_camera_paths(subject, np.arange(30) / 30.0, CameraPathConfig(), np.random.default_rng(9))
    b = sample_camera_paths(subject, np.arange(30) / 30.0, CameraPathConfig(mode_weights=(0.35, 0.4, 0.25, 0.0)),
                            np.random.default_rng(9))
    np.testing.assert_allclose(a, b)
