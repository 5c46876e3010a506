"""Tests of synnet_recon.io.trc and the `trc` exporter: TRC written and read back (header, units,
frame rate), a real Pose2Sim TRC read, skeleton3d.json exported through `synrecon export trc`."""
from __future__ import annotations

import numpy as np
import pytest

from synnet_recon.errors import InputError
from synnet_recon.exporters import get_exporter
from synnet_recon.io.trc import COCO18_MARKERS, TRC, read_trc, skeleton_to_trc, write_trc
from synnet_recon.recon.skeleton3d import Skeleton3D, write_skeleton3d


@pytest.mark.parametrize("units", ["m", "mm"])
@pytest.mark.parametrize("rate", [30.0, 59.94, 120.0])
def test_write_read_round_trip(tmp_path, rng, units, rate):
    pos = rng.normal(0, 1, (5, 3, 3))
    pos[2, 1] = np.nan
    trc = TRC(markers=["A", "B", "C"], positions=pos, times=np.arange(5) / rate, rate=rate, units=units)
    path = write_trc(tmp_path / "t.trc", trc)
    lines = path.read_text().splitlines()
    assert lines[0].split("\t")[:3] == ["PathFileType", "4", "(X/Y/Z)"]
    assert lines[1].split("\t") == ["DataRate", "CameraRate", "NumFrames", "NumMarkers", "Units", "OrigDataRate",
                                    "OrigDataStartFrame", "OrigNumFrames"]
    assert lines[3].split("\t")[:3] == ["Frame#", "Time", "A"] and lines[4].split("\t")[2:5] == ["X1", "Y1", "Z1"]
    back = read_trc(path)
    assert back.markers == ["A", "B", "C"] and back.units == units
    assert back.rate == pytest.approx(rate) and back.camera_rate == pytest.approx(rate)
    assert back.header["NumFrames"] == "5" and back.header["NumMarkers"] == "3"
    np.testing.assert_allclose(back.positions, pos, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(back.times, trc.times, atol=1e-6)
    assert back.frame_numbers.tolist() == [1, 2, 3, 4, 5]


def test_reads_pose2sim_output(shared_data):
    """A TRC file Pose2Sim itself wrote (the demo's balancing trial)."""
    path = next((shared_data / "multiview/pose2sim_demo/outputs_commit_a948c20").rglob("*BalancingTrial_0-100.trc"))
    trc = read_trc(path)
    assert trc.rate == 60 and trc.units == "m" and len(trc.markers) == 21 and trc.positions.shape == (100, 21, 3)
    assert "RHip" in trc.markers and trc.times[1] - trc.times[0] == pytest.approx(1 / 60)
    assert np.isfinite(trc.positions).mean() > 0.9


@pytest.mark.parametrize("bad", ["nothing", "header", "count", "cell", "frames"])
def test_bad_trc_is_input_error(tmp_path, bad):
    path = tmp_path / "t.trc"
    write_trc(path, TRC(markers=["A"], positions=np.zeros((2, 1, 3)), times=[0, 0.1], rate=10))
    lines = path.read_text().splitlines()
    if bad == "nothing":
        lines = ["hello"]
    elif bad == "header":
        lines[1] = "Foo\tBar"
    elif bad == "count":
        lines[2] = lines[2].replace("\t1\t", "\t2\t", 1)
    elif bad == "cell":
        lines[5] = lines[5].replace("0.000000", "abc", 1)
    else:
        lines = lines[:-1]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="t.trc"):
        read_trc(path)


def _skeleton(T: int = 6, fps: float = 30.0) -> Skeleton3D:
    joints = np.zeros((T, 18, 3)) + [0.1, -0.9, 3.0]  # OpenCV: y down, so y < 0 is above the camera centre
    joints[:, 1, 1] = -1.5
    conf = np.full((T, 18), 0.9)
    conf[:, 0] = 0.1
    return Skeleton3D("cam0", joints, conf, times=2.0 + np.arange(T) / fps, frames=[{"cam0": t} for t in range(T)],
                      fps=fps)


@pytest.mark.parametrize("units, scale", [("m", 1.0), ("mm", 1000.0)])
def test_skeleton_to_trc_is_y_up(units, scale):
    trc = skeleton_to_trc(_skeleton(), units=units, min_confidence=0.5)
    assert trc.markers == list(COCO18_MARKERS) and trc.rate == 30.0 and trc.times[0] == 0.0
    assert trc.positions[0, 1, 1] == pytest.approx(1.5 * scale)  # the neck is up: +Y
    assert trc.positions[0, 2].tolist() == pytest.approx([0.1 * scale, 0.9 * scale, -3.0 * scale])
    assert np.isnan(trc.positions[:, 0]).all()  # the nose was below min_confidence


@pytest.mark.parametrize("options", [{}, {"units": "mm"}])
def test_export_trc_from_skeleton3d(tmp_path, capsys, options):
    from synnet_recon.cli import main

    recon = tmp_path / "recon"
    write_skeleton3d(recon / "skeleton3d.json", _skeleton(T=8, fps=60.0))
    sync = tmp_path / "sync.json"
    sync.write_text("{}")
    args = ["export", "trc", str(sync), "--recon", str(recon), "--out", str(tmp_path / "trc")]
    for k, v in options.items():
        args += ["--option", f"{k}={v}"]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 0, capsys.readouterr().err
    trc = read_trc(tmp_path / "trc" / "skeleton.trc")
    assert trc.rate == 60.0 and trc.units == options.get("units", "m") and trc.positions.shape == (8, 18, 3)
    assert get_exporter("trc").needs_recon


def test_export_trc_without_skeleton(tmp_path, capsys):
    from synnet_recon.cli import main

    sync = tmp_path / "sync.json"
    sync.write_text("{}")
    (tmp_path / "recon").mkdir()
    with pytest.raises(SystemExit) as exc:
        main(["export", "trc", str(sync), "--recon", str(tmp_path / "recon"), "--out", str(tmp_path / "trc")])
    assert exc.value.code == 2
    assert "skeleton3d.json: file not found" in capsys.readouterr().err
