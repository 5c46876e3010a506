"""Render simulated scenes to RGB videos and depth maps by CPU ray casting (Open3D, no display).

The world is a textured room (tiled floor, brick/panel/plank walls, boxes) built once, plus a
clothed body posed per frame (``body.BodyMesh``). Each pixel casts one ray through its centre;
colours are per-triangle (body) or procedural textures of the hit point (room, box-filtered over
the pixel's footprint so that far surfaces do not alias), shaded with an ambient + Lambert term;
the body casts a key-light shadow on the floor and a slight Gaussian blur stands in for the lens.
Depth is the z coordinate in the camera frame (not the ray length).

Outputs of ``render_scene`` (see docs/formats.md):
    OUT/videos/<cam>.mp4              H.264 (yuv420p) at the camera's fps
    OUT/depth/<cam>/<frame:06d>.png   uint16 millimetres, 0 = no hit
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InputError
from ..fileio import atomic_dir, atomic_path
from ..io.depth_png import read_depth_png, write_depth_png  # noqa: F401  (the depth codec; read re-exported)
from ..o3d import o3d
from .body import BodyMesh, BodyStyle

log = logging.getLogger(__name__)


@dataclass
class RenderConfig:
    """How scenes are rendered and encoded."""

    # Room around the action (metres); the room grows to enclose all cameras.
    room_half_size: float = 7.0
    wall_height: float = 4.0
    num_boxes: int = 10
    seed: int = 0
    # Shading: colour * (ambient + key * max(0, n.L_key) + fill * max(0, n.L_fill)).
    ambient: float = 0.42
    key_light: float = 0.55
    fill_light: float = 0.18
    key_direction: tuple[float, float, float] = (0.35, 1.0, 0.45)
    fill_direction: tuple[float, float, float] = (-0.5, 0.3, -0.6)
    background: tuple[float, float, float] = (0.74, 0.82, 0.92)  # rays that hit nothing
    shadows: bool = True             # the body casts a shadow of the key light on the floor
    blur_sigma: float = 0.7          # Gaussian lens blur in pixels (0 = off); also hides aliasing
    body: BodyStyle = field(default_factory=BodyStyle)
    # Encoding.
    codec: str = "libx264"           # or "mpeg4"
    crf: int = 18                    # libx264 quality (lower = better)
    preset: str = "veryfast"         # libx264 speed preset
    bitrate: int = 4_000_000         # mpeg4 only
    encode_threads: int = 1          # libx264 threads; fixed, as x264's output depends on the count
    png_compression: int = 1         # cv2 PNG level 0..9 for depth maps
    threads: int = 0                 # ray casting threads, 0 = all cores
    overwrite: bool = False          # re-render cameras whose outputs already exist


# ----------------------------------------------------------------------------------------------
# Procedural textures


def _hash(i: np.ndarray, j: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random values in [0, 1) for integer lattice cells (i, j)."""
    h = (i.astype(np.int64) * 73856093) ^ (j.astype(np.int64) * 19349663) ^ (salt * 83492791 + 1)
    h = (h ^ (h >> 13)) * 1274126177
    h = h ^ (h >> 16)
    return (h & 0xFFFF).astype(np.float32) / 65536.0


def _value_noise(u: np.ndarray, v: np.ndarray, scale: float, salt: int) -> np.ndarray:
    """Blocky noise in [-1, 1): one random value per ``scale``-sized cell."""
    return _hash(np.floor(u / scale), np.floor(v / scale), salt) * 2.0 - 1.0


# Material kinds.
TILES, BRICKS, PANELS, PLANKS, CHECKER, STRIPES = range(6)
FLOORS = {"tiles": TILES, "checker": CHECKER, "stripes": STRIPES}


@dataclass
class _Material:
    kind: int
    color_a: tuple[float, float, float]
    color_b: tuple[float, float, float]
    scale: float          # tile / brick / plank size in metres
    salt: int
    grain: bool = True    # the fine and medium aperiodic grain on top of the pattern


