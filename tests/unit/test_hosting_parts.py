"""Hosting pieces without a node: safe model extraction, the capture format, shadow agreement, routing."""

from __future__ import annotations

import base64
import io
import tarfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from services.core.exceptions import JobFailed
from services.hosting.capture import capture_record
from services.hosting.fleet import LiveVariant
from services.hosting.models import DataCaptureConfig, Model
from services.hosting.shadow import ShadowStats, agree
from services.inference.artifacts import extract_model
from services.inference.instance import Answer, Instance


def _archive(tmp_path: Path, members: list[tarfile.TarInfo]) -> Path:
    path = tmp_path / "model.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 1
    return info


def _link(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


@pytest.mark.parametrize("member, problem", [
    (_file("../escape"), "parent path"), (_file("/etc/evil"), "absolute"), (_file("a/../../b"), "parent path"),
    (_link("model", "/etc/passwd"), "link"),
])
def test_unsafe_archive_members_are_refused_before_anything_is_written(
        tmp_path: Path, member: tarfile.TarInfo, problem: str) -> None:
    archive = _archive(tmp_path, [_file("xgboost-model"), member])
    dest = tmp_path / "out" / "model"
    with pytest.raises(JobFailed, match=problem):
        extract_model(archive, dest)
    assert list(dest.iterdir()) == [] and not (tmp_path / "escape").exists()


def test_a_safe_archive_extracts(tmp_path: Path) -> None:
    extract_model(_archive(tmp_path, [_file("xgboost-model"), _file("code/inference.py")]), tmp_path / "m")
    assert (tmp_path / "m/xgboost-model").read_bytes() == b"x" and (tmp_path / "m/code/inference.py").exists()


def test_capture_record_is_sagemakers_format() -> None:
    config = DataCaptureConfig.model_validate({
        "InitialSamplingPercentage": 100, "DestinationS3Uri": "s3://b/p",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]})
    when = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    rec = capture_record(config, (b"1,2", "text/csv"), (b"\x00\x01", "application/x-npy"), when, "e1")
    assert rec == {"captureData": {
        "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,2", "encoding": "CSV"},
        "endpointOutput": {"observedContentType": "application/x-npy", "mode": "OUTPUT",
                           "data": base64.b64encode(b"\x00\x01").decode(), "encoding": "BASE64"}},
        "eventMetadata": {"eventId": "e1", "inferenceTime": "2026-03-04T05:06:07Z"}, "eventVersion": "0"}
    only_input = config.model_copy(update={"capture_options": config.capture_options[:1]})
    assert "endpointOutput" not in capture_record(only_input, (b"{}", "application/json"), (b"1", "text/csv"),
                                                  when)["captureData"]


def test_shadow_agreement_tolerates_float_formatting() -> None:
    assert agree(Answer(200, b"0.50000001", "text/csv"), Answer(200, b"0.5", "text/csv"))
    assert not agree(Answer(200, b"0.5", "text/csv"), Answer(200, b"0.7", "text/csv"))
    assert not agree(Answer(200, b"0.5", "text/csv"), Answer(500, b"0.5", "text/plain"))
    stats = ShadowStats()
    stats.record("e", "s", Answer(200, b"1", ""), Answer(200, b"1", ""))
    stats.record("e", "s", Answer(200, b"1", ""), None)
    assert stats.report("e") == {"s": {"requests": 2, "errors": 1, "agreed": 1, "agreement": 1.0, "skipped": 0}}


def test_a_variant_routes_to_the_least_busy_healthy_instance(tmp_path: Path) -> None:
    def instance(name: str) -> Instance:
        i = Instance(name, tmp_path, [], None, None, "g", "s")  # type: ignore[arg-type]
        i.healthy = True
        return i

    a, b, c = instance("a"), instance("b"), instance("c")
    c.healthy = False
    variant = LiveVariant("v", Model(model_name="m"), 1.0, [a, b, c], [])
    first = variant.pick()
    second = variant.pick()
    assert {first, second} == {a, b}  # the busy one is avoided; the unhealthy one never chosen
    assert (a.in_flight, b.in_flight, c.in_flight) == (1, 1, 0)
    first.release()
    assert variant.pick() is first
