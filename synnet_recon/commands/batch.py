"""`synrecon batch ROOT --out OUTDIR`: align (and fuse) many recordings on a Dask cluster."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import InputError
from ..fileio import check_output_path


@click.command("batch", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder: OUT/<recording>/sync.json (and recon/), OUT/batch.json.")
@click.option("--fps", type=float, default=30.0, show_default=True,
              help="Frame rate of keypoint folders (a manifest may give one per recording).")
@click.option("--max-offset", type=float, default=None,
              help="Largest |offset| between two inputs of a recording, seconds (default: as wide as they allow).")
@click.option("--workers", type=int, default=2, show_default=True,
              help="Local Dask cluster: worker processes, one thread each.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on an existing Dask cluster instead, e.g. tcp://host:8786 (docs/batch.md).")
@click.option("--connect-timeout", type=float, default=20.0, show_default=True, metavar="SECONDS",
              help="How long to wait for --scheduler before giving up with 'cannot connect'.")
@click.option("--fuse", "fuse", multiple=True, metavar="on|KEY=VALUE",
              help="Also fuse each recording into OUT/<recording>/recon/: 'on' for the defaults, or fuse "
                   "settings depth=, frames=, intrinsics=, scale=, voxel=, registration_voxel=, mesh=, "
                   "mono_model= (repeatable).")
@click.option("--force", is_flag=True, help="Redo recordings whose outputs are already complete.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(root, out_dir, fps, max_offset, workers, scheduler, connect_timeout, fuse, force, quiet):
    """Synchronize every recording of ROOT, one Dask task per recording.

    ROOT is a folder whose subfolders are recordings (each holds its videos and OpenPose JSON
    folders directly inside it), or a manifest JSON
    {"recordings": [{"name": ..., "inputs": [...], "fps": ...}]} (inputs relative to it).
    A recording that fails (corrupt video, malformed JSON, a crash) is reported in
    OUT/batch.json and the others go on. A rerun skips recordings whose outputs are complete;
    a killed batch is resumed by running it again. Exit status 0 when every recording is ok or
    skipped, 1 when any failed.

    \b
    Example: synrecon batch sessions/ --out synced/ --workers 2
    """
    from ..batch import BatchConfig, find_recordings, parse_fuse_settings, run_batch, summary_line

    if not fps > 0:
        raise InputError(None, f"--fps must be positive, got {fps:g}")
    if max_offset is not None and not max_offset > 0:
        raise InputError(None, f"--max-offset must be positive, got {max_offset:g}")
    if scheduler is None and workers < 1:
        raise InputError(None, f"--workers must be at least 1, got {workers}")
    if not connect_timeout > 0:
        raise InputError(None, f"--connect-timeout must be positive, got {connect_timeout:g}")
    check_output_path(out_dir, "--out")
    recordings = find_recordings(root, exclude=out_dir)
    config = BatchConfig(fps=fps, max_offset=max_offset, workers=workers, scheduler=scheduler,
                         connect_timeout=connect_timeout,
                         fuse=parse_fuse_settings(fuse) if fuse else None, force=force, progress=not quiet)
    result = run_batch(recordings, config, out_dir)
    for r in result.recordings:
        if r.status == "failed":
            click.echo(f"failed: {r.name}: {r.error}", err=True)
    click.echo(summary_line(result))
    click.echo(f"wrote {result.out_dir / 'batch.json'}")
    if result.failed:
        sys.exit(1)
