"""Request bodies of SageMaker's inference formats, decoded into feature matrices.

One decoder per content type, in a registry other formats add themselves
to (``register_decoder("application/x-recordio-protobuf", fn)`` is where
a RecordIO-protobuf reader plugs in). Every decoder returns a 2-D float32
array (or a CSR matrix for sparse formats) with one row per record, and
raises :class:`~containers.common.serving.BadInput` naming the record and
column at fault.

* ``text/csv``: one record per line, features only (no label), empty cells
  are missing values (NaN);
* ``application/json``: a row ``[1, 2]``, rows ``[[1, 2], [3, 4]]``, or
  SageMaker's ``{"instances": [...]}`` / ``{"features": [...]}`` forms
  (each instance a row or ``{"features": row}``, also SageMaker's
  ``{"data": {"features": {"values": row}}}`` and sparse
  ``{"features": {"keys": [...], "values": [...], "shape": [width]}}``);
* ``application/jsonlines``: one JSON row (or object as above) per line;
* ``text/libsvm``: ``[label] index:value ...`` per line, 0-based indices.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from containers.common.server_workers import worker_count
from containers.common.serving import BadInput

Matrix = np.ndarray | sp.csr_matrix
Decoder = Callable[[bytes], Matrix]

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
LIBSVM = "text/libsvm"
RECORDIO_PROTOBUF = "application/x-recordio-protobuf"

DECODERS: dict[str, Decoder] = {}


def register_decoder(content_type: str, decoder: Decoder) -> None:
    """Make ``decoder`` read ``content_type`` bodies (replacing any earlier one)."""
    DECODERS[content_type.lower()] = decoder


def decode(body: bytes, content_type: str) -> Matrix:
    """Decode ``body`` with the registered decoder for ``content_type``."""
    decoder = DECODERS.get(content_type)
    if decoder is None:
        raise BadInput(f"No decoder for content type {content_type!r}.")
    if not body.strip():
        raise BadInput("The request body is empty.")
    return decoder(body)


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadInput(f"The request body is not UTF-8 text: {err.reason} at byte {err.start}.") from None


def _cell(text: str, record: int, column: int) -> float:
    cell = text.strip()
    if not cell:
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise BadInput(f"Record {record}, column {column}: {cell[:40]!r} is not a number.") from None


def decode_csv(body: bytes) -> np.ndarray:
    """``text/csv`` rows of features."""
    fast = _csv_bulk(body)
    if fast is not None:
        return fast
    lines = [line for line in _text(body).splitlines() if line.strip()]
    if len(lines) == 1:  # the common real-time case: no parser set-up at all
        try:
            return np.array([[float(c) for c in lines[0].split(",")]], dtype=np.float32)
        except ValueError:
            pass
    else:
        try:
            return np.loadtxt(lines, delimiter=",", dtype=np.float32, ndmin=2)
        except ValueError:
            pass
    # Slow path: empty cells, ragged rows or a bad value; find and name it.
    width = lines[0].count(",") + 1
    rows = []
    for number, line in enumerate(lines, start=1):
        cells = line.split(",")
        if len(cells) != width:
            raise BadInput(f"Record {number} has {len(cells)} columns but record 1 has {width}.")
        rows.append([_cell(c, number, col) for col, c in enumerate(cells, start=1)])
    return np.asarray(rows, dtype=np.float32)


BULK_BYTES = 256 * 1024  # bodies from here on are batch-sized: a C parser, where one is installed


def _csv_bulk(body: bytes) -> np.ndarray | None:
    """A large, clean CSV body parsed by a C parser (several times faster than ``loadtxt``); else ``None``.

    pyarrow's reader first: the XGBoost image has it (for Parquet), it
    imports in a tenth of pandas' time (which every serving process would
    pay on its first batch), and it refuses ragged rows and quoted cells
    itself, so the body needs no scan beforehand. pandas'
    reader where only that is installed. Cells are read as float64 and
    rounded to float32 as the exact path rounds them, so a record predicts
    the same whichever path reads it. Anything unclean, and any parse error,
    goes to the exact path above, which names the record at fault.
    """
    if len(body) < BULK_BYTES:
        return None
    width = body[:body.find(b"\n")].count(b",") + 1
    if width < 2:
        return None
    for parse in (_csv_pyarrow, _csv_pandas):
        try:
            return parse(body, width)
        except ImportError:
            continue
    return None


def _csv_pyarrow(body: bytes, width: int) -> np.ndarray | None:
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    names = [f"c{i}" for i in range(width)]
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(body),
            # Threads only for a lone serving process: with one process per CPU each has a core.
            read_options=pa_csv.ReadOptions(column_names=names, use_threads=worker_count() == 1),
            # Blank lines are skipped, as the exact path skips them.
            parse_options=pa_csv.ParseOptions(quote_char=False),
            convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.float64()), null_values=[""],
                                                  strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    matrix = np.empty((table.num_rows, width), dtype=np.float32)
    for i, column in enumerate(table.columns):
        row = 0
        for chunk in column.chunks:
            _float64_chunk_into(matrix[row:row + len(chunk), i], chunk)
            row += len(chunk)
    return matrix


def _float64_chunk_into(out: np.ndarray, chunk: Any) -> None:
    """A float64 Arrow array into ``out``, nulls (empty cells) as NaN: missing values.

    Read from the array's buffers: pyarrow's ``to_numpy`` imports pandas,
    the 0.6 s this reader is here to save.
    """
    validity, data = chunk.buffers()
    out[:] = np.frombuffer(data, dtype=np.float64, count=len(chunk), offset=chunk.offset * 8)
    if chunk.null_count:
        bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little", count=chunk.offset + len(chunk))
        out[bits[chunk.offset:] == 0] = np.nan


def _csv_pandas(body: bytes, width: int) -> np.ndarray | None:
    import pandas as pd

    # pandas pads short rows with NaN where the exact path refuses them: count commas first.
    if b"\r" in body or b"\n\n" in body or body[:1] == b"\n" or b'"' in body:
        return None
    rows = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
    if body.count(b",") != rows * (width - 1):
        return None
    try:
        frame = pd.read_csv(io.BytesIO(body), header=None, dtype=np.float64, engine="c", keep_default_na=False,
                            na_values=[""])
    except (ValueError, pd.errors.ParserError):
        return None
    matrix = frame.to_numpy(dtype=np.float32)
    return matrix if matrix.shape == (rows, width) else None


def _sparse_row(tensor: dict[str, Any], record: int) -> list[Any]:
    """SageMaker's ``{"keys": [...], "values": [...], "shape": [d]}`` (or ``{"values": row}``) as a dense row."""
    values = tensor.get("values")
    if values is None:
        raise BadInput(f"Record {record}: \"features\" must carry its row as \"values\".")
    if "keys" not in tensor:
        return values if isinstance(values, list) else [values]
    keys, shape = tensor["keys"], tensor.get("shape")
    if not (isinstance(keys, list) and isinstance(values, list) and len(keys) == len(values)
            and isinstance(shape, list) and len(shape) == 1 and isinstance(shape[0], int)
            and all(isinstance(k, int) and 0 <= k < shape[0] for k in keys)):
        raise BadInput(f"Record {record}: a sparse row needs \"keys\" and \"values\" of equal length and "
                       "\"shape\": [width] with every key below width.")
    row: list[Any] = [0.0] * shape[0]
    for key, value in zip(keys, values):
        row[key] = value
    return row


