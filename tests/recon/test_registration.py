"""registration.json: Registration's one writer and one reader (round trips, bad files, fuzzing)."""
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synnet_recon.errors import InputError
from synnet_recon.pinhole import Intrinsics
from synnet_recon.recon.registration import FrameRecord, RegisteredVideo, Registration


def _registration(n=3, flagged=(1,)) -> Registration:
    intr = Intrinsics(320, 240, 260.0, 260.0, 159.5, 119.5)
    frames = []
    for k in range(n):
        T = np.eye(4)
        T[0, 3] = 0.5 + 0.1 * k
        ok = k not in flagged
        frames.append(FrameRecord(k, k / 30, {"cam0": k, "cam1": k + 2}, {"cam0": np.eye(4), "cam1": T},
                                  {"cam0": 1.0, "cam1": 0.7}, {"cam0": 0.0, "cam1": 0.01},
                                  {"cam0": True, "cam1": ok}, {"cam0": False, "cam1": True},
                                  np.eye(4) if ok else None, 1000 + k, ok))
    return Registration("cam0", [RegisteredVideo("cam0", "/v/cam0.mp4", intr), RegisteredVideo("cam1", None, intr)],
                        frames, depth="rgbd", sync="/s/sync.json", config={"voxel": 0.02}, fused_points=1234)


def test_save_load_round_trip(tmp_path):
    reg = _registration()
    path = reg.save(tmp_path / "registration.json")
    doc = json.loads(path.read_text())
    assert doc["schema"] == "synnet-recon/registration" and doc["version"] == 2 and doc["num_ok"] == 2
    back = Registration.load(path)
    assert back.to_json() == doc and back.num_ok == 2 and back.intrinsics["cam1"] == reg.videos[1].intrinsics
    assert set(back.frames[1].registered()) == {"cam0"} and set(back.frames[0].registered()) == {"cam0", "cam1"}
    np.testing.assert_allclose(back.frames[2].camera_to_reference["cam1"][0, 3], 0.7)


def test_a_partially_fused_instant_records_each_view():
    """The reference and the verified views fused, the flagged one left out, said per view."""
    reg = _registration()
    f = reg.frames[1]
    f.camera_to_reference["cam2"], f.view_ok["cam2"] = np.eye(4), True
    f.world_from_reference, f.fused = np.eye(4), True
    doc = reg.to_json()["frames"][1]
    assert doc["ok"] is False and doc["fused"] is True
    assert doc["status"] == {"cam0": "fused", "cam1": "flagged", "cam2": "fused"}
    back = FrameRecord.from_json(doc, "registration.json")
    assert back.fused and not back.ok and back.status == doc["status"] and reg.num_fused == 3
    f.fused, f.world_from_reference = False, None
    assert reg.to_json()["frames"][1]["status"] == {"cam0": "not fused", "cam1": "flagged", "cam2": "not fused"}


def test_a_version_1_file_reads_fused_as_ok():
    """Version 1 fused only the instants whose every view was verified (ok)."""
    doc = _registration().to_json()
    doc["version"] = 1
    for f in doc["frames"]:
        del f["fused"], f["status"]
    back = Registration.from_json(doc)
    assert [f.fused for f in back.frames] == [f.ok for f in back.frames] and back.num_fused == back.num_ok


def test_optional_fields_take_their_defaults():
    doc = {"schema": "synnet-recon/registration", "version": 1, "reference": "cam0",
           "frames": [{"time": 0.5, "frames": {"cam0": 3}, "camera_to_reference": {"cam0": np.eye(4).tolist()}}]}
    reg = Registration.from_json(doc)
    f = reg.frames[0]
    assert f.index == 0 and f.ok and f.world_from_reference is None and f.view_ok == {} and reg.videos == []
    assert set(f.registered()) == {"cam0"}


@settings(max_examples=40)
@given(n=st.integers(0, 6), flagged=st.sets(st.integers(0, 5)))
def test_from_json_round_trip(n, flagged):
    doc = _registration(n, flagged).to_json()
    assert Registration.from_json(json.loads(json.dumps(doc))).to_json() == doc


BAD = {
    "missing": "file not found",
    "schema": "expected schema 'synnet-recon/registration'",
    "matrix": "frames[0].camera_to_reference.cam1 is not a finite 4x4 matrix",
    "world": "frames[0].world_from_reference is not a finite 4x4 matrix",
    "intrinsics": "videos[0].intrinsics: width, height must be positive integers",
    "ok": "frames[2].ok is 'yes', expected true or false",
    "frames": "frames is missing",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_registration_json_is_one_line_naming_the_file(tmp_path, case):
    doc = _registration().to_json()
    if case == "schema":
        doc["schema"] = "synnet-recon/sync"
    elif case == "matrix":
        doc["frames"][0]["camera_to_reference"]["cam1"] = [[1, 0, 0], [0, 1, 0]]
    elif case == "world":
        doc["frames"][0]["world_from_reference"][1][1] = None
    elif case == "intrinsics":
        doc["videos"][0]["intrinsics"]["width"] = -3
    elif case == "ok":
        doc["frames"][2]["ok"] = "yes"
    elif case == "frames":
        del doc["frames"]
    path = tmp_path / "registration.json"
    if case != "missing":
        path.write_text(json.dumps(doc))
    with pytest.raises(InputError) as exc:
        Registration.load(path)
    assert BAD[case] in str(exc.value) and str(path) in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("reader", ["view", "export"])
def test_bad_registration_json_exits_2_with_one_line(tmp_path, capsys, reader):
    """The viewer and the exporters read registration.json through Registration.load."""
    from synnet_recon.cli import main
    from synnet_recon.sync.result import SyncResult, VideoSync

    recon = tmp_path / "recon"
    (recon / "frames").mkdir(parents=True)
    (recon / "frames" / "000000.ply").write_text("ply\n")
    doc = _registration().to_json()
    doc["frames"][0]["camera_to_reference"]["cam1"] = "eye"
    (recon / "registration.json").write_text(json.dumps(doc))
    sync = SyncResult("cam0", [VideoSync("cam0", "cam0.mp4", "video", 30.0, 3, 0.0, 0.0, 1.0)], [],
                      frame_rows=[{"time": 0.0, "frames": {"cam0": 0}, "residual_seconds": {}}])
    sync.save(tmp_path / "sync.json")
    argv = ["view", str(recon), "--screenshot", str(tmp_path / "x.png")] if reader == "view" else \
        ["export", "colmap", str(tmp_path / "sync.json"), "--recon", str(recon), "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1, err
    assert "frames[0].camera_to_reference.cam1 is not a finite 4x4 matrix" in err


@pytest.mark.fuzz
@given(data=st.data())
def test_fuzz_registration_json(data, mutations, fuzz_check):
    doc = _registration(2).to_json()
    text = json.dumps(data.draw(mutations(doc)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "registration.json"
        path.write_text(text)
        reg, _ = fuzz_check(Registration.load, path)
        if reg is not None:  # what was accepted is usable
            assert reg.num_ok >= 0 and isinstance(reg.intrinsics, dict)
            for f in reg.frames:
                f.registered()
            assert Registration.from_json(reg.to_json()).to_json() == reg.to_json()


@pytest.mark.fuzz
@given(raw=st.one_of(st.binary(max_size=200),
                     st.integers(0, 600).map(lambda k: json.dumps(_registration(1).to_json())[:k])))
def test_fuzz_registration_json_bytes(raw, fuzz_check):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "registration.json"
        path.write_bytes(raw.encode() if isinstance(raw, str) else raw)
        fuzz_check(Registration.load, path)
