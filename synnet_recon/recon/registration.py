"""``registration.json``: how ``fuse`` placed every view at every synchronized instant, as
dataclasses with their one writer (``Registration.save``) and one reader (``Registration.load``).

Schema ``synnet-recon/registration`` (docs/formats.md, docs/fuse.md). A malformed file is one
InputError naming it and the problem.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..fileio import check_schema, json_field, read_schema_json, write_json
from ..pinhole import Intrinsics
from ..schemas import REGISTRATION, REGISTRATION_VERSION

SCHEMA, VERSION = REGISTRATION, REGISTRATION_VERSION


def _matrix(value, where, what: str) -> np.ndarray:
    """A JSON 4x4 list -> (4, 4) float64; InputError when it is not a finite 4x4 matrix."""
    try:
        m = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        m = None
    if m is None or m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise InputError(where, f"{what} is not a finite 4x4 matrix")
    return m


def _names_to(kind: str, d: dict, where, context: str) -> dict:
    return {n: json_field(d, n, kind, where, context) for n in d}


@dataclass
class FrameRecord:
    """One synchronized instant: camera_to_reference[name] is (4, 4) camera -> reference camera
    (None: never placed); view_ok[name] false: that view is flagged (reason[name] says why; its
    transform is a guess) and not fused; fused: the instant's verified views (the reference and
    the others whose view_ok is true) are in fused.ply, placed by world_from_reference (None when
    not fused); ok: fused with every view verified (false: flagged, or fused partially).
    method[name]: the hypothesis that placed the view (joints, track, stereo, features, fpfh);
    joint_error[name]: median distance (m) of its joints to the reference's (None: unknown);
    visibility[name]: the fraction of its background points that agree with the reference's
    depth; person_points: points in person/NNNNNN.ply."""

    index: int
    time: float
    frames: dict[str, int]
    camera_to_reference: dict[str, np.ndarray | None]
    fitness: dict[str, float]
    inlier_rmse: dict[str, float]
    view_ok: dict[str, bool]
    global_registration: dict[str, bool]
    world_from_reference: np.ndarray | None
    num_points: int
    ok: bool
    method: dict[str, str] = field(default_factory=dict)
    joint_error: dict[str, float | None] = field(default_factory=dict)
    visibility: dict[str, float] = field(default_factory=dict)
    reason: dict[str, str | None] = field(default_factory=dict)
    person_points: int = 0
    fused: bool | None = None      # None: as ``ok`` (version 1 files, where only ok instants were fused)

    def __post_init__(self):
        if self.fused is None:
            self.fused = bool(self.ok)

    @property
    def status(self) -> dict[str, str]:
        """Per view: "fused" (verified and in fused.ply), "flagged" (not verified: ``reason``) or
        "not fused" (verified, but the instant is not connected to the first over time)."""
        return {n: ("fused" if self.fused else "not fused") if self.view_ok.get(n, True) else "flagged"
                for n in self.camera_to_reference}

    def registered(self) -> dict[str, np.ndarray]:
        """camera_to_reference of the views that registered (view_ok, or not recorded)."""
        return {n: T for n, T in self.camera_to_reference.items() if T is not None and self.view_ok.get(n, True)}

    def to_json(self) -> dict:
        return {
            "index": self.index, "time": self.time, "frames": self.frames,
            "camera_to_reference": {n: None if T is None else np.asarray(T).round(8).tolist()
                                    for n, T in self.camera_to_reference.items()},
            "fitness": self.fitness, "inlier_rmse": self.inlier_rmse, "view_ok": self.view_ok,
            "global_registration": self.global_registration,
            "world_from_reference": None if self.world_from_reference is None
            else np.asarray(self.world_from_reference).round(8).tolist(),
            "num_points": self.num_points, "ok": self.ok, "fused": self.fused, "status": self.status, "ply": f"frames/{self.index:06d}.ply",
            "person_ply": f"person/{self.index:06d}.ply" if self.person_points else None,
            "person_points": self.person_points, "method": self.method,
            "joint_error_m": {n: None if e is None else round(float(e), 5) for n, e in self.joint_error.items()},
            "visibility": {n: round(float(v), 4) for n, v in self.visibility.items()}, "reason": self.reason,
        }

    @classmethod
    def from_json(cls, d, where, position: int = 0) -> "FrameRecord":
        context = f"frames[{position}]"
        if not isinstance(d, dict):
            raise InputError(where, f"{context} is not an object")
        c2r = json_field(d, "camera_to_reference", "dict", where, context)
        wfr = json_field(d, "world_from_reference", "list?", where, context, default=None)

        def per_view(key: str, kind: str) -> dict:
            return _names_to(kind, json_field(d, key, "dict", where, context, default={}), where, f"{context}.{key}")

        return cls(
            index=json_field(d, "index", "int", where, context, default=position),
            time=json_field(d, "time", "number", where, context),
            frames=per_view("frames", "int"),
            camera_to_reference={n: None if m is None else _matrix(m, where, f"{context}.camera_to_reference.{n}")
                                 for n, m in c2r.items()},
            fitness=per_view("fitness", "number"), inlier_rmse=per_view("inlier_rmse", "number"),
            view_ok=per_view("view_ok", "bool"), global_registration=per_view("global_registration", "bool"),
            world_from_reference=None if wfr is None else _matrix(wfr, where, f"{context}.world_from_reference"),
            num_points=json_field(d, "num_points", "int", where, context, default=0),
            ok=json_field(d, "ok", "bool", where, context, default=True),
            method=per_view("method", "str"), joint_error=per_view("joint_error_m", "number?"),
            visibility=per_view("visibility", "number"), reason=per_view("reason", "str?"),
            person_points=json_field(d, "person_points", "int", where, context, default=0),
            fused=json_field(d, "fused", "bool?", where, context, default=None))


@dataclass
class RegisteredVideo:
    """A video of the registration: its name, path (None when not recorded) and intrinsics."""

    name: str
    path: str | None
    intrinsics: Intrinsics | None

    def to_json(self) -> dict:
        return {"name": self.name, "path": self.path,
                "intrinsics": None if self.intrinsics is None else self.intrinsics.to_json()}

    @classmethod
    def from_json(cls, d, where, position: int = 0) -> "RegisteredVideo":
        context = f"videos[{position}]"
        if not isinstance(d, dict):
            raise InputError(where, f"{context} is not an object")
        intr = json_field(d, "intrinsics", "dict?", where, context, default=None)
        return cls(json_field(d, "name", "str", where, context), json_field(d, "path", "str?", where, context,
                                                                          default=None),
                   None if intr is None else Intrinsics.from_json(intr, where, f"{context}.intrinsics"))


@dataclass
class Registration:
    """What ``registration.json`` holds; ``frames`` in the order fuse processed the instants."""

    reference: str
    videos: list[RegisteredVideo]
    frames: list[FrameRecord]
    depth: str = ""
    sync: str | None = None                        # absolute path of the sync.json fused
    config: dict = field(default_factory=dict)     # fuse settings that shaped the result (informative)
    fused_points: int = 0

    @property
    def num_ok(self) -> int:
        return sum(f.ok for f in self.frames)

    @property
    def num_fused(self) -> int:
        return sum(bool(f.fused) for f in self.frames)

    @property
    def intrinsics(self) -> dict[str, Intrinsics]:
        return {v.name: v.intrinsics for v in self.videos if v.intrinsics is not None}

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "version": VERSION, "sync": self.sync, "reference": self.reference,
                "depth": self.depth, "videos": [v.to_json() for v in self.videos], "config": self.config,
                "frames": [f.to_json() for f in self.frames], "num_ok": self.num_ok,
                "num_fused": self.num_fused,
                "fused_points": int(self.fused_points)}

    def save(self, path: str | os.PathLike) -> Path:
        """Write registration.json atomically."""
        return write_json(path, self.to_json())

    @classmethod
    def from_json(cls, data, where="registration.json") -> "Registration":
        data = check_schema(data, where, SCHEMA)
        videos = [RegisteredVideo.from_json(v, where, k)
                  for k, v in enumerate(json_field(data, "videos", "list", where, default=[]))]
        frames = [FrameRecord.from_json(f, where, k) for k, f in enumerate(json_field(data, "frames", "list", where))]
        return cls(reference=json_field(data, "reference", "str", where), videos=videos, frames=frames,
                   depth=json_field(data, "depth", "str", where, default=""),
                   sync=json_field(data, "sync", "str?", where, default=None),
                   config=json_field(data, "config", "dict", where, default={}),
                   fused_points=json_field(data, "fused_points", "int", where, default=0))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Registration":
        """Read registration.json; a missing file, bad JSON, another schema or a malformed field is an InputError."""
        path = Path(path)
        return cls.from_json(read_schema_json(path, SCHEMA), path)
