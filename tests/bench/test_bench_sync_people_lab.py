"""The lab scenes of issue 12's worst row (bench/sync_people_lab.py): what the condition claims."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def lab(bench_script):
    return bench_script("sync_people_lab")


def test_a_lab_scene_has_four_tripods_three_people_and_the_truth(lab, shared_data):
    import bench_sync_real

    motions = bench_sync_real.heldout_motions(2.3)
    rng = np.random.default_rng(1)
    views, truth, info = lab.lab_scene(motions, rng, seconds=6.0, circuit=True)
    assert len(views) == 4 and truth[0] == 0.0 and np.all(np.abs(truth) <= 4.0)
    for tracks in views:
        assert len(tracks) == 3 and len(tracks[0]) == 61  # 6 s at 10 fps
        assert np.allclose(np.diff(tracks[0].times), 0.1)
    # the seated bystander barely moves; the walkers do
    spread = [np.nanmedian(np.nanstd(t.xy, axis=0)) for t in views[0]]
    assert spread[2] < 0.2 * min(spread[:2])
    assert info["walkers"] == "one circuit" and len(info["swaps"]) == 4


def test_walkers_are_exchanged_where_they_cross(lab):
    xy = np.zeros((3, 6, 18, 2))
    xy[0] = np.linspace(0, 100, 18)[None, :, None]
    xy[1] = xy[0] + np.array([400.0, 0.0])
    xy[1, 3:] = xy[0, 3:] + np.array([5.0, 0.0])  # close from frame 3 on
    xy[2] = xy[0] + 900
    conf = np.ones(xy.shape[:3])
    out, _, swaps = lab._swap_at_crossings(xy, conf, np.random.default_rng(0), p=1.0)
    assert swaps == [3]
    assert np.allclose(out[0, 3:], xy[1, 3:]) and np.allclose(out[1, 3:], xy[0, 3:])
    assert np.allclose(out[:, :3], xy[:, :3]) and np.allclose(out[2], xy[2])
