"""Offset of one track pair: every cue's evidence, fused by the learned combiner, then refined.

Steps of ``estimate_subject_pair`` (tracks on their own clocks, resampled to the analysis rate):

1. **Search range**: offsets leaving at least ``min_overlap`` frames in common, within
   ``max_offset``; short clips (32 frames, offsets up to half a clip) are scored too.
2. **Curve**: the whole-range cues (affine, speed, trajectory, SynNet when it has a whole-track
   path), each as a z-score against chance for that overlap (``evidence``), fused into one logit
   per offset by ``combine.EvidenceModel.curve``.
3. **Pick**: the curve's best local maxima (the ends of the range included: chance is already
   accounted for) get the epipolar z and SynNet's window evidence; ``pick`` chooses one.
4. **Refine**: sub-frame epipolar minimum (one F per frame pair, or one F for cameras standing
   still), block-jackknife standard error; drift in windows along the overlap. A short overlap
   (under ``SHORT_OVERLAP_FRAMES`` at the pick) keeps the single-F fit when it holds, else stays
   inside the picked frame: placed there by the vertex of SynNet's curve (``SHORT_REFINEMENT``),
   else the epipolar minimum inside it.
5. **Confidence**: ``confidence`` on the answer's features (``combine.CONFIDENCE_FEATURES``):
   P(|error| <= ``answer_tolerance``), 2 frames of the fastest input and at most one analysis
   frame; the standard error enters relative to that tolerance, and the motion's own
   periodicity (``periodicity``: a motion that matches itself one period later is not specific),
   and the answer's spread when each group of joints is left out (``group_features``: an error
   shared by every frame, which the block jackknife cannot see).

A pair gives no offset (``NoOffset``, with the reason) only when nothing can be compared: no
overlap within the range, or no frames where both views see a body.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..keypoints import Keypoints
from .baselines import self_match_peak, speed_features
from .combine import EvidenceModel, model_for
from .descriptors import pair_descriptors, uses_descriptors
from .epipolar import FineScorer, group_stderr, parabola_vertex, refine_offset
from .evidence import curve_evidence, epipolar_evidence, reversed_track
from .tracks import resample_track


class NoOffset(Exception):
    """A track pair gives no offset; the message says why."""


@dataclass
class SubjectEstimate:
    offset_seconds: float
    confidence: float
    features: dict
    curve_offsets: np.ndarray          # (K,) seconds
    curve_scores: np.ndarray           # (K,) combined logit per offset
    baseline_offsets: dict             # best offset (s) of each cue on its own
    stderr: float = float("inf")       # standard error of offset_seconds (block jackknife)
    drift_ppm: float = float("nan")
    drift_significant: bool = False
    cue_curves: dict = field(default_factory=dict)  # {cue: (K,) chance z}
    cues: tuple = ()
    pairing: tuple | None = None       # (person of a, person of b) when the sources hold several people


def min_overlap_frames(config, len_a: int, len_b: int) -> int:
    """Fewest frames in common an offset needs: ``config.min_overlap_frames``, at most a window,
    and at least 8 (below that no cue has a usable mean)."""
    return int(max(8, min(config.min_overlap_frames, config.window_frames, len_a, len_b)))


def search_range(len_a: int, len_b: int, config, rate: float, min_overlap: int | None = None) -> np.ndarray | None:
    """Candidate offsets (frames at ``rate``) leaving at least ``min_overlap`` frames of overlap
    (default: one window), within ``max_offset``: (K,) integers, or None when there are none."""
    m_o = config.window_frames if min_overlap is None else min_overlap
    lo, hi = -(len_b - m_o), len_a - m_o
    if config.max_offset is not None:
        m = int(math.ceil(config.max_offset * rate - 1e-9)) + 1
        lo, hi = max(lo, -m), min(hi, m)
    if lo > hi:
        return None
    return np.arange(lo, hi + 1)


def curve_candidates(curve: np.ndarray, k: int, separation: int = 3) -> list[int]:
    """Indices of the ``k`` best local maxima of ``curve`` (range ends included), ``separation``
    apart; at least two when the curve allows (the best value away from the first peak)."""
    s = np.where(np.isfinite(curve), curve, -np.inf)
    picked: list[int] = []
    for i in np.argsort(-s, kind="stable"):
        if not np.isfinite(s[i]) or len(picked) >= k:
            break
        left = s[i - 1] if i > 0 else -np.inf
        right = s[i + 1] if i < len(s) - 1 else -np.inf
        if s[i] >= left and s[i] >= right and all(abs(i - p) >= separation for p in picked):
            picked.append(int(i))
    if len(picked) == 1:
        far = [int(i) for i in np.argsort(-s, kind="stable") if np.isfinite(s[i]) and abs(i - picked[0]) >= separation]
        picked += far[:1]
    return picked


# Cues whose own best offsets join the fused curve's as candidates of the pick (``pick_candidates``),
# and how many of each. On 32-frame clips the fused curve can be lower at SynNet's argmax than at an
# affine near miss, so SynNet's answer never reached the pick (session 6, h2: in the 3 of 6
# disagreements SynNet won, its argmax was not among the candidates). Off: with ("speed", "trajectory",
# "synnet"), 2 each, the dev trials' misses on real detections went 25 -> 22 but the held-out reduced bench
# was unchanged in every condition; the shipped pick (and a refit on the training pairs, 74.2 -> 74.2 %
# in CV) does not choose speed's right peak over the affine cue's repeat of the motion (session 12, h2b).
CUE_CANDIDATES: tuple[str, ...] = ()
CUE_CANDIDATES_EACH = 2
# The confidence's pick margin (``_answer_features``) over the fused curve's other peaks only, not
# over the cues' own peaks that ``CUE_CANDIDATES`` adds: the confidence stage was fitted on margins
# over the curve's peaks (its weight on the margin is negative, so extra candidates raised every
# confidence: dev seed 1, session 12 h2b). No effect while ``CUE_CANDIDATES`` is empty.
MARGIN_OVER_CURVE_PEAKS = True


def pick_candidates(curve: np.ndarray, z: dict, k: int, cues=None, each: int | None = None) -> list[int]:
    """The pick's candidates (indices): the fused curve's ``k`` best local maxima
    (``curve_candidates``), then ``each`` best local maxima of every cue of ``cues`` (default
    ``CUE_CANDIDATES``) that is in ``z``, skipping any within one frame of a candidate already there."""
    cand = curve_candidates(curve, k)
    cues = CUE_CANDIDATES if cues is None else cues
    each = CUE_CANDIDATES_EACH if each is None else each
    for name in cues:
        v = z.get(name)
        if v is None or not np.isfinite(v).any() or each <= 0:
            continue
        for i in curve_candidates(np.where(np.isfinite(curve), v, np.nan), each)[:each]:
            if all(abs(i - c) > 1 for c in cand):
                cand.append(int(i))
    return cand


# The refinement of a long overlap stays inside the picked frame when the epipolar cost has no
# minimum of its own near the pick (``epipolar.refine_offset(in_basin=True)``: the coarse grid's
# minimum still on its edge after the allowed shifts, up to 3.6 analysis frames away). Dev trials
# (bench seed 1, docs/benchmarks.md, session 10, h3): on real detections the walk took 18 of 267 refined
# pairings from within 2 frames of the truth to outside, and brought 2 back; with this on the dev trials'
# misses went 32 -> 24 (real detections only). Session 10 left it off: the held-out bench gained on real
# detections but lost a several-people offset (5/6 -> 4/6, wrong at >= 0.5). The rule then also kept the
# single-F fit in the frame, passing its agreement test by construction; it no longer does
# (``_static_refinement``). On (session 13, h1): held-out reduced bench paper 16 -> 17/20, Pose2Sim MediaPipe
# 15 -> 16/18, Pose2Sim two-person 21 -> 23/24, several people 5 -> 5/6, the rest unchanged, 0 wrong at >= 0.9.
REFINE_IN_BASIN = True


def _static_refinement(fine: FineScorer, offset: float, se: float, config, step: float, frame: float):
    """Cameras standing still: one fundamental matrix for the whole overlap is far more precise.

    Used when it fits almost as well as one F per frame (``static_ratio``) AND agrees with the
    per-frame estimate (hand-held "still" cameras shake: there a single F is biased).
    Returns (offset, stderr, curve) of the static fit, or None when it is not used.

    The single F's refinement is never kept inside the frame (``REFINE_IN_BASIN`` is the per-frame
    refinement's rule): a single-F cost sloping away from the per-frame answer is the disagreement
    this test looks for, and a fit kept within half a frame of that answer would pass it by
    construction (several people, dev seed 1, 30 trials: in 63 of 226 refined pairings the single-F
    cost sloped away, its walk 2-5 frames off; kept in the frame, it was used with the single fit's
    near-zero standard error, moving right answers up to half a frame its way)."""
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


def _refine(fine: FineScorer | None, center: float, config, step: float, frame: float,
            offsets: np.ndarray, curve: np.ndarray, best_index: int):
    """(offset, stderr, static) around the chosen candidate ``center`` (s).

    With the epipolar cue: its sub-frame minimum (and the static fit when it holds). Without it
    (ablations): the vertex of a parabola through the curve around the candidate, no error bar."""
    if fine is None:
        return parabola_vertex(offsets * step, -curve, best_index, 2), float("inf"), False
    fine.learn_joint_weights(center)
    refined = refine_offset(fine, center, step, config.fine_radius, config.fine_step, in_basin=REFINE_IN_BASIN)
    if refined is None:
        return center, float("inf"), False
    offset, se, _ = refined
    static_fit = _static_refinement(fine, offset, se, config, step, frame)
    if static_fit is not None:
        return static_fit[0], static_fit[1], True
    return offset, se, False


# Overlaps shorter than SHORT_FRAMES (analysis frames at the pick) can be refined only inside the
# picked frame (``_refine_short``): on 32-frame clips the epipolar minimum over +-1.5 frames, re-centred,
# and the single-F fit for "still" cameras moved right picks out (session 5, h1: 120 training
# paper-protocol pairs, the pick 91.7 % within 2 frames, the refined answer 83.3 %). OFF by default
# (SHORT_OVERLAP_FRAMES = 0): with SHORT_FRAMES it gained on the training and held-out short clips,
# but on the Pose2Sim two-person videos (real MediaPipe, 50-frame overlaps, static cameras whose
# single-F fit is refused) a pick one analysis frame off can no longer be walked back: cam03 came
# out -3.06 frames of 60 fps at confidence 0.92 (tests/sync/test_verify.py), which passes with the full
# search (docs/benchmarks.md, "Short clips (session 6, h2)").
SHORT_FRAMES = 64
SHORT_OVERLAP_FRAMES = 0
# How a short overlap's answer is placed inside its picked frame: "epipolar" (the per-frame
# epipolar minimum), "static" (the same, or the single-F fit when ``_static_refinement`` accepts it),
# "curve" (the vertex of a parabola through the fused curve), "synnet" (the same on SynNet's z),
# "none" (the picked frame itself). Chosen on training pairs (bench/analyze_short_refine.py; 120
# paper-protocol pairs, 120 with fractional offsets, 75 short 3-camera clips; docs/benchmarks.md,
# "Short clips (session 6, h2)"): "synnet" was best within half a frame and within 2 frames on the
# paper pairs. The single-F fit (``SHORT_STATIC``, tried first) gained nothing on the simulated short
# static clips and cost 2-4 moving ones, but real static cameras need it: without it the Pose2Sim
# demo cut at known frames (60 fps, 44-frame overlaps) gave 13.96 frames for 12 at confidence 0.95.
SHORT_REFINEMENT = "synnet"
SHORT_REFINEMENTS = ("epipolar", "static", "curve", "synnet", "none")
SHORT_STATIC = True  # short overlaps try the single-F fit first, as long ones do (``_static_refinement``)


# With SHORT_NEEDS_SYNNET the short-overlap refinement runs only where SynNet's own best offset is
# within a frame of the pick; elsewhere the full epipolar search may still walk the pick. Off (h2's
# refinement as measured in session 6). On the held-out paper protocol (20 trials, the refinement
# switched on) it gained one trial, 85 -> 90 %; on the real two-person videos cam03 still comes out
# -3.06 frames at 0.92 (SynNet agrees with that pick): docs/benchmarks.md, session 7, h6.
SHORT_NEEDS_SYNNET = False


def _synnet_agrees(z: dict, index: int) -> bool:
    """Whether the short-overlap refinement may run at the pick ``index``: always without
    ``SHORT_NEEDS_SYNNET``; else only when SynNet's z peaks within one frame of it."""
    if not SHORT_NEEDS_SYNNET:
        return True
    v = z.get("synnet")
    return v is not None and bool(np.isfinite(v).any()) and abs(int(np.nanargmax(v)) - int(index)) <= 1


