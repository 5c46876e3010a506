"""Scenes shared by the recon tests, read as fuse reads them."""
from __future__ import annotations

import json


def one_instant_views(config, root):
    """Render one instant of the wide scene ``config`` into ``root`` and read it as fuse does:
    (the instant's views, the true pose of cam1 onto cam0)."""
    from synnet_recon.recon.fuse import FuseConfig, ViewLoader, read_inputs
    from synnet_recon.synth.wide import render_wide_scene, truth_camera_to_reference

    sync = render_wide_scene(config, root)
    truth = json.loads((root / "truth.json").read_text())
    config = FuseConfig(progress=False)
    inputs = read_inputs(sync, config)
    loader = ViewLoader(inputs, config, {})
    try:
        views = loader.read(inputs.instants[0])
    finally:
        loader.close()
    return views, truth_camera_to_reference(truth, inputs.instants[0].frames, "cam0")["cam1"]
