"""Chance z-scores: offsets with short and long overlaps are judged alike."""
import numpy as np
import pytest

from synnet_recon.sync.evidence import chance_z, curve_evidence, parse_cues


def random_track(rng, n: int = 150) -> np.ndarray:
    """A smooth random 'body': 18 joints around a drifting centre, (n, 18, 2) pixels."""
    from scipy.ndimage import gaussian_filter1d

    centre = 320 + np.cumsum(rng.normal(0, 2, size=(n, 1, 2)), axis=0)
    limbs = gaussian_filter1d(rng.normal(0, 40, size=(n, 18, 2)), 4, axis=0) + rng.normal(0, 60, size=(1, 18, 2))
    return centre + limbs + rng.normal(0, 1.0, size=(n, 18, 2))


def test_chance_z_is_standard_normal_whatever_the_overlap():
    rng = np.random.default_rng(0)
    n = rng.integers(8, 400, size=4000)
    null = rng.normal(1.0, 2.0 / np.sqrt(n))
    value = rng.normal(1.0, 2.0 / np.sqrt(n))
    z = chance_z(value, n, null, n)
    for lo, hi in ((8, 30), (30, 100), (100, 400)):
        sel = (n >= lo) & (n < hi)
        assert abs(np.mean(z[sel])) < 0.15 and 0.85 < np.std(z[sel]) < 1.15


@pytest.mark.slow
@pytest.mark.parametrize("cue", ["affine", "speed", "trajectory"])
def test_independent_random_tracks_show_no_preference_for_the_range_ends(cue):
    rng = np.random.default_rng(3)
    ends, zmax = 0, []
    trials = 30
    for _ in range(trials):
        a, b = random_track(rng, 120), random_track(rng, 120)
        offsets = np.arange(-(len(b) - 12), len(a) - 12 + 1)
        z, _ = curve_evidence((cue,), a, b, offsets, 12, 2_000_000, 30.0)
        k = int(np.nanargmax(z[cue]))
        ends += min(k, len(offsets) - 1 - k) < 0.1 * len(offsets)  # in the outer 20 % of the range
        zmax.append(np.nanmax(z[cue]))
    assert ends / trials < 0.4            # 0.2 expected by chance; raw means put ~all maxima there
    assert np.median(zmax) < 4.5           # the max of ~220 roughly standard normal values


@pytest.mark.parametrize("name,expected", [("all", 5), ("geometry", 2), ("speed,affine", 2)])
def test_cue_sets_parse(name, expected):
    assert len(parse_cues(name)) == expected
    with pytest.raises(ValueError):
        parse_cues("nonsense")
