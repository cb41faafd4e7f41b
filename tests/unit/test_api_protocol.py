"""The AWS JSON 1.1 front end: validation, wire format and dispatch.

Server tests start the app on a real loopback port and talk to it with the
clients users have: boto3 (run in a thread, since it blocks) and, where boto3
would refuse to send a request (it validates parameters client-side), raw
HTTP.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import boto3
import pytest
from aiohttp import web
from botocore.config import Config
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from services.api import protocol
from services.api.server import SERVICE_KEY, AwsJsonService
from services.api.validation import (
    MAX_REPORTED,
    find_violations,
    format_violations,
    load_service_model,
    validate_input,
)
from services.core.exceptions import ResourceInUse, SerializationException, ValidationException

CREATED = dt.datetime(2024, 5, 6, 7, 8, 9, 250000, tzinfo=dt.UTC)
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
NAME_PATTERN = "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"


def valid_create_request(**overrides: Any) -> dict[str, Any]:
    """A CreateTrainingJob body that satisfies every constraint."""
    request: dict[str, Any] = {
        "TrainingJobName": "xgb-1",
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": "xgboost:latest", "TrainingInputMode": "File"},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train"}
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "HyperParameters": {"num_round": "10"},
        "Environment": {"MY_VAR": "1"},
        "Tags": [{"Key": "team", "Value": "ml"}],
    }
    request.update(overrides)
    return request


def violation(value: str | None, path: str, constraint: str) -> str:
    shown = "Value null" if value is None else f"Value '{value}'"
    return f"{shown} at '{path}' failed to satisfy constraint: {constraint}"


NOT_NULL = "Member must not be null"


# =========================================================================== validation


def check(operation: str, params: dict[str, Any], service: str = "sagemaker") -> str:
    """The ValidationException message for ``params`` (fails if none is raised)."""
    with pytest.raises(ValidationException) as info:
        validate_input(service, operation, params)
    assert info.value.code == "ValidationException" and info.value.status == 400
    return info.value.message


def test_valid_request_passes() -> None:
    validate_input("sagemaker", "CreateTrainingJob", valid_create_request())


def test_unknown_members_are_ignored() -> None:
    validate_input("sagemaker", "CreateTrainingJob", valid_create_request(NotAMember={"x": [1]}))


def test_pattern_violation_matches_aws_message() -> None:
    message = check("CreateTrainingJob", valid_create_request(TrainingJobName="bad name!"))
    assert message == (
        "1 validation error detected: Value 'bad name!' at 'trainingJobName' failed to satisfy "
        f"constraint: Member must satisfy regular expression pattern: {NAME_PATTERN}"
    )


def test_enum_violation_lists_the_value_set() -> None:
    request = valid_create_request(AlgorithmSpecification={"TrainingInputMode": "Bogus"})
    assert check("CreateTrainingJob", request) == "1 validation error detected: " + violation(
        "Bogus",
        "algorithmSpecification.trainingInputMode",
        "Member must satisfy enum value set: [Pipe, File, FastFile]",
    )


def test_required_members_nested_in_lists_use_member_paths() -> None:
    channels = [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/k"}}}, {}]
    message = check("CreateTrainingJob", valid_create_request(InputDataConfig=channels))
    assert message == "3 validation errors detected: " + "; ".join(
        [
            violation(
                None, "inputDataConfig.1.member.dataSource.s3DataSource.s3DataType", NOT_NULL
            ),
            violation(None, "inputDataConfig.2.member.channelName", NOT_NULL),
            violation(None, "inputDataConfig.2.member.dataSource", NOT_NULL),
        ]
    )


def test_missing_and_null_required_members() -> None:
    request = valid_create_request(TrainingJobName=None)
    del request["RoleArn"]
    assert check("CreateTrainingJob", request) == "2 validation errors detected: " + "; ".join(
        [violation(None, "trainingJobName", NOT_NULL), violation(None, "roleArn", NOT_NULL)]
    )


def test_string_and_list_length() -> None:
    long_name = "a" * 64
    message = check(
        "CreateTrainingJob", valid_create_request(TrainingJobName=long_name, InputDataConfig=[])
    )
    assert message == "3 validation errors detected: " + "; ".join(
        [
            violation(
                long_name,
                "trainingJobName",
                f"Member must satisfy regular expression pattern: {NAME_PATTERN}",
            ),
            violation(
                long_name, "trainingJobName", "Member must have length less than or equal to 63"
            ),
            violation(
                "[]", "inputDataConfig", "Member must have length greater than or equal to 1"
            ),
        ]
    )


def test_numeric_range() -> None:
    request = valid_create_request(StoppingCondition={"MaxRuntimeInSeconds": 0})
    assert check("CreateTrainingJob", request) == "1 validation error detected: " + violation(
        "0",
        "stoppingCondition.maxRuntimeInSeconds",
        "Member must have value greater than or equal to 1",
    )
    assert check(
        "ListTrainingJobs", {"MaxResults": 101}
    ) == "1 validation error detected: " + violation(
        "101", "maxResults", "Member must have value less than or equal to 100"
    )


def test_floats_print_like_java_doubles() -> None:
    model = load_service_model("sagemaker")
    split = model.shape_for("AutoMLDataSplitConfig")
    assert find_violations(split, {"ValidationFraction": 1.5}) == [
        violation("1.5", "validationFraction", "Member must have value less than or equal to 1.0")
    ]
    quota = model.shape_for("ComputeQuotaResourceConfig")
    assert find_violations(quota, {"InstanceType": "ml.m5.large", "VCpu": 20000000}) == [
        violation("2.0E7", "vCpu", "Member must have value less than or equal to 1.0E7")
    ]


def test_list_of_scalars_is_reported_once_with_all_element_constraints() -> None:
    request = valid_create_request(
        VpcConfig={"SecurityGroupIds": ["sg-1", "bad sg"], "Subnets": ["subnet-1"]}
    )
    assert check("CreateTrainingJob", request) == "1 validation error detected: " + violation(
        "[sg-1, bad sg]",
        "vpcConfig.securityGroupIds",
        "Member must satisfy constraint: [Member must have length less than or equal to 32, "
        "Member must have length greater than or equal to 0, "
        "Member must satisfy regular expression pattern: [-0-9a-zA-Z]+]",
    )


def test_map_keys_constraint() -> None:
    request = valid_create_request(Environment={"OK": "1", "1BAD": "2"})
    assert check("CreateTrainingJob", request) == "1 validation error detected: " + violation(
        "{OK=1, 1BAD=2}",
        "environment",
        "Map keys must satisfy constraint: [Member must have length less than or equal to 512, "
        "Member must have length greater than or equal to 0, "
        "Member must satisfy regular expression pattern: [a-zA-Z_][a-zA-Z0-9_]*]",
    )


def test_map_value_constraint() -> None:
    request = valid_create_request(HyperParameters={"eta": "x" * 2501})
    message = check("CreateTrainingJob", request)
    assert message.endswith(
        "at 'hyperParameters' failed to satisfy constraint: Map value must satisfy constraint: "
        "[Member must have length less than or equal to 2500, Member must have length greater "
        "than or equal to 0, Member must satisfy regular expression pattern: .*]"
    )


def test_unicode_property_patterns_are_enforced() -> None:
    validate_input(
        "sagemaker",
        "CreateTrainingJob",
        valid_create_request(Tags=[{"Key": "équipe ml", "Value": "数据"}]),
    )
    request = valid_create_request(
        Tags=[{"Key": "team", "Value": "ok"}, {"Key": "bad#key", "Value": "v"}]
    )
    assert check("CreateTrainingJob", request) == "1 validation error detected: " + violation(
        "bad#key",
        "tags.2.member.key",
        r"Member must satisfy regular expression pattern: ([\p{L}\p{Z}\p{N}_.:/=+\-@]*)",
    )


def test_surrogate_pair_patterns_work_for_other_services() -> None:
    # Application Auto Scaling's ResourceId pattern spells U+10000..U+10FFFF as
    # Java surrogate pairs; an emoji is allowed, a control character is not.
    base = {
        "ServiceNamespace": "sagemaker",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    ok = {**base, "ResourceId": "endpoint/e-\U0001f600/variant/v"}
    validate_input("application-autoscaling", "RegisterScalableTarget", ok)
    message = check(
        "RegisterScalableTarget", {**base, "ResourceId": "bad\x01"}, "application-autoscaling"
    )
    assert message.startswith("1 validation error detected: Value 'bad\x01' at 'resourceId' failed")


def test_sensitive_values_are_not_echoed() -> None:
    request = {"ModelCardName": "card", "Content": "x" * 100001, "ModelCardStatus": "Draft"}
    assert check("CreateModelCard", request) == (
        "1 validation error detected: Value at 'content' failed to satisfy constraint: "
        "Member must have length less than or equal to 100000"
    )


def test_multiple_errors_are_counted_and_capped_like_aws() -> None:
    channels = [{} for _ in range(6)]  # 12 missing members
    request = valid_create_request(InputDataConfig=channels)
    shape = load_service_model("sagemaker").operation_model("CreateTrainingJob").input_shape
    found = find_violations(shape, request)
    assert len(found) == 12
    message = check("CreateTrainingJob", request)
    assert message.startswith(f"{MAX_REPORTED} validation errors detected: ")
    assert message.count("failed to satisfy constraint") == MAX_REPORTED
    assert message == format_violations(found)


def test_format_violations_singular_and_plural() -> None:
    assert format_violations(["a"]) == "1 validation error detected: a"
    assert format_violations(["a", "b"]) == "2 validation errors detected: a; b"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"TrainingJobName": 5}, "NUMBER_VALUE can not be converted to a String"),
        ({"TrainingJobName": True}, "TRUE_VALUE can not be converted to a String"),
        ({"TrainingJobName": {"a": 1}}, "Start of structure or map found where not expected."),
        ({"TrainingJobName": ["a"]}, "Start of list found where not expected"),
        ({"AlgorithmSpecification": "File"}, "Expected null"),
        ({"InputDataConfig": {}}, "Start of structure or map found where not expected."),
        ({"InputDataConfig": "train"}, "Expected list or null"),
        ({"HyperParameters": []}, "Start of list found where not expected"),
        ({"HyperParameters": "a=b"}, "Expected map or null"),
        ({"HyperParameters": {"eta": 0.1}}, "NUMBER_VALUE can not be converted to a String"),
        (
            {"StoppingCondition": {"MaxRuntimeInSeconds": "60"}},
            "STRING_VALUE can not be converted to an Integer",
        ),
        (
            {"StoppingCondition": {"MaxRuntimeInSeconds": 1.5}},
            "NUMBER_VALUE can not be converted to an Integer",
        ),
        (
            {"StoppingCondition": {"MaxRuntimeInSeconds": 2**31}},
            "NUMBER_VALUE can not be converted to an Integer",
        ),
        ({"EnableNetworkIsolation": "true"}, "STRING_VALUE can not be converted to a Boolean"),
        ({"EnableNetworkIsolation": 1}, "NUMBER_VALUE can not be converted to a Boolean"),
    ],
)
def test_type_mismatch_is_a_serialization_error(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SerializationException) as info:
        validate_input("sagemaker", "CreateTrainingJob", valid_create_request(**overrides))
    assert info.value.message == message
    assert info.value.code == "SerializationException" and info.value.status == 400


def test_type_mismatch_wins_over_constraint_violations() -> None:
    # AWS deserializes before it validates, so one type error hides the rest.
    request = valid_create_request(
        TrainingJobName="bad name!", RoleArn=None, Tags=[{"Key": 1, "Value": "v"}]
    )
    with pytest.raises(SerializationException):
        validate_input("sagemaker", "CreateTrainingJob", request)


def test_whole_floats_are_integers_and_timestamps_are_epoch_numbers() -> None:
    validate_input(
        "sagemaker",
        "CreateTrainingJob",
        valid_create_request(StoppingCondition={"MaxRuntimeInSeconds": 60.0}),
    )
    validate_input(
        "sagemaker", "ListTrainingJobs", {"CreationTimeAfter": 1700000000.5, "MaxResults": 10}
    )
    with pytest.raises(
        SerializationException, match="STRING_VALUE can not be converted to a Timestamp"
    ):
        validate_input(
            "sagemaker", "ListTrainingJobs", {"CreationTimeAfter": "2024-01-01T00:00:00Z"}
        )


# =========================================================================== protocol


@pytest.mark.parametrize("body", [b"", b"  \n", b"null"])
def test_decode_empty_body_is_empty_request(body: bytes) -> None:
    assert protocol.decode_body(body) == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{bad json", "Malformed JSON in request body"),
        (b'{"a": NaN}', "NaN is not a JSON value"),
        (b"\xff\xfe", "not valid UTF-8"),
        (b"[1, 2]", "Start of list found where not expected"),
        (b'"text"', "Expected null"),
    ],
)
def test_decode_rejects_non_object_json(body: bytes, message: str) -> None:
    with pytest.raises(SerializationException, match=message):
        protocol.decode_body(body)


class Summary(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(alias="TrainingJobName")
    created: dt.datetime = Field(alias="CreationTime")
    ended: dt.datetime | None = Field(default=None, alias="TrainingEndTime")


def test_encode_converts_models_datetimes_and_blobs() -> None:
    naive = dt.datetime(2024, 5, 6, 7, 8, 9, 250000)
    payload = {
        "Summary": Summary(name="job", created=CREATED),
        "Naive": naive,
        "Blob": b"\x00\x01",
        "Items": ("a", 1),
    }
    assert json.loads(protocol.encode_json(payload)) == {
        "Summary": {"TrainingJobName": "job", "CreationTime": 1714979289.25},
        "Naive": 1714979289.25,
        "Blob": "AAE=",
        "Items": ["a", 1],
    }
    assert protocol.encode_json(None) == b"{}"
    with pytest.raises(ValueError):
        protocol.encode_json({"x": float("nan")})


def test_error_response_shape() -> None:
    response = protocol.error_response(ResourceInUse("taken"), request_id="rid-1")
    assert response.status == 400
    assert response.headers["x-amzn-ErrorType"] == "ResourceInUse"
    assert response.headers["x-amzn-RequestId"] == "rid-1"
    assert response.content_type == protocol.CONTENT_TYPE
    assert json.loads(response.body) == {"__type": "ResourceInUse", "message": "taken"}  # type: ignore[arg-type]


# =========================================================================== server


class Recorder:
    """Remembers the params each toy handler received."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []


