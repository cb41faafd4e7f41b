"""``headwater deploy --watch``: redeploy when a function's ``CodeUri`` folder (or the template) changes.

Polls the files' modification times and sizes, at most once a second by default: portable, and a folder of
function code is small. A change that fails to deploy is reported and the watch goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from infra.sam.package import code_files

Snapshot = dict[str, tuple[int, int]]


def snapshot(paths: list[Path]) -> Snapshot:
    """``(mtime_ns, size)`` of every file under ``paths`` (folders walked, files as they are)."""
    out: Snapshot = {}
    for path in paths:
        files = code_files(path) if path.is_dir() else [path] if path.exists() else []
        for f in files:
            try:
                st = f.stat()
            except FileNotFoundError:  # removed while walking: the next poll sees it gone
                continue
            out[str(f)] = (st.st_mtime_ns, st.st_size)
    return out


async def watch(paths: Callable[[], list[Path]], redeploy: Callable[[], Awaitable[None]], stop: asyncio.Event,
                poll_seconds: float = 1.0, report: Callable[[str], None] = print,
                baseline: Snapshot | None = None) -> None:
    """Call ``redeploy`` each time a file under ``paths()`` changes, until ``stop`` is set. ``paths`` is asked
    again after each redeploy (a template edit may add a folder). ``baseline``: the files as the last deploy
    read them (taken before it, so an edit saved while it ran is not missed); by default, as they are now."""
    watched = paths()
    seen = snapshot(watched) if baseline is None else baseline
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), poll_seconds)
            break
        except TimeoutError:
            pass
        now = snapshot(watched)
        if now == seen:
            continue
        changed = sorted(k for k in set(now) | set(seen) if now.get(k) != seen.get(k))
        report(f"Changed: {', '.join(changed[:5])}{' ...' if len(changed) > 5 else ''}; redeploying")
        try:
            await redeploy()
        except Exception as err:  # noqa: BLE001 - a bad edit is reported; the next save is deployed again
            report(f"Deploy failed: {type(err).__name__}: {err}")
        # What was seen before the deploy is the baseline: an edit saved while it ran is deployed next.
        latest = paths()
        seen = now if latest == watched else snapshot(latest)
        watched = latest
