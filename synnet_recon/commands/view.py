"""`synrecon view`: browser viewer (viser), Open3D window, or PNG screenshot."""
from __future__ import annotations

import click


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
