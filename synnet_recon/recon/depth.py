"""Depth backends: per synchronized instant, colour images of the videos -> depth maps.

A backend is a class ``Backend(context: DepthContext)`` with a method
``depths(frames: dict[name, frame index], images: dict[name, (H, W, 3) uint8 RGB])
-> dict[name, (H, W) float32 metres, 0 = unknown]``. It may also set ``poses``
(dict[name, (4, 4) camera-to-reference]) as a registration hint for the instant.

Backends are found through the entry-point group ``synnet_recon.depth_backends`` (so plugins can add
their own) with a built-in table as fallback for an uninstalled checkout:

- ``rgbd``: measured depth per video: a folder of 16-bit PNGs in millimetres, a folder of ``.npy``
  maps, one ``(T, H, W)`` ``.npy`` file, or a lossless 16-bit grey depth video (millimetres).
- ``stereo``: the reference view and each other view of an instant as a wide-baseline stereo pair
  (SIFT + essential matrix RANSAC, rectification, SGBM), metric scale from the person's keypoints
  (assumed body height 1.7 m) or from ``scale`` (the baseline in metres).
- ``mono``: a user-supplied monocular depth network (TorchScript file, or a ``TinyDepthNet``
  state dict), run on CPU; no downloads.
- ``mvs``: multi-view plane-sweep stereo over all views of the instant with known camera poses
  (``recon.mvs``: given ``camera_poses``, a calibration, or poses from the people).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import import_module, metadata
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import InputError
from ..io.depth_png import DEPTH_PNG_SCALE, decode_depth  # noqa: F401  (DEPTH_PNG_SCALE re-exported)
from ..keypoints import Keypoints
from .features import sift_matches
from .frames import FrameReader, VideoSource, _frame_files, _indexed
from .intrinsics import Intrinsics
from .lift import backproject

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "synnet_recon.depth_backends"
BUILTIN_BACKENDS = {
    "rgbd": "synnet_recon.recon.depth:RGBDDepth",
    "stereo": "synnet_recon.recon.depth:StereoDepth",
    "mono": "synnet_recon.recon.depth:MonoDepth",
    "mvs": "synnet_recon.recon.mvs:MVSDepth",
}
ASSUMED_BODY_HEIGHT = 1.7  # metres, for the stereo backend's scale
__all__ = ["DepthContext", "DepthSource", "FrameReader", "MonoDepth", "RGBDDepth", "StereoDepth", "VideoSource",
           "available_backends", "load_backend", "sift_matches", "two_view_stereo"]


@dataclass
class DepthContext:
    """What a backend may use: the videos, their intrinsics and user options."""

    videos: dict[str, VideoSource]
    intrinsics: dict[str, Intrinsics]
    depth_dirs: dict[str, Path] = field(default_factory=dict)
    keypoints: dict[str, Keypoints] = field(default_factory=dict)  # main person per video (may lack some)
    mono_model: Path | None = None
    scale: float | None = None
    reference: str = ""
    instants: list[dict[str, int]] = field(default_factory=list)  # every synchronized row: name -> frame
    calibration: Path | None = None          # camera poses (Pose2Sim / caliscope TOML), for mvs
    person_height: float | None = None       # metres, the scale of poses from the people (mvs)
    camera_poses: object | None = None       # a recon.mvs.CameraPoses (e.g. from SfM), for mvs
    depth_sink: object | None = None         # mvs: called as sink(frames, {name: depth}) per instant (the rgb demo)


class DepthBackend(Protocol):
    poses: dict[str, np.ndarray]

    def depths(self, frames: dict[str, int], images: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ...


def available_backends() -> dict[str, str]:
    """name -> "module:Class" from installed entry points, completed by the built-in table."""
    table = dict(BUILTIN_BACKENDS)
    try:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            table[ep.name] = ep.value
    except Exception as exc:  # broken metadata must not break the built-ins
        log.debug("entry points unreadable: %s", exc)
    return table


def load_backend(name: str, context: DepthContext) -> DepthBackend:
    table = available_backends()
    if name not in table:
        raise InputError(None, f"unknown depth backend {name!r} (available: {', '.join(sorted(table))})")
    module, _, attr = table[name].partition(":")
    return getattr(import_module(module), attr)(context)


def _check_size(depth: np.ndarray, image: np.ndarray, where) -> np.ndarray:
    if depth.shape[:2] != image.shape[:2]:
        raise InputError(where, f"depth is {depth.shape[1]}x{depth.shape[0]} but the video frame is "
                                f"{image.shape[1]}x{image.shape[0]}")
    return depth


# ----------------------------------------------------------------------------------------------
# rgbd: measured depth


class DepthSource:
    """Depth maps of one video, by frame index: (H, W) float32 metres (0 = none)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._files: dict[int, Path] | None = None
        self._array = None
        self._video = None
        if self.path.is_dir():
            files = _frame_files(self.path, (".png", ".npy"))
            if not files:
                raise InputError(self.path, "no depth maps (.png or .npy) in folder")
            self._files = _indexed(files)
        elif self.path.suffix == ".npy":
            self._array = np.load(self.path, mmap_mode="r")
            if self._array.ndim != 3:
                raise InputError(self.path, f"depth array must be (T, H, W), got {self._array.shape}")
        elif self.path.is_file():
            self._video = FrameReader(self.path, gray16=True)
        else:
            raise InputError(self.path, "depth not found")

    @staticmethod
    def _to_metres(a: np.ndarray, where) -> np.ndarray:
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[..., 0]
        if a.ndim != 2:
            raise InputError(where, f"depth map must be single-channel, got shape {a.shape}")
        if a.dtype == np.uint16 or np.issubdtype(a.dtype, np.integer):
            return decode_depth(a)
        d = np.asarray(a, dtype=np.float32)
        return np.where(np.isfinite(d) & (d > 0), d, 0).astype(np.float32)

    def get(self, index: int) -> np.ndarray:
        if self._files is not None:
            f = self._files.get(index)
            if f is None:
                raise InputError(self.path, f"no depth map for frame {index}")
            if f.suffix == ".npy":
                return self._to_metres(np.load(f), f)
            import cv2

            a = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
            if a is None:
                raise InputError(f, "unreadable depth PNG")
            if a.dtype != np.uint16:
                raise InputError(f, f"depth PNG must be 16-bit millimetres, got {a.dtype}")
            return self._to_metres(a, f)
        if self._array is not None:
            if not 0 <= index < len(self._array):
                raise InputError(self.path, f"no depth map for frame {index} (has {len(self._array)})")
            return self._to_metres(np.asarray(self._array[index]), self.path)
        return self._to_metres(self._video.get(index), self.path)


