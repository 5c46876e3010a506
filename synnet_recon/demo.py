"""The built-in demo: the whole pipeline on simulated data, checked against the truth.

``run_demo(DemoConfig(), out_dir) -> DemoReport`` runs, in order:

1. **simulate**: moving cameras film ``DEMO_MOTION``, a CMU modern-dance clip shipped in the package
   (``synth.scene``), each starting at a random, sub-frame offset that the later stages are not told;
2. **render**: RGB videos and depth maps of every camera (``synth.render``, CPU ray casting);
3. **align**: ``sync.align`` with its default ``AlignConfig`` on the rendered *videos* (2D pose,
   then the pair stages; SynNet runs when that config turns it on: the demo prints what ran, from
   the pairs' ``method``) -> ``sync.json``; its offsets are compared with ``truth.json``;
4. **fuse**: ``recon.fuse`` with the rendered depth (``rgbd``) and the true intrinsics, on a few
   evenly spread synchronized instants -> ``recon/``; the estimated camera-to-reference transforms
   are compared with the true camera poses. fuse is given ``scene/keypoints/`` (``--keypoints``:
   the simulator's noisy 2D detections, as OpenPose would write them) and uses the person's
   lifted keypoints as extra registration hints;
5. **view**: a PNG screenshot of ``recon/fused.ply`` (``viewer.screenshot``, no display needed).

Layout of ``out_dir``::

    scene/            truth.json, videos/, depth/, keypoints/   (synrecon simulate --render)
    sync.json         estimated offsets                          (synrecon align)
    recon/            frames/*.ply, fused.ply, registration.json (synrecon fuse)
    fused.png         screenshot of recon/fused.ply              (synrecon view --screenshot)
    demo_report.json  everything ``DemoReport`` holds
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .errors import InputError
from .paths import DANCE_CLIP
from .schemas import DEMO_REPORT as REPORT_SCHEMA
from .schemas import DEMO_REPORT_VERSION as REPORT_VERSION

if TYPE_CHECKING:
    from .sync.result import SyncResult

# MediaPipe finds people reliably once they are about 80+ px tall (docs/benchmarks.md, rendering):
# the demo's cameras stand close enough for ~110 px at the narrowest lens and farthest distance.
MIN_PERSON_PX = 110.0
PERSON_HEIGHT_M = 1.35  # vertical extent of the demo dancer's COCO joints (nose to ankle): 1.27-1.44 m
DEMO_HFOV_DEG = (50.0, 70.0)
DEMO_MIN_DISTANCE = 3.0  # nearer, a 50 deg lens cuts the feet off
# CMU 05_02, "dance - expressive arms, pirouette" (synnet_recon/data/mocap/README.md): articulated,
# non-periodic motion that pins the offset down. The packaged walk (131_02) is periodic, and under
# MediaPipe's arm errors align matched it a step cycle off (docs/benchmarks.md, Demo).
DEMO_MOTION = DANCE_CLIP
# The dancer stands still for the clip's first 2 s (mean joint speed 0.1 m/s, then 0.3-1.3 m/s):
# the demo films only the clip from here on, so that every camera sees her move.
DEMO_MOTION_START = 2.0


@dataclass
class DemoScene:
    """The rendered scene a demo films (``demo`` and ``demo --rgb-only``). Times in seconds."""

    cameras: int = 3
    seconds: float = 4.0
    fps: float = 30.0
    width: int = 480
    height: int = 360
    seed: int = 0
    max_offset: float = 1.0        # true offsets of cam1.. are uniform in ±this (align is not told)

    def validate_scene(self) -> None:
        """One InputError for the first scene setting a demo cannot render or align."""
        if self.cameras < 2:
            raise InputError(None, f"--cameras must be at least 2, got {self.cameras}")
        if not self.fps > 0:
            raise InputError(None, f"--fps must be positive, got {self.fps:g}")
        if self.max_offset < 0:
            raise InputError(None, f"--max-offset must not be negative, got {self.max_offset:g}")
        if self.seed < 0:
            raise InputError(None, f"--seed must not be negative, got {self.seed}")
        # align needs one SynNet window (32 frames at 30 fps) of overlap between cameras
        if not self.seconds - 2 * self.max_offset >= 1.2:
            raise InputError(None, f"--seconds {self.seconds:g} leaves too little overlap for offsets up to "
                                   f"±{self.max_offset:g} s (need seconds - 2 x max offset >= 1.2 s)")
        if self.width < 160 or self.height < 120:
            raise InputError(None, f"--width/--height must be at least 160x120, got {self.width}x{self.height}")
        if self.width % 2 or self.height % 2:
            raise InputError(None, f"--width and --height must be even (H.264), got {self.width}x{self.height}")


@dataclass
class DemoConfig(DemoScene):
    """What the demo simulates (``DemoScene``) and how much of it it fuses."""

    motion: str | None = None      # None: DEMO_MOTION, the CMU dance clip shipped in the package
    fuse_instants: int = 6         # synchronized instants fused, evenly spread over the common overlap
    screenshot_size: tuple[int, int] = (960, 720)
    progress: bool = True          # tqdm bars of the stages

    @classmethod
    def quick(cls, **overrides) -> "DemoConfig":
        """A small setting for CI: 3 cameras x 2.5 s at 320x240, 3 fused instants."""
        base = dict(cameras=3, seconds=2.5, width=320, height=240, max_offset=0.6, fuse_instants=3)
        base.update(overrides)
        return cls(**base)

    def validate(self) -> None:
        self.validate_scene()
        if self.fuse_instants < 1:
            raise InputError(None, f"--instants must be at least 1, got {self.fuse_instants}")


@dataclass
class CameraResult:
    """One camera: true vs estimated offset on cam0's clock, and how well fuse placed it.

    rotation_deg / translation_cm: median error of the estimated camera-to-reference transforms
    over the fused instants where this view was registered (None for the reference or when never
    registered); registered: instants where it was, of ``fused`` instants.
    """

    name: str
    true_offset_s: float
    est_offset_s: float | None
    error_frames: float | None
    confidence: float
    registered: int = 0
    fused: int = 0
    rotation_deg: float | None = None
    translation_cm: float | None = None


@dataclass
class DemoReport:
    """What the demo measured; ``to_json`` is demo_report.json."""

    config: DemoConfig
    out_dir: Path
    cameras: list[CameraResult]
    stage_seconds: dict[str, float]
    paths: dict[str, str]
    reference: str
    fps: float
    fused_points: int = 0
    instants_ok: int = 0                       # fused with every view verified
    instants: int = 0
    instants_fused: int = 0                    # in fused.ply: every view, or the reference and the verified others
    chain_rotation_deg: float | None = None    # median error of world_from_reference (instant chaining)
    chain_translation_cm: float | None = None
    screenshot_renderer: str | None = None
    warnings: list[str] = field(default_factory=list)
    verdict: dict = field(default_factory=dict)        # ``registration_verdict``: the self-check
    skeleton_error_cm: float | None = None              # mean joint error of skeleton3d.json vs the truth

    @property
    def max_error_frames(self) -> float | None:
        """Largest |estimated - true| offset over the cameras, in frames (None if one is missing)."""
        errs = [c.error_frames for c in self.cameras]
        return None if any(e is None for e in errs) else float(max(abs(e) for e in errs))

    @property
    def total_seconds(self) -> float:
        return float(sum(self.stage_seconds.values()))

    def to_json(self) -> dict:
        return {
            "schema": REPORT_SCHEMA, "version": REPORT_VERSION,
            "config": asdict(self.config), "out_dir": str(self.out_dir),
            "reference": self.reference, "fps": self.fps,
            "cameras": [asdict(c) for c in self.cameras],
            "max_error_frames": self.max_error_frames,
            "fused_points": self.fused_points, "instants": self.instants, "instants_ok": self.instants_ok,
            "instants_fused": self.instants_fused,
            "chain_rotation_deg": self.chain_rotation_deg, "chain_translation_cm": self.chain_translation_cm,
            "screenshot_renderer": self.screenshot_renderer, "verdict": self.verdict,
            "skeleton_error_cm": self.skeleton_error_cm,
            "stage_seconds": self.stage_seconds, "total_seconds": self.total_seconds,
            "paths": self.paths, "warnings": self.warnings,
        }


def _fmt(value, spec: str, none: str = "-") -> str:
    return none if value is None else format(value, spec)


def format_report(report: DemoReport) -> str:
    """The demo's summary table as text (what ``synrecon demo`` prints)."""
    lines = [f"{'camera':<8}{'true offset':>13}{'estimated':>12}{'error':>11}{'conf':>6}"
             f"{'registered':>12}{'rot err':>9}{'trans err':>11}"]
    for c in report.cameras:
        reg = "reference" if c.name == report.reference else f"{c.registered}/{c.fused}"
        lines.append(
            f"{c.name:<8}{c.true_offset_s:>+11.3f} s{_fmt(c.est_offset_s, '+10.3f', '         -'):>10} s"
            f"{_fmt(c.error_frames, '+7.2f', '      -'):>7} fr{c.confidence:>6.2f}{reg:>12}"
            f"{_fmt(c.rotation_deg, '7.2f'):>7} °{_fmt(c.translation_cm, '8.1f'):>8} cm")
    lines.append(f"offset error: at most {_fmt(report.max_error_frames, '.2f', 'n/a')} frames "
                 f"at {report.fps:g} fps; fused {report.instants_fused}/{report.instants} instants "
                 f"({report.instants_ok} with every view, {report.instants_fused - report.instants_ok} with the "
                 f"verified views only), "
                 f"{report.fused_points:,} points")
    if report.chain_rotation_deg is not None:
        lines.append(f"reference camera motion between fused instants: median error "
                     f"{report.chain_rotation_deg:.2f} ° / {report.chain_translation_cm:.1f} cm")
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in report.stage_seconds.items())
    lines.append(f"time: {stages}; total {report.total_seconds:.1f} s")
    if report.verdict:
        lines.append(verdict_line(report.verdict, report.skeleton_error_cm))
    return "\n".join(lines)


