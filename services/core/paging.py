"""Opaque ``NextToken`` values and one page of a sorted list: by offset, or after a sort position."""

from __future__ import annotations

import base64
import bisect
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

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


def encode_after(position: Sequence[Any]) -> str:
    """A ``NextToken`` for the page after the item at sort position ``position`` (keyset paging)."""
    return base64.urlsafe_b64encode(("after:" + json.dumps(list(position))).encode()).decode()


def decode_after(token: str) -> list[Any]:
    """The sort position in a keyset ``NextToken``; ``ValidationException`` for anything else."""
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        position = json.loads(value) if kind == "after" else None
        if not isinstance(position, list) or not position:
            raise ValueError(token)
        return position
    except (ValueError, UnicodeDecodeError) as err:
        raise ValidationException(f"Invalid NextToken: {token!r}") from err


def page_after(items: Sequence[T], position: Callable[[T], Sequence[Any]], descending: bool, max_results: int,
               next_token: str | None) -> tuple[list[T], str | None]:
    """One page of ``items`` in the order of ``position`` (a total order: it must end with a unique
    name), starting after the position the token names.

    The token names a place in the order, not an offset, so items created (or removed) while a client
    pages never make a page skip or repeat an item that was there when paging began.
    """
    keyed = [(list(position(item)), item) for item in items]
    if next_token:
        after = decode_after(next_token)
        try:
            keyed = [(k, i) for k, i in keyed if (k < after if descending else k > after)]
        except TypeError as err:  # a token of another sort order
            raise ValidationException(f"Invalid NextToken: {next_token!r}") from err
    keyed.sort(key=lambda pair: pair[0], reverse=descending)
    chunk = keyed[:max_results]
    more = len(keyed) > max_results
    return [i for _, i in chunk], (encode_after(chunk[-1][0]) if more else None)


def page_ordered(ordered: Sequence[tuple[tuple[Any, ...], T]], keep: Callable[[T], bool], descending: bool,
                 max_results: int, next_token: str | None) -> tuple[list[T], str | None]:
    """:func:`page_after` over items already sorted (ascending) by their positions: finds the token's
    place by bisection and reads on only until the page is full, so a page costs about its own size
    (plus the items ``keep`` passes over), not the whole list's."""
    if next_token:
        after = tuple(decode_after(next_token))
        try:
            at = (bisect.bisect_left(ordered, after, key=lambda p: p[0]) if descending
                  else bisect.bisect_right(ordered, after, key=lambda p: p[0]))
        except TypeError as err:  # a token of another sort order
            raise ValidationException(f"Invalid NextToken: {next_token!r}") from err
    else:
        at = len(ordered) if descending else 0
    walk = range(at - 1, -1, -1) if descending else range(at, len(ordered))
    chosen: list[tuple[tuple[Any, ...], T]] = []
    for i in walk:
        if keep(ordered[i][1]):
            if len(chosen) == max_results:
                return [item for _, item in chosen], encode_after(chosen[-1][0])
            chosen.append(ordered[i])
    return [item for _, item in chosen], None
