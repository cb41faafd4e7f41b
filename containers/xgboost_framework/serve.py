"""Serving for XGBoost in framework mode: the toolkit's defaults under the user's hooks.

As SageMaker's XGBoost container does when the model names a
``SAGEMAKER_PROGRAM``: there is no default ``model_fn`` (the script must
define one), a request is decoded into a ``DMatrix`` (CSV, JSON, JSON Lines,
LIBSVM: the built-in algorithm's decoders), ``model.predict(dmatrix,
validate_features=False)`` runs on it, and the prediction is encoded in the
``Accept`` type (JSON, CSV or NPY).
"""

from __future__ import annotations

from typing import Any

from containers.common import array_codec
from containers.common.user_module import FrameworkDefaults, serve_framework


def default_model_fn(model_dir: str) -> Any:
    """None: XGBoost's framework mode needs the script's own ``model_fn``."""
    raise NotImplementedError("Please provide a model_fn implementation. See documentation for model_fn at "
                              "https://github.com/aws/sagemaker-python-sdk")


def default_input_fn(input_data: Any, content_type: str) -> Any:
    """The body as an ``xgboost.DMatrix``."""
    import xgboost as xgb

    from containers.common.decoders import decode

    body = input_data.encode("utf-8") if isinstance(input_data, str) else bytes(input_data)
    return xgb.DMatrix(decode(body, content_type))


def default_predict_fn(input_data: Any, model: Any) -> Any:
    """``model.predict(input_data, validate_features=False)``."""
    return model.predict(input_data, validate_features=False)


def default_output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    """The prediction in the first supported type of ``accept``."""
    return array_codec.encode(prediction, accept)


DEFAULTS = FrameworkDefaults(default_model_fn, default_input_fn, default_predict_fn, default_output_fn)


def main() -> int:
    """``serve``: the user's module over the defaults."""
    return serve_framework(DEFAULTS)
