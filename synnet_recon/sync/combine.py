"""The learned combiner of align's cues: small logistic models fitted on simulated training scenes.

Three stages, one ``Logistic`` each, per set of cues (``EvidenceModel``):

- ``curve``: over every offset of the search range, the whole-range cues' chance z-scores
  (``evidence.CURVE_CUES``) -> logit that this offset is right to within one analysis frame.
  Its local maxima are the candidates.
- ``pick``: at each candidate, the curve logit, the epipolar z and SynNet's window evidence ->
  logit that the candidate is right (within 1.5 frames); the best candidate is refined. A pick
  may also name per-pair descriptors of the detections (``sync.descriptors``) and their products
  with each cue's z (``bench/fit_combiner.py --descriptor-terms``; the shipped pick does not).
- ``confidence``: features of the refined answer (``CONFIDENCE_FEATURES``) -> P(the pair offset
  is within ``pair.answer_tolerance``: 2 frames of the fastest input, at most one analysis frame).
  This is the pair's confidence.

Missing features (a cue that did not run, NaN) contribute 0, which is also their mean under
chance. The fitted models live in ``synnet_recon/weights/sync_combiner.json`` with their
provenance; ``bench/fit_combiner.py`` refits them (not in CI).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..fileio import write_json

COMBINER_PATH = Path(__file__).resolve().parents[1] / "weights" / "sync_combiner.json"
SCHEMA = "synnet-recon/sync-combiner"
VERSION = 1
PICK_FEATURES = ("curve", "epipolar", "synnet_windows")
CONFIDENCE_FEATURES = ("pick", "pick_margin", "curve_margin", "agree", "log_stderr_tol", "static",
                       "log_overlap_frames", "periodicity", "log_group_se_tol")


def feature_column(x: dict, name: str) -> np.ndarray:
    """Input ``name`` of ``x`` as float64: the entry itself, or for ``"a*b"`` the product of ``a``
    and ``b`` (an interaction, e.g. ``synnet*log_overlap``: SynNet's weight changing with the
    overlap length); NaN when an input is missing."""
    if name in x:
        return np.asarray(x[name], dtype=np.float64)
    if "*" in name:
        out = np.float64(1.0)
        for part in name.split("*"):
            out = out * feature_column(x, part)
        return np.asarray(out, dtype=np.float64)
    return np.asarray(np.nan)


def with_overlap_terms(cues, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Feature names: each of ``cues`` and its interaction with ``log_overlap``, then ``extra``."""
    return tuple(cues) + tuple(f"{c}*log_overlap" for c in cues) + tuple(extra)


