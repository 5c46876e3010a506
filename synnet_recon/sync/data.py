"""Training and evaluation pairs for SynNet, simulated on the fly from real motion capture.

Every item is two windows of 2D keypoints of the same motion, filmed by two independent moving
cameras with detector noise (``synnet_recon.synth.sample_pair``), with a known offset.

Split (deterministic, by motion file): a file is *held out* when the first 8 hex digits of
SHA-1(file stem), read as a fraction of 2^32, fall below ``heldout_fraction`` (default 0.2). The
rule depends only on the file name, so it is stable when files are added, and held-out files are
never used for training. Evaluation (``synrecon eval``) uses only held-out files.

Augmentation (training only): mirroring (the 3D motion reflected with left/right joints swapped,
so both cameras see a consistent mirrored world), playback speed 0.8-1.25x, a detector-noise
curriculum (level ramps from ``noise_start`` to ``noise_end`` over ``noise_ramp_pairs`` pairs),
offsets uniform over the 2M classes plus uniform sub-class jitter at full rate.

Realistic conditions (``DataConfig.conditions``, a ``Conditions``): each camera of a pair may frame
the upper body only, be held upright or lie sideways, sit on a tripod, have per-camera correlated
detector errors; a window may show the person only in part (entering, leaving) or follow another
person for a while (an identity switch of the tracker); a camera may run at another frame rate
(10-29.97 fps, linearly interpolated onto the 30 fps clock as ``SynNetMatcher`` reads any track) or
lose frames (gaps, as ``resample_track`` leaves them). They are the array transforms of
``synnet_recon.synth.conditions``, applied to ``chunk`` pairs at once (``sample_pair_batch``).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from ..errors import InputError
from ..motion import Motion
from ..paths import shared_data_dir
from .model import SynNetConfig

MOTION_SUFFIXES = (".bvh", ".amc")


@dataclass
class Conditions:
    """Chances of realistic recording conditions in the pairs (per camera unless said otherwise)."""

    upper_body: float = 0.25        # the camera frames the upper body only (a webcam: 10-12 joints)
    portrait: float = 0.1           # the camera is held upright (a tall, narrow view)
    sideways: float = 0.05          # upright footage read without its rotation: the person lies sideways
    tripod: float = 0.15            # the camera is fixed (tripod); the rest orbit, follow or are hand-held
    correlated_errors: float = 0.5  # slowly drifting per-joint bias, long arm swaps (level U(0.3, 1.2))
    partial: float = 0.1            # per pair: one window sees the person in only 18-28 of its frames
    identity_switch: float = 0.05   # per pair: one window follows someone else for 6-16 frames
    frame_rate: float = 0.0         # the camera runs at a rate from ``rates``, read at 30 fps as inference does
    rates: tuple[float, ...] = (25.0, 30000.0 / 1001.0, 20.0, 15.0, 10.0)
    dropped_frames: float = 0.0     # the camera loses 3-10 % of its frames in bursts of 1-4 (gaps)

    def camera_config(self):
        """CameraPathConfig with the tripod mode mixed in (when the simulator has it)."""
        from ..synth.camera import MODES, CameraPathConfig
        if "tripod" not in MODES or self.tripod <= 0:
            return None
        rest = 1.0 - min(self.tripod, 1.0)
        return CameraPathConfig(mode_weights=(0.35 * rest, 0.4 * rest, 0.25 * rest, min(self.tripod, 1.0)))


@dataclass
class DataConfig:
    """Where motions come from and how pairs are simulated."""

    root: str | None = None          # motion folder or cache (.npz); None = <shared data>/mocap
    heldout_fraction: float = 0.2
    split: str = "train"             # "train" or "heldout"
    mirror: bool = True
    speed_range: tuple[float, float] = (0.8, 1.25)
    noise_start: float = 0.2         # detector-noise level at the start of the curriculum
    noise_end: float = 1.0
    noise_ramp_pairs: int = 200_000  # pairs (over all workers) to reach noise_end
    noise_spread: tuple[float, float] = (0.5, 1.3)  # per-pair level = current level * U(spread)
    jitter: bool = True              # sub-class offset jitter (only used at full rate)
    augment: bool = True             # False for evaluation: no mirror, speed 1, fixed noise
    eval_noise: float = 1.0          # noise level when augment is False
    max_files: int | None = None     # cap the number of files (tests, quick runs)
    conditions: Conditions | None = None  # realistic conditions mixed in (None: the plain simulator)
    chunk: int = 1                   # pairs simulated at once per motion draw (vectorized); 1 = one by one
    extra: dict = field(default_factory=dict)  # free-form notes recorded with the run


def default_motion_root() -> Path:
    shared = shared_data_dir()
    if shared is None:
        raise InputError(None, "no shared data folder with motion capture found (set SYNRECON_SHARED_DATA)")
    return shared / "mocap"


def is_heldout(path, fraction: float = 0.2) -> bool:
    """The deterministic split rule of the module docstring (a path, or a cached Motion by name)."""
    stem = path.name if isinstance(path, Motion) else Path(path).stem
    h = int(hashlib.sha1(stem.encode()).hexdigest()[:8], 16)
    return h / 2 ** 32 < fraction


def motion_files(root: str | Path | None = None) -> list[Path]:
    """All motion files under ``root`` (sorted). Uses ``synnet_recon.motion.list_motion_files``
    when available."""
    root = Path(root) if root is not None else default_motion_root()
    try:
        from ..motion import list_motion_files
        files = [Path(p) for p in list_motion_files(root)]
    except ImportError:
        files = [p for p in root.rglob("*") if p.suffix.lower() in MOTION_SUFFIXES]
    if not files:
        raise InputError(root, "no motion files (.bvh, .amc) found")
    return sorted(files)


def split_files(files: list[Path], split: str, fraction: float = 0.2) -> list[Path]:
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    want = split == "heldout"
    return [f for f in files if is_heldout(f, fraction) == want]


def load_motions(files: list[Path], fps: float | None, min_seconds: float) -> list[Motion]:
    """Load each file once, resampled to ``fps`` (None: each at its own rate); files shorter than
    ``min_seconds`` are skipped. Files inside a motion cache (``save_motion_cache``) are read from it."""
    from ..motion import load_motion
    out = []
    for f in files:
        if isinstance(f, Motion):
            m = f
        else:
            try:
                m = load_motion(f)
            except Exception:  # a file the loader cannot read is skipped, not fatal for training
                continue
        m = m.resample(fps) if fps is not None and abs(m.fps - fps) > 1e-6 else m
        if m.duration >= min_seconds:
            out.append(m)
    return out


def save_motion_cache(root: str | Path | None, path: str | Path, fps: float = 30.0) -> Path:
    """Load every motion file under ``root`` once, resample to ``fps`` and store them in one .npz
    (names, lengths, float32 joints): a compact, fast stand-in for the motion folder
    (``--motions cache.npz``). The split rule still applies to the stored file names."""
    from ..fileio import atomic_path
    from ..motion import load_motion
    names, joints, lengths = [], [], []
    for f in motion_files(root):
        try:
            m = load_motion(f).resample(fps)
        except Exception:
            continue
        names.append(f.stem)
        joints.append(m.joints.astype(np.float32))
        lengths.append(len(m))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, names=np.array(names), lengths=np.array(lengths), fps=np.array(fps),
                                joints=np.concatenate(joints))
    return Path(path)


def read_motion_cache(path: str | Path) -> list[Motion]:
    """Motions stored by ``save_motion_cache``; each Motion's ``name`` is its file stem."""
    try:
        z = np.load(path)
        names, lengths, fps, joints = z["names"], z["lengths"], float(z["fps"]), z["joints"]
    except Exception as exc:
        raise InputError(path, f"not a motion cache ({type(exc).__name__})") from None
    out, i = [], 0
    for name, n in zip(names, lengths):
        out.append(Motion(joints[i:i + n].astype(np.float64), fps, str(name), str(name)))
        i += n
    return out


