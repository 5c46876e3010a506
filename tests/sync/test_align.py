"""`align` / `synrecon align`: sign conventions, order invariance, joint solve, sub-frame refinement,
confidence, the frames table, every bad input, and the Pose2Sim demo cut at known frames."""
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from synnet_recon.cli import main
from synnet_recon.errors import InputError
from synnet_recon.io.openpose import write_openpose_folder
from synnet_recon.keypoints import Keypoints
from synnet_recon.sync.align import (
    AlignConfig,
    SyncResult,
    VideoSync,
    align,
)
from synnet_recon.sync.epipolar import FineScorer, parabola_vertex
from synnet_recon.sync.solve import PairObservation, solve_offsets
from synnet_recon.synth.scene import SceneConfig, simulate_scene

FPS = 30.0


def _scene(motion, cameras=2, seconds=4.0, noise=1.0, seed=0, max_offset=0.0):
    return simulate_scene(SceneConfig(cameras=cameras, seconds=seconds, fps=FPS, max_offset=max_offset,
                                      seed=seed, noise=noise), motion)


def _config(**kw):
    kw.setdefault("progress", False)
    kw.setdefault("synnet", "off")
    return AlignConfig(**kw)


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code, capsys.readouterr()


# ------------------------------------------------------------------------ conventions, end to end

def test_sign_convention_end_to_end_cli(tmp_path, motion, capsys):
    """cam1 cut to start k frames later -> offset +k/fps; cam0 cut instead -> -k/fps."""
    sc = _scene(motion, seconds=5.0, seed=1)
    k = 9
    a, b = sc.cameras[0].keypoints, sc.cameras[1].keypoints
    write_openpose_folder(tmp_path / "front", a, "front")
    write_openpose_folder(tmp_path / "late", b.slice(k, len(b)), "late")
    out = tmp_path / "sync.json"
    code, io = _run(["align", str(tmp_path / "front"), str(tmp_path / "late"), "--out", str(out), "--quiet",
                     "--plot", str(tmp_path / "sync.png")], capsys)
    assert code == 0, io.err
    data = json.loads(out.read_text())
    assert data["schema"] == "synnet-recon/sync" and data["version"] == 2 and data["reference"] == "front"
    late = data["videos"][1]
    assert late["keypoints"] == str((tmp_path / "late").resolve())  # an OpenPose input's keypoints: its folder
    assert late["name"] == "late" and late["kind"] == "keypoints" and late["num_frames"] == len(b) - k
    assert abs(late["offset_seconds"] - k / FPS) < 0.5 / FPS
    assert abs(late["offset_frames"] - late["offset_seconds"] * FPS) < 1e-9
    assert data["pairs"][0]["a"] == "front" and abs(data["pairs"][0]["offset_seconds"] - k / FPS) < 0.5 / FPS
    assert (tmp_path / "sync.png").stat().st_size > 1000

    # the other way round, through the Python API with Keypoints
    res = align([a.slice(k, len(a)), b], _config())
    assert abs(res.videos[1].offset_seconds - (-k / FPS)) < 0.5 / FPS


def test_order_invariance(motion):
    sc = _scene(motion, cameras=3, seconds=5.0, seed=2, max_offset=1.0)
    kps = [c.keypoints for c in sc.cameras]
    first = align(kps, _config(reference="cam0")).offsets
    permuted = align([kps[2], kps[0], kps[1]], _config(reference="cam0")).offsets
    for name in first:
        assert permuted[name] == pytest.approx(first[name], abs=1e-9)
    truth = {c.name: c.offset_seconds for c in sc.cameras}
    for name in truth:
        assert abs(first[name] - truth[name]) < 1.0 / FPS


def test_other_reference_shifts_all_offsets(motion):
    sc = _scene(motion, cameras=3, seconds=4.0, seed=4, max_offset=0.8)
    kps = [c.keypoints for c in sc.cameras]
    r0 = align(kps, _config())
    r2 = align(kps, _config(reference="cam2"))
    assert r2.reference == "cam2" and r2.video("cam2").offset_seconds == 0.0
    for name in ("cam0", "cam1"):
        assert r2.offsets[name] == pytest.approx(r0.offsets[name] - r0.offsets["cam2"], abs=1e-9)


# ------------------------------------------------------------------------ joint solver

