"""Models trained on SageMaker's own XGBoost container, served by the built-in XGBoost image.

The files under ``xgboost_models/`` were written by XGBoost 0.90, 1.2.1, 1.3.3 and 1.7.6
(see ``make_models.py`` there). Each goes into a ``model.tar.gz`` as ``xgboost-model`` and
through CreateModel (the built-in XGBoost image URI), CreateEndpointConfig, CreateEndpoint
and InvokeEndpoint. What the installed XGBoost can read is served with the predictions the
writing release made; what it cannot read fails the endpoint with a FailureReason naming
the format and the release.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.integration.hosting_support import model_archive, put_model, variant, wait_status
from tests.support import NodeThread

MODELS = Path(__file__).parent / "xgboost_models"

# file -> what it is
READABLE = {
    "json-1.2.1.json": "JSON, XGBoost 1.2",
    "ubj-1.7.6.ubj": "UBJSON, XGBoost 1.7",
    "pickle-1.3.3": "a Booster pickled by XGBoost 1.3 (JSON inside)",
    "pickle-1.7.6": "a Booster pickled by XGBoost 1.7 (UBJSON inside)",
}
# file -> what the FailureReason must say of it
UNREADABLE = {
    "pickle-0.90": "xgboost-model is a Booster pickled by an XGBoost release before 1.0, "
                   "whose pickles hold the legacy binary format",
    "pickle-1.2.1": "xgboost-model is a Booster pickled by XGBoost 1.2, whose pickles hold the legacy binary format",
    "binary-1.7.6": "xgboost-model is in XGBoost's legacy binary format, written by XGBoost 1.7",
    "binary-0.90": "xgboost-model is in XGBoost's legacy binary format, written by an XGBoost release before 1.0",
}


def _expected(name: str) -> dict[str, list]:
    version = name.split("-", 1)[1].removesuffix(".json").removesuffix(".ubj")
    return json.loads((MODELS / f"{version}.json").read_text())


def _endpoint(name: str) -> str:
    return "fmt-" + name.replace(".", "-").replace("_", "-")


@pytest.fixture(scope="module")
def endpoints(node: NodeThread) -> dict[str, dict]:
    """Every fixture deployed at once (the node starts their instances side by side), then each settled."""
    sm = node.client("sagemaker")
    for name in [*READABLE, *UNREADABLE]:
        put_model(node, _endpoint(name), model_archive(None, {"xgboost-model": (MODELS / name).read_bytes()}))
        sm.create_endpoint_config(EndpointConfigName=f"{_endpoint(name)}-cfg",
                                  ProductionVariants=[variant("AllTraffic", _endpoint(name))])
        sm.create_endpoint(EndpointName=_endpoint(name), EndpointConfigName=f"{_endpoint(name)}-cfg")
    return {name: wait_status(node, _endpoint(name), timeout=120) for name in [*READABLE, *UNREADABLE]}


@pytest.mark.parametrize("name", READABLE)
def test_a_model_xgboost_can_read_is_served_with_its_predictions(node: NodeThread, endpoints: dict[str, dict],
                                                                  name: str) -> None:
    desc = endpoints[name]
    assert desc["EndpointStatus"] == "InService", (READABLE[name], desc.get("FailureReason"))
    want = _expected(name)
    body = "\n".join(",".join(str(v) for v in row) for row in want["rows"]).encode()
    answer = node.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=_endpoint(name), Body=body, ContentType="text/csv", Accept="text/csv")
    got = [float(line) for line in answer["Body"].read().decode().split()]
    np.testing.assert_allclose(got, want["predictions"], atol=1e-6)


@pytest.mark.parametrize("name", UNREADABLE)
def test_a_model_xgboost_cannot_read_fails_the_endpoint_naming_format_and_release(
        endpoints: dict[str, dict], name: str) -> None:
    desc = endpoints[name]
    assert desc["EndpointStatus"] == "Failed"
    reason = desc["FailureReason"]
    assert UNREADABLE[name] in reason, reason
    assert "cannot read" in reason and "save it again as JSON or UBJSON" in reason, reason

