"""Large CSV request bodies: the bulk parser agrees with the exact one and leaves odd input to it."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from containers.common.decoders import BULK_BYTES, _csv_bulk, decode_csv
from containers.common.serving import BadInput


def _body(rows: int, seed: int = 0) -> bytes:
    buf = io.StringIO()
    np.savetxt(buf, np.random.default_rng(seed).normal(size=(rows, 9)), delimiter=",", fmt="%.7g")
    return buf.getvalue().encode()


def test_bulk_parse_equals_loadtxt() -> None:
    body = _body(20_000)
    assert len(body) >= BULK_BYTES
    bulk = _csv_bulk(body)
    exact = np.loadtxt(body.decode().splitlines(), delimiter=",", dtype=np.float32, ndmin=2)
    assert bulk is not None and bulk.dtype == np.float32 and np.array_equal(bulk, exact)


@pytest.mark.parametrize("edit", [
    lambda b: b.replace(b"\n", b"\n1,2\n", 1),         # a short row: pandas would pad it with NaN
    lambda b: b.replace(b",", b",x", 1),                # not a number
    lambda b: b.replace(b"\n", b"\n\n", 1),             # a blank line
])
def test_odd_bodies_go_to_the_exact_path(edit) -> None:  # type: ignore[no-untyped-def]
    body = edit(_body(20_000))
    assert _csv_bulk(body) is None
    with pytest.raises(BadInput) if b"x" in body or b"1,2\n" in body else contextlib.nullcontext():
        decode_csv(body)

