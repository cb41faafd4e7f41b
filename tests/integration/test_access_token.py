"""A node's servers with an access token: every request must carry it.

boto3 and the SageMaker SDK send it unchanged as their AWS access key id
(SigV4's ``Credential=<key id>/...``); plain HTTP clients send
``Authorization: Bearer <token>``. Without it, a request gets the error AWS
gives an unknown or absent credential. Every server here binds loopback; a
bind to a non-loopback address is only ever refused, never made.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiohttp import web
from botocore.config import Config
from botocore.exceptions import ClientError

from infra.cli.client import node_client
from infra.cli.endpoints import env_exports, read_endpoints
from infra.node import HeadwaterNode
from services.api.runtime_server import RuntimeServer
from services.core.settings import Settings
from tests.support import NodeThread, free_port_settings

TOKEN = "hw-test-token-3f9a"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    """A node (no worker: no job runs here) whose servers require ``TOKEN``."""
    node = NodeThread(free_port_settings(tmp_path_factory.mktemp("guarded"), access_token=TOKEN),
                      with_worker=False).start()
    yield node
    node.stop()


def client(node: NodeThread, service: str, endpoint: str, key_id: str) -> Any:
    return boto3.client(service, endpoint_url=node.endpoints[endpoint], region_name="us-east-1",
                        aws_access_key_id=key_id, aws_secret_access_key="any-secret",
                        config=Config(retries={"max_attempts": 1}))


# (service, endpoints.json key, a call that is valid once the request is let in)
CALLS: list[tuple[str, str, Callable[[Any], Any]]] = [
    ("sagemaker", "sagemaker", lambda c: c.list_training_jobs()),
    ("lambda", "lambda", lambda c: c.list_functions()),
    ("application-autoscaling", "autoscaling", lambda c: c.describe_scalable_targets(ServiceNamespace="sagemaker")),
    ("sagemaker-runtime", "runtime", lambda c: c.invoke_endpoint(EndpointName="no-such-endpoint", Body=b"1",
                                                                   ContentType="text/csv")),
    ("sagemaker-metrics", "metrics", lambda c: c.batch_put_metrics(TrialComponentName="no-such-run", MetricData=[
        {"MetricName": "m", "Value": 1.0, "Timestamp": 1_800_000_000}])),
]
# What a call that is let in answers where it is no success: the service's own error.
LET_IN_ERRORS = {"sagemaker-runtime": "ValidationError", "sagemaker-metrics": "ResourceNotFound"}
IDS = [c[1] for c in CALLS]


@pytest.mark.parametrize("service, endpoint, call", CALLS, ids=IDS)
def test_a_boto3_client_without_the_token_is_refused(guarded: NodeThread, service: str, endpoint: str,
                                                     call: Callable[[Any], Any]) -> None:
    with pytest.raises(ClientError) as exc:
        call(client(guarded, service, endpoint, "testing"))
    err = exc.value.response
    assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("UnrecognizedClientException", 403)


@pytest.mark.parametrize("service, endpoint, call", CALLS, ids=IDS)
def test_a_boto3_client_with_the_token_as_its_key_id_passes(guarded: NodeThread, service: str, endpoint: str,
                                                            call: Callable[[Any], Any]) -> None:
    c = client(guarded, service, endpoint, TOKEN)
    if service in LET_IN_ERRORS:  # let in: the service's own answer, as SageMaker gives it
        with pytest.raises(ClientError) as exc:
            call(c)
        assert exc.value.response["Error"]["Code"] == LET_IN_ERRORS[service]
    else:
        assert call(c)["ResponseMetadata"]["HTTPStatusCode"] == 200


def _get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.mark.parametrize("endpoint, path", [("sagemaker", "/health"), ("runtime", "/ping")])
def test_plain_http_sends_a_bearer_token(guarded: NodeThread, endpoint: str, path: str) -> None:
    url = guarded.endpoints[endpoint] + path
    status, headers, body = _get(url, {})
    assert (status, headers.get("x-amzn-ErrorType")) == (403, "MissingAuthenticationTokenException")
    assert json.loads(body)["message"]
    status, headers, _ = _get(url, {"Authorization": "Bearer not-the-token"})
    assert (status, headers.get("x-amzn-ErrorType")) == (403, "UnrecognizedClientException")
    status, _, _ = _get(url, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200


def test_a_non_loopback_bind_without_a_token_is_refused_before_anything_listens(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def never_listen(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a server was started with {args[1:]}")

    # The refusal must come first; should it not, these stop the node before it binds 0.0.0.0.
    monkeypatch.setattr(web, "TCPSite", never_listen)
    monkeypatch.setattr(RuntimeServer, "start", never_listen)
    settings = free_port_settings(tmp_path, bind_host="0.0.0.0", aws_endpoint="http://127.0.0.1:9")

    async def start() -> None:
        async with HeadwaterNode(settings):
            pass

    with pytest.raises(Exception) as exc:
        asyncio.run(start())
    message = str(exc.value)
    assert "HEADWATER_BIND_HOST" in message and "HEADWATER_ACCESS_TOKEN" in message, message


async def test_the_cli_sends_the_token_from_the_environment(guarded: NodeThread,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_ACCESS_TOKEN", TOKEN)
    async with node_client(Settings(state_dir=guarded.settings.state_dir), "sagemaker", "sagemaker") as sm:
        assert (await sm.list_training_jobs())["ResponseMetadata"]["HTTPStatusCode"] == 200
    exports = env_exports(read_endpoints(guarded.settings.state_dir), with_token=True)
    assert 'export AWS_ACCESS_KEY_ID="$HEADWATER_ACCESS_TOKEN"' in exports
    assert not [line for line in exports if TOKEN in line]  # referenced, never printed
    # The default role is named, but no session of it is exported: the access key id must be the token.
    assert any(line.startswith("export SAGEMAKER_EXECUTION_ROLE_ARN=arn:aws:iam::") for line in exports)
    assert not [line for line in exports if "AWS_SESSION_TOKEN" in line]
