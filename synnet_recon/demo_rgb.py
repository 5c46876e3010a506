"""``synrecon demo --rgb-only``: the whole chain from rendered RGB videos alone, against the truth.

No depth sensor, no camera poses: what a user with a few phone videos has. ``run_rgb_demo`` runs:

1. **simulate + render** the rgbd demo's scene (``demo``: moving hand-held cameras around the CMU
   dance, unknown sub-frame offsets); the rendered depth maps are written but used only as the
   truth to compare with;
2. **align** the videos (2D pose, then the pair stages) -> ``sync.json``;
3. **triangulate --poses sfm**: structure from motion (people masked) poses every camera at
   ``instants`` synchronized instants spread over the common overlap, each camera's path checked
   over time, the person triangulated with each instant's poses and the instants refined together
   (``TriangulateStageConfig.refine_over_time``, the stage's default, as ``synrecon triangulate``)
   -> ``recon3d/`` (skeleton3d.json, triangulate.json, skeleton.trc). Intrinsics: the true ones
   (as the rgbd demo), or estimated by SfM with ``estimate_intrinsics``. Scale: the dancer's body height (what a user types as
   ``--person-height``);
4. **fuse --depth mvs** on ``depth_instants`` of those instants, with the SfM poses -> ``recon/``;
5. **compare** with truth.json: offsets; every camera's rotation and translation at every posed
   instant (translations after one global scale, as a fraction of the scene size); the joints'
   mean error; the mvs depth's median relative error against the rendered depth.

PASS / FAIL (``rgb_verdict``, right or flagged): every posed camera frame within 1 deg and 2 % of
the scene (a frame beyond either that was not flagged is a FAIL), at least two posed. The issue's
targets (95 % of all synchronized frames within those bounds, joints < 3 cm, depth < 3 %) are
printed as met or missed beside it.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .demo import DemoScene
from .errors import InputError

ROTATION_TARGET_DEG = 1.0
TRANSLATION_TARGET = 0.02   # of the scene size
JOINT_TARGET_CM = 3.0
DEPTH_TARGET = 0.03


@dataclass
class RgbDemoConfig(DemoScene):
    """The scene (``demo.DemoScene``) and how much of it the RGB-only chain poses and fuses."""

    instants: int = 16          # synchronized instants posed by SfM and triangulated
    depth_instants: int = 2     # of those, fused with --depth mvs
    estimate_intrinsics: bool = False  # True: SfM estimates the lenses (none given)
    layout: str = "hand-held"   # "hand-held": the rgbd demo's cameras at random places (unknown offsets);
    #                             "arc": cameras spread_deg apart on an arc, drifting (synth.wide; true offsets 0)
    spread_deg: float = 30.0    # layout "arc": between neighbouring cameras
    sfm_threads: int = 1        # COLMAP threads (1: the same poses on every run; 2 vary run to run)
    progress: bool = True

    @classmethod
    def quick(cls, **overrides) -> "RgbDemoConfig":
        """A small setting for CI: 3 cameras x 2.5 s at 480x360, 8 instants, 1 fused with mvs. Not 320x240:
        there SfM on 8 instants of the arc was 1.1 deg / 3.7 % of the scene off (exact 2D joints then
        triangulate 8 cm off); at 480x360 0.34 deg / 1.1 % (docs/benchmarks.md)."""
        base = dict(cameras=3, seconds=2.5, width=480, height=360, max_offset=0.6, instants=8, depth_instants=1)
        base.update(overrides)
        return cls(**base)

    def validate(self) -> None:
        self.validate_scene()
        if self.instants < 3:
            raise InputError(None, f"--instants must be at least 3 for --rgb-only, got {self.instants}")
        if not 1 <= self.depth_instants <= self.instants:
            raise InputError(None, f"--depth-instants must be in [1, --instants], got {self.depth_instants}")
        if self.layout not in ("hand-held", "arc"):
            raise InputError(None, f"--layout must be hand-held or arc, got {self.layout!r}")
        if not 5.0 <= self.spread_deg <= 120.0:
            raise InputError(None, f"--spread must be in [5, 120] degrees, got {self.spread_deg:g}")


@dataclass
class RgbDemoReport:
    config: RgbDemoConfig
    out_dir: Path
    reference: str
    fps: float
    offsets: list[dict]                 # per camera: true / estimated offset (s), error (frames), confidence
    poses: dict                         # per camera frames posed / flagged, rotation and translation errors
    joints: dict                        # mean error (cm) metric and after one scale, joints known
    depth: dict                         # median relative error, pixels with depth, per view
    verdict: dict
    stage_seconds: dict[str, float]
    paths: dict[str, str]
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        from .schemas import DEMO_REPORT, DEMO_REPORT_VERSION

        return {"schema": DEMO_REPORT, "version": DEMO_REPORT_VERSION, "mode": "rgb-only",
                "config": asdict(self.config), "out_dir": str(self.out_dir), "reference": self.reference,
                "fps": self.fps, "offsets": self.offsets, "poses": self.poses, "joints": self.joints,
                "depth": self.depth, "verdict": self.verdict, "stage_seconds": self.stage_seconds,
                "total_seconds": float(sum(self.stage_seconds.values())), "paths": self.paths,
                "warnings": self.warnings}


# ------------------------------------------------------------------------------ against the truth


def true_body_height(joints: np.ndarray) -> float:
    """The height a person with these (T, 18, 3) joints would give: the median ankle-knee-hip-neck
    chain over ``people_calib.CHAIN_PER_HEIGHT`` (the relation the scale fit uses)."""
    from .recon.depth import body_chain_length
    from .recon.people_calib import CHAIN_PER_HEIGHT

    chains = np.array([body_chain_length(j) for j in joints])
    return float(np.nanmedian(chains) / CHAIN_PER_HEIGHT)


def pose_comparison(summary: dict, truth: dict, joints_world: np.ndarray) -> tuple[dict, tuple | None]:
    """triangulate.json's per-frame poses against truth.json's: per camera frames posed, rotation
    and translation errors (after one global scale, fraction of the scene size). Returns the
    table and (camera, frame) of the world (the reference's first posed frame), or None."""
    from .recon.sfm import pose_errors

    names = [c["name"] for c in truth["cameras"]]
    true_w2c = {c["name"]: np.asarray(c["world_to_camera"]) for c in truth["cameras"]}
    rows = {n: summary["cameras"].get(n, {}).get("frames") or [] for n in names}
    T = max((len(r) for r in rows.values()), default=0)
    est, tru = np.full((len(names), T, 4, 4), np.nan), np.full((len(names), T, 4, 4), np.nan)
    ok = np.zeros((len(names), T), dtype=bool)
    for v, n in enumerate(names):
        used = summary["cameras"].get(n, {}).get("ok", True)  # a flagged camera's frames are not used
        for t, f in enumerate(rows[n]):
            if f["frame"] >= 0:
                tru[v, t] = true_w2c[n][f["frame"]]
            if f["ok"] and used:
                est[v, t], ok[v, t] = np.asarray(f["world_to_camera"]), True
    ref = names.index(summary["reference"]) if summary.get("reference") in names else 0
    out = {"frames": int(ok.size), "posed": int(ok.sum()), "cameras": {}}
    # the errors are relative to one posed frame: the reference's first, else the next camera's
    # (the reference's poses can all be dropped while two others are posed)
    anchor = next((v for v in [ref] + [v for v in range(len(names)) if v != ref] if ok[v].any()), None)
    if anchor is None or ok.sum() < 2:
        return out, None
    t0 = int(np.argmax(ok[anchor]))
    e = pose_errors(est, tru, ok, (anchor, t0), joints_world.reshape(-1, 3))
    rot, frac = e["rotation_deg"], e["translation"] / e["scene_size"]
    which = np.argwhere(ok)  # the order pose_errors uses
    for v, n in enumerate(names):
        mine = which[:, 0] == v
        out["cameras"][n] = {"posed": int(mine.sum()), "of": len(rows[n]),
                             "rotation_max_deg": round(float(rot[mine].max()), 3) if mine.any() else None,
                             "translation_max_frac": round(float(frac[mine].max()), 4) if mine.any() else None,
                             "flagged": [f["frame"] for f, k in zip(rows[n], ok[v]) if not k and f["frame"] >= 0],
                             "camera_flagged": summary["cameras"].get(n, {}).get("reason") or None}
    out.update(rotation_under_target=float((rot < ROTATION_TARGET_DEG).mean()),
               translation_under_target=float((frac < TRANSLATION_TARGET).mean()),
               rotation_median_deg=float(np.median(rot)), rotation_max_deg=float(rot.max()),
               translation_median_frac=float(np.median(frac)), translation_max_frac=float(frac.max()),
               scene_size_m=e["scene_size"], scale_vs_truth=e["scale"],
               wrong=[(names[v], int(rows[names[v]][t]["frame"]), round(float(r), 2), round(float(f), 4))
                      for (v, t), r, f in zip(which, rot, frac) if r > ROTATION_TARGET_DEG or f > TRANSLATION_TARGET])
    return out, (names[anchor], int(rows[names[anchor]][t0]["frame"]), est[anchor, t0])


def joint_comparison(skeleton, joints_world: np.ndarray, truth: dict, world: tuple | None) -> dict:
    """skeleton3d.json's joints against the true joint centres (joints_world: (F, 18, 3) at each of
    the reference camera's frames), in the world of the poses: ``world`` = (camera, frame, its
    estimated world_to_camera there) from ``pose_comparison`` (identity at the world's own frame);
    mean error metric and after one global scale."""
    if skeleton is None or world is None or not len(skeleton):
        return {"known": 0.0, "mean_cm": None, "mean_cm_scaled": None}
    name, frame = world[:2]
    W = np.asarray(next(c for c in truth["cameras"] if c["name"] == name)["world_to_camera"])[frame]
    W = np.linalg.inv(np.asarray(world[2], dtype=np.float64)) @ W if len(world) > 2 else W  # into the poses' world
    got = np.asarray(skeleton.joints, dtype=np.float64)
    want = np.stack([joints_world[f[skeleton.reference]] @ W[:3, :3].T + W[:3, 3] for f in skeleton.frames])
    known = np.isfinite(got).all(axis=-1) & np.isfinite(want).all(axis=-1)
    if not known.any():
        return {"known": 0.0, "mean_cm": None, "mean_cm_scaled": None}
    g, w = got[known], want[known]
    s = float((g * w).sum() / (g * g).sum())
    return {"known": round(float(known.mean()), 4), "mean_cm": round(100 * float(np.linalg.norm(g - w, axis=1).mean()), 2),
            "mean_cm_scaled": round(100 * float(np.linalg.norm(s * g - w, axis=1).mean()), 2),
            "scale_vs_truth": round(s, 4)}


def depth_comparison(collected: list, depth_dirs: dict[str, str]) -> dict:
    """The mvs depth maps fuse computed against the rendered depth: per view the share of pixels
    given a depth and the median |d - d_true| / d_true over them; the same after one scale per
    instant (the scale of the poses is the person's, not the truth's)."""
    from .recon.depth import DepthSource

    sources = {n: DepthSource(p) for n, p in depth_dirs.items()}
    errs, scaled, views = [], [], {}
    for frames, depths in collected:
        ratios, pairs = [], []
        for n, d in depths.items():
            true = sources[n].get(int(frames[n]))
            both = (d > 0) & (true > 0)
            views[f"{n}@{frames[n]}"] = {"known": round(float((d > 0).mean()), 4),
                                         "median_error": round(float(np.median(np.abs(d[both] / true[both] - 1))), 4)
                                         if both.any() else None}
            if both.any():
                pairs.append((d[both], true[both]))
                ratios.append(true[both] / d[both])
        if not pairs:
            continue
        s = float(np.median(np.concatenate(ratios)))
        for d, true in pairs:
            errs.append(np.abs(d / true - 1))
            scaled.append(np.abs(s * d / true - 1))
    if not errs:
        return {"median_error": None, "median_error_scaled": None, "views": views}
    return {"median_error": round(float(np.median(np.concatenate(errs))), 4),
            "median_error_scaled": round(float(np.median(np.concatenate(scaled))), 4), "views": views}


def rgb_verdict(poses: dict) -> dict:
    """Right or flagged: PASS when every posed frame is within the targets (1 deg, 2 % of the scene)
    and at least two are posed. The issue's targets count every synchronized frame (an unposed frame
    is not within them): ``targets_met``."""
    posed, frames = poses.get("posed", 0), poses.get("frames", 0)
    wrong = poses.get("wrong", [])
    rot = poses.get("rotation_under_target", 0.0) * posed / max(frames, 1)
    trans = poses.get("translation_under_target", 0.0) * posed / max(frames, 1)
    compared = "rotation_under_target" in poses  # fewer than two posed frames: nothing to compare
    return {"passed": bool(posed >= 2 and compared and not wrong), "posed": posed, "frames": frames, "wrong_unflagged": wrong,
            "rotation_within_target_of_all": round(rot, 4), "translation_within_target_of_all": round(trans, 4),
            "targets_met": bool(rot >= 0.95 and trans >= 0.95)}


def verdict_text(report: RgbDemoReport) -> str:
    v, p, j, d = report.verdict, report.poses, report.joints, report.depth
    bound = f"{ROTATION_TARGET_DEG:g} deg and {100 * TRANSLATION_TARGET:g} % of the scene"
    if v["posed"] < 2:
        head = f"FAIL: {v['posed']} of {v['frames']} camera frames posed"
    elif v["passed"]:
        head = (f"PASS: {v['posed']} of {v['frames']} camera frames posed, every one within {bound} (worst "
                f"{p['rotation_max_deg']:.2f} deg, {100 * p['translation_max_frac']:.1f} %); the other "
                f"{v['frames'] - v['posed']} flagged or not posed")
    else:
        head = (f"FAIL: {len(v['wrong_unflagged'])} of {v['posed']} posed camera frames are beyond {bound} and were "
                f"not flagged: " + ", ".join(f"{n} frame {f}: {r:.2f} deg / {100 * t:.1f} %"
                                             for n, f, r, t in v["wrong_unflagged"][:4]))
    targets = (f"targets (95 % of the {v['frames']} synchronized frames within {bound}): "
               f"{100 * v['rotation_within_target_of_all']:.0f} % / {100 * v['translation_within_target_of_all']:.0f} %"
               f": {'met' if v['targets_met'] else 'missed'}")
    joints = ("joints: none triangulated" if j.get("mean_cm") is None else
              f"joints: mean error {j['mean_cm']:.1f} cm ({j['mean_cm_scaled']:.1f} cm after one scale; "
              f"{100 * j['known']:.0f} % known; target < {JOINT_TARGET_CM:g} cm: "
              f"{'met' if j['mean_cm'] < JOINT_TARGET_CM else 'missed'})")
    depth = ("depth (mvs): none computed (no view pair with confirmed poses)" if d.get("median_error") is None else
             f"depth (mvs): median error {100 * d['median_error']:.1f} % ({100 * d['median_error_scaled']:.1f} % "
             f"after one scale; target < {100 * DEPTH_TARGET:g} %: "
             f"{'met' if d['median_error'] < DEPTH_TARGET else 'missed'})")
    return "\n".join([head, targets, joints, depth])


def format_rgb_report(report: RgbDemoReport) -> str:
    lines = [f"{'camera':<8}{'true offset':>13}{'estimated':>12}{'error':>10}{'conf':>6}{'posed':>9}"
             f"{'rot max':>9}{'trans max':>11}"]
    for o in report.offsets:
        c = report.poses.get("cameras", {}).get(o["name"], {})
        est = "-" if o["est_offset_s"] is None else f"{o['est_offset_s']:+.3f}"
        err = "-" if o["error_frames"] is None else f"{o['error_frames']:+.2f}"
        rot = "-" if c.get("rotation_max_deg") is None else f"{c['rotation_max_deg']:.2f}"
        tr = "-" if c.get("translation_max_frac") is None else f"{100 * c['translation_max_frac']:.1f} %"
        lines.append(f"{o['name']:<8}{o['true_offset_s']:>+11.3f} s{est:>10} s{err:>7} fr{o['confidence']:>6.2f}"
                     f"{c.get('posed', 0):>5}/{c.get('of', 0):<3}{rot:>7} °{tr:>11}")
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in report.stage_seconds.items())
    lines.append(f"time: {stages}; total {sum(report.stage_seconds.values()):.1f} s")
    lines.append(verdict_text(report))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ run


