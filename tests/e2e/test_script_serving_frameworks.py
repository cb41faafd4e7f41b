"""Serving PyTorch and XGBoost (framework mode) script-mode models through the SageMaker SDK, unchanged.

``PyTorch(...).deploy()`` repacks the code into ``model.tar.gz`` (the
container finds it in ``model/code``); ``XGBoost(entry_point=...).deploy()``
names the S3 ``sourcedir.tar.gz`` and the image the built-in algorithm also
uses. Predictions are compared with the same model evaluated here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import boto3
import numpy as np
import pytest

from tests.e2e.script_serving_support import (  # noqa: F401 - fixtures
    ARTIFACTS, INSTANCE, SCRIPTS, artifact, data, env, fit, model_of, node, source_dir)
from tests.sdk_env import ROLE, sdk_session

import sagemaker  # noqa: E402,F401 - a dev dependency: its absence must fail, not skip
from sagemaker.deserializers import CSVDeserializer, JSONDeserializer  # noqa: E402
from sagemaker.pytorch import PyTorch  # noqa: E402
from sagemaker.serializers import CSVSerializer, JSONSerializer  # noqa: E402
from sagemaker.xgboost import XGBoost  # noqa: E402

pytestmark = pytest.mark.sdk


def test_pytorch_deploy_serves_through_the_scripts_model_fn(data: tuple[str, np.ndarray], tmp_path: Path) -> None:
    import torch

    src = source_dir(tmp_path, "torch_linear.py")
    est = PyTorch(entry_point="torch_linear.py", source_dir=str(src), framework_version="2.1", py_version="py310",
                  instance_type=INSTANCE, instance_count=1, role=ROLE, hyperparameters={"epochs": 30},
                  output_path=f"s3://{ARTIFACTS}/script-serving", sagemaker_session=sdk_session(ARTIFACTS))
    fit(est, data[0])
    predictor = est.deploy(initial_instance_count=1, instance_type=INSTANCE, endpoint_name="torch-script",
                           serializer=JSONSerializer(), deserializer=JSONDeserializer())
    env = boto3.client("sagemaker").describe_model(ModelName=model_of("torch-script"))["PrimaryContainer"]
    # The SDK repacks the code into the model for PyTorch: the container finds it in model/code.
    assert env["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert env["Image"].split("/")[-1].startswith("pytorch-inference:")

    spec = importlib.util.spec_from_file_location("torch_linear_local", SCRIPTS / "torch_linear.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    local = module.model_fn(str(artifact(est.model_data, "weights.pt", tmp_path).parent))
    rows = data[1]
    with torch.no_grad():
        expected = local(torch.tensor(rows, dtype=torch.float32)).numpy()
    answer = np.asarray(predictor.predict(rows.tolist()))
    assert answer.shape == (len(rows), 1)
    np.testing.assert_allclose(answer, expected, rtol=1e-5, atol=1e-5)
    predictor.delete_endpoint()


def test_xgboost_framework_mode_deploy_predicts(data: tuple[str, np.ndarray], tmp_path: Path) -> None:
    import xgboost as xgb

    est = XGBoost(entry_point="xgb_framework.py", source_dir=str(source_dir(tmp_path, "xgb_framework.py")),
                  framework_version="1.7-1", instance_type=INSTANCE, instance_count=1, role=ROLE,
                  hyperparameters={"num_round": 8}, output_path=f"s3://{ARTIFACTS}/script-serving",
                  sagemaker_session=sdk_session(ARTIFACTS))
    fit(est, data[0])
    predictor = est.deploy(initial_instance_count=1, instance_type=INSTANCE, endpoint_name="xgb-framework",
                           serializer=CSVSerializer(), deserializer=CSVDeserializer())
    local = xgb.Booster(model_file=str(artifact(est.model_data, "my-model.json", tmp_path)))
    rows = data[1]
    expected = local.predict(xgb.DMatrix(rows.astype(np.float32)))
    answer = [float(r[0]) for r in predictor.predict(rows.tolist())]
    np.testing.assert_allclose(answer, expected, rtol=1e-5)
    predictor.delete_endpoint()
