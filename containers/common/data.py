"""Readers for the text formats SageMaker's built-in algorithms train on.

Both formats put the label first: CSV as ``label,f1,f2,...`` (no header, all
numeric) and libsvm as ``label idx:val idx:val ...``. Every file under a
channel directory is read, recursively and in sorted order, skipping hidden
files. Bad input raises a ``CustomerError`` that names the file (as
``<channel>/<relative path>``) and the 1-based line, so the job's
FailureReason tells the user exactly what to fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from containers.common.errors import CustomerError
from containers.common.sources import Line, RowOrigins, channel_files, data_lines, display_names

__all__ = ["Dataset", "channel_files", "read_csv", "read_libsvm"]

# Rows are converted to float32 in blocks so that a large channel never lives
# in memory as Python floats all at once.
_BLOCK_ROWS = 65536
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Dataset:
    """Features and labels of one channel."""

    X: np.ndarray | sp.csr_matrix
    y: np.ndarray
    files: tuple[str, ...]
    # Where each row came from: index into ``files`` and 1-based line number,
    # so checks made after parsing (label ranges) can still name file and line.
    row_file: np.ndarray
    row_line: np.ndarray
    # What row_line counts: text lines, or records of a RecordIO file.
    unit: str = "line"

    @property
    def num_rows(self) -> int:
        """Number of records."""
        return int(self.X.shape[0])

    @property
    def num_cols(self) -> int:
        """Number of feature columns (the label excluded)."""
        return int(self.X.shape[1])

    def locate(self, row: int) -> str:
        """``"<channel>/<file> at line <n>"`` (or ``at record <n>``) for 0-based record ``row``."""
        return f"{self.files[int(self.row_file[row])]} at {self.unit} {int(self.row_line[row])}"


def _show(value: str) -> str:
    """Quote a user's value for a message, shortened so messages stay readable."""
    return repr(value if len(value) <= 40 else value[:37] + "...")


def _bad(line: Line, problem: str) -> CustomerError:
    return CustomerError(f"Bad input in {line.where} at line {line.number}: {problem}")


def _check_label(line: Line, text: str, value: float) -> None:
    if not math.isfinite(value) or abs(value) > _FLOAT32_MAX:
        raise _bad(line, f"the label {_show(text)} is not a finite number.")


def _diagnose_csv_row(line: Line, cells: list[str], missing_ok: bool, label_size: int = 1) -> list[float]:
    """Slow path: parse a row cell by cell and raise on the first bad one."""
    values: list[float] = []
    for col, raw in enumerate(cells, start=1):
        cell = raw.strip()
        if col == 1 and label_size and not cell:
            raise _bad(line, "the label (column 1) is missing; the label must be the first column.")
        if not cell:
            if not missing_ok:
                raise _bad(line, f"column {col} is empty.")
            values.append(math.nan)
            continue
        try:
            value = float(cell)
        except ValueError:
            hint = " CSV input must not have a header row." if line.number == 1 else ""
            what = "the label (column 1)" if col == 1 and label_size else f"column {col}"
            raise _bad(line, f"{what} has non-numeric value {_show(cell)}.{hint}") from None
        if col == 1 and label_size:
            _check_label(line, cell, value)
        elif math.isinf(value) or abs(value) > _FLOAT32_MAX:
            raise _bad(line, f"column {col} has infinite value {_show(cell)}.")
        elif math.isnan(value) and not missing_ok:
            raise _bad(line, f"column {col} is NaN.")
        values.append(value)
    return values


