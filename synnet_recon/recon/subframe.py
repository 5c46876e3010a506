"""A view's 2D joints at a sub-frame instant: linear interpolation in time between its detections.

``align`` gives each video's offset to a fraction of a frame. Pairing the views by the nearest frame
leaves up to half a frame between them (plus the pose stride: align runs pose at 30 fps, every
second frame of a 60 fps video); a person moving 1 m/s at 3 m is 10-20 px a frame in a 1080p
view, so the pairing itself puts pixels of disagreement into every correspondence. Here each view
is sampled at the instant's exact position on its own clock instead: per joint, between the two
detections that bracket it (both needed, at most ``max_gap`` frames apart), the confidence the
smaller of the two.
"""
from __future__ import annotations

import numpy as np

EXACT = 0.02  # frames: a position this close to a detected frame takes that frame as it is


def joints_at(frames: np.ndarray, xy: np.ndarray, conf: np.ndarray, positions: np.ndarray,
              max_gap: float) -> tuple[np.ndarray, np.ndarray]:
    """(N, J, 2) pixels and (N, J) confidences of one track at fractional frame ``positions`` (N,).

    frames: (T,) sorted frame indices of the track's rows; xy (T, J, 2) NaN where undetected, conf
    (T, J) 0 there. A joint is NaN / 0 where no detection of it is within ``EXACT`` of the position
    and its two bracketing detections are missing or more than ``max_gap`` frames apart."""
    frames = np.asarray(frames, dtype=np.float64)
    positions = np.asarray(positions, dtype=np.float64)
    N, J = len(positions), xy.shape[1]
    out, c = np.full((N, J, 2), np.nan), np.zeros((N, J))
    seen = np.isfinite(xy).all(axis=-1) & (np.nan_to_num(conf) > 0)
    for j in range(J):
        rows = np.flatnonzero(seen[:, j])
        if not len(rows):
            continue
        f = frames[rows]
        hi = np.clip(np.searchsorted(f, positions), 0, len(f) - 1)
        lo = np.clip(hi - 1, 0, len(f) - 1)
        near = np.where(np.abs(f[hi] - positions) <= np.abs(f[lo] - positions), hi, lo)
        exact = np.abs(f[near] - positions) <= EXACT
        between = ~exact & (f[lo] < positions) & (positions < f[hi]) & (f[hi] - f[lo] <= max_gap + EXACT)
        a = np.where(between, (positions - f[lo]) / np.maximum(f[hi] - f[lo], 1e-9), 0.0)
        r_lo, r_hi, r_near = rows[lo], rows[hi], rows[near]
        out[exact, j] = xy[r_near[exact], j]
        c[exact, j] = conf[r_near[exact], j]
        w = a[between, None]
        out[between, j] = (1.0 - w) * xy[r_lo[between], j] + w * xy[r_hi[between], j]
        c[between, j] = np.minimum(conf[r_lo[between], j], conf[r_hi[between], j])
    return out, c


def stride(frames: np.ndarray) -> float:
    """The track's usual step between rows, in frames (1 when it has fewer than two rows)."""
    d = np.diff(np.asarray(frames, dtype=np.float64))
    d = d[d > 0]
    return float(np.median(d)) if len(d) else 1.0
