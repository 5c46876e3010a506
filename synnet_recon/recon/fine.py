"""The fine check of a view's pose: dense geometric and photometric alignment of the static
background at the depth maps' own resolution, and whether it pins the camera to a centimetre.

The coarse checks (``verify``: joints within 5 cm, background within 3-10 cm of the other
camera's depth) pass a pose 2-3 cm off: on the default demo (seed 0) a view whose overlap with the
reference is the floor and one wall (no surface faces along that wall) was accepted 3.0 cm off
along the wall, its background residuals as small as the truth's (0.1 mm median) and its joints
closer to the reference's than the truth's (the joints are lifted from the skin and sit 3-7 cm
off in the demo, partly from the sync error of a moving person). What tells such poses apart is
the wall's texture, at the pixel scale.

``fine_alignment`` refines a pose by Gauss-Newton on both views' background points, each moved
into the other camera: point-to-plane against that camera's measured surface (normals from its
depth map) and intensity against its image (blurred; gradient through the projection), robust
(Huber) weights, the points re-associated every step. ``fine_pinned`` then asks whether the
residuals at the result pin the camera: it moves the camera by ``shift`` metres along its least
certain direction (with the rotation that best keeps the background aligned, from the information
matrix) either way, and needs one step of the alignment from there to pull it most of the way
back. A view fails the fine check when the fine alignment moves its pose by more than
``FineConfig.max_shift`` (the coarse pose is not the background's optimum), or when its
background does not pin the result. Depth alone (no images) does not pin such a slide.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .joint_icp import rotation


@dataclass
class FineConfig:
    """The fine check (metres, intensities in [0, 1])."""

    enabled: bool = True
    gate: float = 0.05              # a point is associated with the surface at its pixel within this + 1 % of depth
    geometric_sigma: float = 0.01   # point-to-plane scale (the 3 cm voxels' means sit up to ~1 cm off at edges)
    photometric_sigma: float = 0.05  # intensity scale (video coding noise ~0.01-0.02)
    huber: float = 1.0              # Huber threshold, in sigmas
    blur_px: float = 1.5            # the intensity images are blurred this much (a wider basin for the gradient)
    iterations: int = 12
    points: int = 12000             # background points per view (deterministic sample)
    min_points: int = 500           # residuals needed at all (fewer: not pinned)
    max_shift: float = 0.01         # the fine alignment may move the camera this far (m) ...
    max_turn_deg: float = 0.25      # ... and turn it this much, else the pose is not the background's optimum
    shift: float = 0.015            # the pinning test moves the camera this far along its least certain direction
    min_pull: float = 0.5           # and one step from there must undo at least this fraction of it, both ways
    noise_aware: bool = True        # the geometric scale per point grows with the depths' own noise (``depth_noise``)
    refine_joint_error: float = 0.15  # a flagged pose whose joints agree within this (median, m) is aligned finely and
    #                                 the result checked as a hypothesis (the wide grid's open floor: poses 8-18 cm
    #                                 and 0.5-2.8 degrees off, joints 6-8 cm, aligned to 0.1 cm of the truth)


@dataclass
class FineView:
    """A view's measured surface and image for the fine check: depth (H, W) metres (NaN where
    none), the blurred intensity (H, W) and its gradient (H, W, 2) d/du, d/dv, K (3, 3). The camera
    points and unit normals at a pixel come from ``surface`` (computed where the check looks, not for
    every pixel)."""

    depth: np.ndarray
    gray: np.ndarray
    gradient: np.ndarray
    K: np.ndarray
    shade: np.ndarray

    @cached_property
    def rays(self) -> tuple[np.ndarray, np.ndarray]:
        """(x / z per column (W,), y / z per row (H,)) of the pixels."""
        K, (h, w) = self.K, self.depth.shape
        return (np.arange(w, dtype=np.float64) - K[0, 2]) / K[0, 0], (np.arange(h, dtype=np.float64) - K[1, 2]) / K[1, 1]

    def surface(self, v: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """At pixels (v, u) (N,) int inside the image: camera points (N, 3) (NaN without depth) and
        unit normals (N, 3): the cross product of the horizontal and vertical central differences,
        turned towards the camera; NaN on the image's border, at depth edges (a neighbour's depth
        differs by more than 3 % + 1 cm) and where a neighbour has no depth."""
        d, (rx, ry) = self.depth, self.rays
        h, w = d.shape
        flat = d.reshape(-1)

        def point(vv, uu):
            z = flat[vv * w + uu]
            return rx[uu] * z, ry[vv] * z, z

        centre = point(v, u)
        q = np.stack(centre, axis=-1)
        inner = np.flatnonzero((v >= 1) & (v <= h - 2) & (u >= 1) & (u <= w - 2))
        vi, ui = v[inner], u[inner]
        left, right, up, down = point(vi, ui - 1), point(vi, ui + 1), point(vi - 1, ui), point(vi + 1, ui)
        xc, yc, zc = (c[inner] for c in centre)
        a0, a1, a2 = right[0] - left[0], right[1] - left[1], right[2] - left[2]
        b0, b1, b2 = down[0] - up[0], down[1] - up[1], down[2] - up[2]
        n = np.empty((len(inner), 3))
        n[:, 0] = a1 * b2 - a2 * b1
        n[:, 1] = a2 * b0 - a0 * b2
        n[:, 2] = a0 * b1 - a1 * b0
        with np.errstate(invalid="ignore", divide="ignore"):
            n0, n1, n2 = n[:, 0], n[:, 1], n[:, 2]
            n /= np.sqrt(n0 * n0 + n1 * n1 + n2 * n2)[:, None]
            toward = (n[:, 0] * xc + n[:, 1] * yc + n[:, 2] * zc) > 0
            np.negative(n, out=n, where=toward[:, None])
            smooth = np.ones(len(inner), bool)
            for nb in (left, right, up, down):
                smooth &= np.abs(nb[2] - zc) < 0.03 * zc + 0.01
        n[~smooth] = np.nan
        normals = np.full((len(v), 3), np.nan)
        normals[inner] = n
        return q, normals

    @cached_property
    def noise(self) -> float:
        """``depth_noise`` of the depth map (m at 1 m; its depth noise at z is this times z^2)."""
        return depth_noise(self.depth)

    @cached_property
    def _screen(self) -> float:
        return depth_noise(self.depth, every=4)

    def noise_below(self, limit: float) -> bool:
        """Whether ``noise`` is under ``limit``: read first from every 4th row and column (a quarter of
        the work; exact renders give ~1e-6-1e-5, sensor-like depth ~1.5e-3): under a tenth of
        ``limit`` there, it is taken as under; otherwise the whole map decides (``noise``)."""
        return self._screen < 0.1 * limit or self.noise < limit


def depth_noise(depth: np.ndarray, every: int = 1) -> float:
    """The noise of a depth map (H, W) metres (NaN or 0 where none), from its own pixels: the
    robust spread of the second differences of inverse depth along rows and columns (zero on a plane,
    whatever its slant; depth sensors' noise is about constant in inverse depth, i.e. grows with
    z^2), at depth-smooth triples only (within 3 % + 1 cm). Returns sigma(1/z) (1/m): the depth's
    noise at z is about this times z^2 (exact renders: ~0; a Kinect-like sensor: ~1.5e-3). ``every``:
    only every n-th row (for the differences along rows) and column (along columns)."""
    def measured(a):   # NaN where no depth; only the rows and columns read are converted
        return np.where(np.isfinite(a) & (a > 0), a, np.nan).astype(np.float64)

    depth = np.asarray(depth)
    rows = measured(depth[::every])
    columns = rows.T if every == 1 else measured(depth[:, ::every]).T
    seconds = []
    for a in (rows, columns):
        left, mid, right = a[:, :-2], a[:, 1:-1], a[:, 2:]
        with np.errstate(invalid="ignore", divide="ignore"):
            smooth = (np.abs(left - mid) < 0.03 * mid + 0.01) & (np.abs(right - mid) < 0.03 * mid + 0.01)
            seconds.append((1 / left - 2 / mid + 1 / right)[smooth])
    r = np.concatenate(seconds)
    if len(r) < 100:
        return 0.0
    # white noise of sigma in each 1/z: the second difference has sigma * sqrt(6)
    return float(1.4826 * np.median(np.abs(r - np.median(r))) / np.sqrt(6.0))


def fine_view(image: np.ndarray | None, depth: np.ndarray, K: np.ndarray, config: FineConfig) -> FineView:
    """``FineView`` of a view: colour (H, W, 3) uint8 (None or another size: no photometric part),
    depth (H, W) metres (0 = none), K (3, 3)."""
    import cv2

    K = np.asarray(K, dtype=np.float64)
    d = np.array(depth, dtype=np.float64)
    d[d <= 0] = np.nan
    shade = np.zeros(d.shape + (3,))
    if image is None or image.shape[:2] != d.shape:
        shade[..., 0] = np.nan
    else:
        gray = cv2.GaussianBlur(np.asarray(image, dtype=np.float32).mean(axis=2) / 255.0, (0, 0), config.blur_px)
        shade[..., 1] = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3) / 8.0
        shade[..., 2] = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3) / 8.0
        shade[..., 0] = gray
    return FineView(d, np.ascontiguousarray(shade[..., 0]), shade[..., 1:], K, shade)


def _pixels(p: np.ndarray, K: np.ndarray):
    z = p[:, 2]
    front = z > 0.05
    zs = np.where(front, z, 1.0)
    return K[0, 0] * p[:, 0] / zs + K[0, 2], K[1, 1] * p[:, 1] / zs + K[1, 2], zs, front


def _bilinear(a: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """a (H, W) or (H, W, C) at sub-pixel (u, v) (N,), inside [0, W - 1] x [0, H - 1]."""
    h, w = a.shape[:2]
    u0 = np.clip(np.floor(u).astype(np.int64), 0, w - 2)
    v0 = np.clip(np.floor(v).astype(np.int64), 0, h - 2)
    fu, fv = u - u0, v - v0
    flat = a.reshape(h * w, *a.shape[2:])
    if a.ndim == 3:
        fu, fv = fu[:, None], fv[:, None]
    i = v0 * w + u0     # the four pixels by flat index (faster than indexing rows and columns)
    return ((flat[i] * (1 - fu) + flat[i + 1] * fu) * (1 - fv)
            + (flat[i + w] * (1 - fu) + flat[i + w + 1] * fu) * fv)


def _own_intensity(points: np.ndarray, view: FineView) -> np.ndarray:
    """The intensity of each of a view's own points (N, 3) (its camera) at its pixel (NaN outside)."""
    u, v, _, front = _pixels(points, view.K)
    h, w = view.gray.shape
    inside = front & (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)
    out = np.full(len(points), np.nan)
    out[inside] = _bilinear(view.gray, u[inside], v[inside])
    return out


