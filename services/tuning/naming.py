"""Names of a tuning job's children: ``<tuning-job>-<NNN>-<hash>`` as SageMaker names them."""

from __future__ import annotations

import hashlib
import json
import re

# HyperParameterTuningJobName: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}
TUNING_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")


def child_name(tuning_job: str, index: int, hyper_parameters: dict[str, str]) -> str:
    """The training job name of trial ``index`` (1-based).

    The hash is derived from the tuning job, the index and the
    hyperparameters (SageMaker's is random): a restarted orchestrator that
    re-creates a recorded trial names the same job, so it is never run twice.
    """
    digest = hashlib.sha256(
        json.dumps([tuning_job, index, sorted(hyper_parameters.items())]).encode()).hexdigest()
    return f"{tuning_job}-{index:03d}-{digest[:8]}"


def seed_for(tuning_job: str, random_seed: int | None) -> int:
    """``RandomSeed``, or a seed derived from the job's name (stable across restarts)."""
    if random_seed is not None:
        return random_seed
    return int(hashlib.sha256(tuning_job.encode()).hexdigest()[:8], 16)
