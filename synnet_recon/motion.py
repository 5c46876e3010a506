"""Real human motion: CMU motion capture (BVH, ASF/AMC) as 3D COCO-18 joint trajectories."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .skeleton import JOINT_INDEX, NUM_JOINTS


@dataclass
class Motion:
    """3D trajectories of the 18 COCO joints.

    joints: (T, 18, 3) float64 metres, Y up, floor at y=0.
    fps:    frames per second of ``joints``.
    start:  time in seconds of joints[0] on the clip's own clock.
    """

    joints: np.ndarray
    fps: float
    name: str = ""
    source: str = ""
    start: float = 0.0

    def __post_init__(self):
        self.joints = np.asarray(self.joints, dtype=np.float64)
        if self.joints.ndim != 3 or self.joints.shape[1:] != (NUM_JOINTS, 3):
            raise ValueError(f"joints must be (T, {NUM_JOINTS}, 3), got {self.joints.shape}")

    def __len__(self) -> int:
        return len(self.joints)

    @property
    def duration(self) -> float:
        """Seconds spanned from the first to the last frame."""
        return (len(self.joints) - 1) / self.fps

    @property
    def times(self) -> np.ndarray:
        return self.start + np.arange(len(self.joints)) / self.fps

    def at(self, times: np.ndarray) -> np.ndarray:
        """Joints at arbitrary times (seconds, clip clock), linearly interpolated, clamped at the ends.

        times: (N,) -> (N, 18, 3)
        """
        u = (np.asarray(times, dtype=np.float64) - self.start) * self.fps
        u = np.clip(u, 0.0, len(self.joints) - 1)
        i0 = np.floor(u).astype(int)
        i1 = np.minimum(i0 + 1, len(self.joints) - 1)
        w = (u - i0)[:, None, None]
        return (1.0 - w) * self.joints[i0] + w * self.joints[i1]

    def resample(self, fps: float, start: float | None = None, duration: float | None = None) -> "Motion":
        """Resample to ``fps``, from time ``start`` (fractional seconds allowed) for ``duration`` seconds."""
        start = self.start if start is None else float(start)
        end = self.start + self.duration if duration is None else start + duration
        n = int(np.floor((end - start) * fps + 1e-9)) + 1
        times = start + np.arange(n) / fps
        return Motion(self.at(times), fps, self.name, self.source, start)


# ---------------------------------------------------------------------------------------------
# Loading CMU motion capture (BVH, ASF/AMC) as COCO-18 joint trajectories.
#
# Every supported skeleton is Y up and right handed; in its rest pose (all rotations zero) the
# subject faces +Z with its left side on +X. Joint rotations are composed as 3x3 matrices for all
# frames at once (arrays (T, 3, 3)), so forward kinematics is a loop over joints, not frames.
# ---------------------------------------------------------------------------------------------

MOTION_EXTENSIONS: tuple[str, ...] = (".bvh", ".amc")

# Face points relative to the head centre, in the head's rest frame (x = subject's left, y up,
# z forward), metres. Rough adult anatomy: nose tip 10 cm forward; eyes 3.5 cm to each side,
# a little up and well forward; ears 7.5 cm to each side.
FACE_OFFSETS_M: dict[str, tuple[float, float, float]] = {
    "nose": (0.0, -0.01, 0.10),
    "r_eye": (-0.035, 0.025, 0.08),
    "l_eye": (0.035, 0.025, 0.08),
    "r_ear": (-0.075, 0.0, 0.0),
    "l_ear": (0.075, 0.0, 0.0),
}

FLOOR_PERCENTILE = 2.0  # percentile over frames of the lowest foot point that becomes y = 0

# Length units a BVH may use, in metres (CMU "units" are 1/0.45 inch, see the CMU FAQ).
_CANDIDATE_UNITS_M = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": 0.0254 / 0.45}
_PLAUSIBLE_HEIGHT_M = (1.0, 2.5)
_TYPICAL_HEIGHT_M = 1.7

# Per skeleton family: body joint -> node name (node = BVH joint, "<joint>_end" = its end site,
# for ASF "<bone>" = the bone's far end), plus the head node and the foot nodes used for the floor.
_BODY_JOINTS = ("r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
                "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle")
_SKELETONS: dict[str, dict] = {
    # cgspeed MotionBuilder-friendly: LeftShoulder is the clavicle, LeftArm the shoulder joint.
    "bvh_motionbuilder": dict(
        detect=("LeftUpLeg", "LeftForeArm"),
        joints=("RightArm", "RightForeArm", "RightHand", "LeftArm", "LeftForeArm", "LeftHand",
                "RightUpLeg", "RightLeg", "RightFoot", "LeftUpLeg", "LeftLeg", "LeftFoot"),
        head="Head",
        feet=("LeftFoot", "LeftToeBase", "LeftToeBase_end", "RightFoot", "RightToeBase", "RightToeBase_end")),
    # cgspeed 3dsMax-friendly (subject 131): LeftCollar is the clavicle, LeftShoulder the joint.
    "bvh_3dsmax": dict(
        detect=("LeftHip", "LeftCollar"),
        joints=("RightShoulder", "RightElbow", "RightWrist", "LeftShoulder", "LeftElbow", "LeftWrist",
                "RightHip", "RightKnee", "RightAnkle", "LeftHip", "LeftKnee", "LeftAnkle"),
        head="Head",
        feet=("LeftAnkle", "LeftToe", "LeftToe_end", "RightAnkle", "RightToe", "RightToe_end")),
    # cgspeed DAZ-friendly: ~cm units, no toe joint (the foot's end site is the toe).
    "bvh_daz": dict(
        detect=("lThigh", "lShldr"),
        joints=("rShldr", "rForeArm", "rHand", "lShldr", "lForeArm", "lHand",
                "rThigh", "rShin", "rFoot", "lThigh", "lShin", "lFoot"),
        head="head",
        feet=("lFoot", "lFoot_end", "rFoot", "rFoot_end")),
    # CMU ASF: a node is the far end of a bone, so a joint is named by the bone that ends there.
    "asf": dict(
        detect=("lfemur", "lhumerus"),
        joints=("rclavicle", "rhumerus", "rradius", "lclavicle", "lhumerus", "lradius",
                "rhipjoint", "rfemur", "rtibia", "lhipjoint", "lfemur", "ltibia"),
        head="head",
        feet=("ltibia", "lfoot", "ltoes", "rtibia", "rfoot", "rtoes")),
}


def list_motion_files(root: str | Path) -> list[Path]:
    """All motion files (.bvh, .amc) under ``root``, recursively, sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "motion folder does not exist")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in MOTION_EXTENSIONS and p.is_file())