def _residuals(moved: np.ndarray, own: np.ndarray, there: FineView, config: FineConfig):
    """Points ``moved`` (N, 3) into camera ``there`` (their intensities ``own`` (N,)): per point its
    geometric residual (m), intensity residual, and the gradients of both with respect to the point
    (N, 3) each; NaN where not associated (outside, no depth, off the surface by more than the gate)."""
    n = len(moved)
    rg, rp = np.full(n, np.nan), np.full(n, np.nan)
    gg, gp = np.zeros((n, 3)), np.zeros((n, 3))
    u, v, z, front = _pixels(moved, there.K)
    h, w = there.gray.shape
    inside = front & (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)
    i = np.flatnonzero(inside)
    ui, vi = np.round(u[i]).astype(np.int64), np.round(v[i]).astype(np.int64)
    q, normal = there.surface(vi, ui)
    with np.errstate(invalid="ignore"):
        on = np.isfinite(q).all(1) & np.isfinite(normal).all(1) & (np.abs(z[i] - q[:, 2]) < config.gate + 0.01 * q[:, 2])
    i, q, normal = i[on], q[on], normal[on]
    rg[i] = np.einsum("ij,ij->i", normal, moved[i] - q)
    gg[i] = normal
    shade = _bilinear(there.shade, u[i], v[i])
    seen, grad = shade[:, 0], shade[:, 1:]
    p, zi = moved[i], z[i]
    K = there.K
    # d(u, v)/dp of the projection, times the image gradient: d intensity / d point
    gp[i] = np.stack([grad[:, 0] * K[0, 0] / zi, grad[:, 1] * K[1, 1] / zi,
                      -(grad[:, 0] * K[0, 0] * p[:, 0] + grad[:, 1] * K[1, 1] * p[:, 1]) / zi ** 2], axis=1)
    rp[i] = seen - own[i]
    return rg, rp, gg, gp