def default_depth_path(video: VideoSource) -> Path | None:
    """Depth next to a video when it follows a known layout, else None.

    ``OUT/videos/<cam>.mp4`` -> ``OUT/depth/<cam>`` (synrecon simulate --render);
    ``x.mp4`` -> ``x_depth/``, ``x_depth.npy`` or ``x_depth.mkv``.
    """
    p = video.path
    candidates = [p.parent.parent / "depth" / video.name, p.parent.parent / "depth" / p.stem,
                  p.with_name(p.stem + "_depth"), p.with_name(p.stem + "_depth.npy"),
                  p.with_name(p.stem + "_depth.mkv")]
    return next((c for c in candidates if c.exists()), None)


class RGBDDepth:
    """Measured depth given per video (see module doc); matched to video frames by index."""

    def __init__(self, context: DepthContext):
        self.poses: dict[str, np.ndarray] = {}
        self.sources: dict[str, DepthSource] = {}
        for name, video in context.videos.items():
            path = context.depth_dirs.get(name) or default_depth_path(video)
            if path is None:
                raise InputError(video.path, f"no depth for video {name!r} (give --depth-dir {name}=DIR)")
            self.sources[name] = DepthSource(path)

    def depths(self, frames, images):
        return {n: _check_size(self.sources[n].get(i), images[n], self.sources[n].path)
                for n, i in frames.items()}


# ----------------------------------------------------------------------------------------------
# mono: a user-supplied network


class TinyDepthNet:
    """Documented architecture for state-dict mono models (built lazily to keep torch optional here).

    Input (B, 3, H, W) float RGB in [0, 1]; output (B, 1, H, W) depth in metres (softplus).
    Layers: ``enc1`` conv3x3 3->16 stride 1, ``enc2`` conv3x3 16->32 stride 2, ``enc3`` conv3x3
    32->64 stride 2, each + ReLU; bilinear upsampling x4 to input size; ``head`` conv3x3 64->1.
    """

    @staticmethod
    def build():
        import torch
        from torch import nn

        class _Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.enc1 = nn.Conv2d(3, 16, 3, padding=1)
                self.enc2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
                self.enc3 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
                self.head = nn.Conv2d(64, 1, 3, padding=1)

            def forward(self, x):
                h, w = x.shape[-2:]
                y = torch.relu(self.enc1(x))
                y = torch.relu(self.enc2(y))
                y = torch.relu(self.enc3(y))
                y = nn.functional.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
                return nn.functional.softplus(self.head(y))

        return _Net()


