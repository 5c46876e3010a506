"""The pinning test's colour part (``verify.colour_states``): on an open tiled floor the depth alone
does not tell the right pose from itself turned a degree about the person (the floor stays on
its plane); the tiles' texture does."""
from __future__ import annotations

import numpy as np
import pytest

from synnet_recon.recon.joint_icp import turn_about
from synnet_recon.recon.verify import Photo, VerifyConfig, check_view, person_axis
from synnet_recon.synth.wide import WideSceneConfig

from .scenes import one_instant_views


@pytest.fixture(scope="module")
def open_floor(tmp_path_factory):
    """Two cameras 45 degrees apart on the open tiled floor with a few boxes, one instant: its
    views and the true pose of cam1 onto cam0."""
    return one_instant_views(WideSceneConfig(layout="open", separation_deg=45.0, instants=1), tmp_path_factory.mktemp("open_colour"))


def _check(views, T, photos):
    src, tgt = views.prepared["cam1"].cloud, views.prepared["cam0"].cloud
    return check_view(T, "planted", 0.7, 0.03, views.joints["cam1"], views.joints["cam0"], np.asarray(src.points),
                      views.depths["cam1"], views.intrinsics["cam1"].K, views.depths["cam0"],
                      views.intrinsics["cam0"].K, 0.1, 0.08, VerifyConfig(), np.asarray(src.normals),
                      np.asarray(tgt.points), np.asarray(tgt.normals), photos)


def _turned(joints, deg):
    return turn_about(*person_axis(joints), deg)


def test_the_tiles_pin_the_true_pose_where_the_depth_does_not(open_floor):
    views, true = open_floor
    photos = tuple(Photo(*views.background[n], views.images[n]) for n in ("cam1", "cam0"))
    depth_only = _check(views, true, None)
    assert not depth_only.ok and depth_only.pin_z < 4, "the depth alone does not pin it (z 1.7)"
    with_colour = _check(views, true, photos)
    assert with_colour.ok, with_colour.reason
    assert with_colour.pin_z >= 4


@pytest.mark.parametrize("turn", [-2.0, 2.0])
def test_a_two_degree_turn_about_the_person_is_not_pinned_with_colour(open_floor, turn):
    views, true = open_floor
    photos = tuple(Photo(*views.background[n], views.images[n]) for n in ("cam1", "cam0"))
    check = _check(views, _turned(views.joints["cam0"], turn) @ true, photos)
    assert not check.ok and check.pin_z < 0
