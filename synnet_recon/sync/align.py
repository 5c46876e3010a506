"""`align`: time offsets of several videos / keypoint tracks of the same moving person.

Pipeline (``align(inputs, AlignConfig()) -> SyncResult``):

1. **Load** every input as COCO-18 ``Keypoints`` tracks: videos through 2D pose
   (``synnet_recon.pose``, per-frame timestamps, so variable frame rates are fine), OpenPose
   JSON folders through ``synnet_recon.io.openpose`` (frame ``n`` at ``n / fps``), or ``Keypoints``
   given directly. An input's own clock starts at its first frame.
2. **Pairs** (``pair.estimate_subject_pair``, for every pair of inputs and every matched pair of
   people): each cue of ``AlignConfig.cues`` scores every offset of the search range as a z-score
   against chance for that overlap length (``evidence``): affine rank-3 residual, speed and
   trajectory correlations, SynNet; a combiner learned on simulated training scenes
   (``combine``, ``weights/sync_combiner.json``) fuses them, picks among the best peaks with the
   epipolar residual, refines the winner to a sub-frame offset (``epipolar.FineScorer``) and
   gives the pair's confidence. Short clips are scored too (``min_overlap_frames``).
3. **Several people**: people who barely move are left out (they carry no timing); tracks are
   matched across two inputs by their affine consistency (Hungarian assignment); the per-person
   offsets are combined weighted by confidence (paper, Table 6), or the most confident one wins
   when they disagree.
4. **Loops**: every loop of three inputs must close (offset(a,b) + offset(b,c) = offset(a,c));
   a pair that breaks more of its loops than the others is excluded, and pairs in a broken loop
   that cannot be explained have their confidence halved (``solve.check_loops``).
   Each answer is then checked independently (``verify``): the people matched one-to-one at it,
   and one fixed camera geometry for them; answers that fail have their confidence lowered.
5. **Joint solve** (``solve.solve_offsets``): robust weighted least squares over all pairs with the
   reference fixed to 0, independent of input order; outlier pairs are flagged. An input no
   confident pair reaches is joined through the weak pair whose path to the reference is most
   probably right (``JOIN_BY_PATH``).

Offsets: ``offset_seconds`` of input k is the time on the reference clock at which its first frame
was captured. A pair's offset is b's first frame on a's clock.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..keypoints import Keypoints
from . import verify
from .evidence import parse_cues
from .pair import NoOffset, estimate_subject_pair, pair_curves
from .result import SCHEMA, VERSION, PairSync, SyncResult, VideoSync  # noqa: F401  (re-exported)
from .solve import PairObservation, check_loops, solve_offsets
from .tracks import MIN_COMMON_JOINTS, resample_track

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm")
ANALYSIS_RATE = 30.0

@dataclass
class AlignConfig:
    """How ``align`` works. Times in seconds; frames are analysis frames unless stated."""

    fps: float = 30.0                  # frame rate of OpenPose folders (videos use their timestamps)
    max_offset: float | None = None    # largest |offset| between any two inputs; None: all the inputs allow
    reference: str | None = None       # name of the reference input; None: the first
    device: str = "auto"               # SynNet device: auto | cpu | cuda
    checkpoint: str | None = None      # SynNet weights; None: the packaged default if any
    synnet: str = "auto"               # auto (on when the cues include it and its weights load, CPU too) | on | off
    analysis_rate: float | None = None  # None: the model's fps with SynNet, else 30
    window_frames: int = 32            # the longest overlap asked of an offset (analysis frames); SynNet's window
    min_overlap_frames: int = 12       # fewest frames in common an offset needs (chance-judged, so short is fair)
    cues: str = "all"                  # cues fused: all | no-synnet | geometry | synnet | correlation | a list
    min_motion: float = 0.3            # people moving less than this x the most active person are left out
    candidates: int = 3                # coarse peaks examined in the fine stage
    smooth_frames: float = 1.5         # Gaussian smoothing of the fine stage, analysis frames
    fine_step: float = 0.1             # fine grid step, analysis frames
    fine_radius: float = 1.5           # fine grid half-width around a candidate, analysis frames
    max_fine_samples: int = 600        # frames of the first track used by the fine stage (strided)
    max_coarse_pairs: int = 2_000_000  # frame pairs of the coarse stage (rows strided above this)
    inlier_frames: float = 2.0         # joint solve: largest residual of an inlier pair (frames of the fastest input)
    min_pair_confidence: float = 0.3   # weaker pairs are not used in the joint solve...
    min_join_confidence: float = 0.0   # ...except to reach an input no stronger pair reaches (its best pair above this)
    fine_swaps: bool = False           # fine stage also tries b's arms swapped per frame pair (~2x slower fine stage)
    static_ratio: float = 2.5          # one F for the whole overlap when its cost < this x the per-frame cost (0: never)
    drift: str = "auto"                # off | auto (report when significant) | on (always fit)
    threads: int = 2                   # input pairs analysed at once (threads; the result does not depend on it)
    max_people: int = 3                # people per input considered (multi-subject scenes)
    max_pairings: int = 3              # person pairings refined per pair of inputs (the strongest)
    video_people: int = 4              # people the pose detector looks for in videos (1: single-person graph)
    verify: bool = True                # check every answer independently (sync/verify.py) and lower its confidence
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
    """One name per input: a name given twice becomes name_1, name_2, ..., skipping names that
    are taken (``["a", "a", "a_1"]`` -> ``["a_2", "a_3", "a_1"]``)."""
    names = [n or "input" for n in names]
    repeated = {n for n in names if names.count(n) > 1}
    taken = {n for n in names if n not in repeated}
    out, last = [], {}
    for n in names:
        if n in repeated:
            k = last.get(n, 0) + 1
            while f"{n}_{k}" in taken:
                k += 1
            last[n] = k
            n = f"{n}_{k}"
        taken.add(n)
        out.append(n)
    return out


def _usable_frames(kp: Keypoints, min_joints: int = MIN_COMMON_JOINTS) -> int:
    return int((np.isfinite(kp.xy).all(axis=2).sum(axis=1) >= min_joints).sum())


def articulation(kp: Keypoints, rate: float = ANALYSIS_RATE, max_frames: int = 240, far_seconds: float = 0.5) -> float:
    """How much a person's pose changes, whatever the camera does: the affine rank-3 residual of
    the track against itself (``affine.affine_cost_matrix``: zero for two affine views of one rigid
    pose, so camera motion, zoom and turning do not count), median over frame pairs more than
    ``far_seconds`` apart, less its median over consecutive frames (the detector's jitter).
    Measured: 1e-5 for a still extra detection in the Pose2Sim demo, 4e-4 to 1e-3 for simulated
    bystanders with slowly drifting detector errors, 5e-4 to 4e-3 for people moving. So it drops
    what does not move at all; telling a bystander from a slow mover is left to the pairing
    evidence (``pairing_strength``, loops). (A ratio far / near exploded on a detection with no
    jitter.) At most
    ``max_frames`` frames (evenly spread) are compared. NaN when too few joints are seen to tell."""
    from .affine import affine_cost_matrix

    xy = resample_track(kp, rate)
    if len(xy) < 3:
        return float("nan")
    rows = np.unique(np.linspace(0, len(xy) - 2, min(max_frames, len(xy) - 1)).astype(int))
    cost = affine_cost_matrix(xy[rows], xy[rows + 1])
    near = np.diagonal(cost)
    far = cost[np.abs(rows[:, None] - rows[None, :]) > far_seconds * rate]
    near, far = near[np.isfinite(near)], far[np.isfinite(far)]
    if near.size < 5 or far.size < 5:
        return float("nan")
    return float(np.median(far) - np.median(near))


def moving_people(tracks: list[Keypoints], min_motion: float) -> list[Keypoints]:
    """The tracks whose ``articulation`` is at least ``min_motion`` x the most articulated one's,
    in their given order: people who barely move carry no timing (their pose is the same at every
    offset). A track whose articulation cannot be told is kept only when none can be told."""
    if len(tracks) < 2 or not min_motion > 0:
        return list(tracks)
    energy = np.array([articulation(t) for t in tracks])
    if not np.isfinite(energy).any():
        return list(tracks)
    keep = np.isfinite(energy) & (energy >= min_motion * np.nanmax(energy))
    return [t for t, k in zip(tracks, keep) if k]


def load_source(item, config: AlignConfig) -> Source:
    """One input -> Source. Raises InputError for unreadable inputs or when nobody is found."""
    if isinstance(item, Keypoints):
        tracks, path, kind = [item], None, "keypoints"
        name = _input_name(item)
        fps = item.fps
    else:
        path = Path(item)
        if not path.exists():
            raise InputError(path, "no such file or folder")
        name = _input_name(item)
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
    tracks = [t for t in tracks if _usable_frames(t) > 0]
    if not tracks:
        raise InputError(path if path is not None else name, "no person found")
    tracks = moving_people(tracks, config.min_motion)[: max(1, config.max_people)]
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

def _pairing_curves(sa: Source, sb: Source, config: AlignConfig, rate: float, matcher, cues, model) -> dict:
    """Every pairing of a person of a with a person of b: {(i, j): (``pair_curves``' answer, the
    fused curve (K,) built from it once, ``combined_curve`` with the overlap) or the NoOffset
    reason (str)}. The strength, the identity check and the refinement all read that one curve."""
    from .pair import combined_curve

    out = {}
    for i, ka in enumerate(sa.tracks):
        for j, kb in enumerate(sb.tracks):
            try:
                c = pair_curves(ka, kb, config, rate, cues, matcher)
            except NoOffset as exc:
                out[(i, j)] = str(exc)
                continue
            out[(i, j)] = (c, combined_curve(model, c[1], c[3]))
    return out


def pairing_strength(pairing) -> float:
    """How strongly a pairing of two tracks says "same person, one offset": the peak of its fused
    curve (``combine``'s logit that an offset is right), each cue already judged against chance.
    Views of one moving body give a high, sharp peak; two different people, or a person who barely
    moves (the same pose at every offset), give chance-level values. ``pairing``: an entry of
    ``_pairing_curves``; -inf when not comparable (its NoOffset reason)."""
    if isinstance(pairing, str):
        return -math.inf
    curve = pairing[1]
    return float(np.nanmax(curve)) if np.isfinite(curve).any() else -math.inf


def _strongest_pairings(strength: np.ndarray, most: int, margin: float = 3.0) -> list[tuple[int, int]]:
    """The pairings of track indices (a, b) worth refining, strongest first: at most ``most``,
    none weaker than the strongest by more than ``margin`` (logit units) nor incomparable.

    ``strength`` (Na, Nb): ``pairing_strength`` of every pairing. Not one-to-one on purpose: when
    the evidence is weak, which pairing is right is left to the loops of three inputs."""
    ok = np.isfinite(strength)
    if not ok.any():
        return [(0, 0)]
    top = float(np.max(strength[ok]))
    order = np.argsort(-np.where(ok, strength, -np.inf), axis=None, kind="stable")
    picked = [tuple(int(v) for v in np.unravel_index(f, strength.shape)) for f in order[:max(1, most)]]
    return [ij for ij in picked if ok[ij] and strength[ij] >= top - margin]


def pair_cues(config: AlignConfig, matcher) -> tuple[str, ...]:
    """The cues that run: those asked for, without SynNet when no matcher is loaded."""
    from .combine import model_for

    cues = parse_cues(config.cues)
    if matcher is None or not model_for(cues).trained and model_for(tuple(c for c in cues if c != "synnet")).trained:
        cues = tuple(c for c in cues if c != "synnet")  # no SynNet, or a combiner fitted without it only
    if not cues:
        raise InputError(None, f"cues {config.cues!r} need SynNet, which is off (--synnet off or no weights)")
    return cues


def pair_evidence(sa: Source, sb: Source, config: AlignConfig, rate: float, matcher=None) -> dict:
    """The whole-range evidence of every pairing of a person of a with one of b (``_pairing_curves``
    with the cues and combiner that run): the first, heavier half of ``estimate_pair``."""
    from .combine import model_for

    cues = pair_cues(config, matcher)
    return _pairing_curves(sa, sb, config, rate, matcher, cues, model_for(cues))


def estimate_pair(sa: Source, sb: Source, config: AlignConfig, rate: float, matcher=None,
                  pairings: dict | None = None) -> PairSync:
    """Offset of source b relative to a over the people matched across the two (paper Table 6).

    Every pairing of a person of a with one of b is scored against chance (``pairing_strength``);
    the strongest pairings by that evidence are kept (``_strongest_pairings``), so bystanders who barely
    move and people seen in only one input drop out. The matched pairings are refined; those that
    agree with the most confident one are combined (inverse-variance offset, noisy-OR confidence);
    matched pairings that disagree lower the confidence (each by its own confidence) and the pair
    says so in its ``reason``. ``pairings``: ``pair_evidence(sa, sb, ...)`` when already computed."""
    from .combine import model_for

    cues = pair_cues(config, matcher)
    method = "+".join(cues)
    model = model_for(cues)
    if pairings is None:
        pairings = _pairing_curves(sa, sb, config, rate, matcher, cues, model)
    strength = np.array([[pairing_strength(pairings[(i, j)]) for j in range(len(sb.tracks))]
                         for i in range(len(sa.tracks))])
    curves = _source_curves(sa, sb, pairings, rate)
    refine = _strongest_pairings(strength, config.max_pairings)
    if config.verify and len(curves) > 1:  # identity before time: the people who agree together
        hyps = verify.identity_hypotheses(curves, IDENTITY_TOLERANCE / rate)
        refine += [ij for ij in (hyps[0][1] if hyps else []) if ij not in refine]
        # and each person's own best partner, so that a person who disagrees with the strongest
        # pairing gives its own answer (which then lowers the confidence of the others)
        refine += [ij for ij in verify.best_partners(strength, PARTNER_MARGIN) if ij not in refine]
    subjects, reasons = [], [v for v in pairings.values() if isinstance(v, str)]
    for i, j in refine:
        if isinstance(pairings[(i, j)], str):
            continue
        est = estimate_subject_pair(sa.tracks[i], sb.tracks[j], config, rate, matcher, cues=cues, model=model,
                                    curves=pairings[(i, j)][0], curve=pairings[(i, j)][1])
        # own clocks start at each source's first frame: correct for tracks starting later
        shift = _clock_shift(sa, sb, i, j)
        est.offset_seconds += float(shift)
        est.curve_offsets = est.curve_offsets + float(shift)
        est.pairing = (i, j)
        subjects.append(est)
    if config.verify and len(curves) > 1:
        verify.discount_unspecific(subjects, curves)  # pairings that do not tell who is who
    if not subjects:
        return PairSync(sa.name, sb.name, None, 0.0, method, inlier=False, cues=cues,
                        reason=reasons[0] if reasons else "no person matched across the two inputs")
    pair = _combine_subjects(sa, sb, subjects, rate, method, cues)
    if config.verify:
        _verify_pair(pair, sa, sb, curves, rate)
    return pair


IDENTITY_TOLERANCE = 2.0  # analysis frames: a pairing agrees at an offset when its evidence peaks this close
PARTNER_MARGIN = 6.0      # logits: a person's best partner is refined when within this of the strongest pairing


def _clock_shift(sa: Source, sb: Source, i: int, j: int) -> float:
    """Pairing (i, j)'s offset on its tracks' own clocks -> on the sources' clocks: add this (s)."""
    return float((sa.tracks[i].times[0] - sa.t0) - (sb.tracks[j].times[0] - sb.t0))


def _source_curves(sa: Source, sb: Source, pairings: dict, rate: float) -> dict:
    """{(i, j): (offsets on the sources' clocks (K,) s, fused logit (K,))} of the comparable pairings."""
    return {(i, j): (c[0][0] / rate + _clock_shift(sa, sb, i, j), c[1])
            for (i, j), c in pairings.items() if not isinstance(c, str)}


def _verify_pair(pair: PairSync, sa: Source, sb: Source, curves: dict, rate: float) -> None:
    """The independent check of every answer of the pair (``verify.check_options``): identity of
    the people across the views, and one fixed camera geometry for them; the confidences lowered
    where they disagree, the pair's answer re-chosen, and why in ``reason`` / ``verify``."""
    frame = 1.0 / max(rate, sa.fps if np.isfinite(sa.fps) else rate, sb.fps if np.isfinite(sb.fps) else rate)
    offs = pair.curve_offsets if pair.curve_offsets is not None else np.array([pair.offset_seconds])
    step = max(1, int(math.ceil(len(offs) / 24)))
    geom = verify.PeopleGeometry(sa, sb, max_samples=100)
    # an answer is wrong 2 frames of the slower input off: the geometry's best fit that far away contradicts it
    rates = [f for f in (sa.fps, sb.fps) if np.isfinite(f) and f > 0]
    coarse = 1.0 / min(rates) if rates else 1.0 / rate
    options, checks, why = verify.check_options(pair.options, curves, geom, np.asarray(offs)[::step], frame,
                                                IDENTITY_TOLERANCE / rate, wrong_frames=2.0 * coarse / frame)
    pair.options, pair.option_checks, pair.option_reasons = options, checks, why
    pair.option_people = [verify.people_at(curves, o[0], IDENTITY_TOLERANCE / rate) for o in options]
    _adopt_first_option(pair)


def _adopt_first_option(pair: PairSync) -> None:
    """The pair's answer is its first (most confident) option: its offset, standard error, people,
    confidence and check, and the reason that option carries added to the pair's."""
    pair.offset_seconds, _, pair.stderr, pair.subjects = pair.options[0]
    pair.confidence = option_confidence(pair.options, 0)
    pair.verify = pair.option_checks[0]
    if pair.option_reasons[0]:
        pair.reason = pair.option_reasons[0] if not pair.reason else f"{pair.reason}; {pair.option_reasons[0]}"


def _subject_options(subjects: list, rate: float, frame: float) -> list[tuple[float, float, float, int]]:
    """The refined pairings grouped into distinct answers: each the most confident remaining
    estimate with those agreeing with it, combined (inverse-variance offset, noisy-OR confidence:
    agreeing independent people raise it). Returns [(offset_seconds, confidence, stderr, people)],
    most confident first. See ``verify.agreeing_estimates`` for what agrees."""
    left = sorted(subjects, key=lambda e: -e.confidence)
    options = []
    while left:
        group, same = verify.agreeing_estimates(left, frame, lambda e: _variance(e.stderr, rate))
        left = [e for e in left if all(e is not g for g in group + same)]
        var = np.array([_variance(e.stderr, rate) for e in group])
        offset = float(np.sum(np.array([e.offset_seconds for e in group]) / var) / np.sum(1.0 / var))
        conf = 1.0 - float(np.prod([1.0 - e.confidence for e in group]))
        options.append((offset, conf, float(np.sqrt(1.0 / np.sum(1.0 / var))), len(group)))
    return sorted(options, key=lambda o: -o[1])


def option_confidence(options: list, chosen: int, supported: set | None = None) -> float:
    """Confidence of answer ``chosen`` among a pair's ``options``: its own, lowered by every other
    answer's confidence (people matched across the inputs who point elsewhere), except those that
    loops of three inputs have shown wrong (``supported``: the options loops do not rule out)."""
    conf = options[chosen][1]
    for k, o in enumerate(options):
        if k != chosen and (supported is None or k in supported):
            conf *= 1.0 - o[1]
    return float(conf)


def _combine_subjects(sa: Source, sb: Source, subjects: list, rate: float, method: str, cues) -> PairSync:
    """One PairSync from the refined pairings of matched people (see ``estimate_pair``): the most
    confident answer, lowered by the others (``option_confidence``); all answers kept in
    ``options`` for the loops of three inputs to choose among."""
    best = max(subjects, key=lambda e: e.confidence)
    options = _subject_options(subjects, rate, 1.0 / max(rate, sa.fps, sb.fps))
    offset, _, stderr, people = options[0]
    reason = None
    if len(options) > 1:
        reason = (f"the people matched across the two inputs disagree ({people} of {len(subjects)} agree): "
                  "confidence lowered")
    capped = [(e.offset_seconds, e.features["group_stderr_frames"]) for e in subjects
              if e.features.get("group_check") == 0.0]
    return PairSync(sa.name, sb.name, offset, option_confidence(options, 0), method, stderr=stderr,
                    group_capped=capped,
                    features=dict(best.features), drift_ppm=best.drift_ppm, drift_significant=best.drift_significant,
                    subjects=people, curve_offsets=best.curve_offsets, curve_scores=best.curve_scores,
                    baseline_offsets=best.baseline_offsets, cues=cues, cue_curves=best.cue_curves, reason=reason,
                    options=options)


def _flipped(p: PairSync) -> PairSync:
    """The same estimate seen from the other side: a and b swapped, offset negated."""
    from dataclasses import replace

    curve_offsets = None if p.curve_offsets is None else -p.curve_offsets[::-1]
    curve_scores = None if p.curve_scores is None else p.curve_scores[::-1]
    return replace(p, a=p.b, b=p.a, offset_seconds=None if p.offset_seconds is None else -p.offset_seconds,
                   drift_ppm=-p.drift_ppm, curve_offsets=curve_offsets, curve_scores=curve_scores,
                   baseline_offsets={k: -v for k, v in p.baseline_offsets.items()},
                   cue_curves={k: v[::-1] for k, v in p.cue_curves.items()},
                   options=[(-o, c, se, n) for o, c, se, n in p.options],
                   verify=_flipped_check(p.verify), option_checks=[_flipped_check(c) for c in p.option_checks],
                   option_people=[[(j, i) for i, j in m] for m in p.option_people])


def _flipped_check(check: dict) -> dict:
    out = dict(check)
    if out.get("best_offset_seconds") is not None:
        out["best_offset_seconds"] = -out["best_offset_seconds"]
    return out


def _variance(stderr: float, rate: float, floor_frames: float = 0.05, cap_frames: float = 5.0) -> float:
    """Variance (s^2) of an estimate from its standard error, kept within [floor, cap] frames."""
    se = stderr if np.isfinite(stderr) else cap_frames / rate
    se = min(max(se, floor_frames / rate), cap_frames / rate)
    return se * se


# ---------------------------------------------------------------------------------- main entry

def _synnet_is_fused(config: AlignConfig, matcher_class) -> bool:
    """SynNet joins by default only through its whole-track path (fast on a CPU) and when the
    shipped combiner was fitted with it; otherwise its window-by-window scoring (~5 s per pair on a
    CPU) is used only on request (``synnet="on"`` or a checkpoint)."""
    from .combine import model_for

    cues = parse_cues(config.cues)
    return hasattr(matcher_class, "offset_evidence") and model_for(cues).trained


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
    if config.synnet == "auto" and "synnet" not in parse_cues(config.cues):
        return None
    try:
        from .matcher import SynNetMatcher

        if config.synnet == "auto" and not _synnet_is_fused(config, SynNetMatcher):
            return None
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


def _input_name(item) -> str:
    """The name an input goes by before it is loaded (a file's stem, a folder's name, a track's name)."""
    if isinstance(item, Keypoints):
        return item.name or "track"
    path = Path(item)
    return path.stem if path.is_file() else path.name


def _check_sources(sources: list[Source], config: AlignConfig, rate: float) -> int:
    """The reference's index among the loaded inputs. Raises InputError for an unknown reference,
    an input shorter than ``min_overlap_frames``, or one without a visible body."""
    names = [s.name for s in sources]
    ref_name = config.reference if config.reference is not None else names[0]
    if ref_name not in names:
        raise InputError(None, f"unknown --reference {ref_name!r} (inputs: {', '.join(names)})")
    for s in sources:
        where = s.path if s.path is not None else s.name
        duration = s.times[-1] if len(s.times) else 0.0
        frames = int(np.floor(duration * rate + 1e-6)) + 1
        if frames < config.min_overlap_frames:
            raise InputError(where, f"only {frames} frames at {rate:g} fps ({duration:.2f} s), fewer than the "
                                    f"{config.min_overlap_frames} frames an offset needs in common")
        if max(_usable_frames(t) for t in s.tracks) < config.min_overlap_frames // 2:
            raise InputError(where, "no person found (too few frames with a visible body)")
    return names.index(ref_name)


class _PairWork:
    """The pieces of every pair, queued on ``pool`` as the inputs arrive: SynNet's features of each
    track of the new input; for each pair it makes with the inputs before it, the pair's
    whole-range evidence (``pair_evidence``) once both inputs' features are done, then its answer
    (``estimate_pair`` on that evidence) once the evidence is done. A piece is queued only when
    what it reads is ready (``_after``), so no thread waits on another's piece while work is
    queued (queued in arrival order, the first answer used to block its thread for a whole
    evidence piece: with 3 x 300 keypoints, ~0.75 s of one core idle out of ~3.2 s). Each pair is
    computed in name order, and a piece gives the same numbers wherever and whenever it runs: the
    result depends neither on the input order nor on the threads nor on the timing."""

    def __init__(self, pool, n: int, config: AlignConfig, rate: float, matcher):
        self.pool, self.config, self.rate, self.matcher = pool, config, rate, matcher
        self.sources: list = [None] * n
        self.whole_track = (matcher is not None and hasattr(matcher, "track_features")
                            and "synnet" in pair_cues(config, matcher))
        self.features, self.answers = [], {}
        self.source_features: list = [[] for _ in range(n)]

    def arrived(self, k: int, source: Source) -> None:
        """Input k is loaded (every input before it is too): queue its pieces."""
        self.sources[k] = source
        if self.whole_track:
            self.source_features[k] = [self.pool.submit(self.matcher.track_features, t) for t in source.tracks]
            self.features += self.source_features[k]
        for j in range(k):
            a, b = self._ordered(j, k)
            evidence = _after(self.pool, self.source_features[j] + self.source_features[k], pair_evidence,
                              self.sources[a], self.sources[b], self.config, self.rate, self.matcher)
            self.answers[(j, k)] = _after(self.pool, [evidence], self._answer, j, k, evidence)

    def _ordered(self, i: int, j: int) -> tuple[int, int]:
        return (i, j) if self.sources[i].name <= self.sources[j].name else (j, i)

    def _answer(self, i: int, j: int, evidence) -> PairSync:
        a, b = self._ordered(i, j)
        out = estimate_pair(self.sources[a], self.sources[b], self.config, self.rate, self.matcher,
                            pairings=evidence.result())
        return out if (a, b) == (i, j) else _flipped(out)

    def pairs(self, index_pairs, progress: bool) -> list[PairSync]:
        for f in self.features:
            f.result()
        answers = [self.answers[tuple(ij)] for ij in index_pairs]
        return [f.result() for f in _progress(answers, "align pairs", len(answers), progress)]


def _after(pool, needs: list, fn, *args):
    """A future of ``fn(*args)``, run on ``pool`` once every future of ``needs`` is done (failed or
    cancelled too: ``fn`` then sees it). When the pool has shut down meanwhile (an input failed and
    the queued pieces were dropped), the future holds that error instead."""
    import threading
    from concurrent.futures import Future

    out: Future = Future()
    left = [len(needs)]
    lock = threading.Lock()

    def copy(done) -> None:
        if done.cancelled():
            out.cancel()
        elif done.exception() is not None:
            out.set_exception(done.exception())
        else:
            out.set_result(done.result())

    def start(_=None) -> None:
        with lock:
            left[0] -= 1
            if left[0] > 0:
                return
        try:
            job = pool.submit(fn, *args)
        except RuntimeError as exc:  # "cannot schedule new futures after shutdown"
            out.set_exception(exc)
            return
        job.add_done_callback(copy)

    if not needs:
        left[0] = 1
        start()
    for need in needs:
        need.add_done_callback(start)
    return out


def _load_and_estimate(inputs: list, config: AlignConfig):
    """(sources, reference index, rate, matcher, pairs (index pairs in ``combinations`` order)).

    SynNet (importing torch, reading the weights: ~2 s) loads in a thread while the inputs load
    (two at a time: video pose, decode and MediaPipe release the GIL); each pair's pieces
    (``_PairWork``) start as soon as its two inputs are loaded, so the matching runs while the
    other videos are still being posed. Errors come as when each step waited for the one before:
    SynNet's first, then the first bad input in order, then the reference, then the inputs too
    short or without a body (``_check_sources``); pieces already queued are then dropped."""
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    from ..pose import BACKEND_POOL
    from .threads import at_most, torch_threads
    from .tracks import TRACK_CACHE

    names = _unique_names([_input_name(item) for item in inputs])
    # pose backends are kept from one video to the next (a loader thread poses several videos)
    with BACKEND_POOL.active(), ThreadPoolExecutor(max_workers=1) as side, \
            ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1, len(inputs))) as loader:
        matcher_job = side.submit(_make_matcher, config)
        loads = [loader.submit(load_source, item, config) for item in inputs]
        try:
            matcher = matcher_job.result()
        except BaseException:
            loader.shutdown(cancel_futures=True)
            raise
        rate = float(config.analysis_rate or (matcher.config.fps if matcher is not None else ANALYSIS_RATE))
        if matcher is not None:
            config.window_frames = max(int(config.window_frames), int(matcher.window_frames))
        workers = max(1, int(config.threads))
        # warnings.catch_warnings (used inside to silence NaN-mean warnings) is not thread-safe: the
        # pieces' threads run under this one filter, set and restored here in the calling thread
        with torch_threads(1 if matcher is not None and workers > 1 else None), warnings.catch_warnings(), \
                at_most(config.threads), TRACK_CACHE.active(), ThreadPoolExecutor(max_workers=workers) as pool:
            warnings.simplefilter("ignore", RuntimeWarning)
            work = _PairWork(pool, len(inputs), config, rate, matcher)
            try:
                sources = []
                for k, job in enumerate(_progress(loads, "load inputs", len(loads), config.progress)):
                    source = job.result()
                    source.name = names[k]
                    sources.append(source)
                    work.arrived(k, source)
                ref = _check_sources(sources, config, rate)
                pairs = work.pairs(list(combinations(range(len(sources)), 2)), config.progress)
            except BaseException:
                loader.shutdown(cancel_futures=True)
                pool.shutdown(cancel_futures=True)
                raise
    return sources, ref, rate, matcher, pairs


