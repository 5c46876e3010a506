"""Renderer: floor depth against geometry, depth PNG round trip, body where the joints project,
MP4 frames/size/timestamps, atomic outputs, and the real mediapipe pose estimator on rendered frames."""
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest

from synnet_recon.errors import InputError
from synnet_recon.motion import Motion, load_motion
from synnet_recon.paths import PACKAGE_DATA
from synnet_recon.skeleton import JOINT_INDEX as J
from synnet_recon.synth.body import BodyMesh, standing_pose
from synnet_recon.synth.camera import Intrinsics, look_at, project
from synnet_recon.synth.render import (
    Environment,
    RenderConfig,
    Renderer,
    VideoWriter,
    read_depth_png,
    render_scene,
    render_views,
    write_depth_png,
)

WALK = PACKAGE_DATA / "mocap" / "131_02.bvh"  # CMU subject 131 walk, shipped with the package


def world_to_camera(position, target) -> np.ndarray:
    """(4, 4) OpenCV world-to-camera of a camera at ``position`` looking at ``target``, no roll."""
    p = np.asarray(position, float)[None]
    R = look_at(p, np.asarray(target, float)[None])[0]
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, -R @ p[0]
    return T


def test_floor_depth_matches_the_plane():
    intr = Intrinsics(96, 72, 60.0, 62.0, 47.3, 35.8)
    env = Environment(half_size=30.0, wall_height=3.0, num_boxes=0)
    renderer = Renderer(intr, env, RenderConfig(blur_sigma=0))
    # Camera 1.6 m up, pitched down so that the lower part of the image sees only the floor.
    T = world_to_camera([0.3, 1.6, 0.2], [2.0, 0.0, 5.0])
    rgb, depth = renderer.render(None, T)
    assert rgb.shape == (72, 96, 3) and rgb.dtype == np.uint8 and depth.dtype == np.float32
    # Analytic: ray of pixel (x, y) is R^T K^-1 (x, y, 1); it meets y = 0 at camera depth h / -d_y.
    x, y = np.meshgrid(np.arange(96), np.arange(72))
    d_cam = np.stack([(x - intr.cx) / intr.fx, (y - intr.cy) / intr.fy, np.ones_like(x, float)], -1)
    d_world = d_cam @ T[:3, :3]
    down = d_world[..., 1] < -1e-3
    expected = np.where(down, 1.6 / np.where(down, -d_world[..., 1], 1.0), 0.0)
    on_floor = down & (expected < 25.0)
    assert on_floor.sum() > 2000
    np.testing.assert_allclose(depth[on_floor], expected[on_floor], rtol=1e-4, atol=1e-4)
    # Above the horizon the rays leave through the open top of the room or hit the far wall.
    assert np.all((depth[~down] == 0) | (depth[~down] > 20.0))


def test_textures_average_detail_smaller_than_a_pixel(rng):
    env = Environment(half_size=30.0, num_boxes=0)
    points = np.zeros((4000, 3), np.float32)
    points[:, [0, 2]] = rng.uniform(-20, 20, size=(4000, 2))        # floor points
    faces = np.zeros(4000, np.int64)
    sharp = env.albedo(faces, points, np.full(4000, 1e-3, np.float32))
    blurred = env.albedo(faces, points, np.full(4000, 2.0, np.float32))  # pixels 2 m wide: tiles average out
    assert sharp.std(0).mean() > 0.06
    assert blurred.std(0).mean() < 0.01
    np.testing.assert_allclose(blurred.mean(0), sharp.mean(0), atol=0.03)  # same average colour


def test_depth_png_round_trip_in_millimetres(tmp_path, rng):
    depth = rng.uniform(0.2, 12.0, size=(30, 40)).astype(np.float32)
    depth[0, :5] = 0.0
    depth[1, 0], depth[1, 1], depth[1, 2] = np.nan, np.inf, 80.0   # no depth, no depth, beyond 65.535 m
    path = tmp_path / "d.png"
    write_depth_png(path, depth)
    back = read_depth_png(path)
    assert back.shape == depth.shape and back.dtype == np.float32
    ok = np.isfinite(depth) & (depth > 0) & (depth < 60)
    assert np.abs(back[ok] - depth[ok]).max() <= 0.0005 + 1e-6
    assert np.all(back[0, :5] == 0) and back[1, 0] == 0 and back[1, 1] == 0
    assert back[1, 2] == 0  # beyond 65.535 m: dropped, not clipped (io/depth_png.py)
    import cv2

    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw[2, 3] == round(depth[2, 3] * 1000)


