"""Reading a channel of Parquet files (``application/x-parquet``) into a :class:`Dataset`.

As SageMaker's XGBoost reads it: the first column is the label, every other
column a numeric feature; nulls are missing values. Problems raise a
``CustomerError`` naming ``<channel>/<file>`` and the 1-based row.
"""

from __future__ import annotations

import numpy as np

from containers.common.data import Dataset
from containers.common.errors import CustomerError
from containers.common.sources import RowOrigins, channel_files, display_name, display_names

__all__ = ["read_parquet"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _table(where: str, path):  # noqa: ANN001, ANN202 - a pyarrow Table
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise CustomerError(f"Bad input in {where}: not a readable Parquet file ({err}).") from None


def read_parquet(channel: str, directory, *, missing_ok: bool = True, num_cols: int | None = None) -> Dataset:  # noqa: ANN001
    """Read every Parquet file of a channel: dense float32 ``X`` and ``y`` (the first column)."""
    import pyarrow.types as pt

    files = channel_files(channel, directory)
    blocks: list[np.ndarray] = []
    origin = RowOrigins()
    for file_index, path in enumerate(files):
        where = display_name(channel, directory, path)
        table = _table(where, path)
        if table.num_columns < 2:
            raise CustomerError(f"Bad input in {where}: a Parquet file needs a label column and at least one "
                                f"feature column (it has {table.num_columns}).")
        if num_cols is None:
            num_cols = table.num_columns - 1
        elif table.num_columns - 1 != num_cols:
            raise CustomerError(f"Bad input in {where}: {table.num_columns - 1} feature columns, but the "
                                f"channel's first file has {num_cols}.")
        if table.num_rows == 0:
            raise CustomerError(f"Bad input in {where} at row 1: the file is empty (no data rows).")
        columns = []
        for position, (field, column) in enumerate(zip(table.schema, table.columns)):
            if not (pt.is_integer(field.type) or pt.is_floating(field.type) or pt.is_boolean(field.type)):
                what = "the label (column 1)" if position == 0 else f"column {position + 1} ({field.name!r})"
                raise CustomerError(f"Bad input in {where}: {what} has type {field.type}; only numeric "
                                    "columns are supported.")
            values = column.to_numpy(zero_copy_only=False).astype(np.float64)  # nulls become NaN
            columns.append(values)
        data = np.column_stack(columns)
        _check(where, data, missing_ok)
        blocks.append(data.astype(np.float32))
        for row in range(table.num_rows):
            origin.add(file_index, row + 1)
    data = np.concatenate(blocks)
    return Dataset(X=np.ascontiguousarray(data[:, 1:]), y=np.ascontiguousarray(data[:, 0]),
                   files=display_names(channel, directory, files), unit="row", **origin.arrays())


def _check(where: str, data: np.ndarray, missing_ok: bool) -> None:
    labels = data[:, 0]
    bad = np.flatnonzero(~np.isfinite(labels) | (np.abs(labels) > _FLOAT32_MAX))
    if bad.size:
        raise CustomerError(f"Bad input in {where} at row {bad[0] + 1}: the label is missing or not finite.")
    features = data[:, 1:]
    infinite = ~np.isnan(features) & (~np.isfinite(features) | (np.abs(features) > _FLOAT32_MAX))
    problem = infinite | (np.isnan(features) if not missing_ok else False)
    if problem.any():
        row, col = (int(i) for i in np.argwhere(problem)[0])
        kind = "infinite" if infinite[row, col] else "NaN or null"
        raise CustomerError(f"Bad input in {where} at row {row + 1}: column {col + 2} is {kind}.")
