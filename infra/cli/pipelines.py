"""``headwater pipelines`` / ``headwater pipeline``: pipelines, an execution's steps as a DAG, and starting one.

Everything goes through the node's SageMaker endpoint (``ListPipelines``, ``ListPipelineExecutions``,
``ListPipelineExecutionSteps``...), as a boto3 user would see it; following an execution polls
``ListPipelineExecutionSteps`` every ``poll_seconds`` until the execution ends.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timezone
from typing import Any

from infra.cli.client import print_table, sagemaker_client
from services.core.settings import Settings
from services.pipelines.definition import Definition, parse_definition

TERMINAL = {"Succeeded", "Failed", "Stopped"}


async def _all(call: Any, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a paged ``List*`` call."""
    items: list[dict[str, Any]] = []
    while True:
        page = await call(**kwargs)
        items += page.get(key, [])
        if not page.get("NextToken"):
            return items
        kwargs["NextToken"] = page["NextToken"]


def _when(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


async def print_pipelines(settings: Settings) -> int:
    """Each pipeline with its latest execution and that execution's status."""
    async with sagemaker_client(settings) as sm:
        pipelines = await _all(sm.list_pipelines, "PipelineSummaries", MaxResults=100)
        latest = await asyncio.gather(*(sm.list_pipeline_executions(PipelineName=p["PipelineName"], MaxResults=1)
                                         for p in pipelines))
    if not pipelines:
        print("(no pipelines)")
        return 0
    rows = [("PIPELINE", "CREATED", "LATEST EXECUTION", "STATUS", "STARTED")]
    for p, found in sorted(zip(pipelines, latest, strict=True), key=lambda x: x[0]["PipelineName"]):
        e = (found.get("PipelineExecutionSummaries") or [None])[0]
        rows.append((p["PipelineName"], _when(p.get("CreationTime")),
                     e["PipelineExecutionArn"].rsplit("/", 1)[-1] if e else "-",
                     e["PipelineExecutionStatus"] if e else "-", _when(e["StartTime"]) if e else "-"))
    print_table(rows)
    return 0


def _depths(definition: Definition) -> dict[str, int]:
    """Each step's depth in the DAG (0 for a step that waits for none)."""
    depths: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in depths:
            depths[name] = 0  # a definition with a cycle never gets here: CreatePipeline refuses it
            ups = [u for u in definition.steps[name].upstream if u in definition.steps]
            depths[name] = 1 + max((depth(u) for u in ups), default=-1)
        return depths[name]

    for name in definition.steps:
        depth(name)
    return depths


def _job(metadata: dict[str, Any]) -> str:
    """What a step ran, from its ``Metadata``: ``training-job/<name>``, ``model/<name>``..."""
    for value in metadata.values():
        if isinstance(value, dict) and isinstance(value.get("Arn"), str) and ":" in value["Arn"]:
            return value["Arn"].rsplit(":", 1)[-1]
    return "-"


def _duration(step: dict[str, Any], now: datetime) -> str:
    start, end = step.get("StartTime"), step.get("EndTime")
    if start is None:
        return "-"
    seconds = ((end or now) - start).total_seconds()
    return f"{seconds:.1f}s" if seconds < 120 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def dag_lines(definition: Definition, described: dict[str, Any], steps: list[dict[str, Any]],
              now: datetime) -> list[str]:
    """The execution's header, then each step of the definition in DAG order (indented by depth, with
    the steps it waits for): status, duration, cache hit and the job it ran."""
    execution_id = described["PipelineExecutionArn"].rsplit("/", 1)[-1]
    lines = [f"{described.get('PipelineExecutionDisplayName') or execution_id}  "
             f"{described['PipelineExecutionStatus']}  started {_when(described.get('CreationTime'))}"]
    if described.get("FailureReason"):
        lines.append(f"Failure reason: {described['FailureReason']}")
    by_name = {s["StepName"]: s for s in steps}
    depths = _depths(definition)
    order = sorted(definition.steps, key=lambda n: (depths[n], list(definition.steps).index(n)))
    rows = [("STEP", "TYPE", "STATUS", "DURATION", "CACHE", "JOB", "AFTER")]
    for name in order:
        step, ran = definition.steps[name], by_name.get(name)
        after = sorted(u for u in step.upstream if step.branch is None or u != step.branch[0])
        if step.branch is not None:
            after.insert(0, f"{step.branch[0]}={'true' if step.branch[1] else 'false'}")
        cache = "-"
        if ran and ran.get("CacheHitResult"):
            cache = "hit " + ran["CacheHitResult"].get("SourcePipelineExecutionArn", "").rsplit("/", 1)[-1]
        rows.append(("  " * depths[name] + name, step.type, ran["StepStatus"] if ran else "(waiting)",
                     _duration(ran, now) if ran else "-", cache, _job(ran.get("Metadata") or {}) if ran else "-",
                     ", ".join(after) or "-"))
        if ran and ran.get("FailureReason"):
            rows.append(("  " * depths[name] + "  ! " + ran["FailureReason"][:100], "", "", "", "", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return lines


async def print_pipeline(settings: Settings, name: str, execution_arn: str | None = None, follow: bool = False,
                         poll_seconds: float = 2.0) -> int:
    """Print an execution of ``name`` (the latest unless ``execution_arn``) as a DAG; with ``follow``, again
    on every change until the execution ends. Exits 1 when the execution failed."""
    clear = follow and sys.stdout.isatty()
    last: list[str] = []
    async with sagemaker_client(settings) as sm:
        if execution_arn is None:
            found = (await sm.list_pipeline_executions(PipelineName=name, MaxResults=1))["PipelineExecutionSummaries"]
            if not found:
                print(f"Pipeline {name} has not run yet.")
                return 0
            execution_arn = found[0]["PipelineExecutionArn"]
        text = (await sm.describe_pipeline_definition_for_execution(
            PipelineExecutionArn=execution_arn))["PipelineDefinition"]
        definition = parse_definition(text)
        while True:
            described = await sm.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
            steps = await _all(sm.list_pipeline_execution_steps, "PipelineExecutionSteps",
                               PipelineExecutionArn=execution_arn, MaxResults=100)
            lines = dag_lines(definition, described, steps, datetime.now(timezone.utc))
            if lines != last:
                if clear:
                    print("\x1b[H\x1b[2J", end="")
                elif last:
                    print()
                print("\n".join(lines), flush=True)
                last = lines
            status = described["PipelineExecutionStatus"]
            if status in TERMINAL or not follow:
                break
            await asyncio.sleep(poll_seconds)
    return 1 if status == "Failed" else 0


def parse_parameters(pairs: list[str]) -> list[dict[str, str]]:
    """``Name=Value`` pairs as ``PipelineParameters``; a pair without ``=`` is a clear error."""
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"a parameter is Name=Value, not {pair!r}")
        out.append({"Name": key, "Value": value})
    return out


async def start_pipeline(settings: Settings, name: str, parameters: list[str]) -> int:
    """Start an execution of ``name`` with ``parameters`` (``Name=Value``); prints its ARN."""
    async with sagemaker_client(settings) as sm:
        started = await sm.start_pipeline_execution(PipelineName=name,
                                                    PipelineParameters=parse_parameters(parameters))
    print(started["PipelineExecutionArn"])
    return 0