def _vertex_in_frame(offsets, values, index: int, step: float) -> float | None:
    """Vertex (s) of the parabola through ``values`` at ``index`` and its two neighbours, kept
    within half a frame of ``offsets[index]``; None when a neighbour is unknown or it is not a peak."""
    if not 0 < index < len(values) - 1 or not np.isfinite(values[index - 1:index + 2]).all():
        return None
    y0, y1, y2 = (float(v) for v in values[index - 1:index + 2])
    bend = y0 - 2.0 * y1 + y2
    if not bend < 0:
        return None
    shift = 0.5 * (y0 - y2) / bend
    return float(offsets[index] * step + float(np.clip(shift, -0.5, 0.5)) * step)


def _refine_short(fine: FineScorer | None, center: float, config, step: float, frame: float,
                  offsets: np.ndarray, curve: np.ndarray, best_index: int, z: dict, mode: str):
    """(offset, stderr, static) for a short overlap: the answer stays inside the picked frame
    (within half an analysis frame of ``center``), placed there by ``mode`` (``SHORT_REFINEMENT``).
    Where the mode has no answer (no SynNet curve, or no peak of it at the pick; no epipolar cue)
    the next of: the epipolar minimum inside the frame, the fused curve's vertex, the frame itself.

    The standard error is the block jackknife of the epipolar minimum inside the frame whatever the
    mode (the confidence's error feature); inf without the epipolar cue."""
    if mode not in SHORT_REFINEMENTS:
        raise ValueError(f"unknown short-overlap refinement {mode!r}: use one of {', '.join(SHORT_REFINEMENTS)}")
    epi, se, static = None, float("inf"), False
    if fine is not None:
        fine.learn_joint_weights(center)
        if SHORT_STATIC:  # cameras standing still: the single-F fit as for long overlaps
            refined = refine_offset(fine, center, step, config.fine_radius, config.fine_step)
            fit = None if refined is None else _static_refinement(fine, refined[0], refined[1], config, step, frame)
            if fit is not None:
                return fit[0], fit[1], True
        grid = center + np.arange(-0.5, 0.5 + 1e-9, config.fine_step) * step
        half_width = max(2, int(round(0.35 / config.fine_step)))
        found, se_epi, _ = fine.refine(grid, half_width=half_width)
        if np.isfinite(found):
            epi, se = float(np.clip(found, center - 0.5 * step, center + 0.5 * step)), se_epi
    if mode == "none":
        return center, se, False
    if mode == "static" and epi is not None:
        fit = _static_refinement(fine, epi, se, config, step, frame)
        if fit is not None and abs(fit[0] - center) <= 0.5 * step + 1e-12:
            return fit[0], fit[1], True
    chain = {"synnet": lambda: _vertex_in_frame(offsets, np.asarray(z["synnet"]), best_index, step)
             if "synnet" in z else None,
             "curve": lambda: _vertex_in_frame(offsets, curve, best_index, step)}
    for way in ([mode] if mode in chain else []) + ["epipolar", "curve"]:
        placed = epi if way == "epipolar" else chain[way]()
        if placed is not None:
            return placed, se, static
    return center, se, static


