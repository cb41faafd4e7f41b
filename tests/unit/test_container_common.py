"""Tests of the container-side library shared by every algorithm."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from containers.common import params
from containers.common.data import read_csv, read_libsvm
from containers.common.environment import Environment
from containers.common.errors import AlgorithmError, CustomerError, PlatformError
from containers.common.hyperparameters import Hyperparameter, Interval, parse
from containers.common.trainer import EXIT_FAILURE, EXIT_SUCCESS, execute, run


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty /opt/ml-shaped tree that the library is pointed at."""
    root = tmp_path / "ml"
    (root / "input" / "config").mkdir(parents=True)
    monkeypatch.setenv(params.BASE_DIR_ENV, str(root))
    return root


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


# --- params -----------------------------------------------------------------


def test_paths_follow_base_dir_env(base: Path) -> None:
    assert params.hyperparameters_path() == base / "input/config/hyperparameters.json"
    assert params.input_data_config_path() == base / "input/config/inputdataconfig.json"
    assert params.resource_config_path() == base / "input/config/resourceconfig.json"
    assert params.channel_dir("train") == base / "input/data/train"
    assert params.model_dir() == base / "model"
    assert params.failure_path() == base / "output/failure"
    assert params.output_data_dir() == base / "output/data"
    assert params.checkpoint_dir() == base / "checkpoints"


def test_base_dir_defaults_to_opt_ml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(params.BASE_DIR_ENV, raising=False)
    assert params.base_dir() == Path("/opt/ml")
    assert params.failure_path() == Path("/opt/ml/output/failure")


# --- environment ------------------------------------------------------------


def test_environment_reads_all_config_files(base: Path) -> None:
    config = base / "input" / "config"
    write(config / "hyperparameters.json", json.dumps({"num_round": "10", "eta": "0.1"}))
    write(
        config / "inputdataconfig.json",
        json.dumps(
            {
                "train": {"ContentType": "text/csv", "TrainingInputMode": "File", "CompressionType": "Gzip"},
                "validation": {"TrainingInputMode": "File"},
            }
        ),
    )
    write(config / "resourceconfig.json", json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}))

    env = Environment.read()

    assert env.hyperparameters == {"num_round": "10", "eta": "0.1"}
    assert env.channels["train"].content_type == "text/csv"
    assert env.channels["train"].is_gzip
    assert env.channels["validation"].content_type is None
    assert not env.channels["validation"].is_gzip
    assert env.current_host == "algo-2" and env.hosts == ["algo-1", "algo-2"]
    assert not env.is_master
    assert env.num_cpus >= 1
    assert env.channel_dir("train") == base / "input/data/train"
    assert env.model_dir == base / "model"
    assert env.output_data_dir == base / "output/data"
    assert env.checkpoint_dir == base / "checkpoints"
    assert env.failure_path == base / "output/failure"


def test_environment_defaults_when_files_absent(base: Path) -> None:
    env = Environment.read()
    assert env.hyperparameters == {} and env.channels == {}
    assert env.current_host == "algo-1" and env.hosts == ["algo-1"] and env.is_master


def test_environment_stringifies_non_string_hyperparameters(base: Path) -> None:
    write(base / "input/config/hyperparameters.json", json.dumps({"num_round": 5, "flag": True}))
    assert Environment.read().hyperparameters == {"num_round": "5", "flag": "true"}


def test_environment_broken_config_is_platform_error(base: Path) -> None:
    write(base / "input/config/inputdataconfig.json", "{not json")
    with pytest.raises(PlatformError, match="inputdataconfig.json"):
        Environment.read()


def test_require_channel_names_missing_channel(base: Path) -> None:
    write(base / "input/config/inputdataconfig.json", json.dumps({"validation": {}}))
    with pytest.raises(CustomerError, match="Channel 'train' is required.*validation"):
        Environment.read().require_channel("train")


# --- errors and trainer -----------------------------------------------------


def test_error_hierarchy() -> None:
    assert issubclass(CustomerError, AlgorithmError) and issubclass(PlatformError, AlgorithmError)
    assert str(CustomerError("bad row")) == "bad row"


