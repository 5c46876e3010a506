"""Keypoint layouts of common 2D pose detectors, mapped onto the COCO-18 joints of skeleton.py.

A mapping is a tuple of 18 entries (COCO-18 order); each entry is a tuple of source indices whose
mean is the COCO-18 joint (one index: a direct copy; two: a midpoint, e.g. the neck as the middle
of the shoulders). A joint is missing (NaN, confidence 0) when any of its sources is missing.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..skeleton import NUM_JOINTS

Mapping = tuple[tuple[int, ...], ...]

# OpenPose COCO (18): already our layout.
COCO18_IDENTITY: Mapping = tuple((i,) for i in range(NUM_JOINTS))

# OpenPose BODY_25: 0 Nose, 1 Neck, 2-4 R arm, 5-7 L arm, 8 MidHip, 9-11 R leg, 12-14 L leg,
# 15 REye, 16 LEye, 17 REar, 18 LEar, 19-24 feet. COCO-18 is BODY_25 without MidHip and feet.
COCO18_FROM_BODY25: Mapping = tuple((i,) for i in (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18))

# MS-COCO 17 (also the first 17 points of OpenPose BODY_25B): 0 Nose, 1 LEye, 2 REye, 3 LEar,
# 4 REar, 5 LShoulder, 6 RShoulder, 7 LElbow, 8 RElbow, 9 LWrist, 10 RWrist, 11 LHip, 12 RHip,
# 13 LKnee, 14 RKnee, 15 LAnkle, 16 RAnkle. No neck: OpenPose COCO's neck is the shoulders' middle.
COCO18_FROM_COCO17: Mapping = (
    (0,), (5, 6),
    (6,), (8,), (10,), (5,), (7,), (9,),
    (12,), (14,), (16,), (11,), (13,), (15,),
    (2,), (1,), (4,), (3,),
)

# OpenPose BODY_25B (experimental models): COCO-17 order, then 17 UpperNeck, 18 HeadTop,
# 19-21 L big toe/small toe/heel, 22-24 right. Its UpperNeck sits above the shoulders, so the
# COCO-18 neck is taken as the shoulders' middle, as for COCO-17.
COCO18_FROM_BODY25B: Mapping = COCO18_FROM_COCO17

# MediaPipe Pose (33 landmarks): 0 nose, 2 left eye, 5 right eye, 7 left ear, 8 right ear,
# 11/12 left/right shoulder, 13/14 elbows, 15/16 wrists, 23/24 hips, 25/26 knees, 27/28 ankles.
COCO18_FROM_MEDIAPIPE33: Mapping = (
    (0,), (11, 12),
    (12,), (14,), (16,), (11,), (13,), (15,),
    (24,), (26,), (28,), (23,), (25,), (27,),
    (5,), (2,), (8,), (7,),
)

FORMATS: dict[str, tuple[int, Mapping]] = {
    "coco18": (18, COCO18_IDENTITY),
    "coco17": (17, COCO18_FROM_COCO17),
    "body25": (25, COCO18_FROM_BODY25),
    "body25b": (25, COCO18_FROM_BODY25B),
    "mediapipe33": (33, COCO18_FROM_MEDIAPIPE33),
}


def to_coco18(keypoints: np.ndarray, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """Map detector keypoints onto COCO-18.

    keypoints: (T, K, 3) x, y, confidence (or visibility) in format ``fmt`` (a key of FORMATS);
    a point counts as detected when its confidence is > 0 and x, y are finite.
    Returns xy (T, 18, 2) float32 with NaN where missing, conf (T, 18) float32 with 0 where missing.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown keypoint format {fmt!r}; known: {', '.join(FORMATS)}")
    n_points, mapping = FORMATS[fmt]
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (n_points, 3):
        raise ValueError(f"{fmt} keypoints must be (T, {n_points}, 3), got {kp.shape}")
    valid = (kp[..., 2] > 0) & np.isfinite(kp).all(axis=-1)
    xy = np.full(kp.shape[:1] + (NUM_JOINTS, 2), np.nan)
    conf = np.zeros(kp.shape[:1] + (NUM_JOINTS,))
    for j, sources in enumerate(mapping):
        src = list(sources)
        ok = valid[:, src].all(axis=1)
        xy[ok, j] = kp[ok][:, src, :2].mean(axis=1)
        conf[ok, j] = kp[ok][:, src, 2].min(axis=1)
    return xy.astype(np.float32), conf.astype(np.float32)


def _nose_distance(kp: np.ndarray, points: list[int]) -> np.ndarray:
    """Mean distance of ``points`` to point 0 (the nose in every OpenPose model), divided by the
    person's bounding-box diagonal; (N, K, 3) -> (N,), NaN where nothing can be measured."""
    valid = kp[..., 2] > 0
    xy = np.where(valid[..., None], kp[..., :2], np.nan)
    # fmax/fmin skip NaN and counts replace nanmean: no "empty slice" warnings for a person unseen
    size = np.linalg.norm(np.fmax.reduce(xy, axis=1) - np.fmin.reduce(xy, axis=1), axis=1)
    d = np.linalg.norm(xy[:, points] - xy[:, :1], axis=2)
    seen = np.isfinite(d)
    count = seen.sum(axis=1)
    mean = np.where(count > 0, np.where(seen, d, 0.0).sum(axis=1) / np.maximum(count, 1), np.nan)
    return mean / np.maximum(size, 1e-6)


def guess_openpose_25(keypoints: np.ndarray) -> str:
    """Tell BODY_25 from BODY_25B for (N, 25, 3) OpenPose points: "body25" or "body25b".

    Both models put the nose at 0. Points 15, 16 are the eyes in BODY_25 but the ankles in
    BODY_25B; points 1, 2 are the neck and right shoulder in BODY_25 but the eyes in BODY_25B.
    So, measured from the nose in units of the person's size (rotation and scale invariant):
    BODY_25 has 15/16 close (~0.03) and 1/2 farther (~0.15); BODY_25B has 15/16 far (~0.8) and
    1/2 close. Medians over all detections decide; BODY_25 (OpenPose's default) when nothing can
    be measured.
    """
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 25, 3)
    kp = kp[(kp[..., 2] > 0).any(axis=1)]
    if not len(kp):
        return "body25"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices where nothing is measurable
        far = np.nanmedian(_nose_distance(kp, [15, 16]))   # eyes (25) or ankles (25B)
        near = np.nanmedian(_nose_distance(kp, [1, 2]))    # neck/shoulder (25) or eyes (25B)
    if np.isnan(far) and np.isnan(near):
        return "body25"
    if np.isnan(near):
        return "body25" if far < 0.3 else "body25b"
    if np.isnan(far):
        return "body25b" if near < 0.07 else "body25"
    return "body25" if far < near else "body25b"
