"""The framework containers' default request and response formats: numpy arrays.

SageMaker's scikit-learn, PyTorch and XGBoost (framework mode) containers
decode a request into a numpy array and encode a prediction back with the
same three content types:

* ``application/json``: ``np.array(json.loads(body))``, and a prediction as
  ``json.dumps`` of its ``tolist()``;
* ``text/csv``: one row per line; a 1-D prediction is one value per line;
* ``application/x-npy``: numpy's own ``.npy`` format.

Two deliberate differences from the toolkits: a CSV body is always 2-D (one
row per line; the toolkits squeeze a 1-row body to 1-D, which a model's
``predict`` then rejects), and ``.npy`` bodies are loaded without pickle (a
pickled object array in a request would run the caller's code).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np

from containers.common.serving import BadInput, UnsupportedAccept, UnsupportedContentType, media_type

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
ANY = "*/*"
# Bodies of these types reach the user's input_fn as text, as the toolkits pass them.
UTF8_TYPES = (JSON, CSV)
SUPPORTED = (JSON, CSV, NPY)


def _text(data: str | bytes) -> str:
    if isinstance(data, str):
        return data
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadInput(f"The request body is not UTF-8 text: {err.reason} at byte {err.start}.") from None


def decode(data: str | bytes, content_type: str) -> np.ndarray:
    """A request body of ``content_type`` as a numpy array."""
    content_type = media_type(content_type)
    if content_type == JSON:
        try:
            return np.array(json.loads(_text(data)))
        except json.JSONDecodeError as err:
            raise BadInput(f"The request body is not valid JSON: {err.msg} at line {err.lineno} "
                           f"column {err.colno}.") from None
        except ValueError as err:  # ragged nested lists
            raise BadInput(f"The JSON body is not an array of uniform shape: {err}") from None
    if content_type == CSV:
        rows = [row for row in csv.reader(io.StringIO(_text(data)), strict=True) if row]
        if not rows:
            raise BadInput("The request body is empty.")
        widths = {len(r) for r in rows}
        if len(widths) > 1:
            raise BadInput(f"CSV records have different numbers of columns: {sorted(widths)}.")
        return np.array(rows)
    if content_type == NPY:
        raw = data.encode("latin-1") if isinstance(data, str) else bytes(data)
        try:
            return np.load(io.BytesIO(raw), allow_pickle=False)
        except ValueError as err:
            raise BadInput(f"The body is not a readable .npy array (object arrays are refused): {err}") from None
    raise UnsupportedContentType(f"Content type {content_type or '(none)'!r} is not supported by the default "
                                 f"input_fn; send one of {', '.join(SUPPORTED)}, or define input_fn.")


def as_float32(array: np.ndarray) -> np.ndarray:
    """``array`` as float32 (text cells parsed); a cell that is not a number is a 400."""
    try:
        return array.astype(np.float32)
    except (TypeError, ValueError) as err:
        raise BadInput(f"The request holds a value that is not a number: {err}") from None


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode_as(prediction: Any, content_type: str) -> bytes:
    """``prediction`` (array-like) in ``content_type``, one of :data:`SUPPORTED`."""
    if content_type == JSON:
        return json.dumps(prediction, default=_json_default).encode("utf-8")
    if content_type == CSV:
        array = np.array(prediction)
        if array.ndim == 0:
            array = array.reshape(1, 1)
        elif array.ndim == 1:
            array = array.reshape(-1, 1)
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(array.tolist())
        return out.getvalue().encode("utf-8")
    if content_type == NPY:
        out_bytes = io.BytesIO()
        np.save(out_bytes, np.asarray(prediction), allow_pickle=False)
        return out_bytes.getvalue()
    raise UnsupportedAccept(f"Accept {content_type!r} is not supported by the default output_fn; ask for one of "
                            f"{', '.join(SUPPORTED)}, or define output_fn.")


def encode(prediction: Any, accept: str) -> tuple[bytes, str]:
    """``prediction`` in the first supported type of an ``Accept`` list; the body and its type."""
    for part in (accept or JSON).split(","):
        wanted = media_type(part)
        if wanted == ANY:
            wanted = JSON
        if wanted in SUPPORTED:
            return encode_as(prediction, wanted), wanted
    return encode_as(prediction, media_type(accept)), accept  # raises UnsupportedAccept
