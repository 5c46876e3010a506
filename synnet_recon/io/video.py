"""Video decoding with PyAV: exact per-frame timestamps, rotation metadata, downscaling, frame subsets.

Frame ``index`` is the frame's rank in presentation order (0 = first shown frame); its time is
``(pts - first_pts) * time_base`` seconds, so variable-frame-rate videos keep their real clock.
Frames come out upright: phone videos store sideways pixels plus a display matrix (or an old
``rotate`` tag), and we turn the pixels so that pose is estimated on an upright person.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds. ``width``/``height`` are of the upright frames (after rotation).

    rotation: degrees (0, 90, 180, 270) by which decoded pixels are turned counterclockwise to
              display them upright.
    fps:      average frame rate (frames / duration); VFR videos have per-frame timestamps.
    """

    path: Path
    width: int
    height: int
    fps: float
    num_frames: int
    duration: float
    rotation: int
    time_base: Fraction
    codec: str = ""

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the upright frames."""
        return self.width, self.height


class Frame(NamedTuple):
    index: int
    time: float
    image: np.ndarray  # (H, W, 3) uint8 RGB, upright, C-contiguous


# ---------------------------------------------------------------------------------- rotation
def rotation_from_display_matrix(matrix: Sequence[float]) -> int:
    """Counterclockwise degrees (0/90/180/270) encoded in an FFmpeg/ISO-BMFF 3x3 display matrix.

    matrix: 9 numbers, row-major, as stored in the file (16.16 fixed point or plain floats; only
    the ratio of the first two entries of each row matters). The matrix maps stored pixels to the
    display; FFmpeg's ``av_display_rotation_get`` gives ``atan2(m[1], m[0])`` as the clockwise
    angle's negative, i.e. the counterclockwise rotation to apply.
    """
    m = [float(v) for v in matrix]
    if len(m) != 9:
        raise ValueError(f"display matrix needs 9 entries, got {len(m)}")
    sx = math.hypot(m[0], m[3])
    sy = math.hypot(m[1], m[4])
    if sx == 0 or sy == 0:
        return 0
    ccw = -math.degrees(math.atan2(m[1] / sy, m[0] / sx))
    return _snap_rotation(ccw)


def _snap_rotation(degrees: float) -> int:
    return int(round(degrees / 90.0)) % 4 * 90


def rotate_upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Turn an (H, W, C) image counterclockwise by ``rotation`` degrees (multiple of 90)."""
    k = _snap_rotation(rotation) // 90
    if k == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, k=k))


def _stream_rotation(container, stream) -> int:
    """Rotation from the first decoded frame's display matrix, else the ``rotate`` tag."""
    rotation = None
    try:
        for frame in container.decode(stream):
            rotation = _snap_rotation(frame.rotation)
            break
    except Exception:  # judged by the caller, which decodes again
        pass
    if not rotation:
        tag = stream.metadata.get("rotate") if stream.metadata else None
        if tag:
            try:
                rotation = _snap_rotation(-float(tag))  # the tag is clockwise degrees
            except ValueError:
                pass
    return rotation or 0


# ------------------------------------------------------------------------------ frame table
@dataclass(frozen=True)
class _FrameTable:
    """Presentation-ordered packet timestamps of the video stream (from demuxing, no decoding).

    pts: (N,) int64 sorted; keyframe: (N,) bool. ``seekable`` is False when some packet has
    no pts or two packets share one (we then decode sequentially and count frames).
    """

    pts: np.ndarray
    keyframe: np.ndarray
    seekable: bool

    def index_of(self) -> dict[int, int]:
        return {int(p): i for i, p in enumerate(self.pts)}


def _open(path: Path):
    import av

    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a directory, expected a video file")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file")
    try:
        container = av.open(str(path), mode="r")
    except av.EOFError:
        raise InputError(path, "video has no frames") from None
    except av.FFmpegError as exc:
        raise InputError(path, f"cannot read video ({_short(exc)})") from None
    if not container.streams.video:
        container.close()
        raise InputError(path, "no video stream")
    return container


def _short(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split())[:120]


@lru_cache(maxsize=32)
def _frame_table_cached(path: str, mtime_ns: int, size: int) -> _FrameTable:
    container = _open(Path(path))
    try:
        stream = container.streams.video[0]
        pts, key = [], []
        missing = False
        for packet in container.demux(stream):
            if packet.size == 0:  # flush packet at the end
                continue
            if packet.pts is None:
                missing = True
                pts.append(len(pts))
            else:
                pts.append(packet.pts)
            key.append(bool(packet.is_keyframe))
    except Exception as exc:
        raise InputError(path, f"cannot read video ({_short(exc)})") from None
    finally:
        container.close()
    pts_arr = np.asarray(pts, dtype=np.int64)
    key_arr = np.asarray(key, dtype=bool)
    order = np.argsort(pts_arr, kind="stable")
    pts_arr, key_arr = pts_arr[order], key_arr[order]
    unique = len(np.unique(pts_arr)) == len(pts_arr)
    return _FrameTable(pts_arr, key_arr, seekable=not missing and unique and len(pts_arr) > 0)


