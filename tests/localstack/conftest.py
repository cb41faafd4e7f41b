"""Fixtures for the LocalStack tier: LocalStack in host mode, one per session.

LocalStack lives in its own virtualenv (``localstack/.venv``, created by
``make localstack-env``); the launcher is plain standard-library Python, so it
is loaded here by file path. It is registered under a distinct module name so
that it can never shadow, or be shadowed by, the real ``localstack`` package.

Every tier runs in CI: when LocalStack cannot be started the fixture FAILS
with the reason and the tail of LocalStack's log; it never skips.

Set ``HEADWATER_LOCALSTACK_ENDPOINT`` (e.g. ``http://localhost:4566``) to run
the tier against a LocalStack that is already running, such as the one from
``localstack/docker-compose.yml``, instead of launching one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LAUNCHER_PATH = REPO_ROOT / "localstack" / "launcher.py"
LAUNCHER_MODULE = "headwater_localstack_launcher"
ENDPOINT_ENV = "HEADWATER_LOCALSTACK_ENDPOINT"


def load_launcher() -> ModuleType:
    """Import ``localstack/launcher.py`` as ``headwater_localstack_launcher``."""
    if LAUNCHER_MODULE in sys.modules:
        return sys.modules[LAUNCHER_MODULE]
    spec = importlib.util.spec_from_file_location(LAUNCHER_MODULE, LAUNCHER_PATH)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {LAUNCHER_PATH}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[LAUNCHER_MODULE] = module  # register before executing, as importlib documents
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(LAUNCHER_MODULE, None)
        raise
    return module


def _check_external(endpoint: str) -> None:
    """Fail unless the LocalStack at ``endpoint`` serves the required services."""
    launcher = load_launcher()
    url = endpoint.rstrip("/") + "/_localstack/health"
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=5) as resp:
            services = json.loads(resp.read().decode()).get("services", {})
    except Exception as exc:  # noqa: BLE001 - any failure is the reason to report
        pytest.fail(f"{ENDPOINT_ENV}={endpoint}: health check failed: {exc}", pytrace=False)
    bad = {
        name: services.get(name, "absent")
        for name in launcher.REQUIRED_SERVICES
        if services.get(name) not in ("available", "running")
    }
    if bad:
        pytest.fail(f"{ENDPOINT_ENV}={endpoint}: services not ready: {bad}", pytrace=False)


@pytest.fixture(scope="session")
def localstack_process() -> Iterator[object | None]:
    """The running ``LocalStackProcess`` (None when an external endpoint is used)."""
    if os.environ.get(ENDPOINT_ENV):
        _check_external(os.environ[ENDPOINT_ENV])
        yield None
        return

    try:
        launcher = load_launcher()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"cannot import {LAUNCHER_PATH}: {exc!r}", pytrace=False)

    proc = launcher.LocalStackProcess(port=0)
    try:
        proc.start()
    except launcher.LocalStackError as exc:
        pytest.fail(f"LocalStack did not start: {exc}", pytrace=False)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def localstack_endpoint(localstack_process: object | None) -> str:
    """Base URL of the session's LocalStack, e.g. ``http://127.0.0.1:45123``."""
    if localstack_process is None:
        return os.environ[ENDPOINT_ENV].rstrip("/")
    return localstack_process.endpoint  # type: ignore[attr-defined]
