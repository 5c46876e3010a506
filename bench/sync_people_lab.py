"""A lab filmed by static cameras far apart, several people in view, at a low frame rate (issue 12's
worst row of the independent evaluation: 4 static cameras, two people walking, one seated, 10 fps).

Made from held-out motions only: two walkers doing looped walk cycles of two held-out CMU walks
(similar periodic gaits, 0.9-1.3 s strides) around ovals of the lab floor, a seated bystander who
barely moves, the second walker entering and/or leaving during the windows, 4 tripods around the
lab 4.5-7 m from its centre (one every ~90 deg), the project's detector noise plus per-camera
correlated errors (the real residuals of ``../shared/docs/sync-findings.md``), and the tracker's
identity swaps: wherever the two walkers cross in a view the two tracks exchange people (most of
the time), as a tracker does at a crossing.
"""
from __future__ import annotations

import warnings

import numpy as np

from synnet_recon.keypoints import Keypoints

WALK_PREFIXES = ("07_", "08_")  # CMU subjects 7 and 8: walking (held-out clips of both)
HIP = (8, 11)                   # COCO-18 right / left hip


def walk_motions(motions) -> list:
    """The held-out walks among ``motions`` (at least 2.3 s long)."""
    out = [m for m in motions if (m.name or "").startswith(WALK_PREFIXES) and m.duration >= 2.3]
    if len(out) < 2:
        raise SystemExit("people_lab needs two held-out walk clips (CMU 07_*/08_*) in ../shared/data/mocap")
    return out


def gait_cycle(motion, fps: float = 60.0, stride=(0.8, 1.6)):
    """One stride of ``motion`` as a seamless loop: (pose (L, 18, 3) root-relative, facing +x, L
    frames at ``fps``; speed m/s). The loop's length is the lag with the most similar poses."""
    m = motion.resample(fps)
    joints = m.joints
    hips = joints[:, HIP].mean(axis=1)
    step = hips[-1, [0, 2]] - hips[0, [0, 2]]
    dist = float(np.hypot(*step))
    speed = dist / max(m.duration, 1e-6)
    angle = float(np.arctan2(step[1], step[0]))
    cs, sn = np.cos(angle), np.sin(angle)
    rot = np.array([[cs, 0.0, sn], [0.0, 1.0, 0.0], [-sn, 0.0, cs]])  # walking direction -> +x
    rel = joints - hips[:, None, :] * np.array([1.0, 0.0, 1.0])
    rel = rel @ rot.T
    rel[..., 1] -= np.nanmin(rel[..., 1])
    best = None
    for lag in range(int(stride[0] * fps), min(int(stride[1] * fps), len(rel) - 1) + 1):
        for a in range(0, len(rel) - lag, 3):
            cost = float(np.nanmean(np.linalg.norm(rel[a + lag] - rel[a], axis=-1)))
            if best is None or cost < best[0]:
                best = (cost, a, lag)
    if best is None:
        raise SystemExit(f"walk {motion.name} too short for a stride")
    _, a, lag = best
    return rel[a:a + lag], max(speed, 0.6), fps


def walker(cycle, centre, radii, phase: float, direction: float, pace: float, rng=None):
    """A person walking the loop ``cycle`` (see ``gait_cycle``) around an ellipse of the floor:
    a callable scene times (N,) -> joints (N, 18, 3). ``pace`` scales the gait's speed and rate;
    with ``rng`` the pace also drifts slowly (+-5-8 %, 15-30 s periods), as people's does."""
    pose, speed, fps = cycle
    radii = np.asarray(radii, dtype=np.float64)
    lap = float(np.pi * (3 * radii.sum() - np.sqrt((3 * radii[0] + radii[1]) * (radii[0] + 3 * radii[1]))))
    period = float(rng.uniform(15.0, 30.0)) if rng is not None else 1.0
    wobble = float(rng.uniform(0.05, 0.08)) * period / (2 * np.pi) if rng is not None else 0.0
    start = float(rng.uniform(0, 2 * np.pi)) if rng is not None else 0.0

    def joints(t):
        t = np.asarray(t, dtype=np.float64)
        s = pace * (t + wobble * np.sin(2 * np.pi * t / period + start))  # the walker's own clock
        u = phase + direction * 2 * np.pi * speed * s / lap
        x = centre[0] + radii[0] * np.cos(u)
        z = centre[1] + radii[1] * np.sin(u)
        tangent = direction * np.stack([-radii[0] * np.sin(u), radii[1] * np.cos(u)], axis=-1)
        heading = np.arctan2(tangent[:, 1], tangent[:, 0])
        k = np.floor((s * fps) % len(pose)).astype(int)
        rel = pose[k]  # (N, 18, 3) facing +x
        cs, sn = np.cos(heading)[:, None], np.sin(heading)[:, None]
        out = rel.copy()
        out[..., 0] = cs * rel[..., 0] - sn * rel[..., 2]
        out[..., 2] = sn * rel[..., 0] + cs * rel[..., 2]
        out[..., 0] += x[:, None]
        out[..., 2] += z[:, None]
        return out

    return joints


