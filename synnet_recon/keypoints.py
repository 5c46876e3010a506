"""2D keypoint tracks: the data contract between pose estimation, simulation and sync."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .skeleton import NUM_JOINTS


@dataclass
class Keypoints:
    """One person's 2D COCO-18 keypoints over the frames of one video.

    xy:    (T, 18, 2) float32 pixel coordinates (x right, y down); NaN where undetected.
    conf:  (T, 18) float32 detector confidence in [0, 1]; 0 where undetected.
    times: (T,) float64 seconds of each frame on the video's own clock (first frame at times[0]).
    image_size: (width, height) in pixels.
    """

    xy: np.ndarray
    conf: np.ndarray
    times: np.ndarray
    image_size: tuple[int, int]
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.xy = np.asarray(self.xy, dtype=np.float32)
        self.conf = np.asarray(self.conf, dtype=np.float32)
        self.times = np.asarray(self.times, dtype=np.float64)
        if self.xy.ndim != 3 or self.xy.shape[1:] != (NUM_JOINTS, 2):
            raise ValueError(f"xy must be (T, {NUM_JOINTS}, 2), got {self.xy.shape}")
        if self.conf.shape != self.xy.shape[:2]:
            raise ValueError(f"conf must be {self.xy.shape[:2]}, got {self.conf.shape}")
        if self.times.shape != (len(self.xy),):
            raise ValueError(f"times must be ({len(self.xy)},), got {self.times.shape}")

    @classmethod
    def from_fps(cls, xy, conf, fps: float, image_size, name: str = "", start: float = 0.0) -> "Keypoints":
        n = len(xy)
        return cls(xy, conf, start + np.arange(n) / float(fps), image_size, name)

    def __len__(self) -> int:
        return len(self.xy)

    @property
    def fps(self) -> float:
        """Median frame rate from the timestamps."""
        if len(self.times) < 2:
            return float("nan")
        return float(1.0 / np.median(np.diff(self.times)))

    def slice(self, start: int, stop: int) -> "Keypoints":
        return Keypoints(self.xy[start:stop], self.conf[start:stop], self.times[start:stop],
                         self.image_size, self.name, dict(self.meta))