@dataclass
class _Sample:
    """Both views' background points (each in its own camera) and their own intensities."""

    source: np.ndarray
    source_gray: np.ndarray
    target: np.ndarray
    target_gray: np.ndarray


def _sample(points: np.ndarray, view: FineView, n: int) -> tuple[np.ndarray, np.ndarray]:
    points = np.asarray(points, dtype=np.float64)
    if len(points) > n:
        points = points[np.linspace(0, len(points) - 1, n).astype(np.int64)]
    return points, _own_intensity(points, view)


def samples(source_points: np.ndarray, target_points: np.ndarray, source: FineView, target: FineView,
            config: FineConfig) -> _Sample:
    """Both views' background points as the alignment uses them: ``config.points`` of each (a
    deterministic sample) and their own intensities."""
    return _Sample(*_sample(source_points, source, config.points), *_sample(target_points, target, config.points))


def _system(T: np.ndarray, s: _Sample, source: FineView, target: FineView, config: FineConfig):
    """All residuals at T (source -> target), normalized by their sigmas, (M,), and their Jacobian
    (M, 6) with respect to a correction exp(xi) T, xi = (rotation, translation) in the target camera.
    NaN residuals (and zero rows) where a point is not associated. Order: the source's points in
    the target camera (geometric, photometric), then the target's in the source camera."""
    R, t = T[:3, :3], T[:3, 3]
    moved = s.source @ R.T + t
    rg, rp, gg, gp = _residuals(moved, s.source_gray, target, config)
    Ti = np.linalg.inv(T)
    back = s.target @ Ti[:3, :3].T + Ti[:3, 3]
    bg, bp, hg, hp = _residuals(back, s.target_gray, source, config)
    # forward: the moved point p changes by w x p + t: d r = g . (w x p + t) = (p x g) . w + g . t
    # backward: the target's point q, in the source camera T^-1 q, changes by -R^T (w x q + t)
    hg, hp = hg @ R.T, hp @ R.T
    n = len(moved)
    J = np.empty((2 * n + 2 * len(s.target), 6))
    forward, backward = _geometric_sigma(s.source, moved, source, target, config), \
        _geometric_sigma(s.target, back, target, source, config)
    blocks = ((moved, gg, forward, 1.0), (moved, gp, config.photometric_sigma, 1.0),
              (s.target, hg, backward, -1.0), (s.target, hp, config.photometric_sigma, -1.0))
    start = 0
    for p, g, sigma, sign in blocks:   # rows (p x g, g) / sigma
        block = J[start:start + len(p)]
        _cross(p, g, block[:, :3])
        block[:, 3:] = g
        block /= sigma if np.ndim(sigma) == 0 else sigma[:, None]
        if sign < 0:
            np.negative(block, out=block)
        start += len(p)
    r = np.concatenate([rg / forward, rp / config.photometric_sigma, bg / backward, bp / config.photometric_sigma])
    return r, J


