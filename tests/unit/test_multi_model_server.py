"""The Multi Model Server API of containers/common, served by the real XGBoost and K-Means hooks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import xgboost as xgb

from containers.common.multi_model import MULTI_MODEL_ENV
from containers.common.model_server import serve_async
from containers.common.serving import InferenceHandler
from containers.kmeans.serve import handler as kmeans_handler
from containers.kmeans.train import MODEL_FILE as KMEANS_FILE
from containers.xgboost.serve import handler as xgboost_handler

ROWS = np.array([[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0], [-2.0, 0.3, 0.1, 5.0]], dtype=np.float32)
CSV = "\n".join(",".join(str(v) for v in row) for row in ROWS).encode()


def _booster(model_dir: Path, seed: int) -> xgb.Booster:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = (X[:, seed % 4] > 0).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, label=y), num_boost_round=4)
    model_dir.mkdir(parents=True)
    (model_dir / "xgboost-model").write_bytes(bytes(booster.save_raw("json")))
    return booster


class Mms:
    """A container server in multi-model mode on a free port, and a client session."""

    def __init__(self, handler: InferenceHandler) -> None:
        self.handler = handler
        self.stop = asyncio.Event()
        self.port = 0
        self.task: asyncio.Task[None] | None = None
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Mms:
        ready = asyncio.Event()

        def on_ready(port: int) -> None:
            self.port = port
            ready.set()

        self.task = asyncio.create_task(serve_async(self.handler, port=0, ready=on_ready, stop=self.stop))
        await asyncio.wait([asyncio.create_task(ready.wait()), self.task], return_when=asyncio.FIRST_COMPLETED)
        if self.task.done():
            self.task.result()
        self.session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self.session is not None and self.task is not None
        await self.session.close()
        self.stop.set()
        await self.task

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        assert self.session is not None
        async with self.session.request(method, f"http://127.0.0.1:{self.port}{path}", **kwargs) as resp:
            text = await resp.text()
            is_json = resp.headers.get("Content-Type", "").startswith("application/json") and text
            return resp.status, (await resp.json() if is_json else text)


@pytest.fixture(autouse=True)
def multi_model_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(MULTI_MODEL_ENV, "true")
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))


@pytest.fixture
async def xgb_server() -> AsyncIterator[Mms]:
    async with Mms(xgboost_handler()) as mms:
        yield mms


async def test_load_list_get_invoke_and_unload_two_models(xgb_server: Mms, tmp_path: Path) -> None:
    mms = xgb_server
    assert await mms.call("GET", "/ping") == (200, "")
    assert await mms.call("GET", "/models") == (200, {"models": []})
    boosters = {name: _booster(tmp_path / name / "model", seed) for name, seed in (("a", 1), ("b", 2))}
    for name in boosters:
        status, _ = await mms.call("POST", "/models", json={"model_name": name, "url": str(tmp_path / name / "model")})
        assert status == 200
    status, err = await mms.call("POST", "/models", json={"model_name": "a", "url": str(tmp_path / "b" / "model")})
    assert status == 409 and "already loaded" in err["message"]
    assert (await mms.call("GET", "/models/a"))[1] == {"modelName": "a", "modelUrl": str(tmp_path / "a" / "model")}
    status, page = await mms.call("GET", "/models?limit=1")
    assert [m["modelName"] for m in page["models"]] == ["a"] and page["nextPageToken"] == "1"
    status, page = await mms.call("GET", f"/models?limit=1&next_page_token={page['nextPageToken']}")
    assert [m["modelName"] for m in page["models"]] == ["b"] and "nextPageToken" not in page
    answers = {}
    for name, booster in boosters.items():
        status, text = await mms.call("POST", f"/models/{name}/invoke", data=CSV,
                                      headers={"Content-Type": "text/csv", "Accept": "text/csv"})
        assert status == 200
        answers[name] = [float(x) for x in text.splitlines()]
        assert np.allclose(answers[name], booster.inplace_predict(ROWS), rtol=1e-6)
    assert not np.allclose(answers["a"], answers["b"])  # each model answers with its own predictions
    assert (await mms.call("DELETE", "/models/a"))[0] == 200
    assert (await mms.call("POST", "/models/a/invoke", data=CSV, headers={"Content-Type": "text/csv"}))[0] == 404
    assert (await mms.call("GET", "/models/a"))[0] == 404
    assert (await mms.call("DELETE", "/models/a"))[0] == 404
    assert [m["modelName"] for m in (await mms.call("GET", "/models"))[1]["models"]] == ["b"]


async def test_bad_loads_are_refused_and_the_server_keeps_serving(xgb_server: Mms, tmp_path: Path) -> None:
    mms = xgb_server
    assert (await mms.call("POST", "/models", data=b"not json"))[0] == 400
    assert (await mms.call("POST", "/models", json={"model_name": "x"}))[0] == 400
    status, err = await mms.call("POST", "/models", json={"model_name": "x", "url": str(tmp_path / "nowhere")})
    assert status == 404 and err["type"] == "ModelNotFoundException"
    (tmp_path / "empty").mkdir()
    status, err = await mms.call("POST", "/models", json={"model_name": "x", "url": str(tmp_path / "empty")})
    assert status == 500 and "No xgboost-model" in err["message"]
    assert (await mms.call("GET", "/models"))[1] == {"models": []}  # nothing half-loaded
    _booster(tmp_path / "ok" / "model", 3)
    assert (await mms.call("POST", "/models", json={"model_name": "ok", "url": str(tmp_path / "ok" / "model")}))[0] \
        == 200
    status, text = await mms.call("POST", "/models/ok/invoke", data=b"1,2,3", headers={"Content-Type": "text/csv"})
    assert status == 400 and "Feature size mismatch" in text  # the hooks' own errors, per model
    status, err = await mms.call("POST", "/invocations", data=CSV, headers={"Content-Type": "text/csv"})
    assert status == 400 and "/models/<name>/invoke" in err["message"]
    assert (await mms.call("GET", "/models?limit=0"))[0] == 400


async def test_a_model_that_does_not_fit_is_insufficient_storage(tmp_path: Path) -> None:
    def model_fn(model_dir: str) -> Any:
        if "huge" in model_dir:
            raise MemoryError
        return model_dir

    handler = InferenceHandler(model_fn=model_fn, input_fn=lambda b, c: json.loads(b),
                               predict_fn=lambda d, m: {"model": m, "data": d}, output_fn=lambda p, a: json.dumps(p),
                               multi_model=True)
    for name in ("huge", "small"):
        (tmp_path / name).mkdir()
    async with Mms(handler) as mms:
        status, err = await mms.call("POST", "/models", json={"model_name": "h", "url": str(tmp_path / "huge")})
        assert status == 507 and err["type"] == "InsufficientMemoryException"
        assert (await mms.call("POST", "/models", json={"model_name": "s", "url": str(tmp_path / "small")}))[0] == 200
        status, text = await mms.call("POST", "/models/s/invoke", data=b"[1]",
                                      headers={"Content-Type": "application/json"})
        assert status == 200 and text == {"model": str(tmp_path / "small"), "data": [1]}


async def test_kmeans_serves_multi_model_too(tmp_path: Path) -> None:
    centers = {"k1": np.array([[0.0, 0.0], [10.0, 10.0]]), "k2": np.array([[10.0, 10.0], [0.0, 0.0]])}
    async with Mms(kmeans_handler()) as mms:
        for name, c in centers.items():
            (tmp_path / name).mkdir()
            with (tmp_path / name / KMEANS_FILE).open("wb") as fh:
                np.save(fh, c)
            assert (await mms.call("POST", "/models", json={"model_name": name, "url": str(tmp_path / name)}))[0] \
                == 200
        clusters = {}
        for name in centers:
            status, out = await mms.call("POST", f"/models/{name}/invoke", data=b"1,1",
                                         headers={"Content-Type": "text/csv", "Accept": "application/json"})
            assert status == 200
            clusters[name] = out["predictions"][0]["closest_cluster"]
        assert clusters == {"k1": 0.0, "k2": 1.0}


async def test_a_container_that_did_not_opt_in_refuses_multi_model_mode() -> None:
    handler = InferenceHandler(model_fn=lambda d: d, input_fn=lambda b, c: b, predict_fn=lambda d, m: d,
                               output_fn=lambda p, a: p)
    with pytest.raises(RuntimeError, match="does not support multi-model endpoints"):
        await serve_async(handler, port=0)
