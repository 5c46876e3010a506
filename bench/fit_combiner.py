"""Fit align's evidence combiner (synnet_recon/weights/sync_combiner.json) on simulated training scenes.

    python bench/fit_combiner.py --scenes 60                    # all standard cue sets, default file
    python bench/fit_combiner.py --scenes 8 --out /tmp/c.json   # a quick look
    python bench/fit_combiner.py --scenes 80 --paper 120 --synnet --cache runs/pass1 --sets all,no-synnet,geometry
    python bench/fit_combiner.py --scenes 80 --paper 120 --synnet --cache runs/pass1 --cv 4 --cv-only --drop-joints none
    python bench/fit_combiner.py --scenes 80 --paper 120 --same-motion 48 --people 12 --synnet --cache runs/pass1 --cv 4

Scenes come from the TRAINING split of the CMU motions only (``synnet_recon.sync.data``), filmed by
``synnet_recon.synth.simulate_scene`` under the realistic conditions of
``synnet_recon.synth.conditions`` when that module is there (upper-body views, sideways cameras,
correlated detector errors, dropped frames), with static (tripod-like) cameras in part of the
scenes, short clips (the paper protocol: 32 frames at 30 fps, offsets up to 16 frames) and long
windows (some filmed at 15 fps), and one pair in ten of two unrelated recordings (nothing to find:
every offset is wrong). The pick stage sees each cue's z at the candidates besides the curve and
the epipolar z. ``--overlap-terms`` adds overlap-dependent terms to the curve and pick stages (each
cue's z times the log of the frames in common, ``combine.with_overlap_terms``); off by default: in a
4-fold cross-validation on the training pairs (80 scenes) they lowered the curve's share within 2
frames (every cue: 0.675 -> 0.608). ``--paper N`` adds N pairs of the paper's protocol (2 moving
cameras, 32-frame clips at 30 fps, offsets 4m frames, --max-offset 16.5 frames) on the training
motions. ``--cache DIR`` keeps pass 1 (every cue's curves, the slow part), one file per cue keyed by
everything it depends on (``cue_cache_key``). ``--cv K`` cross-validates the curve and pick stages
by scene (``--cv-only``: nothing written); ``--drop-joints`` / ``--relabel`` set the affine cue's
dropped joints and the relabelled correlation cues for one run (to compare them in CV).
``--same-motion N`` adds N unrelated pairs cut from two stretches of ONE motion that share no
instant (a periodic motion matches itself a period later: ``same_motion_pairs``); ``--people N``
the pairs of N several-people scenes built by bench/bench_sync_real.py's scene builders on the
training motions (``people_pairs``: the same person in two cameras with the truth, pairings of
different people as unrelated). ``--rates N`` adds N scenes of cameras faster than the analysis
rate (``rate_pairs``: 60, 50 and 120 fps, some cameras of a scene slowed to 30, 29.97 or 25 fps),
where the confidence's tolerance (``pair.answer_tolerance``) is finer than the curve's frame.

Three passes per cue set, each fitting one stage on the output of the previous (combine.py):
curve (all offsets), pick (candidates), confidence (refined answers); ``--confidence-only`` keeps the
curve and pick stages of the model already there and fits the confidence on its answers. Not run in CI.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synnet_recon.keypoints import Keypoints  # noqa: E402
from synnet_recon.sync import combine as C  # noqa: E402
from synnet_recon.sync.align import ANALYSIS_RATE, AlignConfig  # noqa: E402
from synnet_recon.sync.descriptors import DESCRIPTORS, pair_descriptors, with_descriptor_terms  # noqa: E402
from synnet_recon.sync.evidence import CUE_SETS, CURVE_CUES  # noqa: E402
from synnet_recon.sync.pair import (  # noqa: E402
    NoOffset,
    combined_curve,
    estimate_subject_pair,
    log_span,
    pair_curves,
    pick_candidates,
    pick_evidence,
)

FIT_SETS = ("all", "no-synnet", "geometry", "synnet", "correlation")


_MOTIONS: dict = {}


def training_motions(min_seconds: float, split: str = "train"):
    """Motion files of ``split`` that are long enough, loaded once (per process) at their own rate."""
    from synnet_recon.sync.data import load_motions, motion_files, split_files

    if split not in _MOTIONS:
        _MOTIONS[split] = load_motions(split_files(motion_files(), split), None, 0.0)
    return [m for m in _MOTIONS[split] if m.duration >= min_seconds]


def _apply_conditions(kp: Keypoints, rng: np.random.Generator, conditions,
                      own_clock: bool = False) -> tuple[Keypoints, list[str]]:
    """Some of h8's realistic conditions on one camera's track (names of those applied).
    ``own_clock``: the detector's correlated errors on the track's own frame times (else as if at
    30 fps, as the earlier fits had them)."""
    if conditions is None:
        return kp, []
    xy, conf, size, times = np.asarray(kp.xy), np.asarray(kp.conf), kp.image_size, np.asarray(kp.times)
    used = []
    if rng.random() < 0.3:
        xy, conf, size = conditions.upper_body_view(xy, conf, size, rng)
        used.append("upper_body")
    if rng.random() < 0.15:
        xy, conf, size = conditions.sideways_view(xy, conf, size, rng)
        used.append("sideways")
    if rng.random() < 0.5:
        xy, conf = conditions.correlated_detector_errors(xy, conf, size, rng, times=times if own_clock else None)
        used.append("detector_errors")
    if rng.random() < 0.2:
        xy, conf, times = conditions.drop_frames(xy, conf, times, rng)
        used.append("dropped_frames")
    return Keypoints(xy, conf, times, tuple(int(v) for v in np.ravel(size)[:2]), kp.name, dict(kp.meta)), used


def _at_15fps(kp: Keypoints, conditions) -> Keypoints:
    """The same camera running at 15 fps (first frame kept, so the true offset is unchanged)."""
    xy, conf, times = conditions.resample_frame_rate(kp.xy, kp.conf, kp.times, 15.0)
    return Keypoints(xy, conf, times, kp.image_size, kp.name)


class TrainPair(NamedTuple):
    """One training pair: b's true offset on a's clock (s; None: unrelated, nothing to find), the
    condition label, the scene it was filmed in, and align's ``max_offset`` for it (None: default)."""

    ka: Keypoints
    kb: Keypoints
    truth: float | None
    label: str
    scene: int
    max_offset: float | None = None


PAPER_MAX_OFFSET = 16.5 / 30.0  # the paper protocol's --max-offset (offsets 4m frames, m in [-4, 3])


def paper_pairs(n: int, seed: int, split: str = "train", first_scene: int = 0) -> list[TrainPair]:
    """``n`` pairs of the paper's protocol on ``split``'s motions: 2 moving cameras, 32-frame clips
    at 30 fps, b offset by 4m frames, m in [-4, 3], --max-offset 16.5 frames (as
    bench/bench_sync_real.py's ``paper`` condition builds them, there from the held-out motions)."""
    from synnet_recon.synth.scene import sample_pair_batch

    if n <= 0:
        return []
    motions = training_motions(32 / 30.0 + 16 / 30.0 + 0.1, split)
    rng = np.random.default_rng([seed, 32])
    out = []
    for i in range(n):
        motion = motions[int(rng.integers(len(motions)))].resample(30.0)
        m = int(rng.integers(-4, 4))
        batch = sample_pair_batch(motion, 1, 32, 30.0, 4 * m, rng)
        ka, kb = (Keypoints(batch.xy[0, j], batch.conf[0, j], np.arange(32) / 30.0,
                            tuple(int(v) for v in batch.image_size[0, j]), f"cam{j}") for j in range(2))
        out.append(TrainPair(ka, kb, 4 * m / 30.0, "paper", first_scene + i, PAPER_MAX_OFFSET))
    return out


# Unrelated pairs cut from ONE motion (``same_motion_pairs``): (frames per stretch, --max-offset s or
# None for align's default). The lengths of the paper protocol, of tests/sync/test_pair.py's two
# stretches of one walk (2.5 s) and of the long windows.
SAME_MOTION_WINDOWS = ((32, PAPER_MAX_OFFSET), (75, None), (150, 2.0))


