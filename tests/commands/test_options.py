"""Fuzzing the CLI option parsing: NAME=VALUE pairs, --frames ranges and whole `synrecon` command
lines with arbitrary option values end in a result or exit status 2 with one line, never a traceback."""
import io
import json
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synnet_recon.commands import parse_pairs
from synnet_recon.recon.fuse import parse_range

# argv cannot hold NUL bytes (C strings) nor lone surrogates from a shell
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
_NUMBERS = st.sampled_from(["0", "-1", "1e400", "nan", "inf", "-inf", "0.02", "3", "x", "", " ", "1,5", "0x10"])


@pytest.mark.fuzz
@given(values=st.lists(_TEXT | st.builds(lambda a, b: f"{a}={b}", _TEXT, _TEXT), max_size=4))
def test_fuzz_parse_pairs(values, fuzz_check):
    pairs, error = fuzz_check(parse_pairs, values, "--depth-dir")
    if error is None:
        assert all(k and v and "=" not in k for k, v in pairs.items())
        assert set(pairs) == {v.partition("=")[0] for v in values}


@pytest.mark.fuzz
@given(spec=st.one_of(st.none(), _TEXT, st.lists(st.one_of(_NUMBERS, st.integers(-10**20, 10**20).map(str)),
                                                max_size=4).map(":".join)),
       n=st.integers(0, 50))
def test_fuzz_frames_range(spec, n, fuzz_check):
    rows, error = fuzz_check(parse_range, spec, n)
    if error is None:
        assert set(rows) <= set(range(n)) and rows == sorted(set(rows), key=rows.index)


def _sync(folder: Path) -> Path:
    """A valid sync.json whose two videos do not exist: fuse and export fail at once, after parsing."""
    videos = [{"name": n, "path": f"{n}.mp4", "kind": "video", "fps": 30.0, "num_frames": 3, "offset_seconds": 0.0,
               "offset_frames": 0.0, "confidence": 1.0, "keypoints": None} for n in ("cam0", "cam1")]
    rows = [{"time": i / 30, "frames": {"cam0": i, "cam1": i}, "residual_seconds": {}} for i in range(3)]
    path = folder / "sync.json"
    path.write_text(json.dumps({"schema": "synnet-recon/sync", "version": 2, "reference": "cam0",
                                "videos": videos, "pairs": [], "frames": rows}))
    return path


_OPTIONS = {
    "fuse": ["--frames", "--voxel", "--registration-voxel", "--depth", "--depth-dir", "--keypoints", "--scale",
             "--intrinsics", "--mono-model"],
    "export": ["--every", "--max-points", "--depth-dir", "--option", "--image-format", "--intrinsics"],
    "align": ["--fps", "--max-offset", "--reference", "--device", "--checkpoint"],
}


@pytest.mark.fuzz
@given(command=st.sampled_from(sorted(_OPTIONS)), data=st.data())
def test_fuzz_command_lines(command, data):
    from synnet_recon.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sync = _sync(tmp)
        argv = {"fuse": ["fuse", str(sync), "--out", str(tmp / "out"), "--quiet"],
                "export": ["export", data.draw(st.sampled_from(["colmap", "nerfstudio", "nope"])), str(sync),
                           "--out", str(tmp / "out")],
                "align": ["align", str(tmp / "a.mp4"), str(tmp / "b"), "--out", str(tmp / "s.json"), "--quiet"]}[command]
        for option in data.draw(st.lists(st.sampled_from(_OPTIONS[command]), max_size=4)):
            argv += [option, data.draw(_NUMBERS | _TEXT | st.builds(lambda a, b: f"{a}={b}", _TEXT, _TEXT))]
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as exc:
            main(argv)
        err = err.getvalue().strip()
        assert exc.value.code == 2, (argv, err)
        assert "Traceback" not in err and (err.startswith("synrecon: error: ") and len(err.splitlines()) == 1
                                           or "Error:" in err), (argv, err)
        assert not (tmp / "out").exists()