def test_solver_rejects_an_outlier_pair_and_ignores_order():
    truth = np.array([0.0, 0.4, -0.25, 1.1])
    obs = [PairObservation(i, j, truth[j] - truth[i] + 0.002 * (i - j), 1.0)
           for i in range(4) for j in range(i + 1, 4)]
    obs[2] = PairObservation(obs[2].i, obs[2].j, obs[2].offset + 0.5, 1.0)     # (0, 3) is wrong by 0.5 s
    sol = solve_offsets(4, obs, reference=0, inlier_seconds=2 / 30)
    assert not sol.inlier[2] and sol.inlier.sum() == 5
    np.testing.assert_allclose(sol.offsets, truth, atol=0.01)
    # reversed pair direction and shuffled order: same answer
    flipped = [PairObservation(o.j, o.i, -o.offset, o.weight) for o in obs[::-1]]
    sol2 = solve_offsets(4, flipped, reference=0, inlier_seconds=2 / 30)
    np.testing.assert_allclose(sol2.offsets, sol.offsets, atol=1e-12)
    assert not sol2.inlier[len(obs) - 1 - 2]


def test_solver_leaves_unconnected_inputs_empty():
    sol = solve_offsets(3, [PairObservation(0, 1, 0.3, 1.0)], reference=0)
    assert sol.offsets[1] == pytest.approx(0.3) and np.isnan(sol.offsets[2])


def _weak_pairs(truth, planted):
    """Three inputs, every pair below ``min_pair_confidence``: {(i, j): (error s, confidence)}."""
    from synnet_recon.sync.align import PairSync, Source

    sources = [Source(f"cam{k}", None, "keypoints", FPS, np.arange(90) / FPS, []) for k in range(3)]
    pairs = [PairSync(f"cam{i}", f"cam{j}", truth[j] - truth[i] + err, conf, "test", stderr=0.5 / FPS)
             for (i, j), (err, conf) in planted.items()]
    return sources, pairs


@pytest.mark.parametrize("by_path", [True, False])
def test_join_keeps_the_direct_pair_over_a_weak_path_that_disagrees(by_path, monkeypatch):
    """Planted: the direct pair of cam2 with the reference is right (0.15); the pair cam1/cam2 is
    wrong by 0.5 s and more confident on its own (0.2), but cam1 itself is joined only by a 0.25
    pair, so that path is right with probability 0.05 at most. The join goes through the direct
    pair (``JOIN_BY_PATH``; the old rule, the most confident pair, took the wrong path)."""
    from itertools import combinations

    from synnet_recon.sync import align as A

    monkeypatch.setattr(A, "JOIN_BY_PATH", by_path)
    truth = np.array([0.0, 0.4, -0.25])
    sources, pairs = _weak_pairs(truth, {(0, 1): (0.0, 0.25), (0, 2): (0.01, 0.15), (1, 2): (0.5, 0.2)})
    index_pairs = list(combinations(range(3), 2))
    sol = A._solve(sources, 0, index_pairs, pairs, _config(), FPS)
    assert sol.offsets[1] == pytest.approx(truth[1], abs=1e-9)
    if by_path:
        assert sol.offsets[2] == pytest.approx(truth[2] + 0.01, abs=1e-9)
        assert pairs[1].inlier and not pairs[2].inlier
        result = A._result(sources, 0, index_pairs, pairs, sol, FPS)
        assert result.video("cam2").confidence == pytest.approx(pairs[1].confidence)
    else:
        assert sol.offsets[2] == pytest.approx(truth[2] + 0.5, abs=1e-9)


def test_path_reliability_is_the_best_product_of_confidences():
    from synnet_recon.sync.align import path_reliability

    p = path_reliability(5, 0, {(0, 1): 0.5, (1, 2): 0.8, (0, 2): 0.3, (3, 2): 0.5})
    np.testing.assert_allclose(p, [1.0, 0.5, 0.4, 0.2, 0.0])


# ------------------------------------------------------------------------ sub-frame refinement

def test_parabola_vertex_recovers_a_fractional_minimum():
    x = np.arange(-10, 11) * 0.1
    y = 3.0 * (x - 0.137) ** 2 + 1.0
    assert parabola_vertex(x, y, int(np.argmin(y)), 3) == pytest.approx(0.137, abs=1e-9)


