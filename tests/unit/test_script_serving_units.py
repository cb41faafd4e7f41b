"""The script-mode serving toolkit: user hooks over framework defaults, the code directory, array formats."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from containers.common import array_codec
from containers.common.errors import CustomerError
from containers.common.serving import BadInput, UnsupportedAccept, UnsupportedContentType
from containers.common.user_module import (FrameworkDefaults, call_hook, code_dir, handler_for, import_user_module,
                                           serve_framework)
from containers.sklearn.serve import DEFAULTS as SKLEARN_DEFAULTS


def _defaults(calls: list[str]) -> FrameworkDefaults:
    def model_fn(model_dir: str) -> str:
        calls.append("model_fn")
        return "default-model"

    def input_fn(data: object, content_type: str) -> object:
        calls.append(f"input_fn:{type(data).__name__}:{content_type}")
        return data

    def predict_fn(data: object, model: object) -> object:
        calls.append("predict_fn")
        return [1, 2]

    def output_fn(prediction: object, accept: str) -> bytes:
        calls.append(f"output_fn:{accept}")
        return json.dumps(prediction).encode()

    return FrameworkDefaults(model_fn, input_fn, predict_fn, output_fn)


def test_code_dir_follows_the_submit_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    monkeypatch.setenv("SAGEMAKER_SUBMIT_DIRECTORY", "s3://bucket/prefix/sourcedir.tar.gz")
    assert code_dir() == tmp_path / "code"  # the platform unpacked it there
    monkeypatch.setenv("SAGEMAKER_SUBMIT_DIRECTORY", "/opt/ml/model/code")
    assert code_dir() == tmp_path / "model" / "code"  # the repacked model, wherever the base is
    monkeypatch.delenv("SAGEMAKER_SUBMIT_DIRECTORY")
    assert code_dir() == tmp_path / "code"


def test_user_hooks_override_only_what_they_define() -> None:
    calls: list[str] = []
    user = SimpleNamespace(predict_fn=lambda data, model: ["user", model])
    handler = handler_for(user, _defaults(calls))  # type: ignore[arg-type]
    model = handler.model_fn("/m")
    body, ctype = handler.transform(model, b'{"a": 1}', "application/json", handler.choose_accept(None, ""))
    assert json.loads(body) == ["user", "default-model"]
    assert ctype == "application/json"
    # JSON and CSV bodies reach input_fn as text, other types as bytes.
    assert calls == ["model_fn", "input_fn:str:application/json", "output_fn:application/json"]
    handler.transform(model, b"\x93NUMPY", "application/x-npy", "application/x-npy")
    assert "input_fn:bytes:application/x-npy" in calls


def test_transform_fn_replaces_the_request_hooks_and_may_name_its_type() -> None:
    user = SimpleNamespace(transform_fn=lambda model, data, ctype, accept: (f"{model}|{data}|{accept}", "text/plain"))
    handler = handler_for(user, _defaults([]))  # type: ignore[arg-type]
    assert handler.transform("m", b"x,y", "text/csv", "text/csv") == (b"m|x,y|text/csv", "text/plain")
    both = SimpleNamespace(transform_fn=user.transform_fn, input_fn=lambda d, c: d)
    with pytest.raises(CustomerError, match="Cannot use transform_fn implementation with input_fn"):
        handler_for(both, _defaults([]))  # type: ignore[arg-type]


def test_accept_defaults_and_dict_results(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "text/csv")
    user = SimpleNamespace(output_fn=lambda prediction, accept: {"accept": accept})
    handler = handler_for(user, _defaults([]))  # type: ignore[arg-type]
    assert handler.choose_accept("*/*", "application/json") == "text/csv"
    assert handler.choose_accept("application/json, text/csv", "") == "application/json, text/csv"
    body, _ = handler.transform("m", b"[1]", "application/json", "text/csv")
    assert json.loads(body) == {"accept": "text/csv"}


def test_a_hook_taking_one_more_parameter_gets_a_context() -> None:
    assert call_hook(lambda model_dir, context: (model_dir, context), "/m") == ("/m", None)
    assert call_hook(lambda model_dir: model_dir, "/m") == "/m"


def test_sklearn_defaults_decode_predict_and_encode(tmp_path: Path) -> None:
    import joblib
    from sklearn.linear_model import LinearRegression

    X = np.arange(12, dtype=float).reshape(6, 2)
    joblib.dump(LinearRegression().fit(X, X @ np.array([2.0, -1.0])), tmp_path / "model.joblib")
    handler = handler_for(None, SKLEARN_DEFAULTS)
    model = handler.model_fn(str(tmp_path))
    body, ctype = handler.transform(model, b"1,2\n3,4\n", "text/csv", "text/csv")
    assert ctype == "text/csv" and [float(v) for v in body.decode().split()] == pytest.approx([0.0, 2.0])
    body, ctype = handler.transform(model, b"[[1, 2]]", "application/json", "application/x-npy")
    assert ctype == "application/x-npy" and np.load(io.BytesIO(body)).tolist() == pytest.approx([0.0])
    with pytest.raises(BadInput, match="not a number"):
        handler.transform(model, b"1,abc\n", "text/csv", "text/csv")
    with pytest.raises(NotImplementedError, match="Please provide a model_fn implementation"):
        handler.model_fn(str(tmp_path / "empty"))


def test_array_codec_shapes_and_refusals() -> None:
    assert array_codec.decode("1,2,3", "text/csv").shape == (1, 3)  # one row stays 2-D
    with pytest.raises(BadInput, match="different numbers of columns"):
        array_codec.decode("1,2\n3", "text/csv")
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(BadInput, match="object arrays are refused"):
        array_codec.decode(buf.getvalue(), "application/x-npy")
    with pytest.raises(UnsupportedContentType):
        array_codec.decode(b"x", "image/png")
    assert array_codec.encode(np.array([1.5, 2.0]), "text/csv") == (b"1.5\n2.0\n", "text/csv")
    assert array_codec.encode([1, 2], "image/png, application/json;q=0.9") == (b"[1, 2]", "application/json")
    with pytest.raises(UnsupportedAccept):
        array_codec.encode([1], "image/png")


def test_program_must_be_inside_the_code_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "other.py").write_text("")
    monkeypatch.setenv("SAGEMAKER_PROGRAM", "../escape.py")
    with pytest.raises(CustomerError, match="outside the code directory"):
        import_user_module()
    monkeypatch.setenv("SAGEMAKER_PROGRAM", "inference.py")
    assert serve_framework(SKLEARN_DEFAULTS) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("Serving failed: SAGEMAKER_PROGRAM 'inference.py' was not found") and "other.py" in last
