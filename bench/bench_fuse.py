"""Benchmark of `synrecon fuse` on rendered scenes (docs/benchmarks.md, section "Fuse").

Renders a textured room (the simulator's renderer, synnet_recon/synth/render.py) seen by two
cameras moving on smooth arcs, writes the simulate layout (videos/, depth/, truth.json) and a
sync.json built from the truth, then:

1. accuracy: rgbd depth, registered camera-to-reference transforms vs. the true ones
   (rotation error in degrees, translation error in cm and in cm per metre of scene size);
2. speed: synchronized two-view instants per second of wall time and of CPU time (all threads);
3. the stereo backend's depth error against the rendered depth.

Usage: python bench/bench_fuse.py [--frames 30] [--size 640x480] [--threads 2] [--out /tmp/bench_fuse]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from synnet_recon.sync.result import SyncResult
from synnet_recon.synth.scene import read_truth
from synnet_recon.synth.wide import look_at


def camera_paths(n: int, fps: float, separation_deg: float = 35.0, radius: float = 3.5,
                 seed: int = 0) -> dict[str, np.ndarray]:
    """Two cameras on arcs around the room centre, gently bobbing: name -> (n, 4, 4) world_to_camera."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fps
    out = {}
    for k, name in enumerate(["cam0", "cam1"]):
        phase = rng.uniform(0, 2 * np.pi)
        a = np.radians(200 + k * separation_deg) + 0.25 * t + 0.05 * np.sin(1.3 * t + phase)
        r = radius + 0.3 * np.sin(0.7 * t + phase)
        pos = np.stack([r * np.cos(a), 1.5 + 0.1 * np.sin(2.1 * t + phase), r * np.sin(a)], 1)
        target = np.stack([0.3 * np.sin(0.5 * t), np.full(n, 0.9), 0.3 * np.cos(0.4 * t)], 1)
        out[name] = np.stack([look_at(p, q) for p, q in zip(pos, target)])
    return out


def render_scene(out: Path, n: int, width: int, height: int, fps: float = 30.0, seed: int = 0) -> Path:
    """Render the two-camera scene into out/ (simulate layout) and write out/sync.json."""
    from synnet_recon.fileio import write_json
    from synnet_recon.synth.body import standing_pose
    from synnet_recon.synth.render import Environment, RenderConfig, Renderer, VideoWriter, write_depth_png

    config = RenderConfig(seed=seed)
    env = Environment((0.0, 0.0), 5.0, config.wall_height, 10, seed)
    f = 0.8 * width
    intr = {"width": width, "height": height, "fx": f, "fy": f, "cx": (width - 1) / 2, "cy": (height - 1) / 2}
    paths = camera_paths(n, fps, seed=seed)
    joints = standing_pose()  # a person in the middle of the room
    cams = []
    for name, w2c in paths.items():
        renderer = Renderer(intr, env, config)
        (out / "videos").mkdir(parents=True, exist_ok=True)
        (out / "depth" / name).mkdir(parents=True, exist_ok=True)
        with VideoWriter(out / "videos" / f"{name}.mp4", width, height, fps, config) as vw:
            for i in range(n):
                rgb, depth = renderer.render(joints, w2c[i])
                vw.write(rgb)
                write_depth_png(out / "depth" / name / f"{i:06d}.png", depth)
        cams.append({"name": name, "offset_seconds": 0.0, "motion_start": 0.0, "fps": fps, "num_frames": n,
                     "intrinsics": intr, "world_to_camera": w2c.round(10).tolist(),
                     "video": f"videos/{name}.mp4", "depth": f"depth/{name}"})
    write_json(out / "truth.json", {"schema": "synnet-recon/truth", "version": 1, "motion": None, "seed": seed,
                                    "fps": fps, "seconds": n / fps, "reference": "cam0", "cameras": cams})
    SyncResult.from_truth(read_truth(out / "truth.json"), out).save(out / "sync.json")
    return out / "sync.json"


def true_camera_to_reference(truth: dict, frames: dict[str, int], ref: str) -> dict[str, np.ndarray]:
    w2c = {c["name"]: np.asarray(c["world_to_camera"]) for c in truth["cameras"]}
    return {n: w2c[ref][frames[ref]] @ np.linalg.inv(w2c[n][i]) for n, i in frames.items()}


