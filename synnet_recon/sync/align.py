"""`align`: time offsets of several videos / keypoint tracks of the same moving person.

Pipeline (``align(inputs, AlignConfig()) -> SyncResult``):

1. **Load** every input as COCO-18 ``Keypoints`` tracks: videos through 2D pose
   (``synnet_recon.pose``, per-frame timestamps, so variable frame rates are fine), OpenPose
   JSON folders through ``synnet_recon.io.openpose`` (frame ``n`` at ``n / fps``), or ``Keypoints``
   given directly. An input's own clock starts at its first frame.
2. **Pairs**: for every pair of inputs (and every matched pair of people, see 4):
   a. *coarse*: both tracks resampled to the analysis rate (30 fps, or the SynNet model's);
      the affine rank-3 residual of every frame pair (``affine.affine_cost_matrix``) averaged
      in the log domain along every candidate offset of the whole search range; the ``candidates``
      best local maxima are kept. The view-invariant trajectory and speed correlations are
      computed too (agreement feature, the plot, and the baselines).
   b. *SynNet* (when a checkpoint is available): sliding windows over the overlap of each candidate,
      log-probabilities summed over the windows (longer context = more reliable), added to the
      candidates' evidence; it breaks ties between candidates such as half-cycle ambiguities.
   c. *fine*: around the best candidates, a robust per-frame-pair epipolar residual
      (``epipolar.epipolar_pair_costs``) on Gaussian-smoothed tracks read at fractional times, on a
      grid of ``fine_step`` analysis frames; the minimum is refined by a least-squares parabola
      (sub-frame offsets).
   d. *drift*: the fine offset fitted in windows along the overlap; a clock-rate difference is
      reported when the slope is significant (``drift="auto"``).
3. **Confidence**: a logistic function of the pair's features (peak prominence and margin,
   fine-curve sharpness, agreement with the trajectory correlation, overlap length), fitted on
   simulated scenes (``CONFIDENCE_MODEL``, see docs/align.md).
4. **Several people**: tracks are matched across two inputs by the prominence of their coarse
   peaks (Hungarian assignment); the per-person offsets are combined weighted by confidence
   (paper, Table 6), or the most confident one wins when they disagree.
5. **Joint solve** (``solve.solve_offsets``): robust weighted least squares over all pairs with the
   reference fixed to 0, independent of input order; outlier pairs are flagged.

Offsets: ``offset_seconds`` of input k is the time on the reference clock at which its first frame
was captured. A pair's offset is b's first frame on a's clock.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..keypoints import Keypoints
from . import baselines as B
from .affine import coarse_scores
from .epipolar import FineScorer, parabola_vertex, refine_offset
from .result import SCHEMA, VERSION, PairSync, SyncResult, VideoSync  # noqa: F401  (re-exported)
from .solve import PairObservation, solve_offsets
from .tracks import MIN_COMMON_JOINTS, resample_track

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm")
ANALYSIS_RATE = 30.0

# Logistic calibration of "the pair offset is right to within one frame" (see docs/align.md;
# refit with `python bench/bench_align.py fit-confidence`). Features: ``feature_vector``.
PAIR_FEATURES = ("prominence", "margin", "log_sharpness", "fine_margin", "agreement", "overlap_s",
                 "log_stderr_frames", "static")
CONFIDENCE_MODEL = {  # fitted on 300 pairs of 100 training-split scenes (2026-11-25), no SynNet
    "mean": [4.26822, 1.84316, -3.319, 0.73121, 0.34333, 4.7407, -1.62916, 0.00333],
    "scale": [2.07516, 2.04952, 0.77843, 0.7601, 0.47482, 1.04727, 0.82448, 0.05764],
    "coef": [0.19539, 0.35826, 1.45971, 0.44147, -0.06343, 1.26488, -0.06241, -0.09354],
    "intercept": 3.74653,
}


@dataclass
class AlignConfig:
    """How ``align`` works. Times in seconds; frames are analysis frames unless stated."""

    fps: float = 30.0                  # frame rate of OpenPose folders (videos use their timestamps)
    max_offset: float | None = None    # largest |offset| between any two inputs; None: all the inputs allow
    reference: str | None = None       # name of the reference input; None: the first
    device: str = "auto"               # SynNet device: auto | cpu | cuda
    checkpoint: str | None = None      # SynNet weights; None: the packaged default if any
    synnet: str = "auto"               # auto (on with CUDA or an explicit checkpoint) | on | off
    analysis_rate: float | None = None  # None: the model's fps with SynNet, else 30
    window_frames: int = 32            # shortest usable input and overlap, analysis frames
    candidates: int = 3                # coarse peaks examined in the fine stage
    smooth_frames: float = 1.5         # Gaussian smoothing of the fine stage, analysis frames
    fine_step: float = 0.1             # fine grid step, analysis frames
    fine_radius: float = 1.5           # fine grid half-width around a candidate, analysis frames
    max_fine_samples: int = 600        # frames of the first track used by the fine stage (strided)
    max_coarse_pairs: int = 2_000_000  # frame pairs of the coarse stage (rows strided above this)
    inlier_frames: float = 2.0         # joint solve: largest residual of an inlier pair (frames of the fastest input)
    min_pair_confidence: float = 0.3   # weaker pairs are not used (an input left without pairs gets no offset)
    fine_swaps: bool = False           # fine stage also tries b's arms swapped per frame pair (~2x slower fine stage)
    static_ratio: float = 2.5          # one F for the whole overlap when its cost < this x the per-frame cost (0: never)
    drift: str = "auto"                # off | auto (report when significant) | on (always fit)
    max_people: int = 3                # people per input considered (multi-subject scenes)
    video_people: int = 4              # people the pose detector looks for in videos (1: single-person graph)
    pose: object = None                # synnet_recon.pose.PoseConfig for video inputs
    progress: bool = True


# ---------------------------------------------------------------------------------- inputs

@dataclass
class Source:
    """A loaded input: its tracks (main person first) and its frame times (own clock, first = 0)."""

    name: str
    path: str | None
    kind: str
    fps: float
    times: np.ndarray
    tracks: list[Keypoints]
    t0: float = 0.0  # own-clock time of the first frame (the tracks' times are on that clock)

    @property
    def num_frames(self) -> int:
        return len(self.times)


def _unique_names(names: list[str]) -> list[str]:
    out, seen = [], {}
    for n in names:
        n = n or "input"
        if n in seen or names.count(n) > 1:
            seen[n] = seen.get(n, 0) + 1
            out.append(f"{n}_{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out


def _usable_frames(kp: Keypoints, min_joints: int = MIN_COMMON_JOINTS) -> int:
    return int((np.isfinite(kp.xy).all(axis=2).sum(axis=1) >= min_joints).sum())


def load_source(item, config: AlignConfig) -> Source:
    """One input -> Source. Raises InputError for unreadable inputs or when nobody is found."""
    if isinstance(item, Keypoints):
        tracks, path, kind = [item], None, "keypoints"
        name = item.name or "track"
        fps = item.fps
    else:
        path = Path(item)
        if not path.exists():
            raise InputError(path, "no such file or folder")
        name = path.stem if path.is_file() else path.name
        if path.is_dir():
            from ..io.openpose import read_openpose_tracks

            kind = "keypoints"
            try:
                tracks = read_openpose_tracks(path, fps=config.fps)
            except InputError:
                raise
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(path, f"malformed keypoint files ({exc})") from None
            fps = float(config.fps)
        elif path.suffix.lower() in VIDEO_EXTENSIONS:
            from ..io.video import probe_video
            from ..pose import PoseConfig, estimate_pose

            kind = "video"
            info = probe_video(path)
            pose_config = config.pose or PoseConfig(num_people=max(1, config.video_people), progress=config.progress)
            tracks = estimate_pose(path, pose_config)
            fps = float(info.fps)
        else:
            raise InputError(path, f"not a video ({', '.join(VIDEO_EXTENSIONS)}) or a folder of OpenPose JSON files")
    tracks = [t for t in tracks if _usable_frames(t) > 0][: max(1, config.max_people)]
    if not tracks:
        raise InputError(path if path is not None else name, "no person found")
    t0 = min(float(t.times[0]) for t in tracks)
    times = np.asarray(tracks[0].times, dtype=np.float64) - t0
    if kind == "video":
        from ..io.video import frame_times

        times = np.asarray(frame_times(path), dtype=np.float64)
        t0 = float(times[0])  # pose times are on the video clock with its first frame at 0
        times = times - t0
        t0 = 0.0
    return Source(name, None if path is None else str(Path(path).resolve()), kind, float(fps), times, tracks, t0)


# ---------------------------------------------------------------------------------- pair analysis

@dataclass
class SubjectEstimate:
    offset_seconds: float
    confidence: float
    features: dict
    curve_offsets: np.ndarray
    curve_scores: np.ndarray
    baseline_offsets: dict
    stderr: float = float("inf")  # standard error of offset_seconds (block jackknife)
    drift_ppm: float = float("nan")
    drift_significant: bool = False


def _local_maxima(scores: np.ndarray, k: int, separation: int = 3) -> list[int]:
    """Indices of the k largest local maxima (NaN-safe), at least ``separation`` apart."""
    s = np.where(np.isfinite(scores), scores, -np.inf)
    order = np.argsort(-s, kind="stable")
    picked: list[int] = []
    for i in order:
        if not np.isfinite(s[i]) or len(picked) >= k:
            break
        if i == 0 or i == len(s) - 1 or not (np.isfinite(s[i - 1]) and np.isfinite(s[i + 1])):
            continue  # a maximum on the edge of the search range is a trend, not a peak
        if s[i] < s[i - 1] or s[i] < s[i + 1]:
            continue
        if all(abs(i - p) >= separation for p in picked):
            picked.append(int(i))
    return picked


def _robust_z(scores: np.ndarray, value: float) -> float:
    ok = scores[np.isfinite(scores)]
    if len(ok) < 3:
        return 0.0
    med = np.median(ok)
    mad = 1.4826 * np.median(np.abs(ok - med)) + 1e-12
    return float((value - med) / mad)


def _sigmoid(z: float) -> float:
    return float(1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z)))))


def feature_vector(features: dict) -> np.ndarray:
    """The calibration's inputs, in PAIR_FEATURES order, from a pair's raw features."""
    f = lambda k, d=0.0: float(features.get(k, d)) if np.isfinite(features.get(k, d)) else d
    return np.array([f("prominence"), f("margin"), math.log(max(f("sharpness"), 0.0) + 1e-3),
                     f("fine_margin"), f("agreement"), f("overlap_s"),
                     math.log(min(max(f("stderr_frames", 10.0), 0.0), 10.0) + 0.01), f("static")])


def pair_confidence(features: dict, model: dict | None = None) -> float:
    """Calibrated P(pair offset within one frame) from the features (logistic model)."""
    model = model or CONFIDENCE_MODEL
    x = feature_vector(features)
    z = model["intercept"] + float(np.sum(np.asarray(model["coef"]) * (x - model["mean"]) / np.asarray(model["scale"])))
    return _sigmoid(z)


def search_range(len_a: int, len_b: int, config: AlignConfig, rate: float) -> np.ndarray | None:
    """Candidate offsets (frames at ``rate``) leaving at least one window of overlap, within
    ``max_offset``: (K,) integers, or None when there are none."""
    lo, hi = -(len_b - config.window_frames), len_a - config.window_frames
    if config.max_offset is not None:
        m = int(math.ceil(config.max_offset * rate)) + 1
        lo, hi = max(lo, -m), min(hi, m)
    if lo > hi:
        return None
    return np.arange(lo, hi + 1)


def _correlation_curves(xa, xb, offsets, min_overlap, coarse, rate) -> tuple[np.ndarray, dict]:
    """Trajectory-correlation curve (K,) and the best offset (s) of each baseline and of the affine curve."""
    traj = B.trajectory_correlation_scores(xa, xb, offsets, min_overlap)
    speed = B.speed_correlation_scores(xa, xb, offsets, min_overlap)
    best = {}
    for key, s in (("trajectory", traj), ("speed", speed), ("affine", coarse)):
        if np.isfinite(s).any():
            best[key] = float(offsets[int(np.nanargmax(s))] / rate)
    return traj, best


def _pick_candidate(fine: FineScorer, cand_s: np.ndarray, synnet: np.ndarray, step: float):
    """Index of the most likely coarse candidate and the candidates' epipolar costs (K,).

    Evidence: the candidate's best epipolar cost within one frame, relative to the lowest one (log,
    x20), plus SynNet's mean log-probability."""
    near = (cand_s[:, None] + np.array([-1, 0, 1])[None, :] * step)
    near_cost = fine.costs(near.ravel()).reshape(near.shape)
    cand_cost = np.nanmin(np.where(np.isfinite(near_cost), near_cost, np.inf), axis=1)
    if np.isfinite(cand_cost).any():
        rel = cand_cost / max(np.min(cand_cost[np.isfinite(cand_cost)], initial=np.inf), 1e-12)
    else:
        rel = np.ones(len(cand_s))
    evidence = -np.log(np.where(np.isfinite(rel), rel, 1e6)) * 20.0 + synnet
    return int(np.argmax(evidence)), cand_cost


