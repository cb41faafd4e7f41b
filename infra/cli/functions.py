"""``headwater logs --function <name> [--follow]``: a function's log from CloudWatch Logs; ``headwater functions``:
every function with its triggers and what its log says of its invocations."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from botocore.exceptions import ClientError

from infra.cli.client import node_client, print_table
from infra.cli.endpoints import settings_for_client
from services.aws.logs import LogsAdapter
from services.aws.session import AwsClients
from services.core.settings import Settings


async def print_function_logs(settings: Settings, name: str, follow: bool = False, poll_seconds: float = 1.0,
                              stop: asyncio.Event | None = None) -> int:
    """Print every line of ``/aws/lambda/<name>`` in time order; with ``follow``, keep printing new lines
    until ``stop`` is set (or the command is interrupted)."""
    cs, _ = settings_for_client(settings.state_dir, settings.aws_endpoint)
    group = f"/aws/lambda/{name}"
    seen: set[str] = set()
    start = 0
    async with AwsClients(cs) as clients:
        logs = LogsAdapter(clients.logs)
        while True:
            for event_id, ts, _, message in await logs.group_events(group, start):
                if event_id not in seen:
                    seen.add(event_id)
                    print(message, flush=True)
                start = max(start, ts)  # the last millisecond is read again: ids keep it from printing twice
            if not follow or (stop is not None and stop.is_set()):
                break
            await asyncio.sleep(poll_seconds)
    if not seen and not follow:
        print(f"(no log lines in {group} yet)")
    return 0


@dataclass
class FunctionStats:
    """What a function's log says of its invocations: how many, how many failed, and their durations (ms)."""

    invocations: int = 0
    errors: int = 0
    durations: list[float] = field(default_factory=list)

    def percentile(self, p: float) -> float | None:
        """The nearest-rank ``p``-th percentile of the durations, ``None`` without any."""
        if not self.durations:
            return None
        ordered = sorted(self.durations)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# Fields are tab-separated; the log shipper writes a tab as ``#011``, as SageMaker's log pipeline does.
_TAB = r"(?:\t|#011)"
_REPORT = re.compile(rf"^REPORT RequestId: (\S+?){_TAB}Duration: ([0-9.]+) ms")
_STATUS = re.compile(rf"{_TAB}Status: ")


def invocation_stats(events: list[tuple[str, str]]) -> FunctionStats:
    """Stats from ``(log stream, message)`` lines in time order. An environment serves one invocation at a time,
    so in its stream an invocation is the lines from ``START`` to ``REPORT``: it failed when the runtime logged
    its error (``[ERROR] Type: message``, as Lambda's Python runtime does), timed out, or its ``REPORT`` has a
    ``Status`` (an environment that died under it)."""
    stats = FunctionStats()
    failed: dict[str, bool] = {}
    for stream, message in events:
        for line in message.splitlines():
            if line.startswith("START RequestId: "):
                failed[stream] = False
            elif line.startswith("[ERROR] ") or " Task timed out after " in line:
                failed[stream] = True
            elif match := _REPORT.match(line):
                stats.invocations += 1
                stats.durations.append(float(match.group(2)))
                if failed.pop(stream, False) or _STATUS.search(line):
                    stats.errors += 1
    return stats


