"""OpenPose JSON folders: round trips, BODY_25/BODY_25B/MediaPipe mappings, tracking, bad inputs."""
import json
from pathlib import Path

import numpy as np
import pytest

from synnet_recon.errors import InputError
from synnet_recon.io import (
    COCO18_FROM_BODY25,
    COCO18_FROM_MEDIAPIPE33,
    guess_openpose_25,
    read_openpose_folder,
    read_openpose_tracks,
    to_coco18,
    write_openpose_folder,
)
from synnet_recon.keypoints import Keypoints
from synnet_recon.skeleton import JOINT_INDEX as J

POSE2SIM = Path(__file__).resolve().parents[1] / "data" / "pose2sim" / "cam01_json"


def random_track(rng, T=12, size=(640, 480), start=0.0, fps=30.0, offset=(0.0, 0.0)) -> Keypoints:
    xy = rng.uniform(0, 200, (T, 18, 2)).astype(np.float32) + np.float32(offset)
    conf = rng.uniform(0.05, 1.0, (T, 18)).astype(np.float32)
    missing = rng.random((T, 18)) < 0.2
    xy[missing] = np.nan
    conf[missing] = 0.0
    return Keypoints.from_fps(xy, conf, fps, size, "cam", start=start)


def assert_same_track(a: Keypoints, b: Keypoints):
    np.testing.assert_array_equal(a.xy, b.xy)  # NaN == NaN here
    np.testing.assert_array_equal(a.conf, b.conf)
    np.testing.assert_allclose(a.times, b.times, rtol=0, atol=1e-12)
    assert tuple(a.image_size) == tuple(b.image_size)


def test_round_trip_one_track(tmp_path, rng):
    kp = random_track(rng, start=0.25)
    kp.xy[3] = np.nan  # a frame with nobody
    kp.conf[3] = 0.0
    out = write_openpose_folder(tmp_path / "cam0", kp, "cam0")
    files = sorted(out.iterdir())
    assert [f.name for f in files[:2]] == ["cam0_000000000000_keypoints.json", "cam0_000000000001_keypoints.json"]
    data = json.loads(files[0].read_text())
    assert data["version"] and len(data["people"][0]["pose_keypoints_2d"]) == 54
    assert json.loads(files[3].read_text())["people"] == []
    back = read_openpose_folder(out)
    assert_same_track(kp, back)
    assert back.meta["format"] == "coco18"
    # An explicit fps overrides the stored times: frame n at n / fps.
    np.testing.assert_allclose(read_openpose_folder(out, fps=60.0).times, np.arange(12) / 60.0)


def test_round_trip_several_people_and_overwrite(tmp_path, rng):
    a = random_track(rng)
    b = random_track(rng, offset=(300.0, 0.0))
    b.xy[:4] = np.nan  # b enters late
    b.conf[:4] = 0.0
    folder = tmp_path / "cams" / "c1"
    write_openpose_folder(folder, random_track(rng, T=20), "c1")  # replaced below
    write_openpose_folder(folder, [a, b], "c1")
    assert len(list(folder.iterdir())) == 12
    assert sorted(p.name for p in folder.parent.iterdir()) == ["c1"]  # no temporary leftovers
    tracks = read_openpose_tracks(folder)
    assert [t.meta["person_id"] for t in tracks] == [0, 1]  # both full-size; a is present longer
    assert_same_track(a, tracks[0])
    assert_same_track(b, tracks[1])
    assert read_openpose_folder(folder, person="most").meta["person_id"] == 0
    assert read_openpose_folder(folder, person=1).meta["person_id"] == 1
    with pytest.raises(InputError, match="person 2"):
        read_openpose_folder(folder, person=2)


def write_frame(path: Path, people: list, person_id=-1):
    data = {"version": 1.3, "people": [{"person_id": [person_id], "pose_keypoints_2d": list(map(float, p))}
                                       for p in people]}
    path.write_text(json.dumps(data))


