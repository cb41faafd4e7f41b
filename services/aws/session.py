"""Creating aiobotocore clients for the configured AWS endpoint.

The only place that knows how to reach AWS (moto, LocalStack or the real
thing). Everything else receives ready clients or adapters.
"""

from __future__ import annotations

import contextlib
import os
from types import TracebackType
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.exceptions import HTTPClientError

from services.core.access import access_token
from services.core.settings import Settings

# Emulators accept any credentials; real AWS uses the default chain.
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

# What a call raises when the AWS endpoint did not answer it (refused, reset, closed or timed out, after the
# client's own retries), as opposed to an answer that refuses the call (``ClientError``).
UNREACHABLE_ERRORS: tuple[type[Exception], ...] = (BotocoreConnectionError, HTTPClientError)


def client_kwargs(settings: Settings, service: str) -> dict[str, Any]:
    """Keyword arguments for ``create_client`` of ``service`` under ``settings``."""
    kwargs: dict[str, Any] = {"region_name": settings.region}
    if not settings.is_real_aws:
        kwargs["endpoint_url"] = settings.endpoint_url
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            kwargs.update(DUMMY_CREDENTIALS)
    config: dict[str, Any] = {"retries": {"max_attempts": 4, "mode": "standard"}, "max_pool_connections": 50}
    if service == "s3":
        # Path-style: bucket names stay out of DNS, which emulators need.
        config["s3"] = {"addressing_style": "path"}
    kwargs["config"] = AioConfig(**config)
    return kwargs


def node_client_kwargs(settings: Settings, service: str, endpoint_url: str) -> dict[str, Any]:
    """Keyword arguments for a client of one of a node's own servers at ``endpoint_url``: with the node's
    access token as its access key id when one is set (see :mod:`services.core.access`)."""
    kwargs = client_kwargs(settings, service)
    kwargs["endpoint_url"] = endpoint_url
    if (token := access_token(settings)) is not None:
        kwargs.update(aws_access_key_id=token, aws_secret_access_key=token)
    return kwargs


def job_aws_env(settings: Settings, control_plane: str | None = None) -> dict[str, str]:
    """The AWS variables a job's container gets: what the job is meant to reach, never the node's keys.

    The region always. On an emulator, its endpoint (``AWS_ENDPOINT_URL``, which boto3 reads) and the
    dummy credentials every emulator accepts, so user code can use the emulated S3 as the node does.
    On AWS no credentials: SageMaker gives a job its execution role's, which a node does not mint, and
    the node's own must not reach user code. With ``control_plane`` (the node's SageMaker endpoint) the
    SageMaker and SageMaker Metrics endpoints, so a job's own SageMaker calls (the SDK's ``load_run()``
    and ``log_metric``) reach the node that runs it, as a SageMaker job's reach SageMaker.
    """
    env = {"AWS_REGION": settings.region, "AWS_DEFAULT_REGION": settings.region}
    if control_plane:
        env["AWS_ENDPOINT_URL_SAGEMAKER"] = env["AWS_ENDPOINT_URL_SAGEMAKER_METRICS"] = control_plane
    if not settings.is_real_aws and settings.endpoint_url:
        env["AWS_ENDPOINT_URL"] = settings.endpoint_url
        env["AWS_ACCESS_KEY_ID"] = DUMMY_CREDENTIALS["aws_access_key_id"]
        env["AWS_SECRET_ACCESS_KEY"] = DUMMY_CREDENTIALS["aws_secret_access_key"]
    return env


class AwsClients:
    """An async context manager owning one client per AWS service used.

    Attributes ``s3``, ``sqs``, ``events``, ``logs``, ``cloudwatch``, ``iam`` and
    ``sts`` are aiobotocore clients, valid inside ``async with``.
    """

    SERVICES = ("s3", "sqs", "events", "logs", "cloudwatch", "iam", "sts")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stack = contextlib.AsyncExitStack()
        self.s3: Any = None
        self.sqs: Any = None
        self.events: Any = None
        self.logs: Any = None
        self.cloudwatch: Any = None
        self.iam: Any = None
        self.sts: Any = None

    async def __aenter__(self) -> AwsClients:
        session = get_session()
        for service in self.SERVICES:
            client = await self._stack.enter_async_context(
                session.create_client(service, **client_kwargs(self.settings, service))
            )
            setattr(self, service, client)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()
