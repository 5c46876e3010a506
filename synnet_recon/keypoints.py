"""2D keypoint tracks: the data contract between pose estimation, simulation and sync, and their
file: ``write_tracks`` / ``read_tracks`` (one input's tracks in a ``.npz``, docs/formats.md).
``synnet_recon.io.load_tracks`` reads that file or an OpenPose folder (what sync.json's ``keypoints`` names)."""
from __future__ import annotations

import json
import math
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .skeleton import NUM_JOINTS


@dataclass
class Keypoints:
    """One person's 2D COCO-18 keypoints over the frames of one video.

    xy:    (T, 18, 2) float32 pixel coordinates (x right, y down); NaN where undetected.
    conf:  (T, 18) float32 detector confidence in [0, 1]; 0 where undetected.
    times: (T,) float64 seconds of each frame on the video's own clock (first frame at times[0]).
    image_size: (width, height) in pixels.
    """

    xy: np.ndarray
    conf: np.ndarray
    times: np.ndarray
    image_size: tuple[int, int]
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.xy = np.asarray(self.xy, dtype=np.float32)
        self.conf = np.asarray(self.conf, dtype=np.float32)
        self.times = np.asarray(self.times, dtype=np.float64)
        if self.xy.ndim != 3 or self.xy.shape[1:] != (NUM_JOINTS, 2):
            raise ValueError(f"xy must be (T, {NUM_JOINTS}, 2), got {self.xy.shape}")
        if self.conf.shape != self.xy.shape[:2]:
            raise ValueError(f"conf must be {self.xy.shape[:2]}, got {self.conf.shape}")
        if self.times.shape != (len(self.xy),):
            raise ValueError(f"times must be ({len(self.xy)},), got {self.times.shape}")

    @classmethod
    def from_fps(cls, xy, conf, fps: float, image_size, name: str = "", start: float = 0.0) -> "Keypoints":
        n = len(xy)
        return cls(xy, conf, start + np.arange(n) / float(fps), image_size, name)

    def __len__(self) -> int:
        return len(self.xy)

    @property
    def fps(self) -> float:
        """Median frame rate from the timestamps."""
        if len(self.times) < 2:
            return float("nan")
        return float(1.0 / np.median(np.diff(self.times)))

    def slice(self, start: int, stop: int) -> "Keypoints":
        return Keypoints(self.xy[start:stop], self.conf[start:stop], self.times[start:stop],
                         self.image_size, self.name, dict(self.meta))

    @property
    def frame_indices(self) -> np.ndarray:
        """(T,) int64 frame index in the input of each row: ``meta["frames"]`` (videos),
        ``meta["first_frame_number"]`` on (OpenPose folders), else 0, 1, ..."""
        frames = self.meta.get("frames")
        if frames is not None and len(frames) == len(self):
            return np.asarray(frames, dtype=np.int64)
        return int(self.meta.get("first_frame_number", 0)) + np.arange(len(self), dtype=np.int64)

    def at_frame(self, index: int) -> np.ndarray | None:
        """(18, 3) float64 x, y, confidence at input frame ``index`` (undetected joints 0, 0, 0);
        None when that frame is not in the track or nobody is detected in it."""
        frames = self.frame_indices
        row = int(np.searchsorted(frames, index))
        if row >= len(frames) or frames[row] != index or not (self.conf[row] > 0).any():
            return None
        ok = (self.conf[row] > 0) & np.isfinite(self.xy[row]).all(axis=1)
        out = np.zeros((NUM_JOINTS, 3))
        out[ok, :2] = self.xy[row][ok]
        out[ok, 2] = self.conf[row][ok]
        return out


# ---------------------------------------------------------------------------------- file

_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip member dates: the same tracks give the same bytes


def _plain_meta(meta: dict) -> dict:
    """The JSON-able scalars of a track's meta (arrays such as ``frames`` are stored apart)."""
    return {k: v for k, v in meta.items()
            if isinstance(v, (str, bool, int)) or (isinstance(v, float) and math.isfinite(v)) or v is None}


