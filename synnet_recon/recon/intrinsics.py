"""Pinhole intrinsics per video: read from COLMAP ``cameras.txt``, our JSON / truth.json, or
estimated with pycolmap incremental SfM on a few frames of each video."""
from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..pinhole import Intrinsics
from ..schemas import TRUTH

log = logging.getLogger(__name__)


def _from_colmap_params(model: str, width: int, height: int, p: list[float], path) -> Intrinsics:
    if model == "SIMPLE_PINHOLE":
        f, cx, cy = p[:3]
        return Intrinsics(width, height, f, f, cx, cy)
    if model == "PINHOLE":
        fx, fy, cx, cy = p[:4]
        return Intrinsics(width, height, fx, fy, cx, cy)
    if model == "SIMPLE_RADIAL":
        f, cx, cy, k = p[:4]
        return Intrinsics(width, height, f, f, cx, cy, (k, 0.0, 0.0, 0.0))
    if model == "RADIAL":
        f, cx, cy, k1, k2 = p[:5]
        return Intrinsics(width, height, f, f, cx, cy, (k1, k2, 0.0, 0.0))
    if model == "OPENCV":
        fx, fy, cx, cy, k1, k2, p1, p2 = p[:8]
        return Intrinsics(width, height, fx, fy, cx, cy, (k1, k2, p1, p2))
    raise InputError(path, f"camera model {model} is not supported (PINHOLE, SIMPLE_PINHOLE, "
                           "SIMPLE_RADIAL, RADIAL, OPENCV are)")


def read_colmap_cameras(path: str | Path) -> dict[int, Intrinsics]:
    """COLMAP ``cameras.txt``: ``CAMERA_ID MODEL WIDTH HEIGHT PARAMS...`` per line."""
    cams: dict[int, Intrinsics] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            cam_id, model, w, h = int(parts[0]), parts[1], int(parts[2]), int(parts[3])
            params = [float(x) for x in parts[4:]]
        except (ValueError, IndexError):
            raise InputError(path, f"not a COLMAP cameras.txt line: {line!r}") from None
        cams[cam_id] = _from_colmap_params(model, w, h, params, path)
    if not cams:
        raise InputError(path, "no cameras in COLMAP cameras.txt")
    return cams


def load_intrinsics(path: str | Path, names: Sequence[str]) -> dict[str, Intrinsics]:
    """Intrinsics for each video name from a file.

    - COLMAP ``cameras.txt``: one camera serves every video; several are assigned to the videos in
      order of CAMERA_ID (so list them in the order of sync.json's videos).
    - JSON ``{"<video>": {fx, fy, cx, cy, width, height}, ...}`` (one ``"*"`` entry serves all).
    - our ``truth.json`` (schema synnet-recon/truth): each camera's ``intrinsics``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "intrinsics file not found")
    if path.suffix.lower() == ".txt":
        cams = read_colmap_cameras(path)
        ordered = [cams[k] for k in sorted(cams)]
        if len(ordered) == 1:
            return {n: ordered[0] for n in names}
        if len(ordered) < len(names):
            raise InputError(path, f"{len(ordered)} cameras for {len(names)} videos")
        return dict(zip(names, ordered))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise InputError(path, "intrinsics JSON must be an object")
    if data.get("schema") == TRUTH:  # only the cameras' names and intrinsics are needed
        from ..fileio import json_field

        cams = json_field(data, "cameras", "list", path)
        if not all(isinstance(c, dict) for c in cams):
            raise InputError(path, "cameras must be objects")
        data = {json_field(c, "name", "str", path, f"cameras[{k}]"): json_field(c, "intrinsics", "dict", path,
                                                                              f"cameras[{k}]")
                for k, c in enumerate(cams)}
    out = {}
    for n in names:
        entry = data.get(n, data.get("*"))
        if entry is None:
            raise InputError(path, f"no intrinsics for video {n!r}")
        out[n] = Intrinsics.from_json(entry, path)
    return out


def estimate_intrinsics(frames: Sequence[np.ndarray], name: str = "video") -> Intrinsics:
    """Estimate one pinhole camera from a few frames of a moving camera by pycolmap incremental SfM.

    frames: (H, W, 3) uint8 RGB images of the same camera. Raises InputError when SfM fails.
    """
    import cv2
    import pycolmap

    if len(frames) < 2:
        raise InputError(name, "no intrinsics and none estimable (fewer than 2 frames)")
    h, w = frames[0].shape[:2]
    try:  # COLMAP logs every step at INFO level
        pycolmap.logging.minloglevel = max(int(pycolmap.logging.minloglevel), 2)
    except (AttributeError, TypeError, ValueError):
        pass
    with tempfile.TemporaryDirectory(prefix="synrecon-sfm-") as tmp:
        tmp = Path(tmp)
        images = tmp / "images"
        images.mkdir()
        for i, f in enumerate(frames):
            cv2.imwrite(str(images / f"{i:04d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        db = tmp / "db.db"
        reader = pycolmap.ImageReaderOptions()
        reader.camera_model = "SIMPLE_PINHOLE"
        extraction = pycolmap.FeatureExtractionOptions()
        extraction.num_threads = 2
        try:
            pycolmap.extract_features(db, images, camera_mode=pycolmap.CameraMode.SINGLE,
                                      reader_options=reader, extraction_options=extraction,
                                      device=pycolmap.Device.cpu)
            pycolmap.match_exhaustive(db, device=pycolmap.Device.cpu)
            options = pycolmap.IncrementalPipelineOptions()
            options.num_threads = 2
            recs = pycolmap.incremental_mapping(db, images, tmp / "sparse", options=options)
        except Exception as exc:  # pycolmap raises plain RuntimeErrors
            log.debug("SfM failed: %s", exc)
            recs = {}
        best = max(recs.values(), key=lambda r: r.num_reg_images(), default=None)
        if best is None or best.num_reg_images() < 2:
            raise InputError(name, "no intrinsics and none estimable (SfM registered < 2 frames)")
        cam = next(iter(best.cameras.values()))
        f = float(cam.focal_length)
        return Intrinsics(w, h, f, f, float(cam.principal_point_x), float(cam.principal_point_y))
