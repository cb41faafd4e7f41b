"""User functions through boto3's ``lambda`` client: the control plane, invocations, limits and logs.

One node for the module. Each test creates the functions it needs under
names of its own.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.functions_support import ROLE, call, create, zip_with_link, zipped
from tests.support import NodeThread, free_port_settings, wait_for

ECHO = """
import os

COUNTER = {"inits": 0}
COUNTER["inits"] += 1
print("init of", os.environ["AWS_LAMBDA_FUNCTION_NAME"])


def handler(event, context):
    print("event", event)
    return {"event": event, "pid": os.getpid(), "inits": COUNTER["inits"],
            "context": {"aws_request_id": context.aws_request_id, "function_name": context.function_name,
                        "function_version": context.function_version,
                        "invoked_function_arn": context.invoked_function_arn,
                        "memory_limit_in_mb": context.memory_limit_in_mb, "log_group_name": context.log_group_name,
                        "log_stream_name": context.log_stream_name,
                        "remaining": context.get_remaining_time_in_millis()},
            "env": {k: v for k, v in os.environ.items()}}
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    """A node whose functions may run 4 at once."""
    n = NodeThread(free_port_settings(tmp_path_factory.mktemp("node"), function_concurrency=4)).start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def lam(node: NodeThread) -> Any:
    return node.client("lambda")


@pytest.fixture(scope="module")
def echo(lam: Any) -> str:
    create(lam, "echo", ECHO, Environment={"Variables": {"GREETING": "hi"}}, MemorySize=256, Timeout=30)
    return "echo"


def error_code(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return err.value.response["Error"]["Code"], err.value.response["ResponseMetadata"]["HTTPStatusCode"]


# --------------------------------------------------------------------------- the control plane


def test_create_reports_pending_then_active_and_get_list_describe_it(lam: Any) -> None:
    config = create(lam, "lifecycle", "def handler(e, c):\n    return 1\n", wait=False, Description="d",
                    Tags={"team": "ml"})
    assert config["State"] == "Pending" and config["StateReasonCode"] == "Creating"
    assert config["FunctionArn"] == "arn:aws:lambda:us-east-1:123456789012:function:lifecycle"
    assert (config["Runtime"], config["Handler"], config["Timeout"], config["MemorySize"]) == \
        ("python3.11", "app.handler", 3, 128)
    lam.get_waiter("function_active_v2").wait(FunctionName="lifecycle", WaiterConfig={"Delay": 1})
    got = lam.get_function(FunctionName="lifecycle")
    assert got["Configuration"]["State"] == "Active" and got["Configuration"]["LastUpdateStatus"] == "Successful"
    assert got["Tags"] == {"team": "ml"} and got["Code"]["RepositoryType"] == "S3"
    assert lam.get_function_configuration(FunctionName="lifecycle")["Description"] == "d"
    names = [f["FunctionName"] for page in lam.get_paginator("list_functions").paginate(PaginationConfig={
        "PageSize": 2}) for f in page["Functions"]]
    assert "lifecycle" in names and "start-training-on-upload" in names  # user and built-in functions
    assert len(names) == len(set(names))


def test_update_code_and_configuration(lam: Any) -> None:
    create(lam, "updated", "def handler(e, c):\n    return 'one'\n")
    before = lam.get_function_configuration(FunctionName="updated")
    after = lam.update_function_code(FunctionName="updated",
                                     ZipFile=zipped({"app.py": "def handler(e, c):\n    return 'two'\n"}))
    assert after["LastUpdateStatus"] == "InProgress" and after["CodeSha256"] != before["CodeSha256"]
    lam.get_waiter("function_updated_v2").wait(FunctionName="updated", WaiterConfig={"Delay": 1})
    assert call(lam, "updated")[1] == "two"
    lam.update_function_configuration(FunctionName="updated", Environment={"Variables": {"XY": "1"}}, Timeout=9)
    config = lam.get_function_configuration(FunctionName="updated")
    assert (config["Environment"]["Variables"], config["Timeout"]) == ({"XY": "1"}, 9)
    with pytest.raises(lam.exceptions.PreconditionFailedException):
        lam.update_function_configuration(FunctionName="updated", Timeout=10, RevisionId="stale")


def test_code_from_s3(node: NodeThread, lam: Any) -> None:
    s3 = node.client("s3")
    s3.create_bucket(Bucket="fn-code")
    s3.put_object(Bucket="fn-code", Key="pkg.zip", Body=zipped({"app.py": "def handler(e, c):\n    return 's3'\n"}))
    lam.create_function(FunctionName="from-s3", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"S3Bucket": "fn-code", "S3Key": "pkg.zip"})
    lam.get_waiter("function_active_v2").wait(FunctionName="from-s3", WaiterConfig={"Delay": 1})
    assert call(lam, "from-s3")[1] == "s3"
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as err:
        lam.create_function(FunctionName="no-code", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            Code={"S3Bucket": "fn-code", "S3Key": "missing.zip"})
    assert "NoSuchKey" in str(err.value)


