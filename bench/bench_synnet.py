"""SynNet throughput: pair generation (per data worker), inference and training steps, and the
whole-track evidence of ``SynNetMatcher.offset_evidence`` (shipped weights).

  python bench/bench_synnet.py                       # CPU, 2 threads, shipped default config
  python bench/bench_synnet.py --tracks-only --threads 1   # only the whole-track evidence
  python bench/bench_synnet.py --accuracy --motions runs/motions30.npz --checkpoint new.pt --out acc.json
      # held-out accuracy: paper protocol, paper protocol with upper-body views, long tracks
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


def paper_pairs(motions: str | None, n_pairs: int, conditions=None, seed: int = 0) -> dict:
    """Held-out pairs of the paper protocol (the pairs of ``synrecon eval`` when ``conditions`` is
    None), or the same protocol with realistic conditions (``data.Conditions``)."""
    from synnet_recon.sync.data import DataConfig, PairStream
    from synnet_recon.sync.evaluate import EvalConfig, make_pairs, protocol_config

    conf = EvalConfig(pairs=n_pairs, seed=seed, motions=motions)
    if conditions is None:
        return make_pairs(conf)[0]
    data = DataConfig(root=motions, split="heldout", augment=False, conditions=conditions, chunk=8)
    stream = PairStream(protocol_config(conf), data, seed=seed + 2_000_003)
    items = [it for _, it in zip(range(n_pairs), stream)]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def window_metrics(matcher, pairs: dict) -> dict:
    """Class accuracy, SynError (s) and share within 2 frames (frame-resolution argmax)."""
    import numpy as np
    cfg = matcher.config
    scores = matcher.score_all(*(pairs[k].numpy() for k in ("a_xy", "a_conf", "b_xy", "b_conf")))
    true = pairs["offset"].numpy()
    cls_err = np.abs(scores["class"].argmax(-1) - cfg.M - np.floor_divide(true + cfg.r // 2, cfg.r))
    frame_err = np.abs(matcher.frame_shifts[scores["frame"].argmax(-1)] - true)
    return {"pairs": len(true), "class_accuracy": float(np.mean(cls_err == 0)),
            "syn_error_s": float(np.mean(cls_err) * cfg.r / cfg.fps), "within_2_frames": float(np.mean(frame_err <= 2)),
            "mean_frame_error": float(np.mean(frame_err))}


def long_track_metrics(matcher, motions: str | None, n_pairs: int, frames: int = 120, max_offset: int = 24,
                       search: int = 36, seed: int = 0, conditions=None) -> dict:
    """Pairs of ``frames``-frame held-out tracks, b offset by a real number of frames in
    +-``max_offset``; ``offset_evidence`` over the integer offsets in +-``search``, for the
    whole-track context and for training-size windows. Returns per context: within 2 frames,
    within half a frame (of the true real offset, parabola refined), mean error (frames)."""
    import numpy as np

    from synnet_recon.keypoints import Keypoints
    from synnet_recon.sync.data import apply_conditions, split_motions
    from synnet_recon.synth.noise import DetectorNoise
    from synnet_recon.synth.scene import sample_pair_batch

    fps = matcher.config.fps
    rng = np.random.default_rng(seed)
    need = (frames + max_offset + 2) / fps
    motions = [m for m in split_motions(motions, "heldout", 0.2, fps, 0.0) if m.duration > need + 0.1]
    weights = np.sqrt([m.duration for m in motions])
    weights /= weights.sum()
    cand = np.arange(-search, search + 1)
    errors: dict = {"track": [], "window": []}
    for _ in range(n_pairs):
        motion = motions[int(rng.choice(len(motions), p=weights))]
        true = float(rng.uniform(-max_offset, max_offset))
        batch = sample_pair_batch(motion, 1, frames, fps, true, rng, DetectorNoise(level=1.0))
        xy, conf = batch.xy, batch.conf
        if conditions is not None:
            xy, conf = apply_conditions(xy, conf, batch.image_size, conditions, rng)
        ka, kb = (Keypoints.from_fps(xy[0, i], conf[0, i], fps, tuple(batch.image_size[0, i])) for i in (0, 1))
        for name, context in (("track", None), ("window", matcher.window_frames)):
            matcher.context = context
            scores, _ = matcher.offset_evidence(ka, kb, cand / fps)
            i = int(np.nanargmax(np.where(np.isfinite(scores), scores, -np.inf)))
            est = float(cand[i])
            if 0 < i < len(cand) - 1 and np.isfinite(scores[i - 1:i + 2]).all():
                y0, y1, y2 = scores[i - 1:i + 2]
                den = y0 - 2 * y1 + y2
                est += 0.5 * (y0 - y2) / den if den < 0 else 0.0
            errors[name].append(abs(est - true))
    out = {"pairs": n_pairs, "frames": frames, "max_offset_frames": max_offset, "search_frames": search}
    for name, e in errors.items():
        e = np.array(e)
        out[f"context_{name}"] = {"within_2_frames": float(np.mean(e <= 2)), "within_half_frame": float(np.mean(e <= 0.5)),
                                  "mean_error_frames": float(np.mean(e))}
    return out


def bench_accuracy(args) -> dict:
    from synnet_recon.sync.data import Conditions
    from synnet_recon.sync.matcher import SynNetMatcher

    upper = Conditions(upper_body=1.0, portrait=0.0, sideways=0.0, tripod=0.0, correlated_errors=0.0,
                       partial=0.0, identity_switch=0.0)
    out = {}
    for ckpt in args.checkpoint or [None]:
        matcher = SynNetMatcher(ckpt)
        res = {"paper": window_metrics(matcher, paper_pairs(args.motions, args.pairs)),
               "paper_upper_body": window_metrics(matcher, paper_pairs(args.motions, args.pairs, upper))}
        if args.long_pairs:
            res["long_tracks"] = long_track_metrics(matcher, args.motions, args.long_pairs)
            res["long_tracks_upper_body"] = long_track_metrics(matcher, args.motions, args.long_pairs, conditions=upper)
        out[str(ckpt or "shipped")] = res
        print(json.dumps({str(ckpt or "shipped"): res}), flush=True)
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
    ap.add_argument("--accuracy", action="store_true", help="only the held-out accuracy (see bench_accuracy)")
    ap.add_argument("--checkpoint", action="append", help="checkpoint(s) for --accuracy (default: shipped)")
    ap.add_argument("--pairs", type=int, default=300, help="window pairs per protocol for --accuracy")
    ap.add_argument("--long-pairs", type=int, default=40, help="long track pairs for --accuracy")
    ap.add_argument("--out", default=None, help="write the --accuracy JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.accuracy:
        res = bench_accuracy(args)
        if args.out:
            Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
        return
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
