"""CLI commands that talk to a running node as an API client would."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timezone
from typing import Any

from infra.cli.client import print_table, sagemaker_client
from infra.cli.endpoints import settings_for_client
from services.aws.logs import LogsAdapter
from services.aws.session import AwsClients
from services.core.settings import Settings
from services.execution.log_shipper import TRAINING_LOG_GROUP

TERMINAL = {"Completed", "Failed", "Stopped"}


def _duration(job: dict[str, Any]) -> str:
    start = job.get("CreationTime")
    end = job.get("TrainingEndTime") or datetime.now(timezone.utc)
    if not start:
        return "-"
    secs = int((end - start).total_seconds())
    return f"{secs // 60}m{secs % 60:02d}s" if secs >= 60 else f"{secs}s"


async def print_jobs(settings: Settings, status: str | None = None, limit: int = 50) -> int:
    """``headwater jobs``: name, status, secondary status, duration, newest first."""
    async with sagemaker_client(settings) as sm:
        kwargs: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": min(limit, 100)}
        if status:
            kwargs["StatusEquals"] = status
        jobs = (await sm.list_training_jobs(**kwargs))["TrainingJobSummaries"]
    rows = [("NAME", "STATUS", "SECONDARY", "DURATION", "CREATED")]
    for j in jobs:
        rows.append((j["TrainingJobName"], j["TrainingJobStatus"], j.get("SecondaryStatus", "-"), _duration(j),
                     j["CreationTime"].astimezone().strftime("%Y-%m-%d %H:%M:%S")))
    print_table(rows)
    if not jobs:
        print("(no training jobs)")
    return 0


async def print_logs(settings: Settings, job: str, follow: bool = False) -> int:
    """``headwater logs <job> [--follow]``: the container's log from CloudWatch."""
    cs, _ = settings_for_client(settings.state_dir, settings.aws_endpoint)
    async with sagemaker_client(settings) as sm, AwsClients(cs) as clients:
        logs = LogsAdapter(clients.logs)

        async def running() -> bool:
            return (await sm.describe_training_job(TrainingJobName=job))["TrainingJobStatus"] not in TERMINAL

        await sm.describe_training_job(TrainingJobName=job)  # ResourceNotFound reads better than no output
        seen: set[str] = set()
        while True:
            streams = [s for s in await logs.streams(TRAINING_LOG_GROUP, f"{job}/") if s not in seen]
            for stream in streams:
                seen.add(stream)
                async for _, message in logs.tail(TRAINING_LOG_GROUP, stream, follow=running if follow else None):
                    print(message, flush=True)
            if not follow or not await running():
                # one last look: the final lines land just before the status flips
                for stream in [s for s in await logs.streams(TRAINING_LOG_GROUP, f"{job}/") if s not in seen]:
                    seen.add(stream)
                    async for _, message in logs.tail(TRAINING_LOG_GROUP, stream):
                        print(message, flush=True)
                break
            await asyncio.sleep(0.5)
        final = await sm.describe_training_job(TrainingJobName=job)
    if follow:
        print(f"--- {job}: {final['TrainingJobStatus']} ({final.get('SecondaryStatus')})"
              + (f": {final['FailureReason']}" if final.get("FailureReason") else ""), flush=True)
    return 0 if final["TrainingJobStatus"] != "Failed" else 1


async def stop_job(settings: Settings, job: str) -> int:
    """``headwater stop <job>``."""
    async with sagemaker_client(settings) as sm:
        await sm.stop_training_job(TrainingJobName=job)
    print(f"Stopping {job}")
    return 0


async def invoke_handler(settings: Settings, name: str, event: Any) -> int:
    """``headwater invoke <name> --event file.json``: the handler, in this process."""
    import json

    from handlers.lambda_adapter import find_handler, invoke
    from infra.composition.handlers import handler_deps
    from infra.composition.services import build_services

    if settings.aws_endpoint is None:
        settings, _ = settings_for_client(settings.state_dir, None)
    spec = find_handler(name)
    async with AwsClients(settings) as clients:
        result = await invoke(spec, event, handler_deps(build_services(settings, clients)))
    print(json.dumps(result, indent=2, default=str))
    return 1 if result.get("batchItemFailures") else 0


async def run_workers(settings: Settings) -> int:
    """``headwater worker``: workers against a node's AWS endpoint, until Ctrl-C."""
    from infra.cli.signals import stop_on_signals
    from infra.composition.services import build_services
    from infra.composition.workers import build_worker, warm_pool

    control_plane = None  # the SageMaker endpoint jobs' code calls: the node's, when one runs here
    if settings.aws_endpoint is None:
        base, endpoints = settings_for_client(settings.state_dir, None)
        settings = settings.model_copy(update={"aws_endpoint": base.aws_endpoint, "region": base.region})
        control_plane = endpoints.get("sagemaker")
    stop = asyncio.Event()
    stop_on_signals(stop, "headwater worker")
    pool = warm_pool(settings)
    async with AwsClients(settings) as clients:
        worker = build_worker(build_services(settings, clients), control_plane=control_plane, pool=pool,
                              runs_handlers=False)
        print(f"worker {worker.worker_id}: {settings.worker_concurrency} slot(s) on {settings.endpoint_url}",
              flush=True)
        try:
            await worker.run(stop)
        finally:
            if pool is not None:
                await pool.close()
    return 0