def same_motion_pairs(n: int, seed: int, split: str = "train", first_scene: int = 0) -> list[TrainPair]:
    """``n`` unrelated pairs of ONE training motion: two cameras filming two stretches of it that
    share no instant (b's stretch starts 0-2 s after a's ends), so no offset of the search range is
    right. A periodic motion (a walk, a repeated dance step) still matches itself one period
    later: the fit must learn that such a match is not specific. Each camera gets the realistic
    conditions of ``training_pairs``; static cameras in a third of them."""
    from synnet_recon.synth.camera import CameraPathConfig
    from synnet_recon.synth.scene import SceneConfig, simulate_scene

    try:
        from synnet_recon.synth import conditions
    except ImportError:
        conditions = None
    if n <= 0:
        return []
    rng = np.random.default_rng([seed, 51])
    out = []
    for i in range(n):
        frames, max_offset = SAME_MOTION_WINDOWS[i % len(SAME_MOTION_WINDOWS)]
        gap = int(rng.integers(0, 61))
        total = 2 * frames + gap
        motions = training_motions(total / 30.0 + 0.2, split)
        static = rng.random() < 0.33
        path = CameraPathConfig(mode_weights=(0.0, 0.0, 1.0)) if static else CameraPathConfig()
        cfg = SceneConfig(cameras=2, seconds=total / 30.0, fps=30.0, max_offset=0.0, seed=int(rng.integers(1 << 30)),
                          noise=float(rng.uniform(0.5, 1.5)), camera_path=path)
        scene = simulate_scene(cfg, motions[int(rng.integers(len(motions)))])
        tracks = []
        for cam, start in zip(scene.cameras, (0, frames + gap)):
            kp = cam.keypoints
            kp = Keypoints(kp.xy[start:start + frames], kp.conf[start:start + frames], np.arange(frames) / 30.0,
                           kp.image_size, kp.name, {"motion_start": cam.motion_start + start / 30.0})
            tracks.append(_apply_conditions(kp, rng, conditions)[0])
        out.append(TrainPair(tracks[0], tracks[1], None, f"unrelated_same/{frames}" + ("/static" if static else ""),
                             first_scene + i, max_offset))
    return out


def _bench_sync_real():
    """bench/bench_sync_real.py as a module (its scene builders for several people)."""
    import importlib.util

    name = "bench_sync_real"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / "bench_sync_real.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


PEOPLE_KINDS = ("people", "together", "seated", "leaving")
PEOPLE_CROSS_PER_SCENE = 4


def people_pairs(n_scenes: int, seed: int, split: str = "train", first_scene: int = 0,
                 min_motion: float = 0.3) -> list[TrainPair]:
    """Pairs of ``n_scenes`` several-people scenes on the training motions, built as
    bench/bench_sync_real.py builds its ``people`` and ``people_hard`` scenes (3 cameras, 6 s,
    +-2 s, tripods every other scene, correlated detector errors), the kinds of ``PEOPLE_KINDS``
    in turn: a bystander who barely moves and a walker doing another motion; a companion doing
    the main person's motion 0.2-0.6 s later; two seated people who sway; a walker who leaves.
    Each camera keeps the people align keeps (``align.moving_people``); every pairing of the same
    person in two cameras is a pair with the true offset (label ``people/...``), and up to
    ``PEOPLE_CROSS_PER_SCENE`` pairings of two different people are unrelated pairs
    (``people_cross/...``: a companion in step gives a confident-looking wrong offset there)."""
    from synnet_recon.sync.align import moving_people

    if n_scenes <= 0:
        return []
    bench = _bench_sync_real()
    motions = training_motions(6.0 + 2 * 2.0 + 0.1, split)  # bench.simulate: 6 s windows, offsets up to 2 s
    rng = np.random.default_rng([seed, 77])
    out = []
    for s in range(n_scenes):
        kind = PEOPLE_KINDS[s % len(PEOPLE_KINDS)]
        others = bench._other_people(motions) if kind == "people" else bench._people_hard_others(kind, motions)
        modes = ["tripod"] if s % 2 else None
        views, offsets, _ = bench.simulate(motions, rng, others=others, modes=modes)
        if kind == "leaving":
            views, _ = bench._leaving_masks(views, offsets, rng)
        views = [[bench.correlated(p, rng) for p in people] for people in views]
        kept = []
        for people in views:
            moving = moving_people(people, min_motion)
            kept.append([k for k, p in enumerate(people) if any(p is m for m in moving)])
        same, cross = [], []
        for i in range(len(views)):
            for j in range(i + 1, len(views)):
                for p in kept[i]:
                    for q in kept[j]:
                        (same if p == q else cross).append((i, j, p, q))
        picked = [cross[k] for k in rng.permutation(len(cross))[:PEOPLE_CROSS_PER_SCENE]]
        cams = "static" if modes else "moving"
        for i, j, p, q in same + picked:
            truth = float(offsets[j] - offsets[i]) if p == q else None
            label = ("people" if p == q else "people_cross") + f"/{kind}/{cams}"
            out.append(TrainPair(views[i][p], views[j][q], truth, label, first_scene + s))
    return out


# Cameras faster than the analysis rate (``rate_pairs``): each scene filmed at one of FAST_RATES,
# and each camera but the first kept at it or slowed to one of the rates it may be slowed to.
FAST_RATES = (60.0, 50.0, 60.0, 120.0)
SLOWER_RATES = {60.0: (30.0, 29.97), 50.0: (25.0,), 120.0: (60.0, 30.0)}


def rate_pairs(n_scenes: int, seed: int, split: str = "train", first_scene: int = 0) -> list[TrainPair]:
    """The pairs of ``n_scenes`` 3-camera scenes (6 s, offsets up to 2 s) filmed faster than the
    analysis rate: at 60, 50 or 120 fps (``FAST_RATES``), each camera after the first slowed with
    probability 0.4 to a rate of ``SLOWER_RATES`` (a rig of mixed cameras); static cameras in a
    third of them, the realistic conditions of ``training_pairs`` on every camera (the detector's
    correlated errors on the camera's own clock). At 60 fps two input frames are one analysis frame
    and at 120 fps half of one, so the confidence sees errors finer than the curve's frame. Labels
    ``rates/<fps of a>-<fps of b>/<static|moving>``."""
    from synnet_recon.synth.camera import CameraPathConfig
    from synnet_recon.synth.scene import SceneConfig, simulate_scene

    try:
        from synnet_recon.synth import conditions
    except ImportError:
        conditions = None
    if n_scenes <= 0:
        return []
    motions = training_motions(10.5, split)
    rng = np.random.default_rng([seed, 60])
    out = []
    for s in range(n_scenes):
        fps = FAST_RATES[s % len(FAST_RATES)]
        static = rng.random() < 0.33
        path = CameraPathConfig(mode_weights=(0.0, 0.0, 1.0)) if static else CameraPathConfig()
        cfg = SceneConfig(cameras=3, seconds=6.0, fps=fps, max_offset=2.0, seed=int(rng.integers(1 << 30)),
                          noise=float(rng.uniform(0.5, 1.5)), camera_path=path)
        scene = simulate_scene(cfg, motions[int(rng.integers(len(motions)))])
        tracks, rates = [], []
        for c, cam in enumerate(scene.cameras):
            kp, rate = cam.keypoints, fps
            if c > 0 and conditions is not None and rng.random() < 0.4:
                rate = float(rng.choice(SLOWER_RATES[fps]))
                xy, conf, times = conditions.resample_frame_rate(kp.xy, kp.conf, kp.times, rate)
                kp = Keypoints(xy, conf, times, kp.image_size, kp.name)
            tracks.append(_apply_conditions(kp, rng, conditions, own_clock=True)[0])
            rates.append(rate)
        for i in range(3):
            for j in range(i + 1, 3):
                truth = scene.cameras[j].offset_seconds - scene.cameras[i].offset_seconds
                label = f"rates/{rates[i]:g}-{rates[j]:g}/" + ("static" if static else "moving")
                out.append(TrainPair(tracks[i], tracks[j], truth, label, first_scene + s))
    return out


# Walks of the CMU index (``clips_more.tsv``: "walk", "slow walk", "brisk walk", ...), by subject: the
# clips that ``walk_pairs`` chains into one long walk about a room (held-out clips are left out by
# the split, as everywhere here).
WALK_CLIPS = {"07": ("07_01", "07_02", "07_03", "07_04", "07_05", "07_06", "07_07", "07_08", "07_09", "07_10",
                     "07_11", "07_12"),
              "08": ("08_01", "08_02", "08_03", "08_04", "08_05", "08_06", "08_07", "08_08", "08_09", "08_10",
                     "08_11")}
WALK_SECONDS = 10.0   # length of a chained walk (a 5 s window with offsets up to 2 s fits in 9 s)
WALK_ROOM = 0.6       # m: each clip of the chain heads for a point this far from the room's centre at most
WALK_TURN = 0.6       # s: the turn from one clip's heading to the next's, spread over this long
# The walker's pace (``paced``): stretches of WALK_STRETCH s, each at a playback rate of the clips drawn
# from WALK_PACE, or a stop (rate up to WALK_STOP, chance WALK_STOP_CHANCE), blended into each other.
# The caliscope rig's walker (real 3D landmarks) walks at 0.5-0.8 m/s and stands still for seconds;
# the CMU walks are brisk (1.3-1.6 m/s) and steady.
WALK_STRETCH = (1.0, 3.0)
WALK_PACE = (0.45, 1.0)
WALK_STOP = 0.08
WALK_STOP_CHANCE = 0.2


