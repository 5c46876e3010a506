"""Atomic writes: outputs appear whole or not at all."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

# Schema names and current versions of the JSON files we write (readers check both).
SKELETON3D_SCHEMA, SKELETON3D_VERSION = "synnet-recon/skeleton3d", 1  # recon/skeleton3d.py


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; move it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
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
