"""The SageMaker Python SDK v3, unchanged, in script mode: ``ModelTrainer(source_code=SourceCode(...))`` on the
framework images, run through v3's own container drivers; first, where v3 stages the user's files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from infra.demo.datasets import to_csv
from tests.sdk_v3.support import run_v3
from tests.support import NodeThread

pytestmark = pytest.mark.sdk


def _rows(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    return to_csv(x, x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=rows))


@pytest.fixture(scope="module")
def local_train(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training set on the user's disk (v3 uploads it)."""
    root = tmp_path_factory.mktemp("v3-train")
    (root / "part.csv").write_bytes(_rows(60, seed=3))
    return root


def _object(node: NodeThread, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body: bytes = node.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def test_the_sessions_default_bucket_is_the_artifacts_bucket(node: NodeThread, shell: dict[str, str],
                                                             local_train: Path) -> None:
    # v3 stages the user's code and local inputs in its default bucket; left to itself it names that bucket
    # after the account, which it asks STS for at AWS's endpoint. `headwater env` names one in the SDK's config.
    run = run_v3("upload_data", shell, str(local_train / "part.csv"), "staged")
    assert run.result == {"bucket": node.settings.artifacts_bucket,
                          "uri": f"s3://{node.settings.artifacts_bucket}/staged/part.csv"}
    assert _object(node, run.result["uri"]) == (local_train / "part.csv").read_bytes()
