"""SynNet in align through the refitted combiner: short clips answered by SynNet alone and fused."""
import numpy as np
import pytest

from synnet_recon.sync.align import AlignConfig, align
from synnet_recon.synth.scene import PACKAGED_MOTION, SceneConfig, simulate_scene

FPS = 30.0


@pytest.fixture(scope="module")
def clips():
    import torch

    from synnet_recon.motion import load_motion

    torch.set_num_threads(1)
    sc = simulate_scene(SceneConfig(cameras=2, seconds=64 / FPS, fps=FPS, max_offset=0.0, seed=5, noise=0.5),
                        load_motion(PACKAGED_MOTION))
    return sc.cameras[0].keypoints, sc.cameras[1].keypoints


@pytest.mark.parametrize("cues", ["synnet", "all"])
@pytest.mark.parametrize("shift", [-12, 8])
def test_paper_protocol_clip_answered_with_synnet(clips, cues, shift):
    """Fused: right within 2 frames. SynNet alone answers too; on this periodic walk its own window
    classifier picks the wrong class for both shifts (as the whole-track curve does), so it must
    not be confident when it is wrong."""
    a, b = clips
    start = 16
    clip_a, clip_b = a.slice(start, start + 32), b.slice(start + shift, start + shift + 32)
    res = align([clip_a, clip_b], AlignConfig(cues=cues, synnet="on", max_offset=16 / FPS, progress=False))
    pair = res.pairs[0]
    assert "synnet" in pair.cues and "synnet" in pair.method
    assert np.isfinite(pair.cue_curves["synnet"]).any()
    v = res.video("cam1")
    assert v.offset_seconds is not None and 0.0 < v.confidence <= 1.0
    error = abs(v.offset_seconds * FPS - shift)
    if cues == "all":
        assert error <= 2.0
    assert error < 2.0 or v.confidence < 0.9
