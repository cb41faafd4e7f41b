"""Tests of the built-in XGBoost algorithm container, run in-process and as a process."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from containers.common import params
from containers.common.errors import CustomerError
from containers.common.trainer import EXIT_SUCCESS, execute
from containers.xgboost.__main__ import main
from containers.xgboost.hyperparameters import parse_hyperparameters
from containers.xgboost.train import train

REPO_ROOT = Path(__file__).resolve().parents[2]
EVAL_LINE = re.compile(r"^\[(\d+)\]\ttrain-([a-z@.\-]+):[-0-9.e]+(\tvalidation-\2:[-0-9.e]+)?$")
# A metric definition users copy from SageMaker's XGBoost examples; the log
# pipeline renders tabs as "#011" before such regexes are applied.
SAGEMAKER_RMSE_REGEX = r".*\[[0-9]+\].*#011validation-rmse:([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?).*"


class Job:
    """A /opt/ml-shaped directory for one training job."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.channels: dict[str, dict[str, str]] = {}
        (root / "input" / "config").mkdir(parents=True)

    def hyperparameters(self, **values: str) -> Job:
        (self.root / "input/config/hyperparameters.json").write_text(json.dumps(values))
        return self

    def channel(
        self, name: str, files: dict[str, str | bytes], content_type: str | None = "text/csv", **cfg: str
    ) -> Job:
        directory = self.root / "input" / "data" / name
        for rel, content in files.items():
            path = directory / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        config = {"TrainingInputMode": "File", **cfg}
        if content_type is not None:
            config["ContentType"] = content_type
        self.channels[name] = config
        (self.root / "input/config/inputdataconfig.json").write_text(json.dumps(self.channels))
        return self

    @property
    def model_path(self) -> Path:
        return self.root / "model" / "xgboost-model"

    @property
    def failure(self) -> str:
        return (self.root / "output" / "failure").read_text()

    def booster(self) -> xgb.Booster:
        with warnings.catch_warnings():
            # The file has no extension, exactly as SageMaker names it; XGBoost
            # warns that it guesses the format (and guesses right).
            warnings.simplefilter("ignore", UserWarning)
            return xgb.Booster(model_file=str(self.model_path))


@pytest.fixture
def job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Job:
    monkeypatch.setenv(params.BASE_DIR_ENV, str(tmp_path / "ml"))
    return Job(tmp_path / "ml")


def to_csv(y: np.ndarray, X: np.ndarray) -> str:
    return "\n".join(",".join(f"{v:.6g}" for v in [label, *row]) for label, row in zip(y, X, strict=True)) + "\n"


def to_libsvm(y: np.ndarray, X: np.ndarray) -> str:
    lines = []
    for label, row in zip(y, X, strict=True):
        pairs = " ".join(f"{i}:{v:.6g}" for i, v in enumerate(row) if v != 0)
        lines.append(f"{label:g} {pairs}")
    return "\n".join(lines) + "\n"


def regression(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 4))
    y = 3 * X[:, 0] - 2 * X[:, 1] ** 2 + X[:, 2] + 0.05 * rng.normal(size=n)
    return X, y


def classification(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, (X[:, 0] + X[:, 1] > 0).astype(float)


def eval_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("[")]


# --- training ---------------------------------------------------------------


