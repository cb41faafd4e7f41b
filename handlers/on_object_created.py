"""Start a training job when a file lands under ``datasets/<name>/train/``."""

from __future__ import annotations

import logging

from handlers.deps import Deps
from handlers.events import ObjectCreated
from handlers.lambda_adapter import make_lambda_handler
from handlers.registry import OnObjectCreated, handler
from services.core.exceptions import ResourceInUse
from services.core.tasks import Task
from services.training.trigger import job_name_for, match_upload, training_request_for
from services.tuning.trigger import start_tuning_for_upload

log = logging.getLogger(__name__)


@handler("start-training-on-upload",
         OnObjectCreated(bucket="data_bucket", key={"wildcard": "datasets/*/train/*"}))
async def handle(event: ObjectCreated, deps: Deps) -> str | None:
    """Start a training job for a dataset's new training file (idempotent per upload)."""
    upload = match_upload(event.bucket, event.key)
    if upload is None:
        return None  # the rule's pattern is broad on some emulators; the convention is exact
    # With datasets/<name>/tuning.json the upload starts a tuning job instead.
    tuning = await start_tuning_for_upload(upload, event.etag, deps.s3, deps.settings, deps.tuning)
    if tuning is not None:
        return tuning
    name = job_name_for(upload, event.etag)
    request = await training_request_for(upload, name, deps.s3, deps.settings)
    try:
        await deps.training.create_training_job(request)
        log.info("started training job %s for %s", name, event.uri)
    except ResourceInUse:
        # The same event delivered again: the job exists. If the first delivery
        # died between creating and enqueueing, hand the task over again; the
        # worker's claim makes a second copy harmless.
        job = await deps.training.describe_training_job(name)
        if job.headwater.worker is None and not job.training_job_status.is_terminal:
            await deps.training.tasks.enqueue(Task(name=name))
        log.info("training job %s exists already for %s", name, event.uri)
    return name


lambda_handler = make_lambda_handler("start-training-on-upload")