async def _triggers(lam: Any, events: Any, s3: Any, functions: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each function's triggers: SQS event source mappings, rules targeting it, bucket notifications."""
    out: dict[str, list[str]] = {f["FunctionArn"]: [] for f in functions}
    by_name = {f["FunctionName"]: f["FunctionArn"] for f in functions}
    with contextlib.suppress(ClientError):  # a Lambda service without event source mappings
        marker: str | None = None
        while True:
            page = await lam.list_event_source_mappings(**({"Marker": marker} if marker else {}))
            for m in page.get("EventSourceMappings", []):
                arn = m.get("FunctionArn", "")
                arn = by_name.get(arn.rsplit(":", 1)[-1], arn) if arn not in out else arn
                if arn in out:
                    out[arn].append(f"sqs {m['EventSourceArn'].rsplit(':', 1)[-1]} (batch {m.get('BatchSize')}, "
                                    f"{m.get('State', '?')})")
            marker = page.get("NextMarker")
            if not marker:
                break
    buses = [b["Name"] for b in (await events.list_event_buses()).get("EventBuses", [])] or ["default"]
    for arn in out:
        for bus in buses:
            names = (await events.list_rule_names_by_target(TargetArn=arn, EventBusName=bus)).get("RuleNames", [])
            for name in names:
                rule = await events.describe_rule(Name=name, EventBusName=bus)
                what = f"schedule {rule['ScheduleExpression']}" if rule.get("ScheduleExpression") else "rule"
                out[arn].append(f"{what} {name} on {bus} [{rule.get('State', '?')}]")
    for bucket in (await s3.list_buckets()).get("Buckets", []):
        config = await s3.get_bucket_notification_configuration(Bucket=bucket["Name"])
        for c in config.get("LambdaFunctionConfigurations", []):
            if c.get("LambdaFunctionArn") in out:
                rules = {r["Name"].lower(): r["Value"] for r in c.get("Filter", {}).get("Key", {}).get("FilterRules", [])}
                out[c["LambdaFunctionArn"]].append(f"s3 {bucket['Name']}/{rules.get('prefix', '')}*"
                                                   f"{rules.get('suffix', '')} {','.join(c.get('Events', []))}")
    return out


# CloudWatch keeps one-minute points 15 days: the throttles shown are those of that window, in one period.
_METRICS_WINDOW = timedelta(days=15)


async def throttles(cloudwatch: Any, name: str, now: datetime | None = None) -> int:
    """How many invocations of ``name`` were throttled, from its ``AWS/Lambda`` ``Throttles`` metric (a throttled
    invocation never ran, so its log cannot say)."""
    end = (now or datetime.now(timezone.utc)) + timedelta(minutes=1)
    resp = await cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda", MetricName="Throttles", Dimensions=[{"Name": "FunctionName", "Value": name}],
        StartTime=end - _METRICS_WINDOW, EndTime=end, Period=int(_METRICS_WINDOW.total_seconds()),
        Statistics=["Sum"])
    return int(sum(p["Sum"] for p in resp.get("Datapoints", [])))


async def print_functions(settings: Settings) -> int:
    """``headwater functions``: every function with its triggers, invocations, errors and p50/p99 duration."""
    cs, _ = settings_for_client(settings.state_dir, settings.aws_endpoint)
    async with node_client(settings, "lambda", "lambda") as lam, AwsClients(cs) as clients:
        functions: list[dict[str, Any]] = []
        marker: str | None = None
        while True:
            page = await lam.list_functions(**({"Marker": marker} if marker else {}))
            functions += page.get("Functions", [])
            marker = page.get("NextMarker")
            if not marker:
                break
        triggers = await _triggers(lam, clients.events, clients.s3, functions)
        logs = LogsAdapter(clients.logs)
        rows = [("FUNCTION", "RUNTIME", "INVOCATIONS", "ERRORS", "THROTTLES", "P50 MS", "P99 MS")]
        for f in sorted(functions, key=lambda f: f["FunctionName"]):
            lines = [(stream, message) for _, _, stream, message in
                     await logs.group_events(f"/aws/lambda/{f['FunctionName']}")]
            stats = invocation_stats(lines)
            p50, p99 = stats.percentile(50), stats.percentile(99)
            throttled = await throttles(clients.cloudwatch, f["FunctionName"])
            rows.append((f["FunctionName"], f.get("Runtime", "-"), str(stats.invocations), str(stats.errors),
                         str(throttled),
                         "-" if p50 is None else f"{p50:.1f}", "-" if p99 is None else f"{p99:.1f}"))
    if len(rows) == 1:
        print("No functions.")
        return 0
    print_table(rows)
    print("\nTriggers:")
    for f in sorted(functions, key=lambda f: f["FunctionName"]):
        for trigger in triggers[f["FunctionArn"]] or ["(none)"]:
            print(f"  {f['FunctionName']}  <- {trigger}")
    return 0
