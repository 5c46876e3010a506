"""fuse's verification (``recon/verify.check_view``, every check, the fine one last) of the true pose and
of planted wrong ones, on wide scenes the grid does not cover (docs/benchmarks.md, "... (session 8, h5)"):
Kinect-like depth (``synth.depth_noise``) and small-period floors (``WideSceneConfig.floor``/``floor_tile``).

Per scene (``synth.wide``, rendered once into --out) and instant, the views are read as fuse reads them
(``fuse.ViewLoader``), and cam1's pose onto cam0 is checked as fuse checks a hypothesis (``anchored._Trials
.checked``, no refinement, no polish): the truth, and planted wrong poses: slides of 1.5 and 3 cm (seeded
random directions), turns of 0.5 and 1 degree about the camera, turns of 2 and 5 degrees about the person's
vertical axis (which move the joints little), and on a periodic floor the shifts along it that fit its
pattern (``floor_shifts``) and one by half a period. A right pose should pass, every planted one be flagged. One JSON line per check, then a summary
per scene.

Usage: python bench/bench_verify_planted.py [--out /tmp/bench_verify_planted] [--set noisy|floors] [--seed S]
       python bench/bench_verify_planted.py --set floors --kinect   (small-period floors on Kinect-like depth)
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from bench_fuse_wide import FLOORS

# (layout, separation_deg, heights, scene options)
NOISY = [("symmetric", 30.0, (1.5,), {}), ("room", 60.0, (1.0, 2.2), {}), ("open", 45.0, (1.5,), {}),
         ("symmetric", 90.0, (1.5,), {}), ("open", 90.0, (1.2, 2.0), {}), ("plain", 60.0, (1.5,), {}),
         ("plain", 120.0, (1.5,), {}), ("room", 120.0, (1.5,), {}), ("symmetric", 120.0, (1.5,), {})]
SETS = {"noisy": NOISY, "floors": FLOORS}


def scene_name(layout: str, separation: float, heights, options: dict, noise: bool, seed: int, instants: int) -> str:
    extra = "".join(f"_{k}{v}" for k, v in sorted(options.items()))
    return f"{layout}_{separation:g}_{'-'.join(f'{h:g}' for h in heights)}{extra}{'_kinect' if noise else ''}" \
           f"_{instants}_seed{seed}"


def render(out: Path, spec, noise: bool, seed: int, instants: int) -> Path:
    from synnet_recon.synth.depth_noise import DepthNoise
    from synnet_recon.synth.wide import WideSceneConfig, render_wide_scene

    layout, separation, heights, options = spec
    root = out / scene_name(layout, separation, heights, options, noise, seed, instants)
    if not (root / "sync.json").is_file():
        render_wide_scene(WideSceneConfig(layout=layout, separation_deg=separation, heights=tuple(heights),
                                          instants=instants, seed=seed, depth_noise=DepthNoise() if noise else None,
                                          **options), root)
    return root


def planted(T: np.ndarray, target_joints: np.ndarray, floor_shifts: list[tuple[str, np.ndarray]] | None,
            rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """(name, pose) of the truth T and the planted wrong poses (see the module doc)."""
    from synnet_recon.recon.joint_icp import rotation, turn_about
    from synnet_recon.recon.verify import turn_axis

    def slid(shift):
        e = rng.standard_normal(3)
        out = T.copy()
        out[:3, 3] += shift * e / np.linalg.norm(e)
        return out

    def turned(deg):
        e = rng.standard_normal(3)
        D = np.eye(4)
        D[:3, :3] = rotation(np.radians(deg) * e / np.linalg.norm(e))
        return T @ D

    def along(shift):
        out = T.copy()
        out[:3, 3] += shift
        return out

    up, centre = turn_axis(T, target_joints)
    poses = [("truth", T), ("slide 1.5 cm", slid(0.015)), ("slide 3 cm", slid(0.03)), ("camera turn 0.5", turned(0.5)),
             ("camera turn 1", turned(1.0))]
    poses += [(f"person turn {d:+g}", turn_about(up, centre, d) @ T) for d in (2.0, -2.0, 5.0, -5.0)]
    for name, shift in floor_shifts or []:
        poses.append((name, along(shift)))
    return poses


def floor_shifts(options: dict, R: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(name, shift (3,) in the reference camera) of the shifts along a periodic floor that fit its
    pattern (``Environment.floor``: a checker by 2 tiles along x or z and by one along a diagonal,
    stripes by one along x) and, as a control, by half a period; R: the reference's world-to-camera
    rotation."""
    tile, floor = options.get("floor_tile", 0.5), options.get("floor", "tiles")
    x, z = R @ np.array([1.0, 0.0, 0.0]), R @ np.array([0.0, 0.0, 1.0])
    if floor == "checker":
        fits = [("x", 2 * tile * x), ("z", -2 * tile * z), ("diagonal", tile * (x + z))]
    elif floor == "stripes":
        fits = [("x", tile * x), ("-x", -tile * x)]
    else:
        return []
    out = [(f"floor period {k} {100 * np.linalg.norm(s):.0f} cm", s) for k, s in fits]
    return out + [(f"floor half period {100 * np.linalg.norm(fits[0][1]) / 2:.0f} cm", fits[0][1] / 2)]


