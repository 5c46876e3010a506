"""An independent check of every pair offset: do the people's joints agree across the views there?

``align`` picks each pair's offset from the fused cues (``combine``) and refines it with a
per-frame epipolar fit (``epipolar.FineScorer``); its confidence is the combiner's calibrated
probability. This module checks the answer with evidence the pick did not use:

- **One camera geometry for everyone, held over time.** The joints of *all* the people matched
  across the two views are stacked, and ONE fundamental matrix is fitted robustly (Cauchy IRLS,
  ``epipolar.static_epipolar_costs``) per window of ``window_seconds`` (the whole overlap for
  cameras standing still). The pick fits a free F to each frame pair of one person, which 13-18
  noisy joints bend to fit almost anything; here several frames (and several people) must share
  one geometry, as the real cameras do.
- **Identity before time.** At a candidate offset the people of a and b are matched one-to-one
  by that geometry (``match_people``): a person who agrees with a person of the other view at
  that offset. Two people doing the same motion seconds apart agree *one pairing at a time* at
  the wrong offsets (the first person against the second), but *all together* only at the right
  one: the number of people explained is compared across the pair's answers.
- **Against the alternatives and chance.** The fit at the answer is compared with the fit at
  offsets spread over the pair's range (every other answer it could have given), each divided by
  chance for exactly its frames (b's stretch played backwards).

``verify_pair`` returns a ``Verdict``; ``apply_verdict`` lowers the pair's confidence (or leaves
it) and says why in ``PairSync.reason`` / ``PairSync.verify`` (written to sync.json). Works with
two inputs (no loop of three needed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..skeleton import JOINT_INDEX
from .epipolar import static_epipolar_costs
from .tracks import gaussian_sample, track_normalisation

HIPS = (JOINT_INDEX["r_hip"], JOINT_INDEX["l_hip"])

MIN_WINDOW_FRAMES = 4      # a window with fewer sampled frames is left out (an F over 1-3 frames fits anything)
MIN_FRAMES = 12            # an offset needs this many compared frames
AGREE = 0.6                # a pairing agrees at an offset when its cost is below AGREE x its chance cost
DROP = 1.5                 # a pairing agrees at an offset when its evidence there is within DROP logits of its peak
NEAR_FRAMES = 12           # the geometry check fits every frame within this many of the answer
SPECIFIC = 2.0             # ...and when its peak stands at least SPECIFIC logits above its own median (else it
                           # agrees nearly everywhere: a person who barely moves, or two different people)


@dataclass
class Verdict:
    """The check of one pair answer.

    status: "confirmed" (the joints agree best at the answer, clearly better than elsewhere),
    "weak" (they agree there, but about as well elsewhere, or too little to tell),
    "contradicted" (another answer explains the joints better, or more people agree elsewhere),
    "unchecked" (nothing to compare). ratio: cost at the answer / chance cost (lower: better);
    margin: log(cost at the best other answer / cost at the answer) (> 0: the answer is better);
    people: people matched at the answer; best_offset: the other answer that beat it (s), or None.
    """

    status: str
    ratio: float = float("nan")
    margin: float = float("nan")
    people: int = 0
    best_offset: float | None = None
    people_elsewhere: int = 0
    reason: str | None = None
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out = {"status": self.status, "people": int(self.people)}
        for k in ("ratio", "margin"):
            v = getattr(self, k)
            if np.isfinite(v):
                out[k] = round(float(v), 4)
        if self.best_offset is not None:
            out["best_offset_seconds"] = round(float(self.best_offset), 6)
        return out


def _frame_positions(times: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Fractional frame indices of instants ``at`` in a track with frame ``times``; NaN outside."""
    pos = np.interp(at, times, np.arange(len(times), dtype=np.float64))
    return np.where((at >= times[0] - 1e-9) & (at <= times[-1] + 1e-9), pos, np.nan)


def _read(xy: np.ndarray, positions: np.ndarray, sigma: float) -> np.ndarray:
    """Joints (N, 18, 2) at fractional positions (NaN where outside)."""
    out = np.full((len(positions), xy.shape[1], 2), np.nan)
    ok = np.isfinite(positions)
    if ok.any():
        out[ok] = gaussian_sample(xy, positions[ok], sigma)
    return out