def registration_verdict(records, truth: dict, reference: str, max_deg: float = 1.0,
                         max_cm: float = 2.0) -> dict:
    """The demo's self-check: every non-reference view at every fused instant against the truth.

    A view is right within ``max_deg`` and ``max_cm``; a wrong view that fuse did not flag
    (view_ok) is a failure, and so is a fused instant placed wrong in fused.ply (``_world_verdict``).
    Returns counts, the worst errors of the accepted views, the list of unflagged wrong ones
    (instant, camera, degrees, cm) and of wrongly placed instants (instant, degrees, cm)."""
    from .recon.register import rotation_error_deg, translation_error

    w2c = {c["name"]: np.asarray(c["world_to_camera"], dtype=np.float64) for c in truth["cameras"]}
    out = {"views": 0, "accepted": 0, "flagged": 0, "wrong_flagged": 0, "wrong_unflagged": [],
           "max_rotation_deg": None, "max_translation_cm": None, "max_deg": max_deg, "max_cm": max_cm,
           "reference": reference}
    for rec in records:
        ref_w2c = w2c[reference][rec.frames[reference]]
        for name, T in rec.camera_to_reference.items():
            if name == reference or T is None:
                continue
            true = ref_w2c @ np.linalg.inv(w2c[name][rec.frames[name]])
            deg, cm = rotation_error_deg(T, true), 100 * translation_error(T, true)
            wrong = deg > max_deg or cm > max_cm
            out["views"] += 1
            if rec.view_ok.get(name, False):
                out["accepted"] += 1
                out["max_rotation_deg"] = max(out["max_rotation_deg"] or 0.0, round(deg, 3))
                out["max_translation_cm"] = max(out["max_translation_cm"] or 0.0, round(cm, 2))
                if wrong:
                    out["wrong_unflagged"].append((rec.index, name, round(deg, 2), round(cm, 1)))
            else:
                out["flagged"] += 1
                out["wrong_flagged"] += wrong
    _world_verdict(records, w2c[reference], out)
    out["passed"] = not out["wrong_unflagged"] and not out["world_wrong"]
    return out


