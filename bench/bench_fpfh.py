"""FPFH global registration, before and after (docs/benchmarks.md, "Fuse on wide baselines ...
(session 7, h2)"): Open3D's RANSAC (``registration_ransac_based_on_feature_matching``, what
``register.global_registration`` called before; run here for the comparison only) against ours
(``register.global_registration``: Open3D's FPFH, mutual matches, seeded numpy RANSAC).

On rendered scenes (``bench_fuse_wide.py``'s renders: sync.json + truth.json folders): every
instant's cam1 registration cloud onto cam0's, as fuse prepares them (8 cm voxels, background
only). Per method: the coarse pose's error and the error after fuse's point-to-plane ICP
(``register.refine``) against the truth, CPU seconds (``time.process_time`` of the call, one
thread at a time), and whether repeats in two threads at once give the same pose.

Usage: python bench/bench_fpfh.py SCENE_DIR [SCENE_DIR ...]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


def open3d_ransac(source, target, config) -> np.ndarray:
    """The FPFH RANSAC fuse used before session 7 (Open3D's, seeded through its global RNG)."""
    from synnet_recon.o3d import o3d

    reg = o3d.pipelines.registration
    d = config.ransac_distance * config.voxel
    o3d.utility.random.seed(config.seed)
    result = reg.registration_ransac_based_on_feature_matching(
        source.cloud, target.cloud, source.fpfh, target.fpfh, True, d,
        reg.TransformationEstimationPointToPoint(False), 3,
        [reg.CorrespondenceCheckerBasedOnEdgeLength(0.9), reg.CorrespondenceCheckerBasedOnDistance(d)],
        reg.RANSACConvergenceCriteria(config.ransac_iterations, 0.999))
    return np.asarray(result.transformation)


def views_of(root: Path):
    """(instant frames, cam1 prepared, cam0 prepared) per instant of a rendered scene."""
    from synnet_recon.recon.fuse import FuseConfig, ViewLoader, read_inputs

    config = FuseConfig(progress=False)
    inputs = read_inputs(root / "sync.json", config)
    loader = ViewLoader(inputs, config, {})
    try:
        for instant in inputs.instants:
            views = loader.read(instant)
            yield instant.frames, views.prepared["cam1"], views.prepared["cam0"]
    finally:
        loader.close()


def measure(root: Path) -> list[dict]:
    from synnet_recon.recon.register import (
        RegistrationConfig,
        global_registration,
        refine,
        rotation_error_deg,
        translation_error,
    )
    from synnet_recon.synth.wide import truth_camera_to_reference

    truth = json.loads((root / "truth.json").read_text())
    config = RegistrationConfig()
    rows = []
    for frames, source, target in views_of(root):
        true = truth_camera_to_reference(truth, frames, "cam0")["cam1"]
        assert source.fpfh is not None and target.fpfh is not None   # computed once, outside the timings
        row = {"scene": root.name, "frames": frames, "points": [len(source.cloud.points), len(target.cloud.points)]}
        for name, method in (("open3d", open3d_ransac), ("numpy", global_registration)):
            cpu = time.process_time()
            T = method(source, target, config)
            cpu = time.process_time() - cpu
            icp = np.asarray(refine(source, target, T, config).transformation)
            with ThreadPoolExecutor(2) as pool:   # two at once, as fuse's workers run
                repeats = list(pool.map(method, *([x] * 4 for x in (source, target, config))))
            row[name] = {"coarse_deg": round(rotation_error_deg(T, true), 3),
                         "coarse_cm": round(100 * translation_error(T, true), 2),
                         "icp_deg": round(rotation_error_deg(icp, true), 3),
                         "icp_cm": round(100 * translation_error(icp, true), 2),
                         "cpu_s": round(cpu, 3),
                         "repeats_identical": all(np.array_equal(T, R) for R in repeats),
                         "repeats_distinct": len({R.round(6).tobytes() for R in repeats + [T]})}
        row["load_average"] = round(os.getloadavg()[0], 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenes", nargs="+", type=Path)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    rows = [r for root in args.scenes for r in measure(root)]
    for name in ("open3d", "numpy"):
        right = sum(r[name]["icp_deg"] <= 1.0 and r[name]["icp_cm"] <= 10.0 for r in rows)
        print(json.dumps({"method": name, "instants": len(rows), "right_after_icp": right,
                          "cpu_s": round(sum(r[name]["cpu_s"] for r in rows), 2),
                          "repeats_identical": sum(r[name]["repeats_identical"] for r in rows)}))


if __name__ == "__main__":
    main()