def load_motion(path: str | Path) -> Motion:
    """Load a BVH or ASF/AMC file as COCO-18 joints: (T, 18, 3) metres, Y up, floor at y = 0.

    BVH: cgspeed MotionBuilder / 3dsMax / DAZ releases of CMU mocap; an added T-pose frame 0
    (all root rotations exactly zero) is dropped. AMC: its subject's ASF is looked up beside it
    (``02/02.asf`` for ``02/02_01.amc``). Frame rate from the file (BVH ``Frame Time``; AMC is
    120 fps, the CMU capture rate, since AMC does not store it).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "motion file does not exist")
    ext = path.suffix.lower()
    if ext == ".bvh":
        rig, fps = _load_bvh(path)
    elif ext == ".amc":
        rig, fps = _load_asf_amc(path)
    else:
        raise InputError(path, f"unknown motion file type {path.suffix!r} (expected .bvh or .amc)")
    joints = _coco18_from_rig(rig, path)
    return Motion(joints, fps, name=path.stem, source=str(path))


# ------------------------------------------------------------------ rotations and rig results

def _axis_rotation(axis: str, radians: np.ndarray) -> np.ndarray:
    """(T,) angles about 'X', 'Y' or 'Z' -> (T, 3, 3) right-handed rotation matrices."""
    with np.errstate(invalid="ignore"):  # inf angles (a damaged file): NaN here, one InputError after the rig
        c, s = np.cos(radians), np.sin(radians)
    R = np.zeros(radians.shape + (3, 3))
    i = "XYZ".index(axis)
    j, k = (i + 1) % 3, (i + 2) % 3
    R[..., i, i] = 1.0
    R[..., j, j] = c
    R[..., k, k] = c
    R[..., j, k] = -s
    R[..., k, j] = s
    return R


def _euler(degrees: np.ndarray, axes: str) -> np.ndarray:
    """(T, k) angles, axes like "ZYX" -> R = R_Z(a0) @ R_Y(a1) @ R_X(a2), shape (T, 3, 3)."""
    degrees = np.atleast_2d(np.asarray(degrees, dtype=np.float64))
    if not axes:
        return np.broadcast_to(np.eye(3), (len(degrees), 3, 3)).copy()
    R = _axis_rotation(axes[0], np.deg2rad(degrees[:, 0]))
    for col in range(1, len(axes)):
        R = R @ _axis_rotation(axes[col], np.deg2rad(degrees[:, col]))
    return R


@dataclass
class _Rig:
    """Forward kinematics result in file units.

    positions: node name -> (T, 3); rotations: node name -> (T, 3, 3) global segment rotation;
    rest: node name -> (3,) position in the rest pose; family: key of _SKELETONS; scale: metres/unit
    (None: detect from the rest pose); head_centre_local: (3,) head centre in the head frame.
    """

    positions: dict
    rotations: dict
    rest: dict
    family: str
    scale: float | None
    head_centre_local: np.ndarray


def _detect_family(names, path) -> str:
    names = set(names)
    for family, spec in _SKELETONS.items():
        if all(n in names for n in spec["detect"] + spec["joints"] + spec["feet"] + (spec["head"],)):
            return family
    raise InputError(path, "unrecognised skeleton (expected CMU MotionBuilder, 3dsMax, DAZ or ASF joint names)")


def _units_from_height(height_units: float, path) -> float:
    """Metres per file unit: the candidate unit whose body height is nearest 1.7 m (log scale).

    Used for BVH, which does not state its units: cgspeed MotionBuilder/3dsMax files use CMU units
    (a ~30-unit-tall body), DAZ files use ~cm (a ~165-unit-tall body).
    """
    best = min(_CANDIDATE_UNITS_M.values(),
               key=lambda s: abs(np.log(max(height_units * s, 1e-9) / _TYPICAL_HEIGHT_M)))
    height = height_units * best
    if not _PLAUSIBLE_HEIGHT_M[0] <= height <= _PLAUSIBLE_HEIGHT_M[1]:
        raise InputError(path, f"cannot tell the length units: rest-pose body height is {height_units:.3g} file units")
    return best


def _coco18_from_rig(rig: _Rig, path) -> np.ndarray:
    spec = _SKELETONS[rig.family]
    head = spec["head"]
    # Body height in the rest pose: head top (head centre + half a head) over the lowest foot point.
    rest_feet = min(rig.rest[n][1] for n in spec["feet"])
    # All supported rigs are Y up (CMU convention): in the rest pose the head must sit above the
    # feet along +Y, not along another axis.
    body_axis = rig.rest[head] - np.mean([rig.rest[n] for n in spec["feet"]], axis=0)
    if np.argmax(np.abs(body_axis)) != 1 or body_axis[1] <= 0:
        raise InputError(path, "skeleton is not Y up in its rest pose (head is not above the feet along +Y)")
    half_head = abs(rig.head_centre_local[1])
    rest_head = rig.rest[head][1] + rig.head_centre_local[1] + half_head
    scale = rig.scale if rig.scale is not None else _units_from_height(rest_head - rest_feet, path)

    T = len(rig.positions[head])
    joints = np.full((T, NUM_JOINTS, 3), np.nan)
    for coco_name, node in zip(_BODY_JOINTS, spec["joints"]):
        joints[:, JOINT_INDEX[coco_name]] = rig.positions[node] * scale
    joints[:, JOINT_INDEX["neck"]] = 0.5 * (joints[:, JOINT_INDEX["r_shoulder"]] + joints[:, JOINT_INDEX["l_shoulder"]])
    R_head = rig.rotations[head]
    centre = (rig.positions[head] + R_head @ rig.head_centre_local) * scale
    for coco_name, offset in FACE_OFFSETS_M.items():
        joints[:, JOINT_INDEX[coco_name]] = centre + R_head @ np.asarray(offset)

    feet_y = np.min(np.stack([rig.positions[n][:, 1] for n in spec["feet"]], axis=1), axis=1) * scale
    floor = np.percentile(feet_y, FLOOR_PERCENTILE)
    joints[..., 1] -= floor
    if not np.isfinite(joints).all():
        raise InputError(path, "motion contains non-finite values")
    return joints


def _parse_floats(text: str) -> np.ndarray | None:
    """Whitespace-separated numbers -> (N,) float64 (C-speed parse); None if any token is not a number."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # numpy warns where it stops at a bad token
        try:
            arr = np.fromstring(text, dtype=np.float64, sep=" ")
        except (DeprecationWarning, ValueError):
            return None
    return arr  # callers check the count, which also catches any silently short parse


