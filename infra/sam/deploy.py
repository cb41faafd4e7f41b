"""Making AWS (the node's endpoints, LocalStack or AWS) match a resolved template, with the calls a boto3 user
makes, and saying what changed.

Each resource's desired state is fingerprinted; the stack record (a document in the system bucket) keeps the
fingerprints and physical ids of the last deploy, so a resource whose fingerprint is unchanged and which still
exists is only read, and one the template no longer has is deleted. A deploy with nothing changed writes
nothing, the record included.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, WaiterError
from pydantic import BaseModel, Field

from infra.sam.cfn_yaml import dumps
from infra.sam.package import package
from infra.sam.resources import (
    BUCKET,
    FUNCTION,
    MAPPING,
    NOTIFICATIONS,
    QUEUE,
    RULE,
    FunctionSpec,
    Stack,
)
from services.core.store import DocumentStore

log = logging.getLogger(__name__)

_READS = ("get_", "list_", "describe_", "head_")
_NOT_FOUND = {"ResourceNotFoundException", "NoSuchBucket", "404", "NotFound", "QueueDoesNotExist",
              "AWS.SimpleQueueService.NonExistentQueue", "NoSuchKey"}
_WAIT = {"Delay": 1, "MaxAttempts": 120}
# Deleted last-made-first: what points at a resource goes before it.
_DELETE_ORDER = (NOTIFICATIONS, MAPPING, RULE, FUNCTION, QUEUE, BUCKET)


class ResourceRecord(BaseModel):
    """One resource of a deployed stack."""

    type: str
    physical_id: str
    fingerprint: str
    extra: dict[str, Any] = Field(default_factory=dict)


class StackRecord(BaseModel):
    """What the last deploy of a stack made (``sam-stacks/<stack>.json`` in the system bucket)."""

    stack_name: str
    template: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)
    resources: dict[str, ResourceRecord] = Field(default_factory=dict)


def stack_store(backend: Any) -> DocumentStore[StackRecord]:
    """The stack records over a state store backend."""
    return DocumentStore(backend, "sam-stacks", StackRecord, "Stack")


class CountingClient:
    """An aiobotocore client whose write operations (anything but Get/List/Describe/Head) are counted."""

    def __init__(self, client: Any, writes: list[str]) -> None:
        self._client = client
        self._writes = writes

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        operations = self._client.meta.method_to_api_mapping
        if name not in operations or name.startswith(_READS):
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self._writes.append(f"{self._client.meta.service_model.service_name}:{operations[name]}")
            return await attr(*args, **kwargs)
        return counted


@dataclass
class DeployClients:
    """The clients a deploy calls: Lambda on the node's Lambda endpoint, the rest on its AWS endpoint."""

    lambda_: Any
    s3: Any
    sqs: Any
    events: Any
    region: str = "us-east-1"


@dataclass
class DeployResult:
    """What a deploy did: ``(change, type, logical id, physical id)`` lines, and its write calls."""

    changes: list[tuple[str, str, str, str]] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)


def fingerprint(desired: Any) -> str:
    """A short hash of a resource's desired state."""
    return hashlib.sha256(dumps(desired).encode()).hexdigest()[:20]


