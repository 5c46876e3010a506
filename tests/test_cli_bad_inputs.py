"""Bad input to `fuse`, `view` and `export`: exit 2, one line naming the file and the problem, no
traceback, and nothing written. On a tiny `simulate --render` scene, fused once."""
from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from synnet_recon.cli import main as cli_main
from synnet_recon.sync.result import SyncResult
from synnet_recon.synth.scene import read_truth


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    """SCENE/{videos,depth,truth.json} (2 cameras, 6 frames of 320x240), SCENE/sync.json (true
    offsets) and SCENE/recon/ (fuse output)."""
    from synnet_recon.synth.scene import SceneConfig, simulate_scene, write_scene

    root = tmp_path_factory.mktemp("bad") / "scene"
    write_scene(simulate_scene(SceneConfig(cameras=2, seconds=0.6, fps=10, seed=1, width=320, height=240,
                                           max_offset=0.0)), root, render=True)
    SyncResult.from_truth(read_truth(root / "truth.json"), root).save(root / "sync.json")
    with pytest.raises(SystemExit) as exc:
        cli_main(["fuse", str(root / "sync.json"), "--out", str(root / "recon"), "--quiet"])
    assert exc.value.code == 0
    assert (root / "recon" / "registration.json").is_file() and (root / "recon" / "frames" / "000001.ply").is_file()
    _register_with_truth(root)
    return root


def _register_with_truth(root: Path) -> None:
    """The scene is too small for fuse to verify its instants (it flags them all, honestly), so the
    cases below, which test what export and view do with bad input, get registration.json with the
    true camera poses and every instant ok."""
    truth = json.loads((root / "truth.json").read_text())
    w2c = {c["name"]: np.asarray(c["world_to_camera"]) for c in truth["cameras"]}
    ref = truth["cameras"][0]["name"]
    path = root / "recon" / "registration.json"
    doc = json.loads(path.read_text())
    for frame in doc["frames"]:
        at = {n: w2c[n][j] for n, j in frame["frames"].items()}
        frame["camera_to_reference"] = {n: (at[ref] @ np.linalg.inv(T)).tolist() for n, T in at.items()}
        frame["view_ok"] = {n: True for n in at}
        frame["world_from_reference"] = np.linalg.inv(at[ref]).tolist()
        frame["ok"] = frame["fused"] = True
    doc["num_ok"] = len(doc["frames"])
    path.write_text(json.dumps(doc))


