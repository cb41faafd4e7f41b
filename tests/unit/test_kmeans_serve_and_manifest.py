"""K-Means inference hooks (SageMaker's response shapes) and ManifestFile parsing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from sagemaker.amazon.common import write_numpy_to_dense_tensor
from sagemaker.deserializers import RecordDeserializer

from containers.common.serving import BadInput
from containers.kmeans.serve import handler
from services.core.exceptions import JobFailed
from services.inputs.manifests import manifest_entries

CENTERS = np.array([[0, 0], [10, 10]], dtype=np.float32)


@pytest.fixture
def model(tmp_path: Path) -> np.ndarray:
    with (tmp_path / "model_algo-1").open("wb") as f:
        np.save(f, CENTERS)
    return handler().model_fn(str(tmp_path))


def test_json_and_recordio_answers(model: np.ndarray) -> None:
    h = handler()
    body, kind = h.transform(model, b"1,1\n9,9\n", "text/csv", "application/json")
    predictions = json.loads(body)["predictions"]
    assert kind == "application/json" and [p["closest_cluster"] for p in predictions] == [0.0, 1.0]
    assert predictions[0]["distance_to_cluster"] == pytest.approx(np.sqrt(2), rel=1e-5)
    buf = io.BytesIO()
    write_numpy_to_dense_tensor(buf, np.array([[9.0, 11.0]], dtype=np.float32))
    body, kind = h.transform(model, buf.getvalue(), "application/x-recordio-protobuf",
                             "application/x-recordio-protobuf")
    [record] = RecordDeserializer().deserialize(io.BytesIO(body), kind)
    assert record.label["closest_cluster"].float32_tensor.values[0] == 1.0


def test_wrong_width_is_a_400(model: np.ndarray) -> None:
    with pytest.raises(BadInput, match="2 features"):
        handler().transform(model, b"1,2,3\n", "text/csv", "application/json")


def test_manifest_entries() -> None:
    doc = [{"prefix": "s3://b/data/"}, "matrix_0.pbr", "sub/matrix_1.pbr"]
    entries = manifest_entries(doc, "s3://b/m.manifest")
    assert [(e.bucket, e.key, e.relative) for e in entries] == [
        ("b", "data/matrix_0.pbr", "matrix_0.pbr"), ("b", "data/sub/matrix_1.pbr", "sub/matrix_1.pbr")]
    for bad in ([], ["x"], [{"prefix": "http://x/"}, "a"], [{"prefix": "s3://b/"}], [{"prefix": "s3://b/"}, 3]):
        with pytest.raises(JobFailed, match="s3://b/m.manifest"):
            manifest_entries(bad, "s3://b/m.manifest")
