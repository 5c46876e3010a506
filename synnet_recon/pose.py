"""2D human pose on videos: pluggable backends, COCO-18 output, person tracks across frames.

Backends register in the entry-point group ``synnet_recon.pose_backends`` (name -> class derived
from PoseBackend); a built-in table keeps the MediaPipe backend usable from an uninstalled
checkout. A backend sees one upright RGB frame at a time (possibly downscaled) and returns
keypoints normalised to that frame, so pixel coordinates always refer to the full upright frame.

    tracks = estimate_pose("a.mp4", PoseConfig(max_side=320, every=2))
    tracks[0]  # Keypoints of the person seen in the most frames
"""
from __future__ import annotations

import abc
import io
import math
import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import InputError
from .keypoints import Keypoints
from .scopes import Scoped
from .tracking import track_people

ENTRY_POINT_GROUP = "synnet_recon.pose_backends"
BUILTIN_BACKENDS = {"mediapipe": "synnet_recon.pose:MediaPipeBackend"}
KEEP_NATIVE_LOGS = "SYNRECON_NATIVE_LOGS"  # set to 1 to let C++ log lines through (debugging)


# ------------------------------------------------------------------------------ native logs
_silence_lock = threading.Lock()
_silence_depth = 0
_saved_stderr_fd: int | None = None


def _flush_c_stdio() -> None:
    import ctypes

    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


@contextmanager
def native_stderr_silenced():
    """Send file descriptor 2 to /dev/null while native code runs.

    MediaPipe, TFLite and absl log from C++ straight to fd 2 (``inference_feedback_manager``,
    "All log messages before absl::InitializeLog()", XNNPACK notes), past Python's sys.stderr and
    any environment switch. Python's own writes in other threads during the call are lost too, so
    wrap only native calls. Nested and concurrent uses share one redirection (counted under a lock).
    ``SYNRECON_NATIVE_LOGS=1`` turns this off.
    """
    global _silence_depth, _saved_stderr_fd
    if os.environ.get(KEEP_NATIVE_LOGS, "") not in ("", "0"):
        yield
        return
    with _silence_lock:
        if _silence_depth == 0:
            try:
                sys.stderr.flush()
            except (AttributeError, ValueError, OSError):
                pass
            _saved_stderr_fd = os.dup(2)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
        _silence_depth += 1
    try:
        yield
    finally:
        with _silence_lock:
            _silence_depth -= 1
            if _silence_depth == 0:
                _flush_c_stdio()  # C-level stderr may be buffered: empty it into /dev/null first
                os.dup2(_saved_stderr_fd, 2)
                os.close(_saved_stderr_fd)
                _saved_stderr_fd = None


# ----------------------------------------------------------------------------------- backends
class PoseBackend(abc.ABC):
    """A 2D pose detector fed with the frames of one video, in time order.

    keypoint_format: layout of the points ``detect`` returns, a key of io.formats.FORMATS.
    """

    keypoint_format: str = "coco18"

    def __init__(self, num_people: int = 1, min_detection_confidence: float = 0.5):
        self.closed = False
        self.num_people = int(num_people)
        self.min_detection_confidence = float(min_detection_confidence)

    @abc.abstractmethod
    def detect(self, image: np.ndarray, time: float) -> np.ndarray:
        """Detect people in one frame.

        image: (H, W, 3) uint8 RGB, C-contiguous. time: seconds, increasing from call to call.
        Returns (P, K, 3) float: x / W, y / H (normalised to this image) and confidence in [0, 1]
        per point, for up to ``num_people`` people; (0, K, 3) when nobody is found.
        """

    def close(self) -> None:
        """Release the detector (subclasses holding resources extend this); closing twice is harmless."""
        self.closed = True

    def reset(self) -> bool:
        """Forget the video seen so far, so that the next frames (of another video, with times from
        0 again) give exactly what a new backend would. True when done; False (the default) when
        the backend cannot, and a new one is made for each video."""
        return False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _builtin_entry(name: str):
    module, _, attr = BUILTIN_BACKENDS[name].partition(":")
    import importlib

    return getattr(importlib.import_module(module), attr)


def _entry_points() -> dict:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_pose_backends() -> list[str]:
    """Names of the registered pose backends (entry points and built-ins)."""
    return sorted(set(_entry_points()) | set(BUILTIN_BACKENDS))


def get_pose_backend(name: str) -> type[PoseBackend]:
    """The backend class registered under ``name``. Unknown names raise InputError."""
    eps = _entry_points()
    if name in eps:
        cls = eps[name].load()
    elif name in BUILTIN_BACKENDS:
        cls = _builtin_entry(name)
    else:
        raise InputError(None, f"unknown pose backend {name!r}; known: {', '.join(available_pose_backends())}")
    if not (isinstance(cls, type) and issubclass(cls, PoseBackend)):
        raise TypeError(f"pose backend {name!r} is {cls!r}, not a PoseBackend subclass")
    return cls


