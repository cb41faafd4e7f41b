"""The Amazon Record protobuf (``aialgs.data.Record``), encoded and decoded by hand.

SageMaker's first-party algorithms exchange rows as this message (the
definition ships with the SageMaker Python SDK as ``record.proto``)::

    message Float32Tensor { repeated float  values = 1 [packed]; repeated uint64 keys = 2 [packed];
                            repeated uint64 shape = 3 [packed]; }
    message Float64Tensor { repeated double values = 1 [packed]; ... keys = 2; shape = 3 }
    message Int32Tensor   { repeated int32  values = 1 [packed]; ... keys = 2; shape = 3 }
    message Value  { oneof value { Float32Tensor float32_tensor = 2; Float64Tensor float64_tensor = 3;
                                   Int32Tensor int32_tensor = 7; Bytes bytes = 9; } }
    message Record { map<string, Value> features = 1; map<string, Value> label = 2;
                     optional string uid = 3; optional string metadata = 4; optional string configuration = 5; }

Six field types is all it takes, so a small codec is clearer than a code
generator and a runtime dependency. The encoder writes exactly the bytes the
``protobuf`` runtime writes for the same message (fields in number order,
packed repeated fields, empty ones omitted); the decoder also accepts the
unpacked encoding and skips unknown fields, as a proto2 parser must.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["RecordFormatError", "Tensor", "Record", "encode_record", "decode_record"]

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
# Value's oneof field number of each tensor type, and its numpy little-endian dtype.
_TENSOR_FIELD = {"float32": 2, "float64": 3, "int32": 7}
_FIELD_TENSOR = {number: name for name, number in _TENSOR_FIELD.items()}
_FIXED = {"float32": ("<f4", _I32, 4), "float64": ("<f8", _I64, 8)}
_BYTES_FIELD = 9
_STRING_FIELDS = {3: "uid", 4: "metadata", 5: "configuration"}
_U64 = (1 << 64) - 1


class RecordFormatError(ValueError):
    """The bytes are not a well-formed Record; the message says where they break."""


@dataclass
class Tensor:
    """One ``Float32Tensor`` / ``Float64Tensor`` / ``Int32Tensor``: dense when ``keys`` is empty."""

    dtype: str
    values: np.ndarray
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    shape: tuple[int, ...] = ()

    @property
    def is_sparse(self) -> bool:
        """Sparse when it has keys, or no values but a shape (an all-zero sparse row)."""
        return len(self.keys) > 0 or (len(self.values) == 0 and bool(self.shape))


@dataclass
class Record:
    """One record: named feature and label tensors (``"values"`` by convention)."""

    features: dict[str, Tensor | list[bytes]] = field(default_factory=dict)
    label: dict[str, Tensor | list[bytes]] = field(default_factory=dict)
    uid: str | None = None
    metadata: str | None = None
    configuration: str | None = None


# --- encoding ---------------------------------------------------------------


def _varint(n: int) -> bytes:
    n &= _U64  # negative int32 values are sign-extended to 64 bits, as protobuf does
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | _LEN) + _varint(len(payload)) + payload


def _encode_tensor(t: Tensor) -> bytes:
    parts = []
    if len(t.values):
        if t.dtype in _FIXED:
            payload = np.ascontiguousarray(t.values, dtype=_FIXED[t.dtype][0]).tobytes()
        else:
            payload = b"".join(_varint(int(v)) for v in t.values)
        parts.append(_len_field(1, payload))
    if len(t.keys):
        parts.append(_len_field(2, b"".join(_varint(int(k)) for k in t.keys)))
    if t.shape:
        parts.append(_len_field(3, b"".join(_varint(int(s)) for s in t.shape)))
    return b"".join(parts)


def _encode_value(value: Tensor | list[bytes]) -> bytes:
    if isinstance(value, Tensor):
        return _len_field(_TENSOR_FIELD[value.dtype], _encode_tensor(value))
    return _len_field(_BYTES_FIELD, b"".join(_len_field(1, item) for item in value))


def _encode_map(number: int, entries: dict[str, Tensor | list[bytes]]) -> bytes:
    return b"".join(_len_field(number, _len_field(1, key.encode()) + _len_field(2, _encode_value(value)))
                    for key, value in entries.items())


def encode_record(record: Record) -> bytes:
    """Serialize ``record`` as the protobuf runtime would."""
    out = [_encode_map(1, record.features), _encode_map(2, record.label)]
    for number, name in _STRING_FIELDS.items():
        text = getattr(record, name)
        if text is not None:
            out.append(_len_field(number, text.encode()))
    return b"".join(out)


# --- decoding ---------------------------------------------------------------


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise RecordFormatError("a varint runs past the end of the message")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & _U64, pos
        shift += 7
        if shift >= 70:
            raise RecordFormatError("a varint is longer than 10 bytes")


def _fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """``(field number, wire type, value)``: ints for varints, bytes for the rest."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        tag, pos = _read_varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise RecordFormatError("field number 0 is invalid")
        if wire == _VARINT:
            value, pos = _read_varint(buf, pos)
            out.append((number, wire, value))
            continue
        if wire == _LEN:
            size, pos = _read_varint(buf, pos)
        elif wire in (_I32, _I64):
            size = 4 if wire == _I32 else 8
        else:
            raise RecordFormatError(f"unsupported wire type {wire} (field {number})")
        if pos + size > len(buf):
            raise RecordFormatError(f"field {number} runs past the end of the message")
        out.append((number, wire, buf[pos:pos + size]))
        pos += size
    return out