def _facing(pose: np.ndarray) -> float:
    """Yaw (radians, about +Y) a pose (18, 3) faces: the horizontal normal of its hip line."""
    from synnet_recon.skeleton import JOINT_INDEX as J

    side = pose[J["l_hip"]] - pose[J["r_hip"]]
    return float(np.arctan2(side[2], -side[0]))  # facing = up x side (Y up): (side_z, 0, -side_x)


def _yaw(theta) -> np.ndarray:
    """Rotations about +Y by ``theta`` (N,) -> (N, 3, 3)."""
    c, s = np.cos(theta), np.sin(theta)
    R = np.zeros((len(c), 3, 3))
    R[:, 0, 0], R[:, 0, 2], R[:, 1, 1], R[:, 2, 0], R[:, 2, 2] = c, s, 1.0, -s, c
    return R


def chained_walk(clips, rng: np.random.Generator, fps: float = 30.0, seconds: float = WALK_SECONDS):
    """One long walk about a room from short straight walks of one subject (``clips``, Motions, drawn
    in turn at random): each next clip starts at the frame of its first second whose pose (about the
    hips, turned to face the same way) is nearest the walk's last pose, is put where the walk ended
    and turned, over ``WALK_TURN`` s, from the walk's heading to one that leads to a random point
    within ``WALK_ROOM`` m of the room's centre (so the walker stays in the cameras' view); the
    first frames are blended into the last pose; the clip ends once past that point (after 0.8 s at
    least). A motion that repeats every stride, with the turns and clip-to-clip differences of a real
    walk (``paced`` adds changes of pace and stops). Returns a Motion at ``fps``."""
    from synnet_recon.motion import Motion
    from synnet_recon.skeleton import JOINT_INDEX as J

    hips = [J["r_hip"], J["l_hip"]]
    need = int(round(seconds * fps)) + 1
    walk = None
    while walk is None or len(walk) < need:
        clip = clips[int(rng.integers(len(clips)))].resample(fps).joints
        root = clip[:, hips].mean(axis=1)
        rel = clip - root[:, None]
        if walk is None:
            start, heading, at = 0, _facing(clip[0]), np.zeros(3)
            blend_from = None
        else:
            last = walk[-1]
            last_rel = last - last[hips].mean(axis=0)
            at, heading = walk[-1][hips].mean(axis=0), _facing(last)
            window = range(min(int(fps), len(clip) - 2))
            cost = [np.sum((_yaw(np.array([heading - _facing(clip[k])]))[0] @ rel[k].T - last_rel.T) ** 2)
                    for k in window]
            start = int(np.argmin(cost))
            blend_from = last_rel
        clip, root, rel = clip[start:], root[start:], rel[start:]
        if len(clip) < 2:
            continue
        travel = root[-1] - root[0]
        goal = rng.uniform(-WALK_ROOM, WALK_ROOM, 2)
        wanted = np.arctan2(goal[0] - at[0], goal[1] - at[2])  # heading of travel towards the goal (x, z)
        own = np.arctan2(travel[0], travel[2])
        first = heading - _facing(clip[0]) if walk is not None else 0.0
        last_turn = wanted - own
        delta = (last_turn - first + np.pi) % (2 * np.pi) - np.pi
        w = np.clip(np.arange(len(clip)) / max(WALK_TURN * fps, 1.0), 0.0, 1.0)
        w = w * w * (3 - 2 * w)
        R = _yaw(first + w * delta)
        steps = np.diff(root, axis=0) * np.array([1.0, 0.0, 1.0])
        path = np.concatenate([np.zeros((1, 3)), np.cumsum(np.einsum("tij,tj->ti", R[1:], steps), axis=0)])
        path = path + np.array([at[0], 0.0, at[2]]) + np.array([0.0, 1.0, 0.0]) * root[:, 1:2]
        pose = np.einsum("tij,tkj->tki", R, rel)
        if blend_from is not None:  # a short cross-fade from the walk's last pose
            k = min(6, len(pose))
            a = (np.arange(1, k + 1) / (k + 1))[:, None, None]
            pose[:k] = (1 - a) * blend_from[None] + a * pose[:k]
        away = np.linalg.norm(path[:, [0, 2]] - goal, axis=1)  # the piece ends once past its goal
        past = np.flatnonzero((np.arange(len(away)) >= int(0.8 * fps)) & (np.diff(away, prepend=np.inf) > 0))
        end = int(past[0]) if past.size else len(away)
        piece = (path[:, None] + pose)[:end]
        walk = piece if walk is None else np.concatenate([walk, piece[1:]])
    return Motion(walk[:need], fps, "walk_chain")


def paced(motion, rng: np.random.Generator, seconds: float):
    """``motion`` (a Motion) replayed at a pace that changes along it (``WALK_STRETCH``, ``WALK_PACE``,
    ``WALK_STOP``): ``seconds`` of it at its own rate, clamped at its end."""
    from synnet_recon.motion import Motion

    n = int(round(seconds * motion.fps)) + 1
    rate = np.empty(0)
    while len(rate) < n:
        k = max(1, int(round(rng.uniform(*WALK_STRETCH) * motion.fps)))
        stop = rng.random() < WALK_STOP_CHANCE
        rate = np.concatenate([rate, np.full(k, rng.uniform(0.0, WALK_STOP) if stop else rng.uniform(*WALK_PACE))])
    width = max(1, int(round(0.4 * motion.fps)))  # changes of pace over ~0.4 s
    rate = np.convolve(np.pad(rate[:n], width, mode="edge"), np.ones(2 * width + 1) / (2 * width + 1), "valid")
    clock = motion.start + np.concatenate([[0.0], np.cumsum(rate[:-1])]) / motion.fps
    return Motion(motion.at(clock), motion.fps, motion.name)


WALK_SWAY = 0.02     # m: RMS of the walker's slow sway (every joint, 0.1-1 Hz), shared by every view
WALK_JITTER = 0.0025  # m: scale of the 3D landmarks' own jitter (Student t, 3 dof), shared by every view


def swayed(motion, rng: np.random.Generator, sway: float | None = None, jitter: float | None = None):
    """``motion`` with what a real person and a rig of triangulated landmarks add and every view sees
    alike: a slow sway of the body (``WALK_SWAY``: smooth random 3D offsets of each joint, band
    0.1-1 Hz, one half shared by the whole body) and the landmarks' jitter (``WALK_JITTER``: heavy
    tailed, frame by frame; the caliscope rig's 3D MediaPipe landmarks: median 2.4-4.8 mm off a
    5-frame quadratic, p90 0.7-2.4 cm). Neither repeats with the stride."""
    from synnet_recon.motion import Motion

    sway = WALK_SWAY if sway is None else sway
    jitter = WALK_JITTER if jitter is None else jitter
    T, J = motion.joints.shape[:2]
    f = np.fft.rfftfreq(T, 1.0 / motion.fps)
    band = ((f >= 0.1) & (f <= 1.0)).astype(float)

    def smooth(shape):
        spec = (rng.normal(size=shape + (len(f),)) + 1j * rng.normal(size=shape + (len(f),))) * band
        v = np.fft.irfft(spec, n=T, axis=-1)
        return np.moveaxis(v / max(float(v.std()), 1e-12), -1, 0)

    offsets = sway * np.sqrt(0.5) * (smooth((1, 3)) + smooth((J, 3)))
    noise = jitter * rng.standard_t(3, size=(T, J, 3))
    return Motion(motion.joints + offsets + noise, motion.fps, motion.name, motion.source, motion.start)


def walk_pairs(n_scenes: int, seed: int, split: str = "train", first_scene: int = 0) -> list[TrainPair]:
    """The pairs of ``n_scenes`` scenes like the caliscope rig's (bench/bench_sync_real.py): 4 webcams on
    tripods at 15 fps filming one person walking about a room (``chained_walk``: a motion that repeats
    every stride; ``paced``: slower and faster, with stops), 5 s windows, offsets up to 2 s; the 2nd and 4th cameras frame the upper body only
    (``upper_body_view``), every camera has the detector's correlated errors. The upper-body views see
    the arms' swing and the head's bob repeat every stride: cues that compare poses match a stride
    earlier or later nearly as well. Every pair of cameras with the truth (label ``walks/...``)."""
    from synnet_recon.synth import conditions
    from synnet_recon.synth.camera import CameraPathConfig
    from synnet_recon.synth.scene import SceneConfig, simulate_scene

    if n_scenes <= 0:
        return []
    by_subject = {}
    for m in training_motions(0.5, split):
        for subject, names in WALK_CLIPS.items():
            if m.name in names:
                by_subject.setdefault(subject, []).append(m)
    subjects = sorted(s for s, ms in by_subject.items() if len(ms) >= 2)
    rng = np.random.default_rng([seed, 90])
    out = []
    for s in range(n_scenes):
        motion = swayed(paced(chained_walk(by_subject[subjects[s % len(subjects)]], rng), rng, WALK_SECONDS - 0.5),
                        rng)
        cfg = SceneConfig(cameras=4, seconds=5.0, fps=15.0, max_offset=2.0, seed=int(rng.integers(1 << 30)),
                          noise=float(rng.uniform(0.5, 1.5)),
                          camera_path=CameraPathConfig(mode_weights=(0.0, 0.0, 0.0, 1.0), distance=(3.0, 6.0)))
        scene = simulate_scene(cfg, motion)
        tracks = []
        for c, cam in enumerate(scene.cameras):
            kp = cam.keypoints
            xy, conf, size = np.asarray(kp.xy), np.asarray(kp.conf), kp.image_size
            if c in (1, 3):
                xy, conf, size = conditions.upper_body_view(xy, conf, size, rng)
            xy, conf = conditions.correlated_detector_errors(xy, conf, size, rng, times=np.asarray(kp.times))
            tracks.append(Keypoints(xy, conf, np.asarray(kp.times), tuple(int(v) for v in np.ravel(size)[:2]),
                                    kp.name, dict(kp.meta)))
        for i in range(4):
            for j in range(i + 1, 4):
                truth = scene.cameras[j].offset_seconds - scene.cameras[i].offset_seconds
                views = "+".join("upper" if c in (1, 3) else "full" for c in (i, j))
                out.append(TrainPair(tracks[i], tracks[j], truth, f"walks/{views}", first_scene + s))
    return out