def _world_verdict(records, reference_w2c: np.ndarray, out: dict) -> None:
    """The fused instants' placement in fused.ply (``world_from_reference``) against the reference
    camera's true motion since the first fused instant: ``out["world_checked"]`` instants checked,
    ``out["world_wrong"]`` [(instant, degrees, cm)] beyond ``out``'s bounds (a wrong odometry step
    puts every later instant off, its views all right)."""
    out["world_checked"], out["world_wrong"] = 0, []
    for rec, deg, m in _chain_errors(records, reference_w2c, out["reference"]):
        out["world_checked"] += 1
        if deg > out["max_deg"] or 100 * m > out["max_cm"]:
            out["world_wrong"].append((rec.index, round(deg, 2), round(100 * m, 1)))


def _chain_errors(records, reference_w2c: np.ndarray, reference: str):
    """For every fused instant after the first: (its record, rotation error degrees, translation
    error m) of ``world_from_reference`` against the reference camera's true motion since the first
    fused instant (reference_w2c: (frames, 4, 4) its true world_to_camera)."""
    from .recon.register import rotation_error_deg, translation_error

    first = None
    for rec in records:
        if not rec.fused or rec.world_from_reference is None:
            continue
        true_w2c = reference_w2c[rec.frames[reference]]
        if first is None:
            first = (true_w2c, np.asarray(rec.world_from_reference))
            continue
        # true pose of this instant's reference camera in the first instant's reference frame
        true = first[0] @ np.linalg.inv(true_w2c)
        est = np.linalg.inv(first[1]) @ np.asarray(rec.world_from_reference)
        yield rec, rotation_error_deg(est, true), translation_error(est, true)


