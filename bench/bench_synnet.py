"""SynNet throughput: pair generation (per data worker), inference and training steps, and the
whole-track evidence of ``SynNetMatcher.offset_evidence`` (shipped weights).

  python bench/bench_synnet.py                       # CPU, 2 threads, shipped default config
  python bench/bench_synnet.py --tracks-only --threads 1   # only the whole-track evidence
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


def bench_tracks(frames: int = 300, max_offset_s: float = 2.0, repeats: int = 3) -> dict:
    """Seconds (wall and CPU of this process) for the SynNet evidence of one pair of ``frames``-frame
    tracks over every offset within +-``max_offset_s`` at the model's fps: features of both tracks
    (encoder + bi-ConvLSTM, once per track), then the pair head along every diagonal. Best of
    ``repeats``; the features are recomputed each time (the cache is cleared)."""
    import numpy as np

    from synnet_recon.motion import load_motion
    from synnet_recon.paths import PACKAGE_DATA
    from synnet_recon.sync.matcher import SynNetMatcher
    from synnet_recon.synth.noise import DetectorNoise
    from synnet_recon.synth.scene import sample_pair

    matcher = SynNetMatcher()
    fps = matcher.config.fps
    motion = load_motion(PACKAGE_DATA / "mocap" / "131_02.bvh").resample(fps)
    a, b = sample_pair(motion, frames, fps, 10.0, np.random.default_rng(0), DetectorNoise())
    offsets = np.arange(-round(max_offset_s * fps), round(max_offset_s * fps) + 1) / fps
    out = {"frames": frames, "offsets": len(offsets)}
    for context in (None, matcher.window_frames):
        matcher.context = context
        best = {"wall_s": float("inf"), "cpu_s": float("inf"), "features_cpu_s": float("inf")}
        for _ in range(repeats):
            matcher._cache.clear()
            w0, c0 = time.perf_counter(), time.process_time()
            matcher.track_features(a)
            matcher.track_features(b)
            c1 = time.process_time()
            scores, _ = matcher.offset_evidence(a, b, offsets)
            best = {"wall_s": min(best["wall_s"], time.perf_counter() - w0),
                    "cpu_s": min(best["cpu_s"], time.process_time() - c0),
                    "features_cpu_s": min(best["features_cpu_s"], c1 - c0)}
        best["best_offset_frames"] = float(offsets[np.nanargmax(scores)] * fps)
        out["context_track" if context is None else f"context_{context}"] = {k: round(v, 3) if isinstance(v, float)
                                                                             else v for k, v in best.items()}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="default")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--motions", default=None, help="motion folder or cache .npz")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--append-docs", action="store_true")
    ap.add_argument("--tracks-only", action="store_true", help="only the whole-track evidence")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tracks = bench_tracks()
    tracks["threads"] = args.threads
    print(json.dumps({"offset_evidence_pair_of_300_frame_tracks": tracks}))
    if args.tracks_only:
        return
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
