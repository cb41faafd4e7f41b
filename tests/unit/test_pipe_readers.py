"""Pipe mode in the containers: the built-ins' reader and XGBoost's read ``<channel>_0``.

A thread plays the platform: it writes the channel into the FIFO
``<base>/input/data/<channel>_0`` once the reader opens it.
"""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from containers.common import params
from containers.common.builtin_input import read_channel
from containers.common.environment import Environment
from containers.common.errors import CustomerError
from containers.common.recordio import write_dense
from services.inputs.pipe.records import wrap_record


def _pipe_job(root: Path, monkeypatch: pytest.MonkeyPatch, content_type: str, data: bytes,
              **extra: str) -> threading.Thread:
    monkeypatch.setenv(params.BASE_DIR_ENV, str(root))
    (root / "input/config").mkdir(parents=True)
    (root / "input/data").mkdir(parents=True)
    (root / "input/config/inputdataconfig.json").write_text(json.dumps({"train": {
        "TrainingInputMode": "Pipe", "ContentType": content_type, "RecordWrapperType": "None", **extra}}))
    fifo = root / "input/data/train_0"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as f:  # noqa: PTH123 - blocks until the reader opens it, as the platform's does
            f.write(data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return writer


def test_builtin_reader_takes_recordio_protobuf_from_the_fifo(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    X = np.arange(24, dtype=np.float32).reshape(6, 4)
    buf = io.BytesIO()
    write_dense(buf, X)
    writer = _pipe_job(tmp_path, monkeypatch, "application/x-recordio-protobuf", buf.getvalue())
    ds = read_channel(Environment.read(), "train", algorithm="K-Means", feature_dim=4, supervised=False)
    writer.join(10)
    np.testing.assert_array_equal(ds.X, X)
    assert ds.files == ("train_0",)


def test_builtin_reader_unwraps_recordio_wrapped_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # RecordWrapperType RecordIO: each object (here two, the second without a final newline) is one record.
    data = wrap_record(b"1,2,3\n4,5,6\n") + wrap_record(b"7,8,9")
    writer = _pipe_job(tmp_path, monkeypatch, "text/csv", data, RecordWrapperType="RecordIO")
    ds = read_channel(Environment.read(), "train", algorithm="K-Means", feature_dim=3, supervised=False)
    writer.join(10)
    np.testing.assert_array_equal(ds.X, np.arange(1, 10, dtype=np.float32).reshape(3, 3))


def test_gzip_channel_in_pipe_mode_reads_what_the_platform_decompressed(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    writer = _pipe_job(tmp_path, monkeypatch, "text/csv", b"1,0.5\n0,0.25\n", CompressionType="Gzip")
    ds = read_channel(Environment.read(), "train", algorithm="Linear Learner", feature_dim=1, supervised=True)
    writer.join(10)
    assert ds.y.tolist() == [1.0, 0.0]


def test_bad_row_in_a_pipe_names_the_fifo_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = _pipe_job(tmp_path, monkeypatch, "text/csv", b"1,2\n3,x\n")
    with pytest.raises(CustomerError, match=r"train_0 at line 2: column 2 has non-numeric value 'x'"):
        read_channel(Environment.read(), "train", algorithm="K-Means", feature_dim=2, supervised=False)
    writer.join(10)


def test_truncated_record_in_a_pipe_names_the_fifo_and_record(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.BytesIO()
    write_dense(buf, np.ones((3, 2), dtype=np.float32))
    writer = _pipe_job(tmp_path, monkeypatch, "application/x-recordio-protobuf", buf.getvalue()[:-6])
    with pytest.raises(CustomerError, match=r"train_0 at record 3: truncated"):
        read_channel(Environment.read(), "train", algorithm="K-Means", feature_dim=2, supervised=False)
    writer.join(10)


def test_xgboost_reads_csv_from_the_fifo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from containers.xgboost.channels import load_dataset

    writer = _pipe_job(tmp_path, monkeypatch, "text/csv", b"1,0.5,2\n0,0.25,3\n1,,4\n")
    ds, fmt = load_dataset(Environment.read(), "train")
    writer.join(10)
    assert fmt == "csv" and ds.y.tolist() == [1.0, 0.0, 1.0] and np.isnan(ds.X[2, 0])


def test_xgboost_refuses_parquet_in_pipe_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from containers.xgboost.channels import load_dataset

    monkeypatch.setenv(params.BASE_DIR_ENV, str(tmp_path))
    (tmp_path / "input/config").mkdir(parents=True)
    (tmp_path / "input/config/inputdataconfig.json").write_text(json.dumps({"train": {
        "TrainingInputMode": "Pipe", "ContentType": "application/x-parquet"}}))
    with pytest.raises(CustomerError, match="Parquet needs random access"):
        load_dataset(Environment.read(), "train")
