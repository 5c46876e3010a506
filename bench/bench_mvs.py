"""Benchmark of multi-view plane-sweep depth, ``--depth mvs`` (docs/benchmarks.md, section "mvs depth").

Rendered views (synth.render: the wide scenes' textured room, 10 m, a dancer in the middle) from
cameras on a 2.8 m circle around the person, 1.5 m high, looking at her, 75 degrees horizontal
field of view; true poses given; depth of every view against the rendered depth:
coverage (fraction of pixels with a depth), median relative error, fraction off by > 10 %, and
CPU seconds (time.process_time, this process; 2 torch threads) per synchronized instant.

1. views: 2, 3, 4 cameras 25 degrees apart (320x240);
2. resolution: 160x120, 320x240, 640x480 (2 views);
3. baseline: 2 views 5, 10, 25, 45, 90 degrees apart (320x240);
4. texture: the ``plain`` room (little texture) against the textured one (2 views, 25 degrees);
5. fuse end to end: ``synrecon fuse --depth mvs`` on a rendered 3-camera scene (25 degrees apart,
   320x240, 3 instants) with the true poses as a calibration TOML, and with the poses from the
   people (24 instants pooled, 1 px keypoint noise): poses used, depth error, fused instants, time.

Usage: python bench/bench_mvs.py [--out bench/results/mvs.json] [--quick] [--only views,resolution,...]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from synnet_recon.recon.mvs import MVSConfig, MVSView, mvs_depths


def render(azimuths_deg, width=320, height=240, layout="room", radius=2.8):
    """Views of the wide scenes' room from cameras on a circle -> MVS views, true depths."""
    from synnet_recon.synth.wide import ring_views

    K, shots = ring_views(azimuths_deg, width, height, layout, radius)
    return ({n: MVSView(rgb, K, T) for n, (rgb, T, _) in shots.items()},
            {n: depth for n, (_, _, depth) in shots.items()})


def score(depths: dict, truth: dict) -> dict:
    covers, rels = [], []
    for n, d in depths.items():
        m = (d > 0) & (truth[n] > 0)
        covers.append(float(m.mean()))
        rels.append(np.abs(d[m] - truth[n][m]) / truth[n][m])
    rel = np.concatenate(rels) if rels else np.zeros(0)
    return {"coverage": float(np.mean(covers)), "median_rel_error": float(np.median(rel)) if len(rel) else None,
            "p90_rel_error": float(np.percentile(rel, 90)) if len(rel) else None,
            "off_by_10pct": float((rel > 0.1).mean()) if len(rel) else None}