def verdict_line(verdict: dict, skeleton_cm: float | None = None) -> str:
    """PASS/FAIL, said plainly: registrations against the truth, and the skeleton's error."""
    bound = f"{verdict['max_deg']:g} ° and {verdict['max_cm']:g} cm"
    skel = "" if skeleton_cm is None else f"; skeleton3d.json mean joint error {skeleton_cm:.1f} cm"
    if verdict["passed"]:
        worst = "" if verdict["max_rotation_deg"] is None else \
            f" (worst {verdict['max_rotation_deg']:.2f} ° / {verdict['max_translation_cm']:.1f} cm)"
        return (f"PASS: {verdict['accepted']} of {verdict['views']} registered views within {bound} of the "
                f"truth{worst}, {verdict['flagged']} flagged ({verdict['wrong_flagged']} of them wrong){skel}")
    problems = []
    if verdict["wrong_unflagged"]:
        wrong = ", ".join(f"{n} at instant {i}: {d:.1f} ° / {c:.1f} cm" for i, n, d, c in verdict["wrong_unflagged"][:5])
        problems.append(f"{len(verdict['wrong_unflagged'])} registered views are wrong (beyond {bound}) and were not "
                        f"flagged: {wrong}")
    world = verdict.get("world_wrong") or []
    if world:
        placed = ", ".join(f"instant {i}: {d:.1f} ° / {c:.1f} cm" for i, d, c in world[:5])
        problems.append(f"{len(world)} fused instants are placed wrong in fused.ply (the reference camera's motion "
                        f"since the first fused instant is off beyond {bound}): {placed}")
    return "FAIL: " + "; ".join(problems) + skel


def skeleton_error_cm(skeleton, scene, truth: dict, reference: str) -> float | None:
    """Mean distance (cm) of skeleton3d.json's known joints to the true joint centres."""
    if skeleton is None or not len(skeleton):
        return None
    cam = scene.camera(reference)
    w2c = np.asarray(next(c for c in truth["cameras"] if c["name"] == reference)["world_to_camera"])
    errors = []
    for i, frames in enumerate(skeleton.frames):
        j = frames[reference]
        world = scene.motion.at(np.array([cam.motion_times[j]]))[0]
        true = world @ w2c[j][:3, :3].T + w2c[j][:3, 3]
        d = np.linalg.norm(skeleton.joints[i] - true, axis=1)
        errors.extend(d[np.isfinite(d)])
    return float(100 * np.mean(errors)) if errors else None


def demo_camera_path(config: DemoConfig):
    """Camera motion for the demo: the simulator's hand-held/wearable paths with lenses and distances
    chosen so the person stays at least ``MIN_PERSON_PX`` tall at ``config.width`` (see module top)."""
    from dataclasses import replace

    from .synth.camera import CameraPathConfig

    narrow = np.radians(DEMO_HFOV_DEG[1]) / 2
    fx_min = (max(config.width, config.height) / 2) / np.tan(narrow)
    far = PERSON_HEIGHT_M * fx_min / MIN_PERSON_PX / (1 + CameraPathConfig.distance_wobble)
    far = float(np.clip(far, DEMO_MIN_DISTANCE + 0.5, CameraPathConfig.max_distance))
    return replace(CameraPathConfig(), width=config.width, height=config.height, hfov_deg=DEMO_HFOV_DEG,
                   distance=(DEMO_MIN_DISTANCE, far), min_distance=DEMO_MIN_DISTANCE, max_distance=far,
                   close_up_prob=0.0)


