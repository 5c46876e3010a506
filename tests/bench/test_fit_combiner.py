"""The combiner's fitting script: training sees what inference sees, its cache cannot go stale, the
paper-protocol pairs carry their truth, and the cross-validation answers every related pair."""

import numpy as np
import pytest

FPS = 30.0


@pytest.fixture(scope="module")
def fit(bench_script):
    return bench_script("fit_combiner")


@pytest.fixture(scope="module")
def motion():
    from synnet_recon.motion import load_motion
    from synnet_recon.synth.scene import PACKAGED_MOTION

    return load_motion(PACKAGED_MOTION)


@pytest.fixture()
def packaged_only(fit, motion, monkeypatch):
    """Training motions = the packaged clip only (loading the whole training split takes minutes)."""
    monkeypatch.setitem(fit._MOTIONS, "train", [motion])
    return fit


def test_cache_key_follows_what_pass_one_depends_on(fit, monkeypatch):
    from synnet_recon.sync import affine

    base = {"scenes": 80, "seed": 11, "paper": 0, "split": "train", "config": "c"}
    key = fit.cue_cache_key(base, "affine")
    assert key == fit.cue_cache_key(dict(base), "affine")
    for change in ({"seed": 12}, {"scenes": 81}, {"paper": 10}, {"config": "d"}):
        assert fit.cue_cache_key(base | change, "affine") != key
    speed = fit.cue_cache_key(base, "speed")
    assert speed != key
    monkeypatch.setattr(affine, "DROP_JOINTS", () if affine.DROP_JOINTS else affine.FACE_POINTS)
    assert fit.cue_cache_key(base, "affine") != key  # the affine cue's joints count...
    assert fit.cue_cache_key(base, "speed") == speed  # ...for the affine cue only
    from synnet_recon.sync import matcher

    synnet = fit.cue_cache_key(base, "synnet")
    monkeypatch.setattr(matcher, "UPRIGHT", not matcher.UPRIGHT)
    assert fit.cue_cache_key(base, "synnet") != synnet  # sideways tracks turned or not: other SynNet z
    assert fit.cue_cache_key(base, "speed") == speed


def test_paper_pairs_are_the_protocol(packaged_only):
    pairs = packaged_only.paper_pairs(6, seed=3)
    assert len(pairs) == 6 and len({p.scene for p in pairs}) == 6
    for p in pairs:
        assert len(p.ka) == len(p.kb) == 32 and p.label == "paper"
        m = p.truth * FPS / 4
        assert m == pytest.approx(round(m)) and -4 <= round(m) <= 3
        assert p.max_offset == pytest.approx(16.5 / FPS)


def test_pick_epipolar_evidence_is_the_one_align_computes(fit, motion):
    """A 15 fps camera against a 30 fps one: the epipolar z the pick is fitted on equals the one
    ``pair.pick_evidence`` gives at inference (same minimum overlap, from the resampled tracks)."""
    from synnet_recon.keypoints import Keypoints
    from synnet_recon.sync.align import ANALYSIS_RATE, AlignConfig
    from synnet_recon.sync.combine import model_for
    from synnet_recon.sync.epipolar import FineScorer
    from synnet_recon.sync.pair import (
        combined_curve,
        curve_candidates,
        min_overlap_frames,
        pair_curves,
        pick_evidence,
    )
    from synnet_recon.synth import conditions
    from synnet_recon.synth.scene import SceneConfig, simulate_scene

    sc = simulate_scene(SceneConfig(cameras=2, seconds=3.0, fps=FPS, max_offset=0.5, seed=2), motion)
    ka, kb = sc.cameras[0].keypoints, sc.cameras[1].keypoints
    xy, conf, times = conditions.resample_frame_rate(kb.xy, kb.conf, kb.times, 15.0)
    kb = Keypoints(xy, conf, times, kb.image_size, kb.name)
    # overlaps asked of 60 frames: the 15 fps track has 46 frames of its own, 91 at the analysis rate
    config = AlignConfig(progress=False, synnet="off", min_overlap_frames=60, window_frames=64)
    rate, cues = ANALYSIS_RATE, ("affine", "epipolar")
    offsets, z, mo, overlap = pair_curves(ka, kb, config, rate, cues)
    assert mo == 60 != min_overlap_frames(config, len(ka), len(kb))  # raw lengths would say 46
    model = model_for(cues)
    curve = combined_curve(model, z, overlap)
    cand = curve_candidates(curve, config.candidates)
    fine = FineScorer(ka, kb, config.smooth_frames / rate, config.max_fine_samples, mo)
    x, _ = pick_evidence(cues, model, curve, offsets, cand, ka, kb, None, fine, config, rate, mo, z, overlap)
    pair = fit.TrainPair(ka, kb, float(sc.cameras[1].offset_seconds - sc.cameras[0].offset_seconds), "long", 0)
    memo = fit.EpipolarMemo(config, rate)
    np.testing.assert_allclose(memo.at(0, pair, offsets[cand], mo), x["epipolar"], rtol=1e-9)
    np.testing.assert_allclose(memo.at(0, pair, offsets[cand[::-1]], mo), x["epipolar"][::-1], rtol=1e-9)


