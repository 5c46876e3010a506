"""Simulated cameras: pinhole intrinsics, hand-held / wearable camera paths, projection.

Conventions (docs/formats.md): world is metres with Y up and the floor at y = 0; cameras are
OpenCV style (x right, y down, z forward); ``world_to_camera`` maps world points to camera points.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

WORLD_UP = np.array([0.0, 1.0, 0.0])


@dataclass
class Intrinsics:
    """Pinhole intrinsics in pixels; the principal point is measured from the image's top-left corner."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @property
    def K(self) -> np.ndarray:
        """(3, 3) calibration matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def image_size(self) -> tuple[int, int]:
        return (int(self.width), int(self.height))

    @property
    def hfov_deg(self) -> float:
        return float(np.degrees(2.0 * np.arctan(self.width / (2.0 * self.fx))))

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float) -> "Intrinsics":
        """Square pixels, principal point at the image centre, horizontal field of view ``hfov_deg``."""
        if not 0.0 < hfov_deg < 180.0:
            raise ValueError(f"hfov_deg must be in (0, 180), got {hfov_deg}")
        f = (width / 2.0) / np.tan(np.radians(hfov_deg) / 2.0)
        return cls(int(width), int(height), float(f), float(f), width / 2.0, height / 2.0)

    def to_dict(self) -> dict:
        return {"width": int(self.width), "height": int(self.height), "fx": float(self.fx),
                "fy": float(self.fy), "cx": float(self.cx), "cy": float(self.cy)}

    @classmethod
    def from_dict(cls, d: dict) -> "Intrinsics":
        return cls(int(d["width"]), int(d["height"]), float(d["fx"]), float(d["fy"]),
                   float(d["cx"]), float(d["cy"]))


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
    # Mix of motion modes: orbit the subject, follow behind / beside / in front, roughly static.
    mode_weights: tuple[float, float, float] = (0.35, 0.4, 0.25)
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


MODES = ("orbit", "follow", "static")


def random_intrinsics(rng: np.random.Generator, config: CameraPathConfig | None = None) -> Intrinsics:
    """Phone / action-cam / body-cam like intrinsics: square-ish pixels, a wide range of fields of view."""
    config = config or CameraPathConfig()
    width, height = config.width, config.height
    if config.portrait_prob > 0 and rng.random() < config.portrait_prob:
        width, height = min(width, height), max(width, height)
    long_side = max(width, height)
    fov = rng.uniform(*config.hfov_deg)
    f = (long_side / 2.0) / np.tan(np.radians(fov) / 2.0)
    aspect = 1.0 + rng.normal(0.0, 0.003)
    cx = width / 2.0 + rng.uniform(-1, 1) * config.principal_jitter * width
    cy = height / 2.0 + rng.uniform(-1, 1) * config.principal_jitter * height
    return Intrinsics(int(width), int(height), float(f), float(f * aspect), float(cx), float(cy))


def smooth_noise(times: np.ndarray, rng: np.random.Generator, n: int,
                 freq_hz: tuple[float, float], components: int = 4) -> np.ndarray:
    """Smooth zero-mean random signals with unit standard deviation: sums of random sinusoids.

    times: (T,) seconds -> (T, n).
    """
    freqs = rng.uniform(*freq_hz, size=(n, components))
    phases = rng.uniform(0.0, 2 * np.pi, size=(n, components))
    amps = rng.uniform(0.5, 1.0, size=(n, components))
    amps *= np.sqrt(2.0 / np.sum(amps**2, axis=1, keepdims=True))
    return np.sum(amps * np.sin(2 * np.pi * freqs * times[:, None, None] + phases), axis=2)


def lowpass(x: np.ndarray, dt: float, tau: float) -> np.ndarray:
    """Causal first-order low-pass along axis 0 (time constant ``tau`` s), starting at rest on x[0]."""
    if tau <= 0 or len(x) < 2:
        return x.copy()
    a = 1.0 - np.exp(-dt / tau)
    y, _ = lfilter([a], [1.0, a - 1.0], x, axis=0, zi=(1.0 - a) * x[:1])
    return y


def look_at(positions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """World-to-camera rotations of cameras at ``positions`` looking at ``targets`` with no roll.

    positions, targets: (T, 3) -> (T, 3, 3), rows = camera x (right), y (down), z (forward) in world.
    """
    forward = targets - positions
    forward /= np.linalg.norm(forward, axis=1, keepdims=True)
    right = np.cross(forward, WORLD_UP)
    right /= np.maximum(np.linalg.norm(right, axis=1, keepdims=True), 1e-9)
    down = np.cross(forward, right)
    return np.stack([right, down, forward], axis=1)


def small_rotations(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Camera-frame rotations from angles in radians: yaw about y, pitch about x, roll about z.

    yaw, pitch, roll: (T,) -> (T, 3, 3) = Rz(roll) @ Rx(pitch) @ Ry(yaw).
    """
    T = len(yaw)
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    Ry = np.zeros((T, 3, 3))
    Ry[:, 0, 0], Ry[:, 0, 2], Ry[:, 1, 1], Ry[:, 2, 0], Ry[:, 2, 2] = cy, sy, 1.0, -sy, cy
    Rx = np.zeros((T, 3, 3))
    Rx[:, 0, 0], Rx[:, 1, 1], Rx[:, 1, 2], Rx[:, 2, 1], Rx[:, 2, 2] = 1.0, cp, -sp, sp, cp
    Rz = np.zeros((T, 3, 3))
    Rz[:, 0, 0], Rz[:, 0, 1], Rz[:, 1, 0], Rz[:, 1, 1], Rz[:, 2, 2] = cr, -sr, sr, cr, 1.0
    return Rz @ Rx @ Ry