def _check_pair_loops(index_pairs, pairs: list[PairSync], tolerance: float) -> None:
    """Loops of three inputs over the answered pairs: a pair identified as breaking its loops gets
    confidence 0 (left out of the solve); pairs in a broken loop that cannot be explained keep
    half their confidence. Each pair records its loops and, when flagged, the reason."""
    answered = [k for k, p in enumerate(pairs) if p.offset_seconds is not None]
    obs = [PairObservation(*index_pairs[k], pairs[k].offset_seconds, 1.0) for k in answered]
    loops = check_loops(obs, tolerance)
    for pos, k in enumerate(answered):
        p = pairs[k]
        if loops.checked[pos]:
            p.loops = {"checked": int(loops.checked[pos]), "closed": int(loops.checked[pos] - loops.broken[pos])}
        if loops.excluded[pos]:
            p.reason = f"breaks {loops.broken[pos]} of its {loops.checked[pos]} loops of three inputs: left out"
            p.confidence = 0.0
        elif loops.unresolved[pos]:
            p.reason = "in a loop of three inputs that does not close (which pair is wrong is unknown): confidence halved"
            p.confidence *= 0.5


def _loop_closures(index_pairs, offsets: list, tolerance: float) -> list[tuple[list[int], bool]]:
    """Every loop of three answered pairs: ([k_ij, k_jk, k_ik], closes) over pair indices
    (``solve._triangles`` on the answered pairs; ``offsets[k]`` None: pair k unanswered)."""
    from .solve import _triangles

    obs = [PairObservation(i, j, 0.0 if o is None else float(o), 1.0) for (i, j), o in zip(index_pairs, offsets)]
    return _triangles(obs, np.array([o is not None for o in offsets], bool), tolerance)


