"""The learned combiner: a logistic fit recovers a synthetic problem and round-trips through JSON."""
import json

import numpy as np
import pytest

from synnet_recon.sync.combine import CONFIDENCE_FEATURES, EvidenceModel, Logistic, model_for, untrained_model


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
    assert set(m.curve.features) <= set(cues) and np.isfinite(m.curve.weights).all()