def read_csv(channel: str, directory: Path, *, gzip: bool = False, missing_ok: bool = False,
             label_size: int = 1) -> Dataset:
    """Read a channel of headerless numeric CSV with the label in column 1.

    ``missing_ok`` lets empty or NaN feature cells through as NaN (for
    algorithms that handle missing values); labels must always be finite.
    Returns dense float32 ``X`` of shape (rows, columns - 1) and ``y``.
    ``label_size=0`` (SageMaker's ``text/csv;label_size=0``, unsupervised
    algorithms) reads every column as a feature, with NaN labels.
    """
    files = channel_files(channel, directory)
    blocks: list[np.ndarray] = []
    rows: list[list[float]] = []
    origin = RowOrigins()
    width = 0
    for file_index, line in data_lines(channel, directory, files, gzip):
        origin.add(file_index, line.number)
        cells = line.text.split(",")
        if not width:
            width = len(cells)
            if width < 1 + label_size:
                raise _bad(line, "a row needs a label and at least one feature column." if label_size
                           else "a row needs at least one feature column.")
        elif len(cells) != width:
            raise _bad(line, f"the row has {len(cells)} columns but the channel's first row has {width}.")
        try:
            values = [float(cell) for cell in cells]
            clean = math.isfinite(sum(values)) and max(map(abs, values)) <= _FLOAT32_MAX
        except ValueError:
            clean = False
        if not clean:  # rare: find and name the offending cell
            values = _diagnose_csv_row(line, cells, missing_ok, label_size)
        rows.append(values)
        if len(rows) >= _BLOCK_ROWS:
            blocks.append(np.asarray(rows, dtype=np.float32))
            rows = []
    if rows:
        blocks.append(np.asarray(rows, dtype=np.float32))
    data = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
    return Dataset(
        X=np.ascontiguousarray(data[:, label_size:]),
        y=np.ascontiguousarray(data[:, 0]) if label_size else np.full(len(data), np.nan, np.float32),
        files=display_names(channel, directory, files),
        **origin.arrays(),
    )


def _parse_libsvm_row(line: Line, tokens: list[str]) -> tuple[float, list[int], list[float]]:
    label_text = tokens[0]
    if ":" in label_text:
        raise _bad(line, f"the label is missing (first token {_show(label_text)} is a feature).")
    try:
        label = float(label_text)
    except ValueError:
        raise _bad(line, f"the label {_show(label_text)} is not numeric.") from None
    _check_label(line, label_text, label)
    indices: list[int] = []
    values: list[float] = []
    for position, token in enumerate(tokens[1:], start=2):
        index_text, sep, value_text = token.partition(":")
        try:
            index = int(index_text)
            value = float(value_text)
        except ValueError:
            index = -1
            value = math.nan
        if not sep or index < 0 or not math.isfinite(value) or abs(value) > _FLOAT32_MAX:
            raise _bad(line, f"token {position} {_show(token)} is not a valid index:value pair.")
        indices.append(index)
        values.append(value)
    return label, indices, values


def read_libsvm(channel: str, directory: Path, *, gzip: bool = False, num_cols: int = 0) -> Dataset:
    """Read a channel of libsvm text (``label idx:val ...``, 0-based indices as given).

    Returns a float32 CSR ``X`` with ``max(num_cols, largest index + 1)``
    columns (pass ``num_cols`` to align a validation channel with training).
    """
    files = channel_files(channel, directory)
    labels: list[float] = []
    indices: list[int] = []
    values: list[float] = []
    indptr: list[int] = [0]
    origin = RowOrigins()
    for file_index, line in data_lines(channel, directory, files, gzip, comment="#"):
        # libsvm allows trailing comments after '#'.
        tokens = line.text.split("#", 1)[0].split()
        if not tokens:
            continue
        label, row_indices, row_values = _parse_libsvm_row(line, tokens)
        origin.add(file_index, line.number)
        labels.append(label)
        indices.extend(row_indices)
        values.extend(row_values)
        indptr.append(len(indices))
    width = max(num_cols, max(indices) + 1 if indices else 1)
    X = sp.csr_matrix(
        (np.asarray(values, dtype=np.float32), np.asarray(indices, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
        shape=(len(labels), width),
    )
    X.sum_duplicates()
    labels_array = np.asarray(labels, dtype=np.float32)
    return Dataset(X=X, y=labels_array, files=display_names(channel, directory, files), **origin.arrays())
