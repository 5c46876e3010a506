"""Every two-camera subset of the people-calibration rigs, posed as two cameras alone: each pair's
relative rotation error against the rig's calibration, its ``rotation_uncertainty_deg``, whether it
is verified, and why not (docs/benchmarks.md, "Session 14 (lead): two cameras verified only when
their rotation is known to 2 degrees").

Rigs (as bench/bench_people_rigs.py makes them, the resampled spread on, since the two-camera
verification reads it): stage (the pickled inputs of `triangulate --poses people|auto`, from
`bench_people_rigs.py dump`; skipped without --stage-inputs), openpose, openpose2, caliscope, and
ring (the synthetic 4-camera ring, all 161 instants of the dance, pairs 90 and 180 degrees apart).

Usage: python bench/bench_two_cameras.py [--stage-inputs PKL] [--rigs stage,openpose,openpose2,caliscope,ring]
       [--seeds 0,1,2] [--json OUT]
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_people_rigs as R  # noqa: E402

from synnet_recon.pinhole import rotation_angle_deg  # noqa: E402
from synnet_recon.recon.people_calib import PeopleCalibConf, calibrate_from_people, calibrate_from_tracks  # noqa: E402


def pair_row(rig: str, result, truth: dict, a: str, b: str) -> dict:
    """One two-camera result against the truth (world_to_camera per name)."""
    ca, cb = result.cameras[a], result.cameras[b]
    row = {"rig": rig, "pair": f"{a}-{b}", "ok": bool(cb.ok), "reason": cb.reason}
    if ca.world_to_camera is None or cb.world_to_camera is None:
        return {**row, "error_deg": None}
    rel = cb.world_to_camera @ np.linalg.inv(ca.world_to_camera)
    true = truth[b] @ np.linalg.inv(truth[a])
    pair = [p for p in result.pairs if {p["a"], p["b"]} == {a, b}]
    return {**row, "separation_deg": round(rotation_angle_deg(true[:3, :3]), 1),
            "error_deg": round(rotation_angle_deg(rel[:3, :3] @ true[:3, :3].T), 3),
            "uncertainty_deg": round(pair[0].get("rotation_uncertainty_deg", float("nan")), 3) if pair else None}


def rig_stage(path: Path):
    data, truth = R.stage_inputs(path)
    for i, j in itertools.combinations(range(len(data["names"])), 2):
        names = [data["names"][i], data["names"][j]]
        segments = [([xy[i], xy[j]], [c[i], c[j]]) for xy, c in data["segments"]]
        result, _ = calibrate_from_tracks(names, segments, [data["Ks"][i], data["Ks"][j]], 0, data["conf"])
        yield pair_row("stage", result, truth, *names)


def rig_openpose(trial: str, rig: str, conf: PeopleCalibConf):
    base = R.shared_data_dir() / R.POSE2SIM
    cal = R.read_calibration_toml(base / R.CALIBRATION)
    for names in itertools.combinations(list(cal), 2):
        segment = R.segment_from_openpose([base / trial / "pose" / f"cam0{n[-1]}_json" for n in names],
                                          [cal[n] for n in names], fps=60)
        result, _ = calibrate_from_tracks(list(names), [segment], [cal[n].K for n in names], 0, conf)
        yield pair_row(rig, result, {n: cal[n].world_to_camera for n in names}, *names)


def rig_caliscope(conf: PeopleCalibConf):
    names, cal, xy, c, _ = R.RECON3D.caliscope_views(R.shared_data_dir(), np.random.default_rng(0))
    for i, j in itertools.combinations(range(len(names)), 2):
        result = calibrate_from_people([names[i], names[j]], xy[[i, j]], c[[i, j]],
                                       [cal[names[i]].K, cal[names[j]].K], conf=conf)
        yield pair_row("caliscope", result, {n: cal[n].world_to_camera for n in names}, names[i], names[j])


def rig_ring(conf: PeopleCalibConf, seeds):
    for seed, names, xy, c, K, truth in R.ring_views(seeds, instants=300, step=2):
        for i, j in ((0, 1), (0, 2)):   # 90 and 180 degrees apart
            result = calibrate_from_people([names[i], names[j]], xy[[i, j]], c[[i, j]], [K] * 2, conf=conf)
            yield pair_row(f"ring{seed}", result, truth, names[i], names[j])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stage-inputs", type=Path)
    ap.add_argument("--rigs", default="stage,openpose,openpose2,caliscope,ring")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    conf = PeopleCalibConf()
    makers = {"stage": lambda: rig_stage(args.stage_inputs) if args.stage_inputs else iter(()),
              "openpose": lambda: rig_openpose(R.TRIAL, "openpose", conf),
              "openpose2": lambda: rig_openpose(R.TWO_PERSON, "openpose2", conf),
              "caliscope": lambda: rig_caliscope(conf),
              "ring": lambda: rig_ring(conf, [int(s) for s in args.seeds.split(",")])}
    rows = []
    for rig in args.rigs.split(","):
        for row in makers[rig]():
            rows.append(row)
            print(json.dumps(row), flush=True)
    known = [r for r in rows if r["error_deg"] is not None]
    summary = {"pairs": len(rows), "verified": sum(r["ok"] for r in known),
               "verified_over_2_deg": sum(r["ok"] and r["error_deg"] > 2.0 for r in known),
               "right_flagged": sum(not r["ok"] and r["error_deg"] <= 2.0 for r in known)}
    print(json.dumps({"summary": summary}), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
