"""Rules and bucket notifications of an external emulator (LocalStack) that name functions this node serves.

On LocalStack, EventBridge and S3 would invoke LocalStack's own Lambda, which
does not have Headwater's functions: a Lambda target's delivery fails there
and a ``LambdaFunctionConfigurations`` entry is skipped, so each event is
delivered by nobody. The bridge makes it delivered exactly once: every
``interval`` seconds it reads the rules (``ListEventBuses`` / ``ListRules`` /
``ListTargetsByRule``) and the notification configurations of the buckets
(``ListBuckets`` / ``GetBucketNotificationConfiguration``) and, beside each
target or configuration naming one of its functions, adds one of its own
that sends the same input to a queue of that function (``<prefix>-fn-<hash>``,
tagged with the function's ARN): an SQS target with the target's ``Input`` /
``InputPath`` / ``InputTransformer``, or a queue configuration with the same
events and filter. It then moves what arrives on those queues to the
functions' ``Event`` invocation queue, as any ``Event`` invocation. Its own
targets and configurations are named ``headwater-...`` and removed with the
ones they copy.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any

from botocore.exceptions import ClientError

from services.aws.sqs import SqsAdapter
from services.functions.async_delivery import invocation_message
from services.functions.exceptions import ResourceNotFoundException
from services.functions.names import FunctionRef, parse_function_name
from services.functions.service import FunctionsService

log = logging.getLogger(__name__)

OWN = "headwater-"  # the Id prefix of the bridge's own targets and queue configurations
FUNCTION_TAG = "headwater:function"


def _is_function(arn: str) -> bool:
    return arn.split(":")[2:3] == ["lambda"]


def _own_id(source_id: str) -> str:
    # Ids are at most 64 characters (targets) and unique per rule / configuration: a digest of the source's Id.
    return OWN + hashlib.sha256(source_id.encode()).hexdigest()[:20]


class FunctionBridge:
    """Keeps the bridge in place and moves its queues' messages to the ``Event`` invocation queue."""

    def __init__(self, service: FunctionsService, events: Any, s3: Any, sqs: SqsAdapter, async_queue: str,
                 prefix: str, interval: float = 5.0) -> None:
        self.service = service
        self.events = events
        self.s3 = s3
        self.sqs = sqs
        self.async_queue = async_queue
        self.prefix = f"{prefix}-fn-"
        self.interval = interval
        self.queues: dict[str, str] = {}  # bridge queue name -> function ARN

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile every ``interval`` seconds and move messages until ``stop`` is set."""
        next_sync = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            if loop.time() >= next_sync:
                try:
                    await self.sync()
                except Exception:  # noqa: BLE001 - an unreachable backend now is retried at the next interval
                    log.exception("function bridge: reconciling failed")
                next_sync = loop.time() + self.interval
            moved = 0
            for queue, function_arn in list(self.queues.items()):
                try:
                    moved += await self.move(queue, function_arn)
                except Exception:  # noqa: BLE001 - one queue's failure leaves its messages for the next round
                    log.exception("function bridge: moving from %s failed", queue)
            if not moved:
                try:
                    await asyncio.wait_for(stop.wait(), 0.2)
                except asyncio.TimeoutError:
                    pass

    async def move(self, queue: str, function_arn: str) -> int:
        """Queue each message of ``queue`` as an ``Event`` invocation of ``function_arn``; how many moved."""
        ref = parse_function_name(function_arn)
        messages = await self.sqs.receive(queue, max_messages=10, wait_seconds=0)
        for m in messages:
            body = json.loads(m.body) if m.body.startswith("{") else None
            if not (isinstance(body, dict) and body.get("Event") == "s3:TestEvent"):  # S3's check of a new queue
                await self.sqs.send(self.async_queue, invocation_message(ref, self._payload(m.body)))
            await self.sqs.delete(queue, m.receipt_handle)
        return len(messages)

    @staticmethod
    def _payload(body: str) -> str:
        # S3's queue record names the bridge's configuration; the function is given its own configuration's Id.
        try:
            doc = json.loads(body)
        except ValueError:
            return json.dumps(body)  # an Input that is a plain string
        for record in doc.get("Records", []) if isinstance(doc, dict) else []:
            s3 = record.get("s3", {})
            if str(s3.get("configurationId", "")).startswith(OWN) and "|" in s3["configurationId"]:
                s3["configurationId"] = s3["configurationId"].split("|", 1)[1]
        return json.dumps(doc)

    async def _served(self, arn: str) -> FunctionRef | None:
        try:
            ref = parse_function_name(arn)
            await self.service.resolve(ref)
        except ResourceNotFoundException:
            return None
        except Exception:  # noqa: BLE001 - not a function name this service could serve
            return None
        return ref

    async def _queue_for(self, function_arn: str) -> str:
        """The bridge queue of ``function_arn`` (created once); its ARN."""
        name = self.prefix + hashlib.sha256(function_arn.encode()).hexdigest()[:24]
        url = (await self.sqs.client.create_queue(QueueName=name, tags={FUNCTION_TAG: function_arn}))["QueueUrl"]
        attrs = await self.sqs.client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        self.queues[name] = function_arn
        return str(attrs["Attributes"]["QueueArn"])

    async def sync(self) -> None:
        """Add the bridge beside every rule target and bucket notification naming a served function; drop stale
        parts."""
        buses = [b["Name"] for b in (await self.events.list_event_buses()).get("EventBuses", [])]
        for bus in buses:
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"EventBusName": bus, **({"NextToken": token} if token else {})}
                page = await self.events.list_rules(**kwargs)
                for rule in page.get("Rules", []):
                    await self._rule(rule["Name"], bus)
                token = page.get("NextToken")
                if not token:
                    break
        for bucket in (await self.s3.list_buckets()).get("Buckets", []):
            await self._bucket(bucket["Name"])

    async def _rule(self, rule: str, bus: str) -> None:
        targets = (await self.events.list_targets_by_rule(Rule=rule, EventBusName=bus)).get("Targets", [])
        wanted: dict[str, dict[str, Any]] = {}
        for t in targets:
            if t["Id"].startswith(OWN) or not _is_function(t["Arn"]) or await self._served(t["Arn"]) is None:
                continue
            own = {"Id": _own_id(t["Id"]), "Arn": await self._queue_for(t["Arn"])}
            own.update({k: t[k] for k in ("Input", "InputPath", "InputTransformer") if k in t})
            wanted[own["Id"]] = own
        have = {t["Id"]: t for t in targets if t["Id"].startswith(OWN)}
        stale = [i for i in have if i not in wanted]
        if stale:
            await self.events.remove_targets(Rule=rule, EventBusName=bus, Ids=stale)
        put = [t for i, t in wanted.items() if {k: have.get(i, {}).get(k) for k in t} != t]
        if put:
            await self.events.put_targets(Rule=rule, EventBusName=bus, Targets=put)
            log.info("function bridge: rule %s on %s bridged to %d function(s)", rule, bus, len(put))

    async def _bucket(self, bucket: str) -> None:
        try:
            current = await self.s3.get_bucket_notification_configuration(Bucket=bucket)
        except ClientError:
            return
        current = {k: v for k, v in current.items() if k != "ResponseMetadata"}
        queues = [q for q in current.get("QueueConfigurations", []) if not str(q.get("Id", "")).startswith(OWN)]
        for cfg in current.get("LambdaFunctionConfigurations", []):
            if await self._served(cfg["LambdaFunctionArn"]) is None:
                continue
            # The source's Id rides in the bridge's (S3 puts it in each record), to be given back to the function.
            own = {"Id": f"{_own_id(cfg.get('Id', ''))}|{cfg.get('Id', '')}",
                   "QueueArn": await self._queue_for(cfg["LambdaFunctionArn"]), "Events": cfg["Events"]}
            if "Filter" in cfg:
                own["Filter"] = cfg["Filter"]
            queues.append(own)
        if _key(queues) == _key(current.get("QueueConfigurations", [])):
            return
        wanted = {k: v for k, v in current.items() if k != "QueueConfigurations"}
        if queues:
            wanted["QueueConfigurations"] = queues
        await self.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=wanted)
        log.info("function bridge: notifications of bucket %s bridged", bucket)


def _key(configs: list[dict[str, Any]]) -> str:
    return json.dumps(sorted(json.dumps(c, sort_keys=True) for c in configs))
