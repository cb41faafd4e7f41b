"""``headwater pipelines`` and ``headwater pipeline``, run as a user runs them against a real node."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sdk_env import ROLE
from tests.support import NodeThread, free_port_settings

SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def _processing(name: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Type": "Processing", **extra, "Arguments": {
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                  "VolumeSizeInGB": 1}},
        "AppSpecification": {"ImageUri": SKLEARN, "ContainerEntrypoint": ["python3", "-c", code]},
        "RoleArn": ROLE, "StoppingCondition": {"MaxRuntimeInSeconds": 300}}}


DEFINITION = {"Version": "2020-12-01", "Parameters": [{"Name": "Rounds", "Type": "Integer", "DefaultValue": 1}],
              "Steps": [
                  _processing("Prepare", "print('prepared')", CacheConfig={"Enabled": True, "ExpireAfter": "PT1H"}),
                  {"Name": "Enough", "Type": "Condition", "DependsOn": ["Prepare"], "Arguments": {
                      "Conditions": [{"Type": "GreaterThanOrEqualTo", "LeftValue": {"Get": "Parameters.Rounds"},
                                      "RightValue": 2}],
                      "IfSteps": [_processing("Report", "print('report')")],
                      "ElseSteps": [{"Name": "TooFew", "Type": "Fail",
                                     "Arguments": {"ErrorMessage": "too few rounds"}}]}}]}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    running = NodeThread(free_port_settings(tmp_path_factory.mktemp("pipelines-cli"))).start()
    try:
        yield running
    finally:
        running.stop()


def _cli(node: NodeThread, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "infra.cli", "--state-dir", str(node.settings.state_dir), *args],
                          capture_output=True, text=True, timeout=180, cwd=Path(__file__).parents[2])


def _row(out: str, first: str) -> list[str]:
    return next(line.split() for line in out.splitlines() if line.split()[:1] == [first])


def test_start_follow_and_list_a_pipeline_from_the_command_line(node: NodeThread) -> None:
    sm = node.client("sagemaker")
    sm.create_pipeline(PipelineName="cli", PipelineDefinition=json.dumps(DEFINITION), RoleArn=ROLE)
    listed = _cli(node, "pipelines")
    assert listed.returncode == 0, listed.stderr
    assert _row(listed.stdout, "cli")[-3:] == ["-", "-", "-"]  # never ran

    refused = _cli(node, "pipeline", "start", "cli", "-p", "Rounds=many")
    assert refused.returncode == 1 and "ValidationException" in refused.stderr and "Rounds" in refused.stderr
    started = _cli(node, "pipeline", "start", "cli", "-p", "Rounds=3")
    assert started.returncode == 0, started.stderr
    arn = started.stdout.strip()
    assert arn.startswith("arn:aws:sagemaker:") and "/execution/" in arn
    assert {p["Name"]: p["Value"] for p in sm.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=arn)["PipelineParameters"]} == {"Rounds": "3"}

    followed = _cli(node, "pipeline", "cli", "--follow")  # ends by itself when the execution does
    assert followed.returncode == 0, followed.stderr
    final = followed.stdout.split("\n\n")[-1]  # the last drawing
    assert final.splitlines()[0].split()[:2] == [arn.rsplit("/", 1)[-1], "Succeeded"]
    prepare, enough, report, too_few = (_row(final, n) for n in ("Prepare", "Enough", "Report", "TooFew"))
    assert prepare[1:3] == ["Processing", "Succeeded"] and prepare[3].endswith("s") and prepare[4] == "-"
    assert prepare[5].startswith("processing-job/pipelines-") and prepare[6] == "-"
    assert enough[1:3] == ["Condition", "Succeeded"] and enough[-1] == "Prepare"
    assert report[1:3] == ["Processing", "Succeeded"] and report[-1] == "Enough=true"
    assert too_few[1:3] == ["Fail", "(waiting)"] and too_few[-1] == "Enough=false"
    assert final.index("  Enough") < final.index("    Report")  # indented below the step it waits for

    listed = _cli(node, "pipelines")
    assert _row(listed.stdout, "cli")[-4:-2] == [arn.rsplit("/", 1)[-1], "Succeeded"]

    again = _cli(node, "pipeline", "start", "cli")  # Rounds=1: Prepare is a cache hit, TooFew fails it
    second = again.stdout.strip()
    followed = _cli(node, "pipeline", "cli", "--execution", second, "--follow")
    assert followed.returncode == 1  # the execution failed
    final = followed.stdout.split("\n\n")[-1]
    assert "Failure reason: too few rounds" in final
    assert _row(final, "Prepare")[4:6] == ["hit", arn.rsplit("/", 1)[-1]]
    assert _row(final, "TooFew")[2] == "Failed"
    shown = _cli(node, "pipeline", "cli", "--execution", arn)  # an earlier execution, once
    assert shown.returncode == 0 and "Succeeded" in shown.stdout.splitlines()[0]
