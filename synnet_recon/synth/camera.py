"""Simulated cameras: pinhole intrinsics, hand-held / wearable camera paths, projection.

Conventions (docs/formats.md): world is metres with Y up and the floor at y = 0; cameras are
OpenCV style (x right, y down, z forward); ``world_to_camera`` maps world points to camera points.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from ..pinhole import Intrinsics  # noqa: F401  (re-exported: part of the simulator API)

WORLD_UP = np.array([0.0, 1.0, 0.0])


@dataclass
class CameraPathConfig:
    """How simulated phones, GoPros and body cams move, and what lenses they have.

    Distances and heights are metres, angles degrees, times seconds. Each ``(lo, hi)`` pair is a
    range that one camera's value is drawn from uniformly.
    """

    # Lens and sensor.
    width: int = 640
    height: int = 480
    hfov_deg: tuple[float, float] = (50.0, 100.0)  # field of view along the image's long side
    portrait_prob: float = 0.0  # chance that a camera is held upright (width and height swapped)
    principal_jitter: float = 0.02  # principal point offset, fraction of the image size
    # Mix of motion modes: orbit the subject, follow behind / beside / in front, roughly static
    # (hand-held), and optionally a 4th weight for tripods (fixed position and aim, no shake).
    mode_weights: tuple[float, ...] = (0.35, 0.4, 0.25)
    distance: tuple[float, float] = (2.0, 8.0)  # camera to subject, horizontal
    distance_wobble: float = 0.12  # slow relative change of the distance
    camera_height: tuple[float, float] = (1.2, 2.0)
    orbit_speed_deg: tuple[float, float] = (5.0, 30.0)  # deg/s around the subject
    orbit_max_speed: float = 1.2  # m/s: the operator's walking speed caps the orbit speed
    follow_lag: tuple[float, float] = (0.4, 1.5)  # s: how late the operator reacts to the subject moving
    aim_lag: tuple[float, float] = (0.05, 0.35)  # s: how late the aim follows the torso
    # Walking operator: vertical head-bob at the step rate and sideways sway at half of it.
    bob_hz: tuple[float, float] = (1.7, 2.3)
    bob_amplitude: tuple[float, float] = (0.01, 0.04)
    # Hand shake: smooth random aim errors and a slowly varying roll.
    aim_jitter_deg: tuple[float, float] = (1.0, 3.0)
    roll_deg: tuple[float, float] = (0.0, 4.0)
    # Close-ups: the operator stands near and aims at the chest, so the legs are often out of frame.
    close_up_prob: float = 0.1
    close_up_distance: tuple[float, float] = (2.0, 2.6)
    close_up_aim_raise: tuple[float, float] = (0.35, 0.55)  # m above the torso centre
    min_distance: float = 2.0  # hard limits on the horizontal distance to the subject
    max_distance: float = 8.0


MODES = ("orbit", "follow", "static", "tripod")


def random_intrinsics_array(rng: np.random.Generator, n: int, config: CameraPathConfig | None = None
                            ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` phone / action-cam / body-cam like lenses: square-ish pixels, a wide range of fields of view.

    Returns K: (n, 3, 3) and image_size: (n, 2) int (width, height).
    """
    config = config or CameraPathConfig()
    size = np.tile(np.array([config.width, config.height]), (n, 1))
    if config.portrait_prob > 0:
        portrait = rng.random(n) < config.portrait_prob
        size[portrait] = [min(config.width, config.height), max(config.width, config.height)]
    fov = np.radians(rng.uniform(*config.hfov_deg, size=n))
    f = (size.max(axis=1) / 2.0) / np.tan(fov / 2.0)
    aspect = 1.0 + rng.normal(0.0, 0.003, n)
    centre = size / 2.0 + rng.uniform(-1, 1, (n, 2)) * config.principal_jitter * size
    K = np.zeros((n, 3, 3))
    K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = f, f * aspect, centre[:, 0], centre[:, 1], 1.0
    return K, size


def random_intrinsics(rng: np.random.Generator, config: CameraPathConfig | None = None) -> Intrinsics:
    """One random lens (see ``random_intrinsics_array``)."""
    K, size = random_intrinsics_array(rng, 1, config)
    return Intrinsics(int(size[0, 0]), int(size[0, 1]), float(K[0, 0, 0]), float(K[0, 1, 1]),
                      float(K[0, 0, 2]), float(K[0, 1, 2]))


