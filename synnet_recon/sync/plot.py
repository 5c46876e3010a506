"""Sync diagnostics: every pair's score curve over the offset, with the chosen offset marked."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..fileio import atomic_path


def plot_sync(result, path) -> Path:
    """Write a PNG (matplotlib, Agg) with one panel per pair of ``result`` (a SyncResult).

    Each panel shows, against b's offset relative to a in seconds, every cue's evidence as a
    z-score against chance for that overlap (thin lines, left axis) and the combined evidence
    (the combiner's logit, thick black line, right axis), the pair's chosen offset (solid) and the
    offset implied by the joint solution (dashed) when it differs.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = result.pairs
    offsets = result.offsets
    n = max(1, len(pairs))
    fig, axes = plt.subplots(n, 1, figsize=(8, 2.6 * n), squeeze=False)
    colours = {"affine": "tab:blue", "speed": "tab:orange", "trajectory": "tab:purple", "synnet": "tab:cyan"}
    for ax, p in zip(axes[:, 0], pairs):
        handles = []
        for cue, z in (getattr(p, "cue_curves", None) or {}).items():
            if p.curve_offsets is not None and np.isfinite(z).any():
                handles += ax.plot(p.curve_offsets, z, lw=0.8, alpha=0.8, color=colours.get(cue), label=f"{cue} (z)")
        if p.curve_offsets is not None and p.curve_scores is not None and np.isfinite(p.curve_scores).any():
            twin = ax.twinx()
            handles += twin.plot(p.curve_offsets, p.curve_scores, lw=1.6, color="black", label="combined (logit)")
            twin.tick_params(labelsize=7)
        ax.set_ylabel("z vs chance", fontsize=7)
        if p.offset_seconds is not None:
            handles.append(ax.axvline(p.offset_seconds, color="tab:red", lw=1.2, label=f"pair {p.offset_seconds:+.3f} s"))
        oa, ob = offsets.get(p.a), offsets.get(p.b)
        if oa is not None and ob is not None and (p.offset_seconds is None or abs(ob - oa - p.offset_seconds) > 1e-6):
            handles.append(ax.axvline(ob - oa, color="tab:green", ls="--", lw=1.0, label=f"joint {ob - oa:+.3f} s"))
        status = "inlier" if p.inlier else "outlier"
        note = f" ({p.reason})" if getattr(p, "reason", None) else ""
        ax.set_title(f"{p.b} relative to {p.a}: confidence {p.confidence:.2f}, {status}{note}", fontsize=8)
        ax.set_xlabel("offset of b's first frame on a's clock (s)", fontsize=8)
        if handles:
            ax.legend(handles=handles, fontsize=6, loc="lower right", ncol=2)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
