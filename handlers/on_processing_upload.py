"""Start a processing job when a file lands under ``processing/<name>/input/``.

The convention mirrors training's: ``processing/<name>/processing.json`` in
the data bucket holds a ``CreateProcessingJob`` request template (any
``ProcessingJobName`` in it is replaced); every upload under
``processing/<name>/input/`` starts one job from it, named from the
upload's bucket, key and ETag so a redelivered event names the same job.
"""

from __future__ import annotations

import hashlib
import logging
import re

from handlers.deps import Deps
from handlers.events import ObjectCreated
from handlers.lambda_adapter import make_lambda_handler
from handlers.registry import OnObjectCreated, handler
from services.core.exceptions import ResourceInUse
from services.core.models import parse_model
from services.processing.models import CreateProcessingJobRequest

log = logging.getLogger(__name__)

_KEY = re.compile(r"^processing/(?P<name>[^/]+)/input/.+[^/]$")


def processing_job_name(name: str, bucket: str, key: str, etag: str) -> str:
    """A deterministic, valid ``ProcessingJobName`` for one upload."""
    digest = hashlib.sha256(f"{bucket}/{key}/{etag.strip(chr(34))}".encode()).hexdigest()
    stem = re.sub(r"[^a-zA-Z0-9]+", "-", name).strip("-")[:40] or "processing"
    return f"{stem}-{digest[:12]}"


@handler("start-processing-on-upload",
         OnObjectCreated(bucket="data_bucket", key={"wildcard": "processing/*/input/*"}))
async def handle(event: ObjectCreated, deps: Deps) -> str | None:
    """Start the processing job a folder's template describes (idempotent per upload)."""
    m = _KEY.match(event.key)
    if m is None or deps.processing is None:
        return None
    found = await deps.s3.get_json(event.bucket, f"processing/{m['name']}/processing.json")
    if found is None:
        log.warning("no processing/%s/processing.json template; ignoring %s", m["name"], event.uri)
        return None
    name = processing_job_name(m["name"], event.bucket, event.key, event.etag)
    request = parse_model(CreateProcessingJobRequest, {**found[0], "ProcessingJobName": name})
    try:
        await deps.processing.create_processing_job(request)
        log.info("started processing job %s for %s", name, event.uri)
    except ResourceInUse:
        log.info("processing job %s exists already for %s", name, event.uri)
    return name


lambda_handler = make_lambda_handler("start-processing-on-upload")
