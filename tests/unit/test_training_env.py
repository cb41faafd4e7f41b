"""The training container contract as Headwater writes it."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from services.aws.logs import escape_control
from services.training.env import prepare_tree, training_env, write_config
from services.training.models import TrainingJob


def job() -> TrainingJob:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return TrainingJob.model_validate({
        "TrainingJobName": "j", "TrainingJobArn": "arn:aws:sagemaker:us-east-1:1:training-job/j",
        "RoleArn": "r", "CreationTime": now, "LastModifiedTime": now,
        "AlgorithmSpecification": {"TrainingImage": "headwater/xgboost", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "HyperParameters": {"num_round": "10", "eta": "0.3", "objective": "binary:logistic",
                            "sagemaker_program": "train.py"},
        "InputDataConfig": [
            {"ChannelName": "train", "ContentType": "text/csv", "CompressionType": "Gzip",
             "DataSource": {"S3DataSource": {"S3Uri": "s3://b/t/", "S3DataDistributionType": "ShardedByS3Key"}}},
            {"ChannelName": "validation", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/v/"}}}],
        "Environment": {"MY_VAR": "1"},
    })


def test_config_files(tmp_path: Path) -> None:
    prepare_tree(tmp_path)
    write_config(tmp_path, job())
    cfg = tmp_path / "input/config"
    assert json.loads((cfg / "hyperparameters.json").read_text())["num_round"] == "10"  # strings, as SageMaker
    data = json.loads((cfg / "inputdataconfig.json").read_text())
    assert data["train"] == {"ContentType": "text/csv", "TrainingInputMode": "File", "CompressionType": "Gzip",
                             "S3DistributionType": "ShardedByS3Key", "RecordWrapperType": "None"}
    assert data["validation"]["S3DistributionType"] == "FullyReplicated" and "ContentType" not in data["validation"]
    res = json.loads((cfg / "resourceconfig.json").read_text())
    assert (res["current_host"], res["hosts"], res["current_instance_type"]) == ("algo-1", ["algo-1"], "ml.m5.large")
    for d in ("model", "output/data", "input/data", "checkpoints"):
        assert (tmp_path / d).is_dir()


def test_sm_variables() -> None:
    env = training_env(job(), "/opt/ml")
    assert env["SM_MODEL_DIR"] == "/opt/ml/model"
    assert env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert json.loads(env["SM_CHANNELS"]) == ["train", "validation"]
    assert json.loads(env["SM_HPS"]) == {"num_round": 10, "eta": 0.3, "objective": "binary:logistic"}
    assert env["SM_HP_NUM_ROUND"] == "10" and env["SM_HP_OBJECTIVE"] == "binary:logistic"
    assert json.loads(env["SM_USER_ARGS"]) == ["--eta", "0.3", "--num_round", "10", "--objective", "binary:logistic"]
    assert json.loads(env["SM_HOSTS"]) == ["algo-1"] and env["SM_CURRENT_HOST"] == "algo-1"
    assert env["SM_USER_ENTRY_POINT"] == "train.py" and env["SM_MODULE_NAME"] == "train"
    training = json.loads(env["SM_TRAINING_ENV"])
    assert training["channel_input_dirs"]["validation"] == "/opt/ml/input/data/validation"
    assert env["TRAINING_JOB_NAME"] == "j" and env["MY_VAR"] == "1"
    assert int(env["SM_NUM_CPUS"]) >= 1 and env["SM_NUM_GPUS"] == "0"


def test_log_lines_render_tabs_as_sagemaker_does() -> None:
    assert escape_control("[3]\ttrain-rmse:0.41\tvalidation-rmse:0.44") == "[3]#011train-rmse:0.41#011validation-rmse:0.44"
    assert escape_control("bell\x07 and unicode é stay") == "bell#007 and unicode é stay"
