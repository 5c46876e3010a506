"""bench/bench_over_time.py: one small case runs, the refinement helps on it, the report reads back."""
import numpy as np


def test_one_case_and_the_report(bench_script, tmp_path):
    b = bench_script("bench_over_time")
    t = b._rings()
    X = b.clip_joints("walk 131_02", None, seconds=1.5)
    assert X.shape == (45, 18, 3)
    hip = 0.5 * (X[:, 8] + X[:, 11])
    assert abs(np.polyfit(np.arange(len(X)), hip[:, 0], 1)[0]) < 1e-9  # the mean velocity is taken out
    rows = b.run_case(t, X, b.RIGS["2 views 90 deg"], seed=0, partial=False, steps={"30 fps": 1, "10 fps": 3})
    assert [r["rate"] for r in rows] == ["30 fps", "10 fps", "15 fps, 25 % of instants dropped"]
    assert rows[0]["over_time_cm"] < rows[0]["per_instant_cm"]
    for r in rows:
        r.update({"group": "sweep", "clip": "walk 131_02", "rig": "2 views 90 deg", "partial": False, "seed": 0})
    path = tmp_path / "report.json"
    path.write_text(b.dump({"machine": {}, "rows": rows}))
    back = b.load(path)
    assert len(back) == 3 and back[0]["rate"] == "30 fps"
    assert abs(back[0]["over_time_cm"] - rows[0]["over_time_cm"]) < 1e-4
    b.summarize([path])
