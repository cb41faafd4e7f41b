"""Drift detection: SageMaker's baseline_drift_check beside PSI, KS, chi-square and Evidently.

On generated data (x1 ~ N(0, 1), x2 ~ N(5, 2), x3 integral 0..9, color in
three categories) a baseline of 5,000 records is suggested by the analyzer;
then, for shifts of 0, 0.1, 0.25 and 0.5 standard deviations in x1 only,
100 windows of 1,000 records each are checked by every method:

* baseline_drift_check (Robust, SageMaker's default) and (Simple), threshold 0.1
* PSI > 0.1 over the baseline's deciles; KS p < 0.05; chi-square p < 0.05 (color)
* Evidently's DataDriftPreset (its own per-column tests and thresholds)

Detection rate: share of windows that flag x1. False alarm rate: share of
(window, unshifted feature) pairs flagged. Then the time of one monitoring
execution over 10,000 captured records (the analyzer end to end, files in,
reports out) beside Evidently's report on the same records.

Evidently is installed for this benchmark only, into its own virtualenv
(``.headwater/bench-evidently-venv``, created on first run); it never enters
the project's dependencies. Run: ``.venv/bin/python bench/drift.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from containers.model_monitor import params  # noqa: E402
from containers.model_monitor.analyzer import _sketches, _statistics, analyze  # noqa: E402
from containers.model_monitor.config import AnalyzerConfig  # noqa: E402
from containers.model_monitor.constraints import suggest_constraints  # noqa: E402
from containers.model_monitor.profile import profile_columns  # noqa: E402
from containers.model_monitor.violations import evaluate  # noqa: E402

NAMES = ["x1", "x2", "x3", "color"]
COLORS = np.array(["red", "green", "blue"])
SHIFTS = (0.0, 0.1, 0.25, 0.5)
WINDOWS = 100
WINDOW_SIZE = 1000
BASELINE_SIZE = 5000
TIMED_RECORDS = 10_000
PSI_THRESHOLD = 0.1
ALPHA = 0.05
EVIDENTLY_VENV = REPO / ".headwater" / "bench-evidently-venv"
# Evidently 0.7 imports a pandas helper that pandas 3 removed.
EVIDENTLY_PINS = ["evidently==0.7.23", "pandas>=2.2,<3"]


def generate(n: int, shift: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Columns of n records; x1's mean moved by ``shift`` standard deviations."""
    return {
        "x1": np.round(rng.normal(shift, 1.0, n), 5),
        "x2": np.round(rng.normal(5.0, 2.0, n), 5),
        "x3": rng.integers(0, 10, n),
        "color": rng.choice(COLORS, n, p=[0.5, 0.3, 0.2]),
    }


