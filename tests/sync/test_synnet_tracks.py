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


def test_pair_matrix_gives_the_same_diagonals(matcher):
    """The whole pair matrix scored once, its diagonals read for the real offsets and for chance's
    reordered b: the same numbers as scoring the asked pairs one by one (invalid frames left out;
    equal up to float32 rounding: the matrix products run on differently shaped blocks)."""
    from synnet_recon.sync.evidence import null_orders
    from synnet_recon.sync.model import matrix_diagonal_sums

    matcher.context = None
    a, b = _pair(45, 2, seed=11)
    b.xy[5:9] = np.nan
    b.conf[5:9] = 0
    fa, fb = matcher.track_features(a), matcher.track_features(b)
    va, vb = torch.from_numpy(fa.valid), torch.from_numpy(fb.valid)
    assert not vb.all()
    head = matcher.model.head
    shifts = torch.arange(-40, 41)
    with torch.no_grad():
        matrix = head.pair_matrix(fa.features, fb.features, va, vb, rows=3)
        assert torch.equal(matrix[:, ~vb], torch.zeros(len(fa), int((~vb).sum())))
        for order in [None] + null_orders(len(fb))[:2]:
            o = None if order is None else torch.from_numpy(np.ascontiguousarray(order))
            f_b, v_b = (fb.features, vb) if o is None else (fb.features[o], vb[o])
            want = head.diagonal_sums(fa.features, f_b, shifts, va, v_b)
            got = matrix_diagonal_sums(matrix, shifts, va, vb, o)
            assert torch.equal(got[1], want[1])
            np.testing.assert_allclose(got[0].numpy(), want[0].numpy(), rtol=1e-6, atol=1e-5)


def test_dense_and_diagonal_paths_agree_and_the_matrix_is_reused(matcher, monkeypatch):
    """diagonal_scores reads a cached pair matrix for short tracks and scores diagonals for long
    ones (DENSE_PAIRS); both give the evidence and chance values (order_b) alike."""
    from synnet_recon.sync import matcher as M

    matcher.context = None
    a, b = _pair(50, 4, seed=12)
    fa, fb = matcher.track_features(a), matcher.track_features(b)
    shifts = np.arange(-30, 31, 2)
    order = np.arange(len(fb))[::-1]
    dense = matcher.diagonal_scores(fa, fb, shifts), matcher.diagonal_scores(fa, fb, shifts, order_b=order)
    assert matcher.pair_matrix(fa, fb) is matcher.pair_matrix(fa, fb)
    monkeypatch.setattr(M, "DENSE_PAIRS", 0)
    assert matcher.pair_matrix(fa, fb) is None
    sparse = matcher.diagonal_scores(fa, fb, shifts), matcher.diagonal_scores(fa, fb, shifts, order_b=order)
    for d, s in zip(dense, sparse):
        np.testing.assert_allclose(d[0], s[0], rtol=1e-6, atol=1e-5)
        np.testing.assert_array_equal(d[1], s[1])


def test_pairs_in_threads_compute_each_track_once_and_b_first_when_a_is_busy(matcher, monkeypatch):
    """Two threads on pairs (a, b) and (a, c): a's features are computed once; the thread that finds
    a already being computed starts on its own b instead of waiting."""
    import threading

    matcher.context = None
    a, _ = _pair(33, 0, seed=13)
    b, _ = _pair(34, 0, seed=14)
    c, _ = _pair(35, 0, seed=15)
    order, started, a_done = [], threading.Event(), threading.Event()
    compute = type(matcher)._compute_track_features

    def slow(self, k, key):
        order.append((len(k), a_done.is_set()))
        if len(k) == 33:
            started.set()
            threading.Event().wait(0.3)  # a takes a while: the other thread must not idle
            out = compute(self, k, key)
            a_done.set()
            return out
        return compute(self, k, key)

    monkeypatch.setattr(type(matcher), "_compute_track_features", slow)
    first = threading.Thread(target=lambda: matcher.features_of_pair(a, b))
    first.start()
    started.wait(5)
    fa, fc = matcher.features_of_pair(a, c)
    first.join()
    assert order[:2] == [(33, False), (35, False)]  # c started while a was still being computed
    assert sorted(n for n, _ in order) == [33, 34, 35] and len(fa) == 33 and len(fc) == 35


def test_a_sideways_track_is_turned_upright_before_synnet(matcher, monkeypatch):
    """A phone video read without its rotation (``synth.conditions.rotate_view``): with
    ``UPRIGHT`` SynNet sees the same body as the upright view (features within float error), and an
    upright track is passed through untouched."""
    from synnet_recon.sync import matcher as M
    from synnet_recon.synth.conditions import rotate_view

    a, _ = _pair(48, 0)
    assert M.quarter_turns_upright(np.asarray(a.xy)) == 0
    xy = np.asarray(a.xy, np.float32)
    assert M.upright(xy) is xy
    for turn in (1, -1, 2):
        rxy, rconf, rsize = rotate_view(a.xy, a.conf, a.image_size, turn)
        side = Keypoints(rxy, rconf, a.times, tuple(int(v) for v in np.ravel(rsize)[:2]), "side")
        assert M.quarter_turns_upright(np.asarray(side.xy)) == turn % 4  # counter-clockwise turns undo it
        monkeypatch.setattr(M, "UPRIGHT", True)
        up = matcher.track_features(side).features
        monkeypatch.setattr(M, "UPRIGHT", False)
        raw = matcher.track_features(side).features
        ref = matcher.track_features(a).features
        assert float((up - ref).abs().max()) < 1e-3 * float(ref.abs().max())
        assert float((raw - ref).abs().max()) > 0.1 * float(ref.abs().max())
