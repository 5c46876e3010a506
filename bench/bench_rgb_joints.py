"""Where the joint error of ``synrecon demo --rgb-only --layout arc`` comes from (docs/benchmarks.md,
"Moving cameras through triangulate --poses sfm", the joint-error decomposition).

Reads a finished demo folder (``synrecon demo --rgb-only --layout arc --out DIR``: truth.json, sync.json,
the keypoints the detector found, triangulate.json with the SfM poses) and triangulates the person
again with the stage's own triangulation (``recon.triangulate``), swapping one input at a time for the
truth:

- the 2D joints: the detector's (MediaPipe on the rendered video), the true joint centres projected,
  or those with detector-like noise (``synth.noise.DetectorNoise`` level 1, what the issue's 3 cm
  target is stated for; several seeds);
- the camera poses: SfM's (triangulate.json), or the true ones;
- with detector-like noise, SfM's error split in two: the cameras' poses relative to the reference
  camera at each instant (SfM's) on the reference camera's true path, and the reverse (the true
  relative poses on the reference camera's SfM path);
- the frames: those sync.json paired (the estimated sub-frame offsets rounded to frames), or the
  true pairing (the arc layout's true offsets are 0).

Every case is triangulated per instant, as the demo did before session 12; the cases "refined over
time" are what the demo's stage does since (``TriangulateStageConfig.refine_over_time``, on by default).

SfM's poses are compared in metres: their world is SfM's (the reference camera's first posed frame,
the person-height scale), put on the truth's by one global scale fitted to the camera centres. For
"SfM poses at the true frames" each camera's SfM error at the frame it was posed at (its pose times
the inverse of the true one) is carried to the true frame. Per joint: the mean error, and the mean
error *vector* in a body frame (left-right hip axis, up = mid-hip to neck, forward), whose length is
the part that is the same at every instant (a bias) rather than noise.

Usage: python bench/bench_rgb_joints.py DEMO_DIR [--out bench/results/rgb_joints.json] [--seeds 5]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np

from synnet_recon.recon.sfm import pose_errors
from synnet_recon.recon.temporal import refine_triangulations
from synnet_recon.recon.triangulate import TriangulateConf, triangulate_sequence
from synnet_recon.skeleton import COCO18_NAMES, JOINT_INDEX
from synnet_recon.synth.noise import DetectorNoise, apply_detector_noise


def load_demo(demo: Path) -> dict:
    """The demo's truth, its SfM poses and pairing, and the detector's keypoints, as arrays."""
    truth = json.loads((demo / "scene" / "truth.json").read_text(encoding="utf-8"))
    summary = json.loads((demo / "recon3d" / "triangulate.json").read_text(encoding="utf-8"))
    sync = json.loads((demo / "sync.json").read_text(encoding="utf-8"))
    if any(abs(c["offset_seconds"]) > 1e-9 for c in truth["cameras"]) or "joints" not in truth:
        raise SystemExit(f"{demo}: needs the arc layout (true offsets 0, truth.json joints per frame)")
    names = [c["name"] for c in truth["cameras"]]
    ref = summary["reference"]
    order = [ref] + [n for n in names if n != ref]
    cams = {c["name"]: c for c in truth["cameras"]}
    T = len(summary["cameras"][ref]["frames"])
    used = np.array([[f["frame"] for f in summary["cameras"][n]["frames"]] for n in order])  # (V, T)
    ok = np.array([[f["ok"] and summary["cameras"][n]["ok"] for f in summary["cameras"][n]["frames"]] for n in order])
    sfm = np.full((len(order), T, 4, 4), np.nan)
    for v, n in enumerate(order):
        for t, f in enumerate(summary["cameras"][n]["frames"]):
            if f["ok"]:
                sfm[v, t] = np.asarray(f["world_to_camera"])
    K = np.stack([_K(cams[n]["intrinsics"]) for n in order])
    w2c = np.stack([np.asarray(cams[n]["world_to_camera"], dtype=np.float64) for n in order])  # (V, F, 4, 4)
    det_xy, det_conf = [], []
    for n in order:
        entry = next(v for v in sync["videos"] if v["name"] == n)
        z = np.load(demo / entry["keypoints"], allow_pickle=True)
        F = w2c.shape[1]
        xy, c = np.full((F, 18, 2), np.nan), np.zeros((F, 18))
        frames = z["frames"].astype(int)
        keep = (frames >= 0) & (frames < F)
        xy[frames[keep]], c[frames[keep]] = z["xy"][0][keep], z["conf"][0][keep]
        xy[c <= 0] = np.nan
        det_xy.append(xy)
        det_conf.append(c)
    return {"order": order, "K": K, "w2c": w2c, "joints": np.asarray(truth["joints"], dtype=np.float64),
            "used": used, "ok": ok, "sfm": sfm, "det_xy": np.stack(det_xy), "det_conf": np.stack(det_conf),
            "fps": float(truth["fps"]), "size": [(cams[n]["intrinsics"]["width"], cams[n]["intrinsics"]["height"]) for n in order],
            "ref_frames": used[0]}


def _K(i: dict) -> np.ndarray:
    return np.array([[i["fx"], 0, i["cx"]], [0, i["fy"], i["cy"]], [0, 0, 1.0]])


def project(K, w2c, X):
    """(F, 18, 3) world joints seen by one camera's (F, 4, 4) poses -> (F, 18, 2) pixels, (F, 18) depth."""
    c = np.einsum("fij,fnj->fni", w2c[:, :3, :3], X) + w2c[:, None, :3, 3]
    p = c @ K.T
    return p[..., :2] / p[..., 2:], c[..., 2]


