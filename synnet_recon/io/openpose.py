"""OpenPose JSON keypoint folders <-> COCO-18 ``Keypoints`` tracks.

A folder holds one JSON file per frame (``*_keypoints.json``, or any ``*.json``), each with a
``people`` list whose ``pose_keypoints_2d`` is x, y, confidence for 18 (COCO), or 25 (BODY_25 or
BODY_25B, told apart by ``formats.guess_openpose_25``) points. The frame number is the LAST number
in the file name (``cam0_000000000012_keypoints.json``, ``Static_cam_01.00012.json``); frames
missing from the folder become undetected frames.

Several people per frame are split into tracks: with OpenPose's ``person_id`` when every person
carries a distinct non-negative id (files written by ``write_openpose_folder`` do), otherwise by
greedy frame-to-frame association of each detection to the nearest track centroid (mean of the
detected keypoints), accepted when closer than ``max_jump`` times the larger of the two people's
bounding-box diagonals; unmatched detections start new tracks.

The files written here add two keys to OpenPose's ``version`` and ``people``: ``image_size``
[w, h] and ``time`` (seconds), which the reader uses when present.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..fileio import atomic_dir
from ..keypoints import Keypoints
from ..skeleton import NUM_JOINTS
from .formats import guess_openpose_25, to_coco18

OPENPOSE_VERSION = 1.3
DEFAULT_FPS = 30.0
# Common video resolutions (w, h), tried smallest first when the image size must be guessed.
_COMMON_SIZES = sorted({(w, h) for a, b in [(640, 480), (1280, 720), (1920, 1080), (2560, 1440), (3840, 2160)]
                        for w, h in [(a, b), (b, a)]}, key=lambda s: (s[0] * s[1], -s[0]))
_NUMBER = re.compile(r"\d+")


@dataclass
class _Frame:
    number: int
    path: Path
    people: list = field(default_factory=list)   # [(person_id or None, (K, 3) array)]
    image_size: tuple | None = None
    time: float | None = None


def list_keypoint_files(folder: str | Path) -> list[tuple[int, Path]]:
    """(frame number, path) of the keypoint files of an OpenPose folder, by frame number."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "keypoint folder does not exist")
    files = sorted(folder.glob("*_keypoints.json")) or sorted(folder.glob("*.json"))
    if not files:
        raise InputError(folder, "no OpenPose keypoint files (*_keypoints.json or *.json) in the folder")
    numbered: dict[int, Path] = {}
    for path in files:
        numbers = _NUMBER.findall(path.stem)
        if not numbers:
            raise InputError(path, "no frame number in the file name")
        n = int(numbers[-1])
        if n in numbered:
            raise InputError(path, f"frame number {n} also used by {numbered[n].name}")
        numbered[n] = path
    return sorted(numbered.items())


def _read_frame(number: int, path: Path) -> _Frame:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(path, f"malformed JSON: {e.msg} at line {e.lineno}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(path, f"cannot read: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise InputError(path, "not an OpenPose keypoint file: no 'people' list")
    frame = _Frame(number, path)
    for person in data["people"]:
        if not isinstance(person, dict):
            raise InputError(path, "not an OpenPose keypoint file: 'people' entries must be objects")
        values = person.get("pose_keypoints_2d", [])
        if not isinstance(values, list):
            raise InputError(path, "pose_keypoints_2d is not a list")
        if not values:
            continue  # OpenPose writes [] when the body is not estimated: no detection
        if len(values) not in (54, 75):
            raise InputError(path, f"pose_keypoints_2d has {len(values)} numbers, "
                                   "expected 54 (COCO-18) or 75 (BODY_25 / BODY_25B)")
        try:
            kp = np.asarray(values, dtype=np.float64).reshape(-1, 3)
        except (TypeError, ValueError):
            raise InputError(path, "pose_keypoints_2d holds non-numbers") from None
        pid = person.get("person_id")
        pid = pid[0] if isinstance(pid, list) and pid else pid
        frame.people.append((pid if isinstance(pid, int) and pid >= 0 else None, kp))
    size = data.get("image_size")
    if isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size):
        frame.image_size = (size[0], size[1])
    if isinstance(data.get("time"), (int, float)):
        frame.time = float(data["time"])
    return frame


def _centroid_and_size(xy: np.ndarray) -> tuple[np.ndarray, float]:
    """(18, 2) with NaN -> centroid (2,), bounding-box diagonal (at least 1 px)."""
    pts = xy[np.isfinite(xy).all(axis=1)]
    return pts.mean(axis=0), max(float(np.linalg.norm(pts.max(axis=0) - pts.min(axis=0))), 1.0)


