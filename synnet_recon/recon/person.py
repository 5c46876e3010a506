"""The person at a synchronized instant: a view's 2D joints lifted to joint centres with its depth,
and the points of its cloud that are the person (those near the lifted skeleton's bones)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton import LIMBS, NUM_JOINTS
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


# Distance (metres) from the skin a camera sees at a joint's pixel to the joint centre behind it:
# the half-thickness of the body part there (face landmarks lie on the skin). Lifted joints are
# pushed this far along their viewing ray, so views from opposite sides meet at the joint.
JOINT_DEPTH_OFFSET = np.array([
    0.0, 0.05,                # nose, neck
    0.06, 0.045, 0.035,       # r_shoulder, r_elbow, r_wrist
    0.06, 0.045, 0.035,       # l_shoulder, l_elbow, l_wrist
    0.10, 0.06, 0.045,        # r_hip, r_knee, r_ankle
    0.10, 0.06, 0.045,        # l_hip, l_knee, l_ankle
    0.0, 0.0, 0.0, 0.0,       # eyes, ears
])
# Bones whose neighbourhood is the person (COCO-18 limbs plus the torso's sides and hips) and the
# radius around each that holds the body's points (metres).
BODY_BONES = LIMBS + ((2, 8), (5, 11), (8, 11), (2, 5))
_TORSO = {(1, 2), (1, 5), (1, 8), (1, 11), (2, 8), (5, 11), (8, 11), (2, 5)}
_HEAD = {(1, 0), (0, 14), (14, 16), (0, 15), (15, 17)}
BONE_RADIUS = np.array([0.22 if b in _TORSO else 0.2 if b in _HEAD else 0.16 for b in BODY_BONES])


@dataclass
class PersonConfig:
    """How the person is found in a view: 2D joints -> 3D joints -> the points around them."""

    min_confidence: float = 0.3     # 2D joints less confident than this are not used
    window: int = 2                 # depth of a joint: median over a (2 window + 1)^2 patch
    max_depth_spread: float = 0.8   # lifted joints farther than this (m) from the joints' median depth are dropped
    bone_margin: float = 1.0        # factor on BONE_RADIUS for the body's points


def lift_joints(keypoints: np.ndarray | None, depth: np.ndarray, K: np.ndarray,
                config: PersonConfig | None = None) -> np.ndarray:
    """A view's 2D joints (18, 3) x, y, confidence + its depth (H, W) -> (18, 3) joint centres in its
    camera frame (NaN where unknown): lifted at the joint's pixel, pushed behind the skin by
    ``JOINT_DEPTH_OFFSET``; joints whose depth is far from the others' (background behind a thin
    limb) are dropped."""
    config = config or PersonConfig()
    if keypoints is None:
        return np.full((NUM_JOINTS, 3), np.nan)
    pts = lift_keypoints(keypoints, depth, K, config.min_confidence, config.window)
    z = pts[:, 2]
    known = np.isfinite(z)
    if known.sum() >= 3:
        far = known & (np.abs(z - np.median(z[known])) > config.max_depth_spread)
        pts[far] = np.nan
    rays = pts / np.linalg.norm(pts, axis=1, keepdims=True)
    return pts + rays * JOINT_DEPTH_OFFSET[:len(pts), None]


def _to_segment(points: np.ndarray, pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """(N,) distance of points (N, 3) to the segment pa-pb."""
    ab = pb - pa
    t = np.clip((points - pa) @ ab / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(points - pa - t[:, None] * ab, axis=1)


def distance_to_bones(points: np.ndarray, joints: np.ndarray, bones=BODY_BONES) -> np.ndarray:
    """points (N, 3), joints (18, 3) (NaN = unknown) -> (N, B) distance of each point to each bone
    segment (inf where a bone's end is unknown)."""
    out = np.full((len(points), len(bones)), np.inf)
    for k, (a, b) in enumerate(bones):
        pa, pb = joints[a], joints[b]
        if np.isfinite(pa).all() and np.isfinite(pb).all():
            out[:, k] = _to_segment(points, pa, pb)
    return out


def person_box(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(lo (3,), hi (3,)): the box around the known joints (18, 3) (NaN = unknown), 0.35 m wider on
    every side, outside which ``person_points`` takes no point; None without any known joint."""
    known = np.isfinite(joints).all(1)
    if not known.any():
        return None
    return joints[known].min(0) - 0.35, joints[known].max(0) + 0.35


def pixels_near_person(u: np.ndarray, v: np.ndarray, z: np.ndarray, K: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(N,) bool: the pixels (u, v) (N,) at depths z (N,) metres (camera K (3, 3)) whose points can
    lie inside ``person_box`` (a superset, by 1e-6 m: the points are not built here), so that only
    those need back-projecting before ``person_points``; all False without any known joint."""
    box = person_box(joints)
    if box is None:
        return np.zeros(len(z), bool)
    (lo, hi), eps = box, 1e-6
    z = np.asarray(z, dtype=np.float64)
    x = (np.asarray(u, dtype=np.float64) - K[0, 2]) / K[0, 0] * z
    y = (np.asarray(v, dtype=np.float64) - K[1, 2]) / K[1, 1] * z
    return ((z >= lo[2] - eps) & (z <= hi[2] + eps) & (x >= lo[0] - eps) & (x <= hi[0] + eps)
            & (y >= lo[1] - eps) & (y <= hi[1] + eps))


def person_points(points: np.ndarray, joints: np.ndarray, config: PersonConfig | None = None) -> np.ndarray:
    """(N,) bool: the points (N, 3) of a view's cloud that belong to the person whose joint centres
    are ``joints`` (18, 3), same frame: within ``BONE_RADIUS`` of a bone (or of a lone known joint).
    Each bone measures only the points in its own box (the segment's, grown by its radius) not
    already taken: a point outside that box is farther than the radius from the bone."""
    config = config or PersonConfig()
    known = np.isfinite(joints).all(1)
    box = person_box(joints)
    if len(points) == 0 or box is None:
        return np.zeros(len(points), bool)
    lo, hi = box   # cheap box first
    near = np.flatnonzero(((points >= lo) & (points <= hi)).all(1))
    sub = points[near]
    hit = np.zeros(len(near), bool)
    radius = BONE_RADIUS * config.bone_margin
    for k, (a, b) in enumerate(BODY_BONES):
        pa, pb = joints[a], joints[b]
        if not (known[a] and known[b]):
            continue
        box_lo, box_hi = np.minimum(pa, pb) - radius[k], np.maximum(pa, pb) + radius[k]
        free = np.flatnonzero(~hit)
        cand = free[((sub[free] >= box_lo) & (sub[free] <= box_hi)).all(1)]
        hit[cand] = _to_segment(sub[cand], pa, pb) <= radius[k]
    lone = [j for j in np.flatnonzero(known)
            if not any(known[a] and known[b] and j in (a, b) for a, b in BODY_BONES)]
    for j in lone:
        hit |= np.linalg.norm(sub - joints[j], axis=1) <= 0.2 * config.bone_margin
    out = np.zeros(len(points), bool)
    out[near[hit]] = True
    return out
