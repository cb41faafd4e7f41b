"""Job-scoped credentials: a session of the job's execution role, as SageMaker gives a job.

SageMaker runs a job's code as its ``RoleArn``: the container's AWS SDK finds
temporary credentials of that role, never the service's own. Headwater
assumes the role (``sts:AssumeRole``, session named after the job) when an
attempt starts and passes the session's keys in the container's environment
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``). On
an emulator the session is the emulator's; on AWS the role must trust the
node's identity. The session lasts as long as the role allows for the job's
``MaxRuntimeInSeconds`` (at most 12 hours); it is not refreshed.
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import ClientError

from services.core.exceptions import JobFailed

MIN_SESSION_SECONDS = 900  # STS's bounds for DurationSeconds
MAX_SESSION_SECONDS = 43200
DEFAULT_ROLE_MAX_SECONDS = 3600  # a role's MaxSessionDuration unless its owner raised it

_SESSION_NAME_CHARS = re.compile(r"[^\w+=,.@-]")


def session_name(job_name: str) -> str:
    """A RoleSessionName for ``job_name`` (2-64 characters of ``[\\w+=,.@-]``)."""
    return (_SESSION_NAME_CHARS.sub("-", job_name) + "-job")[:64]


class JobCredentials:
    """``AssumeRole`` over an injected aiobotocore STS client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def environment(self, role_arn: str, job_name: str, seconds: int | None) -> dict[str, str]:
        """The AWS variables of a session of ``role_arn`` for job ``job_name`` running up to ``seconds``.

        :class:`JobFailed` (``ClientError: ...``, as SageMaker words it) when the role cannot be assumed."""
        duration = max(MIN_SESSION_SECONDS, min(seconds or MAX_SESSION_SECONDS, MAX_SESSION_SECONDS))
        try:
            try:
                answer = await self._assume(role_arn, job_name, duration)
            except ClientError as err:
                # The role's MaxSessionDuration is below the job's runtime: take what the role allows.
                if "MaxSessionDuration" not in str(err) or duration <= DEFAULT_ROLE_MAX_SECONDS:
                    raise
                answer = await self._assume(role_arn, job_name, DEFAULT_ROLE_MAX_SECONDS)
        except ClientError as err:
            error = err.response.get("Error", {})
            raise JobFailed(f"ClientError: could not assume the job's role {role_arn}: "
                            f"{error.get('Code', 'Error')}: {error.get('Message', err)}. The role must exist "
                            f"and its trust policy must let this node's identity assume it.") from err
        creds = answer["Credentials"]
        return {"AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                "AWS_SESSION_TOKEN": creds["SessionToken"]}

    async def _assume(self, role_arn: str, job_name: str, duration: int) -> dict[str, Any]:
        return await self.client.assume_role(RoleArn=role_arn, RoleSessionName=session_name(job_name),
                                             DurationSeconds=duration)