def _closed_loops_with(index_pairs, offsets: list, k: int, offset: float, tolerance: float,
                       unconfirming: frozenset = frozenset()) -> int:
    """How many of pair k's loops of three close when its offset is ``offset``, the others fixed
    (loops through another pair of ``unconfirming`` not counted)."""
    trial = list(offsets)
    trial[k] = offset
    return sum(ok for ks, ok in _loop_closures(index_pairs, trial, tolerance)
               if k in ks and not any(q in unconfirming for q in ks if q != k))


def _contradicted(p: PairSync, c: int) -> bool:
    """Whether the independent check (``verify.check_options``) contradicts option ``c`` of pair
    ``p``: fewer people agree across the two views there than at another of its answers, or the
    fixed camera geometry contradicts it."""
    if c >= len(p.option_checks):
        return False
    check = p.option_checks[c]
    return check.get("identity") in ("fewer", "across") or check.get("status") == "contradicted"


SAME_PEOPLE_RIVALS = True  # loops never rule out an answer at which the same people are matched as at the chosen one


def _same_people_options(p: PairSync, c: int) -> set[int]:
    """The other options of pair ``p`` at which the same people are matched one-to-one as at
    option ``c`` (``option_people``, none empty)."""
    if c >= len(p.option_people) or not p.option_people[c]:
        return set()
    mine = sorted(p.option_people[c])
    return {o for o, m in enumerate(p.option_people) if o != c and m and sorted(m) == mine}


