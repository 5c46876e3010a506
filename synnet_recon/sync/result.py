"""``sync.json``: what ``align`` found, as dataclasses with their one writer and one reader.

``SyncResult.save(path)`` writes sync.json (schema ``synnet-recon/sync`` v2, docs/formats.md) and,
for inputs whose keypoints are not already in a file (videos, in-memory tracks), the tracks align
computed as ``<stem>_keypoints/<name>.npz`` beside it (``keypoints.write_tracks``); each video entry
names where its keypoints are, relative to sync.json. ``SyncResult.load(path)`` reads it back
(version 1 too), checking every field: a bad file is one InputError naming it and the problem.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..fileio import check_schema, json_field, read_schema_json, write_json
from ..schemas import SYNC, SYNC_VERSION

SCHEMA, VERSION = SYNC, SYNC_VERSION
KINDS = ("video", "keypoints")


@dataclass
class VideoSync:
    """One input in the result. ``times`` (T,) seconds of its frames on its own clock, first = 0
    (None when read from sync.json, which keeps only the ``frames`` table).

    keypoints: where the input's keypoints are, as written in sync.json (relative to it, or
    absolute): an OpenPose folder, or a ``.npz`` of ``keypoints.write_tracks``; None when unknown.
    tracks: the keypoint tracks align used (main person first), in memory; ``save`` writes them.
    """

    name: str
    path: str | None
    kind: str
    fps: float
    num_frames: int
    offset_seconds: float | None
    offset_frames: float | None
    confidence: float
    times: np.ndarray = field(repr=False, default=None)
    keypoints: str | None = None
    tracks: list = field(repr=False, default=None)

    def to_json(self) -> dict:
        return {"name": self.name, "path": self.path, "kind": self.kind, "fps": float(self.fps),
                "num_frames": int(self.num_frames),
                "offset_seconds": None if self.offset_seconds is None else float(self.offset_seconds),
                "offset_frames": None if self.offset_frames is None else float(self.offset_frames),
                "confidence": float(self.confidence), "keypoints": self.keypoints}

    @classmethod
    def from_json(cls, d, where, context: str = "video") -> "VideoSync":
        if not isinstance(d, dict):
            raise InputError(where, f"{context} is not an object")
        kind = json_field(d, "kind", "str", where, context, default="video")
        if kind not in KINDS:
            raise InputError(where, f"{context}.kind is {kind!r}, expected one of {', '.join(KINDS)}")
        num_frames = json_field(d, "num_frames", "int", where, context)
        fps = json_field(d, "fps", "number", where, context)
        if num_frames < 0 or fps <= 0:
            raise InputError(where, f"{context}: num_frames must be >= 0 and fps > 0")
        return cls(json_field(d, "name", "str", where, context), json_field(d, "path", "str?", where, context),
                   kind, fps, num_frames,
                   json_field(d, "offset_seconds", "number?", where, context),
                   json_field(d, "offset_frames", "number?", where, context, default=None),
                   json_field(d, "confidence", "number", where, context),
                   keypoints=json_field(d, "keypoints", "str?", where, context, default=None))


@dataclass
class PairSync:
    """Offset of input ``b`` relative to ``a`` (b's first frame on a's clock), with evidence.

    curve_offsets: (K,) seconds and curve_scores: (K,) the coarse score curve (for plots);
    features: the confidence features; drift_ppm: fitted clock-rate difference (NaN: not fitted).
    cues: the cues that ran (``sync.evidence.CUES``); reason: why there is no offset, or why the
    pair is flagged; loops: {"checked": n, "closed": m} loops of three inputs it is in;
    cue_curves: {cue: (K,) z-score against chance} over curve_offsets (plots).
    Only a, b, offset_seconds, confidence, method, inlier, cues, loops, reason and verify go to sync.json.
    """

    a: str
    b: str
    offset_seconds: float | None
    confidence: float
    method: str
    inlier: bool = True
    stderr: float = float("inf")
    residual_seconds: float = 0.0
    features: dict = field(default_factory=dict)
    drift_ppm: float = float("nan")
    drift_significant: bool = False
    subjects: int = 1
    curve_offsets: np.ndarray = field(repr=False, default=None)
    curve_scores: np.ndarray = field(repr=False, default=None)
    baseline_offsets: dict = field(default_factory=dict)
    cues: tuple = ()
    reason: str | None = None
    loops: dict = field(default_factory=dict)
    cue_curves: dict = field(repr=False, default_factory=dict)
    # several people: the distinct answers of the people matched across a and b, most confident
    # first, as (offset_seconds, confidence, stderr, people); align chooses among them by loops
    options: list = field(repr=False, default_factory=list)
    # the independent check of the answer (sync/verify.py): {"status", "people", "ratio", "margin",
    # "best_offset_seconds"}; one per option in option_checks (and why it was lowered)
    verify: dict = field(default_factory=dict)
    option_checks: list = field(repr=False, default_factory=list)
    option_reasons: list = field(repr=False, default_factory=list)
    # the people of a and b matched one-to-one at each option ([(track of a, track of b)], verify.people_at)
    option_people: list = field(repr=False, default_factory=list)
    # (offset_seconds, group standard error in analysis frames) of the people's estimates whose
    # confidence the joint-group check capped (``sync.pair.group_check``)
    group_capped: list = field(repr=False, default_factory=list)

    def to_json(self) -> dict:
        out = {"a": self.a, "b": self.b,
               "offset_seconds": None if self.offset_seconds is None else float(self.offset_seconds),
               "confidence": float(self.confidence), "method": self.method, "inlier": bool(self.inlier),
               "cues": list(self.cues)}
        if self.loops:
            out["loops"] = {k: int(v) for k, v in self.loops.items()}
        if self.reason:
            out["reason"] = self.reason
        if self.verify:
            out["verify"] = dict(self.verify)
        return out

    @classmethod
    def from_json(cls, d, where, context: str = "pair") -> "PairSync":
        if not isinstance(d, dict):
            raise InputError(where, f"{context} is not an object")
        return cls(json_field(d, "a", "str", where, context), json_field(d, "b", "str", where, context),
                   json_field(d, "offset_seconds", "number?", where, context),
                   json_field(d, "confidence", "number", where, context),
                   json_field(d, "method", "str", where, context),
                   json_field(d, "inlier", "bool", where, context, default=True),
                   cues=tuple(json_field(d, "cues", "list", where, context, default=[])),
                   reason=json_field(d, "reason", "str?", where, context, default=None),
                   loops=json_field(d, "loops", "dict", where, context, default={}),
                   verify=json_field(d, "verify", "dict", where, context, default={}))


def _frame_row(row, where, context: str, names: set[str]) -> dict:
    """One row of the ``frames`` table, checked: {"time", "frames": {name: int}, "residual_seconds"}."""
    if not isinstance(row, dict):
        raise InputError(where, f"{context} is not an object")
    time = json_field(row, "time", "number", where, context)
    frames = json_field(row, "frames", "dict", where, context)
    resid = json_field(row, "residual_seconds", "dict", where, context, default={})
    for n in list(frames) + list(resid):
        if n not in names:
            raise InputError(where, f"{context} names unknown video {n!r}")
    out = {"time": time,
           "frames": {n: json_field(frames, n, "int", where, f"{context}.frames") for n in frames},
           "residual_seconds": {n: json_field(resid, n, "number", where, f"{context}.residual_seconds")
                                for n in resid}}
    if any(i < 0 for i in out["frames"].values()):
        raise InputError(where, f"{context}.frames has a negative frame index")
    return out


@dataclass
class SyncResult:
    """Offsets of every input on the reference clock (docs/formats.md, ``sync.json``).

    source: the sync.json it was read from (relative paths in it are resolved against its folder);
    frame_rows: the ``frames`` table as read (used when the videos' ``times`` are unknown).
    """

    reference: str
    videos: list[VideoSync]
    pairs: list[PairSync]
    warnings: list[str] = field(default_factory=list)
    source: Path | None = field(default=None, repr=False)
    frame_rows: list[dict] | None = field(default=None, repr=False)

    @property
    def offsets(self) -> dict[str, float | None]:
        return {v.name: v.offset_seconds for v in self.videos}

    def video(self, name: str) -> VideoSync:
        for v in self.videos:
            if v.name == name:
                return v
        raise KeyError(name)

    def cues(self) -> str:
        """What ran, from the result itself: the pose backend of video inputs (when their tracks are
        in memory) and each pair method with its count, e.g. ``pose mediapipe; synnet+epipolar (3
        pairs)``, ending ``; SynNet did not run`` when no pair used it."""
        from collections import Counter

        backends = sorted({str(t.meta.get("backend")) for v in self.videos if v.kind == "video" and v.tracks
                           for t in v.tracks[:1] if t.meta.get("backend")})
        methods = Counter(p.method for p in self.pairs)
        parts = [f"pose {', '.join(backends)}"] if backends else []
        parts.append(", ".join(f"{m} ({n} pair{'s' if n != 1 else ''})" for m, n in sorted(methods.items()))
                     or "no pairs")
        text = "; ".join(parts)
        return text if any("synnet" in m for m in methods) else text + "; SynNet did not run"

    @property
    def base(self) -> Path:
        """The folder relative paths of sync.json are resolved against (cwd for an unsaved result)."""
        return self.source.resolve().parent if self.source is not None else Path.cwd()

    def resolve(self, path: str | None) -> Path | None:
        """A path as written in sync.json -> a usable path (relative ones against ``base``)."""
        if path is None:
            return None
        p = Path(path)
        return p if p.is_absolute() else self.base / p

    def keypoints_path(self, name: str) -> Path | None:
        """Where video ``name``'s keypoints are (an OpenPose folder or a tracks .npz), or None."""
        return self.resolve(self.video(name).keypoints)

    def frames_table(self) -> list[dict]:
        """For each reference frame: nearest frame of every video covering that instant, and residual."""
        if self.frame_rows is not None and any(v.times is None for v in self.videos):
            return self.frame_rows
        ref = self.video(self.reference)
        rows = []
        others = [v for v in self.videos if v.offset_seconds is not None]
        for i, t in enumerate(ref.times):
            frames, resid = {}, {}
            for v in others:
                if v.name == ref.name:
                    frames[v.name], resid[v.name] = i, 0.0
                    continue
                local = t - v.offset_seconds
                half = 0.5 / v.fps if v.fps > 0 else 0.0
                if local < v.times[0] - half or local > v.times[-1] + half:
                    continue
                j = int(np.searchsorted(v.times, local))
                cands = [k for k in (j - 1, j) if 0 <= k < len(v.times)]
                k = min(cands, key=lambda c: abs(v.times[c] - local))
                frames[v.name] = k
                resid[v.name] = round(float(abs(v.times[k] - local)), 9)
            rows.append({"time": round(float(t), 9), "frames": frames, "residual_seconds": resid})
        return rows

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "version": VERSION, "reference": self.reference,
                "videos": [v.to_json() for v in self.videos],
                "pairs": [p.to_json() for p in self.pairs],
                "frames": self.frames_table()}

    def save(self, path) -> Path:
        """Write the keypoint tracks held in memory (see the module docstring), then sync.json,
        atomically; the videos' ``keypoints`` then name those files."""
        from ..keypoints import write_tracks

        path = Path(path)
        folder = f"{path.stem}_keypoints"
        for v in self.videos:
            if v.tracks:
                write_tracks(path.parent / folder / f"{v.name}.npz", v.tracks)
                v.keypoints = f"{folder}/{v.name}.npz"
        written = write_json(path, self.to_json())
        self.source = path
        return written

    @classmethod
    def from_json(cls, data, where="sync.json", source: Path | None = None) -> "SyncResult":
        """A parsed sync.json (version 1 or 2) -> SyncResult; InputError naming ``where`` when malformed."""
        data = check_schema(data, where, SCHEMA)
        videos_json = json_field(data, "videos", "list", where)
        if not videos_json:
            raise InputError(where, "sync.json has no videos")
        videos = [VideoSync.from_json(v, where, f"videos[{k}]") for k, v in enumerate(videos_json)]
        names = [v.name for v in videos]
        if len(set(names)) != len(names):
            raise InputError(where, f"video names are not unique: {', '.join(names)}")
        reference = json_field(data, "reference", "str", where)
        if reference not in names:
            raise InputError(where, f"reference {reference!r} is not one of the videos ({', '.join(names)})")
        pairs = [PairSync.from_json(p, where, f"pairs[{k}]")
                 for k, p in enumerate(json_field(data, "pairs", "list", where, default=[]))]
        for k, p in enumerate(pairs):
            if p.a not in names or p.b not in names:
                raise InputError(where, f"pairs[{k}] names a video that is not in videos")
        rows = [_frame_row(r, where, f"frames[{k}]", set(names))
                for k, r in enumerate(json_field(data, "frames", "list", where))]
        return cls(reference, videos, pairs, source=source, frame_rows=rows)

    @classmethod
    def from_truth(cls, truth: dict, root: str | Path) -> "SyncResult":
        """The true offsets of a simulated scene (a ``truth.json`` dict, read by
        ``synth.scene.read_truth``, whose files lie under ``root``) as a result at confidence 1:
        what ``fuse`` and the exporters get from a perfect ``align``. Paths stay absolute."""
        root = Path(root)
        cams = truth["cameras"]
        ref_fps = next(c["fps"] for c in cams if c["name"] == truth["reference"])

        def path(c, key):
            return str(root / c[key]) if c.get(key) else None

        videos = [VideoSync(c["name"], path(c, "video"), "video", c["fps"], c["num_frames"],
                            c["offset_seconds"], c["offset_seconds"] * ref_fps, 1.0,
                            times=np.arange(c["num_frames"]) / c["fps"], keypoints=path(c, "keypoints"))
                  for c in cams]
        return cls(truth["reference"], videos, [])

    @classmethod
    def load(cls, path) -> "SyncResult":
        """Read sync.json; a missing file, bad JSON, another schema or a malformed field is an InputError."""
        path = Path(path)
        return cls.from_json(read_schema_json(path, SCHEMA), path, source=path)
