"""Rendered RGB-D scenes with wide baselines, for fuse's tests and benchmarks.

Cameras stand 30-120 degrees apart around a dancing person (the packaged CMU 05_02 clip) in rooms
chosen to break registration: ``room`` (the simulator's textured room with boxes), ``symmetric``
(a square room whose walls and boxes repeat every 90 degrees: a turn of 90 or 180 degrees fits
it as well as the truth), ``open`` (no walls: a repetitive tiled floor and a few boxes) and
``plain`` (little texture). Cameras drift slowly on arcs at their own heights. The floor's pattern
and period are options (``floor``, ``floor_tile``: small-period checkers or stripes, which a shift or
turn by one period fits), and so is sensor-like depth (``depth_noise``).

Written in the simulate layout: videos/<cam>.mp4, depth/<cam>/, keypoints/<cam>/ (the true
joints projected, with pixel noise; hidden joints are kept, as detectors report them),
truth.json (+ ``joints``: the true 3D joints per reference frame, world frame) and a sync.json
with the true (zero) offsets.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import camera
from .depth_noise import DepthNoise, apply_depth_noise

LAYOUTS = ("room", "symmetric", "open", "plain")


@dataclass
class WideSceneConfig:
    layout: str = "room"                 # room | symmetric | open | plain
    separation_deg: float = 90.0         # between neighbouring cameras
    cameras: int = 2
    heights: tuple[float, ...] = (1.5,)  # camera heights (m), cycled over the cameras
    radius: float = 2.8                  # distance of the cameras from the person (m)
    instants: int = 4
    fps: float = 30.0
    step: int = 6                        # motion frames between instants
    width: int = 320
    height: int = 240
    hfov_deg: float = 75.0
    drift_deg_per_s: float = 6.0         # the cameras' slow orbit
    keypoint_noise_px: float = 1.0
    room_half_size: float = 5.0         # boxes stand within 1.65 m of the walls, clear of the cameras
    seed: int = 0
    start_deg: float = field(default=0.0)  # azimuth of the first camera
    floor: str = "tiles"                 # the floor's pattern (``render.FLOORS``): tiles | checker | stripes
    floor_tile: float = 0.5              # its tile (m; ``Environment.floor_tile``): 0.1-0.2 m repeats near the joints' bound
    floor_grain: bool = True             # False: the floor is its period alone (no aperiodic grain)
    depth_noise: DepthNoise | None = None  # sensor-like depth (``depth_noise.apply_depth_noise``, seeded); None: exact


def look_at(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(4, 4) world-to-camera (OpenCV axes, world Y up) of a camera at position looking at target."""
    R = camera.look_at(np.asarray(position, float), np.asarray(target, float))
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, -R @ position
    return T


def ring_views(azimuths_deg, width: int, height: int, layout: str = "room", radius: float = 2.8,
               hfov_deg: float = 75.0) -> tuple[np.ndarray, dict]:
    """The dancer's first pose in the wide scenes' room, rendered from cameras on a circle (1.5 m
    up, looking at the body's middle) -> K (3, 3), {"cam<k>": (rgb (H, W, 3), world_to_camera (4, 4),
    depth (H, W) metres)}: views with exact poses and depths, for depth-from-views tests."""
    from .render import Environment, RenderConfig, Renderer

    f = width / 2 / np.tan(np.radians(hfov_deg) / 2)
    K = np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1.0]])
    env = Environment((0.0, 0.0), 5.0, 4.0, 10, 0, layout=layout)
    joints = person_motion(WideSceneConfig(instants=1))[0]
    intr = {"width": width, "height": height, "fx": f, "fy": f, "cx": K[0, 2], "cy": K[1, 2]}
    shots = {}
    for k, a in enumerate(np.radians(azimuths_deg)):
        T = look_at(np.array([radius * np.sin(a), 1.5, radius * np.cos(a)]), np.array([0.0, 0.95, 0.0]))
        rgb, depth = Renderer(intr, env, RenderConfig(seed=0)).render(joints, T)
        shots[f"cam{k}"] = (rgb, T, depth)
    return K, shots


def person_motion(config: WideSceneConfig) -> np.ndarray:
    """(instants, 18, 3) joints of the packaged dance clip, centred on the room's middle."""
    from ..motion import load_motion
    from ..paths import DANCE_CLIP

    motion = load_motion(DANCE_CLIP)
    motion = motion.resample(config.fps, start=2.0)
    joints = motion.joints[::config.step][:config.instants]
    if len(joints) < config.instants:
        raise ValueError(f"the clip has only {len(joints)} instants at step {config.step}")
    centre = np.nanmean(joints[:, [8, 11]][..., [0, 2]].reshape(-1, 2), axis=0)
    return joints - np.array([centre[0], 0.0, centre[1]])


def camera_poses(config: WideSceneConfig) -> dict[str, np.ndarray]:
    """name -> (instants, 4, 4) world_to_camera: on a circle around the person, drifting slowly."""
    rng = np.random.default_rng(config.seed)
    t = np.arange(config.instants) * config.step / config.fps
    out = {}
    for k in range(config.cameras):
        base = np.radians(config.start_deg + k * config.separation_deg + rng.uniform(-3, 3))
        a = base + np.radians(config.drift_deg_per_s) * t
        h = config.heights[k % len(config.heights)]
        pos = np.stack([config.radius * np.sin(a), np.full_like(a, h), config.radius * np.cos(a)], 1)
        target = np.array([0.0, 0.95, 0.0])
        out[f"cam{k}"] = np.stack([look_at(p, target) for p in pos])
    return out


