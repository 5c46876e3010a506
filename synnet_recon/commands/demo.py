"""`synrecon demo [OUT]`: the whole pipeline on built-in data, compared with the truth."""
from __future__ import annotations

from pathlib import Path

import click


@click.command("demo", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("out", required=False, default="synrecon-demo",
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--quick", is_flag=True,
              help="Small setting for CI: 3 cameras x 2.5 s at 320x240 (--rgb-only: 480x360), 3 fused instants "
                   "(options given explicitly still win).")
@click.option("--cameras", "-k", type=int, default=None, help="Number of cameras.  [default: 3]")
@click.option("--seconds", "-s", type=float, default=None,
              help="Length of every camera's recording.  [default: 4, --quick: 2.5]")
@click.option("--width", type=int, default=None, help="Image width in pixels.  [default: 480, --quick: 320 (--rgb-only: 480)]")
@click.option("--height", type=int, default=None, help="Image height in pixels.  [default: 360, --quick: 240 (--rgb-only: 360)]")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed of the scene (camera paths, lenses, offsets, room).")
@click.option("--max-offset", type=float, default=None,
              help="True offsets of cam1.. are drawn from ±this many seconds (align is not told).  "
                   "[default: 1.0, --quick: 0.6]")
@click.option("--instants", type=int, default=None,
              help="Synchronized instants to fuse, evenly spread.  [default: 6, --quick: 3]")
@click.option("--rgb-only", is_flag=True,
              help="No depth sensor: the videos alone -> align -> camera poses for every frame by structure from "
                   "motion (triangulate --poses sfm) -> the person in 3D -> fuse --depth mvs; compared with the "
                   "truth (camera poses per frame, joints, depth). --instants: instants posed and triangulated "
                   "[default: 16, --quick: 8].")
@click.option("--depth-instants", type=int, default=None,
              help="--rgb-only: instants fused with --depth mvs.  [default: 2, --quick: 1]")
@click.option("--estimate-intrinsics", is_flag=True, help="--rgb-only: SfM estimates the lenses (else the true ones).")
@click.option("--layout", type=click.Choice(["hand-held", "arc"]), default=None,
              help="--rgb-only: 'hand-held' (the rgbd demo's cameras at random places; default) or 'arc' (cameras "
                   "--spread degrees apart on an arc, drifting: where SfM and mvs can work).")
@click.option("--spread", type=float, default=None, help="--rgb-only --layout arc: degrees between cameras.  [default: 30]")
@click.option("--quiet", is_flag=True, help="No progress bars; print only the table.")
def command(out, quick, cameras, seconds, width, height, seed, max_offset, instants, rgb_only, depth_instants,
            estimate_intrinsics, layout, spread, quiet):
    """Run the whole pipeline on data built into the package and compare it with the truth.

    Simulates moving cameras (hand-held, following, orbiting) filming a CMU motion-capture dance
    shipped in the package (05_02, expressive arms and pirouettes), each starting at a random, unknown offset; renders their videos and
    depth maps; synchronizes the videos with `synrecon align` (default settings; it prints what
    ran: pose backend, pair methods, whether SynNet did); fuses a few
    synchronized instants with `synrecon fuse` (rendered depth, true intrinsics); and writes a
    screenshot of the fused cloud. Prints true vs estimated offsets (error in frames), the
    confidence, the registration error against the true camera poses and the time per stage.

    \b
    Writes into OUT (default ./synrecon-demo):
      scene/            truth.json, videos/<cam>.mp4, depth/<cam>/, keypoints/<cam>/
      sync.json         estimated offsets (sync_keypoints/: the keypoints align computed)
      recon/            frames/*.ply, fused.ply, registration.json
      fused.png         screenshot of recon/fused.ply
      demo_report.json  the table's numbers

    \b
    Example: synrecon demo              (1-2 minutes on a 2-core machine)
             synrecon demo out/ --quick (about half that)
    """
    if rgb_only:
        return _rgb_only(out, quick, dict(cameras=cameras, seconds=seconds, width=width, height=height,
                                          max_offset=max_offset, instants=instants, depth_instants=depth_instants,
                                          layout=layout, spread_deg=spread),
                         seed, estimate_intrinsics, quiet)
    extra = [o for o, v in (("--depth-instants", depth_instants), ("--estimate-intrinsics", estimate_intrinsics or None),
                            ("--layout", layout), ("--spread", spread)) if v is not None]
    if extra:
        from ..errors import InputError

        raise InputError(extra[0], "only with --rgb-only")
    from ..demo import DemoConfig, format_report, run_demo

    given = {k: v for k, v in dict(cameras=cameras, seconds=seconds, width=width, height=height,
                                   max_offset=max_offset, fuse_instants=instants).items() if v is not None}
    given.update(seed=seed, progress=not quiet)
    config = DemoConfig.quick(**given) if quick else DemoConfig(**given)
    report = run_demo(config, out, echo=None if quiet else click.echo)
    click.echo(format_report(report))
    for w in report.warnings:
        click.echo(f"warning: {w}", err=True)
    cloud = f", cloud: {report.paths['ply']}" if report.fused_points else ""
    shot = f", screenshot: {report.paths['screenshot']}" if report.paths["screenshot"] else ""
    click.echo(f"wrote {out}/ (report: {report.paths['report']}{cloud}{shot})")
    if report.verdict and not report.verdict["passed"]:
        raise SystemExit(1)  # a wrong registration fuse did not flag: the demo failed (said above)


def _rgb_only(out, quick, options, seed, estimate_intrinsics, quiet):
    """`synrecon demo --rgb-only`: ``demo_rgb.run_rgb_demo``; exit 1 when its verdict is FAIL."""
    from ..demo_rgb import RgbDemoConfig, format_rgb_report, run_rgb_demo

    given = {k: v for k, v in options.items() if v is not None}
    given.update(seed=seed, progress=not quiet, estimate_intrinsics=estimate_intrinsics)
    config = RgbDemoConfig.quick(**given) if quick else RgbDemoConfig(**given)
    report = run_rgb_demo(config, out, echo=None if quiet else click.echo)
    click.echo(format_rgb_report(report))
    for w in report.warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(f"wrote {out}/ (report: {report.paths['report']}, skeleton: {report.paths['recon3d']}/skeleton3d.json"
               + (f", cloud: {report.paths['ply']}" if report.paths["ply"] else "") + ")")
    if not report.verdict["passed"]:
        raise SystemExit(1)  # the camera poses missed their targets or one was grossly wrong (said above)
