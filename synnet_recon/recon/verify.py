"""Verify, or flag: is a view placed right? Two independent checks, both required.

1. The person: at a synchronized instant the joints are the same 3D points in every view. The
   view's joint centres (lifted with its depth, ``person.lift_joints``), moved by the candidate
   pose, must land on the reference view's: median distance <= ``max_joint_error`` over at least
   ``min_joints`` joints both views know.
2. The static background: the view's background points, moved into the reference camera, must
   agree with what that camera measured (``register.visibility_agreement``: seen where it sees a
   surface, never in the free space in front of one), and the ICP overlap must be sane. A
   background of parallel planes only (a floor) does not pin the pose by its depth; with the fine
   check on it is left to the fine check and the pinning test, which see its texture
   (``fine_pins_planes``).

3. The turn about the person: a rotation about the person's own vertical axis (with the
   translation that keeps the person in place) moves the joints little (the body is thin about
   that axis: 17.7 degrees left the median joint 3.8 cm off on an open floor), and leaves a floor,
   which fills many views, on itself. The background points it does move off their surface (by
   at least ``turn_lever`` metres per radian: far from the person, on surfaces not facing up or
   down) must agree with the reference's depth as a right pose's do (``min_turn_visibility``), and
   there must be enough of them for the background to pin that turn at all. On noisy depth its
   tolerance adds both depths' noise and no evidence is taken at a depth edge of either map (a
   sensor's flying pixels at a box's silhouette read as free space: ``noise_aware_turn``).

4. The turn is pinned: the background (both views' points, each in the other camera, at a fine
   tolerance) must prefer the pose to the same pose turned by 1 and 2 degrees either way about
   the person's vertical axis, by a paired test (``turn_pinned``: z >= ``min_pin_z``). A pose
   turned a few degrees from the truth fails it (a turned pose agrees better), and so does one
   whose background does not tell such turns apart (cameras 120 degrees apart sharing mostly a
   floor: there the truth itself was not pinned, and poses 5 degrees off passed every other check).
   On a depth sensor's noisy maps (``fine.depth_noise`` reads it from each map) the test's tolerance
   adds both depths' noise at the point, isolated holes take their neighbours' depth, and the colour
   points sit on their local surface (``Photo.steadied``): else the noise, not the pose, decides
   which points agree (Kinect-like depth: right poses refused at z 1.4-3.9).

5. The fine check (``recon/fine.py``), last: both views' background points, each in the other
   camera, aligned densely (point-to-plane against its depth map and intensity against its image,
   at their pixels): the alignment must not move the pose by more than 1 cm or 0.25 degree (else
   its result is checked in the pose's place, ``anchored``), and one step of it must pull the camera
   back from a 1.5 cm slide along its least certain direction (a floor and one untextured wall leave
   a slide along the wall free: the coarse checks passed a pose 3.0 cm off there on the default demo).

A room's symmetry can fool the background (a turn of 90 or 180 degrees fits a box room almost as
well as the truth) but not the labelled joints; a mistaken person (a left/right swap, a bystander)
can fool the joints but not the background. Anything that fails is flagged, with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..skeleton import JOINT_INDEX
from .fine import FineConfig, FinePair, depth_noise, fine_check
from .joint_icp import turn_about
from .person import JOINT_DEPTH_OFFSET
from .register import filled_holes, joint_error, visibility_agreement

J_NECK, J_R_HIP, J_L_HIP = JOINT_INDEX["neck"], JOINT_INDEX["r_hip"], JOINT_INDEX["l_hip"]


@dataclass
class VerifyConfig:
    """Thresholds of the two checks (metres unless said)."""

    max_joint_error: float = 0.05   # median distance (m) of the moved joints to the reference's (right poses
    #                                 measured 2-5 cm; 7 cm let a 2.8 degree / 19 cm slide on an open floor pass)
    min_joints: int = 5             # joints both views see (not hidden in either)
    occlusion_margin: float = 0.06  # a joint farther than its skin offset + this behind the other view's
    #                                 depth at its pixel is hidden there (its own body, or the scene)
    require_joints: bool = True     # False: a view without the person may pass on the background alone
    #                                 (scenes without people; a symmetric room can then fool it)
    min_visibility: float = 0.8     # background points seen / (seen + in free space)
    min_seen: int = 50              # background points that must be seen
    visibility_tolerance: float = 0.1
    min_overlap: float = 0.1        # ICP fitness (fraction of background points matched) at least
    max_rmse: float = 1.0           # ICP inlier RMSE at most, in registration voxels
    min_normal_spread: float = 0.01  # background that pins all 6 DoF (not parallel planes only)
    turn_lever: float = 1.0         # m/rad: background points a turn about the person's vertical moves off their
    #                                 surface by >= this (1 m/rad = 1.7 cm per degree) are the ones that pin it
    min_turn_visibility: float = 0.95  # of those, seen / (seen + in free space) at least (right poses on the
    #                                 rendered grid: 1.000; the open floor's wrong 17.7 degree pose: 0.78)
    min_turn_seen: int = 50         # of those, seen at least (else the turn is not pinned: flagged)
    pin_turns_deg: tuple[float, ...] = (1.0, 2.0)  # the pinning test's turns about the person (each way)
    pin_tolerance: float = 0.03     # its agreement tolerance (m, + 1 % of the depth)
    min_pin_z: float = 4.0          # the paired test's z against every turn at least (neighbouring points are
    #                                 not independent, so more than the 3 a test of independent points would take)
    pin_colour: bool = True         # the pinning test also counts the background points whose colour matches the
    #                                 other camera's image where they land (a tiled floor pins turns by its texture)
    colour_tolerance: float = 0.12  # mean |RGB difference| (0-1) of a matching colour
    colour_points: int = 20000      # background points per view for the colour part (deterministic sample)
    noise_aware: bool = True        # the pinning test's tolerance grows with both depths' own noise (``fine.depth_noise``:
    #                                 sigma(1/z) z^2, in quadrature, times ``noise_band``); kept at the fixed tolerance
    #                                 on depth whose noise is under 1 mm at 2 m (renders: identical states)
    noise_band: float = 2.5         # the noise's multiple added (a point of a right pose lies within it)
    pin_graded: bool = False        # with the noise added, the pinning test's points graded by their depth residual
    #                                 (``agreement_states``: 1 - (r / tolerance)^2 on the surface), not 0/1. Off: on
    #                                 Kinect-like depth it lifted right poses' z by 0.1-3.5 but the held-out ok count
    #                                 stayed 75/96 (+1 on one seed, -1 on the unseen one; docs/benchmarks.md, session 9)
    noise_aware_turn: bool = True   # the turn check's visibility too (its 10 cm + 3 % tolerance, the noise added,
    #                                 no evidence at depth edges of either map)
    fine_pins_turn: bool = True     # with the fine check on, too few points for the turn check (min_turn_seen)
    #                                 leave the turn to the fine check's pull (wide grid at 120 deg: 8 right poses
    #                                 refused by the count, 44-46 points; with this 36/36 ok, all right; default demo
    #                                 9 of 12 views accepted, all right, instead of 4)
    fine_pins_planes: bool = True   # with the fine check on, a background of parallel planes only (min_normal_spread)
    #                                 is left to the fine check's pull and the pinning test, which see the texture:
    #                                 the depth alone cannot pin a slide or turn along a floor, its tiles can (an open
    #                                 floor 120 deg apart at 1.6 m shares only the floor: 12 right poses, 0.01-0.27 deg /
    #                                 0.04-0.7 cm, refused by the spread; a textureless plane still fails the pull)
    fine_pins_weak_turn: bool = True   # with the fine check on, a pinning test that prefers this pose to its turns
    #                                 but weakly (0 <= z < min_pin_z) leaves the turn to the fine check's pull, as
    #                                 too few turn points do (``fine_pins_turn``); a turn preferred (z < 0) is flagged.
    #                                 Kinect-like held-out seeds 0/3/7/11/19: 102 -> 118 of 120 instants ok, fresh
    #                                 seeds 23/29 37 -> 47 of 48 (the little-texture room 100 deg apart), 0 wrong
    #                                 unflagged; planted wrong poses passed 3 -> 4 of 612 (a 1.5 cm slide; session 14)
    fine: FineConfig = field(default_factory=FineConfig)  # the fine check (``recon/fine.py``), last, when the
    #                                 others pass: the default demo accepted a view 3.0 cm off that they all passed


@dataclass
class ViewCheck:
    """How well a candidate pose of a view agrees with the reference view; ``reason`` says why a
    view failed (None when ok)."""

    transform: np.ndarray
    method: str                     # the hypothesis it came from: track | joints | stereo | features | fpfh
    fitness: float
    inlier_rmse: float
    joint_error: float              # metres, inf when unknown
    joints: int
    visibility: float
    seen: int
    ok: bool
    reason: str | None
    turn_visibility: float = 0.0    # the turn check's agreement (points that pin a turn about the person)
    turn_seen: int = 0
    pin_z: float = float("inf")     # the pinning test's z (inf: not run)
    fine_moved: float = float("nan")  # how far the fine alignment moved the camera (m; NaN: not run)
    fine_pull: float = float("nan")   # the fine pinning test's pull (NaN: not run)
    fine_turned_deg: float = float("nan")  # how far the fine alignment turned it (degrees; NaN: not run)
    # the fine alignment's pose when the fine check failed because it moved the pose (None otherwise):
    # ``anchored`` checks it in its place
    fine_transform: np.ndarray | None = field(default=None, repr=False)
    coarse_ok: bool = False          # every check but the fine one passed (True too when ok)
    # failed only because the background does not pin it (the turn tests, the fine pinning test):
    # its joints and background agree; its own motion to a verified instant may confirm it
    # (``fuse.confirmed_over_time``)
    unpinned: bool = False
    # the fine alignment's pose when the check passed (None otherwise): within ``max_shift`` and
    # ``max_turn_deg`` of ``transform``, and the pose the fine pinning test held; ``anchored`` places
    # a verified view there
    fine_optimum: np.ndarray | None = field(default=None, repr=False)
    # (M, 2) source, target indices of the registration clouds matched at ``transform`` by the ICP
    # that gave it (the pose graph's information matrix reuses them), None when not known
    correspondences: np.ndarray | None = field(default=None, repr=False)

    @property
    def score(self) -> float:
        """Higher is better: background agreement, minus the joints' disagreement (not fitness alone)."""
        joints = min(self.joint_error / 0.05, 4.0) if self.joints else 4.0
        return self.visibility + 0.5 * self.fitness - 0.5 * joints


