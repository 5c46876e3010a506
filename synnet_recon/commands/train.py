"""`synrecon train`: train SynNet on simulated moving-camera pairs from motion capture."""
from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import InputError


@click.command("train", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_spec", default="default", show_default=True,
              help="Model config: a preset (default, paper, tiny), a JSON object such as "
                   "'{\"preset\": \"default\", \"F\": 64}', or a JSON file.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run folder: last.pt, best.pt, metrics.jsonl, config.json.")
@click.option("--steps", default=20000, show_default=True, type=int, help="Optimizer steps.")
@click.option("--max-minutes", default=None, type=float,
              help="Stop after this many minutes of training; the learning-rate schedule ends there too.")
@click.option("--batch-size", default=32, show_default=True, type=int, help="Pairs per step (per GPU).")
@click.option("--lr", default=1e-3, show_default=True, type=float, help="Peak AdamW learning rate.")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--resume", is_flag=True, help="Continue from OUT/last.pt.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Data worker processes (per GPU).")
@click.option("--threads", default=None, type=int, help="Torch CPU threads.")
@click.option("--ckpt-every", default=500, show_default=True, type=int, help="Validate and checkpoint every N steps.")
@click.option("--val-pairs", default=256, show_default=True, type=int, help="Held-out pairs for validation.")
@click.option("--noise-ramp", default=None, type=int,
              help="Pairs over which detector noise ramps up to its full level (curriculum).")
@click.option("--init", "init", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Start from this checkpoint's weights and config (fine-tuning); --config is ignored.")
@click.option("--motions", default=None, type=click.Path(path_type=Path),
              help="Motion capture folder, or a motion cache .npz (synnet_recon.sync.data.save_motion_cache). "
                   "Default: ../shared/data/mocap.")
@click.option("--conditions", "conditions_spec", default="none", show_default=True,
              help="Realistic recording conditions in the pairs (sync.data.Conditions): none, realistic (its "
                   "defaults), or a JSON object of chances, e.g. '{\"upper_body\": 0.4, \"frame_rate\": 0.3}'.")
@click.option("--chunk", default=8, show_default=True, type=int,
              help="Pairs simulated at once per motion draw when --conditions is set.")
@click.option("--warmup", default=300, show_default=True, type=int, help="Learning-rate warm-up steps.")
@click.option("--val-every", default=None, type=int, help="Validate every N steps (default: --ckpt-every).")
@click.option("--freeze", multiple=True,
              help="Keep the parameters under this name prefix fixed (repeatable), e.g. features.backbone "
                   "(fine-tuning on a CPU: the ResNet then runs forward only, in eval mode).")
def command(config_spec, out, steps, max_minutes, batch_size, lr, device, resume, seed, workers, threads,
            ckpt_every, val_pairs, noise_ramp, init, motions, conditions_spec, chunk, warmup, val_every, freeze):
    """Train SynNet on pairs simulated on the fly: two moving cameras filming the same CMU motion
    with detector noise, offset by a known number of frames. Held-out motion files (a fixed split
    by file name) are used only for validation. Multi-GPU: `torchrun --nproc_per_node=G -m
    synnet_recon.cli train ...`.

    Example: synrecon train --config default --out runs/synnet --max-minutes 10
    """
    from ..sync.model import SynNetConfig

    try:
        cfg = SynNetConfig.parse(config_spec)
    except ValueError as exc:
        raise InputError(None, f"--config: {exc}") from None
    for name, value, low in (("--steps", steps, 1), ("--batch-size", batch_size, 1), ("--workers", workers, 0),
                             ("--ckpt-every", ckpt_every, 1), ("--val-pairs", val_pairs, 0), ("--chunk", chunk, 1),
                             ("--warmup", warmup, 0), ("--val-every", val_every or 1, 1)):
        if value < low:
            raise InputError(None, f"{name} must be at least {low}, got {value}")
    if not lr > 0:
        raise InputError(None, f"--lr must be positive, got {lr:g}")
    if max_minutes is not None and not max_minutes > 0:
        raise InputError(None, f"--max-minutes must be positive, got {max_minutes:g}")
    if init is not None and not init.is_file():
        raise InputError(init, "checkpoint not found")
    if motions is not None and not motions.exists():
        raise InputError(motions, "motion folder or cache not found")

    from ..sync.data import DataConfig
    from ..sync.train import TrainConfig, main

    conditions = parse_conditions(conditions_spec)

    train = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, device=device, seed=seed, workers=workers,
                        max_minutes=max_minutes, resume=resume, ckpt_every=ckpt_every, val_pairs=val_pairs,
                        threads=threads, noise_ramp_pairs=noise_ramp, warmup_steps=warmup, val_every=val_every,
                        freeze=tuple(freeze),
                        init=str(init) if init else None)
    data = DataConfig(root=str(motions) if motions else None, conditions=conditions,
                      chunk=chunk if conditions is not None else 1)
    best = main(cfg, train, out, data)
    if os.environ.get("RANK", "0") == "0":  # under torchrun only rank 0 reports
        click.echo(f"best checkpoint: {best}")


def parse_conditions(spec: str):
    """--conditions: None for "none", the defaults for "realistic", or Conditions from a JSON object."""
    import dataclasses
    import json

    from ..sync.data import Conditions

    if spec == "none":
        return None
    if spec == "realistic":
        return Conditions()
    try:
        values = json.loads(spec)
    except json.JSONDecodeError:
        values = None
    if not isinstance(values, dict):
        raise InputError(None, f"--conditions: expected none, realistic or a JSON object, got {spec!r}")
    names = {f.name for f in dataclasses.fields(Conditions)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise InputError(None, f"--conditions: unknown condition(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    for k, v in values.items():
        if k != "rates" and not (isinstance(v, (int, float)) and 0 <= v <= 1):
            raise InputError(None, f"--conditions: {k} must be a chance in [0, 1], got {v!r}")
    if "rates" in values:
        rates = values["rates"]
        if not (isinstance(rates, list) and rates and all(isinstance(r, (int, float)) and 1 <= r <= 240 for r in rates)):
            raise InputError(None, f"--conditions: rates must be a list of frame rates in [1, 240], got {rates!r}")
        values["rates"] = tuple(float(r) for r in rates)
    return Conditions(**values)
