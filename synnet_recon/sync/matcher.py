"""Inference API for SynNet: the evidence of temporal offsets between keypoint tracks (used by ``align``).

Two ways to use the network:
  * whole tracks (``offset_evidence``, ``track_features``): each track's per-frame features are
    computed once (encoder, then the bi-ConvLSTM), and every offset of a search range is scored at
    once through the shift-equivariant pair head: the mean pair score along each offset's diagonal
    of the Ta x Tb matrix of frame pairs. This is the fast path (shipped "shift" head only).
  * window pairs (``score_windows``, ``score_windows_frames``): the paper's protocol, two windows
    of ``window_frames`` frames, a distribution over the 2M offset classes.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..keypoints import Keypoints
from ..skeleton import LEFT_RIGHT_SWAP
from .model import DEFAULT_CHECKPOINT, SynNetConfig, load_synnet, matrix_diagonal_sums, pool_to_classes
from .model import track_features as _track_features


@dataclass
class TrackFeatures:
    """One track's per-frame SynNet features, on the model's clock from the track's first frame.

    features: (T, F) float32, frame k at ``times[0] + k / fps`` of the track it came from.
    valid: (T,) bool, the frame shows a body (at least MIN_JOINTS joints).
    fps: the model's frame rate.
    """

    features: torch.Tensor
    valid: np.ndarray
    fps: float
    key: str | None = None  # the track's content hash (``SynNetMatcher`` caches pair matrices by it)

    def __len__(self) -> int:
        return len(self.valid)


class SynNetMatcher:
    """A trained SynNet, ready to score window pairs.

    config: the model's SynNetConfig (n, M, r, fps used in training).
    window_frames: input frames per window at ``config.fps`` (n*r; the paper's network reads every
        r-th of them, the shipped default all of them).
    frame_shifts: (S,) the offsets, in frames at config.fps, that ``score_windows_frames`` scores.
    Shift sign (everywhere in synnet_recon.sync): class m means b's window starts m*r frames later
    than a's on the shared clock, so a's frame k and b's frame k - m*r show the same instant.
    """

    def __init__(self, checkpoint: str | Path | None = None, device: str = "cpu", batch_size: int = 64,
                 mirror_tta: bool = False, min_valid_fraction: float = 0.5, context: int | None = None,
                 cache_size: int = 64):
        path = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
        self.checkpoint = path
        self.device = torch.device(device)
        self.model, state = load_synnet(path, self.device)
        if self.device.type == "cpu":
            self.model.features.use_channels_last()
        self.config: SynNetConfig = self.model.cfg
        self.window_frames: int = self.config.window_frames
        self.frame_shifts = (self.config.shifts * self.config.shift_step).numpy()
        self.metrics: dict = dict(state.get("metrics") or {})
        self.batch_size = batch_size
        # Test-time augmentation: also score the mirrored windows (x negated, left/right joints
        # swapped, as in training) and average the log-probabilities. Twice the cost.
        self.mirror_tta = mirror_tta
        # A window pair where either clip has a body (>= MIN_JOINTS joints) in fewer than this
        # fraction of its frames carries no timing information; the network would then fall back
        # on its own window-position cues (it prefers m = 0 on empty input), so such pairs get a
        # uniform distribution instead.
        self.min_valid_fraction = min_valid_fraction
        # Whole-track features (``track_features``): None runs the bi-ConvLSTM over the whole track;
        # an integer W encodes overlapping windows of W frames, as in training (see model.track_features).
        self.context = context
        self._cache: OrderedDict[str, TrackFeatures] = OrderedDict()
        self._lock = threading.Lock()
        self._pending: dict[str, threading.Event] = {}
        self.cache_size = cache_size
        # pair-score matrices of track pairs (``pair_matrix``), the last few
        self._matrices: OrderedDict[tuple, torch.Tensor] = OrderedDict()

    def _check(self, name: str, xy: np.ndarray, conf: np.ndarray) -> None:
        w = self.window_frames
        if xy.ndim != 4 or xy.shape[1:] != (w, 18, 2):
            raise ValueError(f"{name}_xy must be (B, {w}, 18, 2), got {xy.shape}")
        if conf.shape != xy.shape[:3]:
            raise ValueError(f"{name}_conf must be {xy.shape[:3]}, got {conf.shape}")

    @torch.no_grad()
    def _run(self, a_xy, a_conf, b_xy, b_conf) -> dict[str, np.ndarray]:
        a_xy, b_xy = np.asarray(a_xy, np.float32), np.asarray(b_xy, np.float32)
        a_conf, b_conf = np.asarray(a_conf, np.float32), np.asarray(b_conf, np.float32)
        self._check("a", a_xy, a_conf)
        self._check("b", b_xy, b_conf)
        if len(a_xy) != len(b_xy):
            raise ValueError(f"a and b hold different numbers of windows: {len(a_xy)} vs {len(b_xy)}")
        cls, frm = [], []
        for i in range(0, len(a_xy), self.batch_size):
            t = [torch.from_numpy(x[i:i + self.batch_size]).to(self.device) for x in (a_xy, a_conf, b_xy, b_conf)]
            logp = self.model.forward_keypoints(*t)["frame_logits"].float().log_softmax(-1)
            if self.mirror_tta:
                logp = 0.5 * (logp + self.model.forward_keypoints(*mirror_windows(*t))["frame_logits"]
                              .float().log_softmax(-1))
                logp = logp.log_softmax(-1)
            cls.append(pool_to_classes(logp, self.config).log_softmax(-1).cpu().numpy())
            frm.append(logp.cpu().numpy())
        S = len(self.frame_shifts)
        if not cls:
            return {"class": np.zeros((0, self.config.n_classes), np.float32), "frame": np.zeros((0, S), np.float32)}
        cls, frm = np.concatenate(cls), np.concatenate(frm)
        empty = (body_fraction(a_xy, a_conf) < self.min_valid_fraction) | \
                (body_fraction(b_xy, b_conf) < self.min_valid_fraction)
        cls[empty] = -np.log(cls.shape[1])
        frm[empty] = -np.log(S)
        return {"class": cls, "frame": frm}

    def score_all(self, a_xy, a_conf, b_xy, b_conf) -> dict[str, np.ndarray]:
        """Both resolutions in one pass: {"class": (B, 2M), "frame": (B, S)} log-probabilities."""
        return self._run(a_xy, a_conf, b_xy, b_conf)

    @torch.no_grad()
    def score_heatmaps(self, heat_a, heat_b) -> np.ndarray:
        """Score windows given as real joint heatmaps from a pose backend instead of keypoints.

        heat_a, heat_b: (B, window_frames, 18, h, w) non-negative (background channel dropped).
        They are resized to the model's heatmap size and scaled to peak 1
        (``heatmaps.prepare_heatmaps``); crop them around the person first, since the model was
        trained on person-centred heatmaps. Returns (B, 2M) class log-probabilities.
        """
        from .heatmaps import prepare_heatmaps
        c = self.config
        ha, hb = (torch.as_tensor(np.asarray(h, np.float32)) for h in (heat_a, heat_b))
        for name, h in (("heat_a", ha), ("heat_b", hb)):
            if h.ndim != 5 or h.shape[1] != self.window_frames or h.shape[2] != 18:
                raise ValueError(f"{name} must be (B, {self.window_frames}, 18, h, w), got {tuple(h.shape)}")
        ha, hb = (prepare_heatmaps(h, c.heatmap_size) for h in (ha, hb))
        if not c.full_rate:
            ha, hb = ha[:, :: c.r], hb[:, :: c.r]
        out = []
        for i in range(0, len(ha), self.batch_size):
            sl = slice(i, i + self.batch_size)
            logits = self.model(ha[sl].to(self.device), hb[sl].to(self.device))["class_logits"]
            out.append(logits.float().log_softmax(-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, c.n_classes), np.float32)

    def score_windows(self, a_xy, a_conf, b_xy, b_conf, image_size_a=None, image_size_b=None) -> np.ndarray:
        """Log-probabilities of the offset classes of window pairs.

        a_xy, b_xy: (B, window_frames, 18, 2) pixels (NaN = missing); a_conf, b_conf: (B, window_frames, 18).
        image_size_a/b: (w, h); unused by the person-centric heatmaps, accepted for the API.
        Returns (B, 2M) log-probabilities over classes m in [-M, M-1] (index m + M): b's window starts
        m*r frames after a's.
        """
        return self._run(a_xy, a_conf, b_xy, b_conf)["class"]

    def score_windows_frames(self, a_xy, a_conf, b_xy, b_conf, image_size_a=None, image_size_b=None) -> np.ndarray:
        """Like ``score_windows`` at frame resolution: (B, S) log-probabilities over ``frame_shifts``
        (equal to the classes' m*r when the model is not full-rate)."""
        return self._run(a_xy, a_conf, b_xy, b_conf)["frame"]


    # ---- whole tracks -------------------------------------------------------------------------
    @torch.no_grad()
    def track_features(self, k: Keypoints) -> TrackFeatures:
        """Per-frame features of track ``k`` at the model's fps, computed once per track content
        (cached, ``cache_size`` tracks). Needs the shift head (the shipped default)."""
        key = self._whole_track_key(k)
        with self._lock:
            claim = self._claim(key)
        return self._finish(k, key, claim)

    def features_of_pair(self, ka: Keypoints, kb: Keypoints) -> tuple[TrackFeatures, TrackFeatures]:
        """``track_features`` of both tracks; when another thread is already computing a's, b's
        first (align's pair threads start on pairs that share a track: none waits idle then)."""
        key_a, key_b = self._whole_track_key(ka), self._whole_track_key(kb)
        with self._lock:
            claim_a = self._claim(key_a)
            a_elsewhere = claim_a[0] is None and not claim_a[2]
            claim_b = self._claim(key_b) if a_elsewhere else None
        if claim_b is not None:
            fb = self._finish(kb, key_b, claim_b)
            return self._finish(ka, key_a, claim_a), fb
        fa = self._finish(ka, key_a, claim_a)
        return fa, self.track_features(kb)

    def _whole_track_key(self, k: Keypoints) -> str:
        if self.config.head != "shift" or not self.config.cost_volume or not self.config.full_rate:
            raise ValueError("whole-track scoring needs a full-rate model with the shift head")
        return _track_key(k, self._context_for(k))

    def _claim(self, key: str):
        """Under ``_lock``: (cached features or None, the key's pending event, whether this thread
        computes them). align scores pairs in threads: each track's features are computed once,
        by the first thread that asks; the others wait for them."""
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit, None, False
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = threading.Event()
            return None, pending, True
        return None, pending, False

    def _finish(self, k: Keypoints, key: str, claim) -> TrackFeatures:
        hit, pending, owner = claim
        if hit is not None:
            return hit
        if not owner:
            pending.wait()
            with self._lock:
                hit = self._cache.get(key)
            return hit if hit is not None else self._compute_track_features(k, key)
        try:
            return self._compute_track_features(k, key)
        finally:
            with self._lock:
                self._pending.pop(key, None)
            pending.set()

    def _context_for(self, k: Keypoints) -> int | None:
        """The context a track is encoded with: ``context``, or for a track longer than
        ``LONG_TRACK_SECONDS`` with ``context`` None, windows of ``LONG_CONTEXT_SECONDS`` (the
        whole-track heatmaps and ConvLSTM inputs would grow with the length: 4 GB for 30 minutes)."""
        if self.context is not None or len(k) < 2:
            return self.context
        if float(k.times[-1] - k.times[0]) <= LONG_TRACK_SECONDS:
            return None
        return int(round(LONG_CONTEXT_SECONDS * self.config.fps))

    @torch.no_grad()
    def _compute_track_features(self, k: Keypoints, key: str) -> TrackFeatures:
        xy, conf = resample_keypoints(k, self.config.fps)
        if UPRIGHT:
            xy = upright(xy)
        valid = (np.isfinite(xy).all(-1) & (conf > 0)).sum(-1) >= MIN_JOINTS
        feats = _track_features(self.model, torch.from_numpy(xy).to(self.device),
                                torch.from_numpy(conf).to(self.device), self._context_for(k))
        out = TrackFeatures(feats, valid, float(self.config.fps), key)
        with self._lock:
            self._cache[key] = out
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return out

    @torch.no_grad()
    def diagonal_scores(self, fa: TrackFeatures, fb: TrackFeatures, shifts: np.ndarray,
                        order_b: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean pair score and number of valid frame pairs along integer diagonals.

        shifts: (D,) integers in model frames: a's frame i pairs with b's frame i - s.
        order_b: (Tb,) b's frames reordered first (reordered frame j is b's frame order_b[j]; for
            chance, ``evidence.null_orders``); None: b as it is.
        Returns (scores (D,) float64, NaN where no pair is valid; n_pairs (D,) int64).
        Tracks of at most ``DENSE_PAIRS`` frame pairs score their whole pair matrix once
        (``pair_matrix``) and every call of the pair reads its diagonals from it (the same
        numbers); longer ones score the asked diagonals only.
        """
        shifts_t = torch.as_tensor(np.asarray(shifts, dtype=np.int64)).to(self.device)
        va, vb = torch.from_numpy(fa.valid).to(self.device), torch.from_numpy(fb.valid).to(self.device)
        order = None if order_b is None else torch.from_numpy(np.array(order_b, dtype=np.int64)).to(self.device)
        matrix = self.pair_matrix(fa, fb)
        if matrix is not None:
            sums, counts = matrix_diagonal_sums(matrix, shifts_t, va, vb, order)
        elif order is None:
            sums, counts = self.model.head.diagonal_sums(fa.features, fb.features, shifts_t, va, vb)
        else:
            sums, counts = self.model.head.diagonal_sums(fa.features, fb.features[order], shifts_t, va, vb[order])
        sums, counts = sums.double().cpu().numpy(), counts.cpu().numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / counts, np.nan), counts

    @torch.no_grad()
    def pair_matrix(self, fa: TrackFeatures, fb: TrackFeatures) -> torch.Tensor | None:
        """The (Ta, Tb) pair scores of two tracks (``ShiftHead.pair_matrix``), computed once per
        track pair and kept for the next calls (``MATRIX_CACHE`` pairs); None for tracks of more
        than ``DENSE_PAIRS`` frame pairs or without content keys."""
        if fa.key is None or fb.key is None or len(fa) * len(fb) > DENSE_PAIRS:
            return None
        key = (fa.key, fb.key)
        with self._lock:
            hit = self._matrices.get(key)
            if hit is not None:
                self._matrices.move_to_end(key)
                return hit
        va, vb = torch.from_numpy(fa.valid).to(self.device), torch.from_numpy(fb.valid).to(self.device)
        matrix = self.model.head.pair_matrix(fa.features, fb.features, va, vb)
        with self._lock:
            self._matrices[key] = matrix
            while len(self._matrices) > MATRIX_CACHE:
                self._matrices.popitem(last=False)
        return matrix

    def offset_evidence(self, ka: Keypoints, kb: Keypoints, offsets_s) -> tuple[np.ndarray, np.ndarray]:
        """SynNet's evidence for each candidate offset of track kb relative to ka.

        offsets_s: (L,) seconds; offset o means b's first frame is o seconds after a's on the shared
            clock, so a's frame at ``ka.times[0] + t`` shows the instant of b's at ``kb.times[0] + t - o``
            (the sign of ``score_windows``' classes). Sub-frame offsets interpolate linearly between
            the two nearest diagonals at the model's fps.
        Returns (scores (L,) float64: the mean pair logit of the shift head over the offset's
        overlapping frame pairs, higher = more likely, NaN where no valid pair; n_pairs (L,)
        float64: how many frame pairs at the model's fps took part, interpolated like the scores).
        The mean over a shorter overlap is noisier: compare offsets with their n_pairs in mind.
        """
        offsets = np.atleast_1d(np.asarray(offsets_s, dtype=np.float64))
        fa, fb = self.features_of_pair(ka, kb)
        d = offsets * self.config.fps
        lo = np.floor(d + 1e-9)
        w = np.clip(d - lo, 0.0, 1.0)
        shifts = np.unique(np.concatenate([lo, lo + 1]).astype(np.int64)) if len(d) else np.zeros(0, np.int64)
        mean, count = self.diagonal_scores(fa, fb, shifts)
        i0 = np.searchsorted(shifts, lo.astype(np.int64))
        i1 = np.minimum(i0 + 1, len(shifts) - 1)
        m0, m1, c0, c1 = mean[i0], mean[i1], count[i0].astype(np.float64), count[i1].astype(np.float64)
        near = w < 1e-6  # on a diagonal: no neighbour needed
        scores = np.where(near, m0, (1 - w) * m0 + w * m1)
        n_pairs = np.where(near, c0, (1 - w) * c0 + w * c1)
        return scores, n_pairs


MIN_JOINTS = 5  # joints a frame needs to count as showing the body
# Track pairs of at most this many frame pairs score their whole pair matrix once (4 MB): the
# search range and chance's reordered diagonals then read it instead of scoring ~1.7x the pairs
# one by one. Up to about 33 s x 33 s at 30 fps; longer tracks (a narrow band of the matrix) are
# scored diagonal by diagonal.
DENSE_PAIRS = 1_000_000
MATRIX_CACHE = 8  # pair matrices kept (one per pair of tracks align is working on)
LONG_TRACK_SECONDS = 120.0   # longer tracks are encoded in overlapping windows (memory flat in length)
LONG_CONTEXT_SECONDS = 20.0  # the windows' length


# Tracks whose body lies sideways or upside down in the image (a phone video read without its
# rotation) are turned by quarter turns until the torso points up before SynNet sees them
# (``upright``): SynNet was trained on upright people. On the training pairs with a sideways camera
# its argmax was within 2 frames on 7 % (long windows) and 15 % (32-frame clips), the affine cue's on
# 70 % / 35 % (docs/benchmarks.md, session 7, h6). On: the held-out bench gave every condition the
# same figures and portrait + sideways 75 -> 83 % within 2 frames, no offset 2+ frames off at >= 0.9
# (the shipped combiner, fitted with it off; an upright track's features are unchanged bit for bit).
UPRIGHT = True
# Torsos tilted up to this far from the image's up are left as they are: a camera rolled or a body
# leaning 45 degrees (the Pose2Sim demo's cam04) is no sideways video.
UPRIGHT_TILT_DEGREES = 60.0


def quarter_turns_upright(xy: np.ndarray) -> int:
    """Quarter turns (0-3, counter-clockwise on screen) that bring the track's median torso
    direction (mid-hip to neck, else neck to nose) nearest to the image's up; 0 when unknown or
    tilted no more than ``UPRIGHT_TILT_DEGREES``."""
    from ..skeleton import JOINT_INDEX as J

    neck = xy[:, J["neck"]]
    hips = 0.5 * (xy[:, J["r_hip"]] + xy[:, J["l_hip"]])
    axis = neck - hips
    if not np.isfinite(axis).all(-1).any():
        axis = xy[:, J["nose"]] - neck
    ok = np.isfinite(axis).all(-1)
    if not ok.any():
        return 0
    dx, dy = np.median(axis[ok], axis=0)
    tilt = (np.degrees(np.arctan2(-dy, dx)) - 90.0 + 180.0) % 360.0 - 180.0  # image y points down
    if abs(tilt) <= UPRIGHT_TILT_DEGREES:
        return 0
    return int(np.round(-tilt / 90.0)) % 4


def upright(xy: np.ndarray) -> np.ndarray:
    """``xy`` (T, 18, 2) turned by ``quarter_turns_upright`` about the origin (SynNet's heatmaps are
    person-centred, so where the body sits does not matter); the same array when no turn is needed."""
    turns = quarter_turns_upright(xy)
    if turns == 0:
        return xy
    x, y = xy[..., 0], xy[..., 1]
    # one quarter turn counter-clockwise on screen (y down): (x, y) -> (y, -x)
    for _ in range(turns):
        x, y = y, -x
    return np.stack([x, y], -1).astype(xy.dtype)


def _track_key(k: Keypoints, context) -> str:
    h = hashlib.sha1()
    for a in (k.xy, k.conf, k.times):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr(context).encode())
    if UPRIGHT:  # the features of a turned track differ: never mixed up with the unturned ones
        h.update(b"upright")
    return h.hexdigest()


def resample_keypoints(k: Keypoints, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Track ``k`` on a regular clock at ``fps`` from its first frame: (xy (T, 18, 2) float32,
    NaN where missing; conf (T, 18) float32, 0 where missing), interpolated linearly (gaps and
    missing neighbours give missing joints; see ``resample_track``)."""
    try:
        from .tracks import resample_track
    except ImportError:  # before the geometry moved out of baselines
        from .baselines import resample_track
    xy = resample_track(k, fps)
    c = resample_track(Keypoints(np.stack([k.conf, k.conf], -1), k.conf, k.times, k.image_size), fps)[..., 0]
    ok = np.isfinite(xy).all(-1) & np.isfinite(c) & (c > 0)
    return np.where(ok[..., None], xy, np.nan).astype(np.float32), np.where(ok, c, 0.0).astype(np.float32)


def body_fraction(xy: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """Fraction of each window's frames with at least MIN_JOINTS detected joints.
    xy: (B, W, 18, 2), conf: (B, W, 18) -> (B,)."""
    ok = np.isfinite(xy).all(-1) & (conf > 0)
    return (ok.sum(-1) >= MIN_JOINTS).mean(-1)


def mirror_windows(a_xy, a_conf, b_xy, b_conf):
    """Mirror both windows: x negated (the heatmaps are person-centred, so no image width is
    needed) and left/right joints swapped. Tensors (B, W, 18, 2) and (B, W, 18)."""
    perm = torch.as_tensor(LEFT_RIGHT_SWAP, device=a_xy.device)

    def flip(xy, conf):
        xy = xy[:, :, perm].clone()
        xy[..., 0] = -xy[..., 0]
        return xy, conf[:, :, perm]

    return (*flip(a_xy, a_conf), *flip(b_xy, b_conf))