def smooth_noise(times: np.ndarray, rng: np.random.Generator, batch: int, n: int,
                 freq_hz: tuple[float, float], components: int = 4) -> np.ndarray:
    """Smooth zero-mean random signals with unit standard deviation: sums of random sinusoids.

    times: (T,) seconds -> (batch, T, n).
    """
    freqs = rng.uniform(*freq_hz, size=(batch, 1, n, components))
    phases = rng.uniform(0.0, 2 * np.pi, size=(batch, 1, n, components))
    amps = rng.uniform(0.5, 1.0, size=(batch, 1, n, components))
    amps *= np.sqrt(2.0 / np.sum(amps**2, axis=-1, keepdims=True))
    return np.sum(amps * np.sin(2 * np.pi * freqs * times[None, :, None, None] + phases), axis=-1)


def lowpass(x: np.ndarray, dt: float, tau) -> np.ndarray:
    """Causal first-order low-pass along axis 1, starting at rest on x[:, 0].

    x: (B, T, ...); tau: time constant(s) in seconds, scalar or (B,); 0 = no smoothing.
    """
    B, T = x.shape[:2]
    if T < 2:
        return x.copy()
    tau = np.broadcast_to(np.asarray(tau, dtype=np.float64), (B,))
    r = np.exp(-dt / np.maximum(tau, 1e-12))  # per-frame decay; y_t = r y_(t-1) + (1 - r) x_t
    if T > 400:  # long clips: a recursive filter per row instead of a (T, T) weight matrix
        out = np.empty_like(x, dtype=np.float64)
        for b in range(B):
            out[b], _ = lfilter([1.0 - r[b]], [1.0, -r[b]], x[b], axis=0, zi=r[b] * x[b, :1])
        return out
    lag = np.arange(T)[:, None] - np.arange(T)[None, :]  # (T, T): t - s
    W = np.where(lag >= 0, r[:, None, None] ** np.maximum(lag, 0), 0.0)  # (B, T, T)
    W[:, :, 1:] *= (1.0 - r)[:, None, None]  # y_t = r^t x_0 + sum_{s>=1} (1 - r) r^(t-s) x_s
    return np.matmul(W, x.reshape(B, T, -1)).reshape(x.shape)


def look_at(positions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """World-to-camera rotations of cameras at ``positions`` looking at ``targets`` with no roll.

    positions, targets: (..., 3) -> (..., 3, 3), rows = camera x (right), y (down), z (forward) in world.
    """
    forward = targets - positions
    forward = forward / _norm(forward)
    right = np.cross(forward, WORLD_UP)
    right /= np.maximum(_norm(right), 1e-9)
    down = np.cross(forward, right)
    return np.stack([right, down, forward], axis=-2)


def small_rotations(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Camera-frame rotations from angles in radians: yaw about y, pitch about x, roll about z.

    yaw, pitch, roll: (...) -> (..., 3, 3) = Rz(roll) @ Rx(pitch) @ Ry(yaw).
    """
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    R = np.empty(np.shape(yaw) + (3, 3))
    # Rz @ Rx @ Ry written out.
    R[..., 0, 0] = cr * cy - sr * sp * sy
    R[..., 0, 1] = -sr * cp
    R[..., 0, 2] = cr * sy + sr * sp * cy
    R[..., 1, 0] = sr * cy + cr * sp * sy
    R[..., 1, 1] = cr * cp
    R[..., 1, 2] = sr * sy - cr * sp * cy
    R[..., 2, 0] = -cp * sy
    R[..., 2, 1] = sp
    R[..., 2, 2] = cp * cy
    return R


def _norm(v: np.ndarray) -> np.ndarray:
    """Euclidean length over the last axis, keeping it: (..., n) -> (..., 1)."""
    return np.sqrt(np.sum(v * v, axis=-1, keepdims=True))


def _unit2(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(_norm(v), 1e-9)


def _rotate2(v: np.ndarray, angle) -> np.ndarray:
    """Rotate 2D (x, z) vectors by ``angle`` radians. v: (..., 2)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1]], axis=-1)


