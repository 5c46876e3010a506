"""Multi-view plane-sweep stereo: depth of every view of one synchronized instant from the others.

Given per view an image, its intrinsics K and its world_to_camera pose (the same world frame for
all views, metres), ``mvs_depths`` returns per view a depth map, a confidence map and the raw
(unchecked) depth:

1. **Pairs**: for each reference view the other views are ranked by how well they are placed
   (``rank_views``): a view must see the reference's scene point (the point at the median scene
   depth on the reference's optical axis); its triangulation angle there scores best between
   ``good_angle_deg`` limits and falls off outside them; views under ``min_angle_deg`` or over
   ``max_angle_deg`` are not used (no depth rather than wrong depth); at most ``max_views``.
2. **Sweep** (``sweep``): ``planes`` fronto-parallel planes of the reference camera, uniform in
   inverse depth over the scene's depth range; each other view is warped into the reference by
   each plane's homography ``K_o (R + t n^T / d) K_r^-1`` (kornia ``warp_perspective``, planes in
   batches), and scored by zero-mean normalised cross-correlation (ZNCC) over ``window`` x
   ``window`` pixels (kornia box filters). The views' scores are aggregated per pixel as the mean
   of the best half of them (a view where the point is occluded does not veto it).
3. **Winner-take-all** per pixel, then **sub-plane refinement**: a parabola through the scores of
   the best plane and its two neighbours places the minimum between planes (in inverse depth).
4. **Confidence**: the best aggregated ZNCC times the margin by which it beats every plane more
   than ``gap`` planes away (repetitive texture matches several depths: such pixels have no
   margin); pixels below ``min_score`` or ``min_margin`` are unknown (depth 0).
5. **Cross-view consistency** (``consistency``): every pixel's 3D point is moved into the other
   views; where it lands on a known depth, it agrees when within ``consistency`` (relative) of it,
   and counts against when it lies well in front of that view's surface (in free space that the
   other view sees through). A pixel is kept when agreements minus contradictions reach
   ``min_consistent``; the confidence is scaled by the agreeing fraction of the views used.

Runs on the GPU when torch.cuda is available (``device="auto"``), else on the CPU (the tested path).
Nothing is learnt or downloaded.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["CameraPoses", "FramePoses", "MVSConfig", "MVSDepth", "MVSResult", "MVSView", "StaticPoses", "consistency", "depth_range",
           "mvs_depths", "poses_from_calibration", "poses_from_people", "rank_views", "sweep"]


@dataclass
class MVSConfig:
    step_px: float = 1.0             # planes (uniform in 1/depth) spaced so that the image centre's
    #                                  point moves by at most this many pixels in the other views
    min_planes: int = 32
    max_planes: int = 256
    window: int = 7                  # ZNCC window (pixels, odd)
    min_score: float = 0.6           # aggregated ZNCC of the best plane, below: unknown
    min_margin: float = 0.04         # best minus the best plane more than `gap` planes away
    gap: int = 2
    max_views: int = 4               # other views per reference (best placed first)
    good_angle_deg: tuple[float, float] = (4.0, 40.0)   # triangulation angles scored best
    min_angle_deg: float = 1.0       # views below this angle (or that do not see the point) are not used
    max_angle_deg: float = 40.0      # nor above it: fronto-parallel ZNCC windows match wrongly there (bench_mvs:
    #                                  90 degrees apart gave 55 % median error, 45 degrees 26 % of pixels > 10 % off)
    min_texture: float = 3.0         # grey-level std in the window (0-255) below which a pixel is unknown
    consistency: float = 0.02        # relative depth agreement across views
    min_consistent: int = 1          # other views that must agree (0: no cross-view check)
    near: float | None = None        # depth range (m); None: from `depth_range`
    far: float | None = None
    batch: int = 16                  # planes warped at once
    device: str = "auto"             # "auto" (cuda when available), "cpu", "cuda"


@dataclass
class MVSView:
    """One view: image (H, W, 3) uint8 RGB (or (H, W) grey), K (3, 3), world_to_camera (4, 4)."""

    image: np.ndarray
    K: np.ndarray
    world_to_camera: np.ndarray


@dataclass
class MVSResult:
    """depth (H, W) float32 metres, 0 = unknown (after the cross-view check); confidence (H, W) in
    [0, 1] (0 where unknown); raw_depth before the cross-view check; views: the other views used
    (best placed first); near/far: the depth range swept."""

    depth: np.ndarray
    confidence: np.ndarray
    raw_depth: np.ndarray
    views: list = field(default_factory=list)
    near: float = 0.0
    far: float = 0.0


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _grey(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 3:
        a = a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return a.astype(np.float32)


def _centre(T: np.ndarray) -> np.ndarray:
    return -T[:3, :3].T @ T[:3, 3]


def rank_views(ref: MVSView, others: list[MVSView], scene_depth: float, config: MVSConfig) -> list[int]:
    """Indices of ``others`` usable with ``ref``, best placed first (see the module doc)."""
    h, w = np.asarray(ref.image).shape[:2]
    Kinv = np.linalg.inv(ref.K)
    ray = Kinv @ np.array([(w - 1) / 2, (h - 1) / 2, 1.0])
    X_ref = ray / ray[2] * scene_depth
    Tinv = np.linalg.inv(ref.world_to_camera)
    X = Tinv[:3, :3] @ X_ref + Tinv[:3, 3]
    c_ref = _centre(ref.world_to_camera)
    lo, hi = config.good_angle_deg
    scored = []
    for i, o in enumerate(others):
        xo = o.world_to_camera[:3, :3] @ X + o.world_to_camera[:3, 3]
        ho, wo = np.asarray(o.image).shape[:2]
        if xo[2] <= 0:
            continue
        u, v = (o.K @ xo)[:2] / xo[2]
        if not (-0.25 * wo <= u <= 1.25 * wo and -0.25 * ho <= v <= 1.25 * ho):
            continue
        a, b = c_ref - X, _centre(o.world_to_camera) - X
        angle = math.degrees(math.acos(np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12), -1, 1)))
        if angle < config.min_angle_deg or angle > config.max_angle_deg:
            continue
        score = min(1.0, angle / lo) if angle < hi else hi / angle
        scored.append((-score, i))
    return [i for _, i in sorted(scored)][: config.max_views]


def depth_range(points_world: np.ndarray, ref: MVSView, margin: float = 0.25) -> tuple[float, float] | None:
    """(near, far) in the reference camera from 3D points (N, 3) seen by it (2nd and 98th
    percentiles widened by ``margin``), or None when fewer than 5 are in front of it."""
    T = ref.world_to_camera
    z = (points_world @ T[:3, :3].T + T[:3, 3])[:, 2]
    z = z[np.isfinite(z) & (z > 1e-3)]
    if len(z) < 5:
        return None
    near, far = np.percentile(z, [2, 98])
    return float(near / (1 + margin)), float(far * (1 + margin))


def _box(x, window: int):
    """Mean over window x window pixels (the border: over the part inside the image)."""
    import torch.nn.functional as F

    return F.avg_pool2d(x, window, stride=1, padding=window // 2, count_include_pad=False)


def _plane_homographies(ref: MVSView, other: MVSView, depths: np.ndarray) -> np.ndarray:
    """(P, 3, 3) homographies reference pixel -> other pixel of the fronto-parallel planes z = d."""
    rel = other.world_to_camera @ np.linalg.inv(ref.world_to_camera)   # reference camera -> other camera
    R, t = rel[:3, :3], rel[:3, 3:4]
    n = np.array([[0.0, 0.0, 1.0]])
    Kinv = np.linalg.inv(ref.K)
    return np.stack([other.K @ (R + t @ n / d) @ Kinv for d in depths])


def _zncc_volume(ref: MVSView, other: MVSView, depths: np.ndarray, config: MVSConfig, device):
    """(P, H, W) float32 torch ZNCC of ``other`` warped onto ``ref`` by each plane (-1: the window
    leaves the other image, or too little texture in either window)."""
    import torch
    from kornia.geometry.transform import warp_perspective

    g1 = torch.from_numpy(_grey(ref.image)).to(device)[None, None]
    g2 = torch.from_numpy(_grey(other.image)).to(device)[None, None]
    h, w = g1.shape[-2:]
    h2, w2 = g2.shape[-2:]
    win, r = config.window, config.window // 2
    m1 = _box(g1, win)
    s1 = (_box(g1 * g1, win) - m1 * m1).clamp_min(0).sqrt()
    Hs = _plane_homographies(ref, other, depths)
    H = torch.from_numpy(np.linalg.inv(Hs)).float().to(device)
    Hf = torch.from_numpy(Hs).float().to(device)
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32),
                            torch.arange(w, device=device, dtype=torch.float32), indexing="ij")
    grid = torch.stack([xs, ys, torch.ones_like(xs)]).reshape(3, -1)
    out = torch.empty((len(depths), h, w), dtype=torch.float32, device=device)
    for k in range(0, len(depths), config.batch):
        M = H[k:k + config.batch]
        b = len(M)
        warped = warp_perspective(g2.expand(b, -1, -1, -1), M, (h, w), mode="bilinear", padding_mode="zeros",
                                  align_corners=True)
        stats = _box(torch.cat([warped, warped * warped, g1 * warped], 1), win)
        m2, s2 = stats[:, :1], (stats[:, 1:2] - stats[:, :1] ** 2).clamp_min(0).sqrt()
        zncc = (stats[:, 2:3] - m1 * m2) / (s1 * s2).clamp_min(1e-3)
        q = Hf[k:k + b] @ grid                                   # where each pixel lands in the other view
        z = q[:, 2]
        u, v = q[:, 0] / z, q[:, 1] / z
        inside = (z > 0) & (u >= r) & (u <= w2 - 1 - r) & (v >= r) & (v <= h2 - 1 - r)
        bad = ~inside.reshape(b, 1, h, w) | (s1 < config.min_texture) | (s2 < config.min_texture)
        out[k:k + b] = zncc.masked_fill(bad, -1.0)[:, 0]
    return out


def plane_count(ref: MVSView, others: list[MVSView], near: float, far: float, config: MVSConfig) -> int:
    """Planes so that a point on the reference's central ray moves by at most ``step_px`` pixels
    in any other view from one plane to the next (between min_planes and max_planes)."""
    h, w = np.asarray(ref.image).shape[:2]
    ray = np.linalg.inv(ref.K) @ np.array([(w - 1) / 2, (h - 1) / 2, 1.0])
    longest = 0.0
    for o in others:
        rel = o.world_to_camera @ np.linalg.inv(ref.world_to_camera)
        x = np.stack([ray * near, ray * far]) @ rel[:3, :3].T + rel[:3, 3]
        x = x[x[:, 2] > 1e-6]
        if len(x) == 2:
            uv = (x @ o.K.T)[:, :2] / x[:, 2:3]
            longest = max(longest, float(np.linalg.norm(uv[1] - uv[0])))
        else:   # the segment crosses the other camera's plane: as many as allowed
            longest = float("inf")
    n = math.ceil(longest / config.step_px) + 1 if math.isfinite(longest) else config.max_planes
    return int(np.clip(n, config.min_planes, config.max_planes))


def sweep(ref: MVSView, others: list[MVSView], near: float, far: float,
          config: MVSConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Plane sweep of ``ref`` against ``others`` -> depth (H, W) float32 (0 = unknown) and
    confidence (H, W) float32 in [0, 1], before any cross-view check (module doc, steps 2-4)."""
    import torch

    config = config or MVSConfig()
    device = _device(config.device)
    h, w = np.asarray(ref.image).shape[:2]
    if not others or not 0 < near < far:
        return np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
    inv = np.linspace(1.0 / near, 1.0 / far, plane_count(ref, others, near, far, config))
    depths = 1.0 / inv
    with torch.no_grad():
        vols = torch.stack([_zncc_volume(ref, o, depths, config, device) for o in others])   # (V, P, H, W)
        if len(others) > 1:  # mean of the best half of the views that see the pixel
            k = max(1, math.ceil(len(others) / 2))
            top = vols.topk(k, dim=0).values
            score = torch.where(top > -1, top, torch.nan).nanmean(0).nan_to_num(-1.0)
        else:
            score = vols[0]
        del vols
        best_val, best = score.max(0)
        P = len(inv)
        idx = torch.arange(P, device=score.device)[:, None, None]
        far_away = (idx - best[None]).abs() > config.gap
        runner_up = torch.where(far_away, score, torch.full_like(score, -1.0)).max(0).values
        lo = score.gather(0, (best - 1).clamp_min(0)[None])[0]
        hi = score.gather(0, (best + 1).clamp_max(P - 1)[None])[0]
        denom = lo - 2 * best_val + hi
        offset = torch.where(denom < -1e-6, 0.5 * (lo - hi) / denom, torch.zeros_like(denom)).clamp(-0.5, 0.5)
        interior = (best > 0) & (best < P - 1)
        step = float(inv[1] - inv[0]) if P > 1 else 0.0
        inv_best = torch.from_numpy(inv).float().to(score.device)[best] + offset * step
        margin = best_val - runner_up
        valid = interior & (best_val > config.min_score) & (margin > config.min_margin)
        depth = torch.where(valid, 1.0 / inv_best, torch.zeros_like(inv_best))
        conf = torch.where(valid, best_val.clamp(0, 1) * (margin / (4 * config.min_margin)).clamp(0, 1),
                           torch.zeros_like(best_val))
    return depth.float().cpu().numpy(), conf.float().cpu().numpy()