def seated(motions, rng, position):
    """A bystander who barely moves: a held-out pose, lowered by 0.45 m (seated), swaying 1 cm."""
    other = motions[int(rng.integers(len(motions)))]
    pose = other.joints[int(rng.integers(len(other.joints)))].copy()
    base = pose - np.array([pose[list(HIP)].mean(axis=0)[0], 0.0, pose[list(HIP)].mean(axis=0)[2]])
    base[:, 1] -= np.nanmin(base[:, 1])
    base[[8, 11, 9, 12, 10, 13], 1] = np.maximum(base[[8, 11, 9, 12, 10, 13], 1], 0.0)
    base[:, 1] -= np.where(base[:, 1] > 0.5, 0.45, 0.0)
    base += np.array([position[0], 0.0, position[1]])
    phase = rng.uniform(0, 2 * np.pi, 3)

    def joints(t):
        t = np.asarray(t, dtype=np.float64)
        sway = 0.01 * np.stack([np.sin(2 * np.pi * f * t + p) for f, p in zip((0.13, 0.21, 0.17), phase)], axis=-1)
        return base[None] + sway[:, None, :]

    return joints


def lab_cameras(rng, n: int = 4, config=None):
    """``n`` tripods around the lab centre (origin), 4.5-7 m away, about 360/n deg apart, 1.8-2.6 m
    high, aimed near the centre: (K (n, 3, 3), image sizes (n, 2), world-to-camera (n, 4, 4))."""
    from synnet_recon.synth.camera import CameraPathConfig, look_at, random_intrinsics_array

    config = config or CameraPathConfig(width=1280, height=720, hfov_deg=(70.0, 90.0))
    K, size = random_intrinsics_array(rng, n, config)
    az = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(n) / n + rng.uniform(-0.3, 0.3, n)
    r = rng.uniform(4.5, 7.0, n)
    pos = np.stack([r * np.cos(az), rng.uniform(1.8, 2.6, n), r * np.sin(az)], axis=1)
    aim = np.stack([rng.uniform(-0.4, 0.4, n), rng.uniform(0.7, 1.1, n), rng.uniform(-0.4, 0.4, n)], axis=1)
    R = look_at(pos, aim)
    w2c = np.tile(np.eye(4), (n, 1, 1))
    w2c[:, :3, :3] = R
    w2c[:, :3, 3] = -np.einsum("nij,nj->ni", R, pos)
    return K, size, w2c


def people_of_scene(motions, rng, seconds: float, circuit: bool = False):
    """The scene's people as callables scene time -> joints: [walker 1, walker 2, seated], and the
    second walker's presence interval (s, scene clock) (entering and/or leaving). ``circuit``: both
    walkers on the same oval in the same direction, 0.35-0.65 of a lap apart (the scene nearly
    repeats every half lap with the walkers exchanged: a periodic scene)."""
    walks = walk_motions(motions)
    pick = rng.choice(len(walks), 2, replace=False)
    cycles = [gait_cycle(walks[int(k)]) for k in pick]
    centre = (rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3))
    radii = rng.uniform([1.8, 1.0], [2.6, 1.6])
    phase = rng.uniform(0, 2 * np.pi)
    pace = rng.uniform(0.9, 1.1)
    w1 = walker(cycles[0], centre, radii, phase, 1.0, pace / cycles[0][1], rng)
    if circuit:  # the same speed (m/s) for both: the second keeps its distance behind the first
        w2 = walker(cycles[1], centre, radii, phase - 2 * np.pi * rng.uniform(0.35, 0.65), 1.0,
                    pace * rng.uniform(0.98, 1.02) / cycles[1][1], rng)
    else:
        w2 = walker(cycles[1], (rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5)), rng.uniform([1.2, 0.8], [2.2, 1.4]),
                    rng.uniform(0, 2 * np.pi), float(rng.choice([-1.0, 1.0])), rng.uniform(0.9, 1.1) / cycles[1][1],
                    rng)
    angle = rng.uniform(0, 2 * np.pi)
    sit = seated(motions, rng, 3.2 * np.array([np.cos(angle), np.sin(angle)]))
    kind = rng.integers(3)  # 0: enters, 1: leaves, 2: enters and leaves
    enter = rng.uniform(0.1, 0.35) * seconds if kind != 1 else -np.inf
    leave = rng.uniform(0.65, 0.9) * seconds if kind != 0 else np.inf
    return [w1, w2, sit], (float(enter), float(leave))