LOOPS_THROUGH_CONTRADICTED = False  # a loop through an answer the independent check contradicts rules out others


IDENTITY_ACROSS_LOOPS = True  # an answer pairing people the two other pairs of a loop say are different is lowered


def _oriented_people(index_pairs, pairs: list[PairSync], i: int, j: int) -> tuple[float, dict] | None:
    """The identity pair (i, j) is confident in: its first answer's confidence and its people
    matching as {track of i: track of j} (None: no answer, or no matching, or contradicted)."""
    k = index_pairs.index((min(i, j), max(i, j)))
    p = pairs[k]
    if p.offset_seconds is None or not p.options or not p.option_people or _contradicted(p, 0) or not p.option_people[0]:
        return None
    m = p.option_people[0] if i < j else [(b, a) for a, b in p.option_people[0]]
    return p.options[0][1], dict(m)


def _check_identity_across_loops(index_pairs, pairs: list[PairSync], n: int) -> None:
    """Identities compose around a loop of three inputs: when pairs (i, j) and (i, k) identify
    person a of j and person b of k with two different people of i, an answer of pair (j, k) that
    pairs a with b pairs two different people (the loops alone cannot see it: going from one
    person to another and back, such a loop closes by construction). Such an answer keeps
    ``verify.IDENTITY_FACTOR`` of its confidence when the two identities are jointly more
    confident than it. (Several people, dev seed 2, trial 19: cam2 shows one track, so nothing
    inside pair (1, 2) could flag its answer pairing cam1's walker with cam2's main person.)"""
    refs = {(i, j): _oriented_people(index_pairs, pairs, i, j) for i in range(n) for j in range(n)
            if i != j and (min(i, j), max(i, j)) in index_pairs}
    for k, (j, q) in enumerate(index_pairs):
        p = pairs[k]
        if p.offset_seconds is None or not p.options or len(p.option_people) != len(p.options):
            continue
        lowered = False
        for c, (opt, match) in enumerate(zip(p.options, p.option_people)):
            for i in range(n):
                ra, rb = refs.get((j, i)), refs.get((q, i))
                if i in (j, q) or ra is None or rb is None or ra[0] * rb[0] <= opt[1]:
                    continue
                if any(a in ra[1] and b in rb[1] and ra[1][a] != rb[1][b] for a, b in match):
                    o, conf, se, m = opt
                    p.options[c] = (o, conf * verify.IDENTITY_FACTOR, se, m)
                    p.option_checks[c] = dict(p.option_checks[c], identity="across")
                    why = f"pairs people whom the pairs with input {i} identify as different people"
                    p.option_reasons[c] = f"{p.option_reasons[c]}; {why}" if p.option_reasons[c] else why
                    lowered = True
                    break
        if lowered:
            order = sorted(range(len(p.options)), key=lambda c: -p.options[c][1])
            p.options = [p.options[c] for c in order]
            p.option_checks = [p.option_checks[c] for c in order]
            p.option_reasons = [p.option_reasons[c] for c in order]
            p.option_people = [p.option_people[c] for c in order]
            _adopt_first_option(p)


