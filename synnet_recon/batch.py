"""`batch`: many recordings, one task each, on a Dask cluster (local processes or an existing one).

A stage in the hloc sense: ``run_batch(recordings, BatchConfig(), out_dir) -> BatchResult``.

* A **recording** is a named list of inputs (videos or OpenPose JSON folders) of the same scene;
  ``find_recordings`` reads them from a folder of recordings or from a manifest JSON.
* Each recording is **one task** (``run_recording``) over the existing API: ``sync.align.align``
  writes ``OUT/<name>/sync.json``; with fuse settings, ``recon.fuse.fuse`` writes ``OUT/<name>/recon/``.
  A task never raises for a bad recording: it returns ``failed`` with a one-line error.
* **Where**: ``distributed.LocalCluster`` (``workers`` processes, one thread each) by default, or the
  Dask scheduler at ``scheduler`` (``tcp://host:8786``). A worker that dies while running a task is
  retried once on another (or a restarted) worker, then the recording is ``failed``.
* **Outputs** are written atomically (temp name + rename); ``OUT/batch.json`` is rewritten after every
  recording, so a killed batch leaves a valid summary and a rerun picks up: recordings whose outputs
  are complete and valid are ``skipped`` unless ``force``. ``OUT/.batch.lock`` (an flock, released by
  the kernel however the process dies) keeps a second batch out of the same OUT; leftover temp files
  of killed runs are removed at the start.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .errors import InputError
from .fileio import remove_stale_temp, write_json

log = logging.getLogger(__name__)

SCHEMA = "synnet-recon/batch"
VERSION = 1
MANIFEST_SCHEMA = "synnet-recon/batch-manifest"  # optional "schema" key of a manifest
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm")
LOCK_NAME = ".batch.lock"
EVENT_TOPIC = "synrecon-batch"      # workers' "started" events, for the progress bar
STATUSES = ("ok", "failed", "skipped")

# `--fuse KEY=VALUE` settings: key -> (FuseConfig field, type). "on" alone fuses with the defaults.
FUSE_KEYS = {"depth": str, "frames": str, "intrinsics": str, "scale": float, "voxel": float,
             "registration_voxel": float, "mesh": bool, "mono_model": str}


@dataclass
class Recording:
    """One recording: its name (the output folder's) and its inputs (absolute paths)."""

    name: str
    inputs: list[str]
    fps: float | None = None      # frame rate of its keypoint folders (None: the batch's)


@dataclass
class BatchConfig:
    """How ``run_batch`` works."""

    fps: float = 30.0                     # frame rate of keypoint folders (a manifest may set it per recording)
    max_offset: float | None = None       # align's largest |offset| between two inputs, seconds
    workers: int = 2                      # local cluster: worker processes, one thread each
    scheduler: str | None = None          # address of an existing Dask scheduler; None: a local cluster
    connect_timeout: float = 20.0         # seconds to wait for that scheduler before "cannot connect"
    fuse: dict | None = None              # FuseConfig settings (FUSE_KEYS), {} for the defaults; None: align only
    force: bool = False                   # redo recordings whose outputs are complete
    retries: int = 1                      # a task whose worker died is resubmitted this many times
    progress: bool = True                 # tqdm bar on stderr: done/total and the running recordings


@dataclass
class RecordingResult:
    """What happened to one recording (one entry of batch.json)."""

    name: str
    status: str                  # ok | failed | skipped
    error: str | None = None     # one line when failed
    seconds: float = 0.0
    inputs: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0     # CPU time of the worker process during the task


@dataclass
class BatchResult:
    recordings: list[RecordingResult]
    out_dir: Path
    seconds: float

    @property
    def failed(self) -> list[str]:
        return [r.name for r in self.recordings if r.status == "failed"]


# ----------------------------------------------------------------------------------------------
# Recordings


def _is_keypoint_folder(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*_keypoints.json"))


def recording_inputs(folder: Path) -> list[str]:
    """The inputs directly inside a recording folder: videos and folders of *_keypoints.json files."""
    out = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        if (p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS) or _is_keypoint_folder(p):
            out.append(str(p.resolve()))
    return out


def _check_name(name, where) -> str:
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name \
            or name.startswith(".") or name == LOCK_NAME:
        raise InputError(where, f"recording name {name!r} is not a plain folder name")
    return name


def read_manifest(path: Path) -> list[Recording]:
    """``{"recordings": [{"name": str, "inputs": [path, ...], "fps": float?}]}``; inputs relative
    to the manifest's folder."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("recordings"), list):
        raise InputError(path, 'manifest needs {"recordings": [{"name": ..., "inputs": [...]}]}')
    if data.get("schema", MANIFEST_SCHEMA) != MANIFEST_SCHEMA:
        raise InputError(path, f"schema is {data.get('schema')!r}, expected {MANIFEST_SCHEMA!r}")
    out = []
    for k, rec in enumerate(data["recordings"]):
        if not isinstance(rec, dict):
            raise InputError(path, f"recordings[{k}] is not an object")
        name = _check_name(rec.get("name"), path)
        inputs = rec.get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, str) and i for i in inputs):
            raise InputError(path, f"recording {name!r}: inputs must be a list of paths")
        fps = rec.get("fps")
        if fps is not None and (not isinstance(fps, (int, float)) or isinstance(fps, bool) or not fps > 0):
            raise InputError(path, f"recording {name!r}: fps must be a positive number, got {fps!r}")
        resolved = [str((path.parent / i).resolve()) for i in inputs]
        out.append(Recording(name, resolved, None if fps is None else float(fps)))
    return out


def find_recordings(root: str | os.PathLike, exclude: str | os.PathLike | None = None) -> list[Recording]:
    """Recordings of ROOT: a manifest JSON, or a folder whose subfolders are recordings.

    Subfolders without any input are left out; ``exclude`` (the output folder) too.
    Raises InputError when there is no recording, or names repeat.
    """
    root = Path(root)
    if not root.exists():
        raise InputError(root, "no such file or folder")
    if root.is_file():
        recs = read_manifest(root)
    else:
        skip = Path(exclude).resolve() if exclude is not None else None
        subs = [p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")
                and p.resolve() != skip]
        if subs and all(_is_keypoint_folder(p) for p in subs):
            raise InputError(root, "is one recording (its subfolders are keypoint folders); "
                                   "give the folder that holds the recordings, or a manifest")
        recs = [Recording(p.name, ins) for p in subs if (ins := recording_inputs(p))]
    if not recs:
        raise InputError(root, "no recordings (subfolders holding videos or OpenPose JSON folders)")
    names = [r.name for r in recs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(root, f"recording names repeat: {', '.join(dup)}")
    return recs


def parse_fuse_settings(values) -> dict:
    """``--fuse`` values (``KEY=VALUE`` or ``on``) -> typed settings; InputError for unknown keys."""
    out = {}
    for v in values:
        if v == "on":
            continue
        key, sep, value = v.partition("=")
        key = key.replace("-", "_")
        if not sep or key not in FUSE_KEYS:
            raise InputError(None, f"--fuse expects on or KEY=VALUE with KEY one of "
                                   f"{', '.join(FUSE_KEYS)}, got {v!r}")
        kind = FUSE_KEYS[key]
        try:
            if kind is bool:
                if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(value)
                out[key] = value.lower() in ("1", "true", "yes", "on")
            else:
                out[key] = kind(value)
        except ValueError:
            raise InputError(None, f"--fuse {key}: {value!r} is not a {kind.__name__}") from None
    return out


# ----------------------------------------------------------------------------------------------
# One recording (runs on a worker)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, InputError):
        text = str(exc)
    else:
        text = f"{exc.__class__.__name__}: {exc}"
    lines = [s.strip() for s in text.splitlines() if s.strip()]
    return lines[0] if lines else exc.__class__.__name__


def _quiet_worker() -> None:
    """Worker processes: no third-party chatter, single-threaded maths."""
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("distributed", "open3d", "matplotlib", "PIL", "numba"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _announce(name: str) -> None:
    """Tell the client (progress bar) that this recording started on a worker."""
    try:
        from distributed import get_worker

        get_worker().log_event(EVENT_TOPIC, {"started": name})
    except (ImportError, ValueError):   # not on a Dask worker
        pass


def run_recording(recording: Recording, out_dir: str, settings: dict) -> RecordingResult:
    """Align (and fuse) one recording into ``out_dir/<name>/``. Never raises for a bad recording."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    _quiet_worker()
    _announce(recording.name)
    rec_dir = Path(out_dir) / recording.name
    try:
        from .sync.align import AlignConfig, align

        config = AlignConfig(fps=recording.fps or settings["fps"], max_offset=settings["max_offset"],
                             progress=False, threads=1)  # a worker owns one thread: recordings run in parallel
        result = align(recording.inputs, config)
        rec_dir.mkdir(parents=True, exist_ok=True)
        result.save(rec_dir / "sync.json")
        if settings.get("fuse") is not None:
            from .recon.fuse import FuseConfig, fuse
            from .recon.register import RegistrationConfig

            fs = dict(settings["fuse"])
            reg = RegistrationConfig(voxel=fs.pop("registration_voxel")) if "registration_voxel" in fs else None
            fuse_config = FuseConfig(progress=False, **fs, **({"registration": reg} if reg else {}))
            fuse(rec_dir / "sync.json", fuse_config, rec_dir / "recon")
        status, error = "ok", None
    except Exception as exc:  # one recording's fault, whatever it is, stays in that recording
        status, error = "failed", _one_line(exc)
    return RecordingResult(recording.name, status, error, round(time.perf_counter() - t0, 3), recording.inputs,
                           round(time.process_time() - cpu0, 3))


def outputs_complete(recording: Recording, out_dir: Path, settings: dict) -> bool:
    """Whether ``out_dir/<name>/`` holds valid outputs of this recording: a readable sync.json of
    the same inputs, and with fuse settings a readable recon/registration.json."""
    from .exporters import read_registration, read_sync

    rec_dir = Path(out_dir) / recording.name
    try:
        sync = read_sync(rec_dir / "sync.json")
        if sorted(str(sync.resolve(v.path)) for v in sync.videos) != sorted(recording.inputs):
            return False
        if settings.get("fuse") is not None:
            read_registration(rec_dir / "recon" / "registration.json")   # recon/ is written whole or not at all
    except (InputError, OSError, KeyError, TypeError, ValueError):
        return False
    return True


# ----------------------------------------------------------------------------------------------
# The batch (runs on the client)


class OutputLock:
    """An exclusive flock on OUT/.batch.lock: a second batch into the same OUT gets an InputError.
    The kernel releases it when the process ends, however it ends (SIGKILL included)."""

    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / LOCK_NAME
        self.fd = None

    def __enter__(self):
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise InputError(self.path.parent, f"another batch is writing here ({holder}); "
                                               "wait for it to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc):
        os.close(self.fd)   # closing releases the flock; the file stays (removing it would race)


def _settings(config: BatchConfig) -> dict:
    return {"fps": float(config.fps), "max_offset": config.max_offset,
            "fuse": dict(config.fuse) if config.fuse is not None else None}


def _write_summary(out_dir: Path, config: BatchConfig, results: dict[str, RecordingResult],
                   order: list[str], started: float) -> None:
    entries = [asdict(results[n]) for n in order if n in results]
    counts = {s: sum(e["status"] == s for e in entries) for s in STATUSES}
    write_json(out_dir / "batch.json", {
        "schema": SCHEMA, "version": VERSION, "settings": _settings(config),
        "cluster": config.scheduler or f"local, {config.workers} workers",
        "recordings": entries, "counts": {**counts, "total": len(order)},
        "seconds": round(time.perf_counter() - started, 3)})


def _dask_quiet():
    """Dask/distributed config that keeps its logs off the user's terminal."""
    import dask
    import distributed  # noqa: F401  (its defaults must be in dask's config before set(), which restores on exit)

    for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.worker",
                 "distributed.core", "distributed.comm", "tornado", "bokeh"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return dask.config.set({
        "distributed.logging.distributed": "critical",
        "distributed.scheduler.allowed-failures": 0,   # a dead worker fails the task; we retry it ourselves
        "distributed.scheduler.worker-saturation": 1.0,  # one task per worker thread: a death blames only it
        "distributed.admin.tick.limit": "1h",          # no "event loop unresponsive" warnings on busy machines
    })


def _client(config: BatchConfig, stack):
    from distributed import Client, LocalCluster

    if config.scheduler:
        try:
            return stack.enter_context(Client(config.scheduler, timeout=f"{config.connect_timeout:g}s"))
        except OSError as exc:
            raise InputError(None, f"--scheduler {config.scheduler}: cannot connect ({_one_line(exc)})") from None
    # dashboard on a free loopback port: with None the scheduler still serves HTTP on :8787 and warns when taken
    cluster = stack.enter_context(LocalCluster(
        n_workers=config.workers, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
        silence_logs=logging.CRITICAL))
    return stack.enter_context(Client(cluster))


def run_batch(recordings: list[Recording], config: BatchConfig | None, out_dir: str | os.PathLike,
              task: Callable = run_recording) -> BatchResult:
    """Run every recording into ``out_dir`` (see the module docstring); ``task`` is
    ``run_recording`` unless a test swaps it."""
    from contextlib import ExitStack

    config = config or BatchConfig()
    if config.scheduler is None and config.workers < 1:
        raise InputError(None, f"--workers must be at least 1, got {config.workers}")
    out_dir = Path(out_dir).resolve()
    started = time.perf_counter()
    settings = _settings(config)
    order = [r.name for r in recordings]
    results: dict[str, RecordingResult] = {}
    with OutputLock(out_dir):
        remove_stale_temp(out_dir, recursive=True)
        todo = []
        for rec in recordings:
            if not config.force and outputs_complete(rec, out_dir, settings):
                results[rec.name] = RecordingResult(rec.name, "skipped", None, 0.0, rec.inputs)
            else:
                todo.append(rec)
        _write_summary(out_dir, config, results, order, started)
        if todo:
            try:
                with ExitStack() as stack:
                    stack.enter_context(_dask_quiet())
                    client = _client(config, stack)
                    _run_tasks(client, todo, str(out_dir), settings, config, task, results,
                               lambda: _write_summary(out_dir, config, results, order, started))
            finally:
                for rec in todo:   # interrupted: what did not finish is failed, and redone by a rerun
                    results.setdefault(rec.name, RecordingResult(rec.name, "failed", "interrupted before it finished",
                                                                 0.0, rec.inputs))
                _write_summary(out_dir, config, results, order, started)
    return BatchResult([results[n] for n in order], out_dir, time.perf_counter() - started)


def _run_tasks(client, todo: list[Recording], out_dir: str, settings: dict, config: BatchConfig, task,
               results: dict, save: Callable[[], None]) -> None:
    """Submit every recording, collect results as they finish, resubmit those whose worker died."""
    from distributed import KilledWorker, wait
    from tqdm import tqdm

    attempts = {r.name: 0 for r in todo}
    by_name = {r.name: r for r in todo}

    def submit(rec):
        attempts[rec.name] += 1
        return client.submit(task, rec, out_dir, settings, key=f"synrecon-batch-{rec.name}-{attempts[rec.name]}-"
                             f"{os.getpid()}-{time.time_ns()}", pure=False)

    running: set[str] = set()   # names, from the workers' "started" events (event loop thread)
    client.subscribe_topic(EVENT_TOPIC, lambda event: running.add(event[1].get("started")))
    pending = {submit(r): r.name for r in todo}
    bar = tqdm(total=len(todo), desc="batch", unit="rec", disable=not config.progress, leave=True,
               dynamic_ncols=True, mininterval=1.0)
    shown = None
    try:
        while pending:
            try:
                done, _ = wait(list(pending), timeout=0.5, return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = []
            for fut in done:
                name = pending.pop(fut)
                running.discard(name)
                try:
                    res = fut.result()
                except KilledWorker:
                    if attempts[name] <= config.retries:
                        pending[submit(by_name[name])] = name
                        continue
                    res = RecordingResult(name, "failed", f"its worker died {attempts[name]} times "
                                                          "(crash or out of memory)", 0.0, by_name[name].inputs)
                except Exception as exc:   # a task that could not even be run (e.g. not picklable)
                    res = RecordingResult(name, "failed", _one_line(exc), 0.0, by_name[name].inputs)
                results[name] = res
                bar.update(1)
                save()
            now = sorted(n for n in set(running) if n in pending.values())
            if now != shown:
                shown = now
                bar.set_postfix_str(f"running: {', '.join(now)}" if now else "", refresh=True)
    finally:
        bar.close()
        client.unsubscribe_topic(EVENT_TOPIC)


def summary_line(result: BatchResult) -> str:
    counts = {s: sum(r.status == s for r in result.recordings) for s in STATUSES}
    line = (f"{len(result.recordings)} recordings: {counts['ok']} ok, {counts['skipped']} skipped "
            f"(already done), {counts['failed']} failed")
    if result.failed:
        line += f": {', '.join(result.failed)}"
    return line