def test_pass_one_cache_and_cross_validation(packaged_only, tmp_path):
    fit = packaged_only
    from synnet_recon.sync.align import ANALYSIS_RATE, AlignConfig

    pairs = fit.paper_pairs(4, seed=1)
    pairs.append(pairs[0]._replace(kb=pairs[1].kb, truth=None, label="unrelated", scene=9))
    config, cues = AlignConfig(progress=False, synnet="off"), ("affine", "epipolar", "speed", "trajectory")
    base = {"test": 1}
    curves = fit.pass_one(pairs, config, ANALYSIS_RATE, cues, None, tmp_path, base)
    assert len(list(tmp_path.glob("pass1_*.pkl"))) == 3  # one file per whole-range cue
    again = fit.pass_one(pairs, config, ANALYSIS_RATE, cues, None, tmp_path, base)
    for c, d in zip(curves, again):
        np.testing.assert_array_equal(c[1]["affine"], d[1]["affine"])
    # the paper protocol's --max-offset bounds the search range (16.5 frames -> +-18: the range reaches one frame past it)
    assert all(np.abs(c[0]).max() <= 18 for c in curves)
    cv = fit.cross_validate(pairs, curves, cues, config, ANALYSIS_RATE, fit.EpipolarMemo(config, ANALYSIS_RATE), 2)
    assert cv["all"]["n"] == 4 and cv["paper"]["n"] == 4 and "unrelated" not in cv
    assert 0.0 <= cv["all"]["pick_within_2"] <= 1.0


def test_same_motion_pairs_share_no_instant(packaged_only, monkeypatch):
    """Two stretches of one motion that never overlap: no offset of the search range is right."""
    fit = packaged_only
    monkeypatch.setattr(fit, "SAME_MOTION_WINDOWS", ((32, 16.5 / FPS), (75, None), (120, 2.0)))
    pairs = fit.same_motion_pairs(6, seed=3, first_scene=40)
    assert [p.scene for p in pairs] == list(range(40, 46))
    for k, p in enumerate(pairs):
        frames, max_offset = fit.SAME_MOTION_WINDOWS[k % 3]
        assert p.truth is None and fit.kind_of(p.label) == "unrelated_same" and p.max_offset == max_offset
        assert p.ka.meta["motion_start"] + frames / FPS <= p.kb.meta["motion_start"] + 1e-9  # b starts after a ends
        search = 2.0 if max_offset is None else max_offset
        assert p.kb.meta["motion_start"] - p.ka.meta["motion_start"] > search or max_offset is None
        assert len(p.ka) <= frames and len(p.kb) <= frames


def test_people_pairs_pair_the_same_person_with_the_truth(packaged_only, monkeypatch):
    fit = packaged_only
    monkeypatch.setattr(fit, "PEOPLE_KINDS", ("people", "together"))
    pairs = fit.people_pairs(2, seed=4, first_scene=7)
    assert {p.scene for p in pairs} == {7, 8}
    same = [p for p in pairs if fit.kind_of(p.label) == "people"]
    cross = [p for p in pairs if fit.kind_of(p.label) == "people_cross"]
    assert len(same) >= 6 and 1 <= len(cross) <= 2 * fit.PEOPLE_CROSS_PER_SCENE
    assert all(p.truth is not None and abs(p.truth) <= 4.0 for p in same) and all(p.truth is None for p in cross)
    # the main person's pairings in one scene agree: offset(0, 2) = offset(0, 1) + offset(1, 2)
    scene = [p for p in same if p.scene == 7]
    truths = sorted({round(p.truth, 9) for p in scene})
    assert len(truths) == 3 and any(abs(a + b - c) < 1e-6 for a in truths for b in truths for c in truths)