def _choose_options_by_loops(index_pairs, pairs: list[PairSync], tolerance: float, most: int = 729) -> None:
    """Several people: each pair may hold several answers (``PairSync.options``, one per group of
    matched people that agree). Choose one per pair so that the loops of three inputs close with
    the largest summed confidence (every combination tried, when there are at most ``most``);
    the chosen answer's confidence is lowered by the other answers that its loops do not rule out
    (``option_confidence``), and always by those at which the same people are matched
    (``SAME_PEOPLE_RIVALS``). Pairs keep their most confident answer when no loop closes."""
    from itertools import product

    multi = [k for k, p in enumerate(pairs) if p.offset_seconds is not None and len(p.options) > 1]
    if not multi or math.prod(len(pairs[k].options) for k in multi) > most:
        return
    base = [p.offset_seconds for p in pairs]
    best, best_score, tried = None, (0.0, 0.0), []
    for combo in product(*[range(len(pairs[k].options)) for k in multi]):
        offsets, confs = list(base), [p.confidence for p in pairs]
        for k, c in zip(multi, combo):
            offsets[k], confs[k] = pairs[k].options[c][0], pairs[k].options[c][1]
        loops = _loop_closures(index_pairs, offsets, tolerance)
        closed = sum(sum(confs[k] for k in ks) for ks, ok in loops if ok)
        tried.append((combo, sum(ok for _, ok in loops)))
        score = (closed, -sum(combo))
        if closed > 0 and (best is None or score > best_score):
            best, best_score = combo, score
    if best is None:
        return
    chosen = dict(zip(multi, best))
    offsets = list(base)
    for k, c in chosen.items():
        offsets[k] = pairs[k].options[c][0]
    # an answer is not ruled out while some whole choice holding it closes as many loops as the
    # chosen one (e.g. one view sees only one of two people doing the same motion: both identities
    # close every loop, and nothing here tells them apart)
    n_best = dict(tried)[best]
    rivals = [combo for combo, n in tried if n >= n_best]
    # A loop through an answer that the independent check contradicts (it pairs people whom the
    # pair's own evidence says are not the same, e.g. the main person of one view with a second
    # person of another) rules nothing out: a loop that goes from one person to another and back
    # closes by construction (the offset between the two people's motions cancels), so it cannot
    # tell a relabelling of the people from the right identities. (Several people, dev seed 1,
    # trial 8: the main person of cam0 and cam2 paired with the walker of cam1 on both sides
    # closed the only loop within 0.2 frame; loops then ruled out pair (0, 1)'s answer of two
    # agreeing people, and cam1 came -163 frames off at confidence 0.95.)
    unconfirming = frozenset() if LOOPS_THROUGH_CONTRADICTED else frozenset(
        k for k, p in enumerate(pairs) if p.offset_seconds is not None and p.options
        and _contradicted(p, chosen.get(k, 0)))
    for pos, (k, c) in enumerate(chosen.items()):
        p = pairs[k]
        closes = [0 if k in unconfirming and _contradicted(p, o) else
                  _closed_loops_with(index_pairs, offsets, k, opt[0], tolerance, unconfirming)
                  for o, opt in enumerate(p.options)]
        supported = {o for o in range(len(p.options)) if closes[o] >= closes[c]} | {combo[pos] for combo in rivals}
        # Loops tell identities apart; an answer at which the same people are matched as at the
        # chosen one is the same identity measured another way (another person pairing), and its
        # disagreement says how precise the chosen one is, which no loop of 3-frame tolerance can
        # settle. (Several people, dev seed 1, trial 26: pair (0, 2)'s walker pairing +2.15
        # frames off and its main-person pairing -1.02, 3.2 frames apart; the loop missed the
        # second by 3.07 frames at a 3.0 tolerance and ruled it out: cam2 2.14 frames off at 0.92.)
        if SAME_PEOPLE_RIVALS:
            supported |= _same_people_options(p, c)
        p.offset_seconds, _, p.stderr, p.subjects = p.options[c]
        p.confidence = option_confidence(p.options, c, supported)
        if p.option_checks:
            p.verify = p.option_checks[c]
        if len(supported) == 1:
            p.reason = (f"the people matched across the two inputs disagree; the answer of {p.subjects} of them "
                        "is the one the loops of three inputs confirm")
        if p.option_reasons and p.option_reasons[c]:
            p.reason = f"{p.reason}; {p.option_reasons[c]}" if p.reason else p.option_reasons[c]


