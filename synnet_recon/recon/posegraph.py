"""A pose graph over time: every camera at every fused instant is a node; Open3D's global
optimization (Levenberg-Marquardt with a line process) makes the poses agree.

Edges:
- odometry: one camera between consecutive instants, from ICP of its static background (cameras
  move smoothly, the background does not move);
- cross-camera: each verified view onto the reference view at the same instant.

Cross-camera edges are "uncertain" (Open3D's loop-closure edges): the line process weighs each
and prunes those that disagree with the rest, so a registration that jumps against the cameras'
smooth motion is dropped, and that view is flagged. Odometry edges are certain (Open3D needs them
connected); fuse checks them against the verified registrations before adding them
(``fuse.Odometry``). Nodes live in the world frame = the reference
camera at the first instant; a node's pose maps its camera's frame into the world.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..o3d import o3d

log = logging.getLogger(__name__)
reg = o3d.pipelines.registration


@dataclass
class PoseGraphConfig:
    edge_prune_threshold: float = 0.25    # line-process weight under which an uncertain edge is pruned
    preference_loop_closure: float = 1.0  # weight of the cross-camera (uncertain) edges
    max_correspondence_distance: float = 0.16  # metres, for the information matrices' scale
    cross_uncertain: bool = True          # the line process may prune cross-camera edges (and flag them)


@dataclass
class Edge:
    source: tuple[int, str]       # (instant position, camera)
    target: tuple[int, str]
    transform: np.ndarray         # (4, 4) source camera frame -> target camera frame
    information: np.ndarray       # (6, 6)
    uncertain: bool


@dataclass
class PoseGraphResult:
    """world_from_camera[(k, name)]: (4, 4) optimized pose of camera ``name`` at the k-th instant
    (only nodes connected to the first instant's reference); pruned: the cross-camera edges the
    line process dropped, as (k, name)."""

    world_from_camera: dict[tuple[int, str], np.ndarray]
    pruned: set[tuple[int, str]] = field(default_factory=set)     # cross-camera edges (k, name) dropped
    nodes: int = 0
    edges: int = 0


class PoseGraph:
    """Collects nodes (with initial poses) and edges as fuse goes; ``optimize`` at the end."""

    def __init__(self, reference: str, config: PoseGraphConfig | None = None):
        self.reference = reference
        self.config = config or PoseGraphConfig()
        self.initial: dict[tuple[int, str], np.ndarray] = {}
        self.edges: list[Edge] = []

    def add_node(self, key: tuple[int, str], world_from_camera: np.ndarray) -> None:
        self.initial[key] = np.asarray(world_from_camera, dtype=np.float64)

    def add_edge(self, edge: Edge) -> None:
        self.edges.append(edge)

    def _connected(self) -> set[tuple[int, str]]:
        """Nodes connected to the first instant's reference camera."""
        if not self.initial:
            return set()
        start = min(k for k in self.initial if k[1] == self.reference)
        seen, todo = {start}, [start]
        neighbours: dict = {}
        for e in self.edges:
            neighbours.setdefault(e.source, []).append(e.target)
            neighbours.setdefault(e.target, []).append(e.source)
        while todo:
            for m in neighbours.get(todo.pop(), []):
                if m not in seen:
                    seen.add(m)
                    todo.append(m)
        return seen

    def optimize(self) -> PoseGraphResult:
        keys = sorted(k for k in self._connected())
        if not keys:
            return PoseGraphResult({})
        index = {k: i for i, k in enumerate(keys)}
        graph = reg.PoseGraph()
        for k in keys:
            graph.nodes.append(reg.PoseGraphNode(self.initial[k]))
        used = _bridged([e for e in self.edges if e.source in index and e.target in index])
        for e in used:
            # Open3D: edge (s, t) with T maps s's frame into t's: pose_t^-1 pose_s = T
            graph.edges.append(reg.PoseGraphEdge(index[e.source], index[e.target], e.transform, e.information,
                                                 uncertain=e.uncertain))
        option = reg.GlobalOptimizationOption(
            max_correspondence_distance=self.config.max_correspondence_distance,
            edge_prune_threshold=self.config.edge_prune_threshold,
            preference_loop_closure=self.config.preference_loop_closure, reference_node=0)
        with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
            reg.global_optimization(graph, reg.GlobalOptimizationLevenbergMarquardt(),
                                    reg.GlobalOptimizationConvergenceCriteria(), option)
        kept = {(keys[e.source_node_id], keys[e.target_node_id]) for e in graph.edges}
        pruned = {e.source for e in used if e.uncertain and e.source[0] == e.target[0]
                  and (e.source, e.target) not in kept}
        poses = {k: np.asarray(graph.nodes[i].pose).copy() for k, i in index.items()}
        return PoseGraphResult(poses, pruned, len(keys), len(graph.edges))


def _bridged(edges: list[Edge]) -> list[Edge]:
    """Open3D needs the certain edges connected: an uncertain edge that is the only link between
    parts joined by certain edges becomes certain (it cannot be outvoted by anything anyway)."""
    parent: dict = {}

    def root(x):
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for e in edges:
        if not e.uncertain:
            parent[root(e.source)] = root(e.target)
    out = []
    for e in edges:
        if e.uncertain and root(e.source) != root(e.target):
            parent[root(e.source)] = root(e.target)
            e = Edge(e.source, e.target, e.transform, e.information, False)
        out.append(e)
    return out


def information(source_cloud, target_cloud, transform: np.ndarray, distance: float,
                correspondences: np.ndarray | None = None) -> np.ndarray:
    """Open3D's (6, 6) information matrix of an edge from its clouds' correspondences
    (``get_information_matrix_from_point_clouds``: sum of G^T G over the matched target points p,
    G = [[p]_x^T | I]). ``correspondences``: (M, 2) source, target indices already matched within
    ``distance`` under ``transform`` (the correspondence set of the ICP that gave it): the same sum
    in numpy, without searching the neighbours again."""
    if correspondences is None:
        return np.asarray(reg.get_information_matrix_from_point_clouds(source_cloud, target_cloud, distance,
                                                                       transform))
    p = np.asarray(target_cloud.points)[np.asarray(correspondences, dtype=np.int64).reshape(-1, 2)[:, 1]]
    x, y, z = p.T
    G = np.zeros((3, len(p), 6))
    G[0, :, 1], G[0, :, 2], G[0, :, 3] = z, -y, 1.0
    G[1, :, 0], G[1, :, 2], G[1, :, 4] = -z, x, 1.0
    G[2, :, 0], G[2, :, 1], G[2, :, 5] = y, -x, 1.0
    G = G.reshape(-1, 6)
    return G.T @ G