def check_view(transform: np.ndarray, method: str, fitness: float, inlier_rmse: float, source_joints: np.ndarray,
               target_joints: np.ndarray, source_points: np.ndarray, source_depth: np.ndarray, source_K: np.ndarray,
               target_depth: np.ndarray, target_K: np.ndarray, spread: float, voxel: float,
               config: VerifyConfig, source_normals: np.ndarray | None = None,
               target_points: np.ndarray | None = None, target_normals: np.ndarray | None = None,
               photos: tuple[Photo, Photo] | None = None, fine: FinePair | None = None) -> ViewCheck:
    """Both checks for a view's candidate pose ``transform`` (4, 4) source camera -> reference camera.

    source_joints, target_joints: (18, 3) joint centres in each camera (NaN = unknown);
    source_points: (N, 3) the source view's background (registration cloud) in its camera;
    source/target depth (H, W) and K (3, 3): what each camera measured (joints hidden behind
    something in the other view are left out of the joint check); spread: the
    source's ``normal_spread``; voxel: the registration voxel; source_normals: (N, 3) unit normals
    of source_points (estimated within 2 voxels when None); target_points, target_normals: the
    reference view's background and normals, for the turn check the other way round; photos: the
    source's and the reference's ``Photo`` for the pinning test's colour part (``pin_colour``);
    fine: both views for the fine check (``recon/fine.py``; None or ``config.fine.enabled`` False: not
    run), run last, only when every other check passes."""
    fine_on = fine is not None and config.fine.enabled  # the fine check runs (last)
    err, n = joint_error(transform, source_joints, target_joints, (source_depth, source_K, target_depth, target_K),
                         JOINT_DEPTH_OFFSET + config.occlusion_margin)
    vis, seen = visibility_agreement(source_points, transform, target_depth, target_K, config.visibility_tolerance)
    noises = depth_noises(source_depth, target_depth, fine, config)
    turn_vis, turn_seen = turn_agreement(transform, source_points, source_normals, source_depth, source_K,
                                         target_joints, target_depth, target_K, voxel, config, target_points,
                                         target_normals, noises if config.noise_aware_turn else None)
    pin = float("inf")
    if target_points is not None and len(target_points) and config.pin_turns_deg:
        pin = turn_pinned(transform, source_points, source_depth, source_K, target_points, target_depth, target_K,
                          target_joints, config.pin_turns_deg, config.pin_tolerance,
                          photos if config.pin_colour else None, config.colour_tolerance, noises,
                          config.pin_graded)
    reason = None
    if n < config.min_joints and config.require_joints:
        reason = f"the person's joints are seen in both views only {n} times (need {config.min_joints})"
    elif n >= config.min_joints and err > config.max_joint_error:
        reason = f"joints disagree by {100 * err:.1f} cm (median; at most {100 * config.max_joint_error:g})"
    elif spread < config.min_normal_spread and not (config.fine_pins_planes and fine_on):
        reason = "background of parallel planes only: its pose is not pinned"
    elif seen < config.min_seen or vis < config.min_visibility:
        reason = f"background inconsistent: {100 * vis:.0f} % of {seen} seen points agree (need " \
                 f"{100 * config.min_visibility:.0f} %)"
    elif fitness < config.min_overlap or inlier_rmse > config.max_rmse * voxel:
        reason = f"background overlap too small (fitness {fitness:.2f}, rmse {100 * inlier_rmse:.1f} cm)"
    unpinned = reason is None   # the joints and the background agree: what follows tests whether they pin it
    if reason is None:
        if turn_seen < config.min_turn_seen and not (config.fine_pins_turn and fine_on):
            reason = f"a turn about the person's vertical axis is not pinned: only {turn_seen} background points " \
                     f"it would move are seen (need {config.min_turn_seen})"
        elif turn_seen >= config.min_turn_seen and turn_vis < config.min_turn_visibility:
            reason = f"turned about the person: {100 * turn_vis:.0f} % of {turn_seen} background points far from " \
                     f"the person agree (need {100 * config.min_turn_visibility:.0f} %)"
            unpinned = False        # evidence that it is turned, not a lack of evidence
        elif pin < config.min_pin_z and not (config.fine_pins_weak_turn and fine_on and pin >= 0):
            reason = f"a turn about the person is not pinned: the background prefers this pose to it turned by " \
                     f"{'/'.join(f'{d:g}' for d in config.pin_turns_deg)} degrees only at z {pin:.1f} " \
                     f"(need {config.min_pin_z:g})"
    moved = pull = turned = float("nan")
    refined = optimum = None
    coarse_ok = reason is None
    if reason is None and fine_on:
        result, reason = fine_check(np.asarray(transform, dtype=np.float64), fine, config.fine)
        moved, pull, turned = result.moved, result.pull, result.turned_deg
        if reason is not None and (moved > config.fine.max_shift or result.turned_deg > config.fine.max_turn_deg):
            refined = result.transform
        unpinned = reason is not None and refined is None and result.residuals >= config.fine.min_points
        optimum = result.transform if reason is None else None
    unpinned = unpinned and reason is not None
    return ViewCheck(np.asarray(transform, dtype=np.float64), method, float(fitness), float(inlier_rmse), err, n,
                     vis, seen, reason is None, reason, float(turn_vis), int(turn_seen), pin, moved, pull, turned,
                     refined, coarse_ok, unpinned=unpinned, fine_optimum=optimum)


