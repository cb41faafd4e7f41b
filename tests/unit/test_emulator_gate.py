"""The emulator's request gate: which bucket a write names, and a snapshot that cannot stall requests."""

from __future__ import annotations

import threading

from infra.emulator_state.gate import RequestGate, written_bucket

SIGNED_S3 = "AWS4-HMAC-SHA256 Credential=AKID/20261205/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x"
SIGNED_SQS = SIGNED_S3.replace("/s3/", "/sqs/")


def test_a_path_style_s3_write_names_its_bucket() -> None:
    env = {"HTTP_AUTHORIZATION": SIGNED_S3, "HTTP_HOST": "127.0.0.1:4566", "PATH_INFO": "/headwater-data/a/b.csv"}
    assert written_bucket(env) == "headwater-data"
    assert written_bucket({**env, "HTTP_HOST": "localhost:4566"}) == "headwater-data"


def test_a_presigned_s3_write_names_its_bucket() -> None:
    env = {"QUERY_STRING": "X-Amz-Credential=AKID%2F20261205%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=x",
           "HTTP_HOST": "127.0.0.1:4566", "PATH_INFO": "/up/file"}
    assert written_bucket(env) == "up"


def test_another_service_names_no_bucket() -> None:
    assert written_bucket({"HTTP_AUTHORIZATION": SIGNED_SQS, "HTTP_HOST": "127.0.0.1:4566", "PATH_INFO": "/"}) is None


def test_a_write_the_gate_cannot_place_makes_every_bucket_suspect() -> None:
    virtual = {"HTTP_AUTHORIZATION": SIGNED_S3, "HTTP_HOST": "data.s3.localhost.localstack.cloud:4566",
               "PATH_INFO": "/key"}
    assert written_bucket(virtual) == ""
    assert written_bucket({"HTTP_HOST": "example.com", "PATH_INFO": "/b/k"}) == ""  # unsigned, virtual-hosted
    gate = RequestGate()
    gate.enter()
    gate.leave(True, "a")
    gate.enter()
    gate.leave(True, "")
    assert gate.take_touched() is None
    gate.enter()
    gate.leave(True, "b")
    gate.enter()
    gate.leave(False, None)
    assert gate.take_touched() == {"b"}


def test_a_snapshot_gives_up_rather_than_stall_requests_behind_a_slow_one() -> None:
    gate = RequestGate()
    gate.enter()  # a request that does not leave in time
    with gate.closed(timeout=0.05) as held:
        assert held is False
    entered = threading.Event()

    def another_request() -> None:
        gate.enter()
        entered.set()
        gate.leave()

    t = threading.Thread(target=another_request)
    t.start()
    assert entered.wait(5), "a request waited behind a snapshot that had given up"
    t.join()
    gate.leave()
    with gate.closed(timeout=1) as held:
        assert held is True
