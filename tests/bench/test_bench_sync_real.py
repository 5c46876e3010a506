"""The realistic sync benchmark's harness runs end to end on a tiny size (so it cannot rot)."""
import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench(bench_script):
    return bench_script("bench_sync_real")


def test_metrics_count_the_worst_outcome(bench):
    rows = [{"estimate": 0.0, "error": 0.0, "error_frames": 0.0, "confidence": 0.95},
            {"estimate": 0.2, "error": 0.2, "error_frames": 6.0, "confidence": 0.95},  # wrong and sure
            {"estimate": 0.2, "error": 0.2, "error_frames": 6.0, "confidence": 0.5},   # wrong, unsure
            {"estimate": None, "error": None, "error_frames": None, "confidence": 0.0}]
    m = bench.metrics([{"rows": rows, "seconds": 1.0}])
    assert m["offsets"] == 4 and m["within_half"] == 0.25 and m["within_2"] == 0.25
    assert m["null"] == 0.25 and m["wrong_at_0.9"] == 1
    assert m["mean_abs_s"] == pytest.approx(0.4 / 3)


def test_trials_have_the_truth(bench):
    """Simulated trials: the truth is what the simulator used (cameras' windows really are offset)."""
    rng = np.random.default_rng(0)
    motions = bench.heldout_motions(10.2, limit=1)
    trial = next(bench.long_trials(1, rng, motions))
    assert len(trial.inputs) == 3 and trial.truth[0] == 0.0 and max(map(abs, trial.truth)) <= 2.0
    rows = bench.score(trial, {"offsets": trial.truth, "confidences": [1.0] * 3})
    assert all(r["error"] == 0.0 for r in rows)


def test_paper_trials_draw_again_a_clip_too_short_for_the_offset(bench):
    """A held-out clip needs only one 32-frame window; at offset 4m frames both windows must fit (dev
    seed 3's paper trials stopped at 09_09, 1.23 s, drawn with m = -4)."""
    from synnet_recon.motion import load_motion
    from synnet_recon.synth.scene import PACKAGED_MOTION

    long = load_motion(PACKAGED_MOTION)
    short = long.resample(30.0, long.start, 1.23)  # 37 frames: both windows fit only for |4m| <= 5
    short.name = "short"
    trials = list(bench.paper_trials(40, np.random.default_rng(3), [short, long]))
    assert len(trials) == 40
    assert all(len(t.inputs[0]) == len(t.inputs[1]) == 32 for t in trials)
    assert {t.info["m"] for t in trials if t.info["motion"] == short.name} <= {-1, 0, 1}
    assert any(abs(t.info["m"]) > 1 for t in trials)  # the long clip still gets every offset


@pytest.mark.slow
def test_harness_tiny_run(bench, tmp_path, shared_data):
    conditions = ["paper", "pose2sim_openpose"]
    report = bench.run(conditions, seed=0, quick=True, trials=1, progress=False, max_motions=1)
    out = tmp_path / "report.json"
    out.write_text(json.dumps(report))
    assert set(report["summary"]) == set(conditions)
    for cond in conditions:
        assert {"align", "speed", "trajectory"} <= set(report["summary"][cond])
    text = bench.markdown(json.loads(out.read_text()))
    assert text.count("| method |") == len(conditions) and "| speed |" in text


@pytest.mark.parametrize("same_truth", [True, False])
def test_comparison_uses_the_same_trials(bench, same_truth):
    def rec(trial, truth, est):
        row = {"truth": truth, "estimate": est, "error": est - truth, "error_frames": (est - truth) * 30,
               "confidence": 0.5}
        return {"condition": "long", "trial": trial, "method": "align", "rows": [row], "seconds": 1.0}

    before = {"records": [rec(0, 1.0, 1.0), rec(1, 0.5, 0.0)], "methods": ["align"]}
    after = {"records": [rec(0, 1.0 if same_truth else 0.7, 1.0)], "methods": ["align"]}
    if not same_truth:
        with pytest.raises(SystemExit):
            bench.common_trials([before, after])
        return
    b, a = bench.common_trials([before, after])
    assert len(b["records"]) == 1 and b["summary"]["long"]["align"]["within_half"] == 1.0


def test_several_people_conditions_keep_everyone_and_the_truth(bench, shared_data):
    """The harder several-people conditions: every person is written (so align must tell who is
    who), the truth is the cut (real) or the simulator's (simulated), 10 fps cuts really are 10 fps."""
    from synnet_recon.io.openpose import read_openpose_tracks

    trials = list(bench.pose2sim_people_trials(5, np.random.default_rng(0)))
    assert [t.info["source"] for t in trials] == [s for s, _, _ in bench.POSE2SIM_PEOPLE_SOURCES]
    for t in trials:
        fps = 30.0 if t.info["source"] == "pose_default" else 60.0
        assert t.truth == [(s - t.info["starts"][0]) / fps for s in t.info["starts"]]
        people = [read_openpose_tracks(f, fps=t.fps) for f in t.inputs]
        assert max(len(p) for p in people) >= 2
        if t.fps == 10.0:
            assert all(len(p[0].times) == 15 for p in people)
    motions = bench.heldout_motions(10.2, limit=2)
    sim = list(bench.people_hard_trials(3, np.random.default_rng(0), motions))
    assert [t.info["kind"] for t in sim] == list(bench.PEOPLE_HARD_KINDS)
    for t in sim:
        assert t.truth[0] == 0.0 and max(map(abs, t.truth)) <= 2.0
        assert all(len(read_openpose_tracks(f, fps=t.fps)) >= 2 for f in t.inputs)