def metric_sfm(d: dict) -> tuple[np.ndarray, np.ndarray, float]:
    """SfM's poses in the truth's world (the reference camera's first frame) and metres, (V, T, 4, 4);
    the true poses at the same frames in that world; the scale applied."""
    V, T = d["used"].shape
    W = d["w2c"][0, d["used"][0, 0]]
    true_used = np.stack([d["w2c"][v, d["used"][v]] for v in range(V)]) @ np.linalg.inv(W)
    e = pose_errors(d["sfm"], true_used, d["ok"], (0, 0))
    est = d["sfm"] @ np.linalg.inv(d["sfm"][0, 0])
    est[..., :3, 3] *= e["scale"]
    return est, true_used, e["scale"]


def triangulate_case(K, poses, xy, conf, conf_tri: TriangulateConf, times=None) -> np.ndarray:
    """poses (V, T, 4, 4), xy (V, T, 18, 2), conf (V, T, 18) -> (T, 18, 3) (NaN unknown); with
    ``times`` (T,) seconds also refined over time (``recon.temporal``, as ``triangulate``'s default)."""
    P = np.einsum("vij,vtjk->tvik", K, poses[..., :3, :])
    c = np.where(np.isfinite(xy).all(axis=-1) & np.isfinite(poses).all(axis=(-1, -2))[..., None], conf, 0.0)
    x, c = np.nan_to_num(xy).transpose(1, 0, 2, 3), c.transpose(1, 0, 2)
    tri = triangulate_sequence(P, x, c, conf_tri)
    if times is not None:
        tri = refine_triangulations(tri, P, x, c, times)
    return np.stack([r.points for r in tri])


def body_frames(X: np.ndarray) -> np.ndarray:
    """(T, 18, 3) true joints -> (T, 3, 3) rows: right-to-left hip axis, up (mid-hip to neck), forward."""
    lh, rh, neck = X[:, JOINT_INDEX["l_hip"]], X[:, JOINT_INDEX["r_hip"]], X[:, JOINT_INDEX["neck"]]
    x = lh - rh
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    up = neck - 0.5 * (lh + rh)
    up -= (up * x).sum(axis=1, keepdims=True) * x
    up /= np.linalg.norm(up, axis=1, keepdims=True)
    return np.stack([x, up, np.cross(x, up)], axis=1)


