"""Image features: SIFT matches between two colour images (OpenCV contrib, from mediapipe's cv2)."""
from __future__ import annotations

import numpy as np


def sift_matches(img1: np.ndarray, img2: np.ndarray, max_features: int = 0, ratio: float = 0.8,
                 contrast_threshold: float = 0.01):
    """(N, 2), (N, 2) matched pixel coordinates by SIFT + Lowe's ratio test.

    A low contrast threshold (OpenCV's default is 0.04) finds enough features on the weak textures
    of rendered rooms and indoor scenes for wide-baseline pairs.
    """
    import cv2

    sift = cv2.SIFT_create(nfeatures=max_features, contrastThreshold=contrast_threshold)
    g1 = cv2.cvtColor(img1, cv2.COLOR_RGB2GRAY)
    g2 = cv2.cvtColor(img2, cv2.COLOR_RGB2GRAY)
    k1, d1 = sift.detectAndCompute(g1, None)
    k2, d2 = sift.detectAndCompute(g2, None)
    if d1 is None or d2 is None or len(k1) < 8 or len(k2) < 8:
        return np.zeros((0, 2)), np.zeros((0, 2))
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(d1, d2, k=2)
    good = [m for m, n in (p for p in pairs if len(p) == 2) if m.distance < ratio * n.distance]
    p1 = np.float64([k1[m.queryIdx].pt for m in good]).reshape(-1, 2)
    p2 = np.float64([k2[m.trainIdx].pt for m in good]).reshape(-1, 2)
    return p1, p2
