"""Reliability of align's pair confidence on held-out motions under realistic conditions.

    python bench/bench_confidence.py --scenes 40      # writes docs/img/sync_reliability.png

Scenes as in bench/fit_combiner.py (the same conditions, short clips and long windows, static and
moving cameras, unrelated pairs), but from the HELD-OUT motions, never used to fit the combiner.
Each scene's three inputs go through ``align`` (loops of three checked), and every pair's
confidence is compared with whether its offset is within one frame. Not run in CI.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_combiner import training_pairs  # noqa: E402

from synnet_recon.sync.align import AlignConfig, align  # noqa: E402

BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0001)


def collect(n_scenes: int, seed: int, cues: str):
    """(confidence, |error| frames, condition) of every answered pair, through align per scene."""
    pairs = training_pairs(n_scenes, seed, split="heldout")
    scenes = [pairs[k:k + 3] for k in range(0, 3 * n_scenes, 3)]
    out = []
    for scene in scenes:
        (k0, k1, t01, label), (_, k2, t02, _), _ = scene
        kps = [k0.__class__(k.xy, k.conf, k.times, k.image_size, f"cam{i}") for i, k in enumerate((k0, k1, k2))]
        truth = {"cam0": 0.0, "cam1": t01, "cam2": t02}
        max_offset = 16 / 30 if label.startswith("short") else None
        res = align(kps, AlignConfig(progress=False, synnet="off", cues=cues, max_offset=max_offset))
        for p in res.pairs:
            err = np.inf if p.offset_seconds is None else abs(p.offset_seconds - (truth[p.b] - truth[p.a])) * 30
            out.append((p.confidence, err, label))
    for ka, kb, _truth, label in pairs[3 * n_scenes:]:  # unrelated: nothing is right
        res = align([ka.__class__(ka.xy, ka.conf, ka.times, ka.image_size, "a"),
                     kb.__class__(kb.xy, kb.conf, kb.times, kb.image_size, "b")],
                    AlignConfig(progress=False, synnet="off", cues=cues))
        out.append((res.pairs[0].confidence, np.inf, label))
    return out


def table(rows) -> str:
    conf = np.array([r[0] for r in rows])
    err = np.array([r[1] for r in rows])
    ok = err <= 1.0
    lines = ["| confidence | pairs | mean confidence | right (<= 1 frame) |", "|---|---|---|---|"]
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        sel = (conf >= lo) & (conf < hi)
        if sel.any():
            lines.append(f"| [{lo:.1f}, {min(hi, 1.0):.1f}) | {sel.sum()} | {conf[sel].mean():.2f} | {ok[sel].mean():.2f} |")
    lines.append(f"\nwrong by 2+ frames at confidence >= 0.9: {int(np.sum((err >= 2) & (conf >= 0.9)))} of {len(rows)}; "
                 f"Brier {np.mean((conf - ok) ** 2):.3f}")
    return "\n".join(lines)


def plot(rows, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conf = np.array([r[0] for r in rows])
    ok = np.array([r[1] for r in rows]) <= 1.0
    xs, ys, ns = [], [], []
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        sel = (conf >= lo) & (conf < hi)
        if sel.any():
            xs.append(conf[sel].mean())
            ys.append(ok[sel].mean())
            ns.append(int(sel.sum()))
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    ax.plot(xs, ys, "o-", color="tab:blue", label="align pairs")
    for x, y, n in zip(xs, ys, ns):
        ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel("pair confidence (bin mean)")
    ax.set_ylabel("fraction within one frame")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", type=int, default=40)
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--cues", default="all")
    ap.add_argument("--json", default=None, help="also write every (confidence, error frames, condition) here")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "img" / "sync_reliability.png"))
    args = ap.parse_args(argv)
    rows = collect(args.scenes, args.seed, args.cues)
    print(table(rows))
    by = {}
    for r in rows:
        by.setdefault(r[2].split("/")[0] + "/" + (r[2].split("/")[1] if "/" in r[2] else ""), []).append(r)
    for k, v in sorted(by.items()):
        err = np.array([r[1] for r in v])
        print(f"{k:16s} n={len(v):3d} within 1 frame {np.mean(err <= 1):.2f} within 2 {np.mean(err <= 2):.2f}")
    plot(rows, Path(args.out), f"held-out motions, realistic conditions, {len(rows)} pairs, cues={args.cues}")
    if args.json:
        import json

        Path(args.json).write_text(json.dumps([[float(c), None if not np.isfinite(e) else float(e), lab]
                                               for c, e, lab in rows]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