def render_wide_scene(config: WideSceneConfig, out: str | Path) -> Path:
    """Render the scene into ``out`` (see the module doc) -> path of its sync.json."""
    from ..fileio import write_json
    from ..io.openpose import write_openpose_folder
    from ..keypoints import Keypoints
    from ..schemas import SYNC, SYNC_VERSION
    from .render import Environment, RenderConfig, Renderer, VideoWriter, write_depth_png

    if config.layout not in LAYOUTS:
        raise ValueError(f"layout {config.layout!r} is not one of {LAYOUTS}")
    out = Path(out)
    rconf = RenderConfig(seed=config.seed)
    boxes = {"room": 10, "symmetric": 4, "open": 4, "plain": 2}[config.layout]
    env = Environment((0.0, 0.0), config.room_half_size, rconf.wall_height, boxes, config.seed, layout=config.layout,
                      floor=config.floor, floor_tile=config.floor_tile, floor_grain=config.floor_grain)
    f = config.width / 2 / np.tan(np.radians(config.hfov_deg) / 2)
    w, h = config.width, config.height
    intr = {"width": w, "height": h, "fx": f, "fy": f, "cx": (w - 1) / 2, "cy": (h - 1) / 2}
    K = np.array([[f, 0, intr["cx"]], [0, f, intr["cy"]], [0, 0, 1]])
    joints = person_motion(config)
    poses = camera_poses(config)
    rng = np.random.default_rng(config.seed + 1)
    sensor = np.random.default_rng([config.seed, 17])  # the depth noise's own stream: keypoints do not change with it
    cams = []
    for name, w2c in poses.items():
        renderer = Renderer(intr, env, rconf)
        (out / "videos").mkdir(parents=True, exist_ok=True)
        (out / "depth" / name).mkdir(parents=True, exist_ok=True)
        xy = np.zeros((config.instants, 18, 2))
        hidden = np.zeros((config.instants, 18), bool)
        with VideoWriter(out / "videos" / f"{name}.mp4", w, h, config.fps, rconf) as vw:
            for i in range(config.instants):
                rgb, depth = renderer.render(joints[i], w2c[i])
                vw.write(rgb)
                measured = depth if config.depth_noise is None else apply_depth_noise(depth, config.depth_noise, sensor)
                write_depth_png(out / "depth" / name / f"{i:06d}.png", measured)
                cam = joints[i] @ w2c[i][:3, :3].T + w2c[i][:3, 3]
                xy[i] = (cam @ K.T)[:, :2] / cam[:, 2:3] + rng.normal(0, config.keypoint_noise_px, (18, 2))
                hidden[i] = _behind_scene(xy[i], cam[:, 2], depth)
        inside = (xy[..., 0] >= 0) & (xy[..., 0] < w) & (xy[..., 1] >= 0) & (xy[..., 1] < h) & ~hidden
        conf = np.where(inside, 0.9, 0.0)
        write_openpose_folder(out / "keypoints" / name,
                              Keypoints(np.where(inside[..., None], xy, np.nan), conf,
                                        np.arange(config.instants) / config.fps, (w, h), name=name))
        cams.append({"name": name, "offset_seconds": 0.0, "motion_start": 0.0, "fps": config.fps,
                     "num_frames": config.instants, "intrinsics": intr, "world_to_camera": w2c.round(10).tolist(),
                     "keypoints": f"keypoints/{name}", "video": f"videos/{name}.mp4", "depth": f"depth/{name}"})
    write_json(out / "truth.json", {"schema": "synnet-recon/truth", "version": 1, "motion": "05_02.bvh",
                                    "seed": config.seed, "fps": config.fps, "seconds": config.instants / config.fps,
                                    "reference": "cam0", "cameras": cams, "joints": joints.round(6).tolist()})
    videos = [{"name": c["name"], "path": c["video"], "kind": "video", "fps": config.fps,
               "num_frames": config.instants, "offset_seconds": 0.0, "offset_frames": 0.0, "confidence": 1.0,
               "keypoints": c["keypoints"]} for c in cams]
    frames = [{"time": i / config.fps, "frames": {c["name"]: i for c in cams},
               "residual_seconds": {c["name"]: 0.0 for c in cams}} for i in range(config.instants)]
    write_json(out / "sync.json", {"schema": SYNC, "version": SYNC_VERSION, "reference": "cam0",
                                   "videos": videos, "pairs": [], "frames": frames})
    return out / "sync.json"


def _behind_scene(xy: np.ndarray, z: np.ndarray, depth: np.ndarray, margin: float = 0.35) -> np.ndarray:
    """(18,) joints hidden behind the scene (a box or wall nearer than the joint by more than the
    body's thickness): a detector does not see them. Hidden behind the person's own body, they
    stay (detectors report those)."""
    h, w = depth.shape
    u = np.clip(np.round(xy[:, 0]).astype(int), 0, w - 1)
    v = np.clip(np.round(xy[:, 1]).astype(int), 0, h - 1)
    d = depth[v, u]
    return (d > 0) & (d < z - margin)


def truth_camera_to_reference(truth: dict, frames: dict[str, int], reference: str) -> dict[str, np.ndarray]:
    """The true (4, 4) camera-to-reference of each video at an instant (its frame indices)."""
    w2c = {c["name"]: np.asarray(c["world_to_camera"]) for c in truth["cameras"]}
    return {n: w2c[reference][frames[reference]] @ np.linalg.inv(w2c[n][i]) for n, i in frames.items()}


def truth_joints_in_reference(truth: dict, frame: int, reference: str = "cam0") -> np.ndarray:
    """The true 3D joints (18, 3) of an instant in the reference camera's frame (OpenCV axes)."""
    w2c = np.asarray(next(c for c in truth["cameras"] if c["name"] == reference)["world_to_camera"])[frame]
    joints = np.asarray(truth["joints"])[frame]
    return joints @ w2c[:3, :3].T + w2c[:3, 3]
