"""Each cue's evidence for every candidate offset, judged against chance for that overlap.

A cue (affine rank-3 residual, epipolar residual, speed or trajectory correlation, SynNet) gives
one raw value per offset: a mean over the frame pairs the offset puts side by side. A mean over
few pairs (the ends of the search range, where the overlap is short) strays further from its
typical value than a mean over many, so raw extremes sit at the ends of the range. Here every raw
value becomes a z-score against *chance at that overlap length*:

    z(d) = sign * (value(d) - mu0(n(d))) / sd0(n(d))

where ``mu0(n)`` and ``sd0(n)`` come from the same cue on mismatched pairings: track b played
backwards and circularly shifted (``null_orders``), which keeps each track's poses, speeds and
smoothness but breaks any common timing (``chance_at``: the null's median, and a spread law in n fitted to it). Two independent tracks then give z ~ N(0, 1) at every offset, short overlap or
long.

Cue names: ``CUES``. The whole-range cues (``CURVE_CUES``) are computed over every offset of the
search range; ``epipolar`` (and SynNet's window evidence when the matcher has no whole-track
path) only at the candidate offsets.
"""
from __future__ import annotations

import math

import numpy as np

from ..keypoints import Keypoints
from . import baselines as B
from .affine import affine_diagonals
from .tracks import TRACK_CACHE, consistent_arm_labels

CUES = ("affine", "epipolar", "speed", "trajectory", "synnet")
CURVE_CUES = ("affine", "speed", "trajectory", "synnet")
CUE_SETS = {  # named ablations (AlignConfig.cues accepts these names or a comma-separated list)
    "all": CUES,
    "geometry": ("affine", "epipolar"),
    "synnet": ("synnet",),
    "correlation": ("speed", "trajectory"),
    "no-synnet": ("affine", "epipolar", "speed", "trajectory"),
}


# The correlation cues computed on tracks whose arms are relabelled consistently over time
# (``tracks.consistent_arm_labels``): a detector's left/right arm exchanges make speed spikes and
# pose jumps in one view only, which a correlation cannot tell from motion (the affine and epipolar
# cues try the swaps per frame pair instead). Measured on dev trials (bench seed 1, not the bench's
# seed 0; docs/benchmarks.md, session 5, h4), chance-z argmax within 2 frames: speed on caliscope
# upper body 69 -> 88 %, caliscope 58 -> 83 %; trajectory on Pose2Sim MediaPipe 69 -> 85 %,
# caliscope upper body 46 -> 54 %, simulated upper body 31 -> 44 %, paper 70 -> 65 %.
# "trajectory" is NOT on yet: with the shipped combiner (fitted on the old trajectory z) two
# unrelated stretches of one periodic walk went from confidence 0.50 to 0.53 (tests/sync/test_pair.py
# wants < 0.5); add it together with a refit of the combiner (bench/fit_combiner.py).
RELABEL_CUES: tuple[str, ...] = ("speed",)


def parse_cues(cues) -> tuple[str, ...]:
    """A cue set name, a comma-separated list or a sequence -> the cue names, in ``CUES`` order."""
    if isinstance(cues, str):
        names = CUE_SETS.get(cues, tuple(c.strip() for c in cues.split(",") if c.strip()))
    else:
        names = tuple(cues)
    unknown = [c for c in names if c not in CUES]
    if unknown or not names:
        raise ValueError(f"unknown cues {unknown or cues!r}: use {', '.join(CUE_SETS)} or a list of {', '.join(CUES)}")
    return tuple(c for c in CUES if c in names)


def reversed_track(kp: Keypoints) -> Keypoints:
    """The track played backwards on its own clock (same start, same frame times reversed)."""
    times = np.asarray(kp.times, dtype=np.float64)
    return Keypoints(np.asarray(kp.xy)[::-1].copy(), np.asarray(kp.conf)[::-1].copy(),
                     times[0] + (times[-1] - times[::-1]), kp.image_size, kp.name)


