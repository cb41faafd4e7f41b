"""Processing jobs: the SDK's ``SKLearnProcessor`` / ``ScriptProcessor`` unchanged, boto3, and the S3 trigger.

Scripts use the literal ``/opt/ml/processing/...`` paths; inputs arrive
there (whole, or a ``ShardedByS3Key`` share per instance), outputs are
uploaded at the end or continuously, every status change is a
"SageMaker Processing Job State Change" event.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
import sagemaker  # noqa: E402 - a dev dependency: its absence must fail, not skip
from botocore.exceptions import ClientError
from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor  # noqa: E402
from sagemaker.sklearn.processing import SKLearnProcessor  # noqa: E402

from infra.demo.datasets import to_csv
from tests.sdk_env import ROLE, sdk_environment, sdk_session
from tests.support import NodeThread, free_port_settings, wait_for

pytestmark = pytest.mark.sdk

SCRIPTS = Path(__file__).parent / "scripts"
DATA = "headwater-data"
ARTIFACTS = "headwater-artifacts"
TERMINAL = ("Completed", "Failed", "Stopped")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    n = NodeThread(free_port_settings(tmp_path_factory.mktemp("processing"))).start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def env(node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with sdk_environment(node, tmp_path_factory.mktemp("sdk-home")):
        yield


@pytest.fixture(scope="module")
def events(node: NodeThread) -> Any:
    """A queue receiving every processing state-change event from the bus."""
    sqs, ev = node.client("sqs"), node.client("events")
    url = sqs.create_queue(QueueName="processing-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    ev.put_rule(Name="processing-events", EventBusName=node.settings.event_bus,
                EventPattern=json.dumps({"detail-type": ["SageMaker Processing Job State Change"]}))
    ev.put_targets(Rule="processing-events", EventBusName=node.settings.event_bus,
                   Targets=[{"Id": "q", "Arn": arn}])
    seen: list[dict[str, Any]] = []

    def read() -> list[dict[str, Any]]:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            seen.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return seen

    return read


def _wait(sm: Any, name: str, timeout: float = 90) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        d = sm.describe_processing_job(ProcessingJobName=name)
        return d if d["ProcessingJobStatus"] in TERMINAL else None

    return wait_for(done, timeout, what=f"processing job {name}")


def _put_rows(key: str, rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 3))
    boto3.client("s3").put_object(Bucket=DATA, Key=key, Body=to_csv(X, (X[:, 0] > 0).astype(int)))


def _keys(prefix: str) -> list[str]:
    return [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=ARTIFACTS, Prefix=prefix).get("Contents", [])]


def test_sklearn_processor_splits_a_dataset(node: NodeThread, env: None, events: Any) -> None:
    _put_rows("proc/raw/a.csv", 60, 1)
    _put_rows("proc/raw/b.csv", 40, 2)
    proc = SKLearnProcessor(framework_version="1.2-1", role=ROLE, instance_type="ml.m5.large", instance_count=1,
                            env={"MARK": "from-the-sdk"}, sagemaker_session=sdk_session(ARTIFACTS))
    proc.run(code=str(SCRIPTS / "preprocess.py"), arguments=["--test-size", "0.2"], wait=False, logs=False,
             inputs=[ProcessingInput(source=f"s3://{DATA}/proc/raw/", destination="/opt/ml/processing/input")],
             outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train",
                                       destination=f"s3://{ARTIFACTS}/proc/train"),
                      ProcessingOutput(output_name="test", source="/opt/ml/processing/test",
                                       destination=f"s3://{ARTIFACTS}/proc/test")])
    name = proc.latest_job.job_name
    sm = node.client("sagemaker")
    d = _wait(sm, name)
    assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")
    assert d["AppSpecification"]["ContainerEntrypoint"][0] == "python3"
    assert d["ProcessingStartTime"] <= d["ProcessingEndTime"]
    s3 = boto3.client("s3")
    train = s3.get_object(Bucket=ARTIFACTS, Key="proc/train/train.csv")["Body"].read().decode().splitlines()
    test = s3.get_object(Bucket=ARTIFACTS, Key="proc/test/test.csv")["Body"].read().decode().splitlines()
    assert (len(train), len(test)) == (80, 20)
    log = (node.settings.jobs_dir / "processing" / name / "algo-1.log").read_text()
    assert "split 100 rows into 80 train and 20 test on algo-1" in log and "ENV_MARK=from-the-sdk" in log
    assert name in [s["ProcessingJobName"] for s in sm.list_processing_jobs(NameContains=name)[
        "ProcessingJobSummaries"]]
    # The CloudWatch stream the SDK's log follower reads.
    streams = node.client("logs").describe_log_streams(logGroupName="/aws/sagemaker/ProcessingJobs",
                                                       logStreamNamePrefix=f"{name}/")["logStreams"]
    assert [s["logStreamName"].split("/")[1].rsplit("-", 1)[0] for s in streams] == ["algo-1"]

    def statuses() -> list[str] | None:
        got = [e["detail"]["ProcessingJobStatus"] for e in events() if e["detail"]["ProcessingJobName"] == name]
        return got if "Completed" in got else None

    got = wait_for(statuses, 30, what="the Completed event")
    assert got[0] == "InProgress" and got[-1] == "Completed"


def test_script_processor_two_instances_sharded_and_continuous(node: NodeThread, env: None) -> None:
    for i in range(4):
        _put_rows(f"proc/shards/part-{i}.csv", 5, 10 + i)
    image = sagemaker.image_uris.retrieve("sklearn", "us-east-1", "1.2-1")
    proc = ScriptProcessor(image_uri=image, command=["python3"], role=ROLE, instance_type="ml.m5.large",
                           instance_count=2, sagemaker_session=sdk_session(ARTIFACTS))
    proc.run(code=str(SCRIPTS / "shard_report.py"), arguments=["--flag", "x"], wait=False, logs=False,
             inputs=[ProcessingInput(source=f"s3://{DATA}/proc/shards/", destination="/opt/ml/processing/input/shards",
                                     s3_data_distribution_type="ShardedByS3Key")],
             outputs=[ProcessingOutput(output_name="report", source="/opt/ml/processing/report",
                                       destination=f"s3://{ARTIFACTS}/proc/report", s3_upload_mode="Continuous")])
    name = proc.latest_job.job_name
    sm = node.client("sagemaker")
    # Continuous: the reports are in S3 while the job still runs.
    wait_for(lambda: len(_keys("proc/report/")) == 2, 60, what="continuous uploads")
    d = _wait(sm, name)
    assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")
    s3 = boto3.client("s3")
    reports = [json.loads(s3.get_object(Bucket=ARTIFACTS, Key=k)["Body"].read()) for k in sorted(_keys("proc/report/"))]
    assert [r["host"] for r in reports] == ["algo-1", "algo-2"]
    files = [f for r in reports for f in r["files"]]
    assert sorted(files) == [f"part-{i}.csv" for i in range(4)]  # every file once, split among the hosts
    assert all(len(r["files"]) == 2 for r in reports)
    assert all(r["argv"] == ["--flag", "x"] for r in reports)


def test_failing_script_fails_with_its_log_and_exit_message(node: NodeThread, env: None) -> None:
    proc = SKLearnProcessor(framework_version="1.2-1", role=ROLE, instance_type="ml.m5.large", instance_count=1,
                            sagemaker_session=sdk_session(ARTIFACTS))
    proc.run(code=str(SCRIPTS / "fails.py"), wait=False, logs=False)
    d = _wait(node.client("sagemaker"), proc.latest_job.job_name)
    assert d["ProcessingJobStatus"] == "Failed"
    assert "RuntimeError: processing went wrong on purpose" in d["FailureReason"]
    assert d["ExitMessage"] == "no rows to process"


def test_describe_returns_the_stopping_condition_sagemaker_applies(node: NodeThread, env: None,
                                                                     tmp_path: Path) -> None:
    code = tmp_path / "noop.py"
    code.write_text("print('nothing to do')\n")
    limits: dict[str, int] = {}
    for given in (None, 600):  # the SDK sends no StoppingCondition without max_runtime_in_seconds
        proc = SKLearnProcessor(framework_version="1.2-1", role=ROLE, instance_type="ml.m5.large", instance_count=1,
                                max_runtime_in_seconds=given, sagemaker_session=sdk_session(ARTIFACTS))
        proc.run(code=str(code), wait=False, logs=False)
        assert _wait(node.client("sagemaker"), proc.latest_job.job_name)["ProcessingJobStatus"] == "Completed"
        # the SDK's own ProcessingJob reads the description
        limits[str(given)] = proc.latest_job.describe()["StoppingCondition"]["MaxRuntimeInSeconds"]
    assert limits == {"None": 86400, "600": 600}  # SageMaker's default is a day


def test_stop_processing_job(node: NodeThread, env: None) -> None:
    sm = node.client("sagemaker")
    sm.create_processing_job(
        ProcessingJobName="sleepy", RoleArn=ROLE,
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 5}},
        AppSpecification={"ImageUri": "headwater/sklearn",
                          "ContainerEntrypoint": ["python3", "-c", "import time; print('sleeping', flush=True); "
                                                  "time.sleep(300)"]},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    log = node.settings.jobs_dir / "processing" / "sleepy" / "algo-1.log"
    wait_for(lambda: log.exists() and "sleeping" in log.read_text(), 60, what="the script to start")
    sm.stop_processing_job(ProcessingJobName="sleepy")
    assert sm.describe_processing_job(ProcessingJobName="sleepy")["ProcessingJobStatus"] in ("Stopping", "Stopped")
    assert _wait(sm, "sleepy", 60)["ProcessingJobStatus"] == "Stopped"
    with pytest.raises(ClientError) as err:
        sm.stop_processing_job(ProcessingJobName="sleepy")
    assert err.value.response["Error"]["Code"] == "ValidationException"


@pytest.mark.parametrize(("s3_input", "message"), [
    ({"LocalPath": "/tmp/elsewhere", "S3InputMode": "File"}, "must be a directory under /opt/ml/processing/"),
    ({"LocalPath": "/opt/ml/processing/in", "S3InputMode": "File", "S3CompressionType": "Gzip"},
     "S3CompressionType Gzip can only be used when S3InputMode is Pipe"),
])
def test_bad_requests_are_rejected(node: NodeThread, s3_input: dict[str, str], message: str) -> None:
    sm = node.client("sagemaker")
    with pytest.raises(ClientError) as err:
        sm.create_processing_job(
            ProcessingJobName="bad-request", RoleArn=ROLE,
            ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                   "VolumeSizeInGB": 5}},
            AppSpecification={"ImageUri": "headwater/sklearn"},
            ProcessingInputs=[{"InputName": "in", "S3Input": {"S3Uri": f"s3://{DATA}/x/", "S3DataType": "S3Prefix",
                                                              **s3_input}}])
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert message in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        sm.describe_processing_job(ProcessingJobName="bad-request")  # nothing was recorded


def test_an_upload_starts_a_processing_job(node: NodeThread) -> None:
    s3, sm = node.client("s3"), node.client("sagemaker")
    template = {
        "RoleArn": ROLE,
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 5}},
        "AppSpecification": {"ImageUri": "headwater/sklearn", "ContainerEntrypoint": [
            "python3", "-c", "import os; n = len(os.listdir('/opt/ml/processing/input')); "
            "open('/opt/ml/processing/out/count.txt', 'w').write(str(n))"]},
        "ProcessingInputs": [{"InputName": "in", "S3Input": {
            "S3Uri": f"s3://{DATA}/processing/counter/input/", "LocalPath": "/opt/ml/processing/input",
            "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "out", "S3Output": {
            "S3Uri": f"s3://{ARTIFACTS}/counter", "LocalPath": "/opt/ml/processing/out", "S3UploadMode": "EndOfJob"}}]},
    }
    s3.put_object(Bucket=DATA, Key="processing/counter/processing.json", Body=json.dumps(template).encode())
    s3.put_object(Bucket=DATA, Key="processing/counter/input/one.csv", Body=b"1,2\n")

    def started() -> str | None:
        jobs = sm.list_processing_jobs(NameContains="counter-")["ProcessingJobSummaries"]
        return jobs[0]["ProcessingJobName"] if jobs else None

    name = wait_for(started, 60, what="the rule to start a processing job")
    assert _wait(sm, name)["ProcessingJobStatus"] == "Completed"
    assert s3.get_object(Bucket=ARTIFACTS, Key="counter/count.txt")["Body"].read() == b"1"
    # Its outputs uploaded and the job ended, its host tree goes; its log stays.
    job_dir = node.settings.jobs_dir / "processing" / name
    wait_for(lambda: sorted(p.name for p in job_dir.iterdir()) == ["algo-1.log"], 30,
             what="the host tree to be removed")
