"""synnet-recon: synchronize videos from moving cameras by pose (SynNet), then fuse them in 3D.

The public API is small; heavy modules (torch, mediapipe, open3d) load only when used::

    import synnet_recon as sr
    result = sr.align(["a.mp4", "b.mp4"])          # -> SyncResult
    result.save("sync.json")
    recon = sr.fuse("sync.json", out_dir="recon/")  # -> FuseResult
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_API = {
    "align": "synnet_recon.sync.align",
    "AlignConfig": "synnet_recon.sync.align",
    "SyncResult": "synnet_recon.sync.result",
    "fuse": "synnet_recon.recon.fuse",
    "FuseConfig": "synnet_recon.recon.fuse",
    "FuseResult": "synnet_recon.recon.fuse",
    "Keypoints": "synnet_recon.keypoints",
    "Motion": "synnet_recon.motion",
    "load_motion": "synnet_recon.motion",
    "InputError": "synnet_recon.errors",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'synnet_recon' has no attribute {name!r}")


def __dir__():
    return __all__
