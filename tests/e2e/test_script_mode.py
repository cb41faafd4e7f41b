"""Script mode: the SageMaker SDK's framework estimators, unchanged, against a node.

``SKLearn``, ``XGBoost`` (framework mode) and ``PyTorch`` estimators upload
``source_dir`` as ``sourcedir.tar.gz`` and send ``sagemaker_program`` /
``sagemaker_submit_directory``; the job runs the user's entry point with the
training toolkit's environment and the hyperparameters as ``--name value``.
With ``enable_network_isolation=True`` the code comes as a ``code`` channel
and the job runs without network.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
import sagemaker  # noqa: E402 - a dev dependency: its absence must fail, not skip
from sagemaker.exceptions import UnexpectedStatusException  # noqa: E402
from sagemaker.pytorch import PyTorch  # noqa: E402
from sagemaker.sklearn import SKLearn  # noqa: E402
from sagemaker.xgboost import XGBoost  # noqa: E402

from infra.demo.datasets import to_csv
from services.runners.images import ENVIRONMENTS_DIR, resolve_image
from tests.sdk_env import ROLE, sdk_environment, sdk_session
from tests.support import LoopbackListener, NodeThread, free_port_settings, source_archive, wait_for_job

pytestmark = pytest.mark.sdk

SCRIPTS = Path(__file__).parent / "scripts"
DATA = "headwater-data"
ARTIFACTS = "headwater-artifacts"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    n = NodeThread(free_port_settings(tmp_path_factory.mktemp("script-mode"))).start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def env(node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with sdk_environment(node, tmp_path_factory.mktemp("sdk-home")):
        yield


@pytest.fixture(scope="module")
def train_uri(node: NodeThread, env: None) -> str:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    boto3.client("s3").put_object(Bucket=DATA, Key="script-mode/train/part-0.csv", Body=to_csv(X, y))
    return f"s3://{DATA}/script-mode/train/"


def _source_dir(tmp: Path, *files: str, requirements: str | None = None) -> Path:
    src = tmp / "src"
    src.mkdir()
    for f in files:
        shutil.copy(SCRIPTS / f, src / f)
    if requirements is not None:
        (src / "requirements.txt").write_text(requirements)
    return src


def _sklearn(src: Path, **hps: Any) -> SKLearn:
    return SKLearn(entry_point="sklearn_train.py", source_dir=str(src), framework_version="1.2-1",
                   instance_type="ml.m5.large", instance_count=1, role=ROLE, hyperparameters=hps,
                   output_path=f"s3://{ARTIFACTS}/script-mode", sagemaker_session=sdk_session(ARTIFACTS))


def _log(node: NodeThread, name: str) -> str:
    return (node.settings.jobs_dir / name / "algo-1.log").read_text()


def _tar_names(uri: str) -> list[str]:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return tar.getnames()


def test_framework_image_uris_resolve(env: None) -> None:
    for framework, version, folder in (("sklearn", "1.2-1", "sklearn"), ("pytorch", "2.1", "pytorch")):
        for region in ("us-east-1", "eu-west-1"):
            uri = sagemaker.image_uris.retrieve(framework, region, version, py_version="py310" if framework ==
                                                "pytorch" else "py3", instance_type="ml.m5.large",
                                                image_scope="training")
            image = resolve_image(uri)
            assert image is not None and image.name == folder, uri
    assert resolve_image("headwater/sklearn").name == "sklearn"
    assert resolve_image("headwater/xgboost_framework").name == "xgboost_framework"


def test_sklearn_estimator_runs_the_entry_point(node: NodeThread, train_uri: str, tmp_path: Path) -> None:
    est = _sklearn(_source_dir(tmp_path, "sklearn_train.py", "helpers.py"), C=0.5, **{"max-iter": 50})
    est.fit({"train": train_uri}, wait=False)
    name = est.latest_training_job.name
    d = wait_for_job(node.client("sagemaker"), name, timeout=90)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    hps = d["HyperParameters"]
    assert json.loads(hps["sagemaker_program"]) == "sklearn_train.py"
    assert json.loads(hps["sagemaker_submit_directory"]).endswith("/source/sourcedir.tar.gz")
    assert set(_tar_names(est.model_data)) >= {"model.joblib", "literal.txt"}

    log = _log(node, name)
    assert "Invoking user script:" in log and "--C 0.5 --max-iter 50" in log
    accuracy = float(re.search(r"train_accuracy=([0-9.]+)", log).group(1))
    assert accuracy > 0.9
    smenv = json.loads(re.search(r"^SMENV (.*)$", log, re.M).group(1))
    assert smenv["SM_CURRENT_HOST"] == "algo-1" and json.loads(smenv["SM_HOSTS"]) == ["algo-1"]
    assert json.loads(smenv["SM_CHANNELS"]) == ["train"]
    assert json.loads(smenv["SM_HPS"]) == {"C": 0.5, "max-iter": 50}
    assert json.loads(smenv["SM_USER_ARGS"]) == ["--C", "0.5", "--max-iter", "50"]
    assert smenv["SM_HP_C"] == "0.5" and int(smenv["SM_NUM_CPUS"]) >= 1 and smenv["SM_NUM_GPUS"] == "0"
    assert {"channel_input_dirs", "hosts", "hyperparameters", "model_dir"} <= set(smenv["training_env_keys"])
    assert smenv["opt_ml_model_exists"] is True



def _report(log: str, marker: str) -> dict[str, Any]:
    return json.loads(re.search(rf"^{marker} (.*)$", log, re.M).group(1))


def test_pytorch_script_imports_torchvision_from_the_images_own_environment(node: NodeThread, train_uri: str,
                                                                           tmp_path: Path) -> None:
    est = PyTorch(entry_point="torchvision_transform.py", source_dir=str(_source_dir(tmp_path,
                  "torchvision_transform.py")), framework_version="2.1", py_version="py310",
                  instance_type="ml.m5.large", instance_count=1, role=ROLE,
                  output_path=f"s3://{ARTIFACTS}/script-mode", sagemaker_session=sdk_session(ARTIFACTS))
    est.fit({"train": train_uri}, wait=False)
    d = wait_for_job(node.client("sagemaker"), est.latest_training_job.name, timeout=180)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    report = _report(_log(node, d["TrainingJobName"]), "TRANSFORMED")
    # Resize(4) of an 8x8 image, one channel; 191/255 normalized by (x - 0.5) / 0.5.
    assert report["shape"] == [1, 4, 4] and report["value"] == pytest.approx(0.498, abs=1e-3)
    # The PyTorch image's own environment ran it, not the node's (whose torch has no torchvision beside it).
    assert Path(report["prefix"]) == ENVIRONMENTS_DIR / "pytorch"
    assert "report.json" in _tar_names(est.model_data)


def test_sklearn_script_reads_its_channel_with_pandas_from_the_images_own_environment(
        node: NodeThread, train_uri: str, tmp_path: Path) -> None:
    est = SKLearn(entry_point="pandas_summary.py", source_dir=str(_source_dir(tmp_path, "pandas_summary.py")),
                  framework_version="1.2-1", instance_type="ml.m5.large", role=ROLE,
                  output_path=f"s3://{ARTIFACTS}/script-mode", sagemaker_session=sdk_session(ARTIFACTS))
    est.fit({"train": train_uri}, wait=False)
    d = wait_for_job(node.client("sagemaker"), est.latest_training_job.name, timeout=120)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    report = _report(_log(node, d["TrainingJobName"]), "SUMMARY")
    assert (report["rows"], report["columns"]) == (200, 5) and 0 < report["positive"] < 200
    assert report["accuracy"] > 0.9
    assert Path(report["prefix"]) == ENVIRONMENTS_DIR / "sklearn"


def test_script_exception_fails_the_job_with_its_traceback(node: NodeThread, train_uri: str, tmp_path: Path) -> None:
    est = _sklearn(_source_dir(tmp_path, "sklearn_train.py", "helpers.py"), **{"fail-with": "the data is odd"})
    est.fit({"train": train_uri}, wait=False)
    d = wait_for_job(node.client("sagemaker"), est.latest_training_job.name, timeout=90)
    assert d["TrainingJobStatus"] == "Failed"
    reason = d["FailureReason"]
    assert "ExecuteUserScriptError" in reason and "ExitCode 1" in reason
    assert "ValueError: the data is odd" in reason
    assert "Traceback" in reason or 'File "' in reason
    with pytest.raises(UnexpectedStatusException, match="Failed"):  # the SDK reports it as SageMaker's would
        est.latest_training_job.wait(logs="None")


def test_requirements_are_installed(node: NodeThread, train_uri: str, tmp_path: Path) -> None:
    src = _source_dir(tmp_path, "helpers.py", requirements="tabulate\n")
    (src / "uses_tabulate.py").write_text(
        "import tabulate, os, pathlib\n"
        "print(tabulate.tabulate([[1, 2]], headers=['a', 'b']))\n"
        "pathlib.Path(os.environ['SM_MODEL_DIR'], 'ok').write_text(tabulate.__version__)\n")
    est = SKLearn(entry_point="uses_tabulate.py", source_dir=str(src), framework_version="1.2-1",
                  instance_type="ml.m5.large", role=ROLE, output_path=f"s3://{ARTIFACTS}/script-mode",
                  sagemaker_session=sdk_session(ARTIFACTS))
    est.fit({"train": train_uri}, wait=False)
    d = wait_for_job(node.client("sagemaker"), est.latest_training_job.name, timeout=120)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert "Installing requirements from requirements.txt" in _log(node, d["TrainingJobName"])
    assert "ok" in _tar_names(est.model_data)


def test_requirements_failure_is_a_clear_reason(node: NodeThread, train_uri: str, tmp_path: Path) -> None:
    src = _source_dir(tmp_path, "sklearn_train.py", "helpers.py",
                      requirements="headwater-package-that-does-not-exist==0.0.1\n")
    est = _sklearn(src)
    est.fit({"train": train_uri}, wait=False)
    d = wait_for_job(node.client("sagemaker"), est.latest_training_job.name, timeout=120)
    assert d["TrainingJobStatus"] == "Failed"
    assert d["FailureReason"].startswith("InstallRequirementsError: pip could not install requirements.txt")
    assert "headwater-package-that-does-not-exist" in d["FailureReason"]


def test_xgboost_estimator_in_framework_mode(node: NodeThread, train_uri: str, tmp_path: Path) -> None:
    src = tmp_path / "xgb"
    src.mkdir()
    (src / "xgb_train.py").write_text(
        "import argparse, os, numpy as np, xgboost as xgb\n"
        "p = argparse.ArgumentParser(); p.add_argument('--num_round', type=int); a = p.parse_args()\n"
        "d = np.loadtxt(os.path.join(os.environ['SM_CHANNEL_TRAIN'], 'part-0.csv'), delimiter=',')\n"
        "b = xgb.train({'objective': 'binary:logistic'}, xgb.DMatrix(d[:, 1:], d[:, 0]), a.num_round)\n"
        "print('rounds', b.num_boosted_rounds())\n"
        "b.save_model(os.path.join(os.environ['SM_MODEL_DIR'], 'my-model.json'))\n")
    est = XGBoost(entry_point="xgb_train.py", source_dir=str(src), framework_version="1.7-1",
                  instance_type="ml.m5.large", instance_count=1, role=ROLE, hyperparameters={"num_round": 4},
                  output_path=f"s3://{ARTIFACTS}/script-mode", sagemaker_session=sdk_session(ARTIFACTS))
    assert est.training_image_uri().endswith("/sagemaker-xgboost:1.7-1")
    est.fit({"train": train_uri}, wait=False)
    d = wait_for_job(node.client("sagemaker"), est.latest_training_job.name, timeout=90)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert "rounds 4" in _log(node, d["TrainingJobName"])
    assert "my-model.json" in _tar_names(est.model_data)


def test_source_archive_that_escapes_is_refused(node: NodeThread, env: None, train_uri: str) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        payload = b"print('never')\n"
        info = tarfile.TarInfo("../../escaped.py")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    boto3.client("s3").put_object(Bucket=ARTIFACTS, Key="evil/sourcedir.tar.gz", Body=buf.getvalue())
    sm = node.client("sagemaker")
    sm.create_training_job(
        TrainingJobName="escaping-source", RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": "headwater/sklearn", "TrainingInputMode": "File"},
        HyperParameters={"sagemaker_program": '"escaped.py"',
                         "sagemaker_submit_directory": f'"s3://{ARTIFACTS}/evil/sourcedir.tar.gz"'},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": train_uri}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{ARTIFACTS}/evil"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 60})
    d = wait_for_job(sm, "escaping-source", timeout=60)
    assert d["TrainingJobStatus"] == "Failed"
    assert "'../../escaped.py' would be extracted outside the code directory" in d["FailureReason"]
    assert not (node.settings.jobs_dir / "escaping-source" / "escaped.py").exists()
    assert not (node.settings.jobs_dir / "escaped.py").exists()


@pytest.fixture(scope="module")
def listener() -> Iterator[LoopbackListener]:
    """A server on this machine's loopback, for jobs to try to reach."""
    with LoopbackListener() as server:
        yield server