def turn_agreement(transform: np.ndarray, source_points: np.ndarray, source_normals: np.ndarray | None,
                   source_depth: np.ndarray, source_K: np.ndarray, target_joints: np.ndarray,
                   target_depth: np.ndarray, target_K: np.ndarray, voxel: float, config: VerifyConfig,
                   target_points: np.ndarray | None = None, target_normals: np.ndarray | None = None,
                   noise: tuple[float, float] | None = None) -> tuple[float, int]:
    """The turn check: the background points that pin a turn about the person (``turn_pinning``),
    moved into the other camera, against what it measured (``visibility_agreement``), both ways
    when the target's background is given: a turn one way hides the source's far points behind the
    reference's surfaces (occluded: no evidence), the target's then land in the free space of the
    source's view. Returns (the smaller agreement, the smaller count of seen points). noise:
    (source, target) ``depth_noises`` (None: ``register.visibility_agreement``'s fixed tolerance)."""
    if source_normals is None:
        source_normals = estimate_normals(source_points, 2 * voxel)
    pins = turn_pinning(source_points, source_normals, transform, target_joints, config.turn_lever)
    out = [visibility_agreement(source_points[pins], transform, target_depth, target_K, config.visibility_tolerance,
                                noise, (source_depth, source_K))]
    if target_points is not None and len(target_points):
        if target_normals is None:
            target_normals = estimate_normals(target_points, 2 * voxel)
        inverse = np.linalg.inv(transform)
        moved = target_joints @ inverse[:3, :3].T + inverse[:3, 3]   # the person's axis in the source camera
        pins = turn_pinning(target_points, target_normals, inverse, moved, config.turn_lever)
        out.append(visibility_agreement(target_points[pins], inverse, source_depth, source_K,
                                        config.visibility_tolerance, None if noise is None else noise[::-1],
                                        (target_depth, target_K)))
    return min(v for v, _ in out), min(n for _, n in out)


