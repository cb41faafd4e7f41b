"""A pipeline execution survives its node: a node stopped while a step's job runs, and a new node on the same
state folder, finish the execution with nothing started twice.

The first node hands the running job back as it stops; the second node's worker runs it again under the same
name, its end is an event like any other, and the execution's next step starts from it (the node's sweep at
start advances what no event will).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.sdk_env import ROLE
from tests.support import NodeThread, free_port_settings, wait_for

SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def _processing(name: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Type": "Processing", **extra, "Arguments": {
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                  "VolumeSizeInGB": 1}},
        "AppSpecification": {"ImageUri": SKLEARN, "ContainerEntrypoint": ["python3", "-c", code]},
        "RoleArn": ROLE, "StoppingCondition": {"MaxRuntimeInSeconds": 300}}}


DEFINITION = {"Version": "2020-12-01", "Steps": [
    _processing("Slow", "import time; print('working', flush=True); time.sleep(4)"),
    _processing("Next", "print('next')", DependsOn=["Slow"])]}


def test_an_execution_cut_by_a_node_stop_finishes_on_the_next_node(tmp_path: Path) -> None:
    state = tmp_path / "node"
    first = NodeThread(free_port_settings(state)).start()
    try:
        sm = first.client("sagemaker")
        sm.create_pipeline(PipelineName="restarted", PipelineDefinition=json.dumps(DEFINITION), RoleArn=ROLE)
        arn = sm.start_pipeline_execution(PipelineName="restarted")["PipelineExecutionArn"]

        def slow_job() -> str | None:
            steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
            return next((s["Metadata"]["ProcessingJob"]["Arn"] for s in steps
                         if s["StepName"] == "Slow" and s["StepStatus"] == "Executing"), None)

        job = wait_for(slow_job, 60, what="the Slow step's job").rsplit("/", 1)[-1]
    finally:
        first.stop()

    again = NodeThread(free_port_settings(state)).start()
    try:
        sm = again.client("sagemaker")
        done = wait_for(lambda: (d := sm.describe_pipeline_execution(PipelineExecutionArn=arn))[
            "PipelineExecutionStatus"] != "Executing" and d, 120, what="the execution to end on the new node")
        assert done["PipelineExecutionStatus"] == "Succeeded", done.get("FailureReason")
        steps = {s["StepName"]: s for s in sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)[
            "PipelineExecutionSteps"]}
        assert {n: (s["StepStatus"], s["AttemptCount"]) for n, s in steps.items()} == {
            "Slow": ("Succeeded", 1), "Next": ("Succeeded", 1)}
        assert steps["Slow"]["Metadata"]["ProcessingJob"]["Arn"].endswith(job)  # the same job, resumed
        assert sm.describe_processing_job(ProcessingJobName=job)["ProcessingJobStatus"] == "Completed"
        jobs = sm.list_processing_jobs(NameContains=arn.rsplit("/", 1)[-1])["ProcessingJobSummaries"]
        assert len(jobs) == 2  # one per step: nothing was started twice
    finally:
        again.stop()
