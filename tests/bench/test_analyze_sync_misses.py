"""The miss analysis draws each condition's trials from the motions the bench draws them from."""

import pytest


@pytest.fixture(scope="module")
def misses(bench_script):
    return bench_script("analyze_sync_misses")


def test_each_condition_gets_the_benchs_motions(misses, monkeypatch):
    asked = []
    monkeypatch.setattr(misses.BS, "heldout_motions", lambda seconds, *a: asked.append(seconds) or [seconds])
    # the paper protocol: clips of 32 frames at 30 fps (bench_sync_real.run's ``short``), not the 10.2 s windows
    assert misses.condition_motions("paper") == [pytest.approx(32 / 30 + 0.1)]
    assert misses.condition_motions("people_hard") == [10.2]
    assert misses.condition_motions("caliscope") == []  # real recordings: no motion files
    assert asked == [pytest.approx(32 / 30 + 0.1), 10.2]
