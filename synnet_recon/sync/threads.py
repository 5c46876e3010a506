"""Threads for align's independent pieces of work (pairs of inputs, halves of a batch of frame
pairs): numpy and torch release the GIL inside their loops, so two threads use the two cores of a
small machine. Every helper returns exactly what the sequential loop would (same order, same
numbers), so results never depend on the number of threads."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

WORKERS = max(1, min(2, os.cpu_count() or 1))  # threads for the pieces inside one pair
MIN_SPLIT = 2_000  # frame pairs below which a batch is not split (a split costs ~0.5 ms; 2,000 epipolar
# pairs take ~100 ms of CPU): lower than 20,000 so that the last of three pairs, running alone, also splits
# its epipolar batches (3,900-9,000 pairs for 300-frame tracks) over both cores


def map_in_threads(fn, items, workers: int | None = None) -> list:
    """``[fn(x) for x in items]``, ``workers`` (default ``WORKERS``) at a time."""
    workers = WORKERS if workers is None else workers
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


def split_rows(fn, n: int, *arrays, workers: int | None = None) -> np.ndarray:
    """``fn(*arrays)`` for arrays whose rows are independent of each other, computed on ``workers``
    (default ``WORKERS``) contiguous parts of the rows in threads and concatenated (the same
    numbers as one call)."""
    workers = WORKERS if workers is None else workers
    if workers <= 1 or n < MIN_SPLIT:
        return fn(*arrays)
    edges = np.linspace(0, n, workers + 1).astype(int)
    parts = map_in_threads(lambda k: fn(*(a[edges[k]:edges[k + 1]] for a in arrays)), range(workers), workers)
    return np.concatenate(parts)


class at_most:
    """``WORKERS`` lowered to ``n`` inside the block (``AlignConfig.threads=1``: one thread in all,
    e.g. in a batch worker that owns one core); process-wide, restored on exit."""

    def __init__(self, n: int):
        self.n, self.before = max(1, int(n)), None

    def __enter__(self):
        global WORKERS
        self.before, WORKERS = WORKERS, min(WORKERS, self.n)
        return self

    def __exit__(self, *exc):
        global WORKERS
        WORKERS = self.before
        return False


class torch_threads:
    """torch's intra-op threads set to ``n`` inside the block (None: unchanged). SynNet's small
    per-frame operations gain nothing from a second intra-op thread and lose much when the cores
    are busy (OpenMP threads waiting on each other); align runs the pairs in parallel instead."""

    def __init__(self, n):
        self.n, self.before = n, None

    def __enter__(self):
        if self.n is not None:
            import torch

            self.before = torch.get_num_threads()
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        if self.before is not None:
            import torch

            torch.set_num_threads(self.before)
        return False
