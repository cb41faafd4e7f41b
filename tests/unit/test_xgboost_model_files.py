"""The built-in XGBoost's ``model_fn`` on model files other XGBoost releases wrote (``tests/integration/xgboost_models``)."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from containers.xgboost.serve import model_fn

MODELS = Path(__file__).parents[1] / "integration" / "xgboost_models"
READABLE = ["json-1.2.1.json", "json-1.3.3.json", "json-1.7.6.json", "ubj-1.7.6.ubj", "pickle-1.3.3", "pickle-1.7.6"]
UNREADABLE = {
    "pickle-0.90": "a Booster pickled by an XGBoost release before 1.0",
    "pickle-1.2.1": "a Booster pickled by XGBoost 1.2",
    "binary-0.90": "legacy binary format, written by an XGBoost release before 1.0",
    "binary-1.2.1": "legacy binary format, written by XGBoost 1.2",
    "binary-1.3.3": "legacy binary format, written by XGBoost 1.3",
    "binary-1.7.6": "legacy binary format, written by XGBoost 1.7",
}


def _model_dir(tmp_path: Path, data: bytes) -> str:
    (tmp_path / "xgboost-model").write_bytes(data)
    return str(tmp_path)


def test_every_fixture_is_covered() -> None:
    files = {p.name for p in MODELS.iterdir() if "-" in p.name and p.suffix != ".py"}
    assert files == {*READABLE, *UNREADABLE}


@pytest.mark.parametrize("name", READABLE)
def test_readable_formats_predict_what_their_release_did(tmp_path: Path, name: str) -> None:
    version = name.split("-", 1)[1].removesuffix(".json").removesuffix(".ubj")
    want = json.loads((MODELS / f"{version}.json").read_text())
    booster = model_fn(_model_dir(tmp_path, (MODELS / name).read_bytes()))
    got = booster.predict(xgb.DMatrix(np.array(want["rows"], dtype=np.float32)))
    np.testing.assert_allclose(got, want["predictions"], atol=1e-6)


@pytest.mark.parametrize("name", UNREADABLE)
def test_unreadable_formats_name_the_format_and_the_release(tmp_path: Path, name: str) -> None:
    with pytest.raises(Exception) as err:
        model_fn(_model_dir(tmp_path, (MODELS / name).read_bytes()))
    message = str(err.value)
    assert UNREADABLE[name] in message and f"XGBoost {xgb.__version__} cannot read" in message, message
    assert "\n" not in message  # one line: the endpoint's FailureReason quotes the last lines of the log


def test_a_pickle_of_something_else_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"xgboost-model holds a pickled builtins.dict, not an XGBoost Booster"):
        model_fn(_model_dir(tmp_path, pickle.dumps({"not": "a booster"})))


def test_a_file_that_is_no_model_says_what_is_read(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"xgboost-model is not a model XGBoost .* can read \(JSON, UBJSON or a pickled"):
        model_fn(_model_dir(tmp_path, b"hello, not a model\n" * 20))


def test_the_current_release_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    booster = xgb.train({"objective": "reg:squarederror"}, xgb.DMatrix(X, label=X[:, 0]), 2)
    for data in (bytes(booster.save_raw("json")), bytes(booster.save_raw("ubj")), pickle.dumps(booster)):
        shutil.rmtree(tmp_path)
        tmp_path.mkdir()
        got = model_fn(_model_dir(tmp_path, data)).predict(xgb.DMatrix(X))
        np.testing.assert_allclose(got, booster.predict(xgb.DMatrix(X)), rtol=1e-6)
