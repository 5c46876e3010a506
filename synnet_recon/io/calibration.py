"""Camera calibration TOML files as Pose2Sim and caliscope write them (one reader).

Both write one table per camera (``[cam_01]``, ``[cam_1]``...) with ``size`` = [width, height],
``matrix`` (3x3 K), ``distortions`` (OpenCV k1, k2, p1, p2[, k3]), ``rotation`` (Rodrigues vector)
and ``translation``: the OpenCV world-to-camera extrinsics, in metres. Tables without a
``matrix`` (Pose2Sim's ``[metadata]``) are not cameras; caliscope marks unused cameras
``ignore = true`` and they are skipped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..pinhole import Intrinsics


@dataclass
class CameraCalibration:
    """One calibrated camera. world_to_camera: (4, 4) OpenCV (x right, y down, z forward)."""

    name: str
    K: np.ndarray
    dist: np.ndarray
    size: tuple[int, int]
    world_to_camera: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def intrinsics(self) -> Intrinsics:
        d = tuple(float(v) for v in self.dist[:4]) + (0.0,) * max(0, 4 - len(self.dist))
        return Intrinsics(self.size[0], self.size[1], float(self.K[0, 0]), float(self.K[1, 1]),
                          float(self.K[0, 2]), float(self.K[1, 2]), d)

    @property
    def center(self) -> np.ndarray:
        """(3,) camera position in the world."""
        R, t = self.world_to_camera[:3, :3], self.world_to_camera[:3, 3]
        return -R.T @ t


def _array(table: dict, key: str, shape: tuple, path, cam: str) -> np.ndarray:
    try:
        a = np.asarray(table[key], dtype=np.float64)
    except KeyError:
        raise InputError(path, f"[{cam}] has no {key!r}") from None
    except (TypeError, ValueError):
        raise InputError(path, f"[{cam}].{key} is not numeric") from None
    if shape and a.shape != shape or not np.isfinite(a).all():
        raise InputError(path, f"[{cam}].{key} must be {'x'.join(map(str, shape)) or 'a list of'} finite numbers")
    return a


def read_calibration_toml(path: str | Path) -> dict[str, CameraCalibration]:
    """Cameras of a Pose2Sim or caliscope calibration TOML, by table name, in file order."""
    import cv2

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a valid TOML file ({str(exc).splitlines()[0]})") from None
    cameras = {}
    for name, table in data.items():
        if not isinstance(table, dict) or "matrix" not in table or table.get("ignore") is True:
            continue
        K = _array(table, "matrix", (3, 3), path, name)
        dist = _array(table, "distortions", (), path, name).ravel()
        rvec = _array(table, "rotation", (3,), path, name)
        tvec = _array(table, "translation", (3,), path, name)
        size = _array(table, "size", (2,), path, name)
        if dist.size not in (4, 5, 8) or K[0, 0] <= 0 or K[1, 1] <= 0 or (size <= 0).any():
            raise InputError(path, f"[{name}]: bad intrinsics (4, 5 or 8 distortions, positive focal and size)")
        W = np.eye(4)
        W[:3, :3] = cv2.Rodrigues(rvec)[0]
        W[:3, 3] = tvec
        meta = {k: v for k, v in table.items() if isinstance(v, (str, int, float, bool)) and not (
            isinstance(v, float) and not math.isfinite(v))}
        cameras[name] = CameraCalibration(str(table.get("name", name)), K, dist,
                                          (int(round(size[0])), int(round(size[1]))), W, meta)
    if not cameras:
        raise InputError(path, "no camera tables (with a 'matrix') in the calibration file")
    return cameras
