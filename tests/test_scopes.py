"""Scoped: released once, when the last of nested or concurrent blocks ends; the returned callable
runs after the lock is let go."""
import threading

from synnet_recon.scopes import Scoped


class Recorder(Scoped):
    def __init__(self):
        super().__init__()
        self.kept = []
        self.released = 0
        self.lock_free_after = None

    def _release(self):
        self.kept.clear()
        self.released += 1

        def after():
            self.lock_free_after = self._lock.acquire(blocking=False)
            if self.lock_free_after:
                self._lock.release()
        return after


def test_nested_blocks_release_once_at_the_last_exit():
    r = Recorder()
    with r.active():
        r.kept.append(1)
        with r.active():
            r.kept.append(2)
        assert r.released == 0 and r.kept == [1, 2]
    assert r.released == 1 and r.kept == [] and r.lock_free_after is True


def test_concurrent_blocks_share_until_the_last_ends():
    r = Recorder()
    inside, leave = threading.Event(), threading.Event()

    def other():
        with r.active():
            inside.set()
            leave.wait(5)

    t = threading.Thread(target=other)
    t.start()
    inside.wait(5)
    with r.active():
        pass
    assert r.released == 0
    leave.set()
    t.join(5)
    assert r.released == 1


def test_release_also_after_an_error():
    r = Recorder()
    try:
        with r.active():
            raise ValueError("boom")
    except ValueError:
        pass
    assert r.released == 1