async def print_dead_letters(settings: Settings, handler: str | None) -> int:
    """``headwater dlq [handler]``: peek at dead-lettered messages and their errors."""
    from handlers.registry import load_handlers
    from services.aws.sqs import SqsAdapter

    settings, _ = settings_for_client(settings.state_dir, settings.aws_endpoint)
    names = [handler] if handler else sorted(load_handlers())
    async with AwsClients(settings) as clients:
        sqs = SqsAdapter(clients.sqs)
        total = 0
        for name in names:
            # a short visibility timeout: peeking must not hide messages for long
            msgs = await sqs.receive(settings.dlq_name(name), max_messages=10, wait_seconds=0,
                                     visibility_timeout=1)
            for m in msgs:
                total += 1
                a = m.message_attributes
                print(f"{name}  {m.message_id}  attempts={a.get('Attempts', m.receive_count)}  "
                      f"{a.get('ErrorType', '?')}: {a.get('ErrorMessage', '(no error recorded)')}")
                print(f"    body: {m.body[:200]}")
    if not total:
        print("(no dead-lettered messages)", file=sys.stderr)
    return 0


async def print_models(settings: Settings, group: str) -> int:
    """``headwater models <group>``: versions with approval, metrics and the training job behind each."""
    cs, _ = settings_for_client(settings.state_dir, settings.aws_endpoint)
    async with sagemaker_client(settings) as sm, AwsClients(cs) as clients:
        pages = sm.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group,
                                                                 SortBy="CreationTime", SortOrder="Ascending")
        arns = [p["ModelPackageArn"] async for page in pages for p in page["ModelPackageSummaryList"]]
        rows = [("VERSION", "APPROVAL", "CREATED", "METRICS", "TRAINED BY", "DATA")]
        for arn in arns:
            d = await sm.describe_model_package(ModelPackageName=arn)
            metrics = await _metric_values(clients.s3, d.get("ModelMetrics") or {})
            job_arn = (d.get("MetadataProperties") or {}).get("GeneratedBy", "")
            job, data = "-", "-"
            if ":training-job/" in job_arn:
                t = await sm.describe_training_job(TrainingJobName=job_arn.rsplit("/", 1)[1])
                job = t["TrainingJobName"]
                data = " ".join(c["DataSource"]["S3DataSource"]["S3Uri"] for c in t.get("InputDataConfig", []))
            rows.append((str(d["ModelPackageVersion"]), d.get("ModelApprovalStatus", "-"),
                         d["CreationTime"].astimezone().strftime("%Y-%m-%d %H:%M:%S"), metrics or "-", job, data))
    print_table(rows)
    if not arns:
        print(f"(no model packages in {group})")
    return 0


async def _metric_values(s3: Any, model_metrics: dict[str, Any]) -> str:
    """``name=value`` for the metrics in a package's ModelMetrics reports (JSON in S3),
    e.g. ``ModelQuality.Statistics`` in SageMaker's model quality format."""
    import json

    from services.aws.s3 import parse_s3_uri

    found: dict[str, float] = {}

    def walk(node: Any, name: str = "") -> None:
        if isinstance(node, dict):
            if isinstance(node.get("value"), (int, float)) and name:
                found[name] = float(node["value"])
            for key, child in node.items():
                walk(child, key)

    for reports in model_metrics.values():
        for report in (reports or {}).values():
            uri = report.get("S3Uri") if isinstance(report, dict) else None
            if not uri:
                continue
            try:
                bucket, key = parse_s3_uri(uri)
                body = await (await s3.get_object(Bucket=bucket, Key=key))["Body"].read()
                walk(json.loads(body))
            except Exception:  # noqa: BLE001 - a missing report is shown as no metrics
                continue
    return ", ".join(f"{k}={v:.4g}" for k, v in sorted(found.items()))


async def approve_package(settings: Settings, arn: str, description: str | None, reject: bool) -> int:
    """``headwater approve <package arn> [--reject] [--description ...]``."""
    async with sagemaker_client(settings) as sm:
        kwargs: dict[str, Any] = {"ModelPackageArn": arn, "ModelApprovalStatus": "Rejected" if reject else "Approved"}
        if description:
            kwargs["ApprovalDescription"] = description
        await sm.update_model_package(**kwargs)
        d = await sm.describe_model_package(ModelPackageName=arn)
    print(f"{arn}: {d['ModelApprovalStatus']}")
    return 0


