"""`synrecon simulate OUT`: moving cameras filming real motion capture, with the truth written down."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import InputError


@click.command("simulate", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--cameras", "-k", default=3, show_default=True, type=int, help="Number of cameras (at least 2).")
@click.option("--seconds", "-s", default=6.0, show_default=True, type=float,
              help="Length of every camera's recording; all cameras record equally long.")
@click.option("--fps", "-f", default=30.0, show_default=True, type=float, help="Frame rate of every camera.")
@click.option("--motion", "-m", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Motion capture clip (BVH or AMC). Default: a CMU dance from ../shared/data, "
                   "else the CMU walk shipped with the package.")
@click.option("--max-offset", default=2.0, show_default=True, type=float,
              help="Start offsets of cam1.. relative to cam0 are drawn uniformly from ±this many seconds "
                   "(sub-frame offsets included).")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed: same seed, same scene.")
@click.option("--width", default=640, show_default=True, type=int, help="Image width in pixels.")
@click.option("--height", default=480, show_default=True, type=int, help="Image height in pixels.")
@click.option("--noise", default=1.0, show_default=True, type=float,
              help="Detector noise level: 0 = exact keypoints, 1 = like a real detector, >1 = harder.")
@click.option("--render", is_flag=True, help="Also render videos (videos/<cam>.mp4) and depth (depth/<cam>/).")
def command(out, cameras, seconds, fps, motion, max_offset, seed, width, height, noise, render):
    """Simulate hand-held and wearable cameras filming a person from motion capture.

    Each camera orbits, follows or stands near the person at 2-8 m, with head-bob, hand shake and
    roll, and starts recording at a random, known offset. Writes OUT/truth.json (offsets, camera
    poses and intrinsics per frame) and OUT/keypoints/<cam>/ (OpenPose COCO-18 JSON with simulated
    detector noise); with --render also videos and depth maps. The output appears complete or not
    at all.

    Example: synrecon simulate out/scene --cameras 3 --seconds 6 --seed 1
    """
    if cameras < 2:
        raise InputError(None, f"--cameras must be at least 2, got {cameras}")
    if not seconds > 0:
        raise InputError(None, f"--seconds must be positive, got {seconds:g}")
    if not fps > 0:
        raise InputError(None, f"--fps must be positive, got {fps:g}")
    if seconds * fps < 2:
        raise InputError(None, f"--seconds {seconds:g} at --fps {fps:g} gives fewer than 2 frames")
    if max_offset < 0:
        raise InputError(None, f"--max-offset must not be negative, got {max_offset:g}")
    if width < 16 or height < 16:
        raise InputError(None, f"--width and --height must be at least 16 pixels, got {width}x{height}")
    if noise < 0:
        raise InputError(None, f"--noise must not be negative, got {noise:g}")
    if motion is not None and not motion.is_file():
        raise InputError(motion, "motion file not found")

    from ..synth.scene import SceneConfig, simulate_scene, write_scene

    config = SceneConfig(cameras=cameras, seconds=seconds, fps=fps, max_offset=max_offset,
                         motion=str(motion) if motion is not None else None, seed=seed,
                         width=width, height=height, noise=noise)
    scene = simulate_scene(config)
    write_scene(scene, out, render=render)
    click.echo(f"motion: {scene.motion_path} ({scene.motion.duration:.1f} s)")
    click.echo(f"{len(scene.cameras)} cameras, {config.num_frames} frames each at {fps:g} fps, "
               f"{width}x{height}, noise level {noise:g}")
    for cam in scene.cameras:
        hits = float((cam.keypoints.conf > 0).mean())
        click.echo(f"  {cam.name}: offset {cam.offset_seconds:+.3f} s ({cam.offset_seconds * fps:+.2f} frames), "
                   f"hfov {cam.intrinsics.hfov_deg:.0f} deg, {100 * hits:.0f}% joints detected")
    click.echo(f"wrote {out}")
