"""SynNet weights: the model module loads its own checkpoints, and inference does not import training."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from synnet_recon.errors import InputError
from synnet_recon.sync.model import DEFAULT_CHECKPOINT, SynNet, SynNetConfig, load_checkpoint, load_synnet


def _windows(cfg: SynNetConfig, b: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(b, cfg.window_frames, 18, 2, generator=g) * 200 + 100
    conf = torch.rand(b, cfg.window_frames, 18, generator=g) * 0.5 + 0.5
    return xy, conf


@pytest.mark.parametrize("half", [False, True], ids=["fp32", "fp16"])
@pytest.mark.parametrize("preset", ["tiny"])
def test_checkpoint_round_trip(tmp_path, preset, half):
    from synnet_recon.sync.train import export_checkpoint, save_checkpoint
    torch.manual_seed(0)
    cfg = SynNetConfig.preset(preset)
    model = SynNet(cfg).eval()
    save_checkpoint(tmp_path / "full.pt", model, cfg, step=7, metrics={"accuracy": 0.5})
    path = export_checkpoint(tmp_path / "full.pt", tmp_path / "small.pt", half=half)
    loaded, state = load_synnet(path)
    assert loaded.cfg == cfg and state["step"] == 7 and state["metrics"] == {"accuracy": 0.5}
    assert not loaded.training
    xy, conf = _windows(cfg)
    with torch.no_grad():
        want = model.forward_keypoints(xy, conf, xy.flip(1), conf)["frame_logits"]
        got = loaded.forward_keypoints(xy, conf, xy.flip(1), conf)["frame_logits"]
    assert torch.allclose(want, got, atol=2e-2 if half else 1e-5)


def test_shipped_weights_load_in_fp32():
    model, state = load_synnet()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    stored = load_checkpoint(DEFAULT_CHECKPOINT)["model"]
    assert any(v.dtype == torch.float16 for v in stored.values())  # shipped small
    assert "metrics" in state


@pytest.mark.parametrize("content, message", [(None, "not found"), (b"garbage", "not a readable"),
                                              ({"weights": 1}, "not a SynNet checkpoint")])
def test_bad_checkpoints_raise_input_error(tmp_path, content, message):
    path = tmp_path / "x.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(InputError, match=message):
        load_synnet(path)


@pytest.mark.parametrize("module", ["synnet_recon.sync.matcher", "synnet_recon.sync.model"])
def test_inference_does_not_import_training(module):
    code = (f"import sys, {module}\n"
            "bad = [m for m in ('synnet_recon.sync.train', 'synnet_recon.sync.data') if m in sys.modules]\n"
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr

