"""The embedded AWS emulator: a moto server on a loopback port."""

from __future__ import annotations

import logging
import urllib.request

from moto.server import ThreadedMotoServer

log = logging.getLogger(__name__)


class EmbeddedEmulator:
    """moto's server in a background thread of this process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 4566) -> None:
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self.host = host
        self.port = port

    def start(self) -> str:
        """Start serving, empty; return the endpoint URL (the real port when 0 was asked)."""
        self._server.start()
        self.host, self.port = self._server.get_host_and_port()
        # moto keeps its backends per process, not per server: a second emulator
        # in the same process (tests, the demo) would inherit the first's state.
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=10)
        log.info("embedded AWS emulator (moto) on %s", self.endpoint)
        return self.endpoint

    @property
    def endpoint(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop serving and join the thread."""
        self._server.stop()
