"""Import Open3D with its libusb dependency satisfied from the `libusb-package` wheel.

Open3D links libusb-1.0; a machine without the system library would fail to import it.
Always import Open3D as ``from synnet_recon.o3d import o3d``.

``quiet()``: Open3D prints only errors within it. Our stages run it around their Open3D work:
its warnings ("Too few correspondences after mutual filter" from RANSAC on views that share
little, "Write PLY failed") are either expected on hard views, which our own checks flag with a
reason, or failures that we detect and report ourselves (``fuse`` checks every write).
"""
from __future__ import annotations

import contextlib
import ctypes
import threading


def _preload_libusb() -> None:
    try:
        ctypes.CDLL("libusb-1.0.so.0", mode=ctypes.RTLD_GLOBAL)
        return
    except OSError:
        pass
    try:
        import libusb_package

        path = libusb_package.get_library_path()
        if path:
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    except (ImportError, OSError):
        pass


_preload_libusb()
import open3d as o3d  # noqa: E402


def quiet():
    """Context manager: Open3D logs errors only inside it (its level is global, so threads
    started inside see it too); the previous level comes back on leaving."""
    return o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error)


_THREADS = threading.Lock()


@contextlib.contextmanager
def threads(n: int):
    """Context manager: Open3D uses at most ``n`` CPU threads inside (its oneAPI TBB pool, which
    ``OMP_NUM_THREADS`` does not reach; the limit is process-wide, like ``quiet``'s level); the
    previous limit comes back on leaving. ``n`` = 0: as it is (nothing changed)."""
    if n <= 0:
        yield
        return
    with _THREADS:
        previous = o3d.utility.get_max_threads()
        o3d.utility.set_max_threads(int(n))
    try:
        yield
    finally:
        with _THREADS:
            o3d.utility.set_max_threads(previous)


_SINGLE = {"count": 0, "previous": 0}


@contextlib.contextmanager
def single_thread():
    """Context manager: Open3D runs on one thread while any thread is inside one (for operations
    whose parallel sums vary from run to run, such as its tensor RGB-D odometry); the limit before
    the first comes back when the last leaves, whatever the order. Process-wide like ``threads``:
    other threads' Open3D work meanwhile runs on one thread too."""
    with _THREADS:
        if _SINGLE["count"] == 0:
            _SINGLE["previous"] = o3d.utility.get_max_threads()
            o3d.utility.set_max_threads(1)
        _SINGLE["count"] += 1
    try:
        yield
    finally:
        with _THREADS:
            _SINGLE["count"] -= 1
            if _SINGLE["count"] == 0:
                o3d.utility.set_max_threads(_SINGLE["previous"])


__all__ = ["o3d", "quiet", "single_thread", "threads"]
