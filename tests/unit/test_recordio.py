"""RecordIO-protobuf: byte-compatible with the SageMaker SDK, and with the format's definition.

The SDK's writers and its generated ``record_pb2`` parser are the reference
implementation; the hand-built vectors below follow the published framing
(magic, length word with continuation flag, 4-byte padding) and the
``aialgs.data.Record`` message definition field by field.
"""

from __future__ import annotations

import gzip
import io
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sagemaker.amazon.common import write_numpy_to_dense_tensor, write_spmatrix_to_sparse_tensor
from sagemaker.amazon.record_pb2 import Record as SdkRecord
from sagemaker.serializer_utils import read_recordio

from containers.common.errors import CustomerError
from containers.common.record_pb import Record, Tensor, decode_record, encode_record
from containers.common.recordio import (MAGIC, RecordIOError, iter_payloads, iter_records, write_dense,
                                        write_payload, write_sparse)
from containers.common.recordio_data import read_recordio_protobuf

RNG = np.random.default_rng(7)


def _bytes(writer, *args) -> bytes:  # noqa: ANN001
    buf = io.BytesIO()
    writer(buf, *args)
    return buf.getvalue()


@pytest.mark.parametrize("array, labels", [
    (RNG.normal(size=(6, 4)).astype(np.float32), RNG.integers(0, 3, 6).astype(np.float32)),
    (RNG.normal(size=(5, 3)), RNG.normal(size=5)),  # float64
    (RNG.integers(-1000, 1000, (4, 5)), RNG.integers(-5, 5, 4)),  # int -> Int32Tensor, negative varints
    (RNG.normal(size=(3, 7)).astype(np.float32), None),
    (np.zeros((2, 3), dtype=np.float32), np.zeros(2, dtype=np.float32)),
])
def test_dense_writer_matches_the_sdk_byte_for_byte(array: np.ndarray, labels: np.ndarray | None) -> None:
    ours = _bytes(write_dense, array, labels)
    assert ours == _bytes(write_numpy_to_dense_tensor, array, labels)
    # and reads back to the same rows
    records = list(iter_records(io.BytesIO(ours)))
    assert len(records) == len(array)
    for row, record in enumerate(records):
        np.testing.assert_array_equal(record.features["values"].values, array[row])
        if labels is not None:
            assert record.label["values"].values[0] == labels[row]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, int])
def test_sparse_writer_matches_the_sdk_including_empty_rows(dtype: type) -> None:
    dense = (RNG.random((8, 40)) < 0.1) * RNG.integers(1, 9, (8, 40))
    dense[3] = 0  # a row without any non-zero
    matrix = sp.csr_matrix(dense.astype(dtype))
    labels = np.arange(8).astype(np.float32)
    ours = _bytes(write_sparse, matrix, labels)
    assert ours == _bytes(write_spmatrix_to_sparse_tensor, matrix, labels)
    assert _bytes(write_sparse, matrix) == _bytes(write_spmatrix_to_sparse_tensor, matrix)


def test_sdk_parser_reads_what_we_encode_and_we_read_what_it_encodes() -> None:
    record = Record(features={"values": Tensor("float32", np.array([1.5, -2.0], dtype=np.float32),
                                               np.array([3, 9], dtype=np.uint64), (12,))},
                    label={"values": Tensor("float64", np.array([0.25]))}, uid="row-1", metadata='{"a": 1}')
    parsed = SdkRecord()
    parsed.ParseFromString(encode_record(record))
    tensor = parsed.features["values"].float32_tensor
    assert list(tensor.values) == [1.5, -2.0] and list(tensor.keys) == [3, 9] and list(tensor.shape) == [12]
    assert parsed.label["values"].float64_tensor.values[0] == 0.25
    assert (parsed.uid, parsed.metadata) == ("row-1", '{"a": 1}')
    back = decode_record(parsed.SerializeToString())
    assert back.uid == "row-1" and back.features["values"].shape == (12,)
    np.testing.assert_array_equal(back.features["values"].keys, [3, 9])


def test_a_record_built_by_hand_from_the_definition() -> None:
    # Record{features{"values": Value{float32_tensor{values: [1.0, 2.0]}}}, label{"values": int32_tensor{-1}}}
    tensor = b"\x0a\x08" + struct.pack("<2f", 1.0, 2.0)            # field 1 packed floats
    value = b"\x12" + bytes([len(tensor)]) + tensor               # Value.float32_tensor = 2
    entry = b"\x0a\x06values\x12" + bytes([len(value)]) + value   # map entry: key 1, value 2
    label_tensor = b"\x0a\x0a" + b"\xff" * 9 + b"\x01"             # int32 -1 as a 10-byte varint
    label_value = b"\x3a" + bytes([len(label_tensor)]) + label_tensor  # Value.int32_tensor = 7
    label_entry = b"\x0a\x06values\x12" + bytes([len(label_value)]) + label_value
    payload = b"\x0a" + bytes([len(entry)]) + entry + b"\x12" + bytes([len(label_entry)]) + label_entry
    framed = struct.pack("<II", 0xCED7230A, len(payload)) + payload + b"\x00" * (-len(payload) % 4)
    assert framed == _bytes(write_dense, np.array([[1.0, 2.0]], dtype=np.float32), np.array([-1]))
    [record] = iter_records(io.BytesIO(framed))
    assert record.label["values"].values.tolist() == [-1]
    # unpacked encoding of the same floats (a proto2 parser must accept it too)
    unpacked = b"\x0d" + struct.pack("<f", 1.0) + b"\x0d" + struct.pack("<f", 2.0)
    value = b"\x12" + bytes([len(unpacked)]) + unpacked
    entry = b"\x0a\x06values\x12" + bytes([len(value)]) + value
    assert decode_record(b"\x0a" + bytes([len(entry)]) + entry).features["values"].values.tolist() == [1.0, 2.0]


