"""Serving scikit-learn script-mode models: the SageMaker SDK's ``fit`` -> ``deploy`` -> ``predict``, unchanged.

``SKLearn(...).deploy()`` creates a model whose ``Environment`` names the
entry point and its code (the training job's S3 ``sourcedir.tar.gz``); the
framework container imports it and lets its hooks override the defaults.
Every prediction is compared with the same model evaluated in the test
process. PyTorch and XGBoost framework mode: ``test_script_serving_frameworks``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import joblib
import numpy as np
import pytest

from tests.e2e.script_serving_support import (  # noqa: F401 - fixtures
    ARTIFACTS, DATA, INSTANCE, artifact, data, endpoint_status, env, fit, gone, model_of, node, source_dir)
from tests.sdk_env import ROLE, sdk_session
from tests.support import wait_for

import sagemaker  # noqa: E402,F401 - a dev dependency: its absence must fail, not skip
from sagemaker.deserializers import CSVDeserializer, JSONDeserializer, NumpyDeserializer  # noqa: E402
from sagemaker.serializers import CSVSerializer, JSONSerializer, NumpySerializer  # noqa: E402
from sagemaker.sklearn import SKLearn, SKLearnModel  # noqa: E402

pytestmark = pytest.mark.sdk


@pytest.fixture(scope="module")
def sklearn_estimator(data: tuple[str, np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> SKLearn:
    src = source_dir(tmp_path_factory.mktemp("sklearn"), "sklearn_train.py", "helpers.py")
    est = SKLearn(entry_point="sklearn_train.py", source_dir=str(src), framework_version="1.2-1",
                  instance_type=INSTANCE, instance_count=1, role=ROLE, hyperparameters={"C": 1.0},
                  output_path=f"s3://{ARTIFACTS}/script-serving", sagemaker_session=sdk_session(ARTIFACTS))
    fit(est, data[0])
    return est


def test_sklearn_deploy_predicts_with_csv_json_and_numpy(sklearn_estimator: SKLearn, data: tuple[str, np.ndarray],
                                                         tmp_path: Path) -> None:
    rows = data[1]
    local = joblib.load(artifact(sklearn_estimator.model_data, "model.joblib", tmp_path))
    expected = local.predict(rows.astype(np.float32)).tolist()
    assert len(set(expected)) == 2  # both classes among the rows: the comparison means something

    predictor = sklearn_estimator.deploy(initial_instance_count=1, instance_type=INSTANCE,
                                         endpoint_name="sklearn-script", serializer=CSVSerializer(),
                                         deserializer=CSVDeserializer())
    env = boto3.client("sagemaker").describe_model(ModelName=model_of("sklearn-script"))["PrimaryContainer"][
        "Environment"]
    assert env["SAGEMAKER_PROGRAM"] == "sklearn_train.py"
    assert env["SAGEMAKER_SUBMIT_DIRECTORY"].startswith("s3://") and env["SAGEMAKER_SUBMIT_DIRECTORY"].endswith(
        "sourcedir.tar.gz")
    # Defaults under the script's model_fn: CSV rows in, one label per line out.
    assert [float(r[0]) for r in predictor.predict(rows.tolist())] == expected
    predictor.serializer, predictor.deserializer = JSONSerializer(), JSONDeserializer()
    assert predictor.predict(rows.tolist()) == expected
    predictor.serializer, predictor.deserializer = NumpySerializer(), NumpyDeserializer()
    answer = predictor.predict(rows.astype(np.float32))
    assert isinstance(answer, np.ndarray) and answer.tolist() == expected

    predictor.delete_endpoint()
    wait_for(lambda: gone("sklearn-script"), 60, what="the endpoint to be deleted")


def test_custom_input_and_output_fn_override_the_defaults(sklearn_estimator: SKLearn, data: tuple[str, np.ndarray],
                                                          tmp_path: Path) -> None:
    rows = data[1]
    local = joblib.load(artifact(sklearn_estimator.model_data, "model.joblib", tmp_path))
    src = source_dir(tmp_path, "sklearn_custom_io.py")
    model = SKLearnModel(model_data=sklearn_estimator.model_data, role=ROLE, entry_point="sklearn_custom_io.py",
                         source_dir=str(src), framework_version="1.2-1", sagemaker_session=sdk_session(ARTIFACTS))
    predictor = model.deploy(initial_instance_count=1, instance_type=INSTANCE, endpoint_name="sklearn-custom-io",
                             serializer=JSONSerializer(), deserializer=JSONDeserializer())
    answer = predictor.predict({"customers": rows.tolist()})
    assert answer["served_by"] == "custom output_fn"
    np.testing.assert_allclose(answer["churn_probability"], local.predict_proba(rows)[:, 1], atol=1e-5)

    runtime = boto3.client("sagemaker-runtime")
    with pytest.raises(runtime.exceptions.ModelError) as info:  # predict_fn raised: the container's 500
        runtime.invoke_endpoint(EndpointName="sklearn-custom-io", ContentType="application/json",
                                Body=json.dumps({"customers": [[1.0, None, 0.0, 0.0]]}))
    err = info.value.response
    assert err["OriginalStatusCode"] == 500
    assert "predict_fn refuses rows with missing values" in err["OriginalMessage"]
    with pytest.raises(runtime.exceptions.ModelError) as info:  # the custom input_fn reads JSON only
        runtime.invoke_endpoint(EndpointName="sklearn-custom-io", ContentType="text/csv", Body=b"1,2,3,4")
    assert "this model reads application/json, not text/csv" in info.value.response["OriginalMessage"]
    # The endpoint keeps serving after its hooks raised.
    assert predictor.predict({"customers": rows[:1].tolist()})["served_by"] == "custom output_fn"
    predictor.delete_endpoint()


def test_failing_model_fn_fails_the_endpoint_with_its_traceback(sklearn_estimator: SKLearn, tmp_path: Path) -> None:
    model = SKLearnModel(model_data=sklearn_estimator.model_data, role=ROLE, entry_point="broken_model_fn.py",
                         source_dir=str(source_dir(tmp_path, "broken_model_fn.py")), framework_version="1.2-1",
                         sagemaker_session=sdk_session(ARTIFACTS))
    model.deploy(initial_instance_count=1, instance_type=INSTANCE, endpoint_name="sklearn-broken", wait=False)
    d = endpoint_status("sklearn-broken")
    assert d["EndpointStatus"] == "Failed"
    reason = d["FailureReason"]
    assert "FileNotFoundError: no weights file named weights.bin" in reason
    assert "in model_fn" in reason  # the traceback's frame, not just the message
    boto3.client("sagemaker").delete_endpoint(EndpointName="sklearn-broken")


def test_requirements_failure_is_the_endpoint_reason(sklearn_estimator: SKLearn, tmp_path: Path) -> None:
    src = source_dir(tmp_path, "sklearn_custom_io.py", requirements="headwater-package-that-does-not-exist==0.0.1\n")
    model = SKLearnModel(model_data=sklearn_estimator.model_data, role=ROLE, entry_point="sklearn_custom_io.py",
                         source_dir=str(src), framework_version="1.2-1", sagemaker_session=sdk_session(ARTIFACTS))
    model.deploy(initial_instance_count=1, instance_type=INSTANCE, endpoint_name="sklearn-bad-reqs", wait=False)
    d = endpoint_status("sklearn-bad-reqs", timeout=150)
    assert d["EndpointStatus"] == "Failed"
    assert "InstallRequirementsError: pip could not install requirements.txt" in d["FailureReason"]
    assert "headwater-package-that-does-not-exist" in d["FailureReason"]
    boto3.client("sagemaker").delete_endpoint(EndpointName="sklearn-bad-reqs")


def test_batch_transform_runs_the_script_model(sklearn_estimator: SKLearn, tmp_path: Path) -> None:
    rows = np.random.default_rng(9).normal(size=(40, 4))
    local = joblib.load(artifact(sklearn_estimator.model_data, "model.joblib", tmp_path))
    s3 = boto3.client("s3")
    s3.put_object(Bucket=DATA, Key="script-serving/batch/rows.csv",
                  Body="".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows).encode())
    transformer = sklearn_estimator.transformer(instance_count=1, instance_type=INSTANCE, accept="text/csv",
                                                strategy="MultiRecord", assemble_with="Line",
                                                output_path=f"s3://{ARTIFACTS}/script-serving/batch-out")
    transformer.transform(f"s3://{DATA}/script-serving/batch/", content_type="text/csv", split_type="Line",
                          wait=False)
    sm = boto3.client("sagemaker")
    name = transformer.latest_transform_job.name

    def finished() -> dict[str, Any] | None:
        d = sm.describe_transform_job(TransformJobName=name)
        return d if d["TransformJobStatus"] in ("Completed", "Failed", "Stopped") else None

    job = wait_for(finished, 120, interval=0.5, what=f"transform job {name}")
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    out = s3.get_object(Bucket=ARTIFACTS, Key="script-serving/batch-out/rows.csv.out")["Body"].read().decode()
    assert [float(v) for v in out.split()] == local.predict(rows.astype(np.float32)).tolist()
