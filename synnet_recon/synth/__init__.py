"""Simulated moving cameras filming motion capture: SynNet's training data and the benchmarks' truth.

- ``camera``: intrinsics, hand-held / wearable camera paths, pinhole projection.
- ``noise``: a 2D pose detector's errors (jitter, misses, swaps, truncation, lost frames).
- ``scene``: multi-camera scenes with known offsets (``simulate_scene``, ``write_scene``) and the
  fast training pair sampler ``sample_pair``.
- ``render``: videos and depth maps of a scene (imported only when rendering).
"""
from .camera import CameraPathConfig, Intrinsics, project, random_intrinsics, sample_camera_path
from .noise import DetectorNoise, apply_detector_noise
from .scene import Scene, SceneConfig, SimCamera, sample_pair, simulate_scene, write_scene

__all__ = [
    "CameraPathConfig", "Intrinsics", "project", "random_intrinsics", "sample_camera_path",
    "DetectorNoise", "apply_detector_noise",
    "Scene", "SceneConfig", "SimCamera", "sample_pair", "simulate_scene", "write_scene",
]
