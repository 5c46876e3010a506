"""Temp files of atomic writes: named after their process, so that the leftovers of a killed run
are removed by the next one while the work of a live process is left alone."""
import os
import subprocess
import sys

import pytest

from synnet_recon.fileio import _HOST, atomic_dir, atomic_path, remove_stale_temp, write_json


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temp_names_carry_host_and_pid(tmp_path):
    with atomic_path(tmp_path / "a.json") as tmp:
        assert tmp.name.startswith(f".a.json.{_HOST}-{os.getpid()}.") and tmp.name.endswith(".tmp.json")
        tmp.write_text("{}")
    with atomic_dir(tmp_path / "out") as tmp:
        assert tmp.name.startswith(f".out.{_HOST}-{os.getpid()}.") and tmp.name.endswith(".tmp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "out"]
    assert oct((tmp_path / "a.json").stat().st_mode & 0o777) != oct(0o600)   # not mkstemp's private mode


def test_stale_temp_of_dead_processes_is_removed(tmp_path):
    dead, live = dead_pid(), os.getpid()
    stale_dir = tmp_path / f".recon.{_HOST}-{dead}.ab12cd_3.tmp"
    stale_file = tmp_path / "sub" / f".sync.json.{_HOST}-{dead}.zz9.tmp.json"
    running = tmp_path / f".recon.{_HOST}-{live}.ab12cd_3.tmp"
    elsewhere = tmp_path / f".recon.otherhost-{dead}.ab12cd_3.tmp"
    for p in (stale_dir, running, elsewhere):
        p.mkdir()
    stale_file.parent.mkdir()
    stale_file.write_text("{")
    assert remove_stale_temp(tmp_path) == [stale_dir]
    assert remove_stale_temp(tmp_path, recursive=True) == [stale_file]
    assert running.is_dir() and elsewhere.is_dir()


def test_fuse_style_leftover_goes_with_the_next_write_of_that_folder(tmp_path):
    leftover = tmp_path / f".recon.{_HOST}-{dead_pid()}.q1w2e3r4.tmp"
    leftover.mkdir()
    (leftover / "half.ply").write_bytes(b"ply")
    with atomic_dir(tmp_path / "recon") as tmp:
        (tmp / "fused.ply").write_bytes(b"ply")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recon"]


def test_killed_between_the_two_renames_keeps_the_old_output(tmp_path):
    # The previous output was moved aside (.recon.old) and the new one never moved in.
    old = tmp_path / ".recon.old"
    old.mkdir()
    (old / "fused.ply").write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "recon"):
            assert (tmp_path / "recon" / "fused.ply").read_bytes() == b"old"
            raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recon"]
    write_json(tmp_path / "recon" / "x.json", {})
