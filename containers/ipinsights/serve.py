"""Inference for IP Insights: the ``dot_product`` of each (entity, IP address) pair.

Reads ``text/csv`` (``entity, ip`` per line), ``application/json``
(``{"instances": [{"data": {"features": {"values": [entity, ip]}}},
{"features": [entity, ip]}]}``, or a list of pairs) and
``application/jsonlines`` (one such instance per line); like SageMaker's,
it does not read RecordIO-protobuf. Answers ``{"predictions":
[{"dot_product": ...}]}`` (JSON), one object per line (JSON Lines) or one
value per line (CSV); ``verbose=True`` on the Accept type adds
``entity_embedding`` and ``ip_embedding``.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import torch

from containers.common.serving import BadInput, InferenceHandler, media_type
from containers.ipinsights import algorithm
from containers.ipinsights.encoding import entity_buckets, ip_array, parse_ip
from containers.ipinsights.train import MODEL_FILE

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
TYPES = (CSV, JSON, JSONLINES)


def model_fn(model_dir: str) -> algorithm.IPInsightsNet:
    """The network saved by training."""
    torch.set_num_threads(1)  # requests are small: threads would spin more than they compute
    saved = torch.load(Path(model_dir) / MODEL_FILE, weights_only=True)
    net = algorithm.IPInsightsNet(**saved["shape"])
    net.load_state_dict(saved["state"])
    return net.eval()


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadInput(f"The request body is not UTF-8 text: {err.reason} at byte {err.start}.") from None


def _pair(item: Any, record: int) -> list[str]:
    """An instance in any of SageMaker's JSON forms -> [entity, ip]."""
    if isinstance(item, dict):
        if "data" in item:
            item = item["data"]
        if isinstance(item, dict) and "features" in item:
            item = item["features"]
        if isinstance(item, dict) and "values" in item:
            item = item["values"]
    if not isinstance(item, list) or len(item) != 2 or not all(isinstance(v, str) for v in item):
        raise BadInput(f"Record {record}: expected a pair of strings [entity, ip address], "
                       f"got {json.dumps(item)[:80]}.")
    return item


def _load(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise BadInput(f"{where} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}.") from None


def input_fn(body: bytes, content_type: str) -> list[list[str]]:
    """Decode the request into [entity, ip] pairs."""
    text = _text(body)
    if content_type == CSV:
        rows = [row for row in csv.reader(io.StringIO(text), skipinitialspace=True) if row]
        for number, row in enumerate(rows, start=1):
            if len(row) != 2:
                raise BadInput(f"Record {number} has {len(row)} columns; send 'entity, ip address' per line.")
        pairs = rows
    elif content_type == JSON:
        doc = _load(text, "The request body")
        items = doc.get("instances") if isinstance(doc, dict) else doc
        if isinstance(items, list) and len(items) == 2 and all(isinstance(v, str) for v in items):
            items = [items]  # one bare pair
        if not isinstance(items, list):
            raise BadInput('Expected {"instances": [...]} or a list of [entity, ip address] pairs.')
        pairs = [_pair(item, n) for n, item in enumerate(items, start=1)]
    else:
        lines = [line.strip().rstrip(",") for line in text.splitlines() if line.strip()]
        pairs = [_pair(_load(line, f"Record {n}"), n) for n, line in enumerate(lines, start=1)]
    if not pairs:
        raise BadInput("The request holds no (entity, ip address) pairs.")
    return [[entity.strip(), ip.strip()] for entity, ip in pairs]


def predict_fn(pairs: list[list[str]], net: algorithm.IPInsightsNet) -> dict[str, Any]:
    """Dot products and embeddings of the pairs."""
    packed = []
    for number, (_, address) in enumerate(pairs, start=1):
        ip = parse_ip(address)
        if ip is None:
            raise BadInput(f"Record {number}: {address[:40]!r} is not an IPv4 or IPv6 address.")
        packed.append(ip)
    entities = entity_buckets((entity for entity, _ in pairs), int(net.entity.shape[0]))
    dot, entity_vectors, ip_vectors = algorithm.embed(net, entities, ip_array(packed))
    return {"dot_product": dot, "entity_embedding": entity_vectors, "ip_embedding": ip_vectors}


def _verbose(accept: str) -> bool:
    for param in accept.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "verbose" and value.strip().lower() in ("true", "1"):
            return True
    return False


def output_fn(prediction: dict[str, Any], accept: str) -> tuple[str, str]:
    """Encode in the ``Accept`` type; ``verbose=True`` adds the embeddings."""
    media, verbose = media_type(accept), _verbose(accept)
    rows = []
    for i, dot in enumerate(prediction["dot_product"]):
        row: dict[str, Any] = {"dot_product": float(dot)}
        if verbose:
            row["entity_embedding"] = prediction["entity_embedding"][i].tolist()
            row["ip_embedding"] = prediction["ip_embedding"][i].tolist()
        rows.append(row)
    if media == JSONLINES:
        return "".join(json.dumps(r) + "\n" for r in rows), JSONLINES
    if media == CSV:
        return "".join(f"{r['dot_product']}\n" for r in rows), CSV
    return json.dumps({"predictions": rows}), JSON


def handler() -> InferenceHandler:
    """The hooks for :func:`containers.common.model_server.serve`."""
    return InferenceHandler(model_fn=model_fn, input_fn=input_fn, predict_fn=predict_fn, output_fn=output_fn,
                            content_types=TYPES, accepts=TYPES, default_accept=JSON, accept_parameters=True)