def test_fine_stage_recovers_a_fractional_shift(motion):
    """Noise-free views with a known sub-frame offset: the refined offset is within 0.15 frames."""
    sc = simulate_scene(SceneConfig(cameras=2, seconds=4, fps=FPS, max_offset=0.3, seed=5, noise=0.0), motion)
    a, b = sc.cameras[0].keypoints, sc.cameras[1].keypoints
    true = sc.cameras[1].offset_seconds
    assert abs(true * FPS - round(true * FPS)) > 0.1          # genuinely fractional
    fine = FineScorer(a, b, 1 / FPS, 600, 32)
    grid = round(true * FPS) / FPS + np.arange(-15, 16) * 0.1 / FPS
    offset, se, _ = fine.refine(grid)
    assert abs(offset - true) * FPS < 0.15
    assert np.isfinite(se)


# ------------------------------------------------------------------------ confidence

def test_confidence_is_a_probability_and_drops_for_corrupted_pairs(motion):
    clean = _scene(motion, seconds=4.0, seed=6, noise=0.3)
    good = align([c.keypoints for c in clean.cameras], _config())
    # corrupt: b's frames in random order, heavy noise -> no consistent timing left
    rng = np.random.default_rng(0)
    b = clean.cameras[1].keypoints
    bad_xy = b.xy[rng.permutation(len(b))] + rng.normal(0, 15, size=b.xy.shape).astype(np.float32)
    bad_b = Keypoints(bad_xy, b.conf, b.times, b.image_size, "cam1")
    bad = align([clean.cameras[0].keypoints, bad_b], _config())
    for res in (good, bad):
        for v in res.videos:
            assert 0.0 <= v.confidence <= 1.0
        for p in res.pairs:
            assert 0.0 <= p.confidence <= 1.0
    assert good.pairs[0].confidence > bad.pairs[0].confidence
    assert good.video("cam1").confidence > bad.video("cam1").confidence


# ------------------------------------------------------------------------ frames table

def test_frames_table_maps_reference_frames_to_the_nearest_covering_frame():
    t = np.arange(6) / 10.0
    ref = VideoSync("ref", None, "keypoints", 10.0, 6, 0.0, 0.0, 1.0, t)
    late = VideoSync("late", None, "keypoints", 10.0, 6, 0.23, 2.3, 0.9, t)      # starts 0.23 s later
    gone = VideoSync("gone", None, "keypoints", 10.0, 6, None, None, 0.0, t)
    res = SyncResult("ref", [ref, late, gone], [])
    rows = res.frames_table()
    assert len(rows) == 6
    assert rows[0]["frames"] == {"ref": 0}                              # late not yet recording
    assert rows[1]["frames"] == {"ref": 1}                              # 0.13 s before late's first frame
    # 0.2 s: 0.03 s before late's first frame, within its first frame's half interval: covered
    assert rows[2]["frames"] == {"ref": 2, "late": 0}
    assert rows[3]["frames"] == {"ref": 3, "late": 1}                    # 0.3 -> late's 0.07 s -> frame 1 (0.1)
    assert rows[3]["residual_seconds"]["late"] == pytest.approx(0.03)
    assert rows[5]["frames"]["late"] == 3 and rows[5]["residual_seconds"]["late"] == pytest.approx(0.03)
    assert all("gone" not in r["frames"] for r in rows)
    data = res.to_json()
    assert data["videos"][2]["offset_seconds"] is None and data["videos"][2]["confidence"] == 0.0
    assert data["frames"][3]["time"] == pytest.approx(0.3)


def test_input_with_too_little_overlap_is_marked_not_invented(motion):
    """A third camera filming 3.9 s later (overlap 0.07 s): no offset is made up with confidence."""
    sc = _scene(motion, cameras=2, seconds=4.0, seed=0, max_offset=0.5)
    later = simulate_scene(SceneConfig(cameras=1, seconds=4.0, fps=FPS, max_offset=0.0, seed=50), motion)
    assert later.cameras[0].motion_start - sc.cameras[0].motion_start > 3.8
    other = later.cameras[0].keypoints
    other.name = "other"
    res = align([sc.cameras[0].keypoints, sc.cameras[1].keypoints, other], _config())
    v = res.video("other")
    assert res.video("cam1").offset_seconds is not None
    # no shared motion to speak of: either no offset, or one that says it is unverified
    if v.offset_seconds is None:
        assert v.offset_frames is None and v.confidence == 0.0
        assert any(w.startswith("other:") for w in res.warnings)
        assert all("other" not in row["frames"] for row in res.to_json()["frames"])
    else:
        assert v.confidence < 0.5
    assert all(p.confidence < 0.5 for p in res.pairs if "other" in (p.a, p.b))


