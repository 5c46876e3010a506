"""Train SynNet on simulated moving-camera pairs (``synrecon train``).

One process on CPU or one GPU, or several GPUs with torch.distributed when launched by ``torchrun``
(DistributedDataParallel; each rank draws different pairs; only rank 0 writes). On CUDA the forward
pass runs under bf16 autocast. Outputs in ``out_dir``:
  last.pt      latest checkpoint (atomic), used by --resume;
  best.pt      checkpoint with the best held-out accuracy so far;
  metrics.jsonl one JSON line per log / validation event.
Checkpoints hold {"config", "model" (state dict), "step", "metrics", "optimizer", "train"}.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from ..errors import InputError
from ..fileio import atomic_path
from .data import DataConfig, PairStream, fixed_pairs
from .model import SynNet, SynNetConfig, load_checkpoint, shift_targets, synnet_loss


@dataclass
class TrainConfig:
    steps: int = 20_000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 300
    device: str = "auto"          # auto | cpu | cuda
    seed: int = 0
    workers: int = 1
    max_minutes: float | None = None  # stop (and finish the LR schedule) after this wall time
    resume: bool = False
    log_every: int = 20
    ckpt_every: int = 500         # write last.pt every N steps
    val_every: int | None = None  # validate (and update best.pt) every N steps; None = ckpt_every
    val_pairs: int = 256
    threads: int | None = None    # torch CPU threads (None = torch default)
    noise_ramp_pairs: int | None = None  # override DataConfig.noise_ramp_pairs
    init: str | None = None       # start from this checkpoint's weights (and config); fresh optimizer
    freeze: tuple[str, ...] = ()  # parameter-name prefixes kept fixed, in eval mode (e.g. "features.backbone")


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError(None, "--device cuda asked for, but CUDA is not available")
    if device not in ("cpu", "cuda"):
        raise InputError(None, f"unknown device {device!r}; use auto, cpu or cuda")
    return torch.device(device)


def save_checkpoint(path: Path, model: nn.Module, cfg: SynNetConfig, step: int, metrics: dict,
                    optimizer=None, train: TrainConfig | None = None, extra: dict | None = None) -> None:
    """Write a checkpoint atomically."""
    state = {"config": cfg.to_dict(), "model": model.state_dict(), "step": step, "metrics": metrics}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    if train is not None:
        state["train"] = dataclasses.asdict(train)
    if extra:
        state.update(extra)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def export_checkpoint(src: str | Path, dst: str | Path, half: bool = True) -> Path:
    """Strip a training checkpoint to what inference needs (config, weights, step, metrics);
    floating weights in fp16 when ``half``. This is how the shipped weights are made."""
    state = load_checkpoint(src)
    weights = {k: (v.half() if half and v.is_floating_point() else v) for k, v in state["model"].items()}
    out = {"config": state["config"], "model": weights, "step": state.get("step"),
           "metrics": state.get("metrics", {}), "train": state.get("train"), "source": str(src)}
    with atomic_path(dst) as tmp:
        torch.save(out, tmp)
    return Path(dst)


@torch.no_grad()
def evaluate_batch(model: SynNet, batch: dict, device: torch.device, chunk: int = 64) -> dict:
    """Accuracy / SynError / frame error of ``model`` on a stacked batch of pairs (PairStream dict)."""
    model.eval()
    cfg = model.cfg
    preds, frame_preds = [], []
    n = len(batch["offset"])
    for i in range(0, n, chunk):
        sl = {k: batch[k][i:i + chunk].to(device) for k in ("a_xy", "a_conf", "b_xy", "b_conf")}
        with autocast(device):
            out = model.forward_keypoints(sl["a_xy"], sl["a_conf"], sl["b_xy"], sl["b_conf"])
        preds.append(out["class_logits"].float().argmax(-1).cpu())
        frame_preds.append(out["frame_logits"].float().argmax(-1).cpu())
    pred = torch.cat(preds)
    fpred = cfg.shifts[torch.cat(frame_preds)] * cfg.shift_step
    _, cls = shift_targets(batch["offset"], cfg)
    return {
        "accuracy": float((pred == cls).float().mean()),
        "syn_error_s": float((pred - cls).abs().float().mean() * cfg.r / cfg.fps),
        "frame_error": float((fpred - batch["offset"]).abs().float().mean()),
    }


def autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return world, rank, local


@dataclass
class TrainState:
    """What the training steps share: the model, its optimizer and the counters a checkpoint keeps."""

    model: SynNet
    net: nn.Module                # the model, or its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    device: torch.device
    world: int = 1                # processes taking part (torchrun)
    rank: int = 0
    step: int = 0
    pairs_seen: int = 0
    best_accuracy: float = -1.0
    started: float = field(default_factory=time.time)  # Unix time the run (and its LR schedule) began

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_device(train: TrainConfig) -> tuple[torch.device, int, int]:
    """The device of this process, the world size and the rank; joins the process group under
    torchrun."""
    world, rank, local = _dist_info()
    if world > 1:
        import torch.distributed as dist
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        device = torch.device("cuda", local) if torch.cuda.is_available() else torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    else:
        device = resolve_device(train.device)
    if train.threads:
        torch.set_num_threads(train.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return device, world, rank


def build_state(model_cfg: SynNetConfig, train: TrainConfig, last_path: Path, device: torch.device,
                world: int, rank: int) -> TrainState:
    """A fresh model, or the one in ``last_path`` (``train.resume``), or one initialised from
    ``train.init`` (fine-tuning: its weights and config, a fresh optimizer)."""
    resume = load_checkpoint(last_path) if train.resume and last_path.is_file() else None
    init = load_checkpoint(train.init) if train.init and resume is None else None
    source = resume or init
    if source is not None:
        model_cfg = SynNetConfig.from_dict(dict(source["config"]))
    model = SynNet(model_cfg).to(device)
    if source is not None:
        model.load_state_dict({k: v.float() for k, v in source["model"].items()})
    trainable = freeze_parameters(model, train.freeze)
    if device.type == "cpu":
        model.features.use_channels_last(True)  # same numbers, faster ResNet on a CPU
    optimizer = torch.optim.AdamW(trainable, lr=train.lr, weight_decay=train.weight_decay)
    net: nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    state = TrainState(model, net, optimizer, device, world, rank)
    if resume is not None:
        if "optimizer" in resume:
            optimizer.load_state_dict(resume["optimizer"])
        state.step = int(resume["step"])
        state.pairs_seen = int(resume.get("pairs_seen", state.step * train.batch_size * world))
        state.best_accuracy = float(resume.get("best_accuracy", -1.0))
        state.started = float(resume.get("started", state.started))
    return state


def freeze_parameters(model: nn.Module, prefixes) -> list[nn.Parameter]:
    """Fix the parameters whose names start with one of ``prefixes`` (no gradient, left out of the
    optimizer); returns the others. Unknown prefixes are an error."""
    prefixes = tuple(prefixes or ())
    names = [n for n, _ in model.named_parameters()]
    for pre in prefixes:
        if not any(n.startswith(pre) for n in names):
            raise InputError(None, f"--freeze {pre!r} names no parameters of the model")
    trainable = []
    for n, prm in model.named_parameters():
        frozen = n.startswith(prefixes) if prefixes else False
        prm.requires_grad_(not frozen)
        if not frozen:
            trainable.append(prm)
    return trainable


def set_train_mode(model: nn.Module, prefixes=()) -> None:
    """model.train(), with the frozen submodules (``TrainConfig.freeze``) in eval mode: their
    BatchNorm keeps the running statistics inference uses."""
    model.train()
    prefixes = tuple(prefixes or ())
    if not prefixes:
        return
    for name, module in model.named_modules():
        if name and name.startswith(prefixes):
            module.eval()


def build_data(state: TrainState, train: TrainConfig, data: DataConfig):
    """(training DataLoader over ``PairStream``, fixed held-out validation pairs or None).

    Validation pairs: {"plain": the paper protocol} and, when ``data.conditions`` is set,
    {"conditions": the same realistic conditions as in training}, on held-out motions only."""
    cfg = state.model.cfg
    stream = PairStream(cfg, dataclasses.replace(data, split="train"), seed=train.seed, rank=state.rank,
                        start_pairs=state.pairs_seen)
    stream.motions()  # loaded once here; DataLoader workers fork and share them
    val = None
    if state.is_main and train.val_pairs > 0:
        plain = dataclasses.replace(data, split="heldout", augment=False, conditions=None, chunk=1)
        val = {"plain": fixed_pairs(cfg, train.val_pairs, seed=12345, data=plain)}
        if data.conditions is not None:
            cond = dataclasses.replace(data, split="heldout", augment=False, chunk=max(data.chunk, 8))
            val["conditions"] = fixed_pairs(cfg, train.val_pairs, seed=12346, data=cond)
    loader = torch.utils.data.DataLoader(
        stream, batch_size=train.batch_size, num_workers=train.workers,
        pin_memory=state.device.type == "cuda", persistent_workers=train.workers > 0,
        prefetch_factor=4 if train.workers > 0 else None)
    return loader, val


def learning_rate(step: int, progress: float, train: TrainConfig) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine to 0 at ``progress`` = 1."""
    if step < train.warmup_steps:
        return train.lr * (step + 1) / train.warmup_steps
    return train.lr * 0.5 * (1 + math.cos(math.pi * progress))


