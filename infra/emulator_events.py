"""Events of the embedded emulator that reach functions: rule targets and S3 notifications naming a Lambda ARN.

moto keeps the rules, targets and bucket notifications users create, and
delivers to queues, log groups and buses itself, but it cannot run a
function: a Lambda target makes its ``PutEvents`` fail, and a
``LambdaFunctionConfigurations`` entry is dropped. In the embedded emulator
Headwater takes over those two deliveries, inside the request that causes
them: the target's input (``Input`` / ``InputPath`` / ``InputTransformer``,
:mod:`services.functions.target_input`) or the S3 event record is put on the
functions' ``Event`` invocation queue (:mod:`services.functions.async_delivery`)
before ``PutEvents`` or ``PutObject`` answers, so a rule takes effect the
moment it is put and a delivery is as durable as the queue. The function then
runs as any ``Event`` invocation: retried, then sent to its ``OnFailure``
destination or dead-letter queue; a target naming no function sends the
event to the target's ``DeadLetterConfig`` queue.

Three moto departures from EventBridge are corrected on the way, for every
target: a ``DISABLED`` rule delivers nothing, a rule with only a
``ScheduleExpression`` matches no event (schedules fire from
:mod:`infra.emulator_schedules`), and S3 sends its events to the default bus
only.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import moto.s3.notifications as s3_notifications
from moto.events.models import Rule
from moto.sqs.models import sqs_backends

from services.functions.async_delivery import invocation_message
from services.functions.names import parse_function_name
from services.functions.target_input import TargetInputError, target_input

log = logging.getLogger(__name__)

_moto_send_to_targets = Rule.send_to_targets
_lock = threading.Lock()


class FunctionRoute:
    """Where Lambda deliveries go: the functions' ``Event`` queue of one account and region."""

    def __init__(self, queue: str, account_id: str, region: str) -> None:
        self.queue = queue
        self.account_id = account_id
        self.region = region
        self.delivered = 0  # for tests and status

    def send(self, function_arn: str, payload: str, origin: dict[str, str] | None = None) -> None:
        """Queue an ``Event`` invocation of ``function_arn`` with ``payload`` (JSON text)."""
        try:
            ref = parse_function_name(function_arn)
        except Exception:  # noqa: BLE001 - not a function name: nothing could run it
            log.warning("emulator: %s names no function; event dropped", function_arn)
            return
        body = invocation_message(ref, payload, origin=origin)
        sqs_backends[self.account_id][self.region].send_message(queue_name=self.queue,
                                                                message_body=json.dumps(body))
        self.delivered += 1


_route: FunctionRoute | None = None


def route_functions(route: FunctionRoute | None) -> None:
    """Send the emulator's Lambda deliveries to ``route`` from now on (``None``: nowhere)."""
    global _route
    with _lock:
        _route = route
        Rule.send_to_targets = _send_to_targets  # type: ignore[method-assign]
        s3_notifications._invoke_awslambda = _invoke_function  # type: ignore[assignment]


def unroute_functions(route: FunctionRoute) -> None:
    """Stop sending to ``route``, if deliveries still go there (another node may have routed them since)."""
    global _route
    with _lock:
        if _route is route:
            _route = None


def deliver(rule: Rule, event: dict[str, Any], *, scheduled: bool = False, from_s3: bool = False) -> None:
    """Deliver ``event`` to ``rule``'s targets as EventBridge would: Lambda targets through the route, the rest
    through moto."""
    if rule.state != "ENABLED":
        return
    if not scheduled and rule.scheduled_expression and not rule.event_pattern.get_pattern():
        return
    if not scheduled and not rule.event_pattern.matches_event(event):
        return
    functions = [t for t in rule.targets if _is_function(t["Arn"])]
    others = [t for t in rule.targets if not _is_function(t["Arn"])]
    if functions:
        _to_functions(rule, functions, event)
    if others:
        view = copy.copy(rule)  # moto delivers to the targets it knows, on a view that holds only those
        view.targets = others
        _moto_send_to_targets(view, copy.deepcopy(event), transform_input=not from_s3)  # type: ignore[arg-type]


def _send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
    from_s3 = not transform_input  # moto's S3 -> EventBridge path is its only caller that does not transform
    if from_s3 and self.event_bus_name != "default":
        return
    deliver(self, original_event, from_s3=from_s3)


def _is_function(arn: str) -> bool:
    return arn.split(":")[2:3] == ["lambda"]


def _to_functions(rule: Rule, targets: list[dict[str, Any]], event: dict[str, Any]) -> None:
    route = _route
    if route is None:
        log.warning("emulator: rule %s targets a function, but no node serves functions", rule.name)
        return
    clean = _as_delivered(event)
    for target in targets:
        try:
            payload = target_input(target, clean, rule_arn=rule.arn, rule_name=rule.name,
                                   ingestion_time=clean.get("time", ""))
        except TargetInputError as err:
            log.warning("emulator: rule %s target %s: %s; event dropped", rule.name, target["Id"], err)
            continue
        origin = {"RuleArn": rule.arn, "TargetArn": target["Arn"]}
        if (dlq := (target.get("DeadLetterConfig") or {}).get("Arn")):
            origin["DeadLetterArn"] = dlq
        route.send(target["Arn"], payload, origin)


def _as_delivered(event: dict[str, Any]) -> dict[str, Any]:
    """The event as a target receives it: no moto-internal fields, ``time`` in ISO form."""
    clean = {k: v for k, v in copy.deepcopy(event).items() if k != "ingestion-time"}
    if isinstance(clean.get("time"), (int, float)):
        clean["time"] = datetime.fromtimestamp(clean["time"], timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return clean


def _invoke_function(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
    # moto's S3 notification to a function: the S3 event record, as Lambda would be given it.
    route = _route
    if route is None:
        log.warning("emulator: a bucket notifies %s, but no node serves functions", fn_arn)
        return
    for record in event_body.get("Records", []):
        # S3 form-encodes the key but keeps its slashes (moto encodes them too): raw/a b.csv -> raw/a+b.csv
        obj = record.get("s3", {}).get("object", {})
        if "key" in obj:
            obj["key"] = quote_plus(unquote_plus(obj["key"]), safe="/")
    route.send(fn_arn, json.dumps(event_body))
