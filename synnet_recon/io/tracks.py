"""The keypoint tracks that sync.json's ``keypoints`` names: align's ``.npz`` or an OpenPose folder."""
from __future__ import annotations

import os
from pathlib import Path

from ..keypoints import Keypoints, read_tracks
from .openpose import read_openpose_tracks


def load_tracks(path: str | os.PathLike, fps: float | None = None) -> list[Keypoints]:
    """The keypoint tracks at ``path``, main person first: a ``keypoints.write_tracks`` .npz, or an
    OpenPose folder (``read_openpose_tracks``, frame n at n / ``fps``)."""
    path = Path(path)
    if path.is_dir():
        return read_openpose_tracks(path, fps=fps)
    return read_tracks(path)
