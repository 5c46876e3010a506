"""Failure analysis of align's cues on the sync benchmark's trials (issue 12).

    python bench/analyze_sync_cues.py --sizes caliscope=24,caliscope_upper_body=24,pose2sim_mediapipe=16 \
        --out runs/cue_analysis.json

For every pair (input 0, input k) of every trial of ``bench_sync_real.py``'s conditions (same seeds,
same trials), with align's defaults (no SynNet) at the analysis rate: each cue's chance z-curve and
where its maximum lands against the truth, the fused curve, the candidates, the pick and the refined
answer; the plain correlations (speed, trajectory: Pearson argmax, as the bench's baselines) too.
Prints a table per condition: share of pairs within 2 frames (the condition's frame unit, as the
bench scores them) per stage, how often the truth is among the candidates, how often a wrong pick
sits in the outer 10 % of the range, and the z of each cue at the truth against its best z elsewhere.
Nothing here is fitted or tuned; it reads the evidence.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_sync_real as BS  # noqa: E402


def pair_record(ka, kb, truth_s: float, unit_s: float, config, rate: float, cues) -> dict:
    """Every stage's answer for one pair (offset of kb on ka's clock, seconds), errors in frame units."""
    from synnet_recon.sync import baselines as B
    from synnet_recon.sync.combine import model_for
    from synnet_recon.sync.pair import NoOffset, estimate_subject_pair, pair_curves
    from synnet_recon.sync.tracks import resample_track

    model = model_for(cues)
    try:
        curves = pair_curves(ka, kb, config, rate, cues)
    except NoOffset as exc:
        return {"error": str(exc)}
    trace: dict = {}
    est = estimate_subject_pair(ka, kb, config, rate, cues=cues, model=model, trace=trace, curves=curves)
    offsets, z = curves[0], curves[1]
    d_s = offsets / rate
    err = lambda s: float((s - truth_s) / unit_s)  # noqa: E731
    near = np.abs(d_s - truth_s) <= unit_s  # offsets within one frame unit of the truth
    far = np.abs(d_s - truth_s) > 2 * unit_s
    edge = lambda i: bool(min(i, len(offsets) - 1 - i) < 0.1 * len(offsets))  # noqa: E731
    rec = {"truth_s": truth_s, "unit_s": unit_s, "n_offsets": len(offsets), "cues": {}}
    if STATIC_PROBE:
        z = dict(z, static_epipolar=static_epipolar_curve(ka, kb, offsets, rate, config, curves[2]))
    for name, v in z.items():
        if not np.isfinite(v).any():
            continue
        i = int(np.nanargmax(v))
        rec["cues"][name] = {"err": err(d_s[i]), "edge": edge(i), "z_truth": float(np.nanmax(np.where(near, v, np.nan))),
                             "z_best_far": float(np.nanmax(np.where(far, v, np.nan))) if far.any() else float("nan")}
    curve = trace["curve"]
    i = int(np.nanargmax(curve))
    rec["curve"] = {"err": err(d_s[i]), "edge": edge(i)}
    cand = trace["candidates"]
    rec["candidates"] = [err(d_s[c]) for c in cand]
    rec["pick"] = {"err": err(d_s[cand[trace["best"]]]), "edge": edge(cand[trace["best"]]),
                   "x": {k: [float(u) for u in np.atleast_1d(v)] for k, v in trace["pick_x"].items()}}
    rec["final"] = {"err": err(est.offset_seconds), "confidence": est.confidence, "static": est.features["static"]}
    xa, xb = resample_track(ka, rate), resample_track(kb, rate)
    for name, fn in (("speed", B.speed_correlation_scores), ("trajectory", B.trajectory_correlation_scores)):
        s = fn(xa, xb, offsets)
        if np.isfinite(s).any():
            j = int(np.nanargmax(s))
            rec["plain_" + name] = {"err": err(d_s[j]), "edge": edge(j)}
    return rec


STATIC_PROBE = False  # --static-probe: also the one-F-per-offset epipolar curve (cameras standing still)


def static_epipolar_curve(ka, kb, offsets, rate, config, min_overlap):
    """Chance z of the static-camera epipolar cost (one F for the whole overlap) at every offset."""
    from synnet_recon.sync.epipolar import FineScorer
    from synnet_recon.sync.evidence import chance_z, null_offsets, reversed_track

    sigma = config.smooth_frames / rate
    fine = FineScorer(ka, kb, sigma, config.max_fine_samples, min_overlap)
    cost, count = fine.costs_and_counts(offsets / rate, static=True)
    null_fine = FineScorer(ka, reversed_track(kb), sigma, config.max_fine_samples, min_overlap)
    span = lambda k: int((k.times[-1] - k.times[0]) * rate) + 1  # noqa: E731
    nulls = null_offsets(span(ka), span(kb), min_overlap, most=40)
    ncost, ncount = null_fine.costs_and_counts(nulls / rate, static=True)
    return chance_z(cost, count, ncost, ncount, higher_is_better=False)


def analyse(conditions: dict[str, int], seed: int = 0) -> list[dict]:
    from synnet_recon.sync.align import AlignConfig
    from synnet_recon.sync.evidence import parse_cues

    cues = parse_cues(AlignConfig().cues)
    long = BS.heldout_motions(10.2) if any(c in BS.SIMULATED and c != "paper" for c in conditions) else []
    short = BS.heldout_motions(32 / BS.FPS + 0.1) if "paper" in conditions else []
    out = []
    for cond, n in conditions.items():
        rng = np.random.default_rng([seed, BS.STREAMS[cond]])
        for trial in BS.CONDITIONS[cond](n, rng, short if cond == "paper" else long):
            tracks = BS.main_tracks(trial)
            units = BS.frame_units(trial)
            config = AlignConfig(progress=False, fps=trial.fps, max_offset=trial.max_offset)
            for k in range(1, len(tracks)):
                ka, kb = tracks[0], tracks[k]
                # the offset of kb's first track frame from ka's (tracks may start after their input's frame 0)
                truth = trial.truth[k] - float(ka.times[0]) + float(kb.times[0])
                rec = pair_record(ka, kb, truth, units[k], config, 30.0, cues)
                rec |= {"condition": cond, "trial": trial.index, "input": k}
                out.append(rec)
    return out


def _share(xs) -> str:
    xs = list(xs)
    return "-" if not xs else f"{100 * np.mean(xs):.0f} %"


def table(records: list[dict]) -> str:
    lines = []
    for cond in dict.fromkeys(r["condition"] for r in records):
        recs = [r for r in records if r["condition"] == cond and "error" not in r]
        cues = sorted({c for r in recs for c in r["cues"]})
        lines += [f"**{cond}** ({len(recs)} pairs with input 0)", "",
                  "| stage | within 2 frames | answer in outer 10 % of the range (when > 2 frames off) |", "|---|---|---|"]
        stages = [(f"cue {c} argmax", [r["cues"][c] for r in recs if c in r["cues"]]) for c in cues]
        stages += [("fused curve argmax", [r["curve"] for r in recs]), ("pick", [r["pick"] for r in recs]),
                   ("final (refined)", [r["final"] for r in recs]),
                   ("plain speed correlation", [r["plain_speed"] for r in recs if "plain_speed" in r]),
                   ("plain trajectory correlation", [r["plain_trajectory"] for r in recs if "plain_trajectory" in r])]
        for name, xs in stages:
            wrong = [x for x in xs if abs(x["err"]) > 2]
            lines.append(f"| {name} | {_share(abs(x['err']) <= 2 for x in xs)} | "
                         f"{_share(x.get('edge', False) for x in wrong)} of {len(wrong)} |")
        cand = [any(abs(e) <= 2 for e in r["candidates"]) for r in recs]
        lines += ["", f"truth among the candidates: {_share(cand)}; "
                  f"pick wrong while the truth was a candidate: {sum(c and abs(r['pick']['err']) > 2 for c, r in zip(cand, recs))}", ""]
        lines += ["| cue | median z at the truth | median best z > 2 frames away | truth beats the rest |", "|---|---|---|---|"]
        for c in cues:
            zt = np.array([r["cues"][c]["z_truth"] for r in recs if c in r["cues"]])
            zf = np.array([r["cues"][c]["z_best_far"] for r in recs if c in r["cues"]])
            lines.append(f"| {c} | {np.nanmedian(zt):.2f} | {np.nanmedian(zf):.2f} | {_share(zt > zf)} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="caliscope=24,caliscope_upper_body=24,pose2sim_mediapipe=16")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--static-probe", action="store_true", help="also the static-camera epipolar curve")
    ap.add_argument("--relabel-cues", default=None,
                    help="override evidence.RELABEL_CUES: 'none' or a comma-separated list (speed,trajectory)")
    args = ap.parse_args(argv)
    if args.relabel_cues is not None:
        from synnet_recon.sync import evidence

        evidence.RELABEL_CUES = () if args.relabel_cues == "none" else tuple(args.relabel_cues.split(","))
    global STATIC_PROBE
    STATIC_PROBE = args.static_probe
    sizes = {k: int(v) for k, v in (s.split("=") for s in args.sizes.split(","))}
    t0, c0 = time.perf_counter(), time.process_time()
    records = analyse(sizes, args.seed)
    print(table(records))
    import os

    print(f"{len(records)} pairs, {time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU, "
          f"load {os.getloadavg()[0]:.1f}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(records, separators=(",", ":"), default=float))


if __name__ == "__main__":
    main()