def _rows(sync, count: int) -> list[int]:
    """About ``count`` evenly spaced rows of sync.json's frames table over those every video covers."""
    from .demo import common_rows

    full = common_rows(sync)
    if len(full) < 3:
        raise InputError(sync.source, "the estimated offsets leave fewer than 3 instants that every camera covers")
    step = max(1, (full[-1] - full[0]) // max(count - 1, 1))
    covered = set(full)
    return [r for r in range(full[0], full[-1] + 1, step) if r in covered][:count]


def _spec(rows: list[int]) -> str:
    """START:END:STEP of evenly spaced rows."""
    step = rows[1] - rows[0] if len(rows) > 1 else 1
    if any(b - a != step for a, b in zip(rows, rows[1:])):
        raise InputError(None, f"rows {rows} are not evenly spaced (a gap in the frames table)")
    return f"{rows[0]}:{rows[-1] + 1}:{step}"


def run_rgb_demo(config: RgbDemoConfig, out_dir: str | Path, echo: Callable[[str], None] | None = None) -> RgbDemoReport:
    """Simulate, render, align, triangulate (SfM poses) and fuse (mvs) under ``out_dir``; compare
    with the truth. Writes ``out_dir/demo_report.json``."""
    from .fileio import write_json

    config.validate()
    say = echo or (lambda _line: None)
    out_dir = Path(out_dir)
    scene_dir, sync_path = out_dir / "scene", out_dir / "sync.json"
    stage: dict[str, float] = {}

    def timed(name, fn, *args, **kwargs):
        t = time.perf_counter()
        value = fn(*args, **kwargs)
        stage[name] = round(time.perf_counter() - t, 3)
        return value

    truth, joints = _render(config, scene_dir, timed, say)

    say("[2/5] align: 2D pose on the rendered videos, then pair matching; offsets unknown")
    from .sync.align import AlignConfig, align

    result = timed("align", align, [str(scene_dir / c["video"]) for c in truth["cameras"]],
                   AlignConfig(progress=config.progress))
    result.save(sync_path)  # sets result.source: the stages below read sync.json's keypoint files
    offsets = _offsets(truth, result)
    report = _reconstruct(config, out_dir, joints, truth, result, timed, say)
    report.offsets, report.stage_seconds = offsets, stage
    report.warnings = list(result.warnings) + report.warnings
    write_json(out_dir / "demo_report.json", report.to_json())
    return report


def _render(config: RgbDemoConfig, scene_dir: Path, timed, say) -> tuple[dict, np.ndarray]:
    """The scene's videos (and the depth, only to compare with) -> truth.json's dict and the true
    joints (F, 18, 3, world) at each of the reference camera's frames."""
    from .synth.scene import read_truth

    if config.layout == "arc":
        from .synth.wide import WideSceneConfig, render_wide_scene

        frames = int(round(config.seconds * config.fps))
        say(f"[1/5] render: {config.cameras} cameras {config.spread_deg:g} degrees apart on an arc, drifting 15 deg/s, "
            f"{config.seconds:g} s, {config.width}x{config.height} (offsets 0, not told to align; the depth only to "
            "compare with)")
        timed("render", render_wide_scene, WideSceneConfig(
            cameras=config.cameras, separation_deg=config.spread_deg, instants=frames, step=1, fps=config.fps,
            width=config.width, height=config.height, drift_deg_per_s=15.0, seed=config.seed), scene_dir)
        truth = read_truth(scene_dir / "truth.json")
        return truth, np.asarray(truth["joints"], dtype=np.float64)
    from .demo import simulate_and_render

    say(f"[1/5] simulate + render: {config.cameras} moving cameras, {config.seconds:g} s, {config.width}x"
        f"{config.height}, seed {config.seed} (the depth is rendered only to compare with)")
    scene = simulate_and_render(config, scene_dir, timed)
    truth = read_truth(scene_dir / "truth.json")
    cam = scene.camera(truth["reference"])
    return truth, np.stack([scene.motion.at(np.array([t]))[0] for t in cam.motion_times])


def _offsets(truth: dict, sync) -> list[dict]:
    from .demo import offset_results

    return [{"name": c.name, "true_offset_s": c.true_offset_s, "est_offset_s": c.est_offset_s,
             "error_frames": c.error_frames, "confidence": c.confidence} for c in offset_results(truth, sync)]


def _write_intrinsics(posed, path: Path) -> str:
    """The lenses SfM estimated, as the intrinsics JSON fuse reads (``recon.intrinsics``)."""
    from .fileio import write_json

    write_json(path, {n: v.intrinsics.to_dict() for n, v in posed.videos.items() if v.intrinsics is not None})
    return str(path)


def _reconstruct(config: RgbDemoConfig, out_dir: Path, joints_world, truth: dict, sync, timed, say) -> RgbDemoReport:
    """Stages 3-5: SfM poses + triangulate, fuse --depth mvs, and the comparison with the truth."""
    import json

    from .recon.fuse import FuseConfig, fuse
    from .recon.mvs import FramePoses
    from .recon.sfm import SfmConf, scene_poses_from_sync
    from .recon.skeleton3d import read_skeleton3d
    from .recon.stage_triangulate import TriangulateStageConfig
    from .recon.stage_triangulate import main as triangulate

    scene_dir = out_dir / "scene"
    intrinsics = None if config.estimate_intrinsics else str(scene_dir / "truth.json")
    height = true_body_height(joints_world)
    rows = _rows(sync, config.instants)
    say(f"[3/5] triangulate --poses sfm: {len(rows)} instants x {len(sync.videos)} videos posed by structure from "
        f"motion ({'lenses estimated' if intrinsics is None else 'true intrinsics'}; person height {height:.2f} m)")
    from .recon.intrinsics import load_intrinsics

    given = None if intrinsics is None else load_intrinsics(intrinsics, [v.name for v in sync.videos])
    posed = timed("sfm", scene_poses_from_sync, sync, given, rows,
                  SfmConf(person_height=height, threads=config.sfm_threads, seed=config.seed))
    tconf = TriangulateStageConfig(poses="sfm", intrinsics=intrinsics, person_height=height, frames=_spec(rows),
                                   trc=True, progress=config.progress, scene_poses=posed)
    timed("triangulate", triangulate, tconf, sync.source, out_dir / "recon3d")
    summary = json.loads((out_dir / "recon3d" / "triangulate.json").read_text(encoding="utf-8"))
    skeleton = read_skeleton3d(out_dir / "recon3d" / "skeleton3d.json") if summary["triangulated"] else None

    k = max(1, len(rows) // (config.depth_instants + 1))
    depth_rows = rows[k::k][:config.depth_instants] or rows[:1]
    say(f"[4/5] fuse --depth mvs: {len(depth_rows)} instant(s) (rows {depth_rows}) with the SfM poses -> {out_dir / 'recon'}")
    collected: list = []
    fconf = FuseConfig(depth="mvs", intrinsics=intrinsics or _write_intrinsics(posed, out_dir / "intrinsics_sfm.json"),
                       frames=_spec(depth_rows), camera_poses=FramePoses.from_summary(summary),
                       person_height=height, progress=config.progress, seed=config.seed,
                       depth_sink=lambda frames, depths: collected.append((dict(frames), dict(depths))))
    fused = timed("fuse", fuse, sync.source, fconf, out_dir / "recon")

    say("[5/5] compare with truth.json: camera poses, joints, depth")
    poses, world = pose_comparison(summary, truth, joints_world)
    report = RgbDemoReport(
        config=config, out_dir=out_dir, reference=summary.get("reference", sync.reference), fps=float(truth["fps"]),
        offsets=[], poses=poses, joints=joint_comparison(skeleton, joints_world, truth, world),
        depth=depth_comparison(collected, {c["name"]: str(scene_dir / c["depth"]) for c in truth["cameras"]}),
        verdict=rgb_verdict(poses), stage_seconds={},
        paths={"truth": str(scene_dir / "truth.json"), "sync": str(sync.source), "recon3d": str(out_dir / "recon3d"),
               "recon": str(out_dir / "recon"), "ply": str(out_dir / "recon" / "fused.ply") if fused.fused_points else None,
               "report": str(out_dir / "demo_report.json")},
        warnings=list(summary.get("warnings", [])))
    report.joints["fused_points"] = int(fused.fused_points)
    return report
