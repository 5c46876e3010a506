"""Pose backends, person tracking and estimate_pose on real clips with real MediaPipe."""
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from synnet_recon.errors import InputError
from synnet_recon.keypoints import Keypoints
from synnet_recon.pose import (
    MediaPipeBackend,
    PoseBackend,
    PoseConfig,
    available_pose_backends,
    estimate_pose,
    get_pose_backend,
    pose_landmarker_bundle,
)
from synnet_recon.skeleton import JOINT_INDEX

DATA = Path(__file__).parent / "data" / "video"
SINGLE = DATA / "single_cam01.mp4"  # Pose2Sim demo balancing trial, cam01, 360x640, 100 frames @ 60 fps
MULTI = DATA / "multi_cam01.mp4"    # Pose2Sim demo, two participants (and a bystander), 362x640
SINGLE_OPENPOSE = "multiview/pose2sim_demo/S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial/pose/cam01_json"
J = JOINT_INDEX


@pytest.fixture(scope="module")
def single_tracks():
    return estimate_pose(SINGLE, PoseConfig(every=3, max_side=320, progress=False))


def write_video(path, frames, fps=30, display_matrix=None):
    """Encode (N, H, W, 3) uint8 RGB frames as H.264 at a constant rate."""
    frames = np.asarray(frames)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "18"})
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, fps)
        if display_matrix is not None:
            stream.set_display_matrix(display_matrix)
        for k, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts = k
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


# ----------------------------------------------------------------------------------- registry
def test_registry():
    assert "mediapipe" in available_pose_backends()
    assert get_pose_backend("mediapipe") is MediaPipeBackend
    with pytest.raises(InputError, match="unknown pose backend 'openpifpaf'.*mediapipe"):
        get_pose_backend("openpifpaf")


def test_builtin_table_used_without_entry_points(monkeypatch):
    import synnet_recon.pose as pose

    monkeypatch.setattr(pose, "_entry_points", lambda: {})
    assert get_pose_backend("mediapipe") is MediaPipeBackend


def test_plugin_backend_through_entry_points(monkeypatch, tmp_path):
    """A registered third-party backend is used by estimate_pose; its points become COCO-18 px."""
    import synnet_recon.pose as pose

    class Fixed(PoseBackend):
        keypoint_format = "coco17"
        calls = []

        def detect(self, image, time):
            Fixed.calls.append((image.shape, time))
            kp = np.zeros((1, 17, 3))
            kp[0, :, 0] = np.linspace(0.3, 0.7, 17)
            kp[0, :, 1] = np.linspace(0.1, 0.9, 17)
            kp[0, :, 2] = 0.9
            kp[0, 3] = 1.2, 0.5, 0.9  # left ear outside the frame -> undetected
            return kp

    class FakeEntryPoint:
        name = "fixed"

        def load(self):
            return Fixed

    monkeypatch.setattr(pose, "_entry_points", lambda: {"fixed": FakeEntryPoint()})
    assert "fixed" in available_pose_backends()
    video = write_video(tmp_path / "gray.mp4", np.full((6, 64, 48, 3), 128, np.uint8))
    tracks = estimate_pose(video, PoseConfig(backend="fixed", max_side=32, frames=[1, 4, 5], progress=False))
    assert len(tracks) == 1 and isinstance(tracks[0], Keypoints)
    kp = tracks[0]
    assert kp.image_size == (48, 64)
    assert [c[0] for c in Fixed.calls] == [(32, 24, 3)] * 3
    np.testing.assert_allclose(kp.times, [1 / 30, 4 / 30, 5 / 30], atol=1e-9)
    np.testing.assert_array_equal(kp.meta["frames"], [1, 4, 5])
    np.testing.assert_allclose(kp.xy[0, J["nose"]], [0.3 * 48, 0.1 * 64], rtol=1e-5)
    assert np.isnan(kp.xy[:, J["l_ear"]]).all() and (kp.conf[:, J["l_ear"]] == 0).all()
    assert np.isfinite(kp.xy[:, J["r_ear"]]).all()


# ----------------------------------------------------------------------------- real MediaPipe
def test_single_person_on_real_clip(single_tracks):
    assert len(single_tracks) >= 1
    kp = single_tracks[0]
    assert kp.image_size == (360, 640) and len(kp) == 34
    np.testing.assert_allclose(kp.times, np.arange(0, 100, 3) / 60, atol=1e-9)
    found = np.isfinite(kp.xy[:, [J["neck"], J["r_hip"], J["l_hip"]], 0]).all(axis=1)
    assert found.mean() > 0.9
    y = np.nanmedian(kp.xy[..., 1], axis=0)  # the participant stands, leaning: nose about level with the neck
    assert y[J["nose"]] < y[J["neck"]] + 0.02 * 640
    assert y[J["nose"]] < y[J["r_hip"]] and y[J["neck"]] < y[J["r_hip"]] < y[J["r_knee"]] < y[J["r_ankle"]]
    assert y[J["neck"]] < y[J["l_hip"]] < y[J["l_knee"]] < y[J["l_ankle"]]
    body_height = y[J["r_ankle"]] - y[J["nose"]]
    assert 0.2 * 640 < body_height < 640  # measured: 158-160 px
    assert ((kp.conf >= 0) & (kp.conf <= 1)).all()
    assert (np.isnan(kp.xy[..., 0]) == (kp.conf == 0)).all()


