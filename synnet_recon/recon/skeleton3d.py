"""The person in 3D at every synchronized instant, and its file ``skeleton3d.json``.

One reader (``read_skeleton3d``) and one writer (``write_skeleton3d``); the schema is described in
docs/formats.md. Joints are the 18 COCO-18 joints of ``synnet_recon.skeleton``, in metres, in the
reference camera's frame with OpenCV axes (x right, y down, z forward). A joint that is unknown
at an instant is NaN in memory and ``null`` in the file, with confidence 0 (``null`` in the file).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..fileio import check_schema, read_schema_json, write_json
from ..schemas import SKELETON3D as SKELETON3D_SCHEMA
from ..schemas import SKELETON3D_VERSION
from ..skeleton import COCO18_NAMES, NUM_JOINTS

AXES = "opencv"  # x right, y down, z forward, of the reference camera


@dataclass
class Skeleton3D:
    """The 18 joints of one person over T synchronized instants.

    joints: (T, 18, 3) float64 metres in the reference camera's frame, NaN where unknown.
    confidence: (T, 18) float64 in [0, 1], 0 where unknown.
    times: (T,) seconds on the reference clock.
    frames: T dicts {video name: frame index} of the frames each instant was made from.
    reprojection_px: (T, 18) mean reprojection error of the views used, NaN where unknown or not
        measured (e.g. joints lifted from depth).
    views: per instant, per joint, the names of the views the joint was made from (None: not recorded).
    """

    reference: str
    joints: np.ndarray
    confidence: np.ndarray
    times: np.ndarray
    frames: list[dict[str, int]]
    method: str = "triangulate"
    fps: float | None = None
    reprojection_px: np.ndarray | None = None
    views: list[list[list[str]]] | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.joints = np.asarray(self.joints, dtype=np.float64).reshape(-1, NUM_JOINTS, 3)
        T = len(self.joints)
        self.confidence = np.asarray(self.confidence, dtype=np.float64).reshape(T, NUM_JOINTS)
        self.times = np.asarray(self.times, dtype=np.float64).reshape(T)
        if len(self.frames) != T:
            raise ValueError(f"{len(self.frames)} frame rows for {T} instants")
        if self.reprojection_px is not None:
            self.reprojection_px = np.asarray(self.reprojection_px, dtype=np.float64).reshape(T, NUM_JOINTS)
        if self.views is not None and len(self.views) != T:
            raise ValueError(f"{len(self.views)} view rows for {T} instants")
        unknown = ~np.isfinite(self.joints).all(axis=-1)
        self.joints[unknown] = np.nan
        self.confidence = np.where(unknown, 0.0, np.clip(np.nan_to_num(self.confidence), 0.0, 1.0))

    def __len__(self) -> int:
        return len(self.joints)

    def every(self, n: int) -> "Skeleton3D":
        """Every n-th instant."""
        pick = slice(None, None, n)
        return Skeleton3D(self.reference, self.joints[pick], self.confidence[pick], self.times[pick],
                          self.frames[pick], self.method, None if self.fps is None else self.fps / n,
                          None if self.reprojection_px is None else self.reprojection_px[pick],
                          None if self.views is None else self.views[pick], dict(self.meta))

    @property
    def known(self) -> np.ndarray:
        """(T, 18) bool: joints with a position."""
        return np.isfinite(self.joints).all(axis=-1)


def _num(v: float, digits: int) -> float | None:
    return None if not math.isfinite(v) else round(float(v), digits)


def to_dict(skeleton: Skeleton3D) -> dict:
    """The JSON document of ``skeleton`` (schema ``synnet-recon/skeleton3d``)."""
    instants = []
    for i in range(len(skeleton)):
        known = skeleton.known[i]
        row = {
            "time": round(float(skeleton.times[i]), 6),
            "frames": {str(k): int(v) for k, v in skeleton.frames[i].items()},
            "joints": [[round(float(c), 5) for c in p] if ok else None for p, ok in zip(skeleton.joints[i], known)],
            "confidence": [round(float(c), 4) if ok else None for c, ok in zip(skeleton.confidence[i], known)],
        }
        if skeleton.reprojection_px is not None:
            row["reprojection_px"] = [_num(v, 3) for v in skeleton.reprojection_px[i]]
        if skeleton.views is not None:
            row["views"] = [list(map(str, v)) for v in skeleton.views[i]]
        instants.append(row)
    return {
        "schema": SKELETON3D_SCHEMA, "version": SKELETON3D_VERSION,
        "reference": skeleton.reference, "units": "m", "axes": AXES,
        "joint_names": list(COCO18_NAMES), "method": skeleton.method,
        "fps": None if skeleton.fps is None else float(skeleton.fps),
        "meta": skeleton.meta,
        "instants": instants,
    }


def write_skeleton3d(path: str | Path, skeleton: Skeleton3D) -> Path:
    """Write ``skeleton`` to ``path`` atomically."""
    return write_json(path, to_dict(skeleton))


def _bad(path, where: str, problem: str):
    return InputError(path, f"{where}: {problem}")


def _number(v, path, where: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise _bad(path, where, f"expected a finite number in [{lo}, {hi}], got {v!r}")
    return float(v)


def _list(v, n: int | None, path, where: str) -> list:
    if not isinstance(v, list) or (n is not None and len(v) != n):
        raise _bad(path, where, f"expected a list of {n if n is not None else 'any number of'} entries")
    return v


def _instant(row, i: int, path) -> tuple:
    w = f"instants[{i}]"
    if not isinstance(row, dict):
        raise _bad(path, w, "expected an object")
    time = _number(row.get("time"), path, f"{w}.time")
    frames = row.get("frames")
    if not isinstance(frames, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0 for k, v in frames.items()):
        raise _bad(path, f"{w}.frames", "expected {video name: frame index >= 0}")
    joints = np.full((NUM_JOINTS, 3), np.nan)
    conf = np.zeros(NUM_JOINTS)
    reproj = np.full(NUM_JOINTS, np.nan)
    for j, p in enumerate(_list(row.get("joints"), NUM_JOINTS, path, f"{w}.joints")):
        if p is not None:
            joints[j] = [_number(c, path, f"{w}.joints[{j}]") for c in _list(p, 3, path, f"{w}.joints[{j}]")]
    for j, c in enumerate(_list(row.get("confidence"), NUM_JOINTS, path, f"{w}.confidence")):
        if c is not None:
            conf[j] = _number(c, path, f"{w}.confidence[{j}]", 0.0, 1.0)
    has_reproj = "reprojection_px" in row
    if has_reproj:
        for j, e in enumerate(_list(row["reprojection_px"], NUM_JOINTS, path, f"{w}.reprojection_px")):
            if e is not None:
                reproj[j] = _number(e, path, f"{w}.reprojection_px[{j}]", 0.0)
    views = None
    if "views" in row:
        views = _list(row["views"], NUM_JOINTS, path, f"{w}.views")
        if not all(isinstance(v, list) and all(isinstance(n, str) for n in v) for v in views):
            raise _bad(path, f"{w}.views", "expected 18 lists of video names")
    return time, frames, joints, conf, (reproj if has_reproj else None), views


def from_dict(data, path="skeleton3d.json") -> Skeleton3D:
    """Check and decode a skeleton3d document; any problem is an InputError naming ``path``."""
    check_schema(data, path, SKELETON3D_SCHEMA, SKELETON3D_VERSION)
    if data.get("units", "m") != "m":
        raise InputError(path, f"units {data.get('units')!r} not supported (expected 'm')")
    if data.get("axes", AXES) != AXES:
        raise InputError(path, f"axes {data.get('axes')!r} not supported (expected {AXES!r})")
    names = data.get("joint_names", list(COCO18_NAMES))
    if list(names) != list(COCO18_NAMES):
        raise InputError(path, "joint_names are not the 18 COCO-18 joints in synnet-recon's order")
    reference = data.get("reference")
    if not isinstance(reference, str) or not reference:
        raise InputError(path, "reference: expected the reference video's name")
    fps = data.get("fps")
    if fps is not None:
        fps = _number(fps, path, "fps", 1e-6)
    rows = [_instant(r, i, path) for i, r in enumerate(_list(data.get("instants"), None, path, "instants"))]
    T = len(rows)
    reproj = [r[4] for r in rows]
    views = [r[5] for r in rows]
    return Skeleton3D(
        reference=reference,
        joints=np.array([r[2] for r in rows]).reshape(T, NUM_JOINTS, 3),
        confidence=np.array([r[3] for r in rows]).reshape(T, NUM_JOINTS),
        times=np.array([r[0] for r in rows]),
        frames=[dict(r[1]) for r in rows],
        method=str(data.get("method", "unknown")),
        fps=fps,
        reprojection_px=np.array(reproj) if T and all(r is not None for r in reproj) else None,
        views=views if T and all(v is not None for v in views) else None,
        meta=data.get("meta") if isinstance(data.get("meta"), dict) else {},
    )


def read_skeleton3d(path: str | Path) -> Skeleton3D:
    """Read a ``skeleton3d.json``; a missing file, bad JSON or a bad field is an InputError."""
    return from_dict(read_schema_json(path, SKELETON3D_SCHEMA, SKELETON3D_VERSION), path)