def _json_row(item: Any, record: int) -> list[float]:
    if isinstance(item, dict):
        item = item.get("data", item)  # SageMaker's {"data": {"features": {"values": [...]}}} form
        if not isinstance(item, dict) or "features" not in item:
            raise BadInput(f"Record {record}: an object must carry its row as \"features\".")
        item = item["features"]
        if isinstance(item, dict):
            item = _sparse_row(item, record)
    if isinstance(item, (int, float)) and not isinstance(item, bool):
        return [float(item)]
    if not isinstance(item, list):
        raise BadInput(f"Record {record}: expected a list of numbers, got {type(item).__name__}.")
    row = []
    for column, value in enumerate(item, start=1):
        if value is None:
            row.append(math.nan)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            row.append(float(value))
        else:
            raise BadInput(f"Record {record}, column {column}: {value!r} is not a number.")
    return row


def _rows(items: list[Any]) -> np.ndarray:
    rows = [_json_row(item, n) for n, item in enumerate(items, start=1)]
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise BadInput(f"Records have different numbers of columns: {sorted(widths)}.")
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)


def _load_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise BadInput(f"{where} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}.") from None


def decode_json(body: bytes) -> np.ndarray:
    """``application/json`` in any of the shapes listed in the module docstring."""
    doc = _load_json(_text(body), "The request body")
    if isinstance(doc, dict):
        doc = doc["instances"] if "instances" in doc else [doc]
    if not isinstance(doc, list) or not doc:
        raise BadInput("Expected a non-empty list of rows, or {\"instances\": [...]}.")
    if not any(isinstance(v, (list, dict)) for v in doc):
        doc = [doc]  # one flat row
    return _rows(doc)


def decode_jsonlines(body: bytes) -> np.ndarray:
    """``application/jsonlines``: one row per line."""
    lines = [line for line in _text(body).splitlines() if line.strip()]
    return _rows([_load_json(line, f"Record {n}") for n, line in enumerate(lines, start=1)])


def decode_libsvm(body: bytes) -> sp.csr_matrix:
    """``text/libsvm`` rows; a leading label, if present, is ignored."""
    indices: list[int] = []
    values: list[float] = []
    indptr = [0]
    for number, line in enumerate((ln for ln in _text(body).splitlines() if ln.strip()), start=1):
        for token in line.split("#", 1)[0].split():
            index, sep, value = token.partition(":")
            if not sep:
                continue  # the label
            try:
                indices.append(int(index))
                values.append(float(value))
            except ValueError:
                raise BadInput(f"Record {number}: {token!r} is not an index:value pair.") from None
        indptr.append(len(indices))
    width = max(indices) + 1 if indices else 1
    return sp.csr_matrix((np.asarray(values, dtype=np.float32), indices, indptr), shape=(len(indptr) - 1, width))


register_decoder(CSV, decode_csv)
register_decoder(JSON, decode_json)
register_decoder(JSONLINES, decode_jsonlines)
register_decoder("application/json-lines", decode_jsonlines)
register_decoder(LIBSVM, decode_libsvm)
