"""Opaque ``NextToken`` values and one page of a sorted list."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TypeVar

from services.core.exceptions import ValidationException

T = TypeVar("T")


def encode_token(offset: int) -> str:
    """A ``NextToken`` for the page starting at ``offset``."""
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_token(token: str) -> int:
    """The offset in a ``NextToken``; ``ValidationException`` for anything else."""
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        offset = int(value)
        if kind != "offset" or offset < 0:
            raise ValueError(token)
        return offset
    except (ValueError, UnicodeDecodeError) as err:
        raise ValidationException(f"Invalid NextToken: {token!r}") from err


def page(items: Sequence[T], max_results: int, next_token: str | None) -> tuple[list[T], str | None]:
    """One page of ``items`` and the token of the next one (``None`` at the end)."""
    start = decode_token(next_token) if next_token else 0
    chunk = list(items[start:start + max_results])
    more = start + max_results < len(items)
    return chunk, (encode_token(start + max_results) if more else None)
