"""The identity a user's shell gets from ``headwater env``: the default execution role, and a session of it.

On an emulator, provisioning creates the default SageMaker execution role (:func:`infra.stack.execution_role`).
A node then assumes it once (``sts:AssumeRole``) and ``headwater env`` exports that session's keys, so
client code acts as the role, as code in a SageMaker notebook does: ``sts:GetCallerIdentity`` answers
``assumed-role/<role>/...`` and code that takes the execution role from the caller's identity (the
SageMaker Python SDK v3's ``ModelTrainer`` without ``role``) finds it. (The SDK's ``get_execution_role()``
does not: it calls STS at AWS's regional endpoint whatever ``AWS_ENDPOINT_URL`` says.)
Emulators accept the session's keys like any other and do not expire them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.core.access import access_token
from services.core.settings import Settings

SESSION_NAME = "headwater"


@dataclass(frozen=True)
class ExecutionRole:
    """The default execution role's ARN, and the keys of a session of it (``None`` where none is exported)."""

    arn: str
    credentials: dict[str, str] | None

    def as_json(self) -> dict[str, Any]:
        """The ``endpoints.json`` members ``headwater env`` reads."""
        doc: dict[str, Any] = {"execution_role": self.arn}
        if self.credentials is not None:
            doc["execution_role_session"] = self.credentials
        return doc


async def execution_role(settings: Settings, clients: Any) -> ExecutionRole | None:
    """The provisioned default role and a session of it; ``None`` on AWS, where the stack declares no role.

    With an access token set no session is taken: the access key id a client sends must then be the
    node's token (see :mod:`services.core.access`), which a session's key cannot be."""
    if settings.is_real_aws:
        return None
    arn = (await clients.iam.get_role(RoleName=settings.execution_role))["Role"]["Arn"]
    if access_token(settings) is not None:
        return ExecutionRole(arn, None)
    creds = (await clients.sts.assume_role(RoleArn=arn, RoleSessionName=SESSION_NAME))["Credentials"]
    return ExecutionRole(arn, {"AccessKeyId": creds["AccessKeyId"], "SecretAccessKey": creds["SecretAccessKey"],
                               "SessionToken": creds["SessionToken"]})
