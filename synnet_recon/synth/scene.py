"""A simulated multi-camera recording of real motion capture, with the truth kept.

Several independently moving cameras film one person (a CMU mocap clip). Every camera records an
equally long window of the clip, starting at a known, possibly sub-frame offset; its 2D keypoints
carry realistic detector noise. ``sample_pair`` is the fast path that feeds SynNet training.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..keypoints import Keypoints
from ..motion import Motion
from ..paths import PACKAGE_DATA, shared_data_dir
from ..schemas import TRUTH as TRUTH_SCHEMA
from ..schemas import TRUTH_VERSION
from ..skeleton import JOINT_INDEX
from .camera import (
    CameraPathConfig,
    Intrinsics,
    project,
    random_intrinsics,
    random_intrinsics_array,
    sample_camera_paths,
)
from .noise import DetectorNoise, apply_detector_noise

TORSO_JOINTS = np.array([JOINT_INDEX["neck"], JOINT_INDEX["r_hip"], JOINT_INDEX["l_hip"]])
# Default clips: a dance from the shared data when present, else the walk shipped in the package.
SHARED_DEFAULT_MOTION = Path("mocap") / "cmu_bvh_mb" / "05_18.bvh"
PACKAGED_MOTION = PACKAGE_DATA / "mocap" / "131_02.bvh"


@dataclass
class SceneConfig:
    """What to simulate. Times in seconds; ``motion`` None picks ``default_motion_path()``."""

    cameras: int = 3
    seconds: float = 6.0
    fps: float = 30.0
    max_offset: float = 2.0  # offsets of cam1.. relative to cam0 are uniform in [-max_offset, max_offset]
    motion: str | None = None
    seed: int = 0
    width: int = 640
    height: int = 480
    noise: float = 1.0  # DetectorNoise.level
    camera_path: CameraPathConfig = field(default_factory=CameraPathConfig)

    @property
    def num_frames(self) -> int:
        return int(round(self.seconds * self.fps))


@dataclass
class SimCamera:
    """One simulated camera. Arrays are per frame of this camera (T = num_frames).

    keypoints: noisy detections, times on the camera's own clock (first frame at 0).
    clean_xy: (T, 18, 2) exact projections (NaN behind the camera); depth: (T, 18) camera z, metres.
    world_to_camera: (T, 4, 4). motion_start: clip time of frame 0. offset_seconds: reference-clock
    time of frame 0 (cam0 = 0).
    """

    name: str
    intrinsics: Intrinsics
    world_to_camera: np.ndarray
    motion_start: float
    offset_seconds: float
    fps: float
    keypoints: Keypoints
    clean_xy: np.ndarray
    depth: np.ndarray

    @property
    def num_frames(self) -> int:
        return len(self.world_to_camera)

    @property
    def motion_times(self) -> np.ndarray:
        """(T,) clip times of the frames."""
        return self.motion_start + np.arange(self.num_frames) / self.fps


@dataclass
class Scene:
    """A motion clip filmed by several simulated cameras; cam0 is the reference clock."""

    motion: Motion
    motion_path: str
    config: SceneConfig
    cameras: list[SimCamera]

    def camera(self, name: str) -> SimCamera:
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise KeyError(name)

    def truth(self, rendered: bool = False) -> dict:
        """The truth.json dictionary (docs/formats.md); video/depth entries are None unless rendered."""
        cams = []
        for cam in self.cameras:
            cams.append({
                "name": cam.name,
                "offset_seconds": float(cam.offset_seconds),
                "motion_start": float(cam.motion_start),
                "fps": float(cam.fps),
                "num_frames": int(cam.num_frames),
                "intrinsics": cam.intrinsics.to_dict(),
                "world_to_camera": np.round(cam.world_to_camera, 9).tolist(),
                "keypoints": f"keypoints/{cam.name}",
                "video": f"videos/{cam.name}.mp4" if rendered else None,
                "depth": f"depth/{cam.name}" if rendered else None,
            })
        return {
            "schema": TRUTH_SCHEMA, "version": TRUTH_VERSION,
            "motion": self.motion_path, "seed": int(self.config.seed),
            "fps": float(self.config.fps), "seconds": float(self.config.seconds),
            "reference": self.cameras[0].name,
            "cameras": cams,
        }


def default_motion_path() -> Path:
    """The default clip: a CMU dance from ../shared/data when present, else the packaged CMU walk."""
    shared = shared_data_dir()
    if shared is not None and (shared / SHARED_DEFAULT_MOTION).is_file():
        return shared / SHARED_DEFAULT_MOTION
    return PACKAGED_MOTION


def load_scene_motion(path: str | Path | None) -> tuple[Motion, str]:
    """Load ``path`` (or the default clip) as a Motion; returns (motion, path as text)."""
    from ..motion import load_motion  # written alongside; imported lazily

    path = Path(path) if path is not None else default_motion_path()
    if not path.exists():
        raise InputError(path, "motion file not found")
    return load_motion(path), str(path)


def subject_track(joints: np.ndarray) -> np.ndarray:
    """Torso centre (mean of neck and hips). joints: (..., 18, 3) -> (..., 3)."""
    return joints[..., TORSO_JOINTS, :].mean(axis=-2)


def film_batch(joints: np.ndarray, times: np.ndarray, K: np.ndarray, image_size: np.ndarray,
               camera_config: CameraPathConfig | None, noise: DetectorNoise | None, rng: np.random.Generator):
    """Film B clips of 3D joints, each with its own moving camera and noisy detector.

    joints: (B, T, 18, 3) world; times: (T,) seconds; K: (B, 3, 3); image_size: (B, 2).
    Returns (world_to_camera (B, T, 4, 4), clean_xy (B, T, 18, 2), depth (B, T, 18),
    noisy_xy (B, T, 18, 2) float32, conf (B, T, 18) float32).
    """
    world_to_camera = sample_camera_paths(subject_track(joints), times, camera_config, rng)
    clean_xy, depth = project(joints, K[:, None], world_to_camera)
    noisy_xy, conf = apply_detector_noise(clean_xy, depth, image_size, noise, rng)
    return world_to_camera, clean_xy, depth, noisy_xy, conf


def film(joints: np.ndarray, times: np.ndarray, intrinsics: Intrinsics, camera_config: CameraPathConfig | None,
         noise: DetectorNoise | None, rng: np.random.Generator):
    """Film 3D joints with one moving camera and a noisy detector.

    joints: (T, 18, 3) world; times: (T,) seconds. Returns (world_to_camera (T, 4, 4),
    clean_xy (T, 18, 2), depth (T, 18), noisy_xy (T, 18, 2) float32, conf (T, 18) float32).
    """
    out = film_batch(joints[None], times, intrinsics.K[None], np.array([intrinsics.image_size]),
                     camera_config, noise, rng)
    return tuple(a[0] for a in out)


def sample_offsets(n_cameras: int, max_offset: float, slack: float, rng: np.random.Generator,
                   tries: int = 4096) -> np.ndarray | None:
    """Offsets (n_cameras,) with cam0 = 0 and the others uniform in [-max_offset, max_offset],
    conditioned on their spread (max - min) being at most ``slack``. None if that is (nearly) impossible."""
    if n_cameras < 2:
        return np.zeros(n_cameras)
    cand = rng.uniform(-max_offset, max_offset, size=(tries, n_cameras - 1))
    cand = np.concatenate([np.zeros((tries, 1)), cand], axis=1)
    ok = np.flatnonzero(cand.max(axis=1) - cand.min(axis=1) <= slack + 1e-12)
    return cand[ok[0]] if len(ok) else None


def simulate_scene(config: SceneConfig, motion: Motion | None = None) -> Scene:
    """Simulate ``config.cameras`` moving cameras filming one motion clip.

    ``motion`` overrides ``config.motion`` (already loaded clips, tests). Raises InputError when the
    clip is too short for the windows and offsets asked for (clips are never looped).
    """
    if config.cameras < 1:
        raise InputError(None, f"need at least 1 camera, got {config.cameras}")
    n = config.num_frames
    if n < 2 or config.fps <= 0:
        raise InputError(None, f"{config.seconds} s at {config.fps} fps is fewer than 2 frames")
    if motion is None:
        motion, motion_path = load_scene_motion(config.motion)
    else:
        motion_path = motion.source or config.motion or motion.name
    rng = np.random.default_rng(config.seed)
    window = (n - 1) / config.fps
    slack = motion.duration - window
    offsets = sample_offsets(config.cameras, config.max_offset, slack, rng) if slack >= 0 else None
    if offsets is None:
        need = config.seconds + (2 * config.max_offset if config.cameras > 1 else 0.0)
        raise InputError(motion_path, f"motion clip is {motion.duration:.2f} s long, too short for "
                                      f"{config.cameras} windows of {config.seconds:g} s with offsets up to "
                                      f"±{config.max_offset:g} s (up to {need:g} s needed; clips are not looped); "
                                      f"use a longer clip or lower --seconds / --max-offset")
    # cam0's first frame, on the clip clock, so that every window lies inside the clip.
    lo = motion.start - offsets.min()
    hi = motion.start + slack - offsets.max()
    start0 = rng.uniform(lo, max(lo, hi))

    noise = DetectorNoise(level=config.noise)
    path_config = config.camera_path
    if (path_config.width, path_config.height) != (config.width, config.height):
        from dataclasses import replace
        path_config = replace(path_config, width=config.width, height=config.height)
    frame_times = np.arange(n) / config.fps
    cameras = []
    for k, offset in enumerate(offsets):
        name = f"cam{k}"
        start = start0 + offset
        times = start + frame_times
        joints = motion.at(times)
        intrinsics = random_intrinsics(rng, path_config)
        w2c, clean_xy, depth, noisy_xy, conf = film(joints, times, intrinsics, path_config, noise, rng)
        kp = Keypoints(noisy_xy, conf, frame_times.copy(), intrinsics.image_size, name,
                       {"motion_start": float(start), "offset_seconds": float(offset)})
        cameras.append(SimCamera(name, intrinsics, w2c, float(start), float(offset), float(config.fps),
                                 kp, clean_xy, depth))
    return Scene(motion, motion_path, config, cameras)


def read_truth(path: str | Path) -> dict:
    """truth.json (``Scene.truth``, written by ``write_scene``) -> its dict, checked: schema, version,
    fps, reference, and every camera's name, offset, fps, num_frames, intrinsics and one
    ``world_to_camera`` per frame. A malformed file is one InputError naming it."""
    from ..fileio import json_field, read_schema_json
    from ..pinhole import Intrinsics

    path = Path(path)
    data = read_schema_json(path, TRUTH_SCHEMA)
    json_field(data, "fps", "number", path)
    cams = json_field(data, "cameras", "list", path)
    if not cams:
        raise InputError(path, "truth.json has no cameras")
    for k, cam in enumerate(cams):
        where = f"cameras[{k}]"
        if not isinstance(cam, dict):
            raise InputError(path, f"{where} is not an object")
        json_field(cam, "name", "str", path, where)
        json_field(cam, "offset_seconds", "number", path, where)
        json_field(cam, "fps", "number", path, where)
        n = json_field(cam, "num_frames", "int", path, where)
        Intrinsics.from_json(json_field(cam, "intrinsics", "dict", path, where), path, f"{where}.intrinsics")
        w2c = json_field(cam, "world_to_camera", "list", path, where)
        try:
            ok = np.asarray(w2c, dtype=np.float64).shape == (n, 4, 4)
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise InputError(path, f"{where}.world_to_camera must hold {n} 4x4 matrices of numbers")
        for key in ("keypoints", "video", "depth"):
            json_field(cam, key, "str?", path, where, default=None)
    if json_field(data, "reference", "str", path) not in [c["name"] for c in cams]:
        raise InputError(path, f"reference {data['reference']!r} is not one of the cameras")
    return data


def write_scene(scene: Scene, out_dir: str | Path, render: bool = False, render_config=None) -> Path:
    """Write ``truth.json`` and ``keypoints/<cam>/`` OpenPose folders (plus videos and depth when
    ``render``) into ``out_dir`` atomically: it appears complete or not at all."""
    from ..fileio import atomic_dir, write_json
    from ..io.openpose import write_openpose_folder

    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        for cam in scene.cameras:
            write_openpose_folder(tmp / "keypoints" / cam.name, cam.keypoints, cam.name)
        if render:
            from .render import RenderConfig, render_scene  # the renderer is heavy: import only when asked
            render_scene(scene, tmp, render_config or RenderConfig(seed=scene.config.seed))
        write_json(tmp / "truth.json", scene.truth(rendered=render))
    return out_dir


@dataclass
class PairBatch:
    """N training pairs: two independent moving cameras filming the same person.

    xy: (N, 2, T, 18, 2) float32 pixels, NaN where missing; conf: (N, 2, T, 18) float32;
    image_size: (N, 2, 2) (width, height) of each camera; offset_frames: (N,) frames by which
    camera 1 starts after camera 0; motion_start: (N, 2) clip time of each first frame.
    """

    xy: np.ndarray
    conf: np.ndarray
    image_size: np.ndarray
    offset_frames: np.ndarray
    motion_start: np.ndarray


def sample_pair_batch(motion: Motion, n_pairs: int, n_frames: int, fps: float, offset_frames,
                      rng: np.random.Generator, noise: DetectorNoise | None = None,
                      camera_config: CameraPathConfig | None = None) -> PairBatch:
    """``n_pairs`` training pairs at once (vectorized; see ``sample_pair``).

    offset_frames: scalar or (n_pairs,) frames (fractional allowed) by which camera 1 starts after
    camera 0 on the shared clock.
    """
    offsets = np.broadcast_to(np.asarray(offset_frames, dtype=np.float64), (n_pairs,))
    window = (n_frames - 1) / fps
    shift = offsets / fps
    lo = motion.start + np.maximum(0.0, -shift)
    hi = motion.start + motion.duration - window - np.maximum(0.0, shift)
    if np.any(hi < lo):
        worst = float(offsets[np.argmax(lo - hi)])
        raise InputError(motion.source or motion.name or None,
                         f"motion clip is {motion.duration:.2f} s long, too short for two {n_frames}-frame "
                         f"clips at {fps:g} fps offset by {worst:g} frames")
    start_a = rng.uniform(lo, hi)
    starts = np.stack([start_a, start_a + shift], axis=1)  # (N, 2)
    frame_times = np.arange(n_frames) / fps
    joints = motion.at((starts[..., None] + frame_times).reshape(-1))
    joints = joints.reshape(2 * n_pairs, n_frames, *joints.shape[1:])
    K, size = random_intrinsics_array(rng, 2 * n_pairs, camera_config)
    _, _, _, xy, conf = film_batch(joints, frame_times, K, size, camera_config, noise, rng)
    return PairBatch(xy.reshape(n_pairs, 2, *xy.shape[1:]), conf.reshape(n_pairs, 2, *conf.shape[1:]),
                     size.reshape(n_pairs, 2, 2), offsets.copy(), starts)


def sample_pair(motion: Motion, n_frames: int, fps: float, offset_frames: float, rng: np.random.Generator,
                noise: DetectorNoise | None = None, camera_config: CameraPathConfig | None = None,
                ) -> tuple[Keypoints, Keypoints]:
    """Two independent moving cameras filming the same person, for training.

    Both clips have ``n_frames`` frames at ``fps``; b's first frame is ``offset_frames`` frames
    (fractional allowed) after a's on the shared clock. Keypoints times start at 0 on each clip's
    own clock; ``meta`` holds ``motion_start`` and ``offset_frames``. For many pairs at once use
    ``sample_pair_batch``.
    """
    batch = sample_pair_batch(motion, 1, n_frames, fps, offset_frames, rng, noise, camera_config)
    out = []
    for i, name in enumerate(("a", "b")):
        out.append(Keypoints(batch.xy[0, i], batch.conf[0, i], np.arange(n_frames) / fps,
                             tuple(int(v) for v in batch.image_size[0, i]), name,
                             {"motion_start": float(batch.motion_start[0, i]),
                              "offset_frames": float(offset_frames) if i else 0.0}))
    return out[0], out[1]
