"""The learned combiner: a logistic fit recovers a synthetic problem and round-trips through JSON."""
import json

import numpy as np
import pytest

from synnet_recon.sync.combine import (
    CONFIDENCE_FEATURES,
    EvidenceModel,
    Logistic,
    feature_column,
    model_for,
    untrained_model,
    with_overlap_terms,
)
from synnet_recon.sync.pair import overlap_frames


@pytest.mark.parametrize("weights", [(2.0, 0.0), (1.0, -1.5), (0.5, 3.0)])
def test_fit_recovers_the_weights_of_a_known_logistic(weights):
    rng = np.random.default_rng(0)
    x = {"u": rng.normal(2.0, 3.0, 20000), "v": rng.normal(-1.0, 0.5, 20000)}
    w = np.array(weights)
    logit = 0.3 + w[0] * (x["u"] - 2.0) / 3.0 + w[1] * (x["v"] + 1.0) / 0.5
    y = (rng.random(20000) < 1 / (1 + np.exp(-logit))).astype(float)
    m = Logistic.fit(x, y, ("u", "v"), l2=1e-3)
    np.testing.assert_allclose(m.weights, w, atol=0.12)
    p = m.prob({"u": np.array([2.0]), "v": np.array([-1.0])})[0]
    assert p == pytest.approx(1 / (1 + np.exp(-0.3)), abs=0.03)


@pytest.mark.parametrize("missing", ["u", "v"])
def test_missing_or_nan_feature_counts_as_its_mean(missing):
    rng = np.random.default_rng(1)
    x = {"u": rng.normal(size=500), "v": rng.normal(size=500)}
    y = (x["u"] + x["v"] > 0).astype(float)
    m = Logistic.fit(x, y, ("u", "v"))
    partial = {k: v for k, v in x.items() if k != missing}
    nan = dict(x, **{missing: np.full(500, np.nan)})
    np.testing.assert_allclose(m.logit(partial), m.logit(nan))
    at_mean = dict(x, **{missing: np.full(500, m.mean[("u", "v").index(missing)])})
    np.testing.assert_allclose(m.logit(partial), m.logit(at_mean))


def test_model_round_trips_through_json():
    m = untrained_model(("affine", "speed"))
    again = EvidenceModel.from_json(json.loads(json.dumps(m.to_json())))
    x = {"affine": np.array([1.0, -2.0]), "speed": np.array([0.5, 3.0])}
    np.testing.assert_allclose(again.curve.logit(x), m.curve.logit(x))
    assert again.confidence.features == CONFIDENCE_FEATURES


@pytest.mark.parametrize("cues", [("affine", "epipolar", "speed", "trajectory", "synnet"),
                                  ("affine", "epipolar", "speed", "trajectory"), ("affine", "epipolar"),
                                  ("synnet",), ("speed", "trajectory")])
def test_shipped_combiner_is_trained_for_the_standard_cue_sets(cues):
    m = model_for(cues)
    assert m.trained and m.cues == cues
    base = {name.split("*")[0] for name in m.curve.features}
    assert base <= set(cues) and np.isfinite(m.curve.weights).all()
    assert {name.split("*")[1] for name in m.curve.features if "*" in name} <= {"log_overlap"}


def test_interaction_feature_is_the_product_and_missing_parts_are_nan():
    x = {"synnet": np.array([1.0, -2.0, 3.0]), "log_overlap": np.array([2.0, 3.0, np.nan])}
    np.testing.assert_allclose(feature_column(x, "synnet*log_overlap"), [2.0, -6.0, np.nan])
    assert np.isnan(feature_column(x, "affine*log_overlap")).all()
    assert with_overlap_terms(("a", "b"), ("c",)) == ("a", "b", "a*log_overlap", "b*log_overlap", "c")


def test_fit_learns_a_cue_that_counts_only_on_short_overlaps():
    """The label follows cue u on short overlaps and cue v on long ones: with the overlap
    interactions the fit trusts each where it holds (one weight per cue could not)."""
    rng = np.random.default_rng(3)
    n = 40000
    log_n = np.log(rng.choice([24.0, 240.0], n))
    short = log_n < 4.0
    x = {"u": rng.normal(size=n), "v": rng.normal(size=n), "log_overlap": log_n}
    logit = np.where(short, 2.0 * x["u"], 2.0 * x["v"])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    m = Logistic.fit(x, y, with_overlap_terms(("u", "v")), l2=1e-3)
    flat = Logistic.fit(x, y, ("u", "v"), l2=1e-3)
    probe_short = {"u": np.array([1.0, 0.0]), "v": np.array([0.0, 1.0]), "log_overlap": np.log([24.0, 24.0])}
    probe_long = dict(probe_short, log_overlap=np.log([240.0, 240.0]))
    base = m.logit({"u": np.zeros(1), "v": np.zeros(1), "log_overlap": np.log([24.0])})[0]
    du_short, dv_short = m.logit(probe_short) - base
    base_long = m.logit({"u": np.zeros(1), "v": np.zeros(1), "log_overlap": np.log([240.0])})[0]
    du_long, dv_long = m.logit(probe_long) - base_long
    assert du_short == pytest.approx(2.0, abs=0.2) and abs(dv_short) < 0.2
    assert dv_long == pytest.approx(2.0, abs=0.2) and abs(du_long) < 0.2
    assert abs(flat.weights[0] - flat.weights[1]) < 0.2  # without them: the same middling weight for both


def test_overlap_frames_of_offsets():
    np.testing.assert_allclose(overlap_frames(np.array([-30, -5, 0, 10, 40]), 40, 30), [0, 25, 30, 30, 0])
