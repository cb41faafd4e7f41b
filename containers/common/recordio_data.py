"""Reading a channel of ``application/x-recordio-protobuf`` into a :class:`Dataset`.

Each record's ``features["values"]`` tensor is one row (dense, or sparse with
``keys`` and ``shape = [feature_dim]``); ``label["values"]`` holds its label,
absent for unsupervised data (the label is then NaN). Every problem raises a
``CustomerError`` naming ``<channel>/<file>`` and the 1-based record, as the
text readers name the line.
"""

from __future__ import annotations

import gzip as gzip_module
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from containers.common.data import Dataset
from containers.common.errors import CustomerError
from containers.common.record_pb import Record, Tensor
from containers.common.recordio import RecordIOError, iter_records
from containers.common.sources import RowOrigins, _opener, channel_files, display_name, display_names

__all__ = ["read_recordio_protobuf", "record_rows"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _bad(where: str, record: int, problem: str) -> CustomerError:
    return CustomerError(f"Bad input in {where} at record {record}: {problem}")


def _records(channel: str, directory: Path, path: Path, gzip: bool) -> Iterator[tuple[int, Record]]:
    where = display_name(channel, directory, path)
    number = 0
    try:
        with _opener(path, gzip, where) as handle:
            for number, record in enumerate(iter_records(handle), start=1):  # noqa: B007 - used on error
                yield number, record
    except RecordIOError as err:
        raise _bad(where, err.record, f"{err.problem}.") from None
    except (gzip_module.BadGzipFile, EOFError, zlib.error) as err:
        raise _bad(where, number + 1, f"corrupt gzip data ({err}).") from None


def _row(where: str, number: int, record: Record, missing_ok: bool) -> tuple[Tensor, float]:
    tensor = record.features.get("values")
    if not isinstance(tensor, Tensor):
        found = ", ".join(sorted(record.features)) or "none"
        raise _bad(where, number, f"the record has no numeric 'values' feature tensor (features: {found}).")
    if tensor.is_sparse:
        if not tensor.shape:
            raise _bad(where, number, "a sparse record (with keys) must give its shape.")
        if len(tensor.keys) != len(tensor.values):
            raise _bad(where, number, f"{len(tensor.keys)} keys but {len(tensor.values)} values.")
        if len(tensor.keys) and int(tensor.keys.max()) >= tensor.shape[0]:
            raise _bad(where, number, f"key {int(tensor.keys.max())} is outside the shape [{tensor.shape[0]}].")
    values = tensor.values.astype(np.float64, copy=False)
    if len(values) and not (np.isfinite(values).all() and np.abs(values).max() <= _FLOAT32_MAX):
        bad = np.flatnonzero(~np.isfinite(values) | (np.abs(values) > _FLOAT32_MAX))
        column = int(tensor.keys[bad[0]]) if tensor.is_sparse else int(bad[0])
        kind = "NaN" if np.isnan(values[bad[0]]) else "infinite"
        if kind != "NaN" or not missing_ok:
            raise _bad(where, number, f"feature {column} is {kind}; features must be finite numbers.")
    label = np.nan
    label_tensor = record.label.get("values")
    if isinstance(label_tensor, Tensor) and len(label_tensor.values):
        label = float(label_tensor.values[0])
        if not np.isfinite(label) or abs(label) > _FLOAT32_MAX:
            raise _bad(where, number, f"the label {label!r} is not a finite number.")
    return tensor, label


def record_rows(channel: str, directory: Path, *, gzip: bool = False,
                missing_ok: bool = False) -> Iterator[tuple[int, str, int, Tensor, float]]:
    """Yield ``(file index, "<channel>/<file>", record number, features, label)`` for every record."""
    files = channel_files(channel, directory)
    for file_index, path in enumerate(files):
        where = display_name(channel, directory, path)
        count = 0
        for number, record in _records(channel, directory, path, gzip):
            count += 1
            tensor, label = _row(where, number, record, missing_ok)
            yield file_index, where, number, tensor, label
        if not count:
            raise _bad(where, 1, "the file is empty (no records).")


def read_recordio_protobuf(channel: str, directory: Path, *, gzip: bool = False, missing_ok: bool = False,
                           feature_dim: int | None = None) -> Dataset:
    """Read every record of a channel; ``X`` is dense float32 unless some record is sparse (then CSR).

    All records must have the same width (``feature_dim`` when given);
    labels absent from the records are NaN in ``y``.
    """
    files = channel_files(channel, directory)
    origin = RowOrigins()
    labels: list[float] = []
    data: list[np.ndarray] = []
    indices: list[np.ndarray] = []
    any_sparse = False
    width = feature_dim
    for file_index, where, number, tensor, label in record_rows(channel, directory, gzip=gzip,
                                                                  missing_ok=missing_ok):
        row_width = tensor.shape[0] if tensor.is_sparse else len(tensor.values)
        if width is None:
            width = row_width
        elif row_width != width:
            expected = f"feature_dim is {feature_dim}" if feature_dim is not None else f"the first record has {width}"
            raise _bad(where, number, f"the record has {row_width} features but {expected}.")
        any_sparse |= tensor.is_sparse
        data.append(tensor.values.astype(np.float32, copy=False))
        indices.append(tensor.keys.astype(np.int64) if tensor.is_sparse else np.arange(row_width, dtype=np.int64))
        labels.append(label)
        origin.add(file_index, number)
    assert width is not None  # channel_files and record_rows guarantee at least one record
    y = np.asarray(labels, dtype=np.float32)
    files_shown = display_names(channel, directory, files)
    if not any_sparse:
        return Dataset(X=np.ascontiguousarray(np.stack(data), dtype=np.float32), y=y, files=files_shown,
                       unit="record", **origin.arrays())
    indptr = np.concatenate([[0], np.cumsum([len(v) for v in data])]).astype(np.int64)
    X = sp.csr_matrix((np.concatenate(data), np.concatenate(indices), indptr), shape=(len(labels), width))
    X.sum_duplicates()
    return Dataset(X=X, y=y, files=files_shown, unit="record", **origin.arrays())
