"""Real human motion: CMU motion capture (BVH, ASF/AMC) as 3D COCO-18 joint trajectories."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .skeleton import NUM_JOINTS


@dataclass
class Motion:
    """3D trajectories of the 18 COCO joints.

    joints: (T, 18, 3) float64 metres, Y up, floor at y=0.
    fps:    frames per second of ``joints``.
    start:  time in seconds of joints[0] on the clip's own clock.
    """

    joints: np.ndarray
    fps: float
    name: str = ""
    source: str = ""
    start: float = 0.0

    def __post_init__(self):
        self.joints = np.asarray(self.joints, dtype=np.float64)
        if self.joints.ndim != 3 or self.joints.shape[1:] != (NUM_JOINTS, 3):
            raise ValueError(f"joints must be (T, {NUM_JOINTS}, 3), got {self.joints.shape}")

    def __len__(self) -> int:
        return len(self.joints)

    @property
    def duration(self) -> float:
        """Seconds spanned from the first to the last frame."""
        return (len(self.joints) - 1) / self.fps

    @property
    def times(self) -> np.ndarray:
        return self.start + np.arange(len(self.joints)) / self.fps

    def at(self, times: np.ndarray) -> np.ndarray:
        """Joints at arbitrary times (seconds, clip clock), linearly interpolated, clamped at the ends.

        times: (N,) -> (N, 18, 3)
        """
        u = (np.asarray(times, dtype=np.float64) - self.start) * self.fps
        u = np.clip(u, 0.0, len(self.joints) - 1)
        i0 = np.floor(u).astype(int)
        i1 = np.minimum(i0 + 1, len(self.joints) - 1)
        w = (u - i0)[:, None, None]
        return (1.0 - w) * self.joints[i0] + w * self.joints[i1]

    def resample(self, fps: float, start: float | None = None, duration: float | None = None) -> "Motion":
        """Resample to ``fps``, from time ``start`` (fractional seconds allowed) for ``duration`` seconds."""
        start = self.start if start is None else float(start)
        end = self.start + self.duration if duration is None else start + duration
        n = int(np.floor((end - start) * fps + 1e-9)) + 1
        times = start + np.arange(n) / fps
        return Motion(self.at(times), fps, self.name, self.source, start)