def test_clock_drift_is_detected_and_reported(motion):
    """b's frames are really 1% further apart than its timestamps say: ~ +10000 ppm, flagged."""
    from synnet_recon.sync.tracks import gaussian_sample

    sc = _scene(motion, seconds=8.0, seed=3, noise=0.3)
    a, b = sc.cameras[0].keypoints, sc.cameras[1].keypoints
    found = {}
    for eps in (0.0, 0.01):
        n = int((len(b) - 1) / (1 + eps))
        xy = gaussian_sample(b.xy.astype(np.float64), np.arange(n) * (1 + eps), 0.5)
        drifty = Keypoints(xy, np.isfinite(xy).all(-1).astype(np.float32), np.arange(n) / FPS, b.image_size, "b")
        res = align([a, drifty], _config())
        found[eps] = res.pairs[0]
    assert not found[0.0].drift_significant
    assert found[0.01].drift_significant and 7000 < found[0.01].drift_ppm < 13000


# ------------------------------------------------------------------------ bad input

def _write_frames(folder: Path, n: int, people=True, prefix="cam"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n)
    for i in range(n):
        ppl = []
        if people:
            kp = np.c_[rng.uniform(100, 500, size=(18, 2)), np.ones(18)].ravel().tolist()
            ppl = [{"pose_keypoints_2d": kp}]
        (folder / f"{prefix}_{i:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": ppl}))
    return folder


@pytest.fixture
def good_folder(tmp_path, motion):
    sc = _scene(motion, seconds=3.0, seed=8)
    write_openpose_folder(tmp_path / "good", sc.cameras[0].keypoints, "good")
    write_openpose_folder(tmp_path / "good2", sc.cameras[1].keypoints, "good2")
    return tmp_path / "good", tmp_path / "good2"


def _bad_input_cases(tmp_path, good):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00 ftypisom" + bytes(range(256)) * 20)
    empty = tmp_path / "empty"
    empty.mkdir()
    malformed = _write_frames(tmp_path / "malformed", 40)
    (malformed / "cam_000000000005_keypoints.json").write_text("{\"people\": [ {")
    nobody = _write_frames(tmp_path / "nobody", 40, people=False)
    short = _write_frames(tmp_path / "short", 10)
    g = str(good[0])
    return {
        "corrupt video": ([str(corrupt), g], "corrupt.mp4"),
        "empty folder": ([str(empty), g], "empty"),
        "malformed json": ([str(malformed), g], "cam_000000000005_keypoints.json"),
        "no person": ([str(nobody), g], "nobody"),
        "too short": ([str(short), g], "short"),
        "max offset": ([g, str(good[1]), "--max-offset", "0"], "--max-offset"),
        "negative max offset": ([g, str(good[1]), "--max-offset", "-1.5"], "--max-offset"),
        "unknown reference": ([g, str(good[1]), "--reference", "nope"], "nope"),
        "one input": ([g], "2 inputs"),
        "missing input": ([g, str(tmp_path / "missing.mp4")], "missing.mp4"),
    }


@pytest.mark.parametrize("case", ["corrupt video", "empty folder", "malformed json", "no person", "too short",
                                  "max offset", "negative max offset", "unknown reference", "one input",
                                  "missing input"])
def test_bad_input_is_one_line_exit_2_and_no_output(case, tmp_path, good_folder, capsys):
    argv, needle = _bad_input_cases(tmp_path, good_folder)[case]
    out = tmp_path / "out" / "sync.json"
    code, io = _run(["align", *argv, "--out", str(out), "--quiet"], capsys)
    assert code == 2, (case, io.err)
    lines = io.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("synrecon: error:"), io.err
    assert needle in lines[0], lines[0]
    assert "Traceback" not in io.err
    assert not out.exists()


def test_api_raises_input_error_for_bad_config(good_folder):
    with pytest.raises(InputError):
        align([str(good_folder[0])], _config())
    with pytest.raises(InputError):
        align([str(good_folder[0]), str(good_folder[1])], _config(max_offset=-1))


def test_synnet_loads_while_the_inputs_load(good_folder, monkeypatch):
    """The matcher (torch import, weights) is loaded in a thread while the inputs load (video
    pose): here it waits until an input has started loading, which would hang if it ran first."""
    import threading

    from synnet_recon.sync import align as align_module

    started, order = threading.Event(), []
    real_load = align_module.load_source

    def load(item, config):
        started.set()
        return real_load(item, config)

    def matcher(config):
        order.append("matcher waits")
        assert started.wait(timeout=30), "the inputs did not start loading while the matcher loaded"
        order.append("matcher ready")
        return None

    monkeypatch.setattr(align_module, "load_source", load)
    monkeypatch.setattr(align_module, "_make_matcher", matcher)
    res = align([str(good_folder[0]), str(good_folder[1])], _config())
    assert order == ["matcher waits", "matcher ready"] and res.videos[1].offset_seconds is not None


