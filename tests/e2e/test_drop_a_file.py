"""The whole story through ``headwater up`` on the embedded emulator."""

from __future__ import annotations

from pathlib import Path

from tests.story import UpProcess, run_story


def test_drop_a_csv_get_a_model(tmp_path: Path) -> None:
    up = UpProcess(tmp_path / "state", "--port", "0")
    try:
        endpoints = up.wait_ready()
        assert set(endpoints) >= {"aws", "sagemaker", "runtime", "lambda"}
        assert all(url.startswith("http://127.0.0.1:") for k, url in endpoints.items() if k in
                   ("aws", "sagemaker", "runtime", "lambda"))  # loopback by default
        run_story(up, "churn")
        assert up.interrupt() == 0  # Ctrl-C stops everything cleanly
        assert not (tmp_path / "state" / "endpoints.json").exists()
        assert "Headwater stopped." in up.log.read_text()
    finally:
        up.kill()


def test_cli_without_a_running_node_says_so(tmp_path: Path) -> None:
    up_less = UpProcess.__new__(UpProcess)
    up_less.state_dir = tmp_path
    out = up_less.cli("jobs")
    assert out.returncode == 1
    assert "headwater up" in out.stderr and "endpoints.json" in out.stderr


def test_rules_show_the_provisioned_chain(tmp_path: Path) -> None:
    up = UpProcess(tmp_path / "state", "--port", "0")
    try:
        up.wait_ready()
        out = up.cli("rules")
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        [rule] = [i for i, line in enumerate(lines) if line.startswith("headwater-start-training-on-upload ")]
        assert "[ENABLED]" in lines[rule] and "bus=default" in lines[rule]
        assert "handlers.on_object_created" in lines[rule + 1] and "<- queue headwater-start-training-on-upload" in lines[rule + 1]
        assert '"wildcard": "datasets/*/train/*"' in lines[rule + 2]
    finally:
        up.kill()
