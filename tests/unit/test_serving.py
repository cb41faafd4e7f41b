"""The inference container contract: hooks, content types, errors, draining, the real process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import xgboost as xgb

from containers.common import params
from containers.common.decoders import decode
from containers.common.model_server import serve_async
from containers.common.serving import BadInput, InferenceHandler
from containers.xgboost.serve import handler as xgboost_handler

REPO_ROOT = Path(__file__).resolve().parents[2]
NUM_FEATURES = 4


def _train(model_dir: Path, objective: str = "binary:logistic", **extra: Any) -> xgb.Booster:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, NUM_FEATURES)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.float32) if objective.startswith("binary") else (X[:, 0] > 0) + (X[:, 1] > 0)
    booster = xgb.train({"objective": objective, **extra}, xgb.DMatrix(X, label=y), num_boost_round=5)
    model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(model_dir / "xgboost-model.json"))
    (model_dir / "xgboost-model.json").rename(model_dir / "xgboost-model")
    return booster


class Server:
    """An inference server on a free port, in this event loop."""

    def __init__(self, handler: InferenceHandler) -> None:
        self.handler = handler
        self.stop = asyncio.Event()
        self.port = 0
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Server:
        ready = asyncio.Event()

        def on_ready(port: int) -> None:
            self.port = port
            ready.set()

        self.task = asyncio.create_task(serve_async(self.handler, port=0, ready=on_ready, stop=self.stop))
        await asyncio.wait([asyncio.create_task(ready.wait()), self.task], return_when=asyncio.FIRST_COMPLETED)
        if self.task.done():
            self.task.result()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.stop.set()
        assert self.task is not None
        await self.task

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def booster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> xgb.Booster:
    monkeypatch.setenv(params.BASE_DIR_ENV, str(tmp_path))
    return _train(tmp_path / "model")


@pytest.fixture
async def server(booster: xgb.Booster) -> AsyncIterator[tuple[Server, aiohttp.ClientSession]]:
    async with Server(xgboost_handler()) as srv, aiohttp.ClientSession() as session:
        yield srv, session


async def _post(session: aiohttp.ClientSession, srv: Server, body: bytes, ctype: str | None,
                accept: str | None = None, **headers: str) -> tuple[int, str, str]:
    h = dict(headers)
    if ctype:
        h["Content-Type"] = ctype
    if accept:
        h["Accept"] = accept
    async with session.post(f"{srv.url}/invocations", data=body, headers=h) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def test_ping_and_csv_predictions_match_the_booster(server: Any, booster: xgb.Booster) -> None:
    srv, session = server
    async with session.get(f"{srv.url}/ping") as resp:
        assert resp.status == 200
    rows = np.array([[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0], [-2.0, 0.3, 0.1, 5.0]], dtype=np.float32)
    expected = booster.inplace_predict(rows)
    body = "\n".join(",".join(str(v) for v in row) for row in rows).encode()
    status, ctype, text = await _post(session, srv, body, "text/csv", "text/csv")
    assert (status, ctype) == (200, "text/csv")
    assert np.allclose([float(x) for x in text.splitlines()], expected, rtol=1e-6)
    # one row, no Accept: answered in the request's own format
    status, ctype, text = await _post(session, srv, b"0.5,-1.0,2.0,0.0", "text/csv")
    assert (status, ctype) == (200, "text/csv") and float(text) == pytest.approx(float(expected[0]), rel=1e-6)


async def test_json_and_jsonlines_in_and_out(server: Any, booster: xgb.Booster) -> None:
    srv, session = server
    rows = [[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
    expected = booster.inplace_predict(np.array(rows, dtype=np.float32)).tolist()
    for body in (json.dumps(rows), json.dumps({"instances": [{"features": r} for r in rows]})):
        status, ctype, text = await _post(session, srv, body.encode(), "application/json", "application/json")
        assert (status, ctype) == (200, "application/json")
        scores = [p["score"] for p in json.loads(text)["predictions"]]
        assert np.allclose(scores, expected, rtol=1e-6)
    lines = "\n".join(json.dumps(r) for r in rows).encode()
    status, ctype, text = await _post(session, srv, lines, "application/jsonlines", "application/jsonlines")
    assert (status, ctype) == (200, "application/jsonlines")
    assert np.allclose([json.loads(line)["score"] for line in text.splitlines()], expected, rtol=1e-6)
    # a flat JSON list is one row; the first writable type in Accept wins
    status, ctype, text = await _post(session, srv, json.dumps(rows[0]).encode(), "application/json",
                                      "application/x-unknown, text/csv;q=0.9")
    assert (status, ctype) == (200, "text/csv") and float(text) == pytest.approx(expected[0], rel=1e-6)


async def test_multiclass_csv_rows_are_comma_separated_probabilities(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(params.BASE_DIR_ENV, str(tmp_path))
    _train(tmp_path / "model", "multi:softprob", num_class=3)
    async with Server(xgboost_handler()) as srv, aiohttp.ClientSession() as session:
        status, _, text = await _post(session, srv, b"1,1,0,0\n-1,-1,0,0", "text/csv", "text/csv")
    assert status == 200
    probs = [[float(x) for x in line.split(",")] for line in text.splitlines()]
    assert len(probs) == 2 and all(len(p) == 3 and sum(p) == pytest.approx(1, rel=1e-5) for p in probs)


@pytest.mark.parametrize("body, ctype, accept, status, message", [
    (b"1,2,3,4", "application/x-image", None, 415, "Content type 'application/x-image' is not supported"),
    (b"1,2,3,4", "text/csv", "image/png", 406, "Accept 'image/png' is not supported"),
    (b"1,2,x,4", "text/csv", None, 400, "Record 1, column 3: 'x' is not a number"),
    (b"1,2,3,4\n1,2,3", "text/csv", None, 400, "Record 2 has 3 columns but record 1 has 4"),
    (b"0,1,2,3,4", "text/csv", None, 400, "the model expects 4 features per record, the request has 5 "
                                          "(CSV for inference has no label column)"),
    (b"[1, 2, \"a\", 4]", "application/json", None, 400, "Record 1, column 3: 'a' is not a number"),
    (b"{\"instances\": [1, ", "application/json", None, 400, "The request body is not valid JSON"),
    (b"", "text/csv", None, 400, "The request body is empty"),
])
async def test_bad_requests_get_4xx_with_a_message_and_serving_goes_on(
        server: Any, body: bytes, ctype: str, accept: str | None, status: int, message: str) -> None:
    srv, session = server
    got, _, text = await _post(session, srv, body, ctype, accept)
    assert got == status and message in text, text
    ok, _, _ = await _post(session, srv, b"1,2,3,4", "text/csv")
    assert ok == 200


async def test_empty_cells_are_missing_values_and_custom_attributes_come_back(server: Any,
                                                                              booster: xgb.Booster) -> None:
    srv, session = server
    expected = booster.inplace_predict(np.array([[np.nan, 1.0, np.nan, 2.0]], dtype=np.float32))
    async with session.post(f"{srv.url}/invocations", data=b",1,,2",
                            headers={"Content-Type": "text/csv",
                                     "X-Amzn-SageMaker-Custom-Attributes": "trace=abc"}) as resp:
        assert resp.status == 200
        assert resp.headers["X-Amzn-SageMaker-Custom-Attributes"] == "trace=abc"
        assert float(await resp.text()) == pytest.approx(float(expected[0]), rel=1e-6)


async def test_a_large_payload_is_predicted_off_the_loop_and_matches(server: Any, booster: xgb.Booster) -> None:
    srv, session = server
    rows = np.random.default_rng(1).normal(size=(5000, NUM_FEATURES)).astype(np.float32)
    body = "\n".join(",".join(f"{v:.6f}" for v in row) for row in rows).encode()
    assert len(body) > 64 * 1024
    status, _, text = await _post(session, srv, body, "text/csv", "text/csv")
    assert status == 200
    expected = booster.inplace_predict(np.loadtxt(body.decode().splitlines(), delimiter=",", dtype=np.float32))
    assert np.allclose([float(x) for x in text.splitlines()], expected, rtol=1e-5)


async def test_pipelined_and_chunked_requests_on_one_connection(server: Any) -> None:
    srv, _ = server
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    one = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 7\r\n\r\n1,2,3,4"
    chunked = (b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3\r\n1,2\r\n4\r\n,3,4\r\n0\r\n\r\n")
    writer.write(one + chunked + b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert data.count(b"HTTP/1.1 200 OK") == 3
    answers = data.split(b"\r\n\r\n")
    assert answers[1].startswith(answers[2][:6])  # the same row, sent plainly and chunked: the same score


async def test_shutdown_answers_in_flight_requests_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(params.BASE_DIR_ENV, str(tmp_path))

    def slow_predict(data: Any, model: Any) -> Any:
        time.sleep(0.5)
        return data.sum(axis=1)

    handler = InferenceHandler(model_fn=lambda d: None, input_fn=decode, predict_fn=slow_predict,
                               output_fn=lambda p, a: json.dumps(p.tolist()), content_types=("text/csv",))
    body = ("1,2\n" * 20000).encode()  # over the inline limit: predicted in a thread
    async with Server(handler) as srv, aiohttp.ClientSession() as session:
        pending = asyncio.create_task(_post(session, srv, body, "text/csv"))
        await asyncio.sleep(0.2)
        srv.stop.set()
        status, _, text = await pending
    assert status == 200 and json.loads(text)[:2] == [3.0, 3.0]


def test_bad_input_is_a_400_leaf() -> None:
    assert BadInput("x").status == 400


def test_serve_as_a_real_process(tmp_path: Path) -> None:
    booster = _train(tmp_path / "model")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, params.BASE_DIR_ENV: str(tmp_path), "SAGEMAKER_BIND_TO_PORT": str(port),
           "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "containers.xgboost", "serve"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        import urllib.request

        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "server did not come up"
                time.sleep(0.1)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=b"1,2,3,4",
                                     headers={"Content-Type": "text/csv"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            score = float(resp.read())
        expected = booster.inplace_predict(np.array([[1, 2, 3, 4]], dtype=np.float32))[0]
        assert score == pytest.approx(float(expected), rel=1e-6)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"on port {port}" in out and "draining" in out