# ------------------------------------------------------------------------------------ BVH

_BVH_AXES = {"xrotation": "X", "yrotation": "Y", "zrotation": "Z"}
_BVH_POS = {"xposition": 0, "yposition": 1, "zposition": 2}


@dataclass
class _BvhNode:
    name: str
    parent: int
    offset: np.ndarray
    channels: list
    first_channel: int = 0


def _parse_bvh_hierarchy(tokens: list[str], path) -> tuple[list[_BvhNode], int]:
    """Parse tokens from HIERARCHY up to MOTION; returns (nodes parents-first, index of MOTION)."""
    nodes: list[_BvhNode] = []
    stack: list[int] = []
    n_channels = 0
    i = 1
    pending: _BvhNode | None = None
    try:
        while i < len(tokens):
            tok = tokens[i]
            up = tok.upper()
            if up in ("ROOT", "JOINT"):
                if up == "ROOT" and nodes:
                    raise InputError(path, "malformed BVH: several ROOT joints")
                pending = _BvhNode(tokens[i + 1], stack[-1] if stack else -1, np.zeros(3), [])
                i += 2
            elif up == "END":  # "End Site"
                if not stack:
                    raise InputError(path, "malformed BVH: End Site outside a joint")
                pending = _BvhNode(nodes[stack[-1]].name + "_end", stack[-1], np.zeros(3), [])
                i += 2
            elif tok == "{":
                if pending is None:
                    raise InputError(path, "malformed BVH: unexpected '{'")
                nodes.append(pending)
                stack.append(len(nodes) - 1)
                pending = None
                i += 1
            elif tok == "}":
                if not stack:
                    raise InputError(path, "malformed BVH: unbalanced '}'")
                stack.pop()
                i += 1
            elif up == "OFFSET":
                offset = np.array([float(t) for t in tokens[i + 1:i + 4]])
                if offset.shape != (3,) or not np.isfinite(offset).all():
                    raise InputError(path, f"malformed BVH: bad OFFSET of {nodes[stack[-1]].name}")
                nodes[stack[-1]].offset = offset
                i += 4
            elif up == "CHANNELS":
                k = int(tokens[i + 1])
                chans = [t.lower() for t in tokens[i + 2:i + 2 + k]]
                if len(chans) != k or any(c not in _BVH_AXES and c not in _BVH_POS for c in chans):
                    raise InputError(path, f"malformed BVH: bad CHANNELS line for {nodes[stack[-1]].name}")
                node = nodes[stack[-1]]
                if node.channels:
                    raise InputError(path, f"malformed BVH: several CHANNELS lines for {node.name}")
                node.channels, node.first_channel = chans, n_channels
                n_channels += k
                i += 2 + k
            elif up == "MOTION":
                if stack or not nodes:
                    raise InputError(path, "malformed BVH: hierarchy is not closed before MOTION")
                return nodes, i
            else:
                raise InputError(path, f"malformed BVH: unexpected token {tok!r} in HIERARCHY")
    except (IndexError, ValueError):
        raise InputError(path, "malformed BVH: truncated or non-numeric HIERARCHY") from None
    raise InputError(path, "malformed BVH: no MOTION section")