def _geometric_sigma(own: np.ndarray, moved: np.ndarray, view: FineView, there: FineView, config: FineConfig):
    """The point-to-plane scale of points ``own`` (N, 3) of ``view`` (its camera), ``moved`` (N, 3)
    into camera ``there``: ``geometric_sigma`` (the scalar) on exact depth; with ``noise_aware``, the
    two depths' own noise at the points' depths (``depth_noise``: sigma(1/z) z^2) added in quadrature."""
    exact = 0.1 * config.geometric_sigma / 4.0      # under a tenth of the scale even at 2 m: exact depth
    if not config.noise_aware or (view.noise_below(exact) and there.noise_below(exact)):
        return config.geometric_sigma
    a, b = view.noise * own[:, 2] ** 2, there.noise * moved[:, 2] ** 2
    return np.sqrt(config.geometric_sigma ** 2 + a * a + b * b)


def _cross(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """Row-wise cross products of (N, 3) arrays into ``out`` (N, 3) (``np.cross``'s values, without
    its copies)."""
    a0, a1, a2 = a[:, 0], a[:, 1], a[:, 2]
    b0, b1, b2 = b[:, 0], b[:, 1], b[:, 2]
    np.subtract(a1 * b2, a2 * b1, out=out[:, 0])
    np.subtract(a2 * b0, a0 * b2, out=out[:, 1])
    np.subtract(a0 * b1, a1 * b0, out=out[:, 2])


def _step(T: np.ndarray, s: _Sample, source: FineView, target: FineView, config: FineConfig) -> np.ndarray | None:
    """One robust Gauss-Newton step xi (6,) from T (None: too few residuals)."""
    r, J = _system(T, s, source, target, config)
    w = _weights(r, config.huber)
    if (w > 0).sum() < config.min_points:
        return None
    H = J.T @ (J * w[:, None])
    # no step along directions the residuals hardly see (eigenvalues under 1e-4 of the largest):
    # they would drift on noise (a plain wall and a floor leave the slide along the wall free)
    vals, vecs = np.linalg.eigh(H)
    keep = vals > 1e-4 * max(vals[-1], 1e-12)
    g = vecs.T @ (J.T @ (np.nan_to_num(r) * w))
    return -vecs[:, keep] @ (g[keep] / vals[keep])


def _exp(xi: np.ndarray) -> np.ndarray:
    """(4, 4) correction of xi = (rotation vector, translation) (6,): the rotation (Rodrigues,
    ``joint_icp.rotation``), then the translation."""
    D = np.eye(4)
    D[:3, :3] = rotation(xi[:3])
    D[:3, 3] = xi[3:]
    return D


def _weights(r: np.ndarray, k: float) -> np.ndarray:
    a = np.abs(np.nan_to_num(r, nan=np.inf))
    return np.where(a <= k, 1.0, np.where(np.isfinite(a), k / np.maximum(a, 1e-12), 0.0))


@dataclass
class FineResult:
    """``fine_alignment``'s result: the refined (4, 4) pose, how far it moved the camera (m) and
    turned it (degrees) from the start, the residuals used at the end, and the pull of the pinning
    test (``fine_pinned``; 0: too few residuals)."""

    transform: np.ndarray
    moved: float
    turned_deg: float
    residuals: int
    pull: float


def fine_alignment(T: np.ndarray, source_points: np.ndarray, target_points: np.ndarray, source: FineView,
                   target: FineView, config: FineConfig, s: _Sample | None = None) -> FineResult:
    """Refine T (source -> target camera) on both views' background points (N, 3) (each in its own
    camera) against the other's ``FineView``, then test whether the result is pinned. ``s``: those
    points' ``samples`` when already made (they depend on the views and ``config.points`` only)."""
    from ..pinhole import rotation_angle_deg

    s = samples(source_points, target_points, source, target, config) if s is None else s
    start = np.asarray(T, dtype=np.float64)
    T = start.copy()
    for _ in range(config.iterations):
        xi = _step(T, s, source, target, config)
        if xi is None:
            break
        T = _exp(xi) @ T
        if np.linalg.norm(xi[:3]) < 1e-5 and np.linalg.norm(xi[3:]) < 1e-4:
            break
    r, J = _system(T, s, source, target, config)
    n = int(np.isfinite(r).sum())
    pull = fine_pinned(T, r, J, s, source, target, config) if n >= config.min_points else 0.0
    moved = float(np.linalg.norm(T[:3, 3] - start[:3, 3]))
    return FineResult(T, moved, float(rotation_angle_deg(T[:3, :3] @ start[:3, :3].T)), n, pull)


def least_certain(T: np.ndarray, r: np.ndarray, J: np.ndarray, config: FineConfig) -> np.ndarray:
    """The correction xi (6,) (``_system``'s parameters) that moves the camera centre by one metre
    along its least certain direction at the least cost (the information matrix of the residuals
    r (M,), J (M, 6) with robust weights): a slide the background resists least."""
    w = _weights(r, config.huber)
    H = J.T @ (J * w[:, None])
    # camera-centre parameters: the centre c moves by w x c + t; xi = A (w, dc), t = dc - w x c
    c = T[:3, 3]
    A = np.eye(6)
    A[3:, :3] = np.array([[0.0, -c[2], c[1]], [c[2], 0.0, -c[0]], [-c[1], c[0], 0.0]])   # t = dc + c x w
    Hc = A.T @ H @ A
    cov = np.linalg.pinv(Hc + 1e-9 * np.eye(6))
    vals, vecs = np.linalg.eigh(cov[3:, 3:])
    e = vecs[:, -1]
    step = cov[:, 3:] @ e / float(e @ cov[3:, 3:] @ e)       # moves the centre by e, the rest at least cost
    return A @ step


def fine_pinned(T: np.ndarray, r: np.ndarray, J: np.ndarray, s: _Sample, source: FineView, target: FineView,
                config: FineConfig) -> float:
    """How surely the background holds the camera at T: T with its camera moved by ``config.shift``
    along its least certain direction (``least_certain``), either way, and one Gauss-Newton step
    from there (the points re-associated): the smaller fraction of the shift the step undoes. About
    1: the background pulls the camera back; about 0: it does not see that slide (a floor and one
    untextured wall leave a slide along the wall free)."""
    xi = least_certain(T, r, J, config)
    e = xi[3:] + np.cross(xi[:3], T[:3, 3])           # the camera centre's motion per unit of xi (1 m)
    e /= np.linalg.norm(e)
    out = []
    for sign in (-1.0, 1.0):
        moved = _exp(sign * config.shift * xi) @ T
        step = _step(moved, s, source, target, config)
        if step is None:
            return 0.0
        there = _exp(step) @ moved
        out.append(-sign * float((there[:3, 3] - moved[:3, 3]) @ e) / config.shift)
    return min(out)


class FinePair:
    """What the fine check of a view against the reference needs: each view's colour (H, W, 3)
    uint8, depth (H, W) and K (3, 3), and its background (N, 3) in its camera (the frame voxel's
    points, not the registration cloud's). The ``FineView``s are made when first used (the check
    runs only for poses that pass every other check)."""

    def __init__(self, source: tuple, target: tuple, source_points: np.ndarray, target_points: np.ndarray,
                 config: FineConfig):
        self._views, self._config = (source, target), config
        self.source_points, self.target_points = np.asarray(source_points), np.asarray(target_points)
        self._samples: dict[int, _Sample] = {}

    @cached_property
    def source(self) -> FineView:
        return fine_view(*self._views[0], self._config)

    @cached_property
    def target(self) -> FineView:
        return fine_view(*self._views[1], self._config)

    def samples(self, config: FineConfig) -> _Sample:
        """``samples`` of the pair's points for ``config`` (made once per number of points)."""
        if config.points not in self._samples:
            self._samples[config.points] = samples(self.source_points, self.target_points, self.source, self.target,
                                                   config)
        return self._samples[config.points]


def align(T: np.ndarray, pair: FinePair, config: FineConfig) -> FineResult:
    """``fine_alignment`` of pose T with a ``FinePair``."""
    return fine_alignment(T, pair.source_points, pair.target_points, pair.source, pair.target, config,
                          pair.samples(config))


def fine_check(T: np.ndarray, pair: FinePair, config: FineConfig) -> tuple[FineResult, str | None]:
    """The fine check of pose T (source -> target camera): (``fine_alignment``'s result, the reason
    it fails or None). It fails when the alignment moves the camera more than ``max_shift`` or turns
    it more than ``max_turn_deg`` (T is not the background's optimum: its ``transform`` may be
    checked instead), or when the background does not pin the result (``fine_pinned``)."""
    f = align(T, pair, config)
    if f.residuals < config.min_points:
        return f, f"the fine check found only {f.residuals} background residuals (need {config.min_points})"
    if f.moved > config.max_shift or f.turned_deg > config.max_turn_deg:
        return f, f"the background's fine alignment moves this pose by {100 * f.moved:.1f} cm and " \
                  f"{f.turned_deg:.2f} degrees (at most {100 * config.max_shift:g} cm, {config.max_turn_deg:g})"
    if f.pull < config.min_pull:
        return f, f"the background does not pin the camera to {100 * config.shift:g} cm: a fine step undoes " \
                  f"{100 * f.pull:.0f} % of a slide along its least certain direction (need " \
                  f"{100 * config.min_pull:.0f} %)"
    return f, None
