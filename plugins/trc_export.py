"""TRC export: the person's 3D joints (skeleton3d.json) as marker trajectories for OpenSim and Pose2Sim.

``synrecon export trc sync.json --recon DIR --out DIR`` reads ``DIR/skeleton3d.json`` (written by
`synrecon fuse` or `synrecon triangulate`) and writes ``OUT/skeleton.trc``.
Exporter options (``--option KEY=VALUE``): units (m, mm or cm; default m), min_confidence (joints
below it are left out; default 0).
"""
from __future__ import annotations

from pathlib import Path

from synnet_recon.errors import InputError
from synnet_recon.exporters import ExportConfig, Exporter
from synnet_recon.fileio import atomic_dir
from synnet_recon.io.trc import UNITS, skeleton_to_trc, write_trc
from synnet_recon.recon.skeleton3d import read_skeleton3d


def export(sync_json: Path, recon_dir: Path | None, out_dir: Path, config: ExportConfig) -> Path:
    """Write OUT/skeleton.trc from RECON/skeleton3d.json; returns the TRC file."""
    units = config.options.get("units", "m")
    if units not in UNITS:
        raise InputError(None, f"--option units={units}: expected one of {', '.join(sorted(UNITS))}")
    try:
        min_conf = float(config.options.get("min_confidence", 0.0))
    except ValueError:
        raise InputError(None, f"--option min_confidence={config.options['min_confidence']}: not a number") from None
    skeleton = read_skeleton3d(Path(recon_dir) / "skeleton3d.json")
    if config.every > 1:
        skeleton = skeleton.every(config.every)
    with atomic_dir(out_dir) as tmp:
        write_trc(tmp / "skeleton.trc", skeleton_to_trc(skeleton, units=units, min_confidence=min_conf))
    return Path(out_dir) / "skeleton.trc"


exporter = Exporter("trc", "TRC marker trajectories of the 3D skeleton (skeleton3d.json), for OpenSim and Pose2Sim",
                    export, needs_recon=True)