def _static_refinement(fine: FineScorer, offset: float, se: float, config: AlignConfig, step: float, frame: float):
    """Cameras standing still: one fundamental matrix for the whole overlap is far more precise.

    Used when it fits almost as well as one F per frame (``static_ratio``) AND agrees with the
    per-frame estimate (hand-held "still" cameras shake: there a single F is biased).
    Returns (offset, stderr, curve) of the static fit, or None when it is not used."""
    if not config.static_ratio > 0:
        return None
    probe = offset + np.array([-1.0, 0.0, 1.0]) * step
    moving_cost = np.nanmin(fine.costs(probe))
    static_cost = np.nanmin(fine.costs(probe, static=True))
    if not static_cost < config.static_ratio * moving_cost:
        return None
    static = refine_offset(fine, offset, step, config.fine_radius, config.fine_step, static=True)
    if static is not None and abs(static[0] - offset) <= max(frame, 3.0 * se):
        return static
    return None


def _pair_features(coarse, peaks, best, cand_cost, fine, static, offset, se, curve, traj, offsets,
                   synnet, ka, kb, rate, step) -> dict:
    """The confidence features of one track pair's estimate (see ``PAIR_FEATURES``)."""
    z = lambda v: _robust_z(coarse, v)
    others = [coarse[p] for k, p in enumerate(peaks) if k != best]
    prominence = z(coarse[peaks[best]])
    margin = prominence - (max(z(v) for v in others) if others else 0.0)
    cmin = float(np.nanmin(curve))
    around = fine.costs(np.array([offset - step, offset + step]), static)
    sharp = float(np.nanmean(around) / max(cmin, 1e-12) - 1.0) if np.isfinite(around).any() else 0.0
    finite_cand = np.sort(cand_cost[np.isfinite(cand_cost)])
    fine_margin = float(finite_cand[1] / max(finite_cand[0], 1e-12) - 1.0) if len(finite_cand) > 1 else 1.0
    agreement = 0.0
    if traj is not None and np.isfinite(traj).any():
        agreement = float(abs(offsets[int(np.nanargmax(traj))] / rate - offset) <= 2.0 * step)
    overlap = min(ka.times[-1] - ka.times[0], offset + kb.times[-1] - kb.times[0]) - max(0.0, offset)
    return {"prominence": prominence, "margin": margin, "sharpness": sharp, "fine_margin": min(fine_margin, 5.0),
            "agreement": agreement, "overlap_s": float(max(overlap, 0.0)),
            "stderr_frames": float(min(se * rate, 10.0)), "static": float(static),
            "synnet": float(synnet[best]) if synnet is not None else float("nan")}


