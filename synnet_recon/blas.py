"""How many threads numpy's BLAS uses, for a block of work (through threadpoolctl).

fuse multiplies small matrices (the fine check's (6, M) x (M, 6) systems, M ~ 48,000) from
several Python threads at once. OpenBLAS's own threads then wait for work by spinning: on the
2-core machine the 640x480 speed scene (10 instants x 2 views, 2 workers) took 5.8-6.1 CPU s
with its default 2 threads and 5.0-5.1 with one, the outputs byte-identical (docs/benchmarks.md,
"Session 14 (h2)"). ``limited(1)`` keeps it to one thread inside; the previous counts come back on
leaving (the limit is process-wide, like ``o3d.threads``; nested and concurrent uses are counted).

threadpoolctl finds the BLAS libraries the process has loaded (numpy's and scipy's bundled
OpenBLAS, or MKL); without one nothing is changed.
"""
from __future__ import annotations

import contextlib
import threading

_LOCK = threading.Lock()
_STATE: dict = {"count": 0, "limiter": None}


def threads() -> list[int]:
    """The thread count of each BLAS library loaded ([] when none)."""
    import numpy  # noqa: F401  (loads numpy's BLAS)
    from threadpoolctl import threadpool_info

    return [int(info["num_threads"]) for info in threadpool_info() if info.get("user_api") == "blas"]


@contextlib.contextmanager
def limited(n: int = 1):
    """Context manager: every BLAS loaded uses at most ``n`` threads inside (``n`` <= 0: as it is).
    While several blocks are open the first one's limit holds; the counts before the first come
    back when the last leaves."""
    if n <= 0:
        yield
        return
    import numpy  # noqa: F401
    from threadpoolctl import threadpool_limits

    with _LOCK:
        if _STATE["count"] == 0:
            _STATE["limiter"] = threadpool_limits(limits=int(n), user_api="blas")
        _STATE["count"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["count"] -= 1
            if _STATE["count"] == 0:
                _STATE["limiter"].restore_original_limits()
                _STATE["limiter"] = None