def demo_motion():
    """``DEMO_MOTION`` from ``DEMO_MOTION_START`` on (clip clock kept, so truth.json's times are the file's)."""
    from .motion import load_motion

    motion = load_motion(DEMO_MOTION)
    return motion.resample(motion.fps, start=DEMO_MOTION_START)


def simulate_and_render(config: DemoScene, scene_dir: Path, timed, motion: str | None = None,
                        before_render: Callable[[], None] | None = None):
    """The demo's scene (moving hand-held cameras around ``motion``, default the dance from
    DEMO_MOTION_START) simulated, then its videos, depth and truth.json written under scene_dir;
    ``timed(name, fn, *args)`` runs and times each step. Returns the ``synth.scene`` scene."""
    from .synth.render import RenderConfig
    from .synth.scene import SceneConfig, simulate_scene, write_scene

    scene_config = SceneConfig(cameras=config.cameras, seconds=config.seconds, fps=config.fps,
                               max_offset=config.max_offset, motion=motion or str(DEMO_MOTION),
                               seed=config.seed, width=config.width, height=config.height,
                               camera_path=demo_camera_path(config))
    scene = timed("simulate", simulate_scene, scene_config, demo_motion() if motion is None else None)
    if before_render is not None:
        before_render()
    timed("render", write_scene, scene, scene_dir, render=True, render_config=RenderConfig(seed=config.seed))
    return scene


def offset_results(truth: dict, sync) -> list[CameraResult]:
    """Per camera of truth.json its true and estimated offset (cam0's clock), the error in frames and
    the confidence (sync: the ``SyncResult``)."""
    fps = float(truth["fps"])
    out = []
    for cam in truth["cameras"]:
        est = sync.video(cam["name"])
        err = None if est.offset_seconds is None else (est.offset_seconds - cam["offset_seconds"]) * fps
        out.append(CameraResult(cam["name"], float(cam["offset_seconds"]), est.offset_seconds, err,
                                float(est.confidence)))
    return out


def common_rows(sync: "SyncResult") -> list[int]:
    """The rows of sync.json's frames table that every synchronized video covers."""
    names = [v.name for v in sync.videos if v.offset_seconds is not None]
    return [i for i, r in enumerate(sync.frames_table()) if all(n in r["frames"] for n in names)]


