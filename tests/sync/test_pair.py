"""The per-pair decision: short clips answered, unrelated tracks judged as chance, cues named,
people who barely move left out."""
import json

import numpy as np
import pytest

from synnet_recon.keypoints import Keypoints
from synnet_recon.sync.align import AlignConfig, align, moving_people
from synnet_recon.synth.scene import SceneConfig, simulate_scene

FPS = 30.0


def _config(**kw):
    kw.setdefault("progress", False)
    kw.setdefault("synnet", "off")
    return AlignConfig(**kw)


@pytest.mark.parametrize("shift", [-16, -8, 0, 4, 12])
def test_paper_protocol_short_clip_is_answered(motion, shift):
    """32-frame clips at 30 fps, |offset| <= 16 frames, --max-offset smaller than a clip."""
    sc = simulate_scene(SceneConfig(cameras=2, seconds=64 / FPS, fps=FPS, max_offset=0.0, seed=5, noise=0.5), motion)
    a, b = sc.cameras[0].keypoints, sc.cameras[1].keypoints
    start = 16
    clip_a = a.slice(start, start + 32)
    clip_b = b.slice(start + shift, start + shift + 32)  # b's first frame is `shift` frames after a's
    res = align([clip_a, clip_b], _config(max_offset=16 / FPS))
    v = res.video("cam1")
    assert v.offset_seconds is not None and 0.0 < v.confidence <= 1.0
    assert res.pairs[0].reason is None
    assert abs(v.offset_seconds * FPS - shift) <= 2.0


def _random_track(rng, n, name):
    from scipy.ndimage import gaussian_filter1d

    centre = 320 + np.cumsum(rng.normal(0, 2, size=(n, 1, 2)), axis=0)
    limbs = gaussian_filter1d(rng.normal(0, 30, size=(n, 18, 2)), 3, axis=0) + rng.normal(0, 50, size=(1, 18, 2))
    xy = (centre + limbs).astype(np.float32)
    return Keypoints.from_fps(xy, np.ones((n, 18), np.float32), FPS, (640, 480), name)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_independent_random_tracks_get_a_low_confidence_away_from_the_ends(seed):
    rng = np.random.default_rng(seed)
    a, b = _random_track(rng, 150, "a"), _random_track(rng, 150, "b")
    res = align([a, b], _config())
    p = res.pairs[0]
    assert p.confidence < 0.5
    assert res.video("b").confidence < 0.5


def test_unrelated_recordings_of_real_motion_get_a_low_confidence(motion):
    sc1 = simulate_scene(SceneConfig(cameras=1, seconds=5, fps=FPS, max_offset=0.0, seed=1), motion)
    sc2 = simulate_scene(SceneConfig(cameras=1, seconds=5, fps=FPS, max_offset=0.0, seed=2), motion)
    a = sc1.cameras[0].keypoints.slice(0, 75)
    b = sc2.cameras[0].keypoints.slice(75, 150)  # another stretch of the motion, another camera
    res = align([a, b], _config())
    assert res.pairs[0].confidence < 0.5


@pytest.mark.parametrize("cues,expected", [("all", ["affine", "epipolar", "speed", "trajectory"]),
                                           ("geometry", ["affine", "epipolar"]),
                                           ("correlation", ["speed", "trajectory"])])
def test_sync_json_pairs_name_the_cues_used(motion, tmp_path, cues, expected):
    sc = simulate_scene(SceneConfig(cameras=2, seconds=4, fps=FPS, max_offset=0.5, seed=3), motion)
    res = align([c.keypoints for c in sc.cameras], _config(cues=cues))
    data = json.loads(res.save(tmp_path / "sync.json").read_text())
    assert [p["cues"] for p in data["pairs"]] == [expected]
    assert data["pairs"][0]["method"] == "+".join(expected)


@pytest.mark.parametrize("still", [0.0, 0.05])
def test_people_who_barely_move_are_left_out(motion, still):
    sc = simulate_scene(SceneConfig(cameras=1, seconds=4, fps=FPS, max_offset=0.0, seed=4), motion)
    mover = sc.cameras[0].keypoints
    rng = np.random.default_rng(0)
    pose = mover.xy[0] + np.array([200.0, 0.0], np.float32)
    xy = np.broadcast_to(pose, mover.xy.shape) + rng.normal(0, 1.0 + still * 40, size=mover.xy.shape)
    seated = Keypoints(xy.astype(np.float32), mover.conf, mover.times, mover.image_size, "seated")
    kept = moving_people([seated, mover], 0.3)
    assert [k.name for k in kept] == [mover.name]


@pytest.mark.parametrize("wrong", [(0, 1), (2, 3)])
def test_a_planted_wrong_pair_is_flagged_in_sync_json(wrong):
    from itertools import combinations

    from synnet_recon.sync.align import _check_pair_loops
    from synnet_recon.sync.result import PairSync

    true = [0.0, 0.5, -0.3, 1.1]
    index_pairs = list(combinations(range(4), 2))
    pairs = [PairSync(f"c{i}", f"c{j}", true[j] - true[i] + (0.4 if (i, j) == wrong else 0.0), 0.95, "x")
             for i, j in index_pairs]
    _check_pair_loops(index_pairs, pairs, tolerance=0.1)
    for (i, j), p in zip(index_pairs, pairs):
        doc = p.to_json()
        assert doc["loops"]["checked"] == 2
        if (i, j) == wrong:
            assert p.confidence == 0.0 and "breaks 2 of its 2 loops" in doc["reason"]
        else:
            assert p.confidence == 0.95 and "reason" not in doc