def depth_noises(source_depth: np.ndarray, target_depth: np.ndarray, fine: FinePair | None,
                 config: VerifyConfig) -> tuple[float, float] | None:
    """(source, target) depth noise for the pinning test's tolerance: ``noise_band`` times each
    map's ``fine.depth_noise`` (sigma(1/z), 1/m; read once per view by the fine pair when there is
    one), or None (the fixed tolerance) when ``noise_aware`` is off or both maps' noise is under
    1 mm at 2 m, i.e. 2.5e-4 (exact renders read ~1e-5: their states stay identical)."""
    if not config.noise_aware:
        return None
    if fine is not None and fine.source.noise_below(2.5e-4) and fine.target.noise_below(2.5e-4):
        return None  # the same decision as below, from a quarter of the pixels on exact depth
    noises = (fine.source.noise, fine.target.noise) if fine is not None else \
        (depth_noise(source_depth), depth_noise(target_depth))
    if max(noises) * 4.0 < 1e-3:
        return None
    return config.noise_band * noises[0], config.noise_band * noises[1]


def agreement_states(points: np.ndarray, T: np.ndarray, depth: np.ndarray, K: np.ndarray, tolerance: float,
                     free_penalty: float = 2.0, noise: tuple[float, float] | None = None,
                     graded: bool = False) -> np.ndarray:
    """(N,) per point of points (N, 3) moved by T into a camera (depth (H, W), K): 1 where it lies
    on the measured surface (within ``tolerance`` + 1 % of the depth), -free_penalty where it lies
    in the free space in front of it, 0 where there is no evidence (outside, occluded, no depth).
    noise: (the points' own map's, this camera's) noise in 1/z (``depth_noises``): the tolerance
    is then that one and the two depths' noise at the point (n z^2) in quadrature; graded (with
    noise only): a point on the surface scores 1 - (r / tolerance)^2 for its depth residual r instead
    of 1 (a truncated Gaussian log-likelihood: on noisy depth a 1-degree turn moves a point by less
    than the band, which a 0/1 state hardly sees, while its residual's square grows)."""
    return _surface_states(points, T, depth, K, tolerance, free_penalty, noise, graded)[0]