async def run_monitoring_now(settings: Settings, schedule: str) -> int:
    """``headwater monitor <schedule>``: one execution now, followed to its end."""
    from infra.composition.services import build_services

    settings, _ = settings_for_client(settings.state_dir, settings.aws_endpoint)
    async with AwsClients(settings) as clients, sagemaker_client(settings) as sm:
        monitoring = build_services(settings, clients).monitoring
        execution = await monitoring.run_execution(schedule)
        print(f"{schedule}: execution {execution.processing_job_name} {execution.status}", flush=True)
        while execution.status in ("Pending", "InProgress"):
            await asyncio.sleep(1.0)
            listed = (await sm.list_monitoring_executions(MonitoringScheduleName=schedule, SortBy="CreationTime",
                                                          SortOrder="Descending", MaxResults=1))
            summary = listed["MonitoringExecutionSummaries"][0]
            execution.status = summary["MonitoringExecutionStatus"]
            reason = summary.get("FailureReason", "")
        print(f"{schedule}: {execution.status}" + (f": {reason}" if execution.status == "Failed" else ""))
    return 0 if execution.status in ("Completed", "CompletedWithViolations") else 1


async def print_rules(settings: Settings) -> int:
    """``headwater rules``: every rule of the stack as provisioned, with its handler and pattern, then the user's
    own rules on every bus, with their targets and state."""
    import json

    from handlers.registry import load_handlers
    from infra.stack import declare_stack

    settings, _ = settings_for_client(settings.state_dir, settings.aws_endpoint)
    handlers = load_handlers()
    stack = declare_stack(settings, handlers)
    async with AwsClients(settings) as clients:
        for rule in stack.rules:
            try:
                live = await clients.events.describe_rule(Name=rule.name, EventBusName=rule.bus)
                targets = (await clients.events.list_targets_by_rule(Rule=rule.name, EventBusName=rule.bus))["Targets"]
                state = live.get("State", "?")
                target = ", ".join(t["Arn"].rsplit(":", 1)[-1] for t in targets) or "(no target)"
            except Exception as err:  # noqa: BLE001 - show what is missing rather than stop
                state, target = f"not provisioned ({type(err).__name__})", "-"
            handler = rule.queue.removeprefix(f"{settings.resource_prefix}-")
            print(f"{rule.name}  [{state}]  bus={rule.bus}")
            print(f"    handler: {handler} ({handlers[handler].module}) <- queue {target}")
            print(f"    pattern: {json.dumps(rule.pattern, sort_keys=True)}")
        ours = {(rule.bus, rule.name) for rule in stack.rules}
        for bus, live in await _all_rules(clients.events):
            if (bus, live["Name"]) in ours:
                continue
            targets = await _all_targets(clients.events, live["Name"], bus)
            print(f"{live['Name']}  [{live.get('State', '?')}]  bus={bus}  (yours)")
            print(f"    targets: {', '.join(_target_text(t['Arn']) for t in targets) or '(no target)'}")
            if live.get("EventPattern"):
                print(f"    pattern: {json.dumps(json.loads(live['EventPattern']), sort_keys=True)}")
            if live.get("ScheduleExpression"):
                print(f"    schedule: {live['ScheduleExpression']}")
    return 0


async def _all_rules(events: Any) -> list[tuple[str, dict[str, Any]]]:
    """``(bus, rule)`` for every rule of every event bus, in bus then rule order."""
    out: list[tuple[str, dict[str, Any]]] = []
    buses = sorted(b["Name"] for b in (await events.list_event_buses()).get("EventBuses", [])) or ["default"]
    for bus in buses:
        token: str | None = None
        while True:
            page = await events.list_rules(EventBusName=bus, **({"NextToken": token} if token else {}))
            out += [(bus, r) for r in sorted(page.get("Rules", []), key=lambda r: r["Name"])]
            token = page.get("NextToken")
            if not token:
                break
    return out


async def _all_targets(events: Any, rule: str, bus: str) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = await events.list_targets_by_rule(Rule=rule, EventBusName=bus, **({"NextToken": token} if token else {}))
        targets += page.get("Targets", [])
        token = page.get("NextToken")
        if not token:
            break
    return targets


def _target_text(arn: str) -> str:
    """A target ARN as a reader names it: ``function <name>``, ``queue <name>``, ..., or the ARN itself."""
    parts = arn.split(":")
    if len(parts) >= 6 and parts[2] == "lambda" and parts[5] == "function":
        return f"function {parts[6]}" + (f":{parts[7]}" if len(parts) > 7 else "")
    if len(parts) >= 6 and parts[2] in ("sqs", "sns"):
        return f"{'queue' if parts[2] == 'sqs' else 'topic'} {parts[5]}"
    if len(parts) >= 6 and parts[2] == "events" and parts[5].startswith("event-bus/"):
        return f"bus {parts[5].removeprefix('event-bus/')}"
    return arn
