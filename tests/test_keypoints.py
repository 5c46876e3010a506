"""Keypoint tracks files (keypoints.write_tracks / read_tracks / load_tracks): round trips, frame
lookup, bad files and fuzzing."""
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synnet_recon.errors import InputError
from synnet_recon.io import load_tracks
from synnet_recon.io.openpose import write_openpose_folder
from synnet_recon.keypoints import Keypoints, read_tracks, write_tracks


def _tracks(n=6, people=2, first=3, seed=0) -> list[Keypoints]:
    rng = np.random.default_rng(seed)
    out = []
    for p in range(people):
        xy = rng.uniform(0, 200, (n, 18, 2)).astype(np.float32)
        conf = rng.uniform(0, 1, (n, 18)).astype(np.float32)
        xy[conf < 0.3], conf[conf < 0.3] = np.nan, 0
        out.append(Keypoints(xy, conf, np.arange(n) / 25.0, (640, 360), "cam", {"frames": first + np.arange(n),
                                                                            "track": p, "backend": "mediapipe"}))
    return out


@settings(max_examples=30)
@given(n=st.integers(1, 20), people=st.integers(1, 3), first=st.integers(0, 10_000))
def test_write_read_round_trip(n, people, first):
    tracks = _tracks(n, people, first)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_tracks(Path(tmp) / "k.npz", tracks)
        back = read_tracks(path)
    assert len(back) == people
    for a, b in zip(tracks, back):
        np.testing.assert_array_equal(a.xy, b.xy)
        np.testing.assert_array_equal(a.conf, b.conf)
        np.testing.assert_array_equal(a.times, b.times)
        np.testing.assert_array_equal(b.frame_indices, first + np.arange(n))
        assert b.image_size == (640, 360) and b.name == "cam" and b.meta["track"] == a.meta["track"]


def test_at_frame_and_openpose_folders_read_alike(tmp_path):
    tracks = _tracks(n=5, people=1, first=0)
    write_tracks(tmp_path / "k.npz", tracks)
    write_openpose_folder(tmp_path / "op", tracks[0])
    a, b = load_tracks(tmp_path / "k.npz")[0], load_tracks(tmp_path / "op")[0]
    for i in range(5):
        np.testing.assert_array_equal(a.at_frame(i), b.at_frame(i))
    kp = a.at_frame(2)
    ok = tracks[0].conf[2] > 0
    assert kp.shape == (18, 3) and np.all(kp[~ok] == 0)
    np.testing.assert_array_equal(kp[ok, :2], tracks[0].xy[2][ok])
    assert a.at_frame(5) is None and a.at_frame(-1) is None


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _members(path: Path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _header(**changes) -> np.ndarray:
    h = {"schema": "synnet-recon/keypoints", "version": 1, "name": "cam", "image_size": [640, 360],
         "tracks": [{"track": 0}]}
    h.update(changes)
    return np.frombuffer(json.dumps(h).encode(), dtype=np.uint8)


BAD = {
    "missing": "keypoints file not found",
    "not a zip": "not a keypoints file",
    "no xy": "not a keypoints file: no xy",
    "schema": "expected schema 'synnet-recon/keypoints'",
    "shape": "keypoint arrays do not fit",
    "frames": "not finite, increasing integers",
    "header": "keypoints header is not valid JSON",
    "pickle": "not a keypoints file",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_keypoints_files(tmp_path, case):
    path = tmp_path / "k.npz"
    write_tracks(path, _tracks(people=1))
    m = _members(path)
    if case == "not a zip":
        path.write_bytes(b"PK\x03\x04 nope")
    elif case == "no xy":
        del m["xy"]
    elif case == "schema":
        m["header"] = _header(schema="synnet-recon/sync")
    elif case == "shape":
        m["xy"] = m["xy"][:, :, :17]
    elif case == "frames":
        m["frames"] = m["frames"][::-1].copy()
    elif case == "header":
        m["header"] = np.frombuffer(b"{nope", dtype=np.uint8)
    elif case == "pickle":
        m["xy"] = np.array([{"a": 1}], dtype=object)
    if case in ("no xy", "schema", "shape", "frames", "header"):
        path.write_bytes(_npz(**m))
    elif case == "pickle":
        buf = io.BytesIO()
        np.savez(buf, allow_pickle=True, **m)
        path.write_bytes(buf.getvalue())
    elif case == "missing":
        path.unlink()
    with pytest.raises(InputError) as exc:
        read_tracks(path)
    assert BAD[case] in str(exc.value) and str(path) in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.fuzz
@given(data=st.data())
def test_fuzz_keypoints_file(data, fuzz_check):
    """Valid files with one member replaced by an arbitrary small array, or raw / truncated bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "k.npz"
        write_tracks(path, _tracks(n=3, people=1))
        kind = data.draw(st.sampled_from(["member", "truncate", "bytes", "flip"]))
        raw = path.read_bytes()
        if kind == "member":
            m = _members(path)
            key = data.draw(st.sampled_from(sorted(m)))
            dtype = data.draw(st.sampled_from(["float32", "float64", "int64", "uint8", "bool", "U3", "complex64"]))
            shape = tuple(data.draw(st.lists(st.integers(0, 4), max_size=4)))
            values = np.asarray(data.draw(st.lists(st.floats(allow_nan=True, width=32), min_size=int(np.prod(shape)),
                                                   max_size=int(np.prod(shape))))).reshape(shape)
            with np.errstate(invalid="ignore"):
                m[key] = values.astype(dtype)
            if data.draw(st.booleans()):
                m[key + "_extra"] = m.pop(key)
            path.write_bytes(_npz(**m))
        elif kind == "truncate":
            path.write_bytes(raw[:data.draw(st.integers(0, len(raw)))])
        elif kind == "flip":
            k = data.draw(st.integers(0, len(raw) - 1))
            path.write_bytes(raw[:k] + bytes([raw[k] ^ data.draw(st.integers(1, 255))]) + raw[k + 1:])
        else:
            path.write_bytes(data.draw(st.binary(max_size=300)))
        tracks, _ = fuzz_check(read_tracks, path)
        for t in tracks or []:
            t.at_frame(int(t.frame_indices[0]) if len(t) else 0)


def test_write_tracks_needs_shared_frames(tmp_path):
    a, b = _tracks(n=4, people=2)
    with pytest.raises(ValueError):
        write_tracks(tmp_path / "k.npz", [a, b.slice(0, 3)])
    with pytest.raises(ValueError):
        write_tracks(tmp_path / "k.npz", [])
    assert not (tmp_path / "k.npz").exists()