def _load_bvh(path: Path) -> tuple[_Rig, float]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror}") from None
    head, sep, motion = text.partition("MOTION")
    tokens = head.split()
    if not sep or not tokens or tokens[0].upper() != "HIERARCHY":
        raise InputError(path, "malformed BVH: expected HIERARCHY ... MOTION")
    nodes, _ = _parse_bvh_hierarchy(tokens + ["MOTION"], path)
    n_channels = sum(len(n.channels) for n in nodes)

    lines = motion.splitlines()
    lines = [ln for ln in lines if ln.strip()]
    try:
        if not lines[0].strip().lower().startswith("frames:") or not lines[1].strip().lower().startswith("frame time:"):
            raise ValueError
        n_frames = int(lines[0].split(":", 1)[1])
        frame_time = float(lines[1].split(":", 1)[1])
    except (IndexError, ValueError):
        raise InputError(path, "malformed BVH: bad 'Frames:' / 'Frame Time:' header") from None
    values = _parse_floats(" ".join(lines[2:]))
    if values is None:
        raise InputError(path, "malformed BVH: non-numeric motion data")
    if frame_time <= 0 or n_frames < 1:
        raise InputError(path, f"malformed BVH: Frames {n_frames}, Frame Time {frame_time}")
    if values.size != n_frames * n_channels:
        raise InputError(path, f"malformed BVH: {values.size} motion values, expected Frames {n_frames} x {n_channels} channels")
    data = values.reshape(n_frames, n_channels)

    root = nodes[0]
    root_rot = [root.first_channel + j for j, c in enumerate(root.channels) if c in _BVH_AXES]
    if root_rot:
        # cgspeed's added T-pose frame 0 has exactly zero root rotation; a few files (07_12, 09_10)
        # follow it with more such dead frames (root at the origin). None of it is motion: drop it.
        dead = np.all(data[:, root_rot] == 0.0, axis=1)
        n_dead = int(np.argmin(dead)) if not dead.all() else len(dead) - 1
        data = data[n_dead:]

    family = _detect_family([n.name for n in nodes], path)
    positions, rotations = _bvh_forward(nodes, data)
    rest_positions, _ = _bvh_forward(nodes, np.zeros((1, n_channels)))
    rest = {k: v[0] for k, v in rest_positions.items()}

    head = _SKELETONS[family]["head"]
    children = [n for n in nodes if n.parent >= 0 and nodes[n.parent].name == head]
    end = [n for n in children if n.name == head + "_end"]
    if end:  # head joint sits at the skull base, its end site at the top: centre half-way
        centre = 0.5 * end[0].offset
    elif children:  # DAZ: eye joints; centre at eye height above the head joint
        centre = np.array([0.0, np.mean([n.offset[1] for n in children]), 0.0])
    else:
        raise InputError(path, f"malformed BVH: head joint {head!r} has no end site or children")
    fps = 1.0 / frame_time
    if abs(fps - round(fps)) < 1e-4 * fps:  # 'Frame Time: .0083333' is 1/120 rounded to 7 digits
        fps = float(round(fps))
    return _Rig(positions, rotations, rest, family, None, centre), fps


