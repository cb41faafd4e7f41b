"""The upload convention: which uploads train, job names, inferred objectives."""

from __future__ import annotations

import re

import pytest

from services.training.trigger import infer_objective, job_name_for, match_upload, sample_labels

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # botocore's TrainingJobName


@pytest.mark.parametrize("key, dataset", [
    ("datasets/churn/train/part.csv", "churn"),
    ("datasets/churn/train/sub/dir/part.csv.gz", "churn"),
    ("datasets/churn/validation/part.csv", None),
    ("datasets/churn/training.json", None),
    ("datasets/churn/train/", None),
    ("datasets/churn/train/.hidden", None),
    ("other/churn/train/part.csv", None),
])
def test_which_uploads_start_training(key: str, dataset: str | None) -> None:
    upload = match_upload("headwater-data", key)
    assert (upload.dataset if upload else None) == dataset


def test_job_names_are_deterministic_valid_and_distinct() -> None:
    up = match_upload("b", "datasets/My_Data.Set v2!/train/a.csv")
    assert up is not None
    name = job_name_for(up, '"etag1"')
    assert name == job_name_for(up, "etag1")  # quotes around ETags do not matter
    assert name != job_name_for(up, "etag2")  # new content at the same key is a new job
    other = match_upload("b", "datasets/My_Data.Set v2!/train/b.csv")
    assert other is not None and job_name_for(other, "etag1") != name
    assert NAME_PATTERN.match(name) and name.startswith("My-Data-Set-v2-")
    long = match_upload("b", f"datasets/{'x' * 200}/train/a.csv")
    assert long is not None and len(job_name_for(long, "e")) <= 63


def test_objective_inference() -> None:
    assert infer_objective([0, 1, 1, 0])["objective"] == "binary:logistic"
    multi = infer_objective([0, 1, 2, 4, 1])
    assert multi["objective"] == "multi:softprob" and multi["num_class"] == "5"
    assert infer_objective([0.5, 1.25, 3.0])["objective"] == "reg:squarederror"
    assert infer_objective([-1, 1, 1])["objective"] == "reg:squarederror"  # negative classes are not class ids
    assert infer_objective(list(range(500)))["objective"] == "reg:squarederror"


def test_label_sampling_skips_unparsable_cells() -> None:
    assert sample_labels(b"1,2,3\nx,1\n0,4\n\n") == [1.0, 0.0]