def load_mono_model(path: str | Path):
    """A TorchScript module, or a TinyDepthNet state dict; eval mode on CPU."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "mono depth model not found")
    try:
        model = torch.jit.load(str(path), map_location="cpu")
    except Exception:
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise InputError(path, f"neither TorchScript nor a state dict ({exc.__class__.__name__})") from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        model = TinyDepthNet.build()
        try:
            model.load_state_dict(state)
        except Exception as exc:
            raise InputError(path, f"state dict does not fit TinyDepthNet ({str(exc).splitlines()[0]})") from None
    model.eval()
    return model


class MonoDepth:
    """Monocular depth from a network given by path (``mono_model``), optionally times ``scale``."""

    def __init__(self, context: DepthContext):
        if context.mono_model is None:
            raise InputError(None, "--depth mono needs --mono-model PATH")
        self.model = load_mono_model(context.mono_model)
        self.path = context.mono_model
        self.scale = context.scale or 1.0
        self.poses: dict[str, np.ndarray] = {}

    def predict(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 -> (H, W) float32 metres."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255.0
        with torch.no_grad():
            y = self.model(x)
        if isinstance(y, (tuple, list)):
            y = y[0]
        if isinstance(y, dict):
            y = next(iter(y.values()))
        y = y.reshape(-1, *y.shape[-2:])[:1]
        if tuple(y.shape[-2:]) != image.shape[:2]:
            y = torch.nn.functional.interpolate(y[None], size=image.shape[:2], mode="bilinear",
                                                align_corners=False)[0]
        d = y[0].float().numpy() * self.scale
        return np.where(np.isfinite(d) & (d > 0), d, 0).astype(np.float32)

    def depths(self, frames, images):
        return {n: self.predict(images[n]) for n in frames}


# ----------------------------------------------------------------------------------------------
# stereo: wide-baseline two-view depth

# Drillis & Contini (1966) segment heights as a fraction of body height: ankle 0.039, shoulder
# 0.818, so the chain ankle-knee-hip-neck is at least 0.779 H long (straight leg and back).
ANKLE_TO_NECK_FRACTION = 0.779


def body_chain_length(joints: np.ndarray) -> float:
    """joints (18, 3) 3D (NaN = missing) -> mean over sides of |ankle-knee|+|knee-hip|+|hip-neck|."""
    from ..skeleton import JOINT_INDEX as J

    lengths = []
    for side in "rl":
        chain = [J[f"{side}_ankle"], J[f"{side}_knee"], J[f"{side}_hip"], J["neck"]]
        pts = joints[chain]
        if np.isfinite(pts).all():
            lengths.append(float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum()))
    return float(np.mean(lengths)) if lengths else float("nan")


def _z_buffer(points: np.ndarray, K: np.ndarray, width: int, height: int) -> np.ndarray:
    """points (N, 3) in a camera frame -> (height, width) float32 depth, nearest point per pixel."""
    z = points[:, 2]
    ok = np.isfinite(points).all(1) & (z > 1e-6)
    p, z = points[ok], z[ok]
    u = np.round(K[0, 0] * p[:, 0] / z + K[0, 2]).astype(np.int64)
    v = np.round(K[1, 1] * p[:, 1] / z + K[1, 2]).astype(np.int64)
    inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    flat = np.full(width * height, np.inf, dtype=np.float64)
    np.minimum.at(flat, v[inside] * width + u[inside], z[inside])
    flat[~np.isfinite(flat)] = 0
    return flat.reshape(height, width).astype(np.float32)


@dataclass
class StereoResult:
    """Two-view result: rotation R (3, 3) and unit translation t (3,) with x2 = R x1 + t, and the
    dense points (N, 3) in view 1's camera frame (unit baseline), and the number of inliers."""

    R: np.ndarray
    t: np.ndarray
    points: np.ndarray
    inliers: int