# The confidence's event: the answer within this many frames of the fastest input (the target: never
# 2 or more frames off at high confidence), and never looser than one analysis frame (the event the
# confidence meant before inputs faster than twice the analysis rate were considered).
TOLERANCE_INPUT_FRAMES = 2.0


def answer_tolerance(rate: float, *fps: float) -> float:
    """The error (analysis frames at ``rate``) below which an answer counts as right for the
    confidence: ``TOLERANCE_INPUT_FRAMES`` frames of the fastest of the inputs' frame rates ``fps``,
    at most one analysis frame (at 60 fps and below: 1; at 120 fps: 0.5)."""
    fastest = max([rate] + [float(f) for f in fps if np.isfinite(f) and f > 0])
    return float(min(1.0, TOLERANCE_INPUT_FRAMES * rate / fastest))


def periodicity(xa: np.ndarray, xb: np.ndarray, max_lag: int, min_overlap: int) -> float:
    """How well the motion matches itself away from lag 0 within the search range: the mean over
    the two tracks (analysis rate) of ``baselines.self_match_peak`` of their speed signals, lags up
    to ``max_lag`` frames. A periodic motion (a walk) matches itself one period later, so a match
    between two views of it is less specific. NaN when neither track is long enough."""
    peaks = [self_match_peak(speed_features(x), max_lag, min_overlap) for x in (xa, xb)]
    peaks = [p for p in peaks if np.isfinite(p)]
    return float(np.mean(peaks)) if peaks else float("nan")


