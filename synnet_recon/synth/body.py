"""A clothed human body made of limb meshes, posed per frame from the 18 COCO joints.

Every body part is a deformed unit sphere: a part is either an ellipsoid (one affine map) or a
tapered capsule whose lower half follows one affine map ("end A") and upper half another ("end B"),
with side rings blended between the two. All unit vertices are concatenated once; posing a frame
only computes a few dozen 3x4 maps from the joints and applies them to the vertices with numpy.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..skeleton import JOINT_INDEX as J

WORLD_UP = np.array([0.0, 1.0, 0.0])


@dataclass
class BodyStyle:
    """Colours (RGB in [0, 1]) and sizes (metres) of the rendered person."""

    skin: tuple[float, float, float] = (0.87, 0.66, 0.53)
    shirt: tuple[float, float, float] = (0.20, 0.55, 0.75)
    trousers: tuple[float, float, float] = (0.16, 0.22, 0.42)
    shoes: tuple[float, float, float] = (0.10, 0.09, 0.09)
    hair: tuple[float, float, float] = (0.20, 0.12, 0.07)
    eyes: tuple[float, float, float] = (0.06, 0.05, 0.05)
    lips: tuple[float, float, float] = (0.62, 0.30, 0.28)
    upper_arm_radius: tuple[float, float] = (0.064, 0.050)   # at shoulder, at elbow
    forearm_radius: tuple[float, float] = (0.048, 0.038)     # at elbow, at wrist
    thigh_radius: tuple[float, float] = (0.100, 0.068)       # at hip, at knee
    shin_radius: tuple[float, float] = (0.064, 0.048)        # at knee, at ankle
    neck_radius: float = 0.052
    torso_depth: tuple[float, float] = (0.105, 0.115)        # half depth at hips, at chest
    head_size: tuple[float, float, float] = (0.085, 0.115, 0.100)  # half width, height, depth
    eye_size: tuple[float, float, float] = (0.014, 0.009, 0.008)   # half width, height, depth
    rings: int = 14            # latitude rings of the unit sphere (even)
    segments: int = 16         # longitude segments


@dataclass
class _Part:
    name: str
    unit: np.ndarray           # (n, 3) unit-sphere-based vertices
    weight: np.ndarray         # (n,) blend weight of end B (0 for ellipsoids)
    faces: np.ndarray          # (m, 3) local vertex indices
    colors: np.ndarray         # (m, 3) per-triangle RGB
    group_a: int = 0
    group_b: int = 0


def _capsule_unit(rings: int, segments: int, side_rings: tuple[float, ...] = ()) -> tuple:
    """Unit sphere cut at the equator, with extra side rings between the halves.

    Returns vertices (n, 3), blend weights (n,), faces (m, 3) and, per face, the blend weight of
    its centre (to colour bands). Lower half (z <= 0) has weight 0, upper half weight 1; side ring
    s in (0, 1) sits on the equator with weight s.
    """
    half = rings // 2
    phi = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)
    ring_z, ring_r, ring_w = [], [], []
    for k in range(1, half + 1):              # south pole excluded, up to the equator
        theta = np.pi * k / rings
        ring_z.append(-np.cos(theta)), ring_r.append(np.sin(theta)), ring_w.append(0.0)
    for s in side_rings:
        ring_z.append(0.0), ring_r.append(1.0), ring_w.append(float(s))
    for k in range(half, rings):              # equator (again) up to below the north pole
        theta = np.pi * k / rings
        ring_z.append(-np.cos(theta)), ring_r.append(np.sin(theta)), ring_w.append(1.0)
    verts = [np.array([[0.0, 0.0, -1.0]])]
    weights = [np.array([0.0])]
    for z, r, w in zip(ring_z, ring_r, ring_w):
        verts.append(np.stack([r * np.cos(phi), r * np.sin(phi), np.full(segments, z)], 1))
        weights.append(np.full(segments, w))
    verts.append(np.array([[0.0, 0.0, 1.0]]))
    weights.append(np.array([1.0]))
    verts = np.concatenate(verts)
    weights = np.concatenate(weights)
    n_rings = len(ring_z)
    top = 1 + n_rings * segments
    seg = np.arange(segments)
    nxt = (seg + 1) % segments
    faces = [np.stack([np.zeros(segments, int), 1 + nxt, 1 + seg], 1)]
    for i in range(n_rings - 1):
        a, b = 1 + i * segments, 1 + (i + 1) * segments
        faces.append(np.stack([a + seg, a + nxt, b + nxt], 1))
        faces.append(np.stack([a + seg, b + nxt, b + seg], 1))
    last = 1 + (n_rings - 1) * segments
    faces.append(np.stack([last + seg, last + nxt, np.full(segments, top)], 1))
    faces = np.concatenate(faces)
    face_w = weights[faces].mean(1)
    return verts, weights, faces, face_w


def _unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Normalise rows of v (..., 3); rows shorter than 1e-9 become ``fallback``."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.where(n > 1e-9, v / np.maximum(n, 1e-12), fallback)


def _perpendicular(axis: np.ndarray, hint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors completing ``axis`` to a right-handed frame, the first close to ``hint``."""
    x = hint - np.dot(hint, axis) * axis
    if np.linalg.norm(x) < 1e-6:
        alt = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
        x = alt - np.dot(alt, axis) * axis
    x = x / np.linalg.norm(x)
    return x, np.cross(axis, x)


