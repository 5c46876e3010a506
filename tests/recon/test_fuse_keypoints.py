"""fuse reads each video's keypoints where sync.json says they are (or --keypoints), through
io.load_tracks: no guessing of folder layouts, no parser of its own."""
import numpy as np
import pytest

from synnet_recon.errors import InputError
from synnet_recon.io.openpose import write_openpose_folder
from synnet_recon.keypoints import Keypoints
from synnet_recon.recon.frames import VideoSource
from synnet_recon.recon.fuse import FuseConfig, _keypoint_tracks
from synnet_recon.sync.result import SyncResult, VideoSync


def _track(n=4, shift=0.0) -> Keypoints:
    xy = np.full((n, 18, 2), 10.0 + shift, np.float32)
    return Keypoints(xy, np.full((n, 18), 0.9, np.float32), np.arange(n) / 30, (64, 48), "cam",
                     {"frames": np.arange(n)})


@pytest.mark.parametrize("source", ["npz written by align", "openpose folder", "--keypoints", "none"])
def test_keypoints_come_from_sync_json_or_the_option(tmp_path, source):
    videos = [VideoSync(n, f"{n}.mp4", "video", 30.0, 4, 0.0, 0.0, 1.0, np.arange(4) / 30) for n in ("cam0", "cam1")]
    if source == "npz written by align":
        videos[1].tracks = [_track(shift=5)]
    elif source == "openpose folder":
        write_openpose_folder(tmp_path / "op1", _track(shift=5))
        videos[1].keypoints = "op1"
    sync = SyncResult("cam0", videos, [])
    sync.save(tmp_path / "sync.json")
    sync = SyncResult.load(tmp_path / "sync.json")
    config = FuseConfig()
    if source == "--keypoints":
        write_openpose_folder(tmp_path / "given", _track(shift=5))
        config.keypoint_dirs = {"cam1": str(tmp_path / "given")}
    found = _keypoint_tracks(config, sync, {v.name: VideoSource(v.name, tmp_path / f"{v.name}.mp4") for v in videos})
    if source == "none":
        assert found == {}
        return
    assert set(found) == {"cam1"}
    np.testing.assert_array_equal(found["cam1"].at_frame(2)[:, :2], np.full((18, 2), 15.0))


def test_keypoint_errors(tmp_path):
    sync = SyncResult("cam0", [VideoSync("cam0", "cam0.mp4", "video", 30.0, 4, 0.0, 0.0, 1.0, keypoints="gone.npz")], [],
                      frame_rows=[])
    videos = {"cam0": VideoSource("cam0", tmp_path / "cam0.mp4")}
    assert _keypoint_tracks(FuseConfig(), sync, videos) == {}  # named in sync.json but missing: warned, no hints
    with pytest.raises(InputError, match="--keypoints names unknown video 'camX'"):
        _keypoint_tracks(FuseConfig(keypoint_dirs={"camX": str(tmp_path)}), sync, videos)
    (tmp_path / "bad.npz").write_bytes(b"junk")
    with pytest.raises(InputError, match="not a keypoints file"):
        _keypoint_tracks(FuseConfig(keypoint_dirs={"cam0": str(tmp_path / "bad.npz")}), sync, videos)