def _files(folder: Path) -> set:
    return {(p.relative_to(folder), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def _copy_scene(scene: Path, tmp: Path) -> Path:
    """A private copy of the scene (for cases that damage it); sync.json rewritten to point at it."""
    root = tmp / "scene"
    shutil.copytree(scene, root)
    sync = json.loads((root / "sync.json").read_text())
    for v in sync["videos"]:
        v["path"] = v["path"].replace(str(scene), str(root))
        v["keypoints"] = v["keypoints"].replace(str(scene), str(root))
    (root / "sync.json").write_text(json.dumps(sync))
    return root


def _edit_json(path: Path, change) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def _a_file(tmp: Path) -> Path:
    (tmp / "plain.txt").write_text("a file, not a folder")
    return tmp / "plain.txt"


# Each case: (name, setup(scene, tmp) -> argv, words the error line must hold). ``{tmp}``-relative
# outputs are checked not to exist afterwards. A setup may damage only its own copy of the scene.

def fuse_depth_8bit(scene, tmp):
    bad = tmp / "depth8"
    bad.mkdir()
    for p in sorted((scene / "depth" / "cam1").iterdir()):
        cv2.imwrite(str(bad / p.name), np.full((240, 320, 3), 90, np.uint8))
    return ["fuse", str(scene / "sync.json"), "--out", str(tmp / "out"), "--depth-dir", f"cam1={bad}"], \
        [str(bad / "000000.png"), "16-bit"]


def fuse_depth_npy_wrong_size(scene, tmp):
    bad = tmp / "depth.npy"
    np.save(bad, np.ones((6, 60, 80), np.float32))
    return ["fuse", str(scene / "sync.json"), "--out", str(tmp / "out"), "--depth-dir", f"cam1={bad}"], \
        [str(bad), "depth is 80x60 but the video frame is 320x240"]


def fuse_depth_npy_wrong_type(scene, tmp):
    bad = tmp / "depth.npy"
    np.save(bad, np.array(["a", "b"]))
    return ["fuse", str(scene / "sync.json"), "--out", str(tmp / "out"), "--depth-dir", f"cam1={bad}"], \
        [str(bad), "depth"]


def fuse_missing_depth_frame(scene, tmp):
    root = _copy_scene(scene, tmp)
    (root / "depth" / "cam1" / "000003.png").unlink()
    return ["fuse", str(root / "sync.json"), "--out", str(tmp / "out")], \
        [str(root / "depth" / "cam1"), "no depth map for frame 3"]


def fuse_missing_video_frame(scene, tmp):
    root = _copy_scene(scene, tmp)
    _edit_json(root / "sync.json", lambda d: d["frames"][-1]["frames"].update(cam1=40))
    return ["fuse", str(root / "sync.json"), "--out", str(tmp / "out")], \
        [str(root / "videos" / "cam1.mp4"), "no frame 40"]


def fuse_corrupt_video(scene, tmp):
    root = _copy_scene(scene, tmp)
    (root / "videos" / "cam1.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    return ["fuse", str(root / "sync.json"), "--out", str(tmp / "out")], \
        [str(root / "videos" / "cam1.mp4"), "cannot open video"]


def fuse_missing_video(scene, tmp):
    root = _copy_scene(scene, tmp)
    (root / "videos" / "cam1.mp4").unlink()
    return ["fuse", str(root / "sync.json"), "--out", str(tmp / "out")], \
        [str(root / "videos" / "cam1.mp4"), "not found"]


def fuse_sync_not_json(scene, tmp):
    (tmp / "sync.json").write_text('{"schema": "synnet-recon/sync", ')
    return ["fuse", str(tmp / "sync.json"), "--out", str(tmp / "out")], [str(tmp / "sync.json"), "not valid JSON"]


def fuse_sync_unknown_video_in_frames(scene, tmp):
    bad = _edit_json(Path(shutil.copy(scene / "sync.json", tmp / "sync.json")),
                     lambda d: d["frames"][0]["frames"].update(ghost=0))
    return ["fuse", str(bad), "--out", str(tmp / "out")], [str(bad), "ghost"]


def fuse_frames_out_of_bounds(scene, tmp):
    return ["fuse", str(scene / "sync.json"), "--out", str(tmp / "out"), "--frames", "2:50"], \
        ["--frames", "2:50", "6 rows"]


def fuse_frames_bad_step(scene, tmp):
    return ["fuse", str(scene / "sync.json"), "--out", str(tmp / "out"), "--frames", "0:4:0"], \
        ["--frames", "STEP must be positive"]


def fuse_unwritable_out(scene, tmp):
    out = _a_file(tmp) / "out"
    return ["fuse", str(scene / "sync.json"), "--out", str(out)], [str(tmp / "plain.txt"), "not a folder"]


def fuse_intrinsics_malformed(scene, tmp):
    (tmp / "intr.json").write_text('{"cam0": {"fx": "wide"}}')
    return ["fuse", str(scene / "sync.json"), "--out", str(tmp / "out"), "--intrinsics", str(tmp / "intr.json")], \
        [str(tmp / "intr.json")]


def fuse_intrinsics_missing(scene, tmp):
    return ["fuse", str(scene / "sync.json"), "--out", str(tmp / "out"), "--intrinsics", str(tmp / "nope.json")], \
        [str(tmp / "nope.json"), "not found"]


def fuse_depth_dir_unknown_video(scene, tmp):
    return ["fuse", str(scene / "sync.json"), "--out", str(tmp / "out"), "--depth-dir",
            f"cam7={scene / 'depth' / 'cam1'}"], ["--depth-dir", "cam7", "cam0, cam1"]


def fuse_depth_dir_missing(scene, tmp):
    return ["fuse", str(scene / "sync.json"), "--out", str(tmp / "out"), "--depth-dir", f"cam1={tmp / 'nodepth'}"], \
        [str(tmp / "nodepth"), "not found"]


def fuse_unknown_backend(scene, tmp):
    return ["fuse", str(scene / "sync.json"), "--out", str(tmp / "out"), "--depth", "lidar"], \
        ["unknown depth backend 'lidar'"]


def fuse_mono_model_missing(scene, tmp):
    return ["fuse", str(scene / "sync.json"), "--out", str(tmp / "out"), "--depth", "mono", "--mono-model",
            str(tmp / "model.pt")], [str(tmp / "model.pt"), "not found"]


def view_missing_clouds(scene, tmp):
    root = _copy_scene(scene, tmp)
    (root / "recon" / "frames" / "000002.ply").unlink()
    return ["view", str(root / "recon"), "--screenshot", str(tmp / "shot.png")], \
        [str(root / "recon" / "frames" / "000002.ply"), "registration.json", "missing"]


def view_corrupt_cloud(scene, tmp):
    (tmp / "c.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 99\nend_header\n\x00")
    return ["view", str(tmp / "c.ply"), "--screenshot", str(tmp / "shot.png")], [str(tmp / "c.ply"), "cloud"]


def view_frame_out_of_range(scene, tmp):
    return ["view", str(scene / "recon"), "--frame", "99", "--screenshot", str(tmp / "shot.png")], \
        [str(scene / "recon" / "frames"), "no frame 99", "0..5"]


def view_registration_malformed(scene, tmp):
    root = _copy_scene(scene, tmp)
    (root / "recon" / "registration.json").write_text("[1, 2")
    return ["view", str(root / "recon"), "--screenshot", str(tmp / "shot.png")], \
        [str(root / "recon" / "registration.json"), "not valid JSON"]


def view_unwritable_screenshot(scene, tmp):
    shot = _a_file(tmp) / "shot.png"
    return ["view", str(scene / "recon"), "--screenshot", str(shot)], [str(tmp / "plain.txt"), "not a folder"]


def view_screenshot_not_png(scene, tmp):
    return ["view", str(scene / "recon"), "--screenshot", str(tmp / "shot.jpg")], \
        [str(tmp / "shot.jpg"), ".png"]


def export_missing_registration(scene, tmp):
    (tmp / "recon").mkdir()
    return ["export", "colmap", str(scene / "sync.json"), "--recon", str(tmp / "recon"), "--out", str(tmp / "out")], \
        [str(tmp / "recon" / "registration.json"), "not found"]


def export_unwritable_out(scene, tmp):
    out = _a_file(tmp) / "out"
    return ["export", "colmap", str(scene / "sync.json"), "--recon", str(scene / "recon"), "--out", str(out)], \
        [str(tmp / "plain.txt"), "not a folder"]


def export_depth_wrong_size(scene, tmp):
    small = tmp / "small"
    small.mkdir()
    for i in range(6):
        cv2.imwrite(str(small / f"{i:06d}.png"), np.full((60, 80), 1000, np.uint16))
    return ["export", "open3d", str(scene / "sync.json"), "--recon", str(scene / "recon"), "--out", str(tmp / "out"),
            "--depth-dir", f"cam1={small}"], [str(small), "80x60", "320x240"]


def export_missing_video(scene, tmp):
    root = _copy_scene(scene, tmp)
    (root / "videos" / "cam1.mp4").unlink()
    return ["export", "nerfstudio", str(root / "sync.json"), "--recon", str(root / "recon"),
            "--out", str(tmp / "out")], [str(root / "videos" / "cam1.mp4"), "not found"]


def export_registration_other_cameras(scene, tmp):
    root = _copy_scene(scene, tmp)
    def rename(d):
        d["reference"] = "gopro0"
        for v in d["videos"]:
            v["name"] = v["name"].replace("cam", "gopro")
        for r in d["frames"]:
            r["frames"] = {k.replace("cam", "gopro"): i for k, i in r["frames"].items()}
            r["residual_seconds"] = {k.replace("cam", "gopro"): x for k, x in r["residual_seconds"].items()}

    _edit_json(root / "sync.json", rename)
    return ["export", "colmap", str(root / "sync.json"), "--recon", str(root / "recon"), "--out", str(tmp / "out")], \
        [str(root / "recon" / "registration.json"), "gopro0"]


PROGRESS = re.compile(r"^[\w ]+: +\d+%\|")   # tqdm bars of the stages that ran before the error

CASES = [fuse_depth_8bit, fuse_depth_npy_wrong_size, fuse_depth_npy_wrong_type, fuse_missing_depth_frame,
         fuse_missing_video_frame, fuse_corrupt_video, fuse_missing_video, fuse_sync_not_json,
         fuse_sync_unknown_video_in_frames, fuse_frames_out_of_bounds, fuse_frames_bad_step, fuse_unwritable_out,
         fuse_intrinsics_malformed, fuse_intrinsics_missing, fuse_depth_dir_unknown_video, fuse_depth_dir_missing,
         fuse_unknown_backend, fuse_mono_model_missing,
         view_missing_clouds, view_corrupt_cloud, view_frame_out_of_range, view_registration_malformed,
         view_unwritable_screenshot, view_screenshot_not_png,
         export_missing_registration, export_unwritable_out, export_depth_wrong_size, export_missing_video,
         export_registration_other_cameras]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_is_one_line_exit_2_and_nothing_written(scene, tmp_path, capsys, case):
    argv, words = case(scene, tmp_path)
    before_scene, before_tmp = _files(scene), _files(tmp_path)
    with pytest.raises(SystemExit) as exc:
        cli_main(argv)
    err = capsys.readouterr().err
    lines = [s for s in err.replace("\r", "\n").splitlines() if s.strip() and not PROGRESS.match(s)]
    assert exc.value.code == 2, err
    assert len(lines) == 1 and lines[0].startswith("synrecon: error: "), err
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert _files(scene) == before_scene
    assert _files(tmp_path) == before_tmp, "something was written"


def test_viewer_port_in_use_is_one_line_exit_2(scene):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "synnet_recon.cli", "view", str(scene / "recon"), "--port",
                               str(port)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [s for s in proc.stderr.splitlines() if s.strip()]
    assert lines == [f"synrecon: error: --port {port}: 127.0.0.1:{port} is in use; pick another port"]