def two_view_stereo(img1: np.ndarray, img2: np.ndarray, K1: np.ndarray, K2: np.ndarray,
                    max_disparities: int = 256) -> StereoResult:
    """Relative pose (essential matrix, RANSAC) and dense SGBM points of an uncalibrated-pose pair.

    img1, img2: (H, W, 3) uint8 RGB of the same size. Raises ValueError when the geometry fails.
    """
    import cv2

    h, w = img1.shape[:2]
    p1, p2 = sift_matches(img1, img2)
    if len(p1) < 15:
        raise ValueError(f"only {len(p1)} SIFT matches")
    n1 = cv2.undistortPoints(p1.reshape(-1, 1, 2), K1, None).reshape(-1, 2)
    n2 = cv2.undistortPoints(p2.reshape(-1, 1, 2), K2, None).reshape(-1, 2)
    f_mean = (K1[0, 0] + K1[1, 1] + K2[0, 0] + K2[1, 1]) / 4
    E, mask = cv2.findEssentialMat(n1, n2, np.eye(3), method=cv2.RANSAC, prob=0.999,
                                   threshold=1.0 / f_mean)
    if E is None or E.shape != (3, 3):
        raise ValueError("essential matrix RANSAC failed")
    inliers, R, t, mask = cv2.recoverPose(E, n1, n2, np.eye(3), mask=mask)
    if inliers < 12:
        raise ValueError(f"only {inliers} inliers for the relative pose")
    t = t.reshape(3) / np.linalg.norm(t)
    points = _rectified_sgbm(img1, img2, K1, K2, R, t, p1[mask.ravel() > 0], p2[mask.ravel() > 0], max_disparities)
    if len(points) < 0.001 * h * w:  # epipole in or near the image: rectification degenerates
        log.info("rectified SGBM found %d points; plane sweep instead", len(points))
        points = plane_sweep(img1, img2, K1, K2, R, t, p1[mask.ravel() > 0], p2[mask.ravel() > 0])
    return StereoResult(R, t, points, int(inliers))


def plane_sweep(img1: np.ndarray, img2: np.ndarray, K1: np.ndarray, K2: np.ndarray, R: np.ndarray,
                t: np.ndarray, x1: np.ndarray, x2: np.ndarray, planes: int = 96, window: int = 11,
                min_zncc: float = 0.85, min_margin: float = 0.05, gap: int = 3) -> np.ndarray:
    """Fronto-parallel plane sweep in view 1 (works with the epipole inside the image).

    For each depth z of ``planes`` samples uniform in 1/z (range from the triangulated matches
    x1, x2 (N, 2)), view 2 is warped into view 1 by the plane's homography
    K2 (R + t n^T / z) K1^-1 with n = (0, 0, 1), and scored by zero-mean normalised cross-correlation
    over ``window`` x ``window`` pixels; each pixel keeps its best plane if its ZNCC > ``min_zncc``
    and beats every plane more than ``gap`` planes away by ``min_margin`` (repetitive texture
    matches several depths: such ambiguous pixels are dropped).
    Returns (N, 3) points in view 1's frame (unit baseline).
    """
    import cv2

    h, w = img1.shape[:2]
    z = triangulate(R, t, K1, K2, x1, x2)[:, 2]
    z = z[np.isfinite(z) & (z > 0)]
    if len(z) < 5:
        return np.zeros((0, 3))
    near, far = np.percentile(z, 2) * 0.7, np.percentile(z, 98) * 1.4
    depths = 1.0 / np.linspace(1.0 / near, 1.0 / far, planes)
    g1 = cv2.cvtColor(img1, cv2.COLOR_RGB2GRAY).astype(np.float32)
    g2 = cv2.cvtColor(img2, cv2.COLOR_RGB2GRAY).astype(np.float32)
    box = (window, window)
    m1 = cv2.blur(g1, box)
    s1 = np.sqrt(np.maximum(cv2.blur(g1 * g1, box) - m1 * m1, 0))
    scores = np.full((planes, h, w), -1.0, np.float16)
    K1inv = np.linalg.inv(K1)
    n = np.array([[0.0, 0.0, 1.0]])
    for i, depth in enumerate(depths):
        H = K2 @ (R + t.reshape(3, 1) @ n / depth) @ K1inv     # view-1 pixel -> view-2 pixel
        warped = cv2.warpPerspective(g2, H, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                     borderValue=np.nan)
        inside = np.isfinite(warped)
        warped = np.where(inside, warped, 0).astype(np.float32)
        m2 = cv2.blur(warped, box)
        s2 = np.sqrt(np.maximum(cv2.blur(warped * warped, box) - m2 * m2, 0))
        zncc = (cv2.blur(g1 * warped, box) - m1 * m2) / np.maximum(s1 * s2, 1e-3)
        zncc[(cv2.blur(inside.astype(np.float32), box) < 0.999) | (s1 < 2) | (s2 < 2)] = -1
        scores[i] = zncc
    best_plane = scores.argmax(0)
    best = np.take_along_axis(scores, best_plane[None], 0)[0]
    far_planes = np.abs(np.arange(planes)[:, None, None] - best_plane[None]) > gap
    runner_up = np.where(far_planes, scores, -1).max(0)
    valid = (best > min_zncc) & (best - runner_up > min_margin)
    v, u = np.nonzero(valid)
    return backproject(np.stack([u, v], 1), depths[best_plane[valid]].astype(np.float32), K1)