def _frame_table(path: Path) -> _FrameTable:
    st = path.stat()
    try:
        return _frame_table_cached(str(path.resolve()), st.st_mtime_ns, st.st_size)
    except InputError as exc:
        raise InputError(path, exc.problem) from None


# ------------------------------------------------------------------------------------ probe
def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read the header (and demux packet timestamps) of a video. Raises InputError if unusable."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    st = path.stat()
    try:
        info = _probe_cached(str(path.resolve()), st.st_mtime_ns, st.st_size)
    except InputError as exc:
        raise InputError(path, exc.problem) from None
    return info if info.path == path else dataclasses.replace(info, path=path)


@lru_cache(maxsize=32)
def _probe_cached(resolved: str, mtime_ns: int, size: int) -> VideoInfo:
    path = Path(resolved)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        time_base = stream.time_base or Fraction(1, 1_000_000)
        width, height = stream.codec_context.width, stream.codec_context.height
        codec = stream.codec_context.name
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        header_frames = int(stream.frames or 0)
        rotation = _stream_rotation(container, stream)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(path, f"cannot read video ({_short(exc)})") from None
    finally:
        container.close()
    table = _frame_table(path)
    num_frames = len(table.pts)
    if num_frames == 0 or not width or not height:
        raise InputError(path, "video has no frames")
    if header_frames > num_frames:
        raise InputError(path, f"truncated file: the header lists {header_frames} frames, "
                               f"only {num_frames} are present")
    if table.seekable and num_frames > 1:
        span = float((int(table.pts[-1]) - int(table.pts[0])) * time_base)
        fps = (num_frames - 1) / span if span > 0 else float(rate or 0)
    else:
        fps = float(rate) if rate else 0.0
    if not fps or not math.isfinite(fps):
        raise InputError(path, "video has no usable frame rate")
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(path=path, width=int(width), height=int(height), fps=float(fps),
                     num_frames=num_frames, duration=num_frames / fps, rotation=rotation,
                     time_base=Fraction(time_base), codec=codec)


