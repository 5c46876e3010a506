"""Import Open3D with its libusb dependency satisfied from the `libusb-package` wheel.

Open3D links libusb-1.0; a machine without the system library would fail to import it.
Always import Open3D as ``from synnet_recon.o3d import o3d``.
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

__all__ = ["o3d"]
