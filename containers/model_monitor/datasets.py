"""Reading a baselining dataset: CSV (with or without header) or JSON.

``dataset_source`` is a directory (the SDK uploads the dataset as a processing
input) or a single file. Every line that cannot be read is recorded with its
file and line number, and reading goes on.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from containers.model_monitor.config import DatasetFormat
from containers.model_monitor.errors import LineErrors, MonitorInputError
from containers.model_monitor.records import Record, flatten, json_records


@dataclass
class Dataset:
    """The records read, the column names in order, and the lines that failed."""

    records: list[dict[str, Any]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    errors: LineErrors = field(default_factory=LineErrors)

    def add_names(self, names: list[str]) -> None:
        """Remember new column names, keeping first-seen order."""
        known = set(self.names)
        self.names.extend(n for n in names if n not in known and not known.add(n))


def input_files(source: Path) -> list[Path]:
    """The data files under ``source`` (hidden files and directories skipped)."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise MonitorInputError(f"dataset_source {source} does not exist")
    files = sorted(
        p for p in source.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(source).parts)
    )
    if not files:
        raise MonitorInputError(f"dataset_source {source} holds no files")
    return files


def read_dataset(source: Path, fmt: DatasetFormat) -> Dataset:
    """Read every file of a baselining dataset."""
    out = Dataset()
    for path in input_files(source):
        if fmt.kind == "csv":
            _read_csv(path, fmt.header, out)
        elif fmt.kind == "json":
            _read_json_lines(path, out)
        elif fmt.kind == "json_document":
            _read_json_document(path, out)
        else:
            raise MonitorInputError(f"a baselining dataset must be csv or json, not {fmt.kind}")
    return out


def _read_csv(path: Path, header: bool, out: Dataset) -> None:
    names: list[str] | None = None
    width: int | None = None
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle, strict=True)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                out.errors.add(str(path), reader.line_num, f"invalid CSV: {exc}")
                continue
            if not row:
                continue
            if header and names is None:
                names = [h.strip() for h in row]
                out.add_names(names)
                continue
            expected = len(names) if names is not None else width
            if expected is not None and len(row) != expected:
                out.errors.add(str(path), reader.line_num, f"{len(row)} fields where the file has {expected}")
                continue
            if names is None:
                width = len(row)
                row_names = [f"_c{i}" for i in range(width)]
                out.add_names(row_names)
            else:
                row_names = names
            out.records.append(dict(zip(row_names, row)))


def _add(record: Record, out: Dataset) -> None:
    named = record if isinstance(record, dict) else {f"_c{i}": v for i, v in enumerate(record)}
    out.add_names(list(named))
    out.records.append(named)


def _read_json_lines(path: Path, out: Dataset) -> None:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                document = json.loads(line)
            except ValueError as exc:
                out.errors.add(str(path), number, f"invalid JSON: {exc}")
                continue
            if isinstance(document, dict):
                _add(flatten(document), out)
            else:
                for record in json_records(document):
                    _add(record, out)


def _read_json_document(path: Path, out: Dataset) -> None:
    try:
        document = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except ValueError as exc:
        out.errors.add(str(path), getattr(exc, "lineno", 1), f"invalid JSON: {exc}")
        return
    for record in json_records(document):
        _add(record, out)