# ---------------------------------------------------------------------------------- MediaPipe
def _mediapipe_dir() -> Path:
    import mediapipe

    return Path(mediapipe.__file__).parent


_bundle_lock = threading.Lock()


def pose_landmarker_bundle() -> bytes:
    """``_pose_landmarker_bundle``, built once even when several videos start at the same time
    (align poses two videos at a time: both threads built it, ~0.4 CPU s each)."""
    with _bundle_lock:
        return _pose_landmarker_bundle()


@lru_cache(maxsize=1)
def _pose_landmarker_bundle() -> bytes:
    """A PoseLandmarker ``.task`` bundle (zip bytes) built from the models inside the mediapipe wheel.

    The Tasks API needs TFLite metadata that the wheel's legacy models lack: we add the input
    normalisation the legacy graphs use (detector: pixels to [-1, 1]; landmarks: to [0, 1]) with
    MediaPipe's own metadata writer, and zip both models under the names the Tasks graph expects.
    Nothing is downloaded.
    """
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, writer_utils
    from mediapipe.tasks.python.metadata.metadata_writers.model_asset_bundle_utils import AlignZipFile

    modules = _mediapipe_dir() / "modules"
    sources = {  # bundle name: (model file, normalisation mean, std)
        "pose_detector.tflite": (modules / "pose_detection" / "pose_detection.tflite", 127.5, 127.5),
        "pose_landmarks_detector.tflite": (modules / "pose_landmark" / "pose_landmark_full.tflite", 0.0, 255.0),
    }
    buffer = io.BytesIO()
    with AlignZipFile(buffer, mode="w", alignment=4) as bundle:
        for name, (path, mean, std) in sources.items():
            if not path.is_file():
                raise RuntimeError(f"mediapipe wheel lacks {path}; install mediapipe==0.10.21")
            model = bytearray(path.read_bytes())
            writer = metadata_writer.MetadataWriter.create(model)
            writer.add_general_info(path.stem).add_image_input(norm_mean=[mean], norm_std=[std])
            for _ in writer_utils.get_output_tensor_types(model):
                writer.add_feature_output()
            bundle.writestr(name, bytes(writer.populate()[0]))
    return buffer.getvalue()


class MediaPipeBackend(PoseBackend):
    """MediaPipe Pose (BlazePose full, 33 landmarks), all from the mediapipe wheel.

    One person: the legacy ``solutions.pose`` graph with its own ROI tracking, without landmark
    smoothing (smoothing lags the motion and biases sync). Several people: the Tasks API
    PoseLandmarker in VIDEO mode with ``num_poses = num_people``.
    Confidence: landmark visibility (times presence where the API gives it).
    """

    keypoint_format = "mediapipe33"

    def __init__(self, num_people: int = 1, min_detection_confidence: float = 0.5):
        super().__init__(num_people, min_detection_confidence)
        os.environ.setdefault("GLOG_minloglevel", "2")
        self._had_person = False
        self._last_ms = -1
        self._base_ms = 0  # VIDEO-mode time of this video's 0 (``reset``: after the videos before)
        self._pose = self._landmarker = None
        with native_stderr_silenced():
            if self.num_people == 1:
                import mediapipe as mp

                self._pose = mp.solutions.pose.Pose(
                    static_image_mode=False, model_complexity=1, smooth_landmarks=False,
                    enable_segmentation=False, min_detection_confidence=self.min_detection_confidence)
            else:
                from mediapipe.tasks.python import BaseOptions, vision

                options = vision.PoseLandmarkerOptions(
                    base_options=BaseOptions(model_asset_buffer=pose_landmarker_bundle()),
                    running_mode=vision.RunningMode.VIDEO, num_poses=self.num_people,
                    min_pose_detection_confidence=self.min_detection_confidence)
                self._landmarker = vision.PoseLandmarker.create_from_options(options)
            # The graph opens its models in its own threads, which log when they get to it: wait
            # for them here, while fd 2 is silenced (a blank frame finds nobody and leaves no state).
            self._landmarks(np.zeros((64, 64, 3), np.uint8), 0.0)

    def reset(self) -> bool:
        """Tasks API only (several people): a blank frame finds nobody, which ends every track the
        landmarker follows, and the next video's times continue after it (VIDEO mode needs them
        increasing). The landmarks of a video are then the same to the bit as from a new
        landmarker (checked on the Pose2Sim two-person videos). Saves building the graph again
        (~0.25 CPU s a video)."""
        if self._landmarker is None or self.closed:
            return False
        import mediapipe as mp

        self._last_ms += 1
        with native_stderr_silenced():
            self._landmarker.detect_for_video(
                mp.Image(image_format=mp.ImageFormat.SRGB, data=np.zeros((64, 64, 3), np.uint8)), self._last_ms)
        self._base_ms = self._last_ms + 1
        self._had_person = False
        return True

    def _landmarks(self, image: np.ndarray, time: float) -> list:
        """MediaPipe's landmark lists, one per person found."""
        if self._pose is not None:
            result = self._pose.process(image)
            if result.pose_landmarks is None and self._had_person:
                # Tracking lost (e.g. a jump between far-apart frames): detect afresh.
                self._pose.reset()
                result = self._pose.process(image)
            return [] if result.pose_landmarks is None else [result.pose_landmarks.landmark]
        import mediapipe as mp

        ms = max(self._base_ms + int(round(time * 1000)), self._last_ms + 1)  # strictly increasing
        self._last_ms = ms
        return self._landmarker.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=image), ms).pose_landmarks

    def detect(self, image: np.ndarray, time: float) -> np.ndarray:
        image = np.ascontiguousarray(image, dtype=np.uint8)
        with native_stderr_silenced():
            people = self._landmarks(image, time)
        self._had_person = bool(people)
        tasks = self._landmarker is not None
        out = np.zeros((len(people), 33, 3))
        for p, landmarks in enumerate(people):
            out[p] = [(lm.x, lm.y, (1.0 if lm.visibility is None else lm.visibility)
                       * (lm.presence if tasks and lm.presence is not None else 1.0)) for lm in landmarks]
        return out

    def close(self) -> None:
        super().close()
        with native_stderr_silenced():
            if self._pose is not None:
                self._pose.close()
                self._pose = None
            if self._landmarker is not None:
                self._landmarker.close()
                self._landmarker = None


