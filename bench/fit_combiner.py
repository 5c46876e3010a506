"""Fit align's evidence combiner (synnet_recon/weights/sync_combiner.json) on simulated training scenes.

    python bench/fit_combiner.py --scenes 60                    # all standard cue sets, default file
    python bench/fit_combiner.py --scenes 8 --out /tmp/c.json   # a quick look
    python bench/fit_combiner.py --scenes 90 --synnet --cache runs/combiner_pass1.pkl

Scenes come from the TRAINING split of the CMU motions only (``synnet_recon.sync.data``), filmed by
``synnet_recon.synth.simulate_scene`` under the realistic conditions of
``synnet_recon.synth.conditions`` when that module is there (upper-body views, sideways cameras,
correlated detector errors, dropped frames), with static (tripod-like) cameras in part of the
scenes, short clips (the paper protocol: 32 frames at 30 fps, offsets up to 16 frames) and long
windows (some filmed at 15 fps), and one pair in ten of two unrelated recordings (nothing to find:
every offset is wrong). The pick stage sees each cue's z at the candidates besides the curve and
the epipolar z. ``--overlap-terms`` adds overlap-dependent terms to the curve and pick stages (each
cue's z times the log of the frames in common, ``combine.with_overlap_terms``); off by default: in a
4-fold cross-validation on the training pairs (80 scenes) they lowered the curve's share within 2
frames (every cue: 0.675 -> 0.608). ``--cache`` keeps pass 1 (every cue's curves, the slow part).

Three passes per cue set, each fitting one stage on the output of the previous (combine.py):
curve (all offsets), pick (candidates), confidence (refined answers). Not run in CI.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synnet_recon.keypoints import Keypoints  # noqa: E402
from synnet_recon.sync import combine as C  # noqa: E402
from synnet_recon.sync.align import ANALYSIS_RATE, AlignConfig  # noqa: E402
from synnet_recon.sync.evidence import CUE_SETS, CURVE_CUES  # noqa: E402
from synnet_recon.sync.pair import (  # noqa: E402
    NoOffset,
    combined_curve,
    curve_candidates,
    estimate_subject_pair,
    pair_curves,
    pick_evidence,
)

FIT_SETS = ("all", "no-synnet", "geometry", "synnet", "correlation")


def training_motions(min_seconds: float, split: str = "train"):
    """Motion files of ``split`` that are long enough, loaded once at their own rate."""
    from synnet_recon.sync.data import load_motions, motion_files, split_files

    return load_motions(split_files(motion_files(), split), None, min_seconds)


def _apply_conditions(kp: Keypoints, rng: np.random.Generator, conditions) -> tuple[Keypoints, list[str]]:
    """Some of h8's realistic conditions on one camera's track (names of those applied)."""
    if conditions is None:
        return kp, []
    xy, conf, size, times = np.asarray(kp.xy), np.asarray(kp.conf), kp.image_size, np.asarray(kp.times)
    used = []
    if rng.random() < 0.3:
        xy, conf, size = conditions.upper_body_view(xy, conf, size, rng)
        used.append("upper_body")
    if rng.random() < 0.15:
        xy, conf, size = conditions.sideways_view(xy, conf, size, rng)
        used.append("sideways")
    if rng.random() < 0.5:
        xy, conf = conditions.correlated_detector_errors(xy, conf, size, rng)
        used.append("detector_errors")
    if rng.random() < 0.2:
        xy, conf, times = conditions.drop_frames(xy, conf, times, rng)
        used.append("dropped_frames")
    return Keypoints(xy, conf, times, tuple(int(v) for v in np.ravel(size)[:2]), kp.name), used


def _at_15fps(kp: Keypoints, conditions) -> Keypoints:
    """The same camera running at 15 fps (first frame kept, so the true offset is unchanged)."""
    xy, conf, times = conditions.resample_frame_rate(kp.xy, kp.conf, kp.times, 15.0)
    return Keypoints(xy, conf, times, kp.image_size, kp.name)


def training_pairs(n_scenes: int, seed: int, split: str = "train"):
    """(ka, kb, true offset of b on a's clock in seconds or None, condition label) per pair."""
    from synnet_recon.synth.camera import CameraPathConfig
    from synnet_recon.synth.scene import SceneConfig, simulate_scene

    try:
        from synnet_recon.synth import conditions
    except ImportError:
        conditions = None
    motions = training_motions(10.5, split)
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n_scenes):
        short = rng.random() < 0.35
        seconds, max_offset = (32 / 30.0, 16 / 30.0) if short else (6.0, 2.0)
        static = rng.random() < 0.35
        path = CameraPathConfig(mode_weights=(0.0, 0.0, 1.0)) if static else CameraPathConfig()
        cfg = SceneConfig(cameras=3, seconds=seconds, fps=30.0, max_offset=max_offset, seed=int(rng.integers(1 << 30)),
                          noise=float(rng.uniform(0.5, 1.5)), camera_path=path)
        scene = simulate_scene(cfg, motions[int(rng.integers(len(motions)))])
        slow = not short and conditions is not None and rng.random() < 0.25  # webcams at 15 fps
        tracks, labels = [], []
        for cam in scene.cameras:
            kp = _at_15fps(cam.keypoints, conditions) if slow else cam.keypoints
            kp, used = _apply_conditions(kp, rng, conditions)
            tracks.append(kp)
            labels.append(used)
        label = ("short" if short else "long") + ("/static" if static else "/moving") + ("/15fps" if slow else "")
        for i in range(3):
            for j in range(i + 1, 3):
                truth = scene.cameras[j].offset_seconds - scene.cameras[i].offset_seconds
                pairs.append((tracks[i], tracks[j], truth, label + "/" + "+".join(labels[i] + labels[j])))
    unrelated = []
    for _ in range(max(1, len(pairs) // 10)):  # two recordings that share nothing: different scenes
        x, y = int(rng.integers(len(pairs))), int(rng.integers(len(pairs)))
        if x // 3 != y // 3:
            unrelated.append((pairs[x][0], pairs[y][1], None, "unrelated"))
    return pairs + unrelated


def _labels(offsets_frames: np.ndarray, truth, rate: float, tol: float) -> np.ndarray:
    if truth is None:
        return np.zeros(len(offsets_frames))
    return (np.abs(offsets_frames - truth * rate) <= tol).astype(float)


OVERLAP_TERMS = False  # --overlap-terms
DUMP_PICK = None       # --dump-pick


def curve_features(cues) -> tuple[str, ...]:
    own = tuple(c for c in CURVE_CUES if c in cues)
    return C.with_overlap_terms(own) if OVERLAP_TERMS else own


def pick_features(cues) -> tuple[str, ...]:
    own = ["curve"] + (["epipolar"] if "epipolar" in cues else []) + [c for c in CURVE_CUES if c in cues]
    return C.with_overlap_terms(own) if OVERLAP_TERMS else tuple(own)


def confidence_features(cues) -> tuple[str, ...]:
    agree = tuple(f"agree_{c}" for c in CURVE_CUES if c in cues)
    return C.CONFIDENCE_FEATURES + agree + ("pick*log_overlap_frames", "curve_margin*log_overlap_frames")


def fit_curve(samples, cues):
    keys = tuple(c for c in CURVE_CUES if c in cues)
    x = {k: [] for k in keys + ("log_overlap",)}
    y = []
    for offsets, z, truth, overlap in samples:
        for k in keys:
            x[k].append(z.get(k, np.full(len(offsets), np.nan)))
        x["log_overlap"].append(np.log(np.maximum(overlap, 1.0)))
        y.append(_labels(offsets, truth, ANALYSIS_RATE, 1.0))
    x = {k: np.concatenate(v) for k, v in x.items()}
    return C.Logistic.fit(x, np.concatenate(y), curve_features(cues), l2=1.0)


def pass_one(pairs, config, rate, cues, matcher, cache: Path | None):
    """Every cue's chance z over the range for every pair (None where NoOffset), cached."""
    import pickle

    if cache is not None and cache.is_file():
        with cache.open("rb") as fh:
            stored = pickle.load(fh)
        if stored["n_pairs"] == len(pairs) and set(stored["cues"]) >= set(cues):
            return stored["curves"]
    curves = []
    for ka, kb, truth, _ in pairs:
        try:
            curves.append((*pair_curves(ka, kb, config, rate, cues, matcher), truth))
        except NoOffset:
            curves.append(None)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            pickle.dump({"n_pairs": len(pairs), "cues": list(cues), "curves": curves}, fh)
        tmp.replace(cache)
    return curves


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", type=int, default=60)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", default=str(C.COMBINER_PATH))
    ap.add_argument("--sets", default=",".join(FIT_SETS), help="cue sets to fit (names of evidence.CUE_SETS)")
    ap.add_argument("--synnet", action="store_true", help="load SynNet (whole-track evidence) for the sets with it")
    ap.add_argument("--cache", type=Path, default=None, help="pickle of pass 1 (reused when it matches)")
    ap.add_argument("--overlap-terms", action="store_true", help="z * log(frames in common) terms in curve and pick")
    ap.add_argument("--dump-pick", type=Path, default=None, help="pickle of the pick stage's training rows (analysis)")
    args = ap.parse_args(argv)
    global OVERLAP_TERMS, DUMP_PICK
    OVERLAP_TERMS, DUMP_PICK = bool(args.overlap_terms), args.dump_pick
    matcher = None
    if args.synnet:
        import torch

        from synnet_recon.sync.matcher import SynNetMatcher

        torch.set_num_threads(1)
        matcher = SynNetMatcher(device="cpu")
    t0 = time.time()
    config = AlignConfig(progress=False, synnet="off")
    rate = ANALYSIS_RATE
    pairs = training_pairs(args.scenes, args.seed)
    print(f"{len(pairs)} training pairs ({sum(p[2] is None for p in pairs)} unrelated)", flush=True)
    everything = CUE_SETS["all"] if matcher is not None else CUE_SETS["no-synnet"]
    curves = pass_one(pairs, config, rate, everything, matcher, args.cache)  # every cue's chance z, once
    print(f"pass 1 (curves) done in {time.time() - t0:.0f} s", flush=True)
    models = dict(C.load_models(args.out)) if Path(args.out).exists() else {}
    report = {}
    for name in args.sets.split(","):
        cues = CUE_SETS[name]
        model = replace(C.untrained_model(cues))
        samples = [(o, {k: v for k, v in z.items() if k in cues}, t, n) for o, z, _, n, t in (c for c in curves if c)]
        model.curve = fit_curve(samples, cues)
        model.pick = fit_pick(pairs, curves, cues, model, config, rate)
        model.confidence, stats = fit_confidence(pairs, curves, cues, model, config, rate, matcher)
        model.trained = True
        model.notes = {"pairs": len(pairs), **stats}
        models[C.cue_key(cues)] = model
        report[name] = stats
        print(f"{name}: {json.dumps(stats)}  ({time.time() - t0:.0f} s)", flush=True)
    provenance = {"script": "bench/fit_combiner.py", "scenes": args.scenes, "seed": args.seed,
                  "split": "train (synnet_recon.sync.data.split_files)", "date": time.strftime("%Y-%m-%d"),
                  "conditions": "synth.conditions (upper body, sideways, correlated detector errors, dropped "
                                "frames) + static cameras + short clips + 15 fps long windows + unrelated pairs",
                  "features": ("curve: each cue's z; pick: curve, epipolar and each cue's z"
                               + (", both with z * log(frames in common)" if OVERLAP_TERMS else "")
                               + "; confidence: combine.CONFIDENCE_FEATURES + per-cue agreement + overlap interactions")}
    if matcher is not None:
        import hashlib

        from synnet_recon.sync.model import DEFAULT_CHECKPOINT

        provenance["synnet_checkpoint"] = {"file": Path(DEFAULT_CHECKPOINT).name, "sha256":
                                           hashlib.sha256(Path(DEFAULT_CHECKPOINT).read_bytes()).hexdigest()}
    C.save_models(models, provenance, args.out)
    print(f"wrote {args.out}")


def fit_pick(pairs, curves, cues, model, config, rate):
    from synnet_recon.sync.epipolar import FineScorer
    from synnet_recon.sync.pair import min_overlap_frames

    names = pick_features(cues)
    x, y = {}, []
    for (ka, kb, truth, _), c in zip(pairs, curves):
        if c is None:
            continue
        offsets, z, mo, overlap, _ = c
        z = {k: v for k, v in z.items() if k in cues}
        curve = combined_curve(model, z, overlap)
        cand = curve_candidates(curve, max(1, config.candidates))
        fine = None
        if "epipolar" in cues:
            fine = FineScorer(ka, kb, config.smooth_frames / rate, config.max_fine_samples,
                              min_overlap_frames(config, len(ka), len(kb)))
        px, _ = pick_evidence(cues, model, curve, offsets, cand, ka, kb, None, fine, config, rate, mo, z, overlap)
        for k, v in px.items():
            x.setdefault(k, []).append(np.asarray(v, dtype=float))
        for k in set(names) - set(px):  # a cue this pair could not compute
            if "*" not in k:
                x.setdefault(k, []).append(np.full(len(cand), np.nan))
        y.append(_labels(offsets[cand], truth, rate, 1.5))
    x = {k: np.concatenate(v) for k, v in x.items()}
    if DUMP_PICK is not None:
        import pickle

        with open(f"{DUMP_PICK}.{C.cue_key(cues)}", "wb") as fh:
            pickle.dump({"x": x, "y": np.concatenate(y), "sizes": [len(v) for v in y]}, fh)
    return C.Logistic.fit(x, np.concatenate(y), names, l2=1.0)


def fit_confidence(pairs, curves, cues, model, config, rate, matcher=None):
    names = confidence_features(cues)
    rows, y, errs, labels = [], [], [], []
    for (ka, kb, truth, label), c in zip(pairs, curves):
        if c is None:
            continue
        offsets, z, mo, overlap, _ = c
        z = {k: v for k, v in z.items() if k in cues}
        try:
            est = estimate_subject_pair(ka, kb, config, rate, matcher if "synnet" in cues else None,
                                        cues=cues, model=model, curves=(offsets, z, mo, overlap))
        except NoOffset:
            continue
        rows.append(est.features)
        err = np.inf if truth is None else abs(est.offset_seconds - truth) * rate
        errs.append(err)
        labels.append(label)
        y.append(float(err <= 1.0))
    x = {k: np.asarray([r.get(k, np.nan) for r in rows], dtype=float) for k in set().union(*rows)}
    conf = C.Logistic.fit(x, np.asarray(y), names, l2=3.0)
    errs = np.asarray(errs)
    p = conf.prob(x)
    stats = {"answers": int(len(y)), "within_1_frame": round(float(np.mean(errs <= 1)), 3),
             "within_2_frames": round(float(np.mean(errs <= 2)), 3),
             "wrong_2plus_at_conf_0.9": int(np.sum((errs >= 2) & (p >= 0.9)))}
    short = np.array([lab.startswith("short") for lab in labels])
    for name, sel in (("short", short), ("long", ~short & np.isfinite(errs))):
        if sel.any():
            stats[f"{name}_within_2_frames"] = round(float(np.mean(errs[sel] <= 2)), 3)
    bins = np.digitize(p, [0.3, 0.6, 0.9])
    stats["reliability"] = {f"[{lo}, {hi})": {"n": int(np.sum(bins == k)), "mean_conf": round(float(p[bins == k].mean()), 3),
                                              "within_1_frame": round(float(np.mean(errs[bins == k] <= 1)), 3)}
                            for k, (lo, hi) in enumerate(((0, 0.3), (0.3, 0.6), (0.6, 0.9), (0.9, 1.0)))
                            if np.any(bins == k)}
    return conf, stats


if __name__ == "__main__":
    main()
