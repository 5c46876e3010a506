"""The person at a synchronized instant: 2D joints of a view (``Keypoints.at_frame``), lifted to 3D
with its depth."""
from __future__ import annotations

import numpy as np

from .lift import backproject


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
