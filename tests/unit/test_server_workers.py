"""Several serving processes on one port: MODEL_SERVER_WORKERS, as SageMaker's model servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from containers.common.server_workers import WORKERS_ENV, worker_count
from tests.support import wait_for

REPO = Path(__file__).resolve().parents[2]


def test_worker_count_reads_model_server_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    assert worker_count(3) == 3
    assert worker_count(0) == 1
    monkeypatch.setenv(WORKERS_ENV, "2")
    assert worker_count(8) == 2
    for bad in ("0", "two"):
        monkeypatch.setenv(WORKERS_ENV, bad)
        with pytest.raises(ValueError, match=WORKERS_ENV):
            worker_count()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return resp.read()


def _post(port: int, body: bytes) -> bytes:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                 headers={"Content-Type": "text/csv"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.read()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def model_base(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, label=(X[:, 0] > 0).astype(int)), 5)
    (tmp_path / "model").mkdir()
    booster.save_model(str(tmp_path / "model" / "xgboost-model"))
    return tmp_path


def test_the_xgboost_container_serves_from_several_processes_and_all_stop_on_sigterm(model_base: Path) -> None:
    port = _free_port()
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(model_base), "SAGEMAKER_BIND_TO_PORT": str(port),
           WORKERS_ENV: "3", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "containers.xgboost", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: _ping(port), 60, what="the server to answer /ping")
        wait_for(lambda: len(_children(proc.pid)) == 2, 30, what="two forked workers")
        workers = [proc.pid, *_children(proc.pid)]
        # Batch transform is told to send as many requests at once as there are workers.
        assert json.loads(_get(port, "/execution-parameters"))["MaxConcurrentTransforms"] == 3
        answers = {_post(port, b"0.5,0.1,0.2\n-0.5,0.1,0.2") for _ in range(20)}
        assert len(answers) == 1  # every worker loaded the same model
        high, low = (float(v) for v in answers.pop().split())
        assert high > 0.5 > low
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        out = proc.stdout.read().decode() if proc.stdout else ""
        assert "Serving with 3 worker processes" in out
        assert out.count("Stopping: draining in-flight requests") == 3, out
        for pid in workers[1:]:
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_a_bad_worker_count_fails_the_container_with_the_reason(model_base: Path) -> None:
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(model_base), "SAGEMAKER_BIND_TO_PORT": str(_free_port()),
           WORKERS_ENV: "none", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "containers.xgboost", "serve"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert "MODEL_SERVER_WORKERS must be a whole number of workers, not 'none'" in done.stderr


def _ping(port: int) -> bool:
    try:
        _get(port, "/ping")
    except OSError:
        time.sleep(0.1)
        return False
    return True


# Each answer names the process that predicted it; predicting takes long enough that two requests
# sent together overlap.
_PID_SERVER = """
import os, time
from containers.common.model_server import serve
from containers.common.serving import InferenceHandler
handler = InferenceHandler(model_fn=lambda d: None, input_fn=lambda body, ctype: body,
                           predict_fn=lambda data, model: time.sleep(0.4), output_fn=lambda p, a: str(os.getpid()),
                           content_types=("text/csv",), accepts=("text/plain",))
raise SystemExit(serve(handler))
"""


def test_requests_sent_together_on_new_connections_go_to_different_workers(tmp_path: Path) -> None:
    """One worker must not take every connection that arrives at once while the others idle
    (batch transform sends MaxConcurrentTransforms requests together)."""
    import threading

    (tmp_path / "model").mkdir()
    port = _free_port()
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(tmp_path), "SAGEMAKER_BIND_TO_PORT": str(port),
           WORKERS_ENV: "2", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _PID_SERVER], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: _ping(port), 60, what="the server to answer /ping")
        workers = {proc.pid, *_children(proc.pid)}
        assert len(workers) == 2
        for _ in range(4):
            start = threading.Barrier(2)
            answers: list[int] = []

            def send() -> None:
                start.wait(5)
                answers.append(int(_post(port, b"1,2")))

            threads = [threading.Thread(target=send) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert len(answers) == 2 and set(answers) == workers, answers
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
