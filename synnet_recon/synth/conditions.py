"""Realistic recording conditions as array transforms of 2D keypoint tracks (and two 3D helpers).

Shared by the sync benchmark (bench/bench_sync_real.py), SynNet's training data and the fit of
the evidence combiner, so that all three see the same conditions.

Conventions: ``xy`` (..., T, 18, 2) pixels, NaN where a joint is missing; ``conf`` (..., T, 18) in
[0, 1], 0 where missing; leading dimensions are independent clips (one camera each);
``image_size`` (width, height), or (..., 2) per clip. Functions never modify their inputs.

- View (return ``(xy, conf, image_size)``): ``upper_body_view`` (a webcam that sees 10-12 of the 18
  joints), ``portrait_view`` (a phone held upright), ``rotate_view`` / ``sideways_view`` (quarter
  turns: footage whose rotation metadata was ignored, the person lies sideways).
- Time (return ``(xy, conf, times)``): ``resample_frame_rate`` (30 / 29.97 / 25 / 10 fps, any phase),
  ``drop_frames`` (frames lost, timestamps of the others kept); ``dropped_frame_mask`` for batches.
- Detector (return ``(xy, conf)``): ``correlated_detector_errors``: per-camera errors that do not
  average out over time: a slowly varying bias per joint and left/right arm swaps lasting many frames.
- People: ``bystander_2d`` / ``extra_person_2d`` (2D, for fixed cameras), ``bystander_joints`` /
  ``place_person`` (3D, to be filmed with the main person's camera).

Static cameras are a camera mode (``camera.MODES``: "static" is hand-held and nearly still,
"tripod" is fixed); they are chosen through ``CameraPathConfig.mode_weights``.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..skeleton import JOINT_INDEX as J
from ..skeleton import NUM_JOINTS
from .camera import smooth_noise
from .noise import FACE_JOINTS, body_size_px

UPPER_JOINTS = np.array([J[n] for n in ("nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder",
                                          "l_elbow", "l_wrist", "r_eye", "l_eye", "r_ear", "l_ear")])
SHOULDERS = np.array([J["r_shoulder"], J["l_shoulder"]])
HIPS = np.array([J["r_hip"], J["l_hip"]])
ARM_R = np.array([J["r_shoulder"], J["r_elbow"], J["r_wrist"]])
ARM_L = np.array([J["l_shoulder"], J["l_elbow"], J["l_wrist"]])
STANDARD_FPS = (30.0, 30000.0 / 1001.0, 25.0, 10.0)


# ------------------------------------------------------------------------------ helpers

def _flat(xy, conf, image_size):
    """(..., T, 18, 2), (..., T, 18), (2,) or (..., 2) -> (B, T, 18, 2) float64 copies, (B, T, 18), (B, 2), lead."""
    xy = np.array(xy, dtype=np.float64)
    lead, T = xy.shape[:-3], xy.shape[-3]
    size = np.broadcast_to(np.asarray(image_size, dtype=np.float64), lead + (2,)).reshape(-1, 2).copy()
    return (xy.reshape(-1, T, NUM_JOINTS, 2), np.array(conf, dtype=np.float64).reshape(-1, T, NUM_JOINTS),
            size, lead)


def _unflat(xy, conf, size, lead, scalar_size: bool):
    T = xy.shape[1]
    visible = np.isfinite(xy).all(axis=-1) & (conf > 0)
    xy = np.where(visible[..., None], xy, np.nan)
    conf = np.where(visible, conf, 0.0)
    size = size.reshape(lead + (2,))
    if scalar_size:
        size = tuple(int(round(v)) for v in size.reshape(-1, 2)[0])
    else:
        size = np.rint(size).astype(int)
    return (xy.reshape(lead + (T, NUM_JOINTS, 2)).astype(np.float32),
            conf.reshape(lead + (T, NUM_JOINTS)).astype(np.float32), size)


def _scalar_size(image_size) -> bool:
    return np.asarray(image_size).ndim == 1


def _inside(xy: np.ndarray, size: np.ndarray) -> np.ndarray:
    """xy (B, T, 18, 2), size (B, 2) -> (B, T, 18) bool: the joint lies in the image."""
    w, h = size[:, None, None, 0], size[:, None, None, 1]
    x, y = xy[..., 0], xy[..., 1]
    return np.isfinite(x) & np.isfinite(y) & (x >= 0) & (x < w) & (y >= 0) & (y < h)


def _nanmedian(a: np.ndarray, axis: int) -> np.ndarray:
    """np.nanmedian without the all-NaN warning (NaN where nothing is known)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(a, axis=axis)