def _associate(detections: list[list[tuple]], max_jump: float) -> list[dict[int, int]]:
    """Greedy nearest-centroid tracking.

    detections[f]: list of (xy (18, 2), conf (18,), person_id) in frame f.
    Returns tracks as {frame index: detection index}.
    """
    tracks: list[dict] = []  # {"frames": {f: d}, "centroid", "size"}
    for f, dets in enumerate(detections):
        stats = [_centroid_and_size(xy) for xy, _, _ in dets]
        pairs = []
        for t, track in enumerate(tracks):
            for d, (c, s) in enumerate(stats):
                dist = float(np.linalg.norm(c - track["centroid"]))
                if dist <= max_jump * max(s, track["size"]):
                    pairs.append((dist, t, d))
        used_t, used_d = set(), set()
        for _, t, d in sorted(pairs):
            if t in used_t or d in used_d:
                continue
            used_t.add(t)
            used_d.add(d)
            tracks[t]["frames"][f] = d
            tracks[t]["centroid"], tracks[t]["size"] = stats[d]
        for d, (c, s) in enumerate(stats):
            if d not in used_d:
                tracks.append({"frames": {f: d}, "centroid": c, "size": s})
    return [t["frames"] for t in tracks]


def _guess_image_size(xy: np.ndarray) -> tuple[int, int]:
    """Smallest common video resolution holding every keypoint (2% slack: codecs pad 1080 to
    1088), else the points' extent. Only a guess: pass the real size when it is known."""
    pts = xy[np.isfinite(xy).all(axis=-1)]
    if not len(pts):
        return (0, 0)
    w_min, h_min = math.ceil(pts[:, 0].max()) + 1, math.ceil(pts[:, 1].max()) + 1
    for w, h in _COMMON_SIZES:
        if 1.02 * w >= w_min and 1.02 * h >= h_min:
            return (w, h)
    return (w_min, h_min)


def read_openpose_tracks(folder: str | Path, fps: float | None = None, image_size: tuple[int, int] | None = None,
                         fmt: str = "auto", max_jump: float = 1.0) -> list[Keypoints]:
    """Every person of an OpenPose folder as a COCO-18 track, main subject first.

    fps: frame rate; frame n is at n / fps. None: the files' own ``time`` keys when all have one,
         else 30 fps.
    image_size: (w, h); None: the files' ``image_size`` key, else the smallest common video
         resolution that contains every keypoint (a guess, flagged in ``meta["image_size_guessed"]``).
    fmt: "auto", "coco18", "body25" or "body25b" (75-number files are ambiguous; "auto" guesses).
    Tracks cover every frame number from the first to the last file (T frames); a person's
    undetected frames are NaN with confidence 0. Order: largest total presence first (sum over
    frames of the person's bounding-box diagonal), so a big, always visible subject beats a small
    or intermittent bystander.
    """
    folder = Path(folder)
    frames = [_read_frame(n, p) for n, p in list_keypoint_files(folder)]
    n_points = None
    for fr in frames:
        for _, kp in fr.people:
            if n_points is None:
                n_points = kp.shape[0]
            elif kp.shape[0] != n_points:
                raise InputError(fr.path, f"pose_keypoints_2d has {3 * kp.shape[0]} numbers, "
                                          f"earlier files in the folder have {3 * n_points}")
    n_points = n_points or 18
    all_kp = [kp for fr in frames for _, kp in fr.people]
    if n_points == 18:
        fmt_used = "coco18"
    elif fmt in ("body25", "body25b"):
        fmt_used = fmt
    elif fmt == "auto":
        fmt_used = guess_openpose_25(np.stack(all_kp)) if all_kp else "body25"
    else:
        raise ValueError(f"fmt must be 'auto', 'coco18', 'body25' or 'body25b' for 75-number files, got {fmt!r}")

    first = frames[0].number
    T = frames[-1].number - first + 1
    detections: list[list[tuple]] = [[] for _ in range(T)]
    if all_kp:
        xy_all, conf_all = to_coco18(np.stack(all_kp), fmt_used)
        n = 0
        for fr in frames:
            for pid, _ in fr.people:
                if conf_all[n].max() > 0:
                    detections[fr.number - first].append((xy_all[n], conf_all[n], pid))
                n += 1

    ids = [[pid for _, _, pid in dets] for dets in detections]
    use_ids = all(pid is not None for row in ids for pid in row) and all(len(set(row)) == len(row) for row in ids)
    if use_ids:
        by_id: dict[int, dict[int, int]] = {}
        for f, row in enumerate(ids):
            for d, pid in enumerate(row):
                by_id.setdefault(pid, {})[f] = d
        track_frames = [by_id[k] for k in sorted(by_id)]
    else:
        track_frames = _associate(detections, max_jump)

    if fps is None:
        times = np.array([fr.time for fr in frames], dtype=object)
        if len(frames) == T and all(t is not None for t in times):
            frame_times, fps_used = np.array(times, dtype=np.float64), None
        else:
            fps_used = DEFAULT_FPS
            frame_times = (first + np.arange(T)) / fps_used
    else:
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        fps_used = float(fps)
        frame_times = (first + np.arange(T)) / fps_used

    tracks = []
    for k, tf in enumerate(track_frames):
        xy = np.full((T, NUM_JOINTS, 2), np.nan, dtype=np.float32)
        conf = np.zeros((T, NUM_JOINTS), dtype=np.float32)
        for f, d in tf.items():
            xy[f], conf[f] = detections[f][d][0], detections[f][d][1]
        presence = sum(_centroid_and_size(xy[f])[1] for f in tf)
        meta = {"source": str(folder), "format": fmt_used, "detections": len(tf), "presence": presence,
                "first_frame_number": first}
        if use_ids:
            meta["person_id"] = sorted(by_id)[k]
        tracks.append((presence, xy, conf, meta))
    tracks.sort(key=lambda t: -t[0])

    stored_sizes = {fr.image_size for fr in frames if fr.image_size}
    guessed = False
    if image_size is None:
        if len(stored_sizes) == 1:
            image_size = stored_sizes.pop()
        else:
            guessed = True
            image_size = _guess_image_size(np.concatenate([t[1] for t in tracks]) if tracks
                                           else np.zeros((0, NUM_JOINTS, 2)))
    out = []
    for i, (_, xy, conf, meta) in enumerate(tracks):
        meta.update(track=i, image_size_guessed=guessed)
        if fps_used is not None:
            meta["fps"] = fps_used
        out.append(Keypoints(xy, conf, frame_times.copy(), tuple(image_size), folder.name, meta))
    return out


