"""The embedded emulator keeps its state across restarts, and a SIGKILL never corrupts it.

Each test drives a real moto server with boto3 over HTTP, stops it (or kills
the process it runs in), starts a new one on the same state folder, and
checks what came back through the AWS APIs.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from infra.emulator import EmbeddedEmulator
from infra.emulator_state.journal import Journal
from infra.emulator_state.persistence import EmulatorStateError
from tests.support import CREDS, committed_s3_keys, wait_for

ACCOUNT = "123456789012"


class Emulator:
    """An embedded emulator on a state folder, and clients for it."""

    def __init__(self, state: Path | None) -> None:
        self.emu = EmbeddedEmulator("127.0.0.1", 0, state)
        self.url = self.emu.start()

    def client(self, service: str) -> Any:
        config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
        return boto3.client(service, endpoint_url=self.url, config=config, **CREDS)

    def stop(self) -> None:
        self.emu.stop()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "emulator"


def restarted(state: Path, before: Emulator) -> Emulator:
    before.stop()
    return Emulator(state)


def test_buckets_objects_versions_and_tags_survive_a_restart(state: Path) -> None:
    emu = Emulator(state)
    s3 = emu.client("s3")
    s3.create_bucket(Bucket="plain")
    s3.create_bucket(Bucket="versioned")
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    for i in range(20):
        s3.put_object(Bucket="plain", Key=f"dir/k{i}.csv", Body=f"{i},{i * i}\n".encode(), Metadata={"row": str(i)})
    s3.delete_object(Bucket="plain", Key="dir/k3.csv")
    first = s3.put_object(Bucket="versioned", Key="model.tar.gz", Body=b"v1")["VersionId"]
    s3.put_object(Bucket="versioned", Key="model.tar.gz", Body=b"v2")
    s3.put_object_tagging(Bucket="plain", Key="dir/k1.csv", Tagging={"TagSet": [{"Key": "stage", "Value": "raw"}]})
    big = os.urandom(6 << 20)  # a multipart upload: two parts
    up = s3.create_multipart_upload(Bucket="plain", Key="big.bin")["UploadId"]
    parts = [s3.upload_part(Bucket="plain", Key="big.bin", UploadId=up, PartNumber=n, Body=chunk)["ETag"]
             for n, chunk in ((1, big[:5 << 20]), (2, big[5 << 20:]))]
    s3.complete_multipart_upload(Bucket="plain", Key="big.bin", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(parts, 1)]})

    emu = restarted(state, emu)
    s3 = emu.client("s3")
    try:
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="plain", Prefix="dir/")["Contents"]}
        assert keys == {f"dir/k{i}.csv" for i in range(20) if i != 3}
        got = s3.get_object(Bucket="plain", Key="dir/k7.csv")
        assert got["Body"].read() == b"7,49\n" and got["Metadata"] == {"row": "7"}
        assert s3.get_object(Bucket="plain", Key="big.bin")["Body"].read() == big
        assert s3.get_object_tagging(Bucket="plain", Key="dir/k1.csv")["TagSet"] == [{"Key": "stage", "Value": "raw"}]
        assert s3.get_object(Bucket="versioned", Key="model.tar.gz")["Body"].read() == b"v2"
        assert s3.get_object(Bucket="versioned", Key="model.tar.gz", VersionId=first)["Body"].read() == b"v1"
        # Conditional writes still see the restored ETag.
        etag = s3.head_object(Bucket="plain", Key="dir/k7.csv")["ETag"]
        with pytest.raises(s3.exceptions.ClientError, match="PreconditionFailed"):
            s3.put_object(Bucket="plain", Key="dir/k7.csv", Body=b"x", IfMatch='"0000"')
        s3.put_object(Bucket="plain", Key="dir/k7.csv", Body=b"x", IfMatch=etag)
    finally:
        emu.stop()


def test_queues_keep_their_messages_in_flight_state_and_redrive(state: Path) -> None:
    emu = Emulator(state)
    sqs = emu.client("sqs")
    dlq = sqs.create_queue(QueueName="work-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    q = sqs.create_queue(QueueName="work", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})})["QueueUrl"]
    for i in range(6):
        sqs.send_message(QueueUrl=q, MessageBody=f"task-{i}")
    taken = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=2, VisibilityTimeout=600)["Messages"]
    assert len(taken) == 2

    emu = restarted(state, emu)
    sqs = emu.client("sqs")
    try:
        q = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["All"])["Attributes"]
        # The two taken messages are still invisible (their visibility outlives the restart), the rest wait.
        assert (attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"]) == ("4", "2")
        # The receipt handles given out before the restart still delete.
        sqs.delete_message(QueueUrl=q, ReceiptHandle=taken[0]["ReceiptHandle"])
        bodies = sorted(m["Body"] for m in sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10,
                                                                  VisibilityTimeout=0)["Messages"])
        assert bodies == [f"task-{i}" for i in range(2, 6)]
        # Each was received once: the redrive policy (restored with its DLQ) moves them on the next receive.
        assert "Messages" not in sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10)
        dlq = sqs.get_queue_url(QueueName="work-dlq")["QueueUrl"]
        moved = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
        assert moved["Attributes"]["ApproximateNumberOfMessages"] == "4"
    finally:
        emu.stop()


def test_rules_notifications_and_log_streams_still_work_after_a_restart(state: Path) -> None:
    emu = Emulator(state)
    s3, sqs, events, logs = (emu.client(s) for s in ("s3", "sqs", "events", "logs"))
    q = sqs.create_queue(QueueName="landed")["QueueUrl"]
    arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:landed"
    s3.create_bucket(Bucket="data")
    s3.put_bucket_notification_configuration(Bucket="data", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    events.create_event_bus(Name="bus")
    events.put_rule(Name="done", EventBusName="bus", EventPattern=json.dumps({"source": ["jobs"]}))
    events.put_targets(Rule="done", EventBusName="bus", Targets=[{"Id": "q", "Arn": arn}])
    logs.create_log_group(logGroupName="/jobs")
    logs.create_log_stream(logGroupName="/jobs", logStreamName="job-1")
    now_ms = int(time.time() * 1000)
    logs.put_log_events(logGroupName="/jobs", logStreamName="job-1",
                        logEvents=[{"timestamp": now_ms + i, "message": f"line {i}"} for i in range(50)])
    sqs.purge_queue(QueueUrl=q)

    emu = restarted(state, emu)
    s3, sqs, events, logs = (emu.client(s) for s in ("s3", "sqs", "events", "logs"))
    try:
        q = sqs.get_queue_url(QueueName="landed")["QueueUrl"]
        s3.put_object(Bucket="data", Key="raw/a.csv", Body=b"1,2\n")
        events.put_events(Entries=[{"Source": "jobs", "DetailType": "Done", "Detail": "{}", "EventBusName": "bus"}])

        def delivered() -> list[str]:
            out = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10).get("Messages", [])
            for m in out:
                sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])
            return [m["Body"] for m in out]

        seen: list[str] = []
        wait_for(lambda: seen.extend(delivered()) or len(seen) >= 2, 10, what="the notification and the event")
        sources = sorted(json.loads(b).get("source") or json.loads(b)["Records"][0]["eventSource"] for b in seen)
        assert sources == ["aws:s3", "jobs"], seen
        got = logs.get_log_events(logGroupName="/jobs", logStreamName="job-1", startFromHead=True)["events"]
        assert [e["message"] for e in got] == [f"line {i}" for i in range(50)]
        logs.put_log_events(logGroupName="/jobs", logStreamName="job-1",
                            logEvents=[{"timestamp": now_ms + 100, "message": "after"}])
    finally:
        emu.stop()


def test_a_deleted_object_leaves_no_body_on_disk(state: Path) -> None:
    emu = Emulator(state)
    s3 = emu.client("s3")
    try:
        s3.create_bucket(Bucket="scratch")
        for i in range(5):
            s3.put_object(Bucket="scratch", Key=f"k{i}", Body=b"x" * 1000)
        assert emu.emu.state is not None
        wait_for(lambda: len(list((state / "blobs").iterdir())) == 5, 10, what="five bodies on disk")
        s3.delete_objects(Bucket="scratch", Delete={"Objects": [{"Key": f"k{i}"} for i in range(4)]})
        s3.put_object(Bucket="scratch", Key="k4", Body=b"y")  # overwritten: the old body goes too
        wait_for(lambda: len(list((state / "blobs").iterdir())) == 1, 10, what="the dropped bodies to go")
    finally:
        emu.stop()
    emu = Emulator(state)
    try:
        assert emu.client("s3").get_object(Bucket="scratch", Key="k4")["Body"].read() == b"y"
    finally:
        emu.stop()


def test_each_snapshot_keeps_the_buckets_it_did_not_look_at(state: Path) -> None:
    emu = Emulator(state)
    s3 = emu.client("s3")
    assert emu.emu.state is not None

    def snapshot_after(write: Any) -> None:
        before = emu.emu.state.snapshots
        write()
        wait_for(lambda: emu.emu.state.snapshots > before, 10, what="a snapshot")

    snapshot_after(lambda: [s3.create_bucket(Bucket=b) for b in ("quiet", "busy")])
    snapshot_after(lambda: s3.put_object(Bucket="quiet", Key="k", Body=b"quiet"))
    for i in range(3):  # only "busy" is written from here on
        snapshot_after(lambda i=i: s3.put_object(Bucket="busy", Key=f"k{i}", Body=f"busy {i}".encode()))
    snapshot_after(lambda: s3.put_object_acl(Bucket="busy", Key="k0", ACL="public-read"))  # changed in place
    emu = restarted(state, emu)
    s3 = emu.client("s3")
    try:
        assert s3.get_object(Bucket="quiet", Key="k")["Body"].read() == b"quiet"
        assert [s3.get_object(Bucket="busy", Key=f"k{i}")["Body"].read() for i in range(3)] == \
            [f"busy {i}".encode() for i in range(3)]
        grants = s3.get_object_acl(Bucket="busy", Key="k0")["Grants"]
        assert any(g["Grantee"].get("URI", "").endswith("/AllUsers") for g in grants)
    finally:
        emu.stop()


def test_a_long_poll_does_not_hold_back_snapshots(state: Path) -> None:
    emu = Emulator(state)
    sqs, s3 = emu.client("sqs"), emu.client("s3")
    assert emu.emu.state is not None
    try:
        q = sqs.create_queue(QueueName="idle")["QueueUrl"]
        poller = threading.Thread(target=lambda: emu.client("sqs").receive_message(QueueUrl=q, WaitTimeSeconds=20))
        poller.start()
        s3.create_bucket(Bucket="during")
        s3.put_object(Bucket="during", Key="k", Body=b"1")
        before = emu.emu.state.snapshots
        # The poll is still waiting (20 s) while the snapshot of the bucket commits.
        wait_for(lambda: emu.emu.state.snapshots > before, 10, what="a snapshot during the long poll")
        assert poller.is_alive()
        sqs.send_message(QueueUrl=q, MessageBody="wake up")
        poller.join(30)
    finally:
        emu.stop()


def test_ephemeral_starts_empty_and_writes_nothing(tmp_path: Path) -> None:
    emu = Emulator(None)
    emu.client("s3").create_bucket(Bucket="gone")
    emu.stop()
    emu = Emulator(None)
    try:
        assert emu.client("s3").list_buckets()["Buckets"] == []
    finally:
        emu.stop()


def test_unreadable_state_refuses_to_start_and_says_how_to_go_on(state: Path) -> None:
    emu = Emulator(state)
    emu.client("s3").create_bucket(Bucket="kept")
    emu.stop()
    # A record whose checksum is right but whose content is not a snapshot (another version's format, say).
    Journal(state / "journal").append(pickle.dumps({"moto": "0.0", "put": {("no.such.module", "x", "1", "r"): b"?"},
                                                    "delete": []}))
    with pytest.raises(EmulatorStateError, match=r"Move that folder aside.*--ephemeral"):
        EmbeddedEmulator("127.0.0.1", 0, state).start()
    assert (state / "journal").exists()  # nothing was thrown away


# --- a SIGKILL mid-write ---------------------------------------------------------

_SERVE = """
import sys, threading
from pathlib import Path
from infra.emulator import EmbeddedEmulator
emu = EmbeddedEmulator("127.0.0.1", 0, Path(sys.argv[1]))
print(emu.start(), flush=True)
threading.Event().wait()
"""


@pytest.fixture
def emulator_process(state: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen([sys.executable, "-c", _SERVE, str(state)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    yield proc, url
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_sigkill_mid_writes_loses_only_the_last_interval_and_never_corrupts(
        state: Path, emulator_process: tuple[subprocess.Popen[str], str]) -> None:
    proc, url = emulator_process
    s3 = boto3.client("s3", endpoint_url=url, config=Config(s3={"addressing_style": "path"}), **CREDS)
    s3.create_bucket(Bucket="stream")
    acked: list[str] = []
    for i in range(40):
        s3.put_object(Bucket="stream", Key=f"k{i:03d}", Body=f"body {i}".encode() * 100)
        acked.append(f"k{i:03d}")
    # Everything acknowledged so far reaches a committed snapshot within the interval...
    wait_for(lambda: committed_s3_keys(state, "stream") == set(acked), 10, what="a snapshot of the 40 objects")
    # ...and the process dies in the middle of more writes.
    stop = threading.Event()

    def write_more() -> None:
        i = 40
        while not stop.is_set():
            try:
                s3.put_object(Bucket="stream", Key=f"k{i:03d}", Body=f"body {i}".encode() * 100)
            except Exception:  # the server is gone
                return
            acked.append(f"k{i:03d}")
            i += 1

    writer = threading.Thread(target=write_more)
    writer.start()
    wait_for(lambda: len(acked) >= 80, 30, what="40 more writes")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    writer.join(30)

    emu = Emulator(state)
    try:
        s3 = emu.client("s3")
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket="stream")
        restored = sorted(o["Key"] for page in pages for o in page.get("Contents", []))
        # A whole snapshot: the first 40, then an unbroken run of the later writes (the last perhaps applied
        # but not yet answered when the process died), never a gap.
        assert restored == [f"k{i:03d}" for i in range(len(restored))]
        assert 40 <= len(restored) <= len(acked) + 1
        for key in restored:
            i = int(key[1:])
            assert s3.get_object(Bucket="stream", Key=key)["Body"].read() == f"body {i}".encode() * 100
    finally:
        emu.stop()
