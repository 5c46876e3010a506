"""Things kept only while a call is inside ``with keeper.active():`` (one align call), released when
the last such block ends: nested and concurrent blocks share what is kept."""
from __future__ import annotations

import threading
from contextlib import contextmanager


class Scoped:
    """A counter of open ``active()`` blocks, with the lock that guards what a subclass keeps.

    Subclasses keep values in ``__init__``'s fields and say in ``_release`` how to let them go."""

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0

    @contextmanager
    def active(self):
        """Keep things for the duration of the block; released when the last open block ends."""
        with self._lock:
            self._users += 1
        try:
            yield self
        finally:
            with self._lock:
                self._users -= 1
                after = self._release() if self._users == 0 else None
            if after is not None:
                after()

    def _release(self):
        """Forget what is kept (called with the lock held). May return a callable, run once the lock
        is let go (closing resources)."""
        raise NotImplementedError
