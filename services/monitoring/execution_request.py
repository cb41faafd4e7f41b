"""A monitoring execution as the processing job that runs it.

A schedule's job definition (inline ``MonitoringJobDefinition``, or a
``DataQuality`` / ``ModelQuality`` job definition by name) becomes a
``CreateProcessingJob`` request with the analyzer's environment contract
(SageMaker's variable names: ``dataset_format``, ``dataset_source``,
``output_path``, ``baseline_constraints``, ``start_time`` ...), the
endpoint's captured data as input, the baseline files, ground truth for
model quality, and outputs under ``<S3Uri>/<endpoint>/<schedule>/yyyy/mm/dd/hh``
as SageMaker lays them out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.monitoring.models import DEFINITION_KEYS, JobDefinition

CAPTURE_FORMAT = json.dumps({"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}})
DEFAULT_INPUT = "/opt/ml/processing/input/endpoint"
DEFAULT_OUTPUT = "/opt/ml/processing/resultdata"
BASELINE_CONSTRAINTS_DIR = "/opt/ml/processing/baseline/constraints"
BASELINE_STATISTICS_DIR = "/opt/ml/processing/baseline/stats"
GROUND_TRUTH_DIR = "/opt/ml/processing/groundtruth"


@dataclass
class Definition:
    """What any definition form says, normalized."""

    monitoring_type: str
    app: dict[str, Any]
    endpoint_input: dict[str, Any]
    outputs: list[dict[str, Any]]
    resources: dict[str, Any]
    role_arn: str
    baseline: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    stopping_condition: dict[str, Any] | None = None
    ground_truth_uri: str | None = None
    name: str | None = None


def from_inline(config: dict[str, Any]) -> Definition:
    """A ``MonitoringScheduleConfig.MonitoringJobDefinition``."""
    d = config["MonitoringJobDefinition"]
    return Definition(
        monitoring_type=config.get("MonitoringType", "DataQuality"), app=d["MonitoringAppSpecification"],
        endpoint_input=(d["MonitoringInputs"][0].get("EndpointInput") or {}),
        outputs=[o["S3Output"] for o in d["MonitoringOutputConfig"]["MonitoringOutputs"]],
        resources=d["MonitoringResources"], role_arn=d["RoleArn"], baseline=d.get("BaselineConfig") or {},
        environment=dict(d.get("Environment") or {}), stopping_condition=d.get("StoppingCondition"))


def from_job_definition(job: JobDefinition) -> Definition:
    """A stored DataQuality / ModelQuality job definition."""
    app_key, input_key, output_key, baseline_key = DEFINITION_KEYS[job.monitoring_type]
    r = job.request
    job_input = r[input_key]
    app = dict(r[app_key])
    return Definition(
        monitoring_type=job.monitoring_type, app=app, endpoint_input=job_input.get("EndpointInput") or {},
        outputs=[o["S3Output"] for o in r[output_key]["MonitoringOutputs"]], resources=r["JobResources"],
        role_arn=r["RoleArn"], baseline=r.get(baseline_key) or {}, environment=dict(app.get("Environment") or {}),
        stopping_condition=r.get("StoppingCondition"),
        ground_truth_uri=(job_input.get("GroundTruthS3Input") or {}).get("S3Uri"), name=job.name)


def _s3_input(name: str, uri: str, local: str, mode: str = "File") -> dict[str, Any]:
    return {"InputName": name, "S3Input": {"S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix",
                                           "S3InputMode": mode, "S3DataDistributionType": "FullyReplicated"}}


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def processing_request(job_name: str, schedule: str, d: Definition, capture_uri: str, endpoint: str,
                       start: datetime, end: datetime, scheduled: datetime) -> dict[str, Any]:
    """The ``CreateProcessingJob`` request of one execution."""
    local_in = d.endpoint_input.get("LocalPath") or DEFAULT_INPUT
    inputs = [_s3_input("endpoint_input_1", f"{capture_uri.rstrip('/')}/{endpoint}/", local_in,
                        d.endpoint_input.get("S3InputMode") or "File")]
    env: dict[str, str] = {
        "dataset_format": CAPTURE_FORMAT,
        "dataset_source": local_in,
        "output_path": d.outputs[0].get("LocalPath") or DEFAULT_OUTPUT,
        "publish_cloudwatch_metrics": "Enabled",
        "sagemaker_endpoint_name": endpoint,
        "sagemaker_monitoring_schedule_name": schedule,
        "start_time": _iso(start),
        "end_time": _iso(end),
        "metric_time": _iso(scheduled),
    }
    constraints = (d.baseline.get("ConstraintsResource") or {}).get("S3Uri")
    statistics = (d.baseline.get("StatisticsResource") or {}).get("S3Uri")
    if constraints:
        inputs.append(_s3_input("constraints", constraints, BASELINE_CONSTRAINTS_DIR))
        env["baseline_constraints"] = f"{BASELINE_CONSTRAINTS_DIR}/{constraints.rstrip('/').rsplit('/', 1)[-1]}"
    if statistics:
        inputs.append(_s3_input("baseline", statistics, BASELINE_STATISTICS_DIR))
        env["baseline_statistics"] = f"{BASELINE_STATISTICS_DIR}/{statistics.rstrip('/').rsplit('/', 1)[-1]}"
    if d.monitoring_type == "ModelQuality":
        env["analysis_type"] = "MODEL_QUALITY"
        if d.app.get("ProblemType"):
            env["problem_type"] = d.app["ProblemType"]
        for attr, var in (("InferenceAttribute", "inference_attribute"),
                          ("ProbabilityAttribute", "probability_attribute"),
                          ("ProbabilityThresholdAttribute", "probability_threshold_attribute")):
            if d.endpoint_input.get(attr) is not None:
                env[var] = str(d.endpoint_input[attr])
        if d.ground_truth_uri:
            inputs.append(_s3_input("groundtruth_input_1", d.ground_truth_uri, GROUND_TRUTH_DIR))
            env["ground_truth_source"] = GROUND_TRUTH_DIR
    for key, var, local in (("RecordPreprocessorSourceUri", "record_preprocessor_script", "/opt/ml/processing/code/preprocessor"),
                            ("PostAnalyticsProcessorSourceUri", "post_analytics_processor_script",
                             "/opt/ml/processing/code/postprocessor")):
        if d.app.get(key):
            inputs.append(_s3_input(var, d.app[key], local))
            env[var] = f"{local}/{d.app[key].rsplit('/', 1)[-1]}"
    env.update(d.environment)
    suffix = f"{endpoint}/{schedule}/{scheduled:%Y/%m/%d/%H}"
    outputs = [{"OutputName": f"result_{n}", "S3Output": {
        "S3Uri": f"{o['S3Uri'].rstrip('/')}/{suffix}", "LocalPath": o.get("LocalPath") or DEFAULT_OUTPUT,
        "S3UploadMode": o.get("S3UploadMode") or "EndOfJob"}} for n, o in enumerate(d.outputs)]
    app = {"ImageUri": d.app["ImageUri"]}
    for key in ("ContainerEntrypoint", "ContainerArguments"):
        if d.app.get(key):
            app[key] = d.app[key]
    request: dict[str, Any] = {
        "ProcessingJobName": job_name, "ProcessingInputs": inputs,
        "ProcessingOutputConfig": {"Outputs": outputs}, "ProcessingResources": d.resources,
        "AppSpecification": app, "Environment": env, "RoleArn": d.role_arn,
        "Tags": [{"Key": "headwater:monitoring-schedule", "Value": schedule}],
    }
    if d.stopping_condition:
        request["StoppingCondition"] = d.stopping_condition
    return request
