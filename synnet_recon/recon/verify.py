"""Verify, or flag: is a view placed right? Two independent checks, both required.

1. The person: at a synchronized instant the joints are the same 3D points in every view. The
   view's joint centres (lifted with its depth, ``person.lift_joints``), moved by the candidate
   pose, must land on the reference view's: median distance <= ``max_joint_error`` over at least
   ``min_joints`` joints both views know.
2. The static background: the view's background points, moved into the reference camera, must
   agree with what that camera measured (``register.visibility_agreement``: seen where it sees a
   surface, never in the free space in front of one), and the ICP overlap must be sane.

A room's symmetry can fool the background (a turn of 90 or 180 degrees fits a box room almost as
well as the truth) but not the labelled joints; a mistaken person (a left/right swap, a bystander)
can fool the joints but not the background. Anything that fails is flagged, with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .person import JOINT_DEPTH_OFFSET
from .register import joint_error, visibility_agreement


@dataclass
class VerifyConfig:
    """Thresholds of the two checks (metres unless said)."""

    max_joint_error: float = 0.05   # median distance (m) of the moved joints to the reference's (right poses
    #                                 measured 2-5 cm; 7 cm let a 2.8 degree / 19 cm slide on an open floor pass)
    min_joints: int = 5             # joints both views see (not hidden in either)
    occlusion_margin: float = 0.06  # a joint farther than its skin offset + this behind the other view's
    #                                 depth at its pixel is hidden there (its own body, or the scene)
    require_joints: bool = True     # False: a view without the person may pass on the background alone
    #                                 (scenes without people; a symmetric room can then fool it)
    min_visibility: float = 0.8     # background points seen / (seen + in free space)
    min_seen: int = 50              # background points that must be seen
    visibility_tolerance: float = 0.1
    min_overlap: float = 0.1        # ICP fitness (fraction of background points matched) at least
    max_rmse: float = 1.0           # ICP inlier RMSE at most, in registration voxels
    min_normal_spread: float = 0.01  # background that pins all 6 DoF (not parallel planes only)


@dataclass
class ViewCheck:
    """How well a candidate pose of a view agrees with the reference view; ``reason`` says why a
    view failed (None when ok)."""

    transform: np.ndarray
    method: str                     # the hypothesis it came from: track | joints | stereo | features | fpfh
    fitness: float
    inlier_rmse: float
    joint_error: float              # metres, inf when unknown
    joints: int
    visibility: float
    seen: int
    ok: bool
    reason: str | None

    @property
    def score(self) -> float:
        """Higher is better: background agreement, minus the joints' disagreement (not fitness alone)."""
        joints = min(self.joint_error / 0.05, 4.0) if self.joints else 4.0
        return self.visibility + 0.5 * self.fitness - 0.5 * joints


def check_view(transform: np.ndarray, method: str, fitness: float, inlier_rmse: float, source_joints: np.ndarray,
               target_joints: np.ndarray, source_points: np.ndarray, source_depth: np.ndarray, source_K: np.ndarray,
               target_depth: np.ndarray, target_K: np.ndarray, spread: float, voxel: float,
               config: VerifyConfig) -> ViewCheck:
    """Both checks for a view's candidate pose ``transform`` (4, 4) source camera -> reference camera.

    source_joints, target_joints: (18, 3) joint centres in each camera (NaN = unknown);
    source_points: (N, 3) the source view's background (registration cloud) in its camera;
    source/target depth (H, W) and K (3, 3): what each camera measured (joints hidden behind
    something in the other view are left out of the joint check); spread: the
    source's ``normal_spread``; voxel: the registration voxel."""
    err, n = joint_error(transform, source_joints, target_joints, (source_depth, source_K, target_depth, target_K),
                         JOINT_DEPTH_OFFSET + config.occlusion_margin)
    vis, seen = visibility_agreement(source_points, transform, target_depth, target_K, config.visibility_tolerance)
    reason = None
    if n < config.min_joints and config.require_joints:
        reason = f"the person's joints are seen in both views only {n} times (need {config.min_joints})"
    elif n >= config.min_joints and err > config.max_joint_error:
        reason = f"joints disagree by {100 * err:.1f} cm (median; at most {100 * config.max_joint_error:g})"
    elif spread < config.min_normal_spread:
        reason = "background of parallel planes only: its pose is not pinned"
    elif seen < config.min_seen or vis < config.min_visibility:
        reason = f"background inconsistent: {100 * vis:.0f} % of {seen} seen points agree (need " \
                 f"{100 * config.min_visibility:.0f} %)"
    elif fitness < config.min_overlap or inlier_rmse > config.max_rmse * voxel:
        reason = f"background overlap too small (fitness {fitness:.2f}, rmse {100 * inlier_rmse:.1f} cm)"
    return ViewCheck(np.asarray(transform, dtype=np.float64), method, float(fitness), float(inlier_rmse), err, n,
                     vis, seen, reason is None, reason)