def errors(got: np.ndarray, want: np.ndarray) -> dict:
    """Mean / median joint error (cm), share known, and per joint the mean error and the mean error
    vector in the body frame (cm)."""
    known = np.isfinite(got).all(axis=-1)
    diff = got - want
    dist = np.linalg.norm(diff, axis=-1)
    B = body_frames(want)
    local = np.einsum("tij,tnj->tni", B, diff)
    per = {}
    for j, name in enumerate(COCO18_NAMES):
        k = known[:, j]
        if k.any():
            bias = local[k, j].mean(axis=0)
            per[name] = {"mean_cm": round(100 * float(dist[k, j].mean()), 2),
                         "bias_cm": [round(100 * float(b), 2) for b in bias],
                         "bias_norm_cm": round(100 * float(np.linalg.norm(bias)), 2)}
    return {"mean_cm": round(100 * float(dist[known].mean()), 2), "median_cm": round(100 * float(np.median(dist[known])), 2),
            "known": round(float(known.mean()), 4), "joints": per}


def run(demo: Path, seeds: int) -> dict:
    d = load_demo(demo)
    conf_tri = TriangulateConf()
    V, T = d["used"].shape
    W = d["w2c"][0, d["used"][0, 0]]
    Xw = d["joints"]
    ref = d["ref_frames"]
    want = np.einsum("ij,tnj->tni", W[:3, :3], Xw[ref]) + W[:3, 3]  # the true joints in the poses' world
    sfm_used, true_used, scale = metric_sfm(d)
    true_at = np.stack([np.broadcast_to(d["w2c"][v, ref], (T, 4, 4)) for v in range(V)]) @ np.linalg.inv(W)
    err = sfm_used @ np.linalg.inv(true_used)   # each camera's SfM error at the frame it was posed at
    sfm_at = err @ true_at                        # carried to the true frames
    # SfM's error split in two: each camera's pose relative to the reference camera at the same
    # instant (what the views' joints can check) and the reference camera's own path in the world
    # (where the whole rig is at each instant: the scene's job, the moving people cannot tell)
    inv = np.linalg.inv
    relative_only = np.einsum("vtij,tjk->vtik", sfm_at, inv(sfm_at[0]) @ true_at[0])
    reference_only = np.einsum("vtij,tjk->vtik", true_at, inv(true_at[0]) @ sfm_at[0])
    clean = {}
    for key, frames in (("used", list(d["used"])), ("true", [ref] * V)):
        clean[key] = np.stack([project(d["K"][v], d["w2c"][v, frames[v]], Xw[frames[v]])[0] for v in range(V)])
    det = {"used": np.stack([d["det_xy"][v, d["used"][v]] for v in range(V)]),
           "true": np.stack([d["det_xy"][v, ref] for v in range(V)])}
    detc = {"used": np.stack([d["det_conf"][v, d["used"][v]] for v in range(V)]),
            "true": np.stack([d["det_conf"][v, ref] for v in range(V)])}
    ones = np.ones((V, T, 18))
    raw_sfm = d["sfm"] @ np.linalg.inv(d["sfm"][0, 0])
    cases = {
        "detector, SfM poses, frames as synchronized (the demo; SfM's own scale)": (raw_sfm, det["used"], detc["used"]),
        "detector, SfM poses (metric), frames as synchronized": (sfm_used, det["used"], detc["used"]),
        "detector, true poses, frames as synchronized": (true_used, det["used"], detc["used"]),
        "true 2D, true poses, frames as synchronized (the frame pairing alone)": (true_used, clean["used"], ones),
        "true 2D, SfM poses, frames as synchronized": (sfm_used, clean["used"], ones),
        "true 2D, SfM poses, true frames (the poses alone)": (sfm_at, clean["true"], ones),
        "detector, true poses, true frames (the detector alone)": (true_at, det["true"], detc["true"]),
        "detector, SfM poses, true frames": (sfm_at, det["true"], detc["true"]),
    }
    out = {"demo": str(demo), "views": d["order"], "instants": int(T), "sfm_scale_to_metres": scale,
           "pairing": {n: [int(u - r) for u, r in zip(d["used"][v], ref)] for v, n in enumerate(d["order"])}, "cases": {}}
    times = ref / float(d["fps"])
    for name, (poses, xy, c) in cases.items():
        out["cases"][name] = errors(triangulate_case(d["K"], poses, xy, c, conf_tri), want)
    for name in list(cases)[:1]:
        poses, xy, c = cases[name]
        out["cases"][name.replace(" (the demo;", ", refined over time (--over-time;")] = errors(
            triangulate_case(d["K"], poses, xy, c, conf_tri, times), want)
    for label, poses, over in (("true poses", true_at, None), ("SfM poses", sfm_at, None),
                               ("SfM poses, refined over time", sfm_at, times),
                               ("SfM poses relative to the reference camera, its path true", relative_only, None),
                               ("true poses relative to the reference camera, its path SfM's", reference_only, None)):
        runs = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            xy_all, c_all, model_px = [], [], []
            for v in range(V):
                F = d["w2c"].shape[1]
                xy, depth = project(d["K"][v], d["w2c"][v], Xw[:F])
                nx, nc = apply_detector_noise(xy[None], depth[None], d["size"][v], DetectorNoise(), rng)
                xy_all.append(nx[0][ref])
                model_px.append(np.linalg.norm(nx[0][ref] - xy[ref], axis=-1))
                c_all.append(nc[0][ref])
            got = triangulate_case(d["K"], poses, np.stack(xy_all).astype(np.float64), np.stack(c_all), conf_tri, over)
            runs.append(errors(got, want))
            runs[-1]["median_2d_px"] = float(np.nanmedian(np.stack(model_px)))
        out["cases"][f"detector-like noise (level 1), {label}, true frames ({seeds} seeds)"] = {
            "mean_cm": round(float(np.mean([r["mean_cm"] for r in runs])), 2),
            "mean_cm_per_seed": [r["mean_cm"] for r in runs],
            "median_cm": round(float(np.mean([r["median_cm"] for r in runs])), 2),
            "known": round(float(np.mean([r["known"] for r in runs])), 4),
            "median_2d_px": round(float(np.mean([r["median_2d_px"] for r in runs])), 2),
            "joints": {j: {"mean_cm": round(float(np.mean([r["joints"][j]["mean_cm"] for r in runs if j in r["joints"]])), 2)}
                       for j in COCO18_NAMES}}
    out["detector_2d_px"] = detector_2d(d, clean["true"], det["true"])
    return out


