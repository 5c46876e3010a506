"""Failure analysis of align's misses on the sync benchmark's trials, through align itself (issue 12).

    python bench/analyze_sync_misses.py --seed 1 \
        --sizes pose2sim_mediapipe=8,caliscope=10,caliscope_upper_body=10,pose2sim_people=10 --out runs/misses.json

Every trial of ``bench_sync_real.py``'s conditions (same seeds, same trials) through align's own
stages with its defaults (SynNet included, as the bench runs it): each input's answer scored as the
bench scores it (within 2 frames of its frame unit). For every input whose answer is more than 2
frames off: the direct pair with the reference (its answer, confidence, options, whether the joint
solve kept it), every other pair's error, and for each refined pairing of people of the direct
pair: the truth's place in the search range, every cue's chance z at the truth and at the pick
(the epipolar z and the pick's logit too, both computed at the two offsets), the candidates, the
pick and the refined answer. Each miss gets one cause (``classify``). Nothing is fitted or tuned.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_sync_real as BS  # noqa: E402

REFINED: list = []  # every refined pairing of every pair (``analyse`` appends)
REAL = ("pose2sim_mediapipe", "caliscope", "caliscope_upper_body", "pose2sim_people")


def _traced_align(trial, overrides: dict):
    """align's stages (``align.align``) with every refined pairing's trace kept:
    (sources, pairs, result, traces {(id(ka), id(kb)): (trace, estimate)}, matcher, rate, config)."""
    from synnet_recon.sync import align as A
    from synnet_recon.sync import pair as P

    traces: dict = {}
    original = A.estimate_subject_pair

    def traced(ka, kb, *args, **kw):
        tr: dict = {}
        est = original(ka, kb, *args, trace=tr, **kw)
        tr["final_s"] = float(est.offset_seconds)  # on the tracks' clocks (estimate_pair shifts est later)
        traces[(id(ka), id(kb))] = (tr, est)
        return est

    config = A.AlignConfig(progress=False, fps=trial.fps, max_offset=trial.max_offset, **overrides)
    A.estimate_subject_pair = traced
    try:
        sources, ref, rate, matcher, pairs = A._load_and_estimate(list(trial.inputs), config)
    finally:
        A.estimate_subject_pair = original
    index_pairs = list(combinations(range(len(sources)), 2))
    sol = A._solve(sources, ref, index_pairs, pairs, config, rate)
    result = A._result(sources, ref, index_pairs, pairs, sol, rate)
    assert P.estimate_subject_pair is original
    return sources, pairs, result, traces, matcher, rate, config


def _at(offsets_s: np.ndarray, t: float) -> int:
    return int(np.argmin(np.abs(offsets_s - t)))


def _peaks(v: np.ndarray, d_s: np.ndarray, err, k: int = 3) -> dict:
    """A curve's ``k`` best local maxima (``pair.curve_candidates``) as errors (frame units), and the
    rank (1 = best) of the first local maximum within 2 frames of the truth (None when none is)."""
    from synnet_recon.sync.pair import curve_candidates

    v = np.asarray(v, np.float64)
    every = curve_candidates(v, len(v))
    rank = next((r + 1 for r, i in enumerate(every) if abs(err(d_s[i])) <= 2), None)
    return {"peaks": [err(d_s[i]) for i in every[:k]], "truth_rank": rank}


def pairing_record(ka, kb, tr: dict, est, truth_s: float, unit_s: float, config, rate: float, matcher, cues) -> dict:
    """One refined pairing: every cue's z at the truth and at the pick, candidates, pick, final (frame units)."""
    from synnet_recon.sync.combine import model_for
    from synnet_recon.sync.epipolar import FineScorer
    from synnet_recon.sync.pair import pick_evidence

    offsets = tr["offsets"]
    d_s = offsets / rate
    err = lambda s: float((s - truth_s) / unit_s)  # noqa: E731
    cand, best = list(tr["candidates"]), int(tr["best"])
    i_pick = int(cand[best])
    i_truth = _at(d_s, truth_s)
    in_range = bool(d_s[0] - 0.5 / rate <= truth_s <= d_s[-1] + 0.5 / rate)
    rec = {"truth_s": truth_s, "unit_s": unit_s, "range_s": [float(d_s[0]), float(d_s[-1])], "in_range": in_range,
           "truth_index": i_truth, "n_offsets": len(offsets), "min_overlap": int(tr["min_overlap"]),
           "candidates": [err(d_s[c]) for c in cand], "pick": err(d_s[i_pick]), "final": err(tr["final_s"]),
           "confidence": float(est.confidence), "static": float(est.features.get("static", 0.0)),
           "stderr_frames": float(est.features.get("stderr_frames", np.nan)),
           "group_stderr_frames": float(est.features.get("group_stderr_frames", np.nan)), "cues": {}}
    near = np.abs(d_s - truth_s) <= unit_s
    for name, v in tr["z"].items():
        v = np.asarray(v, np.float64)
        if not np.isfinite(v).any():
            continue
        j = int(np.nanargmax(v))
        rec["cues"][name] = {"argmax": err(d_s[j]), "z_truth": float(np.nanmax(np.where(near, v, np.nan)))
                             if np.isfinite(v[near]).any() else float("nan"),
                             "z_pick": float(v[i_pick]), "z_max": float(v[j]), **_peaks(v, d_s, err)}
    curve = np.asarray(tr["curve"], np.float64)
    rec["curve"] = {"argmax": err(d_s[int(np.nanargmax(curve))]),
                    "at_truth": float(np.nanmax(np.where(near, curve, np.nan))) if np.isfinite(curve[near]).any()
                    else float("nan"), "at_pick": float(curve[i_pick]), **_peaks(curve, d_s, err)}
    # the pick's features (epipolar z, the pick logit) at the truth's offset and at the pick
    cues = tuple(est.cues)
    model = model_for(cues)
    fine = None
    if "epipolar" in cues:
        fine = FineScorer(ka, kb, config.smooth_frames / rate, config.max_fine_samples, tr["min_overlap"],
                          swap_arms=bool(config.fine_swaps))
    from synnet_recon.sync.pair import overlap_frames
    from synnet_recon.sync.tracks import resample_track

    overlap = overlap_frames(offsets, len(resample_track(ka, rate)), len(resample_track(kb, rate)))
    x, logit = pick_evidence(cues, model, curve, offsets, [i_truth, i_pick], ka, kb, matcher, fine, config, rate,
                             tr["min_overlap"], tr["z"], overlap)
    rec["pick_x"] = {k: [float(u) for u in np.atleast_1d(v)] for k, v in tr["pick_x"].items()}
    rec["pick_logits"] = [float(u) for u in np.atleast_1d(tr["pick"])]
    rec["pick_at"] = {"truth": {"logit": float(logit[0]), "epipolar": float(x["epipolar"][0]) if "epipolar" in x else None},
                      "pick": {"logit": float(logit[1]), "epipolar": float(x["epipolar"][1]) if "epipolar" in x else None}}
    return rec


