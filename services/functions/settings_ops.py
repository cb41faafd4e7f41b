"""A function's settings beside its code: reserved concurrency, resource policy, event invoke configs, tags.

Permissions (``AddPermission``) are recorded and returned by ``GetPolicy``
as Lambda returns them; Headwater does not enforce them.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from services.functions.exceptions import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from services.functions.models import DEFAULT_MAX_EVENT_AGE, DEFAULT_RETRY_ATTEMPTS, EventInvokeConfig, FunctionDoc
from services.functions.names import LATEST
from services.functions.service import FunctionsService

# Destinations Headwater delivers to: an SQS queue, an EventBridge bus, another function.
_DESTINATION = re.compile(r"^arn:aws[a-z-]*:(sqs|events|lambda):[a-z0-9-]+:\d{12}:.+$")


class FunctionSettings:
    """Concurrency, permissions, event invoke configurations and tags of functions."""

    def __init__(self, functions: FunctionsService, max_concurrency: int) -> None:
        self.functions = functions
        self.max_concurrency = max_concurrency  # what the node runs at once; no function may reserve more

    # ------------------------------------------------------------------ concurrency

    async def put_concurrency(self, name: str, reserved: int) -> dict[str, Any]:
        """``PutFunctionConcurrency``."""
        if reserved > self.max_concurrency:
            raise InvalidParameterValueException(
                f"Specified ReservedConcurrentExecutions for function ({reserved}) is more than this node's "
                f"concurrency ({self.max_concurrency}, HEADWATER_FUNCTION_CONCURRENCY)")

        def change(d: FunctionDoc) -> FunctionDoc:
            d.reserved_concurrency = reserved
            return d

        await self.functions.require(name)
        await self.functions.update_doc(name, change)
        return {"ReservedConcurrentExecutions": reserved}

    async def get_concurrency(self, name: str) -> dict[str, Any]:
        """``GetFunctionConcurrency`` (empty when none is reserved)."""
        doc = await self.functions.require(name)
        return {} if doc.reserved_concurrency is None else {"ReservedConcurrentExecutions": doc.reserved_concurrency}

    async def delete_concurrency(self, name: str) -> None:
        """``DeleteFunctionConcurrency``."""
        def change(d: FunctionDoc) -> FunctionDoc:
            d.reserved_concurrency = None
            return d

        await self.functions.require(name)
        await self.functions.update_doc(name, change)

    # ------------------------------------------------------------------ permissions

    async def add_permission(self, name: str, qualifier: str | None, params: dict[str, Any]) -> dict[str, Any]:
        """``AddPermission``: one statement of the function's (or qualifier's) resource-based policy."""
        key = await self._policy_key(name, qualifier)
        sid = params["StatementId"]
        statement: dict[str, Any] = {
            "Sid": sid, "Effect": "Allow", "Action": params["Action"],
            "Resource": self.functions.arn(name, qualifier),
            "Principal": ({"Service": params["Principal"]} if "." in params["Principal"] and
                          not params["Principal"].startswith("arn:") else {"AWS": params["Principal"]}),
        }
        condition: dict[str, Any] = {}
        if params.get("SourceArn"):
            condition.setdefault("ArnLike", {})["AWS:SourceArn"] = params["SourceArn"]
        if params.get("SourceAccount"):
            condition.setdefault("StringEquals", {})["AWS:SourceAccount"] = params["SourceAccount"]
        if params.get("PrincipalOrgID"):
            condition.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = params["PrincipalOrgID"]
        if params.get("FunctionUrlAuthType"):
            condition.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = params["FunctionUrlAuthType"]
        if condition:
            statement["Condition"] = condition

        def change(d: FunctionDoc) -> FunctionDoc:
            _check_policy_revision(d, key, params.get("RevisionId"))
            statements = d.policies.setdefault(key, [])
            if any(s["Sid"] == sid for s in statements):
                raise ResourceConflictException(f"The statement id ({sid}) provided already exists. Please provide "
                                                "a new statement id, or remove the existing statement.")
            statements.append(statement)
            d.policy_revisions[key] = str(uuid.uuid4())
            return d

        await self.functions.update_doc(name, change)
        return {"Statement": json.dumps(statement)}

    async def remove_permission(self, name: str, qualifier: str | None, sid: str, revision: str | None) -> None:
        """``RemovePermission``."""
        key = await self._policy_key(name, qualifier)

        def change(d: FunctionDoc) -> FunctionDoc:
            _check_policy_revision(d, key, revision)
            statements = d.policies.get(key, [])
            if not any(s["Sid"] == sid for s in statements):
                raise ResourceNotFoundException(f"Statement {sid} is not found in resource policy.")
            d.policies[key] = [s for s in statements if s["Sid"] != sid]
            d.policy_revisions[key] = str(uuid.uuid4())
            return d

        await self.functions.update_doc(name, change)

    async def get_policy(self, name: str, qualifier: str | None) -> dict[str, Any]:
        """``GetPolicy``: the policy as a JSON string and its revision."""
        key = await self._policy_key(name, qualifier)
        doc = await self.functions.require(name)
        policy = doc.policy_document(key)
        if policy is None:
            raise ResourceNotFoundException("The resource you requested does not exist.")
        return {"Policy": policy, "RevisionId": doc.policy_revisions.get(key, "")}

    async def _policy_key(self, name: str, qualifier: str | None) -> str:
        doc = await self.functions.require(name)
        if qualifier and qualifier != LATEST and qualifier not in doc.versions and qualifier not in doc.aliases:
            raise ResourceNotFoundException(f"Function not found: {self.functions.arn(name, qualifier)}")
        return qualifier or ""

    # ------------------------------------------------------------------ event invoke configs

    async def put_event_invoke_config(self, name: str, qualifier: str | None, params: dict[str, Any],
                                      merge: bool = False) -> dict[str, Any]:
        """``PutFunctionEventInvokeConfig`` (replaces), or ``UpdateFunctionEventInvokeConfig`` (``merge``)."""
        key = qualifier or LATEST
        doc = await self.functions.require(name)
        if key != LATEST and key not in doc.versions and key not in doc.aliases:
            raise ResourceNotFoundException(f"Function not found: {self.functions.arn(name, key)}")
        for outcome, target in (params.get("DestinationConfig") or {}).items():
            arn = (target or {}).get("Destination")
            if arn and not _DESTINATION.match(arn):
                raise InvalidParameterValueException(
                    f"The destination ARN {arn} ({outcome}) is not supported: Headwater delivers to an SQS queue, "
                    "an EventBridge event bus or a Lambda function")
        now = self.functions.clock()

        def change(d: FunctionDoc) -> FunctionDoc:
            old = d.event_invoke_configs.get(key)
            if merge and old is None:
                raise ResourceNotFoundException(f"The function {self.functions.arn(name, key)} doesn't have an "
                                                "EventInvokeConfig")
            base: dict[str, Any] = {
                "maximum_retry_attempts": DEFAULT_RETRY_ATTEMPTS,
                "maximum_event_age_in_seconds": DEFAULT_MAX_EVENT_AGE, "destination_config": {}}
            if merge and old is not None:
                base = {"maximum_retry_attempts": old.maximum_retry_attempts,
                        "maximum_event_age_in_seconds": old.maximum_event_age_in_seconds,
                        "destination_config": dict(old.destination_config)}
            if "MaximumRetryAttempts" in params:
                base["maximum_retry_attempts"] = params["MaximumRetryAttempts"]
            if "MaximumEventAgeInSeconds" in params:
                base["maximum_event_age_in_seconds"] = params["MaximumEventAgeInSeconds"]
            if "DestinationConfig" in params:
                base["destination_config"].update(params["DestinationConfig"] or {})
            d.event_invoke_configs[key] = EventInvokeConfig(function_arn=self.functions.arn(name, key),
                                                            last_modified=now, **base)
            return d

        _, after = await self.functions.update_doc(name, change)
        return after.event_invoke_configs[key].describe()

    async def get_event_invoke_config(self, name: str, qualifier: str | None) -> dict[str, Any]:
        """``GetFunctionEventInvokeConfig``."""
        key = qualifier or LATEST
        doc = await self.functions.require(name)
        found = doc.event_invoke_configs.get(key)
        if found is None:
            raise ResourceNotFoundException(f"The function {self.functions.arn(name, key)} doesn't have an "
                                            "EventInvokeConfig")
        return found.describe()

    async def delete_event_invoke_config(self, name: str, qualifier: str | None) -> None:
        """``DeleteFunctionEventInvokeConfig``."""
        key = qualifier or LATEST
        await self.get_event_invoke_config(name, qualifier)

        def change(d: FunctionDoc) -> FunctionDoc:
            d.event_invoke_configs.pop(key, None)
            return d

        await self.functions.update_doc(name, change)

    async def list_event_invoke_configs(self, name: str) -> list[dict[str, Any]]:
        """``ListFunctionEventInvokeConfigs``."""
        doc = await self.functions.require(name)
        return [c.describe() for _, c in sorted(doc.event_invoke_configs.items())]

    # ------------------------------------------------------------------ tags

    async def tag(self, name: str, tags: dict[str, str]) -> None:
        """``TagResource``."""
        def change(d: FunctionDoc) -> FunctionDoc:
            d.tags.update(tags)
            return d

        await self.functions.require(name)
        await self.functions.update_doc(name, change)

    async def untag(self, name: str, keys: list[str]) -> None:
        """``UntagResource``."""
        def change(d: FunctionDoc) -> FunctionDoc:
            for k in keys:
                d.tags.pop(k, None)
            return d

        await self.functions.require(name)
        await self.functions.update_doc(name, change)

    async def list_tags(self, name: str) -> dict[str, str]:
        """``ListTags``."""
        return dict((await self.functions.require(name)).tags)


def event_invoke_config(doc: FunctionDoc, executed_version: str, alias: str | None) -> EventInvokeConfig | None:
    """The configuration that governs an ``Event`` invocation: the alias's, else the version's."""
    for key in (alias, executed_version):
        if key and key in doc.event_invoke_configs:
            return doc.event_invoke_configs[key]
    return None


def _check_policy_revision(doc: FunctionDoc, key: str, revision: str | None) -> None:
    if revision and revision != doc.policy_revisions.get(key):
        raise PreconditionFailedException("The RevisionId provided does not match the latest RevisionId for the "
                                          "Lambda function or alias. Call the GetFunction or the GetAlias API to "
                                          "retrieve the latest RevisionId for your resource.")