def detector_2d(d, clean, det) -> dict:
    """Per joint the detector's 2D error against the projected joint centres at the true frames:
    median distance and the length of the mean offset (px), over every camera and instant."""
    diff = det - clean
    out = {"all": {"median_px": round(float(np.nanmedian(np.linalg.norm(diff, axis=-1))), 2)}}
    for j, name in enumerate(COCO18_NAMES):
        k = np.isfinite(diff[:, :, j]).all(axis=-1)
        if k.any():
            out[name] = {"median_px": round(float(np.median(np.linalg.norm(diff[:, :, j][k], axis=-1))), 2),
                         "mean_offset_px": round(float(np.linalg.norm(diff[:, :, j][k].mean(axis=0))), 2)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("demo", type=Path)
    ap.add_argument("--out", type=Path, default=Path("bench/results/rgb_joints.json"))
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    t0, c0 = time.perf_counter(), time.process_time()
    out = run(args.demo, args.seeds)
    out["machine"] = {"load_average": os.getloadavg(), "wall_s": round(time.perf_counter() - t0, 1),
                      "cpu_s": round(time.process_time() - c0, 1),
                      "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1), encoding="utf-8")
    for name, c in out["cases"].items():
        print(f"{c['mean_cm']:6.2f} cm mean, {c['median_cm']:5.2f} median, {100 * c['known']:.0f} % known  {name}")
    print("2D median px: detector", out["detector_2d_px"]["all"]["median_px"], "model",
          [c.get("median_2d_px") for c in out["cases"].values() if "median_2d_px" in c])
    print("pairing (used frame - reference frame):", out["pairing"])
    print(json.dumps(out["machine"]))


if __name__ == "__main__":
    main()
