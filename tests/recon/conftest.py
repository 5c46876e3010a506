"""Shared scenes of the recon tests (rendered once per session)."""
from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="session")
def moving_wide_scene(tmp_path_factory):
    """3 moving cameras 35 degrees apart in the textured room, 8 instants, 320x240 (videos,
    keypoints = the true joints projected with 1 px noise, sync.json with the true offsets):
    (sync.json path, truth dict)."""
    from synnet_recon.synth.wide import WideSceneConfig, render_wide_scene

    out = tmp_path_factory.mktemp("sfm_scene")
    config = WideSceneConfig(cameras=3, separation_deg=35.0, instants=8, step=6, drift_deg_per_s=15.0)
    sync = render_wide_scene(config, out)
    return sync, json.loads((out / "truth.json").read_text())
