"""RecordIO framing and ``application/x-recordio-protobuf`` rows.

A RecordIO file is a sequence of records, each framed as::

    uint32 magic = 0xCED7230A   (little-endian)
    uint32 lrecord              lower 29 bits: payload length; upper 3 bits: continuation flag
    payload, zero-padded to a multiple of 4 bytes

The continuation flag (0 whole record, 1 first part, 2 middle part, 3 last
part) lets a writer split a record; readers join the parts. Each payload is
one Amazon Record protobuf (:mod:`containers.common.record_pb`).
:func:`write_dense` and :func:`write_sparse` produce exactly the bytes of the
SageMaker Python SDK's ``write_numpy_to_dense_tensor`` and
``write_spmatrix_to_sparse_tensor``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import scipy.sparse as sp

from containers.common.record_pb import Record, RecordFormatError, Tensor, decode_record, encode_record

__all__ = ["MAGIC", "RecordIOError", "iter_payloads", "iter_records", "write_payload", "write_dense",
           "write_sparse", "encode_dense", "encode_sparse"]

MAGIC = 0xCED7230A
_LENGTH_MASK = (1 << 29) - 1
_HEADER = struct.Struct("<II")


class RecordIOError(ValueError):
    """The stream is not well-formed RecordIO; ``record`` is the 1-based record it broke in."""

    def __init__(self, record: int, problem: str) -> None:
        super().__init__(f"record {record}: {problem}")
        self.record = record
        self.problem = problem


def write_payload(f: BinaryIO, payload: bytes) -> None:
    """Frame one payload as a whole RecordIO record."""
    if len(payload) > _LENGTH_MASK:
        raise ValueError(f"a record of {len(payload)} bytes exceeds RecordIO's {_LENGTH_MASK}-byte limit")
    f.write(_HEADER.pack(MAGIC, len(payload)))
    f.write(payload)
    f.write(b"\x00" * (-len(payload) % 4))


def _read_exact(f: BinaryIO, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = f.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def iter_payloads(f: BinaryIO) -> Iterator[bytes]:
    """Yield each record's payload, joining continued parts; raise :class:`RecordIOError` when broken."""
    number = 0
    parts: list[bytes] = []
    while True:
        header = _read_exact(f, 8)
        if not header:
            if parts:
                raise RecordIOError(number + 1, "the file ends inside a multi-part record")
            return
        if not parts:
            number += 1
        if len(header) >= 4 and (magic := struct.unpack_from("<I", header)[0]) != MAGIC:
            raise RecordIOError(number, f"bad magic number 0x{magic:08X} (expected 0x{MAGIC:08X}); "
                                        "the data is not RecordIO")
        if len(header) < 8:
            raise RecordIOError(number, f"truncated header ({len(header)} of 8 bytes)")
        _, lrecord = _HEADER.unpack(header)
        length, cflag = lrecord & _LENGTH_MASK, lrecord >> 29
        padded = length + (-length % 4)
        body = _read_exact(f, padded)
        if len(body) < padded:
            raise RecordIOError(number, f"truncated payload ({len(body)} of {padded} bytes)")
        if cflag > 3 or (cflag in (2, 3)) != bool(parts):
            raise RecordIOError(number, f"continuation flag {cflag} out of sequence")
        parts.append(body[:length])
        if cflag in (0, 3):
            yield b"".join(parts)
            parts = []


def iter_records(f: BinaryIO) -> Iterator[Record]:
    """Yield each decoded Record; a malformed one raises :class:`RecordIOError` naming it."""
    for number, payload in enumerate(iter_payloads(f), start=1):
        try:
            yield decode_record(payload)
        except RecordFormatError as err:
            raise RecordIOError(number, f"not a valid Record protobuf ({err})") from None


def _tensor_type(dtype: np.dtype) -> str:
    # The SDK's mapping: the platform int (int64 here) is written as Int32.
    if dtype == np.dtype(int):
        return "int32"
    if dtype == np.dtype(float):
        return "float64"
    if dtype == np.dtype("float32"):
        return "float32"
    raise ValueError(f"Unsupported dtype {dtype} on array")


def _check(array: np.ndarray | sp.spmatrix, labels: np.ndarray | None) -> str | None:
    if len(array.shape) != 2:
        raise ValueError("Array must be a Matrix")
    if labels is None:
        return None
    if len(labels.shape) != 1:
        raise ValueError("Labels must be a Vector")
    if labels.shape[0] not in array.shape:
        raise ValueError(f"Label shape {labels.shape} not compatible with array shape {array.shape}")
    return _tensor_type(labels.dtype)


def _label(label_type: str | None, labels: np.ndarray | None, row: int) -> dict[str, Tensor | list[bytes]]:
    if label_type is None or labels is None:
        return {}
    return {"values": Tensor(label_type, np.asarray([labels[row]]))}


def encode_dense(array: np.ndarray, labels: np.ndarray | None = None) -> Iterator[bytes]:
    """One serialized Record per row of ``array``, dense, as the SDK writes them."""
    label_type = _check(array, labels)
    value_type = _tensor_type(array.dtype)
    for row, vector in enumerate(array):
        yield encode_record(Record(features={"values": Tensor(value_type, vector)},
                                   label=_label(label_type, labels, row)))


def encode_sparse(matrix: sp.spmatrix, labels: np.ndarray | None = None) -> Iterator[bytes]:
    """One serialized Record per row of the sparse ``matrix``, with keys and shape ``[columns]``."""
    if not sp.issparse(matrix):
        raise TypeError("Array must be sparse")
    label_type = _check(matrix, labels)
    value_type = _tensor_type(matrix.dtype)
    csr = sp.csr_matrix(matrix)
    width = csr.shape[1]
    for row in range(csr.shape[0]):
        start, end = csr.indptr[row], csr.indptr[row + 1]
        tensor = Tensor(value_type, csr.data[start:end], csr.indices[start:end].astype(np.uint64), (width,))
        yield encode_record(Record(features={"values": tensor}, label=_label(label_type, labels, row)))


def write_dense(f: BinaryIO, array: np.ndarray, labels: np.ndarray | None = None) -> None:
    """Write ``array`` (and ``labels``) as dense RecordIO-protobuf records."""
    for payload in encode_dense(array, labels):
        write_payload(f, payload)


def write_sparse(f: BinaryIO, matrix: sp.spmatrix, labels: np.ndarray | None = None) -> None:
    """Write the sparse ``matrix`` (and ``labels``) as sparse RecordIO-protobuf records."""
    for payload in encode_sparse(matrix, labels):
        write_payload(f, payload)
