"""Linear Learner's algorithm, selection and serving hooks, in-process (no node, no container)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import scipy.sparse as sp

from containers.common.errors import CustomerError
from containers.common.recordio import iter_records
from containers.common.serving import BadInput
from containers.linear_learner import algorithm, evaluation, selection, serve
from containers.linear_learner.hyperparameters import parse_hyperparameters
from containers.linear_learner.model import LinearModel
from containers.linear_learner.scaling import Scaling

D = 6
TRUE_W = np.array([2.0, -1.5, 0.0, 1.0, 0.0, -0.5])


def _data(n: int, seed: int, kind: str = "binary_classifier") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Features on very different scales and offsets: normalization has work to do.
    X = (rng.normal(size=(n, D)) * np.array([1, 10, 3, 0.1, 5, 2]) + 4).astype(np.float32)
    z = ((X - 4) / np.array([1, 10, 3, 0.1, 5, 2])) @ TRUE_W
    if kind == "regressor":
        return X, (3 * z + 10 + rng.normal(scale=0.2, size=n)).astype(np.float32)
    if kind == "multiclass_classifier":
        return X, np.digitize(z + rng.normal(scale=0.2, size=n), [-1.0, 1.0]).astype(np.float32)
    return X, (z + rng.normal(scale=0.3, size=n) > 0).astype(np.float32)


def _cfg(kind: str = "binary_classifier", **extra: str):  # noqa: ANN202
    base = {"feature_dim": str(D), "predictor_type": kind, "mini_batch_size": "100", "epochs": "8",
            "num_models": "4"}
    return parse_hyperparameters({**base, **extra})


def _train(kind: str = "binary_classifier", n: int = 1500, **extra: str) -> tuple[LinearModel, object]:
    X, y = _data(n, 1, kind)
    cfg = _cfg(kind, **extra)
    models = algorithm.fit(X, y, cfg)
    model, _, _ = selection.select(models, X, y, cfg, np.random.default_rng(0))
    return model, cfg


def test_unknown_out_of_range_and_inconsistent_hyperparameters_are_named() -> None:
    with pytest.raises(CustomerError, match="learning_rat"):
        parse_hyperparameters({"feature_dim": "3", "predictor_type": "regressor", "learning_rat": "0.1"})
    with pytest.raises(CustomerError, match="'target_recall'.*'1.5'"):
        parse_hyperparameters({"feature_dim": "3", "predictor_type": "binary_classifier", "target_recall": "1.5"})
    with pytest.raises(CustomerError, match="'loss'.*hinge_loss.*regressor"):
        parse_hyperparameters({"feature_dim": "3", "predictor_type": "regressor", "loss": "hinge_loss"})
    with pytest.raises(CustomerError, match="num_classes"):
        parse_hyperparameters({"feature_dim": "3", "predictor_type": "multiclass_classifier"})
    with pytest.raises(CustomerError, match="positive_example_weight_mult"):
        parse_hyperparameters({"feature_dim": "3", "predictor_type": "binary_classifier",
                               "positive_example_weight_mult": "-2"})


def test_auto_values_and_automatic_tuning_turn_the_search_off() -> None:
    cfg = parse_hyperparameters({"feature_dim": "3", "predictor_type": "binary_classifier", "wd": "auto",
                                 "use_bias": "False", "normalize_data": "auto"})
    assert cfg.loss == "logistic" and cfg.optimizer == "adam" and cfg.num_models > 1
    assert cfg.wd == "auto" and cfg.use_bias is False and cfg.normalize_data == "auto"
    tuned = parse_hyperparameters({"feature_dim": "3", "predictor_type": "regressor", "num_models": "16",
                                   "_tuning_objective_metric": "validation:mse"})
    assert tuned.num_models == 1 and tuned.loss == "squared_loss"


def test_scaling_folds_into_raw_space_weights() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3)) * 5 + 2
    scaling = Scaling(x_shift=np.array([1.0, 2.0, -1.0]), x_scale=np.array([2.0, 0.5, 4.0]), y_shift=3.0,
                      y_scale=2.5)
    W, b = rng.normal(size=(2, 3, 1)), rng.normal(size=(2, 1))
    scaled = np.einsum("nd,kdc->knc", (X - scaling.x_shift) / scaling.x_scale, W) + b[:, None, :]
    w_raw, b_raw = scaling.to_raw_space(W, b)
    np.testing.assert_allclose(np.einsum("nd,kdc->knc", X, w_raw) + b_raw[:, None, :],
                               scaled * scaling.y_scale + scaling.y_shift, rtol=1e-10)


@pytest.mark.parametrize("criterion", ["accuracy", "f_beta", "precision_at_target_recall",
                                       "recall_at_target_precision"])
def test_threshold_is_the_best_cut_a_brute_force_search_finds(criterion: str) -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(400) < 0.3).astype(np.float64)
    scores = np.round(np.clip(0.3 * y + rng.normal(0.35, 0.2, 400), 0, 1), 2)  # ties on purpose
    threshold, value = evaluation.choose_threshold(scores, y, criterion, beta=2.0, target_precision=0.7,
                                                   target_recall=0.7)
    best = -np.inf
    for t in np.unique(scores):
        m = evaluation.binary_metrics(scores, y, t, beta=2.0)
        if criterion == "accuracy":
            v = m["binary_classification_accuracy"]
        elif criterion == "f_beta":
            v = m["binary_f_beta"]
        elif criterion == "precision_at_target_recall":
            v = m["precision"] if m["recall"] >= 0.7 else -np.inf
        else:
            v = m["recall"] if m["precision"] >= 0.7 else -np.inf
        best = max(best, v)
    assert value == pytest.approx(best)
    chosen = evaluation.binary_metrics(scores, y, threshold, beta=2.0)
    if criterion == "recall_at_target_precision":
        assert chosen["precision"] >= 0.7
    if criterion == "precision_at_target_recall":
        assert chosen["recall"] >= 0.7


def test_binary_classifier_generalizes_and_round_trips(tmp_path) -> None:  # noqa: ANN001
    model, cfg = _train("binary_classifier")
    Xt, yt = _data(1000, 2)
    metrics = selection.channel_metrics(model, Xt, yt, cfg)
    # The labels are 30% noise-free margin; a broken fit (or chance) is near 0.5.
    assert metrics["binary_classification_accuracy"] > 0.9 and metrics["roc_auc_score"] > 0.95
    loaded = LinearModel.load(model.save(tmp_path).parent)
    np.testing.assert_allclose(loaded.scores(Xt), model.scores(Xt))
    assert loaded.threshold == model.threshold


def test_regressor_and_multiclass_learn_their_targets() -> None:
    model, cfg = _train("regressor", epochs="15")
    Xt, yt = _data(1000, 2, "regressor")
    assert selection.channel_metrics(model, Xt, yt, cfg)["rmse"] < 0.5  # label std is about 8
    model, cfg = _train("multiclass_classifier", num_classes="3")
    Xt, yt = _data(1000, 2, "multiclass_classifier")
    metrics = selection.channel_metrics(model, Xt, yt, cfg)
    assert metrics["multiclass_accuracy"] > 0.85 and metrics["multiclass_top_k_accuracy"] == 1.0


def test_sparse_input_trains_without_shifting_zeros() -> None:
    X, y = _data(1500, 1)
    X -= 4  # sparse data is not shifted, so give it no offset to remove
    X[:, [2, 4]] = 0  # the zero-weight features, made structurally sparse
    cfg = _cfg()
    models = algorithm.fit(sp.csr_matrix(X), y, cfg)
    model, _, _ = selection.select(models, sp.csr_matrix(X), y, cfg, np.random.default_rng(0))
    Xt, yt = _data(800, 2)
    Xt -= 4
    Xt[:, [2, 4]] = 0
    assert selection.channel_metrics(model, sp.csr_matrix(Xt), yt, cfg)["binary_classification_accuracy"] > 0.9


def test_l1_zeroes_irrelevant_weights_and_early_stopping_stops() -> None:
    X, y = _data(1500, 1, "regressor")
    cfg = _cfg("regressor", l1="0.05", wd="0", num_models="1", epochs="30", early_stopping_patience="2",
               early_stopping_tolerance="0.5")
    models = algorithm.fit(X, y, cfg)
    assert models.epochs_run < 30  # a 50% relative improvement per epoch cannot last
    weights = models.weights[0][:, 0]
    assert np.all(weights[[2, 4]] == 0) and np.all(weights[[0, 1, 3]] != 0)


def test_balanced_positive_weight_raises_recall_on_rare_positives() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(3000, D)).astype(np.float32)
    y = (X @ TRUE_W + rng.normal(scale=1.0, size=3000) > 3.2).astype(np.float32)  # about 5% positives
    recalls = {}
    for mult in ("1.0", "balanced"):
        cfg = _cfg(positive_example_weight_mult=mult, num_models="1",
                   binary_classifier_model_selection_criteria="loss_function")
        models = algorithm.fit(X, y, cfg)
        model, _, _ = selection.select(models, X, y, cfg, np.random.default_rng(0))
        recalls[mult] = evaluation.binary_metrics(model.scores(X), y, model.threshold, 1.0)["recall"]
    assert recalls["balanced"] > recalls["1.0"] + 0.1


def test_serve_hooks_answer_in_sagemakers_shapes(tmp_path) -> None:  # noqa: ANN001
    model, _ = _train("binary_classifier", n=600)
    model.save(tmp_path)
    loaded = serve.handler().model_fn(str(tmp_path))
    X, _ = _data(3, 4)
    body = "\n".join(",".join(str(v) for v in row) for row in X).encode()
    predictions = serve.handler().predict_fn(serve.handler().input_fn(body, "text/csv"), loaded)
    doc = json.loads(serve.handler().output_fn(predictions, "application/json"))
    assert [set(p) for p in doc["predictions"]] == [{"score", "predicted_label"}] * 3
    for p, score in zip(doc["predictions"], model.scores(X)):
        assert p["score"] == pytest.approx(score, rel=1e-5) and p["predicted_label"] == int(score >= model.threshold)
    lines = serve.handler().output_fn(predictions, "text/csv").splitlines()
    assert [line.split(",")[1] for line in lines] == [str(p["predicted_label"]) for p in doc["predictions"]]
    records = list(iter_records(io.BytesIO(serve.handler().output_fn(predictions, "application/x-recordio-protobuf"))))
    assert [r.label["predicted_label"].values[0] for r in records] == [p["predicted_label"] for p in doc["predictions"]]
    with pytest.raises(BadInput, match="6 features"):
        serve.handler().predict_fn(np.zeros((1, 4), np.float32), loaded)
    with pytest.raises(BadInput, match="NaN"):
        serve.handler().predict_fn(np.full((1, D), np.nan, np.float32), loaded)


def test_metric_lines_feed_sagemakers_metric_names() -> None:
    from datetime import datetime, timezone

    from services.training.metrics import MetricsCollector, definitions_for

    collector = MetricsCollector(definitions_for("linear_learner", None))
    now = datetime.now(timezone.utc)
    for line in ("#quality_metric: host=algo-1, epoch=1, validation objective_loss <loss>=0.5",
                 "#quality_metric: host=algo-1, epoch=2, validation objective_loss <loss>=0.25",
                 "#quality_metric: host=algo-1, test binary_classification_accuracy <score>=0.97"):
        collector.feed(line, now)
    assert [o.value for o in collector.series["validation:objective_loss"]] == [0.5, 0.25]
    assert {m.metric_name: m.value for m in collector.final()} == {
        "validation:objective_loss": 0.25, "test:binary_classification_accuracy": 0.97}