def check_scene(root: Path, spec, noise_aware: bool = True) -> list[dict]:
    from synnet_recon.recon.anchored import _evaluate, _Trials
    from synnet_recon.recon.fuse import FuseConfig, ViewLoader, _view_inputs, read_inputs
    from synnet_recon.synth.wide import truth_camera_to_reference

    options = spec[3]
    truth = json.loads((root / "truth.json").read_text())
    w2c0 = np.asarray(truth["cameras"][0]["world_to_camera"])
    config = FuseConfig(progress=False)
    config.anchor.verify.noise_aware = noise_aware
    inputs = read_inputs(root / "sync.json", config)
    loader = ViewLoader(inputs, config, {})
    rows = []
    try:
        for instant in inputs.instants:
            views = loader.read(instant)
            source, target = _view_inputs(views, "cam1"), _view_inputs(views, "cam0")
            trials = _Trials(source, target, config.registration, config.anchor)
            T = truth_camera_to_reference(truth, instant.frames, "cam0")["cam1"]
            rng = np.random.default_rng([int(truth["seed"]), instant.row_index])
            shifts = floor_shifts(options, w2c0[instant.frames["cam0"]][:3, :3])
            for name, P in planted(T, target.joints, shifts, rng):
                cpu = time.process_time()
                c = trials.checked(P, "planted", _evaluate(source.prepared, target.prepared, P, config.registration),
                                   source.joints, refine=False, polishing=False)
                rows.append({"scene": root.name, "instant": instant.row_index, "pose": name, "ok": c.ok,
                             "coarse_ok": c.coarse_ok, "reason": c.reason, "joint_cm": round(100 * c.joint_error, 1),
                             "pin_z": round(c.pin_z, 1), "turn_vis": round(c.turn_visibility, 3),
                             "fine_moved_cm": round(100 * c.fine_moved, 2), "fine_pull": round(c.fine_pull, 2),
                             "cpu_s": round(time.process_time() - cpu, 2), "load": round(os.getloadavg()[0], 1)})
    finally:
        loader.close()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/bench_verify_planted")
    ap.add_argument("--set", choices=sorted(SETS), default="noisy")
    ap.add_argument("--exact", action="store_true", help="the noisy set's scenes on exact depth")
    ap.add_argument("--kinect", action="store_true", help="the floors set on Kinect-like depth too")
    ap.add_argument("--scenes", type=int, nargs="*", default=None, help="indices into the set (default: all)")
    ap.add_argument("--instants", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fixed-tolerance", action="store_true", help="the pinning test's fixed tolerance (main before)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    specs = SETS[args.set]
    specs = [specs[k] for k in args.scenes] if args.scenes is not None else specs
    noise = (args.set == "noisy" and not args.exact) or args.kinect
    total = {"truth": 0, "truth_ok": 0, "wrong": 0, "wrong_passed": 0}
    for spec in specs:
        rows = check_scene(render(Path(args.out), spec, noise, args.seed, args.instants), spec,
                           not args.fixed_tolerance)
        for r in rows:
            print(json.dumps(r), flush=True)
        right = [r for r in rows if r["pose"] == "truth"]
        wrong = [r for r in rows if r["pose"] != "truth"]
        summary = {"summary": rows[0]["scene"], "truth_ok": sum(r["ok"] for r in right), "truth": len(right),
                   "wrong_passed": sum(r["ok"] for r in wrong), "wrong": len(wrong),
                   "truth_pin_z_min": min(r["pin_z"] for r in right), "cpu_s": round(sum(r["cpu_s"] for r in rows), 1)}
        for k, v in (("truth", len(right)), ("truth_ok", summary["truth_ok"]), ("wrong", len(wrong)),
                     ("wrong_passed", summary["wrong_passed"])):
            total[k] += v
        print(json.dumps(summary), flush=True)
    print(json.dumps({"total": args.set, "noise": noise, "seed": args.seed, "noise_aware": not args.fixed_tolerance,
                      **total}), flush=True)


if __name__ == "__main__":
    main()