def run(views, truth, config: MVSConfig | None = None) -> dict:
    config = config or MVSConfig(near=1.0, far=11.0)
    cpu, wall = time.process_time(), time.perf_counter()
    result = mvs_depths(views, config)
    row = {"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}
    row.update(score({n: r.depth for n, r in result.items()}, truth))
    row["raw"] = score({n: r.raw_depth for n, r in result.items()}, truth)
    return row


def _print(label, row):
    print(f"{label:>28}: cover {row['coverage']:.3f} median {row['median_rel_error'] or float('nan'):.4f} "
          f">10% {row['off_by_10pct'] or float('nan'):.3f} cpu {row.get('cpu_s', float('nan')):.1f} s "
          f"load {os.getloadavg()[0]:.1f}", flush=True)


def bench_views(quick: bool) -> dict:
    out = {}
    for n in (2, 3) if quick else (2, 3, 4):
        views, truth = render([20.0 + 25.0 * k for k in range(n)])
        out[str(n)] = row = run(views, truth)
        _print(f"{n} views", row)
    return out


def bench_resolution(quick: bool) -> dict:
    out = {}
    for w, h in ((160, 120), (320, 240)) if quick else ((160, 120), (320, 240), (640, 480)):
        views, truth = render([20.0, 45.0], w, h)
        out[f"{w}x{h}"] = row = run(views, truth)
        _print(f"{w}x{h}", row)
    return out


def bench_baseline(quick: bool) -> dict:
    out = {}
    for sep in (10, 25, 90) if quick else (5, 10, 25, 45, 90):
        views, truth = render([20.0, 20.0 + sep])
        out[str(sep)] = row = run(views, truth)
        _print(f"{sep} deg apart", row)
    return out


def bench_texture(quick: bool) -> dict:
    out = {}
    for layout in ("room", "plain"):
        views, truth = render([20.0, 45.0], layout=layout)
        out[layout] = row = run(views, truth)
        _print(f"{layout} room", row)
    return out


def _toml(path: Path, truth: dict) -> Path:
    import cv2

    lines = []
    for cam in truth["cameras"]:
        T, i = np.asarray(cam["world_to_camera"])[0], cam["intrinsics"]
        lines += [f"[{cam['name']}]", f"size = [{i['width']}, {i['height']}]",
                  f"matrix = [[{i['fx']}, 0.0, {i['cx']}], [0.0, {i['fy']}, {i['cy']}], [0.0, 0.0, 1.0]]",
                  "distortions = [0.0, 0.0, 0.0, 0.0]", f"rotation = {cv2.Rodrigues(T[:3, :3])[0].ravel().tolist()}",
                  f"translation = {T[:3, 3].tolist()}", ""]
    path.write_text("\n".join(lines))
    return path


def bench_fuse(quick: bool) -> dict:
    """fuse --depth mvs end to end (see the module doc)."""
    from synnet_recon.io.depth_png import read_depth_png
    from synnet_recon.recon.fuse import FuseConfig, fuse
    from synnet_recon.synth.wide import WideSceneConfig, render_wide_scene

    out = {}
    work = Path(tempfile.mkdtemp(prefix="bench_mvs_"))
    try:
        instants = 24
        sync = render_wide_scene(WideSceneConfig(separation_deg=25, cameras=3, instants=instants, step=2,
                                                 drift_deg_per_s=0.0, start_deg=20.0), work / "scene")
        truth = json.loads((work / "scene" / "truth.json").read_text())
        shutil.move(work / "scene" / "depth", work / "true_depth")   # fuse must not find it
        frames = "0:3" if not quick else "0:2"
        for label, calibration in (("calibration", str(_toml(work / "calib.toml", truth))), ("people", None)):
            config = FuseConfig(depth="mvs", calibration=calibration, frames=frames, progress=False)
            cpu, wall = time.process_time(), time.perf_counter()
            result = fuse(sync, config, work / f"recon_{label}")
            row = {"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall,
                   "instants": len(result.frames), "fused": result.num_ok, "fused_points": result.fused_points,
                   "timings": result.timings,
                   "views_fused": [{n: bool(v) for n, v in f.view_ok.items()} for f in result.frames]}
            reg = json.loads((work / f"recon_{label}" / "registration.json").read_text())
            row["methods"] = [f.get("method") for f in reg["frames"]]
            row["reasons"] = [f.get("reason") for f in reg["frames"]]
            # depth of the first instant, recomputed the way fuse does, against the truth
            from synnet_recon.recon.frames import FrameReader
            from synnet_recon.recon.fuse import read_inputs

            inputs = read_inputs(sync, config)
            row["poses"] = inputs.backend.cameras.source
            first = inputs.instants[0].frames
            images = {n: FrameReader(inputs.videos[n].path).get(i) for n, i in first.items()}
            depths = inputs.backend.depths(first, images)
            true = {n: read_depth_png(work / "true_depth" / n / f"{i:06d}.png") for n, i in first.items()}
            row.update(score(depths, true))
            out[label] = row
            _print(f"fuse, poses from {label}", row)
            print("   ", row["poses"], "fused", row["fused"], "of", row["instants"], row["reasons"], flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("bench/results/mvs.json"))
    ap.add_argument("--quick", action="store_true", help="fewer configurations")
    ap.add_argument("--only", default="views,resolution,baseline,texture,fuse")
    args = ap.parse_args()
    import torch

    report = {"machine": f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
                         f"load {os.getloadavg()[0]:.1f} at start", "config": MVSConfig().__dict__}
    benches = {"views": bench_views, "resolution": bench_resolution, "baseline": bench_baseline,
               "texture": bench_texture, "fuse": bench_fuse}
    for name in args.only.split(","):
        report[name] = benches[name](args.quick)
        report[f"load_after_{name}"] = os.getloadavg()[0]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, default=str))
    print("written", args.out)


if __name__ == "__main__":
    main()
