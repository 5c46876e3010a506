import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]

# Property-based fuzzing of our readers (tests marked ``fuzz``): 200 inputs per reader in CI; the
# ``fuzz`` profile (bench/bench_fuzz.py, SYNRECON_FUZZ_PROFILE=fuzz) runs 1,000.
_FUZZ = dict(deadline=None, derandomize=True, database=None, print_blob=True,
             suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=200, **_FUZZ)
settings.register_profile("fuzz", max_examples=1000, **_FUZZ)
settings.load_profile(os.environ.get("SYNRECON_FUZZ_PROFILE", "ci"))


def clean_or_input_error(fn, *args, **kwargs):
    """Run a reader on fuzzed input: it returns, or raises a one-line InputError; anything else
    (another exception: a traceback for the user) fails the test. Returns (result, error)."""
    from synnet_recon.errors import InputError

    try:
        return fn(*args, **kwargs), None
    except InputError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 400, repr(message)
        return None, exc


@pytest.fixture(scope="session")
def fuzz_check():
    """``clean_or_input_error`` for tests (conftest helpers are not importable in importlib mode)."""
    return clean_or_input_error
SHARED = Path(os.environ.get("SYNRECON_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip the test when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data not present")
    return SHARED


@pytest.fixture
def rng():
    import numpy as np
    return np.random.default_rng(0)


def _json_spots(doc, path=()):
    """Every (path) to a value inside a JSON document (dict keys and list positions)."""
    yield path
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _json_spots(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:6]):
            yield from _json_spots(v, path + (i,))


def json_mutations(doc, max_changes: int = 3):
    """A hypothesis strategy: ``doc`` with 1..max_changes values replaced by arbitrary JSON
    (including NaN and huge numbers), deleted, or duplicated into lists."""
    import copy

    from hypothesis import strategies as st

    leaves = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
              | st.text(max_size=6))
    values = leaves | st.lists(leaves, max_size=3) | st.dictionaries(st.text(max_size=4), leaves, max_size=2)

    @st.composite
    def mutated(draw):
        out = copy.deepcopy(doc)
        for _ in range(draw(st.integers(1, max_changes))):
            spots = list(_json_spots(out))
            path = draw(st.sampled_from(spots))
            action = draw(st.sampled_from(["replace", "replace", "delete", "grow"]))
            if not path:
                out = draw(values) if action == "replace" else out
                continue
            parent = out
            for k in path[:-1]:
                parent = parent[k]
            key = path[-1]
            if action == "delete":
                del parent[key]
            elif action == "grow" and isinstance(parent[key], list):
                parent[key].append(draw(values))
            else:
                parent[key] = draw(values)
        return out

    return mutated()


@pytest.fixture(scope="session")
def mutations():
    """``json_mutations(doc)``: a strategy of broken variants of a valid JSON document."""
    return json_mutations
