"""What the console's pages show, read from the node's own services.

Reads go through the node's SageMaker API handlers in process (:meth:`AwsJsonService.invoke`), so a page
shows exactly what ``Describe*``/``List*`` return to a boto3 user; metrics come from the CloudWatch series
the training executor puts, logs from CloudWatch Logs. No state of its own.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from handlers.runtime import HandlerRuntime
from infra.composition.functions import Functions
from infra.composition.services import Services
from services.api.server import AwsJsonService
from services.core.exceptions import ServiceError
from services.execution.log_shipper import TRAINING_LOG_GROUP
from services.execution.worker import Worker

TERMINAL = {"Completed", "Failed", "Stopped"}
# Overview lists: the most recent of each kind.
RECENT = 20


def metric_chart_key(metric: str) -> str:
    """The chart a metric goes on: ``train:rmse`` and ``validation:rmse`` share ``rmse``."""
    return metric.split(":", 1)[1] if ":" in metric else metric


@dataclass
class ConsoleData:
    """The node's parts a page reads."""

    services: Services
    api: AwsJsonService
    worker: Worker | None = None
    runtime: HandlerRuntime | None = None
    functions: Functions | None = None

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One SageMaker API operation, in process."""
        return dict(await self.api.invoke(operation, params))

    async def _listed(self, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
        with contextlib.suppress(ServiceError):  # a kind this node does not serve shows as empty
            return list((await self.call(operation, MaxResults=RECENT, **params)).get(key, []))
        return []

    async def overview(self) -> dict[str, Any]:
        """Jobs of every kind, endpoints, pipeline executions, functions, dead letters, the worker's slots."""
        by_time = {"SortBy": "CreationTime", "SortOrder": "Descending"}
        jobs: list[dict[str, Any]] = []
        for kind, op, key, name, status in (
                ("Training", "ListTrainingJobs", "TrainingJobSummaries", "TrainingJobName", "TrainingJobStatus"),
                ("Tuning", "ListHyperParameterTuningJobs", "HyperParameterTuningJobSummaries",
                 "HyperParameterTuningJobName", "HyperParameterTuningJobStatus"),
                ("Processing", "ListProcessingJobs", "ProcessingJobSummaries", "ProcessingJobName",
                 "ProcessingJobStatus"),
                ("Transform", "ListTransformJobs", "TransformJobSummaries", "TransformJobName", "TransformJobStatus")):
            for s in await self._listed(op, key, **by_time):
                jobs.append({"kind": kind, "name": s[name], "status": s[status],
                             "created": s.get("CreationTime", 0), "ended": s.get("TrainingEndTime")})
        jobs.sort(key=lambda j: j["created"], reverse=True)
        executions: list[dict[str, Any]] = []
        for p in await self._listed("ListPipelines", "PipelineSummaries"):
            for e in await self._listed("ListPipelineExecutions", "PipelineExecutionSummaries",
                                        PipelineName=p["PipelineName"]):
                executions.append({**e, "PipelineName": p["PipelineName"]})
        return {"jobs": jobs, "running": [j for j in jobs if j["status"] not in TERMINAL],
                "endpoints": await self._listed("ListEndpoints", "Endpoints", **by_time),
                "executions": executions, "functions": await self.function_errors(),
                "dead_letters": self.dead_letters(), "workers": self.workers()}

    async def function_errors(self) -> list[dict[str, Any]]:
        """Functions whose ``AWS/Lambda`` ``Errors`` metric counts any in the last day."""
        if self.functions is None:
            return []
        out = []
        end = datetime.now(timezone.utc) + timedelta(minutes=1)
        for f in await self.functions.service.list_functions():
            name = f["FunctionName"]
            resp = await self.services.cloudwatch.client.get_metric_statistics(
                Namespace="AWS/Lambda", MetricName="Errors", Dimensions=[{"Name": "FunctionName", "Value": name}],
                StartTime=end - timedelta(days=1), EndTime=end, Period=86400, Statistics=["Sum"])
            errors = int(sum(p["Sum"] for p in resp.get("Datapoints", [])))
            if errors:
                out.append({"name": name, "errors": errors})
        return out

    def dead_letters(self) -> list[dict[str, Any]]:
        """The handlers whose messages this node's runtime dead-lettered."""
        if self.runtime is None:
            return []
        return [{"handler": h, "count": c["dead_lettered"]} for h, c in sorted(self.runtime.stats.items())
                if c["dead_lettered"]]

    def workers(self) -> list[dict[str, Any]]:
        """This node's worker: its slots and what runs in them."""
        if self.worker is None:
            return []
        s = self.services.settings
        busy = [kind for kind, _ in self.worker.running]  # the (kind, job) pairs running now
        return [{"id": self.worker.worker_id, "slots": s.worker_concurrency, "busy": len(busy),
                 "kinds": sorted(set(busy))}]

    async def training_job(self, name: str) -> dict[str, Any]:
        """``DescribeTrainingJob``, or :class:`ResourceNotFound`."""
        return await self.call("DescribeTrainingJob", TrainingJobName=name)

    async def metric_series(self, job: dict[str, Any]) -> dict[str, Any]:
        """Every ``FinalMetricDataList`` metric (or, while running, every defined one) over time, from the
        CloudWatch series: ``{"charts": {key: {metric: {"t": [...], "v": [...]}}}}``, one-second periods."""
        names = [m["MetricName"] for m in job.get("FinalMetricDataList") or []]
        if not names:
            names = [d["Name"] for d in job.get("AlgorithmSpecification", {}).get("MetricDefinitions", [])]
        start = datetime.fromtimestamp(job["CreationTime"], timezone.utc) - timedelta(minutes=1)
        end = datetime.fromtimestamp(job.get("TrainingEndTime") or datetime.now(timezone.utc).timestamp(),
                                     timezone.utc) + timedelta(minutes=1)
        charts: dict[str, dict[str, dict[str, list[float]]]] = {}
        host = {"Name": "Host", "Value": f"{job['TrainingJobName']}/algo-1"}
        queries = [{"Id": f"m{i}", "Label": n, "ReturnData": True,
                    "MetricStat": {"Metric": {"Namespace": TRAINING_LOG_GROUP, "MetricName": n,
                                              "Dimensions": [host]}, "Period": 1, "Stat": "Average"}}
                   for i, n in enumerate(names)]
        if queries:
            resp = await self.services.cloudwatch.client.get_metric_data(
                MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampAscending")
            for q, result in zip(queries, resp.get("MetricDataResults", []), strict=False):
                pairs = sorted(zip(result.get("Timestamps", []), result.get("Values", []), strict=False))
                charts.setdefault(metric_chart_key(q["Label"]), {})[q["Label"]] = {
                    "t": [t.timestamp() for t, _ in pairs], "v": [v for _, v in pairs]}
        return {"charts": charts}

    async def log_lines(self, name: str, cursor: dict[str, str | None]) -> list[str]:
        """The job's log lines after ``cursor`` (``{stream: next token}``, updated in place)."""
        client = self.services.logs.client
        out: list[str] = []
        for stream in await self.services.logs.streams(TRAINING_LOG_GROUP, f"{name}/"):
            kwargs: dict[str, Any] = {"logGroupName": TRAINING_LOG_GROUP, "logStreamName": stream,
                                      "startFromHead": True}
            if cursor.get(stream):
                kwargs["nextToken"] = cursor[stream]
            while True:
                resp = await client.get_log_events(**kwargs)
                out.extend(str(e["message"]) for e in resp.get("events", []))
                token = resp.get("nextForwardToken")
                if not resp.get("events") or token == kwargs.get("nextToken"):
                    cursor[stream] = token or kwargs.get("nextToken")
                    break
                kwargs["nextToken"] = cursor[stream] = token
        return out

    async def packages_of(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        """The model packages registered from this job's model artifact (lineage)."""
        artifact = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        if not artifact:
            return []
        out = []
        for group in await self._listed("ListModelPackageGroups", "ModelPackageGroupSummaryList"):
            for p in await self.packages(group["ModelPackageGroupName"]):
                if artifact in p["artifacts"]:
                    out.append(p)
        return out

    async def packages(self, group: str) -> list[dict[str, Any]]:
        """A group's versions, newest first, each with the metrics of the training job that made it."""
        out = []
        for s in await self._listed("ListModelPackages", "ModelPackageSummaryList", ModelPackageGroupName=group,
                                    SortBy="CreationTime", SortOrder="Descending"):
            d = await self.call("DescribeModelPackage", ModelPackageName=s["ModelPackageArn"])
            artifacts = {c.get("ModelDataUrl") for c in d.get("InferenceSpecification", {}).get("Containers", [])}
            artifacts.discard(None)
            source = await self.services.training.find_generator("", set(artifacts)) if artifacts else None
            metrics = {m.metric_name: m.value for m in (source.final_metric_data_list or [])} if source else {}
            out.append({**d, "artifacts": artifacts, "metrics": metrics,
                        "TrainingJobName": source.training_job_name if source else None})
        return out