def _swap_at_crossings(xy, conf, rng, p: float = 0.7):
    """Tracks 0 and 1 (two walkers in one view) exchanged from each frame where they cross in the
    image (hip centres closer than 0.5 body heights) on, with probability ``p`` per crossing.
    Returns (xy, conf, swap frame indices)."""
    from synnet_recon.synth.noise import body_size_px

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames where a walker is not seen: NaN
        hips = np.nanmean(xy[:2, :, list(HIP)], axis=2)  # (2, T, 2)
        size = np.nanmean(np.stack([body_size_px(xy[0]), body_size_px(xy[1])]), axis=0)
    with np.errstate(invalid="ignore"):
        close = np.linalg.norm(hips[0] - hips[1], axis=-1) < 0.5 * size
    starts = np.flatnonzero(close & ~np.r_[False, close[:-1]])
    swaps = [int(s) for s in starts if rng.random() < p]
    xy, conf = xy.copy(), conf.copy()
    for s in swaps:
        xy[[0, 1], s:], conf[[0, 1], s:] = xy[[1, 0], s:], conf[[1, 0], s:]
    return xy, conf, swaps


def film_lab(people, presence, K, size, w2c, times, rng, noise: float = 1.0):
    """Every camera films the people at scene ``times[k]`` (s): per camera a list of Keypoints
    [track 0, track 1, seated] (the walkers' tracks swapped at crossings) and the swaps' frames."""
    from synnet_recon.synth.camera import project
    from synnet_recon.synth.conditions import correlated_detector_errors
    from synnet_recon.synth.noise import DetectorNoise, apply_detector_noise

    views, swaps = [], []
    for k in range(len(K)):
        t = np.asarray(times[k], dtype=np.float64)
        xys, confs = [], []
        for n, person in enumerate(people):
            clean, depth = project(person(t), K[k], w2c[k])
            xy, conf = apply_detector_noise(clean, depth, tuple(size[k]), DetectorNoise(level=noise), rng)
            xy, conf = correlated_detector_errors(xy, conf, tuple(size[k]), rng, level=noise, times=t)
            if n == 1:
                gone = (t < presence[0]) | (t > presence[1])
                xy[gone], conf[gone] = np.nan, 0.0
            xys.append(xy)
            confs.append(conf)
        xy, conf, s = _swap_at_crossings(np.stack(xys), np.stack(confs), rng)
        local = t - t[0]
        views.append([Keypoints(xy[n], conf[n], local, tuple(int(v) for v in size[k])) for n in range(len(people))])
        swaps.append(s)
    return views, swaps


def lab_scene(motions, rng, cameras: int = 4, seconds: float = 18.0, max_offset: float = 4.0, fps: float = 10.0,
              synchronized: bool = False, circuit: bool = False):
    """One lab scene: (per-camera track lists, truth offsets (cameras,) s with cam0 = 0, info)."""
    from synnet_recon.synth.scene import sample_offsets

    offsets = np.zeros(cameras) if synchronized else sample_offsets(cameras, max_offset, 2 * max_offset, rng)
    people, presence = people_of_scene(motions, rng, seconds + 2 * max_offset, circuit)
    start = max_offset + 0.05  # scene time of cam0's first frame (the second walker's interval is on this clock)
    local = np.arange(int(np.floor(seconds * fps)) + 1) / fps
    times = [start + offsets[k] + local for k in range(cameras)]
    K, size, w2c = lab_cameras(rng, cameras)
    views, swaps = film_lab(people, presence, K, size, w2c, times, rng)
    info = {"presence_s": [presence[0] - start, presence[1] - start], "swaps": swaps,
            "walkers": "one circuit" if circuit else "two ovals"}
    return views, offsets, info


