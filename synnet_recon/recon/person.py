"""The person at a synchronized instant: 2D joints of a view, lifted to 3D with its depth."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .lift import backproject


def read_openpose_frame(folder: Path, index: int) -> np.ndarray | None:
    """(18, 3) x, y, confidence of the first person in frame ``index`` of an OpenPose folder."""
    hits = sorted(folder.glob(f"*_{index:012d}_keypoints.json"))
    if not hits:
        return None
    people = json.loads(hits[0].read_text(encoding="utf-8")).get("people", [])
    if not people:
        return None
    kp = np.asarray(people[0].get("pose_keypoints_2d", []), dtype=np.float64)
    if kp.size < 54:
        return None
    return kp[:54].reshape(18, 3)


def lift_keypoints(keypoints: np.ndarray, depth: np.ndarray, K: np.ndarray, min_conf: float = 0.3,
                   window: int = 2) -> np.ndarray:
    """keypoints (J, 3) x, y, confidence + depth (H, W) -> (J, 3) camera points, NaN where unknown.

    The depth of a joint is the median of the valid depths in a (2 window + 1)^2 patch around it.
    """
    z = np.full(len(keypoints), np.nan)
    h, w = depth.shape
    for j, (x, y, c) in enumerate(keypoints):
        if c < min_conf or not np.isfinite(x + y):
            continue
        u, v = int(round(x)), int(round(y))
        patch = depth[max(v - window, 0):v + window + 1, max(u - window, 0):u + window + 1]
        valid = patch[patch > 0]
        if valid.size:
            z[j] = float(np.median(valid))
    out = np.full((len(keypoints), 3), np.nan)
    known = np.isfinite(z)
    out[known] = backproject(keypoints[known, :2], z[known], K)
    return out
