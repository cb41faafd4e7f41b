"""The SageMaker Python SDK v3, unchanged, in script mode: ``ModelTrainer(source_code=SourceCode(...))`` on the
framework images, run through v3's own container drivers.

v3 sends no ``sagemaker_program``: it uploads its drivers as the ``sm_drivers`` channel and the user's
code as ``code``, and starts the job with ``ContainerEntrypoint ["/bin/bash"]`` and ``ContainerArguments``
that run ``sm_drivers/sm_train.sh``, which installs the requirements, writes the ``SM_*`` environment from
the config files and ``sourcecode.json`` / ``distributed.json``, and runs the script (or ``torchrun``).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from infra.demo.datasets import to_csv
from tests.sdk_v3.support import SCRIPTS, V3Run, run_v3
from tests.support import NodeThread, write_wheel

pytestmark = pytest.mark.sdk

OUTPUT = "s3://headwater-artifacts/sdk-v3-script"
PROBE = "hw_v3_probe"  # a package only the job's requirements file installs


def _rows(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    return to_csv(x, x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=rows))


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's scikit-learn code, with a requirements file that installs a wheel shipped beside it."""
    root = tmp_path_factory.mktemp("v3-code") / "src"
    shutil.copytree(SCRIPTS / "sklearn_code", root)
    wheel = write_wheel(root, PROBE)
    (root / "requirements.txt").write_text(f"--no-index\n./{wheel.name}\n")
    return root


