"""How align places a short overlap's answer: the refinement variants on TRAINING pairs (issue 12).

    python bench/analyze_short_refine.py --out runs/short_refine.json --cache runs/short_refine_curves.pkl

Pairs (training motions only, never the bench's held-out ones): ``fit_combiner.training_pairs``'
short 3-camera clips (32 frames, static and moving cameras, fractional offsets) and its paper-
protocol pairs (32-frame clips, offsets 4m frames), and as many paper-protocol pairs with a
fractional offset (4m + u frames, u uniform in [-0.5, 0.5]; the protocol's integer offsets favour
an answer left on the frame grid). Every cue's chance z is computed once per pair (``--cache``);
then each variant of ``pair.SHORT_REFINEMENT`` answers every pair with the shipped combiner, and
``old`` is the refinement before short overlaps were told apart (``SHORT_OVERLAP_FRAMES = 0``, align's
default); the other variants set it to ``pair.SHORT_FRAMES``. ``--rates`` adds paper-protocol pairs
filmed at other frame rates (``rate_paper_pairs``: 60 fps, or 60 fps posed on every other frame as align
poses a video), to see whether the refinement inside the frame holds for faster inputs.

Printed per group and variant: % within half a frame and within 2 frames, mean |error| (s), answers
2+ frames off at confidence >= 0.9; then the pairs where the fused pick and SynNet's own argmax
disagree, with each cue's z at both (the "why" of issue 12's short-clip gap).
"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_combiner import PAPER_MAX_OFFSET, TrainPair, pair_config, training_motions, training_pairs  # noqa: E402

from synnet_recon.keypoints import Keypoints  # noqa: E402
from synnet_recon.sync import pair as P  # noqa: E402
from synnet_recon.sync.align import ANALYSIS_RATE, AlignConfig  # noqa: E402
from synnet_recon.sync.combine import model_for  # noqa: E402
from synnet_recon.sync.evidence import CUE_SETS  # noqa: E402

VARIANTS = ("old",) + P.SHORT_REFINEMENTS + ("synnet-no-static", "synnet-agreeing")


def fractional_paper_pairs(n: int, seed: int, first_scene: int) -> list[TrainPair]:
    """``n`` paper-protocol pairs (training motions) whose offset is 4m + u frames, u in [-0.5, 0.5]."""
    from synnet_recon.synth.scene import sample_pair_batch

    motions = training_motions(32 / 30.0 + 17 / 30.0 + 0.1)
    rng = np.random.default_rng([seed, 33])
    out = []
    for i in range(n):
        motion = motions[int(rng.integers(len(motions)))].resample(30.0)
        d = 4 * int(rng.integers(-4, 4)) + float(rng.uniform(-0.5, 0.5))
        batch = sample_pair_batch(motion, 1, 32, 30.0, d, rng)
        ka, kb = (Keypoints(batch.xy[0, j], batch.conf[0, j], np.arange(32) / 30.0,
                            tuple(int(v) for v in batch.image_size[0, j]), f"cam{j}") for j in range(2))
        out.append(TrainPair(ka, kb, d / 30.0, "paper_fractional", first_scene + i, PAPER_MAX_OFFSET))
    return out


def rate_paper_pairs(n: int, seed: int, spec: str, first_scene: int) -> list[TrainPair]:
    """``n`` paper-protocol pairs (training motions) filmed at another frame rate: ``spec`` "F" (every
    frame of an F fps camera) or "F/k" (posed on every k-th frame, as align poses a 60 fps video at 30
    fps: the tracks at F/k fps). Clips as long as 32 frames at 30 fps; offsets 4m + u frames of 30 fps,
    u uniform in [-0.5, 0.5]. Label ``paper@<spec>``."""
    from synnet_recon.synth.scene import sample_pair_batch

    fps, _, every = spec.partition("/")
    fps, every = float(fps), int(every or 1)
    frames = int(round(32 * fps / 30.0))
    motions = training_motions(32 / 30.0 + 17 / 30.0 + 0.1)
    rng = np.random.default_rng([seed, 34, int(fps), every])
    out = []
    for i in range(n):
        motion = motions[int(rng.integers(len(motions)))].resample(fps)
        d = (4 * int(rng.integers(-4, 4)) + float(rng.uniform(-0.5, 0.5))) / 30.0
        batch = sample_pair_batch(motion, 1, frames, fps, d * fps, rng)
        ka, kb = (Keypoints(batch.xy[0, j, ::every], batch.conf[0, j, ::every], (np.arange(frames) / fps)[::every],
                            tuple(int(v) for v in batch.image_size[0, j]), f"cam{j}")
                  for j in range(2))
        out.append(TrainPair(ka, kb, d, f"paper@{spec}", first_scene + i, PAPER_MAX_OFFSET))
    return out


def short_pairs(scenes: int, paper: int, fractional: int, seed: int, rates: tuple = (), n_rate: int = 0
                ) -> list[TrainPair]:
    extra = [q for k, spec in enumerate(rates) for q in rate_paper_pairs(n_rate, seed, spec, 20_000 + 1000 * k)]
    if scenes <= 0:
        return extra
    pairs = training_pairs(scenes, seed, n_paper=paper)
    keep = [p for p in pairs if p.label.startswith(("short", "paper"))
            or (p.truth is None and min(len(p.ka), len(p.kb)) < P.SHORT_FRAMES)]
    return keep + fractional_paper_pairs(fractional, seed, 10_000) + extra


def group_of(p: TrainPair) -> str:
    if p.truth is None:
        return "unrelated"
    return "/".join(p.label.split("/")[:2]) if p.label.startswith("short") else p.label


def all_curves(pairs, config, rate, matcher, cache: Path | None):
    key = [(p.label, p.scene, float(p.truth or 0.0), float(np.nansum(p.ka.xy)), float(np.nansum(p.kb.xy)))
           for p in pairs]
    if cache is not None and cache.is_file():
        with cache.open("rb") as fh:
            saved = pickle.load(fh)
        if saved["key"] == key:
            return saved["curves"]
    cues = CUE_SETS["all"]
    t0 = time.process_time()
    curves = []
    for p in pairs:
        try:
            curves.append(P.pair_curves(p.ka, p.kb, pair_config(config, p), rate, cues, matcher))
        except P.NoOffset:
            curves.append(None)
    print(f"curves of {len(pairs)} pairs: {time.process_time() - t0:.0f} CPU s", flush=True)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            pickle.dump({"key": key, "curves": curves}, fh)
        tmp.replace(cache)
    return curves


def answer(p, curves, variant, config, rate, matcher, model, cues):
    """(offset s, confidence, trace) of one pair under one variant with ``cues``; None when no offset."""
    old_frames, old_mode, old_static, old_needs = (P.SHORT_OVERLAP_FRAMES, P.SHORT_REFINEMENT, P.SHORT_STATIC,
                                                   P.SHORT_NEEDS_SYNNET)
    try:
        P.SHORT_OVERLAP_FRAMES = P.SHORT_FRAMES  # the short-overlap refinement on (off in align by default)
        if variant == "old":
            P.SHORT_OVERLAP_FRAMES = 0
        elif variant == "synnet-no-static":  # never the single-F fit on a short overlap
            P.SHORT_REFINEMENT, P.SHORT_STATIC = "synnet", False
        elif variant == "synnet-agreeing":  # only where SynNet's own argmax is within a frame of the pick
            P.SHORT_REFINEMENT, P.SHORT_NEEDS_SYNNET = "synnet", True
        else:
            P.SHORT_REFINEMENT = variant
        trace = {}
        offsets, z, mo, overlap = curves
        z = {k: v for k, v in z.items() if k in cues}
        if not any(np.isfinite(v).any() for v in z.values()):
            return None
        est = P.estimate_subject_pair(p.ka, p.kb, pair_config(config, p), rate,
                                      matcher if "synnet" in cues else None, cues=cues, model=model, trace=trace,
                                      curves=(offsets, z, mo, overlap))
        return est.offset_seconds, est.confidence, trace
    except P.NoOffset:
        return None
    finally:
        P.SHORT_OVERLAP_FRAMES, P.SHORT_REFINEMENT, P.SHORT_STATIC = old_frames, old_mode, old_static
        P.SHORT_NEEDS_SYNNET = old_needs


def summarise(rows, rate) -> dict:
    """rows: (error frames or inf, confidence) -> shares, mean |error| (s), wrong at >= 0.9."""
    err = np.array([r[0] for r in rows], dtype=float)
    conf = np.array([r[1] for r in rows], dtype=float)
    fin = np.isfinite(err)
    return {"n": int(len(err)), "within_half": round(float(np.mean(err <= 0.5 + 1e-6)) * 100, 1),
            "within_1": round(float(np.mean(err <= 1.0 + 1e-6)) * 100, 1),
            "off_1_at_0.9": int(np.sum((err > 1.0 + 1e-6) & (conf >= 0.9))),
            "within_2": round(float(np.mean(err <= 2.0 + 1e-6)) * 100, 1),
            "mean_abs_s": round(float(np.mean(err[fin]) / rate), 4) if fin.any() else None,
            "wrong_at_0.9": int(np.sum((err > 2.0 + 1e-6) & (conf >= 0.9))),
            "max_conf": round(float(conf.max()), 3) if len(conf) else None}


def disagreement(p, trace, rate) -> dict | None:
    """The fused pick against SynNet's own argmax: each cue's z at both (None when they agree)."""
    offsets, z, cand, best = trace["offsets"], trace["z"], trace["candidates"], trace["best"]
    if "synnet" not in z or not np.isfinite(z["synnet"]).any():
        return None
    i_f, i_s = int(cand[best]), int(np.nanargmax(z["synnet"]))
    if abs(int(offsets[i_f]) - int(offsets[i_s])) <= 2:  # the two agree
        return None
    truth = p.truth * rate
    row = {"group": group_of(p), "truth": round(truth, 2), "fused": int(offsets[i_f]), "synnet": int(offsets[i_s]),
           "right": "fused" if abs(offsets[i_f] - truth) <= 2 else "synnet" if abs(offsets[i_s] - truth) <= 2
           else "neither",
           "synnet_in_candidates": bool(i_s in [int(c) for c in cand]),
           "curve": [round(float(trace["curve"][i_f]), 2), round(float(trace["curve"][i_s]), 2)]}
    for k, v in z.items():
        row[f"z_{k}"] = [round(float(v[i_f]), 2), round(float(v[i_s]), 2)]
    if i_s in [int(c) for c in cand]:
        k = [int(c) for c in cand].index(i_s)
        row["pick"] = [round(float(trace["pick"][best]), 2), round(float(trace["pick"][k]), 2)]
        row["epipolar"] = [round(float(trace["pick_x"]["epipolar"][best]), 2),
                           round(float(trace["pick_x"]["epipolar"][k]), 2)]
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=80)
    ap.add_argument("--paper", type=int, default=120)
    ap.add_argument("--fractional", type=int, default=120)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--rates", default="", help="paper pairs at other frame rates too: e.g. 30,60,60/2,50 "
                    "(F/k: an F fps camera posed on every k-th frame; rate_paper_pairs)")
    ap.add_argument("--rate-pairs", type=int, default=60, help="pairs per entry of --rates")
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cues", default="all", help="cue set answering (evidence.CUE_SETS)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"from {', '.join(VARIANTS)}")
    args = ap.parse_args(argv)
    import torch

    from synnet_recon.sync.matcher import SynNetMatcher

    torch.set_num_threads(1)
    matcher = SynNetMatcher(device="cpu")
    config = AlignConfig(progress=False, synnet="off")
    config.window_frames = max(int(config.window_frames), int(matcher.window_frames))
    rate = ANALYSIS_RATE
    pairs = short_pairs(args.scenes, args.paper, args.fractional, args.seed,
                        tuple(r for r in args.rates.split(",") if r), args.rate_pairs)
    print(f"{len(pairs)} short training pairs", flush=True)
    curves = all_curves(pairs, config, rate, matcher, args.cache)
    cues = CUE_SETS[args.cues]
    variants = tuple(v for v in args.variants.split(",") if v)
    anchor = "synnet" if "synnet" in variants else variants[-1]  # the variant whose trace gives the pick rows
    model = model_for(cues)
    t0 = time.process_time()
    rows = {v: {} for v in variants}
    extra = {"pick": {}, "synnet_argmax": {}}
    disagree = []
    for p, c in zip(pairs, curves):
        g = group_of(p)
        for v in variants:
            got = None if c is None else answer(p, c, v, config, rate, matcher, model, cues)
            err = np.inf if got is None or p.truth is None else abs(got[0] - p.truth) * rate
            rows[v].setdefault(g, []).append((err, 0.0 if got is None else got[1]))
            if v == anchor and got is not None and p.truth is not None:
                tr = got[2]
                pick = tr["offsets"][tr["candidates"][tr["best"]]]
                extra["pick"].setdefault(g, []).append((abs(pick - p.truth * rate), 0.0))
                if "synnet" in tr["z"]:
                    syn = tr["offsets"][int(np.nanargmax(tr["z"]["synnet"]))]
                    extra["synnet_argmax"].setdefault(g, []).append((abs(syn - p.truth * rate), 0.0))
                d = disagreement(p, tr, rate)
                if d is not None:
                    disagree.append(d)
    print(f"variants: {time.process_time() - t0:.0f} CPU s", flush=True)
    table = {v: {g: summarise(r, rate) for g, r in sorted(by.items())} for v, by in {**rows, **extra}.items()}
    for v, by in table.items():
        print(v, json.dumps(by), flush=True)
    for d in disagree:
        print(json.dumps(d))
    out = {"script": "bench/analyze_short_refine.py", "args": {k: str(x) for k, x in vars(args).items()},
           "pairs": len(pairs), "table": table, "disagreements": disagree}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1))
    tmp.replace(args.out)


if __name__ == "__main__":
    main()