def fuse_frames_spec(sync: "SyncResult", instants: int) -> str | None:
    """"START:END:STEP" over sync.json rows picking about ``instants`` rows that every video covers
    (None when no row has them all)."""
    full = common_rows(sync)
    if not full:
        return None
    start, end = full[0], full[-1] + 1
    step = max(1, (end - start) // instants)
    return f"{start}:{start + step * (instants - 1) + 1}:{step}" if end - start >= instants else f"{start}:{end}"


def registration_errors(records, truth: dict, reference: str) -> tuple[dict[str, list[tuple[float, float]]],
                                                                      list[tuple[float, float]]]:
    """Errors of fuse's transforms against the true camera poses.

    records: ``FuseResult.frames``; truth: truth.json dict. Returns ({camera: [(rotation deg,
    translation m), ...] over the instants where it was registered}, [(deg, m), ...] of the
    reference camera's chained pose ``world_from_reference`` against the true motion).
    """
    from .recon.register import rotation_error_deg, translation_error

    w2c = {c["name"]: np.asarray(c["world_to_camera"], dtype=np.float64) for c in truth["cameras"]}
    per_camera: dict[str, list[tuple[float, float]]] = {}
    for rec in records:
        ref_w2c = w2c[reference][rec.frames[reference]]
        for name, T in rec.camera_to_reference.items():
            if name == reference or not rec.view_ok.get(name, False):
                continue
            true = ref_w2c @ np.linalg.inv(w2c[name][rec.frames[name]])
            per_camera.setdefault(name, []).append((rotation_error_deg(T, true), translation_error(T, true)))
    chain = [(deg, m) for _, deg, m in _chain_errors(records, w2c[reference], reference)]
    return per_camera, chain


def _median(values) -> float | None:
    return float(np.median(values)) if len(values) else None


def run_demo(config: DemoConfig, out_dir: str | Path, echo: Callable[[str], None] | None = None) -> DemoReport:
    """Simulate, render, align, fuse and screenshot under ``out_dir``; compare with the truth.

    ``echo`` receives one line per stage as it starts (None: silent). Returns the report, also
    written to ``out_dir/demo_report.json``.
    """
    from .fileio import write_json

    config.validate()
    say = echo or (lambda _line: None)
    out_dir = Path(out_dir)
    scene_dir, sync_path, recon_dir = out_dir / "scene", out_dir / "sync.json", out_dir / "recon"
    png_path, report_path = out_dir / "fused.png", out_dir / "demo_report.json"
    stage: dict[str, float] = {}

    def timed(name: str, fn, *args, **kwargs):
        t = time.perf_counter()
        value = fn(*args, **kwargs)
        stage[name] = round(time.perf_counter() - t, 3)
        return value

    n_frames = int(round(config.seconds * config.fps))
    say(f"[1/5] simulate: {config.cameras} moving cameras, {config.seconds:g} s at {config.fps:g} fps, "
        f"{config.width}x{config.height}, seed {config.seed}")
    scene = simulate_and_render(config, scene_dir, timed, config.motion,
                                lambda: say(f"[2/5] render: {config.cameras} x {n_frames} frames (videos + depth) -> "
                                            f"{scene_dir}"))
    from .synth.scene import read_truth

    truth = read_truth(scene_dir / "truth.json")
    videos = [scene_dir / c["video"] for c in truth["cameras"]]

    say("[3/5] align: 2D pose on the rendered videos, then pair matching; offsets unknown")
    from .sync.align import AlignConfig, align

    result = timed("align", align, [str(v) for v in videos], AlignConfig(progress=config.progress))
    result.save(sync_path)
    say(f"      align ran: {result.cues()}")
    fps = float(truth["fps"])
    cameras = offset_results(truth, result)
    warnings = list(result.warnings)

    say(f"[4/5] fuse: rgbd depth + true intrinsics, {config.fuse_instants} instants -> {recon_dir}")
    from .recon.fuse import FuseConfig, fuse

    frames = fuse_frames_spec(result, config.fuse_instants)
    if frames is None:
        raise InputError(sync_path, "the estimated offsets leave no instant that every camera covers")
    fuse_config = FuseConfig(depth="rgbd", intrinsics=str(scene_dir / "truth.json"), frames=frames,
                             depth_dirs={c["name"]: str(scene_dir / c["depth"]) for c in truth["cameras"]},
                             keypoint_dirs={c["name"]: str(scene_dir / c["keypoints"]) for c in truth["cameras"]},
                             progress=config.progress, seed=config.seed)
    fused = timed("fuse", fuse, sync_path, fuse_config, recon_dir)
    per_camera, chain = registration_errors(fused.frames, truth, result.reference)
    for c in cameras:
        c.fused = len(fused.frames)
        errs = per_camera.get(c.name, [])
        c.registered = len(fused.frames) if c.name == result.reference else len(errs)
        if errs:
            c.rotation_deg = _median([e[0] for e in errs])
            c.translation_cm = 100 * _median([e[1] for e in errs])

    say(f"[5/5] view: screenshot of the fused cloud -> {png_path}")
    from .viewer import load_view, screenshot

    renderer = None
    if fused.fused_points > 0:
        renderer = timed("view", screenshot, load_view(recon_dir), png_path, None, *config.screenshot_size)
    else:
        warnings.append("no instant was fused: no fused.ply points, no screenshot")

    report = DemoReport(
        config=config, out_dir=out_dir, cameras=cameras, stage_seconds=stage,
        paths={"truth": str(scene_dir / "truth.json"), "videos": str(scene_dir / "videos"),
               "sync": str(sync_path), "recon": str(recon_dir), "ply": str(recon_dir / "fused.ply"),
               "screenshot": str(png_path) if renderer else None, "report": str(report_path)},
        reference=result.reference, fps=fps, fused_points=int(fused.fused_points),
        instants_ok=int(fused.num_ok), instants=len(fused.frames), instants_fused=int(fused.num_fused),
        chain_rotation_deg=_median([e[0] for e in chain]),
        chain_translation_cm=None if not chain else 100 * _median([e[1] for e in chain]),
        screenshot_renderer=renderer, warnings=warnings,
        verdict=registration_verdict(fused.frames, truth, result.reference),
        skeleton_error_cm=skeleton_error_cm(fused.skeleton, scene, truth, result.reference))
    write_json(report_path, report.to_json())
    return report