def train_step(state: TrainState, batch: dict, lr: float) -> tuple[float, float, dict]:
    """One optimizer step on a PairStream batch; returns (loss, class accuracy, loss terms)."""
    model, cfg = state.model, state.model.cfg
    batch = {k: v.to(state.device, non_blocking=True) for k, v in batch.items()}
    for g in state.optimizer.param_groups:
        g["lr"] = lr
    with torch.no_grad():
        heat_a = model.heatmaps(batch["a_xy"], batch["a_conf"])
        heat_b = model.heatmaps(batch["b_xy"], batch["b_conf"])
    with autocast(state.device):
        out = state.net(heat_a, heat_b)
    loss, stats = synnet_loss(out["frame_logits"], batch["offset"], cfg)
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    state.optimizer.step()
    state.step += 1
    state.pairs_seen += len(batch["offset"]) * state.world
    _, cls = shift_targets(batch["offset"], cfg)
    acc = float((out["class_logits"].detach().argmax(-1) == cls).float().mean())
    return float(loss.detach()), acc, stats


def validation_metrics(model: SynNet, val: dict | None, device: torch.device) -> dict:
    """``evaluate_batch`` on each validation set. With one set its metrics; with several their
    means (the model selection score) plus each set's, prefixed by its name ("conditions_accuracy")."""
    if not val:
        return {}
    per_set = {name: evaluate_batch(model, batch, device) for name, batch in val.items()}
    if len(per_set) == 1:
        return next(iter(per_set.values()))
    out = {k: float(np.mean([m[k] for m in per_set.values()])) for k in next(iter(per_set.values()))}
    for name, m in per_set.items():
        out.update({f"{name}_{k}": v for k, v in m.items()})
    return out