def _probe(src: Path, port: int, isolated: bool) -> SKLearn:
    return SKLearn(entry_point="net_probe.py", source_dir=str(src), framework_version="1.2-1",
                   instance_type="ml.m5.large", instance_count=1, role=ROLE, hyperparameters={"port": port},
                   enable_network_isolation=isolated, output_path=f"s3://{ARTIFACTS}/script-mode",
                   sagemaker_session=sdk_session(ARTIFACTS))


def _netprobe(node: NodeThread, name: str) -> dict[str, Any]:
    return json.loads(re.search(r"^NETPROBE (.*)$", _log(node, name), re.M).group(1))


def test_network_isolation_ships_the_code_as_a_channel_and_cuts_the_network(
        node: NodeThread, train_uri: str, tmp_path: Path, listener: LoopbackListener) -> None:
    src = _source_dir(tmp_path, "net_probe.py")
    isolated = _probe(src, listener.port, isolated=True)
    isolated.fit({"train": train_uri}, wait=False)
    name = isolated.latest_training_job.name
    sm = node.client("sagemaker")
    d = wait_for_job(sm, name, timeout=90)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    # What the SDK sends for an isolated job: the code as a channel, and its path inside the container.
    assert d["EnableNetworkIsolation"] is True
    assert json.loads(d["HyperParameters"]["sagemaker_submit_directory"]) == "/opt/ml/input/data/code/sourcedir.tar.gz"
    assert sorted(c["ChannelName"] for c in d["InputDataConfig"]) == ["code", "train"]
    probe = _netprobe(node, name)
    assert probe["server"].startswith("failed:"), probe
    assert probe["own_loopback"] is True
    # no credentials and no endpoint: nothing to reach (AWS_CA_BUNDLE passes where the node has one)
    assert [k for k in probe["aws"] if k != "AWS_CA_BUNDLE"] == ["AWS_DEFAULT_REGION", "AWS_REGION"]
    assert "netprobe.json" in _tar_names(isolated.model_data)
    assert not [line for line in listener.lines if name in line]

    connected = _probe(src, listener.port, isolated=False)
    connected.fit({"train": train_uri}, wait=False)
    other = connected.latest_training_job.name
    d = wait_for_job(sm, other, timeout=90)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert _netprobe(node, other)["server"] == "connected"
    assert f"hello from {other}" in listener.lines