def training_pairs(n_scenes: int, seed: int, split: str = "train", n_paper: int = 0, n_same: int = 0,
                   n_people: int = 0, n_rates: int = 0) -> list[TrainPair]:
    """The scenes' pairs (3 per scene), one unrelated pair per ten, then ``n_paper`` paper-protocol
    pairs (``paper_pairs``), ``n_same`` unrelated pairs of one motion (``same_motion_pairs``) and
    the pairs of ``n_people`` several-people scenes (``people_pairs``) and of ``n_rates`` scenes
    faster than the analysis rate (``rate_pairs``)."""
    from synnet_recon.synth.camera import CameraPathConfig
    from synnet_recon.synth.scene import SceneConfig, simulate_scene

    try:
        from synnet_recon.synth import conditions
    except ImportError:
        conditions = None
    motions = training_motions(10.5, split)
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n_scenes):
        short = rng.random() < 0.35
        seconds, max_offset = (32 / 30.0, 16 / 30.0) if short else (6.0, 2.0)
        static = rng.random() < 0.35
        path = CameraPathConfig(mode_weights=(0.0, 0.0, 1.0)) if static else CameraPathConfig()
        cfg = SceneConfig(cameras=3, seconds=seconds, fps=30.0, max_offset=max_offset, seed=int(rng.integers(1 << 30)),
                          noise=float(rng.uniform(0.5, 1.5)), camera_path=path)
        scene = simulate_scene(cfg, motions[int(rng.integers(len(motions)))])
        slow = not short and conditions is not None and rng.random() < 0.25  # webcams at 15 fps
        tracks, labels = [], []
        for cam in scene.cameras:
            kp = _at_15fps(cam.keypoints, conditions) if slow else cam.keypoints
            kp, used = _apply_conditions(kp, rng, conditions)
            tracks.append(kp)
            labels.append(used)
        label = ("short" if short else "long") + ("/static" if static else "/moving") + ("/15fps" if slow else "")
        for i in range(3):
            for j in range(i + 1, 3):
                truth = scene.cameras[j].offset_seconds - scene.cameras[i].offset_seconds
                pairs.append(TrainPair(tracks[i], tracks[j], truth, label + "/" + "+".join(labels[i] + labels[j]),
                                       len(pairs) // 3))
    unrelated = []
    for _ in range(max(1, len(pairs) // 10)):  # two recordings that share nothing: different scenes
        x, y = int(rng.integers(len(pairs))), int(rng.integers(len(pairs)))
        if x // 3 != y // 3:
            unrelated.append(TrainPair(pairs[x].ka, pairs[y].kb, None, "unrelated", n_scenes + len(unrelated)))
    out = pairs + unrelated + paper_pairs(n_paper, seed, split, n_scenes + len(unrelated))
    out += same_motion_pairs(n_same, seed, split, n_scenes + len(unrelated) + n_paper)
    out += people_pairs(n_people, seed, split, n_scenes + len(unrelated) + n_paper + n_same)
    return out + rate_pairs(n_rates, seed, split, n_scenes + len(unrelated) + n_paper + n_same + n_people)


def _labels(offsets_frames: np.ndarray, truth, rate: float, tol: float) -> np.ndarray:
    if truth is None:
        return np.zeros(len(offsets_frames))
    return (np.abs(offsets_frames - truth * rate) <= tol).astype(float)


OVERLAP_TERMS = False  # --overlap-terms
PICK_OVERLAP = False   # --pick-overlap-terms
DUMP_PICK = None       # --dump-pick
UNRELATED_WEIGHT = 1.0  # --unrelated-weight


SPAN_TERMS = False      # --span-terms
PEAK_TERMS = False      # --peak-terms
DESCRIPTOR_TERMS: tuple[str, ...] = ()  # --descriptor-terms
TOP_TERMS = ""          # --top-terms: "votes" or "tops" (pair.cue_tops) in the pick
PICK_TERMS: tuple[str, ...] = ()  # --pick-terms: "periodicity" and / or "peaks", in the pick only


def _peak_terms(names) -> tuple[str, ...]:
    return tuple(f"{c}*{c}_peak" for c in names if c in CURVE_CUES) if PEAK_TERMS else ()


def curve_features(cues) -> tuple[str, ...]:
    own = tuple(c for c in CURVE_CUES if c in cues)
    base = own
    own = C.with_overlap_terms(own) if OVERLAP_TERMS else own
    return (C.with_span_terms(own) if SPAN_TERMS else own) + _peak_terms(base)


def pick_features(cues) -> tuple[str, ...]:
    own = ["curve"] + (["epipolar"] if "epipolar" in cues else []) + [c for c in CURVE_CUES if c in cues]
    own = C.with_overlap_terms(own) if OVERLAP_TERMS or PICK_OVERLAP else tuple(own)
    if SPAN_TERMS:
        own = own + tuple(f"{c}*log_span" for c in own if "*" not in c and c != "curve")
    own = tuple(own) + _peak_terms(own)
    if TOP_TERMS == "votes":
        own = own + ("votes",)
    elif TOP_TERMS == "tops":
        own = own + tuple(f"{c}_top" for c in CURVE_CUES if c in cues)
    if "peaks" in PICK_TERMS and not PEAK_TERMS:  # each cue's z times its own peak z, in the pick only
        own = own + tuple(f"{c}*{c}_peak" for c in CURVE_CUES if c in cues)
    if "periodicity" in PICK_TERMS:  # each feature's weight changing with how periodic the motion is
        own = own + ("periodicity",) + tuple(f"{c}*periodicity" for c in own if "*" not in c and c != "periodicity")
    return with_descriptor_terms(own, DESCRIPTOR_TERMS) if DESCRIPTOR_TERMS else own


def confidence_features(cues) -> tuple[str, ...]:
    agree = tuple(f"agree_{c}" for c in CURVE_CUES if c in cues)
    return C.CONFIDENCE_FEATURES + agree + ("pick*log_overlap_frames", "curve_margin*log_overlap_frames")


def pair_config(config, pair: TrainPair):
    """align's configuration for this pair (its ``max_offset`` when it has one)."""
    return config if pair.max_offset is None else replace(config, max_offset=float(pair.max_offset))


def fit_curve(samples, cues):
    keys = tuple(c for c in CURVE_CUES if c in cues)
    x = {k: [] for k in keys + ("log_overlap", "log_span")}
    y = []
    for offsets, z, truth, overlap in samples:
        for k in keys:
            x[k].append(z.get(k, np.full(len(offsets), np.nan)))
        x["log_overlap"].append(np.log(np.maximum(overlap, 1.0)))
        x["log_span"].append(np.full(len(offsets), log_span(overlap)))
        for k in keys:
            v = z.get(k)
            peak = float(np.nanmax(v)) if v is not None and np.isfinite(v).any() else np.nan
            x.setdefault(f"{k}_peak", []).append(np.full(len(offsets), peak))
        y.append(_labels(offsets, truth, ANALYSIS_RATE, 1.0))
    x = {k: np.concatenate(v) for k, v in x.items()}
    return C.Logistic.fit(x, np.concatenate(y), curve_features(cues), l2=1.0)


# ------------------------------------------------------------------------------ pass 1, cached per cue

CACHE_VERSION = 2
_CUE_SOURCES = {"affine": ("affine.py",), "speed": ("baselines.py",), "trajectory": ("baselines.py",),
                "synnet": ("matcher.py", "model.py", "synnet_features.py")}


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def cue_cache_key(base: dict, cue: str) -> str:
    """What one cue's pass 1 depends on: the training pairs (scenes, seed, paper pairs, split), align's
    configuration, the code of the evidence and of that cue, the affine cue's dropped joints and
    SynNet's checkpoint. Any change gives another cache file."""
    from synnet_recon.sync import affine

    sync_dir = Path(C.__file__).resolve().parent
    files = ("evidence.py", "tracks.py", "pair.py") + _CUE_SOURCES.get(cue, ())
    key = dict(base, cue=cue, version=CACHE_VERSION,
               code={f: _sha((sync_dir / f).read_bytes()) for f in files if (sync_dir / f).is_file()})
    if cue == "affine":
        key["drop_joints"] = [int(j) for j in affine.DROP_JOINTS]
    if cue in ("speed", "trajectory"):
        from synnet_recon.sync import evidence

        key["relabelled"] = cue in getattr(evidence, "RELABEL_CUES", ())
    if cue == "synnet":
        from synnet_recon.sync.model import DEFAULT_CHECKPOINT

        key["checkpoint"] = _sha(Path(DEFAULT_CHECKPOINT).read_bytes())
        from synnet_recon.sync import matcher

        if getattr(matcher, "UPRIGHT", False):  # (keys of the earlier fits unchanged)
            key["upright"] = [True, matcher.UPRIGHT_TILT_DEGREES]
    return _sha(json.dumps(key, sort_keys=True, default=str).encode())[:20]


def _one_cue(pair: TrainPair, config, rate, cue, matcher):
    try:
        offsets, z, mo, overlap = pair_curves(pair.ka, pair.kb, pair_config(config, pair), rate, (cue,), matcher)
    except NoOffset:
        return None
    return offsets, z.get(cue), mo, overlap


def _merged(entries: dict, truth):
    """One pair's per-cue pass 1 -> (offsets, {cue: z}, min_overlap, overlap, truth), or None when no cue
    can compare the two (as ``pair_curves`` with every cue would say)."""
    known = {c: e for c, e in entries.items() if e is not None and e[1] is not None}
    if not known:
        return None
    offsets, _, mo, overlap = next(iter(known.values()))
    z = {c: (known[c][1] if c in known else np.full(len(offsets), np.nan)) for c in entries}
    if not any(np.isfinite(v).any() for v in z.values()):
        return None
    return offsets, z, mo, overlap, truth


def restricted(curve, cues):
    """One pair's pass 1 with only ``cues``' z, None when none of them compares the two (as
    ``pair_curves`` with those cues would say)."""
    if curve is None:
        return None
    offsets, z, mo, overlap, truth = curve
    z = {k: v for k, v in z.items() if k in cues}
    if not any(np.isfinite(v).any() for v in z.values()):
        return None
    return offsets, z, mo, overlap, truth


def pass_one(pairs, config, rate, cues, matcher, cache: Path | None, base_key: dict):
    """Every cue's chance z over the range for every pair (None where no cue compares them).
    With ``cache`` (a folder) each cue is stored on its own under ``cue_cache_key``, so changing one
    cue (e.g. the affine cue's joints) recomputes only that cue."""
    import pickle

    per_cue = {}
    for cue in (c for c in CURVE_CUES if c in cues and (c != "synnet" or matcher is not None)):
        path = None if cache is None else cache / f"pass1_{cue}_{cue_cache_key(base_key, cue)}.pkl"
        if path is not None and path.is_file():
            with path.open("rb") as fh:
                per_cue[cue] = pickle.load(fh)
            continue
        t0 = time.process_time()
        per_cue[cue] = [_one_cue(p, config, rate, cue, matcher) for p in pairs]
        print(f"  pass 1 {cue}: {time.process_time() - t0:.0f} CPU s", flush=True)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            with tmp.open("wb") as fh:
                pickle.dump(per_cue[cue], fh)
            tmp.replace(path)
    return [_merged({c: v[i] for c, v in per_cue.items()}, p.truth) for i, p in enumerate(pairs)]


# ------------------------------------------------------------------------------ pick and confidence

class EpipolarMemo:
    """The epipolar z of each (pair, candidate offset), computed once: as ``pair.pick_evidence``
    computes it (b reversed for chance at 10 offsets over the whole range), so that refitting the
    pick in every fold of a cross-validation costs only the candidates not seen yet."""

    def __init__(self, config, rate):
        self.config, self.rate, self.scorers, self.z = config, rate, {}, {}

    def at(self, i: int, pair: TrainPair, cand_frames: np.ndarray, min_overlap: int) -> np.ndarray:
        from synnet_recon.sync.epipolar import FineScorer
        from synnet_recon.sync.evidence import epipolar_evidence, reversed_track

        cfg, rate = self.config, self.rate
        if i not in self.scorers:
            fine = FineScorer(pair.ka, pair.kb, cfg.smooth_frames / rate, cfg.max_fine_samples, min_overlap)
            null = FineScorer(pair.ka, reversed_track(pair.kb), cfg.smooth_frames / rate,
                              max(60, cfg.max_fine_samples // 4), min_overlap)
            shortest = min_overlap / rate
            self.scorers[i] = (fine, null, np.linspace(-(fine.tb[-1] - shortest), fine.ta[-1] - shortest, 10))
        fine, null, null_s = self.scorers[i]
        missing = [int(o) for o in cand_frames if (i, int(o)) not in self.z]
        if missing:
            z = epipolar_evidence(fine, null, np.asarray(missing, np.float64) / rate, 1.0 / rate, null_s)
            self.z.update({(i, o): float(v) for o, v in zip(missing, z)})
        return np.array([self.z[(i, int(o))] for o in cand_frames])


def pick_rows(pairs, curves, cues, model, config, rate, memo: EpipolarMemo | None):
    """Per pair (None where pass 1 gave nothing): the pick features at its candidates ({name: (C,)}),
    labels (C,) within 1.5 frames, the candidates' offsets (frames) and the curve's argmax (frames)."""
    names = pick_features(cues)
    rows = []
    for i, (pair, c) in enumerate(zip(pairs, curves)):
        if c is None:
            rows.append(None)
            continue
        offsets, z, mo, overlap, _ = c
        z = {k: v for k, v in z.items() if k in cues}
        curve = combined_curve(model, z, overlap)
        cand = pick_candidates(curve, z, max(1, config.candidates))
        px, _ = pick_evidence(cues, model, curve, offsets, cand, pair.ka, pair.kb, None, None, pair_config(config, pair),
                              rate, mo, z, overlap)
        if "epipolar" in cues and memo is not None:
            px["epipolar"] = memo.at(i, pair, offsets[cand], mo)
        if DESCRIPTOR_TERMS:
            px |= {k: np.full(len(cand), v) for k, v in _descriptors(pair, rate).items()}
        if "periodicity" in PICK_TERMS:
            px["periodicity"] = np.full(len(cand), _periodicity(pair, rate, offsets, mo))
        x = {k: np.asarray(v, dtype=float) for k, v in px.items()}
        for k in set(names) - set(x):  # a cue this pair could not compute
            if "*" not in k:
                x[k] = np.full(len(cand), np.nan)
        rows.append((x, _labels(offsets[cand], pair.truth, rate, 1.5), offsets[cand],
                     float(offsets[int(np.nanargmax(curve))])))
    return rows


_DESCRIBED: dict = {}


def _descriptors(pair: TrainPair, rate: float) -> dict:
    """``pair_descriptors`` of a training pair, computed once per process."""
    key = (id(pair.ka), id(pair.kb), rate)
    if key not in _DESCRIBED:
        _DESCRIBED[key] = pair_descriptors(pair.ka, pair.kb, rate)
    return _DESCRIBED[key]


_PERIODIC: dict = {}


def _periodicity(pair: TrainPair, rate: float, offsets: np.ndarray, min_overlap: int) -> float:
    """``pair.periodicity`` of a training pair over its search range, computed once per process."""
    from synnet_recon.sync.pair import periodicity
    from synnet_recon.sync.tracks import resample_track

    key = (id(pair.ka), id(pair.kb), rate)
    if key not in _PERIODIC:
        max_lag = int(max(abs(offsets[0]), abs(offsets[-1])))
        _PERIODIC[key] = periodicity(resample_track(pair.ka, rate), resample_track(pair.kb, rate), max_lag,
                                     min_overlap)
    return _PERIODIC[key]


def fit_pick_rows(rows, cues, keep=None):
    """The pick stage fitted on ``rows`` (``pick_rows``; ``keep``: a mask of the pairs to use)."""
    chosen = [r for k, r in enumerate(rows) if r is not None and (keep is None or keep[k])]
    x = {k: np.concatenate([r[0][k] for r in chosen]) for k in chosen[0][0]}
    y = np.concatenate([r[1] for r in chosen])
    if DUMP_PICK is not None and keep is None:
        import pickle

        with open(f"{DUMP_PICK}.{C.cue_key(cues)}", "wb") as fh:
            pickle.dump({"x": x, "y": y, "sizes": [len(r[1]) for r in chosen]}, fh)
    if PICK_RANKING:
        return fit_ranking(x, y, [len(r[1]) for r in chosen], pick_features(cues), l2=1.0)
    return C.Logistic.fit(x, y, pick_features(cues), l2=1.0)


PICK_RANKING = False  # --pick-ranking


def fit_ranking(x: dict, y: np.ndarray, sizes, features, l2: float = 1.0) -> C.Logistic:
    """A pick stage fitted to rank each pair's candidates (conditional logit: the log-probability of
    the right candidates under a softmax over the pair's candidates, L2 ``l2`` on the standardised
    weights), then scaled to a logit of "this candidate is right" by a one-feature logistic fit on
    every candidate (the confidence stage reads the pick's logit). The same ``Logistic`` form."""
    from scipy.optimize import minimize

    features = tuple(features)
    base = C.Logistic.fit(x, y, features, l2=l2, iters=0)  # its standardisation only
    X = base._design(x)
    starts = np.cumsum([0] + list(sizes))
    groups = [(a, b) for a, b in zip(starts[:-1], starts[1:]) if b - a > 1 and 0 < y[a:b].sum() < b - a]

    def loss(beta):
        s = X @ beta
        total, grad = 0.5 * l2 * beta @ beta, l2 * beta
        for a, b in groups:
            sg = s[a:b] - s[a:b].max()
            e = np.exp(sg)
            right = y[a:b] > 0
            total += np.log(e.sum()) - np.log(e[right].sum())
            grad = grad + X[a:b].T @ (e / e.sum() - np.where(right, e, 0.0) / e[right].sum())
        return total, grad

    beta = minimize(loss, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B").x
    score = X @ beta
    scale = C.Logistic.fit({"score": score}, y, ("score",), l2=l2)
    a = float(scale.weights[0]) / float(scale.scale[0])
    return C.Logistic(features, a * beta, float(scale.bias) - a * float(scale.mean[0]), base.mean, base.scale)


def fit_pick(pairs, curves, cues, model, config, rate, memo=None):
    memo = memo or EpipolarMemo(config, rate)
    return fit_pick_rows(pick_rows(pairs, curves, cues, model, config, rate, memo), cues)


def kind_of(label: str) -> str:
    return label.split("/")[0]


def fit_confidence(pairs, curves, cues, model, config, rate, matcher=None):
    """The confidence stage fitted on the refined answers of ``pairs`` (``confidence_rows``), with
    its in-sample ``answer_stats``."""
    rows = confidence_rows(pairs, curves, cues, model, config, rate, matcher)
    if DUMP_PICK is not None:  # (--dump-pick: the confidence stage's rows too)
        import pickle

        with open(f"{DUMP_PICK}.confidence.{C.cue_key(cues)}", "wb") as fh:
            pickle.dump(rows, fh)
    return fit_confidence_rows(rows, cues)


def confidence_rows(pairs, curves, cues, model, config, rate, matcher=None):
    """The refined answer of every pair the cues compare: (features {name: (N,)}, errors in
    analysis frames (N,), inf for unrelated pairs, labels). The features hold each answer's
    tolerance (``tolerance_frames``, ``pair.answer_tolerance``)."""
    rows, errs, labels = [], [], []
    for pair, c in zip(pairs, curves):
        if c is None:
            continue
        offsets, z, mo, overlap, _ = c
        z = {k: v for k, v in z.items() if k in cues}
        try:
            est = estimate_subject_pair(pair.ka, pair.kb, pair_config(config, pair), rate,
                                        matcher if "synnet" in cues else None, cues=cues, model=model,
                                        curves=(offsets, z, mo, overlap))
        except NoOffset:
            continue
        rows.append(est.features)
        errs.append(np.inf if pair.truth is None else abs(est.offset_seconds - pair.truth) * rate)
        labels.append(pair.label)
    x = {k: np.asarray([r.get(k, np.nan) for r in rows], dtype=float) for k in set().union(*rows)}
    return x, np.asarray(errs, dtype=float), labels


def fit_confidence_rows(rows, cues, unrelated_weight: float | None = None):
    """``confidence_rows`` -> (the confidence Logistic, its in-sample ``answer_stats``).
    An unrelated pair answered with confidence is the worst outcome: those pairs weigh
    ``unrelated_weight`` (None: ``UNRELATED_WEIGHT``)."""
    x, errs, labels = rows
    w = UNRELATED_WEIGHT if unrelated_weight is None else unrelated_weight
    weight = np.where(np.isinf(errs), w, 1.0)
    tol = tolerances(x, len(errs))
    conf = C.Logistic.fit(x, (errs <= tol).astype(float), confidence_features(cues), l2=3.0,
                          sample_weight=weight if len(errs) else None)
    return conf, answer_stats(errs, conf.prob(x), labels, tol)


def tolerances(x: dict, n: int) -> np.ndarray:
    """Each answer's tolerance (analysis frames; 1 where the rows do not say: rows of older code)."""
    tol = np.asarray(x.get("tolerance_frames", np.ones(n)), dtype=float).reshape(-1)
    return np.where(np.isfinite(tol), tol, 1.0) if len(tol) == n else np.ones(n)


def answer_stats(errs: np.ndarray, p: np.ndarray, labels: list[str], tol: np.ndarray | None = None) -> dict:
    """Within 1 / 2 frames overall and per kind of pair, a reliability table of ``p``, and the
    answers 2+ frames of the fastest input off at confidence >= 0.9 (2 input frames = 2 ``tol``)."""
    tol = np.ones(len(errs)) if tol is None else np.asarray(tol, dtype=float)
    stats = {"answers": int(len(errs)), "within_1_frame": round(float(np.mean(errs <= 1)), 3),
             "within_2_frames": round(float(np.mean(errs <= 2)), 3),
             "within_tolerance": round(float(np.mean(errs <= tol)), 3),
             "wrong_2plus_at_conf_0.9": int(np.sum((errs >= 2) & (p >= 0.9))),
             "wrong_2plus_input_frames_at_conf_0.9": int(np.sum((errs >= 2 * tol) & (p >= 0.9)))}
    kinds = np.array([kind_of(lab) for lab in labels])
    for kind in sorted(set(kinds)):
        sel = kinds == kind
        if np.isinf(errs[sel]).all():  # unrelated pairs: nothing to find, the highest confidence given
            stats[f"{kind}_max_conf"] = round(float(p[sel].max()), 3)
        else:
            stats[f"{kind}_within_2_frames"] = round(float(np.mean(errs[sel] <= 2)), 3)
    bins = np.digitize(p, [0.3, 0.6, 0.9])
    stats["reliability"] = {f"[{lo}, {hi})": {"n": int(np.sum(bins == k)), "mean_conf": round(float(p[bins == k].mean()), 3),
                                              "within_1_frame": round(float(np.mean(errs[bins == k] <= 1)), 3),
                                              "within_tolerance": round(float(np.mean((errs <= tol)[bins == k])), 3)}
                            for k, (lo, hi) in enumerate(((0, 0.3), (0.3, 0.6), (0.6, 0.9), (0.9, 1.0)))
                            if np.any(bins == k)}
    return stats


def _score_rows(rows, pairs, model, hit_curve, hit_pick, select) -> None:
    """Marks, for the related pairs in ``select``, whether the curve argmax and the candidate
    ``model.pick`` chooses are within 2 frames of the truth."""
    for i, r in enumerate(rows):
        if r is None or not select[i] or pairs[i].truth is None:
            continue
        truth = pairs[i].truth * ANALYSIS_RATE
        hit_curve[i] = abs(r[3] - truth) <= 2
        hit_pick[i] = abs(r[2][int(np.argmax(model.pick.logit(r[0])))] - truth) <= 2


def _by_kind(pairs, hit_curve, hit_pick) -> dict:
    kinds = np.array([kind_of(p.label) for p in pairs])
    related = {kind_of(p.label) for p in pairs if p.truth is not None}
    out = {}
    for name, sel in [("all", np.ones(len(pairs), bool))] + [(k, kinds == k) for k in sorted(related)]:
        known = sel & np.isfinite(hit_pick)
        out[name] = {"n": int(known.sum()), "curve_within_2": round(float(np.mean(hit_curve[known])), 3),
                     "pick_within_2": round(float(np.mean(hit_pick[known])), 3)}
    return out


def cross_validate(pairs, curves, cues, config, rate, memo: EpipolarMemo, folds: int = 4) -> dict:
    """``folds``-fold cross-validation by scene of the curve and pick stages: each fold's pairs are
    answered by stages fitted on the other folds. Share of related pairs whose curve argmax / picked
    candidate is within 2 frames, overall and per kind of pair (before the sub-frame refinement)."""
    group = np.array([p.scene % folds for p in pairs])
    ok = np.array([c is not None for c in curves])
    hit_curve = np.full(len(pairs), np.nan)
    hit_pick = np.full(len(pairs), np.nan)
    for k in range(folds):
        train = ok & (group != k)
        model = replace(C.untrained_model(cues))
        model.curve = fit_curve([(c[0], {n: v for n, v in c[1].items() if n in cues}, c[4], c[3])
                                 for c, t in zip(curves, train) if t], cues)
        rows = pick_rows(pairs, curves, cues, model, config, rate, memo)
        model.pick = fit_pick_rows(rows, cues, train)
        _score_rows(rows, pairs, model, hit_curve, hit_pick, group == k)
    return _by_kind(pairs, hit_curve, hit_pick)


def score_model(pairs, curves, cues, model, config, rate, memo: EpipolarMemo) -> dict:
    """``cross_validate``'s figures for a given (e.g. the shipped) model, without refitting it."""
    hit_curve = np.full(len(pairs), np.nan)
    hit_pick = np.full(len(pairs), np.nan)
    rows = pick_rows(pairs, curves, cues, model, config, rate, memo)
    _score_rows(rows, pairs, model, hit_curve, hit_pick, np.ones(len(pairs), bool))
    return _by_kind(pairs, hit_curve, hit_pick)


def _provenance(args, pairs, matcher) -> dict:
    from synnet_recon.skeleton import COCO18_NAMES
    from synnet_recon.sync import affine, evidence, pair
    from synnet_recon.sync import matcher as matcher_module

    out = {"script": "bench/fit_combiner.py", "scenes": args.scenes, "paper_pairs": args.paper, "seed": args.seed,
           "same_motion_pairs": args.same_motion, "people_scenes": args.people, "rate_scenes": args.rates,
           "walk_scenes": args.walks, "pick_terms": list(PICK_TERMS),
           "dropped_kinds": sorted(k for k in args.drop_kinds.split(",") if k),
           "split": "train (synnet_recon.sync.data.split_files)", "date": time.strftime("%Y-%m-%d"),
           "pairs": len(pairs), "unrelated_pairs": sum(p.truth is None for p in pairs),
           "conditions": "synth.conditions (upper body, sideways, correlated detector errors, dropped "
                         "frames) + static cameras + short clips + 15 fps long windows + unrelated pairs"
                         + (" + paper-protocol pairs (32-frame clips, 4m frames, --max-offset 16.5 frames)"
                            if args.paper else "")
                         + (" + unrelated pairs of two stretches of one motion (same_motion_pairs)"
                            if args.same_motion else "")
                         + (" + several-people scenes (people_pairs: same person paired with the truth, "
                            "different people as unrelated)" if args.people else "")
                         + (" + scenes faster than the analysis rate (rate_pairs: 60 / 50 / 120 fps, some "
                            "cameras at 30 / 29.97 / 25 fps)" if args.rates else ""),
           "confidence_event": "|error| <= pair.answer_tolerance (2 frames of the fastest input, at most 1 "
                               "analysis frame)",
           "affine_drop_joints": [COCO18_NAMES[j] for j in affine.DROP_JOINTS],
           "cue_candidates": list(pair.CUE_CANDIDATES), "cue_candidates_each": pair.CUE_CANDIDATES_EACH,
           "top_terms": TOP_TERMS,
           "synnet_upright": bool(getattr(matcher_module, "UPRIGHT", False)),
           "relabelled_cues": list(getattr(evidence, "RELABEL_CUES", ())),
           "features": ("curve: each cue's z" + (" with z * log(frames in common)" if OVERLAP_TERMS else "")
                        + "; pick: curve, epipolar and each cue's z"
                        + (" with z * log(frames in common)" if OVERLAP_TERMS or PICK_OVERLAP else "")
                        + (f" with the descriptors {', '.join(DESCRIPTOR_TERMS)} and each feature times each "
                           "(sync.descriptors)" if DESCRIPTOR_TERMS else "")
                        + "; confidence: combine.CONFIDENCE_FEATURES + per-cue agreement + overlap interactions")}
    if matcher is not None:
        from synnet_recon.sync.model import DEFAULT_CHECKPOINT

        out["synnet_checkpoint"] = {"file": Path(DEFAULT_CHECKPOINT).name,
                                    "sha256": _sha(Path(DEFAULT_CHECKPOINT).read_bytes())}
    return out


def _arguments(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", type=int, default=60)
    ap.add_argument("--paper", type=int, default=0, help="paper-protocol training pairs added (paper_pairs)")
    ap.add_argument("--same-motion", type=int, default=0,
                    help="unrelated pairs of two stretches of one motion added (same_motion_pairs)")
    ap.add_argument("--people", type=int, default=0, help="several-people scenes added (people_pairs)")
    ap.add_argument("--rates", type=int, default=0, help="scenes faster than the analysis rate added (rate_pairs)")
    ap.add_argument("--drop-kinds", default="",
                    help="kinds of pairs left out of the fits after pass 1, comma-separated (e.g. "
                         "unrelated_same,people,people_cross: pass 1's cache of the whole set is reused)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", default=str(C.COMBINER_PATH))
    ap.add_argument("--sets", default=",".join(FIT_SETS), help="cue sets to fit (names of evidence.CUE_SETS)")
    ap.add_argument("--synnet", action="store_true", help="load SynNet (whole-track evidence) for the sets with it")
    ap.add_argument("--cache", type=Path, default=None, help="folder of pass 1, one file per cue (reused when its key matches)")
    ap.add_argument("--drop-joints", choices=("default", "face", "none"), default="default",
                    help="affine.DROP_JOINTS for this fit (default: the package's; 'face': FACE_POINTS)")
    ap.add_argument("--relabel", default=None,
                    help="evidence.RELABEL_CUES for this fit, comma-separated (e.g. speed,trajectory; default: the package's)")
    ap.add_argument("--unrelated-weight", type=float, default=1.0,
                    help="weight of the unrelated pairs in the confidence fit (default 1)")
    ap.add_argument("--cv", type=int, default=0, help="K-fold cross-validation (by scene) of curve and pick; 0: none")
    ap.add_argument("--score-shipped", action="store_true", help="also score the shipped model on these pairs")
    ap.add_argument("--cv-only", action="store_true", help="only the cross-validation, write nothing")
    ap.add_argument("--overlap-terms", action="store_true", help="z * log(frames in common) terms in curve and pick")
    ap.add_argument("--pick-overlap-terms", action="store_true", help="z * log(frames in common) terms in the pick only")
    ap.add_argument("--span-terms", action="store_true",
                    help="z * log(the pair's longest overlap) terms in curve and pick (pair.log_span)")
    ap.add_argument("--peak-terms", action="store_true",
                    help="z * (that cue's highest z over the pair's range) terms in curve and pick (pair.cue_peaks)")
    ap.add_argument("--descriptor-terms", default="",
                    help="per-pair descriptors of the detections in the pick, comma-separated or 'all' "
                         "(sync.descriptors: each descriptor and each pick feature times it)")
    ap.add_argument("--pick-ranking", action="store_true",
                    help="the pick fitted to rank each pair's candidates (fit_ranking), then scaled to a logit")
    ap.add_argument("--cue-candidates", default=None,
                    help="pair.CUE_CANDIDATES for this fit, comma-separated (e.g. synnet; default: the package's)")
    ap.add_argument("--cue-candidates-each", type=int, default=None,
                    help="pair.CUE_CANDIDATES_EACH for this fit (default: the package's)")
    ap.add_argument("--top-terms", choices=("", "votes", "tops"), default="",
                    help="pick features: 'votes' (how many cues' own best offsets a candidate is near) or "
                         "'tops' (one 0/1 per cue), pair.cue_tops")
    ap.add_argument("--walks", type=int, default=0,
                    help="scenes of a person walking about a room seen by 4 tripod webcams at 15 fps, two of "
                         "them upper-body views, added (walk_pairs; pass 1 cached on its own)")
    ap.add_argument("--pick-terms", default="",
                    help="pick-only terms, comma-separated: 'periodicity' (pair.periodicity and each pick "
                         "feature times it), 'peaks' (each cue's z times its own peak z)")
    ap.add_argument("--upright", action="store_true",
                    help="matcher.UPRIGHT for this fit: sideways tracks turned upright before SynNet")
    ap.add_argument("--confidence-only", action="store_true",
                    help="refit only the confidence stage; the curve and pick of the model in --out (else the shipped one)")
    ap.add_argument("--keep-curve", action="store_true",
                    help="refit the pick and confidence stages only; the curve of the model in --out (else the shipped one)")
    ap.add_argument("--dump-pick", type=Path, default=None, help="pickles of the pick and confidence stages' training rows (analysis)")
    return ap.parse_args(argv)


def _candidate_settings(args) -> None:
    """--cue-candidates-each, --top-terms and --pick-terms."""
    global TOP_TERMS, PICK_TERMS
    if args.cue_candidates_each is not None:
        from synnet_recon.sync import pair

        pair.CUE_CANDIDATES_EACH = int(args.cue_candidates_each)
    TOP_TERMS = args.top_terms
    PICK_TERMS = tuple(t for t in args.pick_terms.split(",") if t)
    if set(PICK_TERMS) - {"periodicity", "peaks"}:
        raise SystemExit(f"--pick-terms: 'periodicity' and / or 'peaks', not {args.pick_terms}")


def main(argv=None):
    args = _arguments(argv)
    global OVERLAP_TERMS, PICK_OVERLAP, DUMP_PICK, UNRELATED_WEIGHT, SPAN_TERMS, PEAK_TERMS, PICK_RANKING, \
        DESCRIPTOR_TERMS
    UNRELATED_WEIGHT = float(args.unrelated_weight)
    SPAN_TERMS, PEAK_TERMS, PICK_RANKING = bool(args.span_terms), bool(args.peak_terms), bool(args.pick_ranking)
    DESCRIPTOR_TERMS = DESCRIPTORS if args.descriptor_terms == "all" else tuple(
        d for d in args.descriptor_terms.split(",") if d)
    if set(DESCRIPTOR_TERMS) - set(DESCRIPTORS):
        raise SystemExit(f"--descriptor-terms: not among {DESCRIPTORS}: {args.descriptor_terms}")
    if args.upright:
        from synnet_recon.sync import matcher as synnet_matcher

        synnet_matcher.UPRIGHT = True
    if args.cue_candidates is not None:
        from synnet_recon.sync import pair

        pair.CUE_CANDIDATES = tuple(c for c in args.cue_candidates.split(",") if c)
    _candidate_settings(args)
    OVERLAP_TERMS, PICK_OVERLAP, DUMP_PICK = bool(args.overlap_terms), bool(args.pick_overlap_terms), args.dump_pick
    from synnet_recon.sync import affine

    if args.drop_joints != "default":
        affine.DROP_JOINTS = affine.FACE_POINTS if args.drop_joints == "face" else ()
    if args.relabel is not None:
        from synnet_recon.sync import evidence

        evidence.RELABEL_CUES = tuple(c for c in args.relabel.split(",") if c)
    matcher = None
    if args.synnet:
        import torch

        from synnet_recon.sync.matcher import SynNetMatcher

        torch.set_num_threads(1)
        matcher = SynNetMatcher(device="cpu")
    t0 = time.time()
    config = AlignConfig(progress=False, synnet="off")
    rate = ANALYSIS_RATE
    pairs = training_pairs(args.scenes, args.seed, n_paper=args.paper, n_same=args.same_motion, n_people=args.people,
                           n_rates=args.rates)
    print(f"{len(pairs)} training pairs ({sum(p.truth is None for p in pairs)} unrelated, {args.paper} paper protocol, "
          f"{args.same_motion} of one motion, {sum(kind_of(p.label) == 'people' for p in pairs)} same-person pairs "
          f"of {args.people} several-people scenes)", flush=True)
    everything = CUE_SETS["all"] if matcher is not None else CUE_SETS["no-synnet"]
    base_key = {"scenes": args.scenes, "seed": args.seed, "paper": args.paper, "split": "train", "config": repr(config)}
    if args.same_motion or args.people:  # (keys of the earlier fits unchanged)
        base_key |= {"same_motion": args.same_motion, "people": args.people,
                     "people_kinds": PEOPLE_KINDS, "people_cross": PEOPLE_CROSS_PER_SCENE,
                     "same_windows": repr(SAME_MOTION_WINDOWS), "bench_sha": _sha(Path(__file__).with_name(
                         "bench_sync_real.py").read_bytes()) if args.people else None}
    if args.rates:
        base_key |= {"rates": args.rates, "fast_rates": FAST_RATES, "slower_rates": repr(SLOWER_RATES)}
    curves = pass_one(pairs, config, rate, everything, matcher, args.cache, base_key)  # every cue's chance z, once
    pairs, curves = _with_walks(args, pairs, curves, config, rate, everything, matcher)
    print(f"pass 1 (curves) done in {time.time() - t0:.0f} s", flush=True)
    dropped = {k for k in args.drop_kinds.split(",") if k}
    if dropped:
        keep = [kind_of(p.label) not in dropped for p in pairs]
        pairs = [p for p, k in zip(pairs, keep) if k]
        curves = [c for c, k in zip(curves, keep) if k]
        print(f"{len(pairs)} pairs left after dropping the kinds {sorted(dropped)}", flush=True)
    memo = EpipolarMemo(config, rate)
    models = dict(C.load_models(args.out)) if Path(args.out).exists() else {}
    report = {}
    for name in args.sets.split(","):
        cues = CUE_SETS[name]
        set_curves = [restricted(c, cues) for c in curves]
        if args.score_shipped and C.model_for(cues).trained:
            shipped = score_model(pairs, set_curves, cues, C.model_for(cues), config, rate, memo)
            print(f"{name} shipped model: {json.dumps(shipped)}", flush=True)
        if args.cv:
            cv = cross_validate(pairs, set_curves, cues, config, rate, memo, args.cv)
            print(f"{name} cv: {json.dumps(cv)}  ({time.time() - t0:.0f} s)", flush=True)
        if args.cv_only:
            continue
        model = _curve_and_pick(name, pairs, set_curves, config, rate, memo,
                                models.get(C.cue_key(cues)) if args.confidence_only or args.keep_curve else None,
                                args.out if args.confidence_only or args.keep_curve else None,
                                pick_too=args.keep_curve)
        model.confidence, stats = fit_confidence(pairs, set_curves, cues, model, config, rate, matcher)
        model.trained = True
        model.notes = {"pairs": len(pairs), **stats, **({"cv": cv} if args.cv else {})}
        models[C.cue_key(cues)] = model
        report[name] = stats
        print(f"{name}: {json.dumps(stats)}  ({time.time() - t0:.0f} s)", flush=True)
        _save(models, report, args, pairs, matcher)  # after each set: a later failure loses no fit


def _with_walks(args, pairs, curves, config, rate, cues, matcher):
    """``pairs`` and their pass 1 ``curves`` with ``--walks`` scenes' pairs added (``walk_pairs``), whose
    pass 1 is cached on its own: adding them leaves the other pairs' cache as it is."""
    if not args.walks:
        return pairs, curves
    walks = walk_pairs(args.walks, args.seed, first_scene=max(p.scene for p in pairs) + 1)
    key = {"walks": args.walks, "seed": args.seed, "split": "train", "config": repr(config),
           "walk_clips": repr(WALK_CLIPS), "walk": [WALK_SECONDS, WALK_ROOM, WALK_TURN],
           "pace": [WALK_STRETCH, WALK_PACE, WALK_STOP, WALK_STOP_CHANCE], "sway": [WALK_SWAY, WALK_JITTER]}
    print(f"{len(walks)} pairs of {args.walks} walking scenes (walk_pairs)", flush=True)
    return pairs + walks, curves + pass_one(walks, config, rate, cues, matcher, args.cache, key)


def _curve_and_pick(name, pairs, set_curves, config, rate, memo, kept=None, where=None, pick_too=False):
    """A model of cue set ``name`` whose curve and pick stages are fitted on ``pairs``, or, with
    ``kept`` (``--confidence-only``: the model already in the output file, else the shipped one when
    ``kept`` is missing), taken from it; ``pick_too`` (``--keep-curve``): only the curve is taken,
    the pick is fitted on its candidates. Its confidence stage is the untrained placeholder's."""
    cues = CUE_SETS[name]
    model = replace(C.untrained_model(cues))
    if kept is not None or where is not None:
        kept = kept or C.model_for(cues)
        if not kept.trained:
            raise SystemExit(f"--confidence-only: no fitted {name} model in {where} or the package")
        model.curve, model.pick = kept.curve, kept.pick
        if pick_too:
            model.pick = fit_pick(pairs, set_curves, cues, model, config, rate, memo)
        return model
    samples = [(o, {k: v for k, v in z.items() if k in cues}, t, n) for o, z, _, n, t in (c for c in set_curves if c)]
    model.curve = fit_curve(samples, cues)
    model.pick = fit_pick(pairs, set_curves, cues, model, config, rate, memo)
    return model


def _save(models, report, args, pairs, matcher):
    provenance = _provenance(args, pairs, matcher)
    provenance["sets_fitted"] = {C.cue_key(CUE_SETS[n]): n for n in report}
    kept = [k for k in models if k not in provenance["sets_fitted"]]
    if kept:  # models not refitted here keep their own provenance
        earlier = json.loads(Path(args.out).read_text(encoding="utf-8")).get("provenance", {})
        earlier = earlier.get("earlier_fit", {}).get("provenance", earlier) if "sets_fitted" in earlier else earlier
        provenance["earlier_fit"] = {"sets": kept, "provenance": earlier}
    C.save_models(models, provenance, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
