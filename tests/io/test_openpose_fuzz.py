"""Fuzzing the OpenPose JSON reader (io/openpose.py): broken files end in tracks or one InputError."""
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synnet_recon.io.openpose import read_openpose_folder, read_openpose_tracks


def _frame(n_numbers: int, people: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"version": 1.3, "image_size": [640, 480], "time": seed / 30.0,
            "people": [{"person_id": [p], "pose_keypoints_2d": np.round(
                np.c_[rng.uniform(0, 600, (n_numbers // 3, 2)), rng.uniform(0, 1, n_numbers // 3)], 3).ravel().tolist()}
                for p in range(people)]}


def _read_folder(folder: Path, fuzz_check) -> None:
    tracks, _ = fuzz_check(read_openpose_tracks, folder)
    for t in tracks or []:  # what was read is a usable track
        assert t.xy.shape == (len(t), 18, 2) and np.all(t.conf >= 0)
        t.at_frame(int(t.frame_indices[0]))
    fuzz_check(read_openpose_folder, folder)


@pytest.mark.fuzz
@given(data=st.data(), n_numbers=st.sampled_from([54, 75]), files=st.integers(1, 3))
def test_fuzz_openpose_json(data, n_numbers, files, mutations, fuzz_check):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cam"
        folder.mkdir()
        broken = data.draw(st.integers(0, files - 1))
        for i in range(files):
            doc = _frame(n_numbers, data.draw(st.integers(0, 2)), i)
            if i == broken:
                doc = data.draw(mutations(doc))
            (folder / f"cam_{i:012d}_keypoints.json").write_text(json.dumps(doc))
        _read_folder(folder, fuzz_check)


@pytest.mark.fuzz
@given(raw=st.binary(max_size=200), name=st.sampled_from(["cam_000000000000_keypoints.json", "a.json", "x_7_9.json",
                                                           "nonumber_keypoints.json"]))
def test_fuzz_openpose_bytes_and_names(raw, name, fuzz_check):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / name).write_bytes(raw)
        (folder / "cam_000000000003_keypoints.json").write_text(json.dumps(_frame(54, 1, 3)))
        _read_folder(folder, fuzz_check)