@pytest.mark.parametrize("code, handler, message", [
    (zipped({"../evil.py": "x = 1", "app.py": "def handler(e, c): pass"}), "app.handler", "'..'"),
    (zipped({"/etc/evil.py": "x = 1", "app.py": "def handler(e, c): pass"}), "app.handler", "absolute path"),
    (zip_with_link("link.py", "/etc/passwd"), "app.handler", "symbolic link"),
    (b"not a zip at all", "app.handler", "Could not unzip"),
    (zipped({"app.py": "def handler(e, c): pass"}), "missing.handler", "no missing.py"),
    (zipped({"app.py": "def handler(e, c): pass"}), "nodot", "must be <module>.<function>"),
], ids=["dot-dot", "absolute", "symlink", "not-a-zip", "missing-module", "no-function"])
def test_bad_packages_are_refused(lam: Any, code: bytes, handler: str, message: str) -> None:
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as err:
        lam.create_function(FunctionName="refused", Runtime="python3.11", Role=ROLE, Handler=handler,
                            Code={"ZipFile": code})
    assert message in err.value.response["Error"]["Message"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="refused")


def test_bad_settings_are_refused(lam: Any, echo: str) -> None:
    code = {"ZipFile": zipped({"app.py": "def handler(e, c): pass"})}
    base = {"Role": ROLE, "Handler": "app.handler", "Code": code}
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="nodejs20.x"):
        lam.create_function(FunctionName="node-fn", Runtime="nodejs20.x", **base)
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="AWS_REGION"):
        lam.create_function(FunctionName="reserved", Runtime="python3.11",
                            Environment={"Variables": {"AWS_REGION": "x"}}, **base)
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="Timeout"):
        lam.create_function(FunctionName="too-long", Runtime="python3.11", Timeout=901, **base)
    with pytest.raises(lam.exceptions.ResourceConflictException) as err:
        lam.create_function(FunctionName=echo, Runtime="python3.11", **base)
    assert error_code(err) == ("ResourceConflictException", 409)
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.create_function(FunctionName="start-training-on-upload", Runtime="python3.11", **base)
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="not supported"):
        lam.create_function(FunctionName="image-fn", PackageType="Image", Role=ROLE,
                            Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"})


def test_versions_and_aliases(lam: Any) -> None:
    create(lam, "versioned", "def handler(e, c):\n    return 'v1'\n")
    v1 = lam.publish_version(FunctionName="versioned", Description="first")
    assert (v1["Version"], v1["FunctionArn"].rsplit(":", 1)[1]) == ("1", "1")
    assert lam.publish_version(FunctionName="versioned")["Version"] == "1"  # nothing changed: the same version
    lam.update_function_code(FunctionName="versioned", ZipFile=zipped({"app.py": "def handler(e, c):\n    return 'v2'\n"}))
    lam.get_waiter("function_updated_v2").wait(FunctionName="versioned", WaiterConfig={"Delay": 1})
    assert lam.publish_version(FunctionName="versioned")["Version"] == "2"
    alias = lam.create_alias(FunctionName="versioned", Name="live", FunctionVersion="1")
    assert alias["AliasArn"].endswith(":function:versioned:live")

    resp, body = call(lam, "versioned", Qualifier="live")
    assert (body, resp["ExecutedVersion"]) == ("v1", "1")
    assert call(lam, "versioned:2")[1] == "v2" and call(lam, "versioned")[1] == "v2"
    lam.update_alias(FunctionName="versioned", Name="live", FunctionVersion="2")
    assert call(lam, "versioned:live")[1] == "v2"
    assert lam.get_alias(FunctionName="versioned", Name="live")["FunctionVersion"] == "2"
    assert [a["Name"] for a in lam.list_aliases(FunctionName="versioned")["Aliases"]] == ["live"]
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName="versioned")["Versions"]] == \
        ["$LATEST", "1", "2"]

    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.delete_function(FunctionName="versioned", Qualifier="2")  # the alias points at it
    lam.delete_function(FunctionName="versioned", Qualifier="1")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        call(lam, "versioned:1")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.create_alias(FunctionName="versioned", Name="old", FunctionVersion="7")
    lam.delete_alias(FunctionName="versioned", Name="live")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_alias(FunctionName="versioned", Name="live")