def _median_point(xy: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """Median over frames and ``joints`` of each clip's points. (B, T, 18, 2) -> (B, 2) (NaN if none)."""
    return _nanmedian(xy[:, :, joints].reshape(len(xy), -1, 2), axis=1)


def _clip_body_size(xy: np.ndarray) -> np.ndarray:
    """Median body size (px) of each clip. (B, T, 18, 2) -> (B,), 1 where unknown."""
    size = body_size_px(xy)
    med = _nanmedian(np.where(size > 0, size, np.nan), axis=1)
    return np.where(np.isfinite(med), med, 1.0)


# ------------------------------------------------------------------------------ views

def upper_body_view(xy, conf, image_size, rng: np.random.Generator, cut: tuple[float, float] = (0.6, 1.3)):
    """A camera framing the upper body only (a webcam on a desk or a monitor): 10-12 joints in view.

    The image is zoomed about its top centre so that its bottom edge falls at a fraction ``cut`` of
    the way from the shoulders (0) to the hips (1) of the clip's median pose, drawn per clip; the
    image size is kept. Joints that leave the image are lost, frame by frame, as the person moves.
    Assumes an upright person (apply before ``rotate_view``).
    Returns (xy, conf, image_size) with the input's shapes.
    """
    x, c, size, lead = _flat(xy, conf, image_size)
    u = rng.uniform(*cut, len(x))
    shoulder_y = _median_point(x, SHOULDERS)[:, 1]
    hip_y = _median_point(x, HIPS)[:, 1]
    ok = np.isfinite(shoulder_y) & np.isfinite(hip_y) & (hip_y > shoulder_y)
    bottom = np.where(ok, shoulder_y + u * (hip_y - shoulder_y), size[:, 1])
    zoom = size[:, 1] / np.clip(bottom, 0.25 * size[:, 1], size[:, 1])  # (B,) >= 1
    cx = size[:, 0] / 2.0
    x[..., 0] = (x[..., 0] - cx[:, None, None]) * zoom[:, None, None] + cx[:, None, None]
    x[..., 1] = x[..., 1] * zoom[:, None, None]
    c = np.where(_inside(x, size), c, 0.0)
    return _unflat(x, c, size, lead, _scalar_size(image_size))


def portrait_view(xy, conf, image_size, rng: np.random.Generator, aspect: float = 9.0 / 16.0,
                  aim_jitter: float = 0.05):
    """A phone held upright: the landscape view cropped to a tall strip around the person, scaled so
    that its long side equals the landscape width (640x480 -> 360x640 for the default 9/16).

    The strip (width = ``aspect`` x height) is centred on the clip's median torso x, give or take
    ``aim_jitter`` of the strip width; joints outside it are lost.
    Returns (xy, conf, image_size), image_size of a tall image (width < height).
    """
    x, c, size, lead = _flat(xy, conf, image_size)
    w, h = size[:, 0], size[:, 1]
    strip = np.minimum(aspect * h, w)
    centre = _median_point(x, np.array([J["neck"], J["r_hip"], J["l_hip"]]))[:, 0]
    centre = np.where(np.isfinite(centre), centre, w / 2) + rng.uniform(-aim_jitter, aim_jitter, len(x)) * strip
    left = np.clip(centre - strip / 2, 0.0, w - strip)
    scale = w / h  # (B,): the strip's height becomes the landscape width
    x[..., 0] = (x[..., 0] - left[:, None, None]) * scale[:, None, None]
    x[..., 1] = x[..., 1] * scale[:, None, None]
    new_size = np.stack([np.rint(strip * scale), w], axis=1)
    c = np.where(_inside(x, new_size), c, 0.0)
    return _unflat(x, c, new_size, lead, _scalar_size(image_size))


def rotate_view(xy, conf, image_size, quarter_turns: int):
    """The frames turned by ``quarter_turns`` x 90 degrees clockwise (negative: anticlockwise), as a
    video whose rotation metadata is ignored shows them. Returns (xy, conf, image_size) with
    width and height swapped for odd turns."""
    x, c, size, lead = _flat(xy, conf, image_size)
    for _ in range(int(quarter_turns) % 4):  # one clockwise turn: (x, y) -> (h - y, x), size (h, w)
        h = size[:, 1][:, None, None]
        x = np.stack([h - x[..., 1], x[..., 0]], axis=-1)
        size = size[:, ::-1].copy()
    return _unflat(x, c, size, lead, _scalar_size(image_size))


def sideways_view(xy, conf, image_size, rng: np.random.Generator, portrait_first: bool = True):
    """A phone held upright whose video is read without its rotation: the person lies sideways in a
    landscape frame. ``portrait_view`` (when ``portrait_first``), then a random +-90 degree turn per
    call (one direction for the whole batch). Returns (xy, conf, image_size)."""
    if portrait_first:
        xy, conf, image_size = portrait_view(xy, conf, image_size, rng)
    return rotate_view(xy, conf, image_size, 1 if rng.random() < 0.5 else -1)


# ------------------------------------------------------------------------------ time

def resample_frame_rate(xy, conf, times, fps: float, rng: np.random.Generator | None = None,
                        phase: float | None = None):
    """The same clips seen by a camera running at ``fps``: linear interpolation of the tracks at
    ``times[0] + phase + k / fps`` (k = 0, 1, ...) inside the input's time span.

    xy (..., T, 18, 2), conf (..., T, 18); times (T,) seconds shared by the batch (any regular or
    irregular clock). ``phase`` seconds in [0, 1 / fps); None: drawn from ``rng`` (0 without one).
    A joint is known at a new frame when it is known at both neighbouring input frames; its
    confidence is the smaller of the two. Returns (xy, conf, new_times (T',)), new_times on the
    input's clock (so the true offset of the new first frame is ``phase``).
    """
    times = np.asarray(times, dtype=np.float64)
    if phase is None:
        phase = float(rng.uniform(0.0, 1.0 / fps)) if rng is not None else 0.0
    span = times[-1] - times[0]
    n = int(np.floor((span - phase) * fps + 1e-9)) + 1
    new_times = times[0] + phase + np.arange(max(n, 0)) / fps
    i1 = np.clip(np.searchsorted(times, new_times, side="right"), 1, len(times) - 1)
    i0 = i1 - 1
    w = np.clip((new_times - times[i0]) / np.maximum(times[i1] - times[i0], 1e-12), 0.0, 1.0)
    xy = np.asarray(xy, dtype=np.float64)
    conf = np.asarray(conf, dtype=np.float64)
    x0, x1 = np.take(xy, i0, axis=-3), np.take(xy, i1, axis=-3)
    c0, c1 = np.take(conf, i0, axis=-2), np.take(conf, i1, axis=-2)
    # On an input frame (w = 0 or 1) the track is read as is, not merged with its neighbour.
    at0, at1 = w < 1e-9, w > 1.0 - 1e-9
    out = np.where(at0[:, None, None], x0, np.where(at1[:, None, None], x1, x0 + w[:, None, None] * (x1 - x0)))
    c = np.where(at0[:, None], c0, np.where(at1[:, None], c1, np.minimum(c0, c1)))
    known = np.isfinite(out).all(axis=-1) & (c > 0)
    return (np.where(known[..., None], out, np.nan).astype(np.float32),
            np.where(known, c, 0.0).astype(np.float32), new_times)


def dropped_frame_mask(shape, rng: np.random.Generator, rate: float = 0.05,
                       burst: tuple[int, int] = (1, 4)) -> np.ndarray:
    """Which frames a camera delivers: bursts of ``burst`` frames lost, ``rate`` of all frames on
    average. shape: (..., T) -> bool (..., T), True = kept. The first frame is always kept."""
    shape = tuple(shape)
    T = shape[-1]
    keep = np.ones((int(np.prod(shape[:-1], dtype=int)), T), dtype=bool)
    mean_len = 0.5 * (burst[0] + burst[1])
    clips, starts = np.nonzero(rng.random(keep.shape) < rate / mean_len)
    lengths = rng.integers(burst[0], burst[1] + 1, len(starts))
    for b, s, n in zip(clips, starts, lengths):
        keep[b, s:s + n] = False
    keep[:, 0] = True
    return keep.reshape(shape)


def drop_frames(xy, conf, times, rng: np.random.Generator, rate: float = 0.05, burst: tuple[int, int] = (1, 4)):
    """One camera that loses frames (USB bandwidth, a busy phone): the lost frames are removed, the
    others keep their timestamps. xy (T, 18, 2), conf (T, 18), times (T,).
    Returns (xy (T', 18, 2), conf (T', 18), times (T',)). For batches use ``dropped_frame_mask``."""
    xy, conf, times = np.asarray(xy), np.asarray(conf), np.asarray(times, dtype=np.float64)
    if xy.ndim != 3:
        raise ValueError(f"drop_frames takes one track (T, 18, 2), got {xy.shape}; use dropped_frame_mask")
    keep = dropped_frame_mask((len(xy),), rng, rate, burst)
    return xy[keep].copy(), conf[keep].copy(), times[keep].copy()


# ------------------------------------------------------------------------------ detector

def correlated_detector_errors(xy, conf, image_size, rng: np.random.Generator, level: float = 1.0,
                               times=None, bias: float = 0.012, bias_hz: tuple[float, float] = (0.02, 0.3),
                               swap_fraction: float = 0.15, swap_frames: tuple[int, int] = (5, 30),
                               arm_shift: tuple[float, float] = (0.0, 0.08)):
    """Per-camera detector errors that do not average out over a clip, on top of frame-wise jitter.

    - A bias per joint and axis that drifts slowly (``bias_hz``), RMS ``bias`` x body size (limbs
      1.5x, face 1.3x): from one viewpoint a detector misplaces a given joint the same way for a long
      time (real webcam MediaPipe residuals: median 1.1-1.5 % of body height, p90 ~3x; sync-findings.md).
    - The two arms exchanged (elbow + wrist, or the whole arm) in runs of ``swap_frames`` frames,
      ``swap_fraction`` of the frames in all (a side view's left/right confusion).
    - One arm's elbow and wrist shifted by a constant ``arm_shift`` x body size (a sleeve, a bag).

    xy (..., T, 18, 2), conf (..., T, 18); ``times`` (T,) seconds (None: 30 fps); ``level`` scales
    everything (0 = no change). Returns (xy, conf) with the input's shapes (float32).
    """
    x, c, _, lead = _flat(xy, conf, image_size)
    B, T = x.shape[:2]
    level = max(float(level), 0.0)
    if level == 0 or T == 0:
        return _unflat(x, c, np.zeros((B, 2)), lead, False)[:2]
    t = np.arange(T) / 30.0 if times is None else np.asarray(times, dtype=np.float64) - float(times[0])
    body = _clip_body_size(x)[:, None, None, None]  # (B, 1, 1, 1)
    joint_scale = np.ones(NUM_JOINTS)
    joint_scale[np.r_[ARM_R[1:], ARM_L[1:], [J["r_knee"], J["r_ankle"], J["l_knee"], J["l_ankle"]]]] = 1.5
    joint_scale[FACE_JOINTS] = 1.3
    drift = smooth_noise(t, rng, B, NUM_JOINTS * 2, bias_hz).reshape(B, T, NUM_JOINTS, 2)
    x += level * bias * body * joint_scale[None, None, :, None] * drift

    p = min(swap_fraction * level, 0.9)
    for b in range(B):
        k = int(rng.integers(0, swap_frames[1] + 1))
        while k < T and p > 0:
            run = int(rng.integers(swap_frames[0], swap_frames[1] + 1))
            gap = int(max(1, round(run * (1.0 - p) / p * rng.uniform(0.5, 1.5))))
            a, z = (ARM_R[1:], ARM_L[1:]) if rng.random() < 0.6 else (ARM_R, ARM_L)
            sl = slice(k, k + run)
            x[b, sl, np.r_[a, z]] = x[b, sl, np.r_[z, a]]
            c[b, sl, np.r_[a, z]] = c[b, sl, np.r_[z, a]] * 0.9
            k += run + gap
    arm = np.where(rng.random(B) < 0.5, 0, 1)
    angle = rng.uniform(0.0, 2 * np.pi, B)
    shift = level * rng.uniform(*arm_shift, B) * body[:, 0, 0, 0]
    vec = shift[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)  # (B, 2)
    for b in range(B):
        joints = (ARM_R if arm[b] == 0 else ARM_L)[1:]
        x[b, :, joints] += vec[b]
    return _unflat(x, c, np.zeros((B, 2)), lead, False)[:2]


# ------------------------------------------------------------------------------ people

def bystander_2d(xy, conf, image_size, rng: np.random.Generator, scale: tuple[float, float] = (0.6, 1.0),
                 sway: float = 0.01, times=None):
    """A person who barely moves (seated, waiting), seen by a fixed camera: one pose of the given
    track frozen, rescaled and put elsewhere in the image, swaying by ``sway`` x body size.

    xy (..., T, 18, 2), conf (..., T, 18): the track to borrow a pose from (the main person or any
    other). Returns (xy, conf) of the bystander with the same shapes (joints outside the image lost).
    For moving cameras film ``bystander_joints`` in 3D instead (the bystander must move with the scene).
    """
    x, c, size, lead = _flat(xy, conf, image_size)
    B, T = x.shape[:2]
    t = np.arange(T) / 30.0 if times is None else np.asarray(times, dtype=np.float64) - float(times[0])
    counts = (c > 0).sum(axis=2)  # (B, T): pick a frame where the body is well seen
    frame = np.argmax(counts + rng.random(counts.shape), axis=1)
    pose = x[np.arange(B), frame]  # (B, 18, 2)
    pose_conf = c[np.arange(B), frame]
    centre = _nanmedian(pose, axis=1)  # (B, 2)
    main_x = _median_point(x, np.array([J["neck"]]))[:, 0]
    s = rng.uniform(*scale, B)
    body = np.fmax(body_size_px(pose[:, None])[:, 0], 1.0) * s
    # Beside the main person: one to three body sizes to the left or right, kept in the image.
    side = np.where(rng.random(B) < 0.5, -1.0, 1.0)
    target_x = np.where(np.isfinite(main_x), main_x, size[:, 0] / 2) + side * rng.uniform(0.6, 1.5, B) * body
    target_x = np.clip(target_x, 0.1 * size[:, 0], 0.9 * size[:, 0])
    target = np.stack([target_x, centre[:, 1] + rng.uniform(-0.1, 0.1, B) * body], axis=-1)
    rel = (pose - centre[:, None]) * s[:, None, None]
    wobble = sway * body[:, None, None, None] * smooth_noise(t, rng, B, NUM_JOINTS * 2, (0.05, 0.5)).reshape(
        B, T, NUM_JOINTS, 2)
    out = target[:, None, None] + rel[:, None] + wobble
    out_conf = np.broadcast_to(pose_conf[:, None], (B, T, NUM_JOINTS)) * rng.uniform(0.9, 1.0, (B, T, NUM_JOINTS))
    out_conf = np.where(_inside(out, size), out_conf, 0.0)
    return _unflat(out, out_conf, size, lead, False)[:2]


def extra_person_2d(xy_other, conf_other, xy_main, image_size, rng: np.random.Generator,
                    scale: tuple[float, float] = (0.8, 1.2)):
    """Another moving person in the same fixed view: track ``xy_other`` (any motion) rescaled to the
    main person's median body size x ``scale`` and moved one to three body sizes beside them.

    xy_other (..., T, 18, 2), conf_other (..., T, 18), xy_main (..., T, 18, 2).
    Returns (xy, conf) of the extra person (joints outside the image lost).
    """
    x, c, size, lead = _flat(xy_other, conf_other, image_size)
    main = np.asarray(xy_main, dtype=np.float64).reshape(x.shape)
    B = len(x)
    s = _clip_body_size(main) / _clip_body_size(x) * rng.uniform(*scale, B)
    own = _median_point(x, np.array([J["neck"], J["r_hip"], J["l_hip"]]))
    ref = _median_point(main, np.array([J["neck"], J["r_hip"], J["l_hip"]]))
    own = np.where(np.isfinite(own), own, size / 2)
    ref = np.where(np.isfinite(ref), ref, size / 2)
    side = np.where(rng.random(B) < 0.5, -1.0, 1.0) * rng.uniform(1.0, 3.0, B) * _clip_body_size(main)
    target = np.stack([ref[:, 0] + side, ref[:, 1]], axis=-1)
    out = (x - own[:, None, None]) * s[:, None, None, None] + target[:, None, None]
    c = np.where(_inside(out, size), c, 0.0)
    return _unflat(out, c, size, lead, False)[:2]


def bystander_joints(pose, n_frames: int, rng: np.random.Generator, position=(0.0, 0.0), heading: float | None = None,
                     sway: float = 0.015, fps: float = 30.0) -> np.ndarray:
    """3D joints of a person who barely moves: ``pose`` (18, 3) (e.g. one frame of any motion) moved
    so that its feet are on the floor at ``position`` (x, z), turned to ``heading`` radians about the
    vertical (None: random), with a slow sway of ``sway`` metres. Returns (n_frames, 18, 3)."""
    pose = np.asarray(pose, dtype=np.float64)
    heading = rng.uniform(0, 2 * np.pi) if heading is None else heading
    centre = pose[[J["r_hip"], J["l_hip"]]].mean(axis=0)
    rel = pose - np.array([centre[0], 0.0, centre[2]])
    rel[:, 1] -= np.nanmin(pose[:, 1])  # feet on the floor
    cs, sn = np.cos(heading), np.sin(heading)
    rot = np.array([[cs, 0.0, sn], [0.0, 1.0, 0.0], [-sn, 0.0, cs]])
    base = rel @ rot.T + np.array([position[0], 0.0, position[1]])
    t = np.arange(n_frames) / fps
    wobble = sway * smooth_noise(t, rng, 1, NUM_JOINTS * 3, (0.05, 0.4))[0].reshape(n_frames, NUM_JOINTS, 3)
    return base[None] + wobble


def place_person(joints, offset=(0.0, 0.0), heading: float = 0.0) -> np.ndarray:
    """Another person's motion (..., T, 18, 3) turned by ``heading`` radians about the vertical
    through its first frame's hip centre and moved by ``offset`` (x, z) metres on the floor."""
    joints = np.asarray(joints, dtype=np.float64)
    pivot = joints[..., :1, [J["r_hip"], J["l_hip"]], :].mean(axis=-2, keepdims=True)
    pivot = pivot * np.array([1.0, 0.0, 1.0])
    cs, sn = np.cos(heading), np.sin(heading)
    rot = np.array([[cs, 0.0, sn], [0.0, 1.0, 0.0], [-sn, 0.0, cs]])
    return (joints - pivot) @ rot.T + pivot + np.array([offset[0], 0.0, offset[1]])