def test_single_person_matches_openpose(single_tracks, shared_data):
    """MediaPipe COCO-18 vs the demo's OpenPose BODY_25B detections of the same frames."""
    from synnet_recon.io.openpose import read_openpose_tracks

    ours = single_tracks[0]
    theirs = read_openpose_tracks(shared_data / SINGLE_OPENPOSE, fps=60, image_size=(1080, 1920), fmt="body25b")
    scale = np.array([360 / 1080, 640 / 1920])
    frames = ours.meta["frames"]
    best = None
    for op in theirs:
        op_xy = op.xy[frames] * scale  # (T, 18, 2) in our clip's pixels
        dist = np.linalg.norm(op_xy - ours.xy, axis=-1)
        if np.isfinite(dist).sum() > 100 and (best is None or np.nanmedian(dist) < best[0]):
            height = np.nanmax(op_xy[..., 1], axis=1) - np.nanmin(op_xy[..., 1], axis=1)
            best = (np.nanmedian(dist), dist / height[:, None])
    assert best is not None
    relative = best[1]
    assert np.nanmedian(relative) < 0.04                     # measured: 0.028 at max_side 320
    assert np.nanpercentile(relative, 90) < 0.12
    assert np.nanmedian(relative, axis=0).max() < 0.08        # no joint is systematically off
    # not swapped left/right: our left wrist is nearer their left wrist than their right one
    assert np.nanmedian(relative[:, J["l_wrist"]]) < 0.05


def test_blank_video_has_no_person(tmp_path):
    video = write_video(tmp_path / "blank.mp4", np.full((8, 96, 64, 3), 90, np.uint8))
    with pytest.raises(InputError, match="no person found") as err:
        estimate_pose(video, PoseConfig(progress=False))
    assert err.value.path == str(video)


def test_portrait_video_with_rotation_metadata(tmp_path, single_tracks):
    """Pixels stored sideways + display matrix: pose runs upright, coordinates are upright pixels."""
    from synnet_recon.io.video import iter_frames

    upright = [f.image for f in iter_frames(SINGLE, indices=range(0, 36, 3))]
    stored = [np.rot90(img, k=1) for img in upright]  # (360, 640): turned counterclockwise on disk
    portrait_matrix = [0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30]  # display turned clockwise
    video = write_video(tmp_path / "phone.mp4", stored, fps=30, display_matrix=portrait_matrix)
    kp = estimate_pose(video, PoseConfig(max_side=320, progress=False))[0]
    assert kp.image_size == (360, 640)
    reference = single_tracks[0].xy[:12]
    dist = np.linalg.norm(kp.xy - reference, axis=-1)
    assert np.nanmedian(dist) < 0.02 * 640


def test_estimate_pose_subset_of_frames():
    kp = estimate_pose(SINGLE, PoseConfig(frames=[80, 10, 11, 12, 500], max_side=320, progress=False))[0]
    np.testing.assert_array_equal(kp.meta["frames"], [10, 11, 12, 80])
    np.testing.assert_allclose(kp.times, np.array([10, 11, 12, 80]) / 60, atol=1e-9)
    assert np.isfinite(kp.xy[:, J["neck"]]).all()


def test_pose_landmarker_bundle_is_built_from_the_wheel():
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(pose_landmarker_bundle())) as bundle:
        assert sorted(bundle.namelist()) == ["pose_detector.tflite", "pose_landmarks_detector.tflite"]


@pytest.mark.slow
def test_two_people_tracked_with_tasks_api():
    tracks = estimate_pose(MULTI, PoseConfig(num_people=2, every=4, max_side=480, progress=False))
    assert len(tracks) >= 2
    coverage = [np.isfinite(kp.xy[:, J["neck"], 0]).mean() for kp in tracks]
    assert coverage == sorted(coverage, reverse=True)
    assert coverage[0] > 0.8 and coverage[1] > 0.8
    a, b = tracks[0].xy, tracks[1].xy
    both = np.isfinite(a[:, J["neck"], 0]) & np.isfinite(b[:, J["neck"], 0])
    apart = np.linalg.norm(a[both, J["neck"]] - b[both, J["neck"]], axis=-1)
    assert np.median(apart) > 30  # two different people, not one person twice
    for kp in tracks[:2]:
        y = np.nanmedian(kp.xy[..., 1], axis=0)
        assert y[J["nose"]] < y[J["neck"]] < y[J["r_hip"]] < y[J["r_ankle"]]