def read_openpose_folder(folder: str | Path, fps: float | None = None, image_size: tuple[int, int] | None = None,
                         person: str | int = "largest", fmt: str = "auto") -> Keypoints:
    """One person's COCO-18 track from an OpenPose folder (see ``read_openpose_tracks``).

    person: "largest" (the main subject: greatest summed bounding-box diagonal over its frames),
            "most" (most frames detected), or an int index into ``read_openpose_tracks``' order.
    A folder whose files have no people at all gives one all-NaN track.
    """
    tracks = read_openpose_tracks(folder, fps, image_size, fmt)
    if not tracks:
        files = list_keypoint_files(folder)
        first, last = files[0][0], files[-1][0]
        T = last - first + 1
        rate = DEFAULT_FPS if fps is None else float(fps)
        return Keypoints(np.full((T, NUM_JOINTS, 2), np.nan), np.zeros((T, NUM_JOINTS)),
                         (first + np.arange(T)) / rate, tuple(image_size or (0, 0)), Path(folder).name,
                         {"source": str(folder), "detections": 0, "image_size_guessed": image_size is None})
    if person == "largest":
        return tracks[0]
    if person == "most":
        return max(tracks, key=lambda t: t.meta["detections"])
    if isinstance(person, int) and not isinstance(person, bool):
        if not 0 <= person < len(tracks):
            raise InputError(folder, f"person {person} requested, but the folder has {len(tracks)} tracked people")
        return tracks[person]
    raise ValueError(f"person must be 'largest', 'most' or an int, got {person!r}")


def _person_json(xy: np.ndarray, conf: np.ndarray, person_id: int) -> dict:
    """One OpenPose person entry with 54 COCO-18 numbers (0, 0, 0 for undetected joints)."""
    values = []
    for (x, y), c in zip(xy.tolist(), conf.tolist()):
        if c > 0 and math.isfinite(x) and math.isfinite(y):
            values += [x, y, c]
        else:
            values += [0.0, 0.0, 0.0]
    return {"person_id": [person_id], "pose_keypoints_2d": values,
            "face_keypoints_2d": [], "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [],
            "pose_keypoints_3d": [], "face_keypoints_3d": [], "hand_left_keypoints_3d": [], "hand_right_keypoints_3d": []}


def write_openpose_folder(folder: str | Path, keypoints: Keypoints | list[Keypoints], prefix: str | None = None) -> Path:
    """Write tracks as an OpenPose COCO-18 folder, atomically (the folder appears whole or not at all).

    keypoints: one track, or several people of the same video (same frame times).
    Frame i goes to ``<prefix>_<i:012d>_keypoints.json`` (prefix: the folder name) holding every
    person detected in it (person_id = position in the list), plus ``image_size`` and ``time``.
    An existing folder is replaced.
    """
    folder = Path(folder)
    tracks = [keypoints] if isinstance(keypoints, Keypoints) else list(keypoints)
    if not tracks:
        raise ValueError("write_openpose_folder needs at least one Keypoints track")
    T = len(tracks[0])
    for kp in tracks[1:]:
        if len(kp) != T or not np.allclose(kp.times, tracks[0].times):
            raise ValueError("all tracks written to one OpenPose folder must share their frame times")
    prefix = folder.name if prefix is None else prefix
    w, h = (int(v) for v in tracks[0].image_size)
    with atomic_dir(folder) as tmp:
        for i in range(T):
            people = [_person_json(kp.xy[i], kp.conf[i], k) for k, kp in enumerate(tracks)
                      if (kp.conf[i] > 0).any()]
            data = {"version": OPENPOSE_VERSION, "people": people, "image_size": [w, h],
                    "time": float(tracks[0].times[i])}
            (tmp / f"{prefix}_{i:012d}_keypoints.json").write_text(json.dumps(data), encoding="utf-8")
    return folder