def test_multi_record_file_and_multi_part_records() -> None:
    buf = io.BytesIO()
    for payload in (b"a", b"bcdef", b""):
        write_payload(buf, payload)
    # one record split in three parts: continuation flags 1 (first), 2 (middle), 3 (last)
    for flag, part in ((1, b"12"), (2, b"345"), (3, b"6789")):
        buf.write(struct.pack("<II", MAGIC, flag << 29 | len(part)) + part + b"\x00" * (-len(part) % 4))
    assert list(iter_payloads(io.BytesIO(buf.getvalue()))) == [b"a", b"bcdef", b"", b"123456789"]
    assert list(read_recordio(io.BytesIO(buf.getvalue()[:36]))) == [b"a", b"bcdef", b""]  # the SDK agrees


@pytest.mark.parametrize("cut, problem", [(4, "truncated header"), (20, "truncated payload")])
def test_truncated_stream_names_the_record(cut: int, problem: str) -> None:
    data = _bytes(write_dense, np.ones((3, 2), dtype=np.float32))
    record_size = len(data) // 3
    with pytest.raises(RecordIOError) as err:
        list(iter_payloads(io.BytesIO(data[:2 * record_size + cut])))
    assert err.value.record == 3 and problem in str(err.value)


def test_bad_magic_names_the_record() -> None:
    data = bytearray(_bytes(write_dense, np.ones((2, 2), dtype=np.float32)))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(RecordIOError, match="record 2: bad magic"):
        list(iter_payloads(io.BytesIO(bytes(data))))


# --- a channel of files ------------------------------------------------------


def _channel(tmp_path: Path, files: dict[str, bytes]) -> Path:
    directory = tmp_path / "train"
    for name, body in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(body)
    return directory


def test_channel_reads_dense_files_in_order(tmp_path: Path) -> None:
    X = RNG.normal(size=(10, 3)).astype(np.float32)
    y = RNG.integers(0, 2, 10).astype(np.float32)
    d = _channel(tmp_path, {"a.pbr": _bytes(write_dense, X[:4], y[:4]), "b.pbr": _bytes(write_dense, X[4:], y[4:])})
    ds = read_recordio_protobuf("train", d)
    np.testing.assert_array_equal(ds.X, X)
    np.testing.assert_array_equal(ds.y, y)
    assert ds.locate(5) == "train/b.pbr at record 2"


def test_channel_reads_sparse_and_gzip(tmp_path: Path) -> None:
    matrix = sp.random(20, 50, density=0.1, format="csr", random_state=3, dtype=np.float32)
    d = _channel(tmp_path, {"s.pbr.gz": gzip.compress(_bytes(write_sparse, matrix, np.ones(20, dtype=np.float32)))})
    ds = read_recordio_protobuf("train", d, gzip=True)
    assert sp.issparse(ds.X) and ds.X.shape == (20, 50)
    assert abs(ds.X - matrix).sum() == 0


def test_unlabelled_records_have_nan_labels(tmp_path: Path) -> None:
    d = _channel(tmp_path, {"a.pbr": _bytes(write_dense, np.ones((3, 2), dtype=np.float32))})
    assert np.isnan(read_recordio_protobuf("train", d).y).all()


@pytest.mark.parametrize("make, expected", [
    (lambda: _bytes(write_dense, np.ones((5, 2), dtype=np.float32))[:-10], "train/f.pbr at record 5: truncated"),
    (lambda: gzip.compress(_bytes(write_dense, np.ones((5, 2), dtype=np.float32)))[:-12],
     "train/f.pbr at record"),
    (lambda: _bytes(write_dense, np.array([[1, 2], [3, np.inf]], dtype=np.float32)),
     "train/f.pbr at record 2: feature 1 is infinite"),
    (lambda: _bytes(write_dense, np.array([[1, 2], [3, np.nan]], dtype=np.float32)),
     "train/f.pbr at record 2: feature 1 is NaN"),
    (lambda: _bytes(write_dense, np.ones((2, 2), dtype=np.float32)) +
     _bytes(write_dense, np.ones((1, 3), dtype=np.float32)), "train/f.pbr at record 3: the record has 3 features"),
    (lambda: b"1,2,3\n", "train/f.pbr at record 1: bad magic"),
    (lambda: b"", "train/f.pbr at record 1: the file is empty"),
])
def test_bad_channel_names_channel_file_and_record(tmp_path: Path, make, expected: str) -> None:  # noqa: ANN001
    body = make()
    gz = body[:2] == b"\x1f\x8b"
    with pytest.raises(CustomerError) as err:
        read_recordio_protobuf("train", _channel(tmp_path, {"f.pbr": body}), gzip=gz)
    assert expected in str(err.value)


def test_feature_dim_mismatch_is_named(tmp_path: Path) -> None:
    d = _channel(tmp_path, {"f.pbr": _bytes(write_dense, np.ones((2, 4), dtype=np.float32))})
    with pytest.raises(CustomerError, match=r"train/f.pbr at record 1: the record has 4 features but feature_dim is 3"):
        read_recordio_protobuf("train", d, feature_dim=3)
