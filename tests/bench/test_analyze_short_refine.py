"""The short-clip analysis script: paper-protocol pairs filmed at other frame rates."""

import pytest


@pytest.fixture(scope="module")
def analysis(bench_script):
    return bench_script("analyze_short_refine")


def test_rate_paper_pairs_film_faster_cameras_and_pose_every_kth_frame(analysis, monkeypatch):
    from synnet_recon.motion import load_motion
    from synnet_recon.synth.scene import PACKAGED_MOTION

    # training motions = the packaged clip only (loading the whole training split takes minutes)
    monkeypatch.setitem(analysis.training_motions.__globals__["_MOTIONS"], "train", [load_motion(PACKAGED_MOTION)])
    posed = analysis.rate_paper_pairs(4, 0, "60/2", 0)
    for p in posed:
        assert p.label == "paper@60/2" and p.max_offset == pytest.approx(16.5 / 30.0)
        assert len(p.ka) == len(p.kb) == 32 and p.ka.fps == pytest.approx(30.0) and p.kb.fps == pytest.approx(30.0)
        m = p.truth * 30.0  # 4m + u frames of 30 fps, m in [-4, 3], |u| <= 0.5
        assert -16.5 <= m <= 12.5 and abs(m - 4 * round(m / 4)) <= 0.5 + 1e-9
    full = analysis.rate_paper_pairs(2, 0, "60", 0)
    assert all(len(p.ka) == 64 and p.ka.fps == pytest.approx(60.0) for p in full)
    assert len({round(p.truth, 6) for p in posed}) > 1  # offsets drawn, not fixed
