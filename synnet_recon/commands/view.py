"""`synrecon view`: browser viewer (viser), Open3D window, or PNG screenshot."""
from __future__ import annotations

import click

from ..errors import InputError


def _check_port_free(port: int, host: str = "127.0.0.1") -> None:
    """InputError when the viewer's port is taken or invalid (viser would quietly move to another)."""
    import socket

    if not 0 < port < 65536:
        raise InputError(f"--port {port}", "not a TCP port (1..65535)")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            raise InputError(f"--port {port}", f"{host}:{port} is in use; pick another port") from None


@click.command("view")
@click.argument("path", type=click.Path())
@click.option("--frame", type=int, help="Instant to show (frames/NNNNNN.ply); default fused.ply.")
@click.option("--screenshot", type=click.Path(dir_okay=False), help="Write a PNG and exit (no display needed).")
@click.option("--port", type=int, default=8080, show_default=True, help="Port of the browser viewer on 127.0.0.1.")
@click.option("--window", is_flag=True, help="Open an Open3D window instead (needs a display).")
def command(path, frame, screenshot, port, window):
    """Look at a fuse output folder or a .ply: in the browser (http://127.0.0.1:PORT, time slider
    over the instants, camera frusta), in an Open3D window (--window), or as a PNG (--screenshot).

    Example: synrecon view recon/ --screenshot recon.png
    """
    from .. import viewer

    if screenshot:
        from pathlib import Path

        from ..fileio import check_output_path

        if Path(screenshot).suffix.lower() != ".png":
            raise InputError(screenshot, "--screenshot writes a PNG: give a .png file name")
        check_output_path(screenshot, "--screenshot", folder=False)
    elif not window:
        _check_port_free(port)
    data = viewer.load_view(path)
    if screenshot:
        used = viewer.screenshot(data, screenshot, frame)
        note = "" if used == "open3d" else " (Open3D offscreen rendering failed: matplotlib scatter instead)"
        click.echo(f"wrote {screenshot}{note}")
        return
    if window:
        viewer.open_window(data, frame)
        return
    browser = viewer.serve(data, port=port)
    click.echo(f"viewer at http://127.0.0.1:{browser.server.get_port()} (Ctrl-C to stop)")
    try:
        browser.server.sleep_forever()
    except KeyboardInterrupt:
        pass
    finally:
        browser.stop()