def test_the_matchers_error_comes_before_the_inputs(good_folder, tmp_path):
    """Loaded at the same time, a SynNet that cannot load is still the error reported (as when it
    was loaded before the inputs), not the bad input's."""
    bad = tmp_path / "not_a_checkpoint.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(InputError, match="not_a_checkpoint"):
        align([str(good_folder[0]), str(tmp_path / "missing_folder")], _config(synnet="on", checkpoint=str(bad)))


# ------------------------------------------------------------------------ Pose2Sim demo (real OpenPose)

def _cut_copy(src: Path, dst: Path, k: int) -> Path:
    """Copy an OpenPose folder without its first k frames, renumbered from 0."""
    files = sorted(src.glob("*.json"), key=lambda p: int(re.findall(r"\d+", p.stem)[-1]))
    dst.mkdir(parents=True)
    for n, f in enumerate(files[k:]):
        shutil.copy(f, dst / f"{src.name}_{n:06d}.json")
    return dst


@pytest.mark.parametrize("trial", ["S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial",
                                   "S00_P01_MultiParticipants/S00_P01_T02_Participants1-2"])
def test_pose2sim_demo_cut_at_known_frames(trial, shared_data, tmp_path):
    """Real OpenPose BODY_25B at 60 fps, static cameras (the second trial: two people)."""
    trial = shared_data / "multiview" / "pose2sim_demo" / trial
    if not trial.is_dir():
        pytest.skip("Pose2Sim demo not in the shared data")
    cuts = {"cam01_json": 0, "cam02_json": 3, "cam04_json": 12}
    folders = [str(_cut_copy(trial / "pose" / cam, tmp_path / cam, k)) for cam, k in cuts.items()]
    res = align(folders, _config(fps=60.0))
    for v, k in zip(res.videos, cuts.values()):
        assert round(v.offset_frames) == k, (v.name, v.offset_frames, k)
        assert v.fps == 60.0


@pytest.mark.slow
def test_video_and_keypoint_folder_mixed(shared_data, tmp_path):
    """A video (MediaPipe pose, its own timestamps) against another camera's OpenPose folder cut
    by 3 frames. Two different detectors disagree on joint positions (hips, face), so the tolerance
    is 1.5 frames here (measured: 4.2 frames for 3)."""
    video = Path(__file__).resolve().parents[1] / "data" / "video" / "single_cam01.mp4"
    trial = shared_data / "multiview" / "pose2sim_demo" / "S00_P00_SingleParticipant" / "S00_P00_T01_BalancingTrial"
    if not (video.is_file() and trial.is_dir()):
        pytest.skip("test clip or Pose2Sim demo missing")
    folder = _cut_copy(trial / "pose" / "cam02_json", tmp_path / "cam02", 3)
    res = align([str(video), str(folder)], _config(fps=60.0))
    v, k = res.videos
    assert v.kind == "video" and v.num_frames == 100 and v.fps == pytest.approx(60.0, rel=1e-3)
    assert k.kind == "keypoints" and k.num_frames == 97
    assert abs(k.offset_frames - 3) < 1.5


def _mediapipe_like(kp: Keypoints, seed: int) -> Keypoints:
    """MediaPipe's errors in side views: elbows and wrists of the two arms exchanged in alternate
    15-frame runs, and the left elbow and wrist misplaced by a constant 18 px."""
    from synnet_recon.skeleton import JOINT_INDEX as J

    rng = np.random.default_rng(seed)
    xy = np.array(kp.xy, dtype=np.float64)
    for start in range(int(rng.integers(0, 15)), len(xy), 30):
        for right, left in (("r_elbow", "l_elbow"), ("r_wrist", "l_wrist")):
            xy[start:start + 15, [J[right], J[left]]] = xy[start:start + 15, [J[left], J[right]]]
    xy[:, [J["l_elbow"], J["l_wrist"]]] += 18.0 * np.array([np.cos(seed), np.sin(seed)])
    return Keypoints(xy, kp.conf, kp.times, kp.image_size, kp.name)


