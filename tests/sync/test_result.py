"""sync.json: SyncResult's one writer and one reader (round trips, bad files, fuzzing)."""
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synnet_recon.errors import InputError
from synnet_recon.io import load_tracks
from synnet_recon.keypoints import Keypoints
from synnet_recon.sync.result import PairSync, SyncResult, VideoSync


def _result(offsets=(0.0, 0.25, None), n=12, fps=10.0, with_tracks=True) -> SyncResult:
    videos = []
    rng = np.random.default_rng(1)
    for k, off in enumerate(offsets):
        xy = rng.uniform(0, 300, (n, 18, 2)).astype(np.float32)
        conf = rng.uniform(0, 1, (n, 18)).astype(np.float32)
        xy[conf < 0.2] = np.nan
        conf[conf < 0.2] = 0
        track = Keypoints(xy, conf, np.arange(n) / fps, (320, 240), f"cam{k}", {"frames": np.arange(n), "track": 0})
        videos.append(VideoSync(f"cam{k}", f"videos/cam{k}.mp4", "video", fps, n, off,
                                None if off is None else off * fps, 1.0 if k == 0 else 0.8, np.arange(n) / fps,
                                tracks=[track] if with_tracks else None))
    pairs = [PairSync("cam0", v.name, v.offset_seconds, 0.8 if v.offset_seconds is not None else 0.0, "epipolar",
                      v.offset_seconds is not None) for v in videos[1:]]
    return SyncResult("cam0", videos, pairs)


def test_save_load_round_trip_with_keypoints(tmp_path):
    res = _result()
    path = res.save(tmp_path / "sync.json")
    doc = json.loads(path.read_text())
    assert doc["schema"] == "synnet-recon/sync" and doc["version"] == 2
    assert [v["keypoints"] for v in doc["videos"]] == [f"sync_keypoints/cam{k}.npz" for k in range(3)]
    back = SyncResult.load(path)
    assert back.to_json() == doc
    assert back.reference == "cam0" and back.offsets == {"cam0": 0.0, "cam1": 0.25, "cam2": None}
    assert back.resolve("videos/cam1.mp4") == tmp_path.resolve() / "videos" / "cam1.mp4"
    tracks = load_tracks(back.keypoints_path("cam1"))
    assert len(tracks) == 1
    np.testing.assert_array_equal(tracks[0].xy, res.videos[1].tracks[0].xy)
    np.testing.assert_array_equal(tracks[0].conf, res.videos[1].tracks[0].conf)
    assert tracks[0].image_size == (320, 240)
    # deterministic bytes: saving again gives the same files
    before = {p.name: p.read_bytes() for p in (tmp_path / "sync_keypoints").iterdir()}
    res.save(tmp_path / "sync.json")
    assert {p.name: p.read_bytes() for p in (tmp_path / "sync_keypoints").iterdir()} == before


def test_version_1_files_are_read(tmp_path):
    doc = _result(with_tracks=False).to_json()
    doc["version"] = 1
    for v in doc["videos"]:
        del v["keypoints"]
    (tmp_path / "sync.json").write_text(json.dumps(doc))
    back = SyncResult.load(tmp_path / "sync.json")
    assert back.keypoints_path("cam0") is None and len(back.frames_table()) == 12


@settings(max_examples=40)
@given(offsets=st.lists(st.one_of(st.none(), st.floats(-5, 5)), min_size=1, max_size=4),
       n=st.integers(1, 30), fps=st.floats(1, 120))
def test_from_json_round_trip(offsets, n, fps):
    res = _result([0.0] + offsets, n=n, fps=fps, with_tracks=False)
    doc = res.to_json()
    back = SyncResult.from_json(json.loads(json.dumps(doc)))
    assert back.to_json() == doc


def _broken(tmp_path: Path, case: str) -> Path:
    doc = _result(with_tracks=False).to_json()
    path = tmp_path / "sync.json"
    if case == "missing":
        return tmp_path / "nothing.json"
    if case == "not json":
        path.write_text("{\"schema\": ")
        return path
    if case == "schema":
        doc["schema"] = "synnet-recon/other"
    elif case == "version":
        doc["version"] = 3
    elif case == "fps":
        doc["videos"][1]["fps"] = "x"
    elif case == "unknown video":
        doc["frames"][0]["frames"]["cam9"] = 0
    elif case == "reference":
        doc["reference"] = "nobody"
    elif case == "duplicate":
        doc["videos"][2]["name"] = "cam1"
    elif case == "nan offset":
        doc["videos"][1]["offset_seconds"] = float("nan")
    elif case == "frames":
        doc["frames"] = {"0": 1}
    path.write_text(json.dumps(doc))
    return path