def scaled_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(w, h) after shrinking so that max(w, h) <= max_side (never enlarges)."""
    if not max_side or max(width, height) <= max_side:
        return width, height
    s = max_side / max(width, height)
    return max(1, int(round(width * s))), max(1, int(round(height * s)))


def frame_times(path: str | os.PathLike) -> np.ndarray:
    """(N,) float64 seconds of every frame relative to the first, from packet timestamps."""
    info = probe_video(path)
    table = _frame_table(Path(path))
    if not table.seekable:
        return np.arange(info.num_frames) / info.fps
    return (table.pts - table.pts[0]).astype(np.float64) * float(info.time_base)


# ----------------------------------------------------------------------------------- decode
def iter_frames(
    path: str | os.PathLike,
    every: int = 1,
    max_side: int | None = None,
    times: Iterable[float] | None = None,
    indices: Iterable[int] | None = None,
) -> Iterator[Frame]:
    """Decode a video into upright RGB frames, in order.

    every:    keep frame indices 0, every, 2*every, ... (when no ``indices``/``times`` given).
    max_side: shrink so the longer side is <= max_side (scaling is done by FFmpeg before the
              frame becomes an array, so small frames are cheap).
    times:    seconds (relative to the first frame); each picks the frame nearest to it.
    indices:  frame indices to return (out-of-range ones are ignored).
    Yields Frame(index, time, image (H, W, 3) uint8). Frames not asked for are decoded (codecs
    need them) but not converted; long gaps are skipped by seeking to the next keyframe.
    """
    path = Path(path)
    if every < 1:
        raise ValueError("every must be >= 1")
    info = probe_video(path)
    table = _frame_table(path)
    n = info.num_frames
    if times is not None or indices is not None:
        wanted = set()
        if indices is not None:
            wanted.update(int(i) for i in indices if 0 <= int(i) < n)
        if times is not None:
            all_times = frame_times(path)
            for t in times:
                wanted.add(int(np.argmin(np.abs(all_times - float(t)))))
        wanted_sorted = sorted(wanted)
    else:
        wanted_sorted = list(range(0, n, every))
    if not wanted_sorted:
        return
    yield from _decode(info, table, wanted_sorted, max_side)


def read_frame(path: str | os.PathLike, index: int, max_side: int | None = None) -> np.ndarray:
    """The upright RGB frame (H, W, 3) uint8 with the given index (seeks, decodes one GOP)."""
    info = probe_video(path)
    if not 0 <= index < info.num_frames:
        raise IndexError(f"{path}: frame {index} out of range 0..{info.num_frames - 1}")
    for frame in iter_frames(path, max_side=max_side, indices=[index]):
        return frame.image
    raise InputError(path, f"frame {index} could not be decoded")


def _converter(info: VideoInfo, max_side: int | None):
    """frame -> upright (H, W, 3) uint8 RGB array, scaled by FFmpeg to ``max_side``."""
    stored_w, stored_h = (info.height, info.width) if info.rotation in (90, 270) else (info.width, info.height)
    up_w, up_h = scaled_size(info.width, info.height, max_side)
    out_w, out_h = (up_h, up_w) if info.rotation in (90, 270) else (up_w, up_h)
    resize = (out_w, out_h) != (stored_w, stored_h)

    def convert(frame) -> np.ndarray:
        if resize:
            rgb = frame.reformat(width=out_w, height=out_h, format="rgb24", interpolation="AREA").to_ndarray()
        else:
            rgb = frame.to_ndarray(format="rgb24")
        return np.ascontiguousarray(rotate_upright(rgb, info.rotation))

    return convert


class _Restart(Exception):
    """Decoded timestamps do not line up with the packet table: decode from the start instead."""


class _Cursor:
    """Where the decoder is: the index of the last decoded frame and the next wanted one.

    With a seekable frame table a frame's index comes from its pts; otherwise frames are counted.
    position -1: before the first frame; -2: just after a seek, unknown until a frame arrives.
    """

    def __init__(self, info: VideoInfo, table: _FrameTable, wanted: list[int]):
        self.info, self.wanted = info, wanted
        self.tb = float(info.time_base)
        self.pts_index = table.index_of() if table.seekable else None
        self.pts0 = int(table.pts[0]) if table.seekable else None
        self.key_idx = np.flatnonzero(table.keyframe) if table.seekable else np.zeros(0, int)
        self.table = table
        self.w = 0             # position in `wanted`
        self.position = -1
        self.first_pts = None  # first decoded pts, when counting frames

    @property
    def done(self) -> bool:
        return self.w >= len(self.wanted)

    def seek_keyframe(self) -> int | None:
        """Index of the keyframe to seek to before decoding the next wanted frame; None: decode on."""
        if self.pts_index is None or not len(self.key_idx) or self.done:
            return None
        target = self.wanted[self.w]
        if self.key_idx[0] > target:
            return None
        k = int(self.key_idx[np.searchsorted(self.key_idx, target, side="right") - 1])
        return k if k > self.position + 1 and k > 0 else None

    def locate(self, frame) -> tuple[int, float]:
        """(index, seconds) of a decoded frame; advances the cursor. Raises _Restart on a mismatch."""
        if self.pts_index is not None and frame.pts is not None:
            idx = self.pts_index.get(int(frame.pts))
            if idx is None or (self.position == -2 and idx > self.wanted[self.w]):
                raise _Restart()  # an invented timestamp, or the seek overshot
            t = (int(frame.pts) - self.pts0) * self.tb
        else:
            if self.position == -2:
                raise _Restart()
            idx = self.position + 1
            if frame.pts is not None:
                self.first_pts = int(frame.pts) if self.first_pts is None else self.first_pts
                t = (int(frame.pts) - self.first_pts) * self.tb
            else:
                t = idx / self.info.fps
        self.position = idx
        while not self.done and self.wanted[self.w] < idx:
            self.w += 1  # frame missing from the decoder output: skip it
        return idx, float(t)


def _decode(info: VideoInfo, table: _FrameTable, wanted: list[int], max_side: int | None) -> Iterator[Frame]:
    """Decode the ``wanted`` frame indices (sorted), seeking over long gaps."""
    convert = _converter(info, max_side)
    cursor = _Cursor(info, table, wanted)
    container = _open(info.path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        while not cursor.done:
            k = cursor.seek_keyframe()
            if k is not None:
                container.seek(int(table.pts[k]), stream=stream, backward=True, any_frame=False)
                cursor.position = -2
            exhausted = True
            for frame in _decode_frames(container, stream, info.path):
                idx, t = cursor.locate(frame)
                if cursor.done or wanted[cursor.w] != idx:
                    continue
                yield Frame(idx, t, convert(frame))
                cursor.w += 1
                if cursor.done or cursor.seek_keyframe() is not None:
                    exhausted = False
                    break  # finished, or seek ahead
            if exhausted:
                return
    except _Restart:
        container.close()
        yield from _sequential(info, wanted[cursor.w:], convert)
    finally:
        container.close()


def _sequential(info: VideoInfo, wanted: list[int], convert) -> Iterator[Frame]:
    container = _open(info.path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        todo = set(wanted)
        last = max(wanted)
        first_pts = None
        tb = float(info.time_base)
        for idx, frame in enumerate(_decode_frames(container, stream, info.path)):
            if frame.pts is not None:
                if first_pts is None:
                    first_pts = int(frame.pts)
                t = (int(frame.pts) - first_pts) * tb
            else:
                t = idx / info.fps
            if idx in todo:
                yield Frame(idx, float(t), convert(frame))
            if idx >= last:
                return
    finally:
        container.close()


def _decode_frames(container, stream, path: Path):
    import av

    try:
        for frame in container.decode(stream):
            yield frame
    except av.FFmpegError as exc:
        raise InputError(path, f"corrupt video data ({_short(exc)})") from None
