"""Metric definitions applied to log lines: bounded per line, off the event loop, checked at create.

A definition's regex runs on every line a training container writes, in the
node's process. A long line or a runaway user regex must cost a bounded
amount of time, never the node's event loop, and a regex that cannot compile
is the request's error, not a silently missing metric.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from services.training.metrics import MetricsCollector, definitions_for
from services.training.models import MetricDefinition

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
RUNAWAY = MetricDefinition(name="runaway", regex=r"(a|aa)+b")  # exponential on a line of a's and no b


def test_a_runaway_regex_is_cut_off_noted_and_turned_off() -> None:
    collector = MetricsCollector([RUNAWAY, MetricDefinition(name="loss", regex=r"loss=(\S+)")])
    line = "a" * 60 + " loss=0.5"
    assert [(o.name, o.value) for o in collector.feed(line, NOW)] == [("loss", 0.5)]
    assert len(collector.notes) == 1 and "runaway" in collector.notes[0] and r"(a|aa)+b" in collector.notes[0]
    assert [(o.name, o.value) for o in collector.feed("a" * 60 + " loss=0.25", NOW)] == [("loss", 0.25)]
    assert len(collector.notes) == 1  # said once; the definition is off for the rest of the job


def test_a_long_line_is_matched_as_sagemaker_would_match_it() -> None:
    collector = MetricsCollector(definitions_for("xgboost", None))
    noise = "x" * 32_000
    found = collector.feed(f"{noise}[12]#011train-rmse:0.25#011validation-rmse:0.5{noise}", NOW)
    assert {(o.name, o.value, o.step) for o in found} == {("train:rmse", 0.25, None),
                                                         ("validation:rmse", 0.5, None)}
    assert collector.notes == []


async def test_lines_are_matched_off_the_event_loop() -> None:
    collector = MetricsCollector([RUNAWAY])
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    started = ticks
    await collector.observe("a" * 60, NOW)  # runs until the per-line bound cuts the regex off
    ticker.cancel()
    assert ticks > started + 1  # the loop kept serving while the line was matched
    assert collector.notes