def test_concurrency_permissions_and_event_invoke_config(lam: Any, echo: str) -> None:
    assert lam.get_function_concurrency(FunctionName=echo).get("ReservedConcurrentExecutions") is None
    lam.put_function_concurrency(FunctionName=echo, ReservedConcurrentExecutions=3)
    assert lam.get_function_concurrency(FunctionName=echo)["ReservedConcurrentExecutions"] == 3
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_function_concurrency(FunctionName=echo, ReservedConcurrentExecutions=5)  # over the node's 4
    lam.delete_function_concurrency(FunctionName=echo)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=echo)

    statement = json.loads(lam.add_permission(FunctionName=echo, StatementId="s3", Action="lambda:InvokeFunction",
                                              Principal="s3.amazonaws.com",
                                              SourceArn="arn:aws:s3:::bucket")["Statement"])
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    policy = json.loads(lam.get_policy(FunctionName=echo)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["s3"]
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.add_permission(FunctionName=echo, StatementId="s3", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com")
    lam.remove_permission(FunctionName=echo, StatementId="s3")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_policy(FunctionName=echo)

    queue = "arn:aws:sqs:us-east-1:123456789012:somewhere"
    put = lam.put_function_event_invoke_config(FunctionName=echo, MaximumRetryAttempts=0,
                                               DestinationConfig={"OnFailure": {"Destination": queue}})
    assert (put["MaximumRetryAttempts"], put["DestinationConfig"]["OnFailure"]["Destination"]) == (0, queue)
    assert lam.get_function_event_invoke_config(FunctionName=echo)["MaximumEventAgeInSeconds"] == 21600
    lam.delete_function_event_invoke_config(FunctionName=echo)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_event_invoke_config(FunctionName=echo)
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_function_event_invoke_config(FunctionName=echo, DestinationConfig={
            "OnFailure": {"Destination": "arn:aws:sns:us-east-1:123456789012:topic"}})


def test_delete_function(lam: Any) -> None:
    create(lam, "short-lived", "def handler(e, c):\n    return 1\n")
    assert call(lam, "short-lived")[1] == 1
    lam.delete_function(FunctionName="short-lived")
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as err:
        call(lam, "short-lived")
    assert error_code(err) == ("ResourceNotFoundException", 404)


# --------------------------------------------------------------------------- invocations


def test_invoke_gives_lambdas_event_context_and_environment(node: NodeThread, lam: Any, echo: str) -> None:
    resp, body = call(lam, echo, {"hello": [1, 2]})
    assert (resp["StatusCode"], resp["ExecutedVersion"], resp.get("FunctionError")) == (200, "$LATEST", None)
    assert body["event"] == {"hello": [1, 2]}
    ctx = body["context"]
    assert (ctx["function_name"], ctx["function_version"], ctx["memory_limit_in_mb"]) == (echo, "$LATEST", "256")
    assert ctx["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:123456789012:function:{echo}"
    assert ctx["log_group_name"] == f"/aws/lambda/{echo}" and "[$LATEST]" in ctx["log_stream_name"]
    assert 0 < ctx["remaining"] <= 30_000
    env = body["env"]
    assert (env["AWS_LAMBDA_FUNCTION_NAME"], env["_HANDLER"], env["AWS_REGION"], env["GREETING"]) == \
        (echo, "app.handler", "us-east-1", "hi")
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256" and env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_ENDPOINT_URL_SAGEMAKER"] == node.endpoints["sagemaker"]
    assert env["AWS_ENDPOINT_URL"] == node.endpoints["aws"]
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SESSION_TOKEN"]  # a session of the function's role
    assert not [k for k in env if k.startswith("HEADWATER_")]


def test_an_environment_is_initialised_once_and_reused(lam: Any, echo: str) -> None:
    first = call(lam, echo)[1]
    second = call(lam, echo)[1]
    assert first["pid"] == second["pid"] and second["inits"] == 1


def test_boto3_inside_a_function_talks_to_the_node(node: NodeThread, lam: Any) -> None:
    node.client("s3").create_bucket(Bucket="fn-writes")
    create(lam, "writer", """
        import boto3

        def handler(event, context):
            boto3.client("s3").put_object(Bucket="fn-writes", Key=event["key"], Body=b"from a function")
            return boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] is not None
    """, Timeout=60)
    assert call(lam, "writer", {"key": "out.txt"})[1] is True
    assert node.client("s3").get_object(Bucket="fn-writes", Key="out.txt")["Body"].read() == b"from a function"


def test_an_async_def_handler(lam: Any) -> None:
    create(lam, "coroutine", """
        import asyncio

        async def handler(event, context):
            await asyncio.sleep(0)
            return {"doubled": event["n"] * 2}
    """)
    assert call(lam, "coroutine", {"n": 21})[1] == {"doubled": 42}
    assert call(lam, "coroutine", {"n": 1})[1] == {"doubled": 2}  # the same loop, a second time


def test_a_function_error_is_unhandled_with_the_users_error(lam: Any) -> None:
    create(lam, "raises", """
        def _check(value):
            raise ValueError(f"bad value {value}")

        def handler(event, context):
            _check(event["v"])
    """)
    resp, body = call(lam, "raises", {"v": 7})
    assert (resp["StatusCode"], resp["FunctionError"]) == (200, "Unhandled")
    assert (body["errorType"], body["errorMessage"]) == ("ValueError", "bad value 7")
    assert [line.split(", in ")[1].split("\n")[0] for line in body["stackTrace"]] == ["handler", "_check"]
    assert not [line for line in body["stackTrace"] if "bootstrap" in line]


def test_an_import_error_is_reported_and_disturbs_no_one(lam: Any, echo: str) -> None:
    create(lam, "broken-import", "import no_such_module\n\ndef handler(e, c):\n    return 1\n")
    resp, body = call(lam, "broken-import", LogType="Tail")
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'app': No module named 'no_such_module'" in body["errorMessage"]
    assert "Runtime.ImportModuleError" in base64.b64decode(resp["LogResult"]).decode()
    create(lam, "raises-at-import", "raise RuntimeError('no config')\n\ndef handler(e, c):\n    return 1\n")
    assert call(lam, "raises-at-import")[1]["errorType"] == "Runtime.ImportModuleError"
    assert call(lam, echo, {"still": "fine"})[1]["event"] == {"still": "fine"}


def test_a_result_that_is_not_json_is_a_marshal_error(lam: Any) -> None:
    create(lam, "returns-a-set", "def handler(e, c):\n    return {1, 2}\n")
    resp, body = call(lam, "returns-a-set")
    assert (resp["FunctionError"], body["errorType"]) == ("Unhandled", "Runtime.MarshalError")


def test_tail_returns_the_invocations_log(lam: Any) -> None:
    create(lam, "chatty", "print('loading')\n\ndef handler(e, c):\n    print('working on', e['n'])\n    return 1\n")
    resp, _ = call(lam, "chatty", {"n": 1}, LogType="Tail")
    first = base64.b64decode(resp["LogResult"]).decode().splitlines()
    request_id = resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert request_id
    starts = [line for line in first if line.startswith("START RequestId: ")]
    assert len(starts) == 1 and starts[0].endswith("Version: $LATEST")
    assert "working on 1" in first and "loading" in first
    report = next(line for line in first if line.startswith("REPORT RequestId: "))
    for part in ("Duration: ", "Billed Duration: ", "Memory Size: 128 MB", "Max Memory Used: ", "Init Duration: "):
        assert part in report, report
    resp, _ = call(lam, "chatty", {"n": 2}, LogType="Tail")
    second = base64.b64decode(resp["LogResult"]).decode()
    assert "working on 2" in second and "working on 1" not in second and "Init Duration" not in second
    resp, _ = call(lam, "chatty", {"n": 3})
    assert "LogResult" not in resp


def test_the_log_is_in_cloudwatch(node: NodeThread, lam: Any) -> None:
    create(lam, "logged", "def handler(e, c):\n    print('to cloudwatch', e['n'])\n    return 1\n")
    call(lam, "logged", {"n": 42})
    logs = node.client("logs")

    def shipped() -> list[str]:
        events = logs.filter_log_events(logGroupName="/aws/lambda/logged").get("events", [])
        messages = [e["message"] for e in events]
        return messages if any(m.startswith("REPORT ") for m in messages) else []

    messages = wait_for(shipped, 30, what="the invocation's log in CloudWatch")
    assert "to cloudwatch 42" in messages and any(m.startswith("START RequestId") for m in messages)


def test_a_timeout_ends_the_environment_as_lambdas(lam: Any) -> None:
    create(lam, "slow", "import time, os\n\ndef handler(e, c):\n    time.sleep(e['s'])\n    return os.getpid()\n",
           Timeout=1)
    resp, body = call(lam, "slow", {"s": 30}, LogType="Tail")
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert "Task timed out after 1.00 seconds" in base64.b64decode(resp["LogResult"]).decode()
    assert isinstance(call(lam, "slow", {"s": 0})[1], int)  # a new environment serves the next one


def test_memory_over_memory_size_is_out_of_memory(lam: Any, echo: str) -> None:
    create(lam, "hungry", """
        def handler(event, context):
            hoard = []
            for _ in range(event["mb"]):
                hoard.append(bytearray(1024 * 1024))
            return len(hoard)
    """, MemorySize=128, Timeout=30)
    assert call(lam, "hungry", {"mb": 10})[1] == 10
    resp, body = call(lam, "hungry", {"mb": 400})
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory"
    assert body["errorMessage"].endswith("Runtime exited with error: signal: killed")
    assert call(lam, "hungry", {"mb": 1})[1] == 1
    assert "event" in call(lam, echo)[1]


def test_one_huge_allocation_is_out_of_memory_too(lam: Any) -> None:
    create(lam, "greedy", "def handler(e, c):\n    return len(bytearray(e['gb'] * 1024 ** 3))\n", MemorySize=128)
    resp, body = call(lam, "greedy", {"gb": 64})
    assert (resp["FunctionError"], body["errorType"]) == ("Unhandled", "Runtime.OutOfMemory")


def test_throttling_past_reserved_concurrency(node: NodeThread, lam: Any, tmp_path: Path) -> None:
    create(lam, "gated", """
        import os, time

        def handler(event, context):
            while not os.path.exists(event["gate"]):
                time.sleep(0.01)
            return "through"
    """, Timeout=60)
    lam.put_function_concurrency(FunctionName="gated", ReservedConcurrentExecutions=1)
    gate = tmp_path / "open"
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(call(node.client("lambda"), "gated",
                                                                {"gate": str(gate)})[1]))
    first.start()
    pool = node.node.functions.pool  # type: ignore[union-attr]
    wait_for(lambda: pool.in_flight.get("gated") == 1, 30, what="the first invocation to be running")
    with pytest.raises(lam.exceptions.TooManyRequestsException) as err:
        call(lam, "gated", {"gate": str(gate)})
    assert error_code(err) == ("TooManyRequestsException", 429)
    assert err.value.response.get("Reason") == "ReservedFunctionConcurrentInvocationLimitExceeded"
    gate.touch()
    first.join(60)
    assert results == ["through"]
    lam.put_function_concurrency(FunctionName="gated", ReservedConcurrentExecutions=0)
    with pytest.raises(lam.exceptions.TooManyRequestsException):
        call(lam, "gated", {"gate": str(gate)})


def test_environments_scale_out_to_the_concurrency(node: NodeThread, lam: Any, tmp_path: Path) -> None:
    create(lam, "parallel", """
        import os, time

        def handler(event, context):
            open(os.path.join(event["dir"], str(os.getpid())), "w").close()
            while not os.path.exists(os.path.join(event["dir"], "go")):
                time.sleep(0.01)
            return os.getpid()
    """, Timeout=60)
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(call(node.client("lambda"), "parallel",
                                                                   {"dir": str(tmp_path)})[1])) for _ in range(3)]
    for t in threads:
        t.start()
    wait_for(lambda: len(list(tmp_path.iterdir())) == 3, 60, what="three environments running at once")
    (tmp_path / "go").touch()
    for t in threads:
        t.join(60)
    assert len(set(results)) == 3