def write_tracks(path: str | os.PathLike, tracks: "list[Keypoints]") -> Path:
    """Write one input's tracks (same frames; main person first) as a deflated ``.npz``,
   , atomically and byte-for-byte deterministic. Members: ``header`` (JSON: schema, version,
    name, image_size, per-track meta), ``times`` (T,) float64, ``frames`` (T,) int64 input frame
    indices, ``xy`` (P, T, 18, 2) float32 (NaN: undetected), ``conf`` (P, T, 18) float32."""
    from .fileio import atomic_path
    from .schemas import KEYPOINTS, KEYPOINTS_VERSION

    tracks = list(tracks)
    if not tracks:
        raise ValueError("write_tracks needs at least one track")
    first = tracks[0]
    for t in tracks[1:]:
        if len(t) != len(first) or not np.array_equal(t.times, first.times):
            raise ValueError("the tracks of one input must share their frame times")
    header = {"schema": KEYPOINTS, "version": KEYPOINTS_VERSION, "name": first.name,
              "image_size": [int(v) for v in first.image_size], "tracks": [_plain_meta(t.meta) for t in tracks]}
    arrays = {"header": np.frombuffer(json.dumps(header, sort_keys=True).encode("utf-8"), dtype=np.uint8),
              "times": np.asarray(first.times, dtype=np.float64), "frames": first.frame_indices,
              "xy": np.stack([t.xy for t in tracks]).astype(np.float32),
              "conf": np.stack([t.conf for t in tracks]).astype(np.float32)}
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w") as f:
                np.lib.format.write_array(f, np.ascontiguousarray(value), allow_pickle=False)
    return Path(path)


def _tracks_from_arrays(arrays: dict, where) -> "list[Keypoints]":
    from .errors import InputError
    from .fileio import check_schema, json_field

    raw = np.asarray(arrays["header"])
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise InputError(where, "keypoints header is not valid JSON (not a byte string)")
    try:
        header = json.loads(bytes(raw).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InputError(where, "keypoints header is not valid JSON") from None
    from .schemas import KEYPOINTS

    check_schema(header, where, KEYPOINTS)
    size = json_field(header, "image_size", "list", where)
    metas = json_field(header, "tracks", "list", where)
    name = json_field(header, "name", "str", where)
    if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in size):
        raise InputError(where, f"image_size is {size!r}, expected [width, height]")
    times, frames = np.asarray(arrays["times"]), np.asarray(arrays["frames"])
    xy, conf = np.asarray(arrays["xy"]), np.asarray(arrays["conf"])
    P = len(metas)
    T = times.shape[0] if times.ndim == 1 else -1
    if (T < 0 or frames.shape != (T,) or xy.shape != (P, T, NUM_JOINTS, 2) or conf.shape != (P, T, NUM_JOINTS)
            or not P or not all(a.dtype.kind in "fi" for a in (times, frames, xy, conf))):
        raise InputError(where, f"keypoint arrays do not fit: times {times.shape}, frames {frames.shape}, "
                                f"xy {xy.shape}, conf {conf.shape} for {P} tracks")
    if frames.dtype.kind != "i" or not np.isfinite(times).all() or np.any(np.diff(frames) <= 0):
        raise InputError(where, "keypoint times or frame indices are not finite, increasing integers")
    out = []
    for k, meta in enumerate(metas):
        meta = dict(meta) if isinstance(meta, dict) else {}
        meta["frames"] = frames.astype(np.int64)
        out.append(Keypoints(xy[k], np.nan_to_num(conf[k], nan=0.0).clip(0, None), times, (size[0], size[1]),
                             name, meta))
    return out


def read_tracks(path: str | os.PathLike) -> "list[Keypoints]":
    """The tracks of a ``write_tracks`` file, main person first; InputError when it is not one."""
    from .errors import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "keypoints file not found")
    members = ("header", "times", "frames", "xy", "conf")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [m for m in members if m not in npz.files]
            if missing:
                raise InputError(path, f"not a keypoints file: no {', '.join(missing)}")
            arrays = {m: npz[m] for m in members}
    except InputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error,
            KeyError, NotImplementedError, RuntimeError, SyntaxError, TypeError, OverflowError, MemoryError) as exc:
        # NumPy and zipfile raise all of these for corrupt archives, headers and member data
        raise InputError(path, f"not a keypoints file ({exc.__class__.__name__})") from None
    return _tracks_from_arrays(arrays, path)
