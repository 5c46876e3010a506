"""`synrecon batch`: recordings found, faults kept to one recording, dead workers retried once,
kill (SIGKILL/SIGINT) and resume, a second batch locked out, an existing cluster by address,
and byte-identical sync.json whatever the number of workers."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synnet_recon.batch import (
    BatchConfig,
    OutputLock,
    Recording,
    find_recordings,
    outputs_complete,
    parse_fuse_settings,
    run_batch,
    run_recording,
)
from synnet_recon.errors import InputError

CLI = [sys.executable, "-m", "synnet_recon.cli", "batch"]


def make_recordings(root: Path, count: int, cameras: int = 2, seconds: float = 3.0, seed: int = 100) -> Path:
    """ROOT/rec<k>/cam<i>/ OpenPose folders of simulated scenes (keypoints only: fast)."""
    from synnet_recon.io.openpose import write_openpose_folder
    from synnet_recon.synth.scene import SceneConfig, simulate_scene

    for k in range(count):
        scene = simulate_scene(SceneConfig(cameras=cameras, seconds=seconds, seed=seed + k, max_offset=1.0))
        for cam in scene.cameras:
            write_openpose_folder(root / f"rec{k}" / cam.name, cam.keypoints, cam.name)
    return root


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    return make_recordings(tmp_path_factory.mktemp("batch") / "root", 3)


def hidden_temp(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.name != ".batch.lock"]


def batch_json(out: Path) -> dict:
    return json.loads((out / "batch.json").read_text())


def statuses(out: Path) -> dict:
    return {r["name"]: r["status"] for r in batch_json(out)["recordings"]}


# ---------------------------------------------------------------------------------- no cluster


def test_find_recordings_in_a_folder_and_a_manifest(recordings, tmp_path):
    recs = find_recordings(recordings)
    assert [r.name for r in recs] == ["rec0", "rec1", "rec2"]
    assert recs[0].inputs == [str((recordings / "rec0" / c).resolve()) for c in ("cam0", "cam1")]
    # The output folder inside ROOT is not a recording; neither is a folder without inputs.
    (recordings / "notes").mkdir(exist_ok=True)
    assert [r.name for r in find_recordings(recordings, exclude=recordings / "rec2")] == ["rec0", "rec1"]
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"recordings": [
        {"name": "a", "inputs": [str(recordings / "rec0" / "cam0"), str(recordings / "rec0" / "cam1")], "fps": 25},
        {"name": "b", "inputs": [os.path.relpath(recordings / "rec1" / "cam0", tmp_path), "x/y"]}]}))
    recs = find_recordings(manifest)
    assert [(r.name, r.fps) for r in recs] == [("a", 25.0), ("b", None)]
    assert recs[1].inputs == [str((recordings / "rec1" / "cam0").resolve()), str((tmp_path / "x" / "y").resolve())]


@pytest.mark.parametrize("text, problem", [
    ("{", "not valid JSON"),
    ('{"recordings": 3}', "manifest needs"),
    ('{"recordings": [{"name": "../up", "inputs": ["a"]}]}', "not a plain folder name"),
    ('{"recordings": [{"name": ".hidden", "inputs": ["a"]}]}', "not a plain folder name"),
    ('{"recordings": [{"name": "a", "inputs": "a.mp4"}]}', "inputs must be a list"),
    ('{"recordings": [{"name": "a", "inputs": ["a"], "fps": 0}]}', "fps must be a positive number"),
    ('{"recordings": [{"name": "a", "inputs": ["x"]}, {"name": "a", "inputs": ["y"]}]}', "names repeat"),
    ('{"recordings": []}', "no recordings"),
    ('{"schema": "other", "recordings": []}', "schema is 'other'"),
])
def test_bad_manifests(tmp_path, text, problem):
    manifest = tmp_path / "m.json"
    manifest.write_text(text)
    with pytest.raises(InputError, match=problem):
        find_recordings(manifest)


def test_root_that_is_one_recording_or_empty(recordings, tmp_path):
    with pytest.raises(InputError, match="is one recording"):
        find_recordings(recordings / "rec0")
    with pytest.raises(InputError, match="no recordings"):
        find_recordings(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        find_recordings(tmp_path / "missing")


@pytest.mark.parametrize("values, expected", [
    (["on"], {}),
    (["depth=stereo", "frames=0:10:2", "voxel=0.05", "mesh=yes"],
     {"depth": "stereo", "frames": "0:10:2", "voxel": 0.05, "mesh": True}),
    (["registration-voxel=0.1"], {"registration_voxel": 0.1}),
])
def test_fuse_settings(values, expected):
    assert parse_fuse_settings(values) == expected


@pytest.mark.parametrize("value", ["colour=red", "voxel=big", "mesh=maybe", "depth"])
def test_bad_fuse_settings(value):
    with pytest.raises(InputError, match="--fuse"):
        parse_fuse_settings([value])


def test_a_task_never_raises_and_outputs_are_checked(recordings, tmp_path):
    rec = find_recordings(recordings)[0]
    settings = {"fps": 30.0, "max_offset": None, "fuse": None}
    res = run_recording(rec, str(tmp_path), settings)
    assert res.status == "ok" and res.error is None and res.seconds > 0
    assert outputs_complete(rec, tmp_path, settings)
    assert not outputs_complete(Recording("rec0", rec.inputs[:1]), tmp_path, settings)   # other inputs
    assert not outputs_complete(rec, tmp_path, {**settings, "fuse": {}})                 # no recon/
    (tmp_path / "rec0" / "sync.json").write_text("{")
    assert not outputs_complete(rec, tmp_path, settings)
    bad = run_recording(Recording("bad", [str(tmp_path / "missing"), rec.inputs[0]]), str(tmp_path), settings)
    assert bad.status == "failed" and "no such file or folder" in bad.error and "\n" not in bad.error


def test_second_lock_on_one_output_folder_is_refused(tmp_path):
    with OutputLock(tmp_path):
        with pytest.raises(InputError, match="another batch is writing here .pid"):
            with OutputLock(tmp_path):
                pass
    with OutputLock(tmp_path):   # released
        pass


# ---------------------------------------------------------------------------------- on Dask


def _crash_on(names, once_marker=None):
    """A task that kills its worker process for the recordings ``names`` (once, with a marker file)."""
    def task(recording, out_dir, settings):
        if recording.name in names:
            if once_marker is None or not Path(once_marker).exists():
                if once_marker is not None:
                    Path(once_marker).touch()
                os._exit(3)
        return run_recording(recording, out_dir, settings)
    return task


@pytest.mark.slow
def test_a_worker_that_dies_is_retried_once_then_failed(recordings, tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])   # the test module is not importable on workers
    recs = find_recordings(recordings)
    marker = tmp_path / "died-once"
    result = run_batch(recs, BatchConfig(workers=1, progress=False), tmp_path / "out",
                       task=_crash_on({"rec0"}, once_marker=marker))
    assert marker.exists() and [r.status for r in result.recordings] == ["ok", "ok", "ok"]
    result = run_batch(recs, BatchConfig(workers=1, progress=False, force=True), tmp_path / "out",
                       task=_crash_on({"rec1"}))
    assert [r.status for r in result.recordings] == ["ok", "failed", "ok"]
    assert result.recordings[1].error == "its worker died 2 times (crash or out of memory)"
    assert statuses(tmp_path / "out") == {"rec0": "ok", "rec1": "failed", "rec2": "ok"}


def _tamper(root: Path) -> Path:
    """A copy of the recordings with faults: malformed JSON in rec1, a corrupt video in rec2."""
    import shutil

    shutil.copytree(root, root.parent / "faulty", dirs_exist_ok=True)
    faulty = root.parent / "faulty"
    first = sorted((faulty / "rec1" / "cam1").iterdir())[5]
    first.write_text('{"people": [{"pose_keypoints_2d": [1, 2')
    shutil.rmtree(faulty / "rec2" / "cam1")
    (faulty / "rec2" / "cam1.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    return faulty


@pytest.mark.slow
def test_cli_batch_with_faulty_recordings_then_rerun(recordings, tmp_path):
    faulty = _tamper(recordings)
    out = tmp_path / "out"
    proc = subprocess.run([*CLI, str(faulty), "--out", str(out), "--workers", "2"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines()[0] == "3 recordings: 1 ok, 0 skipped (already done), 2 failed: rec1, rec2"
    assert "Traceback" not in proc.stderr
    # No third-party log lines: only the progress bar and our own lines.
    lines = [s for s in proc.stderr.replace("\r", "\n").splitlines() if s.strip() and not s.startswith("batch:")]
    assert all(s.startswith("failed: ") for s in lines), lines
    data = batch_json(out)
    assert data["schema"] == "synnet-recon/batch" and data["version"] == 1
    recs = {r["name"]: r for r in data["recordings"]}
    assert recs["rec0"]["status"] == "ok" and recs["rec0"]["seconds"] > 0 and recs["rec0"]["error"] is None
    assert recs["rec1"]["status"] == "failed" and "cam1" in recs["rec1"]["error"]
    assert recs["rec2"]["status"] == "failed" and "cam1.mp4" in recs["rec2"]["error"]
    assert data["counts"] == {"ok": 1, "failed": 2, "skipped": 0, "total": 3}
    assert (out / "rec0" / "sync.json").is_file() and not (out / "rec1").exists()
    assert hidden_temp(out) == []
    # A rerun skips what is done (no cluster started: fast) and tries the failed ones again.
    before = (out / "rec0" / "sync.json").read_bytes()
    proc = subprocess.run([*CLI, str(faulty), "--out", str(out), "--quiet"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 1
    assert statuses(out) == {"rec0": "skipped", "rec1": "failed", "rec2": "failed"}
    assert (out / "rec0" / "sync.json").read_bytes() == before


@pytest.mark.slow
def test_existing_cluster_by_address_and_byte_identical_results_with_2_local_workers(recordings, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=50) as cluster:
        proc = subprocess.run([*CLI, str(recordings), "--out", str(tmp_path / "w1"), "--scheduler",
                               cluster.scheduler_address, "--quiet"], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        data = batch_json(tmp_path / "w1")
        assert data["cluster"] == cluster.scheduler_address
        assert [r["status"] for r in data["recordings"]] == ["ok"] * 3
        assert cluster.status.name == "running"   # the cluster stays up for its next user
    # Determinism: the same inputs give byte-identical sync.json on 1 (remote) or 2 (local) workers.
    recs = find_recordings(recordings)
    result = run_batch(recs, BatchConfig(workers=2, progress=False), tmp_path / "w2")
    assert [r.status for r in result.recordings] == ["ok"] * 3
    for rec in recs:
        one = (tmp_path / "w1" / rec.name / "sync.json").read_bytes()
        assert one == (tmp_path / "w2" / rec.name / "sync.json").read_bytes()
        assert json.loads(one)["videos"][0]["path"] == rec.inputs[0]


@pytest.mark.slow
def test_unreachable_scheduler_is_one_line(recordings, tmp_path):
    proc = subprocess.run([*CLI, str(recordings), "--out", str(tmp_path / "out"), "--scheduler",
                           "tcp://127.0.0.1:9", "--connect-timeout", "2"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("synrecon: error: --scheduler tcp://127.0.0.1:9: cannot connect")
    assert len(proc.stderr.strip().splitlines()) == 1


def _wait_for(predicate, timeout=300.0, proc=None):
    t0 = time.time()
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"batch ended early: {proc.returncode} {proc.stderr.read()}")
        if time.time() - t0 > timeout:
            raise AssertionError("timed out")
        time.sleep(0.1)


def _some_ok(out: Path) -> bool:
    try:
        return "ok" in statuses(out).values()
    except (OSError, ValueError):
        return False


def _as_a_shell_starts_it():
    """In the child before exec: SIGINT unblocked and at its default, as a shell starts a foreground
    command: the full suite's worker process had SIGINT ignored (SIG_IGN, inherited across exec), so
    the batch never saw the signal and finished with exit 0 (session 13, twice)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_batch_leaves_whole_files_and_a_rerun_finishes(tmp_path, sig):
    root = make_recordings(tmp_path / "root", 4, cameras=2, seconds=6.0, seed=7)
    out = tmp_path / "out"
    proc = subprocess.Popen([*CLI, str(root), "--out", str(out), "--workers", "1", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_as_a_shell_starts_it)
    _wait_for(lambda: _some_ok(out), proc=proc)
    proc.send_signal(sig)
    proc.wait(timeout=120)
    assert proc.returncode == (-9 if sig == signal.SIGKILL else 130)
    reported = [name for name, s in statuses(out).items() if s == "ok"]
    # A recording may have written its sync.json just before the kill, before batch.json said so:
    # whole outputs count as done (a rerun skips them), whatever batch.json had time to record.
    done = [f"rec{k}" for k in range(4) if (out / f"rec{k}" / "sync.json").exists()]
    assert reported and set(reported) <= set(done) and len(done) < 4, statuses(out)
    for name in done:
        json.loads((out / name / "sync.json").read_text())
    if sig == signal.SIGINT:
        assert "interrupted before it finished" in (out / "batch.json").read_text()
        assert hidden_temp(out) == []
    # A temp folder as a fuse killed mid-run leaves it (its process is gone): the rerun removes it.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    from synnet_recon.fileio import _HOST

    (out / "rec0" / f".recon.{_HOST}-{dead.pid}.x1y2z3ab.tmp").mkdir(parents=True)
    time.sleep(1.0)   # a SIGKILLed batch's workers notice their parent is gone
    rerun = subprocess.run([*CLI, str(root), "--out", str(out), "--workers", "1", "--quiet"], capture_output=True,
                           text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    final = statuses(out)
    assert all(final[name] == "skipped" for name in done)
    assert sorted(final.values()).count("ok") == 4 - len(done)
    assert hidden_temp(out) == []
    for k in range(4):
        json.loads((out / f"rec{k}" / "sync.json").read_text())


@pytest.mark.slow
def test_two_batches_into_one_output_folder(tmp_path):
    root = make_recordings(tmp_path / "root", 2, cameras=2, seconds=3.0, seed=30)
    out = tmp_path / "out"
    first = subprocess.Popen([*CLI, str(root), "--out", str(out), "--workers", "1", "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (out / "batch.json").is_file(), proc=first)
    second = subprocess.run([*CLI, str(root), "--out", str(out), "--workers", "1"], capture_output=True, text=True,
                            timeout=600)
    assert second.returncode == 2
    assert second.stderr.strip().splitlines() == [
        f"synrecon: error: {out.resolve()}: another batch is writing here (pid {first.pid} on "
        f"{os.uname().nodename}); wait for it to finish or choose another --out"]
    assert first.wait(timeout=600) == 0, first.stderr.read()
    assert statuses(out) == {"rec0": "ok", "rec1": "ok"}