def _rectified_sgbm(img1, img2, K1, K2, R, t, p1, p2, max_disparities: int) -> np.ndarray:
    """Rectify (cv2.stereoRectify), SGBM, triangulate: (N, 3) points in view 1 (unit baseline)."""
    import cv2

    h, w = img1.shape[:2]
    R1, R2, P1, P2, Q, _, _ = cv2.stereoRectify(K1, None, K2, None, (w, h), R, t, alpha=0)
    m1 = cv2.initUndistortRectifyMap(K1, None, R1, P1, (w, h), cv2.CV_32FC1)
    m2 = cv2.initUndistortRectifyMap(K2, None, R2, P2, (w, h), cv2.CV_32FC1)
    r1 = cv2.remap(cv2.cvtColor(img1, cv2.COLOR_RGB2GRAY), *m1, cv2.INTER_LINEAR)
    r2 = cv2.remap(cv2.cvtColor(img2, cv2.COLOR_RGB2GRAY), *m2, cv2.INTER_LINEAR)
    # Disparity range from the inlier matches in rectified coordinates.
    q1 = cv2.undistortPoints(p1.reshape(-1, 1, 2), K1, None, R=R1, P=P1).reshape(-1, 2)
    q2 = cv2.undistortPoints(p2.reshape(-1, 1, 2), K2, None, R=R2, P=P2).reshape(-1, 2)
    disp = q1[:, 0] - q2[:, 0]
    vertical = (P2[1, 3] != 0)  # vertical rectification: disparity along y
    if vertical:  # rotating 90 deg clockwise turns y disparities into x disparities of flipped sign
        disp = q2[:, 1] - q1[:, 1]
        r1, r2 = cv2.rotate(r1, cv2.ROTATE_90_CLOCKWISE), cv2.rotate(r2, cv2.ROTATE_90_CLOCKWISE)
    sign = 1.0
    if np.median(disp) < 0:  # SGBM wants positive disparities: mirror both images
        sign, disp = -1.0, -disp
        r1, r2 = r1[:, ::-1].copy(), r2[:, ::-1].copy()
    lo, hi = np.percentile(disp, [1, 99])
    spread = np.percentile(np.abs(q1 - [w / 2, h / 2]), 90)
    if spread > 3 * max(w, h):
        return np.zeros((0, 3))  # degenerate rectification (epipole in or near the image)
    pad = max(8.0, 0.1 * (hi - lo))
    min_disp = int(np.floor(lo - pad))
    num_disp = int(np.ceil((hi + pad - min_disp) / 16.0) * 16)
    num_disp = int(np.clip(num_disp, 16, max_disparities))
    block = 5
    sgbm = cv2.StereoSGBM_create(minDisparity=min_disp, numDisparities=num_disp, blockSize=block,
                                 P1=8 * block * block, P2=32 * block * block, disp12MaxDiff=1,
                                 uniquenessRatio=10, speckleWindowSize=100, speckleRange=2,
                                 mode=cv2.STEREO_SGBM_MODE_SGBM)
    d = sgbm.compute(r1, r2).astype(np.float32) / 16.0
    valid = (d > min_disp) & (d > 0)
    if sign < 0:
        d, valid = d[:, ::-1], valid[:, ::-1]
    if vertical:
        d = cv2.rotate(d, cv2.ROTATE_90_COUNTERCLOCKWISE)
        valid = cv2.rotate(valid.astype(np.uint8), cv2.ROTATE_90_COUNTERCLOCKWISE) > 0
    # Triangulate rectified pixels: rectified camera 1 = R1 * camera 1, baseline along x (or y).
    hh, ww = d.shape
    vv, uu = np.mgrid[0:hh, 0:ww].astype(np.float64)
    f, cxr, cyr = P1[0, 0], P1[0, 2], P1[1, 2]
    base = abs(P2[1, 3] if vertical else P2[0, 3]) / P2[0, 0]
    dd = d[valid].astype(np.float64)
    z = f * base / np.where(np.abs(dd) > 1e-6, np.abs(dd), np.nan)
    xr = (uu[valid] - cxr) * z / f
    yr = (vv[valid] - cyr) * z / f
    pts_rect = np.stack([xr, yr, z], 1)
    pts_rect = pts_rect[np.isfinite(pts_rect).all(1)]
    return pts_rect @ R1  # R1^T applied to row vectors: rectified -> camera 1