def _bvh_forward(nodes: list[_BvhNode], data: np.ndarray) -> tuple[dict, dict]:
    """Forward kinematics for (T, C) channel data -> positions (T, 3) and rotations (T, 3, 3) per node."""
    T = len(data)
    pos_list: list[np.ndarray] = []
    rot_list: list[np.ndarray] = []
    for node in nodes:
        local_t = np.broadcast_to(node.offset, (T, 3)).copy()
        rot_axes = "".join(_BVH_AXES[c] for c in node.channels if c in _BVH_AXES)
        rot_cols = [node.first_channel + j for j, c in enumerate(node.channels) if c in _BVH_AXES]
        for j, c in enumerate(node.channels):
            if c in _BVH_POS:  # position channels replace the offset along that axis
                local_t[:, _BVH_POS[c]] = data[:, node.first_channel + j]
        local_R = _euler(data[:, rot_cols], rot_axes) if rot_axes else np.broadcast_to(np.eye(3), (T, 3, 3))
        if node.parent < 0:
            pos_list.append(local_t)
            rot_list.append(np.ascontiguousarray(local_R))
        else:
            Rp = rot_list[node.parent]
            pos_list.append(pos_list[node.parent] + np.einsum("tij,tj->ti", Rp, local_t))
            rot_list.append(Rp @ local_R)
    names = [n.name for n in nodes]
    return dict(zip(names, pos_list)), dict(zip(names, rot_list))


