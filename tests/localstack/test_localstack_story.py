"""The same end-to-end story, against LocalStack in host mode."""

from __future__ import annotations

from pathlib import Path

from tests.story import UpProcess, run_story


def test_drop_a_csv_get_a_model_on_localstack(localstack_endpoint: str, tmp_path: Path) -> None:
    up = UpProcess(tmp_path / "state", "--aws-endpoint", localstack_endpoint)
    try:
        endpoints = up.wait_ready()
        assert endpoints["aws"] == localstack_endpoint  # no embedded emulator was started
        run_story(up, "churn-ls")
        assert up.interrupt() == 0
    finally:
        up.kill()


def test_provisioning_twice_changes_nothing(localstack_endpoint: str, tmp_path: Path) -> None:
    up = UpProcess.__new__(UpProcess)
    up.state_dir = tmp_path
    first = up.cli("provision", "--aws-endpoint", localstack_endpoint)
    assert first.returncode == 0, first.stderr
    second = up.cli("provision", "--aws-endpoint", localstack_endpoint)
    assert second.returncode == 0, second.stderr
    assert "Stack is up to date: no changes." in second.stdout, second.stdout
