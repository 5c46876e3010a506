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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from ..errors import InputError
from ..fileio import atomic_path
from .data import DataConfig, PairStream, fixed_pairs
from .model import SynNet, SynNetConfig, shift_targets, synnet_loss


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
    ckpt_every: int = 500
    val_pairs: int = 256
    threads: int | None = None    # torch CPU threads (None = torch default)
    noise_ramp_pairs: int | None = None  # override DataConfig.noise_ramp_pairs
    init: str | None = None       # start from this checkpoint's weights (and config); fresh optimizer


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


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint; InputError when missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # torch raises many types on corrupt files
        raise InputError(path, f"not a readable SynNet checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise InputError(path, "not a SynNet checkpoint (no config / model inside)")
    return state


def build_model(state: dict, path: str | Path = "checkpoint") -> SynNet:
    """A SynNet in eval mode from a loaded checkpoint dict."""
    try:
        cfg = SynNetConfig.from_dict(dict(state["config"]))
        model = SynNet(cfg)
        model.load_state_dict({k: v.float() for k, v in state["model"].items()})
    except (ValueError, TypeError, RuntimeError, KeyError) as exc:
        raise InputError(path, f"checkpoint does not fit SynNet: {str(exc).splitlines()[0]}") from None
    return model.eval()


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


def main(model_cfg: SynNetConfig, train: TrainConfig, out_dir: str | Path,
         data: DataConfig | None = None) -> Path:
    """Train; returns the path of the best checkpoint (``out_dir/best.pt``)."""
    out_dir = Path(out_dir)
    world, rank, local = _dist_info()
    distributed = world > 1
    if distributed:
        import torch.distributed as dist
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        device = torch.device("cuda", local) if torch.cuda.is_available() else torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    else:
        device = resolve_device(train.device)
    is_main = rank == 0
    if train.threads:
        torch.set_num_threads(train.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    data = data or DataConfig()
    if train.noise_ramp_pairs is not None:
        data = dataclasses.replace(data, noise_ramp_pairs=train.noise_ramp_pairs)
    torch.manual_seed(train.seed + rank)
    np.random.seed(train.seed + rank)

    step, pairs_seen, best_acc, resume_state = 0, 0, -1.0, None
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    if train.resume and last_path.is_file():
        resume_state = load_checkpoint(last_path)
        model_cfg = SynNetConfig.from_dict(dict(resume_state["config"]))
        step = int(resume_state["step"])
        pairs_seen = int(resume_state.get("pairs_seen", step * train.batch_size * world))
        best_acc = float(resume_state.get("best_accuracy", -1.0))

    init_state = None
    if train.init and resume_state is None:
        init_state = load_checkpoint(train.init)
        model_cfg = SynNetConfig.from_dict(dict(init_state["config"]))
    model = SynNet(model_cfg).to(device)
    if init_state is not None:
        model.load_state_dict({k: v.float() for k, v in init_state["model"].items()})
    optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
        if "optimizer" in resume_state:
            optimizer.load_state_dict(resume_state["optimizer"])
    net = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    # Motions are loaded once here; DataLoader workers fork and share them.
    stream = PairStream(model_cfg, dataclasses.replace(data, split="train"), seed=train.seed, rank=rank,
                        start_pairs=pairs_seen)
    stream.motions()
    val = None
    if is_main and train.val_pairs > 0:
        val_data = dataclasses.replace(data, split="heldout", augment=False)
        val = fixed_pairs(model_cfg, train.val_pairs, seed=12345, data=val_data)
    loader = torch.utils.data.DataLoader(
        stream, batch_size=train.batch_size, num_workers=train.workers,
        pin_memory=device.type == "cuda", persistent_workers=train.workers > 0,
        prefetch_factor=4 if train.workers > 0 else None)

    if is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text(json.dumps(
            {"model": model_cfg.to_dict(), "train": dataclasses.asdict(train),
             "data": dataclasses.asdict(data)}, indent=2) + "\n")
    t0 = time.time()
    deadline = t0 + train.max_minutes * 60 if train.max_minutes else None

    def progress() -> float:
        p = step / max(train.steps, 1)
        if deadline is not None:
            p = max(p, (time.time() - t0) / (deadline - t0))
        return min(p, 1.0)

    def lr_at() -> float:
        if step < train.warmup_steps:
            return train.lr * (step + 1) / train.warmup_steps
        return train.lr * 0.5 * (1 + math.cos(math.pi * progress()))

    def write_metrics(rec: dict) -> None:
        with open(out_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")

    def checkpoint(metrics: dict) -> None:
        nonlocal best_acc
        extra = {"pairs_seen": pairs_seen, "best_accuracy": max(best_acc, metrics.get("accuracy", -1.0))}
        save_checkpoint(last_path, model, model_cfg, step, metrics, optimizer, train, extra)
        if metrics.get("accuracy", -1.0) > best_acc:
            best_acc = metrics["accuracy"]
            save_checkpoint(best_path, model, model_cfg, step, metrics, None, train, extra)

    def validate() -> dict:
        metrics = evaluate_batch(model, val, device) if val is not None else {}
        model.train()
        return metrics

    bar = tqdm(total=train.steps, initial=step, disable=not is_main, desc="train", dynamic_ncols=True)
    model.train()
    run_loss = run_acc = None
    last_metrics: dict = {}
    data_iter = iter(loader)
    while step < train.steps and (deadline is None or time.time() < deadline):
        batch = next(data_iter)
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        for g in optimizer.param_groups:
            g["lr"] = lr_at()
        with torch.no_grad():
            heat_a = model.heatmaps(batch["a_xy"], batch["a_conf"])
            heat_b = model.heatmaps(batch["b_xy"], batch["b_conf"])
        with autocast(device):
            out = net(heat_a, heat_b)
        loss, stats = synnet_loss(out["frame_logits"], batch["offset"], model_cfg)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        step += 1
        pairs_seen += len(batch["offset"]) * world
        _, cls = shift_targets(batch["offset"], model_cfg)
        acc = float((out["class_logits"].detach().argmax(-1) == cls).float().mean())
        lv = float(loss.detach())
        run_loss = lv if run_loss is None else 0.95 * run_loss + 0.05 * lv
        run_acc = acc if run_acc is None else 0.95 * run_acc + 0.05 * acc
        if is_main:
            bar.update(1)
            bar.set_postfix(loss=f"{run_loss:.3f}", acc=f"{run_acc:.2f}")
            if step % train.log_every == 0:
                write_metrics({"step": step, "pairs": pairs_seen, "time_s": round(time.time() - t0, 1),
                               "lr": lr_at(), "loss": run_loss, "acc": run_acc, **stats})
            if step % train.ckpt_every == 0:
                last_metrics = validate()
                write_metrics({"step": step, "pairs": pairs_seen, "time_s": round(time.time() - t0, 1),
                               "val": last_metrics})
                bar.write(f"step {step}: held-out {json.dumps(last_metrics)}")
                checkpoint(last_metrics)
    bar.close()
    if is_main and not (step % train.ckpt_every == 0 and last_metrics):  # not validated at this step yet
        last_metrics = validate()
        write_metrics({"step": step, "pairs": pairs_seen, "time_s": round(time.time() - t0, 1),
                       "val": last_metrics, "final": True})
        checkpoint(last_metrics)
    if distributed:
        import torch.distributed as dist
        dist.barrier()
        dist.destroy_process_group()
    return best_path
