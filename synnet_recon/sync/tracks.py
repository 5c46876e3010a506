"""2D keypoint tracks as arrays: resampling onto a regular clock, per-frame and per-track
normalisation, smoothed reads at fractional frame positions, and joint relabellings.

A track is ``Keypoints`` or an array (T, 18, 2) of pixels with NaN where a joint is missing.
Offset convention (the same as ``synnet_recon.sync.model``): offset ``d`` means b's first frame
was captured ``d`` frames after a's, so frame ``i`` of a shows the same instant as frame ``i - d``
of b.
"""
from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict

import numpy as np

from ..keypoints import Keypoints
from ..scopes import Scoped
from ..skeleton import JOINT_INDEX as J
from ..skeleton import NUM_JOINTS

MIN_OVERLAP_FRAMES = 8  # scores need at least this many frames in common
MIN_COMMON_JOINTS = 7   # a frame pair needs this many joints seen in both views for the rank test
_SAMPLE_CHUNK = 2048    # gaussian_sample reads at most this many positions at once (memory flat in length)


def as_xy(track) -> np.ndarray:
    """Keypoints or array -> (T, 18, 2) float64 with NaN for missing joints."""
    xy = track.xy if isinstance(track, Keypoints) else track
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim != 3 or xy.shape[1:] != (NUM_JOINTS, 2):
        raise ValueError(f"expected (T, {NUM_JOINTS}, 2) keypoints, got {xy.shape}")
    return xy


def resample_track(kp: Keypoints, rate: float, min_conf: float = 0.0) -> np.ndarray:
    """Keypoints on a regular clock starting at the track's first frame: ``times[0] + k / rate``.

    Linear interpolation per joint between the two input frames around each sample; a sample is
    NaN when a needed neighbour is missing, when the input has a gap (> 1.5 median frame
    intervals) there, or past the last frame. Input frames exactly on the clock are copied as is
    (no smoothing), so resampling a constant-rate track at its own rate is the identity.
    Joints with confidence below ``min_conf`` count as missing.

    Returns (K, 18, 2) float64, K = floor((times[-1] - times[0]) * rate) + 1.
    """
    xy = np.array(kp.xy, dtype=np.float64)
    if min_conf > 0:
        xy[kp.conf < min_conf] = np.nan
    times = kp.times
    if len(times) < 2:
        return xy.copy()
    t0 = times[0]
    n_out = int(np.floor((times[-1] - t0) * rate + 1e-6)) + 1
    t = t0 + np.arange(n_out) / rate
    dt = np.diff(times)
    gap = 1.5 * np.median(dt)
    i1 = np.clip(np.searchsorted(times, t, side="left"), 0, len(times) - 1)
    # exact hits (within a microsecond) copy the frame
    exact = np.abs(times[i1] - t) < 1e-6
    i0 = np.clip(i1 - 1, 0, len(times) - 1)
    span = times[i1] - times[i0]
    w = np.where(span > 0, (t - times[i0]) / np.where(span > 0, span, 1.0), 0.0)
    out = (1.0 - w)[:, None, None] * xy[i0] + w[:, None, None] * xy[i1]
    out[exact] = xy[i1[exact]]
    bad = (~exact) & ((span > gap) | (span <= 0))
    out[bad] = np.nan
    return out


