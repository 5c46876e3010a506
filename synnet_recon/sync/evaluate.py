"""The paper's evaluation (section 4.2) on held-out motion capture (``synrecon eval``).

Protocol: clip pairs of n*r = 32 frames at 30 fps (the paper's n = 8 frames every r = 4 frames),
b offset by m*r frames with m uniform in [-M, M-1] = [-4, 3]; two independent moving cameras with
realistic detector noise (level 1); motion files from the held-out split only (``data.py``).

  Accuracy = fraction of pairs whose offset class is right;
  SynError = mean |R - T| * r / fps seconds (R, T predicted and true class).

Compared on the same pairs: the shipped (or given) SynNet, ablation checkpoints, and two
training-free baselines restricted to the same 2M candidate offsets: Pose2Sim-style keypoint-speed
correlation and the view-invariant pose-trajectory correlation (``baselines.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..errors import InputError
from ..fileio import write_json
from .data import DataConfig, PairStream
from .model import SynNetConfig


@dataclass
class EvalConfig:
    pairs: int = 1000
    seed: int = 0
    n: int = 8
    M: int = 4
    r: int = 4
    fps: float = 30.0
    noise: float = 1.0
    motions: str | None = None   # motion folder or cache; None = shared data
    heldout_fraction: float = 0.2
    device: str = "cpu"
    baselines: bool = True
    ablations: dict[str, str] = field(default_factory=dict)  # name -> checkpoint
    mirror_tta: bool = False     # also score the main model with mirror test-time augmentation


def protocol_config(conf: EvalConfig) -> SynNetConfig:
    """A config that only carries the protocol (n, M, r, fps) for pair generation."""
    return SynNetConfig(n=conf.n, M=conf.M, r=conf.r, fps=conf.fps, full_rate=False, head="shift")


def make_pairs(conf: EvalConfig) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Held-out pairs under the protocol: dict of stacked tensors (PairStream items) and the names
    of the motions (indexed by ``motion``)."""
    cfg = protocol_config(conf)
    data = DataConfig(root=conf.motions, split="heldout", augment=False, eval_noise=conf.noise,
                      heldout_fraction=conf.heldout_fraction)
    stream = PairStream(cfg, data, seed=conf.seed + 1_000_003)
    names = [m.name for m in stream.motions()]
    items = []
    for item in tqdm(stream, total=conf.pairs, desc="pairs", leave=False):
        items.append(item)
        if len(items) >= conf.pairs:
            break
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}, names


def score_metrics(pred_class: np.ndarray, true_class: np.ndarray, r: int, fps: float) -> dict:
    err = np.abs(pred_class - true_class)
    return {"accuracy": float(np.mean(err == 0)), "syn_error_s": float(np.mean(err) * r / fps),
            "within_one_class": float(np.mean(err <= 1))}


def eval_synnet(checkpoint: str | Path | None, pairs: dict, conf: EvalConfig,
                mirror_tta: bool = False) -> tuple[dict, np.ndarray]:
    """Metrics of one checkpoint on the pairs; also returns its predicted classes (N,)."""
    from .matcher import SynNetMatcher
    matcher = SynNetMatcher(checkpoint, device=conf.device, mirror_tta=mirror_tta)
    c = matcher.config
    if (c.window_frames, c.M, c.r, c.fps) != (conf.n * conf.r, conf.M, conf.r, conf.fps):
        raise InputError(matcher.checkpoint, f"model protocol (window {c.window_frames}, M={c.M}, r={c.r}, "
                                             f"{c.fps:g} fps) differs from the evaluation's "
                                             f"(window {conf.n * conf.r}, M={conf.M}, r={conf.r}, {conf.fps:g} fps)")
    args = [pairs[k].numpy() for k in ("a_xy", "a_conf", "b_xy", "b_conf")]
    scores = matcher.score_all(*args)  # one pass for both resolutions
    pred = scores["class"].argmax(-1) - conf.M
    true = pairs["offset"].numpy() // conf.r
    out = score_metrics(pred, true, conf.r, conf.fps)
    if c.full_rate:
        fpred = matcher.frame_shifts[scores["frame"].argmax(-1)]
        out["frame_error_frames"] = float(np.mean(np.abs(fpred - pairs["offset"].numpy())))
    out["checkpoint"] = str(matcher.checkpoint)
    out["config"] = c.name
    return out, pred