def test_execute_success_writes_no_failure(base: Path) -> None:
    seen: list[Environment] = []
    assert execute(seen.append) == EXIT_SUCCESS
    assert len(seen) == 1 and seen[0].base_dir == base
    assert not (base / "output/failure").exists()


def test_customer_error_goes_to_failure_file_verbatim(base: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def train(env: Environment) -> None:
        raise CustomerError("Bad input in train/a.csv at line 3: column 2 has non-numeric value 'x'.")

    assert execute(train) == EXIT_FAILURE
    text = (base / "output/failure").read_text()
    assert text == "Bad input in train/a.csv at line 3: column 2 has non-numeric value 'x'.\n"
    assert "Traceback" in capsys.readouterr().err


def test_unexpected_error_is_reported_with_type_and_traceback(base: Path) -> None:
    def exploding_train_function(env: Environment) -> None:
        raise ValueError("boom")

    assert execute(exploding_train_function) == EXIT_FAILURE
    text = (base / "output/failure").read_text()
    assert text.startswith("Algorithm error: ValueError: boom\n")
    assert "exploding_train_function" in text  # the traceback tail locates the fault


def test_stale_failure_file_is_removed_on_success(base: Path) -> None:
    write(base / "output/failure", "old failure")
    assert execute(lambda env: None) == EXIT_SUCCESS
    assert not (base / "output/failure").exists()


def test_nonzero_sys_exit_in_training_is_a_failure(base: Path) -> None:
    def train(env: Environment) -> None:
        sys.exit(3)

    assert execute(train) == 3
    assert "status 3" in (base / "output/failure").read_text()


@pytest.mark.parametrize("body, code", [
    ("print('trained', flush=False)", 0),
    ("raise CustomerError('nope')", EXIT_FAILURE),
])
def test_run_exits_with_status_after_flushing(base: Path, body: str, code: int) -> None:
    # run() ends the process itself (skipping interpreter teardown): test it in one.
    script = ("from containers.common.trainer import run\n"
              "from containers.common.errors import CustomerError\n"
              f"def train(env):\n    {body}\n"
              "run(train)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SAGEMAKER_BASE_DIR": str(base)})
    assert proc.returncode == code, proc.stderr
    if code == 0:
        assert "trained" in proc.stdout  # buffered output is not lost by the fast exit
    else:
        assert (base / "output/failure").read_text().startswith("nope")


# --- CSV --------------------------------------------------------------------


def test_read_csv_values_order_and_hidden_files(tmp_path: Path) -> None:
    ch = tmp_path / "train"
    write(ch / "b.csv", "3,30,300\n")
    write(ch / "a.csv", "1,10,100\n\n2,20,200\n")  # blank lines are skipped
    write(ch / "sub" / "c.csv", "4,40,400\n")
    write(ch / ".hidden.csv", "not,even,numbers\n")
    write(ch / ".ipynb_checkpoints" / "x.csv", "junk\n")

    ds = read_csv("train", ch)

    assert ds.X.dtype == np.float32 and ds.y.dtype == np.float32
    np.testing.assert_array_equal(ds.y, [1, 2, 3, 4])
    np.testing.assert_array_equal(ds.X, [[10, 100], [20, 200], [30, 300], [40, 400]])
    assert ds.files == ("train/a.csv", "train/b.csv", "train/sub/c.csv")
    assert ds.locate(1) == "train/a.csv at line 3"
    assert ds.locate(3) == "train/sub/c.csv at line 1"


def test_read_csv_gzip(tmp_path: Path) -> None:
    write(tmp_path / "train" / "part.csv.gz", gzip.compress(b"1,2\n0,5\n"))
    ds = read_csv("train", tmp_path / "train", gzip=True)
    np.testing.assert_array_equal(ds.y, [1, 0])
    np.testing.assert_array_equal(ds.X, [[2], [5]])