def make_service(recorder: Recorder) -> AwsJsonService:
    service = AwsJsonService("sagemaker", "SageMaker")

    @service.operation("DescribeTrainingJob")
    async def describe_training_job(params: dict[str, Any]) -> dict[str, Any]:
        recorder.calls.append(("DescribeTrainingJob", params))
        name = params["TrainingJobName"]
        return {
            "TrainingJobName": name,
            "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:000000000000:training-job/{name}",
            "TrainingJobStatus": "InProgress",
            "CreationTime": CREATED,
        }

    @service.operation("CreateTrainingJob")
    async def create_training_job(params: dict[str, Any]) -> dict[str, Any]:
        recorder.calls.append(("CreateTrainingJob", params))
        raise ResourceInUse(f"Training job {params['TrainingJobName']} already exists")

    @service.operation("ListTrainingJobs")
    async def list_training_jobs(params: dict[str, Any]) -> BaseModel:
        recorder.calls.append(("ListTrainingJobs", params))

        class Output(BaseModel):
            summaries: list[Summary] = Field(alias="TrainingJobSummaries")
            next_token: str | None = Field(default=None, alias="NextToken")

        return Output(TrainingJobSummaries=[Summary(name="job-1", created=CREATED)])

    @service.operation("StopTrainingJob")
    async def stop_training_job(params: dict[str, Any]) -> None:
        raise RuntimeError("secret internal detail")

    return service


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def endpoint(recorder: Recorder) -> AsyncIterator[str]:
    """Serve the toy service on an ephemeral loopback port."""
    runner = web.AppRunner(make_service(recorder).make_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def client(endpoint: str, service: str = "sagemaker", **config: Any) -> Any:
    # One attempt: retrying the 500 test would only slow it down.
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}, **config),
    )