class BackendPool(Scoped):
    """Pose backends kept for the next video inside ``with pool.active():`` (align's loading: two
    threads pose the videos one after another), instead of a new detector graph per video. A
    backend is kept only when its ``reset`` succeeds (same outputs as a new one), one user at a
    time; every kept backend is closed when the last active block ends. Outside, each video gets
    a new backend, closed after it, as before."""

    def __init__(self):
        super().__init__()
        self._idle: list = []

    def _release(self):
        idle, self._idle = self._idle, []
        return lambda: [backend.close() for _, backend in idle]

    @contextmanager
    def backend(self, cls: type, num_people: int, min_detection_confidence: float):
        """A backend of ``cls`` for one video: a kept one when there is one, else a new one."""
        key = (cls, int(num_people), float(min_detection_confidence))
        backend = None
        with self._lock:
            for k, (kk, _b) in enumerate(self._idle):
                if kk == key:
                    backend = self._idle.pop(k)[1]
                    break
        if backend is None:
            backend = cls(num_people=num_people, min_detection_confidence=min_detection_confidence)
        finished = False
        try:
            yield backend
            finished = True
        finally:
            keep = finished and self._users > 0 and backend.reset()
            with self._lock:
                keep = keep and self._users > 0
                if keep:
                    self._idle.append((key, backend))
            if not keep:
                backend.close()


BACKEND_POOL = BackendPool()


# ------------------------------------------------------------------------------------ config
@dataclass
class PoseConfig:
    """How to run pose on a video.

    backend:       name in the ``synnet_recon.pose_backends`` registry.
    max_side:      run pose on frames shrunk to this longer side (None: full resolution).
    every:         run pose on frames 0, every, 2*every, ... (ignored when ``frames`` is given).
    max_rate:      pose at no more than about this many frames per second: the stride ``every`` grows
                   to the largest k with fps / k >= max_rate (5% slack), e.g. every 2nd frame of a
                   60 fps video for 30; None: no limit. align's analysis rate is 30 fps.
    frames:        run pose only on these frame indices.
    num_people:    1: MediaPipe's single-person graph; >1: up to this many people per frame.
    min_confidence: points below it count as undetected (NaN); points outside the frame too.
    min_detection_confidence: person detector threshold.
    max_gap_seconds: a track unseen for longer than this ends; a reappearing person starts a new one.
    gate:          largest frame-to-frame move (median joint distance / body size) that continues a
                   track; it grows by ``gate_growth`` per second the track went unseen.
    min_track_frames: shorter tracks are dropped (0: 10% of the processed frames, at least 3).
    progress:      show a tqdm progress bar.
    """

    backend: str = "mediapipe"
    max_side: int | None = 480
    every: int = 1
    max_rate: float | None = 30.0
    frames: Sequence[int] | None = None
    num_people: int = 4
    min_confidence: float = 0.1
    min_detection_confidence: float = 0.5
    max_gap_seconds: float = 0.5
    gate: float = 0.5
    gate_growth: float = 1.0
    min_track_frames: int = 0
    progress: bool = True

    def stride(self, fps: float) -> int:
        """The frame stride for a video of ``fps`` frames per second (``every`` and ``max_rate``)."""
        every = max(1, int(self.every))
        if self.max_rate and fps > 0:
            every = max(every, int(math.floor(fps / float(self.max_rate) + 0.05)))
        return every

    def frame_indices(self, num_frames: int, fps: float) -> list[int]:
        """The frame indices to run pose on, sorted."""
        if self.frames is not None:
            return sorted({int(i) for i in self.frames if 0 <= int(i) < num_frames})
        return list(range(0, num_frames, self.stride(fps)))


