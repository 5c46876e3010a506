"""Frames of the videos sync.json names: a video file (PyAV) or a folder of images, by frame index."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError


@dataclass
class VideoSource:
    """One video of sync.json: its name, colour frames (a video file or an image folder)."""

    name: str
    path: Path
    fps: float = 30.0
    num_frames: int | None = None


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff")


def _frame_files(folder: Path, suffixes) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)


def _indexed(files: list[Path]) -> dict[int, Path]:
    """Frame index -> file: the last number in each name when they are all distinct, else the order."""
    nums = [re.findall(r"\d+", p.stem) for p in files]
    if all(nums):
        idx = [int(n[-1]) for n in nums]
        if len(set(idx)) == len(idx):
            return dict(zip(idx, files))
    return dict(enumerate(files))


class FrameReader:
    """Random access (cheap when increasing) to the frames of a video file or an image folder.

    ``get(i)`` -> (H, W, 3) uint8 RGB, or with ``gray16=True`` (H, W) uint16 (depth videos).
    """

    def __init__(self, path: str | Path, gray16: bool = False):
        self.path = Path(path)
        self.gray16 = gray16
        self._files = None
        self._container = None
        self._iter = None
        self._next = 0
        if self.path.is_dir():
            self._files = _indexed(_frame_files(self.path, IMAGE_SUFFIXES))
            if not self._files:
                raise InputError(self.path, "no images in folder")
        elif not self.path.is_file():
            raise InputError(self.path, "video not found")

    def _open(self):
        import av

        self.close()
        try:
            self._container = av.open(str(self.path))
        except Exception as exc:
            raise InputError(self.path, f"cannot open video ({exc.__class__.__name__})") from None
        self._container.streams.video[0].thread_type = "AUTO"
        self._iter = self._container.decode(video=0)
        self._next = 0

    def get(self, index: int) -> np.ndarray:
        if self._files is not None:
            import cv2

            if index not in self._files:
                raise InputError(self.path, f"no frame {index}")
            img = cv2.imread(str(self._files[index]), cv2.IMREAD_UNCHANGED)
            if img is None:
                raise InputError(self._files[index], "unreadable image")
            if self.gray16:
                return img if img.ndim == 2 else img[..., 0]
            if img.ndim == 2:
                img = np.repeat(img[..., None], 3, axis=2)
            return np.ascontiguousarray(img[..., 2::-1][..., :3]) if img.shape[2] >= 3 else img
        if self._iter is None or index < self._next:
            self._open()
        frame = None
        while self._next <= index:
            try:
                frame = next(self._iter)
            except StopIteration:
                raise InputError(self.path, f"video has no frame {index} (only {self._next})") from None
            self._next += 1
        if self.gray16:
            return frame.to_ndarray(format="gray16le")
        return frame.to_ndarray(format="rgb24")

    def close(self):
        if self._container is not None:
            self._container.close()
            self._container = None
            self._iter = None