def _pick_inputs(ka, kb, tr: dict, truth_s: float, unit_s: float, rate: float) -> dict:
    """A refined pairing's pick inputs, to score another pick on it offline: each candidate's error
    (frame units), the pick's features at the candidates, and the pair's ``pair.periodicity``."""
    from synnet_recon.sync.pair import periodicity
    from synnet_recon.sync.tracks import resample_track

    offsets = np.asarray(tr["offsets"])
    d_s = offsets / rate
    max_lag = int(max(abs(offsets[0]), abs(offsets[-1])))
    return {"cand_err": [float((d_s[c] - truth_s) / unit_s) for c in tr["candidates"]],
            "pick_x": {k: [float(u) for u in np.atleast_1d(v)] for k, v in tr["pick_x"].items()},
            "periodicity": periodicity(resample_track(ka, rate), resample_track(kb, rate), max_lag,
                                       int(tr["min_overlap"]))}


def classify(miss: dict) -> str:
    """One cause per miss (first that applies)."""
    direct = miss["direct"]
    if direct.get("err") is not None and abs(direct["err"]) <= 2:
        return "direct pair right, solve/loops moved it"
    subs = miss["pairings"]
    if not subs:
        return "direct pair unanswered"
    if len(subs) > 1 and any(abs(s["final"]) <= 2 for s in subs):
        return "another pairing of people was right"
    s = subs[0]
    if not s["in_range"]:
        return "truth outside the search range"
    if abs(s["pick"]) <= 2 < abs(s["final"]):
        return "pick right, refinement walked away"
    if abs(s["pick"]) > 2 and any(abs(c) <= 2 for c in s["candidates"]):
        return "truth a candidate, pick chose another"
    if abs(s["final"]) <= 2:
        return "pairing right, combination of options moved it"
    return "truth not among the candidates (curve)"


def condition_motions(cond: str) -> list:
    """The held-out motions ``bench_sync_real.run`` draws ``cond``'s trials from: 32-frame clips for
    the paper protocol, 10.2 s ones for the other simulated conditions, none for the real ones."""
    if cond == "paper":
        return BS.heldout_motions(32 / BS.FPS + 0.1)
    return BS.heldout_motions(10.2) if cond in BS.SIMULATED else []