def code_sha256(data: bytes) -> str:
    """Lambda's ``CodeSha256`` of a package."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


async def _exists(call: Awaitable[Any]) -> bool:
    try:
        await call
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in _NOT_FOUND:
            return False
        raise
    return True


async def _gone(call: Awaitable[Any]) -> None:
    """Run a delete; one of a resource already gone is fine."""
    await _exists(call)


class Deployer:
    """Deploys resolved templates with ``clients``; records stacks in ``store``; caches dependencies in ``cache``."""

    def __init__(self, clients: DeployClients, store: DocumentStore[StackRecord], cache: Path,
                 out: Callable[[str], None] = print) -> None:
        self.c = clients
        self.store = store
        self.cache = cache
        self.out = out

    async def deploy(self, stack: Stack, template: str = "") -> DeployResult:
        """Create, update and delete until AWS matches ``stack``; print and return what changed."""
        # Packaged first: a CodeUri that cannot be packaged fails the deploy before anything is made.
        zips = {fn.logical_id: package(fn.code_uri, fn.config["Handler"], self.cache) for fn in stack.functions}
        record = await self.store.get(stack.name)
        old = dict(record.resources) if record else {}
        result = DeployResult()
        new: dict[str, ResourceRecord] = {}

        def note(change: str, kind: str, logical_id: str, physical: str) -> None:
            result.changes.append((change, kind, logical_id, physical))
            self.out(f"  {change:<9} {kind:<32} {logical_id}  {physical}")

        async def step(logical_id: str, kind: str, physical: str, desired: Any, exists: Callable[[], Awaitable[bool]],
                       create: Callable[[], Awaitable[dict[str, Any] | None]],
                       update: Callable[[ResourceRecord], Awaitable[dict[str, Any] | None]] | None = None) -> None:
            fp = fingerprint(desired)
            prev = old.get(logical_id)
            same = prev is not None and prev.type == kind and prev.physical_id == physical
            if same and prev is not None and await exists():
                if prev.fingerprint == fp:
                    new[logical_id] = prev
                    return
                extra = await update(prev) if update is not None else await create()
                note("updated", kind, logical_id, physical)
            else:
                extra = await create()
                note("created", kind, logical_id, physical)
            new[logical_id] = ResourceRecord(type=kind, physical_id=str((extra or {}).get("physical_id", physical)),
                                             fingerprint=fp, extra=extra or {})

        try:
            for q in sorted(stack.queues, key=lambda q: "RedrivePolicy" in q.attributes):  # dead-letter queues first
                await step(q.logical_id, QUEUE, q.name, q.desired(), lambda q=q: self._queue_exists(q.name),
                           lambda q=q: self._create_queue(q.name, q.attributes, q.tags),
                           lambda prev, q=q: self._update_queue(q.name, q.attributes, q.tags))
            for b in stack.buckets:
                await step(b.logical_id, BUCKET, b.name, b.desired(),
                           lambda b=b: _exists(self.c.s3.head_bucket(Bucket=b.name)),
                           lambda b=b: self._create_bucket(b.name, b.tags),
                           lambda prev, b=b: self._tag_bucket(b.name, b.tags))
            for fn in stack.functions:
                data = zips[fn.logical_id]
                await step(fn.logical_id, FUNCTION, fn.name, fn.desired(code_sha256(data)),
                           lambda fn=fn: _exists(self.c.lambda_.get_function_configuration(FunctionName=fn.name)),
                           lambda fn=fn, data=data: self._create_function(fn, data),
                           lambda prev, fn=fn, data=data: self._update_function(fn, data))
            for r in stack.rules:
                bus = r.rule.get("EventBusName", "default")
                await step(r.logical_id, RULE, r.name, r.desired(),
                           lambda r=r, bus=bus: _exists(self.c.events.describe_rule(Name=r.name, EventBusName=bus)),
                           lambda r=r: self._put_rule(r.rule, r.target, None),
                           lambda prev, r=r: self._put_rule(r.rule, r.target, prev))
            for m in stack.mappings:
                prev = old.get(m.logical_id)
                uuid = prev.physical_id if prev is not None and prev.type == MAPPING else ""
                replace = prev is not None and prev.extra.get("key") != [m.source_arn, m.function_name]
                physical = "" if replace else uuid
                await step(m.logical_id, MAPPING, physical, m.desired(),
                           lambda u=physical: self._mapping_exists(u),
                           lambda m=m: self._create_mapping(m.source_arn, m.function_name, m.settings),
                           lambda prev, m=m: self._update_mapping(prev, m.source_arn, m.function_name, m.settings))
            for n in stack.notifications:
                await step(f"{n.logical_id}.NotificationConfiguration", NOTIFICATIONS, n.bucket, n.desired(),
                           lambda n=n: _exists(self.c.s3.head_bucket(Bucket=n.bucket)),
                           lambda n=n: self._notify(n.bucket, n.configuration()))
            stale = [(lid, r) for lid, r in old.items()
                     if lid not in new or (new[lid].type, new[lid].physical_id) != (r.type, r.physical_id)]
            for kind in _DELETE_ORDER:
                for logical_id, prev in stale:
                    if prev.type == kind:
                        await self._delete(prev)
                        note("deleted", kind, logical_id, prev.physical_id)
        finally:
            if result.changes:
                # On a failure part-way, what was made is recorded with what was there, so the next deploy
                # updates or deletes it.
                kept = {k: v for k, v in old.items() if k not in new and not self._deleted(result, k)}
                await self._save(stack, template, record, {**kept, **new})
        return result

    @staticmethod
    def _deleted(result: DeployResult, logical_id: str) -> bool:
        return any(c[0] == "deleted" and c[2] == logical_id for c in result.changes)

    async def _save(self, stack: Stack, template: str, record: StackRecord | None,
                    resources: dict[str, ResourceRecord]) -> None:
        doc = StackRecord(stack_name=stack.name, template=template, parameters=stack.parameters, resources=resources)
        if record is None:
            await self.store.create(stack.name, doc)
        else:
            await self.store.update(stack.name, lambda _: doc)

    # ------------------------------------------------------------------ queues and buckets

    async def _queue_exists(self, name: str) -> bool:
        return await _exists(self.c.sqs.get_queue_url(QueueName=name))

    async def _create_queue(self, name: str, attributes: dict[str, str], tags: dict[str, str]) -> None:
        kwargs: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
        if tags:
            kwargs["tags"] = tags
        await self.c.sqs.create_queue(**kwargs)

    async def _update_queue(self, name: str, attributes: dict[str, str], tags: dict[str, str]) -> None:
        url = (await self.c.sqs.get_queue_url(QueueName=name))["QueueUrl"]
        if attributes:
            await self.c.sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        current = (await self.c.sqs.list_queue_tags(QueueUrl=url)).get("Tags", {})
        if set(current) - set(tags):
            await self.c.sqs.untag_queue(QueueUrl=url, TagKeys=sorted(set(current) - set(tags)))
        if tags and tags != current:
            await self.c.sqs.tag_queue(QueueUrl=url, Tags=tags)

    async def _create_bucket(self, name: str, tags: dict[str, str]) -> None:
        kwargs: dict[str, Any] = {"Bucket": name}
        if self.c.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.c.region}
        await self.c.s3.create_bucket(**kwargs)
        if tags:
            await self._tag_bucket(name, tags)

    async def _tag_bucket(self, name: str, tags: dict[str, str]) -> None:
        if tags:
            await self.c.s3.put_bucket_tagging(
                Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]})
        else:
            await self.c.s3.delete_bucket_tagging(Bucket=name)

    async def _notify(self, bucket: str, configuration: dict[str, Any]) -> None:
        await self.c.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=configuration)

    # ------------------------------------------------------------------ functions

    async def _wait(self, waiter: str, name: str) -> None:
        try:
            await self.c.lambda_.get_waiter(waiter).wait(FunctionName=name, WaiterConfig=_WAIT)
        except WaiterError as err:
            raise RuntimeError(f"function {name} did not become ready: {err}") from err

    async def _create_function(self, fn: FunctionSpec, data: bytes) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"FunctionName": fn.name, "Code": {"ZipFile": data}, **fn.config}
        if fn.tags:
            kwargs["Tags"] = fn.tags
        await self.c.lambda_.create_function(**kwargs)
        await self._wait("function_active_v2", fn.name)
        return {"policies": fn.policies} if fn.policies is not None else {}

    async def _update_function(self, fn: FunctionSpec, data: bytes) -> dict[str, Any]:
        lam = self.c.lambda_
        current = await lam.get_function_configuration(FunctionName=fn.name)
        if current.get("CodeSha256") != code_sha256(data):
            await lam.update_function_code(FunctionName=fn.name, ZipFile=data)
            await self._wait("function_updated_v2", fn.name)
        config = {"Environment": {"Variables": {}}, "Description": "", "Timeout": 3, "MemorySize": 128,
                  "DeadLetterConfig": {"TargetArn": ""}, **fn.config}
        if _config_differs(current, config):
            await lam.update_function_configuration(FunctionName=fn.name, **config)
            await self._wait("function_updated_v2", fn.name)
        tags = (await lam.list_tags(Resource=current["FunctionArn"])).get("Tags", {})
        if set(tags) - set(fn.tags):
            await lam.untag_resource(Resource=current["FunctionArn"], TagKeys=sorted(set(tags) - set(fn.tags)))
        if fn.tags and fn.tags != tags:
            await lam.tag_resource(Resource=current["FunctionArn"], Tags=fn.tags)
        return {"policies": fn.policies} if fn.policies is not None else {}

    # ------------------------------------------------------------------ rules and event source mappings

    async def _put_rule(self, rule: dict[str, Any], target: dict[str, Any], prev: ResourceRecord | None) -> dict[str, Any]:
        bus = rule.get("EventBusName", "default")
        await self.c.events.put_rule(**rule)
        old_target = (prev.extra if prev else {}).get("target")
        if old_target and old_target != target["Id"]:
            await self.c.events.remove_targets(Rule=rule["Name"], EventBusName=bus, Ids=[old_target])
        await self.c.events.put_targets(Rule=rule["Name"], EventBusName=bus, Targets=[target])
        return {"bus": bus, "target": target["Id"]}

    async def _mapping_exists(self, uuid: str) -> bool:
        return bool(uuid) and await _exists(self.c.lambda_.get_event_source_mapping(UUID=uuid))

    async def _create_mapping(self, source: str, function: str, settings: dict[str, Any]) -> dict[str, Any]:
        made = await self.c.lambda_.create_event_source_mapping(EventSourceArn=source, FunctionName=function,
                                                                **settings)
        return {"physical_id": made["UUID"], "key": [source, function]}

    async def _update_mapping(self, prev: ResourceRecord, source: str, function: str,
                              settings: dict[str, Any]) -> dict[str, Any]:
        defaults = {"BatchSize": 10, "MaximumBatchingWindowInSeconds": 0, "FunctionResponseTypes": [], "Enabled": True}
        await self.c.lambda_.update_event_source_mapping(UUID=prev.physical_id, **{**defaults, **settings})
        return {"physical_id": prev.physical_id, "key": [source, function]}

    # ------------------------------------------------------------------ deletes

    async def _delete(self, prev: ResourceRecord) -> None:
        pid = prev.physical_id
        if prev.type == NOTIFICATIONS:
            if await _exists(self.c.s3.head_bucket(Bucket=pid)):
                await self._notify(pid, {})
        elif prev.type == MAPPING:
            if pid:
                await _gone(self.c.lambda_.delete_event_source_mapping(UUID=pid))
        elif prev.type == RULE:
            bus = prev.extra.get("bus", "default")
            if prev.extra.get("target"):
                await _gone(self.c.events.remove_targets(Rule=pid, EventBusName=bus, Ids=[prev.extra["target"]]))
            await _gone(self.c.events.delete_rule(Name=pid, EventBusName=bus))
        elif prev.type == FUNCTION:
            await _gone(self.c.lambda_.delete_function(FunctionName=pid))
        elif prev.type == QUEUE:
            try:
                url = (await self.c.sqs.get_queue_url(QueueName=pid))["QueueUrl"]
            except ClientError:
                return
            await _gone(self.c.sqs.delete_queue(QueueUrl=url))
        elif prev.type == BUCKET:
            # CloudFormation refuses to delete a bucket that holds objects; so does this, saying so.
            await self.c.s3.delete_bucket(Bucket=pid)


def _config_differs(current: dict[str, Any], config: dict[str, Any]) -> bool:
    seen = {"Environment": {"Variables": (current.get("Environment") or {}).get("Variables", {})},
            "DeadLetterConfig": {"TargetArn": (current.get("DeadLetterConfig") or {}).get("TargetArn", "")},
            "Description": current.get("Description", "")}
    return any(seen.get(k, current.get(k)) != v for k, v in config.items())

