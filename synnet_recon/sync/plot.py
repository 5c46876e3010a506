"""Sync diagnostics: every pair's score curve over the offset, with the chosen offset marked."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..fileio import atomic_path


def plot_sync(result, path) -> Path:
    """Write a PNG (matplotlib, Agg) with one panel per pair of ``result`` (a SyncResult).

    Each panel shows the coarse geometric score rescaled to [0, 1] against b's offset relative to
    a in seconds, the pair's chosen offset (solid) and the offset implied by the joint solution
    (dashed) when it differs.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = result.pairs
    offsets = result.offsets
    n = max(1, len(pairs))
    fig, axes = plt.subplots(n, 1, figsize=(8, 2.2 * n), squeeze=False)
    for ax, p in zip(axes[:, 0], pairs):
        if p.curve_offsets is not None and np.isfinite(p.curve_scores).any():
            s = p.curve_scores
            lo, hi = np.nanmin(s), np.nanmax(s)
            ax.plot(p.curve_offsets, (s - lo) / max(hi - lo, 1e-12), lw=1.0, color="tab:blue", label="geometric score")
        if p.offset_seconds is not None:
            ax.axvline(p.offset_seconds, color="tab:red", lw=1.2, label=f"pair {p.offset_seconds:+.3f} s")
        oa, ob = offsets.get(p.a), offsets.get(p.b)
        if oa is not None and ob is not None and (p.offset_seconds is None or abs(ob - oa - p.offset_seconds) > 1e-6):
            ax.axvline(ob - oa, color="tab:green", ls="--", lw=1.0, label=f"joint {ob - oa:+.3f} s")
        status = "inlier" if p.inlier else "outlier"
        ax.set_title(f"{p.b} relative to {p.a}: confidence {p.confidence:.2f}, {status}", fontsize=9)
        ax.set_xlabel("offset of b's first frame on a's clock (s)", fontsize=8)
        ax.set_ylim(-0.05, 1.1)
        ax.legend(fontsize=7, loc="lower right")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