@pytest.mark.parametrize(("instances", "namespaces", "reason"), [
    (1, False, "EnableNetworkIsolation cannot be honoured on this node: this machine's kernel does not let"),
    (2, True, "EnableNetworkIsolation with InstanceCount above 1 is not supported by Headwater"),
])
def test_an_isolated_job_that_cannot_be_isolated_fails_rather_than_run_with_network(
        node: NodeThread, env: None, train_uri: str, monkeypatch: pytest.MonkeyPatch, instances: int,
        namespaces: bool, reason: str) -> None:
    from services.runners import process

    monkeypatch.setattr(process, "network_namespaces_available", lambda: namespaces)  # the node runs in this process
    name = f"isolated-{instances}"
    boto3.client("s3").put_object(Bucket=ARTIFACTS, Key="isolated/sourcedir.tar.gz",
                                  Body=source_archive("print('ran with network')\n", "train.py"))
    sm = node.client("sagemaker")
    sm.create_training_job(
        TrainingJobName=name, RoleArn=ROLE, EnableNetworkIsolation=True,
        AlgorithmSpecification={"TrainingImage": "headwater/sklearn", "TrainingInputMode": "File"},
        HyperParameters={"sagemaker_program": '"train.py"',
                         "sagemaker_submit_directory": '"/opt/ml/input/data/code/sourcedir.tar.gz"'},
        InputDataConfig=[{"ChannelName": "code", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{ARTIFACTS}/isolated/sourcedir.tar.gz"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{ARTIFACTS}/isolated"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": instances, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 60})
    d = wait_for_job(sm, name, timeout=60)
    assert d["TrainingJobStatus"] == "Failed"
    assert d["FailureReason"].startswith("ClientError: " + reason)
    assert not list((node.settings.jobs_dir / name).glob("*.log"))  # no container ran
