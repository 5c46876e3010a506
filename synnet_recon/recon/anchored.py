"""Person-anchored registration of the views of one synchronized instant.

Each other view is placed onto the reference view from several hypotheses, each refined by ICP on
the static background and checked by ``verify.check_view``:

- ``joints``: robust Kabsch (RANSAC over the joints) between the two views' lifted joint centres:
  the same 3D points in both views at a synchronized instant, so a symmetric room cannot fool it;
- ``joints-fine``: when ``joints`` fails, the joints' Kabsch pose aligned finely (``recon/fine.py``,
  no ICP: at 120 degrees ICP slides from it);
- ``joints-icp`` (off by default, ``AnchorConfig.joint_icp``; when on, only when none of joints, track,
  stereo verifies): the joints' Kabsch pose
  turned about the person's vertical by a few angles, each refined by ICP held by the joints
  (``joint_icp``: background point-to-plane and joints solved together, coarse to fine), the one
  that agrees best with both cameras' depth kept (wide baselines, where plain ICP slides);
  ``joints-swapped`` the same with this view's left and right joints exchanged (detectors swap
  them on people seen from behind);
- ``kept`` (``keep_view``, before the others, only for a pair whose relative pose held still over
  the earlier instants: ``steady``): the pose verified two instants before, checked as it is (no ICP,
  no polish), kept when the fine alignment would hardly move it;
- ``track``: the pose this view had at the previous instant (cameras move smoothly);
- ``stereo``: the stereo depth backend's relative pose, when it gives one;
- ``features``: SIFT matches lifted to 3D with RANSAC (only when none of the above verifies);
- ``fpfh``: FPFH + RANSAC global registration of the backgrounds (last resort).

They are tried in this order; ``track`` and ``stereo`` are skipped when they start within 0.5
degree and 2 cm of a pose that already verified (ICP from there ends at that pose; each try is
an ICP, a coloured ICP and the checks), and ``joints-swapped``, ``features`` and ``fpfh`` when
too few joints are known in both views for the joint check (no pose could verify; they cost
seconds a view). Of those tried, the best by ``ViewCheck.score`` (background agreement and joint
agreement, not fitness alone) wins; it is ok only when it passes both checks, else the view is
flagged with the reason. A view that passed the fine check is placed at that check's optimum
(``AnchorConfig.at_fine_optimum``: the fine alignment's pose, which its pinning test held); without
the fine check the winner is polished (robust ICP at 1 and 1/2 voxel) and kept when it verifies
again. ``anchor_view`` is the ``joints`` hypothesis alone (with its polish when that runs): it
depends on this instant only, so fuse computes it ahead, in worker threads, and hands it to
``place_view``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from ..skeleton import LEFT_RIGHT_SWAP
from .fine import FinePair, align
from .joint_icp import JointICPConfig, joint_icp, sample, turn_about
from .register import (
    JointAlignment,
    RegistrationConfig,
    correspondence_registration,
    feature_correspondences,
    global_registration,
    normal_spread,
    ransac_kabsch,
    refine,
    rotation_error_deg,
    settle,
    translation_error,
)
from .verify import Photo, VerifyConfig, ViewCheck, agreement_states, check_view, paired_z, person_axis


@dataclass
class AnchorConfig:
    """Robust Kabsch over the joints."""

    ransac_threshold: float = 0.12    # metres: a joint is an inlier of a pose within this
    ransac_iterations: int = 200
    min_inliers: int = 4
    coarse_distance: float = 0.0      # metres: a first, wider ICP pass from a joint/feature pose (0 = none;
    #                                   on the demo's rooms wider passes slid to symmetric turns)
    seed: int = 0
    skip_within_deg: float = 0.5      # a hypothesis starting this close (and skip_within_m) to a verified
    skip_within_m: float = 0.02       # pose is not tried: ICP from there ends at that pose
    polish: bool = True               # robust ICP at 1 and 1/2 voxel on the verified pose, kept when it verifies
    #                                   (when the fine check did not run: ``at_fine_optimum`` places it otherwise)
    at_fine_optimum: bool = True      # a view that passed the fine check is placed at that check's optimum (the
    #                                   fine alignment's pose, within 1 cm / 0.25 deg of the verified one, the pose
    #                                   its pinning test held) instead of polished and checked again: as close to
    #                                   the truth on the bench (docs/benchmarks.md, "Session 13 (lead)"), a third
    #                                   of a view's checks less
    joint_icp: JointICPConfig | None = None  # JointICPConfig(): try ``joints-icp`` (off: on the default demo it
    #                                  accepted a view 3.0 cm off; the grid gained 1 of 36 instants)
    keep: bool = True                 # ``kept``: a pair whose relative pose held still over the earlier instants
    keep_within_m: float = 0.002      # (their verified poses within this and keep_within_deg) has that pose checked
    keep_within_deg: float = 0.05     # as it is first (every check, the fine one too), kept when the fine alignment
    #                                   moves it no more than these; else the hypotheses below run as always
    verify: VerifyConfig = field(default_factory=VerifyConfig)


@dataclass
class ViewInputs:
    """What placing one view needs: its registration cloud (background, with normals), joint
    centres (18, 3) in its camera (NaN = unknown), and colour, depth (H, W) and K for image hints."""

    prepared: object
    background: tuple[np.ndarray, np.ndarray]   # (N, 3) points, (N, 3) colours of the background
    joints: np.ndarray
    image: np.ndarray
    depth: np.ndarray
    K: np.ndarray


class _Trials:
    """The hypotheses tried for one view: each refined by ICP and checked (``verify.check_view``)."""

    def __init__(self, source: ViewInputs, target: ViewInputs, registration: RegistrationConfig,
                 config: AnchorConfig):
        self.source, self.target, self.registration, self.config = source, target, registration, config
        cloud, target_cloud = source.prepared.cloud, target.prepared.cloud
        self.points = np.asarray(cloud.points)
        self.normals = np.asarray(cloud.normals) if cloud.has_normals() else None
        self.target_points = np.asarray(target_cloud.points)
        self.target_normals = np.asarray(target_cloud.normals) if target_cloud.has_normals() else None
        self.checks: list[ViewCheck] = []
        self.joints_of: dict[int, np.ndarray] = {}
        fc = config.verify.fine
        self.fine = FinePair((source.image, source.depth, source.K), (target.image, target.depth, target.K),
                             source.background[0], target.background[0], fc) if fc.enabled else None

    # the background's spread and the pinning test's photos are made when a check first needs them
    # (``place_view`` often checks nothing beyond the anchor's hypotheses)
    @cached_property
    def spread(self) -> float:
        return normal_spread(self.source.prepared)

    @cached_property
    def photos(self) -> tuple[Photo, Photo] | None:
        n = self.config.verify.colour_points
        return tuple(Photo(*(sample(x, n) for x in v.background), v.image) for v in (self.source, self.target)) \
            if self.config.verify.pin_colour else None

    def again(self, source: ViewInputs, target: ViewInputs, registration: RegistrationConfig,
              config: AnchorConfig) -> _Trials:
        """Trials of the same views with no checks yet: a copy sharing what this one made of them (the
        fine check's views and samples, the photos: functions of the views alone) when ``source`` and
        ``target`` hold the same arrays and the configs are the same objects, else new trials."""
        same = all(a.prepared is b.prepared and a.background is b.background and a.image is b.image
                   and a.depth is b.depth and a.K is b.K for a, b in ((source, self.source), (target, self.target)))
        if not (same and registration is self.registration and config is self.config):
            return _Trials(source, target, registration, config)
        out = copy.copy(self)
        out.source, out.target, out.checks, out.joints_of = source, target, [], {}
        return out

    def checked(self, T: np.ndarray, method: str, r, joints: np.ndarray, refine: bool = True,
                polishing: bool = True) -> ViewCheck:
        """T checked (``verify.check_view``). When it fails: the fine alignment's pose (``_aligned``)
        is checked in its place (``refine``); when only the fine check failed, the pose polished
        (``polishing``: ``polish``, as a verified pose is) is checked too; the first that passes is kept."""
        s, t = self.source, self.target
        c = check_view(settle(T), method, settle(r.fitness), settle(r.inlier_rmse), joints, t.joints, self.points,
                       s.depth, s.K, t.depth, t.K, self.spread, self.registration.voxel, self.config.verify,
                       self.normals, self.target_points, self.target_normals, self.photos, self.fine)
        c.correspondences = np.asarray(r.correspondence_set)
        self.joints_of[id(c)] = joints
        aligned = self._aligned(c) if refine else None
        if aligned is not None:
            again = self.checked(aligned, method, _evaluate(s.prepared, t.prepared, aligned, self.registration),
                                 joints, refine=False, polishing=False)
            if again.ok:
                return again
        if polishing and c.coarse_ok and not c.ok and self.config.polish:
            # the fine check tolerates 1 cm: ICP at 2 voxels may end 2-3 cm off where the polish
            # (1 and 1/2 voxel) lands within it (default demo, instant 39: 2.5 -> 0.4 cm)
            P, rp = polish(s.prepared, t.prepared, c.transform, self.registration)
            again = self.checked(P, method, rp, joints, refine=refine, polishing=False)
            if again.ok:
                return again
        return c

    def _aligned(self, c: ViewCheck) -> np.ndarray | None:
        """The fine alignment's pose (``recon/fine.py``) of a flagged check: the one its fine check
        found, or, for a pose whose joints agree within ``FineConfig.refine_joint_error`` (not a turn
        of the room: those are metres off), aligned from it; None when not tried or it hardly moved."""
        fc = self.config.verify.fine
        if c.ok or self.fine is None:
            return None
        if c.fine_transform is not None:
            return settle(c.fine_transform)
        if c.joints < self.config.verify.min_joints or not c.joint_error <= fc.refine_joint_error:
            return None
        f = align(c.transform, self.fine, fc)
        return settle(f.transform) if f.residuals >= fc.min_points and f.moved > 0.002 else None

    def attempt(self, method: str, init: np.ndarray | None, joints: np.ndarray | None = None) -> None:
        if init is None:
            return
        coarse = 0.0 if method == "track" else self.config.coarse_distance
        r = refine(self.source.prepared, self.target.prepared, np.asarray(init, dtype=np.float64), self.registration,
                   coarse=coarse)
        self.checks.append(self.checked(r.transformation, method, r, self.source.joints if joints is None else joints))

    def held(self, start) -> ViewCheck:
        """The ``joints-icp`` hypothesis from the joints' Kabsch ``start`` (``held_by_joints``),
        checked; flagged as ambiguous when another turn's result agrees as well."""
        config, registration = self.config, self.registration
        T, z = held_by_joints(self.source, self.target, start, config.joint_icp)
        c = self.checked(T, "joints-icp", _evaluate(self.source.prepared, self.target.prepared, T, registration),
                         self.source.joints)
        if c.ok and z < config.verify.min_pin_z:
            c.ok, c.reason = False, f"ambiguous: ICP held by the joints from another turn ended more than " \
                                    f"{config.joint_icp.distinct_deg:g} degree away, agreeing as well (z {z:.1f}, " \
                                    f"need {config.verify.min_pin_z:g})"
        return c

    def polished(self, best: ViewCheck) -> ViewCheck:
        """``best`` polished (``polish``) and checked again."""
        T, r = polish(self.source.prepared, self.target.prepared, best.transform, self.registration)
        return self.checked(T, best.method, r, self.joints_of[id(best)])


@dataclass
class Anchor:
    """The ``joints`` hypothesis of a view, tried (and, when it verified, polished): it does not
    depend on the other instants, so fuse computes it ahead, in a worker thread."""

    checks: list[ViewCheck]                    # [] (no Kabsch start) or [the joints hypothesis, checked], and
    #                                            when it failed, its Kabsch pose aligned finely (joints-fine)
    joints_of: dict[int, np.ndarray]
    polished: ViewCheck | None = None          # checks[0] polished and checked again (when it verified)
    start: JointAlignment | None = None        # the joints' robust Kabsch (the start of ``joints-icp``)
    trials: _Trials | None = field(default=None, repr=False)   # the trials it made (``place_view`` reuses their
    #                                            fine-check views and photos: the same views)


def anchor_view(source: ViewInputs, target: ViewInputs, registration: RegistrationConfig,
                config: AnchorConfig, kept: np.ndarray | None = None) -> Anchor:
    """The first hypothesis of ``place_view``: robust Kabsch over the joints, refined, checked.
    ``kept``: a pose for the ``kept`` hypothesis (``keep_view``), tried before it on the same trials."""
    trials = _Trials(source, target, registration, config)
    if kept is not None:
        found = keep_view(source, target, registration, config, kept, trials)
        if found is not None:
            return found
        trials.joints_of.clear()  # its check is not among the anchor's
    kabsch = ransac_kabsch(source.joints, target.joints, config.ransac_threshold, config.ransac_iterations,
                           config.seed, config.min_inliers)
    trials.attempt("joints", kabsch.transform)
    polished = trials.polished(trials.checks[0]) if trials.checks and trials.checks[0].ok and config.polish \
        and _final(trials.checks[0], config) is None else None
    if trials.checks and not trials.checks[0].ok and trials.fine is not None:
        # ICP from the joints' pose slides where the views share little background (cameras 120
        # degrees apart: from 3-4 degrees / 14-20 cm to 20-120 cm); the fine alignment from the
        # joints' pose itself lands within 0.2 cm of the truth there (``joints-fine``)
        fc = config.verify.fine
        f = align(kabsch.transform, trials.fine, fc)
        if f.residuals >= fc.min_points:
            T = settle(f.transform)
            trials.checks.append(trials.checked(T, "joints-fine", _evaluate(source.prepared, target.prepared, T,
                                                                              registration), source.joints))
    return Anchor(trials.checks, trials.joints_of, polished, kabsch, trials)


def keep_view(source: ViewInputs, target: ViewInputs, registration: RegistrationConfig, config: AnchorConfig,
              T: np.ndarray, trials: _Trials | None = None) -> Anchor | None:
    """The ``kept`` hypothesis: pose T (4, 4), verified at an earlier instant, checked as it is at
    this one (``verify.check_view``, every check, the fine one too, on this instant's views) -> an
    ``Anchor`` holding that check (already polished: it is not polished again), or None when it
    fails or the fine alignment would move it more than ``keep_within_m`` / ``keep_within_deg``
    (the relative pose changed: the usual hypotheses run instead). ``trials``: the view's ``_Trials``
    when already made (``anchor_view``)."""
    trials = trials or _Trials(source, target, registration, config)
    T = settle(np.asarray(T, dtype=np.float64))
    c = trials.checked(T, "kept", _evaluate(source.prepared, target.prepared, T, registration), source.joints,
                       refine=False, polishing=False)
    if not (c.ok and c.fine_moved <= config.keep_within_m and c.fine_turned_deg <= config.keep_within_deg):
        return None
    return Anchor([c], trials.joints_of, c, trials=trials)


def steady(poses: list[np.ndarray | None], config: AnchorConfig) -> bool:
    """Did a pair's verified relative poses (4, 4) at the earlier instants (None: not verified there)
    hold still: all known and within ``keep_within_m`` and ``keep_within_deg`` of the first?"""
    if not poses or any(T is None for T in poses):
        return False
    return all(rotation_error_deg(poses[0], T) <= config.keep_within_deg
               and translation_error(poses[0], T) <= config.keep_within_m for T in poses[1:])


def place_view(source: ViewInputs, target: ViewInputs, registration: RegistrationConfig, config: AnchorConfig,
               track: np.ndarray | None = None, stereo: np.ndarray | None = None,
               anchor: Anchor | None = None) -> ViewCheck:
    """Place ``source`` onto ``target`` (the reference view): the best checked hypothesis.
    ``anchor``: ``anchor_view`` of the same views, computed ahead (None: computed here)."""
    anchor = anchor_view(source, target, registration, config) if anchor is None else anchor
    trials = anchor.trials.again(source, target, registration, config) if anchor.trials is not None \
        else _Trials(source, target, registration, config)
    trials.checks, trials.joints_of = list(anchor.checks), dict(anchor.joints_of)
    checks, attempt = trials.checks, trials.attempt
    # A hypothesis that starts next to a pose that already verified would end there too (ICP from
    # within its basin): it is not tried (each costs an ICP (a coloured ICP too when on) and the checks, most of
    # fuse's time). One that starts elsewhere still is, and the best score still wins (from the
    # previous instant, ICP may settle closer to the truth than from the joints).
    if not _near_verified(checks, track, config):
        attempt("track", track)
    if not _near_verified(checks, stereo, config):
        attempt("stereo", stereo)
    # The fallbacks cost seconds a view (SIFT and its RANSAC, FPFH and its RANSAC); when too few
    # joints are known in both views for the joint check, no pose can verify: none of them runs
    # (the view is flagged by the joint count either way).
    placeable = _joints_can_verify(source.joints, target.joints, config)
    if placeable and not any(c.ok for c in checks) and config.joint_icp is not None \
            and anchor.start is not None and anchor.start.transform is not None:
        checks.append(trials.held(anchor.start))
    if placeable and not any(c.ok for c in checks):
        # a detector may swap left and right in one view (people seen from behind): the joints
        # relabelled are the same person, and the swap is recorded in the method
        swapped = source.joints[LEFT_RIGHT_SWAP]
        kabsch = ransac_kabsch(swapped, target.joints, config.ransac_threshold, config.ransac_iterations,
                               config.seed, config.min_inliers)
        attempt("joints-swapped", kabsch.transform, swapped)
    if placeable and not any(c.ok for c in checks):
        src, tgt = feature_correspondences(source.image, source.depth, source.K, target.image, target.depth,
                                           target.K)
        attempt("features", correspondence_registration(src, tgt, registration))
    if placeable and not any(c.ok for c in checks):
        attempt("fpfh", global_registration(source.prepared, target.prepared, registration))
    if not checks:
        known = int((np.isfinite(source.joints).all(1) & np.isfinite(target.joints).all(1)).sum())
        return ViewCheck(np.eye(4) if track is None else np.asarray(track, dtype=np.float64), "none", 0.0,
                         float("inf"), float("inf"), 0, 0.0, 0, False,
                         f"the person's joints are known in both views only {known} times (need "
                         f"{config.verify.min_joints}): not placed")
    best = max(checks, key=lambda c: (c.ok, c.score))
    final = _final(best, config)
    if final is not None:
        return final
    if best.ok and config.polish:
        # ICP at 2 voxels is biased where the views share little (it slid 2-8 cm from the true pose
        # on the bench's wide baselines); robust passes at 1 and 1/2 voxel from the verified pose
        # pull it in. Kept only when it passes every check again; never turns a flagged view ok.
        again = anchor.polished if anchor.checks and best is anchor.checks[0] and anchor.polished is not None \
            else trials.polished(best)
        if again.ok:
            return again
    return best


def held_by_joints(source: ViewInputs, target: ViewInputs, kabsch: JointAlignment,
                   config: JointICPConfig) -> tuple[np.ndarray, float]:
    """``joint_icp`` from the joints' Kabsch pose (``kabsch``: a ``JointAlignment``) turned about the
    person's vertical axis by each of ``config.turns_deg`` -> (the (4, 4) result that agrees best
    with both cameras' depth (each view's background sampled, in the other camera), the smallest
    paired z by which it beats a result of another start that ended more than ``config.distinct_deg``
    away: inf when none did). A small z: the background holds two poses degrees apart equally
    well (cameras 120 degrees apart sharing mostly a floor); ``place_view`` flags it below
    ``VerifyConfig.min_pin_z``."""
    from scipy.spatial import cKDTree

    inliers = np.where(kabsch.inliers[:, None], source.joints, np.nan)
    known = np.where(kabsch.inliers[:, None], target.joints, np.nan)
    axis = person_axis(target.joints)
    up = axis[0] if axis is not None else np.array([0.0, -1.0, 0.0])
    centre = np.nanmedian(known, axis=0)
    cloud = target.prepared.cloud
    points, normals = np.asarray(cloud.points), np.asarray(cloud.normals)
    tree = cKDTree(points)
    camera = (target.K, target.depth.shape)
    mine, theirs = sample(source.background[0], config.score_points), sample(target.background[0], config.score_points)
    results = []
    for deg in config.turns_deg:
        T = joint_icp(np.asarray(source.prepared.cloud.points), points, normals, inliers, target.joints,
                      turn_about(up, centre, deg) @ kabsch.transform, camera, config, tree)
        states = np.r_[agreement_states(mine, T, target.depth, target.K, config.score_tolerance, config.free_penalty),
                       agreement_states(theirs, np.linalg.inv(T), source.depth, source.K, config.score_tolerance,
                                        config.free_penalty)]
        results.append((T, states))
    best = max(range(len(results)), key=lambda k: results[k][1].sum())   # the first of equals
    T, states = results[best]
    z = min((paired_z(states, s) for other, s in results if rotation_error_deg(other, T) > config.distinct_deg),
            default=float("inf"))
    return T, z


def _evaluate(source, target, T: np.ndarray, registration: RegistrationConfig):
    """Open3D's evaluation of T at the usual correspondence distance (fitness, RMSE, correspondences)."""
    from ..o3d import o3d

    return o3d.pipelines.registration.evaluate_registration(source.cloud, target.cloud,
                                                            registration.icp_distance * registration.voxel, T)


def polish(source, target, init: np.ndarray, registration: RegistrationConfig):
    """Point-to-plane ICP with a Tukey loss at 1 then 1/2 registration voxel from ``init`` ->
    ((4, 4) transform, Open3D's evaluation at the usual correspondence distance)."""
    from ..o3d import o3d

    reg = o3d.pipelines.registration
    T = np.asarray(init, dtype=np.float64)
    for d in (registration.voxel, registration.voxel / 2):
        r = reg.registration_icp(source.cloud, target.cloud, d, T,
                                 reg.TransformationEstimationPointToPlane(reg.TukeyLoss(k=d / 2)),
                                 reg.ICPConvergenceCriteria(relative_fitness=1e-6, relative_rmse=1e-6,
                                                            max_iteration=registration.icp_iterations))
        if r.fitness > 0:
            T = np.asarray(r.transformation)
    return T, _evaluate(source, target, T, registration)


def _final(check: ViewCheck, config: AnchorConfig) -> ViewCheck | None:
    """A verified ``check`` placed at its fine check's optimum (``at_fine_optimum``), or None (not
    verified, the fine check did not run, or off; and for ``kept``, whose pose stays the one verified
    before, as it is: within 2 mm / 0.05 degree of the optimum by its own test, and still over time)."""
    if not (check.ok and config.at_fine_optimum and check.fine_optimum is not None) or check.method == "kept":
        return None
    return replace(check, transform=settle(check.fine_optimum))


def _joints_can_verify(source: np.ndarray, target: np.ndarray, config: AnchorConfig) -> bool:
    """Can any pose pass the joint check (``verify.check_view``)? It needs ``min_joints`` joints
    known in both views (``source`` (18, 3) as it is or with left and right swapped; NaN = unknown)."""
    if not config.verify.require_joints:
        return True
    s, t = np.isfinite(source).all(1), np.isfinite(target).all(1)
    return max(int((s & t).sum()), int((s[LEFT_RIGHT_SWAP] & t).sum())) >= config.verify.min_joints


def _near_verified(checks: list[ViewCheck], init: np.ndarray | None, config: AnchorConfig) -> bool:
    """Is ``init`` (4, 4) within ``skip_within_deg`` and ``skip_within_m`` of a verified pose?"""
    if init is None:
        return False
    return any(c.ok and rotation_error_deg(c.transform, init) <= config.skip_within_deg
               and translation_error(c.transform, init) <= config.skip_within_m for c in checks)