def accuracy(result, truth: dict, scene_size: float) -> dict:
    from synnet_recon.recon.register import rotation_error_deg, translation_error

    rot, trans = [], []
    for rec in result.frames:
        true = true_camera_to_reference(truth, rec.frames, truth["reference"])
        for n, T in rec.camera_to_reference.items():
            if n == truth["reference"]:
                continue
            rot.append(rotation_error_deg(T, true[n]) if rec.view_ok[n] else np.inf)
            trans.append(translation_error(T, true[n]) if rec.view_ok[n] else np.inf)
    rot, trans = np.array(rot), np.array(trans)
    good = (rot < 1.0) & (trans * 100 / scene_size < 1.0)
    # the chain into the first instant's reference frame (fused.ply): world_from_reference vs truth
    w2c = {c["name"]: np.asarray(c["world_to_camera"]) for c in truth["cameras"]}[truth["reference"]]
    chained = [r for r in result.frames if r.ok and r.world_from_reference is not None]
    chain_rot, chain_trans = [0.0], [0.0]
    if chained:
        first = chained[0].frames[truth["reference"]]
        for r in chained:
            true = w2c[first] @ np.linalg.inv(w2c[r.frames[truth["reference"]]])
            chain_rot.append(rotation_error_deg(r.world_from_reference, true))
            chain_trans.append(translation_error(r.world_from_reference, true))
    return {"views": len(rot), "ok": int(np.isfinite(rot).sum()), "within_spec": float(good.mean()),
            "rot_deg_median": float(np.median(rot)), "rot_deg_max": float(rot.max()),
            "trans_cm_median": float(np.median(trans) * 100), "trans_cm_max": float(trans.max() * 100),
            "chain_rot_deg_max": float(max(chain_rot)), "chain_trans_cm_max": float(max(chain_trans) * 100),
            "scene_size_m": scene_size}


def stereo_error(sync_path: Path, truth: dict, rows: list[int]) -> dict:
    """Depth of the stereo backend (scale from the true baseline) vs. the rendered depth of cam0."""
    from synnet_recon.recon.depth import DepthContext, DepthSource, FrameReader, StereoDepth, VideoSource
    from synnet_recon.recon.intrinsics import load_intrinsics

    sync = json.loads(sync_path.read_text())
    root = sync_path.parent
    videos = {v["name"]: VideoSource(v["name"], Path(v["path"])) for v in sync["videos"]}
    intr = load_intrinsics(root / "truth.json", list(videos))
    errs, rels, cover = [], [], []
    for r in rows:
        frames = sync["frames"][r]["frames"]
        T = true_camera_to_reference(truth, frames, "cam0")["cam1"]
        ctx = DepthContext(videos, intr, scale=float(np.linalg.norm(T[:3, 3])), reference="cam0")
        backend = StereoDepth(ctx)
        images = {n: FrameReader(videos[n].path).get(i) for n, i in frames.items()}
        est = backend.depths(frames, images)["cam0"]
        true = DepthSource(root / "depth" / "cam0").get(frames["cam0"])
        m = (est > 0) & (true > 0)
        cover.append(m.mean())
        if m.any():
            e = np.abs(est[m] - true[m])
            errs.append(np.median(e))
            rels.append(np.median(e / true[m]))
    return {"frames": len(rows), "median_abs_error_m": float(np.median(errs)) if errs else None,
            "median_rel_error": float(np.median(rels)) if rels else None, "coverage": float(np.mean(cover))}


TUTORIAL = {  # Open3D ICP tutorial figures (rgbd/SOURCES.md): step -> (fitness, inlier RMSE)
    "initial": (0.174723, 0.011771), "point_to_point_30": (0.372450, 0.007760),
    "point_to_point_2000": (0.621123, 0.006583), "point_to_plane": (0.620972, 0.006581)}


def tutorial_figures() -> dict:
    """Open3D's ICP tutorial on cloud_bin_0/1, from the benchmark arrays in the shared data."""
    from synnet_recon.o3d import o3d
    from synnet_recon.paths import shared_data_dir

    shared = shared_data_dir()
    if shared is None:
        return {"skipped": "no shared data"}
    sys_path = Path(__file__).resolve().parents[1] / "tests"
    import sys

    sys.path.insert(0, str(sys_path))
    from test_recon import TUTORIAL_INIT, TUTORIAL_P2L

    d = shared / "rgbd" / "open3d_test_data" / "ICP" / "testing_data"
    reg = o3d.pipelines.registration
    src = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.load(d / "source_points_cloud_bin.npy").astype(float)))
    src.transform(np.linalg.inv(TUTORIAL_P2L))
    tgt = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.load(d / "target_points_cloud_bin.npy").astype(float)))
    tgt.normals = o3d.utility.Vector3dVector(np.load(d / "target_normals_cloud_bin.npy").astype(float))
    p2p, p2l = reg.TransformationEstimationPointToPoint(), reg.TransformationEstimationPointToPlane()
    runs = {"initial": lambda: reg.evaluate_registration(src, tgt, 0.02, TUTORIAL_INIT),
            "point_to_point_30": lambda: reg.registration_icp(src, tgt, 0.02, TUTORIAL_INIT, p2p),
            "point_to_point_2000": lambda: reg.registration_icp(
                src, tgt, 0.02, TUTORIAL_INIT, p2p, reg.ICPConvergenceCriteria(max_iteration=2000)),
            "point_to_plane": lambda: reg.registration_icp(src, tgt, 0.02, TUTORIAL_INIT, p2l)}
    out = {}
    for step, run in runs.items():
        r = run()
        f, e = TUTORIAL[step]
        out[step] = {"fitness": round(r.fitness, 6), "tutorial_fitness": f,
                     "inlier_rmse": round(r.inlier_rmse, 6), "tutorial_rmse": e,
                     "rel_diff_fitness": round(r.fitness / f - 1, 4), "rel_diff_rmse": round(r.inlier_rmse / e - 1, 4)}
    return out


