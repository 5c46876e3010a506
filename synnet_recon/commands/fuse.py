"""`synrecon fuse`: a thin CLI over ``synnet_recon.recon.fuse.fuse``."""
from __future__ import annotations

import click

from ..errors import InputError
from ..fileio import check_output_path
from . import parse_pairs


@click.command("fuse")
@click.argument("sync", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder (frames/, person/, fused.ply, skeleton3d.json, registration.json, mesh.ply); written atomically.")
@click.option("--depth", default="rgbd", show_default=True,
              help="Depth backend: rgbd (given depth), stereo (two views), mono (--mono-model), mvs (multi-view "
                   "stereo with camera poses from --calibration or from the people), or a plugin.")
@click.option("--depth-dir", multiple=True, metavar="NAME=DIR",
              help="Depth of video NAME: 16-bit PNG folder (mm), .npy folder/file, or 16-bit depth video. "
                   "Default: OUT/depth/NAME beside OUT/videos/NAME.mp4.")
@click.option("--keypoints", multiple=True, metavar="NAME=DIR",
              help="Keypoints of video NAME: an OpenPose folder or a keypoints .npz (default: where sync.json "
                   "says they are). Registration hints; the stereo scale from the person's height.")
@click.option("--mono-model", type=click.Path(dir_okay=False), help="TorchScript or TinyDepthNet state dict.")
@click.option("--scale", type=float, help="Stereo: baseline in metres. Mono: factor on the predicted depth.")
@click.option("--intrinsics", help="COLMAP cameras.txt, JSON {video: {fx,fy,cx,cy,width,height}}, truth.json, "
                                   "or 'auto' (pycolmap SfM). Default: truth.json/intrinsics.json/cameras.txt "
                                   "found beside the inputs, else auto.")
@click.option("--calibration", type=click.Path(dir_okay=False),
              help="mvs: camera poses (Pose2Sim / caliscope TOML). Default: static cameras posed from the people.")
@click.option("--poses", type=click.Choice(["people", "sfm"]),
              help="mvs: camera poses from the people (static cameras; the default without --calibration) or "
                   "from structure from motion on the static scene (recon.sfm; moving cameras too).")
@click.option("--person-height", type=float, help="mvs: the person's height in metres, the scale of the poses "
                                                  "from the people (default: assumed 1.7).")
@click.option("--frames", "frames", metavar="START:END:STEP", help="Rows of sync.json's frames to fuse.")
@click.option("--voxel", type=float, default=0.02, show_default=True, help="Voxel size of fused.ply (metres).")
@click.option("--registration-voxel", type=float, default=0.08, show_default=True,
              help="Voxel size the views are registered at (metres).")
@click.option("--mesh", is_flag=True, help="Also integrate a TSDF of the static background and write mesh.ply.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every RANSAC (same seed, same outputs).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(sync, out_dir, depth, depth_dir, keypoints, mono_model, scale, intrinsics, calibration, poses,
            person_height, frames, voxel, registration_voxel, mesh, seed, quiet):
    """Lift synchronized frames to point clouds, split the person from the static background, place
    each instant's views on the reference video by the person's joints and the background (verified,
    or flagged with the reason and never fused), optimize all poses over time in a pose graph, and
    write the background (fused.ply), each instant (frames/, person/) and the skeleton (skeleton3d.json).

    Example: synrecon fuse sync.json --out recon/ --frames 0:60:2 --mesh
    """
    from ..recon.fuse import FuseConfig, fuse
    from ..recon.register import RegistrationConfig

    if not (0 < voxel < float("inf") and 0 < registration_voxel < float("inf")):
        raise InputError("--voxel", "voxel sizes must be positive, finite numbers")
    if scale is not None and not 0 < scale < float("inf"):
        raise InputError("--scale", f"must be a positive, finite number, got {scale:g}")
    if person_height is not None and not 0.5 < person_height < 2.8:
        raise InputError("--person-height", f"must be a height in metres (0.5 to 2.8), got {person_height:g}")
    check_output_path(out_dir, "--out")
    config = FuseConfig(depth=depth, depth_dirs=parse_pairs(depth_dir, "--depth-dir"),
                        keypoint_dirs=parse_pairs(keypoints, "--keypoints"), mono_model=mono_model, scale=scale,
                        intrinsics=intrinsics, calibration=calibration,
                        poses=poses, person_height=person_height, frames=frames, voxel=voxel, mesh=mesh, progress=not quiet, seed=seed,
                        registration=RegistrationConfig(voxel=registration_voxel))
    result = fuse(sync, config, out_dir)
    click.echo(fuse_summary(result))


def fuse_summary(result) -> str:
    """One line: how many instants were fused whole, partially (which views flagged how often), not at all."""
    n, whole, fused = len(result.frames), result.num_ok, result.num_fused
    parts = [f"{whole} with every view"]
    if fused > whole:
        flagged = ", ".join(f"{v} flagged at {c}" for v, c in sorted(result.flagged_views().items()))
        parts.append(f"{fused - whole} partially ({flagged}; only verified views fused)")
    if n > fused:
        parts.append(f"{n - fused} not fused")
    return (f"fused {fused} of {n} instants ({'; '.join(parts)}) into {result.out_dir} "
            f"({result.fused_points} points, {result.seconds:.1f} s)")
