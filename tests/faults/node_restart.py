"""A node SIGKILLed mid-training with an endpoint serving, then started again on the same state folder.

``headwater up`` runs as a user runs it, on its embedded emulator, whose
state is kept under the state folder. The whole node goes at once, as in a
power cut: its process and every process it started (the training
container, the endpoint's instance), each by its id. The next ``headwater
up`` must bring back what it held: the job is finished exactly once (one
model upload), the endpoint serves again with the same answer, nothing is
stuck. Counted as the other scenarios of this suite are
(:class:`tests.faults.scenarios.Outcome`): "in" is the job and the
endpoint.
"""

from __future__ import annotations

import contextlib
import signal
import time
import uuid
from pathlib import Path

import numpy as np
import psutil
from botocore.exceptions import ClientError, EndpointConnectionError

from tests.faults.scenarios import SHORT_ROUNDS, Outcome, _job_outcome
from tests.integration.hosting_support import csv_row, deploy, model_archive, put_model, train_booster, variant
from tests.story import UpProcess
from tests.support import committed_s3_keys, wait_for
from tests.worker_processes import slow_job, started, training_attempt

SCENARIO = "node SIGKILLed and restarted"
# Quick redelivery of the killed attempt's task: the restarted node's worker takes the job over once its
# task's visibility (extended by heartbeats until the kill) lapses.
NODE_ENV = {"HEADWATER_VISIBILITY_TIMEOUT": "6", "HEADWATER_HEARTBEAT_SECONDS": "1",
            "HEADWATER_STOP_GRACE_SECONDS": "3"}


def _power_cut(up: UpProcess) -> None:
    """SIGKILL the node and every process it started (ours, by id), all at once."""
    node = psutil.Process(up.proc.pid)
    family = [node, *node.children(recursive=True)]
    for proc in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGKILL)
    up.proc.wait(10)
    psutil.wait_procs([p for p in family if p.pid != up.proc.pid], timeout=10)


def _answer(up: UpProcess, endpoint: str, body: bytes) -> bytes | None:
    try:
        return bytes(up.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Body=body)["Body"].read())
    except (ClientError, EndpointConnectionError):
        return None


def killed_node(trial: int, root: Path, timeout: float = 120) -> Outcome:
    """Kill a node mid-training with an endpoint serving; start it again; count what came back."""
    state = root / f"node-{trial}"
    name = f"power-{trial}-{uuid.uuid4().hex[:6]}"
    endpoint = f"kept-{trial}-{uuid.uuid4().hex[:6]}"
    row = csv_row(np.linspace(-1, 1, 4))
    up = UpProcess(state, "--port", "0", env=NODE_ENV)
    again: UpProcess | None = None
    try:
        up.wait_ready()
        put_model(up, endpoint, model_archive(train_booster(trial)))
        assert deploy(up, endpoint, [variant("AllTraffic", endpoint)])["EndpointStatus"] == "InService"
        before = _answer(up, endpoint, row)
        assert before is not None
        slow_job(up, name, num_round=SHORT_ROUNDS)  # type: ignore[arg-type]  (a node: settings and clients)
        sm = up.client("sagemaker")
        job_log = up.settings.jobs_dir / name / "algo-1.log"
        wait_for(lambda: training_attempt(sm, name, 1) and started(job_log, 1), 60, what="attempt 1 training")
        # A SIGKILL loses up to the last second of writes, by design: kill once the job is in a snapshot, so the
        # restart has a job to finish (a job created in the last second is gone with that second, consistently).
        doc, bucket = f"state/training-jobs/{name}.json", up.settings.system_bucket
        wait_for(lambda: doc in committed_s3_keys(state / "emulator", bucket), 10, what="the job in a snapshot")
        _power_cut(up)
        fault_at = time.time()

        again = UpProcess(state, "--port", "0", env=NODE_ENV)
        again.wait_ready()
        out = _job_outcome(SCENARIO, again.client("sagemaker"), name, fault_at, timeout)
        out.items_in += 1  # the endpoint
        try:
            after = wait_for(lambda: _answer(again, endpoint, row), timeout, what="the endpoint to answer again")
        except AssertionError:
            out.stuck += 1
            out.notes.append(f"{endpoint}: no answer {timeout:.0f} s after the restart")
            return out
        if after != before:
            out.lost += 1
            out.notes.append(f"{endpoint}: answered {after!r}, before the kill {before!r}")
        else:
            out.once += 1
        out.notes.append(f"{name}: restarted node answered the endpoint and finished the job "
                         f"{time.time() - fault_at:.1f} s after the kill")
        return out
    finally:
        for node in (up, again):
            if node is not None and node.proc.poll() is None:
                _power_cut(node)