BAD = {
    "missing": "file not found",
    "not json": "not valid JSON",
    "schema": "expected schema 'synnet-recon/sync'",
    "version": "version 3 of synnet-recon/sync is not supported (expected 1 or 2)",
    "fps": "videos[1].fps is 'x', expected a number",
    "unknown video": "frames[0] names unknown video 'cam9'",
    "reference": "reference 'nobody' is not one of the videos",
    "duplicate": "video names are not unique",
    "nan offset": "videos[1].offset_seconds is nan, expected a finite number",
    "frames": "frames is {'0': 1}, expected a list",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_sync_json_is_one_line_naming_the_file(tmp_path, case):
    path = _broken(tmp_path, case)
    with pytest.raises(InputError) as exc:
        SyncResult.load(path)
    assert BAD[case] in str(exc.value) and str(path) in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("command", ["fuse", "export"])
@pytest.mark.parametrize("case", ["not json", "fps", "unknown video"])
def test_bad_sync_json_exits_2_with_one_line(tmp_path, capsys, command, case):
    from synnet_recon.cli import main

    path = _broken(tmp_path, case)
    argv = ["fuse", str(path), "--out", str(tmp_path / "out"), "--quiet"] if command == "fuse" else \
        ["export", "colmap", str(path), "--recon", str(tmp_path), "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and err.startswith("synrecon: error:"), err
    assert BAD[case] in err and not (tmp_path / "out").exists()


def _check_loaded(res: SyncResult) -> None:
    """A sync.json the reader accepted is usable: its table, paths and a faithful round trip."""
    res.frames_table()
    for v in res.videos:
        res.resolve(v.path)
        res.keypoints_path(v.name)
    assert SyncResult.from_json(res.to_json()).to_json() == res.to_json()


@pytest.mark.fuzz
@given(data=st.data())
def test_fuzz_sync_json(data, mutations, fuzz_check):
    doc = _result(with_tracks=False).to_json()
    doc["frames"] = doc["frames"][:3]
    text = json.dumps(data.draw(mutations(doc)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sync.json"
        path.write_text(text)
        res, _ = fuzz_check(SyncResult.load, path)
        if res is not None:
            _check_loaded(res)


@pytest.mark.fuzz
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200),
                     st.integers(0, 400).map(lambda k: json.dumps(_result(with_tracks=False).to_json())[:k])))
def test_fuzz_sync_json_bytes(raw, fuzz_check):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sync.json"
        path.write_bytes(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
        fuzz_check(SyncResult.load, path)


def test_from_truth_pairs_each_instant_with_the_true_frames(tmp_path):
    """A simulated scene's true offsets as a sync result: at reference time t every camera's frame
    is the one nearest to t - offset on its own clock, and the keypoints are the scene's."""
    from synnet_recon.synth.scene import SceneConfig, read_truth, simulate_scene, write_scene

    write_scene(simulate_scene(SceneConfig(cameras=3, seconds=1.0, fps=10, seed=3, max_offset=0.25)), tmp_path)
    truth = read_truth(tmp_path / "truth.json")
    result = SyncResult.from_truth(truth, tmp_path)
    saved = SyncResult.load(result.save(tmp_path / "sync.json"))
    assert saved.offsets == {c["name"]: c["offset_seconds"] for c in truth["cameras"]}
    for cam in truth["cameras"]:
        assert saved.keypoints_path(cam["name"]) == tmp_path / cam["keypoints"]
    checked = 0
    for row in saved.frames_table():
        for cam in truth["cameras"]:
            local = row["time"] - cam["offset_seconds"]
            if cam["name"] in row["frames"]:
                assert abs(row["frames"][cam["name"]] / cam["fps"] - local) <= 0.5 / cam["fps"] + 1e-9
                checked += 1
            else:
                assert not 0 <= round(local * cam["fps"]) < cam["num_frames"]
    assert checked >= 2 * len(saved.frames_table())
