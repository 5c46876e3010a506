"""SynNet on whole tracks: features once per track, every offset at once along the pair matrix's diagonals."""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from synnet_recon.keypoints import Keypoints
from synnet_recon.sync.model import matching_cost_volume, track_features


@pytest.fixture(scope="module")
def matcher():
    from synnet_recon.sync.matcher import SynNetMatcher
    torch.set_num_threads(1)
    return SynNetMatcher()


@functools.lru_cache(maxsize=1)
def _walk(fps: float):
    from synnet_recon.motion import load_motion
    from synnet_recon.paths import PACKAGE_DATA
    return load_motion(PACKAGE_DATA / "mocap" / "131_02.bvh").resample(fps)


def _pair(frames: int, offset: int, seed: int = 0, fps: float = 30.0) -> tuple[Keypoints, Keypoints]:
    """Two views of a held-out CMU walk (package data), b starting ``offset`` frames after a."""
    from synnet_recon.synth.noise import DetectorNoise
    from synnet_recon.synth.scene import sample_pair
    motion = _walk(fps)
    a, b = sample_pair(motion, frames, fps, float(offset), np.random.default_rng(seed), DetectorNoise(level=0.3))
    for k in (a, b):  # every joint seen: the brute-force references score every frame too
        k.xy = np.where(np.isfinite(k.xy), k.xy, np.nanmean(k.xy, axis=(0, 1)))
        k.conf = np.maximum(k.conf, 0.5)
    return a, b


def _features(matcher, k: Keypoints, context):
    return track_features(matcher.model, torch.from_numpy(k.xy), torch.from_numpy(k.conf), context)


@pytest.mark.parametrize("context", [None, 32])
def test_window_pair_evidence_equals_the_models_shift_logits(matcher, context):
    """On two 32-frame clips the diagonal means are the shift head's logits of the paper protocol."""
    a, b = _pair(32, 8)
    matcher.context = context
    scores, n_pairs = matcher.offset_evidence(a, b, matcher.frame_shifts / matcher.config.fps)
    with torch.no_grad():
        logits = matcher.model.forward_keypoints(*(torch.from_numpy(x)[None] for x in (a.xy, a.conf, b.xy, b.conf)))
    assert np.allclose(scores, logits["frame_logits"][0].double().numpy(), atol=1e-4)
    assert np.array_equal(n_pairs, 32 - np.abs(matcher.frame_shifts))


@pytest.mark.parametrize("context", [None, 32])
@pytest.mark.parametrize("frames_a, frames_b", [(60, 60), (50, 70)])
def test_track_evidence_equals_brute_force_shifted_volumes(matcher, context, frames_a, frames_b):
    """Whole tracks: the fast diagonals equal the head applied to explicitly shifted feature
    sequences (the cost volume of the paper), shift by shift (shift equivariance of the head)."""
    a, _ = _pair(frames_a, 0, seed=1)
    b, _ = _pair(frames_b, 0, seed=2)
    matcher.context = context
    shifts = np.arange(-24, 25, 3)
    scores, n_pairs = matcher.offset_evidence(a, b, shifts / matcher.config.fps)
    fa, fb = _features(matcher, a, context), _features(matcher, b, context)
    T = max(frames_a, frames_b)
    pad = lambda f: torch.cat([f, f.new_zeros(T - len(f), f.shape[1])])[None]  # noqa: E731
    volume, mask = matching_cost_volume(pad(fa), pad(fb), shifts.tolist())
    k = torch.arange(T)[None, :]
    mask &= (k < frames_a) & (k - torch.as_tensor(shifts)[:, None] < frames_b)
    with torch.no_grad():
        want = matcher.model.head(volume, mask)[0].double().numpy()
    assert np.allclose(scores, want, atol=1e-4)
    assert np.array_equal(n_pairs, mask.sum(-1).numpy())


def test_sub_frame_offsets_interpolate_and_invalid_frames_are_left_out(matcher):
    matcher.context = None
    a, b = _pair(64, 4, seed=3)
    fps = matcher.config.fps
    whole, n = matcher.offset_evidence(a, b, np.array([3, 4, 3.25]) / fps)
    assert whole[2] == pytest.approx(0.75 * whole[0] + 0.25 * whole[1])
    assert n[2] == pytest.approx(0.75 * n[0] + 0.25 * n[1])
    b.xy[:10] = np.nan
    b.conf[:10] = 0
    _, n_gap = matcher.offset_evidence(a, b, np.array([0.0]))
    assert n_gap[0] == 64 - 10


def test_track_features_are_cached_per_track(matcher):
    matcher.context = None
    a, b = _pair(40, 0, seed=4)
    assert matcher.track_features(a) is matcher.track_features(a)
    assert matcher.track_features(a) is not matcher.track_features(b)
    assert matcher.track_features(a).features.shape == (40, matcher.config.F)


def test_true_offset_wins_on_a_long_pair(matcher):
    matcher.context = None
    a, b = _pair(150, 12, seed=5)
    offsets = np.arange(-30, 31) / matcher.config.fps
    scores, _ = matcher.offset_evidence(a, b, offsets)
    assert abs(offsets[np.nanargmax(scores)] * matcher.config.fps - 12) <= 2


def test_track_features_computed_once_when_asked_from_threads(matcher, monkeypatch):
    """align's pairs run in threads: the second thread asking for a track waits for the first."""
    from concurrent.futures import ThreadPoolExecutor

    matcher.context = None
    a, _ = _pair(41, 0, seed=7)
    calls = []
    compute = type(matcher)._compute_track_features

    def counted(self, k, key):
        calls.append(key)
        return compute(self, k, key)

    monkeypatch.setattr(type(matcher), "_compute_track_features", counted)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: matcher.track_features(a), range(4)))
    assert len(calls) == 1 and all(g is got[0] for g in got)


def test_long_tracks_bounded_diagonal_blocks_and_windows(matcher, monkeypatch):
    """Memory flat in length: the diagonals are scored in blocks of shifts, windows of a context
    are rendered a batch at a time, and a track longer than LONG_TRACK_SECONDS is encoded in
    windows; none of it changes the numbers."""
    from synnet_recon.sync import matcher as M
    from synnet_recon.sync import model as SM

    matcher.context = None
    a, b = _pair(70, 3, seed=9)
    shifts = np.arange(-20, 21)
    fa, fb = matcher.track_features(a), matcher.track_features(b)
    whole = matcher.diagonal_scores(fa, fb, shifts)
    monkeypatch.setattr(SM, "DIAGONAL_BLOCK", 70 * 4)  # four shifts per block
    blocks = matcher.diagonal_scores(fa, fb, shifts)
    np.testing.assert_allclose(blocks[0], whole[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(blocks[1], whole[1])
    with torch.no_grad():
        at_once = _features(matcher, a, 32).numpy()
        monkeypatch.setattr(SM, "BATCH_FRAMES", 64)  # two windows at a time
        np.testing.assert_allclose(_features(matcher, a, 32).numpy(), at_once, rtol=1e-5, atol=1e-6)
    monkeypatch.setattr(M, "LONG_TRACK_SECONDS", 1.0)
    monkeypatch.setattr(M, "LONG_CONTEXT_SECONDS", 32 / 30)
    assert matcher._context_for(a) == 32
    np.testing.assert_allclose(matcher.track_features(a).features.numpy(), at_once, rtol=1e-5, atol=1e-6)