def people_lab_trials(n, rng, motions, trial_cls, tmpdir, condition: str = "people_lab_10fps", seconds: float = 18.0,
                      max_offset: float = 4.0, fps: float = 10.0, synchronized: bool = False):
    """``n`` lab scenes written as OpenPose folders (every track, person_id = the tracker's id; the
    walkers on one circuit in even trials, on two ovals in odd ones), as
    ``trial_cls`` (bench_sync_real.Trial) under ``tmpdir(condition)``."""
    from synnet_recon.io.openpose import write_openpose_folder

    tmp = tmpdir(condition)
    for i in range(n):
        views, offsets, info = lab_scene(motions, rng, seconds=seconds, max_offset=max_offset, fps=fps,
                                         synchronized=synchronized, circuit=i % 2 == 0)
        folders = []
        for k, tracks in enumerate(views):
            folder = tmp / f"t{i}" / f"cam{k}"
            write_openpose_folder(folder, tracks, f"cam{k}")
            folders.append(str(folder))
        yield trial_cls(condition, i, folders, [float(o) for o in offsets], fps=fps, search=max_offset, info=info)


def cli_run(seeds, seconds: float = 60.0, fps: float = 10.0, synchronized: bool = True, max_offset: float = 4.0,
            extra=()) -> list[dict]:
    """``synrecon align`` (the CLI, as a user runs it: ``python -m synnet_recon.cli align cam0 .. cam3
    --fps 10``) on long lab scenes, one per seed: offsets (s) against the truth, confidences,
    wall and CPU seconds of the command."""
    import json
    import os
    import resource
    import subprocess
    import sys
    import tempfile
    import time
    from pathlib import Path

    from bench_sync_real import REPO, heldout_motions

    from synnet_recon.io.openpose import write_openpose_folder

    motions = heldout_motions(2.3)
    out = []
    for seed in seeds:
        rng = np.random.default_rng([seed, 16])
        views, truth, info = lab_scene(motions, rng, seconds=seconds, fps=fps, max_offset=max_offset,
                                       synchronized=synchronized, circuit=seed % 2 == 0)
        with tempfile.TemporaryDirectory(prefix="people_lab_cli_") as tmp:
            folders = [str(write_openpose_folder(Path(tmp) / f"cam{k}", v, f"cam{k}")) for k, v in enumerate(views)]
            sync = Path(tmp) / "sync.json"
            cmd = [sys.executable, "-m", "synnet_recon.cli", "align", *folders, "--fps", str(fps), "--out", str(sync),
                   "--quiet", *extra]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=os.environ.copy())
            wall = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            row = {"seed": seed, "seconds": seconds, "truth": [float(v) for v in truth], "wall_s": wall,
                   "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
                   "load_1min": os.getloadavg()[0], "swaps": info["swaps"], "presence_s": info["presence_s"],
                   "rc": proc.returncode}
            if proc.returncode == 0 and sync.is_file():
                data = json.loads(sync.read_text())
                row["videos"] = [{"name": v["name"], "offset_seconds": v["offset_seconds"],
                                  "confidence": v["confidence"]} for v in data["videos"]]
                row["pairs"] = [{k: p.get(k) for k in ("a", "b", "offset_seconds", "confidence", "reason", "verify")}
                                for p in data.get("pairs", [])]
            else:
                row["error"] = (proc.stderr or proc.stdout)[-400:]
        out.append(row)
        print(json.dumps({k: row.get(k) for k in ("seed", "truth", "videos", "wall_s", "cpu_s", "load_1min", "error")}),
              flush=True)
    return out


def main(argv=None):
    import argparse
    import json
    from pathlib import Path

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--offsets", action="store_true", help="offsets up to +-4 s (default: synchronized inputs)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    rows = cli_run([int(s) for s in args.seeds.split(",")], args.seconds, synchronized=not args.offsets)
    args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
