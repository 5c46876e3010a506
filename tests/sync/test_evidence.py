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


@pytest.fixture(scope="module")
def synnet():
    import torch

    from synnet_recon.sync.matcher import SynNetMatcher

    torch.set_num_threads(1)
    return SynNetMatcher()


def _views(frames: int, offset: int, seed: int):
    """Two noisy views of the package's held-out CMU walk, b starting ``offset`` frames after a."""
    from synnet_recon.motion import load_motion
    from synnet_recon.paths import PACKAGE_DATA
    from synnet_recon.synth.noise import DetectorNoise
    from synnet_recon.synth.scene import sample_pair

    motion = load_motion(PACKAGE_DATA / "mocap" / "131_02.bvh").resample(30.0)
    return sample_pair(motion, frames, 30.0, float(offset), np.random.default_rng(seed), DetectorNoise(level=1.0))


def _synnet_z(synnet, a, b):
    from synnet_recon.sync.tracks import resample_track

    xa, xb = resample_track(a, 30.0), resample_track(b, 30.0)
    offsets = np.arange(-(len(xb) - 12), len(xa) - 12 + 1)
    z, raw = curve_evidence(("synnet",), xa, xb, offsets, 12, 2_000_000, 30.0, synnet, a, b)
    return offsets, z["synnet"], raw["synnet"]


def test_synnet_z_peaks_at_the_true_offset_not_at_its_negative(synnet):
    a, b = _views(120, 17, seed=2)
    offsets, z, _ = _synnet_z(synnet, a, b)
    best = offsets[int(np.nanargmax(z))]
    assert abs(best - 17) <= 2, best
    assert np.nanmax(z) > 3.5
    # chance is judged on the same features: away from the truth z stays near N(0, 1)
    away = np.abs(offsets - 17) > 6
    assert abs(np.nanmedian(z[away])) < 0.7 and np.nanstd(z[away]) < 2.0


def test_synnet_z_of_unrelated_tracks_is_chance_at_every_overlap(synnet):
    rng = np.random.default_rng(4)
    zmax, ends = [], 0
    for seed in range(6):
        a, _ = _views(100, 0, seed=10 + seed)
        _, b = _views(100, int(rng.integers(-20, 20)), seed=20 + seed)
        b.xy = b.xy[::-1].copy()  # the walk played backwards: no common timing with a
        b.conf = b.conf[::-1].copy()
        offsets, z, _ = _synnet_z(synnet, a, b)
        k = int(np.nanargmax(z))
        ends += min(k, len(offsets) - 1 - k) < 0.1 * len(offsets)
        zmax.append(np.nanmax(z))
    assert np.median(zmax) < 4.5
    assert ends <= 3


def test_speed_cue_sees_through_a_detectors_arm_swaps(motion, monkeypatch):
    """Arms exchanged for runs of frames in one view (a side view's left/right confusion): the speed
    cue is computed on relabelled tracks, so its evidence at the truth is kept."""
    from synnet_recon.sync import evidence as E
    from synnet_recon.sync.tracks import ARM_SWAP, FOREARM_SWAP
    from synnet_recon.synth.camera import CameraPathConfig
    from synnet_recon.synth.scene import SceneConfig, simulate_scene

    tripods = CameraPathConfig(mode_weights=(0.0, 0.0, 0.0, 1.0))  # static cameras: the speed cue's case
    sc = simulate_scene(SceneConfig(cameras=2, seconds=6, fps=30.0, max_offset=0.0, seed=4, noise=0.5,
                                    camera_path=tripods), motion)
    a = np.asarray(sc.cameras[0].keypoints.xy, np.float64)[:150]
    b = np.asarray(sc.cameras[1].keypoints.xy, np.float64)[10:160]  # b starts 10 frames after a: offset 10
    swapped = b.copy()
    for start, perm in ((5, ARM_SWAP), (30, FOREARM_SWAP), (60, ARM_SWAP), (95, FOREARM_SWAP), (125, ARM_SWAP)):
        swapped[start:start + 12] = swapped[start:start + 12][:, perm]
    offsets = np.arange(-60, 61)
    truth = int(np.flatnonzero(offsets == 10)[0])
    z_clean = curve_evidence(("speed",), a, b, offsets, 12, 2_000_000, 30.0)[0]["speed"]
    z_fixed = curve_evidence(("speed",), a, swapped, offsets, 12, 2_000_000, 30.0)[0]["speed"]
    monkeypatch.setattr(E, "RELABEL_CUES", ())
    z_raw = curve_evidence(("speed",), a, swapped, offsets, 12, 2_000_000, 30.0)[0]["speed"]
    assert abs(int(np.nanargmax(z_fixed)) - truth) <= 1
    assert z_fixed[truth] > z_raw[truth] + 1.0
    assert z_fixed[truth] > 0.7 * z_clean[truth]


def test_affine_null_has_more_reorderings_only_on_short_tracks(monkeypatch):
    from synnet_recon.sync import evidence as E

    orders = E.null_orders(32, 8)
    assert len(orders) == 15 and all(sorted(o) == list(range(32)) for o in orders)
    assert [len(E.null_orders(32)), len(E.null_orders(300))] == [5, 5]
    monkeypatch.setattr(E, "SHORT_NULL_FRAMES", 64)
    assert len(E.affine_null_orders(32, 32)) == 15 and len(E.affine_null_orders(32, 300)) == 5
    monkeypatch.setattr(E, "SHORT_NULL_FRAMES", 0)
    assert len(E.affine_null_orders(32, 32)) == 5
