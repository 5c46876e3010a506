"""Fit align's evidence combiner (synnet_recon/weights/sync_combiner.json) on simulated training scenes.

    python bench/fit_combiner.py --scenes 60                    # all standard cue sets, default file
    python bench/fit_combiner.py --scenes 8 --out /tmp/c.json   # a quick look

Scenes come from the TRAINING split of the CMU motions only (``synnet_recon.sync.data``), filmed by
``synnet_recon.synth.simulate_scene`` under the realistic conditions of
``synnet_recon.synth.conditions`` when that module is there (upper-body views, sideways cameras,
correlated detector errors, dropped frames), with static (tripod-like) cameras in part of the
scenes, short clips (the paper protocol: 32 frames at 30 fps, offsets up to 16 frames) and long
windows, and one pair in ten of two unrelated recordings (nothing to find: every offset is wrong).

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
        tracks, labels = [], []
        for cam in scene.cameras:
            kp, used = _apply_conditions(cam.keypoints, rng, conditions)
            tracks.append(kp)
            labels.append(used)
        label = ("short" if short else "long") + ("/static" if static else "/moving")
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


def fit_curve(samples, cues):
    keys = tuple(c for c in CURVE_CUES if c in cues)
    x = {k: [] for k in keys}
    y = []
    for offsets, z, truth in samples:
        for k in keys:
            x[k].append(z.get(k, np.full(len(offsets), np.nan)))
        y.append(_labels(offsets, truth, ANALYSIS_RATE, 1.0))
    x = {k: np.concatenate(v) for k, v in x.items()}
    return C.Logistic.fit(x, np.concatenate(y), keys, l2=1.0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", type=int, default=60)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", default=str(C.COMBINER_PATH))
    ap.add_argument("--sets", default=",".join(FIT_SETS), help="cue sets to fit (names of evidence.CUE_SETS)")
    ap.add_argument("--synnet", action="store_true", help="load SynNet (whole-track evidence) for the sets with it")
    args = ap.parse_args(argv)
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
    curves = []  # pass 1: every cue's chance z over the range, once
    for ka, kb, truth, _ in pairs:
        try:
            offsets, z, _ = pair_curves(ka, kb, config, rate, everything, matcher)
        except NoOffset:
            curves.append(None)
            continue
        curves.append((offsets, z, truth))
    print(f"pass 1 (curves) done in {time.time() - t0:.0f} s", flush=True)
    models = dict(C.load_models(args.out)) if Path(args.out).exists() else {}
    report = {}
    for name in args.sets.split(","):
        cues = CUE_SETS[name]
        model = replace(C.untrained_model(cues))
        samples = [(o, {k: v for k, v in z.items() if k in cues}, t) for o, z, t in (c for c in curves if c)]
        model.curve = fit_curve(samples, cues)
        model.pick = fit_pick(pairs, curves, cues, model, config, rate)
        model.confidence, stats = fit_confidence(pairs, cues, model, config, rate, matcher)
        model.trained = True
        model.notes = {"pairs": len(pairs), **stats}
        models[C.cue_key(cues)] = model
        report[name] = stats
        print(f"{name}: {json.dumps(stats)}  ({time.time() - t0:.0f} s)", flush=True)
    provenance = {"script": "bench/fit_combiner.py", "scenes": args.scenes, "seed": args.seed,
                  "split": "train (synnet_recon.sync.data.split_files)", "date": time.strftime("%Y-%m-%d"),
                  "conditions": "synth.conditions (upper body, sideways, correlated detector errors, dropped "
                                "frames) + static cameras + short clips + unrelated pairs"}
    if matcher is not None:
        import hashlib

        from synnet_recon.sync.model import DEFAULT_CHECKPOINT

        provenance["synnet_checkpoint"] = {"file": Path(DEFAULT_CHECKPOINT).name, "sha256":
                                           hashlib.sha256(Path(DEFAULT_CHECKPOINT).read_bytes()).hexdigest()}
    C.save_models(models, provenance, args.out)
    print(f"wrote {args.out}")


def fit_pick(pairs, curves, cues, model, config, rate):
    x, y = {k: [] for k in C.PICK_FEATURES}, []
    for (ka, kb, truth, _), c in zip(pairs, curves):
        if c is None:
            continue
        offsets, z, _ = c
        z = {k: v for k, v in z.items() if k in cues}
        curve = combined_curve(model, z)
        cand = curve_candidates(curve, max(1, config.candidates))
        from synnet_recon.sync.epipolar import FineScorer
        from synnet_recon.sync.pair import min_overlap_frames

        mo = min_overlap_frames(config, len(ka), len(kb))
        fine = None
        if "epipolar" in cues:
            fine = FineScorer(ka, kb, config.smooth_frames / rate, config.max_fine_samples, mo)
        px, _ = pick_evidence(cues, model, curve, offsets, cand, ka, kb, None, fine, config, rate, mo)
        for k in C.PICK_FEATURES:
            x[k].append(np.asarray(px.get(k, np.full(len(cand), np.nan)), dtype=float))
        y.append(_labels(offsets[cand], truth, rate, 1.5))
    x = {k: np.concatenate(v) for k, v in x.items()}
    return C.Logistic.fit(x, np.concatenate(y), C.PICK_FEATURES, l2=1.0)


def fit_confidence(pairs, cues, model, config, rate, matcher=None):
    x, y, errs = {k: [] for k in C.CONFIDENCE_FEATURES}, [], []
    for ka, kb, truth, _ in pairs:
        try:
            est = estimate_subject_pair(ka, kb, config, rate, matcher if "synnet" in cues else None,
                                        cues=cues, model=model)
        except NoOffset:
            continue
        for k in C.CONFIDENCE_FEATURES:
            x[k].append(est.features.get(k, np.nan))
        err = np.inf if truth is None else abs(est.offset_seconds - truth) * rate
        errs.append(err)
        y.append(float(err <= 1.0))
    x = {k: np.asarray(v, dtype=float) for k, v in x.items()}
    conf = C.Logistic.fit(x, np.asarray(y), C.CONFIDENCE_FEATURES, l2=3.0)
    errs = np.asarray(errs)
    p = conf.prob(x)
    stats = {"answers": int(len(y)), "within_1_frame": round(float(np.mean(errs <= 1)), 3),
             "within_2_frames": round(float(np.mean(errs <= 2)), 3),
             "wrong_2plus_at_conf_0.9": int(np.sum((errs >= 2) & (p >= 0.9)))}
    return conf, stats


if __name__ == "__main__":
    main()