@pytest.fixture(scope="module")
def local_train(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training set on the user's disk (v3 uploads it)."""
    root = tmp_path_factory.mktemp("v3-train")
    (root / "part.csv").write_bytes(_rows(60, seed=3))
    return root


def _train(shell: dict[str, str], **spec: Any) -> V3Run:
    return run_v3("train_script_mode", shell, json.dumps({"output": OUTPUT, **spec}), timeout=300)


def _seen(run: V3Run) -> list[dict[str, Any]]:
    """The ``SEEN`` lines the user's script printed, from the job log as v3 printed it."""
    return [json.loads(line.split("SEEN ", 1)[1]) for line in run.output.splitlines() if "SEEN {" in line]


def _object(node: NodeThread, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body: bytes = node.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def _members(node: NodeThread, uri: str) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(_object(node, uri)), mode="r:gz") as tar:
        return tar.getnames()


def test_the_sessions_default_bucket_is_the_artifacts_bucket(node: NodeThread, shell: dict[str, str],
                                                             local_train: Path) -> None:
    # v3 stages the user's code and local inputs in its default bucket; left to itself it names that bucket
    # after the account, which it asks STS for at AWS's endpoint. `headwater env` names one in the SDK's config.
    run = run_v3("upload_data", shell, str(local_train / "part.csv"), "staged")
    assert run.result == {"bucket": node.settings.artifacts_bucket,
                          "uri": f"s3://{node.settings.artifacts_bucket}/staged/part.csv"}
    assert _object(node, run.result["uri"]) == (local_train / "part.csv").read_bytes()


def test_entry_script_runs_through_v3s_drivers(node: NodeThread, shell: dict[str, str], code: Path,
                                               local_train: Path) -> None:
    run = _train(shell, framework="sklearn", source_dir=str(code), entry_script="train.py",
                 requirements="requirements.txt", hyperparameters={"alpha": 0.5, "label": "v3"},
                 train=str(local_train), checkpoint="s3://headwater-artifacts/sdk-v3-script/checkpoints",
                 base_job_name="v3-sklearn")
    result = run.result
    assert result["status"] == "Completed", result
    assert result["image"] == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    # logs=True: the drivers' log and the script's, as v3 prints the job's log.
    assert "Running Basic Script driver" in run.output and "Final Resource Status: [bold]Completed" in run.output
    [seen] = _seen(run)
    # The drivers' SM_* environment, read from the config files and sourcecode.json as on SageMaker.
    assert seen["env"]["SM_SOURCE_DIR"] == "/opt/ml/input/data/code" and seen["cwd"] == "/opt/ml/input/data/code"
    assert seen["env"]["SM_ENTRY_SCRIPT"] == "train.py" and seen["env"]["SM_CURRENT_HOST"] == "algo-1"
    assert seen["env"]["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert seen["env"]["SM_MODEL_DIR"] == "/opt/ml/model"
    assert json.loads(seen["env"]["SM_HPS"]) == {"alpha": 0.5, "label": "v3"}
    assert seen["argv"] == ["--alpha", "0.5", "--label", "v3"] and seen["alpha"] == 0.5
    assert seen["rows"] == 60  # the local directory, uploaded by v3
    # requirements.txt was installed for the job, into the job's own environment, not the node's.
    assert seen["probe"] == "1.0"
    assert seen["prefix"] != sys.prefix
    node_python = subprocess.run([sys.executable, "-c", f"import {PROBE}"], capture_output=True, check=False)
    assert node_python.returncode != 0, "the job's requirements were installed into the node's environment"

    desc = node.client("sagemaker").describe_training_job(TrainingJobName=result["job"])
    spec = desc["AlgorithmSpecification"]
    assert spec["ContainerEntrypoint"] == ["/bin/bash"]
    assert "sm_drivers/sm_train.sh" in " ".join(spec["ContainerArguments"])
    assert "sagemaker_program" not in desc["HyperParameters"]
    assert sorted(c["ChannelName"] for c in desc["InputDataConfig"]) == ["code", "sm_drivers", "train"]
    assert "model.joblib" in _members(node, result["artifact"])
    checkpoint = json.loads(_object(node, f"{desc['CheckpointConfig']['S3Uri']}/state.json"))
    assert checkpoint == {"rows": 60}


def test_command_with_hyperparameters_from_a_yaml_file(node: NodeThread, shell: dict[str, str], code: Path,
                                                       tmp_path: Path) -> None:
    node.client("s3").put_object(Bucket="headwater-data", Key="sdk-v3-script/train/part.csv", Body=_rows(40, seed=4))
    hps = tmp_path / "hyperparameters.yaml"
    hps.write_text("alpha: 2.0\nlabel: from-yaml\nlayers: [8, 4]\n")
    run = _train(shell, framework="sklearn", source_dir=str(code), command="python train.py --alpha 3.0",
                 hyperparameters=str(hps), train="s3://headwater-data/sdk-v3-script/train/",
                 base_job_name="v3-command")
    assert run.result["status"] == "Completed", run.result
    [seen] = _seen(run)
    assert seen["argv"] == ["--alpha", "3.0"] and seen["label"] == ""  # a command gets no hyperparameter arguments
    assert json.loads(seen["env"]["SM_HPS"]) == {"alpha": 2.0, "label": "from-yaml", "layers": [8, 4]}
    assert seen["rows"] == 40 and seen["probe"] is None  # no requirements named: nothing installed
    desc = node.client("sagemaker").describe_training_job(TrainingJobName=run.result["job"])
    assert desc["HyperParameters"] == {"alpha": "2.0", "label": "from-yaml", "layers": "[8, 4]"}


def test_torchrun_trains_across_two_hosts(node: NodeThread, shell: dict[str, str], tmp_path: Path) -> None:
    s3 = node.client("s3")
    s3.put_object(Bucket="headwater-data", Key="sdk-v3-ddp/part-0.csv", Body=_rows(30, seed=5))
    s3.put_object(Bucket="headwater-data", Key="sdk-v3-ddp/part-1.csv", Body=_rows(50, seed=6))
    hps = tmp_path / "hyperparameters.json"
    hps.write_text(json.dumps({"epochs": 3}))
    run = _train(shell, framework="pytorch", source_dir=str(SCRIPTS / "torch_code"), entry_script="train_ddp.py",
                 hyperparameters=str(hps), instance_count=2, distributed="torchrun", sharded=True,
                 train="s3://headwater-data/sdk-v3-ddp/", base_job_name="v3-torchrun")
    result = run.result
    assert result["status"] == "Completed", result
    assert result["image"] == "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu-py310"
    logs = {host: (node.settings.jobs_dir / result["job"] / f"{host}.log").read_text()
            for host in ("algo-1", "algo-2")}
    assert "Running Torchrun Driver" in logs["algo-1"] and "Running Torchrun Driver" in logs["algo-2"]
    # Each host its own shard, one process each, the master where v3's drivers say it is (algo-1:7777).
    assert "rank 0 of 2 on algo-1 (master algo-1:7777): 30 rows" in logs["algo-1"]
    assert "rank 1 of 2 on algo-2 (master algo-1:7777): 50 rows" in logs["algo-2"]
    digests = {h: text.split("final weights sha256 ")[1].split()[0] for h, text in logs.items()}
    assert digests["algo-1"] == digests["algo-2"]  # different shards, the same weights: gradients were averaged
    # logs=True: v3 prints every host's log stream.
    assert "rank 0 of 2 on algo-1" in run.output and "rank 1 of 2 on algo-2" in run.output
    assert _members(node, result["artifact"]) == ["model.pt"]

