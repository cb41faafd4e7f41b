"""Bad data fails its job with a reason naming the file and line; nothing escapes."""

from __future__ import annotations

import pytest

from tests.support import NodeThread, wait_for, wait_for_job

GOOD_ROWS = b"".join(f"{i % 2},{i},{(i * 3) % 7}\n".encode() for i in range(40))


def _drop(node: NodeThread, dataset: str, body: bytes, name: str = "data.csv") -> dict:
    s3, sm = node.client("s3"), node.client("sagemaker")
    s3.put_object(Bucket=node.settings.data_bucket, Key=f"datasets/{dataset}/train/{name}", Body=body)
    [job] = wait_for(lambda: sm.list_training_jobs(NameContains=dataset)["TrainingJobSummaries"], timeout=30,
                     what=f"a job for {dataset}")
    return wait_for_job(sm, job["TrainingJobName"])


@pytest.mark.parametrize("dataset, body, expected", [
    ("non-numeric", GOOD_ROWS + b"1,2,abc\n", ["train/data.csv", "line 41", "abc"]),
    ("missing-label", GOOD_ROWS[:30] + b",5,6\n" + GOOD_ROWS[30:], ["train/data.csv", "line", "label"]),
    ("empty-file", b"", ["train/data.csv", "empty"]),
    ("ragged-rows", GOOD_ROWS + b"1,2\n", ["train/data.csv", "line 41"]),
])
def test_bad_file_fails_the_job_naming_file_and_line(node: NodeThread, dataset: str, body: bytes,
                                                      expected: list[str]) -> None:
    desc = _drop(node, dataset, body)
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["SecondaryStatus"] == "Failed"
    reason = desc["FailureReason"]
    for part in expected:
        assert part.lower() in reason.lower(), reason
    # the job's data was kept: nothing the user uploaded is lost
    s3 = node.client("s3")
    assert s3.head_object(Bucket=node.settings.data_bucket, Key=f"datasets/{dataset}/train/data.csv")


def test_a_key_climbing_out_of_its_channel_fails_the_job(node: NodeThread, tmp_path_factory) -> None:
    s3 = node.client("s3")
    bucket = node.settings.data_bucket
    s3.put_object(Bucket=bucket, Key="datasets/climb/validation/../../../../../../escaped.csv", Body=GOOD_ROWS)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="datasets/climb/")["Contents"]]
    assert listed == ["datasets/climb/validation/../../../../../../escaped.csv"]  # S3 keeps the key as sent
    desc = _drop(node, "climb", GOOD_ROWS)
    assert desc["TrainingJobStatus"] == "Failed"
    assert "outside its channel directory" in desc["FailureReason"]
    jobs_dir = node.settings.jobs_dir.resolve()
    assert not list(jobs_dir.parent.rglob("escaped.csv"))
    assert not list(jobs_dir.parent.parent.rglob("escaped.csv"))


def test_a_malformed_template_fails_the_event_not_the_runtime(node: NodeThread) -> None:
    s3, sm, sqs = node.client("s3"), node.client("sagemaker"), node.client("sqs")
    s = node.settings
    s3.put_object(Bucket=s.data_bucket, Key="datasets/badtpl/training.json", Body=b'["not", "an object"]')
    s3.put_object(Bucket=s.data_bucket, Key="datasets/badtpl/train/a.csv", Body=GOOD_ROWS)
    dlq = sqs.get_queue_url(QueueName=s.dlq_name("start-training-on-upload"))["QueueUrl"]

    def dead_letter() -> dict | None:
        for m in sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"], MaxNumberOfMessages=10,
                                     WaitTimeSeconds=1).get("Messages", []):
            if "datasets/badtpl/train/a.csv" in m["Body"]:
                return m
        return None

    msg = wait_for(dead_letter, timeout=40, what="the event dead-lettered")
    assert "must be a JSON object" in msg["MessageAttributes"]["ErrorMessage"]["StringValue"]
    assert msg["MessageAttributes"]["ErrorType"]["StringValue"] == "ValidationException"
    assert sm.list_training_jobs(NameContains="badtpl")["TrainingJobSummaries"] == []