def triangulate(R: np.ndarray, t: np.ndarray, K1, K2, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """(N, 2) pixels in two views (NaN allowed) -> (N, 3) points in view 1 (NaN where missing)."""
    import cv2

    out = np.full((len(x1), 3), np.nan)
    ok = np.isfinite(x1).all(1) & np.isfinite(x2).all(1)
    if ok.sum() == 0:
        return out
    P1 = K1 @ np.hstack([np.eye(3), np.zeros((3, 1))])
    P2 = K2 @ np.hstack([R, t.reshape(3, 1)])
    X = cv2.triangulatePoints(P1, P2, x1[ok].T.astype(np.float64), x2[ok].T.astype(np.float64))
    out[ok] = (X[:3] / X[3]).T
    return out


class StereoDepth:
    """Depth of the reference and each other view from reference/other stereo pairs."""

    def __init__(self, context: DepthContext):
        self.context = context
        self.poses: dict[str, np.ndarray] = {}
        if context.scale is None and any(n not in context.keypoints for n in context.videos):
            raise InputError(None, "stereo depth needs a metric scale: give --scale (baseline in "
                                   "metres) or keypoints for every video (sync.json or --keypoints)")

    def _scale(self, ref, other, frames, res: StereoResult, K1, K2) -> float:
        if self.context.scale is not None:
            return float(self.context.scale)
        k1 = self.context.keypoints[ref].at_frame(frames[ref])
        k2 = self.context.keypoints[other].at_frame(frames[other])
        if k1 is None or k2 is None:
            raise ValueError("no keypoints for the scale")
        x1 = np.where(k1[:, 2:] > 0.1, k1[:, :2], np.nan)
        x2 = np.where(k2[:, 2:] > 0.1, k2[:, :2], np.nan)
        chain = body_chain_length(triangulate(res.R, res.t, K1, K2, x1, x2))
        if not np.isfinite(chain) or chain <= 0:
            raise ValueError("legs or torso not seen in both views")
        return ASSUMED_BODY_HEIGHT * ANKLE_TO_NECK_FRACTION / chain

    def depths(self, frames, images):
        names = list(frames)
        ref = self.context.reference if self.context.reference in frames else names[0]
        K = {n: self.context.intrinsics[n].K for n in names}
        h, w = images[ref].shape[:2]
        out = {n: np.zeros(images[n].shape[:2], np.float32) for n in names}
        self.poses = {ref: np.eye(4)}
        for other in names:
            if other == ref:
                continue
            try:
                res = two_view_stereo(images[ref], images[other], K[ref], K[other])
                s = self._scale(ref, other, frames, res, K[ref], K[other])
            except ValueError as exc:
                log.warning("stereo %s/%s frame %s: %s", ref, other, frames, exc)
                continue
            pts = res.points * s
            if not out[ref].any():
                out[ref] = _z_buffer(pts, K[ref], w, h)
            pts2 = pts @ res.R.T + res.t * s
            ho, wo = images[other].shape[:2]
            out[other] = _z_buffer(pts2, K[other], wo, ho)
            T = np.eye(4)
            T[:3, :3] = res.R.T
            T[:3, 3] = -res.R.T @ (res.t * s)
            self.poses[other] = T
        return out
