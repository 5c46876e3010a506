"""Reconstruction: depth backends, intrinsics, lifting, registration and fusion (``synrecon fuse``)."""
from .fuse import FrameRecord, FuseConfig, FuseResult, fuse

__all__ = ["FuseConfig", "FuseResult", "FrameRecord", "fuse"]
