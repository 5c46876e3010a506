"""recon/camera_track: a moving camera's poses checked for jumps off its path, and smoothed."""
import numpy as np
from scipy.spatial.transform import Rotation

from synnet_recon.pinhole import rotation_angle_deg
from synnet_recon.recon.camera_track import TrackConf, check_track, smooth_track
from synnet_recon.synth.camera import camera_centers
from synnet_recon.synth.wide import look_at


def _orbit(T=12, deg_per_instant=1.5, radius=3.0):
    """A camera orbiting the origin at 1.5 m, looking at it; times 0.2 s apart."""
    a = np.radians(deg_per_instant) * np.arange(T)
    poses = np.stack([look_at(np.array([radius * np.sin(x), 1.5, radius * np.cos(x)]), np.array([0.0, 0.9, 0.0]))
                      for x in a])
    return poses, np.arange(T) * 0.2


def _turn(pose, deg, axis=(0.0, 1.0, 0.0)):
    out = pose.copy()
    out[:3, :3] = Rotation.from_rotvec(np.radians(deg) * np.asarray(axis)).as_matrix() @ pose[:3, :3]
    out[:3, 3] = -out[:3, :3] @ camera_centers(pose)  # about its centre
    return out


def test_a_smooth_path_passes_and_a_jump_is_flagged_alone():
    poses, times = _orbit()
    ok = np.ones(len(poses), bool)
    flagged, reasons = check_track(poses, ok, times, 3.0)
    assert not flagged.any(), reasons
    wrong = poses.copy()
    wrong[6] = _turn(poses[6], 20.0)
    flagged, reasons = check_track(wrong, ok, times, 3.0)
    assert flagged.tolist() == [k == 6 for k in range(len(poses))], reasons
    assert "jumps off the camera's path" in reasons[6] and reasons[5] == ""
    # a centre moved by 0.8 m (27 % of the distance) is flagged too; unposed instants are skipped
    moved = poses.copy()
    moved[3, :3, 3] -= moved[3, :3, :3] @ np.array([0.8, 0.0, 0.0])
    ok[9] = False
    flagged, _ = check_track(moved, ok, times, 3.0)
    assert np.nonzero(flagged)[0].tolist() == [3]


def test_a_turn_under_the_limit_and_an_instant_without_neighbours_pass():
    poses, times = _orbit(T=6)
    wrong = poses.copy()
    wrong[3] = _turn(poses[3], 2.0)
    assert not check_track(wrong, np.ones(6, bool), times, 3.0, TrackConf(max_rotation_deg=4.0))[0].any()
    assert check_track(wrong, np.ones(6, bool), times, 3.0, TrackConf(max_rotation_deg=1.0, step_factor=0))[0][3]
    # a camera that turns fast between instants (8 degrees a step, shaking by 4 off a straight path)
    # is moving, not jumping: the limits follow its own steps
    fast, ftimes = _orbit(T=8, deg_per_instant=8.0)
    shaken = np.stack([_turn(p, 4.0 * (-1) ** k, (1.0, 0.0, 0.0)) for k, p in enumerate(fast)])
    assert not check_track(shaken, np.ones(8, bool), ftimes, 3.0)[0].any()
    ok = np.array([True, False, False, False, False, True])
    assert not check_track(_orbit(T=6)[0], ok, times, 3.0)[0].any()


def test_smoothing_brings_noisy_poses_closer_to_the_path():
    poses, times = _orbit(T=20)
    rng = np.random.default_rng(0)
    noisy = np.stack([_turn(p, 0.6, rng.normal(size=3) / np.sqrt(3)) for p in poses])
    ok = np.ones(len(poses), bool)
    smooth = smooth_track(noisy, ok, times)

    def err(est):
        return np.mean([rotation_angle_deg(a[:3, :3] @ b[:3, :3].T) for a, b in zip(est[2:-2], poses[2:-2])])

    assert err(smooth) < 0.75 * err(noisy), (err(smooth), err(noisy))
    assert np.allclose(camera_centers(smooth), camera_centers(poses), atol=0.01)  # a uniform orbit is kept (not cut short)
    assert np.isnan(smooth_track(np.full((3, 4, 4), np.nan), np.zeros(3, bool), times[:3])).all()
