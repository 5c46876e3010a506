"""The depth-map codec: metres <-> 16-bit millimetres, as our depth PNGs and 16-bit depth videos
hold them (the one place this is written; docs/formats.md).

- ``DEPTH_PNG_SCALE`` units per metre (1000: millimetres); 0 means "no depth".
- Encoding: metres are rounded to the nearest millimetre. Depths that are not finite, <= 0, or
  beyond ``MAX_DEPTH_M`` (65.535 m, the largest uint16) become 0, "no depth": a far point is dropped,
  never written at a wrong, clipped distance. So are depths that round to 0 mm.
- Decoding: integer arrays -> float32 metres (0 stays 0).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

DEPTH_PNG_SCALE = 1000.0                 # units per metre (millimetres)
MAX_DEPTH_M = 65535 / DEPTH_PNG_SCALE    # 65.535 m: deeper is written as 0 (no depth)


def encode_depth(metres: np.ndarray) -> np.ndarray:
    """(H, W) metres -> (H, W) uint16 millimetres; 0 where not finite, <= 0 or beyond MAX_DEPTH_M.
    Computed in the input's float type (float32 maps stay float32, as the renderer's always did)."""
    d = np.asarray(metres)
    if not np.issubdtype(d.dtype, np.floating):
        d = d.astype(np.float64)
    mm = np.where(np.isfinite(d) & (d > 0), np.round(d * DEPTH_PNG_SCALE), 0.0)
    mm[mm > 65535] = 0
    return mm.astype(np.uint16)


def decode_depth(mm: np.ndarray) -> np.ndarray:
    """Integer millimetres (any shape) -> float32 metres, 0 = no depth."""
    return np.asarray(mm).astype(np.float32) / np.float32(DEPTH_PNG_SCALE)


def write_depth_png(path: str | os.PathLike, metres: np.ndarray, compression: int = 1) -> None:
    """Write (H, W) metres as a 16-bit single-channel PNG of ``encode_depth``."""
    import cv2

    if not cv2.imwrite(str(path), encode_depth(metres), [cv2.IMWRITE_PNG_COMPRESSION, int(compression)]):
        raise OSError(f"could not write {path}")


def read_depth_png(path: str | os.PathLike) -> np.ndarray:
    """A depth PNG -> (H, W) float32 metres (0 = no depth); InputError unless it is 16-bit, one channel."""
    import cv2

    from ..errors import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "depth PNG not found")
    mm = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mm is None:
        raise InputError(path, "unreadable: not a 16-bit single-channel depth PNG")
    if mm.dtype != np.uint16 or mm.ndim != 2:
        raise InputError(path, f"not a 16-bit single-channel depth PNG (got {mm.dtype}, shape {mm.shape})")
    return decode_depth(mm)
