"""`synrecon export FORMAT sync.json --recon DIR --out DIR`: hand synchronized frames to other toolkits."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import InputError
from ..fileio import check_output_path
from . import parse_pairs


class _ExportCommand(click.Command):
    """Lists the installed export formats (entry points included) at the end of --help."""

    def format_epilog(self, ctx, formatter):
        from ..exporters import get_exporter, list_exporters

        rows = []
        for name in list_exporters():
            try:
                e = get_exporter(name)
                rows.append((name, e.description + ("" if e.needs_recon else " (--recon optional)")))
            except Exception as exc:  # a broken third-party plugin must not break --help
                rows.append((name, f"(cannot load: {exc.__class__.__name__})"))
        with formatter.section("Formats"):
            formatter.write_dl(rows)
        super().format_epilog(ctx, formatter)


@click.command("export", cls=_ExportCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("format_name", metavar="FORMAT")
@click.argument("sync_json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--recon", "-r", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder of `synrecon fuse` (registration.json, fused.ply): poses and intrinsics.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write; replaced as a whole when the export succeeds.")
@click.option("--depth-dir", "depth_dir", multiple=True, metavar="NAME=PATH",
              help="Depth of video NAME, as fuse reads it (16-bit mm PNG folder, .npy, 16-bit depth video). "
                   "Default: found beside the video (OUT/depth/NAME next to OUT/videos/NAME.mp4).")
@click.option("--intrinsics", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Intrinsics when registration.json has none: COLMAP cameras.txt, JSON per video, or truth.json.")
@click.option("--every", default=1, show_default=True, type=int, help="Keep every n-th synchronized instant.")
@click.option("--image-format", type=click.Choice(["jpg", "png"]), default="jpg", show_default=True)
@click.option("--max-points", default=20_000, show_default=True, type=int,
              help="COLMAP: points3D subsampled from fused.ply (0 = none).")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Exporter-specific setting, e.g. open3d: max_depth=4 voxel_size=0.02.")
def command(format_name, sync_json, recon, out, depth_dir, intrinsics, every, image_format,
            max_points, options):
    """Export synchronized frames, poses and clouds to nerfstudio, COLMAP/OpenMVS or Open3D.

    FORMAT is one of the formats listed below (third-party exporters register through the
    `synnet_recon.exporters` entry point). SYNC_JSON comes from `synrecon align`; --recon is the
    folder written by `synrecon fuse`. The output folder appears complete or not at all.

    Example: synrecon export colmap sync.json --recon recon/ --out colmap_ws/
    """
    from ..exporters import ExportConfig, get_exporter

    exporter = get_exporter(format_name)
    if every < 1:
        raise InputError(None, f"--every must be at least 1, got {every}")
    if max_points < 0:
        raise InputError(None, f"--max-points must not be negative, got {max_points}")
    if intrinsics is not None and not intrinsics.is_file():
        raise InputError(intrinsics, "intrinsics file not found")
    if not sync_json.is_file():
        raise InputError(sync_json, "file not found")
    check_output_path(out, "--out")
    config = ExportConfig(depth_dirs={k: Path(v) for k, v in parse_pairs(depth_dir, "--depth-dir").items()},
                          intrinsics=intrinsics, every=every,
                          image_ext=image_format, max_points=max_points, options=parse_pairs(options, "--option"))
    result = exporter(sync_json, recon, out, config)
    click.echo(f"{exporter.name}: wrote {result}")
