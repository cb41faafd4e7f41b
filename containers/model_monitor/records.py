"""Turning payloads (CSV text, JSON documents) into records.

A record is either positional (a list of values: CSV lines, JSON arrays) or
named (a dict: JSON objects, flattened with dots). Positional records get
their names later, from the baseline's feature order or as Spark's ``_c<i>``.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

Record = list[Any] | dict[str, Any]


class PayloadError(ValueError):
    """A payload that cannot be turned into records."""


def csv_rows(text: str) -> list[list[str]]:
    """Every CSV line of ``text`` (blank lines dropped)."""
    try:
        return [row for row in csv.reader(io.StringIO(text), strict=True) if row]
    except csv.Error as exc:
        raise PayloadError(f"invalid CSV: {exc}") from None


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A JSON object as one level of ``a.b.c`` names (arrays indexed by position)."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}.{i}" if prefix else str(i)))
    else:
        out[prefix or "_c0"] = value
    return out


def json_records(document: Any) -> list[Record]:
    """The records one JSON request or response holds.

    ``{"instances": [...]}`` (SageMaker's JSON request shape) and top-level
    arrays of rows carry several records; a flat array of scalars is one
    positional record; any other object is one named record.
    """
    if isinstance(document, dict) and set(document) == {"instances"} and isinstance(document["instances"], list):
        return [_instance(item) for item in document["instances"]]
    if isinstance(document, list):
        if document and all(isinstance(item, (list, dict)) for item in document):
            return [_instance(item) for item in document]
        return [list(document)]
    if isinstance(document, dict):
        return [flatten(document)]
    return [[document]]


def _instance(item: Any) -> Record:
    if isinstance(item, dict) and set(item) == {"features"} and isinstance(item["features"], list):
        return list(item["features"])
    if isinstance(item, list):
        return list(item)
    if isinstance(item, dict):
        return flatten(item)
    return [item]


def payload_records(data: str, content_type: str) -> list[Record]:
    """Decode one captured payload by its content type."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if "jsonlines" in kind or "jsonl" in kind:
        records: list[Record] = []
        for line in data.splitlines():
            if line.strip():
                records.extend(json_records(_loads(line)))
        return records
    if "json" in kind:
        return json_records(_loads(data))
    if "csv" in kind or not kind or kind.startswith("text/"):
        return [list(row) for row in csv_rows(data)]
    raise PayloadError(f"content type {content_type!r} cannot be analysed (CSV, JSON or JSON Lines)")


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise PayloadError(f"invalid JSON: {exc}") from None


def combine(inputs: Record | None, outputs: Record | None, output_first: bool) -> Record:
    """One monitored record from an event's input and output record.

    Positional parts are concatenated (outputs first when the baseline was
    written with ``output_columns_position`` START, SageMaker's default).
    """
    labelled = [("endpointOutput", outputs), ("endpointInput", inputs)]
    if not output_first:
        labelled.reverse()
    parts = [(label, p) for label, p in labelled if p is not None]
    if all(isinstance(p, list) for _, p in parts):
        return [v for _, p in parts for v in p]
    merged: dict[str, Any] = {}
    for label, part in parts:
        if isinstance(part, dict):
            merged.update(part)
        else:
            merged.update({f"{label}.{i}": v for i, v in enumerate(part)})
    return merged


def name_record(record: Record, names: list[str]) -> dict[str, Any]:
    """Give a positional record its feature names (``_c<i>`` past the known ones)."""
    if isinstance(record, dict):
        return record
    return {(names[i] if i < len(names) else f"_c{i}"): v for i, v in enumerate(record)}
