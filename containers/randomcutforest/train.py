"""Training for the built-in Random Cut Forest algorithm.

Reads ``train`` (required, unlabelled) and ``test`` (optional, labelled:
1 = anomaly, 0 = normal) in ``application/x-recordio-protobuf`` or
``text/csv`` (``label_size=0`` for train, ``label_size=1`` for test, as
SageMaker's), builds the forest and writes ``model_algo-1`` (the forest's
arrays, NumPy ``.npz`` format) to the model directory. With a test channel
it scores the test records, labels as anomalies those beyond three standard
deviations from the mean score (SageMaker's three-sigma heuristic) and
prints ``#quality_metric: host=algo-1, test f1 <score>=...`` lines.
"""

from __future__ import annotations

import json

import numpy as np

from containers.common.builtin_input import read_channel
from containers.common.environment import Environment
from containers.common.errors import CustomerError
from containers.randomcutforest import algorithm
from containers.randomcutforest.hyperparameters import RCFConfig, parse_hyperparameters

MODEL_FILE = "model_algo-1"
ALGORITHM = "Random Cut Forest"


def _label_size(env: Environment, name: str) -> int:
    """``label_size`` of a CSV channel's content type (``text/csv;label_size=1``), else 0."""
    content_type = env.require_channel(name).content_type or ""
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "label_size":
            return 1 if value.strip() == "1" else 0
    return 0


def classification_metrics(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Accuracy and positive/negative precision, recall and F1 (label 1 = anomaly)."""
    out = {"accuracy": float((labels == predicted).mean())}
    for prefix, cls in (("", 1), ("negative_", 0)):
        tp = float(((predicted == cls) & (labels == cls)).sum())
        precision = tp / max(float((predicted == cls).sum()), 1.0)
        recall = tp / max(float((labels == cls).sum()), 1.0)
        out[f"{prefix}precision"] = precision
        out[f"{prefix}recall"] = recall
        out[f"{prefix}f1"] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return out


def evaluate(env: Environment, cfg: RCFConfig, forest: algorithm.Forest) -> dict[str, float]:
    """Score the labelled ``test`` channel; the metrics ``eval_metrics`` asks for."""
    ds = read_channel(env, "test", algorithm=ALGORITHM, feature_dim=cfg.feature_dim, supervised=True)
    bad = np.flatnonzero((ds.y != 0) & (ds.y != 1))
    if len(bad):
        raise CustomerError(f"Bad input in {ds.locate(int(bad[0]))}: the label {ds.y[bad[0]]:g} is not 0 (normal) "
                            "or 1 (anomaly).")
    scores = algorithm.score(forest, ds.X)
    threshold = scores.mean() + 3 * scores.std()
    metrics = classification_metrics(ds.y.astype(int), (scores > threshold).astype(int))
    wanted = {"accuracy"} if "accuracy" in cfg.eval_metrics else set()
    if "precision_recall_fscore" in cfg.eval_metrics:
        wanted |= set(metrics) - {"accuracy"}
    return {name: value for name, value in metrics.items() if name in wanted}


def train(env: Environment) -> None:
    """Build the forest for the job described by ``env``."""
    cfg = parse_hyperparameters(env.hyperparameters)
    X = read_channel(env, "train", algorithm=ALGORITHM, feature_dim=cfg.feature_dim,
                     supervised=_label_size(env, "train") == 1).X
    host = env.current_host

    def progress(tree: int) -> None:
        if tree % max(1, cfg.num_trees // 10) == 0 or tree == cfg.num_trees:
            print(f"#progress_metric: host={host}, completed {100.0 * tree / cfg.num_trees:.1f} % of trees",
                  flush=True)

    forest = algorithm.fit(X, cfg.num_trees, cfg.num_samples_per_tree, on_tree=progress)
    print(f"Built {cfg.num_trees} trees over {forest.sample_size} sampled records each "
          f"({len(X)} records in 'train').", flush=True)
    if "test" in env.channels:
        for name, value in evaluate(env, cfg, forest).items():
            print(f"#quality_metric: host={host}, test {name} <score>={value:.6g}", flush=True)
    env.model_dir.mkdir(parents=True, exist_ok=True)
    with (env.model_dir / MODEL_FILE).open("wb") as f:
        np.savez(f, **forest.arrays())
    (env.model_dir / "hyperparameters.json").write_text(json.dumps(
        {"feature_dim": cfg.feature_dim, "num_trees": cfg.num_trees, "num_samples_per_tree": cfg.num_samples_per_tree}))
    print(f"Saved the forest to {env.model_dir / MODEL_FILE}.", flush=True)
