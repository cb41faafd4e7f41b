"""Batch transform's ``DataProcessing``: SageMaker's JSONPath subset and the
join of each input record with its prediction.

* Filters: ``$``, ``$.name``, ``$['a','b']``, ``$[0]``, ``$[0,2]``, ``$[1:]``,
  ``$[0,5:]``, ``$[:-1]`` (negative indices count from the end). An index
  outside the record is an error, as SageMaker reports it.
* CSV records are handled as JSON arrays of their cells.
* ``JoinSource: Input``: a JSON object gets the prediction under
  ``SageMakerOutput``; any other JSON becomes ``{"SageMakerInput": ...,
  "SageMakerOutput": ...}``; a CSV row gets the prediction's cells appended.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Any

_PATH = re.compile(r"^\$(?:\.(?P<name>[A-Za-z_][\w-]*)|\[(?P<sel>[^\]]+)\])?$")
_SLICE = re.compile(r"^(-?\d*):(-?\d*)$")


class DataProcessingError(ValueError):
    """A filter that does not apply to a record, or a record that cannot be joined."""


@dataclass(frozen=True)
class JsonPath:
    """A parsed filter expression."""

    text: str
    name: str | None = None
    names: tuple[str, ...] = ()
    parts: tuple[int | slice, ...] = ()

    @property
    def is_identity(self) -> bool:
        """``$``: the whole record."""
        return self.name is None and not self.names and not self.parts

    def apply(self, value: Any) -> Any:
        """Select from ``value`` (a dict for names, a list for indices)."""
        if self.is_identity:
            return value
        if self.name is not None or self.names:
            if not isinstance(value, dict):
                raise DataProcessingError(f"{self.text} selects by name but the record is not a JSON object")
            if self.name is not None:
                if self.name not in value:
                    raise DataProcessingError(f"{self.text}: the record has no {self.name!r}")
                return value[self.name]
            missing = [n for n in self.names if n not in value]
            if missing:
                raise DataProcessingError(f"{self.text}: the record has no {', '.join(map(repr, missing))}")
            return {n: value[n] for n in self.names}
        if not isinstance(value, list):
            raise DataProcessingError(f"{self.text} selects by index but the record is not an array")
        out: list[Any] = []
        for part in self.parts:
            if isinstance(part, slice):
                out.extend(value[part])
            else:
                if not -len(value) <= part < len(value):
                    raise DataProcessingError(f"{self.text}: index {part} is outside a record of {len(value)}")
                out.append(value[part])
        return out


def parse_path(text: str | None) -> JsonPath:
    """Parse a filter; ``$`` (or empty) selects everything."""
    text = (text or "$").strip()
    m = _PATH.match(text)
    if m is None:
        raise DataProcessingError(f"Unsupported JSONPath {text!r}: expected $, $.name, $['a','b'] or $[indices]")
    if m["name"]:
        return JsonPath(text, name=m["name"])
    if not m["sel"]:
        return JsonPath(text)
    items = [s.strip() for s in m["sel"].split(",")]
    if all(len(i) >= 2 and i[0] == i[-1] and i[0] in "'\"" for i in items):
        return JsonPath(text, names=tuple(i[1:-1] for i in items))
    parts: list[int | slice] = []
    for item in items:
        if sm := _SLICE.match(item):
            parts.append(slice(int(sm[1]) if sm[1] else None, int(sm[2]) if sm[2] else None))
        elif re.fullmatch(r"-?\d+", item):
            parts.append(int(item))
        else:
            raise DataProcessingError(f"Unsupported JSONPath {text!r}: {item!r} is neither an index nor a slice")
    return JsonPath(text, parts=tuple(parts))


def is_csv(content_type: str | None) -> bool:
    """CSV records are rows; everything else here is JSON (Lines)."""
    return (content_type or "").split(";")[0].strip().lower() in ("text/csv", "csv")


def decode_record(raw: bytes, content_type: str | None) -> Any:
    """A record as a JSON value (CSV rows as arrays of cell strings)."""
    text = raw.decode("utf-8").rstrip("\r\n")
    if is_csv(content_type):
        return next(csv.reader([text]), [])
    return json.loads(text)


def encode_record(value: Any, content_type: str | None) -> bytes:
    """A JSON value back in the record's format."""
    if is_csv(content_type):
        row = value if isinstance(value, list) else [value]
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(["" if v is None else v for v in row])
        return buf.getvalue().encode()
    return json.dumps(value, separators=(",", ":")).encode()


def join_input(input_value: Any, output_raw: bytes, input_type: str | None, output_type: str | None) -> Any:
    """The input record joined with its prediction, as ``JoinSource: Input`` does."""
    if is_csv(input_type):
        prediction = decode_record(output_raw, "text/csv") if is_csv(output_type) else [output_raw.decode().strip()]
        return list(input_value) + list(prediction)
    try:
        prediction = decode_record(output_raw, output_type) if not is_csv(output_type) else output_raw.decode().strip()
    except json.JSONDecodeError:
        prediction = output_raw.decode("utf-8", errors="replace").strip()
    if isinstance(input_value, dict):
        return {**input_value, "SageMakerOutput": prediction}
    return {"SageMakerInput": input_value, "SageMakerOutput": prediction}