def test_prefetch_keeps_order_passes_errors_and_stops_early():
    from synnet_recon.pose import _prefetch

    assert list(_prefetch(iter(range(50)), size=4)) == list(range(50))

    def failing():
        yield 1
        raise InputError("x.mp4", "corrupt video data")

    got = []
    with pytest.raises(InputError, match="corrupt"):
        for item in _prefetch(failing()):
            got.append(item)
    assert got == [1]
    stream = _prefetch(iter(range(1000)), size=2)
    assert next(stream) == 0
    stream.close()  # the consumer leaves early: the worker must not hang


# ------------------------------------------------------------------------ several people
BYSTANDER = [DATA / "bystander_cam01.mp4", DATA / "bystander_cam04.mp4"]  # see make_clips.py


@pytest.fixture(scope="module")
def bystander_tracks():
    return [estimate_pose(v, PoseConfig(progress=False)) for v in BYSTANDER]


@pytest.mark.slow
@pytest.mark.parametrize("view", [0, 1], ids=["cam01", "cam04"])
def test_default_finds_everyone_and_ranks_the_still_bystander_last(bystander_tracks, view):
    """Default config: several people per frame, posed at 30 of the video's 60 frames/s. The
    bystander (bigger in the frame than the participant) barely moves and comes last."""
    tracks = bystander_tracks[view]
    assert len(tracks) == 2
    mover, bystander = tracks
    assert len(mover) == 45 and np.diff(mover.meta["frames"]).tolist() == [2] * 44
    assert mover.meta["detections"] >= 40 and bystander.meta["detections"] >= 40
    assert np.nanmean(mover.xy[..., 0]) < 360 < np.nanmean(bystander.xy[..., 0])  # the panel on the right
    assert bystander.meta["body_size"] > mover.meta["body_size"]
    assert mover.meta["motion"] > 0.05 > 0.02 > bystander.meta["motion"]  # measured: 0.11-0.12 vs 0.005


@pytest.mark.parametrize("fps, max_rate, every, stride", [(60.0, 30.0, 1, 2), (59.94, 30.0, 1, 2), (29.97, 30.0, 1, 1),
                                                          (25.0, 30.0, 1, 1), (120.0, 30.0, 1, 4), (60.0, None, 1, 1),
                                                          (60.0, 30.0, 3, 3), (100.0, 30.0, 1, 3)])
def test_pose_stride_follows_max_rate(fps, max_rate, every, stride):
    config = PoseConfig(max_rate=max_rate, every=every)
    assert config.stride(fps) == stride
    assert config.frame_indices(10, fps) == list(range(0, 10, stride))
    assert PoseConfig(frames=[9, 3, 3, 12]).frame_indices(10, fps) == [3, 9]


# ------------------------------------------------------------------------ backends kept between videos
def test_backend_pool_keeps_a_backend_for_the_next_video_only_inside_active():
    from synnet_recon.pose import BackendPool

    made = []

    class Counting(PoseBackend):
        can_reset = True

        def __init__(self, **kw):
            super().__init__(**kw)
            made.append(self)

        def detect(self, image, time):
            return np.zeros((0, 18, 3))

        def reset(self):
            return self.can_reset

    pool = BackendPool()
    with pool.backend(Counting, 4, 0.5):
        pass
    assert len(made) == 1 and made[0].closed  # outside active: one per video, closed after it
    with pool.active():
        with pool.backend(Counting, 4, 0.5) as first:
            pass
        assert not first.closed
        with pool.backend(Counting, 4, 0.5) as again:
            assert again is first  # reset, then used for the next video
        with pool.backend(Counting, 2, 0.5) as other:
            assert other is not first  # another configuration: a new backend
        with pytest.raises(RuntimeError):
            with pool.backend(Counting, 4, 0.5) as failed:
                raise RuntimeError("corrupt video")
        assert failed is first and failed.closed  # a video that failed: its backend is not kept
        Counting.can_reset = False
        with pool.backend(Counting, 2, 0.5) as no_reset:
            pass
        assert no_reset is other and no_reset.closed  # cannot reset: closed, not kept
    assert all(b.closed for b in made) and len(made) == 3  # the last active block closes the kept ones


@pytest.mark.slow
def test_a_kept_mediapipe_backend_gives_the_same_keypoints_as_a_new_one():
    from synnet_recon.pose import BACKEND_POOL

    config = PoseConfig(num_people=4, every=6, max_side=480, progress=False)
    fresh_multi = estimate_pose(MULTI, config)
    fresh_single = estimate_pose(SINGLE, config)
    with BACKEND_POOL.active():
        first = estimate_pose(SINGLE, config)
        kept = estimate_pose(MULTI, config)  # on the backend that posed SINGLE
        kept_again = estimate_pose(SINGLE, config)
    for fresh, got in ((fresh_single, first), (fresh_multi, kept), (fresh_single, kept_again)):
        assert len(fresh) == len(got)
        for a, b in zip(fresh, got):
            np.testing.assert_array_equal(a.xy, b.xy)
            np.testing.assert_array_equal(a.conf, b.conf)