def estimate_subject_pair(ka: Keypoints, kb: Keypoints, config: AlignConfig, rate: float,
                          matcher=None, want_baselines: bool = True) -> SubjectEstimate | None:
    """Offset of track kb relative to ka (seconds), with features, or None when they cannot overlap.

    Steps: coarse affine curve and its peaks; correlation curves; SynNet evidence per peak; the
    epipolar pick among the peaks; sub-frame refinement (per-frame F, then one static F when the
    cameras stand still); features and confidence; drift."""
    xa = resample_track(ka, rate)
    xb = resample_track(kb, rate)
    min_overlap = int(config.window_frames)
    offsets = search_range(len(xa), len(xb), config, rate)
    if offsets is None:
        return None
    coarse = coarse_scores(xa, xb, offsets, min_overlap, config.max_coarse_pairs)
    if not np.isfinite(coarse).any():
        return None
    peaks = _local_maxima(coarse, max(1, config.candidates))
    if not peaks:
        return None  # no interior peak: e.g. a person standing still says nothing about time
    traj, baseline_offsets = None, {}
    if want_baselines:
        traj, baseline_offsets = _correlation_curves(xa, xb, offsets, min_overlap, coarse, rate)

    cand_s = np.array([offsets[p] / rate for p in peaks])
    synnet = synnet_candidate_evidence(matcher, ka, kb, cand_s) if matcher is not None else None
    fine = FineScorer(ka, kb, config.smooth_frames / rate, config.max_fine_samples, min_overlap,
                      swap_arms=bool(config.fine_swaps))
    step = 1.0 / rate
    best, cand_cost = _pick_candidate(fine, cand_s, np.zeros(len(peaks)) if synnet is None else synnet, step)
    fine.learn_joint_weights(cand_s[best])
    refined = refine_offset(fine, cand_s[best], step, config.fine_radius, config.fine_step)
    if refined is None:
        return None
    offset, se, curve = refined
    frame = 1.0 / max(rate, ka.fps if np.isfinite(ka.fps) else rate, kb.fps if np.isfinite(kb.fps) else rate)
    static_fit = _static_refinement(fine, offset, se, config, step, frame)
    static = static_fit is not None
    if static:
        offset, se, curve = static_fit

    features = _pair_features(coarse, peaks, best, cand_cost, fine, static, offset, se, curve, traj, offsets,
                              synnet, ka, kb, rate, step)
    est = SubjectEstimate(float(offset), pair_confidence(features), features, offsets / rate, coarse, baseline_offsets,
                          stderr=float(se))
    if config.drift != "off":
        est.drift_ppm, est.drift_significant = fit_drift(fine, offset, step, config, static=static)
    return est