def _project(depth: np.ndarray, K: np.ndarray, T: np.ndarray, K2: np.ndarray):
    """Pixels with depth of one view moved into another (T: this camera -> that camera) ->
    (rows, cols) of the valid pixels, their (u, v) in that view and their z there."""
    v, u = np.nonzero(depth > 0)
    z = depth[v, u].astype(np.float64)
    x = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], 1)
    x2 = x @ T[:3, :3].T + T[:3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = (x2 @ K2.T)[:, :2] / x2[:, 2:3]
    return v, u, uv, x2[:, 2]


def consistency(depths: dict, views: dict, config: MVSConfig | None = None) -> dict:
    """name -> (H, W) int count of other views whose depth agrees with this view's at each pixel
    (within ``consistency`` relative), minus one for every view in whose free space it lies
    (nearer to that view than its measured surface by more than the tolerance)."""
    config = config or MVSConfig()
    out = {}
    for a, da in depths.items():
        count = np.zeros(da.shape, np.int32)
        for b, db in depths.items():
            if b == a:
                continue
            T = views[b].world_to_camera @ np.linalg.inv(views[a].world_to_camera)
            v, u, uv, z = _project(da, views[a].K, T, views[b].K)
            hb, wb = db.shape
            with np.errstate(invalid="ignore"):
                ub, vb = np.round(uv[:, 0]), np.round(uv[:, 1])
                ok = (z > 0) & (ub >= 0) & (ub < wb) & (vb >= 0) & (vb < hb)
            d = np.zeros(len(z))
            d[ok] = db[vb[ok].astype(int), ub[ok].astype(int)]
            known = ok & (d > 0)
            rel = np.where(known, (z - d) / np.where(known, d, 1), 0)
            agree = known & (np.abs(rel) <= config.consistency)
            free = known & (rel < -3 * config.consistency)   # in front of b's surface: b would see it
            count[v, u] += agree.astype(np.int32) - free.astype(np.int32)
        out[a] = count
    return out


def mvs_depths(views: dict, config: MVSConfig | None = None, points_world: np.ndarray | None = None,
               ranges: dict | None = None) -> dict:
    """Depth of every view of one instant from the others (module doc).

    views: name -> MVSView (same world frame, metres); points_world: (N, 3) scene points that set
    each view's depth range (e.g. triangulated features or joints), or ranges: name -> (near, far);
    else config.near / config.far. Returns name -> MVSResult.
    """
    config = config or MVSConfig()
    names = list(views)
    raw, conf, used, span = {}, {}, {}, {}
    for n in names:
        rng = (ranges or {}).get(n)
        if rng is None and points_world is not None and len(points_world):
            rng = depth_range(np.asarray(points_world, np.float64), views[n])
        if config.near is not None and config.far is not None:
            rng = (config.near, config.far)
        h, w = np.asarray(views[n].image).shape[:2]
        span[n] = rng or (0.0, 0.0)
        others = [m for m in names if m != n]
        order = [] if rng is None else rank_views(views[n], [views[m] for m in others],
                                                  math.sqrt(rng[0] * rng[1]), config)
        used[n] = [others[i] for i in order]
        if not used[n]:
            raw[n], conf[n] = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
            continue
        raw[n], conf[n] = sweep(views[n], [views[m] for m in used[n]], rng[0], rng[1], config)
    counts = consistency(raw, views, config) if config.min_consistent > 0 else None
    out = {}
    for n in names:
        keep = raw[n] > 0
        c = conf[n]
        if counts is not None:
            keep &= counts[n] >= config.min_consistent
            c = c * np.clip(counts[n] / max(1, len(used[n])), 0, 1)
        out[n] = MVSResult(np.where(keep, raw[n], 0).astype(np.float32), np.where(keep, c, 0).astype(np.float32),
                           raw[n], used[n], *span[n])
    return out


# ----------------------------------------------------------------------------------------------
# Camera poses for the views of an instant


class CameraPoses:
    """Where the cameras are: ``at(frames: dict[name, frame]) -> dict[name, (4, 4) world_to_camera]``
    (metres, OpenCV axes, one world frame; a camera without a pose at its frame is left out).

    The interface between pose sources and the ``mvs`` backend: ``StaticPoses`` (a calibration,
    or poses from the people for static cameras); a per-frame source (structure from motion for
    moving cameras) implements ``at`` the same way. ``source`` says where the poses came from;
    ``reasons``: name -> why a camera has no pose."""

    source: str = ""
    reasons: dict

    def at(self, frames: dict) -> dict:
        raise NotImplementedError


class StaticPoses(CameraPoses):
    """One world_to_camera per camera for every frame (static cameras)."""

    def __init__(self, world_to_camera: dict, source: str, reasons: dict | None = None):
        self.world_to_camera = {n: np.asarray(T, np.float64) for n, T in world_to_camera.items()}
        self.source = source
        self.reasons = dict(reasons or {})

    def at(self, frames: dict) -> dict:
        return {n: self.world_to_camera[n] for n in frames if n in self.world_to_camera}


class FramePoses(CameraPoses):
    """Per-frame poses of possibly moving cameras, from a ``recon.sfm.ScenePoses`` (or anything with
    ``videos: {name: obj with .frames: [obj with .frame, .ok, .world_to_camera, .reason]}`` and
    ``source``): a camera's pose at a frame is that of its ok FramePose with that frame index.
    ``from_summary``: the same from triangulate.json's ``cameras[].frames`` (a flagged camera has none)."""

    def __init__(self, scene=None, table: dict | None = None, source: str | None = None):
        if table is None:
            source = f"structure from motion ({getattr(scene, 'source', '?')})"
            table = {n: {int(f.frame): f.world_to_camera for f in v.frames if f.ok and f.world_to_camera is not None}
                     for n, v in scene.videos.items()}
        self.source = source
        self.table = {n: {int(i): np.asarray(w, np.float64) for i, w in t.items()} for n, t in table.items()}
        self.reasons = {n: "no frame posed" for n, t in self.table.items() if not t}

    @classmethod
    def from_summary(cls, summary: dict) -> "FramePoses":
        """The frames triangulate.json kept (SfM's, after its check over time) of the cameras it kept."""
        table = {n: {f["frame"]: f["world_to_camera"] for f in c.get("frames") or [] if f["ok"] and c.get("ok")}
                 for n, c in summary["cameras"].items()}
        return cls(table=table, source="structure from motion, checked over time (triangulate.json)")

    def at(self, frames: dict) -> dict:
        return {n: self.table[n][int(i)] for n, i in frames.items() if int(i) in self.table.get(n, {})}


def poses_from_calibration(path, names: list) -> StaticPoses:
    """A Pose2Sim / caliscope calibration TOML -> StaticPoses. Its cameras are matched to the
    videos by name, else by the number in the name as `triangulate` does (cam_01 <-> cam01: two of
    the Pose2Sim demo's four videos with its calibration), else in file order when the counts agree."""
    from ..errors import InputError
    from ..io.calibration import read_calibration_toml
    from .stage_triangulate import match_calibration

    cams = read_calibration_toml(path)
    try:
        chosen = match_calibration(list(names), cams, path)
    except InputError:
        if len(cams) != len(names):
            raise InputError(path, f"{len(cams)} cameras ({', '.join(cams)}) for {len(names)} videos "
                                   f"({', '.join(names)}): name the tables after the videos (or with the "
                                   "same number: cam_01 for cam01)") from None
        chosen = dict(zip(names, cams.values()))
    return StaticPoses({n: c.world_to_camera for n, c in chosen.items()}, f"calibration {path}")


def poses_from_people(keypoints: dict, intrinsics: dict, instants: list, reference: str,
                      person_height: float | None) -> StaticPoses:
    """Static cameras posed from the person's 2D joints pooled over the synchronized instants
    (``people_calib.calibrate_from_people``), metric scale from ``person_height`` (metres).

    A view's joints at a row's frame are its detection there or, where the keypoints skip frames
    (align poses at 30 fps: every 2nd frame of a 60 fps video), interpolated between the two
    detections around it (``recon.subframe``): two 60 fps videos an odd number of frames apart
    otherwise share no instant at all (the Pose2Sim balancing cam01/cam02, 1 frame apart)."""
    from .depth import ASSUMED_BODY_HEIGHT
    from .people_calib import PeopleCalibConf, calibrate_from_people
    from .subframe import joints_at, stride
    from .triangulate import undistort_pixels

    names = [reference] + [n for n in intrinsics if n != reference]
    rows = [r for r in instants if all(n in r for n in names)]
    xy = np.full((len(names), len(rows), 18, 2), np.nan)
    conf = np.zeros((len(names), len(rows), 18))
    frames = np.zeros((len(names), len(rows)), int)
    for v, n in enumerate(names):
        track = keypoints.get(n)
        frames[v] = [r[n] for r in rows]
        if track is None or not len(rows):
            continue
        detected = np.asarray(track.frame_indices)
        pts, c = joints_at(detected, np.asarray(track.xy, np.float64), np.asarray(track.conf, np.float64),
                           frames[v].astype(np.float64), stride(detected))
        ok = (c > 0) & np.isfinite(pts).all(axis=-1)
        if ok.any():
            xy[v][ok] = undistort_pixels(pts[ok], intrinsics[n].K, intrinsics[n].dist)
            conf[v][ok] = c[ok]
    height = person_height or ASSUMED_BODY_HEIGHT
    calib = calibrate_from_people(names, xy, conf, [intrinsics[n].K for n in names], frames,
                                  conf=PeopleCalibConf(person_height=height))
    posed = {n: c.world_to_camera for n, c in calib.cameras.items() if c.ok}
    reasons = {n: c.reason for n, c in calib.cameras.items() if not c.ok}
    for w in calib.warnings:
        log.warning("poses from the people: %s", w)
    kind = "given" if person_height else "assumed"
    return StaticPoses(posed, f"people ({len(rows)} instants, {kind} height {height:g} m)", reasons)


# ----------------------------------------------------------------------------------------------
# The fuse backend


def _undistorted(image: np.ndarray, intr):
    """(image without lens distortion, (H, W, 2) map: each distorted pixel's undistorted position)."""
    import cv2

    K, dist = intr.K, np.array(intr.dist)
    h, w = image.shape[:2]
    m1, m2 = cv2.initUndistortRectifyMap(K, dist, None, K, (w, h), cv2.CV_32FC1)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    back = cv2.undistortPoints(np.stack([xs, ys], -1).reshape(-1, 1, 2), K, dist, P=K).reshape(h, w, 2)
    return cv2.remap(image, m1, m2, cv2.INTER_LINEAR), back.astype(np.float32)


class MVSDepth:
    """``--depth mvs``: multi-view plane-sweep depth of every view of an instant (``mvs_depths``)
    with the cameras' poses from ``DepthContext.camera_poses`` (e.g. structure from motion), else
    a calibration (``DepthContext.calibration``), else the people (static cameras; the scale from
    ``DepthContext.person_height`` or an assumed 1.7 m). Sets ``poses`` (camera-to-reference) as
    the registration hint and ``confidence`` (name -> (H, W)) of the last instant. A view whose
    pose the images do not confirm (``_points``) gets no depth (0) and a warning."""

    min_pose_matches = 15
    min_pose_fraction = 0.3

    def __init__(self, context, config: MVSConfig | None = None):
        self.context = context
        self.config = config or MVSConfig()
        self.poses: dict = {}
        self.confidence: dict = {}
        names = list(context.videos)
        if context.camera_poses is not None:
            self.cameras = context.camera_poses
        elif context.calibration is not None:
            self.cameras = poses_from_calibration(context.calibration, names)
        else:
            self.cameras = self._from_people(names)
        log.info("mvs: camera poses from %s", self.cameras.source)
        for n, why in self.cameras.reasons.items():
            log.warning("mvs: camera %s has no pose (%s): no depth for it", n, why)

    def _from_people(self, names):
        from ..errors import InputError

        missing = [n for n in names if n not in self.context.keypoints]
        if missing:
            raise InputError(None, f"--depth mvs needs camera poses: give --calibration FILE, or keypoints for "
                                   f"every video (none for {', '.join(missing)})")
        reference = self.context.reference or names[0]
        return poses_from_people(self.context.keypoints, self.context.intrinsics, self.context.instants,
                                 reference, self.context.person_height)

    def _views(self, frames, images):
        w2c = self.cameras.at(frames)
        views, back = {}, {}
        for n in frames:
            if n not in w2c:
                continue
            h, w = images[n].shape[:2]
            intr = self.context.intrinsics[n]
            intr = intr if (intr.width, intr.height) == (w, h) else intr.scaled(w, h)
            image = images[n]
            if intr.distorted:
                image, back[n] = _undistorted(image, intr)
            views[n] = MVSView(image, intr.K, w2c[n])
        return views, back

    def _points(self, views) -> tuple[np.ndarray, dict]:
        """Scene points that set the depth range, and which views the images confirm: SIFT matches
        of every pair triangulated with the given poses, kept within 2 px of both views. A view is
        confirmed when, with some other view, at least ``min_pose_matches`` matches and
        ``min_pose_fraction`` of them fit the poses (wrong poses fit almost none).
        -> (N, 3) world points of the confirmed pairs, name -> (matches that fit, matches) of its best pair."""
        from itertools import combinations

        from .depth import triangulate
        from .features import sift_matches

        out, support = [], {n: (0, 0) for n in views}
        for a, b in combinations(list(views), 2):
            pa, pb = sift_matches(views[a].image, views[b].image)
            if len(pa) < 5:
                continue
            rel = views[b].world_to_camera @ np.linalg.inv(views[a].world_to_camera)
            X = triangulate(rel[:3, :3], rel[:3, 3], views[a].K, views[b].K, pa, pb)
            Xb = X @ rel[:3, :3].T + rel[:3, 3]
            with np.errstate(invalid="ignore", divide="ignore"):
                ea = np.linalg.norm((X @ views[a].K.T)[:, :2] / X[:, 2:3] - pa, axis=1)
                eb = np.linalg.norm((Xb @ views[b].K.T)[:, :2] / Xb[:, 2:3] - pb, axis=1)
                good = (X[:, 2] > 0) & (Xb[:, 2] > 0) & (ea < 2) & (eb < 2)
            fit = (int(good.sum()), len(pa))
            for n in (a, b):
                support[n] = max(support[n], fit)
            if fit[0] >= self.min_pose_matches and fit[0] >= self.min_pose_fraction * fit[1]:
                Tinv = np.linalg.inv(views[a].world_to_camera)
                out.append(X[good] @ Tinv[:3, :3].T + Tinv[:3, 3])
        return (np.concatenate(out) if out else np.zeros((0, 3))), support

    def depths(self, frames, images):
        views, back = self._views(frames, images)
        reference = next(iter(frames))
        out = {n: np.zeros(images[n].shape[:2], np.float32) for n in frames}
        self.poses, self.confidence = {}, {n: np.zeros(images[n].shape[:2], np.float32) for n in frames}
        if len(views) < 2:
            log.warning("mvs: frames %s: fewer than two posed views, no depth", frames)
            return out
        points, support = self._points(views)
        for n, (fit, total) in support.items():
            if fit < self.min_pose_matches or fit < self.min_pose_fraction * total:
                log.warning("mvs: frames %s: the pose of %s is not confirmed by the images (%d of %d SIFT matches "
                            "with its best other view fit the poses): no depth for it", frames, n, fit, total)
                del views[n]
        if len(views) < 2:
            return out
        results = mvs_depths(views, self.config, points)
        for n, r in results.items():
            depth, confidence = r.depth, r.confidence
            if n in back:   # back onto the distorted pixels the video has
                import cv2

                m = back[n]
                depth = cv2.remap(depth, m[..., 0], m[..., 1], cv2.INTER_NEAREST)
                confidence = cv2.remap(confidence, m[..., 0], m[..., 1], cv2.INTER_NEAREST)
            out[n], self.confidence[n] = depth, confidence
        if reference in views:
            ref = views[reference].world_to_camera
            self.poses = {n: ref @ np.linalg.inv(v.world_to_camera) for n, v in views.items()}
        if getattr(self.context, "depth_sink", None) is not None:
            self.context.depth_sink(frames, out)
        return out