def eval_baseline(scorer, pairs: dict, conf: EvalConfig) -> tuple[dict, np.ndarray]:
    """A training-free scorer restricted to the 2M class offsets m*r; NaN scores never win."""
    offsets = np.arange(-conf.M, conf.M) * conf.r
    a, b = pairs["a_xy"].numpy(), pairs["b_xy"].numpy()
    ca, cb = pairs["a_conf"].numpy(), pairs["b_conf"].numpy()
    preds = []
    for i in range(len(a)):
        xa = np.where((ca[i] > 0)[..., None], a[i], np.nan)
        xb = np.where((cb[i] > 0)[..., None], b[i], np.nan)
        s = np.asarray(scorer(xa, xb, offsets), dtype=np.float64)
        s = np.where(np.isfinite(s), s, -np.inf)
        preds.append(int(np.argmax(s)) - conf.M)  # all -inf -> class -M, counted as a guess
    pred = np.array(preds)
    true = pairs["offset"].numpy() // conf.r
    return score_metrics(pred, true, conf.r, conf.fps), pred


def per_motion(pred: np.ndarray, pairs: dict, names: list[str], r: int) -> dict:
    true = pairs["offset"].numpy() // r
    idx = pairs["motion"].numpy()
    out = {}
    for i in np.unique(idx):
        sel = idx == i
        out[names[i]] = {"pairs": int(sel.sum()), "accuracy": float(np.mean(pred[sel] == true[sel]))}
    return dict(sorted(out.items(), key=lambda kv: kv[1]["accuracy"]))


def main(conf: EvalConfig, checkpoint: str | Path | None = None, out: str | Path | None = None) -> dict:
    """Run the evaluation; prints a table, writes JSON atomically to ``out`` when given."""
    pairs, names = make_pairs(conf)
    results: dict[str, dict] = {}
    main_metrics, main_pred = eval_synnet(checkpoint, pairs, conf)
    results["synnet"] = main_metrics
    if conf.mirror_tta:
        results["synnet_mirror_tta"] = eval_synnet(checkpoint, pairs, conf, mirror_tta=True)[0]
    for name, ckpt in conf.ablations.items():
        results[f"synnet_{name}"] = eval_synnet(ckpt, pairs, conf)[0]
    if conf.baselines:
        from . import baselines
        results["speed_correlation"] = eval_baseline(baselines.speed_correlation_scores, pairs, conf)[0]
        results["trajectory_correlation"] = eval_baseline(baselines.trajectory_correlation_scores, pairs, conf)[0]
    chance = 1.0 / (2 * conf.M)
    report = {
        "protocol": {"pairs": len(pairs["offset"]), "seed": conf.seed, "n": conf.n, "M": conf.M, "r": conf.r,
                     "fps": conf.fps, "window_frames": conf.n * conf.r, "noise_level": conf.noise,
                     "split": "heldout motion files", "heldout_motions": len(names), "chance_accuracy": chance},
        "methods": results,
        "synnet_per_motion": per_motion(main_pred, pairs, names, conf.r),
    }
    print(format_table(report))
    if out is not None:
        write_json(out, report)
    return report


def format_table(report: dict) -> str:
    p = report["protocol"]
    lines = [f"{p['pairs']} held-out pairs ({p['heldout_motions']} motions), {p['window_frames']} frames at "
             f"{p['fps']:g} fps, offsets m*{p['r']} frames, m in [-{p['M']}, {p['M'] - 1}], noise {p['noise_level']:g}",
             f"{'method':<28}{'Accuracy':>10}{'SynError':>11}{'<=1 class':>11}{'frame err':>11}"]
    for name, m in report["methods"].items():
        fe = m.get("frame_error_frames")
        lines.append(f"{name:<28}{m['accuracy'] * 100:>9.1f}%{m['syn_error_s']:>10.4f}s"
                     f"{m['within_one_class'] * 100:>10.1f}%{(f'{fe:.2f}' if fe is not None else '-'):>11}")
    lines.append(f"{'chance':<28}{p['chance_accuracy'] * 100:>9.1f}%")
    return "\n".join(lines)
