"""Cameras posed from the people on several rigs at once, for A/B tests of `PeopleCalibConf` settings
(docs/benchmarks.md, "Camera poses from the scene"): every pair's relative rotation and translation
direction error against each rig's calibration, with the settings given and without.

Rigs:
- stage: the inputs `synrecon triangulate --poses people|auto` hands `calibrate_from_tracks`, pickled by
  `python bench/bench_people_rigs.py dump SYNC_JSON OUT.pkl -- <triangulate options>` (e.g. the Pose2Sim
  balancing videos after `synrecon align`, as bench/bench_auto_pose2sim.py runs them);
- openpose: the Pose2Sim balancing trial's OpenPose keypoints (the second detector on those cameras);
- openpose2: the same cameras' two-person trial (OpenPose, both people);
- caliscope: caliscope_4cam_A_rec4's real cameras and real MediaPipe 3D, projected with detector-like noise
  (`bench_recon3d.caliscope_views`, seed 0): no view-dependent detector bias;
- ring: a synthetic 4-camera ring, 60 instants of the packaged dance, detector-like noise, seeds 0-3;
- ring60 (not in the default list): the same ring at 60 instants a second (the videos' rate), 120 instants.
The rigs that call calibrate_from_people directly (caliscope, ring) get ``smooth_window`` applied to their
joints here, as calibrate_from_tracks applies it to the others.
The resampled spread is off (it does not change the poses). CPU seconds per rig are this process's.

Usage: python bench/bench_people_rigs.py run [--stage-inputs PKL] [--rigs stage,openpose,openpose2,caliscope,ring]
       [--set speed_weight=2 ...] [--seeds 0,1,2,3] [--json OUT]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pickle
import sys
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from synnet_recon.io.calibration import read_calibration_toml
from synnet_recon.paths import shared_data_dir
from synnet_recon.recon.people_calib import (
    PeopleCalibConf,
    calibrate_from_people,
    calibrate_from_tracks,
    segment_from_openpose,
    smooth_tracks,
)

HERE = Path(__file__).resolve().parent
POSE2SIM = "multiview/pose2sim_demo"
TRIAL = "S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial"
TWO_PERSON = "S00_P01_MultiParticipants/S00_P01_T02_Participants1-2"
CALIBRATION = "outputs_commit_a948c20/S00_Calibration/Calib_qualisys.toml"
QUIET = {"bootstrap": 0, "leave_group_out": False, "bias_bootstrap": 0}


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RECON3D = _module(HERE / "bench_recon3d.py", "bench_recon3d")  # pair_errors, caliscope_views


def _cpu() -> float:
    return sum(os.times()[:2])


def stage_inputs(path: Path) -> tuple[dict, dict]:
    """(the pickled inputs of ``dump``, the Pose2Sim calibration's world_to_camera per camera name, matched
    by the number in the name)."""
    data = pickle.loads(path.read_bytes())
    cal = read_calibration_toml(shared_data_dir() / POSE2SIM / CALIBRATION)
    by_number = {n[-1]: c.world_to_camera for n, c in cal.items()}
    return data, {n: by_number[n[-1]] for n in data["names"]}


def rig_stage(path: Path, conf: PeopleCalibConf):
    data, truth = stage_inputs(path)
    base = replace(data["conf"], **{f.name: getattr(conf, f.name) for f in fields(conf)
                                    if getattr(conf, f.name) != getattr(PeopleCalibConf(), f.name)})
    result, _ = calibrate_from_tracks(data["names"], data["segments"], data["Ks"], data["reference"], base)
    yield "stage", result, truth


def rig_openpose(conf: PeopleCalibConf, trial: str = TRIAL, name: str = "openpose"):
    base = shared_data_dir() / POSE2SIM
    cal = read_calibration_toml(base / CALIBRATION)
    names = list(cal)
    segment = segment_from_openpose([base / trial / "pose" / f"cam0{n[-1]}_json" for n in names],
                                    [cal[n] for n in names], fps=60)
    result, _ = calibrate_from_tracks(names, [segment], [cal[n].K for n in names], 0, conf)
    yield name, result, {n: cal[n].world_to_camera for n in names}


def _smoothed(xy: np.ndarray, c: np.ndarray, conf: PeopleCalibConf) -> np.ndarray:
    """What calibrate_from_tracks does to each segment's tracks (``smooth_window``), for the rigs that
    call calibrate_from_people directly (one person, consecutive instants)."""
    if conf.smooth_window <= 1:
        return xy
    return smooth_tracks(xy, c, conf.smooth_window, conf.smooth_degree, conf.min_confidence,
                         robust_scale=conf.smooth_robust_scale)


def rig_caliscope(conf: PeopleCalibConf):
    names, cal, xy, c, _ = RECON3D.caliscope_views(shared_data_dir(), np.random.default_rng(0))
    xy = _smoothed(xy, c, conf)
    result = calibrate_from_people(names, xy, c, [cal[n].K for n in names], conf=conf)
    yield "caliscope", result, {n: cal[n].world_to_camera for n in names}


def ring_views(seeds, instants: int = 60, step: int = 7):
    """The synthetic 4-camera ring (``tests/recon``'s) filming the packaged dance with detector-like noise,
    per seed: (seed, names, (4, T, 18, 2) joints, (4, T, 18) confidences, K, true world_to_camera per name);
    T = ``instants`` or the clip's length at ``step`` mocap frames (120 fps) per instant, when shorter."""
    from synnet_recon.recon.triangulate import reproject
    from synnet_recon.synth.noise import DetectorNoise, apply_detector_noise

    tri = _module(HERE.parent / "tests/recon/test_triangulate.py", "test_triangulate")
    X = tri.load_motion(tri.PACKAGE_DATA / "mocap" / "05_02.bvh").joints[::step][:instants].copy()
    X[..., [0, 2]] -= X[..., [0, 2]].reshape(-1, 2).mean(axis=0)  # as tri.dance
    P, T = tri.ring(4), len(X)
    names = ["a", "b", "c", "d"]
    truth = {n: np.vstack([np.linalg.inv(tri.K) @ P[i], [0, 0, 0, 1]]) for i, n in enumerate(names)}
    for seed in seeds:
        xy, depth = reproject(P, X.reshape(-1, 3))
        noisy, c = apply_detector_noise(xy.reshape(4, T, 18, 2), depth.reshape(4, T, 18), tri.SIZE,
                                        DetectorNoise(), np.random.default_rng(seed))
        yield seed, names, noisy.astype(np.float64), c.astype(np.float64), tri.K, truth


def rig_ring(conf: PeopleCalibConf, seeds=range(4), instants: int = 60, step: int = 7, name: str = "ring"):
    """``step``: mocap frames (120 fps) per instant; 7 (about 17 fps) as the tests' ring, 2 for ring60."""
    for seed, names, noisy, c, K, truth in ring_views(seeds, instants, step):
        result = calibrate_from_people(names, _smoothed(noisy, c, conf), c, [K] * 4, conf=conf)
        yield f"{name}{seed}", result, truth


def run_rigs(rigs: list[str], conf: PeopleCalibConf, stage_inputs: Path | None, seeds=range(4)) -> dict:
    makers = {"stage": lambda: rig_stage(stage_inputs, conf), "openpose": lambda: rig_openpose(conf),
              "openpose2": lambda: rig_openpose(conf, TWO_PERSON, "openpose2"),
              "caliscope": lambda: rig_caliscope(conf), "ring": lambda: rig_ring(conf, seeds),
              "ring60": lambda: rig_ring(conf, seeds, instants=120, step=2, name="ring60_")}
    out = {}
    for rig in rigs:
        c0 = _cpu()
        for name, result, truth in makers[rig]():
            rows = RECON3D.pair_errors(result, truth)  # a pair with a flagged camera: not posed
            rot = [round(r["rotation_error_deg"], 3) for r in rows if r["posed"]]
            out[name] = {"pairs": rows, "rotation_max": max(rot, default=np.nan),
                         "rotation_mean": round(float(np.mean(rot)), 3) if rot else np.nan,
                         "direction_max": round(max((r["direction_error_deg"] for r in rows if r["posed"]),
                                                    default=np.nan), 3),
                         "all_ok": all(c.ok for c in result.cameras.values())}
            print(name, out[name]["rotation_max"], out[name]["rotation_mean"], out[name]["direction_max"],
                  "ok" if out[name]["all_ok"] else "FLAGGED", rot, flush=True)
        out[rig + "_cpu_s"] = round(_cpu() - c0, 1)
    return out


def dump(sync_json: str, pickle_path: str, options: list[str]) -> None:
    """`synrecon triangulate SYNC_JSON options` in this process, keeping calibrate_from_tracks's inputs."""
    from synnet_recon import cli
    from synnet_recon.recon import stage_triangulate

    def keep(names, segments, Ks, reference=0, conf=None):
        Path(pickle_path).write_bytes(pickle.dumps({"names": names, "segments": segments, "Ks": Ks,
                                                    "reference": reference, "conf": conf}))
        return calibrate_from_tracks(names, segments, Ks, reference, conf)

    stage_triangulate.calibrate_from_tracks = keep
    cli.main(["triangulate", sync_json, *options])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump")
    d.add_argument("sync_json")
    d.add_argument("pickle")
    d.add_argument("options", nargs=argparse.REMAINDER)
    r = sub.add_parser("run")
    r.add_argument("--rigs", default="stage,openpose,openpose2,caliscope,ring")
    r.add_argument("--stage-inputs", type=Path)
    r.add_argument("--set", action="append", default=[], help="a PeopleCalibConf field=value (repeatable)")
    r.add_argument("--json", type=Path)
    r.add_argument("--seeds", default="0,1,2,3", help="the synthetic rings' noise seeds")
    args = ap.parse_args()
    if args.command == "dump":
        dump(args.sync_json, args.pickle, [o for o in args.options if o != "--"])
        return
    settings = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    rigs = [x for x in args.rigs.split(",") if x != "stage" or args.stage_inputs]
    out = {"settings": settings, "load_before": os.getloadavg(), "argv": sys.argv[1:]}
    out["rigs"] = run_rigs(rigs, PeopleCalibConf(**QUIET, **settings), args.stage_inputs,
                           [int(s) for s in args.seeds.split(",")])
    out["load_after"] = os.getloadavg()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