def test_unrelated_weight_lowers_the_confidence_of_unrelated_pairs(fit):
    """``fit_confidence_rows``: right answers (error <= 1 frame) are the positives; unrelated
    pairs (error inf) weighted more give lower confidences where they look like right answers."""
    rng = np.random.default_rng(0)
    cues = ("affine", "epipolar", "speed", "trajectory")
    n = 300
    errs = np.where(rng.random(n) < 0.5, rng.uniform(0, 1, n), rng.uniform(3, 30, n))
    errs[:60] = np.inf  # unrelated pairs, a few of them looking like right answers
    pick = np.where(errs <= 1, 1.0, -1.0) + rng.normal(0, 1.0, n)
    pick[:20] += 2.0
    x = {"pick": pick, "curve_margin": rng.normal(0, 1, n)}
    labels = ["unrelated"] * 60 + ["long/moving"] * (n - 60)
    low, stats_low = fit.fit_confidence_rows((x, errs, labels), cues, 1.0)
    high, _ = fit.fit_confidence_rows((x, errs, labels), cues, 8.0)
    assert np.all(high.prob(x)[:60] < low.prob(x)[:60])
    assert low.weights[low.features.index("pick")] > 0
    assert stats_low["answers"] == n and "unrelated_max_conf" in stats_low


def test_pick_ranking_learns_what_ranks_candidates_within_a_pair(fit):
    """Feature u tells the right candidate of each pair, its level moving from pair to pair;
    feature v is constant within a pair (it cannot rank): the ranking fit weighs u only, ranks
    the candidates as u does, and its logit still rises with the chance of being right."""
    rng = np.random.default_rng(0)
    sizes, xs, ys = [], {"u": [], "v": []}, []
    for _ in range(300):
        level = rng.normal(0, 3)
        u = level + rng.normal(0, 1, 3)
        right = int(np.argmax(u + rng.normal(0, 0.3, 3)))
        xs["u"].append(u)
        xs["v"].append(np.full(3, level + rng.normal()))
        ys.append((np.arange(3) == right).astype(float))
        sizes.append(3)
    x = {k: np.concatenate(v) for k, v in xs.items()}
    y = np.concatenate(ys)
    model = fit.fit_ranking(x, y, sizes, ("u", "v"), l2=1e-3)
    w_u, w_v = model.weights / model.scale
    assert w_u > 0 and abs(w_v) < 1e-3 * w_u
    logit = model.logit(x).reshape(-1, 3)
    assert np.mean(np.argmax(logit, 1) == np.argmax(np.stack(ys), 1)) > 0.8
    p = model.prob(x)
    assert p[y == 1].mean() > p[y == 0].mean()


def test_confidence_only_keeps_the_curve_and_pick_it_is_given(fit):
    """``--confidence-only``: the curve and pick stages come from the model already there (the
    answers the refitted confidence is fitted on are then align's own); the confidence stage is
    the placeholder's, naming every feature of ``combine.CONFIDENCE_FEATURES`` so that they are computed."""
    from synnet_recon.sync import combine as C
    from synnet_recon.sync.evidence import CUE_SETS

    shipped = C.model_for(CUE_SETS["all"])
    model = fit._curve_and_pick("all", [], [], None, FPS, None, shipped, "here")
    assert model.curve is shipped.curve and model.pick is shipped.pick
    assert "log_group_se_tol" in model.confidence.features and not model.trained
    untrained = C.untrained_model(CUE_SETS["all"])
    with pytest.raises(SystemExit, match="no fitted all model in there"):
        fit._curve_and_pick("all", [], [], None, FPS, None, untrained, "there")