def split_motions(root: str | Path | None, split: str, fraction: float, fps: float, min_seconds: float,
                  max_files: int | None = None) -> list[Motion]:
    """The ``split`` motions of a motion folder or cache (.npz), loaded and resampled to ``fps``."""
    if root is not None and str(root).endswith(".npz"):
        if not Path(root).is_file():
            raise InputError(root, "motion cache not found")
        items = split_files(read_motion_cache(root), split, fraction)
    else:
        items = split_files(motion_files(root), split, fraction)
    if max_files:
        items = items[:max_files]
    motions = load_motions(items, fps, min_seconds)
    if not motions:
        raise InputError(root, f"no usable {split} motion files")
    return motions


def mirror_motion(m: Motion) -> Motion:
    """Reflect the motion in the x = 0 plane and swap left/right joints: a valid mirrored person."""
    from ..skeleton import LEFT_RIGHT_SWAP
    j = m.joints[:, LEFT_RIGHT_SWAP].copy()
    j[..., 0] *= -1.0
    return Motion(j, m.fps, m.name + "_mirror", m.source, m.start)


def sample_offset(cfg: SynNetConfig, rng: np.random.Generator, jitter: bool) -> int:
    """An offset in input frames: class m uniform in [-M, M-1], plus (full rate and ``jitter``) a
    uniform shift within the class's r frames, so every scored frame shift is equally likely."""
    m = int(rng.integers(-cfg.M, cfg.M))
    d = m * cfg.r
    if cfg.full_rate and jitter:
        d += int(rng.integers(0, cfg.r)) - cfg.r // 2
    return d


