"""The data of a retraining run: what the serving model was trained on, plus what it has seen since.

Captured invocations (SageMaker's data-capture JSON Lines) are joined with
ground-truth labels (the model-quality monitor's format, matched on
``eventId``) into label-first CSV rows, written next to the run, and a
``ManifestFile`` names the original training objects and that file
together, so the new training job reads both without copying the original
data. Captured records without a label cannot teach a supervised model and
are counted, not used.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from containers.shared.capture import CaptureLineError, decode_payload, parse_line
from services.aws.s3 import S3Adapter, parse_s3_uri
from services.inputs.manifests import read_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelledCaptures:
    """Captured rows joined with their labels."""

    rows: list[str]  # "label,f1,f2,..." CSV lines
    captured: int  # captured records in the window
    skipped_lines: int  # capture or ground-truth lines that could not be read


async def _lines(s3: S3Adapter, uri: str) -> list[tuple[str, int, str]]:
    """``(s3 uri, line number, text)`` of every object under ``uri``."""
    bucket, prefix = parse_s3_uri(uri)
    out = []
    async for obj in s3.list_objects(bucket, prefix):
        body = await s3.get_bytes(bucket, obj.key) or b""
        for number, line in enumerate(body.decode("utf-8", errors="replace").splitlines(), start=1):
            if line.strip():
                out.append((f"s3://{bucket}/{obj.key}", number, line))
    return out


async def ground_truth(s3: S3Adapter, uri: str) -> tuple[dict[str, list[str]], int]:
    """eventId -> label lines, from every ground-truth file under ``uri``; and the unreadable line count."""
    labels: dict[str, list[str]] = {}
    bad = 0
    for where, number, line in await _lines(s3, uri):
        try:
            doc = json.loads(line)
            payload = decode_payload(doc.get("groundTruthData"), "groundTruthData")
            event_id = (doc.get("eventMetadata") or {}).get("eventId")
            if payload is None or not event_id:
                raise CaptureLineError("no groundTruthData or eventMetadata.eventId")
        except (ValueError, AttributeError, CaptureLineError) as err:
            log.warning("ground truth %s line %d skipped: %s", where, number, err)
            bad += 1
            continue
        labels[event_id] = [v.strip() for v in payload.data.strip().splitlines()]
    return labels, bad


async def labelled_captures(s3: S3Adapter, capture_uri: str, since: datetime | None,
                            ground_truth_uri: str | None) -> LabelledCaptures:
    """CSV rows ``label,features`` for captured CSV requests made since ``since`` that have ground truth."""
    labels, bad = (await ground_truth(s3, ground_truth_uri)) if ground_truth_uri else ({}, 0)
    # Capture lines carry whole seconds: a request in the same second as ``since`` counts.
    since = since.replace(microsecond=0) if since is not None else None
    rows: list[str] = []
    captured = 0
    for where, number, line in await _lines(s3, capture_uri):
        try:
            event = parse_line(line, where, number)
        except CaptureLineError as err:
            log.warning("capture %s line %d skipped: %s", where, number, err)
            bad += 1
            continue
        if since is not None and event.inference_time is not None and event.inference_time < since:
            continue
        if event.endpoint_input is None or "csv" not in event.endpoint_input.observed_content_type.lower():
            continue
        records = [r.strip() for r in event.endpoint_input.data.strip().splitlines() if r.strip()]
        captured += len(records)
        # SageMaker merges on the caller's inferenceId when the capture has one, else on eventId.
        truth = labels.get(event.inference_id or event.event_id or "")
        if truth is None:
            continue
        if len(truth) != len(records):
            log.warning("capture %s line %d: %d records but %d labels; skipped", where, number, len(records),
                        len(truth))
            bad += 1
            continue
        rows.extend(f"{label},{record}" for label, record in zip(truth, records))
    return LabelledCaptures(rows, captured, bad)


async def channel_objects(s3: S3Adapter, uri: str, data_type: str) -> list[tuple[str, str]]:
    """``(bucket, key)`` of every object an ``S3Prefix`` or ``ManifestFile`` channel reads."""
    if data_type == "ManifestFile":
        return [(e.bucket, e.key) for e in await read_manifest(s3, uri)]
    bucket, prefix = parse_s3_uri(uri)
    return [(bucket, o.key) async for o in s3.list_objects(bucket, prefix) if not o.key.endswith("/")]


async def write_manifest(s3: S3Adapter, objects: list[tuple[str, str]], uri: str) -> None:
    """A ``ManifestFile`` at ``uri`` naming ``objects`` (all in one bucket, as a manifest requires)."""
    buckets = {b for b, _ in objects}
    if len(buckets) != 1:
        raise ValueError(f"a manifest names objects of one bucket; got {sorted(buckets)}")
    bucket = buckets.pop()
    doc: list[object] = [{"prefix": f"s3://{bucket}/"}, *(key for _, key in objects)]
    target_bucket, key = parse_s3_uri(uri)
    await s3.put_bytes(target_bucket, key, json.dumps(doc).encode(), "application/json")


async def features_only(s3: S3Adapter, objects: list[tuple[str, str]], uri: str) -> tuple[list[str], int]:
    """Copy label-first CSV ``objects`` to one features-only CSV at ``uri``; return the labels and row count."""
    labels: list[str] = []
    lines: list[str] = []
    for bucket, key in objects:
        body = (await s3.get_bytes(bucket, key) or b"").decode("utf-8", errors="replace")
        for row in body.splitlines():
            if row.strip():
                label, _, features = row.partition(",")
                labels.append(label.strip())
                lines.append(features)
    bucket, key = parse_s3_uri(uri)
    await s3.put_bytes(bucket, key, ("\n".join(lines) + "\n").encode(), "text/csv")
    return labels, len(lines)


async def prediction_first(s3: S3Adapter, predictions_uri: str, features_uri: str, uri: str) -> int:
    """Rows ``prediction,features`` (the layout of captured CSV traffic) from a transform's output
    and its input, for a data-quality baseline; returns the row count."""
    texts = []
    for source in (predictions_uri, features_uri):
        bucket, key = parse_s3_uri(source)
        body = await s3.get_bytes(bucket, key)
        if body is None:
            raise ValueError(f"{source} does not exist")
        texts.append([line for line in body.decode("utf-8", errors="replace").splitlines() if line.strip()])
    predictions, features = texts
    if len(predictions) != len(features):
        raise ValueError(f"{predictions_uri} has {len(predictions)} lines for {len(features)} in {features_uri}")
    bucket, key = parse_s3_uri(uri)
    rows = "".join(f"{p.split(',', 1)[0].strip()},{f}\n" for p, f in zip(predictions, features))
    await s3.put_bytes(bucket, key, rows.encode(), "text/csv")
    return len(features)
