"""The Model Monitor analyzer container: baselining, monitoring, drift, model quality."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from containers.model_monitor import drift, params
from containers.model_monitor.analyzer import analyze, captured_records
from containers.model_monitor.capture import read_capture
from containers.model_monitor.config import AnalyzerConfig
from containers.model_monitor.errors import LineErrors, MonitorInputError
from containers.model_monitor.kll import KllSketch
from containers.model_monitor.quality_metrics import compute_metrics
from services.runners.images import resolve_image
from tests.unit.model_monitor_data import capture_line, rows, write_baseline_csv, write_capture

REPO = Path(__file__).resolve().parents[2]
CSV_HEADER = json.dumps({"csv": {"header": True, "output_columns_position": "START"}})
CAPTURE = json.dumps({"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}})


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A job directory standing in for /opt/ml."""
    monkeypatch.setenv(params.BASE_DIR_ENV, str(tmp_path))
    return tmp_path


def run(env: dict[str, str]) -> None:
    analyze(AnalyzerConfig.read(env))


def read(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture
def baseline(base: Path) -> Path:
    """A suggested baseline of 3000 generated rows; returns its output folder."""
    write_baseline_csv(base / "processing/input/baseline_dataset_input", rows(3000, seed=1))
    run({
        "dataset_format": CSV_HEADER,
        "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
        "output_path": "/opt/ml/processing/output",
    })
    return base / "processing/output"


def monitor(base: Path, lines: list[str], **extra: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run a monitoring execution over ``lines``; (statistics, violations)."""
    write_capture(base / "processing/input/endpoint", lines)
    env = {
        "dataset_format": CAPTURE,
        "dataset_source": "/opt/ml/processing/input/endpoint",
        "output_path": "/opt/ml/processing/resultdata",
        "baseline_constraints": "/opt/ml/processing/output/constraints.json",
        "baseline_statistics": "/opt/ml/processing/output/statistics.json",
        "sagemaker_endpoint_name": "ep",
        "start_time": "2024-05-01T10:00:00Z",
        "end_time": "2024-05-01T11:00:00Z",
        **extra,
    }
    run(env)
    out = base / "processing/resultdata"
    return read(out / "statistics.json"), read(out / "constraint_violations.json")


def window(n: int, seed: int, shift: float = 0.0, **kw: Any) -> list[str]:
    return [capture_line(r[1:], r[0], i) for i, r in enumerate(rows(n, seed, shift, **kw))]


def checks(violations: dict[str, Any]) -> set[tuple[str, str]]:
    return {(v["feature_name"], v["constraint_check_type"]) for v in violations["violations"]}


# --- baselining --------------------------------------------------------------------------


def test_baseline_files_follow_the_documented_schema(baseline: Path) -> None:
    stats, constraints = read(baseline / "statistics.json"), read(baseline / "constraints.json")
    assert stats["dataset"]["item_count"] == 3000
    by_name = {f["name"]: f for f in stats["features"]}
    assert [f["name"] for f in stats["features"]] == ["label", "x1", "x2", "count", "color"]
    assert by_name["x1"]["inferred_type"] == "Fractional" and by_name["count"]["inferred_type"] == "Integral"
    numeric = by_name["x2"]["numerical_statistics"]
    assert set(numeric) >= {"common", "mean", "sum", "std_dev", "min", "max", "distribution"}
    assert numeric["common"] == {"num_present": 3000, "num_missing": 0}
    assert abs(numeric["mean"] - 5.0) < 0.2 and abs(numeric["std_dev"] - 2.0) < 0.2
    kll = numeric["distribution"]["kll"]
    assert len(kll["buckets"]) == 10 and sum(b["count"] for b in kll["buckets"]) == 3000
    assert set(kll["buckets"][0]) == {"lower_bound", "upper_bound", "count"}
    assert set(kll["sketch"]["parameters"]) == {"c", "k"} and isinstance(kll["sketch"]["data"], list)
    color = by_name["color"]
    assert color["inferred_type"] == "String"
    assert color["string_statistics"]["distinct_count"] == 3
    assert {b["value"] for b in color["string_statistics"]["distribution"]["categorical"]["buckets"]} == {"red", "green", "blue"}

    features = {f["name"]: f for f in constraints["features"]}
    assert features["x1"]["completeness"] == 1.0
    assert features["x1"]["num_constraints"] == {"is_non_negative": False}
    assert features["count"]["num_constraints"] == {"is_non_negative": True}
    assert features["color"]["string_constraints"]["domains"] == ["blue", "green", "red"]
    distribution = constraints["monitoring_config"]["distribution_constraints"]
    assert distribution["comparison_threshold"] == 0.1 and distribution["comparison_method"] in ("Robust", "Simple")


def test_the_sdk_reads_the_baseline_files(baseline: Path, base: Path) -> None:
    from sagemaker.model_monitor import Constraints, Statistics

    # The SDK's own classes (what latest_baselining_job.*() return) over the files' JSON.
    stats = Statistics(read(baseline / "statistics.json"), "s3://bucket/statistics.json")
    constraints = Constraints(read(baseline / "constraints.json"), "s3://bucket/constraints.json")
    assert stats.body_dict["features"][1]["name"] == "x1"
    constraints.set_monitoring(False, "x1")
    (base / "processing/output/constraints.json").write_text(json.dumps(constraints.body_dict))
    # The SDK's per-feature switch is honoured: a shifted x1 is no longer a violation.
    _, violations = monitor(base, window(1000, seed=5, shift=1.0))
    assert violations == {"violations": []}


def test_json_lines_baseline_flattens_objects(base: Path) -> None:
    folder = base / "processing/input/data"
    folder.mkdir(parents=True)
    (folder / "part.jsonl").write_text(
        "\n".join(json.dumps({"a": i, "nested": {"b": i / 3, "c": "x" if i % 2 else "y"}}) for i in range(50)) + "\n"
    )
    run({"dataset_format": json.dumps({"json": {"lines": True}}), "dataset_source": str(folder), "output_path": str(base / "out")})
    types = {f["name"]: f["inferred_type"] for f in read(base / "out/statistics.json")["features"]}
    assert types == {"a": "Integral", "nested.b": "Fractional", "nested.c": "String"}


def test_malformed_dataset_lines_are_named_and_the_rest_is_kept(base: Path) -> None:
    folder = base / "processing/input/data"
    write_baseline_csv(folder, rows(100, seed=3))
    with (folder / "train.csv").open("a") as handle:
        handle.write("1,2\n")
    with pytest.raises(MonitorInputError, match=r"train\.csv, line 102: 2 fields where the file has 5"):
        run({"dataset_format": CSV_HEADER, "dataset_source": str(folder), "output_path": str(base / "out")})
    assert read(base / "out/statistics.json")["dataset"]["item_count"] == 100


# --- monitoring --------------------------------------------------------------------------


def test_no_drift_gives_no_violations(baseline: Path, base: Path) -> None:
    stats, violations = monitor(base, window(2000, seed=7))
    assert violations == {"violations": []}
    drift_report = {f["name"]: f.get("headwater_drift") for f in stats["features"]}
    assert drift_report["x1"]["baseline_drift_check"]["violation"] is False
    assert drift_report["x1"]["ks"]["p_value"] > 0.001
    assert drift_report["color"]["chi_square"]["p_value"] > 0.001


def test_shift_in_one_feature_violates_baseline_drift_on_that_feature_only(baseline: Path, base: Path) -> None:
    stats, violations = monitor(base, window(2000, seed=8, shift=1.0))
    assert checks(violations) == {("x1", "baseline_drift_check")}
    (violation,) = violations["violations"]
    assert "exceeds threshold: 0.1" in violation["description"] and "PSI" in violation["description"]
    report = {f["name"]: f for f in stats["features"]}["x1"]["headwater_drift"]
    # Deequ's linf_robust: linf_simple less 1.8 * sqrt((n + m) / (n m)).
    expected = report["baseline_drift_check"]["linf_simple"] - 1.8 * math.sqrt((3000 + 2000) / (3000 * 2000))
    assert report["baseline_drift_check"]["distance"] == pytest.approx(expected)
    assert report["psi"] > 0.25 and report["ks"]["p_value"] < 1e-6


def test_schema_violations(baseline: Path, base: Path) -> None:
    data = rows(500, seed=9, colors=["red", "green", "blue", "purple"])
    lines = []
    for i, r in enumerate(data):
        features = r[1:]
        if i % 10 == 0:
            features[1] = ""  # x2 missing on 10% of the records
        if i % 5 == 0:
            features[2] = "many"  # count is not Integral on 20%
        lines.append(capture_line(features, r[0], i))
    _, violations = monitor(base, lines)
    found = checks(violations)
    assert ("x2", "completeness_check") in found
    assert ("count", "data_type_check") in found
    assert ("color", "categorical_values_check") in found
    assert not any(name == "x1" for name, _ in found)


def test_missing_and_extra_columns(baseline: Path, base: Path) -> None:
    short = [capture_line(r[1:3], r[0], i) for i, r in enumerate(rows(300, seed=10))]
    _, violations = monitor(base, short)
    assert {("count", "missing_column_check"), ("color", "missing_column_check")} <= checks(violations)
    wide = [capture_line([*r[1:], 42], r[0], i) for i, r in enumerate(rows(300, seed=11))]
    _, violations = monitor(base, wide)
    assert ("_c5", "extra_column_check") in checks(violations)


def test_chi_squared_method_flags_categorical_drift(baseline: Path, base: Path) -> None:
    skewed = rows(2000, seed=12, colors=["red", "red", "red", "green", "blue"])
    lines = [capture_line(r[1:], r[0], i) for i, r in enumerate(skewed)]
    _, violations = monitor(base, lines, categorical_drift_method="ChiSquared")
    (violation,) = [v for v in violations["violations"] if v["feature_name"] == "color"]
    assert violation["constraint_check_type"] == "baseline_drift_check"
    assert "Chi-square p-value" in violation["description"]


def test_events_outside_the_window_are_ignored(baseline: Path, base: Path) -> None:
    from tests.unit.model_monitor_data import HOUR

    late = [capture_line(r[1:], r[0], i, when=HOUR.replace(hour=12)) for i, r in enumerate(rows(500, 13, shift=3.0))]
    stats, violations = monitor(base, window(1000, seed=14) + late)
    assert stats["dataset"]["item_count"] == 1000 and violations == {"violations": []}


def test_cloudwatch_metrics_file(baseline: Path, base: Path) -> None:
    monitor(base, window(1000, seed=15, shift=1.0), publish_cloudwatch_metrics="Enabled", sagemaker_monitoring_schedule_name="s")
    lines = (base / "output/metrics/cloudwatch/data-metrics.jsonl").read_text().splitlines()
    data = {d["MetricName"]: d for d in map(json.loads, lines)}
    drift_x1 = data["feature_baseline_drift_x1"]
    assert drift_x1["Value"] > 0.1 and drift_x1["Timestamp"] == "2024-05-01T11:00:00Z"
    assert drift_x1["Dimensions"] == [{"Name": "Endpoint", "Value": "ep"}, {"Name": "MonitoringSchedule", "Value": "s"}]
    assert data["feature_baseline_drift_x2"]["Value"] < 0.1


# --- capture parsing ---------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["CSV", "JSON", "BASE64"])
def test_capture_encodings(base: Path, encoding: str) -> None:
    write_capture(base / "cap", [capture_line([0.5, 4.25, 3, "red"], 1, 0, encoding=encoding)])
    config = AnalyzerConfig.read({"dataset_format": json.dumps({"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput"]}}), "dataset_source": str(base / "cap"), "baseline_constraints": "x"})
    errors = LineErrors()
    (event,) = read_capture(config.dataset_source, None, None, None, errors)
    assert event.event_id == "event-0" and event.endpoint_output.data == "1"
    (record,) = captured_records([event], config, errors)
    values = list(record.values()) if isinstance(record, dict) else record
    assert [str(v) for v in values] == ["0.5", "4.25", "3", "red"] and not errors


def test_truncated_capture_line_names_file_and_line(baseline: Path, base: Path) -> None:
    good = window(400, seed=16)
    lines = good[:200] + [good[200][:57]] + good[201:]
    path = write_capture(base / "processing/input/endpoint", lines)
    env = {
        **os.environ,
        "dataset_format": CAPTURE,
        "dataset_source": "/opt/ml/processing/input/endpoint",
        "output_path": "/opt/ml/processing/resultdata",
        "baseline_constraints": "/opt/ml/processing/output/constraints.json",
        "baseline_statistics": "/opt/ml/processing/output/statistics.json",
    }
    done = subprocess.run([sys.executable, "-m", "containers.model_monitor"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    message = (base / "output/message").read_text()
    assert f"{path}, line 201: invalid JSON" in message
    # The 399 good records were still analysed and reported.
    assert read(base / "processing/resultdata/statistics.json")["dataset"]["item_count"] == 399


def test_record_preprocessor(baseline: Path, base: Path) -> None:
    script = base / "pre.py"
    script.write_text(
        "def preprocess_handler(inference_record, logger=None):\n"
        "    values = inference_record.endpoint_input.data.split(',')\n"
        "    label = inference_record.endpoint_output.data\n"
        "    return {'label': label, 'x1': values[0], 'x2': values[1], 'count': values[2], 'color': values[3]}\n"
    )
    _, violations = monitor(base, window(500, seed=17), record_preprocessor_script=str(script))
    assert violations == {"violations": []}


# --- drift primitives --------------------------------------------------------------------


def test_kll_sketch_is_exact_when_small_and_close_when_large() -> None:
    rng = np.random.default_rng(0)
    small = rng.normal(size=1000)
    sketch = KllSketch().update(small)
    assert sketch.n == 1000
    points = np.linspace(-3, 3, 61)
    assert np.allclose(sketch.cdf(points), [(small <= p).mean() for p in points])
    big = rng.normal(size=100_000)
    large = KllSketch().update(big)
    assert large.n == 100_000
    assert np.max(np.abs(large.cdf(points) - [(big <= p).mean() for p in points])) < 0.01
    assert np.allclose(KllSketch.from_json(json.loads(json.dumps(large.to_json()))).cdf(points), large.cdf(points))


def test_numeric_drift_matches_scipy_ks() -> None:
    from scipy import stats

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=1500), rng.normal(0.2, 1, size=1200)
    d = drift.numeric_drift(KllSketch().update(a), KllSketch().update(b))
    reference = stats.ks_2samp(a, b, method="asymp")
    assert d.linf_simple == pytest.approx(reference.statistic)
    assert d.ks_p_value == pytest.approx(reference.pvalue, rel=1e-6)


# --- model quality -----------------------------------------------------------------------


def _binary_capture(base: Path, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    scores = np.clip(truth * 0.3 + rng.uniform(0, 0.7, n), 0, 1).round(4)
    lines, labels = [], []
    for i in range(n):
        lines.append(json.dumps({
            "captureData": {
                "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,2", "encoding": "CSV"},
                "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT", "data": json.dumps({"score": float(scores[i])}), "encoding": "JSON"},
            },
            "eventMetadata": {"eventId": f"e{i}", "inferenceTime": "2024-05-01T10:30:00Z"},
            "eventVersion": "0",
        }))
        labels.append(json.dumps({"groundTruthData": {"data": str(truth[i]), "encoding": "CSV"}, "eventMetadata": {"eventId": f"e{i}"}, "eventVersion": "0"}))
    write_capture(base / "processing/input/endpoint", lines)
    gt = base / "processing/groundtruth/2024/05/01/10"
    gt.mkdir(parents=True)
    (gt / "labels.jsonl").write_text("\n".join(labels) + "\n")
    return truth, scores


def test_model_quality_monitoring_binary_matches_sklearn(base: Path) -> None:
    truth, scores = _binary_capture(base, 600, seed=3)
    constraints = base / "mq_constraints.json"
    constraints.write_text(json.dumps({"version": 0.0, "binary_classification_constraints": {
        "accuracy": {"threshold": 0.99, "comparison_operator": "LessThanThreshold"},
        "auc": {"threshold": 0.5, "comparison_operator": "LessThanThreshold"},
    }}))
    run({
        "analysis_type": "MODEL_QUALITY", "problem_type": "BinaryClassification", "dataset_format": CAPTURE,
        "dataset_source": "/opt/ml/processing/input/endpoint", "output_path": str(base / "out"),
        "baseline_constraints": str(constraints), "probability_attribute": "score", "probability_threshold_attribute": "0.5",
        "publish_cloudwatch_metrics": "Enabled",
    })
    m = read(base / "out/statistics.json")["binary_classification_metrics"]
    predicted = (scores >= 0.5).astype(int)
    assert m["accuracy"]["value"] == pytest.approx(skm.accuracy_score(truth, predicted))
    assert m["auc"]["value"] == pytest.approx(skm.roc_auc_score(truth, scores))
    assert m["f1"]["value"] == pytest.approx(skm.f1_score(truth, predicted))
    assert m["precision"]["value"] == pytest.approx(skm.precision_score(truth, predicted))
    assert m["recall"]["value"] == pytest.approx(skm.recall_score(truth, predicted))
    assert m["f2"]["value"] == pytest.approx(skm.fbeta_score(truth, predicted, beta=2))
    assert isinstance(m["accuracy"]["standard_deviation"], float)
    (violation,) = read(base / "out/constraint_violations.json")["violations"]
    assert violation["metric_name"] == "accuracy" and violation["constraint_check_type"] == "LessThanThreshold"
    published = {json.loads(line)["MetricName"] for line in (base / "output/metrics/cloudwatch/model-metrics.jsonl").read_text().splitlines()}
    assert {"accuracy", "auc"} <= published


def test_model_quality_baseline_regression_and_multiclass_match_sklearn(base: Path) -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(size=300)
    yhat = y + rng.normal(scale=0.3, size=300)
    folder = base / "reg"
    folder.mkdir()
    (folder / "d.csv").write_text("prediction,label\n" + "\n".join(f"{p},{t}" for p, t in zip(yhat, y)) + "\n")
    run({"analysis_type": "MODEL_QUALITY", "problem_type": "Regression", "dataset_format": CSV_HEADER, "dataset_source": str(folder),
         "output_path": str(base / "out"), "inference_attribute": "prediction", "ground_truth_attribute": "label"})
    m = read(base / "out/statistics.json")["regression_metrics"]
    assert m["rmse"]["value"] == pytest.approx(math.sqrt(skm.mean_squared_error(y, yhat)))
    assert m["r2"]["value"] == pytest.approx(skm.r2_score(y, yhat))
    assert m["mae"]["value"] == pytest.approx(skm.mean_absolute_error(y, yhat))
    constraints = read(base / "out/constraints.json")["regression_constraints"]
    assert constraints["rmse"] == {"threshold": m["rmse"]["value"], "comparison_operator": "GreaterThanThreshold"}

    t = rng.integers(0, 3, 250).astype(str).astype(object)
    p = np.where(rng.uniform(size=250) < 0.7, t, rng.integers(0, 3, 250).astype(str)).astype(object)
    mc = compute_metrics("MulticlassClassification", t, p, None)["multiclass_classification_metrics"]
    assert mc["weighted_f1"]["value"] == pytest.approx(skm.f1_score(t, p, average="weighted"))
    assert mc["weighted_recall"]["value"] == pytest.approx(skm.recall_score(t, p, average="weighted"))
    assert mc["accuracy"]["value"] == pytest.approx(skm.accuracy_score(t, p))


# --- image resolution --------------------------------------------------------------------


def test_sdk_analyzer_image_resolves_to_this_container() -> None:
    image = resolve_image("156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer")
    assert image is not None and image.module == "containers.model_monitor"
    assert (image.folder / "Dockerfile").exists()