@dataclass
class BodyMesh:
    """Triangle mesh of a clothed person with fixed topology, posed from COCO-18 joints.

    After construction: ``faces`` (F, 3) int32 and ``face_colors`` (F, 3) float32 in [0, 1].
    ``pose(joints)`` gives the vertices (V, 3) float32 for one frame.
    """

    style: BodyStyle = field(default_factory=BodyStyle)

    def __post_init__(self):
        st = self.style
        parts: list[_Part] = []
        sphere_v, _, sphere_f, _ = _capsule_unit(st.rings, st.segments)

        def capsule(name, color_a, color_b=None, band=0.5, side=(0.5,)):
            v, w, f, fw = _capsule_unit(st.rings, st.segments, side)
            colors = np.where((fw < band)[:, None], np.asarray(color_a),
                              np.asarray(color_b if color_b is not None else color_a))
            parts.append(_Part(name, v, w, f, colors))

        def ellipsoid(name, color, rings=None, segments=None):
            if rings is None:
                v, f = sphere_v, sphere_f
            else:
                v, _, f, _ = _capsule_unit(rings, segments)
            parts.append(_Part(name, v, np.zeros(len(v)), f, np.tile(np.asarray(color), (len(f), 1))))

        # Torso: end A at the hips (trousers below the waist band), end B at the shoulders.
        capsule("torso", st.trousers, st.shirt, band=0.2, side=(0.25, 0.5, 0.75))
        for side in ("r", "l"):
            capsule(f"{side}_upper_arm", st.shirt, st.shirt)
            capsule(f"{side}_forearm", st.skin, st.skin)
            capsule(f"{side}_thigh", st.trousers, st.trousers)
            capsule(f"{side}_shin", st.trousers, st.trousers)
            ellipsoid(f"{side}_hand", st.skin)
            ellipsoid(f"{side}_shoe", st.shoes)
        capsule("neck", st.skin, st.skin)
        ellipsoid("head", st.skin, 20, 24)
        ellipsoid("hair", st.hair, 20, 24)
        for side in ("r", "l"):
            ellipsoid(f"{side}_eye", st.eyes, 6, 8)
            ellipsoid(f"{side}_brow", st.hair, 6, 8)
        ellipsoid("nose", tuple(0.93 * c for c in st.skin), 6, 8)
        ellipsoid("mouth", st.lips, 6, 8)

        # Groups: one affine map per ellipsoid, two per capsule.
        self.group_names: list[str] = []
        for p in parts:
            if np.any(p.weight > 0):
                p.group_a, p.group_b = len(self.group_names), len(self.group_names) + 1
                self.group_names += [f"{p.name}:a", f"{p.name}:b"]
            else:
                p.group_a = p.group_b = len(self.group_names)
                self.group_names.append(p.name)
        self._group = {n: i for i, n in enumerate(self.group_names)}
        offsets = np.cumsum([0] + [len(p.unit) for p in parts])
        self.unit_vertices = np.concatenate([p.unit for p in parts]).astype(np.float64)  # (V, 3)
        self.weight_b = np.concatenate([p.weight for p in parts])[:, None]                # (V, 1)
        self.group_a = np.concatenate([np.full(len(p.unit), p.group_a) for p in parts])
        self.group_b = np.concatenate([np.full(len(p.unit), p.group_b) for p in parts])
        self.faces = np.concatenate([p.faces + o for p, o in zip(parts, offsets)]).astype(np.int32)
        self.face_colors = np.concatenate([p.colors for p in parts]).astype(np.float32)
        self.part_names = [p.name for p in parts]
        self.face_part = np.concatenate([np.full(len(p.faces), i) for i, p in enumerate(parts)])

    @property
    def num_vertices(self) -> int:
        return len(self.unit_vertices)

    def transforms(self, joints: np.ndarray) -> np.ndarray:
        """Affine map of every group for one frame: joints (18, 3) metres -> (G, 3, 4)."""
        st = self.style
        j = np.asarray(joints, dtype=np.float64)
        T = np.zeros((len(self.group_names), 3, 4))

        def put(name, axes, origin):
            """axes: (3, 3) matrix whose columns are the images of the unit x, y, z axes."""
            T[self._group[name], :, :3] = axes
            T[self._group[name], :, 3] = origin

        r_sh, l_sh, r_hip, l_hip = j[J["r_shoulder"]], j[J["l_shoulder"]], j[J["r_hip"]], j[J["l_hip"]]
        sh_mid, hip_mid = (r_sh + l_sh) / 2, (r_hip + l_hip) / 2
        spine = _unit(sh_mid - hip_mid, WORLD_UP)
        left = _unit((l_sh - r_sh) + (l_hip - r_hip), np.array([1.0, 0.0, 0.0]))
        forward = _unit(np.cross(left, spine), np.array([0.0, 0.0, 1.0]))

        def limb(name, a, b, radii, hint=forward):
            axis = _unit(b - a, -WORLD_UP)
            x, y = _perpendicular(axis, hint)
            ra, rb = radii
            put(f"{name}:a", np.stack([x * ra, y * ra, axis * ra], 1), a)
            put(f"{name}:b", np.stack([x * rb, y * rb, axis * rb], 1), b)
            return axis

        def ellipsoid(name, centre, x, y, z, size):
            put(name, np.stack([x * size[0], y * size[1], z * size[2]], 1), centre)

        # Torso: hips frame (x: half hip line widened, y: forward depth, z: down the spine),
        # shoulder frame likewise; capsule caps form pelvis and shoulder tops.
        hip_half = (l_hip - r_hip) / 2
        sh_half = (l_sh - r_sh) / 2
        hip_x = hip_half * (1.0 + 0.07 / max(np.linalg.norm(hip_half), 1e-3))
        sh_x = sh_half * (1.0 + 0.01 / max(np.linalg.norm(sh_half), 1e-3))
        put("torso:a", np.stack([hip_x, forward * st.torso_depth[0], spine * 0.09], 1), hip_mid + spine * 0.02)
        put("torso:b", np.stack([sh_x, forward * st.torso_depth[1], spine * 0.13], 1), sh_mid - spine * 0.11)

        for side in ("r", "l"):
            sh, el, wr = j[J[f"{side}_shoulder"]], j[J[f"{side}_elbow"]], j[J[f"{side}_wrist"]]
            hip, kn, an = j[J[f"{side}_hip"]], j[J[f"{side}_knee"]], j[J[f"{side}_ankle"]]
            limb(f"{side}_upper_arm", sh, el, st.upper_arm_radius)
            fore = limb(f"{side}_forearm", el, wr, st.forearm_radius)
            limb(f"{side}_thigh", hip, kn, st.thigh_radius)
            shin = limb(f"{side}_shin", kn, an, st.shin_radius)
            # Hand: flattened ellipsoid continuing the forearm.
            hx, hy = _perpendicular(fore, left)
            ellipsoid(f"{side}_hand", wr + fore * 0.075, hx, hy, fore, (0.048, 0.025, 0.085))
            # Shoe: points along the body's forward direction, made level with the shin's foot.
            toe = _unit(forward - np.dot(forward, shin) * shin, forward)
            sx = np.cross(toe, shin)
            ellipsoid(f"{side}_shoe", an + toe * 0.06 + shin * 0.035, sx, shin, toe, (0.052, 0.05, 0.125))

        # Head frame from the face joints: x to the person's left, y up the face, z forward.
        nose, r_ear, l_ear = j[J["nose"]], j[J["r_ear"]], j[J["l_ear"]]
        ear_mid = (r_ear + l_ear) / 2
        hx = _unit(l_ear - r_ear, left)
        hz = _unit(nose - ear_mid - np.dot(nose - ear_mid, hx) * hx, forward)
        hy = np.cross(hz, hx)
        hw, hh, hd = st.head_size
        # Put the head centre so that the nose tip lies on the front of the head.
        nose_depth = np.dot(nose - ear_mid, hz)
        centre = ear_mid + hz * (nose_depth - hd) * 0.5 - hy * 0.01
        ellipsoid("head", centre, hx, hy, hz, (hw, hh, hd))
        ellipsoid("hair", centre - hz * 0.022 + hy * 0.022, hx, hy, hz, (hw + 0.008, hh + 0.004, hd))
        neck = j[J["neck"]]
        limb("neck", neck - spine * 0.03, centre - hy * 0.06, (st.neck_radius, st.neck_radius * 0.9))

        def on_face(point, depth_out=0.0):
            """Move a point along the face normal onto the head surface (plus depth_out)."""
            local = np.array([np.dot(point - centre, hx) / hw, np.dot(point - centre, hy) / hh])
            rz = np.sqrt(max(1.0 - min(np.sum(local ** 2), 0.95), 0.05))
            return centre + hx * local[0] * hw + hy * local[1] * hh + hz * (rz * hd + depth_out)

        for side in ("r", "l"):
            eye = on_face(j[J[f"{side}_eye"]], -0.006)
            ellipsoid(f"{side}_eye", eye, hx, hy, hz, st.eye_size)
            ellipsoid(f"{side}_brow", on_face(eye + hy * 0.022, -0.004), hx, hy, hz, (0.018, 0.004, 0.006))
        ellipsoid("nose", on_face(nose, -0.006) + hz * 0.01 - hy * 0.005, hx, hy, hz, (0.012, 0.02, 0.016))
        ellipsoid("mouth", on_face(nose - hy * 0.045, -0.005), hx, hy, hz, (0.022, 0.007, 0.008))
        return T

    def pose(self, joints: np.ndarray) -> np.ndarray:
        """Vertices for one frame: joints (18, 3) metres -> (V, 3) float32 metres."""
        T = self.transforms(joints)
        u = self.unit_vertices
        va = np.einsum("vij,vj->vi", T[self.group_a, :, :3], u) + T[self.group_a, :, 3]
        vb = np.einsum("vij,vj->vi", T[self.group_b, :, :3], u) + T[self.group_b, :, 3]
        w = self.weight_b
        return ((1.0 - w) * va + w * vb).astype(np.float32)

    def trimesh(self, joints: np.ndarray):
        """The posed body as a ``trimesh.Trimesh`` with per-face colours (for viewing and export)."""
        import trimesh

        colors = np.concatenate([self.face_colors * 255, np.full((len(self.faces), 1), 255)], 1)
        return trimesh.Trimesh(self.pose(joints), self.faces, face_colors=colors.astype(np.uint8), process=False)


