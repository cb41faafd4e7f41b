"""Random Cut Forest's algorithm against its definition (Guha et al. 2016).

The vectorised expected CoDisp is checked against a literal Monte Carlo of
the paper's insertion (random cut on the stretched bounding box, then the
max sibling/subtree ratio over the new leaf's ancestors); the tree against
the cut rule; the reservoir against uniform inclusion.
"""

from __future__ import annotations

import numpy as np
import pytest

from containers.common.errors import CustomerError
from containers.randomcutforest import algorithm
from containers.randomcutforest.hyperparameters import parse_hyperparameters
from containers.randomcutforest.train import classification_metrics


def _path_ratios(forest: algorithm.Forest, path: list[int], joined: int, own: float) -> list[float]:
    """Displacements of a record that joined at ``path[-1]`` (own = its subtree's size there)."""
    ratios = []
    for parent, child in zip(path[-2::-1], path[:0:-1]):
        ratios.append((forest.mass[parent] - forest.mass[child]) / (forest.mass[child] + 1))
    return ratios + [own] if joined else ratios


def _monte_carlo_codisp(forest: algorithm.Forest, root: int, x: np.ndarray, runs: int, seed: int) -> float:
    """The paper's random insertion of ``x``, repeated; the mean CoDisp."""
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(runs):
        node, path = root, [root]
        while True:
            lo, hi = forest.lo[node].astype(np.float64), forest.hi[node].astype(np.float64)
            merged_lo, merged_hi = np.minimum(lo, x), np.maximum(hi, x)
            span = merged_hi - merged_lo
            if span.sum() == 0:  # a duplicate of a leaf point: it joins the leaf
                results.append(max(_path_ratios(forest, path, 0, 0.0), default=0.0))
                break
            r = rng.random() * span.sum()
            dim = int(np.searchsorted(np.cumsum(span), r, side="right"))
            cut = merged_lo[dim] + r - (np.cumsum(span)[dim] - span[dim])
            if x[dim] <= cut < lo[dim] or hi[dim] <= cut < x[dim]:  # the cut separates x from the box
                results.append(max(_path_ratios(forest, path, 1, float(forest.mass[node]))))
                break
            node = int(forest.left[node] if x[forest.dim[node]] <= forest.cut[node] else forest.right[node])
            path.append(node)
    return float(np.mean(results))


def test_expected_codisp_matches_the_papers_random_insertion() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(64, 2))
    forest = algorithm.fit(X, num_trees=1, num_samples_per_tree=64, seed=5)
    for x in (np.array([0.1, -0.2]), np.array([3.0, 3.0]), X[7]):
        [exact] = algorithm.codisp(forest, x[None, :].astype(np.float32))
        approx = _monte_carlo_codisp(forest, 0, x.astype(np.float32).astype(np.float64), runs=4000, seed=1)
        assert exact == pytest.approx(approx, rel=0.08, abs=0.1), x


def test_tree_structure_follows_the_cut_rule() -> None:
    X = np.random.default_rng(0).normal(size=(200, 3))
    f = algorithm.fit(X, num_trees=3, num_samples_per_tree=100, seed=1)
    internal = np.flatnonzero(f.left >= 0)
    assert np.all(f.mass[internal] == f.mass[f.left[internal]] + f.mass[f.right[internal]])
    lo, hi = f.lo[internal, f.dim[internal]], f.hi[internal, f.dim[internal]]
    assert np.all((f.cut[internal] >= lo) & (f.cut[internal] < hi))
    leaves = np.flatnonzero(f.left < 0)
    assert np.all(f.lo[leaves] == f.hi[leaves]) and f.mass[leaves].sum() == 300
    assert np.all(f.mass[f.roots] == 100)