def group_features(fine: FineScorer, offset: float, step: float, static: bool, rate: float, tolerance: float) -> dict:
    """``log_group_se_tol``: the log of the refined answer's standard error over joint groups
    (``epipolar.group_stderr``: each of head, arms, torso, legs left out in turn) relative to the
    pair's tolerance (analysis frames), as ``log_stderr_tol`` is for the time blocks; and that error
    in analysis frames (``group_stderr_frames``, at most 10)."""
    se, _ = group_stderr(fine, offset, step, static=static)
    frames = min(se * rate, 10.0) if np.isfinite(se) else 10.0
    return {"group_stderr_frames": float(frames),
            "log_group_se_tol": math.log(min(frames / tolerance, 10.0) + 0.01)}


# The joint-group check (``group_check``): a confident answer whose minimum moves by more than
# GROUP_CHECK_TOLERANCES of its tolerances (as the standard error over joint groups, ``group_features``)
# when one group of joints is left out gets at most GROUP_CHECK_CAP. The block jackknife cannot see an
# error shared by every frame: the real two-person subset cam02/cam03 (static cameras, real MediaPipe,
# 50 instants at 30 fps) came out 1.07 analysis frames off (-2.13 frames of 60 fps) at 0.96 with a
# time-block error of 0.28 frames; its error over joint groups is 3.7 frames. On the 605 training pairs
# of bench/fit_combiner.py the shipped model has 157 answers within 2 input frames at >= 0.9, 6 of them
# above the limit (capped); of the 9 answers above 0.8 it caps, one is 13.9 frames off (session 8, h1).
# 0: off.
GROUP_CHECK_TOLERANCES = 3.0
GROUP_CHECK_CAP = 0.8


