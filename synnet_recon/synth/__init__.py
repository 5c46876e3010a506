"""Simulated moving cameras filming motion capture: SynNet's training data and the benchmarks' truth.

- ``camera``: intrinsics, hand-held / wearable camera paths, pinhole projection.
- ``noise``: a 2D pose detector's errors (jitter, misses, swaps, truncation, lost frames).
- ``scene``: multi-camera scenes with known offsets (``simulate_scene``, ``write_scene``) and the
  fast training pair samplers ``sample_pair`` and ``sample_pair_batch`` (vectorized over pairs).
- ``render``: videos and depth maps of a scene (imported only when rendering).
"""
from .camera import (
                     CameraPathConfig,
                     Intrinsics,
                     project,
                     random_intrinsics,
                     random_intrinsics_array,
                     sample_camera_path,
                     sample_camera_paths,
)
from .noise import DetectorNoise, apply_detector_noise
from .scene import (
                     PairBatch,
                     Scene,
                     SceneConfig,
                     SimCamera,
                     default_motion_path,
                     sample_pair,
                     sample_pair_batch,
                     simulate_scene,
                     write_scene,
)

__all__ = [
    "CameraPathConfig", "Intrinsics", "project", "random_intrinsics", "random_intrinsics_array",
    "sample_camera_path", "sample_camera_paths",
    "DetectorNoise", "apply_detector_noise",
    "PairBatch", "Scene", "SceneConfig", "SimCamera", "default_motion_path", "sample_pair", "sample_pair_batch",
    "simulate_scene", "write_scene",
]
