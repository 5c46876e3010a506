"""TRC (track row column) marker trajectories, the text format Pose2Sim writes and OpenSim reads.

Layout (tab-separated):
1. ``PathFileType  4  (X/Y/Z)  <file name>``
2. the names of the header values: DataRate, CameraRate, NumFrames, NumMarkers, Units,
   OrigDataRate, OrigDataStartFrame, OrigNumFrames
3. their values
4. ``Frame#  Time`` then each marker's name over its three columns
5. the column labels ``X1 Y1 Z1 X2 Y2 Z2 ...``
then one row per frame: frame number, time in seconds, X Y Z per marker; an empty cell is a marker
not seen in that frame (``NaN`` is read the same way).

One writer (``write_trc``), one reader (``read_trc``), beside the ``TRC`` dataclass.
``skeleton_to_trc`` turns a skeleton3d.json skeleton into markers: OpenSim and Pose2Sim expect Y up,
so the reference camera's OpenCV axes (x right, y down, z forward) are turned 180 degrees about x
(x right, y up, z towards the camera). That is only as upright as the reference camera was level.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..fileio import atomic_path

HEADER_KEYS = ("DataRate", "CameraRate", "NumFrames", "NumMarkers", "Units", "OrigDataRate",
               "OrigDataStartFrame", "OrigNumFrames")
UNITS = {"m": 1.0, "mm": 1000.0, "cm": 100.0}
# COCO-18 joints under the marker names OpenPose and Pose2Sim give them.
COCO18_MARKERS = ("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
                  "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar")
OPENCV_TO_Y_UP = np.diag([1.0, -1.0, -1.0])


@dataclass
class TRC:
    """Marker trajectories. positions: (T, M, 3) in ``units``, NaN where a marker was not seen."""

    markers: list[str]
    positions: np.ndarray
    times: np.ndarray
    rate: float
    units: str = "m"
    frame_numbers: np.ndarray | None = None  # (T,) ints; default 1..T
    camera_rate: float | None = None  # default: rate
    orig_start_frame: int | None = None  # default: the first frame number
    header: dict = field(default_factory=dict)  # the header values as read

    def __post_init__(self):
        self.positions = np.asarray(self.positions, dtype=np.float64).reshape(-1, len(self.markers), 3)
        self.times = np.asarray(self.times, dtype=np.float64).reshape(len(self.positions))
        if self.frame_numbers is None:
            self.frame_numbers = np.arange(1, len(self.positions) + 1)
        self.frame_numbers = np.asarray(self.frame_numbers, dtype=np.int64).reshape(len(self.positions))


def _cell(v: float) -> str:
    return "" if not math.isfinite(v) else f"{v:.6f}"


def _number_text(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def write_trc(path: str | Path, trc: TRC) -> Path:
    """Write ``trc`` atomically (tab-separated, ``\\n`` line ends)."""
    path = Path(path)
    if trc.units not in UNITS:
        raise ValueError(f"units must be one of {sorted(UNITS)}, got {trc.units!r}")
    T, M = trc.positions.shape[:2]
    start = int(trc.frame_numbers[0]) if T else 1
    values = (_number_text(trc.rate), _number_text(trc.camera_rate or trc.rate), str(T), str(M), trc.units,
              _number_text(trc.rate), str(trc.orig_start_frame if trc.orig_start_frame is not None else start), str(T))
    lines = ["\t".join(("PathFileType", "4", "(X/Y/Z)", path.name)), "\t".join(HEADER_KEYS), "\t".join(values),
             "\t".join(["Frame#", "Time"] + [c for m in trc.markers for c in (m, "", "")]),
             "\t".join(["", ""] + [f"{a}{i}" for i in range(1, M + 1) for a in "XYZ"])]
    for t in range(T):
        cells = [str(int(trc.frame_numbers[t])), f"{trc.times[t]:.6f}"]
        cells += [_cell(v) for v in trc.positions[t].ravel()]
        lines.append("\t".join(cells))
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _float(text: str, path, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(path, f"{where}: {text!r} is not a number") from None


def _read_header(lines: list[str], path) -> tuple[dict, list[str]]:
    if len(lines) < 5 or not lines[0].startswith("PathFileType"):
        raise InputError(path, "not a TRC file: the first line must start with PathFileType")
    keys, values = lines[1].split("\t"), lines[2].split("\t")
    if len(values) < len(keys) or "DataRate" not in keys or "NumMarkers" not in keys:
        raise InputError(path, "TRC header lines 2-3 must name and give DataRate, NumFrames, NumMarkers, Units")
    header = dict(zip(keys, (v.strip() for v in values)))
    names = lines[3].split("\t")
    if names[:2] != ["Frame#", "Time"]:
        raise InputError(path, "TRC line 4 must start with Frame# and Time")
    markers = [n.strip() for n in names[2::3] if n.strip()]
    return header, markers


def read_trc(path: str | Path) -> TRC:
    """Read a TRC file; a missing file or a malformed header or row is an InputError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError(path, "not a text file") from None
    header, markers = _read_header(lines, path)
    n_markers = int(_float(header["NumMarkers"], path, "NumMarkers"))
    if n_markers != len(markers):
        raise InputError(path, f"NumMarkers is {n_markers} but line 4 names {len(markers)} markers")
    rate = _float(header["DataRate"], path, "DataRate")
    rows = [ln for ln in lines[5:] if ln.strip()]
    frames, times = np.zeros(len(rows), dtype=np.int64), np.zeros(len(rows))
    positions = np.full((len(rows), n_markers, 3), np.nan)
    for i, row in enumerate(rows):
        cells = row.split("\t")
        where = f"line {6 + i}"
        if len(cells) < 2 or len(cells) > 2 + 3 * n_markers:
            raise InputError(path, f"{where}: {len(cells)} cells, expected Frame#, Time and 3 per marker")
        frames[i] = int(_float(cells[0], path, where))
        times[i] = _float(cells[1], path, where)
        vals = [np.nan if c.strip() in ("", "NaN", "nan") else _float(c, path, where) for c in cells[2:]]
        positions[i].flat[:len(vals)] = vals
    num_frames = header.get("NumFrames")
    if num_frames is not None and int(_float(num_frames, path, "NumFrames")) != len(rows):
        raise InputError(path, f"NumFrames is {num_frames} but the file has {len(rows)} frame rows")
    camera_rate = _float(header["CameraRate"], path, "CameraRate") if "CameraRate" in header else None
    start = int(_float(header["OrigDataStartFrame"], path, "OrigDataStartFrame")) \
        if "OrigDataStartFrame" in header else None
    return TRC(markers=markers, positions=positions, times=times, rate=rate, units=header.get("Units", "m"),
               frame_numbers=frames, camera_rate=camera_rate, orig_start_frame=start, header=header)


def skeleton_to_trc(skeleton, units: str = "m", min_confidence: float = 0.0) -> TRC:
    """A ``recon.skeleton3d.Skeleton3D`` as TRC markers, Y up (see the module docstring).

    Joints less confident than ``min_confidence`` are left out (empty cells). The rate is the
    skeleton's fps, else the median spacing of its instants.
    """
    if units not in UNITS:
        raise ValueError(f"units must be one of {sorted(UNITS)}, got {units!r}")
    joints = skeleton.joints @ OPENCV_TO_Y_UP.T * UNITS[units]
    joints[skeleton.confidence < min_confidence] = np.nan
    rate = skeleton.fps
    if rate is None:
        dt = np.diff(skeleton.times)
        rate = 1.0 / float(np.median(dt)) if len(dt) and np.median(dt) > 0 else 30.0
    times = skeleton.times - (skeleton.times[0] if len(skeleton) else 0.0)
    frames = np.rint(times * rate).astype(np.int64) + 1  # gaps (flagged instants) keep their frame numbers
    return TRC(markers=list(COCO18_MARKERS), positions=joints, times=times, rate=float(rate), units=units,
               frame_numbers=frames)