def _varints(payload: bytes) -> list[int]:
    values, pos = [], 0
    while pos < len(payload):
        value, pos = _read_varint(payload, pos)
        values.append(value)
    return values


def _decode_tensor(dtype: str, buf: bytes) -> Tensor:
    values: list[np.ndarray] = []
    keys: list[int] = []
    shape: list[int] = []
    for number, wire, raw in _fields(buf):
        if number == 1:
            if dtype in _FIXED:
                np_type, unpacked_wire, width = _FIXED[dtype]
                if wire not in (_LEN, unpacked_wire) or len(raw) % width:  # type: ignore[arg-type]
                    raise RecordFormatError(f"{dtype} values have a malformed encoding")
                values.append(np.frombuffer(raw, dtype=np_type))  # type: ignore[arg-type]
            else:
                ints = [raw] if wire == _VARINT else _varints(raw)  # type: ignore[arg-type]
                signed = [v - (1 << 64) if v >> 63 else v for v in ints]  # type: ignore[operator]
                values.append(np.asarray(signed, dtype=np.int64).astype(np.int32))
        elif number in (2, 3):
            ints = [raw] if wire == _VARINT else _varints(raw)  # type: ignore[arg-type]
            (keys if number == 2 else shape).extend(ints)  # type: ignore[arg-type]
    np_dtype = {"float32": np.float32, "float64": np.float64, "int32": np.int32}[dtype]
    merged = np.concatenate(values).astype(np_dtype, copy=False) if values else np.zeros(0, dtype=np_dtype)
    return Tensor(dtype, merged, np.asarray(keys, dtype=np.uint64), tuple(shape))


def _decode_value(buf: bytes) -> Tensor | list[bytes]:
    found: Tensor | list[bytes] | None = None
    for number, wire, raw in _fields(buf):
        if wire != _LEN:
            continue
        if number in _FIELD_TENSOR:
            found = _decode_tensor(_FIELD_TENSOR[number], raw)  # type: ignore[arg-type]
        elif number == _BYTES_FIELD:
            found = [bytes(v) for n, w, v in _fields(raw) if n == 1 and w == _LEN]  # type: ignore[arg-type]
    if found is None:
        raise RecordFormatError("a feature or label value holds no tensor")
    return found


def decode_record(buf: bytes) -> Record:
    """Parse one serialized Record; raise :class:`RecordFormatError` if malformed."""
    record = Record()
    for number, wire, raw in _fields(buf):
        if number in (1, 2) and wire == _LEN:
            key, value = "", None
            for n, w, v in _fields(raw):  # type: ignore[arg-type]
                if n == 1 and w == _LEN:
                    key = bytes(v).decode("utf-8", errors="replace")  # type: ignore[arg-type]
                elif n == 2 and w == _LEN:
                    value = _decode_value(v)  # type: ignore[arg-type]
            if value is None:
                raise RecordFormatError(f"the {'feature' if number == 1 else 'label'} {key!r} has no value")
            (record.features if number == 1 else record.label)[key] = value
        elif number in _STRING_FIELDS and wire == _LEN:
            setattr(record, _STRING_FIELDS[number], bytes(raw).decode("utf-8", errors="replace"))  # type: ignore[arg-type]
    return record

