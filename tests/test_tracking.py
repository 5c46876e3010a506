"""The one person tracker (synnet_recon.tracking): linking, gaps, ranking; shared by video pose and OpenPose."""
import json

import numpy as np
import pytest

from synnet_recon.io.openpose import read_openpose_tracks
from synnet_recon.pose import track_people as pose_track_people
from synnet_recon.tracking import PersonTrack, link_detections, rank_tracks, track_people

_SHAPE = np.random.default_rng(3).uniform(-0.5, 0.5, (18, 2))
_SHAPE -= _SHAPE.mean(axis=0)


def person(center_x, center_y=100.0, size=100.0):
    """A fixed (18, 2) joint layout of the given size whose joints average to the centre."""
    return (_SHAPE * size + [center_x, center_y]).astype(np.float32)


def seen(track: PersonTrack) -> np.ndarray:
    return (track.conf > 0).any(axis=1)


def test_pose_uses_the_one_tracker():
    assert pose_track_people is track_people


def test_follows_people_through_order_swaps_and_gaps():
    times = np.arange(12) / 10.0
    a_xs = 100 + 5 * np.arange(12)    # walks right
    b_xs = 400 - 5 * np.arange(12)    # walks left
    xy, conf = [], []
    for t in range(12):
        dets = [person(a_xs[t])]
        if t not in (5, 6):           # b hidden for two frames (0.2 s < max gap)
            dets.append(person(b_xs[t]))
        if t % 2:
            dets = dets[::-1]         # detection order changes
        if t == 3:
            dets.append(person(900, 500))  # a one-frame false positive
        xy.append(np.stack(dets))
        conf.append(np.ones((len(dets), 18)))
    tracks = track_people(xy, conf, times, max_gap_seconds=0.5, gate=0.5)
    assert len(tracks) == 2  # the false positive is too short to keep
    a, b = tracks            # same motion per frame: a, seen longer, first
    assert a.detections == 12 and b.detections == 10
    np.testing.assert_allclose(np.nanmean(a.xy[:, :, 0], axis=1), a_xs, atol=1e-3)
    np.testing.assert_array_equal(np.flatnonzero(~seen(b)), [5, 6])
    np.testing.assert_allclose(np.nanmean(b.xy[seen(b), :, 0], axis=1), b_xs[seen(b)], atol=1e-3)


@pytest.mark.parametrize("max_gap, expected", [(0.5, 1), (0.15, 2)])
def test_long_gap_starts_a_new_track(max_gap, expected):
    times = np.arange(10) / 10.0
    xy = [np.stack([person(100)])] * 4 + [np.zeros((0, 18, 2))] * 2 + [np.stack([person(100)])] * 4
    conf = [np.ones((len(x), 18)) for x in xy]
    assert len(track_people(xy, conf, times, max_gap_seconds=max_gap, min_track_frames=1)) == expected


def test_jump_starts_a_new_track_and_ties_go_to_coverage():
    jump = [np.stack([person(100)])] * 5 + [np.stack([person(300)])] * 3
    tracks = track_people(jump, [np.ones((1, 18))] * 8, np.arange(8) / 10.0, min_track_frames=1)
    assert [tr.detections for tr in tracks] == [5, 3]  # neither moves: most frames first
    assert all(tr.motion < 1e-6 for tr in tracks)


def test_mover_ranks_before_a_bigger_bystander_who_barely_moves():
    """A big bystander seen in every frame, jittering by 1 px, comes after a smaller dancer."""
    rng = np.random.default_rng(0)
    T = 30
    times = np.arange(T) / 30.0
    xy, conf = [], []
    for t in range(T):
        bystander = person(900, 300, size=300) + rng.normal(0, 1.0, (18, 2))
        dancer = person(300 + 60 * np.sin(t / 3), 100, size=100)
        dets = [bystander, dancer] if t != 7 else [bystander]  # the dancer missed once
        xy.append(np.stack(dets))
        conf.append(np.ones((len(dets), 18)))
    dancer, bystander = track_people(xy, conf, times)
    assert bystander.detections == T and dancer.detections == T - 1
    assert bystander.presence > dancer.presence   # bigger and always there...
    assert dancer.motion > 0.2 > 0.02 > bystander.motion  # ...but barely moving (body sizes)
    assert rank_tracks([bystander, dancer])[0] is dancer


def test_empty_and_duplicate_detections_are_skipped():
    a = person(100)
    frames = [np.stack([a, a + 0.5, np.full((18, 2), np.nan)])] * 4  # a, a repeated, an empty pose
    linked = link_detections(frames, np.arange(4) / 30.0)
    assert linked == [{0: 0, 1: 0, 2: 0, 3: 0}]


def test_openpose_reader_uses_the_same_tracker(tmp_path):
    """OpenPose files without person ids give the tracks track_people gives on the same points."""
    rng = np.random.default_rng(1)
    T = 15
    xy, conf = [], []
    folder = tmp_path / "cam"
    folder.mkdir()
    for t in range(T):
        dets = [person(200 + 8 * t), person(600, 100 + 0.2 * rng.normal())]
        if t % 3 == 0:
            dets = dets[::-1]
        xy.append(np.stack(dets))
        conf.append(np.full((2, 18), 0.9))
        people = [{"person_id": [-1], "pose_keypoints_2d": np.c_[d, np.full(18, 0.9)].ravel().tolist()} for d in dets]
        (folder / f"cam_{t:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
    from_files = read_openpose_tracks(folder, fps=30.0)
    direct = track_people(xy, conf, np.arange(T) / 30.0, min_track_frames=1)
    assert len(from_files) == len(direct) == 2
    for kp, tr in zip(from_files, direct):
        np.testing.assert_allclose(kp.xy, tr.xy, atol=1e-4)
        assert kp.meta["motion"] == pytest.approx(tr.motion, rel=1e-5)
    assert np.nanmean(from_files[0].xy[..., 0]) < 400  # the walker first, the one standing still last


@pytest.mark.parametrize("step", [1 / 30, 1.0, 2.0])
def test_sparse_sampling_still_links(step):
    """Frames posed one a second (or rarer) are further apart than max_gap_seconds: one track."""
    times = np.arange(8) * step
    xy = [np.stack([person(100 + 20 * t)]) for t in range(8)]
    tracks = track_people(xy, [np.ones((1, 18))] * 8, times, max_gap_seconds=0.5)
    assert [tr.detections for tr in tracks] == [8]
