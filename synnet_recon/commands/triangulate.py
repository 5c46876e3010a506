"""`synrecon triangulate`: a thin CLI over ``synnet_recon.recon.stage_triangulate.main``."""
from __future__ import annotations

import json
import math

import click

from ..errors import InputError
from ..fileio import check_output_path


@click.command("triangulate")
@click.argument("sync", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder (skeleton3d.json, triangulate.json, skeleton.trc); written atomically.")
@click.option("--calibration", type=click.Path(dir_okay=False),
              help="Pose2Sim or caliscope calibration TOML: intrinsics, distortion and camera poses "
                   "(cameras matched to videos by name or by the number in it: cam_01 <-> cam01_json).")
@click.option("--poses-from-people", is_flag=True,
              help="With --calibration: take only its intrinsics and pose the cameras from the people.")
@click.option("--poses", type=click.Choice(["people", "sfm", "auto"]), default=None,
              help="Camera poses: 'people' (static cameras, all instants pooled; the default without "
                   "--calibration), 'sfm' (every frame from the scene by structure from motion, people masked: "
                   "MOVING cameras; needs the videos, about 1 CPU s a frame at 320x240; intrinsics estimated "
                   "when none are given) or 'auto' (sfm, and the people where the background does not connect "
                   "two videos). With --calibration: only its intrinsics are used.")
@click.option("--smooth", is_flag=True, help="With --poses sfm/auto: smooth each camera's poses over time.")
@click.option("--over-time/--no-over-time", "over_time", default=True, show_default=True,
              help="Refine the joints over all instants at once (smooth motion, constant bone lengths, robust "
                   "loss; about 5-10 CPU ms an instant). Better in every case measured (detector-like noise, "
                   "fast motion, 3-60 fps, dropped instants, partial bodies): two views 3.8 -> 3.3 cm mean, three "
                   "30 deg apart 3.7 -> 3.0 cm (bench/bench_over_time.py). Off: each instant alone.")
@click.option("--intrinsics", help="Intrinsics without poses: COLMAP cameras.txt, JSON {video: {fx,fy,cx,cy,width,"
                                   "height}} or truth.json. Default: intrinsics.json / cameras.txt / truth.json "
                                   "beside sync.json.")
@click.option("--fov", "fov_deg", type=float,
              help="Field of view of every camera in degrees, across the image's width as stored (phones' main "
                   "camera: about 65-75 in landscape; a portrait video's width is its short side: about 40-47).")
@click.option("--person-height", type=float, help="Height of the main person in metres: the scale when the cameras "
                                                  "are posed from the people (default: 1.70 assumed, and said so).")
@click.option("--frames", metavar="START:END:STEP", help="Rows of sync.json's frames table to use.")
@click.option("--allow-unverified", is_flag=True,
              help="Also triangulate with cameras whose pose is flagged (marked in the outputs).")
@click.option("--trc", is_flag=True, help="Also write skeleton.trc (OpenSim / Pose2Sim marker trajectories, metres).")
@click.option("--align-keypoints-only", is_flag=True,
              help="Poses from the people: use align's keypoints as they are. By default a video whose keypoints "
                   "skip frames (align poses at 30 fps) is posed again on every frame of up to 600 synchronized "
                   "frames (about 7 CPU s per 100 frames).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every RANSAC (same seed, same outputs).")
@click.option("--quiet", is_flag=True, help="No progress.")
def command(sync, out_dir, calibration, poses_from_people, poses, smooth, over_time, intrinsics, fov_deg, person_height, frames,
            allow_unverified, trc, align_keypoints_only, seed, quiet):
    """The person in 3D from synchronized videos, without a depth sensor.

    Reads SYNC (sync.json from `synrecon align`) and the 2D keypoints it names for every video.
    Camera poses come from --calibration, else from the people themselves: at the synchronized
    instants their joints are correspondences across the views (static cameras; all instants are
    pooled). Each camera is verified: one whose pose the joints do not pin down (too few or too
    similar poses, two cameras only) is flagged with the reason and not used. The main person's
    joints are then triangulated at every instant (robust DLT, outlier views rejected per joint).
    MOVING cameras: --poses sfm poses every camera at every instant from the scene (structure from
    motion on the videos, people masked; each camera's path checked for jumps) and triangulates
    each instant with its own poses. All instants are then refined together (smooth motion, constant
    bone lengths; --no-over-time: each instant alone).

    Writes OUT/skeleton3d.json (metres, the reference camera's frame), OUT/triangulate.json (per
    camera: ok or the reason, pose, reprojection error, uncertainty, confidence) and, with --trc,
    OUT/skeleton.trc.

    Example: synrecon triangulate sync.json --out recon3d/ --fov 69 --person-height 1.78 --trc
    """
    from ..recon.people_calib import PeopleCalibConf
    from ..recon.stage_triangulate import TriangulateStageConfig, main

    if person_height is not None and not (math.isfinite(person_height) and 0.5 <= person_height <= 2.5):
        raise InputError("--person-height", f"expected metres in [0.5, 2.5], got {person_height:g}")
    if fov_deg is not None and not (math.isfinite(fov_deg) and 1.0 <= fov_deg <= 170.0):
        raise InputError("--fov", f"expected degrees in [1, 170], got {fov_deg:g}")
    if poses_from_people and calibration is None:
        raise InputError("--poses-from-people", "only with --calibration (for its intrinsics)")
    if poses_from_people and poses not in (None, "people"):
        raise InputError("--poses-from-people", f"contradicts --poses {poses}")
    if smooth and poses not in ("sfm", "auto"):
        raise InputError("--smooth", "only with --poses sfm or auto")
    check_output_path(out_dir, "--out")
    config = TriangulateStageConfig(poses=poses,calibration=calibration, intrinsics=intrinsics, fov_deg=fov_deg,
                                    person_height=person_height, frames=frames,
                                    use_calibration_poses=not poses_from_people, allow_unverified=allow_unverified,
                                    trc=trc, progress=not quiet, people=PeopleCalibConf(seed=seed))
    config.scene.smooth = smooth
    config.refine_over_time = over_time
    if align_keypoints_only:
        config.repose_max_frames = 0
    out = main(config, sync, out_dir)
    summary = json.loads((out / "triangulate.json").read_text(encoding="utf-8"))
    for note in summary["warnings"]:
        if note.startswith("--poses auto:"):  # which poses ran: the scene's, or the people's instead
            click.echo(note)
    for name, cam in summary["cameras"].items():
        state = "ok" if cam["ok"] else f"FLAGGED: {cam['reason']}"
        err = cam.get("reprojection_px")
        frames = cam.get("frames")
        posed = "" if frames is None else f", posed at {sum(f['ok'] for f in frames)}/{len(frames)} instants"
        click.echo(f"  {name}: {state}" + (f" (reprojection {err:.1f} px)" if err is not None else "") + posed)
    if summary["triangulated"]:
        click.echo(f"triangulated {summary['instants']} instants over {', '.join(summary['views_used'])} "
                   f"({100 * summary['joints_known']:.0f} % of joints known) into {out}")
    else:
        click.echo(f"nothing triangulated: {summary['reason']}; wrote {out / 'triangulate.json'}")
