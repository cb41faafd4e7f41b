"""Ctrl-C to ``headwater up`` while an endpoint it serves captures every request under load.

The node runs as a user runs it, ``headwater up`` in a subprocess, pointed
at a stand-alone emulator (``--aws-endpoint``) so that S3 outlives the node
and the capture can be counted after it has gone. Counted as the other
scenarios of this suite are (:class:`tests.faults.scenarios.Outcome`).
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.faults.scenarios import EndpointLoad, Outcome
from tests.integration.hosting_support import deploy, model_archive, put_model, train_booster, variant
from tests.story import UpProcess
from tests.support import CREDS, wait_for

SCENARIO = "Ctrl-C to `headwater up` under capture load"
CAPTURE_PREFIX = "faults-capture"


def captured_ids(emulator: str, bucket: str, endpoint: str) -> Counter[str]:
    """How many capture lines in S3 carry each ``inferenceId`` of ``endpoint``."""
    s3 = boto3.client("s3", endpoint_url=emulator, config=Config(s3={"addressing_style": "path"}), **CREDS)
    ids: Counter[str] = Counter()
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{CAPTURE_PREFIX}/{endpoint}/")
    for page in pages:
        for obj in page.get("Contents", []):
            for line in s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().splitlines():
                record: dict[str, Any] = json.loads(line)
                ids[record["eventMetadata"].get("inferenceId", "")] += 1
    return ids


def interrupted_node(emulator: str, trial: int, state: Path, clients: int = 8, answered_before: int = 40,
                     grace: float = 3.0, timeout: float = 60) -> tuple[Outcome, int | None]:
    """``headwater up`` (stop grace ``grace`` s) serves an endpoint with DataCaptureConfig at 100% sampling to
    ``clients`` closed-loop clients; once ``answered_before`` requests are answered, SIGINT goes to the node's
    process (its pid) with requests in flight. The node must exit on its own, with 0 (a clean Ctrl-C), and
    every request it answered 200 must be in the capture in S3 exactly once. Returns the outcome and the
    node's exit code (``None``: it did not exit).

    "in" counts the requests answered 200; "duplicated" counts those captured more than once and the capture
    lines of requests that were not answered 200; a node that has not exited ``timeout`` s after the signal,
    or a client still waiting for an answer then, is stuck."""
    up = UpProcess(state, "--aws-endpoint", emulator, env={"HEADWATER_STOP_GRACE_SECONDS": str(grace)})
    out = Outcome(SCENARIO, trials=1)
    endpoint = f"ctrlc-{trial}-{uuid.uuid4().hex[:6]}"
    load: EndpointLoad | None = None
    try:
        up.wait_ready()
        put_model(up, endpoint, model_archive(train_booster(trial)))
        bucket = up.settings.artifacts_bucket
        desc = deploy(up, endpoint, [variant("AllTraffic", endpoint)], DataCaptureConfig={
            "EnableCapture": True, "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{bucket}/{CAPTURE_PREFIX}",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]})
        if desc["EndpointStatus"] != "InService":
            out.notes.append(f"{endpoint}: {desc['EndpointStatus']} {desc.get('FailureReason', '')}")
            out.stuck += 1
            return out, None
        load = EndpointLoad(up.endpoints["runtime"], endpoint, clients)
        load.start()
        wait_for(lambda: load is not None and load.ok() >= answered_before, timeout,
                 what="the endpoint to answer under load")
        fault_at = time.time()
        try:
            code: int | None = up.interrupt(timeout)  # SIGINT to the node's pid; closed-loop clients wait on it
            out.recover_s.append(time.time() - fault_at)
        except subprocess.TimeoutExpired:
            code = None
            out.stuck += 1
            out.notes.append(f"the node still ran {timeout:.0f} s after Ctrl-C")
        waiting = load.stop(timeout)
        if waiting:
            out.stuck += waiting
            out.notes.append(f"{waiting} clients still waited for an answer after the node exited")
        answered_after = sum(ok and t > fault_at for t, ok in load.results)
        ids = captured_ids(emulator, bucket, endpoint)
        out.items_in = len(load.answered)
        out.once = sum(ids[i] == 1 for i in load.answered)
        out.duplicated = sum(ids[i] > 1 for i in load.answered)
        out.lost = sum(ids[i] == 0 for i in load.answered)
        # A capture line of a request the node never answered is one line too many as well: the capture
        # would show an inference no client received.
        unanswered = sorted(set(ids) - set(load.answered))
        out.duplicated += len(unanswered)
        out.notes.append(f"{endpoint}: {len(load.results)} requests, {out.items_in} answered 200 "
                         f"({answered_after} after the signal), {sum(ids.values())} capture lines, exit code {code}")
        if unanswered:
            out.notes.append(f"captured without a 200 answer: {len(unanswered)} ({unanswered[:5]})")
        errors = Counter(e.split(":", 1)[0] for e in load.errors)
        if errors:
            out.notes.append(f"failed requests: {dict(errors)}")
        return out, code
    finally:
        if load is not None:
            load.stop(0)
        up.kill()
