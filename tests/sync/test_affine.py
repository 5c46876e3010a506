"""Affine consistency (rank-3) residuals of frame pairs."""
import numpy as np

from synnet_recon.sync import affine as A
from synnet_recon.sync import tracks as T


def test_affine_cost_is_zero_for_two_affine_views_of_one_pose(rng):
    X = rng.normal(size=(5, 18, 3))                     # 5 random 3D "poses"
    P1, P2 = rng.normal(size=(2, 2, 3))
    a = X @ P1.T + rng.normal(size=2)
    b = X @ P2.T * 3.0 + 100.0
    C = A.affine_cost_matrix(a, b)
    assert np.all(np.diag(C) < 1e-10)
    off = C[~np.eye(5, dtype=bool)]
    assert np.all(off > 1e-3)


def test_closed_form_4x4_eigen_matches_lapack(rng):
    X = rng.normal(size=(200, 4, 18))
    X[:100, 3] = X[:100, :3].sum(1) * 0.5 + 1e-3 * rng.normal(size=(100, 18))  # nearly rank 3
    S = X @ X.transpose(0, 2, 1) / 18
    w, V = np.linalg.eigh(S)
    lam = A._smallest_eig_sym4(S)
    np.testing.assert_allclose(lam, w[:, 0], rtol=1e-6, atol=1e-12)
    v = A._null_vector_sym4(S, lam)
    np.testing.assert_allclose(np.abs(np.sum(v * V[:, :, 0], 1)), 1.0, atol=1e-6)


def test_affine_cost_survives_swapped_and_misplaced_arms(rng):
    """MediaPipe-like errors: arms exchanged in one view, one forearm misplaced in the other."""
    from synnet_recon.skeleton import JOINT_INDEX as J

    X = rng.normal(size=(6, 18, 3))
    P1, P2 = rng.normal(size=(2, 2, 3))
    a = X @ P1.T * 40 + 200
    b = X @ P2.T * 40 + 300
    b_swapped = b[:, T.ARM_SWAP]
    exact = A.affine_cost_matrix(a, b, trim=0, swap_arms=False)
    assert np.all(A.affine_cost_matrix(a, b_swapped, trim=0, swap_arms=False).diagonal() > 1e-4)
    assert np.all(A.affine_cost_matrix(a, b_swapped, trim=0).diagonal() < 1e-10)
    a_biased = a.copy()
    a_biased[:, [J["l_elbow"], J["l_wrist"]]] += np.array([15.0, -20.0])
    plain = A.affine_cost_matrix(a_biased, b, trim=0, swap_arms=False)
    robust = A.affine_cost_matrix(a_biased, b, trim=2)  # trimming on request (off by default since h8)
    # one least-trimmed-squares step from the contaminated fit: usually exact, always better
    assert np.all(plain.diagonal() > 1e-4) and np.all(robust.diagonal() < plain.diagonal())
    assert np.mean(robust.diagonal() < 1e-10) >= 0.5
    # the other frame pairs (different poses) stay far from consistent
    off = ~np.eye(6, dtype=bool)
    assert np.all(robust[off] > 1e-4) and np.all(exact[off] > 1e-4)


def test_banded_diagonals_score_the_same_pairs_as_the_full_matrix(rng, monkeypatch):
    """Long tracks with a bounded search: only the pairs of the asked offsets are scored, in
    chunks; the means are those of the whole Ta x Tb matrix (up to rounding)."""
    xa, xb = rng.normal(size=(60, 18, 2)), rng.normal(size=(70, 18, 2))
    xa[5, 3:9] = np.nan
    xb[11] = np.nan
    orders = [np.arange(70)[::-1], np.roll(np.arange(70), 23)]
    offsets, nulls = np.array([-4, 0, 3]), np.array([-20, 5, 30])
    banded = A.affine_diagonals(xa, xb, offsets, clip_sigmas=2.5, null_frames=orders, null_offsets=nulls)
    # the same offsets inside a range too wide for the banded path: whole rows
    wide = np.arange(-50, 51)
    full = A.affine_diagonals(xa, xb, wide, clip_sigmas=None, null_frames=orders)
    plain = A.affine_diagonals(xa, xb, offsets, clip_sigmas=None, null_frames=orders, null_offsets=nulls)
    keep, chance = np.isin(wide, offsets), np.isin(wide, nulls)
    np.testing.assert_allclose(plain[0], full[0][keep], rtol=1e-12)
    np.testing.assert_array_equal(plain[1], full[1][keep])
    np.testing.assert_allclose(plain[2], full[2][:, chance], rtol=1e-12)
    assert banded[2].shape == (2, 3) and np.isfinite(banded[0]).all()
    # chunking does not change the sums
    monkeypatch.setattr(A, "CHUNK_PAIRS", 40)
    np.testing.assert_allclose(A.affine_diagonals(xa, xb, offsets, clip_sigmas=None, null_frames=orders,
                                                  null_offsets=nulls)[2], plain[2], rtol=1e-12)


def test_affine_cue_can_leave_the_eyes_and_ears_out(rng):
    """With ``drop=FACE_POINTS`` the eyes and ears (rigid, noisy, often half seen) take no part in
    the affine cue: scrambling them in b changes nothing, scrambling an elbow does; ``drop=()``
    keeps every joint."""
    xa = rng.normal(size=(40, 18, 2))
    xb = xa[3:] @ np.array([[0.9, 0.2], [-0.1, 1.1]]) + rng.normal(size=(37, 18, 2)) * 0.01
    offsets = np.arange(-10, 11)
    face = xb.copy()
    face[:, list(A.FACE_POINTS)] = rng.normal(size=(37, len(A.FACE_POINTS), 2))
    elbow = xb.copy()
    elbow[:, 3] = rng.normal(size=(37, 2))
    drop = A.FACE_POINTS
    base = A.affine_diagonals(xa, xb, offsets, drop=drop)[0]
    np.testing.assert_array_equal(A.affine_diagonals(xa, face, offsets, drop=drop)[0], base)
    assert not np.allclose(A.affine_diagonals(xa, elbow, offsets, drop=drop)[0], base)
    assert not np.allclose(A.affine_diagonals(xa, face, offsets, drop=())[0], base)
    assert offsets[np.nanargmin(base)] == 3
