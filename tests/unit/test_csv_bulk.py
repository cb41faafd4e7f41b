"""Large CSV request bodies: the bulk parser agrees with the exact one and leaves odd input to it."""

from __future__ import annotations

import contextlib
import io
import sys

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
    lambda b: b.replace(b",", b',"', 1).replace(b",", b'",', 2).replace(b'",', b",", 1),  # a quoted cell
])
@pytest.mark.parametrize("parser", ["pyarrow", "pandas"])
def test_odd_bodies_go_to_the_exact_path(edit, parser: str,  # type: ignore[no-untyped-def]
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if parser == "pandas":  # an image without pyarrow
        monkeypatch.setitem(sys.modules, "pyarrow", None)
    body = edit(_body(20_000))
    assert _csv_bulk(body) is None
    with pytest.raises(BadInput) if b"x" in body or b"1,2\n" in body or b'"' in body else contextlib.nullcontext():
        decode_csv(body)



def test_blank_lines_are_skipped_as_the_exact_path_skips_them() -> None:
    body = _body(20_000).replace(b"\n", b"\n\n", 1)
    bulk = _csv_bulk(body)
    assert bulk is not None and bulk.shape == (20_000, 9)
    assert np.array_equal(bulk, np.loadtxt(body.decode().splitlines(), delimiter=",", dtype=np.float32, ndmin=2))


def test_empty_cells_are_missing_values_in_both_bulk_parsers(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second, rest = _body(20_000).split(b"\n", 2)
    body = b"\n".join([first, second[second.index(b","):], rest])  # row 2's first cell is empty
    exact = np.array([[float(c) if c else np.nan for c in line.split(",")] for line in body.decode().splitlines()],
                     dtype=np.float32)
    arrow = _csv_bulk(body)
    assert arrow is not None and np.isnan(arrow[1, 0]) and np.array_equal(arrow, exact, equal_nan=True)
    # An image without pyarrow (pandas only) reads the body the same way.
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    pandas_read = _csv_bulk(body)
    assert pandas_read is not None and np.array_equal(pandas_read, exact, equal_nan=True)