def _observation(i: int, j: int, p: PairSync, rate: float) -> PairObservation:
    return PairObservation(i, j, p.offset_seconds, 1.0 / (_variance(p.stderr, rate) * rate * rate),
                           support=max(p.confidence, 1e-3))


JOIN_BY_PATH = True  # joins: the pair whose path to the reference is most probably right (else its own confidence)


def path_reliability(n: int, ref: int, edges: dict[tuple[int, int], float]) -> np.ndarray:
    """(n,) the probability that the most reliable path from ``ref`` to each input is right: the
    largest product of its pairs' confidences (``edges`` {(i, j): confidence}, either order; Dijkstra
    on -log); 1 at ``ref``, 0 where no path reaches."""
    import heapq

    adj: dict[int, list[tuple[int, float]]] = {}
    for (i, j), c in edges.items():
        c = min(max(float(c), 0.0), 1.0)
        adj.setdefault(i, []).append((j, c))
        adj.setdefault(j, []).append((i, c))
    best = np.zeros(n)
    best[ref] = 1.0
    heap = [(-1.0, ref)]
    while heap:
        negp, u = heapq.heappop(heap)
        if -negp < best[u]:
            continue
        for v, c in adj.get(u, []):
            if -negp * c > best[v]:
                best[v] = -negp * c
                heapq.heappush(heap, (-best[v], v))
    return best


