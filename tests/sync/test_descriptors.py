import numpy as np
import pytest

from synnet_recon.keypoints import Keypoints
from synnet_recon.sync.descriptors import DESCRIPTORS, pair_descriptors, uses_descriptors, with_descriptor_terms
from synnet_recon.synth import conditions
from synnet_recon.synth.camera import CameraPathConfig
from synnet_recon.synth.scene import SceneConfig, simulate_scene

FPS = 30.0


def _pair(motion, static: bool, noise: float = 0.5):
    path = CameraPathConfig(mode_weights=(0.0, 0.0, 1.0)) if static else CameraPathConfig(mode_weights=(1.0, 0.0, 0.0))
    sc = simulate_scene(SceneConfig(cameras=2, seconds=3.0, fps=FPS, max_offset=0.0, seed=3, noise=noise,
                                    camera_path=path), motion)
    return sc.cameras[0].keypoints, sc.cameras[1].keypoints


def _with(kp: Keypoints, xy, conf) -> Keypoints:
    return Keypoints(xy, conf, kp.times, kp.image_size, kp.name)


def test_descriptors_tell_upper_body_views_and_detector_jitter_apart(motion):
    a, b = _pair(motion, static=False)
    clean = pair_descriptors(a, b, FPS)
    assert set(clean) == set(DESCRIPTORS)
    assert clean["joints_both"] > 0.8 and clean["legs_seen"] > 0.8
    rng = np.random.default_rng(0)
    xy, conf, _ = conditions.upper_body_view(b.xy, b.conf, b.image_size, rng, cut=(0.6, 0.7))
    upper = pair_descriptors(a, _with(b, xy, conf), FPS)
    assert upper["legs_seen"] < 0.05 < clean["legs_seen"] - 0.5
    assert upper["joints_both"] < clean["joints_both"] - 0.2
    shaken = b.xy + rng.normal(0.0, 4.0, b.xy.shape)  # 4 px per joint and frame
    noisy = pair_descriptors(a, _with(b, shaken, b.conf), FPS)
    assert noisy["log_jitter"] > clean["log_jitter"] + 0.7
    assert noisy["joints_both"] == pytest.approx(clean["joints_both"])


def test_box_motion_is_lower_for_cameras_standing_still(motion):
    moving = pair_descriptors(*_pair(motion, static=False), FPS)
    still = pair_descriptors(*_pair(motion, static=True), FPS)
    assert np.isfinite(moving["log_box_motion"]) and np.isfinite(still["log_box_motion"])
    assert still["log_box_motion"] < moving["log_box_motion"]


def test_descriptors_of_tracks_too_short_or_unseen_are_nan_not_errors(motion):
    a, b = _pair(motion, static=False)
    short = pair_descriptors(a.slice(0, 3), b.slice(0, 3), FPS)
    assert np.isnan(short["log_jitter"])
    blind = pair_descriptors(a, _with(b, b.xy, np.zeros_like(b.conf)), FPS)
    assert blind["joints_both"] == 0.0 and blind["legs_seen"] == 0.0
    assert np.isfinite(blind["log_jitter"]) and np.isfinite(blind["log_box_motion"])  # a's own


def test_descriptor_terms_name_each_plain_feature_times_each_descriptor():
    names = with_descriptor_terms(("curve", "synnet", "synnet*log_span"), ("legs_seen",))
    assert names == ("curve", "synnet", "synnet*log_span", "legs_seen", "curve*legs_seen", "synnet*legs_seen")
    assert uses_descriptors(names) and not uses_descriptors(("curve", "synnet*log_span"))


def test_a_pick_that_names_descriptors_gets_them_and_weighs_a_cue_by_them(motion):
    """pair.pick_evidence adds the pair's descriptors only for a pick that names them; a weight on
    ``synnet*legs_seen`` then changes the pick's logit by that product."""
    from dataclasses import replace

    from synnet_recon.sync.combine import Logistic, untrained_model
    from synnet_recon.sync.pair import pick_evidence

    a, b = _pair(motion, static=False)
    model = untrained_model(("affine", "synnet"))
    curve, offsets, cand = np.array([0.5, 2.0, 1.0]), np.array([-1.0, 0.0, 1.0]), np.array([1, 2])
    z = {"synnet": np.array([0.0, 3.0, 1.0])}
    x, _ = pick_evidence(("affine", "synnet"), model, curve, offsets, cand, a, b, None, None, None, FPS, 8, z)
    assert not set(DESCRIPTORS) & set(x)
    named = replace(model, pick=Logistic(("synnet", "synnet*legs_seen"), np.array([0.0, 1.0]), 0.0))
    x, logit = pick_evidence(("affine", "synnet"), named, curve, offsets, cand, a, b, None, None, None, FPS, 8, z)
    legs = pair_descriptors(a, b, FPS)["legs_seen"]
    assert x["legs_seen"] == pytest.approx([legs, legs])
    assert logit == pytest.approx([3.0 * legs, 1.0 * legs])