def scene_size(result) -> float:
    """Largest side of the fused cloud's bounding box (metres)."""
    from synnet_recon.o3d import o3d

    pcd = o3d.io.read_point_cloud(str(result.out_dir / "fused.ply"))
    return float((pcd.get_max_bound() - pcd.get_min_bound()).max())


def simulated_scene(out: Path, seconds: float, width: int, height: int) -> None:
    """`synrecon simulate --render` (CMU mocap person, cameras orbiting/following/standing, random
    offsets), a sync.json from its truth, fuse with rgbd depth, accuracy against the true poses."""
    import subprocess
    import sys

    from synnet_recon.recon.fuse import FuseConfig, fuse

    sim = out / f"simulate_{width}x{height}_{seconds:g}s"
    if not (sim / "truth.json").is_file():
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "synnet_recon.cli", "simulate", str(sim), "--cameras", "2",
                        "--seconds", str(seconds), "--width", str(width), "--height", str(height), "--render",
                        "--max-offset", "0.3", "--seed", "1"], check=True, capture_output=True)
        print(f"simulated and rendered {seconds} s x 2 cameras in {time.perf_counter() - t:.1f} s")
    SyncResult.from_truth(read_truth(sim / "truth.json"), sim).save(sim / "sync.json")
    truth = json.loads((sim / "truth.json").read_text())
    t, cpu = time.perf_counter(), time.process_time()
    result = fuse(sim / "sync.json", FuseConfig(progress=False), out / "fused_simulate")
    seconds_taken, cpu = time.perf_counter() - t, time.process_time() - cpu
    print(json.dumps({"scene": "simulate", "instants": len(result.frames), "ok": result.num_ok,
                      "instants_per_second": round(len(result.frames) / seconds_taken, 2),
                      "instants_per_cpu_second": round(len(result.frames) / cpu, 2),
                      "global_registrations": sum(any(r.global_registration.values()) for r in result.frames)}))
    print(json.dumps({"scene": "simulate", **accuracy(result, truth, scene_size(result))}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="/tmp/bench_fuse")
    ap.add_argument("--stereo-frames", type=int, default=3)
    ap.add_argument("--tutorial", action="store_true", help="also reproduce Open3D's ICP tutorial figures")
    ap.add_argument("--simulate", type=float, default=0.0, metavar="SECONDS",
                    help="also fuse a `synrecon simulate --render` scene of this length (2 cameras)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from synnet_recon.recon.fuse import FuseConfig, fuse
    from synnet_recon.recon.lift import lift

    lift(np.ones((8, 8), np.float32), np.eye(3))  # import torch/kornia before timing

    w, h = (int(x) for x in args.size.split("x"))
    root = Path(args.out) / f"scene_{w}x{h}_{args.frames}"
    if not (root / "sync.json").is_file():
        t = time.perf_counter()
        render_scene(root, args.frames, w, h)
        print(f"rendered {args.frames} frames x 2 cameras in {time.perf_counter() - t:.1f} s")
    truth = json.loads((root / "truth.json").read_text())
    speed = {}
    for label, config in [("default", FuseConfig(progress=False)),
                          ("clean_frames", FuseConfig(progress=False, clean_frames=True, frame_voxel=0.025))]:
        t, cpu = time.perf_counter(), time.process_time()
        result = fuse(root / "sync.json", config, Path(args.out) / f"fused_{label}")
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        speed[label] = result
        print(json.dumps({"config": label, "instants": len(result.frames), "ok": result.num_ok,
                          "seconds": round(seconds, 2), "instants_per_second": round(len(result.frames) / seconds, 2),
                          "cpu_seconds": round(cpu, 2), "instants_per_cpu_second": round(len(result.frames) / cpu, 2),
                          "load_average": round(os.getloadavg()[0], 2),
                          "global_registrations": sum(any(r.global_registration.values()) for r in result.frames),
                          "stage_seconds": {k: round(v, 2) for k, v in result.timings.items()}}))
        print(json.dumps({"config": label, **accuracy(result, truth, scene_size(result))}))
    if args.simulate > 0:
        simulated_scene(Path(args.out), args.simulate, w, h)
    rows = list(np.linspace(0, args.frames - 1, args.stereo_frames).round().astype(int))
    print(json.dumps({"stereo": stereo_error(root / "sync.json", truth, rows)}))
    if args.tutorial:
        print(json.dumps({"open3d_icp_tutorial": tutorial_figures()}))


if __name__ == "__main__":
    main()