def _surface_states(points: np.ndarray, T: np.ndarray, depth: np.ndarray, K: np.ndarray, tolerance: float,
                    free_penalty: float = 2.0, noise: tuple[float, float] | None = None,
                    graded: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``agreement_states`` and the pixel (u, v) (N,) each point lands on (meaningful where it is
    in front of the camera)."""
    p = points @ T[:3, :3].T + T[:3, 3]
    out = np.zeros(len(points))
    z = p[:, 2]
    front = z > 0.05
    zs = np.where(front, z, 1.0)
    u = np.round(K[0, 0] * p[:, 0] / zs + K[0, 2]).astype(np.int64)
    v = np.round(K[1, 1] * p[:, 1] / zs + K[1, 2]).astype(np.int64)
    h, w = depth.shape
    inside = front & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    d = depth[v[inside], u[inside]]
    zi = z[inside]
    if noise is not None:   # a sensor's isolated holes: the point's evidence should not hinge on them
        d = filled_holes(depth, u[inside], v[inside], d)
    tol = tolerance + 0.01 * d
    if noise is not None:
        own, there = noise[0] * points[inside, 2] ** 2, noise[1] * d * d
        tol = np.sqrt(tol * tol + own * own + there * there)
    on = 1.0 - ((zi - d) / tol) ** 2 if graded and noise is not None else 1.0
    out[inside] = np.where(d > 0, np.where(np.abs(zi - d) < tol, on, np.where(zi < d - tol, -free_penalty, 0.0)),
                           0.0)
    return out, u, v


def turn_pinned(transform: np.ndarray, source_points: np.ndarray, source_depth: np.ndarray, source_K: np.ndarray,
                target_points: np.ndarray, target_depth: np.ndarray, target_K: np.ndarray, target_joints: np.ndarray,
                turn_deg: float | tuple[float, ...], tolerance: float, photos: tuple[Photo, Photo] | None = None,
                colour_tolerance: float = 0.12, noise: tuple[float, float] | None = None,
                graded: bool = False) -> float:
    """How surely the background prefers ``transform`` to it turned by +-``turn_deg`` (one angle or
    several) about the person's vertical axis (``turn_axis``): a paired test over both views'
    background points (``agreement_states`` in the other camera at a fine ``tolerance``; with
    ``photos``, the source's and the reference's, also ``colour_states`` of their points), the
    smallest z of the turns: sum of per-point differences / sqrt(sum of their squares). Small or
    negative: a turned pose agrees as well or better (the turn is not pinned, or the pose is turned).
    The pose's own states are computed once for every turn. noise: (source, target) depth noise
    (``depth_noises``; None: the fixed tolerance); graded: the states graded by the depth residual
    (``agreement_states``; with noise only)."""
    up, centre = turn_axis(transform, target_joints)
    there = None if noise is None else noise[::-1]   # the target's points into the source camera
    if photos is not None and noise is not None:     # their points along their rays from the local surface
        photos = (photos[0].steadied(source_depth, source_K, noise[0]),
                  photos[1].steadied(target_depth, target_K, noise[1]))

    def states(T):
        inverse = np.linalg.inv(T)
        out = [agreement_states(source_points, T, target_depth, target_K, tolerance, noise=noise, graded=graded),
               agreement_states(target_points, inverse, source_depth, source_K, tolerance, noise=there, graded=graded)]
        if photos is not None:
            mine, theirs = photos
            out += [colour_states(mine, T, theirs.image, target_depth, target_K, tolerance, colour_tolerance, noise,
                                  graded),
                    colour_states(theirs, inverse, mine.image, source_depth, source_K, tolerance, colour_tolerance,
                                  there, graded)]
        return np.concatenate(out)

    here = states(transform)
    return min(paired_z(here, states(turn_about(up, centre, sign * deg) @ transform))
               for deg in np.atleast_1d(turn_deg) for sign in (-1.0, 1.0))


@dataclass
class Photo:
    """A view's background for the colour part of the pinning test: points (N, 3) in its camera,
    their colours (N, 3) in [0, 1], and the view's image (H, W, 3) uint8 RGB."""

    points: np.ndarray
    colours: np.ndarray
    image: np.ndarray
    _steady: dict = field(default_factory=dict, repr=False, compare=False)

    def steadied(self, depth: np.ndarray, K: np.ndarray, noise: float, radius: int = 3) -> Photo:
        """This photo with each point moved along its ray to the mean depth of the measured pixels
        within ``radius`` of its own (its depth map (H, W) and K) that lie within noise z^2 + 2 cm
        of it (the local surface; ``noise``: the map's banded sigma(1/z), ``depth_noises``). On noisy
        depth a point's own depth is off by its noise (6 cm at 6 m on a Kinect-like map, in 1/8 px
        disparity steps); that error moves where it lands in another camera 30-120 degrees away by
        as much as a 1-degree turn does. Made once per map (cached)."""
        key = (id(depth), float(noise), radius)
        if key not in self._steady:
            self._steady[key] = Photo(steady_points(self.points, depth, K, noise, radius), self.colours, self.image)
        return self._steady[key]


def steady_points(points: np.ndarray, depth: np.ndarray, K: np.ndarray, noise: float, radius: int = 3) -> np.ndarray:
    """``Photo.steadied``'s points (N, 3) of a camera (depth (H, W), K)."""
    z = points[:, 2]
    ok = z > 0.05
    zs = np.where(ok, z, 1.0)
    h, w = depth.shape
    u = np.clip(np.round(K[0, 0] * points[:, 0] / zs + K[0, 2]).astype(np.int64), 0, w - 1)
    v = np.clip(np.round(K[1, 1] * points[:, 1] / zs + K[1, 2]).astype(np.int64), 0, h - 1)
    band = noise * zs * zs + 0.02
    total, count = np.zeros(len(points)), np.zeros(len(points))
    for dv in range(-radius, radius + 1):
        vv = np.clip(v + dv, 0, h - 1)
        for du in range(-radius, radius + 1):
            d = depth[vv, np.clip(u + du, 0, w - 1)]
            near = (d > 0) & (np.abs(d - zs) < band)
            total += np.where(near, d, 0.0)
            count += near
    scale = np.where(ok & (count > 0), total / np.maximum(count, 1) / zs, 1.0)
    return points * scale[:, None]


def colour_states(photo: Photo, T: np.ndarray, image: np.ndarray, depth: np.ndarray, K: np.ndarray,
                  tolerance: float, colour_tolerance: float, noise: tuple[float, float] | None = None,
                  graded: bool = False) -> np.ndarray:
    """(N,) per point of ``photo`` moved by T into another camera (its image (H, W, 3), depth
    (H, W), K): 1 where it lies on the measured surface (``agreement_states``) and its colour
    matches the image's there (mean |RGB difference| < ``colour_tolerance``), else 0. A turn that
    leaves a floor on its plane moves its texture (a tiled floor's grout lines) off the image's."""
    states, u, v = _surface_states(photo.points, T, depth, K, tolerance, noise=noise, graded=graded)
    on = np.flatnonzero(states > 0)  # on the surface: in front and inside, so (u, v) is a pixel there
    seen = image[v[on], u[on]].astype(np.float64) / 255.0
    out = np.zeros(len(states))
    out[on] = (np.abs(seen - photo.colours[on]).mean(axis=1) < colour_tolerance) * states[on]
    return out


def paired_z(better: np.ndarray, other: np.ndarray) -> float:
    """How surely per-point agreements ``better`` (N,) beat ``other`` (N,), the same points:
    sum of the differences / sqrt(sum of their squares + 1) (a paired sign-type test)."""
    d = better - other
    return float(d.sum() / np.sqrt((d ** 2).sum() + 1.0))


def turn_axis(transform: np.ndarray, target_joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit direction, point) of the person's vertical axis in the target camera: ``person_axis`` of
    the joints, or the camera's -y through the joints' median (the optical axis's point at 3 m when
    no joint is known)."""
    axis = person_axis(target_joints)
    if axis is not None:
        return axis
    centre = column_medians(target_joints) if np.isfinite(target_joints).any() else np.array([0, 0, 3.0])
    return np.array([0.0, -1.0, 0.0]), np.nan_to_num(centre, nan=0.0)


def column_medians(a: np.ndarray) -> np.ndarray:
    """``np.nanmedian(a, axis=0)`` of a small (N, D) array (the same values, NaN for a column
    without any), without nanmedian's masked-array path (2 ms a call on (18, 3): most of the checks'
    time)."""
    return np.array([np.median(c[np.isfinite(c)]) if np.isfinite(c).any() else np.nan for c in np.asarray(a).T])


def person_axis(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The person's vertical axis from (18, 3) joints (NaN = unknown): (unit direction from the
    hips' middle to the neck, the joints' median point), or None when neck or hips are unknown."""
    neck, hips = joints[J_NECK], joints[[J_R_HIP, J_L_HIP]]
    if not (np.isfinite(neck).all() and np.isfinite(hips).all()):
        return None
    up = neck - hips.mean(axis=0)
    norm = np.linalg.norm(up)
    if norm < 1e-6:
        return None
    return up / norm, column_medians(joints)