def test_file_name_order_gaps_and_nearest_centroid_tracking(tmp_path, rng):
    """Frame order from the last number in the name; gaps are undetected frames; people keep
    their identity by nearest centroid although their order in the files changes."""
    folder = tmp_path / "Static"
    folder.mkdir()
    left = rng.uniform(0, 100, (18, 2))
    right = left + [500.0, 0.0]
    numbers = [10, 11, 12, 14, 15]
    for k, n in enumerate(numbers):
        step = np.array([5.0 * k, 0.0])
        p_left = np.c_[left + step, np.full(18, 0.9)].ravel()
        p_right = np.c_[right - step, np.full(18, 0.8)].ravel()
        people = [p_left, p_right] if k % 2 else [p_right, p_left]
        if n == 15:
            people = [p_left]
        write_frame(folder / f"Static_cam_01.{n:05d}.json", people)
    (folder / "notes.txt").write_text("not a keypoint file")
    tracks = read_openpose_tracks(folder, fps=60.0, image_size=(1280, 720))
    assert len(tracks) == 2
    for t in tracks:
        assert len(t) == 6 and t.image_size == (1280, 720)
        np.testing.assert_allclose(t.times, np.arange(10, 16) / 60.0)
        assert np.isnan(t.xy[3]).all() and (t.conf[3] == 0).all()  # frame 13 has no file
    main, other = tracks
    assert main.meta["detections"] == 5 and other.meta["detections"] == 4
    np.testing.assert_allclose(main.xy[[0, 1, 2, 4, 5], 0, 0] - left[0, 0], [0, 5, 10, 15, 20], atol=1e-4)
    np.testing.assert_allclose(other.xy[[0, 1, 2, 4], 0, 0] - right[0, 0], [0, -5, -10, -15], atol=1e-4)
    assert np.isnan(other.xy[5]).all()


def test_pose2sim_body25b_is_anatomical():
    """Real OpenPose BODY_25B output (Pose2Sim demo): the main subject maps onto a sane COCO-18."""
    tracks = read_openpose_tracks(POSE2SIM, fps=60.0, image_size=(1080, 1920))
    assert [t.meta["format"] for t in tracks] == ["body25b"] * len(tracks)
    main = tracks[0]
    assert len(main) == 10 and main.meta["detections"] == 10
    np.testing.assert_allclose(main.times, np.arange(10) / 60.0)
    assert np.nanmean(main.xy[:, :, 0]) > 300 > np.nanmean(tracks[1].xy[:, :, 0])  # bystander at the left edge
    y = np.nanmedian(main.xy[..., 1], axis=0)
    x = np.nanmedian(main.xy[..., 0], axis=0)
    for upper, lower in [("r_eye", "nose"), ("l_eye", "nose"), ("nose", "neck"), ("neck", "r_hip"), ("neck", "l_hip"),
                         ("r_hip", "r_knee"), ("l_hip", "l_knee"), ("r_knee", "r_ankle"), ("l_knee", "l_ankle"),
                         ("r_shoulder", "r_elbow"), ("l_shoulder", "l_elbow")]:
        assert y[J[upper]] < y[J[lower]], (upper, lower)  # image y grows downwards
    # Facing the camera: the subject's right side is on the image's left, the neck in between.
    for right, left in [("r_shoulder", "l_shoulder"), ("r_hip", "l_hip"), ("r_eye", "l_eye"), ("r_ear", "l_ear")]:
        assert x[J[right]] < x[J[left]], (right, left)
    assert x[J["r_shoulder"]] < x[J["neck"]] < x[J["l_shoulder"]]
    np.testing.assert_allclose(main.xy[:, J["neck"]], 0.5 * (main.xy[:, J["r_shoulder"]] + main.xy[:, J["l_shoulder"]]))
    # Raw check against the file: COCO-18 r_knee is BODY_25B point 14.
    raw = json.loads((POSE2SIM / "cam01.0000.json").read_text())["people"]
    knees = [np.asarray(p["pose_keypoints_2d"]).reshape(25, 3)[14, :2] for p in raw]
    assert min(np.abs(k - main.xy[0, J["r_knee"]]).max() for k in knees) < 1e-3


def test_body25_is_told_from_body25b(tmp_path):
    """The same people written in BODY_25 layout read back to the same COCO-18 points."""
    b25b = read_openpose_tracks(POSE2SIM, fps=60.0)
    folder = tmp_path / "body25"
    folder.mkdir()
    src = [i for (i,) in COCO18_FROM_BODY25]
    for f in range(10):
        people = []
        for t in b25b:
            kp = np.zeros((25, 3))
            ok = t.conf[f] > 0
            kp[np.array(src)[ok], :2] = t.xy[f][ok]
            kp[np.array(src)[ok], 2] = t.conf[f][ok]
            if kp[9, 2] > 0 and kp[12, 2] > 0:
                kp[8] = [*(0.5 * (kp[9, :2] + kp[12, :2])), min(kp[9, 2], kp[12, 2])]
            people.append(kp.ravel())
        write_frame(folder / f"cam_{f:012d}_keypoints.json", people)
    b25 = read_openpose_tracks(folder, fps=60.0)
    assert b25[0].meta["format"] == "body25"
    for a, b in zip(b25b, b25):
        np.testing.assert_allclose(a.xy, b.xy, atol=1e-3)
    raw = np.stack([np.asarray(p["pose_keypoints_2d"]).reshape(25, 3)
                    for f in sorted(POSE2SIM.iterdir()) for p in json.loads(f.read_text())["people"]])
    assert guess_openpose_25(raw) == "body25b"


