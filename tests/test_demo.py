"""`synrecon demo`: the orchestration's pieces on small inputs, and the whole demo (--quick) end to end."""
import json
import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from synnet_recon.demo import (
    MIN_PERSON_PX,
    CameraResult,
    DemoConfig,
    DemoReport,
    demo_camera_path,
    demo_motion,
    format_report,
    fuse_frames_spec,
    registration_errors,
)

# Stated tolerance of the demo: every estimated offset within 1 frame of the truth.
OFFSET_TOLERANCE_FRAMES = 1.0


def _pose(rng, spread=3.0):
    T = np.eye(4)
    T[:3, :3] = Rotation.random(random_state=int(rng.integers(1 << 30))).as_matrix()
    T[:3, 3] = rng.uniform(-spread, spread, 3)
    return T


def test_quick_config_and_overrides():
    q = DemoConfig.quick()
    assert (q.width, q.height) == (320, 240) and q.seconds < DemoConfig().seconds
    assert DemoConfig.quick(seconds=3.0, seed=4).seconds == 3.0
    q.validate()
    DemoConfig().validate()


@pytest.mark.parametrize("config", [DemoConfig(), DemoConfig.quick()], ids=["default", "quick"])
def test_demo_cameras_keep_the_person_large_and_in_view(config):
    from synnet_recon.synth.scene import SceneConfig, simulate_scene

    motion = demo_motion()
    for seed in range(2):
        scene = simulate_scene(SceneConfig(cameras=3, seconds=config.seconds, max_offset=config.max_offset,
                                           seed=seed, width=config.width,
                                           height=config.height, camera_path=demo_camera_path(config)), motion)
        for cam in scene.cameras:
            xy = cam.clean_xy  # (T, 18, 2) exact projections
            inside = ((xy >= 0) & (xy < [config.width, config.height])).all(axis=-1)
            assert inside.mean() > 0.97, cam.name
            # nose to ankle, px: MediaPipe misses people below about 70-80 px (docs/benchmarks.md);
            # the default setting keeps the dancer >= MIN_PERSON_PX (110), --quick's 240 px frame cannot
            height = np.nanmax(xy[..., 1], axis=1) - np.nanmin(xy[..., 1], axis=1)
            assert height.min() >= (MIN_PERSON_PX if config.height >= 360 else 70), (cam.name, height.min())


def test_fuse_frames_spec_picks_rows_every_video_covers():
    rows = []
    for i in range(60):
        frames = {"cam0": i}
        if i >= 10:
            frames["cam1"] = i - 10
        if i < 50:
            frames["cam2"] = i + 3
        rows.append({"time": i / 30, "frames": frames})
    from synnet_recon.sync.result import SyncResult, VideoSync

    def sync(offsets, rows):
        return SyncResult("cam0", [VideoSync(f"cam{k}", f"cam{k}.mp4", "video", 30.0, 60, o, o, 1.0)
                                   for k, o in enumerate(offsets)], [], frame_rows=rows)

    spec = fuse_frames_spec(sync([0.0, 0.0, 0.0], rows), 4)
    picked = list(range(60))[slice(*[int(p) for p in spec.split(":")])]
    assert len(picked) == 4 and picked[0] == 10 and picked[-1] <= 49
    assert all(len(rows[i]["frames"]) == 3 for i in picked)
    # an unsynchronized video (offset None) does not count; no common row at all -> None
    assert fuse_frames_spec(sync([0.0, 0.0, None], rows), 2).startswith("10:")
    assert fuse_frames_spec(sync([0.0, 0.0, 0.0], [{"time": 0, "frames": {"cam0": 0}}]), 3) is None