def _interpolate(xy: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Joints (N, 18, 2) linearly between frames at fractional positions (NaN outside or missing)."""
    ok = np.isfinite(positions)
    pos = np.where(ok, positions, 0.0)
    i0 = np.clip(np.floor(pos).astype(int), 0, len(xy) - 1)
    i1 = np.minimum(i0 + 1, len(xy) - 1)
    w = (pos - i0)[:, None, None]
    out = (1.0 - w) * xy[i0] + w * xy[i1]
    out[~ok] = np.nan
    return out


class PeopleGeometry:
    """The people of two sources, read at a's sampled instants and at b's for any offset.

    ``sa``/``sb``: ``align.Source`` (tracks on the source clock, ``t0`` its first frame). Offsets
    are b's first frame on a's clock (``PairSync``'s convention). At most ``max_samples`` instants
    of a are used (evenly strided); both tracks are smoothed by ``sigma_frames``."""

    def __init__(self, sa, sb, max_samples: int = 300, sigma_frames: float = 1.0, reassign: bool = True):
        self.reassign = reassign
        times = np.asarray(sa.times, np.float64)
        stride = max(1, int(math.ceil(len(times) / max_samples)))
        self.ta = times[::stride]
        self.sigma = sigma_frames
        self.xa = [_read(np.asarray(t.xy, np.float64), _frame_positions(t.times - sa.t0, self.ta), sigma_frames)
                   for t in sa.tracks]
        self.tb = [np.asarray(t.times, np.float64) - sb.t0 for t in sb.tracks]
        self.xb_raw = [np.asarray(t.xy, np.float64) for t in sb.tracks]
        # b smoothed once at its own frames, then read linearly in between (as epipolar.FineScorer)
        self.xb_smooth = [_read(x, np.arange(len(x), dtype=np.float64), sigma_frames) for x in self.xb_raw]
        self.norm_a = track_normalisation(np.concatenate(self.xa)) if self.xa else (np.zeros(2), 1.0)
        self.norm_b = track_normalisation(np.concatenate(self.xb_raw)) if self.xb_raw else (np.zeros(2), 1.0)
        self._b_cache: dict = {}
        # instants (own clocks, s) where two people of a view cross: who is who may change there
        self.cross_a, self.cross_b = (_crossing_times(s) for s in (sa, sb))

    def b_at(self, j: int, offset: float, reverse: bool = False) -> np.ndarray:
        """b's person j at a's instants for ``offset``; ``reverse``: the same stretch of b played
        backwards (same poses and frames, no common timing: chance for exactly these frames)."""
        key = (j, round(float(offset), 9), reverse)
        if key not in self._b_cache:
            pos = _frame_positions(self.tb[j], self.ta - offset)
            if reverse and np.isfinite(pos).any():
                pos = np.nanmin(pos) + np.nanmax(pos) - pos
            self._b_cache[key] = _interpolate(self.xb_smooth[j], pos)
        return self._b_cache[key]

    def costs(self, matches, offsets, window_seconds: float | None = None,
              fill: float = 0.0, reverse: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Mean robust epipolar cost (K,) of the people ``matches`` [(i, j), ...] stacked, one F per
        window of ``window_seconds`` on a's clock (None: one F for the whole overlap) at each
        offset (s), and the frames compared (K,); NaN where fewer than ``MIN_FRAMES`` frames are
        compared. A window is used only when at least ``fill`` of its instants are compared (so
        that every offset's F spans the same time: with moving cameras a shorter span fits one F
        better). ``reverse``: b's stretch played backwards (``b_at``).

        With ``reassign`` (default) and two or three people, who is who may change where people
        cross in either view (a tracker exchanges them): between crossings (``crossings``) each
        stretch takes the assignment of b's matched people to a's that fits one F best
        (``_assigned_costs``); chance (``reverse``) gets the same freedom."""
        offsets = np.atleast_1d(np.asarray(offsets, np.float64))
        out = np.full(len(offsets), np.nan)
        count = np.zeros(len(offsets), int)
        if not matches:
            return out, count
        xa = np.concatenate([self.xa[i] for i, _ in matches], axis=1)
        win = np.zeros(len(self.ta), int) if window_seconds is None else \
            np.floor((self.ta - self.ta[0]) / max(window_seconds, 1e-9)).astype(int)
        n_win = int(win.max()) + 1 if len(win) else 1
        full = np.bincount(win, minlength=n_win)
        perms = _assignments(len(matches)) if self.reassign else [tuple(range(len(matches)))]
        rows, groups, xbs, segs = [], [], [], []
        for k, o in enumerate(offsets):
            people = [self.b_at(j, o, reverse) for _, j in matches]
            xb = np.concatenate(people, axis=1)
            seen = (np.isfinite(xa).all(-1) & np.isfinite(xb).all(-1)).sum(axis=1) >= 8
            idx = np.flatnonzero(seen)
            if len(idx) < MIN_FRAMES:
                continue
            size = np.bincount(win[idx], minlength=n_win)
            idx = idx[(size[win[idx]] >= MIN_WINDOW_FRAMES) & (size[win[idx]] >= fill * full[win[idx]])]
            if len(idx) < MIN_FRAMES:
                continue
            rows.append(idx)
            groups.append(k * n_win + win[idx])
            xbs.append(np.stack([np.concatenate([people[q] for q in p], axis=1)[idx] for p in perms]))
            # a new stretch wherever a crossing of either view (at its own frames) lies since the last row
            seg = np.searchsorted(self.cross_a, self.ta[idx], "right") + \
                np.searchsorted(self.cross_b, self.ta[idx] - o, "right")
            segs.append(seg - seg[0] + (segs[-1].max() + 1 if segs else 0))
        if not rows:
            return out, count
        all_rows = np.concatenate(rows)
        g = np.concatenate(groups)
        c = _assigned_costs(xa[all_rows], np.concatenate(xbs, axis=1), g, len(offsets) * n_win,
                            self.norm_a, self.norm_b, np.concatenate(segs))
        k_of = g // n_win
        for k in np.unique(k_of):
            v = c[k_of == k]
            v = v[np.isfinite(v)]
            if len(v) >= MIN_FRAMES:
                out[k], count[k] = float(np.mean(v)), len(v)
        return out, count


def _assignments(m: int) -> list[tuple[int, ...]]:
    """Every assignment of ``m`` matched people of b to a's (the given one first); one for m > 3."""
    from itertools import permutations

    return list(permutations(range(m))) if 1 < m <= 3 else [tuple(range(m))]


CROSSING = 0.5  # two people of one view this close (hip centres, x their body size) may be exchanged by a tracker


def crossings(people: list) -> np.ndarray:
    """Instants (N,) where any two of ``people`` ((N, 18, 2) each, one view) come within
    ``CROSSING`` body sizes of each other: where a tracker may exchange them."""
    hips = []
    size = []
    for xy in people:
        with np.errstate(invalid="ignore"):
            seen = np.isfinite(xy).all(-1)
            centre = np.where(seen[:, list(HIPS)].all(-1)[:, None], xy[:, list(HIPS)].mean(axis=1), np.nan)
            lo = np.where(seen[..., None], xy, np.inf).min(axis=1)
            hi = np.where(seen[..., None], xy, -np.inf).max(axis=1)
        hips.append(centre)
        size.append(np.where(seen.sum(-1) >= 5, (hi - lo).max(-1), np.nan))
    out = np.zeros(len(people[0]) if people else 0, bool)
    for p in range(len(people)):
        for q in range(p + 1, len(people)):
            with np.errstate(invalid="ignore"):
                d = np.linalg.norm(hips[p] - hips[q], axis=-1)
                out |= d < CROSSING * np.fmax(size[p], size[q])
    return out


def _crossing_times(source) -> np.ndarray:
    """Frame times (s, the source's clock, sorted) where two of its people cross (``crossings``)."""
    if len(source.tracks) < 2:
        return np.zeros(0)
    cross = crossings([np.asarray(t.xy, np.float64) for t in source.tracks])
    return np.asarray(source.tracks[0].times, np.float64)[cross] - source.t0


def _per_segment(cost: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Mean finite cost (A, S) of every assignment over each segment's rows (inf: none finite)."""
    n_seg = int(segments.max()) + 1 if len(segments) else 0
    ok = np.isfinite(cost)
    total = np.stack([np.bincount(segments, np.where(ok[a], cost[a], 0.0), n_seg) for a in range(len(cost))])
    n = np.stack([np.bincount(segments, ok[a].astype(float), n_seg) for a in range(len(cost))])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / n, np.inf)


def _assigned_costs(xa: np.ndarray, xb: np.ndarray, groups: np.ndarray, n_groups: int, norm_a, norm_b,
                    segments: np.ndarray) -> np.ndarray:
    """``static_epipolar_costs`` when b's people may be exchanged where people cross: ``xb`` (A, P,
    18m, 2) holds b's stacked people in each assignment A (the given one first) for the P rows of
    ``xa`` (P, 18m, 2); ``segments`` (P,) numbers the stretches between crossings (globally
    unique), inside which who is who does not change. Per group, its longest segment fits one F
    in each assignment and the best one starts; every segment then takes the assignment that fits
    that F best, and the F is fitted again on those rows. Returns each row's cost (P,)."""
    n_a, n_p = xb.shape[:2]
    if n_a == 1:
        return static_epipolar_costs(xa, xb[0], groups, n_groups, norm_a, norm_b, min_joints=8)
    xa_all = np.tile(xa, (n_a, 1, 1, 1)).reshape((-1,) + xa.shape[1:])
    xb_all = xb.reshape((-1,) + xb.shape[2:])
    g_all = np.tile(groups, n_a)
    rows = np.arange(n_p)

    def fitted(chosen: np.ndarray, use: np.ndarray) -> np.ndarray:
        fit = np.zeros((n_a, n_p), bool)
        fit[chosen[use], rows[use]] = True
        return static_epipolar_costs(xa_all, xb_all, g_all, n_groups, norm_a, norm_b, min_joints=8,
                                     fit_rows=fit.ravel()).reshape(n_a, n_p)

    start = np.zeros(n_p, bool)
    for g in np.unique(groups):
        mine = groups == g
        segs, counts = np.unique(segments[mine], return_counts=True)
        start |= mine & (segments == segs[int(np.argmax(counts))])
    tries = [fitted(np.full(n_p, a), start) for a in range(n_a)]
    # each group's F: the assignment of its longest segment that fits that segment best
    score = np.array([[np.nanmean(np.where(start & (groups == g), t[a], np.nan)) if (start & (groups == g)).any()
                       else np.inf for g in range(n_groups)] for a, t in enumerate(tries)])
    best_a = np.argmin(np.where(np.isfinite(score), score, np.inf), axis=0)  # (n_groups,)
    cost = np.stack(tries)[best_a[groups], :, rows].T  # (A, P): every assignment under its group's F
    for _ in range(2):
        chosen = np.argmin(_per_segment(cost, segments), axis=0)[segments]
        cost = fitted(chosen, np.ones(n_p, bool))
    chosen = np.argmin(_per_segment(cost, segments), axis=0)[segments]
    return cost[chosen, rows]


# ---------------------------------------------------------------------------------- identity

def max_matching(agree: np.ndarray, score: np.ndarray | None = None) -> list[tuple[int, int]]:
    """The largest one-to-one matching of a boolean (Na, Nb) ``agree`` matrix (ties: the largest
    summed ``score``), as [(i, j)] sorted by i. Brute force: align keeps at most a few people."""
    from itertools import permutations

    na, nb = agree.shape
    score = np.zeros(agree.shape) if score is None else score
    best, best_key = [], (0, -np.inf)
    small, large = (na, nb) if na <= nb else (nb, na)
    for perm in permutations(range(large), small):
        pairs = [(k, perm[k]) if na <= nb else (perm[k], k) for k in range(small)]
        pairs = [(i, j) for i, j in pairs if agree[i, j]]
        key = (len(pairs), float(sum(score[i, j] for i, j in pairs)))
        if key > best_key:
            best, best_key = pairs, key
    return sorted(best)


def pairing_agreement(curves: dict, offset: float, tolerance: float, drop: float = DROP,
                      specific: float = SPECIFIC) -> tuple[np.ndarray, np.ndarray]:
    """Which person pairings say "same person" at ``offset`` (s, source clocks).

    ``curves``: {(i, j): (offsets_seconds (K,), fused logit (K,))} of every comparable pairing
    (``pair.combined_curve`` over the pairing's search range, on the source clocks). A pairing
    agrees at ``offset`` when its curve within ``tolerance`` of it comes within ``drop`` logits of
    its own peak, and that peak stands at least ``specific`` logits above the curve's median (a
    flat curve, a person who barely moves or two different people, is near its peak almost
    everywhere: it would "agree" with any answer; measured on the Pose2Sim two-person videos, such
    pairings made a wrong answer look supported by two people). Returns (agree (Na, Nb) bool,
    value at the offset (Na, Nb), -inf where unknown)."""
    na = 1 + max([i for i, _ in curves] + [-1])
    nb = 1 + max([j for _, j in curves] + [-1])
    agree = np.zeros((na, nb), bool)
    value = np.full((na, nb), -np.inf)
    for (i, j), (offs, logit) in curves.items():
        ok = np.isfinite(logit)
        if not ok.any():
            continue
        near = ok & (np.abs(offs - offset) <= tolerance)
        if near.any():
            peak = float(np.max(logit[ok]))
            value[i, j] = float(np.max(logit[near]))
            agree[i, j] = value[i, j] >= peak - drop and is_specific(logit, specific)
    return agree, value


def is_specific(logit: np.ndarray, specific: float = SPECIFIC) -> bool:
    """Whether a pairing's fused curve (K,) has a peak standing ``specific`` logits above its median."""
    ok = np.isfinite(logit)
    return bool(ok.any() and float(np.max(logit[ok])) - float(np.median(logit[ok])) >= specific)


def discount_unspecific(estimates: list, curves: dict, factor: float | None = None) -> int:
    """Lower the confidence of the estimates (``pair.SubjectEstimate`` with ``pairing``) whose
    pairing's curve (``curves`` {(i, j): (offsets, logit)}) has no specific peak (``is_specific``)
    while another pairing of the two inputs has one: such a pairing (two different people, or one
    who barely moves) says nothing about who is who, and its refined answer rests on the fine
    stage alone (measured: the Pose2Sim two-person videos, cam02's dancer against cam04's
    bystander, 5.4 frames off at 0.53). Each keeps ``factor`` (default ``IDENTITY_FACTOR``) of
    its confidence. Returns how many were lowered."""
    factor = IDENTITY_FACTOR if factor is None else factor
    specific = {ij: is_specific(logit) for ij, (_, logit) in curves.items()}
    if not any(specific.values()):
        return 0
    lowered = [e for e in estimates if e.pairing is not None and not specific.get(e.pairing, True)]
    for e in lowered:
        e.confidence *= factor
    return len(lowered)


def agreeing_estimates(estimates: list, frame: float, variance) -> tuple[list, list]:
    """The first of ``estimates`` (the most confident) with those that agree with it: within 2
    frames (``frame`` s), or 3 standard errors when both have one (``variance(e)``: s^2; the error
    bar of an estimate without a finite ``stderr`` is unknown, so it agrees only within 2 frames).
    Returns (the group, one-to-one: no two share a person (``e.pairing`` = (i, j)); the agreeing
    estimates that do share a person with the group: the same person paired twice is not a second
    person agreeing, nor a different answer)."""
    best = estimates[0]
    group, same, used_a, used_b = [best], [], set(), set()
    if best.pairing is not None:
        used_a.add(best.pairing[0])
        used_b.add(best.pairing[1])
    for e in estimates[1:]:
        tol = 2.0 * frame
        if np.isfinite(e.stderr) and np.isfinite(best.stderr):
            tol = max(tol, 3.0 * math.sqrt(variance(e) + variance(best)))
        if abs(e.offset_seconds - best.offset_seconds) > tol:
            continue
        if e.pairing is not None and (e.pairing[0] in used_a or e.pairing[1] in used_b):
            same.append(e)
            continue
        group.append(e)
        if e.pairing is not None:
            used_a.add(e.pairing[0])
            used_b.add(e.pairing[1])
    return group, same


def best_partners(strength: np.ndarray, margin: float) -> list[tuple[int, int]]:
    """Each person of a with its strongest partner in b: [(i, j)] for the rows whose best pairing
    (``strength`` (Na, Nb), -inf: not comparable) is within ``margin`` of the strongest overall."""
    ok = np.isfinite(strength)
    if not ok.any():
        return []
    top = float(np.max(strength[ok]))
    out = []
    for i, row in enumerate(strength):
        if np.isfinite(row).any():
            j = int(np.argmax(np.where(np.isfinite(row), row, -np.inf)))
            if row[j] >= top - margin:
                out.append((i, j))
    return out


def people_at(curves: dict, offset: float, tolerance: float, drop: float = DROP) -> list[tuple[int, int]]:
    """The people of a and b matched one-to-one at ``offset`` by their pairing evidence
    (``pairing_agreement``, then ``max_matching``)."""
    if not curves:
        return []
    agree, value = pairing_agreement(curves, offset, tolerance, drop)
    return max_matching(agree, np.where(np.isfinite(value), value, 0.0))


def identity_hypotheses(curves: dict, tolerance: float, drop: float = DROP) -> list[tuple[float, list]]:
    """Each pairing's peak offset with the people matched there: [(offset_s, matching)], the
    offsets where the most people agree first (ties: the larger summed evidence). Two people doing
    the same motion seconds apart give peaks where one pairing agrees (one person against the
    other) and one where both do (the right offset)."""
    hyps = []
    for offs, logit in curves.values():
        if np.isfinite(logit).any():
            o = float(offs[int(np.nanargmax(logit))])
            agree, value = pairing_agreement(curves, o, tolerance, drop)
            match = max_matching(agree, np.where(np.isfinite(value), value, 0.0))
            hyps.append((o, match, float(sum(value[i, j] for i, j in match))))
    hyps.sort(key=lambda h: (-len(h[1]), -h[2], h[0]))
    return [(o, m) for o, m, _ in hyps]


# ---------------------------------------------------------------------------------- geometry

def geometry_verdict(geom: PeopleGeometry, matches, answer: float, grid: np.ndarray, frame: float,
                     agree: float = AGREE, tolerance_frames: float = 3.0, worse: float = 1.25,
                     overlap_share: float = 0.7) -> Verdict:
    """The fixed-geometry check of ``answer`` (s) for the matched people ``matches``.

    One fundamental matrix for the whole overlap is fitted at every offset of ``grid`` (s, the
    pair's search range) and near the answer, and its cost divided by chance for exactly those
    frames (the same fit with b's stretch played backwards: a shorter or stiller stretch fits one F
    better whether right or not). When no offset gets below ``agree`` x chance there is no fixed
    geometry to test against (moving cameras, or too noisy): "unchecked". Otherwise the answer is
    "confirmed" when the best fit lies within ``tolerance_frames`` frames (``frame`` s) of it,
    "contradicted" when an offset farther away fits better by more than ``worse`` x (its cost
    ratio), else "weak". Offsets comparing fewer than ``overlap_share`` x the answer's frames are
    left out (noisy)."""
    # every frame near the answer, out to ``NEAR_FRAMES``: a better fit a few frames away (a
    # biased answer) is narrow, and the range's grid (``grid``) steps over it
    reach = max(tolerance_frames, NEAR_FRAMES)
    local = answer + np.arange(-reach, reach + 1e-9, 1.0) * frame
    offs = np.unique(np.round(np.concatenate([np.asarray(grid, np.float64), local]), 9))
    fit, count = geom.costs(matches, offs)
    chance_fit, _ = geom.costs(matches, offs, reverse=True)
    # each offset against chance for exactly its frames: b's same stretch played backwards
    # (a shorter or stiller stretch fits one F better, right or not)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = fit / chance_fit
    ok = np.isfinite(c)
    near = ok & (np.abs(offs - answer) <= 0.5 * frame + 1e-9)
    if near.any():  # very short overlaps are noisy: compare like with like
        ok &= count >= overlap_share * np.max(count[near])
    far = ok & (np.abs(offs - answer) > tolerance_frames * frame + 1e-9)
    if ok.sum() < 5 or not near.any() or not far.any():
        return Verdict("unchecked", people=len(matches), reason="too little overlap to check the geometry")
    c_ans = float(np.min(c[near]))
    k_far = int(np.flatnonzero(far)[np.argmin(c[far])])
    c_far = float(c[k_far])
    best = float(np.min(c[ok]))
    ratio, margin = c_ans, math.log(c_far / max(c_ans, 1e-12))
    details = {"cost": c_ans, "best_far_cost": c_far, "best_ratio": best}
    if best >= agree:
        return Verdict("unchecked", ratio, margin, len(matches), details=details,
                       reason="no fixed camera geometry fits the joints at any offset (moving cameras?)")
    if c_far * worse < c_ans:
        return Verdict("contradicted", ratio, margin, len(matches), best_offset=float(offs[k_far]), details=details,
                       reason=(f"the joints fit one camera geometry better at {offs[k_far]:+.3f} s than at the "
                               f"answer ({c_far:.2f} vs {c_ans:.2f} of chance)"))
    if margin > 0 and ratio < agree:
        return Verdict("confirmed", ratio, margin, len(matches), details=details)
    return Verdict("weak", ratio, margin, len(matches), details=details,
                   reason="the joints fit one camera geometry about as well away from the answer")


# ---------------------------------------------------------------------------------- a pair's answers

IDENTITY_FACTOR = 0.25   # confidence kept by an answer at which fewer people agree than at another
GEOMETRY_FACTOR = 0.2    # confidence kept by an answer the fixed-geometry check contradicts
CHECK_FROM = 0.1         # answers less confident than this are not checked (they carry no weight)


def check_options(options: list, source_curves: dict, geom: PeopleGeometry | None, grid: np.ndarray,
                  frame: float, tolerance: float, wrong_frames: float = 3.0) -> tuple[list, list[dict], list[str | None]]:
    """Check each of a pair's answers (``PairSync.options``: (offset, confidence, stderr, people)).

    1. Identity: the people matched one-to-one at each answer (``people_at`` on the pairings'
       curves ``source_curves``); an answer at which fewer people agree than at another answer
       keeps ``IDENTITY_FACTOR`` of its confidence.
    2. Geometry (``geometry_verdict`` with those people, ``wrong_frames`` its tolerance in
       ``frame`` units; ``geom`` None: skipped): contradicted answers keep ``GEOMETRY_FACTOR`` of
       their confidence.
    Returns (options with the new confidences, most confident first; a check dict per option for
    sync.json; a reason per option or None), in the same new order."""
    people = [people_at(source_curves, o[0], tolerance) for o in options]
    most = max([len(p) for p in people] + [0])
    out = []
    for (offset, conf, se, n), match in zip(options, people):
        check = {"people": len(match)}
        reasons = []
        if len(match) < most:
            conf *= IDENTITY_FACTOR
            check["identity"] = "fewer"
            reasons.append(f"{len(match)} person(s) agree across the views here, {most} at another answer")
        if geom is not None and options_conf_ok(conf, len(match) < most):
            use = match or _best_pairing(source_curves, offset, tolerance) or [(0, 0)]  # main people first
            verdict = geometry_verdict(geom, use, offset, grid, frame, tolerance_frames=wrong_frames)
            check |= verdict.to_json() | {"people": len(match)}
            if verdict.status == "contradicted":
                conf *= GEOMETRY_FACTOR
                reasons.append(verdict.reason)
        else:
            check["status"] = "unchecked"
        out.append(((offset, float(conf), se, n), check, "; ".join(reasons) or None))
    out.sort(key=lambda r: -r[0][1])
    return [r[0] for r in out], [r[1] for r in out], [r[2] for r in out]


def options_conf_ok(conf: float, discounted: bool) -> bool:
    """Whether an answer is confident enough (before the identity discount) to be checked."""
    return (conf / IDENTITY_FACTOR if discounted else conf) >= CHECK_FROM


def _best_pairing(curves: dict, offset: float, tolerance: float) -> list[tuple[int, int]]:
    """The one pairing whose evidence is highest near ``offset`` (when none agrees one-to-one)."""
    if not curves:
        return []
    _, value = pairing_agreement(curves, offset, tolerance)
    if not np.isfinite(value).any():
        return []
    i, j = np.unravel_index(int(np.argmax(value)), value.shape)
    return [(int(i), int(j))]
