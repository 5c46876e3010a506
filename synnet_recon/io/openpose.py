"""OpenPose JSON keypoint folders <-> COCO-18 ``Keypoints`` tracks.

A folder holds one JSON file per frame (``*_keypoints.json``, or any ``*.json``), each with a
``people`` list whose ``pose_keypoints_2d`` is x, y, confidence for 18 (COCO), or 25 (BODY_25 or
BODY_25B, told apart by ``formats.guess_openpose_25``) points. The frame number is the LAST number
in the file name (``cam0_000000000012_keypoints.json``, ``Static_cam_01.00012.json``); frames
missing from the folder become undetected frames.

Several people per frame are split into tracks: with OpenPose's ``person_id`` when every person
carries a distinct non-negative id (files written by ``write_openpose_folder`` do), otherwise by
the project's one person tracker (``synnet_recon.tracking``, also used on video pose).

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
from ..tracking import PersonTrack, build_track, link_detections, rank_order
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


def _point_count(frames: list[_Frame]) -> int:
    """Keypoints per person (18 or 25), the same in every file of the folder (18 when empty)."""
    n_points = None
    for fr in frames:
        for _, kp in fr.people:
            if n_points is None:
                n_points = kp.shape[0]
            elif kp.shape[0] != n_points:
                raise InputError(fr.path, f"pose_keypoints_2d has {3 * kp.shape[0]} numbers, "
                                          f"earlier files in the folder have {3 * n_points}")
    return n_points or 18


def _resolve_format(all_kp: list[np.ndarray], n_points: int, fmt: str) -> str:
    if n_points == 18:
        return "coco18"
    if fmt in ("body25", "body25b"):
        return fmt
    if fmt == "auto":
        return guess_openpose_25(np.stack(all_kp)) if all_kp else "body25"
    raise ValueError(f"fmt must be 'auto', 'coco18', 'body25' or 'body25b' for 75-number files, got {fmt!r}")


def _detections(frames: list[_Frame], fmt: str, T: int):
    """Per frame of the span: COCO-18 xy (P, 18, 2), conf (P, 18) and person ids of the detections
    with at least one detected point."""
    first = frames[0].number
    xys = [np.zeros((0, NUM_JOINTS, 2))] * T
    confs = [np.zeros((0, NUM_JOINTS))] * T
    ids: list[list] = [[] for _ in range(T)]
    all_kp = [kp for fr in frames for _, kp in fr.people]
    if not all_kp:
        return xys, confs, ids
    xy_all, conf_all = to_coco18(np.stack(all_kp), fmt)
    n = 0
    for fr in frames:
        rows = [n + i for i, _ in enumerate(fr.people) if conf_all[n + i].max() > 0]
        f = fr.number - first
        xys[f], confs[f] = xy_all[rows], conf_all[rows]
        ids[f] = [fr.people[r - n][0] for r in rows]
        n += len(fr.people)
    return xys, confs, ids


def _link_by_ids(ids: list[list]) -> dict[int, dict[int, int]] | None:
    """{person_id: {frame: detection index}} when every detection carries an id, distinct within
    its frame; None otherwise."""
    if not all(pid is not None for row in ids for pid in row) or not all(len(set(row)) == len(row) for row in ids):
        return None
    by_id: dict[int, dict[int, int]] = {}
    for f, row in enumerate(ids):
        for d, pid in enumerate(row):
            by_id.setdefault(pid, {})[f] = d
    return dict(sorted(by_id.items()))


def _frame_times(frames: list[_Frame], fps: float | None, T: int) -> tuple[np.ndarray, float | None]:
    """(T,) seconds of the span's frames, and the frame rate used (None: the files' own times)."""
    first = frames[0].number
    if fps is None:
        if len(frames) == T and all(fr.time is not None for fr in frames):
            return np.array([fr.time for fr in frames], dtype=np.float64), None
        fps = DEFAULT_FPS
    elif not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return (first + np.arange(T)) / float(fps), float(fps)


def _image_size(frames: list[_Frame], tracks: list[PersonTrack]) -> tuple[tuple[int, int], bool]:
    """(w, h) from the files' ``image_size`` key, else guessed from the points; and whether guessed."""
    stored = {fr.image_size for fr in frames if fr.image_size}
    if len(stored) == 1:
        return stored.pop(), False
    points = np.concatenate([t.xy for t in tracks]) if tracks else np.zeros((0, NUM_JOINTS, 2))
    return _guess_image_size(points), True


def read_openpose_tracks(folder: str | Path, fps: float | None = None, image_size: tuple[int, int] | None = None,
                         fmt: str = "auto") -> list[Keypoints]:
    """Every person of an OpenPose folder as a COCO-18 track, the one who moves most first.

    fps: frame rate; frame n is at n / fps. None: the files' own ``time`` keys when all have one,
         else 30 fps.
    image_size: (w, h); None: the files' ``image_size`` key, else the smallest common video
         resolution that contains every keypoint (a guess, flagged in ``meta["image_size_guessed"]``).
    fmt: "auto", "coco18", "body25" or "body25b" (75-number files are ambiguous; "auto" guesses).
    Tracks cover every frame number from the first to the last file (T frames); a person's
    undetected frames are NaN with confidence 0. People are told apart by ``person_id`` when every
    detection has a distinct one, else by ``tracking.link_detections`` (the tracker video pose
    uses); every track is kept. Order: ``tracking.rank_tracks`` (pixels of motion seen, most
    first), so bystanders who barely move come last. meta: source, format, detections, motion,
    body_size, presence (see ``tracking.PersonTrack``), first_frame_number, track, person_id (when
    the files give ids), image_size_guessed, fps.
    """
    folder = Path(folder)
    frames = [_read_frame(n, p) for n, p in list_keypoint_files(folder)]
    n_points = _point_count(frames)
    fmt_used = _resolve_format([kp for fr in frames for _, kp in fr.people], n_points, fmt)
    T = frames[-1].number - frames[0].number + 1
    xys, confs, ids = _detections(frames, fmt_used, T)
    frame_times, fps_used = _frame_times(frames, fps, T)
    by_id = _link_by_ids(ids)
    linked = list(by_id.values()) if by_id is not None else link_detections(xys, frame_times)
    person_ids = list(by_id) if by_id is not None else [None] * len(linked)
    built = [build_track(frames_of, xys, confs, T) for frames_of in linked]
    order = rank_order(built)
    tracks = [built[k] for k in order]
    guessed = False
    if image_size is None:
        image_size, guessed = _image_size(frames, tracks)
    out = []
    for i, tr in enumerate(tracks):
        meta = {"source": str(folder), "format": fmt_used, **tr.stats(), "first_frame_number": frames[0].number,
                "track": i, "image_size_guessed": guessed}
        if person_ids[order[i]] is not None:
            meta["person_id"] = person_ids[order[i]]
        if fps_used is not None:
            meta["fps"] = fps_used
        out.append(Keypoints(tr.xy, tr.conf, frame_times.copy(), tuple(image_size), folder.name, meta))
    return out


def read_openpose_folder(folder: str | Path, fps: float | None = None, image_size: tuple[int, int] | None = None,
                         person: str | int = "largest", fmt: str = "auto") -> Keypoints:
    """One person's COCO-18 track from an OpenPose folder (see ``read_openpose_tracks``).

    person: "largest" (greatest summed bounding-box diagonal over its frames), "most" (most frames
            detected), or an int index into ``read_openpose_tracks``' order (0: moves most).
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
        return max(tracks, key=lambda t: t.meta["presence"])
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