def test_body_pixels_are_where_the_joints_project():
    intr = Intrinsics(320, 240, 260.0, 260.0, 160.0, 120.0)
    joints = standing_pose(position=(0.4, 0.0, -0.3), facing=0.6)
    T = world_to_camera([2.5, 1.5, 2.4], [0.4, 1.0, -0.3])
    env = Environment(half_size=8.0, num_boxes=4)
    renderer = Renderer(intr, env, RenderConfig(blur_sigma=0))
    _, depth_body = renderer.render(joints, T)
    _, depth_room = renderer.render(None, T)
    body = (depth_body > 0) & ((depth_room == 0) | (depth_body < depth_room - 1e-4))
    xy, z = project(joints, intr.K, T)
    for name in ("neck", "r_shoulder", "l_shoulder", "r_elbow", "l_elbow", "r_wrist", "l_wrist",
                 "r_hip", "l_hip", "r_knee", "l_knee", "r_ankle", "l_ankle", "nose"):
        u, v = np.round(xy[J[name]]).astype(int)
        assert body[v, u], name
        # Joints are inside the limbs: the surface seen is in front of the joint, by less than 20 cm.
        assert z[J[name]] - 0.2 < depth_body[v, u] < z[J[name]] + 0.01, name
    # And the body is nowhere far from the skeleton's image.
    ys, xs = np.nonzero(body)
    lo, hi = np.nanmin(xy, 0) - 15, np.nanmax(xy, 0) + 15
    assert xs.min() >= lo[0] and xs.max() <= hi[0] and ys.min() >= lo[1] and ys.max() <= hi[1]
    assert body.sum() > 1500


def test_body_casts_a_shadow_on_the_floor_only():
    intr = Intrinsics(160, 120, 120.0, 120.0, 80.0, 60.0)
    joints = standing_pose()
    T = world_to_camera([1.5, 2.5, 2.5], [0.0, 0.3, 0.0])
    env = Environment(half_size=8.0, num_boxes=0)
    config = RenderConfig(blur_sigma=0)
    rgb_lit, depth = Renderer(intr, env, RenderConfig(blur_sigma=0, shadows=False)).render(joints, T)
    rgb_shadow, depth2 = Renderer(intr, env, config).render(joints, T)
    np.testing.assert_array_equal(depth, depth2)
    darker = rgb_shadow.astype(int).sum(2) < rgb_lit.astype(int).sum(2)
    assert darker.sum() > 30
    assert np.all(rgb_shadow <= rgb_lit)                          # shadows only darken
    # Shadowed pixels are floor points (y = 0) on the far side of the body from the light.
    ys, xs = np.nonzero(darker)
    d = depth[ys, xs]
    rays = np.stack([(xs - 80.0) / 120.0, (ys - 60.0) / 120.0, np.ones_like(d)], 1) * d[:, None]
    world = (rays - T[:3, 3]) @ T[:3, :3]
    assert np.abs(world[:, 1]).max() < 1e-3
    key = np.asarray(config.key_direction) / np.linalg.norm(config.key_direction)
    along = world[:, [0, 2]] @ key[[0, 2]] / np.linalg.norm(key[[0, 2]])   # metres toward the light
    assert along.mean() < -0.2 and along.max() < 0.2                       # (the shoes reach 0.18 m)


def test_body_mesh_follows_the_joints():
    mesh = BodyMesh()
    joints = standing_pose()
    v0 = mesh.pose(joints)
    assert v0.shape == (mesh.num_vertices, 3) and np.isfinite(v0).all()
    assert mesh.faces.max() < mesh.num_vertices and len(mesh.face_colors) == len(mesh.faces)
    # Rigid motion of the joints moves the body rigidly.
    a = 0.7
    R = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    shift = np.array([1.0, 0.0, -2.0])
    v1 = mesh.pose(joints @ R.T + shift)
    np.testing.assert_allclose(v1, v0 @ R.T + shift, atol=1e-4)
    # Feet on the floor, head at the top.
    assert -0.03 < v0[:, 1].min() < 0.05
    assert 1.7 < v0[:, 1].max() < 1.85
    tm = mesh.trimesh(joints)
    assert len(tm.faces) == len(mesh.faces) and tm.visual.face_colors.shape == (len(mesh.faces), 4)