def test_payloads_lambda_refuses(lam: Any, echo: str) -> None:
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=echo, Payload=b"this is not json")
    assert error_code(err) == ("InvalidRequestContentException", 400)
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=echo, Payload=json.dumps({"x": "a" * (6 * 1024 * 1024)}))
    assert error_code(err) == ("RequestTooLargeException", 413)
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName=echo, InvocationType="Event", Payload=json.dumps({"x": "a" * (300 * 1024)}))
    assert error_code(err) == ("RequestTooLargeException", 413)


def test_dry_run_and_unknown_functions(lam: Any, echo: str) -> None:
    resp = lam.invoke(FunctionName=echo, InvocationType="DryRun", Payload=b"{}")
    assert resp["StatusCode"] == 204
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="nobody", InvocationType="DryRun", Payload=b"{}")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName=echo, Qualifier="no-such-alias", Payload=b"{}")


def test_idle_environments_are_reaped(node: NodeThread, lam: Any) -> None:
    create(lam, "reaped", "def handler(e, c):\n    return 1\n")
    call(lam, "reaped")
    pool = node.node.functions.pool  # type: ignore[union-attr]
    assert pool.environments("reaped")
    old, pool.idle_seconds = pool.idle_seconds, 0.0
    try:
        node.run(pool.reap())
    finally:
        pool.idle_seconds = old
    assert not pool.environments("reaped")
    assert call(lam, "reaped")[1] == 1


def test_headwater_logs_function(node: NodeThread, lam: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from infra.cli.functions import print_function_logs

    create(lam, "followed", "def handler(e, c):\n    print('line', e['n'])\n    return 1\n")
    call(lam, "followed", {"n": 1})
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    follower = threading.Thread(target=lambda: loop.run_until_complete(
        print_function_logs(node.settings, "followed", follow=True, poll_seconds=0.2, stop=stop)))
    follower.start()
    try:
        printed: list[str] = []

        def reports(count: int) -> bool:
            printed.append(capsys.readouterr().out)
            return "".join(printed).count("REPORT RequestId") >= count

        wait_for(lambda: reports(1), 30, what="the first invocation's log")
        call(lam, "followed", {"n": 2})
        wait_for(lambda: reports(2), 30, what="the second invocation's log, followed")
    finally:
        loop.call_soon_threadsafe(stop.set)
        follower.join(30)
    out = "".join(printed)
    assert out.count("line 1") == 1 and out.count("line 2") == 1 and out.count("REPORT RequestId") == 2