def analyse(conditions: dict[str, int], seed: int, overrides: dict | None = None) -> tuple[list[dict], list[dict]]:
    from synnet_recon.sync.align import pair_cues

    rows, misses = [], []
    refined = REFINED
    for cond, n in conditions.items():
        rng = np.random.default_rng([seed, BS.STREAMS[cond]])
        motions = condition_motions(cond)
        for trial in BS.CONDITIONS[cond](n, rng, motions):
            sources, pairs, result, traces, matcher, rate, config = _traced_align(trial, overrides or {})
            cues = pair_cues(config, matcher)
            ans = {"offsets": [v.offset_seconds for v in result.videos],
                   "confidences": [float(v.confidence) for v in result.videos]}
            scored = BS.score(trial, ans)
            units = BS.frame_units(trial)
            index_pairs = list(combinations(range(len(sources)), 2))
            owner = {id(t): (s, k) for s, src in enumerate(sources) for k, t in enumerate(src.tracks)}
            for (ida, idb), (tr, est) in traces.items():  # every refined pairing: where the pick and the refinement land
                (sa, ia), (sb, ib) = owner[ida], owner[idb]
                A_, B_ = sources[sa], sources[sb]
                ka, kb = A_.tracks[ia], B_.tracks[ib]
                t_pair = trial.truth[sb] - trial.truth[sa] - ((ka.times[0] - A_.t0) - (kb.times[0] - B_.t0))
                unit = max(units[sa], units[sb])
                d_s = tr["offsets"] / rate
                refined.append({"condition": cond, "trial": trial.index, "pair": [sa, sb], "pairing": [ia, ib],
                                "pick": float((d_s[tr["candidates"][tr["best"]]] - t_pair) / unit),
                                "final": float((tr["final_s"] - t_pair) / unit), "unit_frames": float(unit * rate),
                                "static": float(est.features.get("static", 0.0)), "confidence": float(est.confidence),
                                "stderr_frames": float(est.features.get("stderr_frames", np.nan)),
                                **_pick_inputs(ka, kb, tr, t_pair, unit, rate)})
            for r in scored:
                r |= {"condition": cond, "trial": trial.index}
                rows.append(r)
                k = r["input"]
                if r["error_frames"] is not None and abs(r["error_frames"]) <= 2:
                    continue
                pair_errs = []
                for (i, j), p in zip(index_pairs, pairs):
                    unit = max(units[i], units[j])
                    e = None if p.offset_seconds is None else (p.offset_seconds - (trial.truth[j] - trial.truth[i])) / unit
                    pair_errs.append({"pair": [i, j], "err": e, "confidence": float(p.confidence), "inlier": bool(p.inlier),
                                      "reason": p.reason, "options": [[(o - (trial.truth[j] - trial.truth[i])) / unit, c]
                                                                      for o, c, _, _ in p.options]})
                direct = pair_errs[index_pairs.index((0, k))]
                p = pairs[index_pairs.index((0, k))]
                a_first = p.a == sources[0].name
                subs = []
                for (ida, idb), (tr, est) in traces.items():
                    (sa, ia), (sb, ib) = owner[ida], owner[idb]
                    if {sa, sb} != {0, k}:
                        continue
                    A_, B_ = sources[sa], sources[sb]
                    ka, kb = A_.tracks[ia], B_.tracks[ib]
                    shift = (ka.times[0] - A_.t0) - (kb.times[0] - B_.t0)
                    truth_pair = trial.truth[sb] - trial.truth[sa]
                    rec = pairing_record(ka, kb, tr, est, truth_pair - shift, units[k], config, rate, matcher, cues)
                    rec["pairing"] = [ia, ib] if sa == 0 else [ib, ia]
                    rec["n_tracks"] = [len(sources[0].tracks), len(sources[k].tracks)]
                    subs.append(rec)
                subs.sort(key=lambda s: -s["confidence"])
                miss = {"condition": cond, "trial": trial.index, "input": k, "name": sources[k].name,
                        "error_frames": r["error_frames"], "confidence": r["confidence"], "info": BS._jsonable(trial.info),
                        "direct": direct, "a_is_reference": a_first, "pairs": pair_errs, "pairings": subs}
                miss["cause"] = classify(miss)
                misses.append(miss)
    return rows, misses


def _f(v, fmt="+.2f"):
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, fmt)


