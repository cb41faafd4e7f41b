"""Generated datasets and capture files for the model monitor analyzer's tests."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

COLORS = ["red", "green", "blue"]
HOUR = datetime(2024, 5, 1, 10, tzinfo=timezone.utc)


def rows(n: int, seed: int, shift: float = 0.0, colors: list[str] | None = None) -> list[list[Any]]:
    """label, x1 ~ N(shift, 1), x2 ~ N(5, 2), count in 0..9, color."""
    rng = np.random.default_rng(seed)
    palette = colors or COLORS
    return [
        [
            int(rng.integers(0, 2)),
            round(float(rng.normal(shift, 1.0)), 5),
            round(float(rng.normal(5.0, 2.0)), 5),
            int(rng.integers(0, 10)),
            str(rng.choice(palette)),
        ]
        for _ in range(n)
    ]


def write_baseline_csv(folder: Path, data: list[list[Any]]) -> Path:
    """A CSV dataset with header (label first, as output_columns_position START)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "train.csv"
    lines = ["label,x1,x2,count,color"] + [",".join(map(str, r)) for r in data]
    path.write_text("\n".join(lines) + "\n")
    return path


def capture_line(features: list[Any], label: Any, index: int, encoding: str = "CSV", when: datetime = HOUR) -> str:
    """One data-capture JSON line, its input in the given encoding."""
    if encoding == "JSON":
        data, content_type = json.dumps({"x1": features[0], "x2": features[1], "count": features[2], "color": features[3]}), "application/json"
    else:
        data, content_type = ",".join(map(str, features)), "text/csv"
        if encoding == "BASE64":
            data = base64.b64encode(data.encode()).decode()
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {"observedContentType": content_type, "mode": "INPUT", "data": data, "encoding": encoding},
                "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT", "data": str(label), "encoding": "CSV"},
            },
            "eventMetadata": {"eventId": f"event-{index}", "inferenceTime": (when + timedelta(seconds=index % 3000)).strftime("%Y-%m-%dT%H:%M:%SZ")},
            "eventVersion": "0",
        }
    )


def write_capture(root: Path, lines: list[str], endpoint: str = "ep", name: str = "capture.jsonl") -> Path:
    """Capture files under <root>/<endpoint>/AllTraffic/yyyy/mm/dd/hh/."""
    folder = root / endpoint / "AllTraffic" / HOUR.strftime("%Y/%m/%d/%H")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path
