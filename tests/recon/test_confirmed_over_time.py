"""A view flagged only because the background does not pin it (its joints and background agree) is
verified when its own motion confirms it: its verified pose at a neighbouring instant, carried by
its own odometry step and the reference camera's world poses, lands on the flagged pose."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from synnet_recon.recon.fuse import Kept, confirmed_over_time
from synnet_recon.recon.verify import ViewCheck


def _pose(deg: float, t) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("y", deg, degrees=True).as_matrix()
    T[:3, 3] = t
    return T


def _check(T, ok: bool, unpinned: bool = False) -> ViewCheck:
    return ViewCheck(T, "joints", 0.8, 0.01, 0.02, 14, 0.98, 5000, ok, None if ok else "a turn is not pinned",
                     unpinned=unpinned)


def _scene(flagged_pose=None, unpinned=True, slide_next=0.0):
    """3 instants: the reference and cam1 walk; cam1 verified at 0 and 2, flagged at 1."""
    world_ref = [_pose(3.0 * k, [0.1 * k, 0, 0]) for k in range(3)]
    world_cam = [_pose(90.0 + 2.0 * k, [3.0, 0, 2.0 + 0.05 * k]) for k in range(3)]
    c2r = [np.linalg.inv(W) @ V for W, V in zip(world_ref, world_cam)]
    own = {(k, "cam1"): np.linalg.inv(world_cam[k - 1]) @ world_cam[k] for k in (1, 2)}
    own[(2, "cam1")] = own[(2, "cam1")] @ _pose(0.0, [slide_next, 0, 0])
    kept = []
    for k in range(3):
        pose = c2r[k] if k != 1 or flagged_pose is None else flagged_pose(c2r[k])
        check = _check(pose, ok=k != 1, unpinned=unpinned and k == 1)
        kept.append(Kept(SimpleNamespace(row_index=10 * k), {"cam1": check}, {}, {}, {}, {}))
    poses = [({}, world_ref[k], set()) for k in range(3)]
    return kept, SimpleNamespace(own=own), poses


@pytest.mark.parametrize("case, confirmed", [
    ("true pose", True),
    ("turned 2 degrees", False),
    ("not only unpinned", False),
    ("a neighbour's step disagrees", False),
])
def test_a_flagged_view_is_confirmed_by_its_own_motion_only_when_every_path_agrees(case, confirmed):
    turned = (lambda T: T @ _pose(2.0, [0, 0, 0])) if case == "turned 2 degrees" else None
    kept, odometry, poses = _scene(turned, unpinned=case != "not only unpinned",
                                   slide_next=0.05 if case == "a neighbour's step disagrees" else 0.0)
    confirmed_over_time(kept, odometry, poses)
    check = kept[1].checks["cam1"]
    assert check.ok == confirmed
    assert (check.method == "joints+time") == confirmed and (check.reason is None) == confirmed
    assert kept[0].checks["cam1"].method == "joints"      # the verified ones are left alone


def test_a_view_is_not_confirmed_when_its_instant_or_neighbours_are_not_connected():
    kept, odometry, poses = _scene()
    poses[0] = (poses[0][0], None, set())
    poses[2] = (poses[2][0], poses[2][1], {"cam1"})         # pruned there by the pose graph
    confirmed_over_time(kept, odometry, poses)
    assert not kept[1].checks["cam1"].ok
