"""`synrecon eval`: the paper's Accuracy and SynError for SynNet and baselines on held-out motions."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import InputError


@click.command("eval", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="SynNet checkpoint. Default: the shipped weights.")
@click.option("--pairs", default=1000, show_default=True, type=int, help="Held-out clip pairs to simulate.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the simulated pairs.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the metrics as JSON here (atomically).")
@click.option("--ablation", "ablations", multiple=True, metavar="NAME=CKPT",
              help="Also evaluate an ablation checkpoint on the same pairs (repeatable), "
                   "e.g. --ablation no_bi_convlstm=runs/nobi/best.pt.")
@click.option("--noise", default=1.0, show_default=True, type=float, help="Detector noise level of the pairs.")
@click.option("--motions", type=click.Path(path_type=Path), default=None,
              help="Motion folder or cache .npz. Default: ../shared/data/mocap (held-out files only).")
@click.option("--no-baselines", is_flag=True, help="Skip the speed and trajectory correlation baselines.")
@click.option("--mirror-tta", is_flag=True, help="Also score SynNet with mirror test-time augmentation.")
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda"]))
def command(checkpoint, pairs, seed, out, ablations, noise, motions, no_baselines, mirror_tta, device):
    """Evaluate SynNet the paper's way (section 4.2): Accuracy (right offset class) and SynError
    (mean |R - T| * r / fps seconds) on clip pairs simulated from held-out motion files with moving
    cameras and detector noise: 32 frames at 30 fps, offsets 4*m frames, m in [-4, 3].
    Baselines (Pose2Sim-style speed correlation, view-invariant trajectory correlation) and
    ablations are scored on the same pairs.

    Example: synrecon eval --pairs 500 --out runs/eval.json
    """
    if pairs < 1:
        raise InputError(None, f"--pairs must be at least 1, got {pairs}")
    if noise < 0:
        raise InputError(None, f"--noise must not be negative, got {noise:g}")
    if checkpoint is not None and not checkpoint.is_file():
        raise InputError(checkpoint, "checkpoint not found")
    abl = {}
    for spec in ablations:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise InputError(None, f"--ablation wants NAME=CKPT, got {spec!r}")
        if not Path(path).is_file():
            raise InputError(path, "checkpoint not found")
        abl[name] = path
    if motions is not None and not motions.exists():
        raise InputError(motions, "motion folder or cache not found")

    from ..sync.evaluate import EvalConfig, main
    from ..sync.model import load_synnet

    for path in [checkpoint, *abl.values()]:  # fail fast on unreadable checkpoints
        if path is not None:
            load_synnet(path)

    conf = EvalConfig(pairs=pairs, seed=seed, noise=noise, motions=str(motions) if motions else None,
                      device=device, baselines=not no_baselines, ablations=abl,
                      mirror_tta=mirror_tta)
    main(conf, checkpoint, out)
