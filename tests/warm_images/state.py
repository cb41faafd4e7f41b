"""A module a warm template preloads, holding state a job may change (a fresh process sees it empty)."""

from __future__ import annotations

SEEN: list[str] = []