def records(columns: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Column arrays as analyzer records."""
    n = len(columns["x1"])
    return [{name: columns[name][i].item() for name in NAMES} for i in range(n)]


def flags(report: dict[str, dict[str, Any]]) -> dict[str, dict[str, bool]]:
    """method -> feature -> drift flagged, from one window's drift report."""
    out: dict[str, dict[str, bool]] = {m: {} for m in ("robust", "simple", "psi", "ks", "chi2")}
    for name, r in report.items():
        check = r["baseline_drift_check"]
        out["robust"][name] = check["violation"]
        out["simple"][name] = check["linf_simple"] > check["threshold"]
        out["psi"][name] = r["psi"] > PSI_THRESHOLD
        if "ks" in r:
            out["ks"][name] = r["ks"]["p_value"] < ALPHA
        if "chi_square" in r:
            p = r["chi_square"]["p_value"]
            out["chi2"][name] = p == p and p < ALPHA
    return out


def ensure_evidently() -> Path | None:
    """The Evidently virtualenv's python, created on first use; None if it cannot be."""
    python = EVIDENTLY_VENV / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import evidently"], capture_output=True).returncode == 0:
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", *EVIDENTLY_PINS], check=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"Evidently could not be installed ({exc}); its column is left out.")
        return None
    return python


def run_evidently(python: Path, reference: dict[str, np.ndarray], windows: list[dict[str, np.ndarray]], workdir: Path) -> list[dict[str, Any]]:
    """Evidently's DataDriftPreset on every window (in its own virtualenv)."""
    arrays = {f"ref_{k}": v for k, v in reference.items()}
    for i, w in enumerate(windows):
        arrays.update({f"w{i}_{k}": v for k, v in w.items()})
    data = workdir / "windows.npz"
    np.savez(data, **arrays)
    out = workdir / "evidently.json"
    subprocess.run([python, str(REPO / "bench" / "drift_evidently.py"), str(data), str(len(windows)), str(out)], check=True)
    return json.loads(out.read_text())


def capture_files(folder: Path, columns: dict[str, np.ndarray]) -> None:
    """10,000 captured invocations in SageMaker's data-capture format."""
    target = folder / "ep" / "AllTraffic" / "2024" / "05" / "01" / "10"
    target.mkdir(parents=True)
    lines = []
    for i, r in enumerate(records(columns)):
        data = ",".join(str(r[n]) for n in NAMES)
        lines.append(json.dumps({
            "captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": data, "encoding": "CSV"}},
            "eventMetadata": {"eventId": f"e{i}", "inferenceTime": "2024-05-01T10:%02d:%02dZ" % (i // 60 % 60, i % 60)},
            "eventVersion": "0",
        }))
    (target / "capture.jsonl").write_text("\n".join(lines) + "\n")


def main() -> None:
    rng = np.random.default_rng(2024)
    reference = generate(BASELINE_SIZE, 0.0, rng)
    base_profiles = profile_columns(records(reference), NAMES)
    sketches = _sketches(base_profiles)
    statistics = _statistics(base_profiles, sketches, BASELINE_SIZE)
    constraints = suggest_constraints(base_profiles, None)
    statistics = json.loads(json.dumps(statistics))  # exactly what a monitoring run reads from disk

    windows = {s: [generate(WINDOW_SIZE, s, rng) for _ in range(WINDOWS)] for s in SHIFTS}
    ours: dict[float, list[dict[str, dict[str, bool]]]] = {}
    our_time = 0.0
    for shift, batch in windows.items():
        ours[shift] = []
        for w in batch:
            started = time.perf_counter()
            profiles = profile_columns(records(w), NAMES)
            result = evaluate(constraints, statistics, profiles, _sketches(profiles, {"x1", "x2", "x3"}))
            our_time += time.perf_counter() - started
            ours[shift].append(flags(result.drift))

    python = ensure_evidently()
    evidently: dict[float, list[dict[str, Any]]] = {}
    if python is not None:
        with tempfile.TemporaryDirectory() as tmp:
            everything = [w for s in SHIFTS for w in windows[s]]
            results = run_evidently(python, reference, everything, Path(tmp))
        for k, shift in enumerate(SHIFTS):
            evidently[shift] = results[k * WINDOWS:(k + 1) * WINDOWS]

    methods = [("robust", "baseline_drift_check Robust"), ("simple", "baseline_drift_check Simple"),
               ("psi", f"PSI > {PSI_THRESHOLD}"), ("ks", f"KS p < {ALPHA}"), ("chi2", f"chi-square p < {ALPHA} (color)")]
    print(f"Drift detection: {WINDOWS} windows x {WINDOW_SIZE} records per shift, baseline {BASELINE_SIZE} records; "
          "shift in x1 only. detection = windows flagging x1; false alarm = (window, unshifted feature) pairs flagged.")
    header = "| method | " + " | ".join(f"shift {s:g} sd: detect / false alarm" for s in SHIFTS) + " |"
    print(header)
    print("|" + "---|" * (len(SHIFTS) + 1))
    for key, label in methods:
        cells = []
        for s in SHIFTS:
            window_flags = [f[key] for f in ours[s]]
            others = [v for f in window_flags for n, v in f.items() if n != "x1"]
            detect = "n/a" if key == "chi2" else f"{np.mean([f.get('x1', False) for f in window_flags]):.2f}"
            false = f"{np.mean(others):.2f}" if others else "n/a"
            cells.append(f"{detect} / {false}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    if evidently:
        cells = []
        for s in SHIFTS:
            detect = np.mean([r["drifted"]["x1"] for r in evidently[s]])
            false = np.mean([r["drifted"][n] for r in evidently[s] for n in NAMES if n != "x1"])
            cells.append(f"{detect:.2f} / {false:.2f}")
        print("| Evidently DataDriftPreset | " + " | ".join(cells) + " |")
        print(f"Evidently per-column tests used: {evidently[SHIFTS[0]][0]['methods']}")

    # Time per monitoring execution: 10,000 captured records, end to end.
    timed = generate(TIMED_RECORDS, 0.25, rng)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        capture_files(root / "capture", timed)
        (root / "baseline").mkdir()
        (root / "baseline/statistics.json").write_text(json.dumps(statistics))
        (root / "baseline/constraints.json").write_text(json.dumps(constraints))
        env = {
            "dataset_format": json.dumps({"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput"]}}),
            "dataset_source": str(root / "capture"), "output_path": str(root / "out"),
            "baseline_constraints": str(root / "baseline/constraints.json"),
            "baseline_statistics": str(root / "baseline/statistics.json"),
            "publish_cloudwatch_metrics": "Enabled", "sagemaker_endpoint_name": "ep",
        }
        os.environ[params.BASE_DIR_ENV] = str(root)
        for _ in range(3):
            started = time.perf_counter()
            analyze(AnalyzerConfig.read(env))
            runs.append(time.perf_counter() - started)
        violations = json.loads((root / "out" / params.VIOLATIONS_FILE).read_text())["violations"]
        evidently_time = None
        if python is not None:
            results = run_evidently(python, reference, [timed], root)
            evidently_time = results[0]["seconds"]
    ours_s = float(np.median(runs))
    print()
    print(f"| execution over {TIMED_RECORDS:,} captured records | seconds |")
    print("|---|---|")
    print(f"| Headwater analyzer, end to end (capture files -> statistics, violations, metrics; median of 3) | {ours_s:.3f} |")
    if evidently_time is not None:
        print(f"| Evidently DataDriftPreset report on the same records (in memory, no file parsing) | {evidently_time:.3f} |")
        print(f"| ratio Evidently / Headwater | {evidently_time / ours_s:.2f}x |")
    print(f"(that execution's violations: {sorted({v['feature_name'] + ':' + v['constraint_check_type'] for v in violations})})")
    mean_window = our_time / (WINDOWS * len(SHIFTS))
    print(f"| drift evaluation of one {WINDOW_SIZE}-record window (in memory) | {mean_window:.4f} |")
    if evidently:
        ev_window = np.mean([r["seconds"] for s in SHIFTS for r in evidently[s]])
        print(f"| Evidently report on one {WINDOW_SIZE}-record window | {ev_window:.4f} |")


if __name__ == "__main__":
    main()
