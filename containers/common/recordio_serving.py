"""``application/x-recordio-protobuf`` at the inference boundary.

Requests: one record per row, read with the channel reader's rules (dense or
sparse ``features["values"]``). Responses: one record per prediction whose
``label`` map holds each output (``closest_cluster``, ``score``, ...) as a
float32 tensor, which is what the SageMaker SDK's ``RecordDeserializer``
reads back.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from containers.common.decoders import RECORDIO_PROTOBUF, register_decoder
from containers.common.record_pb import Record, Tensor, encode_record
from containers.common.recordio import RecordIOError, iter_records, write_payload
from containers.common.serving import BadInput


def decode_recordio(body: bytes) -> np.ndarray | sp.csr_matrix:
    """The request's records as rows (CSR when any record is sparse)."""
    rows: list[tuple[np.ndarray, np.ndarray, int, bool]] = []
    try:
        for number, record in enumerate(iter_records(io.BytesIO(body)), start=1):
            tensor = record.features.get("values")
            if not isinstance(tensor, Tensor):
                raise BadInput(f"Record {number} has no 'values' feature tensor.")
            width = tensor.shape[0] if tensor.is_sparse and tensor.shape else len(tensor.values)
            keys = tensor.keys.astype(np.int64) if tensor.is_sparse else np.arange(width)
            rows.append((tensor.values.astype(np.float32), keys, width, tensor.is_sparse))
    except RecordIOError as err:
        raise BadInput(f"The body is not valid RecordIO-protobuf: {err}.") from None
    widths = {w for _, _, w, _ in rows}
    if len(widths) != 1:
        raise BadInput(f"Records have different numbers of features: {sorted(widths)}.")
    width = widths.pop()
    if not any(sparse for *_, sparse in rows):
        return np.stack([values for values, *_ in rows])
    indptr = np.cumsum([0] + [len(v) for v, *_ in rows])
    return sp.csr_matrix((np.concatenate([v for v, *_ in rows]), np.concatenate([k for _, k, *_ in rows]), indptr),
                         shape=(len(rows), width))


def encode_predictions(predictions: Sequence[Mapping[str, float | Sequence[float]]]) -> bytes:
    """One record per prediction, each output a float32 tensor in the ``label`` map."""
    buf = io.BytesIO()
    for prediction in predictions:
        label: dict[str, Tensor | list[bytes]] = {
            name: Tensor("float32", np.atleast_1d(np.asarray(value, dtype=np.float32)))
            for name, value in prediction.items()}
        write_payload(buf, encode_record(Record(label=label)))
    return buf.getvalue()


register_decoder(RECORDIO_PROTOBUF, decode_recordio)