def test_descriptor_terms_train_on_the_descriptors_align_computes(packaged_only, monkeypatch):
    """--descriptor-terms: the pick's rows hold each pair's descriptors as ``pair.pick_evidence``
    computes them for a pick that names them, and its features every pick feature times each."""
    fit = packaged_only
    from dataclasses import replace

    from synnet_recon.sync.align import ANALYSIS_RATE, AlignConfig
    from synnet_recon.sync.combine import Logistic, untrained_model
    from synnet_recon.sync.descriptors import DESCRIPTORS
    from synnet_recon.sync.pair import combined_curve, pick_candidates, pick_evidence

    monkeypatch.setattr(fit, "DESCRIPTOR_TERMS", ("legs_seen", "log_jitter"))
    cues = ("affine", "epipolar", "speed", "trajectory")
    names = fit.pick_features(cues)
    assert "affine*legs_seen" in names and "curve*log_jitter" in names and "synnet*legs_seen" not in names
    pairs = fit.paper_pairs(2, seed=3)
    config = AlignConfig(progress=False, synnet="off")
    curves = fit.pass_one(pairs, config, ANALYSIS_RATE, cues, None, None, {})
    model = untrained_model(cues)
    rows = fit.pick_rows(pairs, curves, cues, model, config, ANALYSIS_RATE, None)
    offsets, z, mo, overlap, _ = curves[0]
    curve = combined_curve(model, z, overlap)
    cand = pick_candidates(curve, z, max(1, config.candidates))
    named = replace(model, pick=Logistic(names, np.zeros(len(names)), 0.0))
    x, _ = pick_evidence(cues, named, curve, offsets, cand, pairs[0].ka, pairs[0].kb, None, None, config,
                         ANALYSIS_RATE, mo, z, overlap)
    for d in DESCRIPTORS:
        np.testing.assert_array_equal(rows[0][0][d], x[d])


@pytest.fixture()
def walk_clips(fit, motion, monkeypatch):
    """Two 3 s pieces of the packaged clip as the only training 'walks' of one subject."""
    from synnet_recon.motion import Motion

    pieces = [Motion(motion.resample(30.0, start=s, duration=3.0).joints, 30.0, name) for s, name in
              ((0.5, "w_01"), (5.0, "w_02"))]
    monkeypatch.setitem(fit._MOTIONS, "train", pieces)
    monkeypatch.setattr(fit, "WALK_CLIPS", {"w": ("w_01", "w_02")})
    return pieces


def test_chained_walk_is_long_smooth_and_stays_in_the_room(fit, walk_clips):
    from synnet_recon.skeleton import JOINT_INDEX as J

    walk = fit.chained_walk(walk_clips, np.random.default_rng(2), seconds=10.0)
    assert walk.fps == 30.0 and len(walk) == 301 and np.isfinite(walk.joints).all()
    root = walk.joints[:, [J["r_hip"], J["l_hip"]]].mean(axis=1)
    assert np.abs(root[:, [0, 2]]).max() < 4.0  # each piece heads back towards the room's centre
    # the pieces are turned and moved, never stretched: a bone keeps the length it has in the clips
    bone = np.linalg.norm(walk.joints[:, J["r_knee"]] - walk.joints[:, J["r_hip"]], axis=1)
    clip_bone = np.linalg.norm(walk_clips[0].joints[:, J["r_knee"]] - walk_clips[0].joints[:, J["r_hip"]], axis=1)
    assert np.median(bone) == pytest.approx(np.median(clip_bone), rel=0.05)
    # no jump where one piece joins the next: no joint moves more than the clips' own fastest step
    step = np.linalg.norm(np.diff(walk.joints, axis=0), axis=2).max()
    clip_step = max(np.linalg.norm(np.diff(c.joints, axis=0), axis=2).max() for c in walk_clips)
    assert step <= 1.5 * clip_step


def test_walk_pairs_are_the_caliscope_rig(fit, walk_clips):
    pairs = fit.walk_pairs(2, seed=5, first_scene=30)
    assert len(pairs) == 12 and {p.scene for p in pairs} == {30, 31}
    for p in pairs:
        assert p.truth is not None and abs(p.truth) <= 4.0 and fit.kind_of(p.label) == "walks"
        assert np.allclose(np.diff(p.ka.times), 1 / 15.0)  # webcams at 15 fps, 5 s windows
        assert len(p.ka) == len(p.kb) == 75
    # the 2nd and 4th cameras frame the upper body: fewer joints seen, the legs hardly ever
    full = [p.ka for p in pairs if p.label == "walks/full+upper"]
    upper = [p.kb for p in pairs if p.label == "walks/full+upper"]
    assert np.mean([(k.conf > 0).mean() for k in upper]) < np.mean([(k.conf > 0).mean() for k in full])
    # the offsets of one scene agree: offset(1, 2) = offset(0, 2) - offset(0, 1)
    truths = [p.truth for p in pairs if p.scene == 30]  # pairs (0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)
    assert truths[3] == pytest.approx(truths[1] - truths[0], abs=1e-9)