def test_registration_errors_against_true_poses():
    from synnet_recon.recon.fuse import FrameRecord

    rng = np.random.default_rng(0)
    n = 5
    w2c = {name: np.stack([_pose(rng) for _ in range(n)]) for name in ("cam0", "cam1", "cam2")}
    truth = {"cameras": [{"name": k, "world_to_camera": v.tolist()} for k, v in w2c.items()]}
    nudge = np.eye(4)
    nudge[:3, :3] = Rotation.from_euler("y", 2.0, degrees=True).as_matrix()
    nudge[:3, 3] = [0.05, 0.0, 0.0]
    records = []
    for i in range(3):
        f = {"cam0": i, "cam1": i + 1, "cam2": i + 2}
        true = {k: w2c["cam0"][f["cam0"]] @ np.linalg.inv(w2c[k][f[k]]) for k in f}
        est = {"cam0": np.eye(4), "cam1": true["cam1"], "cam2": nudge @ true["cam2"]}
        # world_from_reference: reference camera at instant i in the first instant's reference frame
        wfr = w2c["cam0"][0] @ np.linalg.inv(w2c["cam0"][i])
        records.append(FrameRecord(i, i / 30, f, est, {}, {}, {"cam0": True, "cam1": True, "cam2": i != 1}, {},
                                   wfr, 1000, True))
    per_camera, chain = registration_errors(records, truth, "cam0")
    assert np.allclose(per_camera["cam1"], 0.0, atol=1e-5)
    assert len(per_camera["cam2"]) == 2  # the instant where cam2 was not registered is left out
    rot, trans = np.array(per_camera["cam2"]).T
    assert np.allclose(rot, 2.0, atol=1e-4)
    # the nudge's rotation also moves the translation: compare with the exact difference
    for (_r, t), rec in zip(per_camera["cam2"], [records[0], records[2]]):
        true = w2c["cam0"][rec.frames["cam0"]] @ np.linalg.inv(w2c["cam2"][rec.frames["cam2"]])
        assert t == pytest.approx(np.linalg.norm(rec.camera_to_reference["cam2"][:3, 3] - true[:3, 3]))
    assert len(chain) == 2 and np.allclose(chain, 0.0, atol=1e-5)


@pytest.mark.parametrize("slide", [0.0, 0.30])
def test_verdict_fails_an_instant_placed_wrong_in_the_fused_cloud(slide):
    """Every view right at every instant, but one odometry step slid: the later instants sit off in
    fused.ply (the default demo's reference camera, seed 0, before the odometry fine check)."""
    from synnet_recon.demo import registration_verdict, verdict_line
    from synnet_recon.recon.fuse import FrameRecord

    rng = np.random.default_rng(1)
    w2c = {name: np.stack([_pose(rng) for _ in range(4)]) for name in ("cam0", "cam1")}
    truth = {"cameras": [{"name": k, "world_to_camera": v.tolist()} for k, v in w2c.items()]}
    records = []
    for i in range(4):
        f = {"cam0": i, "cam1": i}
        est = {"cam0": np.eye(4), "cam1": w2c["cam0"][i] @ np.linalg.inv(w2c["cam1"][i])}
        wfr = w2c["cam0"][0] @ np.linalg.inv(w2c["cam0"][i])
        if i >= 2:
            wfr = wfr.copy()
            wfr[0, 3] += slide
        records.append(FrameRecord(i, i / 30, f, est, {}, {}, {"cam0": True, "cam1": True}, {}, wfr, 1000, True))
    verdict = registration_verdict(records, truth, "cam0")
    assert verdict["accepted"] == 4 and not verdict["wrong_unflagged"] and verdict["world_checked"] == 3
    line = verdict_line(verdict)
    if slide == 0.0:
        assert verdict["passed"] and not verdict["world_wrong"] and line.startswith("PASS")
    else:
        assert not verdict["passed"] and [w[0] for w in verdict["world_wrong"]] == [2, 3]
        assert line.startswith("FAIL") and "2 fused instants are placed wrong in fused.ply" in line
        assert verdict["world_wrong"][0][2] == pytest.approx(30.0, abs=0.1)


