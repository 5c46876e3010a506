"""Person tracks: per-frame detections of people linked into one track per person, then ranked.

The project's one person tracker: video pose (``pose.estimate_pose``) and OpenPose folders
(``io.openpose.read_openpose_tracks``) both call ``track_people``, so both pick the main person by
the same rule.

Linking: Hungarian assignment of each frame's detections to the live tracks, gated by the median
joint distance to the track's last pose in units of that pose's body size (bounding-box diagonal).
Ranking: by the motion seen in pixels (``PersonTrack.motion_pixels``), most first, so that people
who barely move (bystanders) come last.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .skeleton import NUM_JOINTS


@dataclass
class PersonTrack:
    """One person over the T frames given to ``track_people``.

    xy: (T, 18, 2) float32 px, NaN where the person is not seen; conf: (T, 18) float32, 0 there.
    detections: frames the person is seen in.
    motion: mean over joints (seen in 3 frames or more) of the joint's positional spread (root of
        the summed x and y variances over time), in body sizes: about 0.01 for someone standing
        still under detector noise, 0.1 or more for a walk or a dance.
    body_size: median bounding-box diagonal (px) over the frames the person is seen in.
    presence: sum over those frames of the bounding-box diagonal (px): big and long-visible people
        have much of it.
    """

    xy: np.ndarray
    conf: np.ndarray
    detections: int
    motion: float
    body_size: float
    presence: float

    @property
    def coverage(self) -> float:
        """Fraction of the T frames the person is seen in."""
        return self.detections / max(len(self.xy), 1)

    @property
    def motion_pixels(self) -> float:
        """The ranking key: motion x body size x coverage, i.e. pixels of motion seen."""
        return self.motion * self.body_size * self.coverage

    def stats(self) -> dict:
        """The ranking figures, for ``Keypoints.meta``."""
        return {"detections": int(self.detections), "motion": float(self.motion),
                "body_size": float(self.body_size), "presence": float(self.presence)}


def pose_distance(a_xy: np.ndarray, b_xy: np.ndarray) -> float:
    """Median distance (px) of the joints both (18, 2) poses have; centroid distance otherwise."""
    both = ~np.isnan(a_xy[:, 0]) & ~np.isnan(b_xy[:, 0])
    if both.sum() >= 3:
        return float(np.median(np.linalg.norm(a_xy[both] - b_xy[both], axis=1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a pose with no joints: NaN distance, never linked
        return float(np.linalg.norm(np.nanmean(a_xy, axis=0) - np.nanmean(b_xy, axis=0)))


def body_size(xy: np.ndarray) -> float:
    """Bounding-box diagonal (px, at least 1) of the detected joints of one (18, 2) pose."""
    pts = xy[~np.isnan(xy[:, 0])]
    if len(pts) < 2:
        return 1.0
    return max(float(np.linalg.norm(pts.max(axis=0) - pts.min(axis=0))), 1.0)


def distinct_detections(xy: np.ndarray, tol: float = 0.1) -> list[int]:
    """Indices of the detections in one frame's (P, 18, 2) that are not empty and do not repeat an
    earlier one (median joint distance < tol x its body size)."""
    keep: list[int] = []
    for d in range(len(xy)):
        if not np.isnan(xy[d, :, 0]).all() and all(
                pose_distance(xy[d], xy[k]) >= tol * body_size(xy[k]) for k in keep):
            keep.append(d)
    return keep


def _assign(tracks: list[dict], live: list[int], det_xy: np.ndarray, now: float, times: np.ndarray,
            gate: float, gate_growth: float) -> dict[int, int]:
    """{detection index: track index} for one frame (Hungarian, gated)."""
    from scipy.optimize import linear_sum_assignment

    if not live or not len(det_xy):
        return {}
    cost = np.empty((len(live), len(det_xy)))
    limit = np.empty(len(live))
    for i, k in enumerate(live):
        last = tracks[k]["last_xy"]
        limit[i] = gate + gate_growth * (now - times[tracks[k]["last"]])
        scale = body_size(last)
        for d in range(len(det_xy)):
            cost[i, d] = pose_distance(last, det_xy[d]) / scale
    allowed = np.isfinite(cost) & (cost <= limit[:, None])
    rows, cols = linear_sum_assignment(np.where(allowed, cost, 1e6))
    return {int(c): live[r] for r, c in zip(rows, cols) if allowed[r, c]}


def link_detections(xy_per_frame: Sequence[np.ndarray], times: np.ndarray, max_gap_seconds: float = 0.5,
                    gate: float = 0.5, gate_growth: float = 1.0) -> list[dict[int, int]]:
    """Link per-frame detections into tracks; returns each track as {frame t: detection index}.

    xy_per_frame[t]: (P_t, 18, 2) px, NaN where missing; times: (T,) s, increasing.
    A detection may continue a track when its median joint distance to the track's last pose, in
    units of that pose's body size, is at most ``gate + gate_growth * seconds since the track was
    last seen`` (people move about one body size per second). A track ends when unseen for more
    than ``max_gap_seconds`` of processed video (at least 1.5 typical frame steps, so that frames
    sampled sparsely, e.g. one a second, still link); jumps in a sparse frame selection count as
    one ordinary frame step there. Empty and repeated detections (``distinct_detections``) are skipped.
    """
    times = np.asarray(times, dtype=np.float64)
    steps = np.diff(times)
    typical = float(np.median(steps)) if len(steps) else 0.0
    clock = np.concatenate([[0.0], np.cumsum(np.minimum(steps, 2 * typical))])  # jumps compressed
    max_gap = max(max_gap_seconds, 1.5 * typical)  # sparse sampling: a track may skip no frame
    tracks: list[dict] = []
    live: list[int] = []  # tracks that may still continue (a track, once ended, stays ended)
    for t in range(len(times)):
        det_xy = np.asarray(xy_per_frame[t], dtype=np.float64).reshape(-1, NUM_JOINTS, 2)
        keep = distinct_detections(det_xy)
        live = [k for k in live if clock[t] - clock[tracks[k]["last"]] <= max_gap]
        matched = _assign(tracks, live, det_xy[keep], times[t], times, gate, gate_growth)
        for j, d in enumerate(keep):
            if j in matched:
                tr = tracks[matched[j]]
            else:
                tr = {"frames": {}}
                live.append(len(tracks))
                tracks.append(tr)
            tr["frames"][t] = d
            tr["last"], tr["last_xy"] = t, det_xy[d]
    return [tr["frames"] for tr in tracks]


def track_stats(xy: np.ndarray) -> tuple[int, float, float, float]:
    """(detections, motion, body_size, presence) of one (T, 18, 2) track (see PersonTrack)."""
    seen_joint = np.isfinite(xy[..., 0])
    rows = seen_joint.any(axis=1)
    if not rows.any():
        return 0, 0.0, 1.0, 0.0
    pts = xy[rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # joints never seen
        extent = np.nanmax(pts, axis=1) - np.nanmin(pts, axis=1)
        sizes = np.maximum(np.linalg.norm(extent, axis=1), 1.0)
    # joints never seen are set to 0 first, so no all-NaN column reaches nanvar (catch_warnings is not
    # thread-safe, and align poses videos in two threads: its "Degrees of freedom <= 0" reached the
    # terminal); only joints seen 3+ times are used
    pts = np.where(seen_joint[rows].any(axis=0)[None, :, None], pts, 0.0)
    spread = np.sqrt(np.nanvar(pts[..., 0], axis=0) + np.nanvar(pts[..., 1], axis=0))
    spread = spread[seen_joint.sum(axis=0) >= 3]
    size = float(np.median(sizes))
    motion = float(np.mean(spread)) / size if len(spread) else 0.0
    return int(rows.sum()), motion, size, float(sizes.sum())


def build_track(frames: dict[int, int], xy_per_frame: Sequence[np.ndarray], conf_per_frame: Sequence[np.ndarray],
                num_frames: int) -> PersonTrack:
    """The PersonTrack of one linked track ({frame: detection index}) over ``num_frames`` frames."""
    xy = np.full((num_frames, NUM_JOINTS, 2), np.nan, np.float32)
    conf = np.zeros((num_frames, NUM_JOINTS), np.float32)
    for t, d in frames.items():
        xy[t], conf[t] = xy_per_frame[t][d], conf_per_frame[t][d]
    return PersonTrack(xy, conf, *track_stats(xy))


def rank_order(tracks: Sequence[PersonTrack]) -> list[int]:
    """Indices of ``tracks``, most motion seen first (``motion_pixels``); ties: most frames first,
    then the given order."""
    return sorted(range(len(tracks)), key=lambda k: (-tracks[k].motion_pixels, -tracks[k].detections))


def rank_tracks(tracks: Sequence[PersonTrack]) -> list[PersonTrack]:
    """``tracks`` in ``rank_order``."""
    return [tracks[k] for k in rank_order(tracks)]


def track_people(xy_per_frame: Sequence[np.ndarray], conf_per_frame: Sequence[np.ndarray], times: np.ndarray,
                 max_gap_seconds: float = 0.5, gate: float = 0.5, gate_growth: float = 1.0,
                 min_track_frames: int = 0) -> list[PersonTrack]:
    """Per-frame detections -> person tracks, ranked (``link_detections``, ``rank_tracks``).

    xy_per_frame[t]: (P_t, 18, 2) px, NaN where missing; conf_per_frame[t]: (P_t, 18); times: (T,) s.
    Tracks seen in fewer than ``min_track_frames`` frames are dropped (0: 10% of T, at least 3, at
    most T). Arrays are only built for the tracks kept.
    """
    T = len(times)
    linked = link_detections(xy_per_frame, times, max_gap_seconds, gate, gate_growth)
    min_frames = min_track_frames or min(T, max(3, math.ceil(0.1 * T)))
    kept = [build_track(frames, xy_per_frame, conf_per_frame, T) for frames in linked if len(frames) >= min_frames]
    return rank_tracks(kept)
