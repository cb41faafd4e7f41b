"""Headwater's settings, read from ``HEADWATER_*`` environment variables.

One object carries every name the stack uses, so the CLI, the provisioner,
the services and the tests agree on buckets, queues and ports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as ``HEADWATER_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="HEADWATER_", extra="ignore")

    state_dir: Path = Field(default=Path(".headwater"), description="local state: endpoints.json, job work dirs")
    region: str = "us-east-1"
    account_id: str = "123456789012"

    # None: start the embedded moto server. A URL: LocalStack or another emulator.
    # "aws": real AWS (the default credential chain and endpoints).
    aws_endpoint: str | None = None
    emulator_host: str = "127.0.0.1"
    emulator_port: int = 4566
    # The embedded emulator keeps its state under state_dir/emulator across restarts; ephemeral: it
    # starts empty and forgets everything at stop (throwaway runs).
    ephemeral: bool = False

    bind_host: str = "127.0.0.1"
    # Required with a non-loopback bind_host (the APIs run code); once set, every request to the
    # node's servers must carry it: as the SigV4 access key id (AWS_ACCESS_KEY_ID) or a bearer token.
    access_token: SecretStr | None = Field(default=None, description="the node's servers' access token")
    sagemaker_port: int = 4570
    runtime_port: int = 4571
    lambda_port: int = 4572
    autoscaling_port: int = 4573
    # The web console (pages over this node's services); on bind_host like the APIs.
    console_port: int = 4574

    data_bucket: str = "headwater-data"
    artifacts_bucket: str = "headwater-artifacts"
    system_bucket: str = "headwater-system"
    event_bus: str = "headwater"
    resource_prefix: str = "headwater"
    event_source: str = "headwater.sagemaker"
    # The default SageMaker execution role provisioning creates on an emulator (never on AWS), so that clients
    # which resolve or validate a role through IAM (the SageMaker Python SDK v3) find one from the first start.
    execution_role: str = "headwater-sagemaker-execution"

    runner: Literal["process", "docker"] = "process"
    # Images Headwater has no container for (a user's own), each with the Python interpreter that stands in
    # for it under the process runner: {"<image URI>": "<path to a virtualenv's python>"}; a URI without a
    # tag names every tag of that repository (HEADWATER_IMAGE_INTERPRETERS is this as JSON). A job on such an
    # image runs its own ContainerEntrypoint with that interpreter's directory first on PATH.
    image_interpreters: dict[str, str] = Field(default_factory=dict)
    # The process runner's warm templates (services.runners.warm_pool): the resident memory all of them may
    # hold together, in MiB (0 turns the pool off: every host starts a fresh interpreter), and how long one
    # unused is kept.
    warm_pool_memory_mb: int = Field(default=2048, ge=0)
    warm_pool_idle_seconds: float = Field(default=600.0, gt=0)
    handler_concurrency: int = 8
    worker_concurrency: int = 2
    # Orchestrations (tuning jobs) a worker runs at once, on slots of their own.
    orchestration_concurrency: int = 2
    # A message is tried this many times before SQS moves it to the DLQ.
    max_receive_count: int = 3
    # Seconds a received message stays invisible; heartbeats extend it.
    visibility_timeout: int = 30
    # How often a worker heartbeats a running task (must be < visibility_timeout).
    heartbeat_seconds: float = 10.0
    # Attempts a worker makes at a task whose previous worker vanished.
    task_max_attempts: int = 2
    stop_grace_seconds: float = 10.0
    # Keep an ended job's host trees (its /opt/ml: inputs, model, checkpoints) under jobs_dir, to look
    # into them; by default they are removed once the job has ended and only the hosts' logs stay.
    keep_job_trees: bool = False
    # Models one multi-model endpoint instance keeps loaded; past it the least
    # recently used is unloaded (SageMaker unloads when memory runs short).
    max_loaded_models: int = Field(default=16, ge=1)
    # Data capture waiting for S3, in MiB; past it the oldest captured lines are dropped (and counted).
    capture_buffer_mb: int = Field(default=128, ge=1)
    # Shadow variants' copies of requests in flight at once; past it a request is not copied (and counted).
    shadow_max_in_flight: int = Field(default=32, ge=1)
    # SQS wait of handler and worker consumers against an emulator or AWS the
    # node does not embed (against its own, consumers long-poll for 20 s: see
    # services.aws.sqs.ConsumerPolls). Short, so a stop waits at most this long.
    poll_wait_seconds: int = Field(default=1, ge=0, le=20)
    # How often the node checks monitoring schedules and their executions.
    monitoring_tick_seconds: float = 2.0
    # Endpoint autoscaling: how often target-tracking policies are evaluated; the
    # length of one metric datapoint (AWS: 1 minute); how many consecutive
    # datapoints above target scale out (AWS's high alarm: 3) and below 90% of
    # it scale in (AWS's low alarm: 15, scale-in is the conservative side).
    autoscaling_tick_seconds: float = 10.0
    autoscaling_metric_period_seconds: float = 60.0
    autoscaling_scale_out_periods: int = 3
    autoscaling_scale_in_periods: int = 15

    # User functions (the Lambda API): invocations the node runs at once across the functions without reserved
    # concurrency (Lambda's account concurrency, and the most one function may reserve); how long an idle
    # execution environment is kept warm; the first wait before an Event invocation is retried (doubling
    # after; Lambda waits about a minute, then two).
    function_concurrency: int = Field(default=16, ge=1)
    function_idle_seconds: float = Field(default=300.0, gt=0)
    function_retry_seconds: float = Field(default=1.0, ge=0)
    # On an external emulator: how often rules and bucket notifications naming this node's functions are read.
    function_bridge_seconds: float = Field(default=5.0, gt=0)

    def queue_name(self, name: str) -> str:
        """The SQS queue name of a handler or of the task queue."""
        return f"{self.resource_prefix}-{name}"

    def dlq_name(self, name: str) -> str:
        """The dead-letter queue of :meth:`queue_name`."""
        return f"{self.resource_prefix}-{name}-dlq"

    @property
    def is_real_aws(self) -> bool:
        """True when the stack talks to AWS itself rather than an emulator."""
        return self.aws_endpoint == "aws"

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint for AWS clients (``None`` for real AWS)."""
        if self.aws_endpoint in (None, "aws"):
            return None if self.aws_endpoint == "aws" else f"http://{self.emulator_host}:{self.emulator_port}"
        return self.aws_endpoint

    @property
    def jobs_dir(self) -> Path:
        """Where per-job working trees (the ``/opt/ml`` roots) live."""
        return self.state_dir / "jobs"

    @property
    def emulator_state_dir(self) -> Path | None:
        """Where the embedded emulator keeps its state (``None``: ephemeral)."""
        return None if self.ephemeral else self.state_dir / "emulator"

    @property
    def endpoints_file(self) -> Path:
        """The file ``headwater up`` writes its served endpoints to."""
        return self.state_dir / "endpoints.json"
