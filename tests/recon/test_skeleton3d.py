"""Tests of synnet_recon.recon.skeleton3d: skeleton3d.json round trip and bad files."""
from __future__ import annotations

import json

import numpy as np
import pytest

from synnet_recon.errors import InputError
from synnet_recon.recon.skeleton3d import Skeleton3D, read_skeleton3d, to_dict, write_skeleton3d


def make_skeleton(rng, T: int = 3, extras: bool = True) -> Skeleton3D:
    joints = rng.normal(0.0, 0.5, (T, 18, 3)) + [0.0, 0.0, 3.0]
    joints[:1, 4] = np.nan
    conf = rng.uniform(0.2, 1.0, (T, 18))
    return Skeleton3D(reference="cam0", joints=joints, confidence=conf, times=np.arange(T) / 30.0,
                      frames=[{"cam0": t, "cam1": t + 7} for t in range(T)], fps=30.0,
                      reprojection_px=rng.uniform(0, 5, (T, 18)) if extras else None,
                      views=[[["cam0", "cam1"]] * 18] * T if extras else None, meta={"seed": 0})


@pytest.mark.parametrize("extras", [True, False])
@pytest.mark.parametrize("T", [0, 1, 4])
def test_round_trip(tmp_path, rng, T, extras):
    sk = make_skeleton(rng, T, extras)
    path = write_skeleton3d(tmp_path / "out" / "skeleton3d.json", sk)
    back = read_skeleton3d(path)
    assert back.reference == "cam0" and back.fps == 30.0 and back.method == "triangulate"
    np.testing.assert_allclose(back.joints, sk.joints, atol=1e-5, equal_nan=True)
    np.testing.assert_allclose(back.confidence, sk.confidence, atol=1e-4)
    np.testing.assert_allclose(back.times, sk.times, atol=1e-6)
    assert back.frames == sk.frames
    if extras and T:
        np.testing.assert_allclose(back.reprojection_px, sk.reprojection_px, atol=1e-3)
        assert back.views == sk.views
    if T:
        assert back.confidence[0, 4] == 0 and not back.known[0, 4]
        data = json.loads(path.read_text())
        assert data["instants"][0]["joints"][4] is None and data["instants"][0]["confidence"][4] is None
    assert not list(tmp_path.glob("out/.*"))  # no temporary file left


def _corrupt(doc: dict, what: str) -> dict:
    row = doc["instants"][0]
    if what == "schema":
        doc["schema"] = "synnet-recon/sync"
    elif what == "version":
        doc["version"] = 99
    elif what == "units":
        doc["units"] = "mm"
    elif what == "joint_count":
        row["joints"] = row["joints"][:17]
    elif what == "joint_nan":
        row["joints"][0] = [0.0, "x", 1.0]
    elif what == "confidence_range":
        row["confidence"][1] = 1.5
    elif what == "frames":
        row["frames"] = {"cam0": -1}
    elif what == "instants":
        doc["instants"] = {"0": row}
    elif what == "reference":
        doc["reference"] = ""
    elif what == "joint_names":
        doc["joint_names"] = doc["joint_names"][::-1]
    return doc


@pytest.mark.parametrize("what", ["schema", "version", "units", "joint_count", "joint_nan", "confidence_range",
                                  "frames", "instants", "reference", "joint_names"])
def test_bad_file_is_one_line_input_error(tmp_path, rng, what):
    path = tmp_path / "skeleton3d.json"
    path.write_text(json.dumps(_corrupt(to_dict(make_skeleton(rng)), what)))
    with pytest.raises(InputError) as exc:
        read_skeleton3d(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("content", [None, "{not json", "[1, 2]"])
def test_missing_or_not_json(tmp_path, content):
    path = tmp_path / "skeleton3d.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match="skeleton3d.json"):
        read_skeleton3d(path)