def _tiny_scene(fps: float, frames: int, size=(160, 120)):
    """A Scene-like object: one walking-in-place figure, two cameras circling it."""
    t = np.arange(int(2 * 120)) / 120.0
    joints = np.stack([standing_pose(position=(0.3 * np.sin(s), 0, 0.0), arm_spread=0.2 + 0.2 * np.sin(3 * s))
                       for s in t])
    motion = Motion(joints, 120.0, "test")
    intr = Intrinsics(size[0], size[1], 110.0, 110.0, size[0] / 2, size[1] / 2)
    cams = []
    for k, (start, radius) in enumerate([(0.1, 3.0), (0.35, 4.0)]):
        angles = 0.5 * k + 0.05 * np.arange(frames)
        w2c = np.stack([world_to_camera([radius * np.sin(a), 1.5, radius * np.cos(a)], [0, 1.0, 0])
                        for a in angles])
        cams.append(SimpleNamespace(name=f"cam{k}", intrinsics=intr, world_to_camera=w2c,
                                    motion_start=start, fps=fps))
    return SimpleNamespace(motion=motion, cameras=cams)


def test_video_decodes_to_the_right_frames_size_and_timestamps(tmp_path):
    import av

    fps, frames = 30000 / 1001, 12
    scene = _tiny_scene(fps, frames)
    out = tmp_path / "sim"
    timings = render_scene(scene, out, RenderConfig(), progress=False)
    assert set(timings) == {"cam0", "cam1"}
    for cam in ("cam0", "cam1"):
        with av.open(str(out / "videos" / f"{cam}.mp4")) as container:
            stream = container.streams.video[0]
            assert stream.average_rate == Fraction(30000, 1001)
            decoded = list(container.decode(stream))
        assert len(decoded) == frames
        assert decoded[0].to_ndarray(format="rgb24").shape == (120, 160, 3)
        times = np.array([f.time for f in decoded])
        np.testing.assert_allclose(times - times[0], np.arange(frames) / fps, atol=1e-3)
        depth_files = sorted((out / "depth" / cam).iterdir())
        assert [p.name for p in depth_files] == [f"{i:06d}.png" for i in range(frames)]
        d = read_depth_png(depth_files[5])
        assert d.shape == (120, 160) and (d > 0).mean() > 0.5
    # Only the outputs, no temporary files left behind.
    assert sorted(p.name for p in (out / "videos").iterdir()) == ["cam0.mp4", "cam1.mp4"]
    assert sorted(p.name for p in (out / "depth").iterdir()) == ["cam0", "cam1"]
    # Existing outputs are skipped unless asked to overwrite.
    assert render_scene(scene, out, RenderConfig(), progress=False) == {}