# -------------------------------------------------------------------------------- estimation
def _to_pixels(raw: np.ndarray, width: int, height: int, fmt: str, min_confidence: float):
    """(P, K, 3) normalised backend output -> COCO-18 xy (P, 18, 2) px and conf (P, 18)."""
    from .io.formats import FORMATS, to_coco18

    n_points = FORMATS[fmt][0]
    kp = np.array(raw, dtype=np.float64).reshape(len(raw), n_points, 3)
    kp[..., 0] *= width
    kp[..., 1] *= height
    outside = (kp[..., 0] < 0) | (kp[..., 0] >= width) | (kp[..., 1] < 0) | (kp[..., 1] >= height)
    kp[..., 2] = np.where(outside | (kp[..., 2] < min_confidence), 0.0, np.clip(kp[..., 2], 0, 1))
    return to_coco18(kp, fmt)


def _prefetch(iterator, size: int = 8):
    """Run ``iterator`` in a background thread, ``size`` items ahead (decoding overlaps pose:
    FFmpeg and MediaPipe both release the GIL). Exceptions are re-raised in the consumer."""
    import queue
    import threading

    items: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()
    done = object()

    def offer(item) -> bool:
        """Queue an item unless the consumer has gone; False when it has."""
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in iterator:
                if not offer(item):
                    return
            offer(done)
        except BaseException as exc:  # handed to the consumer
            offer(exc)

    worker = threading.Thread(target=produce, name="decode", daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def estimate_pose(video_path: str | os.PathLike, config: PoseConfig | None = None) -> list[Keypoints]:
    """Run 2D pose on a video and return one Keypoints track per person.

    All tracks share the processed frames: Keypoints.times (T,) are those frames' timestamps
    (s, first frame of the video = 0), xy (T, 18, 2) are pixels of the full upright frame
    (image_size = upright width, height) with NaN where the person is not seen.
    meta: video, frames ((T,) int frame indices of the rows; Keypoints.slice does not cut it),
    backend, track (rank), max_side, and the tracker's detections, motion, body_size, presence.
    Pose runs on ``config.frame_indices`` (at most ``max_rate`` frames per second); frames are
    decoded, scaled and posed one at a time (memory does not grow with the video beyond the
    keypoints). Tracks come from ``tracking.track_people``, ranked by the motion seen (most
    first), so bystanders who barely move come last. Raises InputError when the video is
    unreadable or nobody is found in it.
    """
    from tqdm import tqdm

    from .io.video import iter_frames, probe_video

    config = config or PoseConfig()
    path = Path(video_path)
    info = probe_video(path)
    backend_cls = get_pose_backend(config.backend)
    wanted = config.frame_indices(info.num_frames, info.fps)
    total = len(wanted)
    frames = iter_frames(path, max_side=config.max_side, indices=wanted)
    indices, times, xys, confs = [], [], [], []
    with BACKEND_POOL.backend(backend_cls, config.num_people, config.min_detection_confidence) as backend:
        for frame in tqdm(_prefetch(frames), total=total, desc=f"pose {path.name}", unit="frame",
                          disable=not config.progress, leave=False):
            raw = backend.detect(frame.image, frame.time)
            xy, conf = _to_pixels(raw, info.width, info.height, backend.keypoint_format, config.min_confidence)
            indices.append(frame.index)
            times.append(frame.time)
            xys.append(xy.astype(np.float32))
            confs.append(conf.astype(np.float32))
    if not indices:
        raise InputError(path, "no frames to run pose on")
    times_arr = np.asarray(times, dtype=np.float64)
    tracks = track_people(xys, confs, times_arr, config.max_gap_seconds, config.gate,
                          config.gate_growth, config.min_track_frames)
    if not tracks:
        raise InputError(path, "no person found")
    return [Keypoints(tr.xy, tr.conf, times_arr, (info.width, info.height), name=path.stem,
                      meta={"video": str(path), "frames": np.asarray(indices), "backend": config.backend,
                            "track": rank, "max_side": config.max_side, **tr.stats()})
            for rank, tr in enumerate(tracks)]
