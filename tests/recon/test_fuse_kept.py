"""The ``kept`` hypothesis (``anchored.keep_view``): a pair whose relative pose held still over the
earlier instants has that pose checked as it is (every check, the fine one too) before the usual
hypotheses; kept only when the fine alignment would not move it, and the same whatever the number
of workers (docs/benchmarks.md "Fuse speed (session 7, h3)")."""
from __future__ import annotations

import json

import numpy as np
import pytest

from synnet_recon.recon.anchored import AnchorConfig, keep_view, steady
from synnet_recon.recon.fuse import FuseConfig, ViewLoader, _view_inputs, fuse, read_inputs
from synnet_recon.recon.register import RegistrationConfig, rotation_error_deg, translation_error
from synnet_recon.synth.wide import WideSceneConfig, render_wide_scene, truth_camera_to_reference


@pytest.fixture(scope="module")
def orbit(tmp_path_factory) -> dict:
    """Two cameras 60 degrees apart orbiting the person together (their relative pose is fixed), 5
    instants, fused with two workers."""
    root = tmp_path_factory.mktemp("orbit")
    sync = render_wide_scene(WideSceneConfig(layout="room", separation_deg=60.0, instants=5), root)
    result = fuse(sync, FuseConfig(progress=False), root / "recon")
    return {"root": root, "sync": sync, "truth": json.loads((root / "truth.json").read_text()), "result": result}


def test_a_pair_that_holds_still_is_kept_and_stays_right(orbit):
    frames = orbit["result"].frames
    assert all(f.ok for f in frames)
    methods = [f.method["cam1"] for f in frames]
    assert "kept" not in methods[:3] and methods[3:] == ["kept", "kept"], methods   # from k = 3: k - 2, k - 3 agree
    for k in (3, 4):   # the pose verified two instants before, as it is
        assert np.array_equal(frames[k].camera_to_reference["cam1"], frames[k - 2].camera_to_reference["cam1"])
    for f in frames:
        true = truth_camera_to_reference(orbit["truth"], f.frames, "cam0")["cam1"]
        assert rotation_error_deg(f.camera_to_reference["cam1"], true) < 0.1
        assert translation_error(f.camera_to_reference["cam1"], true) < 0.01


def test_kept_poses_do_not_depend_on_the_number_of_workers(orbit, tmp_path):
    one = fuse(orbit["sync"], FuseConfig(progress=False, workers=1), tmp_path / "one")
    for a, b in zip(one.frames, orbit["result"].frames):
        assert a.method == b.method
        assert np.array_equal(a.camera_to_reference["cam1"], b.camera_to_reference["cam1"])
    assert (tmp_path / "one" / "fused.ply").read_bytes() == (orbit["root"] / "recon" / "fused.ply").read_bytes()


def test_a_pose_that_the_background_would_move_is_not_kept(orbit):
    inputs = read_inputs(orbit["sync"], FuseConfig(progress=False))
    loader = ViewLoader(inputs, FuseConfig(progress=False), {})
    try:
        views = loader.read(inputs.instants[4])
    finally:
        loader.close()
    true = truth_camera_to_reference(orbit["truth"], inputs.instants[4].frames, "cam0")["cam1"]
    source, target, rc, ac = _view_inputs(views, "cam1"), _view_inputs(views, "cam0"), RegistrationConfig(), AnchorConfig()
    kept = keep_view(source, target, rc, ac, orbit["result"].frames[4].camera_to_reference["cam1"])
    assert kept is not None and kept.checks[0].ok and kept.checks[0].method == "kept"
    slid = true.copy()
    slid[:3, 3] += [0.006, 0.0, 0.0]   # 6 mm: within the fine check's 1 cm, beyond what is kept
    assert keep_view(source, target, rc, ac, slid) is None


def test_steady_needs_every_pose_known_and_close():
    T = np.eye(4)
    moved = T.copy()
    moved[0, 3] = 0.003
    config = AnchorConfig()
    assert steady([T, T.copy()], config)
    assert not steady([T, moved], config)
    assert not steady([T, None], config)
    assert not steady([], config)