def test_swapped_and_misplaced_arms_still_synchronize(motion):
    """Before the robust costs (trimmed, swap-aware rank test; per-pair joint weights in the
    epipolar fit) both corrupted cameras were left unsynchronized here."""
    scene = _scene(motion, cameras=3, seconds=4.0, noise=0.5, seed=5, max_offset=1.0)
    kps = [c.keypoints if k == 0 else _mediapipe_like(c.keypoints, 5 + k) for k, c in enumerate(scene.cameras)]
    res = align(kps, _config())
    for v, cam in zip(res.videos, scene.cameras):
        assert v.offset_seconds is not None, v.name
        assert abs(v.offset_seconds - cam.offset_seconds) * FPS <= 1.0, (v.name, v.offset_seconds, cam.offset_seconds)


def test_pairs_in_threads_give_the_same_result(motion):
    """Pairs run ``threads`` at a time; the offsets, confidences and curves do not depend on it."""
    sc = _scene(motion, cameras=3, seconds=3.0, seed=4, max_offset=0.5)
    kps = [c.keypoints for c in sc.cameras]
    for k in kps[1:]:
        k.xy[5:9] = np.nan  # frames without a body: NaN means inside, silenced (also in threads)
        k.conf[5:9] = 0
    one = align(kps, _config(threads=1))
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        two = align(kps, _config(threads=2))
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert [v.offset_seconds for v in one.videos] == [v.offset_seconds for v in two.videos]
    assert [v.confidence for v in one.videos] == [v.confidence for v in two.videos]
    for p, q in zip(one.pairs, two.pairs):
        assert (p.a, p.b, p.offset_seconds) == (q.a, q.b, q.offset_seconds)
        np.testing.assert_array_equal(p.curve_scores, q.curve_scores)


def test_an_input_left_empty_says_why(motion):
    """Two views that never see the body at the same time within the offset range: no offset,
    and the warning gives the pair's reason instead of a generic one."""
    sc = _scene(motion, cameras=2, seconds=2.0, seed=3, max_offset=0.0)
    a, b = (sc.cameras[k].keypoints for k in range(2))
    half = len(a) // 2
    xa, ca = np.array(a.xy), np.array(a.conf)
    xb, cb = np.array(b.xy), np.array(b.conf)
    xa[half:], ca[half:] = np.nan, 0.0
    xb[:half + 5], cb[:half + 5] = np.nan, 0.0
    a = Keypoints(xa, ca, a.times, a.image_size, "a")
    b = Keypoints(xb, cb, b.times, b.image_size, "b")
    res = align([a, b], _config(max_offset=0.1))
    assert res.video("b").offset_seconds is None
    [warning] = [w for w in res.warnings if w.startswith("b:")]
    assert "offset left empty" in warning and res.pairs[0].reason in warning


@pytest.mark.parametrize("names, expected", [
    (["a", "b"], ["a", "b"]),
    (["a", "a"], ["a_1", "a_2"]),
    (["a", "a", "a_1"], ["a_2", "a_3", "a_1"]),
    (["", ""], ["input_1", "input_2"]),
])
def test_input_names_are_unique(names, expected):
    from synnet_recon.sync.align import _unique_names

    assert _unique_names(names) == expected


def test_pieces_start_only_when_what_they_read_is_done():
    import threading
    import time as _time
    from concurrent.futures import ThreadPoolExecutor

    from synnet_recon.sync.align import _after

    gate = threading.Event()
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(lambda: (gate.wait(5), "features")[1])
        later = _after(pool, [slow], lambda f: f.result() + " -> evidence", slow)
        free = pool.submit(lambda: "other work")  # the second thread is not held by `later`
        assert free.result(timeout=5) == "other work" and not later.done()
        gate.set()
        assert later.result(timeout=5) == "features -> evidence"
        failing = pool.submit(lambda: 1 / 0)
        chained = _after(pool, [failing], lambda f: f.result(), failing)
        with pytest.raises(ZeroDivisionError):  # a failed piece's error reaches the pieces after it
            chained.result(timeout=5)
        assert _after(pool, [], lambda: 7).result(timeout=5) == 7
    stuck = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1)
    first = pool.submit(lambda: (stuck.wait(5), 1)[1])
    waiting = _after(pool, [first], lambda: 2)
    pool.shutdown(wait=False, cancel_futures=True)  # an input failed: queued pieces dropped
    stuck.set()
    _time.sleep(0.05)
    with pytest.raises(RuntimeError):
        waiting.result(timeout=5)
