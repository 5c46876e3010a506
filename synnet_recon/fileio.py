"""Atomic writes: outputs appear whole or not at all."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

# Schema names and versions live in schemas.py (re-exported here for older imports).
from .schemas import SKELETON3D as SKELETON3D_SCHEMA  # noqa: F401
from .schemas import SKELETON3D_VERSION  # noqa: F401

# Temp names: .<name>.<host>-<pid>.<random>.tmp[<suffix>], so that a later run can tell the
# leftovers of a killed process (same host, pid gone) from the work of one still running.
_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname()) or "host"
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp(\.[^.]*)?$")


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.{_HOST}-{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temp(folder: str | os.PathLike, name: str | None = None, recursive: bool = False) -> list[Path]:
    """Remove the temp files and folders that killed processes of this host left in ``folder``
    (only those of output ``name`` when given; ``recursive``: in its subfolders too). Returns them."""
    folder = Path(folder)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        m = _TEMP.match(e.name)
        if m and (name is None or m["name"] == name) and m["host"] == _HOST and not _pid_alive(int(m["pid"])):
            p = Path(e.path)
            shutil.rmtree(p, ignore_errors=True) if e.is_dir(follow_symlinks=False) else p.unlink(missing_ok=True)
            removed.append(p)
        elif (e.name.startswith(".") and e.name.endswith(".old") and e.is_dir(follow_symlinks=False)
              and (name is None or e.name == f".{name}.old") and (folder / e.name[1:-4]).exists()):
            shutil.rmtree(e.path, ignore_errors=True)   # the previous output, replaced but not yet removed
            removed.append(Path(e.path))
        elif recursive and e.is_dir(follow_symlinks=False) and not e.name.startswith("."):
            removed += remove_stale_temp(e.path, name, recursive)
    return removed


def check_output_path(path: str | os.PathLike, option: str = "--out", folder: bool = True) -> Path:
    """InputError unless ``path`` (a folder, or a file when not ``folder``) can be created or replaced:
    it is not the wrong kind, and its nearest existing ancestor is a writable folder."""
    from .errors import InputError

    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        raise InputError(path, f"{option} exists and is not a {'folder' if folder else 'file'}")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(parent, f"not a folder, so {option} {path} cannot be written under it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(parent, f"not writable, so {option} {path} cannot be written")
    return path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)   # mkstemp makes it private; outputs get the usual permissions
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; move it onto ``path`` only if the block succeeds.
    Temp folders of ``path`` left by killed earlier runs are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp(path.parent, path.name)
    old = path.with_name(f".{path.name}.old")
    if old.is_dir() and not path.exists():   # killed between the two renames below: the old output is whole
        os.replace(old, path)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            if not overwrite:
                raise FileExistsError(path)
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write JSON atomically, pretty-printed."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return Path(path)


def check_schema(data: Any, where, schema: str, version: int | tuple[int, ...] | None = None) -> dict:
    """``data`` if it is a dict of ``schema`` at ``version`` (an int, a tuple of accepted ones, or
    None: those of ``schemas.READABLE``); else InputError naming ``where``."""
    from .errors import InputError
    from .schemas import READABLE

    if not isinstance(data, dict) or data.get("schema") != schema:
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise InputError(where, f"schema is {got!r}, expected schema {schema!r}")
    versions = READABLE.get(schema, ()) if version is None else (version,) if isinstance(version, int) else version
    got = data.get("version")
    if isinstance(got, bool) or got not in versions:
        expected = " or ".join(str(v) for v in versions)
        raise InputError(where, f"version {got!r} of {schema} is not supported (expected {expected})")
    return data


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file's content; a missing or unreadable file or bad JSON is an InputError naming it."""
    from .errors import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not valid JSON ({exc.__class__.__name__})") from None
    except RecursionError:
        raise InputError(path, "not valid JSON (nested too deeply)") from None
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.__class__.__name__})") from None


def read_schema_json(path: str | os.PathLike, schema: str, version: int | tuple[int, ...] | None = None) -> dict:
    """Read one of our versioned JSON files; a missing file, bad JSON or other schema is an InputError.
    Only the readers beside the formats' dataclasses call this (docs/formats.md)."""
    return check_schema(read_json(path), Path(path), schema, version)


_MISSING = object()
_KINDS = {"str": "a string", "number": "a number", "int": "an integer", "bool": "true or false",
          "list": "a list", "dict": "an object"}


def json_field(obj: dict, key: str, kind: str, where, context: str = "", default: Any = _MISSING) -> Any:
    """``obj[key]`` checked to be of ``kind`` (str, number, int, bool, list, dict; a trailing ``?``
    also allows null); numbers must be finite (bools are not numbers). Returns ints and numbers as
    int and float. A missing key gives ``default`` when one is given; anything else is an InputError
    naming ``where`` and ``context.key``."""
    import math

    from .errors import InputError

    name = f"{context}.{key}" if context else key
    if key not in obj:
        if default is not _MISSING:
            return default
        raise InputError(where, f"{name} is missing")
    value = obj[key]
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    if value is None and optional:
        return None
    ok = {"str": isinstance(value, str), "bool": isinstance(value, bool),
          "list": isinstance(value, list), "dict": isinstance(value, dict),
          "int": isinstance(value, int) and not isinstance(value, bool),
          "number": isinstance(value, (int, float)) and not isinstance(value, bool)}[kind]
    if ok and kind == "number" and not math.isfinite(value):
        raise InputError(where, f"{name} is {value!r}, expected a finite number")
    if not ok:
        shown = repr(value) if len(repr(value)) <= 40 else type(value).__name__
        raise InputError(where, f"{name} is {shown}, expected {_KINDS[kind]}{' or null' if optional else ''}")
    return float(value) if kind == "number" else value