def test_cut_dimension_is_chosen_in_proportion_to_its_range() -> None:
    rng = np.random.default_rng(2)
    X = np.column_stack([rng.uniform(0, 9, 500), rng.uniform(0, 1, 500)])  # ranges about 9:1
    f = algorithm.fit(X, num_trees=400, num_samples_per_tree=32, seed=4)
    share = float((f.dim[f.roots] == 0).mean())
    assert 0.82 < share < 0.97  # expected 0.9


def test_reservoir_sampling_is_uniform_and_without_repeats() -> None:
    rng = np.random.default_rng(0)
    sample = algorithm.reservoir_sample(1000, num_trees=600, size=50, rng=rng, chunk=97)
    assert sample.shape == (600, 50)
    assert all(len(set(row)) == 50 for row in sample)
    counts = np.bincount(sample.ravel(), minlength=1000)  # expected 30 each
    assert counts[:50].mean() == pytest.approx(30, abs=4)  # the reservoir's first fill is not favoured
    assert counts[-100:].mean() == pytest.approx(30, abs=4)
    assert algorithm.reservoir_sample(10, 2, 50, rng).shape == (2, 10)


def test_scores_separate_anomalies_and_scale_to_the_sample_size() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 4))
    forest = algorithm.fit(X, num_trees=50, num_samples_per_tree=256, seed=0)
    normal = algorithm.score(forest, rng.normal(size=(500, 4)))
    anomalies = algorithm.score(forest, rng.normal(size=(20, 4)) + 8)
    assert np.median(normal) < 1.5 and anomalies.min() > normal.max()
    threshold = normal.mean() + 3 * normal.std()
    assert (anomalies > threshold).all() and (normal > threshold).mean() < 0.03


def test_duplicates_and_a_constant_dimension_are_handled() -> None:
    X = np.column_stack([np.repeat([0.0, 1.0], 50), np.zeros(100)])
    forest = algorithm.fit(X, num_trees=5, num_samples_per_tree=100, seed=0)
    assert len(forest.mass) == 15  # a root and two leaves of 50 copies each, per tree
    seen, unseen = algorithm.score(forest, np.array([[0.0, 0.0], [0.5, 3.0]], dtype=np.float32))
    assert np.isfinite([seen, unseen]).all() and unseen > seen


def test_model_round_trips_through_its_arrays() -> None:
    X = np.random.default_rng(0).normal(size=(100, 2))
    forest = algorithm.fit(X, num_trees=3, num_samples_per_tree=20, seed=0)
    again = algorithm.Forest.from_arrays(forest.arrays())
    assert np.array_equal(algorithm.score(forest, X), algorithm.score(again, X))


def test_hyperparameters_as_sagemaker_documents_them() -> None:
    cfg = parse_hyperparameters({"feature_dim": "3", "mini_batch_size": "1000", "eval_metrics": '["accuracy"]'})
    assert (cfg.num_trees, cfg.num_samples_per_tree, cfg.eval_metrics) == (100, 256, ("accuracy",))
    assert parse_hyperparameters({"feature_dim": "3"}).eval_metrics == ("accuracy", "precision_recall_fscore")
    for bad, named in (({"feature_dim": "3", "num_trees": "10"}, "num_trees"),
                       ({"feature_dim": "3", "num_samples_per_tree": "4096"}, "num_samples_per_tree"),
                       ({"feature_dim": "3", "eval_metrics": "auc"}, "eval_metrics"),
                       ({"feature_dim": "3", "num_tree": "100"}, "num_tree"),
                       ({}, "feature_dim")):
        with pytest.raises(CustomerError, match=named):
            parse_hyperparameters(bad)


def test_classification_metrics_count_anomalies_as_positive() -> None:
    m = classification_metrics(np.array([1, 1, 0, 0, 0]), np.array([1, 0, 1, 0, 0]))
    assert m["accuracy"] == pytest.approx(0.6)
    assert (m["precision"], m["recall"], m["f1"]) == (0.5, 0.5, 0.5)
    assert m["negative_precision"] == pytest.approx(2 / 3) and m["negative_recall"] == pytest.approx(2 / 3)
