"""Streaming gzip decompression for input read from S3 (Pipe channels, batch transform input).

Data arrives in chunks; :class:`Inflater` decompresses each as it comes and
follows concatenated members, as ``gunzip`` does, so nothing needs the whole
object at once. A zlib stream is accepted too (its header is detected).
"""

from __future__ import annotations

import zlib

_GZIP_ANY = 32 + zlib.MAX_WBITS  # gzip or zlib header, detected


class GzipError(Exception):
    """Compressed input that cannot be decompressed; ``truncated``: it ends inside a member."""

    def __init__(self, message: str, *, truncated: bool = False) -> None:
        super().__init__(message)
        self.truncated = truncated


class Inflater:
    """Decompresses a gzip stream fed in chunks."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(_GZIP_ANY)
        self._in_member = False

    def feed(self, data: bytes) -> bytes:
        """Decompress the next compressed bytes."""
        out = []
        try:
            while data:
                self._in_member = True
                out.append(self._d.decompress(data))
                if not self._d.eof:
                    break
                self._in_member = False
                data = self._d.unused_data
                self._d = zlib.decompressobj(_GZIP_ANY)
        except zlib.error as err:
            raise GzipError(str(err)) from None
        return b"".join(out)

    def finish(self) -> bytes:
        """The last bytes; a member cut short is an error."""
        if self._in_member:
            raise GzipError("ends inside its gzip data", truncated=True)
        return self._d.flush()