def test_to_coco18_mediapipe_and_missing_sources():
    lm = np.zeros((2, 33, 3))
    lm[..., 0] = np.arange(33)
    lm[..., 1] = 100 + np.arange(33)
    lm[..., 2] = 0.9
    lm[1, 11, 2] = 0.0  # left shoulder lost in frame 1
    xy, conf = to_coco18(lm, "mediapipe33")
    assert xy.shape == (2, 18, 2) and conf.shape == (2, 18)
    for name, idx in [("nose", 0), ("r_shoulder", 12), ("l_shoulder", 11), ("r_wrist", 16), ("l_hip", 23),
                      ("r_ankle", 28), ("r_eye", 5), ("l_eye", 2), ("r_ear", 8), ("l_ear", 7)]:
        assert xy[0, J[name], 0] == idx, name
    assert xy[0, J["neck"], 0] == 11.5
    assert np.isnan(xy[1, J["neck"]]).all() and conf[1, J["neck"]] == 0  # needs both shoulders
    assert np.isnan(xy[1, J["l_shoulder"]]).all() and conf[1, J["r_shoulder"]] == pytest.approx(0.9)
    assert len(COCO18_FROM_MEDIAPIPE33) == 18
    with pytest.raises(ValueError):
        to_coco18(lm, "body25")
    with pytest.raises(ValueError):
        to_coco18(lm, "nonsense")


def test_empty_people_and_zero_confidence(tmp_path):
    folder = tmp_path / "k"
    folder.mkdir()
    pts = np.c_[np.arange(18) * 10.0, np.arange(18) * 5.0 + 1, np.full(18, 0.7)]
    pts[4] = [123.0, 45.0, 0.0]  # confidence 0: undetected although it has coordinates
    write_frame(folder / "a_000000000000_keypoints.json", [pts.ravel()])
    write_frame(folder / "a_000000000001_keypoints.json", [])
    (folder / "a_000000000002_keypoints.json").write_text(json.dumps({"version": 1.3, "people": [
        {"person_id": [-1], "pose_keypoints_2d": []}]}))  # OpenPose's "body not estimated"
    kp = read_openpose_folder(folder)
    assert len(kp) == 3 and kp.meta["image_size_guessed"]
    assert np.isnan(kp.xy[0, 4]).all() and kp.conf[0, 4] == 0
    assert np.isfinite(kp.xy[0, [0, 1, 5]]).all()
    assert np.isnan(kp.xy[1:]).all() and (kp.conf[1:] == 0).all()
    np.testing.assert_allclose(kp.times, np.arange(3) / 30.0)


BAD_FILES = {
    "malformed.json": ("{\"people\": [", "malformed JSON"),
    "list.json": ("[1, 2, 3]", "no 'people'"),
    "nopeople.json": ("{\"version\": 1.3}", "no 'people'"),
    "short.json": (json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 50}]}), "50 numbers"),
    "text.json": (json.dumps({"people": [{"pose_keypoints_2d": ["a"] * 54}]}), "non-numbers"),
    "notlist.json": (json.dumps({"people": [{"pose_keypoints_2d": 3}]}), "not a list"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_name_the_file(tmp_path, name):
    text, problem = BAD_FILES[name]
    folder = tmp_path / "k"
    folder.mkdir()
    write_frame(folder / "frame_0001.json", [np.ones(54)])
    bad = folder / f"{Path(name).stem}_0002.json"
    bad.write_text(text)
    with pytest.raises(InputError, match=problem) as e:
        read_openpose_folder(folder)
    assert e.value.path == str(bad)


def test_bad_folders(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_openpose_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(InputError, match="no OpenPose keypoint files"):
        read_openpose_folder(tmp_path / "empty")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    write_frame(mixed / "m_0.json", [np.ones(54)])
    write_frame(mixed / "m_1.json", [np.ones(75)])
    with pytest.raises(InputError, match="earlier files") as e:
        read_openpose_folder(mixed)
    assert e.value.path.endswith("m_1.json")
    dup = tmp_path / "dup"
    dup.mkdir()
    write_frame(dup / "a_7.json", [np.ones(54)])
    write_frame(dup / "b_007.json", [np.ones(54)])
    with pytest.raises(InputError, match="frame number 7"):
        read_openpose_folder(dup)
    nonum = tmp_path / "nonum"
    nonum.mkdir()
    write_frame(nonum / "frame.json", [np.ones(54)])
    with pytest.raises(InputError, match="no frame number") as e:
        read_openpose_folder(nonum)
    assert e.value.path.endswith("frame.json")
