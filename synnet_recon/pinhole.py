"""The pinhole camera model shared by the simulator, fuse and the exporters."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Intrinsics:
    """Pinhole intrinsics in pixels (OpenCV: pixel centres at integer coordinates, origin top-left).

    ``dist``: OpenCV distortion (k1, k2, p1, p2), zeros when none.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    dist: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    @property
    def K(self) -> np.ndarray:
        """(3, 3) float64 calibration matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], dtype=np.float64)

    @property
    def image_size(self) -> tuple[int, int]:
        return (int(self.width), int(self.height))

    @property
    def hfov_deg(self) -> float:
        return float(np.degrees(2.0 * np.arctan(self.width / (2.0 * self.fx))))

    @property
    def distorted(self) -> bool:
        return any(abs(d) > 0 for d in self.dist)

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float) -> "Intrinsics":
        """Square pixels, principal point at the image centre, horizontal field of view ``hfov_deg``."""
        if not 0.0 < hfov_deg < 180.0:
            raise ValueError(f"hfov_deg must be in (0, 180), got {hfov_deg}")
        f = (width / 2.0) / np.tan(np.radians(hfov_deg) / 2.0)
        return cls(int(width), int(height), float(f), float(f), width / 2.0, height / 2.0)

    def scaled(self, width: int, height: int) -> "Intrinsics":
        """The same camera at another image size (e.g. a downscaled video)."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(width, height, self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5,
                          (self.cy + 0.5) * sy - 0.5, self.dist)

    def to_dict(self) -> dict:
        d = {"width": int(self.width), "height": int(self.height), "fx": float(self.fx),
             "fy": float(self.fy), "cx": float(self.cx), "cy": float(self.cy)}
        if self.distorted:
            d["dist"] = [float(v) for v in self.dist]
        return d

    to_json = to_dict

    @classmethod
    def from_json(cls, d, where=None, context: str = "intrinsics") -> "Intrinsics":
        """{width, height, fx, fy, cx, cy[, dist]} -> Intrinsics, checked: positive whole sizes,
        positive focal lengths, finite numbers, at most 4 distortion numbers (padded with zeros).
        Anything else is an InputError naming ``where``."""
        from .errors import InputError
        from .fileio import json_field

        if not isinstance(d, dict):
            raise InputError(where, f"{context} is not an object")
        need = "intrinsics need width, height, fx, fy, cx, cy"
        if any(k not in d for k in ("width", "height", "fx", "fy", "cx", "cy")):
            raise InputError(where, f"{need} ({context} has {', '.join(sorted(map(str, d))) or 'nothing'})")
        v = {k: json_field(d, k, "number", where, context) for k in ("width", "height", "fx", "fy", "cx", "cy")}
        if not all(v[k] > 0 and v[k] == int(v[k]) for k in ("width", "height")) or not (v["fx"] > 0 and v["fy"] > 0):
            raise InputError(where, f"{context}: width, height must be positive integers and fx, fy positive")
        dist = json_field(d, "dist", "list", where, context, default=[])
        if len(dist) > 4:
            raise InputError(where, f"{context}.dist has {len(dist)} numbers, at most 4 (k1, k2, p1, p2)")
        dist = tuple(json_field({"dist": x}, "dist", "number", where, context) for x in dist)
        return cls(int(v["width"]), int(v["height"]), v["fx"], v["fy"], v["cx"], v["cy"],
                   (dist + (0.0,) * 4)[:4])

    from_dict = from_json


def rotation_angle_deg(R: np.ndarray) -> float:
    """Angle in degrees of a (3, 3) rotation (of a relative pose, e.g. estimate.T @ truth)."""
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0))))
