"""Tests of synnet_recon.viewer and `synrecon view`: loading a fuse output folder, PNG screenshots
without a display (Open3D offscreen or the matplotlib fallback) and the viser server on loopback."""
from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from synnet_recon import viewer
from synnet_recon.cli import main as cli_main
from synnet_recon.o3d import o3d


def _cloud(seed: int, n: int = 3000) -> "o3d.geometry.PointCloud":
    """A coloured floor patch and a box-like wall, in OpenCV camera coordinates (y down, z forward)."""
    rng = np.random.default_rng(seed)
    floor = np.c_[rng.uniform(-2, 2, n), np.full(n, 1.5), rng.uniform(2, 6, n)]
    wall = np.c_[rng.uniform(-2, 2, n), rng.uniform(-1, 1.5, n), np.full(n, 6.0)]
    pts = np.vstack([floor, wall])
    cols = np.vstack([np.tile([0.2, 0.6, 0.3], (n, 1)), np.tile([0.8, 0.3, 0.2], (n, 1))])
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    pcd.colors = o3d.utility.Vector3dVector(cols)
    return pcd


@pytest.fixture
def outdir(tmp_path) -> Path:
    """A fuse output folder made by hand: two instants, fused.ply, registration.json."""
    out = tmp_path / "recon"
    (out / "frames").mkdir(parents=True)
    frames = []
    for k in range(2):
        o3d.io.write_point_cloud(str(out / "frames" / f"{k:06d}.ply"), _cloud(k))
        T1 = np.eye(4)
        T1[0, 3] = 1.0 + 0.1 * k
        frames.append({"index": k, "time": k / 30, "frames": {"cam0": k, "cam1": k},
                       "camera_to_reference": {"cam0": np.eye(4).tolist(), "cam1": T1.tolist()},
                       "fitness": {"cam0": 1.0, "cam1": 0.7}, "inlier_rmse": {"cam0": 0.0, "cam1": 0.01},
                       "view_ok": {"cam0": True, "cam1": True}, "ok": True})
    o3d.io.write_point_cloud(str(out / "fused.ply"), _cloud(5))
    intr = {"width": 320, "height": 240, "fx": 260.0, "fy": 260.0, "cx": 160.0, "cy": 120.0}
    reg = {"schema": "synnet-recon/registration", "version": 1, "reference": "cam0",
           "videos": [{"name": "cam0", "intrinsics": intr}, {"name": "cam1", "intrinsics": intr}], "frames": frames}
    (out / "registration.json").write_text(json.dumps(reg))
    return out


def test_load_view_reads_frames_and_frusta(outdir):
    data = viewer.load_view(outdir)
    assert [p.name for p in data.frames] == ["000000.ply", "000001.ply"]
    assert data.fused == outdir / "fused.ply"
    fr = {f.name: f for f in data.frusta[1]}
    assert fr["cam1"].camera_to_cloud[0, 3] == pytest.approx(1.1) and fr["cam0"].width == 320
    single = viewer.load_view(outdir / "fused.ply")
    assert single.clouds == [outdir / "fused.ply"] and not single.frames


def test_screenshot_without_a_display(outdir, tmp_path, monkeypatch, capfd):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    png = tmp_path / "shot.png"
    used = viewer.screenshot(viewer.load_view(outdir), png, frame=1, width=320, height=240)
    assert used in ("open3d", "matplotlib")
    printed = capfd.readouterr()
    # nothing from Open3D or the windowing libraries (e.g. "error: XDG_RUNTIME_DIR is invalid")
    assert "[Open3D" not in printed.out + printed.err and "XDG_RUNTIME_DIR" not in printed.err, printed
    import cv2

    img = cv2.imread(str(png))
    assert img is not None and img.shape == (240, 320, 3)
    assert img.std() > 5  # not a blank image
    # The clouds' colours (green floor, red wall) are visible.
    b, g, r = (img[..., c].astype(int) for c in range(3))
    assert ((g - r > 40) & (g - b > 40)).sum() > 50 and ((r - g > 40) & (r - b > 40)).sum() > 50


def test_screenshot_falls_back_to_matplotlib(outdir, tmp_path, monkeypatch):
    monkeypatch.setattr(viewer, "_open3d_png", lambda *a, **k: False)
    png = tmp_path / "fallback.png"
    assert viewer.screenshot(viewer.load_view(outdir), png, frame=0, width=400, height=300) == "matplotlib"
    import cv2

    img = cv2.imread(str(png))
    assert img.shape[:2] == (300, 400) and img.std() > 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(60)
def test_viser_server_serves_on_loopback(outdir):
    port = _free_port()
    browser = viewer.serve(viewer.load_view(outdir), port=port)
    server = browser.server
    try:
        assert browser.slider is not None and browser.slider.max == 1
        browser.show(1)  # what moving the time slider does: the second instant and its frusta
        assert server.get_host() == "127.0.0.1"
        body = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{server.get_port()}/", timeout=5) as r:
                    assert r.status == 200
                    body = r.read()
                break
            except OSError:
                time.sleep(0.2)
        assert b"<html" in body.lower() or b"<!doctype" in body.lower()
    finally:
        browser.stop()


def test_view_cli_screenshot_and_bad_path(outdir, tmp_path, capsys):
    png = tmp_path / "cli.png"
    with pytest.raises(SystemExit) as exc:
        cli_main(["view", str(outdir), "--screenshot", str(png)])
    assert exc.value.code == 0 and png.is_file()
    with pytest.raises(SystemExit) as exc:
        cli_main(["view", str(tmp_path / "nothing"), "--screenshot", str(tmp_path / "x.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and err[0].startswith("synrecon: error: ") and "not found" in err[0]
    with pytest.raises(SystemExit) as exc:
        cli_main(["view", str(outdir), "--frame", "7", "--screenshot", str(tmp_path / "y.png")])
    assert exc.value.code == 2 and "no frame 7" in capsys.readouterr().err
    assert not (tmp_path / "y.png").exists()


def test_view_of_a_fuse_that_fused_nothing(tmp_path, capsys):
    """`synrecon view` on the folder of a fuse run that fused no instant (two phones 49 degrees apart
    with --depth mvs): one line saying fuse fused nothing and where the reasons are (it said "not a
    fuse output folder"), exit 2; a folder without registration.json keeps the old message."""
    empty = tmp_path / "recon"
    (empty / "frames").mkdir(parents=True)
    (empty / "registration.json").write_text("{}")
    for folder, words in ((empty, ["fused no instant", "registration.json"]), (tmp_path, ["not a fuse output"])):
        with pytest.raises(SystemExit) as exc:
            cli_main(["view", str(folder), "--screenshot", str(tmp_path / "x.png")])
        err = capsys.readouterr().err.strip().splitlines()
        assert exc.value.code == 2 and len(err) == 1 and err[0].startswith("synrecon: error: "), err
        assert all(w in err[0] for w in words), err
    assert not (tmp_path / "x.png").exists()
