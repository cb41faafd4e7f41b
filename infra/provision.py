"""Making AWS (moto, LocalStack or real) match the declared stack.

Idempotent: each resource is read first and written only when it differs,
so a second run reports no changes. Works on the API shapes all three
share; queue policies let EventBridge and S3 deliver as real AWS requires.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.parse
from typing import Any

from botocore.exceptions import ClientError

from infra.stack import NotificationDecl, QueueDecl, RoleDecl, RuleDecl, StackDecl
from services.aws.session import AwsClients
from services.core.settings import Settings

log = logging.getLogger(__name__)

_NOTIFY_TAG = "headwater:notifications"
_NOTIFICATION_KINDS = ("QueueConfigurations", "TopicConfigurations", "LambdaFunctionConfigurations")


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


class Provisioner:
    """Applies a :class:`StackDecl`; ``changes`` lists what it had to change."""

    def __init__(self, settings: Settings, clients: AwsClients) -> None:
        self.settings = settings
        self.c = clients
        self.changes: list[str] = []
        self.queue_arns: dict[str, str] = {}
        self.queue_urls: dict[str, str] = {}

    async def apply(self, stack: StackDecl) -> list[str]:
        """Create or update everything in ``stack``; return the changes made."""
        for bucket in stack.buckets:
            await self._bucket(bucket)
        if stack.bus != "default":
            await self._bus(stack.bus)
        for q in stack.queues:
            await self._queue(q)
        for rule in stack.rules:
            await self._rule(rule)
        for bucket in stack.buckets:
            await self._notifications(bucket, bucket in stack.eventbridge_buckets,
                                      [n for n in stack.notifications if n.bucket == bucket])
        for group in stack.log_groups:
            await self._log_group(group)
        for role in stack.roles:
            await self._role(role)
        return self.changes

    async def _bucket(self, name: str) -> None:
        try:
            await self.c.s3.head_bucket(Bucket=name)
            return
        except ClientError as err:
            if _code(err) not in ("404", "NoSuchBucket", "NotFound"):
                raise
        kwargs: dict[str, Any] = {"Bucket": name}
        if self.settings.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.settings.region}
        await self.c.s3.create_bucket(**kwargs)
        self.changes.append(f"created bucket {name}")

    async def _bus(self, name: str) -> None:
        try:
            await self.c.events.describe_event_bus(Name=name)
        except ClientError as err:
            if _code(err) != "ResourceNotFoundException":
                raise
            await self.c.events.create_event_bus(Name=name)
            self.changes.append(f"created event bus {name}")

    async def _ensure_queue(self, name: str, attributes: dict[str, str]) -> str:
        try:
            url = (await self.c.sqs.get_queue_url(QueueName=name))["QueueUrl"]
        except ClientError as err:
            if "NonExistentQueue" not in _code(err) and _code(err) != "QueueDoesNotExist":
                raise
            url = (await self.c.sqs.create_queue(QueueName=name, Attributes=attributes))["QueueUrl"]
            self.changes.append(f"created queue {name}")
        else:
            current = (await self.c.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))["Attributes"]
            differs = {k: v for k, v in attributes.items() if not _same_attr(current.get(k), v)}
            if differs:
                await self.c.sqs.set_queue_attributes(QueueUrl=url, Attributes=differs)
                self.changes.append(f"updated queue {name}: {', '.join(sorted(differs))}")
        arn = (await self.c.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]))["Attributes"]
        self.queue_arns[name] = arn["QueueArn"]
        self.queue_urls[name] = url
        return url

    async def _queue(self, q: QueueDecl) -> None:
        await self._ensure_queue(q.dlq, {"MessageRetentionPeriod": str(14 * 24 * 3600)})
        redrive = json.dumps({"deadLetterTargetArn": self.queue_arns[q.dlq], "maxReceiveCount": q.max_receive_count})
        await self._ensure_queue(q.name, {
            "VisibilityTimeout": str(q.visibility_timeout),
            "RedrivePolicy": redrive,
            "Policy": json.dumps(self._queue_policy(q.name)),
        })

    def _queue_policy(self, name: str) -> dict[str, Any]:
        # Real AWS only delivers rule and bucket events to a queue whose policy allows it.
        arn = f"arn:aws:sqs:{self.settings.region}:{self.settings.account_id}:{name}"
        return {"Version": "2012-10-17", "Statement": [{
            "Sid": "headwater-delivery",
            "Effect": "Allow",
            "Principal": {"Service": ["events.amazonaws.com", "s3.amazonaws.com"]},
            "Action": "sqs:SendMessage",
            "Resource": arn,
        }]}

    async def _rule(self, rule: RuleDecl) -> None:
        pattern = json.dumps(rule.pattern, sort_keys=True)
        state = "ENABLED"
        try:
            current = await self.c.events.describe_rule(Name=rule.name, EventBusName=rule.bus)
            same = json.loads(current.get("EventPattern", "{}")) == rule.pattern
            # A built-in handler's rule that a user disabled (DisableRule) stays disabled.
            state = current.get("State") or state
        except ClientError as err:
            if _code(err) != "ResourceNotFoundException":
                raise
            same = False
        if not same:
            await self.c.events.put_rule(Name=rule.name, EventBusName=rule.bus, EventPattern=pattern,
                                         State=state, Description=rule.description[:512])
            self.changes.append(f"put rule {rule.name} on bus {rule.bus}")
        target = {"Id": "queue", "Arn": self.queue_arns[rule.queue]}
        targets = (await self.c.events.list_targets_by_rule(Rule=rule.name, EventBusName=rule.bus))["Targets"]
        if [{"Id": t["Id"], "Arn": t["Arn"]} for t in targets] != [target]:
            stale = [t["Id"] for t in targets if t["Id"] != "queue"]
            if stale:
                await self.c.events.remove_targets(Rule=rule.name, EventBusName=rule.bus, Ids=stale)
            await self.c.events.put_targets(Rule=rule.name, EventBusName=rule.bus, Targets=[target])
            self.changes.append(f"set target of rule {rule.name} to queue {rule.queue}")

    async def _notifications(self, bucket: str, eventbridge: bool, notes: list[NotificationDecl]) -> None:
        """Add Headwater's part to ``bucket``'s notification configuration, keeping the rest.

        The configuration is one document shared with the bucket's users: their
        ``LambdaFunctionConfigurations``, ``TopicConfigurations`` and queue
        configurations stay as they are; Headwater owns only its EventBridge
        setting and the queue configurations it names after its own queues."""
        current = await self.c.s3.get_bucket_notification_configuration(Bucket=bucket)
        have = {k: current[k] for k in _NOTIFICATION_KINDS if current.get(k)}
        if "EventBridgeConfiguration" in current:
            have["EventBridgeConfiguration"] = {}
        ours = [_queue_config(n, self.queue_arns[n.queue]) for n in notes]
        theirs = [qc for qc in have.get("QueueConfigurations", []) if not self._is_ours(qc)]
        wanted = {k: v for k, v in have.items() if k != "QueueConfigurations"}
        if theirs or ours:
            wanted["QueueConfigurations"] = theirs + ours
        if eventbridge:
            wanted["EventBridgeConfiguration"] = {}
        digest = hashlib.sha256(_normalise(wanted).encode()).hexdigest()[:32]
        if _normalise(have) == _normalise(wanted):
            return
        # moto does not return EventBridgeConfiguration on read: a tag records the configuration last applied, so
        # an unchanged one is not put again. A user's put since then changes what is read, and so the digest,
        # unless it put back exactly what it read (on moto, without EventBridge): that one goes unseen there.
        if "EventBridgeConfiguration" in wanted and "EventBridgeConfiguration" not in have:
            have_eb = {**have, "EventBridgeConfiguration": {}}
            if _normalise(have_eb) == _normalise(wanted) and await self._tag(bucket) == digest:
                return
        await self.c.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=wanted)
        await self._set_tag(bucket, digest)
        self.changes.append(f"set notifications of bucket {bucket}")

    def _is_ours(self, qc: dict[str, Any]) -> bool:
        # Headwater names each of its queue configurations after its queue; a stale one (a handler since removed)
        # goes too.
        queue = str(qc.get("QueueArn", "")).rsplit(":", 1)[-1]
        return qc.get("Id") == queue and queue.startswith(f"{self.settings.resource_prefix}-")

    async def _tag(self, bucket: str) -> str | None:
        try:
            tags = (await self.c.s3.get_bucket_tagging(Bucket=bucket))["TagSet"]
        except ClientError:
            return None
        return next((t["Value"] for t in tags if t["Key"] == _NOTIFY_TAG), None)

    async def _set_tag(self, bucket: str, digest: str) -> None:
        # PutBucketTagging replaces the whole set: the user's tags are kept.
        try:
            tags = (await self.c.s3.get_bucket_tagging(Bucket=bucket))["TagSet"]
        except ClientError as err:
            if _code(err) != "NoSuchTagSet":
                raise
            tags = []
        tags = [t for t in tags if t["Key"] != _NOTIFY_TAG] + [{"Key": _NOTIFY_TAG, "Value": digest}]
        await self.c.s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})

    async def _log_group(self, group: str) -> None:
        resp = await self.c.logs.describe_log_groups(logGroupNamePrefix=group)
        if not any(g["logGroupName"] == group for g in resp.get("logGroups", [])):
            await self.c.logs.create_log_group(logGroupName=group)
            self.changes.append(f"created log group {group}")

    async def _role(self, role: RoleDecl) -> None:
        try:
            current = (await self.c.iam.get_role(RoleName=role.name))["Role"]
        except ClientError as err:
            if _code(err) not in ("NoSuchEntity", "NoSuchEntityException"):
                raise
            await self.c.iam.create_role(RoleName=role.name, AssumeRolePolicyDocument=json.dumps(role.trust_policy),
                                         Description=role.description)
            self.changes.append(f"created role {role.name}")
        else:
            if _policy_document(current.get("AssumeRolePolicyDocument")) != role.trust_policy:
                await self.c.iam.update_assume_role_policy(RoleName=role.name,
                                                           PolicyDocument=json.dumps(role.trust_policy))
                self.changes.append(f"updated the trust policy of role {role.name}")
        try:
            have = (await self.c.iam.get_role_policy(RoleName=role.name, PolicyName=role.policy_name))["PolicyDocument"]
        except ClientError as err:
            if _code(err) not in ("NoSuchEntity", "NoSuchEntityException"):
                raise
            have = None
        if _policy_document(have) != role.policy:
            await self.c.iam.put_role_policy(RoleName=role.name, PolicyName=role.policy_name,
                                             PolicyDocument=json.dumps(role.policy))
            self.changes.append(f"set policy {role.policy_name} of role {role.name}")


def _policy_document(doc: str | dict[str, Any] | None) -> dict[str, Any] | None:
    # IAM returns documents URL-encoded; boto3 decodes them into dicts, other clients may not.
    if doc is None or isinstance(doc, dict):
        return doc
    return json.loads(urllib.parse.unquote(doc))


def _queue_config(n: NotificationDecl, arn: str) -> dict[str, Any]:
    rules = [{"Name": k, "Value": v} for k, v in (("prefix", n.prefix), ("suffix", n.suffix)) if v]
    cfg: dict[str, Any] = {"Id": n.queue, "QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}
    if rules:
        cfg["Filter"] = {"Key": {"FilterRules": rules}}
    return cfg


def _normalise(cfg: dict[str, Any]) -> str:
    def fix(v: Any) -> Any:
        if isinstance(v, dict):
            return {k.lower() if k in ("Name",) else k: fix(x) for k, x in v.items()}
        if isinstance(v, list):
            return sorted((fix(x) for x in v), key=lambda x: json.dumps(x, sort_keys=True))
        return v.lower() if isinstance(v, str) and v in ("Prefix", "Suffix") else v

    return json.dumps(fix(cfg), sort_keys=True)


def _same_attr(have: str | None, want: str) -> bool:
    if have is None:
        return False
    if want.startswith("{"):
        try:
            return json.loads(have) == json.loads(want)
        except json.JSONDecodeError:
            return False
    return have == want


async def provision(settings: Settings, clients: AwsClients, stack: StackDecl) -> list[str]:
    """Apply ``stack``; return the list of changes (empty when already in place)."""
    return await Provisioner(settings, clients).apply(stack)