# -------------------------------------------------------------------------------- ASF / AMC

@dataclass
class _AsfBone:
    name: str
    direction: np.ndarray
    length: float
    C: np.ndarray           # (3, 3) rotation of the bone's local axes
    dof: list              # e.g. ["rx", "ry", "rz"], in the order the AMC lists values
    parent: str = ""


@dataclass
class _Asf:
    bones: dict
    order: list            # bone names, parents first; "root" first
    root_order: list       # e.g. ["tx", "ty", "tz", "rx", "ry", "rz"]
    root_position: np.ndarray
    root_C: np.ndarray
    length_unit: float | None  # ':units length' value; CMU: metres = value / length_unit * 0.0254
    degrees: bool


def _find_asf(amc: Path) -> Path:
    """The subject's skeleton beside an AMC: '<subject>.asf' for '<subject>_<clip>.amc', else the only .asf."""
    subject = amc.stem.split("_")[0]
    candidate = amc.with_name(subject + ".asf")
    if candidate.is_file():
        return candidate
    asfs = sorted(amc.parent.glob("*.asf"))
    if len(asfs) == 1:
        return asfs[0]
    raise InputError(amc, f"no skeleton file {candidate.name} beside the AMC")


def _asf_sections(path: Path) -> dict[str, list[str]]:
    """An ASF file -> section name (lower case, without ':') -> its lines, comments dropped."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror}") from None
    lines = [ln.split("#", 1)[0].strip() for ln in lines]
    sections: dict[str, list[str]] = {}
    current = None
    for ln in filter(None, lines):
        if ln.startswith(":"):
            key, _, rest = ln[1:].partition(" ")
            current = key.lower()
            sections[current] = [rest.strip()] if rest.strip() else []
        elif current is not None:
            sections[current].append(ln)
    if "bonedata" not in sections or "hierarchy" not in sections or "root" not in sections:
        raise InputError(path, "malformed ASF: missing :root, :bonedata or :hierarchy")
    return sections


def _asf_units(lines: list[str], path: Path) -> tuple[float | None, bool]:
    """':units' lines -> (length unit or None, angles in degrees)."""
    length_unit, degrees = None, True
    for ln in lines:
        parts = ln.split()
        if len(parts) == 2 and parts[0].lower() == "length":
            try:
                length_unit = float(parts[1])
            except ValueError:
                raise InputError(path, f"malformed ASF: bad ':units length {parts[1]}'") from None
            if not length_unit > 0 or not np.isfinite(length_unit):
                raise InputError(path, f"malformed ASF: ':units length {parts[1]}' must be positive")
        if len(parts) == 2 and parts[0].lower() == "angle":
            degrees = parts[1].lower().startswith("deg")
    return length_unit, degrees


def _asf_rotation(values: list[str], axes: str, to_deg: float) -> np.ndarray:
    """Three angles and an axis order like "XYZ" (X applied first) -> (3, 3) C = Rz @ Ry @ Rx.
    ValueError for anything else."""
    angles = np.array([float(v) for v in values], dtype=np.float64) * to_deg
    axes = axes.upper()
    if angles.shape != (3,) or len(axes) != 3 or set(axes) - set("XYZ") or not np.isfinite(angles).all():
        raise ValueError(f"bad rotation {values} {axes}")
    return _euler(angles[::-1][None], axes[::-1])[0]


def _asf_root(lines: list[str], path: Path, to_deg: float) -> tuple[list[str], np.ndarray, np.ndarray]:
    """':root' lines -> (channel order, rest position (3,), rest rotation (3, 3))."""
    try:
        root = {ln.split()[0].lower(): ln.split()[1:] for ln in lines}
        root_order = [t.lower() for t in root["order"]]
        root_position = np.array([float(v) for v in root.get("position", [0, 0, 0])])
        if root_position.shape != (3,) or not np.isfinite(root_position).all():
            raise ValueError("position")
        root_C = _asf_rotation(root.get("orientation", [0, 0, 0]), root.get("axis", ["XYZ"])[0], to_deg)
    except (KeyError, IndexError, ValueError):
        raise InputError(path, "malformed ASF: bad :root section") from None
    return root_order, root_position, root_C


def _asf_bone(block: dict, path: Path, to_deg: float) -> _AsfBone:
    """One 'begin' ... 'end' block of ':bonedata' (key -> values) -> _AsfBone."""
    try:
        name = block["name"][0]
        axis_vals = block.get("axis", ["0", "0", "0", "XYZ"])
        direction = np.array([float(v) for v in block["direction"][:3]])
        length = float(block["length"][0])
        if direction.shape != (3,) or not np.isfinite(direction).all() or not np.isfinite(length):
            raise ValueError("direction or length")
        return _AsfBone(name=name, direction=direction / max(np.linalg.norm(direction), 1e-12), length=length,
                        C=_asf_rotation(axis_vals[:3], axis_vals[3] if len(axis_vals) > 3 else "XYZ", to_deg),
                        dof=[d.lower() for d in block.get("dof", [])])
    except (KeyError, IndexError, ValueError):
        raise InputError(path, "malformed ASF: bone without valid name/direction/length/axis") from None


def _asf_bones(lines: list[str], path: Path, to_deg: float) -> dict[str, _AsfBone]:
    """':bonedata' lines -> bone name -> _AsfBone."""
    bones: dict[str, _AsfBone] = {}
    block: dict | None = None
    for ln in lines:
        parts = ln.split()
        key = parts[0].lower()
        if key == "begin":
            block = {}
        elif key == "end":
            if block is None:
                raise InputError(path, "malformed ASF: 'end' without 'begin' in :bonedata")
            bone = _asf_bone(block, path, to_deg)
            bones[bone.name] = bone
            block = None
        elif block is not None and key != "limits" and not key.startswith("("):
            block[key] = parts[1:]
    return bones


def _asf_order(lines: list[str], bones: dict[str, _AsfBone], path: Path) -> list[str]:
    """':hierarchy' lines -> bone names, parents first ("root" first); sets each bone's parent."""
    children: dict[str, list[str]] = {}
    for ln in lines:
        parts = ln.split()
        if parts[0].lower() in ("begin", "end"):
            continue
        children.setdefault(parts[0], []).extend(parts[1:])
    order, queue = ["root"], ["root"]
    while queue:
        parent = queue.pop(0)
        for child in children.get(parent, []):
            if child not in bones:
                raise InputError(path, f"malformed ASF: hierarchy names unknown bone {child!r}")
            if child in order:
                raise InputError(path, f"malformed ASF: bone {child!r} appears twice in the hierarchy")
            bones[child].parent = parent
            order.append(child)
            queue.append(child)
    return order


