"""Tests of synnet_recon.io.calibration: Pose2Sim and caliscope calibration TOML files."""
from __future__ import annotations

import numpy as np
import pytest

from synnet_recon.errors import InputError
from synnet_recon.io.calibration import read_calibration_toml

GOOD = """
[cam_1]
name = "front"
size = [ 1280, 720,]
matrix = [ [ 700.0, 0.0, 640.0,], [ 0.0, 705.0, 360.0,], [ 0.0, 0.0, 1.0,],]
distortions = [ 0.1, -0.2, 0.0, 0.0, 0.05,]
rotation = [ 0.0, 1.5707963267948966, 0.0,]
translation = [ 1.0, 2.0, 3.0,]

[cam_0]
size = [ 1280, 720,]
matrix = [ [ 1.0, 0.0, 0.0,], [ 0.0, 1.0, 0.0,], [ 0.0, 0.0, 1.0,],]
ignore = true

[metadata]
adjusted = false
"""


def test_reads_cameras_skipping_ignored_and_metadata(tmp_path):
    path = tmp_path / "calib.toml"
    path.write_text(GOOD)
    cams = read_calibration_toml(path)
    assert list(cams) == ["cam_1"]
    c = cams["cam_1"]
    assert c.name == "front" and c.size == (1280, 720) and len(c.dist) == 5
    np.testing.assert_allclose(c.world_to_camera[:3, :3], [[0, 0, 1], [0, 1, 0], [-1, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(c.world_to_camera[:3, 3], [1, 2, 3])
    np.testing.assert_allclose(c.world_to_camera[:3, :3] @ c.center + [1, 2, 3], 0, atol=1e-12)
    assert c.intrinsics.fx == 700.0 and c.intrinsics.dist == (0.1, -0.2, 0.0, 0.0)


@pytest.mark.parametrize("bad, message", [
    ("", "no camera tables"),
    ("[cam]\nmatrix = [1, 2]", "matrix must be 3x3"),
    (GOOD.replace("translation = [ 1.0, 2.0, 3.0,]", ""), "has no 'translation'"),
    (GOOD.replace("[ 1.0, 2.0, 3.0,]", '[ 1.0, "x", 3.0,]'), "not numeric"),
    ("[cam_1\nmatrix=", "not a valid TOML"),
])
def test_bad_calibration_is_input_error(tmp_path, bad, message):
    path = tmp_path / "calib.toml"
    path.write_text(bad)
    with pytest.raises(InputError, match=message) as exc:
        read_calibration_toml(path)
    assert "calib.toml" in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("rel, n", [("pose2sim_demo/outputs_commit_a948c20/S00_Calibration/Calib_qualisys.toml", 4),
                                    ("caliscope_4cam_A_rec4/config_calibration.toml", 4)])
def test_reads_shared_calibrations(shared_data, rel, n):
    cams = read_calibration_toml(shared_data / "multiview" / rel)
    assert len(cams) == n
    for c in cams.values():
        R = c.world_to_camera[:3, :3]
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
