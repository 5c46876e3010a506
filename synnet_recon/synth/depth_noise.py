"""A structured-light depth sensor's errors (Kinect v1-like), simulated on exact rendered depth.

The sensor measures disparity d = f b / z (f its own focal length in pixels, b the projector
baseline) with a noise of ``sigma_mm`` (at 1 m) scaled to disparity, so that the depth's noise grows
with z^2 (1.5 mm * z^2 by default: 6 mm at 2 m), and reports it quantised to ``disparity_step``
pixels (1/8 px: depth steps of z^2 / (8 f b), 1.2 cm at 2 m). At depth edges (a 4-neighbour's depth
differs by more than ``edge_jump`` metres) pixels are dropped (``edge_drop``) or fly: their depth
mixes the two sides' (``edge_fly``). Isolated holes: ``hole_rate`` of all pixels. Out of range: 0.
Deterministic given the generator.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class DepthNoise:
    """Sensor-like depth noise (metres, pixels of the sensor's disparity)."""

    sigma_mm: float = 1.5           # depth noise at 1 m (grows with z^2)
    focal_px: float = 580.0         # the sensor's own focal length (Kinect v1 at 640x480)
    baseline: float = 0.075         # projector-camera baseline (m)
    disparity_step: float = 0.125   # disparity quantisation (px)
    edge_jump: float = 0.05         # a depth edge: a 4-neighbour's depth differs by more than this (m)
    edge_drop: float = 0.5          # edge pixels dropped ...
    edge_fly: float = 0.5           # ... and of the rest, this fraction flies (depth between the two sides)
    hole_rate: float = 0.01         # isolated dropped pixels
    min_range: float = 0.5
    max_range: float = 8.0


def _edges(z: np.ndarray, jump: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixels with a 4-neighbour farther than ``jump`` in depth (H, W) bool, and that neighbour's
    depth (the largest jump's; H, W)."""
    pad = np.pad(z, 1, mode="edge")
    best, other = np.zeros_like(z), z.copy()
    for dv, du in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        nb = pad[1 + dv:1 + dv + z.shape[0], 1 + du:1 + du + z.shape[1]]
        gap = np.where(nb > 0, np.abs(nb - z), 0.0)
        larger = gap > best
        best = np.where(larger, gap, best)
        other = np.where(larger, nb, other)
    return (best > jump) & (z > 0), other


def apply_depth_noise(depth: np.ndarray, noise: DepthNoise, rng: np.random.Generator) -> np.ndarray:
    """Exact depth (H, W) metres (0 = none) -> the sensor's (H, W) float32 (0 = none)."""
    z = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(z) & (z > 0)
    z = np.where(valid, z, 0.0)
    edge, other = _edges(z, noise.edge_jump)
    u = rng.random(z.shape)
    fly = edge & (u >= noise.edge_drop) & (rng.random(z.shape) < noise.edge_fly)
    mix = rng.random(z.shape)
    z = np.where(fly, z + mix * (other - z), z)
    fb = noise.focal_px * noise.baseline
    with np.errstate(divide="ignore", invalid="ignore"):
        disparity = fb / z
    # sigma_z = sigma * z^2  <=>  sigma_disparity = sigma * f b (independent of z)
    disparity = disparity + rng.standard_normal(z.shape) * (noise.sigma_mm / 1000.0) * fb
    disparity = np.round(disparity / noise.disparity_step) * noise.disparity_step
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(disparity > 0, fb / disparity, 0.0)
    drop = ~valid | (edge & (u < noise.edge_drop)) | (rng.random(z.shape) < noise.hole_rate)
    drop |= ~np.isfinite(out) | (out < noise.min_range) | (out > noise.max_range)
    return np.where(drop, 0.0, out).astype(np.float32)
