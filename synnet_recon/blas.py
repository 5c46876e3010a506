"""How many threads numpy's BLAS (OpenBLAS) uses, for a block of work.

fuse multiplies small matrices (the fine check's (6, M) x (M, 6) systems, M ~ 48,000) from
several Python threads at once. OpenBLAS's own threads then wait for work by spinning: on the
2-core machine the 640x480 speed scene (10 instants x 2 views, 2 workers) took 5.8-6.1 CPU s
with its default 2 threads and 5.0-5.1 with one, the outputs byte-identical (docs/benchmarks.md,
"Session 14 (h2)"). ``limited(1)`` keeps it to one thread inside; the previous count comes back on
leaving (the limit is process-wide, like ``o3d.threads``; nested and concurrent uses are counted).

The libraries are found among those the process has loaded (``/proc/self/maps``: numpy's and
scipy's bundled OpenBLAS); without one (another BLAS, another system) nothing is changed.
"""
from __future__ import annotations

import contextlib
import ctypes
import threading

_SETTERS = ("openblas_set_num_threads64_", "openblas_set_num_threads_64_", "openblas_set_num_threads")
_GETTERS = ("openblas_get_num_threads64_", "openblas_get_num_threads_64_", "openblas_get_num_threads")
_LOCK = threading.Lock()
_STATE: dict = {"count": 0, "previous": [], "libraries": []}
_OPENED: dict[str, tuple[object, object] | None] = {}


def _libraries() -> list[tuple[object, object]]:
    """(get, set) of every OpenBLAS loaded in this process (the process's maps read again each time:
    a library loaded later, such as scipy's, is found then; each one opened once)."""
    import numpy  # noqa: F401  (loads numpy's BLAS)

    paths = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if "/" in line else ""
                if "openblas" in path.lower() and ".so" in path and path not in paths:
                    paths.append(path)
    except OSError:
        paths = []
    found = []
    for path in paths:
        if path not in _OPENED:
            _OPENED[path] = _functions(path)
        if _OPENED[path] is not None:
            found.append(_OPENED[path])
    return found


def _functions(path: str) -> tuple[object, object] | None:
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    get = next((getattr(lib, g) for g in _GETTERS if hasattr(lib, g)), None)
    put = next((getattr(lib, s) for s in _SETTERS if hasattr(lib, s)), None)
    if get is None or put is None:
        return None
    get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
    return get, put


def threads() -> list[int]:
    """The thread count of each OpenBLAS found ([] when none)."""
    return [int(get()) for get, _ in _libraries()]


@contextlib.contextmanager
def limited(n: int = 1):
    """Context manager: every OpenBLAS found uses at most ``n`` threads inside (``n`` <= 0: as it is).
    While several blocks are open the first one's limit holds; the counts before the first come
    back when the last leaves."""
    if n <= 0:
        yield
        return
    with _LOCK:
        if _STATE["count"] == 0:
            _STATE["libraries"] = libraries = _libraries()
            _STATE["previous"] = [int(get()) for get, _ in libraries]
            for (_, put), before in zip(libraries, _STATE["previous"]):
                put(max(1, min(int(n), before)))
        _STATE["count"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["count"] -= 1
            if _STATE["count"] == 0:
                for (_, put), before in zip(_STATE["libraries"], _STATE["previous"]):
                    put(before)
