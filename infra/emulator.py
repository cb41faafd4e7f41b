"""The embedded AWS emulator: a moto server on a loopback port."""

from __future__ import annotations

import logging

from moto.server import ThreadedMotoServer

log = logging.getLogger(__name__)


class EmbeddedEmulator:
    """moto's server in a background thread of this process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 4566) -> None:
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self.host = host
        self.port = port

    def start(self) -> str:
        """Start serving; return the endpoint URL (the real port when 0 was asked)."""
        self._server.start()
        self.host, self.port = self._server.get_host_and_port()
        log.info("embedded AWS emulator (moto) on %s", self.endpoint)
        return self.endpoint

    @property
    def endpoint(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop serving and join the thread."""
        self._server.stop()
