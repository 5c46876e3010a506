"""Import Open3D with its libusb dependency satisfied from the `libusb-package` wheel.

Open3D links libusb-1.0; a machine without the system library would fail to import it.
Always import Open3D as ``from synnet_recon.o3d import o3d``.

``quiet()``: Open3D prints only errors within it. Our stages run it around their Open3D work:
its warnings ("Too few correspondences after mutual filter" from RANSAC on views that share
little, "Write PLY failed") are either expected on hard views, which our own checks flag with a
reason, or failures that we detect and report ourselves (``fuse`` checks every write).
"""
from __future__ import annotations

import ctypes


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


__all__ = ["o3d", "quiet"]
