"""Events and tasks that go astray on their way: one S3 event delivered 10 times, a bus that refuses PutEvents
for a while, a task queue that refuses a send. Each still ends in exactly one job, and every event arrives."""

from __future__ import annotations

from tests.faults.scenarios import duplicate_s3_event, refused_enqueue, refused_publish
from tests.support import NodeThread


def test_the_same_s3_event_delivered_10_times_starts_one_job(node: NodeThread) -> None:
    out = duplicate_s3_event(node, 0, copies=10)
    assert (out.once, out.duplicated, out.lost, out.stuck) == (1, 0, 0, 0), out.notes
    assert not out.notes, out.notes  # no delivery dead-lettered


def test_state_change_events_refused_by_the_bus_are_delivered_once_it_answers(node: NodeThread) -> None:
    out = refused_publish(node, 0, failures=2)
    assert out.items_in >= 2  # InProgress and Completed at least
    assert (out.duplicated, out.lost, out.stuck) == (0, 0, 0), out
    assert out.once == out.items_in


def test_a_task_the_queue_refused_during_create_is_still_run_once(node: NodeThread) -> None:
    out = refused_enqueue(node, 0)
    assert not out.notes, out.notes  # the fault was injected
    assert (out.once, out.duplicated, out.lost, out.stuck) == (1, 0, 0, 0), out.notes