class PairStream(IterableDataset):
    """Endless stream of simulated clip pairs.

    Each item is a dict of tensors:
      a_xy, b_xy: (W, 18, 2) float32 pixels (NaN = missing), W = cfg.window_frames;
      a_conf, b_conf: (W, 18) float32; offset: () int64 frames, b relative to a (see model.py);
      motion: () int64 index of the source motion in ``motions()``.
    Seeding: numpy SeedSequence([seed, rank, worker id]), so workers and ranks differ.
    """

    def __init__(self, cfg: SynNetConfig, data: DataConfig | None = None, seed: int = 0, rank: int = 0,
                 motions: list[Motion] | None = None, start_pairs: int = 0):
        super().__init__()
        self.cfg = cfg
        self.data = data or DataConfig()
        self.seed = seed
        self.rank = rank
        self.start_pairs = start_pairs  # pairs already seen (resume), for the curriculum
        self.max_offset = cfg.M * cfg.r + cfg.r  # frames; bounds every sampled offset
        self.min_seconds = (cfg.window_frames + self.max_offset) * max(self.data.speed_range) / cfg.fps + 0.1
        self._motions = motions

    def motions(self) -> list[Motion]:
        if self._motions is None:
            d = self.data
            self._motions = split_motions(d.root, d.split, d.heldout_fraction, self.cfg.fps, self.min_seconds,
                                          d.max_files)
        return self._motions

    def noise_level(self, pairs_seen: int, rng: np.random.Generator) -> float:
        d = self.data
        if not d.augment:
            return d.eval_noise
        ramp = min(1.0, pairs_seen / max(d.noise_ramp_pairs, 1))
        level = d.noise_start + (d.noise_end - d.noise_start) * ramp
        return level * rng.uniform(*d.noise_spread)

    def _draw_motion(self, rng: np.random.Generator, motions: list[Motion], weights: np.ndarray,
                     mirrored: dict[int, Motion]) -> tuple[int, Motion]:
        """A motion (index, Motion), mirrored and re-timed when augmenting."""
        d = self.data
        i = int(rng.choice(len(motions), p=weights))
        motion = motions[i]
        if d.augment and d.mirror and rng.random() < 0.5:
            if i not in mirrored:
                mirrored[i] = mirror_motion(motion)
            motion = mirrored[i]
        if d.augment and d.speed_range != (1.0, 1.0):
            # log-uniform speed: a clip played `speed` times faster.
            speed = math.exp(rng.uniform(math.log(d.speed_range[0]), math.log(d.speed_range[1])))
            motion = Motion(motion.joints, motion.fps * speed, motion.name, motion.source, 0.0)
        return i, motion

    def _chunk(self, motion: Motion, rng: np.random.Generator, level: float) -> dict[str, np.ndarray] | None:
        """``data.chunk`` pairs of one motion, conditions applied: arrays (N, 2, W, 18, 2) xy,
        (N, 2, W, 18) conf, (N,) offsets; None when the clip is too short."""
        from ..synth.noise import DetectorNoise
        from ..synth.scene import sample_pair_batch

        cfg, d = self.cfg, self.data
        n = max(1, d.chunk)
        offsets = np.array([sample_offset(cfg, rng, d.jitter and d.augment) for _ in range(n)])
        cam = d.conditions.camera_config() if d.conditions is not None else None
        try:
            batch = sample_pair_batch(motion, n, cfg.window_frames, cfg.fps, offsets, rng,
                                      DetectorNoise(level=level), cam)
        except InputError:  # clip too short for this speed/offset: draw again
            return None
        xy, conf = batch.xy, batch.conf
        if d.conditions is not None:
            xy, conf = apply_conditions(xy, conf, batch.image_size, d.conditions, rng)
        return {"xy": xy, "conf": conf, "offset": offsets}

    def __iter__(self):
        info = get_worker_info()
        wid, nworkers = (info.id, info.num_workers) if info is not None else (0, 1)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.rank, wid]))
        motions = self.motions()
        weights = np.sqrt([m.duration for m in motions])
        weights /= weights.sum()
        mirrored: dict[int, Motion] = {}
        if self.data.chunk <= 1 and self.data.conditions is None:
            yield from self._one_by_one(rng, motions, weights, mirrored, nworkers)
            return
        count = 0
        while True:
            i, motion = self._draw_motion(rng, motions, weights, mirrored)
            chunk = self._chunk(motion, rng, self.noise_level(self.start_pairs + count * nworkers, rng))
            if chunk is None:
                continue
            for k in range(len(chunk["offset"])):
                count += 1
                yield {
                    "a_xy": torch.from_numpy(np.ascontiguousarray(chunk["xy"][k, 0], np.float32)),
                    "a_conf": torch.from_numpy(np.ascontiguousarray(chunk["conf"][k, 0], np.float32)),
                    "b_xy": torch.from_numpy(np.ascontiguousarray(chunk["xy"][k, 1], np.float32)),
                    "b_conf": torch.from_numpy(np.ascontiguousarray(chunk["conf"][k, 1], np.float32)),
                    "offset": torch.tensor(int(chunk["offset"][k]), dtype=torch.long),
                    "motion": torch.tensor(i, dtype=torch.long),
                }

    def _one_by_one(self, rng, motions, weights, mirrored, nworkers):
        """The plain stream, one pair per motion draw (the sequence the shipped model's evaluation
        pairs come from; kept bit for bit)."""
        from ..synth.noise import DetectorNoise
        from ..synth.scene import sample_pair

        cfg, d = self.cfg, self.data
        count = 0
        while True:
            i, motion = self._draw_motion(rng, motions, weights, mirrored)
            offset = sample_offset(cfg, rng, d.jitter and d.augment)
            level = self.noise_level(self.start_pairs + count * nworkers, rng)
            try:
                a, b = sample_pair(motion, cfg.window_frames, cfg.fps, float(offset), rng,
                                   DetectorNoise(level=level))
            except InputError:  # clip too short for this speed/offset: draw again
                continue
            count += 1
            yield {
                "a_xy": torch.from_numpy(a.xy), "a_conf": torch.from_numpy(a.conf),
                "b_xy": torch.from_numpy(b.xy), "b_conf": torch.from_numpy(b.conf),
                "offset": torch.tensor(offset, dtype=torch.long),
                "motion": torch.tensor(i, dtype=torch.long),  # index into self.motions()
            }