def _solve(sources: list[Source], ref: int, index_pairs, pairs: list[PairSync], config: AlignConfig, rate: float):
    """Joint solve over the confident pairs; marks each pair inlier or not, with its residual.

    An input that no confident pair reaches is then joined through an answered pair (confidence
    above ``min_join_confidence``): a short clip gets its offset with the low confidence it has,
    rather than none. Of the pairs that would join it, the one whose path to the reference is most
    probably right (``JOIN_BY_PATH``: its confidence times ``path_reliability`` of the input it
    leaves from, over the inlier pairs so far; 1 at the reference): a weak pair to an input that is
    itself only weakly joined does not win over the direct pair with the reference because its own
    confidence is a little higher. (``JOIN_BY_PATH`` off: the most confident pair.)"""
    finest = max([rate] + [s.fps for s in sources if np.isfinite(s.fps)])
    if IDENTITY_ACROSS_LOOPS:
        _check_identity_across_loops(index_pairs, pairs, len(sources))
    _choose_options_by_loops(index_pairs, pairs, 1.5 * config.inlier_frames / finest)
    _check_pair_loops(index_pairs, pairs, 1.5 * config.inlier_frames / finest)
    obs_pair = [k for k, p in enumerate(pairs)
                if p.offset_seconds is not None and p.confidence >= config.min_pair_confidence]
    while True:
        obs = [_observation(*index_pairs[k], pairs[k], rate) for k in obs_pair]
        sol = solve_offsets(len(sources), obs, ref, inlier_seconds=config.inlier_frames / finest)
        reached = np.isfinite(sol.offsets)
        joins = [k for k, p in enumerate(pairs)
                 if k not in obs_pair and p.offset_seconds is not None and p.confidence > config.min_join_confidence
                 and reached[index_pairs[k][0]] != reached[index_pairs[k][1]]]
        if not joins:
            break
        if JOIN_BY_PATH:
            reach = path_reliability(len(sources), ref, {index_pairs[k]: pairs[k].confidence
                                                         for k, ok in zip(obs_pair, sol.inlier) if ok})
            start = {k: index_pairs[k][0] if reached[index_pairs[k][0]] else index_pairs[k][1] for k in joins}
            obs_pair.append(max(joins, key=lambda k: (pairs[k].confidence * reach[start[k]], pairs[k].confidence, -k)))
        else:
            obs_pair.append(max(joins, key=lambda k: (pairs[k].confidence, -k)))
    for k, ok, r in zip(obs_pair, sol.inlier, sol.residuals):
        pairs[k].inlier = bool(ok)
        pairs[k].residual_seconds = float(r)
        pairs[k].features["residual_frames"] = float(abs(r) * rate)
    used = set(obs_pair)
    for k, p in enumerate(pairs):
        if k not in used:
            p.inlier = False
    return sol


