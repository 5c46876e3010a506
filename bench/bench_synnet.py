"""SynNet throughput: pair generation (per data worker), inference and training steps.

  python bench/bench_synnet.py                       # CPU, 2 threads, shipped default config
  python bench/bench_synnet.py --device cuda --batch 128 --config default
  python bench/bench_synnet.py --append-docs         # also append a section to docs/benchmarks.md
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from synnet_recon.sync.data import DataConfig, PairStream  # noqa: E402
from synnet_recon.sync.model import SynNet, SynNetConfig, synnet_loss  # noqa: E402
from synnet_recon.sync.train import autocast  # noqa: E402


def bench_pairs(cfg: SynNetConfig, motions: str | None, seconds: float = 5.0) -> float:
    stream = PairStream(cfg, DataConfig(root=motions), seed=0)
    stream.motions()
    it = iter(stream)
    next(it)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        next(it)
        n += 1
    return n / (time.perf_counter() - t0)


def random_batch(cfg: SynNetConfig, b: int, device):
    w = cfg.window_frames
    xy = torch.rand(b, w, 18, 2, device=device) * 300 + 100
    conf = torch.rand(b, w, 18, device=device) * 0.5 + 0.5
    return xy, conf, torch.randint(-cfg.M * cfg.r, cfg.M * cfg.r - cfg.r, (b,), device=device)


def bench_model(cfg: SynNetConfig, batch: int, device: torch.device, train: bool, seconds: float = 8.0) -> float:
    model = SynNet(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    xy, conf, off = random_batch(cfg, batch, device)
    model.train(train)

    def step():
        if train:
            with autocast(device):
                out = model.forward_keypoints(xy, conf, xy, conf)
            loss, _ = synnet_loss(out["frame_logits"], off, cfg)
            opt.zero_grad()
            loss.backward()
            opt.step()
        else:
            with torch.no_grad(), autocast(device):
                model.forward_keypoints(xy, conf, xy, conf)

    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        n += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n * batch / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="default")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--motions", default=None, help="motion folder or cache .npz")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--append-docs", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = SynNetConfig.parse(args.config)
    res = {"config": cfg.name, "device": args.device, "threads": args.threads, "batch": args.batch,
           "params_M": round(sum(p.numel() for p in SynNet(cfg).parameters()) / 1e6, 2)}
    res["pairs_per_s_per_worker"] = round(bench_pairs(cfg, args.motions, min(args.seconds, 5.0)), 1)
    res["infer_pairs_per_s"] = round(bench_model(cfg, args.batch, device, False, args.seconds), 1)
    res["train_pairs_per_s"] = round(bench_model(cfg, args.batch, device, True, args.seconds), 1)
    print(json.dumps(res))
    if args.append_docs:
        machine = ("2-core CPU dev machine" if args.device == "cpu" else torch.cuda.get_device_name())
        doc = REPO / "docs" / "benchmarks.md"
        text = doc.read_text() if doc.exists() else "# Benchmarks\n"
        if "\n## SynNet\n" not in text:
            text += ("\n## SynNet\n\n`python bench/bench_synnet.py` (random keypoint windows for the model; "
                     "real simulated pairs for the generator).\n\n"
                     "| machine | config | params | batch | threads | pair generation / worker | inference pairs/s "
                     "| training pairs/s |\n|---|---|---|---|---|---|---|---|\n")
        text += (f"| {machine} ({platform.python_version()}, torch {torch.__version__}) | {cfg.name} | "
                 f"{res['params_M']} M | {args.batch} | {args.threads} | {res['pairs_per_s_per_worker']} /s | "
                 f"{res['infer_pairs_per_s']} | {res['train_pairs_per_s']} |\n")
        doc.write_text(text)


if __name__ == "__main__":
    main()
