"""A view whose background is the floor alone (``VerifyConfig.fine_pins_planes``): cameras 120 degrees
apart on the open tiled floor at 1.6 m share only the floor and the person. The depth of a plane
cannot pin a slide or a turn along it; the tiles can, and the fine check and the pinning test see
them: the true pose passes, a 2 cm slide along the floor (which the joints and the coarse checks
pass) is flagged and aligned back, a 2 degree turn is flagged, and without the images the truth
is flagged (not pinned)."""
from __future__ import annotations

import numpy as np
import pytest

from synnet_recon.recon.fine import FineConfig, FinePair
from synnet_recon.recon.joint_icp import turn_about
from synnet_recon.recon.register import normal_spread
from synnet_recon.recon.verify import Photo, VerifyConfig, check_view, person_axis
from synnet_recon.synth.wide import WideSceneConfig

from .scenes import one_instant_views


@pytest.fixture(scope="module")
def floor_only(tmp_path_factory):
    """One instant of the held-out open floor 120 degrees apart at 1.6 m (seed 3): its views and the
    true pose of cam1 onto cam0."""
    config = WideSceneConfig(layout="open", separation_deg=120.0, heights=(1.6,), instants=1, seed=3)
    return one_instant_views(config, tmp_path_factory.mktemp("floor_only"))


def _check(views, T, config=None, images=True, fine=True):
    s, t = "cam1", "cam0"
    config = config or VerifyConfig()
    photos = tuple(Photo(*views.background[n], views.images[n]) for n in (s, t))
    pair = FinePair((views.images[s] if images else None, views.depths[s], views.intrinsics[s].K),
                    (views.images[t] if images else None, views.depths[t], views.intrinsics[t].K),
                    views.background[s][0], views.background[t][0], config.fine) if fine else None
    src, tgt = views.prepared[s].cloud, views.prepared[t].cloud
    return check_view(T, "planted", 0.7, 0.03, views.joints[s], views.joints[t], np.asarray(src.points),
                      views.depths[s], views.intrinsics[s].K, views.depths[t], views.intrinsics[t].K,
                      normal_spread(views.prepared[s]), 0.08, config, np.asarray(src.normals), np.asarray(tgt.points),
                      np.asarray(tgt.normals), photos, pair)


def test_the_background_is_parallel_planes_only(floor_only):
    views, _ = floor_only
    assert normal_spread(views.prepared["cam1"]) < VerifyConfig().min_normal_spread


def test_the_tiles_pin_the_true_pose_on_a_floor(floor_only):
    views, true = floor_only
    check = _check(views, true)
    assert check.ok, check.reason
    assert check.fine_moved < 0.003 and check.fine_pull >= FineConfig().min_pull


@pytest.mark.parametrize("how", ["no fine check", "not left to it", "no images"])
def test_without_the_texture_a_floor_does_not_pin_the_pose(floor_only, how):
    views, true = floor_only
    if how == "no fine check":
        check = _check(views, true, fine=False)
    elif how == "not left to it":
        check = _check(views, true, VerifyConfig(fine_pins_planes=False))
    else:
        check = _check(views, true, images=False)
    assert not check.ok
    assert ("parallel planes" if how != "no images" else "does not pin") in check.reason


@pytest.mark.parametrize("along", [(0.02, 0.0, 0.0), (0.0, 0.0, -0.02)])
def test_a_slide_along_the_floor_is_flagged_and_aligned_back(floor_only, along):
    views, true = floor_only
    up = person_axis(views.joints["cam0"])[0]
    d = np.asarray(along) - (np.asarray(along) @ up) * up      # along the floor (normal to the person's vertical)
    slid = true.copy()
    slid[:3, 3] += d
    check = _check(views, slid)
    assert check.coarse_ok and check.joint_error < 0.05, "the joints and the coarse checks pass the slide"
    assert not check.ok and "moves this pose" in check.reason
    assert np.linalg.norm(check.fine_transform[:3, 3] - true[:3, 3]) < 0.003


@pytest.mark.parametrize("turn", [-2.0, 2.0])
def test_a_turn_about_the_person_on_a_floor_is_flagged(floor_only, turn):
    views, true = floor_only
    check = _check(views, turn_about(*person_axis(views.joints["cam0"]), turn) @ true)
    assert not check.ok and check.pin_z < 0
