"""The built-in XGBoost on RecordIO-protobuf, Parquet and gzip channels, and their bad inputs."""

from __future__ import annotations

import gzip
import io
import json
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
import xgboost as xgb
from sagemaker.amazon.common import write_numpy_to_dense_tensor, write_spmatrix_to_sparse_tensor

from containers.common import params
from containers.common.trainer import EXIT_SUCCESS, execute
from containers.xgboost.train import train

RECORDIO = "application/x-recordio-protobuf"
PARQUET = "application/x-parquet"


class Job:
    """A /opt/ml tree: hyperparameters and channels of one training job."""

    def __init__(self, root: Path, hps: dict[str, str]) -> None:
        self.root = root
        self.channels: dict[str, dict[str, str]] = {}
        (root / "input/config").mkdir(parents=True)
        (root / "input/config/hyperparameters.json").write_text(json.dumps(hps))

    def channel(self, name: str, files: dict[str, bytes], content_type: str, **cfg: str) -> Job:
        for rel, body in files.items():
            path = self.root / "input/data" / name / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
        self.channels[name] = {"ContentType": content_type, "TrainingInputMode": "File", **cfg}
        (self.root / "input/config/inputdataconfig.json").write_text(json.dumps(self.channels))
        return self

    def run(self) -> int:
        return execute(train)

    @property
    def failure(self) -> str:
        return (self.root / "output/failure").read_text()

    def booster(self) -> xgb.Booster:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return xgb.Booster(model_file=str(self.root / "model/xgboost-model"))


@pytest.fixture
def ml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(params.BASE_DIR_ENV, str(tmp_path / "ml"))
    return tmp_path / "ml"


def _data(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.float32)


def _recordio(X: np.ndarray | sp.spmatrix, y: np.ndarray | None) -> bytes:
    buf = io.BytesIO()
    (write_spmatrix_to_sparse_tensor if sp.issparse(X) else write_numpy_to_dense_tensor)(buf, X, y)
    return buf.getvalue()


def _parquet(columns: dict[str, list]) -> bytes:  # noqa: ANN001
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf)
    return buf.getvalue()


def _accuracy(job: Job, X: np.ndarray | sp.spmatrix, y: np.ndarray) -> float:
    return float(np.mean((job.booster().predict(xgb.DMatrix(X)) > 0.5) == y))


BINARY = {"num_round": "20", "objective": "binary:logistic", "max_depth": "3"}


@pytest.mark.parametrize("sparse", [False, True])
def test_recordio_protobuf_written_by_the_sdk_trains(ml: Path, sparse: bool) -> None:
    X, y = _data()
    data = sp.csr_matrix(X) if sparse else X
    job = Job(ml, BINARY).channel("train", {"part-0": _recordio(data[:200], y[:200]),
                                            "part-1": _recordio(data[200:], y[200:])}, RECORDIO)
    job.channel("validation", {"v": _recordio(data[:50], y[:50])}, RECORDIO)
    assert job.run() == EXIT_SUCCESS
    assert _accuracy(job, X, y) > 0.9


def test_gzip_recordio_channel(ml: Path) -> None:
    X, y = _data()
    job = Job(ml, BINARY).channel("train", {"a.gz": gzip.compress(_recordio(X, y))}, RECORDIO,
                                  CompressionType="Gzip")
    assert job.run() == EXIT_SUCCESS
    assert _accuracy(job, X, y) > 0.9


def test_parquet_channel_with_nulls_as_missing(ml: Path) -> None:
    X, y = _data()
    columns = {"label": y.tolist(), **{f"f{i}": X[:, i].tolist() for i in range(5)}}
    columns["f4"][3] = None  # a null feature is a missing value
    job = Job(ml, {**BINARY, "objective": "multi:softmax", "num_class": "2"})
    job.channel("train", {"a.parquet": _parquet(columns)}, PARQUET)
    assert job.run() == EXIT_SUCCESS
    predicted = job.booster().predict(xgb.DMatrix(X))
    assert np.mean(predicted == y) > 0.9


@pytest.mark.parametrize("files, cfg, expected", [
    ({"a.pbr": _recordio(*_data(10))[:-7]}, {}, ["train/a.pbr", "record 10", "truncated"]),
    ({"a.pbr.gz": gzip.compress(_recordio(*_data(50)))[:-30]}, {"CompressionType": "Gzip"},
     ["train/a.pbr.gz", "record", "corrupt gzip"]),
    ({"a.pbr": _recordio(_data(10)[0], None)}, {}, ["train/a.pbr at record 1", "no label"]),
    ({"a.pbr": _recordio(np.array([[1, 2], [np.inf, 3]], dtype=np.float32), np.zeros(2, np.float32))}, {},
     ["train/a.pbr at record 2", "infinite"]),
    ({"a.pbr": _recordio(*_data(4)) + _recordio(np.ones((1, 3), np.float32), np.ones(1, np.float32))}, {},
     ["train/a.pbr at record 5", "3 features"]),
    ({"a.csv": b"1,2,3\n"}, {}, ["train/a.csv at record 1", "not RecordIO"]),
])
def test_bad_recordio_fails_naming_channel_file_and_record(ml: Path, files: dict[str, bytes], cfg: dict[str, str],
                                                           expected: list[str]) -> None:
    job = Job(ml, BINARY).channel("train", files, RECORDIO, **cfg)
    assert job.run() != EXIT_SUCCESS
    for part in expected:
        assert part in job.failure, job.failure


@pytest.mark.parametrize("columns, expected", [
    ({"label": [1.0, None], "f": [1.0, 2.0]}, ["train/a.parquet at row 2", "label"]),
    ({"label": [1.0, 0.0], "f": [1.0, float("inf")]}, ["train/a.parquet at row 2", "column 2 is infinite"]),
    ({"label": [1.0, 0.0], "f": ["x", "y"]}, ["train/a.parquet", "column 2", "numeric"]),
])
def test_bad_parquet_fails_naming_file_and_row(ml: Path, columns: dict, expected: list[str]) -> None:  # noqa: ANN001
    job = Job(ml, BINARY).channel("train", {"a.parquet": _parquet(columns)}, PARQUET)
    assert job.run() != EXIT_SUCCESS
    for part in expected:
        assert part in job.failure, job.failure


def test_a_text_file_in_a_parquet_channel_is_named(ml: Path) -> None:
    job = Job(ml, BINARY).channel("train", {"a.parquet": b"1,2,3\n"}, PARQUET)
    assert job.run() != EXIT_SUCCESS
    assert "train/a.parquet" in job.failure and "Parquet" in job.failure