def standing_pose(height: float = 1.75, position=(0.0, 0.0, 0.0), facing: float = 0.0,
                  arm_spread: float = 0.25) -> np.ndarray:
    """A relaxed standing person as COCO-18 joints (18, 3) metres, Y up, feet on the floor.

    facing: yaw in radians about +Y; 0 faces +Z. arm_spread: radians the arms open sideways.
    """
    s = height / 1.75
    # x toward the person's left, y up, z forward (before yaw).
    pts = {
        "nose": (0.0, 1.625, 0.095), "neck": (0.0, 1.47, 0.0),
        "r_shoulder": (-0.19, 1.44, 0.0), "l_shoulder": (0.19, 1.44, 0.0),
        "r_hip": (-0.10, 0.93, 0.0), "l_hip": (0.10, 0.93, 0.0),
        "r_knee": (-0.11, 0.51, 0.02), "l_knee": (0.11, 0.51, 0.02),
        "r_ankle": (-0.12, 0.085, -0.01), "l_ankle": (0.12, 0.085, -0.01),
        "r_eye": (-0.033, 1.66, 0.075), "l_eye": (0.033, 1.66, 0.075),
        "r_ear": (-0.075, 1.635, -0.005), "l_ear": (0.075, 1.635, -0.005),
    }
    for side, sx in (("r", -1.0), ("l", 1.0)):
        sh = np.array(pts[f"{side}_shoulder"])
        down = np.array([sx * np.sin(arm_spread), -np.cos(arm_spread), 0.0])
        pts[f"{side}_elbow"] = tuple(sh + 0.29 * down + np.array([0, 0, 0.02]))
        pts[f"{side}_wrist"] = tuple(sh + 0.54 * down + np.array([0, 0, 0.06]))
    joints = np.array([pts[n] for n in sorted(J, key=J.get)]) * s
    c, sn = np.cos(facing), np.sin(facing)
    yaw = np.array([[c, 0, sn], [0, 1, 0], [-sn, 0, c]])
    return joints @ yaw.T + np.asarray(position, dtype=np.float64)
