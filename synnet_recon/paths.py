"""Where things live: the shared data folder (when present) and package data."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
WEIGHTS_DIR = PACKAGE_DIR / "weights"
PACKAGE_DATA = PACKAGE_DIR / "data"
DANCE_CLIP = PACKAGE_DATA / "mocap" / "05_02.bvh"  # CMU 05_02, the demo's dance (data/mocap/README.md)


def shared_data_dir() -> Path | None:
    """``../shared/data`` beside the repo, or $SYNRECON_SHARED_DATA; None when absent."""
    env = os.environ.get("SYNRECON_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(PACKAGE_DIR.parent.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None