def turn_pinning(points: np.ndarray, normals: np.ndarray, transform: np.ndarray, target_joints: np.ndarray,
                 lever: float) -> np.ndarray:
    """(N,) bool: the source points (N, 3) with normals (N, 3) that a small rotation about the
    person's vertical axis (in the target camera: ``person_axis`` of target_joints; the camera's
    -y through the joints' median, or the optical axis's point at 3 m, when unknown) moves off
    their surface by at least ``lever`` metres per radian, once placed by ``transform``."""
    R, t = transform[:3, :3], transform[:3, 3]
    p, n = points @ R.T + t, normals @ R.T
    axis = person_axis(target_joints)
    if axis is None:
        centre = column_medians(target_joints) if np.isfinite(target_joints).any() else np.array([0, 0, 3.0])
        axis = (np.array([0.0, -1.0, 0.0]), np.nan_to_num(centre, nan=0.0))
    up, centre = axis
    # the floor's normal, where the background has one near the person's axis (a dancer leans: a
    # tilted axis would make the far floor, which a turn about the vertical leaves in place, count)
    cos = n @ up
    level = np.abs(cos) > np.cos(np.radians(25.0))
    if level.sum() >= 20:
        floor = (n[level] * np.sign(cos[level])[:, None]).sum(axis=0)
        up = floor / np.linalg.norm(floor)
    return np.abs(np.einsum("ij,ij->i", n, np.cross(up, p - centre))) >= lever


def estimate_normals(points: np.ndarray, radius: float) -> np.ndarray:
    """(N, 3) unit normals of points (N, 3) from their neighbours within ``radius`` (Open3D)."""
    from ..o3d import o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, dtype=np.float64)))
    cloud.estimate_normals(o3d.geometry.KDTreeSearchParamRadius(radius=radius))
    return np.asarray(cloud.normals)


