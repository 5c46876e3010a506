"""Joint offsets of N clocks from pairwise offset estimates: robust weighted least squares.

Unknowns: x (N,) seconds, the time on the reference clock of each input's first frame, x[ref] = 0.
A pair estimate (i, j, o, w, s) says x[j] - x[i] = o with least-squares weight w (1 / variance)
and support s (a confidence). The solver
1. builds hypotheses: the maximum-support spanning tree, and the same with each tree edge banned
   (so a single confident outlier in the tree cannot dictate the answer);
2. keeps the hypothesis whose offsets agree (|residual| <= ``inlier_seconds``) with the largest
   total support of pairs;
3. re-solves by weighted least squares on those inliers, and repeats the inlier test until stable.
Everything depends only on the set of pairs, not on their order (pairs are canonicalised first).
Inputs not connected to the reference by inlier pairs get NaN.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PairObservation:
    """Offset of ``j`` relative to ``i``: x[j] - x[i] = offset (seconds), with weight > 0."""

    i: int
    j: int
    offset: float
    weight: float                  # least-squares weight (e.g. 1 / variance)
    support: float | None = None   # vote of the pair when choosing inliers (e.g. a confidence); None: weight

    def __post_init__(self):
        if self.support is None:
            self.support = self.weight

    def canonical(self) -> "PairObservation":
        if self.i < self.j:
            return self
        return PairObservation(self.j, self.i, -self.offset, self.weight, self.support)


@dataclass
class Solution:
    """offsets: (N,) seconds (NaN: not connected); inlier: (P,) bool per observation (input order);
    residuals: (P,) seconds (x[j] - x[i] - offset)."""

    offsets: np.ndarray
    inlier: np.ndarray
    residuals: np.ndarray


def _components(n: int, edges: list[tuple[int, int]]) -> np.ndarray:
    parent = list(range(n))

    def find(u):
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(u) for u in range(n)])


def weighted_least_squares(n: int, obs: list[PairObservation], reference: int) -> np.ndarray:
    """Offsets (N,) minimising sum w (x_j - x_i - o)^2 with x[reference] = 0; NaN where unconnected."""
    x = np.full(n, np.nan)
    comp = _components(n, [(o.i, o.j) for o in obs])
    members = np.flatnonzero(comp == comp[reference])
    x[reference] = 0.0
    if len(members) == 1:
        return x
    col = {m: k for k, m in enumerate(m for m in members if m != reference)}
    A = np.zeros((len(obs), len(col)))
    y = np.zeros(len(obs))
    sw = np.zeros(len(obs))
    for r, o in enumerate(obs):
        if comp[o.i] != comp[reference]:
            continue
        if o.j in col:
            A[r, col[o.j]] += 1.0
        if o.i in col:
            A[r, col[o.i]] -= 1.0
        y[r] = o.offset
        sw[r] = np.sqrt(o.weight)
    sol, *_ = np.linalg.lstsq(A * sw[:, None], y * sw, rcond=None)
    for m, k in col.items():
        x[m] = sol[k]
    return x


def _spanning_tree(n: int, obs: list[PairObservation], banned: int | None) -> list[int]:
    """Indices of a maximum-weight spanning forest (Kruskal; ties by index)."""
    order = sorted(range(len(obs)), key=lambda k: (-obs[k].support, -obs[k].weight, obs[k].i, obs[k].j, obs[k].offset))
    parent = list(range(n))

    def find(u):
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    tree = []
    for k in order:
        if k == banned:
            continue
        a, b = find(obs[k].i), find(obs[k].j)
        if a != b:
            parent[max(a, b)] = min(a, b)
            tree.append(k)
    return tree


def solve_offsets(n: int, observations: list[PairObservation], reference: int = 0,
                  inlier_seconds: float = 2 / 30, max_rounds: int = 10) -> Solution:
    """Robust joint offsets (see module docstring). ``inlier_seconds``: largest residual of an inlier."""
    if not 0 <= reference < n:
        raise ValueError(f"reference {reference} out of range for {n} inputs")
    canon = [o.canonical() for o in observations]
    for o in canon:
        if not (o.weight > 0 and o.support >= 0 and np.isfinite(o.offset)):
            raise ValueError(f"bad observation {o}")
    # canonical order: the result cannot depend on the order the pairs were given in
    order = sorted(range(len(canon)), key=lambda k: (canon[k].i, canon[k].j, canon[k].offset, canon[k].weight))
    obs = [canon[k] for k in order]
    if not obs:
        x = np.full(n, np.nan)
        x[reference] = 0.0
        return Solution(x, np.zeros(0, bool), np.zeros(0))

    def residuals(x):
        return np.array([x[o.j] - x[o.i] - o.offset for o in obs])

    best = None
    tree = _spanning_tree(n, obs, None)
    for banned in [None] + tree:
        sub = [obs[k] for k in _spanning_tree(n, obs, banned)]
        x = weighted_least_squares(n, sub, reference)
        r = residuals(x)
        inl = np.abs(np.nan_to_num(r, nan=np.inf)) <= inlier_seconds
        support = sum(o.support for o, ok in zip(obs, inl) if ok)
        key = (support, -np.nansum(np.abs(r[inl]) * [o.weight for o, ok in zip(obs, inl) if ok]))
        if best is None or key > best[0]:
            best = (key, inl)
    inl = best[1]
    for _ in range(max_rounds):
        x = weighted_least_squares(n, [o for o, ok in zip(obs, inl) if ok], reference)
        r = residuals(x)
        new = np.abs(np.nan_to_num(r, nan=np.inf)) <= inlier_seconds
        if np.array_equal(new, inl) or new.sum() < inl.sum():
            break
        inl = new
    x = weighted_least_squares(n, [o for o, ok in zip(obs, inl) if ok], reference)
    r = residuals(x)
    # back to the caller's order
    inlier = np.zeros(len(obs), bool)
    res = np.zeros(len(obs))
    for pos, k in enumerate(order):
        inlier[k] = inl[pos]
        sign = 1.0 if observations[k].i < observations[k].j else -1.0
        res[k] = sign * r[pos]
    return Solution(x, inlier, res)


@dataclass
class LoopCheck:
    """Every loop of three inputs checked: offset(a,b) + offset(b,c) must equal offset(a,c).

    Per observation (input order): checked (P,) loops it is in, broken (P,) of those that do not
    close within the tolerance, excluded (P,) bool: it breaks more of its loops than any pair it
    shares a broken loop with (identified as wrong), unresolved (P,) bool: it is in a broken loop
    whose wrong pair cannot be told (e.g. three inputs: every pair breaks the one loop).
    """

    checked: np.ndarray
    broken: np.ndarray
    excluded: np.ndarray
    unresolved: np.ndarray


def _triangles(obs: list[PairObservation], active: np.ndarray, tolerance: float):
    """(pair indices (3,), closes) for every loop of three active observations."""
    by_pair = {}
    for k, o in enumerate(obs):
        if active[k]:
            by_pair.setdefault((min(o.i, o.j), max(o.i, o.j)), k)
    nodes = sorted({u for p in by_pair for u in p})
    out = []
    for a_pos, a in enumerate(nodes):
        for b_pos in range(a_pos + 1, len(nodes)):
            b = nodes[b_pos]
            if (a, b) not in by_pair:
                continue
            for c in nodes[b_pos + 1:]:
                if (a, c) in by_pair and (b, c) in by_pair:
                    ks = [by_pair[(a, b)], by_pair[(b, c)], by_pair[(a, c)]]
                    off = [obs[k].offset if obs[k].i < obs[k].j else -obs[k].offset for k in ks]
                    out.append((ks, abs(off[0] + off[1] - off[2]) <= tolerance))
    return out


def check_loops(observations: list[PairObservation], tolerance: float) -> LoopCheck:
    """Loop consistency of the pair estimates (``tolerance`` seconds per loop of three).

    The pair breaking the largest share of its loops is excluded, when that share is larger than
    that of every other pair in its broken loops; repeated until no broken loop can be explained.
    """
    P = len(observations)
    active = np.ones(P, bool)
    excluded = np.zeros(P, bool)
    first = None
    while True:
        loops = _triangles(observations, active, tolerance)
        checked, broken = np.zeros(P, int), np.zeros(P, int)
        for ks, closes in loops:
            for k in ks:
                checked[k] += 1
                broken[k] += 0 if closes else 1
        if first is None:
            first = (checked.copy(), broken.copy())
        share = np.where(checked > 0, broken / np.maximum(checked, 1), 0.0)
        if P == 0 or not share.any():  # no pair answered (np.argmax of nothing), or every loop closes
            break
        worst = int(np.argmax(share))
        rivals = {k for ks, closes in loops if not closes and worst in ks for k in ks if k != worst}
        if any(share[k] >= share[worst] for k in rivals):
            break
        active[worst] = False
        excluded[worst] = True
    unresolved = np.zeros(P, bool)
    for ks, closes in _triangles(observations, active, tolerance):
        if not closes:
            unresolved[ks] = True
    return LoopCheck(first[0], first[1], excluded, unresolved)
