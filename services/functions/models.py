"""The documents of the functions domain: one per function, holding its versions, aliases and settings."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import Field

from services.core.models import ApiModel
from services.functions.names import LATEST

#: Lambda's defaults and bounds for a function's configuration.
DEFAULT_TIMEOUT = 3
DEFAULT_MEMORY = 128
#: Runtimes served: Python ones, run with the node's own interpreter.
PYTHON_RUNTIMES = ("python3.10", "python3.11", "python3.12", "python3.13")
#: Event invocations: Lambda's defaults.
DEFAULT_RETRY_ATTEMPTS = 2
DEFAULT_MAX_EVENT_AGE = 21600


class VersionConfig(ApiModel):
    """One version's ``FunctionConfiguration`` (``$LATEST`` or a published number), as Lambda returns it."""

    function_name: str
    function_arn: str
    runtime: str
    role: str
    handler: str
    code_size: int
    code_sha256: str
    description: str = ""
    timeout: int = DEFAULT_TIMEOUT
    memory_size: int = DEFAULT_MEMORY
    last_modified: str
    version: str = LATEST
    environment: dict[str, Any] | None = None
    dead_letter_config: dict[str, Any] | None = None
    revision_id: str
    state: str = "Pending"
    state_reason: str | None = None
    state_reason_code: str | None = None
    last_update_status: str = "Successful"
    last_update_status_reason: str | None = None
    last_update_status_reason_code: str | None = None
    package_type: str = "Zip"
    architectures: list[str] = Field(default_factory=lambda: ["x86_64"])
    ephemeral_storage: dict[str, Any] = Field(default_factory=lambda: {"Size": 512})
    tracing_config: dict[str, Any] = Field(default_factory=lambda: {"Mode": "PassThrough"})
    logging_config: dict[str, Any] | None = None
    # Headwater's bookkeeping: where the zip is kept in the system bucket.
    code_key: str = Field(alias="HeadwaterCodeKey")

    def describe(self) -> dict[str, Any]:
        """The API's ``FunctionConfiguration``."""
        doc = self.to_api()
        doc.pop("HeadwaterCodeKey", None)
        return doc

    @property
    def variables(self) -> dict[str, str]:
        """The function's own environment variables."""
        return dict((self.environment or {}).get("Variables") or {})

    def same_code_and_settings(self, other: VersionConfig) -> bool:
        """True when publishing ``self`` after ``other`` would publish nothing new (Lambda then returns
        the existing version)."""
        keys = ("runtime", "role", "handler", "code_sha256", "timeout", "memory_size", "environment",
                "dead_letter_config")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


class AliasConfig(ApiModel):
    """An alias (``AliasConfiguration``)."""

    alias_arn: str
    name: str
    function_version: str
    description: str = ""
    revision_id: str
    routing_config: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        """The API's ``AliasConfiguration``."""
        return self.to_api()


class EventInvokeConfig(ApiModel):
    """How ``Event`` invocations of one qualifier are retried and where their results go."""

    function_arn: str
    maximum_retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    maximum_event_age_in_seconds: int = DEFAULT_MAX_EVENT_AGE
    destination_config: dict[str, Any] = Field(default_factory=dict)
    last_modified: datetime

    def describe(self) -> dict[str, Any]:
        """The API's ``FunctionEventInvokeConfig``."""
        return self.to_api()

    def destination(self, outcome: str) -> str | None:
        """The ARN results of ``outcome`` (``OnSuccess`` / ``OnFailure``) go to, if any."""
        return ((self.destination_config or {}).get(outcome) or {}).get("Destination") or None


class FunctionDoc(ApiModel):
    """Everything about one function, in one document of the state store."""

    function_name: str
    latest: VersionConfig
    versions: dict[str, VersionConfig] = Field(default_factory=dict)
    last_version: int = 0
    aliases: dict[str, AliasConfig] = Field(default_factory=dict)
    reserved_concurrency: int | None = None
    # Resource-based policy statements, per qualifier ("" for the unqualified function).
    policies: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    policy_revisions: dict[str, str] = Field(default_factory=dict)
    event_invoke_configs: dict[str, EventInvokeConfig] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)

    def version(self, qualifier: str) -> VersionConfig | None:
        """The configuration of ``$LATEST`` or a published version."""
        return self.latest if qualifier == LATEST else self.versions.get(qualifier)

    def policy_document(self, qualifier: str) -> str | None:
        """The resource-based policy of ``qualifier`` as Lambda returns it (a JSON string), if any."""
        statements = self.policies.get(qualifier)
        if not statements:
            return None
        return json.dumps({"Version": "2012-10-17", "Id": "default", "Statement": statements})