def test_regression_trains_loadable_model_with_eval_lines(job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    X, y = regression(600)
    job.hyperparameters(num_round="40", max_depth="4")
    job.channel("train", {"part-1.csv": to_csv(y[:500], X[:500])})
    job.channel("validation", {"v.csv": to_csv(y[500:], X[500:])})

    assert execute(train) == EXIT_SUCCESS

    booster = job.booster()
    assert booster.num_boosted_rounds() == 40
    pred = booster.predict(xgb.DMatrix(X[500:]))
    rmse = float(np.sqrt(np.mean((pred - y[500:]) ** 2)))
    assert rmse < 0.35 * float(np.std(y[500:]))  # far better than predicting the mean

    out = capsys.readouterr().out
    lines = eval_lines(out)
    assert len(lines) == 40
    for number, line in enumerate(lines):
        match = EVAL_LINE.match(line)
        assert match, line
        assert int(match.group(1)) == number and match.group(2) == "rmse" and match.group(3)
    as_logged = lines[-1].replace("\t", "#011")
    value = re.match(SAGEMAKER_RMSE_REGEX, as_logged)
    assert value and float(value.group(1)) == pytest.approx(rmse, abs=1e-4)
    assert "Channel 'train': 500 rows, 4 feature columns" in out
    assert "objective 'reg:squarederror'" in out


def test_binary_classification(job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    X, y = classification(800)
    job.hyperparameters(num_round="30", objective="binary:logistic", eval_metric="logloss,error")
    job.channel("train", {"train.csv": to_csv(y[:600], X[:600])}, content_type="text/csv; label_size=1")
    job.channel("validation", {"val.csv": to_csv(y[600:], X[600:])})

    assert execute(train) == EXIT_SUCCESS

    prob = job.booster().predict(xgb.DMatrix(X[600:]))
    assert ((prob >= 0) & (prob <= 1)).all()
    assert np.mean((prob > 0.5) == y[600:]) > 0.9
    last = eval_lines(capsys.readouterr().out)[-1]
    assert "\ttrain-logloss:" in last and "\ttrain-error:" in last and "\tvalidation-error:" in last


def test_early_stopping_stops_early_and_keeps_best_rounds(job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    # Labels are noise: validation error is best after a round or two and then
    # only grows as deep trees memorise the training noise.
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(400, 5)), rng.normal(size=400)
    job.hyperparameters(num_round="200", early_stopping_rounds="5", eta="1", max_depth="8")
    job.channel("train", {"t.csv": to_csv(y[:300], X[:300])})
    job.channel("validation", {"v.csv": to_csv(y[300:], X[300:])})

    assert execute(train) == EXIT_SUCCESS

    out = capsys.readouterr().out
    trained = len(eval_lines(out))
    assert trained < 50
    assert f"Stopped early after {trained} of 200 rounds" in out
    booster = job.booster()
    assert booster.num_boosted_rounds() == trained - 5  # the best round plus those before it


def test_early_stopping_with_gblinear_keeps_last_state(job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    X, y = regression(300)
    job.hyperparameters(num_round="100", early_stopping_rounds="2", booster="gblinear", eta="1")
    job.channel("train", {"t.csv": to_csv(y[:200], X[:200])})
    job.channel("validation", {"v.csv": to_csv(y[200:], X[200:])})

    assert execute(train) == EXIT_SUCCESS

    trained = len(eval_lines(capsys.readouterr().out))
    assert trained < 100
    assert job.booster().num_boosted_rounds() == trained  # a linear model cannot be cut back


def test_multiclass_with_num_class(job: Job) -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(600, 2))
    y = np.where(X[:, 0] > 0.5, 2, np.where(X[:, 0] < -0.5, 0, 1)).astype(float)
    job.hyperparameters(num_round="20", objective="multi:softprob", num_class="3")
    job.channel("train", {"t.csv": to_csv(y[:500], X[:500])})

    assert execute(train) == EXIT_SUCCESS

    prob = job.booster().predict(xgb.DMatrix(X[500:]))
    assert prob.shape == (100, 3)
    np.testing.assert_allclose(prob.sum(axis=1), 1, rtol=1e-5)
    assert np.mean(prob.argmax(axis=1) == y[500:]) > 0.9


@pytest.mark.parametrize("content_type", ["text/libsvm", "libsvm", "text/x-libsvm", None])
def test_libsvm_input(job: Job, content_type: str | None) -> None:
    X, y = classification(500)
    X[np.abs(X) < 0.3] = 0  # make it actually sparse
    job.hyperparameters(num_round="20", objective="binary:logistic")
    job.channel("train", {"a.libsvm": to_libsvm(y[:400], X[:400])}, content_type=content_type)
    job.channel("validation", {"b.libsvm": to_libsvm(y[400:], X[400:])}, content_type=content_type)

    assert execute(train) == EXIT_SUCCESS

    prob = job.booster().predict(xgb.DMatrix(X[400:]))
    assert np.mean((prob > 0.5) == y[400:]) > 0.85


def test_gzip_compressed_channel(job: Job) -> None:
    X, y = regression(300)
    job.hyperparameters(num_round="10")
    job.channel("train", {"a.csv.gz": gzip.compress(to_csv(y, X).encode())}, CompressionType="Gzip")

    assert execute(train) == EXIT_SUCCESS
    assert job.booster().num_boosted_rounds() == 10


def test_csv_weights_column_is_not_a_feature(job: Job) -> None:
    X, y = regression(200)
    weights = np.ones(200)
    job.hyperparameters(num_round="5", csv_weights="1")
    job.channel("train", {"a.csv": to_csv(y, np.c_[weights, X])})

    assert execute(train) == EXIT_SUCCESS
    assert job.booster().num_features() == 4


def test_training_as_a_real_process(job: Job) -> None:
    X, y = regression(300)
    job.hyperparameters(num_round="12", eval_metric="rmse", sagemaker_program="ignored")
    job.channel("train", {"a.csv": to_csv(y[:250], X[:250])})
    job.channel("validation", {"b.csv": to_csv(y[250:], X[250:])})

    proc = subprocess.run(
        [sys.executable, "-m", "containers.xgboost", "train"],
        cwd=REPO_ROOT,
        env={**os.environ, params.BASE_DIR_ENV: str(job.root)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert proc.returncode == 0, proc.stderr
    lines = eval_lines(proc.stdout)
    assert [int(EVAL_LINE.match(line).group(1)) for line in lines] == list(range(12))  # type: ignore[union-attr]
    assert job.booster().num_boosted_rounds() == 12
    assert not (job.root / "output" / "failure").exists()


def test_bad_input_as_a_real_process(job: Job) -> None:
    job.hyperparameters(num_round="5")
    job.channel("train", {"part-1.csv": "1,2\n1,oops\n"})

    proc = subprocess.run(
        [sys.executable, "-m", "containers.xgboost", "train"],
        cwd=REPO_ROOT,
        env={**os.environ, params.BASE_DIR_ENV: str(job.root)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert proc.returncode != 0
    assert job.failure.strip() == "Bad input in train/part-1.csv at line 2: column 2 has non-numeric value 'oops'."
    assert "CustomerError" in proc.stderr  # the traceback goes to the logs
    assert not job.model_path.exists()


def test_serve_without_a_model_fails_and_unknown_commands_print_usage(
        job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    # The serving contract itself is tested in tests/unit/test_serving.py.
    assert main(["serve"]) == 1
    assert "No xgboost-model in" in capsys.readouterr().err
    assert main([]) == 2
    assert "usage:" in capsys.readouterr().err


# --- bad input and hyperparameters: non-zero exit, failure file says why ------


def fails_with(job: Job) -> str:
    assert execute(train) != EXIT_SUCCESS
    assert not job.model_path.exists()
    return job.failure


def test_non_numeric_cell(job: Job) -> None:
    job.hyperparameters(num_round="5").channel("train", {"a.csv": "1,2,3\n0,4,5\n1,x7,6\n"})
    assert "train/a.csv at line 3: column 2 has non-numeric value 'x7'" in fails_with(job)


def test_missing_label(job: Job) -> None:
    job.hyperparameters(num_round="5").channel("train", {"a.csv": "1,2\n,4\n"})
    assert "train/a.csv at line 2: the label (column 1) is missing" in fails_with(job)


def test_empty_file(job: Job) -> None:
    job.hyperparameters(num_round="5").channel("train", {"a.csv": "1,2\n", "b.csv": ""})
    assert "train/b.csv at line 1: the file is empty" in fails_with(job)


def test_ragged_rows(job: Job) -> None:
    job.hyperparameters(num_round="5").channel("train", {"a.csv": "1,2,3\n0,4,5\n1,6\n"})
    assert "train/a.csv at line 3: the row has 2 columns but the channel's first row has 3" in fails_with(job)


def test_unknown_hyperparameter(job: Job) -> None:
    job.hyperparameters(num_round="5", max_dept="3").channel("train", {"a.csv": "1,2\n"})
    assert "Unknown hyperparameter(s): max_dept" in fails_with(job)


def test_out_of_range_hyperparameter(job: Job) -> None:
    job.hyperparameters(num_round="5", eta="1.5").channel("train", {"a.csv": "1,2\n"})
    assert "Hyperparameter 'eta' has invalid value '1.5': must be in [0, 1]" in fails_with(job)


def test_missing_num_round(job: Job) -> None:
    job.hyperparameters(eta="0.1").channel("train", {"a.csv": "1,2\n"})
    assert "Hyperparameter 'num_round' is required" in fails_with(job)


def test_multiclass_without_num_class(job: Job) -> None:
    job.hyperparameters(num_round="5", objective="multi:softmax").channel("train", {"a.csv": "1,2\n"})
    assert "'num_class' is required when objective is 'multi:softmax'" in fails_with(job)


def test_label_out_of_range_for_objective(job: Job) -> None:
    job.hyperparameters(num_round="5", objective="binary:logistic")
    job.channel("train", {"a.csv": "1,2\n0,3\n2,4\n"})
    assert "train/a.csv at line 3: label 2 is invalid for objective 'binary:logistic'" in fails_with(job)


def test_multiclass_label_out_of_range(job: Job) -> None:
    job.hyperparameters(num_round="5", objective="multi:softmax", num_class="2")
    job.channel("train", {"a.csv": "0,1\n1,2\n", "b.csv": "\n1,2\n2,3\n"})  # line 1 of b.csv is blank
    failure = fails_with(job)
    assert "train/b.csv at line 3: label 2 is invalid for objective 'multi:softmax'" in failure
    assert "an integer in [0, 1]" in failure


def test_xgboost_rejection_becomes_customer_error(job: Job) -> None:
    job.hyperparameters(num_round="5", monotone_constraints="(1,1,1)").channel("train", {"a.csv": "1,2\n0,3\n"})
    failure = fails_with(job)
    assert failure.startswith("XGBoost could not train with these hyperparameters and data: Check failed")
    assert "monotone" in failure and "Algorithm error" not in failure


def test_unsupported_content_type(job: Job) -> None:
    job.hyperparameters(num_round="5").channel("train", {"a.json": "{}"}, content_type="application/json")
    assert "Channel 'train' has content type 'application/json'" in fails_with(job)


def test_missing_train_channel(job: Job) -> None:
    job.hyperparameters(num_round="5").channel("validation", {"a.csv": "1,2\n"})
    assert "Channel 'train' is required" in fails_with(job)


def test_validation_columns_must_match(job: Job) -> None:
    job.hyperparameters(num_round="5")
    job.channel("train", {"a.csv": "1,2,3\n"}).channel("validation", {"b.csv": "1,2\n"})
    assert "'validation' has 1 feature columns but 'train' has 2" in fails_with(job)


# --- hyperparameter translation ------------------------------------------------


def test_hyperparameters_parse_to_xgboost_params() -> None:
    config = parse_hyperparameters(
        {"num_round": "7", "max_depth": "3", "eval_metric": "auc,logloss", "objective": "binary:logistic",
         "early_stopping_rounds": "4", "_tuning_objective_metric": "validation:auc"},
        num_cpus=2,
    )  # fmt: skip
    assert config.num_round == 7 and config.early_stopping_rounds == 4
    assert config.params["max_depth"] == 3 and config.params["nthread"] == 2
    assert config.params["eval_metric"] == ["auc", "logloss"]
    assert "num_round" not in config.params and "early_stopping_rounds" not in config.params


def test_legacy_names_are_translated_or_dropped() -> None:
    config = parse_hyperparameters({"num_round": "1", "objective": "reg:linear", "sketch_eps": "0.03"})
    assert config.params["objective"] == "reg:squarederror"
    assert "sketch_eps" not in config.params
    assert any("sketch_eps" in note for note in config.notes)


def test_num_class_ignored_for_non_multiclass_objective() -> None:
    config = parse_hyperparameters({"num_round": "1", "objective": "binary:logistic", "num_class": "2"})
    assert "num_class" not in config.params
    assert any("num_class" in note for note in config.notes)


def test_unknown_eval_metric_rejected() -> None:
    with pytest.raises(CustomerError, match="'eval_metric' has unsupported metric 'rsme'"):
        parse_hyperparameters({"num_round": "1", "eval_metric": "rmse,rsme"})
    assert parse_hyperparameters({"num_round": "1", "eval_metric": "error@0.7,ndcg@5-"}).eval_metrics == [
        "error@0.7",
        "ndcg@5-",
    ]
