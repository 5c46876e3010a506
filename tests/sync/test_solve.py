"""Joint solve helpers: loop consistency of pair estimates flags a planted wrong pair."""
from itertools import combinations

import numpy as np
import pytest

from synnet_recon.sync.solve import PairObservation, check_loops

TRUE = np.array([0.0, 0.7, -1.2, 2.05, 0.4])


def _observations(n: int, wrong: tuple[int, int] | None, error: float, rng):
    obs = []
    for i, j in combinations(range(n), 2):
        off = TRUE[j] - TRUE[i] + rng.normal(0, 0.004)
        if (i, j) == wrong:
            off += error
        obs.append(PairObservation(i, j, off, 1.0) if rng.random() < 0.5 else PairObservation(j, i, -off, 1.0))
    return obs


@pytest.mark.parametrize("n", [4, 5])
@pytest.mark.parametrize("wrong", [(0, 1), (1, 3), (2, 3)])
@pytest.mark.parametrize("error", [0.2, -1.0])
def test_planted_wrong_pair_is_excluded_and_the_rest_kept(n, wrong, error):
    if max(wrong) >= n:
        pytest.fail("bad case")
    obs = _observations(n, wrong, error, np.random.default_rng(n))
    loops = check_loops(obs, tolerance=3 / 30)
    bad = [k for k, o in enumerate(obs) if {o.i, o.j} == set(wrong)]
    assert loops.excluded[bad].all()
    assert loops.excluded.sum() == 1 and not loops.unresolved.any()
    assert (loops.broken[bad] == loops.checked[bad]).all() and loops.checked[bad][0] == n - 2


@pytest.mark.parametrize("error", [0.0, 0.5])
def test_three_inputs_broken_loop_is_unresolved_not_guessed(error):
    obs = _observations(3, (0, 2), error, np.random.default_rng(0))
    loops = check_loops(obs, tolerance=3 / 30)
    assert not loops.excluded.any()
    assert loops.unresolved.all() == (error > 0) and loops.unresolved.any() == (error > 0)
    assert (loops.checked == 1).all()


def test_loop_check_of_no_answered_pair_is_empty():
    loops = check_loops([], 0.1)
    assert len(loops.checked) == 0 and len(loops.excluded) == 0 and len(loops.unresolved) == 0
