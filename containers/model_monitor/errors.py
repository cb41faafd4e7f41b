"""Errors the analyzer raises on purpose.

``MonitorInputError`` is the user's fault (malformed dataset or capture
lines, a bad environment value); its message becomes the job's ExitMessage
verbatim, so it names the file and line to fix. Line-level problems are first
collected (``LineErrors``) so that one bad line never hides the others, and
the good records are still analysed and written before the job fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from containers.common.errors import CustomerError

# How many bad lines a failure message lists before summarising the rest.
_LISTED = 5


class MonitorInputError(CustomerError):
    """The analyzer's input (environment, dataset, capture, labels) is wrong."""


@dataclass(frozen=True)
class LineError:
    """One unusable line of an input file."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}, line {self.line}: {self.reason}"


@dataclass
class LineErrors:
    """The bad lines found while reading; reading goes on past each of them."""

    errors: list[LineError] = field(default_factory=list)

    def add(self, path: str, line: int, reason: str) -> None:
        """Record a bad line."""
        self.errors.append(LineError(path, line, reason))

    def __bool__(self) -> bool:
        return bool(self.errors)

    def __len__(self) -> int:
        return len(self.errors)

    def to_error(self, what: str) -> MonitorInputError:
        """One error naming the first bad lines and counting the rest."""
        shown = "; ".join(str(e) for e in self.errors[:_LISTED])
        more = len(self.errors) - _LISTED
        tail = f" (and {more} more)" if more > 0 else ""
        return MonitorInputError(f"{len(self.errors)} malformed {what} line(s): {shown}{tail}")