def body_scale(xy: np.ndarray) -> np.ndarray:
    """Per-frame body size: RMS distance of the visible joints to their centroid. (T, 18, 2) -> (T,)."""
    with np.errstate(invalid="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            centre = np.nanmean(xy, axis=1, keepdims=True)
            return np.sqrt(np.nanmean(np.sum((xy - centre) ** 2, axis=2), axis=1))


def robust_track_scale(xy: np.ndarray) -> np.ndarray:
    """Body size per frame, smoothed by a running median of 15 frames (NaN-aware). -> (T,)."""
    s = body_scale(xy)
    from scipy.ndimage import median_filter
    filled = s.copy()
    ok = np.isfinite(filled)
    if not ok.any():
        return s
    filled[~ok] = np.median(filled[ok])
    return median_filter(filled, size=15, mode="nearest")

def normalise_frames(xy: np.ndarray):
    """Centre each frame on its visible joints and divide by its body size.

    Returns (coords (T, 18, 2) with 0 where missing, visible (T, 18) float)."""
    vis = np.isfinite(xy).all(axis=2)
    cnt = np.maximum(vis.sum(axis=1), 1)[:, None]
    x0 = np.where(vis[..., None], xy, 0.0)
    centre = x0.sum(axis=1) / cnt
    c = np.where(vis[..., None], x0 - centre[:, None], 0.0)
    s = np.sqrt((c ** 2).sum(axis=(1, 2)) / cnt[:, 0])
    s = np.where(s > 0, s, 1.0)
    return c / s[:, None, None], vis.astype(np.float64)


# Left/right swap of the arms (shoulder, elbow, wrist): pose detectors (MediaPipe in side views)
# often exchange the two arms for runs of frames. Swapping the shoulders too also covers swapped
# forearms (the two wrong shoulders are then trimmed).
ARM_SWAP = np.arange(NUM_JOINTS)
for _r, _l in (("r_shoulder", "l_shoulder"), ("r_elbow", "l_elbow"), ("r_wrist", "l_wrist")):
    ARM_SWAP[J[_r]], ARM_SWAP[J[_l]] = J[_l], J[_r]
# Other labellings of b tried per frame pair (besides its own). The whole-body mirror
# (skeleton.LEFT_RIGHT_SWAP, also seen from MediaPipe in side views) can be added; it did not
# help on the rendered demos and costs a third evaluation.
SWAP_HYPOTHESES = (ARM_SWAP,)
# The forearms alone exchanged (elbow and wrist; the shoulders kept): the other swap a detector makes.
FOREARM_SWAP = np.arange(NUM_JOINTS)
for _r, _l in (("r_elbow", "l_elbow"), ("r_wrist", "l_wrist")):
    FOREARM_SWAP[J[_r]], FOREARM_SWAP[J[_l]] = J[_l], J[_r]
_ARM_JOINTS = np.array([J[n] for n in ("r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist")])


def consistent_arm_labels(xy: np.ndarray, swaps=(ARM_SWAP, FOREARM_SWAP)) -> np.ndarray:
    """The track with its arms relabelled frame by frame to follow on from the frames before.

    A pose detector exchanges the left and right arm (or forearm) for runs of frames (MediaPipe in
    side views; ``synth.conditions.correlated_detector_errors``). Each such exchange makes the arm
    joints jump by about a shoulder width and back, in one camera only: speed spikes and pose jumps
    that no other view shares. Each frame keeps its own labelling or takes one of ``swaps``,
    whichever puts the arm joints closest to where they were last seen (the frames before, already
    relabelled); frames with fewer than 2 arm joints comparable are left as they are. The track's
    labelling as a whole may still be mirrored against another view's: only its consistency over
    time is restored. xy: (T, 18, 2) with NaN where missing -> a relabelled copy.
    """
    out = np.array(xy, dtype=np.float64)
    if len(out) < 2:
        return out
    labellings = [np.arange(NUM_JOINTS)] + [np.asarray(p) for p in swaps]
    # each labelling's arm joints of every frame, as Python floats (the loop below is sequential:
    # plain float arithmetic is several times faster there than small numpy calls)
    cands = [out[:, perm[_ARM_JOINTS]].tolist() for perm in labellings]  # [h][t][j] = [x, y]
    last = [None if math.isnan(p[0]) else p for p in cands[0][0]]
    chosen = np.zeros(len(out), dtype=np.int64)
    for t in range(1, len(out)):
        costs = []
        for cand in cands:
            total, count = 0.0, 0
            for prev, cur in zip(last, cand[t]):
                if prev is not None and not math.isnan(cur[0]):
                    dx, dy = cur[0] - prev[0], cur[1] - prev[1]
                    total += dx * dx + dy * dy
                    count += 1
            # mean squared jump over the joints comparable (a missing joint moves with its label)
            costs.append(total / (2 * count) if count >= 2 else math.inf)
        best = 0
        if math.isfinite(costs[0]):
            k = int(np.argmin(costs))
            if k > 0 and costs[k] < costs[0]:
                best = k
        chosen[t] = best
        last = [prev if math.isnan(cur[0]) else cur for prev, cur in zip(last, cands[best][t])]
    for h in range(1, len(labellings)):
        out[chosen == h] = out[chosen == h][:, labellings[h]]
    return out


def gaussian_sample(xy: np.ndarray, index: np.ndarray, sigma: float = 1.0, min_weight: float = 0.6) -> np.ndarray:
    """A track smoothed by a Gaussian of ``sigma`` frames, read at fractional frame indices.

    xy: (T, 18, 2) NaN where missing; index: (N,) fractional frame positions -> (N, 18, 2).
    Missing samples are left out of the weighted mean; a joint is NaN when the samples seen carry
    less than ``min_weight`` of the kernel's weight, or ``index`` is outside [0, T-1]. For
    sigma >= 1 frame the noise of the result barely depends on the fractional part of ``index``,
    so comparing offsets a fraction of a frame apart is not biased toward half-frame positions
    (plain linear interpolation would average two noisy frames there and look cleaner).
    """
    index = np.asarray(index, dtype=np.float64)
    if len(index) > _SAMPLE_CHUNK:  # long tracks: bounded temporaries (N x taps x 18 x 2 per chunk)
        return np.concatenate([gaussian_sample(xy, index[s:s + _SAMPLE_CHUNK], sigma, min_weight)
                               for s in range(0, len(index), _SAMPLE_CHUNK)])
    radius = int(np.ceil(4 * sigma))
    ks = np.floor(index).astype(int)[:, None] + np.arange(-radius, radius + 2)[None, :]
    g = np.exp(-0.5 * ((ks - index[:, None]) / sigma) ** 2)
    inside = (ks >= 0) & (ks < len(xy))
    g = np.where(inside, g, 0.0)
    X = xy[np.clip(ks, 0, len(xy) - 1)]  # (N, K, 18, 2)
    seen = np.isfinite(X).all(axis=-1) & inside[..., None]
    w = g[..., None] * seen
    den = w.sum(axis=1)
    num = (np.where(seen[..., None], X, 0.0) * w[..., None]).sum(axis=1)
    out = num / np.maximum(den, 1e-12)[..., None]
    out[den < min_weight * g.sum(axis=1)[:, None]] = np.nan
    out[(index < 0) | (index > len(xy) - 1)] = np.nan
    return out

def track_normalisation(xy: np.ndarray) -> tuple[np.ndarray, float]:
    """One similarity normalisation for a whole track (centroid, RMS spread of all visible joints)."""
    pts = xy[np.isfinite(xy).all(axis=-1)]
    if len(pts) == 0:
        return np.zeros(2), 1.0
    centre = pts.mean(axis=0)
    scale = float(np.sqrt(np.mean(np.sum((pts - centre) ** 2, axis=1)))) or 1.0
    return centre, scale


class TrackCache(Scoped):
    """Values computed from one track's content, kept for the next pairing that asks (thread-safe).

    align scores every pairing of every pair of inputs, and each pairing recomputed the same
    per-track values (arm relabelling, correlation features of the track and of its reordered
    chance copies). Here each is computed once per track content and key: ``get(key, xy, fn)``
    returns ``fn()`` for the track ``xy``, from the cache when the same key of a track with the
    same bytes was asked before. A second thread asking while the first computes waits for it.
    Values are returned read-only (a caller that wrote into one would change the next caller's).
    At most ``max_bytes`` are kept (least recently used dropped first); a value larger than a
    quarter of that is computed but not kept, so memory stays flat in the tracks' length.

    The cache holds values only inside ``with cache.active():`` (align's call; nested and
    concurrent calls share it) and is emptied when the last such block ends: one align never
    reads what an earlier call computed (a benchmark repeating align on the same tracks measures
    the whole work every time). Outside, ``get`` just computes.
    """

    def __init__(self, max_bytes: int = 64 << 20):
        super().__init__()
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict = OrderedDict()
        self._bytes = 0
        self._pending: dict = {}

    def _release(self) -> None:
        self._items.clear()
        self._bytes = 0

    @staticmethod
    def content_key(xy: np.ndarray) -> tuple:
        """The identity of a track's values: dtype, shape and a digest of its bytes."""
        a = np.ascontiguousarray(xy)
        return a.dtype.str, a.shape, hashlib.blake2b(a.tobytes(), digest_size=16).digest()

    def get(self, key, xy: np.ndarray, fn):
        if not self._users:
            return _read_only(fn())
        full = (key, self.content_key(xy))
        with self._lock:
            if full in self._items:
                self._items.move_to_end(full)
                return self._items[full]
            pending = self._pending.get(full)
            owner = pending is None
            if owner:
                pending = self._pending[full] = threading.Event()
        if not owner:
            pending.wait()
            with self._lock:
                if full in self._items:
                    return self._items[full]
            return _read_only(fn())  # the owner's value was not kept (too large, or it failed)
        try:
            value = _read_only(fn())
            self._keep(full, value)
            return value
        finally:
            with self._lock:
                self._pending.pop(full, None)
            pending.set()

    def _keep(self, full, value) -> None:
        size = _nbytes(value)
        if size > self.max_bytes // 4:
            return
        with self._lock:
            if not self._users:
                return
            self._items[full] = value
            self._bytes += size
            while self._bytes > self.max_bytes and self._items:
                _, old = self._items.popitem(last=False)
                self._bytes -= _nbytes(old)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


def _nbytes(value) -> int:
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    return 64


def _read_only(value):
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, (tuple, list)):
        for v in value:
            _read_only(v)
    return value


TRACK_CACHE = TrackCache()  # align's per-track values (sync.evidence), shared by every pairing