def group_check(confidence: float, features: dict, fine: FineScorer | None, offset: float, step: float,
                static: bool, rate: float, tolerance: float) -> float:
    """The confidence after the joint-group check (see ``GROUP_CHECK_TOLERANCES``); computed only for
    answers above ``GROUP_CHECK_CAP`` (``features`` gains ``group_stderr_frames`` then, and
    ``group_check`` 1 / 0: passed / failed)."""
    if fine is None or not GROUP_CHECK_TOLERANCES > 0 or not confidence > GROUP_CHECK_CAP:
        return confidence
    if "group_stderr_frames" not in features:
        features |= group_features(fine, offset, step, static, rate, tolerance)
    passed = features["group_stderr_frames"] <= GROUP_CHECK_TOLERANCES * tolerance
    features["group_check"] = float(passed)
    return confidence if passed else GROUP_CHECK_CAP


def _answer_features(curve, offsets, cand, pick, best, z, offset, se, static, rate, ka, kb,
                     tolerance: float = 1.0, n_curve: int | None = None) -> dict:
    """The confidence features (``combine.CONFIDENCE_FEATURES``) of the refined answer;
    ``tolerance``: ``answer_tolerance`` of the pair (analysis frames). ``n_curve``: how many of
    ``cand`` are the fused curve's own peaks (the first ones; default all): the pick margin is taken
    over those (``MARGIN_OVER_CURVE_PEAKS``), as the confidence stage was fitted."""
    d = offset * rate
    n_curve = len(cand) if n_curve is None or not MARGIN_OVER_CURVE_PEAKS else n_curve
    others = [pick[k] for k in range(n_curve) if k != best]
    away = np.abs(offsets - d) > 3
    curve_away = curve[away & np.isfinite(curve)]
    agree_of = {f"agree_{k}": float(abs(offsets[int(np.nanargmax(v))] - d) <= 2.0)
                for k, v in z.items() if np.isfinite(v).any()}
    agree = list(agree_of.values())
    overlap = min(ka.times[-1] - ka.times[0], offset + kb.times[-1] - kb.times[0]) - max(0.0, offset)
    return {"pick": float(pick[best]),
            "pick_margin": float(pick[best] - max(others)) if others else float("nan"),
            "curve_margin": float(curve[cand[best]] - curve_away.max()) if curve_away.size else float("nan"),
            "agree": float(np.mean(agree)) if agree else float("nan"),
            "log_stderr_frames": math.log(min(se * rate, 10.0) + 0.01) if np.isfinite(se) else math.log(10.01),
            "log_stderr_tol": math.log(min(se * rate / tolerance, 10.0) + 0.01) if np.isfinite(se) else math.log(10.01),
            "tolerance_frames": float(tolerance),
            "static": float(static), "log_overlap_frames": math.log(max(overlap * rate, 1.0)),
            "stderr_frames": float(min(se * rate, 10.0)), "overlap_s": float(max(overlap, 0.0)), **agree_of}


