"""Ctrl-C once asks for a stop; Ctrl-C twice exits at once."""

from __future__ import annotations

import asyncio

import pytest

from infra.cli.signals import EXIT_ON_SECOND_SIGNAL, stop_on_signals


def test_the_first_signal_asks_for_a_stop_and_the_second_exits_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    exits: list[int] = []

    async def main() -> tuple[bool, bool]:
        stop = asyncio.Event()
        on_signal = stop_on_signals(stop, "headwater up", exit_now=exits.append)
        on_signal()
        first = stop.is_set() and not exits
        on_signal()
        return first, bool(exits)

    first, second = asyncio.run(main())
    assert first and second and exits == [EXIT_ON_SECOND_SIGNAL]
    err = capsys.readouterr().err
    assert "handed back" in err and "stopping now" in err
