"""A gate in front of moto's WSGI app, so a snapshot sees no request half-applied.

Requests pass the gate freely, many at once. A snapshot closes it: new
requests wait, and the snapshot waits for those inside to leave, up to a
bound; if they do not leave in time, the snapshot gives up this round and
the gate opens again, so a slow request delays a snapshot but never stops
the emulator serving. Two things would otherwise keep a request inside for
long: its body, which is read before the request enters, and an SQS long
poll, which leaves the gate while it waits for messages (the one place moto
waits inside a request).
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.sqs.models import Queue

from infra.sigv4 import signed_service

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class RequestGate:
    """Many requests inside at once, or one snapshot and no request."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._inside = 0
        self._closed = False
        self.writes = 0  # requests that may have changed state, ever
        # Buckets named by S3 requests that may have written since the last take; None: any bucket.
        self._touched: set[str] | None = set()

    def enter(self) -> None:
        """Wait while a snapshot holds the gate, then go in."""
        with self._cond:
            self._cond.wait_for(lambda: not self._closed)
            self._inside += 1

    def leave(self, wrote: bool = False, bucket: str | None = None) -> None:
        """Come out; ``wrote``: the request may have changed state; ``bucket``: the S3 bucket it named
        (``""``: an S3 request, or maybe one, whose bucket is not known)."""
        with self._cond:
            self._inside -= 1
            if wrote:
                self.writes += 1
                if bucket is not None and self._touched is not None:
                    if bucket:
                        self._touched.add(bucket)
                    else:
                        self._touched = None
            if self._inside == 0:
                self._cond.notify_all()

    def take_touched(self) -> set[str] | None:
        """The buckets written since the last take (``None``: any of them); call with the gate closed."""
        touched, self._touched = self._touched, set()
        return touched

    def touch_all(self) -> None:
        """A snapshot that took the touched buckets did not commit: the next one looks at every bucket."""
        with self._cond:
            self._touched = None

    @contextmanager
    def closed(self, timeout: float) -> Iterator[bool]:
        """Hold the gate with nobody inside; yields ``False`` when the requests inside did not leave in time."""
        with self._cond:
            self._closed = True
            emptied = self._cond.wait_for(lambda: self._inside == 0, timeout)
            if not emptied:
                self._closed = False
                self._cond.notify_all()
        if not emptied:
            yield False
            return
        try:
            yield True
        finally:
            with self._cond:
                self._closed = False
                self._cond.notify_all()


_INSIDE = threading.local()  # the gate this request thread is inside, if any


def _read_body(environ: dict[str, Any]) -> None:
    """Read the request body now, so a slow upload waits outside the gate."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        return
    environ["wsgi.input"] = io.BytesIO(body)


_PATH_STYLE_HOST = re.compile(r"^(localhost|\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]*\])(:\d+)?$")


def written_bucket(environ: dict[str, Any]) -> str | None:
    """The S3 bucket a request names: ``None`` when it is signed for another service, ``""`` when it is,
    or may be, an S3 request whose bucket cannot be read off its path (virtual-hosted, unsigned)."""
    service = signed_service(environ)
    if service is not None and service != "s3":
        return None
    if not _PATH_STYLE_HOST.match(environ.get("HTTP_HOST", "")):
        return ""
    return environ.get("PATH_INFO", "").lstrip("/").split("/", 1)[0]


def gated(app: WsgiApp, gate: RequestGate) -> WsgiApp:
    """``app`` behind ``gate``."""

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        _read_body(environ)
        gate.enter()
        _INSIDE.gate = gate
        try:
            return app(environ, start_response)
        finally:
            _INSIDE.gate = None
            wrote = environ.get("REQUEST_METHOD") not in _READS
            gate.leave(wrote, written_bucket(environ) if wrote else None)

    return serve


_wait_for_messages = Queue.wait_for_messages


def _wait_outside_gate(self: Queue, timeout: float) -> None:
    # A long poll waits here for up to 20 s: let snapshots through meanwhile.
    gate: RequestGate | None = getattr(_INSIDE, "gate", None)
    if gate is None:
        _wait_for_messages(self, timeout)
        return
    gate.leave()
    try:
        _wait_for_messages(self, timeout)
    finally:
        gate.enter()


Queue.wait_for_messages = _wait_outside_gate  # type: ignore[method-assign]
