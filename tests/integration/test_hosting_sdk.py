"""The SageMaker Python SDK v2, unchanged: ``fit`` -> ``deploy`` -> ``predict`` -> ``update_endpoint`` -> delete.

The SDK polls ``DescribeEndpoint`` every 30 s after a 30 s first sleep;
the test caps the SDK's sleeps at 0.5 s (its clock, not its calls), so the
code path is the user's, minus the waiting.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import numpy as np
import pytest

from tests.support import NodeThread

import sagemaker  # noqa: E402 - a dev dependency: its absence must fail, not skip
from sagemaker.deserializers import CSVDeserializer, JSONDeserializer  # noqa: E402
from sagemaker.estimator import Estimator  # noqa: E402
from sagemaker.inputs import TrainingInput  # noqa: E402
from sagemaker.serializers import CSVSerializer, JSONSerializer  # noqa: E402

pytestmark = pytest.mark.sdk

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/headwater-sdk"
TELEMETRY_OPT_OUT = "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"


@pytest.fixture(scope="module")
def sdk(node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The environment a user exports, and a session over it."""
    home = tmp_path_factory.mktemp("sdk-home")
    (home / "config.yaml").write_text(TELEMETRY_OPT_OUT)
    with pytest.MonkeyPatch.context() as mp:
        for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
            mp.delenv(var, raising=False)
        mp.setenv("AWS_CONFIG_FILE", str(home / "none"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "none"))
        mp.setenv("AWS_ENDPOINT_URL", node.endpoints["aws"])
        mp.setenv("AWS_ENDPOINT_URL_SAGEMAKER", node.endpoints["sagemaker"])
        mp.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", node.endpoints["runtime"])
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(home / "config.yaml"))
        mp.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
        import sagemaker.session as sm_session

        fast = SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")})
        fast.sleep = lambda s: time.sleep(min(s, 0.5))
        mp.setattr(sm_session, "time", fast)
        yield sagemaker.Session(boto_session=boto3.Session(region_name=REGION),
                                default_bucket=node.settings.artifacts_bucket)


def _csv(rows: int) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(rows, 3))
    y = x @ np.array([1.0, -2.0, 0.5])
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([y, x]), delimiter=",", fmt="%.5f")
    return buf.getvalue().encode(), x


def test_fit_deploy_predict_update_delete(node: NodeThread, sdk: Any) -> None:
    data, x = _csv(200)
    boto3.client("s3").put_object(Bucket=node.settings.data_bucket, Key="sdk-hosting/train/a.csv", Body=data)
    est = Estimator(image_uri=sagemaker.image_uris.retrieve("xgboost", REGION, "1.7-1"), role=ROLE,
                    instance_count=1, instance_type="ml.m5.large", sagemaker_session=sdk,
                    output_path=f"s3://{node.settings.artifacts_bucket}/sdk-hosting",
                    hyperparameters={"num_round": "20", "objective": "reg:squarederror"})
    est.fit({"train": TrainingInput(f"s3://{node.settings.data_bucket}/sdk-hosting/train/",
                                    content_type="text/csv")}, logs=False)

    predictor = est.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name="sdk-endpoint",
                           serializer=CSVSerializer(), deserializer=CSVDeserializer())
    sm = boto3.client("sagemaker")
    assert sm.describe_endpoint(EndpointName="sdk-endpoint")["EndpointStatus"] == "InService"
    [[csv_answer]] = predictor.predict(x[0].tolist())
    truth = float(x[0] @ np.array([1.0, -2.0, 0.5]))
    assert abs(float(csv_answer) - truth) < 1.0  # a trained regressor, close to the generating function

    predictor.serializer, predictor.deserializer = JSONSerializer(), JSONDeserializer()
    answer = predictor.predict(x[:3].tolist())
    assert [p["score"] for p in answer["predictions"]][0] == pytest.approx(float(csv_answer), rel=1e-5)

    before = sm.describe_endpoint(EndpointName="sdk-endpoint")["EndpointConfigName"]
    predictor.update_endpoint(initial_instance_count=2, instance_type="ml.m5.large")
    desc = sm.describe_endpoint(EndpointName="sdk-endpoint")
    assert desc["EndpointStatus"] == "InService" and desc["EndpointConfigName"] != before
    assert desc["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    assert predictor.predict(x[:1].tolist())["predictions"][0]["score"] == pytest.approx(float(csv_answer), rel=1e-5)

    predictor.delete_endpoint()
    with pytest.raises(sm.exceptions.ClientError):
        for _ in range(100):  # deletion drains the fleet first
            sm.describe_endpoint(EndpointName="sdk-endpoint")
            time.sleep(0.2)
