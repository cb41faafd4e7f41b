"""Loading the XGBoost algorithm's channels into DMatrix objects.

SageMaker's XGBoost reads ``text/csv`` (label first, no header),
``text/libsvm``, ``application/x-recordio-protobuf`` (label in each record's
``label["values"]``) and ``application/x-parquet`` (label first); a channel
without a ContentType is libsvm, as there. Labels
are checked against the objective here, before training, so that a bad label
is reported with the file and line it came from instead of as an opaque
XGBoost error.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp
import xgboost as xgb

from containers.common.data import Dataset, read_csv, read_libsvm
from containers.common.parquet_data import read_parquet
from containers.common.recordio_data import read_recordio_protobuf
from containers.common.environment import ChannelConfig, Environment
from containers.common.errors import CustomerError

CSV = "csv"
LIBSVM = "libsvm"
RECORDIO = "recordio-protobuf"
PARQUET = "parquet"
CONTENT_TYPES = {
    "text/csv": CSV,
    "csv": CSV,
    "text/libsvm": LIBSVM,
    "libsvm": LIBSVM,
    "text/x-libsvm": LIBSVM,
    "application/x-recordio-protobuf": RECORDIO,
    "application/x-parquet": PARQUET,
}


def data_format(channel: ChannelConfig) -> str:
    """Map a channel's ContentType (``text/csv; label_size=1`` etc.) to one of the formats above."""
    if not channel.content_type:
        return LIBSVM
    media, *options = (part.strip() for part in channel.content_type.split(";"))
    fmt = CONTENT_TYPES.get(media.lower())
    if fmt is None:
        supported = ", ".join(CONTENT_TYPES)
        raise CustomerError(
            f"Channel '{channel.name}' has content type '{channel.content_type}', "
            f"which this algorithm does not support (supported: {supported})."
        )
    for option in options:
        key, _, value = option.partition("=")
        if fmt == CSV and key.strip().lower() == "label_size" and value.strip() != "1":
            raise CustomerError(
                f"Channel '{channel.name}' has content type '{channel.content_type}': only label_size=1 is supported."
            )
    return fmt


def load_dataset(env: Environment, name: str, *, num_cols: int = 0) -> tuple[Dataset, str]:
    """Read channel ``name`` in its declared format; return the dataset and the format."""
    channel = env.require_channel(name)
    # Pipe mode: the readers find <channel>_0 and read its first epoch; XGBoost trains in memory.
    fmt = data_format(channel)
    directory = env.channel_dir(name)
    # XGBoost treats missing values natively, so empty / NaN feature values are allowed.
    if fmt == CSV:
        return read_csv(name, directory, gzip=channel.reads_gzip, missing_ok=True), fmt
    if fmt == RECORDIO:
        ds = read_recordio_protobuf(name, directory, gzip=channel.reads_gzip, missing_ok=True)
        unlabelled = np.flatnonzero(np.isnan(ds.y))
        if unlabelled.size:
            raise CustomerError(f"Bad input in {ds.locate(unlabelled[0])}: the record has no label "
                                "(label['values']); XGBoost needs one per record.")
        return ds, fmt
    if fmt == PARQUET:
        if channel.is_pipe:
            raise CustomerError(f"Channel '{name}': Parquet needs random access to its files, which Pipe input "
                                "mode cannot give; use File input mode.")
        if channel.is_gzip:
            raise CustomerError(f"Channel '{name}': CompressionType Gzip does not apply to Parquet, which "
                                "compresses its own pages; set CompressionType to None.")
        return read_parquet(name, directory, missing_ok=True), fmt
    return read_libsvm(name, directory, gzip=channel.reads_gzip, num_cols=num_cols), fmt


def split_weights(ds: Dataset) -> tuple[Dataset, np.ndarray]:
    """With ``csv_weights=1`` the column after the label holds instance weights."""
    if isinstance(ds.X, sp.csr_matrix) or ds.num_cols < 2:
        raise CustomerError("csv_weights=1 needs CSV input with a weight column and at least one feature column.")
    weights = ds.X[:, 0]
    bad = np.flatnonzero(~(weights >= 0))  # also catches NaN
    if bad.size:
        raise CustomerError(f"Bad input in {ds.locate(bad[0])}: the instance weight (column 2) must be >= 0.")
    features = np.ascontiguousarray(ds.X[:, 1:])
    return dataclasses.replace(ds, X=features), np.ascontiguousarray(weights)


def check_labels(ds: Dataset, objective: str, num_class: int | None) -> None:
    """Reject labels the objective cannot take, naming the first offending row."""
    y = ds.y
    if objective.startswith("multi:"):
        bad = (y < 0) | (y >= (num_class or 0)) | (y != np.floor(y))
        expected = f"an integer in [0, {(num_class or 0) - 1}] (num_class={num_class})"
    elif objective in ("binary:logistic", "binary:logitraw", "reg:logistic"):
        bad, expected = (y < 0) | (y > 1), "in [0, 1]"
    elif objective == "binary:hinge":
        bad, expected = (y != 0) & (y != 1), "0 or 1"
    elif objective == "reg:squaredlogerror":
        bad, expected = y <= -1, "greater than -1"
    elif objective in ("count:poisson", "reg:tweedie"):
        bad, expected = y < 0, "non-negative"
    elif objective == "reg:gamma":
        bad, expected = y <= 0, "positive"
    else:
        return
    rows = np.flatnonzero(bad)
    if rows.size:
        raise CustomerError(
            f"Bad input in {ds.locate(rows[0])}: label {y[rows[0]]:g} is invalid for objective "
            f"'{objective}' (expected {expected}); {rows.size} row(s) affected."
        )


def to_dmatrix(ds: Dataset, weights: np.ndarray | None, nthread: int) -> xgb.DMatrix:
    """Build a DMatrix; NaN marks missing values, as in SageMaker's XGBoost."""
    return xgb.DMatrix(ds.X, label=ds.y, weight=weights, missing=np.nan, nthread=nthread)