def _parse_asf(path: Path) -> _Asf:
    """An ASF skeleton: its sections, units, root, bones and hierarchy."""
    sections = _asf_sections(path)
    length_unit, degrees = _asf_units(sections.get("units", []), path)
    to_deg = 1.0 if degrees else 180.0 / np.pi
    root_order, root_position, root_C = _asf_root(sections["root"], path, to_deg)
    bones = _asf_bones(sections["bonedata"], path, to_deg)
    order = _asf_order(sections["hierarchy"], bones, path)
    return _Asf(bones, order, root_order, root_position, root_C, length_unit, degrees)


def _parse_amc(path: Path, asf: _Asf) -> dict[str, np.ndarray]:
    """AMC -> bone name -> (T, ndof) values in the order of the ASF dof (root: its 'order')."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror}") from None
    # Group each bone's value strings over all frames, then convert each bone in one go.
    values: dict[str, list[str]] = {}
    n_frames = 0
    for ln in lines:
        ln = ln.strip()
        if not ln or ln[0] in "#:":
            continue
        name, _, rest = ln.partition(" ")
        if not rest and name.isdigit():
            n_frames += 1
            continue
        if n_frames == 0:
            raise InputError(path, f"malformed AMC: data before the first frame number: {ln[:40]!r}")
        values.setdefault(name, []).append(rest)
    if n_frames == 0:
        raise InputError(path, "malformed AMC: no frames")
    out = {}
    expected = {"root": len(asf.root_order)}
    expected.update({b.name: len(b.dof) for b in asf.bones.values() if b.dof})
    for name, k in expected.items():
        rows = values.get(name)
        if rows is None or len(rows) != n_frames:
            raise InputError(path, f"malformed AMC: bone {name!r} appears in {0 if rows is None else len(rows)} of {n_frames} frames")
        text = " ".join(rows)
        arr = _parse_floats(text)
        if arr is None or arr.size != n_frames * k:
            raise InputError(path, f"malformed AMC: bone {name!r} needs {k} numbers in each of its {n_frames} lines")
        out[name] = arr.reshape(n_frames, k)
    return out


def _dof_rotation(dof: list, vals: np.ndarray, to_deg: float) -> np.ndarray:
    """Rotation from AMC values listed in ``dof`` order (first listed = applied first), (T, 3, 3)."""
    rot = [(d[1].upper(), vals[:, j] * to_deg) for j, d in enumerate(dof) if d in ("rx", "ry", "rz")]
    if not rot:
        return np.broadcast_to(np.eye(3), (len(vals), 3, 3))
    axes = "".join(a for a, _ in rot)[::-1]
    return _euler(np.stack([v for _, v in rot][::-1], axis=1), axes)


def _load_asf_amc(path: Path) -> tuple[_Rig, float]:
    asf_path = _find_asf(path)
    asf = _parse_asf(asf_path)
    spec = _SKELETONS["asf"]
    missing = [n for n in spec["joints"] + spec["feet"] + (spec["head"],) if n not in asf.order]
    if missing:  # not in bonedata, or not reached by the hierarchy
        raise InputError(asf_path, f"ASF lacks the CMU bones {missing}")
    amc = _parse_amc(path, asf)
    to_deg = 1.0 if asf.degrees else 180.0 / np.pi

    def forward(amc_values: dict, T: int) -> tuple[dict, dict]:
        root_vals = amc_values["root"]
        trans = np.zeros((T, 3))
        for j, d in enumerate(asf.root_order):
            if d in ("tx", "ty", "tz"):
                trans[:, "xyz".index(d[1])] = root_vals[:, j]
        M = _dof_rotation(asf.root_order, root_vals, to_deg)
        positions = {"root": asf.root_position + trans}
        rotations = {"root": asf.root_C @ M @ asf.root_C.T}
        for name in asf.order[1:]:
            bone = asf.bones[name]
            R = rotations[bone.parent] @ bone.C
            if bone.dof:
                R = R @ _dof_rotation(bone.dof, amc_values[name], to_deg)
            R = R @ bone.C.T
            rotations[name] = R
            positions[name] = positions[bone.parent] + R @ (bone.direction * bone.length)
        return positions, rotations

    T = len(amc["root"])
    positions, rotations = forward(amc, T)
    zeros = {k: np.zeros((1, v.shape[1])) for k, v in amc.items()}
    rest_pos, _ = forward(zeros, 1)
    rest = {k: v[0] for k, v in rest_pos.items()}
    # A node is a bone's far end; the head's centre is half-way along the head bone, so express
    # the centre relative to the head's far end in the head frame (rest frame = world frame).
    head = asf.bones["head"]
    centre = -0.5 * head.direction * head.length
    # CMU FAQ: metres = value * (1 / length_unit) * 0.0254 (':units length 0.45').
    scale = 0.0254 / asf.length_unit if asf.length_unit else None
    return _Rig(positions, rotations, rest, "asf", scale, centre), 120.0