def report(rows: list[dict], misses: list[dict]) -> str:
    lines = ["| condition | offsets | within 2 frames | wrong at >= 0.9 |", "|---|---|---|---|"]
    for cond in dict.fromkeys(r["condition"] for r in rows):
        rs = [r for r in rows if r["condition"] == cond]
        ok = sum(r["error_frames"] is not None and abs(r["error_frames"]) <= 2 for r in rs)
        bad9 = sum(r["error_frames"] is not None and abs(r["error_frames"]) > 2 and r["confidence"] >= 0.9 for r in rs)
        lines.append(f"| {cond} | {len(rs)} | {ok}/{len(rs)} ({100 * ok / len(rs):.0f} %) | {bad9} |")
    lines += ["", "| condition | trial | input | error (frames) | conf | cause | direct pair err / conf | "
              "pairing | in range | candidates | pick | final | cue argmax (err) | cue z truth / pick | epipolar z truth / pick | pick logit truth / pick |",
              "|" + "---|" * 16]
    for m in misses:
        s = m["pairings"][0] if m["pairings"] else None
        if s is None:
            lines.append(f"| {m['condition']} | {m['trial']} | {m['input']} | {_f(m['error_frames'])} | "
                         f"{m['confidence']:.2f} | {m['cause']} |" + " |" * 10)
            continue
        argmax = ", ".join(f"{c} {_f(v['argmax'], '+.1f')}" for c, v in s["cues"].items())
        zs = ", ".join(f"{c} {_f(v['z_truth'], '.1f')}/{_f(v['z_pick'], '.1f')}" for c, v in s["cues"].items())
        pt, pp = s["pick_at"]["truth"], s["pick_at"]["pick"]
        lines.append(f"| {m['condition']} | {m['trial']} | {m['input']} | {_f(m['error_frames'])} | {m['confidence']:.2f} | "
                     f"{m['cause']} | {_f(m['direct']['err'])} / {m['direct']['confidence']:.2f} | {s['pairing']} of {s['n_tracks']} | "
                     f"{s['in_range']} | {', '.join(_f(c, '+.1f') for c in s['candidates'])} | {_f(s['pick'], '+.1f')} | "
                     f"{_f(s['final'])} | {argmax} | {zs} | {_f(pt['epipolar'], '.1f')}/{_f(pp['epipolar'], '.1f')} | "
                     f"{_f(pt['logit'], '.1f')}/{_f(pp['logit'], '.1f')} |")
    lines += ["", "Misses whose truth was not a candidate: each cue's 3 best local maxima (error, frames) and the rank of "
              "the first within 2 frames of the truth (-: none)", "",
              "| condition | trial | input | candidates | fused curve peaks (truth rank) | per cue: peaks (truth rank) |",
              "|---|---|---|---|---|---|"]
    for m in misses:
        s = m["pairings"][0] if m["pairings"] else None
        if s is None or m["cause"] != "truth not among the candidates (curve)" or "peaks" not in s["curve"]:
            continue
        pk = lambda d: f"{', '.join(_f(u, '+.1f') for u in d['peaks'])} ({d['truth_rank'] or '-'})"  # noqa: E731
        per_cue = "; ".join(f"{c} {pk(v)}" for c, v in s["cues"].items() if "peaks" in v)
        lines.append(f"| {m['condition']} | {m['trial']} | {m['input']} | {', '.join(_f(c, '+.1f') for c in s['candidates'])} | "
                     f"{pk(s['curve'])} | {per_cue} |")
    causes: dict = {}
    for m in misses:
        causes.setdefault(m["cause"], []).append(m)
    lines += ["", "| cause | misses | of them conf >= 0.5 | conditions |", "|---|---|---|---|"]
    for c, ms in sorted(causes.items(), key=lambda kv: -len(kv[1])):
        conds = ", ".join(f"{k} {v}" for k, v in sorted(
            {x: sum(m['condition'] == x for m in ms) for x in {m['condition'] for m in ms}}.items()))
        lines.append(f"| {c} | {len(ms)} | {sum(m['confidence'] >= 0.5 for m in ms)} | {conds} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="pose2sim_mediapipe=8,caliscope=10,caliscope_upper_body=10,pose2sim_people=10")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--set", action="append", default=[],
                    help="module attribute to override, e.g. pair.SOME_FLAG=1 (python literal)")
    ap.add_argument("--align", action="append", default=[],
                    help="AlignConfig field to override, e.g. join='greedy' (python literal)")
    args = ap.parse_args(argv)
    import ast
    import importlib

    for item in args.set:
        key, value = item.split("=", 1)
        mod, attr = key.rsplit(".", 1)
        setattr(importlib.import_module(f"synnet_recon.sync.{mod}"), attr, ast.literal_eval(value))
    sizes = {k: int(v) for k, v in (s.split("=") for s in args.sizes.split(","))}
    t0, c0 = time.perf_counter(), time.process_time()
    overrides = {k: ast.literal_eval(v) for k, v in (a.split("=", 1) for a in args.align)}
    rows, misses = analyse(sizes, args.seed, overrides)
    print(report(rows, misses))
    print(f"\n{len(rows)} offsets, {len(misses)} misses, {time.perf_counter() - t0:.0f} s wall, "
          f"{time.process_time() - c0:.0f} s CPU, load {os.getloadavg()[0]:.1f}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"rows": rows, "misses": misses, "seed": args.seed, "set": args.set,
                                        "align": args.align, "refined": REFINED},
                                       separators=(",", ":"), default=float))


if __name__ == "__main__":
    main()