def _unit2(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _rotate2(v: np.ndarray, angle) -> np.ndarray:
    """Rotate 2D (x, z) vectors by ``angle`` radians. v: (..., 2)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1]], axis=-1)


def _travel_heading(subject_xz: np.ndarray, dt: float, max_rate: float) -> np.ndarray:
    """Smoothed direction of travel as an angle in the (x, z) plane, turning at most ``max_rate`` rad/s.

    Fast movement weighs more than slow shuffling; a subject standing still keeps its last heading.
    subject_xz: (T, 2) -> (T,) radians.
    """
    if len(subject_xz) < 2:
        return np.zeros(len(subject_xz))
    velocity = lowpass(np.gradient(subject_xz, dt, axis=0), dt, 0.5)
    speed = np.linalg.norm(velocity, axis=1, keepdims=True)
    direction = lowpass(speed * velocity, dt, 1.0)  # speed-weighted average direction
    angle = np.unwrap(np.arctan2(direction[:, 1], direction[:, 0]))
    step = np.clip(np.diff(angle), -max_rate * dt, max_rate * dt)  # the operator walks around, not teleports
    return angle[0] + np.concatenate([[0.0], np.cumsum(step)])


def _static_spot(subject_xz: np.ndarray, config: CameraPathConfig, rng: np.random.Generator):
    """A fixed (x, z) from which the whole subject track stays within the distance range, or None."""
    center = 0.5 * (subject_xz.min(axis=0) + subject_xz.max(axis=0))
    n = 48
    angles = rng.uniform(0.0, 2 * np.pi, n)
    radii = rng.uniform(*config.distance, n)
    spots = center + radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    track = subject_xz[:: max(1, len(subject_xz) // 32)]
    d = np.linalg.norm(spots[:, None, :] - track[None, :, :], axis=2)
    ok = (d.min(axis=1) >= config.min_distance + 0.2) & (d.max(axis=1) <= config.max_distance - 0.2)
    return spots[np.argmax(ok)] if ok.any() else None


def sample_camera_path(subject_positions: np.ndarray, times: np.ndarray, config: CameraPathConfig | None,
                       rng: np.random.Generator, mode: str | None = None) -> np.ndarray:
    """A smooth hand-held or wearable camera trajectory filming a moving subject.

    The operator orbits the subject, follows it (behind, beside or ahead), or stands roughly still,
    at 2-8 m horizontal distance and 1.2-2.0 m height, with walking head-bob, smooth aim jitter,
    slowly varying roll, and an aim that trails the subject's torso.

    subject_positions: (T, 3) world positions of the subject's torso; times: (T,) seconds.
    Returns world_to_camera: (T, 4, 4).
    """
    config = config or CameraPathConfig()
    subject = np.asarray(subject_positions, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    T = len(times)
    dt = float(np.median(np.diff(times))) if T > 1 else 1.0 / 30.0
    t = times - times[0]
    if mode is None:
        w = np.asarray(config.mode_weights, dtype=np.float64)
        mode = MODES[rng.choice(len(MODES), p=w / w.sum())]
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")

    subject_xz = subject[:, [0, 2]]
    lo, hi = config.min_distance, config.max_distance
    close_up = rng.random() < config.close_up_prob
    base = rng.uniform(*(config.close_up_distance if close_up else config.distance))
    distance = base * (1.0 + config.distance_wobble * smooth_noise(t, rng, 1, (0.02, 0.1))[:, 0])
    distance = np.clip(distance, lo, hi)
    follow_lag = rng.uniform(*config.follow_lag) * (0.3 if close_up else 1.0)  # close-ups keep up
    # The operator never lags so far behind that the subject walks into (or past) the camera:
    # a first-order lag trails a subject moving at v by v * lag.
    if T > 1:
        top_speed = float(np.max(np.linalg.norm(np.diff(lowpass(subject_xz, dt, 0.3), axis=0), axis=1))) / dt
        follow_lag = min(follow_lag, 0.4 * float(distance.min()) / max(top_speed, 0.1))
    bob_amp = rng.uniform(*config.bob_amplitude)
    walking = True
    if mode == "static":
        spot = _static_spot(subject_xz, config, rng)
        if spot is None:  # the subject travels too far to be filmed from one place: follow it
            mode = "follow"
        else:
            walking = False
            drift = 0.08 * smooth_noise(t, rng, 2, (0.05, 0.4))  # hand-held sway, no steps
            cam_xz = spot + drift
            bob_amp *= 0.15
    if mode == "orbit":
        center = lowpass(subject_xz, dt, follow_lag)
        speed = np.radians(rng.uniform(*config.orbit_speed_deg))
        speed = min(speed, config.orbit_max_speed / float(np.mean(distance)))
        angle = rng.uniform(0, 2 * np.pi) + rng.choice([-1.0, 1.0]) * speed * t
        angle = angle + 0.3 / distance * smooth_noise(t, rng, 1, (0.05, 0.3))[:, 0]
        cam_xz = center + distance[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    elif mode == "follow":
        center = lowpass(subject_xz, dt, follow_lag)
        heading = _travel_heading(subject_xz, dt, config.orbit_max_speed / float(np.mean(distance)))
        side = rng.choice([np.pi, np.pi / 2, -np.pi / 2, 0.0, 3 * np.pi / 4, -3 * np.pi / 4])
        side = side + rng.uniform(-0.4, 0.4) + 0.6 / distance * smooth_noise(t, rng, 1, (0.03, 0.2))[:, 0]
        angle = heading + side
        cam_xz = center + distance[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)

    # Height, head-bob (vertical at the step rate) and sideways sway (half the step rate).
    h_lo, h_hi = config.camera_height
    height = rng.uniform(h_lo, h_hi) + 0.03 * smooth_noise(t, rng, 1, (0.05, 0.3))[:, 0]
    height = np.clip(height, h_lo, h_hi)
    step_hz = rng.uniform(*config.bob_hz)
    phase = rng.uniform(0, 2 * np.pi)
    bob = bob_amp * np.abs(np.sin(np.pi * step_hz * t + phase)) * 2.0 - bob_amp  # one bump per step
    if walking:
        sideways = _rotate2(_unit2(subject_xz - cam_xz), np.pi / 2)
        cam_xz = cam_xz + (0.5 * bob_amp * np.sin(np.pi * step_hz * t + phase))[:, None] * sideways

    # Keep the horizontal distance to the (unsmoothed) subject in range; a continuous projection.
    rel = cam_xz - subject_xz
    norm = np.maximum(np.linalg.norm(rel, axis=1, keepdims=True), 1e-9)
    cam_xz = subject_xz + rel / norm * np.clip(norm, lo, hi)

    position = np.stack([cam_xz[:, 0], height + bob, cam_xz[:, 1]], axis=1)

    # Aim at the torso, trailing it; add shake and roll in the camera frame.
    aim = lowpass(subject, dt, rng.uniform(*config.aim_lag))
    raise_aim = rng.uniform(*config.close_up_aim_raise) if close_up else rng.uniform(-0.15, 0.15)
    aim = aim + np.array([0.0, raise_aim, 0.0])
    R = look_at(position, aim)
    jitter = np.radians(rng.uniform(*config.aim_jitter_deg)) * smooth_noise(t, rng, 2, (0.2, 1.0))
    if walking:  # steps shake the aim a little, in time with the bob
        jitter[:, 1] += np.radians(0.4) * np.sin(2 * np.pi * step_hz * t + phase)
    roll_max = np.radians(rng.uniform(*config.roll_deg))
    roll = roll_max * np.clip(rng.uniform(-0.6, 0.6) + 0.4 * smooth_noise(t, rng, 1, (0.03, 0.25))[:, 0], -1, 1)
    R = small_rotations(jitter[:, 0], jitter[:, 1], roll) @ R

    world_to_camera = np.zeros((T, 4, 4))
    world_to_camera[:, :3, :3] = R
    world_to_camera[:, :3, 3] = -np.einsum("tij,tj->ti", R, position)
    world_to_camera[:, 3, 3] = 1.0
    return world_to_camera


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
    R = world_to_camera[..., None, :3, :3]
    t = world_to_camera[..., None, :3, 3]
    cam = np.einsum("...ij,...j->...i", R, points) + t
    pix = np.einsum("...ij,...j->...i", K[..., None, :, :] if K.ndim > 2 else K, cam)
    depth = cam[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = pix[..., :2] / pix[..., 2:3]
    xy[depth <= 1e-9] = np.nan
    return xy, depth
