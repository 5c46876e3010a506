"""Reconstruction: depth backends, intrinsics, lifting, registration and fusion (``synrecon fuse``).

``fuse`` here is the module ``recon/fuse.py`` (``from synnet_recon.recon.fuse import fuse`` for the
function): the package does not re-export the function under the module's name, which would hide
the module from ``import synnet_recon.recon.fuse as m`` and from ``mock.patch``.
"""
from .fuse import FrameRecord, FuseConfig, FuseResult

__all__ = ["FuseConfig", "FuseResult", "FrameRecord"]