def fit_drift(fine: FineScorer, offset: float, step: float, config: AlignConfig,
              window_seconds: float = 2.0, static: bool = False) -> tuple[float, bool]:
    """Clock-rate difference (ppm) from offsets fitted in windows along the overlap.

    Each window of a's frames gets its own fine minimum (grid of a quarter frame within ±1 frame);
    a line through (window centre, offset) gives the slope. Significant when the slope exceeds 3
    standard errors and moves the offset by more than half a frame over the overlap. ``static``:
    the cost with one fundamental matrix per offset (cameras standing still).
    """
    t = fine.ta[fine.ia]
    t_local = t - offset
    inside = (t_local >= fine.tb[0]) & (t_local <= fine.tb[-1])
    if inside.sum() < 3 * config.window_frames:
        return float("nan"), False
    span = t[inside]
    edges = np.arange(span[0], span[-1] + 1e-9, window_seconds)
    if len(edges) < 4:
        return float("nan"), False
    grid = offset + np.arange(-1.0, 1.0 + 1e-9, 0.25) * step
    centres, local = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (t >= lo) & (t < hi)
        if sel.sum() < config.window_frames // 2:
            continue
        c = fine.restricted(sel, max(3, int(sel.sum() // 2))).costs(grid, static)
        if not np.isfinite(c).any():
            continue
        centres.append(0.5 * (lo + hi))
        local.append(parabola_vertex(grid, c, int(np.nanargmin(c)), 2))
    if len(centres) < 3:
        return float("nan"), False
    x, y = np.array(centres), np.array(local)
    A = np.stack([x - x.mean(), np.ones_like(x)], 1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    dof = max(len(x) - 2, 1)
    sigma2 = float(np.sum((y - A @ coef) ** 2) / dof)
    se = math.sqrt(sigma2 / max(np.sum((x - x.mean()) ** 2), 1e-12))
    slope = float(coef[0])  # seconds of offset per second = -(rate_b - rate_a)
    significant = abs(slope) > 3 * se and abs(slope) * (x[-1] - x[0]) > 0.5 * step
    return slope * 1e6, bool(significant)


def synnet_candidate_evidence(matcher, ka: Keypoints, kb: Keypoints, candidates_seconds: np.ndarray) -> np.ndarray:
    """Mean over sliding windows of SynNet's log-probability that the two windows are aligned.

    For each candidate offset, windows of ``matcher.window_frames`` frames at the model's fps slide
    over the overlap with half-window steps; b's window is the one that the candidate says is
    simultaneous, so the class of offset 0 should win. Returns (K,) mean log-probabilities.
    """
    fps = float(matcher.config.fps)
    W = int(matcher.window_frames)
    xa = resample_track(ka, fps)
    xb = resample_track(kb, fps)
    ca = np.isfinite(xa).all(-1).astype(np.float32)
    cb = np.isfinite(xb).all(-1).astype(np.float32)
    M = int(matcher.config.M)
    out = np.full(len(candidates_seconds), -np.log(2 * M))
    batches = []
    for k, off in enumerate(candidates_seconds):
        d = int(round(off * fps))
        starts = np.arange(max(0, d), min(len(xa), len(xb) + d) - W + 1, max(1, W // 2))
        for s in starts:
            batches.append((k, s, s - d))
    if not batches:
        return out
    a_xy = np.stack([xa[s:s + W] for _, s, _ in batches]).astype(np.float32)
    b_xy = np.stack([xb[t:t + W] for _, _, t in batches]).astype(np.float32)
    a_cf = np.stack([ca[s:s + W] for _, s, _ in batches])
    b_cf = np.stack([cb[t:t + W] for _, _, t in batches])
    logp = np.asarray(matcher.score_windows(a_xy, a_cf, b_xy, b_cf,
                                            ka.image_size, kb.image_size), dtype=np.float64)
    aligned = logp[:, M]  # class m = 0
    ks = np.array([k for k, _, _ in batches])
    for k in range(len(candidates_seconds)):
        if (ks == k).any():
            out[k] = float(aligned[ks == k].mean())
    return out


def _match_subjects(sa: Source, sb: Source, config: AlignConfig, rate: float) -> list[tuple[int, int]]:
    """Pairs of track indices (a, b) that look like the same person.

    Affinity of two tracks: the best coarse score over the offsets, i.e. minus the mean log affine
    residual, which is low only when the two tracks are views of one body. Hungarian assignment
    on it; pairs more than ``1.5`` (log units) worse than the best pair are dropped.
    """
    if len(sa.tracks) == 1 and len(sb.tracks) == 1:
        return [(0, 0)]
    from scipy.optimize import linear_sum_assignment

    affinity = np.full((len(sa.tracks), len(sb.tracks)), -np.inf)
    for i, ka in enumerate(sa.tracks):
        xa = resample_track(ka, rate)
        for j, kb in enumerate(sb.tracks):
            xb = resample_track(kb, rate)
            offsets = search_range(len(xa), len(xb), config, rate)
            if offsets is None:
                continue
            s = coarse_scores(xa, xb, offsets, config.window_frames, config.max_coarse_pairs // 4)
            if np.isfinite(s).any():
                affinity[i, j] = np.nanmax(s)
    if not np.isfinite(affinity).any():
        return [(0, 0)]
    rows, cols = linear_sum_assignment(-np.where(np.isfinite(affinity), affinity, -1e6))
    top = np.max(affinity[np.isfinite(affinity)])
    return [(int(r), int(c)) for r, c in zip(rows, cols) if affinity[r, c] >= top - 1.5]


def estimate_pair(sa: Source, sb: Source, config: AlignConfig, rate: float, matcher=None) -> PairSync:
    """Offset of source b relative to a, combining the matched people (paper Table 6)."""
    subjects = []
    for i, j in _match_subjects(sa, sb, config, rate):
        est = estimate_subject_pair(sa.tracks[i], sb.tracks[j], config, rate, matcher)
        if est is not None:
            # own clocks start at each source's first frame: correct for tracks starting later
            shift = (sa.tracks[i].times[0] - sa.t0) - (sb.tracks[j].times[0] - sb.t0)
            est.offset_seconds += float(shift)
            subjects.append(est)
    method = "synnet+epipolar" if matcher is not None else "epipolar"
    if not subjects:
        return PairSync(sa.name, sb.name, None, 0.0, method, inlier=False)
    best = max(subjects, key=lambda e: e.confidence)
    frame = 1.0 / max(rate, sa.fps, sb.fps)
    agree = [e for e in subjects
             if abs(e.offset_seconds - best.offset_seconds)
             <= max(frame, 3.0 * math.sqrt(_variance(e.stderr, rate) + _variance(best.stderr, rate)))]
    var = np.array([_variance(e.stderr, rate) for e in agree])
    offset = float(np.sum(np.array([e.offset_seconds for e in agree]) / var) / np.sum(1.0 / var))
    stderr = float(np.sqrt(1.0 / np.sum(1.0 / var)))
    # agreeing independent people raise the confidence (noisy-OR of the agreeing estimates)
    conf = 1.0 - float(np.prod([1.0 - e.confidence for e in agree]))
    return PairSync(sa.name, sb.name, offset, conf, method, stderr=stderr, features=dict(best.features),
                    drift_ppm=best.drift_ppm, drift_significant=best.drift_significant, subjects=len(agree),
                    curve_offsets=best.curve_offsets, curve_scores=best.curve_scores,
                    baseline_offsets=best.baseline_offsets)


def _flipped(p: PairSync) -> PairSync:
    """The same estimate seen from the other side: a and b swapped, offset negated."""
    from dataclasses import replace

    curve_offsets = None if p.curve_offsets is None else -p.curve_offsets[::-1]
    curve_scores = None if p.curve_scores is None else p.curve_scores[::-1]
    return replace(p, a=p.b, b=p.a, offset_seconds=None if p.offset_seconds is None else -p.offset_seconds,
                   drift_ppm=-p.drift_ppm, curve_offsets=curve_offsets, curve_scores=curve_scores,
                   baseline_offsets={k: -v for k, v in p.baseline_offsets.items()})


def _variance(stderr: float, rate: float, floor_frames: float = 0.05, cap_frames: float = 5.0) -> float:
    """Variance (s^2) of an estimate from its standard error, kept within [floor, cap] frames."""
    se = stderr if np.isfinite(stderr) else cap_frames / rate
    se = min(max(se, floor_frames / rate), cap_frames / rate)
    return se * se


# ---------------------------------------------------------------------------------- main entry

def _make_matcher(config: AlignConfig):
    """SynNetMatcher or None (synnet='auto' and no weights/module available)."""
    if config.synnet == "off":
        return None
    device = config.device
    if device == "auto":
        try:
            import torch
            device = "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:
            device = "cpu"
    elif device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise InputError(None, "--device cuda asked for, but CUDA is not available (use --device auto or cpu)")
    if config.synnet == "auto" and device != "cuda" and config.checkpoint is None:
        return None  # on a CPU SynNet costs ~5 s per pair for little gain over the geometry (docs/align.md)
    try:
        from .matcher import SynNetMatcher
        return SynNetMatcher(checkpoint=config.checkpoint, device=device)
    except InputError:
        if config.synnet == "on" or config.checkpoint is not None:
            raise
        return None
    except (ImportError, FileNotFoundError, OSError) as exc:
        if config.synnet == "on" or config.checkpoint is not None:
            raise InputError(config.checkpoint, f"cannot load SynNet ({exc})") from None
        return None


def _progress(iterable, desc: str, total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, disable=not enabled, leave=False, unit="item")


def _check_config(inputs: list, config: AlignConfig) -> None:
    if len(inputs) < 2:
        raise InputError(inputs[0] if inputs and not isinstance(inputs[0], Keypoints) else None,
                         f"need at least 2 inputs to synchronize, got {len(inputs)}")
    if config.max_offset is not None and not config.max_offset > 0:
        raise InputError(None, f"--max-offset must be positive, got {config.max_offset:g}")
    if not config.fps > 0:
        raise InputError(None, f"--fps must be positive, got {config.fps:g}")
    if config.drift not in ("off", "auto", "on"):
        raise ValueError(f"drift must be off, auto or on, got {config.drift!r}")


def _load_sources(inputs: list, config: AlignConfig, rate: float) -> tuple[list[Source], int]:
    """Every input loaded and uniquely named, and the reference's index. Raises InputError for an
    unknown reference, an input shorter than one window, or one without a visible body."""
    sources = [load_source(item, config) for item in _progress(inputs, "load inputs", len(inputs), config.progress)]
    names = _unique_names([s.name for s in sources])
    for s, n in zip(sources, names):
        s.name = n
    ref_name = config.reference if config.reference is not None else names[0]
    if ref_name not in names:
        raise InputError(None, f"unknown --reference {ref_name!r} (inputs: {', '.join(names)})")
    for s in sources:
        where = s.path if s.path is not None else s.name
        duration = s.times[-1] if len(s.times) else 0.0
        frames = int(np.floor(duration * rate + 1e-6)) + 1
        if frames < config.window_frames:
            raise InputError(where, f"only {frames} frames at {rate:g} fps ({duration:.2f} s), shorter than one "
                                    f"window of {config.window_frames} frames")
        if max(_usable_frames(t) for t in s.tracks) < config.window_frames // 2:
            raise InputError(where, "no person found (too few frames with a visible body)")
    return sources, names.index(ref_name)


def _estimate_pairs(sources: list[Source], index_pairs, config: AlignConfig, rate: float, matcher) -> list[PairSync]:
    pairs: list[PairSync] = []
    for i, j in _progress(index_pairs, "align pairs", len(index_pairs), config.progress):
        # each pair is computed in name order, so the result does not depend on the input order
        if sources[i].name <= sources[j].name:
            pairs.append(estimate_pair(sources[i], sources[j], config, rate, matcher))
        else:
            pairs.append(_flipped(estimate_pair(sources[j], sources[i], config, rate, matcher)))
    return pairs


def _solve(sources: list[Source], ref: int, index_pairs, pairs: list[PairSync], config: AlignConfig, rate: float):
    """Joint solve over the confident pairs; marks each pair inlier or not, with its residual."""
    obs, obs_pair = [], []
    for k, ((i, j), p) in enumerate(zip(index_pairs, pairs)):
        if p.offset_seconds is not None and p.confidence >= config.min_pair_confidence:
            obs.append(PairObservation(i, j, p.offset_seconds, 1.0 / (_variance(p.stderr, rate) * rate * rate),
                                       support=max(p.confidence, 1e-3)))
            obs_pair.append(k)
    finest = max([rate] + [s.fps for s in sources if np.isfinite(s.fps)])
    sol = solve_offsets(len(sources), obs, ref, inlier_seconds=config.inlier_frames / finest)
    for k, ok, r in zip(obs_pair, sol.inlier, sol.residuals):
        pairs[k].inlier = bool(ok)
        pairs[k].residual_seconds = float(r)
        pairs[k].features["residual_frames"] = float(abs(r) * rate)
    used = set(obs_pair)
    for k, p in enumerate(pairs):
        if k not in used:
            p.inlier = False
    return sol


def _result(sources: list[Source], ref: int, index_pairs, pairs: list[PairSync], sol) -> SyncResult:
    warnings = []
    fps_ref = sources[ref].fps
    videos = []
    for k, s in enumerate(sources):
        off = sol.offsets[k]
        if not np.isfinite(off):
            warnings.append(f"{s.name}: too little overlap with the other inputs to synchronize; offset left empty")
            videos.append(VideoSync(s.name, s.path, s.kind, s.fps, s.num_frames, None, None, 0.0, s.times,
                                    **_keypoints_of(s)))
            continue
        conf = 1.0 if k == ref else _video_confidence(k, ref, index_pairs, pairs)
        videos.append(VideoSync(s.name, s.path, s.kind, s.fps, s.num_frames, float(off), float(off * fps_ref), conf,
                                s.times, **_keypoints_of(s)))
    for p in pairs:
        if p.drift_significant:
            warnings.append(f"{p.a}/{p.b}: clocks drift by about {p.drift_ppm:.0f} ppm (offset given at the overlap's centre)")
    return SyncResult(sources[ref].name, videos, pairs, warnings)


def align(inputs: Sequence, config: AlignConfig | None = None) -> SyncResult:
    """Synchronize inputs (video paths, OpenPose folders or Keypoints); see the module docstring.

    Raises InputError for bad inputs: fewer than 2, unreadable, nobody found, shorter than one
    window, a non-positive ``max_offset``, an unknown ``reference``.
    """
    from dataclasses import replace

    config = replace(config) if config is not None else AlignConfig()  # never mutate the caller's config
    inputs = list(inputs)
    _check_config(inputs, config)
    matcher = _make_matcher(config)
    rate = float(config.analysis_rate or (matcher.config.fps if matcher is not None else ANALYSIS_RATE))
    if matcher is not None:
        config.window_frames = max(int(config.window_frames), int(matcher.window_frames))
    sources, ref = _load_sources(inputs, config, rate)
    index_pairs = list(combinations(range(len(sources)), 2))
    pairs = _estimate_pairs(sources, index_pairs, config, rate, matcher)
    sol = _solve(sources, ref, index_pairs, pairs, config, rate)
    return _result(sources, ref, index_pairs, pairs, sol)


def _keypoints_of(s: Source) -> dict:
    """Where a result's input keeps its keypoints: an OpenPose folder input is its own; the tracks
    computed from a video (or given in memory) are held for ``SyncResult.save`` to write."""
    if s.kind == "keypoints" and s.path is not None:
        return {"keypoints": s.path}
    return {"tracks": list(s.tracks)}


def _video_confidence(k: int, ref: int, index_pairs, pairs: list[PairSync]) -> float:
    """P(offset of input k is right), from the inlier pairs: noisy-OR of the direct pair to the
    reference and the most reliable indirect path (product of confidences, Dijkstra on -log)."""
    import heapq

    conf: dict[tuple[int, int], float] = {}
    nodes = set()
    for (i, j), p in zip(index_pairs, pairs):
        if p.inlier and p.offset_seconds is not None and p.confidence > 0:
            conf[(i, j)] = conf[(j, i)] = min(p.confidence, 1.0)
            nodes |= {i, j}
    direct = conf.get((ref, k), 0.0)
    best = {ref: 1.0}
    heap = [(-1.0, ref)]
    while heap:
        negp, u = heapq.heappop(heap)
        if -negp < best.get(u, 0.0):
            continue
        for v in nodes:
            if (u, v) in conf and not (u == ref and v == k):  # the direct edge is counted separately
                pv = -negp * conf[(u, v)]
                if pv > best.get(v, 0.0):
                    best[v] = pv
                    heapq.heappush(heap, (-pv, v))
    indirect = best.get(k, 0.0)
    return float(1.0 - (1.0 - direct) * (1.0 - indirect))
