"""A job that prints a 1 MB line and lines on which its metric regex backtracks for ever: the job finishes
(completed, or failed with a reason) and the control plane answers every call meanwhile. The latency ratio is
the benchmark's to report; nothing here is timed."""

from __future__ import annotations

from tests.faults.scenarios import noisy_job
from tests.support import NodeThread


def test_a_noisy_job_finishes_and_the_api_answers_meanwhile(node: NodeThread) -> None:
    out, _ = noisy_job(node, 0, baseline_s=1.0)
    assert (out.once, out.lost, out.stuck) == (1, 0, 0), out.notes
    assert not any("errors" in n for n in out.notes), out.notes
