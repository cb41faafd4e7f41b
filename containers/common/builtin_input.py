"""Reading a training channel the way SageMaker's first-party algorithms do.

The built-ins (K-Means, PCA, Linear Learner, ...) read
``application/x-recordio-protobuf`` (dense or sparse records, the label in
the record's ``label`` map) or ``text/csv`` (no header; for supervised
algorithms the label is the first column, for unsupervised ones every column
is a feature, as SageMaker's ``label_size=0``). Every error names the
channel, the file and the line or record.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from containers.common.data import Dataset, read_csv
from containers.common.environment import Environment
from containers.common.errors import CustomerError
from containers.common.recordio_data import read_recordio_protobuf

RECORDIO = "application/x-recordio-protobuf"
CSV = "text/csv"


def channel_media_type(env: Environment, name: str) -> str:
    """The channel's content type without parameters (RecordIO-protobuf when unset, as SageMaker's default)."""
    channel = env.require_channel(name)
    return (channel.content_type or RECORDIO).split(";")[0].strip().lower()


def read_channel(env: Environment, name: str, *, algorithm: str, feature_dim: int | None,
                 supervised: bool, allow_sparse: bool = False) -> Dataset:
    """Channel ``name`` as float32 features (dense unless ``allow_sparse``) and labels.

    ``supervised`` requires a finite label on every record; unsupervised
    channels carry NaN labels. ``feature_dim`` (when given) must match every
    record's width.
    """
    channel = env.require_channel(name)
    # Pipe mode: the readers find <channel>_0 and read one epoch (these algorithms train in memory).
    media = channel_media_type(env, name)
    directory = env.channel_dir(name)
    if media == RECORDIO:
        ds = read_recordio_protobuf(name, directory, gzip=channel.reads_gzip, missing_ok=not supervised,
                                    feature_dim=feature_dim)
    elif media == CSV:
        ds = read_csv(name, directory, gzip=channel.reads_gzip, label_size=1 if supervised else 0)
        if feature_dim is not None and ds.num_cols != feature_dim:
            raise CustomerError(f"Bad input in {ds.locate(0)}: the row has {ds.num_cols} features but "
                                f"feature_dim is {feature_dim}.")
    else:
        raise CustomerError(f"Channel '{name}' has content type '{channel.content_type}', which {algorithm} does "
                            f"not support (supported: {RECORDIO}, {CSV}).")
    if supervised:
        missing = np.flatnonzero(~np.isfinite(ds.y))
        if len(missing):
            raise CustomerError(f"Bad input in {ds.locate(int(missing[0]))}: the record has no label, and "
                                f"{algorithm} needs one on every training record.")
    X = ds.X if allow_sparse or not sp.issparse(ds.X) else ds.X.toarray()
    if sp.issparse(X):
        finite = np.isfinite(X.data)
        bad = np.unique(np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))[~finite]) if not finite.all() else []
    else:
        X = np.asarray(X, dtype=np.float32)
        bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
    if len(bad):
        raise CustomerError(f"Bad input in {ds.locate(int(bad[0]))}: the record has a NaN or infinite feature.")
    print(f"Channel '{name}': {ds.num_rows} records, {ds.num_cols} features from {len(ds.files)} file(s).",
          flush=True)
    return Dataset(X, ds.y, ds.files, ds.row_file, ds.row_line, ds.unit)
