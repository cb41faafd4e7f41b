"""Serving with the SageMaker Python SDK v3, unchanged, against a node: ``sagemaker.serve.ModelBuilder`` over a
``ModelTrainer`` artifact, an S3 artifact and a scikit-learn model object, and ``sagemaker.core.resources``
changing a live endpoint (``update``, ``update_weights_and_capacities``, ``invoke_with_response_stream``,
``delete``).

The model-object path runs ModelBuilder's own ``inference.py`` in the serving container, and that handler
imports the SDK v3 (``sagemaker.serve``). On SageMaker the container gets it from ``code/requirements.txt``;
under the process runner a serving container is Headwater's own interpreter, so the SDK v3 must be installed
where Headwater is, as in a v3 user's environment. This module's node stands for that: its containers find
the v3 virtualenv's packages on their path.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost

from tests.sdk_v3.support import HERE, V3Run, run_v3
from tests.support import NodeThread, free_port_settings

pytestmark = pytest.mark.sdk

REPO = HERE.parents[1]
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
TRAIN = "s3://headwater-data/sdk-v3-serve/train/"
OUTPUT = "s3://headwater-artifacts/sdk-v3-serve"
ENDPOINT = "v3-serve-xgboost"
ROWS = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
CSV_ROWS = "\n".join(",".join(str(v) for v in row) for row in ROWS)


def _v3_site_packages() -> Path:
    found = sorted((HERE / ".venv" / "lib").glob("python3*/site-packages"))
    if not found:
        pytest.fail(f"{HERE / '.venv'} has no site-packages: `make sdk-v3-env` (bash tests/sdk_v3/setup.sh) "
                    f"creates it", pytrace=False)
    return found[-1]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    """A node whose containers import this checkout's container code, then the SDK v3's packages."""
    path = [str(REPO), str(_v3_site_packages()), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join(path))  # the process runner passes it on to containers
        n = NodeThread(free_port_settings(tmp_path_factory.mktemp("node"))).start()
        yield n
        n.stop()


@pytest.fixture(scope="module")
def deployed(node: NodeThread, shell: dict[str, str]) -> V3Run:
    """``ModelTrainer.train()``, then ``ModelBuilder(model=trainer, image_uri=<XGBoost>).build()`` and ``deploy()``."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 3))
    y = x @ np.array([1.0, -2.0, 0.5])
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([y, x]), delimiter=",", fmt="%.5f")
    node.client("s3").put_object(Bucket="headwater-data", Key="sdk-v3-serve/train/part.csv", Body=buf.getvalue())
    return run_v3("serve_model_builder_trainer", shell, shell["SAGEMAKER_EXECUTION_ROLE_ARN"], TRAIN, OUTPUT,
                  ENDPOINT, CSV_ROWS, "headwater-artifacts")


def _object(node: NodeThread, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body: bytes = node.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def _booster_predictions(node: NodeThread, artifact: str, tmp_path: Path) -> list[float]:
    with tarfile.open(fileobj=io.BytesIO(_object(node, artifact)), mode="r:gz") as tar:
        tar.extract("xgboost-model", tmp_path, filter="data")
    predicted: list[float] = xgboost.Booster(model_file=str(tmp_path / "xgboost-model")).predict(
        xgboost.DMatrix(ROWS)).tolist()
    return predicted


def test_model_builder_deploys_a_model_trainer_artifact_on_the_builtin_image(node: NodeThread, deployed: V3Run,
                                                                              tmp_path: Path) -> None:
    result = deployed.result
    assert result["status"] == "InService" and result["variant"] == "AllTraffic"
    # With the built-in image, ModelBuilder creates the model as it is: the image and the trainer's artifact.
    container = node.client("sagemaker").describe_model(ModelName=result["model"])["PrimaryContainer"]
    assert container["Image"] == XGBOOST_IMAGE and container["ModelDataUrl"] == result["artifact"]
    assert not container.get("Environment")
    assert result["predictions"] == pytest.approx(_booster_predictions(node, result["artifact"], tmp_path), rel=1e-5)


def test_core_resources_update_reweight_stream_and_delete_an_endpoint(node: NodeThread, shell: dict[str, str],
                                                                      deployed: V3Run, tmp_path: Path) -> None:
    run = run_v3("serve_endpoint_updates", shell, shell["SAGEMAKER_EXECUTION_ROLE_ARN"], ENDPOINT,
                 deployed.result["artifact"], CSV_ROWS)
    result = run.result
    # Endpoint.update: the new config's two variants, each at its initial weight and count.
    assert result["updated"] == {"config": f"{ENDPOINT}-blue-green",
                                 "variants": {"Blue": [1.0, 1], "Green": [1.0, 1]}}
    # update_weights_and_capacities: Updating at once, then the new weights, Green on two instances.
    weighted = result["weighted"]
    assert weighted["status_after_call"] == "Updating"
    assert weighted["variants"] == {"Blue": [1.0, 1], "Green": [3.0, 2]}
    # InvokeEndpointWithResponseStream: an event stream; the built-in container answers in one piece, so one
    # PayloadPart. The resource class's own method fails in the SDK, after the answer came back.
    stream = result["stream"]
    assert stream["resource_error"] == "'EventStream' object has no attribute 'get'"
    assert stream["content_type"] == "text/csv" and stream["variant"] == "Green"
    assert stream["events"] == [["PayloadPart"]]
    expected = _booster_predictions(node, deployed.result["artifact"], tmp_path)
    assert [float(v) for v in stream["parts"][0].split()] == pytest.approx(expected, rel=1e-5)
    # delete: the endpoint, both configs and both models are gone.
    sm = node.client("sagemaker")
    assert sm.list_endpoints(NameContains=ENDPOINT)["Endpoints"] == []
    assert sm.list_endpoint_configs(NameContains=ENDPOINT)["EndpointConfigs"] == []
    assert sm.list_models(NameContains=ENDPOINT)["Models"] == []


def test_model_builder_deploys_a_scikit_learn_model_object(node: NodeThread, shell: dict[str, str]) -> None:
    name = "v3-serve-sklearn"
    run = run_v3("serve_model_builder_object", shell, shell["SAGEMAKER_EXECUTION_ROLE_ARN"], name,
                 "headwater-artifacts")
    result = run.result
    assert result["status"] == "InService" and result["image"] == SKLEARN_IMAGE
    # ModelBuilder's own handler, packaged in the model artifact, is the program the container imports.
    env: dict[str, Any] = result["environment"]
    assert env["SAGEMAKER_PROGRAM"] == "inference.py" and env["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert env["MODEL_CLASS_NAME"] == "sklearn.linear_model._base.LinearRegression"
    with tarfile.open(fileobj=io.BytesIO(_object(node, result["model_data_url"])), mode="r:gz") as tar:
        assert {"code/inference.py", "code/serve.pkl"} <= set(tar.getnames())
    assert result["content_type"] == "application/x-npy"
    assert result["predictions"] == pytest.approx(result["expected"], rel=1e-6)
    assert node.client("sagemaker").list_endpoints(NameContains=name)["Endpoints"] == []