def test_format_report_handles_unsynchronized_cameras(tmp_path):
    report = DemoReport(
        config=DemoConfig.quick(), out_dir=tmp_path, reference="cam0", fps=30.0,
        cameras=[CameraResult("cam0", 0.0, 0.0, 0.0, 1.0, 3, 3),
                 CameraResult("cam1", 0.25, 0.26, 0.3, 0.9, 2, 3, 1.5, 4.2),
                 CameraResult("cam2", -0.4, None, None, 0.0, 0, 3)],
        stage_seconds={"simulate": 0.1, "render": 10.0}, paths={"report": "x", "screenshot": None})
    text = format_report(report)
    assert "cam1" in text and "+0.30 fr" in text and "2/3" in text and "1.50" in text and "4.2 cm" in text
    assert "reference" in text and "total 10.1 s" in text
    assert report.max_error_frames is None  # cam2 has no estimate
    doc = report.to_json()
    assert doc["schema"] == "synnet-recon/demo-report" and json.dumps(doc)


@pytest.mark.parametrize("args, message", [
    (["--seconds", "1"], "too little overlap"),
    (["--width", "100"], "at least 160x120"),
    (["--width", "321"], "must be even"),
    (["--cameras", "1"], "at least 2"),
    (["--max-offset", "-1"], "must not be negative"),
    (["--seed", "-3"], "must not be negative"),
    (["--instants", "0"], "at least 1"),
])
def test_bad_options_are_one_line_errors(tmp_path, args, message):
    proc = subprocess.run([sys.executable, "-m", "synnet_recon.cli", "demo", str(tmp_path / "out"), *args],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("synrecon: error: ") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# End to end: `synrecon demo OUT --quick` (rendering, MediaPipe, SynNet, Open3D), once per module


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    proc = subprocess.run([sys.executable, "-m", "synnet_recon.cli", "demo", str(out), "--quick", "--quiet"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout


@pytest.mark.slow
def test_quick_demo_writes_everything(quick_demo):
    out, stdout = quick_demo
    report = json.loads((out / "demo_report.json").read_text())
    truth = json.loads((out / "scene" / "truth.json").read_text())
    sync = json.loads((out / "sync.json").read_text())
    assert report["schema"] == "synnet-recon/demo-report"
    # outputs of every stage
    for cam in truth["cameras"]:
        assert (out / "scene" / cam["video"]).stat().st_size > 0
        assert len(list((out / "scene" / cam["depth"]).glob("*.png"))) == cam["num_frames"]
    registration = json.loads((out / "recon" / "registration.json").read_text())
    assert (out / "recon" / "skeleton3d.json").is_file()
    if registration["num_fused"]:
        assert (out / "recon" / "fused.ply").stat().st_size > 0 and report["fused_points"] > 1000
        assert (out / "fused.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:  # every instant flagged: nothing fused, and the demo says so instead of naming a cloud
        assert report["fused_points"] == 0 and f"fused 0/{report['instants']} instants" in stdout
        assert "cloud:" not in stdout
    assert report["instants"] == DemoConfig.quick().fuse_instants
    # the report's offsets are truth.json's and sync.json's
    est = {v["name"]: v["offset_seconds"] for v in sync["videos"]}
    for cam, row in zip(truth["cameras"], report["cameras"]):
        assert row["name"] == cam["name"] and row["true_offset_s"] == cam["offset_seconds"]
        assert row["est_offset_s"] == est[cam["name"]]
        if row["est_offset_s"] is not None:
            assert row["error_frames"] == pytest.approx((row["est_offset_s"] - row["true_offset_s"]) * truth["fps"])
    assert set(report["stage_seconds"]) >= {"simulate", "render", "align", "fuse"}
    # the printed table has a row per camera and the timings
    for cam in truth["cameras"]:
        assert any(line.startswith(cam["name"] + " ") for line in stdout.splitlines())
    assert "time: simulate" in stdout


@pytest.mark.slow
def test_quick_demo_offsets_are_right_or_not_confident(quick_demo):
    """The quick demo is small (its dance clip is short), so a camera may stay unsynchronized or
    uncertain; what must never happen is a wrong offset claimed with high confidence."""
    out, _ = quick_demo
    report = json.loads((out / "demo_report.json").read_text())
    for cam in report["cameras"]:
        if cam["error_frames"] is None:
            continue  # null offset: declined, which is honest
        if abs(cam["error_frames"]) > OFFSET_TOLERANCE_FRAMES:
            assert cam["confidence"] < 0.9, f"{cam['name']} is {cam['error_frames']:+.2f} frames off at confidence {cam['confidence']:.2f}"