def chance_at(null: np.ndarray, null_count: np.ndarray, count: np.ndarray,
              bins: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Chance location and spread of a cue at each overlap length in ``count`` (K,).

    mu0: the median of the null values (mismatched pairings) per overlap bin, interpolated in
    log n (short overlaps can sit apart: people start and stop); spread: ``var0(n) = A / n + B / n^2``
    (A, B >= 0), fitted to the robust variance of the null values binned by overlap length. A / n
    is the mean of n noisy pairs; B / n^2 a part shared by a whole diagonal (short overlaps at the
    corners of the pair matrix vary more than 1 / n says, as measured for the affine residual).
    Returns (mu0 (K,), sd0 (K,)), NaN when fewer than 5 null values are known.
    """
    from scipy.optimize import nnls

    ok = np.isfinite(null) & (null_count > 0)
    count = np.maximum(np.asarray(count, dtype=np.float64), 1.0)
    if ok.sum() < 5:
        return np.full(count.shape, np.nan), np.full(count.shape, np.nan)
    v, n = null[ok], np.asarray(null_count, np.float64)[ok]
    edges = np.unique(np.quantile(n, np.linspace(0, 1, min(bins, max(1, len(v) // 5)) + 1)))
    centres, medians, groups = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (n >= lo) & (n <= hi)
        if sel.sum() >= 3:
            centres.append(math.log(float(np.median(n[sel]))))
            medians.append(float(np.median(v[sel])))
            groups.append(sel)
    if not groups:
        centres, medians, groups = [math.log(float(np.median(n)))], [float(np.median(v))], [np.ones(len(v), bool)]
    # location: the median per overlap bin (short overlaps can sit apart), interpolated in log n
    mu_null = np.interp(np.log(n), centres, medians)
    dev2 = (v - mu_null) ** 2
    rows = []
    for sel in groups:
        var = float(np.median(dev2[sel])) / 0.455  # median of chi2(1) = 0.455
        nb = float(np.median(n[sel]))
        w = 1.0 / max(var, 1e-18)  # relative errors
        rows.append([w / nb, w / nb ** 2])
    (A, B), _ = nnls(np.array(rows), np.ones(len(rows)))
    if not A + B > 0:
        A, B = float(np.median(dev2 * n)) / 0.455, 0.0
    mu0 = np.interp(np.log(count), centres, medians)
    return mu0, np.sqrt(A / count + B / count ** 2) + 1e-12


def chance_z(value: np.ndarray, count: np.ndarray, null: np.ndarray, null_count: np.ndarray,
             higher_is_better: bool = True) -> np.ndarray:
    """z-scores (K,) of a cue's values (K,) over ``count`` (K,) frame pairs against its null values.

    NaN where the value is unknown; all NaN when the null is too small to judge chance.
    """
    value = np.asarray(value, dtype=np.float64)
    mu0, sd0 = chance_at(np.asarray(null, np.float64), np.asarray(null_count, np.float64), count)
    z = (value - mu0) / sd0
    return z if higher_is_better else -z


def null_orders(length: int, parts: int = 3) -> list[np.ndarray]:
    """Reorderings of a track's frames that break its timing but keep its poses and smoothness:
    played backwards, and circularly shifted by each k / ``parts`` of its length (k = 1 ..
    parts - 1), forwards and backwards. Several realizations of chance make its spread estimate
    steadier than one curve would."""
    idx = np.arange(length)
    shifts = tuple((k * length) // parts for k in range(1, parts))
    return [idx[::-1]] + [np.roll(idx, s) for s in shifts] + [np.roll(idx[::-1], s) for s in shifts]


# The affine cue's chance on short tracks (both at most SHORT_NULL_FRAMES frames; 0: never): b's
# reorderings at SHORT_NULL_PARTS circular shifts instead of 3 (``null_orders``). On a 32-frame
# clip the 5 reorderings give about a dozen null values per overlap length, all from the same few
# frames, and the spread they show is narrower than chance's.
SHORT_NULL_FRAMES = 0
SHORT_NULL_PARTS = 8


def affine_null_orders(len_a: int, len_b: int) -> list[np.ndarray]:
    """b's reorderings for the affine cue's chance (``null_orders``; more of them on short tracks)."""
    short = max(len_a, len_b) <= SHORT_NULL_FRAMES
    return null_orders(len_b, SHORT_NULL_PARTS if short else 3)


def affine_evidence(xa, xb, offsets, null_offsets, min_overlap: int, max_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """z of minus the mean log affine residual at each offset (K,), and the raw curve (K,)."""
    mean, count, null, null_count = affine_diagonals(xa, xb, offsets, max_pairs, clip_sigmas=2.5,
                                                     null_frames=affine_null_orders(len(xa), len(xb)),
                                                     null_offsets=null_offsets)
    mean[count < min_overlap] = np.nan
    null[null_count < min_overlap] = np.nan
    z = chance_z(mean, count, null.ravel(), null_count.ravel(), higher_is_better=False)
    return z, -mean


_FEATURES = {"speed": B.speed_features, "trajectory": B.trajectory_features}


def track_features(kind: str, x: np.ndarray, order: int | None = None) -> np.ndarray:
    """The ``kind`` correlation's per-frame features of track x, or of x reordered by its
    ``null_orders(len(x))[order]``: computed once per track (``tracks.TRACK_CACHE``; every pairing
    of the track asks again), read-only."""
    features = _FEATURES[kind]
    if order is None:
        return TRACK_CACHE.get(("features", kind), x, lambda: features(x))
    return TRACK_CACHE.get(("null features", kind, order), x, lambda: features(x[null_orders(len(x))[order]]))


def arm_labelled(x: np.ndarray) -> np.ndarray:
    """``tracks.consistent_arm_labels`` of track x, once per track (``tracks.TRACK_CACHE``), read-only."""
    return TRACK_CACHE.get("consistent arm labels", x, lambda: consistent_arm_labels(x))


def correlation_evidence(kind: str, xa, xb, offsets, null_offsets, min_overlap: int) -> tuple[np.ndarray, np.ndarray]:
    """z of the speed or trajectory correlation at each offset (K,), and the raw curve (K,).
    ``curve_evidence`` passes tracks whose arms are relabelled consistently over time."""
    fa = track_features(kind, xa)  # a's features once for the curve and every null ordering of b
    value, count = B.correlation_curve_of_features(fa, track_features(kind, xb), offsets, min_overlap)
    nulls = [B.correlation_curve_of_features(fa, track_features(kind, xb, r), null_offsets, min_overlap)
             for r in range(len(null_orders(len(xb))))]
    null = np.concatenate([v for v, _ in nulls])
    null_count = np.concatenate([c for _, c in nulls])
    return chance_z(value, count, null, null_count), value


def synnet_evidence(matcher, ka: Keypoints, kb: Keypoints, offsets_s: np.ndarray,
                    null_offsets_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z of SynNet's whole-track evidence (``matcher.offset_evidence``) at each offset, and the raw curve.

    Chance comes from the same two feature tracks, b's per-frame features reordered by
    ``null_orders`` (played backwards, circularly shifted) and scored by the pair head along the
    diagonals of ``null_offsets_s``: frame pairs with no common timing, from the very features the
    real offsets use (the network is not run again, so a reversed clip's different features cannot
    bias the chance level).
    """
    value, count = matcher.offset_evidence(ka, kb, offsets_s)
    null, null_count = synnet_null(matcher, ka, kb, null_offsets_s)
    return chance_z(np.asarray(value), np.asarray(count), null, null_count), np.asarray(value)


def synnet_null(matcher, ka: Keypoints, kb: Keypoints, null_offsets_s: np.ndarray,
                most: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """SynNet's chance values: mean pair scores (and their numbers of pairs) of a's features
    against b's reordered ones (``null_orders``), at up to ``most`` integer shifts per ordering."""
    fa, fb = matcher.features_of_pair(ka, kb)
    shifts = np.unique(np.round(np.asarray(null_offsets_s, np.float64) * fb.fps).astype(np.int64))
    if len(shifts) > most:
        shifts = shifts[np.unique(np.linspace(0, len(shifts) - 1, most).round().astype(int))]
    values, counts = [], []
    for order in null_orders(len(fb)):
        # b's features reordered: the same pair scores as the real offsets, read at other pairs
        v, c = matcher.diagonal_scores(fa, fb, shifts, order_b=order)
        values.append(v)
        counts.append(c)
    if not values:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(values).astype(np.float64), np.concatenate(counts).astype(np.float64)


def null_offsets(len_a: int, len_b: int, min_overlap: int, most: int = 400) -> np.ndarray:
    """Offsets (frames) of every overlap of at least ``min_overlap`` frames, thinned to ``most``."""
    lo, hi = -(len_b - min_overlap), len_a - min_overlap
    if lo > hi:
        return np.zeros(0, dtype=int)
    step = max(1, int(math.ceil((hi - lo + 1) / most)))
    return np.arange(lo, hi + 1, step)


def curve_evidence(cues, xa, xb, offsets, min_overlap: int, max_pairs: int, rate: float,
                   matcher=None, ka=None, kb=None) -> tuple[dict, dict]:
    """Every whole-range cue of ``cues``: ({name: z (K,)}, {name: raw curve (K,)})."""
    nulls = null_offsets(len(xa), len(xb), min_overlap)
    z, raw = {}, {}
    if "affine" in cues:
        z["affine"], raw["affine"] = affine_evidence(xa, xb, offsets, nulls, min_overlap, max_pairs)
    if any(kind in cues for kind in RELABEL_CUES):
        la, lb = arm_labelled(xa), arm_labelled(xb)
    for kind in ("speed", "trajectory"):
        if kind in cues:
            ta, tb = (la, lb) if kind in RELABEL_CUES else (xa, xb)
            z[kind], raw[kind] = correlation_evidence(kind, ta, tb, offsets, nulls, min_overlap)
    if "synnet" in cues and matcher is not None and hasattr(matcher, "offset_evidence"):
        z["synnet"], raw["synnet"] = synnet_evidence(matcher, ka, kb, offsets / rate, nulls / rate)
    return z, raw


def epipolar_evidence(fine, fine_null, cand_s: np.ndarray, step: float, null_s: np.ndarray) -> np.ndarray:
    """z of minus the epipolar cost of each candidate (best within one frame of it) -> (C,).

    ``fine``: the ``FineScorer`` of the pair; ``fine_null``: the same with b reversed, evaluated at
    ``null_s`` (seconds) for chance.
    """
    near = (cand_s[:, None] + np.array([-1, 0, 1])[None, :] * step).ravel()
    cost, count = fine.costs_and_counts(near)
    cost, count = cost.reshape(-1, 3), count.reshape(-1, 3)
    pick = np.argmin(np.where(np.isfinite(cost), cost, np.inf), axis=1)
    rows = np.arange(len(cand_s))
    null, null_count = fine_null.costs_and_counts(null_s)
    return chance_z(cost[rows, pick], count[rows, pick], null, null_count, higher_is_better=False)
