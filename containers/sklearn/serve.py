"""Serving for the scikit-learn framework container: the toolkit's defaults under the user's hooks.

As SageMaker's scikit-learn container: the request is decoded into a numpy
array (JSON, CSV or NPY; text formats as float32), ``model.predict`` runs on
it, and the prediction is encoded in the ``Accept`` type. SageMaker's
container has no default ``model_fn`` (a script must define one); here a
script without one gets ``model.joblib`` loaded from the model directory,
the file SageMaker's own examples save, and a clear error when it is not there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from containers.common import array_codec
from containers.common.user_module import FrameworkDefaults, serve_framework

MODEL_FILE = "model.joblib"


def default_model_fn(model_dir: str) -> Any:
    """``joblib.load(<model_dir>/model.joblib)``."""
    import joblib

    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        found = sorted(p.name for p in Path(model_dir).iterdir()) if Path(model_dir).is_dir() else []
        raise NotImplementedError(f"Please provide a model_fn implementation: the script defines none and the "
                                  f"model directory has no {MODEL_FILE} (it holds: {', '.join(found) or 'nothing'}).")
    return joblib.load(path)


def default_input_fn(input_data: Any, content_type: str) -> Any:
    """The body as a numpy array; JSON and CSV as float32."""
    array = array_codec.decode(input_data, content_type)
    return array_codec.as_float32(array) if content_type in array_codec.UTF8_TYPES else array


def default_predict_fn(input_data: Any, model: Any) -> Any:
    """``model.predict(input_data)``."""
    return model.predict(input_data)


def default_output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    """The prediction in the first supported type of ``accept``."""
    return array_codec.encode(prediction, accept)


DEFAULTS = FrameworkDefaults(default_model_fn, default_input_fn, default_predict_fn, default_output_fn)


def main() -> int:
    """``serve``: the user's module over the defaults."""
    return serve_framework(DEFAULTS)