def _decoded(path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_one_seed_renders_the_same_pixels_and_depth(tmp_path):
    # x264's macroblock tree gave different bitstreams for the same frames (up to 44 grey levels apart).
    scene = _tiny_scene(30.0, 12)
    runs = [tmp_path / f"run{k}" for k in range(3)]
    for out in runs:
        render_scene(scene, out, RenderConfig(seed=4), progress=False)
    for cam in ("cam0", "cam1"):
        first = _decoded(runs[0] / "videos" / f"{cam}.mp4")
        depth = [read_depth_png(p) for p in sorted((runs[0] / "depth" / cam).iterdir())]
        for out in runs[1:]:
            np.testing.assert_array_equal(_decoded(out / "videos" / f"{cam}.mp4"), first)
            assert (out / "videos" / f"{cam}.mp4").read_bytes() == (runs[0] / "videos" / f"{cam}.mp4").read_bytes()
            again = [read_depth_png(p) for p in sorted((out / "depth" / cam).iterdir())]
            assert len(again) == len(depth) == 12
            for a, b in zip(again, depth):
                np.testing.assert_array_equal(a, b)


def test_bad_inputs(tmp_path):
    scene = _tiny_scene(30.0, 2, size=(161, 120))
    with pytest.raises(InputError, match="161x120 must be even"):
        render_scene(scene, tmp_path / "odd", progress=False)
    assert not (tmp_path / "odd").exists()
    (tmp_path / "rgb.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="16-bit"):
        read_depth_png(tmp_path / "rgb.png")


@pytest.mark.parametrize("codec", ["libx264", "mpeg4"])
def test_video_writer_codecs(tmp_path, codec):
    import av

    frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(7)]
    with VideoWriter(tmp_path / "v.mp4", 64, 48, 25.0, RenderConfig(codec=codec)) as writer:
        for f in frames:
            writer.write(f)
    with av.open(str(tmp_path / "v.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == ("h264" if codec == "libx264" else "mpeg4")
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        assert stream.average_rate == 25
    assert len(decoded) == 7
    means = [d.mean() for d in decoded]
    np.testing.assert_allclose(means, [f.mean() for f in frames], atol=4)


def test_render_views_matches_renderer_and_room_is_shared():
    scene = _tiny_scene(30.0, 3)
    cam = scene.cameras[0]
    joints = scene.motion.at(cam.motion_start + np.arange(3) / 30.0)
    env = Environment(half_size=7.0)
    views = list(render_views(joints, cam.intrinsics, cam.world_to_camera, RenderConfig(), env))
    assert len(views) == 3
    rgb, depth = Renderer(cam.intrinsics, env, RenderConfig()).render(joints[2], cam.world_to_camera[2])
    np.testing.assert_array_equal(views[2][0], rgb)
    np.testing.assert_array_equal(views[2][1], depth)
    # The room is textured: neighbouring pixels differ, so features can be matched.
    assert rgb.std() > 20


MEDIAPIPE = {"l_shoulder": 11, "r_shoulder": 12, "l_wrist": 15, "r_wrist": 16, "l_hip": 23, "r_hip": 24,
             "l_knee": 25, "r_knee": 26, "l_ankle": 27, "r_ankle": 28}


@pytest.mark.slow
def test_mediapipe_finds_the_rendered_walker():
    """The real pose estimator detects the rendered person and its joints land near the truth."""
    mp_pose = pytest.importorskip("mediapipe").solutions.pose
    motion = load_motion(WALK)
    intr = Intrinsics(640, 480, 420.0, 420.0, 320.0, 240.0)
    times = motion.start + 1.0 + np.arange(10) * 0.2
    joints = motion.at(times)
    torso = joints[:, [J["neck"], J["r_hip"], J["l_hip"]]].mean(1)
    # A camera 3.5 m away that walks around the person (36 degrees per frame) and aims at the torso.
    w2c = np.stack([world_to_camera(c + [3.5 * np.sin(a), 0.4, 3.5 * np.cos(a)], c)
                    for c, a in zip(torso, np.radians(36.0) * np.arange(10))])
    xy, _ = project(joints, intr.K, w2c)
    assert np.all((xy > 0) & (xy < [640, 480]))                  # fully in view
    height = xy[..., 1].max(1) - xy[..., 1].min(1)                # (T,) pixels
    errors = {name: [] for name in MEDIAPIPE}
    detected = 0
    with mp_pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=False) as pose:
        for i, (rgb, _) in enumerate(render_views(joints, intr, w2c, RenderConfig())):
            result = pose.process(rgb)
            if result.pose_landmarks is None:
                continue
            detected += 1
            lm = result.pose_landmarks.landmark
            for name, k in MEDIAPIPE.items():
                errors[name].append(np.hypot(lm[k].x * 640 - xy[i, J[name], 0], lm[k].y * 480 - xy[i, J[name], 1])
                                    / height[i])
    print("detected", detected, {n: round(float(np.median(e)) * 100, 1) for n, e in errors.items()},
          "height px", np.round(height))
    assert detected >= 8, detected
    median = {name: float(np.median(e)) for name, e in errors.items()}
    for name in ("l_shoulder", "r_shoulder", "l_hip", "r_hip"):
        assert median[name] < 0.07, median             # measured 1-4 % (mediapipe's hips sit higher)
    assert np.median(list(median.values())) < 0.05, median