def test_read_csv_gzip_mismatch_is_explained(tmp_path: Path) -> None:
    write(tmp_path / "train" / "part.csv.gz", gzip.compress(b"1,2\n"))
    with pytest.raises(CustomerError, match=r"train/part.csv.gz.*CompressionType to Gzip"):
        read_csv("train", tmp_path / "train")
    write(tmp_path / "plain" / "part.csv", "1,2\n")
    with pytest.raises(CustomerError, match=r"plain/part.csv.*not gzip-compressed"):
        read_csv("plain", tmp_path / "plain", gzip=True)


def test_read_csv_non_numeric_cell_names_file_line_and_column(tmp_path: Path) -> None:
    write(tmp_path / "train" / "part-1.csv", "1,2,3\n0,4,abc\n")
    with pytest.raises(CustomerError) as info:
        read_csv("train", tmp_path / "train")
    assert str(info.value) == "Bad input in train/part-1.csv at line 2: column 3 has non-numeric value 'abc'."


def test_read_csv_header_row_gets_a_hint(tmp_path: Path) -> None:
    write(tmp_path / "train" / "data.csv", "label,f1\n1,2\n")
    with pytest.raises(CustomerError, match=r"line 1: the label \(column 1\) has non-numeric.*header row"):
        read_csv("train", tmp_path / "train")


def test_read_csv_missing_label(tmp_path: Path) -> None:
    write(tmp_path / "train" / "d.csv", "1,2\n,3\n")
    with pytest.raises(CustomerError, match=r"train/d.csv at line 2: the label \(column 1\) is missing"):
        read_csv("train", tmp_path / "train")


@pytest.mark.parametrize("label", ["nan", "inf", "-inf", "1e40"])
def test_read_csv_non_finite_label(tmp_path: Path, label: str) -> None:
    write(tmp_path / "train" / "d.csv", f"1,2\n{label},3\n")
    with pytest.raises(CustomerError, match=r"train/d.csv at line 2: the label .* is not a finite number"):
        read_csv("train", tmp_path / "train")


def test_read_csv_empty_file_among_others(tmp_path: Path) -> None:
    write(tmp_path / "train" / "a.csv", "1,2\n")
    write(tmp_path / "train" / "b.csv", "\n\n")
    with pytest.raises(CustomerError, match=r"train/b.csv at line 1: the file is empty"):
        read_csv("train", tmp_path / "train")


