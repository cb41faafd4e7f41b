"""Random Cut Forest (Guha et al. 2016, "Robust Random Cut Forest Based Anomaly Detection on Streams").

Training draws, for each of ``num_trees`` trees, ``num_samples_per_tree``
points from the stream by reservoir sampling, and builds a random cut tree
over them: at each node a dimension is chosen with probability proportional
to its range in the node's bounding box, and a cut is drawn uniformly in
that range. The forest is stored as flat arrays (children, cut, mass and
bounding box of every node) so that scoring is vectorised over all
(record, tree) pairs at once, one tree level per step.

A record's anomaly score is its collusive displacement (CoDisp): the
expected displacement of inserting it into each tree, ``max |sibling| /
|subtree holding the record|`` over the record's ancestors, where the
expectation is over the random cut the insertion draws at each node (the
record is separated at a node with probability equal to how far it
stretches the node's bounding box, relative to the stretched box's
perimeter). The mean over trees is divided by ``log2(1 + sample size)``,
as SageMaker scales scores to the sample size: typical records score
around 1 or below, anomalies several times that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# (record, tree) pairs scored per step: bounds the memory of one batch.
_PAIRS_PER_CHUNK = 200_000


@dataclass(frozen=True)
class Forest:
    """Every tree's nodes, concatenated; ``left < 0`` marks a leaf."""

    left: np.ndarray  # int32 (nodes,)
    right: np.ndarray  # int32 (nodes,)
    dim: np.ndarray  # int32 (nodes,)
    cut: np.ndarray  # float64 (nodes,)
    mass: np.ndarray  # float64 (nodes,): points under the node
    lo: np.ndarray  # float32 (nodes, feature_dim): bounding box
    hi: np.ndarray  # float32 (nodes, feature_dim)
    roots: np.ndarray  # int32 (trees,)
    sample_size: int  # points per tree

    @property
    def feature_dim(self) -> int:
        """Width of the records the forest scores."""
        return int(self.lo.shape[1])

    def arrays(self) -> dict[str, np.ndarray]:
        """The forest as named arrays (for ``np.savez``)."""
        return {name: getattr(self, name) for name in ("left", "right", "dim", "cut", "mass", "lo", "hi", "roots")} | {
            "sample_size": np.asarray(self.sample_size)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Forest:
        """Inverse of :meth:`arrays`."""
        return cls(**{k: arrays[k] for k in ("left", "right", "dim", "cut", "mass", "lo", "hi", "roots")},
                   sample_size=int(arrays["sample_size"]))


def reservoir_sample(num_rows: int, num_trees: int, size: int, rng: np.random.Generator,
                     chunk: int = 65536) -> np.ndarray:
    """Row indices (trees, min(size, num_rows)): one independent reservoir (Algorithm R) per tree.

    The stream is read once, in chunks; row ``i`` replaces slot ``j ~ U{0..i}``
    of a tree's reservoir when ``j < size``.
    """
    k = min(size, num_rows)
    reservoir = np.tile(np.arange(k), (num_trees, 1))
    for start in range(k, num_rows, chunk):
        rows = np.arange(start, min(num_rows, start + chunk))
        slots = rng.integers(0, rows + 1, size=(num_trees, len(rows)))
        tree, col = np.nonzero(slots < k)
        # A later row replacing the same slot wins: keep the last hit per (tree, slot).
        key = (tree * k + slots[tree, col])[::-1]
        _, first = np.unique(key, return_index=True)
        last = len(key) - 1 - first
        reservoir[tree[last], slots[tree[last], col[last]]] = rows[col[last]]
    return reservoir


def _build_tree(points: np.ndarray, rng: np.random.Generator, offset: int) -> dict[str, list]:
    """One random cut tree over ``points``; node ids start at ``offset``."""
    nodes: dict[str, list] = {k: [] for k in ("left", "right", "dim", "cut", "mass", "lo", "hi")}
    stack: list[tuple[np.ndarray, int, str]] = [(np.arange(len(points)), -1, "")]
    while stack:
        idx, parent, side = stack.pop()
        me = len(nodes["mass"])
        if parent >= 0:
            nodes[side][parent] = offset + me
        pts = points[idx]
        lo, hi = pts.min(0), pts.max(0)
        span = hi - lo
        total = float(span.sum())
        for key, value in (("left", -1), ("right", -1), ("dim", -1), ("cut", 0.0), ("mass", len(idx)),
                           ("lo", lo), ("hi", hi)):
            nodes[key].append(value)
        if total <= 0:  # one point, or duplicates of one point: a leaf with their count as mass
            continue
        bounds = np.cumsum(span)
        while True:  # a dimension with probability span/total, then a cut uniform within it
            r = rng.random() * total
            dim = int(np.searchsorted(bounds, r, side="right"))
            if dim >= len(span) or span[dim] <= 0:
                continue
            cut = lo[dim] + (r - (bounds[dim] - span[dim]))
            below = pts[:, dim] <= cut
            if below.any() and not below.all():
                break
        nodes["dim"][me], nodes["cut"][me] = dim, float(cut)
        stack.append((idx[~below], me, "right"))
        stack.append((idx[below], me, "left"))
    return nodes


def fit(X: np.ndarray, num_trees: int, num_samples_per_tree: int, seed: int = 0,
        on_tree: Callable[[int], None] | None = None) -> Forest:
    """Build the forest over the rows of ``X`` (float, (rows, feature_dim))."""
    rng = np.random.default_rng(seed)
    samples = reservoir_sample(len(X), num_trees, num_samples_per_tree, rng)
    data = np.asarray(X, dtype=np.float64)
    parts: dict[str, list] = {k: [] for k in ("left", "right", "dim", "cut", "mass", "lo", "hi")}
    roots = []
    for t in range(num_trees):
        roots.append(len(parts["mass"]))
        for key, values in _build_tree(data[samples[t]], rng, roots[-1]).items():
            parts[key].extend(values)
        if on_tree:
            on_tree(t + 1)
    return Forest(left=np.asarray(parts["left"], np.int32), right=np.asarray(parts["right"], np.int32),
                  dim=np.asarray(parts["dim"], np.int32), cut=np.asarray(parts["cut"], np.float64),
                  mass=np.asarray(parts["mass"], np.float64), lo=np.asarray(parts["lo"], np.float32),
                  hi=np.asarray(parts["hi"], np.float32), roots=np.asarray(roots, np.int32),
                  sample_size=int(samples.shape[1]))


def _codisp_pairs(forest: Forest, span: np.ndarray, X: np.ndarray, record: np.ndarray,
                  node: np.ndarray) -> np.ndarray:
    """Expected CoDisp of inserting ``X[record[i]]`` into the tree rooted at ``node[i]`` (``span``: box perimeters)."""
    n = len(record)
    reach = np.ones(n)  # probability the insertion has not yet split off above the current node
    ratio = np.zeros(n)  # max |sibling| / (|subtree| + 1) over the ancestors passed so far
    total = np.zeros(n)
    active = np.arange(n)
    while active.size:
        nd = node[active]
        x = X[record[active]]
        # lo <= hi, so at most one of the two overshoots is positive in each dimension.
        stretch = np.maximum(np.maximum(forest.lo[nd] - x, x - forest.hi[nd]), 0).sum(1, dtype=np.float64)
        perimeter = span[nd] + stretch
        p_split = np.divide(stretch, perimeter, out=np.zeros(len(nd)), where=perimeter > 0)
        # Split off here: the record's new sibling is this whole subtree.
        total[active] += reach[active] * p_split * np.maximum(forest.mass[nd], ratio[active])
        reach[active] *= 1 - p_split
        leaf = forest.left[nd] < 0
        # Reaching a leaf unsplit means a duplicate of its point: it joins the leaf.
        done = active[leaf]
        total[done] += reach[done] * ratio[done]
        active, nd = active[~leaf], nd[~leaf]
        value = X[record[active], forest.dim[nd]]
        child = np.where(value <= forest.cut[nd], forest.left[nd], forest.right[nd])
        ratio[active] = np.maximum(ratio[active], (forest.mass[nd] - forest.mass[child]) / (forest.mass[child] + 1))
        node[active] = child
    return total


def codisp(forest: Forest, X: np.ndarray) -> np.ndarray:
    """Mean expected CoDisp over the trees of each row of ``X``."""
    X = np.asarray(X, dtype=np.float32)
    trees = len(forest.roots)
    out = np.empty(len(X))
    span = (forest.hi - forest.lo).sum(1, dtype=np.float64)
    step = max(1, _PAIRS_PER_CHUNK // trees)
    for start in range(0, len(X), step):
        rows = np.arange(start, min(len(X), start + step))
        record = np.repeat(rows, trees)
        node = np.tile(forest.roots, len(rows)).astype(np.int64)
        out[rows] = _codisp_pairs(forest, span, X, record, node).reshape(len(rows), trees).mean(1)
    return out


def score(forest: Forest, X: np.ndarray) -> np.ndarray:
    """SageMaker-scaled anomaly scores: CoDisp over ``log2(1 + sample size)``; higher is more anomalous."""
    return codisp(forest, X) / np.log2(1 + forest.sample_size)
