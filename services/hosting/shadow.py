"""Comparing shadow variants with production: how often their answers agree.

Two answers agree when both succeeded and their bodies carry the same
numbers (within a relative tolerance, so float formatting does not count
as disagreement) or, for non-numeric bodies, the same bytes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from services.inference.instance import Answer

_NUMBER = re.compile(rb"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def agree(a: Answer, b: Answer, rel_tol: float = 1e-4) -> bool:
    """Whether two successful answers say the same thing."""
    if a.status >= 400 or b.status >= 400:
        return False
    na, nb = _NUMBER.findall(a.body), _NUMBER.findall(b.body)
    if na and len(na) == len(nb):
        return all(math.isclose(float(x), float(y), rel_tol=rel_tol, abs_tol=1e-9) for x, y in zip(na, nb))
    return a.body.strip() == b.body.strip()


@dataclass
class ShadowCounts:
    """Counters of one shadow variant of one endpoint."""

    requests: int = 0
    errors: int = 0
    agreed: int = 0
    skipped: int = 0  # requests not copied: too many copies were still in flight

    @property
    def agreement(self) -> float | None:
        """Share of answered requests that agreed with production (``None`` before any)."""
        answered = self.requests - self.errors
        return self.agreed / answered if answered else None


class ShadowStats:
    """Per (endpoint, shadow variant) agreement counters."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], ShadowCounts] = {}

    def record(self, endpoint: str, shadow: str, production: Answer, answer: Answer | None) -> None:
        """Count one shadowed request."""
        c = self.counts.setdefault((endpoint, shadow), ShadowCounts())
        c.requests += 1
        if answer is None or answer.status >= 400:
            c.errors += 1
        elif agree(production, answer):
            c.agreed += 1

    def skip(self, endpoint: str, shadow: str) -> None:
        """Count one request not copied to ``shadow``."""
        self.counts.setdefault((endpoint, shadow), ShadowCounts()).skipped += 1

    def report(self, endpoint: str) -> dict[str, dict[str, float | int | None]]:
        """``{shadow: {requests, errors, agreed, agreement, skipped}}`` for ``endpoint``."""
        return {s: {"requests": c.requests, "errors": c.errors, "agreed": c.agreed, "agreement": c.agreement,
                    "skipped": c.skipped}
                for (e, s), c in self.counts.items() if e == endpoint}
