"""`synrecon fuse`'s one-line summary says what was fused: whole instants, partial ones (which
views were flagged how often) and instants not fused."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from synnet_recon.commands.fuse import fuse_summary
from synnet_recon.recon.fuse import FuseResult
from synnet_recon.recon.registration import FrameRecord


def _record(k: int, view_ok: dict[str, bool], fused: bool) -> FrameRecord:
    names = list(view_ok)
    return FrameRecord(k, k / 30, {n: k for n in names}, {n: np.eye(4) for n in names}, {n: 1.0 for n in names},
                       {n: 0.0 for n in names}, view_ok, {n: False for n in names}, np.eye(4) if fused else None,
                       100, fused and all(view_ok.values()), fused=fused)


def test_the_summary_names_partial_instants_and_the_flagged_views():
    frames = [_record(0, {"cam0": True, "cam1": True, "cam2": True}, True),
              _record(1, {"cam0": True, "cam1": True, "cam2": False}, True),
              _record(2, {"cam0": True, "cam1": False, "cam2": False}, True),
              _record(3, {"cam0": True, "cam1": True, "cam2": True}, False)]
    result = FuseResult(Path("out"), frames, {}, 5000, None, 1.5)
    assert result.num_ok == 1 and result.num_fused == 3 and result.flagged_views() == {"cam1": 1, "cam2": 2}
    line = fuse_summary(result)
    assert line.startswith("fused 3 of 4 instants (1 with every view; 2 partially (cam1 flagged at 1, cam2 "
                           "flagged at 2; only verified views fused); 1 not fused) into out")
    assert frames[3].status == {"cam0": "not fused", "cam1": "not fused", "cam2": "not fused"}


def test_the_summary_of_a_whole_fusion_is_short():
    result = FuseResult(Path("o"), [_record(0, {"cam0": True, "cam1": True}, True)], {}, 10, None, 0.2)
    assert fuse_summary(result) == "fused 1 of 1 instants (1 with every view) into o (10 points, 0.2 s)"