def validate_and_save(state: TrainState, val: dict | None, train: TrainConfig, out_dir: Path,
                      validate: bool = True) -> dict:
    """Held-out metrics of the current model (when ``validate``); writes last.pt, and best.pt when
    the accuracy is the best so far."""
    metrics = validation_metrics(state.model, val, state.device) if validate else {}
    set_train_mode(state.model, train.freeze)
    acc = metrics.get("accuracy", -1.0)
    extra = {"pairs_seen": state.pairs_seen, "best_accuracy": max(state.best_accuracy, acc),
             "started": state.started}
    cfg = state.model.cfg
    save_checkpoint(out_dir / "last.pt", state.model, cfg, state.step, metrics, state.optimizer, train, extra)
    if validate and acc > state.best_accuracy:
        state.best_accuracy = acc
        save_checkpoint(out_dir / "best.pt", state.model, cfg, state.step, metrics, None, train, extra)
    return metrics


def write_metrics(out_dir: Path, record: dict) -> None:
    with open(out_dir / "metrics.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


def train_loop(state: TrainState, loader, val: dict | None, train: TrainConfig, out_dir: Path) -> dict:
    """Optimizer steps until ``train.steps`` or the time limit, validating and checkpointing every
    ``ckpt_every`` steps and at the end. Returns the last held-out metrics."""
    t0 = state.started
    deadline = t0 + train.max_minutes * 60 if train.max_minutes else None
    val_every = train.val_every or train.ckpt_every

    def progress() -> float:
        p = state.step / max(train.steps, 1)
        if deadline is not None:
            p = max(p, (time.time() - t0) / (deadline - t0))
        return min(p, 1.0)

    def event(**rec) -> dict:
        return {"step": state.step, "pairs": state.pairs_seen, "time_s": round(time.time() - t0, 1), **rec}

    bar = tqdm(total=train.steps, initial=state.step, disable=not state.is_main, desc="train", dynamic_ncols=True)
    set_train_mode(state.model, train.freeze)
    run_loss = run_acc = None
    metrics: dict = {}
    validated_at = None
    data_iter = iter(loader)
    while state.step < train.steps and (deadline is None or time.time() < deadline):
        lr = learning_rate(state.step, progress(), train)
        loss, acc, stats = train_step(state, next(data_iter), lr)
        run_loss = loss if run_loss is None else 0.95 * run_loss + 0.05 * loss
        run_acc = acc if run_acc is None else 0.95 * run_acc + 0.05 * acc
        if not state.is_main:
            continue
        bar.update(1)
        bar.set_postfix(loss=f"{run_loss:.3f}", acc=f"{run_acc:.2f}")
        if state.step % train.log_every == 0:
            write_metrics(out_dir, event(lr=learning_rate(state.step, progress(), train), loss=run_loss,
                                         acc=run_acc, **stats))
        if state.step % val_every == 0:
            metrics = validate_and_save(state, val, train, out_dir)
            validated_at = state.step
            write_metrics(out_dir, event(val=metrics))
            bar.write(f"step {state.step}: held-out {json.dumps(metrics)}")
        elif state.step % train.ckpt_every == 0:
            validate_and_save(state, val, train, out_dir, validate=False)
    bar.close()
    if state.is_main and validated_at != state.step:  # not validated at this step yet
        metrics = validate_and_save(state, val, train, out_dir)
        write_metrics(out_dir, event(val=metrics, final=True))
    return metrics


def main(model_cfg: SynNetConfig, train: TrainConfig, out_dir: str | Path,
         data: DataConfig | None = None) -> Path:
    """Train; returns the path of the best checkpoint (``out_dir/best.pt``)."""
    out_dir = Path(out_dir)
    device, world, rank = setup_device(train)
    data = data or DataConfig()
    if train.noise_ramp_pairs is not None:
        data = dataclasses.replace(data, noise_ramp_pairs=train.noise_ramp_pairs)
    torch.manual_seed(train.seed + rank)
    np.random.seed(train.seed + rank)
    state = build_state(model_cfg, train, out_dir / "last.pt", device, world, rank)
    loader, val = build_data(state, train, data)
    if state.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text(json.dumps(
            {"model": state.model.cfg.to_dict(), "train": dataclasses.asdict(train),
             "data": dataclasses.asdict(data)}, indent=2) + "\n")
    train_loop(state, loader, val, train, out_dir)
    if world > 1:
        import torch.distributed as dist
        dist.barrier()
        dist.destroy_process_group()
    return out_dir / "best.pt"