async def call(fn: Any, **kwargs: Any) -> Any:
    """Run a blocking boto3 call off the event loop that serves it."""
    return await asyncio.to_thread(fn, **kwargs)


async def client_error(fn: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        await call(fn, **kwargs)
    return info.value.response


async def post(
    endpoint: str, body: bytes | dict[str, Any], target: str | None
) -> tuple[int, dict[str, str], dict[str, Any]]:
    headers = {"Content-Type": protocol.CONTENT_TYPE}
    if target is not None:
        headers["X-Amz-Target"] = target
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    async with (
        aiohttp.ClientSession() as session,
        session.post(endpoint + "/", data=data, headers=headers) as response,
    ):
        return response.status, dict(response.headers), json.loads(await response.read())


async def test_boto3_parses_datetimes(endpoint: str, recorder: Recorder) -> None:
    response = await call(client(endpoint).describe_training_job, TrainingJobName="job-1")
    assert isinstance(response["CreationTime"], dt.datetime)
    assert response["CreationTime"] == CREATED
    assert response["TrainingJobStatus"] == "InProgress"
    assert response["ResponseMetadata"]["RequestId"]
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == protocol.CONTENT_TYPE
    assert recorder.calls == [("DescribeTrainingJob", {"TrainingJobName": "job-1"})]


async def test_pydantic_results_are_dumped_by_alias_without_nones(endpoint: str) -> None:
    response = await call(client(endpoint).list_training_jobs)
    assert "NextToken" not in response
    [summary] = response["TrainingJobSummaries"]
    assert summary["TrainingJobName"] == "job-1"
    assert summary["CreationTime"] == CREATED
    assert "TrainingEndTime" not in summary


async def test_service_error_becomes_client_error(endpoint: str) -> None:
    response = await client_error(client(endpoint).create_training_job, **valid_create_request())
    assert response["Error"] == {
        "Code": "ResourceInUse",
        "Message": "Training job xgb-1 already exists",
    }
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert (
        response["ResponseMetadata"]["RequestId"]
        == response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    )


async def test_unregistered_operation(endpoint: str) -> None:
    response = await client_error(client(endpoint).list_endpoints)
    assert response["Error"]["Code"] == "UnknownOperationException"
    assert "ListEndpoints" in response["Error"]["Message"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


async def test_validation_error_through_boto3_without_client_validation(
    endpoint: str, recorder: Recorder
) -> None:
    request = valid_create_request(TrainingJobName="bad name!")
    del request["RoleArn"]
    response = await client_error(
        client(endpoint, parameter_validation=False).create_training_job, **request
    )
    assert response["Error"] == {
        "Code": "ValidationException",
        "Message": "2 validation errors detected: "
        + violation(
            "bad name!",
            "trainingJobName",
            f"Member must satisfy regular expression pattern: {NAME_PATTERN}",
        )
        + "; "
        + violation(None, "roleArn", NOT_NULL),
    }
    assert recorder.calls == []  # the handler never ran


async def test_validation_error_over_raw_http(endpoint: str) -> None:
    body = valid_create_request(
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": -1, "VolumeSizeInGB": 1}
    )
    status, headers, payload = await post(endpoint, body, "SageMaker.CreateTrainingJob")
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "ValidationException"
    assert headers["Content-Type"] == protocol.CONTENT_TYPE
    assert headers["x-amzn-RequestId"]
    assert payload == {
        "__type": "ValidationException",
        "message": "1 validation error detected: "
        + violation(
            "-1",
            "resourceConfig.instanceCount",
            "Member must have value greater than or equal to 0",
        ),
    }


async def test_invalid_json_is_a_serialization_exception(endpoint: str, recorder: Recorder) -> None:
    status, headers, payload = await post(endpoint, b"{not json", "SageMaker.DescribeTrainingJob")
    assert status == 400
    assert headers["x-amzn-ErrorType"] == payload["__type"] == "SerializationException"
    assert payload["message"].startswith("Malformed JSON in request body")
    assert recorder.calls == []


async def test_wrong_type_is_a_serialization_exception(endpoint: str) -> None:
    status, _, payload = await post(
        endpoint, {"TrainingJobName": {"x": 1}}, "SageMaker.DescribeTrainingJob"
    )
    assert (status, payload) == (
        400,
        {
            "__type": "SerializationException",
            "message": "Start of structure or map found where not expected.",
        },
    )


async def test_empty_body_is_an_empty_request(endpoint: str, recorder: Recorder) -> None:
    status, _, payload = await post(endpoint, b"", "SageMaker.ListTrainingJobs")
    assert status == 200
    assert payload["TrainingJobSummaries"][0]["CreationTime"] == CREATED.timestamp()
    assert recorder.calls == [("ListTrainingJobs", {})]


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        (None, "Missing X-Amz-Target header"),
        ("DynamoDB_20120810.ListTables", "Unknown target 'DynamoDB_20120810.ListTables'"),
        ("SageMaker.", "Unknown target 'SageMaker.'"),
        ("SageMaker.Frobnicate", "Unknown operation Frobnicate"),
        ("SageMaker.ListEndpoints", "Operation ListEndpoints is not implemented"),
    ],
)
async def test_bad_targets_are_unknown_operations(
    endpoint: str, target: str | None, fragment: str
) -> None:
    status, headers, payload = await post(endpoint, {}, target)
    assert status == 400
    assert headers["x-amzn-ErrorType"] == payload["__type"] == "UnknownOperationException"
    assert fragment in payload["message"]