def test_read_csv_channel_without_files(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    write(tmp_path / "train" / ".keep", "")
    with pytest.raises(CustomerError, match="Channel 'train' has no data files"):
        read_csv("train", tmp_path / "train")
    with pytest.raises(CustomerError, match="Channel 'other' has no data"):
        read_csv("other", tmp_path / "other")


def test_read_csv_ragged_rows_across_files(tmp_path: Path) -> None:
    write(tmp_path / "train" / "a.csv", "1,2,3\n")
    write(tmp_path / "train" / "b.csv", "1,2,3\n1,2\n")
    with pytest.raises(CustomerError) as info:
        read_csv("train", tmp_path / "train")
    message = str(info.value)
    assert "train/b.csv at line 2" in message and "2 columns" in message and "has 3" in message


def test_read_csv_missing_features_only_when_allowed(tmp_path: Path) -> None:
    write(tmp_path / "train" / "a.csv", "1,,3\n0,nan,4\n")
    with pytest.raises(CustomerError, match=r"a.csv at line 1: column 2 is empty"):
        read_csv("train", tmp_path / "train")
    ds = read_csv("train", tmp_path / "train", missing_ok=True)
    assert np.isnan(ds.X[:, 0]).all()
    np.testing.assert_array_equal(ds.X[:, 1], [3, 4])


def test_read_csv_infinite_feature_rejected(tmp_path: Path) -> None:
    write(tmp_path / "train" / "a.csv", "1,2\n1,inf\n")
    with pytest.raises(CustomerError, match=r"a.csv at line 2: column 2 has infinite value"):
        read_csv("train", tmp_path / "train", missing_ok=True)


def test_read_csv_binary_file_rejected(tmp_path: Path) -> None:
    write(tmp_path / "train" / "a.csv", b"1,2\n\xff\xfe,3\n")
    with pytest.raises(CustomerError, match=r"a.csv at line 2: the line is not UTF-8"):
        read_csv("train", tmp_path / "train")


# --- libsvm -----------------------------------------------------------------


def test_read_libsvm_to_csr(tmp_path: Path) -> None:
    write(tmp_path / "train" / "a.libsvm", "1 0:1.5 3:2\n# a comment line\n\n0 1:-1 # trailing comment\n")
    ds = read_libsvm("train", tmp_path / "train")
    assert isinstance(ds.X, sp.csr_matrix) and ds.X.dtype == np.float32
    np.testing.assert_array_equal(ds.y, [1, 0])
    np.testing.assert_array_equal(ds.X.toarray(), [[1.5, 0, 0, 2], [0, -1, 0, 0]])
    assert ds.locate(1) == "train/a.libsvm at line 4"


def test_read_libsvm_pads_to_requested_width(tmp_path: Path) -> None:
    write(tmp_path / "v" / "a", "1 0:1\n")
    assert read_libsvm("v", tmp_path / "v", num_cols=7).num_cols == 7


def test_read_libsvm_missing_label(tmp_path: Path) -> None:
    write(tmp_path / "train" / "a.txt", "1 0:1\n2:3 4:5\n")
    with pytest.raises(CustomerError, match=r"train/a.txt at line 2: the label is missing"):
        read_libsvm("train", tmp_path / "train")


@pytest.mark.parametrize("token", ["abc", "x:1", "1:y", "-1:2", "3"])
def test_read_libsvm_bad_pair(tmp_path: Path, token: str) -> None:
    write(tmp_path / "train" / "a.txt", f"1 0:1 {token}\n")
    with pytest.raises(CustomerError, match=r"train/a.txt at line 1: token 3 .* is not a valid index:value pair"):
        read_libsvm("train", tmp_path / "train")


def test_read_libsvm_gzip_and_empty(tmp_path: Path) -> None:
    write(tmp_path / "train" / "a.gz", gzip.compress(b"1 0:1\n0 1:1\n"))
    assert read_libsvm("train", tmp_path / "train", gzip=True).num_rows == 2
    write(tmp_path / "empty" / "a", "")
    with pytest.raises(CustomerError, match=r"empty/a at line 1: the file is empty"):
        read_libsvm("empty", tmp_path / "empty")


# --- hyperparameters --------------------------------------------------------

SPECS = (
    Hyperparameter("rounds", "int", interval=Interval(1), required=True),
    Hyperparameter("rate", "float", 0.3, Interval(0, 1, low_open=True)),
    Hyperparameter("mode", "str", "a", choices=("a", "b")),
    Hyperparameter("metrics", "list", choices=("x", "y")),
)


def test_parse_types_defaults_and_ignored_keys() -> None:
    values = parse(
        SPECS,
        {"rounds": "10.0", "metrics": "x, y", "mode": '"b"', "sagemaker_job": "j", "_tuning_objective_metric": "m"},
    )
    assert values == {"rounds": 10, "rate": 0.3, "mode": "b", "metrics": ["x", "y"]}
    assert isinstance(values["rounds"], int)


@pytest.mark.parametrize(
    ("raw", "pattern"),
    [
        ({"rounds": "1.5"}, r"'rounds' has invalid value '1.5': expected an integer"),
        ({"rounds": "0"}, r"'rounds' has invalid value '0': must be in \[1, \+inf\)"),
        ({"rounds": "1", "rate": "0"}, r"'rate' has invalid value '0': must be in \(0, 1\]"),
        ({"rounds": "1", "rate": "fast"}, r"'rate' has invalid value 'fast': expected a number"),
        ({"rounds": "1", "mode": "c"}, r"'mode' has invalid value 'c': must be one of a, b"),
        ({"rounds": "1", "metrics": "x,z"}, r"'metrics' has invalid value 'x,z'"),
        ({"rounds": "1", "speed": "9", "colour": "red"}, r"Unknown hyperparameter\(s\): colour, speed"),
        ({}, r"'rounds' is required"),
    ],
)
def test_parse_rejects_with_name(raw: dict[str, str], pattern: str) -> None:
    with pytest.raises(CustomerError, match=pattern):
        parse(SPECS, raw)