def _line_cover(dist: np.ndarray, half_width: float, period: float, fp: np.ndarray) -> np.ndarray:
    """Fraction of a pixel covered by periodic lines (box-filtered, so far surfaces do not alias).

    dist: (N,) distance in metres to the nearest line centre; half_width: line half width;
    period: line spacing; fp: (N,) pixel footprint on the surface in metres.
    """
    fp = np.maximum(fp, 1e-6)
    near = np.clip(np.minimum(dist + fp / 2, half_width) - np.maximum(dist - fp / 2, -half_width), 0, None) / fp
    far = 2 * half_width / period                                   # the average once lines blur together
    return near + (far - near) * np.clip(2 * fp / period - 1, 0, 1)


def _fade(fp: np.ndarray, size: float) -> np.ndarray:
    """(N, 1) weight of a pattern of feature size ``size``: 1 while pixels are finer, 0 once coarser."""
    return np.clip(1.5 - fp / size, 0, 1)[:, None]


def _texture(kind: int, u: np.ndarray, v: np.ndarray, mat: _Material, fp: np.ndarray) -> np.ndarray:
    """Albedo (N, 3) float32 of material ``mat`` at surface coordinates u, v (N,) metres.

    fp: (N,) pixel footprint in metres; detail smaller than a pixel is averaged, not sampled.
    """
    a = np.asarray(mat.color_a, np.float32)
    b = np.asarray(mat.color_b, np.float32)
    s = mat.scale
    if kind == TILES:          # square tiles, each its own shade between a and b, dark grout
        i, j = np.floor(u / s), np.floor(v / s)
        mix = 0.5 + (_hash(i, j, mat.salt)[:, None] - 0.5) * _fade(fp, s)
        col = a + (b - a) * mix
        fu, fv = u / s - i, v / s - j
        grout = 1 - ((1 - _line_cover(np.minimum(fu, 1 - fu) * s, 0.035 * s, s, fp))
                     * (1 - _line_cover(np.minimum(fv, 1 - fv) * s, 0.035 * s, s, fp)))
        col = col * (1 - 0.55 * grout[:, None])
    elif kind == BRICKS:       # running bond, brick s wide and s/3 high, light mortar
        h = s / 3.0
        row = np.floor(v / h)
        uu = u / s + 0.5 * (row % 2)
        col_i = np.floor(uu)
        mix = 0.5 + (_hash(col_i, row, mat.salt)[:, None] - 0.5) * _fade(fp, h)
        col = a * (0.8 + 0.4 * mix)
        fu, fv = uu - col_i, v / h - row
        mortar = 1 - ((1 - _line_cover(np.minimum(fu, 1 - fu) * s, 0.012, s, fp))
                      * (1 - _line_cover(np.minimum(fv, 1 - fv) * h, 0.012, h, fp)))[:, None]
        col = col + (b - col) * mortar
    elif kind == PANELS:       # large panels, some carrying a striped poster of their own colour
        i, j = np.floor(u / s), np.floor(v / s)
        fu, fv = u / s - i, v / s - j
        r = _hash(i, j, mat.salt)
        poster = ((r > 0.45) & (fu > 0.2) & (fu < 0.8) & (fv > 0.25) & (fv < 0.8))[:, None]
        hue = np.stack([_hash(i, j, mat.salt + 1), _hash(i, j, mat.salt + 2), _hash(i, j, mat.salt + 3)], 1)
        stripes = 0.5 + ((np.floor(fv * 12) % 2)[:, None] - 0.5) * _fade(fp, s / 12)
        col = np.where(poster, hue * (0.75 + 0.25 * stripes), a)
        seam = _line_cover(np.minimum(fu, 1 - fu) * s, 0.01, s, fp)[:, None]
        col = col + (b - col) * seam
    elif kind == PLANKS:       # wooden boards along u with staggered joints
        row = np.floor(v / s)
        length = 6 * s
        uu = u / length + _hash(row, row * 0 + 7, mat.salt)
        k = np.floor(uu)
        mix = 0.5 + (_hash(k, row, mat.salt + 5)[:, None] - 0.5) * _fade(fp, s)
        grain = 0.5 + 0.5 * np.sin(v * 180.0 + 7.0 * _value_noise(u, v, 0.3, mat.salt))[:, None] * _fade(fp, 0.02)
        col = (a + (b - a) * mix) * (0.88 + 0.12 * grain)
        fr = v / s - row
        gap = 1 - ((1 - _line_cover(np.minimum(fr, 1 - fr) * s, 0.006, s, fp))
                   * (1 - _line_cover(np.minimum(uu - k, 1 - (uu - k)) * length, 0.008, length, fp)))
        col = col * (1 - 0.6 * gap[:, None])
    elif kind == STRIPES:      # stripes across u, period s (half a, half b)
        c = np.floor(2 * u / s) % 2
        w = 0.5 + (c[:, None] - 0.5) * _fade(fp, s / 2)
        col = b + (a - b) * w
    else:                      # CHECKER of two colours
        c = (np.floor(u / s) + np.floor(v / s)) % 2
        w = 0.5 + (c[:, None] - 0.5) * _fade(fp, s)
        col = b + (a - b) * w
    if not mat.grain:
        return np.clip(col, 0.0, 1.0).astype(np.float32)
    # Fine and medium grain so that features can be matched at close range.
    grain = (0.06 * _value_noise(u, v, 0.025, mat.salt + 11) * _fade(fp, 0.025)[:, 0]
             + 0.05 * _value_noise(u, v, 0.11, mat.salt + 12) * _fade(fp, 0.11)[:, 0])
    return np.clip(col * (1.0 + grain[:, None]), 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# The static room


@dataclass
class Environment:
    """A textured room: floor, four walls, boxes. Axis-aligned; built once, shared by all cameras.

    centre: (x, z) of the room centre; half_size: half the room's side in metres.
    layout: "room" (four different walls, boxes anywhere along them); "symmetric" (four identical
    walls and boxes repeating every 90 degrees about the centre: turns of 90 or 180 degrees fit
    the geometry as well as the truth); "open" (no walls: a tiled floor and the boxes); "plain"
    (little texture anywhere). Used by ``synth.wide`` to test registration.
    """

    centre: tuple[float, float] = (0.0, 0.0)
    half_size: float = 7.0
    wall_height: float = 4.0
    num_boxes: int = 10
    seed: int = 0
    layout: str = "room"
    floor: str = "tiles"          # tiles (each its own shade: a shift by a tile does not fit the texture) |
    #                               checker (two colours, strictly periodic) | stripes (along world x, periodic)
    floor_tile: float = 0.5       # the floor's tile (m): a checker repeats every 2 tiles along x or z and by one along
    #                               a diagonal; stripes every tile along x
    floor_grain: bool = True      # the floor carries the fine aperiodic grain (False: only its period)

    def __post_init__(self):
        rng = np.random.default_rng(self.seed)
        cx, cz = self.centre
        hs, hgt = self.half_size, self.wall_height
        self.materials: list[_Material] = []
        verts, faces, face_mat, face_axes = [], [], [], []

        def material(kind, a, b, scale):
            self.materials.append(_Material(kind, tuple(a), tuple(b), scale, len(self.materials) * 101 + self.seed))
            return len(self.materials) - 1

        def quad(corners, mat, axes):
            base = sum(len(v) for v in verts)
            verts.append(np.asarray(corners, np.float64))
            faces.append(np.array([[0, 1, 2], [0, 2, 3]]) + base)
            face_mat.extend([mat, mat])
            face_axes.extend([axes, axes])

        def box(lo, hi, mat):
            (x0, y0, z0), (x1, y1, z1) = lo, hi
            quad([(x0, y1, z0), (x1, y1, z0), (x1, y1, z1), (x0, y1, z1)], mat, (0, 2))  # top
            quad([(x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0)], mat, (0, 1))  # -z
            quad([(x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1)], mat, (0, 1))  # +z
            quad([(x0, y0, z0), (x0, y0, z1), (x0, y1, z1), (x0, y1, z0)], mat, (2, 1))  # -x
            quad([(x1, y0, z0), (x1, y0, z1), (x1, y1, z1), (x1, y1, z0)], mat, (2, 1))  # +x

        plain = self.layout == "plain"
        if self.floor not in FLOORS:
            raise ValueError(f"floor {self.floor!r} is not one of {tuple(FLOORS)}")
        floor = material(FLOORS[self.floor], (0.62, 0.60, 0.55), (0.66, 0.64, 0.59) if plain else (0.85, 0.83, 0.78),
                         self.floor_tile)
        self.materials[floor].grain = self.floor_grain
        quad([(cx - hs, 0, cz - hs), (cx + hs, 0, cz - hs), (cx + hs, 0, cz + hs), (cx - hs, 0, cz + hs)],
             floor, (0, 2))
        self.num_floor_faces = 2   # the floor is the first quad: triangles 0 and 1
        if plain:
            walls = [material(PANELS, (0.78, 0.78, 0.74), (0.74, 0.74, 0.70), 1.2)] * 4
        elif self.layout == "symmetric":
            walls = [material(PANELS, (0.80, 0.84, 0.70), (0.35, 0.35, 0.38), 1.2)] * 4
        else:
            walls = [
                material(BRICKS, (0.62, 0.30, 0.22), (0.85, 0.82, 0.76), 0.42),
                material(PANELS, (0.80, 0.84, 0.70), (0.35, 0.35, 0.38), 1.2),
                material(PLANKS, (0.55, 0.38, 0.22), (0.75, 0.58, 0.38), 0.18),
                material(PANELS, (0.80, 0.74, 0.66), (0.30, 0.28, 0.28), 1.0),
            ]
        x0, x1, z0, z1 = cx - hs, cx + hs, cz - hs, cz + hs
        if self.layout != "open":
            quad([(x0, 0, z0), (x1, 0, z0), (x1, hgt, z0), (x0, hgt, z0)], walls[0], (0, 1))
            quad([(x1, 0, z0), (x1, 0, z1), (x1, hgt, z1), (x1, hgt, z0)], walls[1], (2, 1))
            quad([(x0, 0, z1), (x1, 0, z1), (x1, hgt, z1), (x0, hgt, z1)], walls[2], (0, 1))
            quad([(x0, 0, z0), (x0, 0, z1), (x0, hgt, z1), (x0, hgt, z0)], walls[3], (2, 1))
        # Boxes along the walls, leaving the middle of the room free for the person and cameras.
        first = None
        for k in range(self.num_boxes):
            size = rng.uniform([0.4, 0.3, 0.4], [1.3, 1.6, 1.3])
            side = k % 4
            along = rng.uniform(-hs + 1.0, hs - 1.0)
            inset = rng.uniform(0.2, 1.0) + size[0] / 2
            colours = rng.uniform(0.15, 0.9, size=(2, 3))
            if self.layout == "symmetric":   # the first box, turned by 90 degrees k times
                first = (size, along, inset, colours) if first is None else first
                size, along, inset, colours = first
                size = np.array([size[0], size[1], size[0]])
                along = along if side < 2 else -along
            if side == 0:
                px, pz = cx + along, z0 + inset
            elif side == 1:
                px, pz = x1 - inset, cz + along
            elif side == 2:
                px, pz = cx + along, z1 - inset
            else:
                px, pz = x0 + inset, cz + along
            if plain:
                colours[1] = colours[0] * 0.95
            kind = CHECKER if k % 2 == 0 or self.layout == "symmetric" else TILES
            mat = material(kind, colours[0], colours[1], rng.uniform(0.1, 0.25))
            box((px - size[0] / 2, 0.0, pz - size[2] / 2), (px + size[0] / 2, size[1], pz + size[2] / 2), mat)

        self.vertices = np.concatenate(verts).astype(np.float32)
        self.faces = np.concatenate(faces).astype(np.uint32)
        self.face_material = np.asarray(face_mat, np.int32)
        self.face_axes = np.asarray(face_axes, np.int32)          # (F, 2) world axes giving (u, v)
        self.scene = o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(o3d.core.Tensor(self.vertices), o3d.core.Tensor(self.faces))

    @classmethod
    def around(cls, joints: np.ndarray, camera_centres: np.ndarray, config: RenderConfig) -> "Environment":
        """A room centred on the motion that encloses every camera with a metre to spare.

        joints: (T, 18, 3) metres; camera_centres: (N, 3) metres (world).
        """
        xz = joints.reshape(-1, 3)[:, [0, 2]]
        centre = (xz.min(0) + xz.max(0)) / 2
        reach = np.abs(np.concatenate([xz, np.asarray(camera_centres).reshape(-1, 3)[:, [0, 2]]]) - centre).max()
        half = max(config.room_half_size, float(reach) + 1.5)
        return cls((float(centre[0]), float(centre[1])), half, config.wall_height, config.num_boxes, config.seed)

    def albedo(self, face_ids: np.ndarray, points: np.ndarray, footprint: np.ndarray | None = None) -> np.ndarray:
        """Texture colour (N, 3) float32 at hit points (N, 3) on triangles face_ids (N,).

        footprint: (N,) size in metres of the pixel on the surface (default 1 mm: point samples).
        """
        if footprint is None:
            footprint = np.full(len(face_ids), 1e-3, np.float32)
        out = np.empty((len(face_ids), 3), np.float32)
        mats = self.face_material[face_ids]
        axes = self.face_axes[face_ids]
        rows = np.arange(len(face_ids))
        u_all, v_all = points[rows, axes[:, 0]], points[rows, axes[:, 1]]
        for m in np.flatnonzero(np.bincount(mats, minlength=len(self.materials))):
            sel = np.flatnonzero(mats == m)
            mat = self.materials[m]
            out[sel] = _texture(mat.kind, u_all[sel], v_all[sel], mat, footprint[sel])
        return out


# ----------------------------------------------------------------------------------------------
# Ray casting


def _intrinsics_tuple(intr) -> tuple[int, int, float, float, float, float]:
    """(width, height, fx, fy, cx, cy) from an object with those attributes or a dict."""
    get = intr.get if isinstance(intr, dict) else lambda k: getattr(intr, k)
    return (int(get("width")), int(get("height")), float(get("fx")), float(get("fy")),
            float(get("cx")), float(get("cy")))


def camera_rays(intrinsics) -> np.ndarray:
    """Camera-frame ray directions through every pixel centre, z = 1: (H*W, 3) float64.

    Pixel (x, y) has its centre at integer coordinates (OpenCV), so a point projecting to
    (u, v) = K X / z is seen by the ray of pixel (round(u), round(v)).
    """
    w, h, fx, fy, cx, cy = _intrinsics_tuple(intrinsics)
    x, y = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    return np.stack([(x - cx) / fx, (y - cy) / fy, np.ones_like(x)], -1).reshape(-1, 3)


class Renderer:
    """Renders one camera's frames of a posed body inside an ``Environment``."""

    def __init__(self, intrinsics, environment: Environment, config: RenderConfig | None = None,
                 body: BodyMesh | None = None):
        self.config = config or RenderConfig()
        self.env = environment
        self.body = body or BodyMesh(self.config.body)
        self.size = _intrinsics_tuple(intrinsics)
        self.rays_cam = camera_rays(intrinsics).astype(np.float32)    # (H*W, 3)
        self.focal = float(np.sqrt(self.size[2] * self.size[3]))
        self.ray_length = np.linalg.norm(self.rays_cam, axis=1)     # (H*W,) same in the world frame
        key = np.asarray(self.config.key_direction, np.float32)
        fill = np.asarray(self.config.fill_direction, np.float32)
        self.key = key / np.linalg.norm(key)
        self.fill = fill / np.linalg.norm(fill)
        self.lights = np.stack([self.key, self.fill], 1)               # (3, 2)
        self.timing = {"raycast": 0.0, "shade": 0.0}

    def _cast(self, scene, rays: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """rays (N, 6) float32 -> t (N,) (inf = miss), primitive ids (N,), normals (N, 3)."""
        res = scene.cast_rays(o3d.core.Tensor(rays), nthreads=self.config.threads)
        return res["t_hit"].numpy(), res["primitive_ids"].numpy(), res["primitive_normals"].numpy()

    def render(self, joints: np.ndarray | None, world_to_camera: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One frame: joints (18, 3) metres or None (empty room), world_to_camera (4, 4).

        Returns rgb (H, W, 3) uint8 and depth (H, W) float32 metres along the camera z axis (0 = no hit).
        """
        w, h, fx, fy, cx, cy = self.size
        T = np.asarray(world_to_camera, np.float64)
        R, t = T[:3, :3], T[:3, 3]
        origin = -R.T @ t
        t0 = time.perf_counter()
        dirs = self.rays_cam @ R.astype(np.float32)                      # world directions, z_cam = 1
        rays = np.empty((len(dirs), 6), np.float32)
        rays[:, :3] = origin
        rays[:, 3:] = dirs
        # With direction z_cam = 1, the hit parameter t is the camera-frame depth.
        depth, prim, normal = self._cast(self.env.scene, rays)
        hit_body = np.zeros(len(depth), bool)
        body_scene = None
        if joints is not None and np.isfinite(joints).all():   # no body where the motion has gaps
            verts = self.body.pose(joints)
            body_scene = o3d.t.geometry.RaycastingScene()
            body_scene.add_triangles(o3d.core.Tensor(verts), o3d.core.Tensor(self.body.faces.astype(np.uint32)))
            pix = self._body_pixels(verts, R, t)
            if len(pix):
                tb, pb, nb = self._cast(body_scene, rays[pix])
                closer = tb < depth[pix]
                sel = pix[closer]
                depth[sel], prim[sel], normal[sel] = tb[closer], pb[closer], nb[closer]
                hit_body[sel] = True
        hit = np.isfinite(depth)
        room = np.flatnonzero(hit & ~hit_body)
        room_points = origin.astype(np.float32) + dirs[room] * depth[room, None]
        # The body's shadow on the floor from the key light (a directional light).
        lit = np.ones(len(depth), np.float32)
        if body_scene is not None and self.config.shadows:
            lit[room[self._in_shadow(body_scene, verts, prim[room], room_points)]] = 0.0
        t1 = time.perf_counter()
        color = np.empty((len(depth), 3), np.float32)
        # n.d for every pixel (d: the ray, z_cam = 1); its sign turns normals to face the camera.
        n_dot_d = np.einsum("ij,ij->i", normal, dirs)
        # Pixel footprint on the surface: depth / focal length, stretched at grazing angles.
        cos = np.abs(n_dot_d[room]) / self.ray_length[room]
        footprint = depth[room] / self.focal / np.sqrt(np.maximum(cos, 0.05))
        color[room] = self.env.albedo(prim[room], room_points, footprint)
        body = np.flatnonzero(hit_body)
        color[body] = self.body.face_colors[prim[body]]
        # Ambient + Lambert (key light, unless shadowed, and fill light).
        c = self.config
        n_dot_l = normal @ self.lights                                  # (N, 2)
        n_dot_l[n_dot_d > 0] *= -1.0
        np.maximum(n_dot_l, 0, out=n_dot_l)
        shade = c.ambient + c.key_light * lit * n_dot_l[:, 0] + c.fill_light * n_dot_l[:, 1]
        miss = ~hit
        shade[miss] = 1.0
        color[miss] = self.config.background
        color *= shade[:, None]
        color = color.reshape(h, w, 3)
        if c.blur_sigma > 0:
            import cv2

            color = cv2.GaussianBlur(color, (0, 0), c.blur_sigma)
        rgb = np.clip(color * 255 + 0.5, 0, 255).astype(np.uint8)
        depth = np.where(hit, depth, 0.0).astype(np.float32).reshape(h, w)
        self.timing["raycast"] += t1 - t0
        self.timing["shade"] += time.perf_counter() - t1
        return rgb, depth

    def _in_shadow(self, body_scene, verts: np.ndarray, face_ids: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Which room hits (face_ids (N,), points (N, 3)) are floor points shadowed by the body: (M,) indices."""
        # Where the body's shadow falls on the floor: its vertices slid along the light onto y = 0.
        shadow_xz = (verts - self.key * (verts[:, 1:2] / max(self.key[1], 1e-3)))[:, [0, 2]]
        lo, hi = shadow_xz.min(0) - 0.05, shadow_xz.max(0) + 0.05
        cand = np.flatnonzero((face_ids < self.env.num_floor_faces)
                              & (points[:, 0] > lo[0]) & (points[:, 0] < hi[0])
                              & (points[:, 2] > lo[1]) & (points[:, 2] < hi[1]))
        if not len(cand):
            return cand
        rays = np.empty((len(cand), 6), np.float32)
        rays[:, :3] = points[cand] + np.array([0.0, 1e-3, 0.0], np.float32)
        rays[:, 3:] = self.key
        t_hit = body_scene.cast_rays(o3d.core.Tensor(rays), nthreads=self.config.threads)["t_hit"].numpy()
        return cand[np.isfinite(t_hit)]

    def _body_pixels(self, verts: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Flat indices of the pixels whose rays may hit the body (its projected bounding box)."""
        w, h, fx, fy, cx, cy = self.size
        pc = verts @ R.T.astype(np.float32) + t.astype(np.float32)
        front = pc[:, 2] > 1e-3
        if not front.any():
            return np.zeros(0, np.int64)
        if not front.all():                                             # straddles the camera plane
            return np.arange(w * h)
        u = fx * pc[:, 0] / pc[:, 2] + cx
        v = fy * pc[:, 1] / pc[:, 2] + cy
        x0, x1 = int(max(np.floor(u.min()) - 1, 0)), int(min(np.ceil(u.max()) + 2, w))
        y0, y1 = int(max(np.floor(v.min()) - 1, 0)), int(min(np.ceil(v.max()) + 2, h))
        if x0 >= x1 or y0 >= y1:
            return np.zeros(0, np.int64)
        ys, xs = np.meshgrid(np.arange(y0, y1), np.arange(x0, x1), indexing="ij")
        return (ys * w + xs).ravel()


def render_views(joints_per_frame: np.ndarray | None, intrinsics, world_to_camera: np.ndarray,
                 config: RenderConfig | None = None,
                 environment: Environment | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Render the frames of one camera.

    joints_per_frame: (T, 18, 3) metres (None: the empty room); intrinsics: width, height, fx, fy,
    cx, cy (attributes or dict); world_to_camera: (T, 4, 4) OpenCV convention.
    environment: the room (default: one built around the joints and this camera).
    Yields (rgb (H, W, 3) uint8, depth (H, W) float32 metres, 0 = no hit) per frame.
    """
    config = config or RenderConfig()
    world_to_camera = np.asarray(world_to_camera, np.float64)
    if environment is None:
        centres = -np.einsum("tji,tj->ti", world_to_camera[:, :3, :3], world_to_camera[:, :3, 3])
        joints_for_room = joints_per_frame if joints_per_frame is not None else np.zeros((1, 18, 3))
        environment = Environment.around(np.asarray(joints_for_room), centres, config)
    renderer = Renderer(intrinsics, environment, config)
    for i in range(len(world_to_camera)):
        yield renderer.render(None if joints_per_frame is None else joints_per_frame[i], world_to_camera[i])


# ----------------------------------------------------------------------------------------------
# Writing


def frame_rate(fps: float) -> Fraction:
    """Exact frame rate for the container (29.97 -> 30000/1001)."""
    return Fraction(float(fps)).limit_denominator(1001)


class VideoWriter:
    """MP4 writer (PyAV): RGB uint8 frames at a constant frame rate, frame i at time i / fps."""

    def __init__(self, path: str | Path, width: int, height: int, fps: float, config: RenderConfig | None = None):
        import av

        config = config or RenderConfig()
        self.container = av.open(str(path), mode="w", format="mp4")
        rate = frame_rate(fps)
        codec = config.codec if config.codec in av.codecs_available else "mpeg4"  # PyAV builds without x264
        self.stream = self.container.add_stream(codec, rate=rate)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.frame_time_base = 1 / rate       # frame i has pts i (the muxer picks its own time base)
        self.stream.time_base = self.frame_time_base
        if codec == "libx264":
            # x264's macroblock-tree rate control reads memory it did not set (same frames, different
            # bitstreams from run to run), and its output depends on the thread count: turn the one off
            # and pin the other so that one seed gives one video.
            self.stream.options = {"crf": str(config.crf), "preset": config.preset, "mbtree": "0",
                                   "threads": str(config.encode_threads)}
        else:
            self.stream.bit_rate = config.bitrate
            self.stream.codec_context.thread_count = config.encode_threads
        self.count = 0
        self.seconds = 0.0

    def write(self, rgb: np.ndarray) -> None:
        """rgb: (H, W, 3) uint8."""
        import av

        t = time.perf_counter()
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.count
        frame.time_base = self.frame_time_base
        self.container.mux(self.stream.encode(frame))
        self.count += 1
        self.seconds += time.perf_counter() - t

    def close(self) -> None:
        t = time.perf_counter()
        self.container.mux(self.stream.encode(None))
        self.container.close()
        self.seconds += time.perf_counter() - t

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.close()
        else:
            self.container.close()


# ----------------------------------------------------------------------------------------------
# Whole scenes


@dataclass
class CameraView:
    """What the renderer needs of one simulated camera."""

    name: str
    intrinsics: object          # width, height, fx, fy, cx, cy
    world_to_camera: np.ndarray  # (T, 4, 4)
    motion_start: float          # motion-clock time of frame 0, seconds
    fps: float

    @property
    def num_frames(self) -> int:
        return len(self.world_to_camera)

    def times(self) -> np.ndarray:
        """(T,) motion-clock times of the frames."""
        return self.motion_start + np.arange(self.num_frames) / self.fps


def scene_views(scene) -> tuple[object, list[CameraView]]:
    """The motion and the camera views of a simulated ``Scene`` (synth/scene.py)."""
    views = [CameraView(c.name, c.intrinsics, np.asarray(c.world_to_camera, np.float64),
                        float(c.motion_start), float(c.fps)) for c in scene.cameras]
    return scene.motion, views


def scene_environment(motion, views: list[CameraView], config: RenderConfig) -> Environment:
    """The one room shared by every camera of a scene."""
    times = np.concatenate([v.times() for v in views])
    joints = motion.at(times)
    centres = np.concatenate([
        -np.einsum("tji,tj->ti", v.world_to_camera[:, :3, :3], v.world_to_camera[:, :3, 3]) for v in views])
    return Environment.around(joints, centres, config)


def render_camera(motion, view: CameraView, out_dir: str | Path, environment: Environment,
                  config: RenderConfig | None = None, progress: bool = True) -> dict:
    """Render one camera to OUT/videos/<name>.mp4 and OUT/depth/<name>/<frame:06d>.png, atomically.

    Returns timings in seconds: {"raycast", "shade", "encode", "depth_png", "frames"}.
    """
    import cv2  # noqa: F401  (fail before rendering if OpenCV is missing)
    from tqdm import tqdm

    config = config or RenderConfig()
    out_dir = Path(out_dir)
    video_path = out_dir / "videos" / f"{view.name}.mp4"
    depth_path = out_dir / "depth" / view.name
    joints = motion.at(view.times())
    renderer = Renderer(view.intrinsics, environment, config)
    w, h = renderer.size[:2]
    png_seconds = 0.0
    with atomic_path(video_path) as tmp_video, atomic_dir(depth_path) as tmp_depth:
        with VideoWriter(tmp_video, w, h, view.fps, config) as writer:
            for i in tqdm(range(view.num_frames), desc=f"render {view.name}", unit="frame",
                          disable=not progress, leave=False):
                rgb, depth = renderer.render(joints[i], view.world_to_camera[i])
                writer.write(rgb)
                t = time.perf_counter()
                write_depth_png(tmp_depth / f"{i:06d}.png", depth, config.png_compression)
                png_seconds += time.perf_counter() - t
    return {**renderer.timing, "encode": writer.seconds, "depth_png": png_seconds, "frames": view.num_frames}


def render_scene(scene, out_dir: str | Path, config: RenderConfig | None = None, progress: bool = True) -> dict:
    """Render every camera of a simulated scene into ``out_dir`` (videos/ and depth/).

    Cameras whose video and depth folder already exist are skipped unless ``config.overwrite``.
    Returns per-camera timings {name: {...}} (see ``render_camera``).
    """
    config = config or RenderConfig()
    motion, views = scene_views(scene)
    for view in views:
        w, h = _intrinsics_tuple(view.intrinsics)[:2]
        if w % 2 or h % 2 or w < 2 or h < 2:
            raise InputError(None, f"{view.name}: video size {w}x{h} must be even (H.264, yuv420p)")
    environment = scene_environment(motion, views, config)
    timings = {}
    for view in views:
        out = Path(out_dir)
        done = (out / "videos" / f"{view.name}.mp4").is_file() and (out / "depth" / view.name).is_dir()
        if done and not config.overwrite:
            log.info("%s already rendered, skipping", view.name)
            continue
        timings[view.name] = render_camera(motion, view, out, environment, config, progress)
    return timings