def _why_unreached(k: int, index_pairs, pairs: list[PairSync]) -> str:
    """Why input k has no offset: its pairs' reasons (no shared motion found, no overlap), or that
    every answer it had was ruled out."""
    mine = [p for (i, j), p in zip(index_pairs, pairs) if k in (i, j)]
    reasons = sorted({p.reason for p in mine if p.offset_seconds is None and p.reason})
    if reasons:
        return "; ".join(reasons)
    return "no pair with the other inputs kept an offset (too little shared motion, or ruled out by the loops of three)"


def _note_group_cap(p: PairSync, frame: float) -> None:
    """Say in the pair's reason when the joint-group check capped the confidence of the estimate its
    final answer comes from (within ``frame`` s of it)."""
    near = [se for off, se in p.group_capped if p.offset_seconds is not None and abs(off - p.offset_seconds) <= frame]
    if near:
        why = (f"the answer moves by {max(near):.1f} analysis frames (standard error) when one group of joints "
               "is left out: confidence capped")
        p.reason = f"{p.reason}; {why}" if p.reason else why


def _result(sources: list[Source], ref: int, index_pairs, pairs: list[PairSync], sol, rate: float) -> SyncResult:
    warnings = []
    for p in pairs:
        _note_group_cap(p, 0.5 / rate)
    fps_ref = sources[ref].fps
    videos = []
    for k, s in enumerate(sources):
        off = sol.offsets[k]
        if not np.isfinite(off):
            warnings.append(f"{s.name}: offset left empty: {_why_unreached(k, index_pairs, pairs)}")
            videos.append(VideoSync(s.name, s.path, s.kind, s.fps, s.num_frames, None, None, 0.0, s.times,
                                    **_keypoints_of(s)))
            continue
        conf = 1.0 if k == ref else _video_confidence(k, ref, index_pairs, pairs)
        videos.append(VideoSync(s.name, s.path, s.kind, s.fps, s.num_frames, float(off), float(off * fps_ref), conf,
                                s.times, **_keypoints_of(s)))
    for p in pairs:
        if p.reason and p.offset_seconds is not None:
            warnings.append(f"{p.a}/{p.b}: {p.reason}")
        if p.drift_significant:
            warnings.append(f"{p.a}/{p.b}: clocks drift by about {p.drift_ppm:.0f} ppm (offset given at the overlap's centre)")
    return SyncResult(sources[ref].name, videos, pairs, warnings)


def align(inputs: Sequence, config: AlignConfig | None = None) -> SyncResult:
    """Synchronize inputs (video paths, OpenPose folders or Keypoints); see the module docstring.

    Raises InputError for bad inputs: fewer than 2, unreadable, nobody found, shorter than
    ``min_overlap_frames``, a non-positive ``max_offset``, an unknown ``reference``.
    """
    from dataclasses import replace

    config = replace(config) if config is not None else AlignConfig()  # never mutate the caller's config
    inputs = list(inputs)
    _check_config(inputs, config)
    sources, ref, rate, matcher, pairs = _load_and_estimate(inputs, config)
    index_pairs = list(combinations(range(len(sources)), 2))
    sol = _solve(sources, ref, index_pairs, pairs, config, rate)
    return _result(sources, ref, index_pairs, pairs, sol, rate)


def _keypoints_of(s: Source) -> dict:
    """Where a result's input keeps its keypoints: an OpenPose folder input is its own; the tracks
    computed from a video (or given in memory) are held for ``SyncResult.save`` to write."""
    if s.kind == "keypoints" and s.path is not None:
        return {"keypoints": s.path}
    return {"tracks": list(s.tracks)}


VIDEO_CONFIDENCE = "noisy_or"  # how the direct pair and the best path combine (see _video_confidence)


def _video_routes(k: int, ref: int, index_pairs, pairs: list[PairSync]) -> tuple[float, float]:
    """(confidence of the direct inlier pair between ``ref`` and k, the most reliable indirect
    path's: product of its inlier pairs' confidences, Dijkstra on -log); 0 where none."""
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
    return direct, best.get(k, 0.0)


def _video_confidence(k: int, ref: int, index_pairs, pairs: list[PairSync]) -> float:
    """P(offset of input k is right), from the inlier pairs: noisy-OR of the direct pair to the
    reference and the most reliable indirect path (``_video_routes``)."""
    direct, indirect = _video_routes(k, ref, index_pairs, pairs)
    if VIDEO_CONFIDENCE == "max":
        return float(max(direct, indirect))
    return float(1.0 - (1.0 - direct) * (1.0 - indirect))