def _travel_heading(subject_xz: np.ndarray, dt: float, max_rate: np.ndarray) -> np.ndarray:
    """Smoothed direction of travel as an angle in the (x, z) plane, turning at most ``max_rate`` rad/s.

    Fast movement weighs more than slow shuffling; a subject standing still keeps its last heading.
    subject_xz: (B, T, 2); max_rate: (B,) -> (B, T) radians.
    """
    B, T = subject_xz.shape[:2]
    if T < 2:
        return np.zeros((B, T))
    velocity = lowpass(np.gradient(subject_xz, dt, axis=1), dt, 0.5)
    speed = _norm(velocity)
    direction = lowpass(speed * velocity, dt, 1.0)  # speed-weighted average direction
    angle = np.unwrap(np.arctan2(direction[..., 1], direction[..., 0]), axis=1)
    limit = (max_rate * dt)[:, None]
    step = np.clip(np.diff(angle, axis=1), -limit, limit)  # the operator walks around, not teleports
    return angle[:, :1] + np.concatenate([np.zeros((B, 1)), np.cumsum(step, axis=1)], axis=1)


def _static_spots(subject_xz: np.ndarray, config: CameraPathConfig, close_up: np.ndarray,
                  rng: np.random.Generator, candidates: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Fixed (x, z) spots from which each whole subject track stays within the distance range.

    subject_xz: (B, T, 2); close_up: (B,) bool (draw from the close-up distances).
    Returns spots (B, 2), ok (B,) (False: the subject travels too far for any spot).
    """
    B, T = subject_xz.shape[:2]
    centre = 0.5 * (subject_xz.min(axis=1) + subject_xz.max(axis=1))  # (B, 2)
    angles = rng.uniform(0.0, 2 * np.pi, (B, candidates))
    near, far = np.where(close_up[:, None], np.array([config.close_up_distance]), np.array([config.distance])).T
    radii = rng.uniform(near[:, None], far[:, None], (B, candidates))
    spots = centre[:, None] + radii[..., None] * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    track = subject_xz[:, :: max(1, T // 32)]
    d = _norm(spots[:, :, None, :] - track[:, None, :, :])[..., 0]  # (B, candidates, T')
    good = (d.min(axis=2) >= config.min_distance + 0.2) & (d.max(axis=2) <= config.max_distance - 0.2)
    best = np.argmax(good, axis=1)
    return spots[np.arange(B), best], good.any(axis=1)


def _tripods(tripod: np.ndarray, spot: np.ndarray, position: np.ndarray, aim: np.ndarray, roll: np.ndarray,
             R: np.ndarray):
    """Replace the rows ``tripod`` (B,) by fixed cameras: at their static spot and mean height, aimed at
    the subject's mean torso position, with a constant roll. Returns (position (B, T, 3), R (B, T, 3, 3))."""
    position, R = position.copy(), R.copy()
    fixed = np.stack([spot[tripod, 0], position[tripod, :, 1].mean(axis=1), spot[tripod, 1]], axis=-1)
    position[tripod] = fixed[:, None]
    R_fixed = look_at(fixed, aim[tripod].mean(axis=1))
    R_fixed = small_rotations(0.0 * roll[tripod, 0], 0.0 * roll[tripod, 0], roll[tripod].mean(axis=1)) @ R_fixed
    R[tripod] = R_fixed[:, None]
    return position, R


def sample_camera_paths(subject_positions: np.ndarray, times: np.ndarray, config: CameraPathConfig | None,
                        rng: np.random.Generator, modes=None) -> np.ndarray:
    """Smooth hand-held or wearable camera trajectories filming moving subjects, B cameras at once.

    Each operator orbits the subject, follows it (behind, beside or ahead), stands roughly still, or
    (mode "tripod") leaves the camera fixed, aimed at the subject's mean position,
    at 2-8 m horizontal distance and 1.2-2.0 m height, with walking head-bob, smooth aim jitter,
    slowly varying roll, and an aim that trails the subject's torso; some film close-ups.

    subject_positions: (B, T, 3) world positions of each subject's torso; times: (T,) seconds
    (shared frame timing); modes: None (random by ``config.mode_weights``) or B names from MODES.
    Returns world_to_camera: (B, T, 4, 4).
    """
    config = config or CameraPathConfig()
    subject = np.asarray(subject_positions, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    B, T = subject.shape[:2]
    dt = float(np.median(np.diff(times))) if T > 1 else 1.0 / 30.0
    t = times - times[0]
    if modes is None:
        w = np.asarray(config.mode_weights, dtype=np.float64)
        mode = rng.choice(len(w), size=B, p=w / w.sum())  # 3 weights: no tripods
    else:
        modes = [modes] * B if isinstance(modes, str) else list(modes)
        if len(modes) != B or any(m not in MODES for m in modes):
            raise ValueError(f"modes must be {B} names from {MODES}, got {modes!r}")
        mode = np.array([MODES.index(m) for m in modes])
    col = (slice(None), None)  # per-camera scalars (B,) broadcast over time as (B, 1)

    subject_xz = subject[..., [0, 2]]
    lo, hi = config.min_distance, config.max_distance
    close_up = rng.random(B) < config.close_up_prob
    base = np.where(close_up, rng.uniform(*config.close_up_distance, B), rng.uniform(*config.distance, B))
    distance = base[col] * (1.0 + config.distance_wobble * smooth_noise(t, rng, B, 1, (0.02, 0.1))[..., 0])
    distance = np.clip(distance, lo, hi)  # (B, T)
    follow_lag = rng.uniform(*config.follow_lag, B) * np.where(close_up, 0.3, 1.0)  # close-ups keep up
    # The operator never lags so far behind that the subject walks into (or past) the camera:
    # a first-order lag trails a subject moving at v by v * lag.
    if T > 1:
        top_speed = _norm(np.diff(lowpass(subject_xz, dt, 0.3), axis=1))[..., 0].max(axis=1) / dt
        follow_lag = np.minimum(follow_lag, 0.4 * distance.min(axis=1) / np.maximum(top_speed, 0.1))
    centre = lowpass(subject_xz, dt, follow_lag)
    # Circling the lagging centre at distance + lag keeps at least ``distance`` from the subject itself,
    # so the range clamp below rarely acts on the near side (where it would swing the camera round).
    radius = distance + _norm(centre - subject_xz)[..., 0]
    max_turn = config.orbit_max_speed / radius.mean(axis=1)  # rad/s at walking speed

    # Static: a fixed spot with hand-held drift (tripod: none); falls back to following when no spot keeps 2-8 m.
    spot, spot_ok = _static_spots(subject_xz, config, close_up, rng)
    mode = np.where((mode >= 2) & ~spot_ok, 1, mode)  # static and tripod alike
    static_xz = spot[:, None, :] + 0.08 * smooth_noise(t, rng, B, 2, (0.05, 0.4))
    # Orbit: walk around the (lagging) subject at a steady angular speed.
    orbit_speed = np.minimum(np.radians(rng.uniform(*config.orbit_speed_deg, B)), max_turn)
    angle = (rng.uniform(0, 2 * np.pi, B)[col] + (rng.choice([-1.0, 1.0], B) * orbit_speed)[col] * t
             + 0.3 / radius * smooth_noise(t, rng, B, 1, (0.05, 0.3))[..., 0])
    orbit_xz = centre + radius[..., None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    # Follow: keep a bearing (behind, beside, ahead) relative to the subject's direction of travel.
    side = rng.choice([np.pi, np.pi / 2, -np.pi / 2, 0.0, 3 * np.pi / 4, -3 * np.pi / 4], B) + rng.uniform(-0.4, 0.4, B)
    angle = (_travel_heading(subject_xz, dt, max_turn) + side[col]
             + 0.4 / radius * smooth_noise(t, rng, B, 1, (0.03, 0.15))[..., 0])
    follow_xz = centre + radius[..., None] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    cam_xz = np.choose(mode[:, None, None], [orbit_xz, follow_xz, static_xz, static_xz])
    walking = mode < 2

    # Height, head-bob (vertical at the step rate) and sideways sway (half the step rate).
    h_lo, h_hi = config.camera_height
    height = rng.uniform(h_lo, h_hi, B)[col] + 0.03 * smooth_noise(t, rng, B, 1, (0.05, 0.3))[..., 0]
    height = np.clip(height, h_lo, h_hi)
    bob_amp = rng.uniform(*config.bob_amplitude, B) * np.where(walking, 1.0, 0.15)
    step_hz = rng.uniform(*config.bob_hz, B)
    step_phase = np.pi * step_hz[col] * t + rng.uniform(0, 2 * np.pi, B)[col]  # (B, T)
    bob = bob_amp[col] * (2.0 * np.abs(np.sin(step_phase)) - 1.0)  # one bump per step
    sideways = _rotate2(_unit2(subject_xz - cam_xz), np.pi / 2)
    cam_xz = cam_xz + (np.where(walking, 0.5, 0.0) * bob_amp)[:, None, None] * np.sin(step_phase)[..., None] * sideways

    # Keep the horizontal distance to the (unsmoothed) subject in range; a continuous projection.
    rel = cam_xz - subject_xz
    norm = np.maximum(_norm(rel), 1e-9)
    cam_xz = subject_xz + rel / norm * np.clip(norm, lo, hi)
    position = np.stack([cam_xz[..., 0], height + bob, cam_xz[..., 1]], axis=-1)  # (B, T, 3)

    # Aim at the torso, trailing it; add shake and roll in the camera frame.
    aim = lowpass(subject, dt, rng.uniform(*config.aim_lag, B))
    aim[..., 1] += np.where(close_up, rng.uniform(*config.close_up_aim_raise, B), rng.uniform(-0.15, 0.15, B))[col]
    R = look_at(position, aim)
    jitter = np.radians(rng.uniform(*config.aim_jitter_deg, B))[:, None, None] * smooth_noise(t, rng, B, 2, (0.2, 1.0))
    jitter[..., 1] += np.where(walking, np.radians(0.4), 0.0)[col] * np.sin(2 * step_phase)  # steps shake the aim
    roll_max = np.radians(rng.uniform(*config.roll_deg, B))
    roll = roll_max[col] * np.clip(rng.uniform(-0.6, 0.6, B)[col]
                                   + 0.4 * smooth_noise(t, rng, B, 1, (0.03, 0.25))[..., 0], -1, 1)
    R = small_rotations(jitter[..., 0], jitter[..., 1], roll) @ R
    if np.any(mode == 3):
        position, R = _tripods(mode == 3, spot, position, aim, roll, R)

    world_to_camera = np.zeros((B, T, 4, 4))
    world_to_camera[..., :3, :3] = R
    world_to_camera[..., :3, 3] = -np.einsum("btij,btj->bti", R, position)
    world_to_camera[..., 3, 3] = 1.0
    return world_to_camera


def sample_camera_path(subject_positions: np.ndarray, times: np.ndarray, config: CameraPathConfig | None,
                       rng: np.random.Generator, mode: str | None = None) -> np.ndarray:
    """One camera's trajectory (see ``sample_camera_paths``).

    subject_positions: (T, 3) torso positions; times: (T,) seconds. Returns world_to_camera (T, 4, 4).
    """
    subject = np.asarray(subject_positions, dtype=np.float64)[None]
    return sample_camera_paths(subject, times, config, rng, None if mode is None else [mode])[0]


def camera_centers(world_to_camera: np.ndarray) -> np.ndarray:
    """Camera positions in the world. (..., 4, 4) -> (..., 3)."""
    R = world_to_camera[..., :3, :3]
    t = world_to_camera[..., :3, 3]
    return -np.einsum("...ji,...j->...i", R, t)


def project(points: np.ndarray, K: np.ndarray, world_to_camera: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pinhole projection, vectorized over leading (frame) dimensions.

    points: (..., N, 3) world; K: (3, 3) or (..., 3, 3); world_to_camera: (..., 4, 4).
    Returns xy: (..., N, 2) pixels (NaN where the point is not in front of the camera) and
    depth: (..., N) camera z in metres (negative behind the camera).
    """
    points = np.asarray(points, dtype=np.float64)
    world_to_camera = np.asarray(world_to_camera, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    R = world_to_camera[..., :3, :3]
    t = world_to_camera[..., None, :3, 3]
    cam = points @ np.swapaxes(R, -1, -2) + t  # (..., N, 3)
    pix = cam @ np.swapaxes(K, -1, -2)
    depth = cam[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = pix[..., :2] / pix[..., 2:3]
    xy[depth <= 1e-9] = np.nan
    return xy, depth
