"""`synrecon`: the command-line driver. Each command lives in `synnet_recon/commands/<name>.py`
as a click command called ``command``; it is imported only when run, so `--help` stays fast."""
from __future__ import annotations

import importlib
import sys

import click

from .errors import InputError

# name -> one-line summary (shown by `synrecon --help` without importing the command).
COMMANDS = {
    "demo": "Simulate 3 moving cameras, sync them, fuse them, and compare with the truth.",
    "simulate": "Simulate moving cameras filming real motion capture (keypoints, videos, depth, truth).",
    "align": "Synchronize videos or OpenPose keypoint folders; write sync.json.",
    "fuse": "Lift synchronized frames to point clouds, register them and fuse them.",
    "triangulate": "Camera poses from the people (or a calibration), the person's joints in 3D; TRC.",
    "view": "Look at fused point clouds in the browser, a window, or a PNG screenshot.",
    "batch": "Synchronize (and fuse) many recordings on a Dask cluster; resumable.",
    "export": "Export synchronized frames to nerfstudio, COLMAP or Open3D layouts.",
    "train": "Train SynNet on simulated moving-camera pairs from motion capture.",
    "eval": "Evaluate SynNet and baselines with the paper's Accuracy and SynError.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return super().get_command(ctx, name)
        try:
            module = importlib.import_module(f"synnet_recon.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"synnet_recon.commands.{name}":
                return None
            raise
        return module.command

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="synnet-recon")
def cli():
    """synnet-recon: synchronize videos of a moving person filmed by moving cameras
    (SynNet, pose matching), then fuse the synchronized views into 3D point clouds.

    Typical use: `synrecon align a.mp4 b.mp4 --out sync.json`, then
    `synrecon fuse sync.json --out recon/`, then `synrecon view recon/`.
    Run `synrecon demo` to see the whole pipeline on built-in data.
    """


def main(argv=None):
    """Entry point: user mistakes become one line on stderr and exit code 2."""
    try:
        cli.main(args=argv, prog_name="synrecon", standalone_mode=False)
    except InputError as exc:
        click.echo(f"synrecon: error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("synrecon: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(0)


if __name__ == "__main__":
    main()