def _where(mask: np.ndarray, new: tuple, old: tuple) -> tuple:
    """Per clip: ``new`` where ``mask`` (N,) else ``old`` (arrays with N leading)."""
    return tuple(np.where(mask.reshape((-1,) + (1,) * (o.ndim - 1)), n, o) for n, o in zip(new, old))


def apply_conditions(xy: np.ndarray, conf: np.ndarray, image_size: np.ndarray, cond: Conditions,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Realistic conditions on a batch of pairs (``Conditions``; ``synth.conditions``).

    xy (N, 2, W, 18, 2) px, NaN = missing; conf (N, 2, W, 18); image_size (N, 2, 2).
    Returns new (xy, conf), same shapes, float32. Each condition is drawn per camera (or pair).
    """
    from ..synth import conditions as C

    n, _, w = xy.shape[:3]
    x, c = xy.reshape(2 * n, w, 18, 2), conf.reshape(2 * n, w, 18)
    size = image_size.reshape(2 * n, 2).astype(np.float64)
    if cond.upper_body > 0:
        nx, nc, _ = C.upper_body_view(x, c, size, rng)
        x, c = _where(rng.random(2 * n) < cond.upper_body, (nx, nc), (x, c))
    if cond.portrait > 0 or cond.sideways > 0:
        u = rng.random(2 * n)
        px, pc, psize = C.portrait_view(x, c, size, rng)
        turn = np.where(rng.random(2 * n) < 0.5, 1, -1)
        sx, sc, _ = C.rotate_view(px, pc, psize, 1)
        ax, ac, _ = C.rotate_view(px, pc, psize, -1)
        sx, sc = _where(turn > 0, (sx, sc), (ax, ac))
        x, c = _where(u < cond.portrait + cond.sideways, (px, pc), (x, c))
        x, c = _where(u < cond.sideways, (sx, sc), (x, c))
    if cond.correlated_errors > 0:
        level = rng.uniform(0.3, 1.2)
        ex, ec = C.correlated_detector_errors(x, c, size, rng, level=level)
        x, c = _where(rng.random(2 * n) < cond.correlated_errors, (ex, ec), (x, c))
    if cond.frame_rate > 0:
        rates = np.asarray(cond.rates, dtype=np.float64)[rng.integers(0, len(cond.rates), 2 * n)]
        rx, rc = other_frame_rate(x, c, rates, rng)
        x, c = _where(rng.random(2 * n) < cond.frame_rate, (rx, rc), (x, c))
    if cond.dropped_frames > 0:
        keep = C.dropped_frame_mask((2 * n, w), rng, rate=float(rng.uniform(0.03, 0.10)))
        keep |= (rng.random(2 * n) >= cond.dropped_frames)[:, None]
        x, c = np.where(keep[..., None, None], x, np.nan), np.where(keep[..., None], c, 0.0)
    x, c = x.reshape(n, 2, w, 18, 2).copy(), c.reshape(n, 2, w, 18).copy()
    _partial_windows(x, c, cond.partial, rng)
    _identity_switches(x, c, size.reshape(n, 2, 2), cond.identity_switch, rng)
    return x.astype(np.float32), c.astype(np.float32)


def other_frame_rate(xy: np.ndarray, conf: np.ndarray, rates: np.ndarray, rng: np.random.Generator,
                     fps: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """Clips filmed at ``rates`` (B,) fps instead of ``fps``, read back at ``fps`` by linear
    interpolation between the captured frames (what ``resample_track`` does with such a track).

    xy (B, W, 18, 2) NaN = missing, conf (B, W, 18). A camera captures at ``phase + k / rate``
    (phase uniform in one of its frame intervals); a captured value is the clip interpolated at that
    instant, and a frame of the output is missing when a captured frame it needs is. Confidence: the
    input frame's (its neighbours' mean where it had none). Returns (xy, conf), same shapes, float64."""
    B, W = xy.shape[:2]
    rates = np.asarray(rates, dtype=np.float64).reshape(B, 1)
    phase = rng.uniform(0.0, 1.0, (B, 1)) / rates
    t = np.arange(W)[None] / fps                            # (1, W) output instants
    k0 = np.floor((t - phase) * rates)
    s0 = phase + k0 / rates                                 # captured instants around each output frame
    u = (t - s0) * rates                                    # (B, W) in [0, 1)
    bi = np.arange(B)[:, None]

    def lerp(a, b, w):                                      # exact ends copied (a missing neighbour unused)
        w = w[..., None, None]
        return np.where(w <= 1e-9, a, np.where(w >= 1.0 - 1e-9, b, (1.0 - w) * a + w * b))

    def captured(s):                                        # the clip at instants s (B, W), seconds
        f = np.clip(s * fps, 0.0, W - 1.0)
        i0 = np.minimum(np.floor(f + 1e-9).astype(int), W - 2)
        return lerp(xy[bi, i0], xy[bi, i0 + 1], f - i0)

    out = lerp(captured(s0), captured(s0 + 1.0 / rates), u)
    seen = np.isfinite(out).all(axis=-1)
    pad = np.pad(conf, ((0, 0), (1, 1), (0, 0)), mode="edge")
    near = np.maximum(0.5 * (pad[:, :-2] + pad[:, 2:]), 0.1)  # a frame made from its neighbours only
    c = np.where(seen, np.where(conf > 0, conf, near), 0.0)
    return np.where(seen[..., None], out, np.nan), c


def _partial_windows(x: np.ndarray, c: np.ndarray, chance: float, rng: np.random.Generator) -> None:
    """In place: for ``chance`` of the pairs, one window loses its first or last 4-14 frames (the
    person walks in or out). x (N, 2, W, 18, 2), c (N, 2, W, 18)."""
    n, _, w = x.shape[:3]
    for k in np.flatnonzero(rng.random(n) < chance):
        lo = min(4, w // 2)  # short windows (small test configs) lose at most half their frames
        cam, lost = int(rng.integers(0, 2)), int(rng.integers(lo, max(min(15, w // 2), lo + 1)))
        sl = slice(0, lost) if rng.random() < 0.5 else slice(w - lost, w)
        x[k, cam, sl], c[k, cam, sl] = np.nan, 0.0


def _identity_switches(x: np.ndarray, c: np.ndarray, size: np.ndarray, chance: float,
                       rng: np.random.Generator) -> None:
    """In place: for ``chance`` of the pairs, one window follows another person for 6-16 frames:
    a bystander who barely moves (``bystander_2d``) or another pair's person (different time of
    the motion). x (N, 2, W, 18, 2), c (N, 2, W, 18), size (N, 2, 2)."""
    from ..synth.conditions import bystander_2d

    n, _, w = x.shape[:3]
    picks = np.flatnonzero(rng.random(n) < chance)
    if not len(picks):
        return
    cams = rng.integers(0, 2, len(picks))
    bx, bc = bystander_2d(x[picks, cams], c[picks, cams], size[picks, cams], rng)
    for j, (k, cam) in enumerate(zip(picks, cams)):
        length = min(int(rng.integers(6, 17)), w)
        t0 = int(rng.integers(0, w - length + 1))
        sl = slice(t0, t0 + length)
        if n > 1 and rng.random() < 0.5:
            other = (k + 1 + int(rng.integers(0, n - 1))) % n
            x[k, cam, sl], c[k, cam, sl] = x[other, 1 - cam, sl], c[other, 1 - cam, sl]
        else:
            x[k, cam, sl], c[k, cam, sl] = bx[j, sl], bc[j, sl]


def fixed_pairs(cfg: SynNetConfig, n_pairs: int, seed: int = 0, data: DataConfig | None = None,
                motions: list[Motion] | None = None) -> dict[str, torch.Tensor]:
    """A reproducible batch of ``n_pairs`` held-out pairs under the paper protocol (offsets exactly
    m*r, noise level ``eval_noise``, no augmentation). Returns the PairStream dict, stacked (N, ...)."""
    data = data or DataConfig(split="heldout", augment=False)
    stream = PairStream(cfg, data, seed=seed, motions=motions)
    items = []
    for item in stream:
        items.append(item)
        if len(items) >= n_pairs:
            break
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}
