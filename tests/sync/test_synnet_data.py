"""SynNet training pairs with realistic conditions (synth.conditions), simulated in vectorized chunks."""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from synnet_recon.skeleton import JOINT_INDEX
from synnet_recon.sync.data import Conditions, DataConfig, PairStream
from synnet_recon.sync.model import SynNetConfig

NONE = dict(upper_body=0.0, portrait=0.0, sideways=0.0, tripod=0.0, correlated_errors=0.0, partial=0.0,
            identity_switch=0.0, frame_rate=0.0, dropped_frames=0.0)
LEGS = [JOINT_INDEX[n] for n in ("r_knee", "r_ankle", "l_knee", "l_ankle")]


@functools.lru_cache(maxsize=1)
def _walk():
    from synnet_recon.motion import load_motion
    from synnet_recon.paths import PACKAGE_DATA
    return load_motion(PACKAGE_DATA / "mocap" / "131_02.bvh").resample(30.0)


def _items(conditions: Conditions | None, n: int = 16, seed: int = 0, augment: bool = True) -> dict:
    data = DataConfig(conditions=conditions, chunk=8, augment=augment)
    stream = PairStream(SynNetConfig(), data, seed=seed, motions=[_walk()])
    items = [it for _, it in zip(range(n), stream)]
    return {k: torch.stack([it[k] for it in items]).numpy() for k in items[0]}


@pytest.mark.parametrize("name", ["upper_body", "portrait", "sideways", "tripod", "correlated_errors", "partial",
                                  "identity_switch", "frame_rate", "dropped_frames", "plain"])
def test_conditions_give_valid_deterministic_pairs(name):
    cond = Conditions(**{**NONE, name: 1.0}) if name != "plain" else Conditions(**NONE)
    a, b = _items(cond), _items(cond)
    for k in a:
        assert np.array_equal(a[k], b[k], equal_nan=True), k
    assert a["a_xy"].shape == (16, 32, 18, 2) and a["a_conf"].shape == (16, 32, 18)
    seen = a["a_conf"] > 0
    assert np.isfinite(a["a_xy"][seen]).all() and not np.isfinite(a["a_xy"][~seen]).any()
    assert a["offset"].min() >= -18 and a["offset"].max() <= 13  # the scored frame shifts


@pytest.mark.parametrize("name, check", [
    ("upper_body", lambda plain, cond: (cond["a_conf"][..., LEGS] > 0).mean() < 0.5 * (plain["a_conf"][..., LEGS] > 0).mean()),
    ("partial", lambda plain, cond: ((cond["a_conf"] > 0).sum(-1) == 0).mean() + ((cond["b_conf"] > 0).sum(-1) == 0).mean()
     > ((plain["a_conf"] > 0).sum(-1) == 0).mean() + ((plain["b_conf"] > 0).sum(-1) == 0).mean() + 0.1),
    ("sideways", lambda plain, cond: np.nanmedian(np.abs(np.diff(cond["a_xy"][..., [JOINT_INDEX["neck"], JOINT_INDEX["r_hip"]], 0], axis=-1)))
     > 2 * np.nanmedian(np.abs(np.diff(plain["a_xy"][..., [JOINT_INDEX["neck"], JOINT_INDEX["r_hip"]], 0], axis=-1)))),
])
def test_conditions_change_what_the_cameras_see(name, check):
    plain, cond = _items(Conditions(**NONE)), _items(Conditions(**{**NONE, name: 1.0}))
    assert check(plain, cond)


def test_plain_evaluation_stream_is_the_one_by_one_sequence():
    """Without conditions and chunks the stream is the original one (the shipped model's evaluation pairs)."""
    from synnet_recon.synth.noise import DetectorNoise
    from synnet_recon.synth.scene import sample_pair
    stream = PairStream(SynNetConfig(), DataConfig(augment=False), seed=3, motions=[_walk()])
    first = next(iter(stream))
    rng = np.random.default_rng(np.random.SeedSequence([3, 0, 0]))
    rng.choice(1, p=[1.0])
    offset = int(rng.integers(-4, 4)) * 4
    a, b = sample_pair(_walk(), 32, 30.0, float(offset), rng, DetectorNoise(level=1.0))
    assert int(first["offset"]) == offset
    assert np.array_equal(first["a_xy"].numpy(), a.xy, equal_nan=True)


def test_dropped_frames_leave_gaps():
    plain, cond = _items(Conditions(**NONE)), _items(Conditions(**{**NONE, "dropped_frames": 1.0}))
    empty = [((d["a_conf"] > 0).sum(-1) == 0).mean() for d in (plain, cond)]
    assert empty[1] > empty[0] + 0.02


def test_other_frame_rate_reads_a_slower_camera_at_30_fps():
    """A 10 fps camera read at 30 fps: frames on its captures are the clip's, the others lie on the
    straight line between captures (a sine is cut into chords); 29.97 fps is nearly the clip."""
    from synnet_recon.sync.data import other_frame_rate
    t = np.arange(32) / 30.0
    xy = np.zeros((2, 32, 18, 2))
    xy[..., 0] = 100 * np.sin(2 * np.pi * 0.8 * t)[None, :, None]
    xy[..., 1] = 40 * t[None, :, None]
    conf = np.ones((2, 32, 18))
    conf[:, 20, 3], xy[:, 20, 3] = 0.0, np.nan  # one joint lost in one frame
    out, c = other_frame_rate(xy, conf, np.array([10.0, 30000 / 1001]), np.random.default_rng(1))
    assert out.shape == xy.shape and c.shape == conf.shape
    assert np.nanmax(np.abs(out[1] - xy[1])) < 0.05 * 100   # 29.97 fps: within a small fraction of the swing
    err = np.abs(out[0, 3:-3, 0, 0] - xy[0, 3:-3, 0, 0])
    assert 1.0 < err.max() < 20.0                            # 10 fps: chords of the sine, not the sine
    second = np.diff(out[0, 3:-3, 0, 1], 2)                  # the linear y stays linear
    assert np.allclose(second, 0.0, atol=1e-6)
    assert not np.isfinite(out[:, 20, 3]).all() and (c[~np.isfinite(out[..., 0])] == 0).all()