def pick_evidence(cues, model: EvidenceModel, curve, offsets, cand, ka, kb, matcher, fine, config, rate, min_overlap,
                  z: dict | None = None, overlap: np.ndarray | None = None):
    """Pick features at the candidates ({name: (C,)}) and the pick logits (C,): the curve logit,
    the epipolar z, SynNet's window evidence, each whole-range cue's z (``z``), the log overlap
    (``overlap``, frames) there and, for a pick that names them, the pair's descriptors and how
    periodic the motion is (``periodicity``, the same at every candidate)."""
    cand = np.asarray(cand, dtype=int)
    cand_s = offsets[cand] / rate
    x = {"curve": curve[cand]}
    for name, v in (z or {}).items():
        x[name] = np.asarray(v)[cand]
    if overlap is not None:
        x["log_overlap"] = np.log(np.maximum(np.asarray(overlap, np.float64)[cand], 1.0))
        x["log_span"] = np.full(len(cand), log_span(overlap))
    x |= {k: np.full(len(cand), v) for k, v in cue_peaks(z or {}).items()}
    x |= cue_tops(z or {}, offsets, cand)
    if any("periodicity" in f for f in model.pick.features):  # how periodic the motion is (one per pair)
        max_lag = int(max(abs(offsets[0]), abs(offsets[-1])))
        x["periodicity"] = np.full(len(cand), periodicity(resample_track(ka, rate), resample_track(kb, rate),
                                                          max_lag, min_overlap))
    if uses_descriptors(model.pick.features):  # the kind of pair (sync.descriptors)
        x |= {k: np.full(len(cand), v) for k, v in pair_descriptors(ka, kb, rate).items()}
    if fine is not None:
        # chance for the epipolar cue: b backwards at 10 offsets over the whole range, a strided
        # (the spread law in the overlap length carries it to the candidates' overlaps)
        fine_null = FineScorer(ka, reversed_track(kb), config.smooth_frames / rate,
                               max(60, config.max_fine_samples // 4), min_overlap)
        shortest = min_overlap / rate
        null_s = np.linspace(-(fine.tb[-1] - shortest), fine.ta[-1] - shortest, 10)
        x["epipolar"] = epipolar_evidence(fine, fine_null, cand_s, 1.0 / rate, null_s)
    if "synnet" in cues and matcher is not None and not hasattr(matcher, "offset_evidence"):
        x["synnet_windows"] = synnet_candidate_evidence(matcher, ka, kb, cand_s)
    return x, model.pick.logit(x)


def overlap_frames(offsets: np.ndarray, len_a: int, len_b: int) -> np.ndarray:
    """Frames in common (K,) of tracks of ``len_a`` and ``len_b`` frames when b's first frame sits
    at a's frame ``offsets`` (K,)."""
    d = np.asarray(offsets, dtype=np.float64)
    return np.maximum(np.minimum(float(len_a), d + len_b) - np.maximum(0.0, d), 0.0)


def pair_curves(ka: Keypoints, kb: Keypoints, config, rate: float, cues, matcher=None):
    """Steps 1-2 without the fusion: (offsets (K,) frames, {cue: chance z (K,)}, min_overlap,
    frames in common at each offset (K,)).

    Raises NoOffset when the tracks cannot share ``min_overlap`` frames within the range, or when
    no cue can compare them anywhere."""
    xa, xb = resample_track(ka, rate), resample_track(kb, rate)
    min_overlap = min_overlap_frames(config, len(xa), len(xb))
    offsets = search_range(len(xa), len(xb), config, rate, min_overlap)
    if offsets is None:
        raise NoOffset(f"the inputs cannot share {min_overlap} frames within the offset range")
    z, _ = curve_evidence(cues, xa, xb, offsets, min_overlap, config.max_coarse_pairs, rate, matcher, ka, kb)
    if not any(np.isfinite(v).any() for v in z.values()):
        raise NoOffset("no stretch where both views see enough of a body to compare")
    return offsets, z, min_overlap, overlap_frames(offsets, len(xa), len(xb))


def log_span(overlap: np.ndarray) -> float:
    """Log of the longest overlap (frames) of the search range: one number per pair, so its
    interactions (``*log_span``, ``combine.with_span_terms``) weigh the cues by how long the clips
    are (SynNet against the affine cue on 32-frame clips) without favouring any offset of the pair."""
    ov = np.asarray(overlap, np.float64)
    return math.log(max(float(ov.max()) if ov.size else 1.0, 1.0))


def cue_peaks(z: dict) -> dict:
    """``{cue}_peak``: each cue's highest chance z over the range, one number per pair: its
    interactions (``synnet*synnet_peak``) let a cue count more in a pair where it stands out."""
    return {f"{k}_peak": float(np.nanmax(v)) for k, v in z.items() if np.isfinite(v).any()}


def cue_tops(z: dict, offsets: np.ndarray, cand) -> dict:
    """At each candidate (C,): ``{cue}_top``, 1 where the candidate is within 2 frames of that cue's
    own best offset (else 0), and ``votes``, how many cues' best offsets it is near: a pick that names
    them can choose a cue's own answer over the fused curve's (``CUE_CANDIDATES``)."""
    cand = np.asarray(cand, dtype=int)
    out = {}
    for k, v in z.items():
        v = np.asarray(v, np.float64)
        out[f"{k}_top"] = (np.abs(offsets[cand] - offsets[int(np.nanargmax(v))]) <= 2).astype(np.float64) \
            if np.isfinite(v).any() else np.zeros(len(cand))
    out["votes"] = np.sum([u for u in out.values()], axis=0) if out else np.zeros(len(cand))
    return out


def combined_curve(model: EvidenceModel, z: dict, overlap: np.ndarray | None = None) -> np.ndarray:
    """The curve stage's logit per offset (K,), NaN where no cue is known. ``overlap``: frames in
    common at each offset (the ``*log_overlap`` and ``*log_span`` interactions; missing: their
    training mean)."""
    known = np.zeros(len(next(iter(z.values()))), bool)
    for v in z.values():
        known |= np.isfinite(v)
    x = dict(z)
    if overlap is not None:
        x["log_overlap"] = np.log(np.maximum(np.asarray(overlap, np.float64), 1.0))
        x["log_span"] = np.full(len(known), log_span(overlap))
    x |= {k: np.full(len(known), v) for k, v in cue_peaks(z).items()}
    return np.where(known, model.curve.logit(x), np.nan)


def estimate_subject_pair(ka: Keypoints, kb: Keypoints, config, rate: float, matcher=None,
                          cues: tuple = ("affine", "epipolar", "speed", "trajectory"),
                          model: EvidenceModel | None = None, trace: dict | None = None,
                          curves: tuple | None = None, curve: np.ndarray | None = None) -> SubjectEstimate:
    """Offset of track kb relative to ka (seconds), with features and confidence; see the module
    docstring. Raises NoOffset (with the reason) when the tracks cannot be compared. ``trace``
    (a dict) receives the intermediate evidence (for fitting the combiner and for plots).
    ``curves``: ``pair_curves``' answer for these tracks when already computed; ``curve``: its
    ``combined_curve`` by ``model`` (with the overlap), when already built."""
    model = model or model_for(cues)
    offsets, z, min_overlap, overlap = curves if curves is not None else pair_curves(ka, kb, config, rate, cues,
                                                                                     matcher)
    if curve is None:
        curve = combined_curve(model, z, overlap)
    cand = pick_candidates(curve, z, max(1, config.candidates))
    step = 1.0 / rate
    fine = None
    if "epipolar" in cues:
        fine = FineScorer(ka, kb, config.smooth_frames / rate, config.max_fine_samples, min_overlap,
                          swap_arms=bool(config.fine_swaps))
    x, pick = pick_evidence(cues, model, curve, offsets, cand, ka, kb, matcher, fine, config, rate, min_overlap,
                            z, overlap)
    best = int(np.argmax(pick))
    frame = 1.0 / max(rate, ka.fps if np.isfinite(ka.fps) else rate, kb.fps if np.isfinite(kb.fps) else rate)
    center = offsets[cand[best]] / rate
    if overlap[cand[best]] < SHORT_OVERLAP_FRAMES and _synnet_agrees(z, cand[best]):
        offset, se, static = _refine_short(fine, center, config, step, frame, offsets, curve, cand[best], z,
                                           SHORT_REFINEMENT)
    else:
        offset, se, static = _refine(fine, center, config, step, frame, offsets, curve, cand[best])
    tolerance = answer_tolerance(rate, ka.fps, kb.fps)
    features = _answer_features(curve, offsets, cand, pick, best, z, offset, se, static, rate, ka, kb, tolerance,
                                n_curve=len(curve_candidates(curve, max(1, config.candidates))))
    if any("periodicity" in f for f in model.confidence.features):
        max_lag = int(max(abs(offsets[0]), abs(offsets[-1])))
        features["periodicity"] = periodicity(resample_track(ka, rate), resample_track(kb, rate), max_lag,
                                              min_overlap)
    if fine is not None and any("group" in f for f in model.confidence.features):
        features |= group_features(fine, offset, step, static, rate, tolerance)
    confidence = float(model.confidence.prob(features)[0])
    if not model.trained:
        confidence = min(confidence, 0.5)
    confidence = group_check(confidence, features, fine, offset, step, static, rate, tolerance)
    if trace is not None:
        trace.update(offsets=offsets, z=z, curve=curve, candidates=cand, pick_x=x, pick=pick, best=best,
                     features=features, min_overlap=min_overlap)
    best_of = {k: float(offsets[int(np.nanargmax(v))] / rate) for k, v in z.items() if np.isfinite(v).any()}
    est = SubjectEstimate(float(offset), confidence, features, offsets / rate, curve, best_of, stderr=float(se),
                          cue_curves=z, cues=tuple(cues))
    if fine is not None and config.drift != "off":
        est.drift_ppm, est.drift_significant = fit_drift(fine, offset, step, config, static=static)
    return est


def fit_drift(fine: FineScorer, offset: float, step: float, config, window_seconds: float = 2.0,
              static: bool = False) -> tuple[float, bool]:
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
    windows = [((t >= lo) & (t < hi), 0.5 * (lo + hi)) for lo, hi in zip(edges[:-1], edges[1:])]
    windows = [(sel, mid) for sel, mid in windows if sel.sum() >= config.window_frames // 2]
    costs = fine.window_costs([sel for sel, _ in windows], [max(3, int(sel.sum() // 2)) for sel, _ in windows],
                              grid, static)
    centres, local = [], []
    for (_, mid), c in zip(windows, costs):
        if np.isfinite(c).any():
            centres.append(mid)
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