def with_span_terms(cues, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Feature names: each of ``cues`` and its interaction with ``log_span`` (the log of the pair's
    longest overlap, ``pair.log_span``), then ``extra``."""
    return tuple(cues) + tuple(f"{c}*log_span" for c in cues) + tuple(extra)


@dataclass
class Logistic:
    """P(y = 1 | x) = sigmoid(bias + sum_k weights[k] * (x[k] - mean[k]) / scale[k]).

    ``features`` name the inputs; a missing or NaN input counts as its mean.
    """

    features: tuple[str, ...]
    weights: np.ndarray
    bias: float
    mean: np.ndarray = None
    scale: np.ndarray = None

    def __post_init__(self):
        self.features = tuple(self.features)
        k = len(self.features)
        self.weights = np.asarray(self.weights, dtype=np.float64).reshape(k)
        self.mean = np.zeros(k) if self.mean is None else np.asarray(self.mean, np.float64).reshape(k)
        self.scale = np.ones(k) if self.scale is None else np.asarray(self.scale, np.float64).reshape(k)

    def _design(self, x: dict) -> np.ndarray:
        n = max([np.size(v) for v in x.values()] + [1])
        cols = []
        for k, name in enumerate(self.features):
            v = np.broadcast_to(feature_column(x, name), (n,)) if n else np.zeros(0)
            cols.append(np.where(np.isfinite(v), (v - self.mean[k]) / self.scale[k], 0.0))
        return np.stack(cols, axis=1) if cols else np.zeros((n, 0))

    def logit(self, x: dict) -> np.ndarray:
        """x: {feature: (N,) or scalar} -> (N,) logits."""
        return self.bias + self._design(x) @ self.weights

    def prob(self, x: dict) -> np.ndarray:
        z = np.clip(self.logit(x), -50, 50)
        return 1.0 / (1.0 + np.exp(-z))

    @classmethod
    def fit(cls, x: dict, y: np.ndarray, features, l2: float = 1.0, sample_weight=None,
            iters: int = 50) -> "Logistic":
        """Maximum-likelihood fit with an L2 penalty ``l2`` on the standardised weights (Newton)."""
        features = tuple(features)
        y = np.asarray(y, dtype=np.float64)
        raw = np.stack([np.broadcast_to(feature_column(x, f), y.shape) for f in features], 1) if features \
            else np.zeros((len(y), 0))
        mean = np.array([np.nanmean(c) if np.isfinite(c).any() else 0.0 for c in raw.T])
        scale = np.array([np.nanstd(c) if np.isfinite(c).sum() > 1 and np.nanstd(c) > 1e-9 else 1.0 for c in raw.T])
        model = cls(features, np.zeros(len(features)), 0.0, mean, scale)
        X = np.concatenate([np.ones((len(y), 1)), model._design(dict(zip(features, raw.T)))], 1)
        sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
        beta = np.zeros(X.shape[1])
        beta[0] = math.log((np.sum(sw * y) + 0.5) / (np.sum(sw * (1 - y)) + 0.5))
        penalty = np.full(X.shape[1], l2)
        penalty[0] = 0.0
        for _ in range(iters):
            p = 1.0 / (1.0 + np.exp(-np.clip(X @ beta, -50, 50)))
            grad = X.T @ (sw * (p - y)) + penalty * beta
            H = (X * (sw * p * (1 - p))[:, None]).T @ X + np.diag(penalty + 1e-9)
            delta = np.linalg.solve(H, grad)
            beta -= delta
            if np.max(np.abs(delta)) < 1e-8:
                break
        model.bias, model.weights = float(beta[0]), beta[1:].copy()
        return model

    def to_json(self) -> dict:
        return {"features": list(self.features), "weights": [round(float(w), 6) for w in self.weights],
                "bias": round(float(self.bias), 6), "mean": [round(float(m), 6) for m in self.mean],
                "scale": [round(float(s), 6) for s in self.scale]}

    @classmethod
    def from_json(cls, d: dict) -> "Logistic":
        return cls(tuple(d["features"]), d["weights"], float(d["bias"]), d.get("mean"), d.get("scale"))


@dataclass
class EvidenceModel:
    """The three stages of one cue set (see the module docstring)."""

    cues: tuple[str, ...]
    curve: Logistic
    pick: Logistic
    confidence: Logistic
    trained: bool = True
    notes: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"cues": list(self.cues), "curve": self.curve.to_json(), "pick": self.pick.to_json(),
                "confidence": self.confidence.to_json(), "notes": self.notes}

    @classmethod
    def from_json(cls, d: dict) -> "EvidenceModel":
        return cls(tuple(d["cues"]), Logistic.from_json(d["curve"]), Logistic.from_json(d["pick"]),
                   Logistic.from_json(d["confidence"]), True, dict(d.get("notes", {})))


def cue_key(cues) -> str:
    return ",".join(cues)


def untrained_model(cues) -> EvidenceModel:
    """Placeholder before any fit: each z counts once, confidence 0.5 at best. Only used to collect
    the first training samples (``bench/fit_combiner.py``); ``align`` warns when it runs on it."""
    from .evidence import CURVE_CUES

    curve_cues = tuple(c for c in CURVE_CUES if c in cues)
    return EvidenceModel(tuple(cues), Logistic(curve_cues, np.ones(len(curve_cues)), -6.0),
                         Logistic(PICK_FEATURES, np.array([1.0, 1.0, 0.0]), 0.0),
                         Logistic(CONFIDENCE_FEATURES, np.zeros(len(CONFIDENCE_FEATURES)), 0.0), trained=False)


def save_models(models: dict[str, EvidenceModel], provenance: dict, path=COMBINER_PATH) -> Path:
    return write_json(path, {"schema": SCHEMA, "version": VERSION, "provenance": provenance,
                             "models": {k: m.to_json() for k, m in models.items()}})


_CACHE: dict = {}


def load_models(path=COMBINER_PATH) -> dict[str, EvidenceModel]:
    """The fitted models by cue key ({} when the file is missing)."""
    path = Path(path)
    key = (str(path), path.stat().st_mtime if path.exists() else None)
    if key not in _CACHE:
        import json

        if not path.exists():
            _CACHE[key] = {}
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("schema") != SCHEMA:
                raise ValueError(f"{path}: not a sync combiner file")
            _CACHE[key] = {k: EvidenceModel.from_json(v) for k, v in data["models"].items()}
    return _CACHE[key]


def model_for(cues, path=COMBINER_PATH) -> EvidenceModel:
    """The model fitted for exactly these cues, else the untrained placeholder."""
    models = load_models(path)
    return models.get(cue_key(cues)) or untrained_model(cues)
