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
    def from_dict(cls, d: dict) -> "Intrinsics":
        dist = tuple(float(v) for v in d.get("dist", (0.0, 0.0, 0.0, 0.0)))
        return cls(int(d["width"]), int(d["height"]), float(d["fx"]), float(d["fy"]),
                   float(d["cx"]), float(d["cy"]), dist)