async def test_internal_error_is_500_without_leaking(
    endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="services.api.server")
    response = await client_error(client(endpoint).stop_training_job, TrainingJobName="job-1")
    assert response["Error"]["Code"] == "InternalFailure"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "secret" not in response["Error"]["Message"]

    status, _, payload = await post(
        endpoint, {"TrainingJobName": "job-1"}, "SageMaker.StopTrainingJob"
    )
    assert status == 500 and payload["__type"] == "InternalFailure"
    assert "secret" not in json.dumps(payload) and "Traceback" not in json.dumps(payload)

    logged = [r for r in caplog.records if r.name == "services.api.server" and r.exc_info]
    assert logged and "secret internal detail" in str(logged[0].exc_info[1])  # type: ignore[index]


@pytest.mark.parametrize("path", ["/", "/health"])
async def test_get_lists_operations(endpoint: str, path: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(endpoint + path) as response:
        assert response.status == 200
        body = await response.json()
    assert body["service"] == "sagemaker"
    assert body["targetPrefix"] == "SageMaker"
    assert body["operations"] == [
        "CreateTrainingJob",
        "DescribeTrainingJob",
        "ListTrainingJobs",
        "StopTrainingJob",
    ]


def test_registration_is_checked_against_the_model() -> None:
    service = AwsJsonService("sagemaker")
    assert service.target_prefix == "SageMaker"
    with pytest.raises(ValueError, match="no operation named 'CreateTrainingJobs'"):
        service.operation("CreateTrainingJobs")

    with pytest.raises(TypeError, match="async"):

        @service.operation("DescribeTrainingJob")
        def not_async(params: dict[str, Any]) -> dict[str, Any]:
            return {}

    @service.operation("DescribeTrainingJob")
    async def describe(params: dict[str, Any]) -> dict[str, Any]:
        return {}

    with pytest.raises(ValueError, match="already registered"):
        service.operation("DescribeTrainingJob")(describe)
    assert service.make_app()[SERVICE_KEY] is service


async def test_invoke_in_process(recorder: Recorder) -> None:
    service = make_service(recorder)
    output = await service.invoke("DescribeTrainingJob", {"TrainingJobName": "job-1"})
    assert output["CreationTime"] == CREATED.timestamp()
    with pytest.raises(ValidationException):
        await service.invoke("DescribeTrainingJob", {})


async def test_framework_serves_other_json_services() -> None:
    """Application Auto Scaling speaks JSON 1.1 with another target prefix."""
    service = AwsJsonService("application-autoscaling")

    @service.operation("DescribeScalableTargets")
    async def describe(params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ScalableTargets": [
                {
                    "ServiceNamespace": params["ServiceNamespace"],
                    "ResourceId": "endpoint/e/variant/v",
                    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                    "MinCapacity": 1,
                    "MaxCapacity": 4,
                    "RoleARN": ROLE,
                    "CreationTime": CREATED,
                }
            ]
        }

    runner = web.AppRunner(service.make_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        aas = client(f"http://{host}:{port}", "application-autoscaling")
        response = await call(aas.describe_scalable_targets, ServiceNamespace="sagemaker")
        assert response["ScalableTargets"][0]["CreationTime"] == CREATED
        error = await client_error(
            client(
                f"http://{host}:{port}", "application-autoscaling", parameter_validation=False
            ).describe_scalable_targets,
            ServiceNamespace="nope",
        )
        assert error["Error"]["Code"] == "ValidationException"
        assert error["Error"]["Message"].startswith(
            "1 validation error detected: Value 'nope' at 'serviceNamespace' failed to satisfy "
            "constraint: Member must satisfy enum value set: ["
        )
    finally:
        await runner.cleanup()
