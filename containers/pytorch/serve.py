"""Serving for the PyTorch framework container: the inference toolkit's defaults under the user's hooks.

As SageMaker's PyTorch inference toolkit: the default ``model_fn`` loads a
TorchScript model, ``model.pt`` or else the model directory's only
``.pt`` / ``.pth`` file (an eager model needs the script's own
``model_fn``); a request is decoded into a float tensor (JSON, CSV) or the
``.npy`` array's own dtype; the model runs in eval mode without gradients;
a tensor prediction is encoded as a list in the ``Accept`` type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from containers.common import array_codec
from containers.common.user_module import FrameworkDefaults, serve_framework

DEFAULT_MODEL_FILENAME = "model.pt"


class ModelLoadError(Exception):
    """The model file is not TorchScript."""


def default_model_fn(model_dir: str) -> Any:
    """``torch.jit.load`` of ``model.pt``, or of the one ``.pt`` / ``.pth`` file."""
    import torch

    path = Path(model_dir) / DEFAULT_MODEL_FILENAME
    if not path.is_file():
        files = sorted(p.name for p in Path(model_dir).iterdir() if p.is_file() and p.suffix in (".pt", ".pth"))
        if len(files) != 1:
            raise ValueError(f"Exactly one .pth or .pt file is required for PyTorch models: {files}")
        path = Path(model_dir) / files[0]
    try:
        return torch.jit.load(str(path), map_location=torch.device("cpu"))
    except RuntimeError as err:
        raise ModelLoadError(f"Failed to load {path}. Please ensure model is saved using torchscript.") from err


def default_input_fn(input_data: Any, content_type: str) -> Any:
    """The body as a tensor: float32 for JSON and CSV, the array's dtype for NPY."""
    import torch

    array = array_codec.decode(input_data, content_type)
    if content_type in array_codec.UTF8_TYPES:
        return torch.from_numpy(array_codec.as_float32(array))
    return torch.from_numpy(array)


def default_predict_fn(data: Any, model: Any) -> Any:
    """``model(data)`` in eval mode, without gradients."""
    import torch

    with torch.no_grad():
        model.eval()
        return model(data)


def default_output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    """A tensor as a list, in the first supported type of ``accept``."""
    import torch

    if isinstance(prediction, torch.Tensor):
        prediction = prediction.detach().cpu().numpy().tolist()
    return array_codec.encode(prediction, accept)


DEFAULTS = FrameworkDefaults(default_model_fn, default_input_fn, default_predict_fn, default_output_fn)


def main() -> int:
    """``serve``: the user's module over the defaults."""
    return serve_framework(DEFAULTS)
