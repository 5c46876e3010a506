"""`synrecon align`: synchronize videos / OpenPose folders, write sync.json (and a plot)."""
from __future__ import annotations

import click

from ..errors import InputError


@click.command("align")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="sync.json to write.")
@click.option("--fps", type=float, default=30.0, show_default=True, help="Frame rate of keypoint folders.")
@click.option("--max-offset", type=float, default=None,
              help="Largest |offset| between any two inputs, seconds (default: as wide as the inputs allow).")
@click.option("--reference", default=None, help="Name of the reference input (default: the first).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Device for SynNet.")
@click.option("--plot", "plot", type=click.Path(dir_okay=False), default=None,
              help="PNG per pair: each cue's evidence against chance, the combined evidence, the chosen offset.")
@click.option("--checkpoint", type=click.Path(), default=None, help="SynNet weights (default: packaged).")
@click.option("--cues", default="all", show_default=True,
              help="Evidence fused: all (SynNet included when its weights load), no-synnet, geometry "
                   "(affine+epipolar), synnet, correlation (speed+trajectory), or a comma-separated list of "
                   "affine, epipolar, speed, trajectory, synnet.")
@click.option("--quiet", is_flag=True, help="No progress bars or summary.")
def command(inputs, out, fps, max_offset, reference, device, plot, checkpoint, cues, quiet):
    """Synchronize INPUT... (videos: mp4/mov/avi/mkv, or folders of OpenPose JSON keypoints) by the
    pose of the person they film; write the offsets to sync.json (docs/formats.md).

    \b
    Example: synrecon align a.mp4 b.mp4 c.mp4 --out sync.json --plot sync.png
    """
    from ..sync.align import AlignConfig, align

    if len(inputs) < 2:
        raise InputError(inputs[0] if inputs else None, f"need at least 2 inputs to synchronize, got {len(inputs)}")
    if max_offset is not None and not max_offset > 0:
        raise InputError(None, f"--max-offset must be positive, got {max_offset:g}")
    if checkpoint is not None:
        from pathlib import Path

        if not Path(checkpoint).is_file():
            raise InputError(checkpoint, "checkpoint file not found")
    from ..sync.evidence import parse_cues

    try:
        parse_cues(cues)
    except ValueError as exc:
        raise InputError(None, f"--cues: {exc}") from None
    config = AlignConfig(fps=fps, max_offset=max_offset, reference=reference, device=device,
                         checkpoint=checkpoint, cues=cues, progress=not quiet)
    result = align(list(inputs), config)
    result.save(out)
    if plot:
        from ..sync.plot import plot_sync

        plot_sync(result, plot)
    if not quiet:
        click.echo(f"align ran: {result.cues()}")
        for v in result.videos:
            off = "unsynchronized" if v.offset_seconds is None else f"{v.offset_seconds:+.4f} s ({v.offset_frames:+.2f} frames)"
            click.echo(f"{v.name}: {off}, confidence {v.confidence:.2f}")
        for w in result.warnings:
            click.echo(f"warning: {w}", err=True)
        click.echo(f"wrote {out}")
