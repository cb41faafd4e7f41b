"""The embedded AWS emulator: a moto server on a loopback port, its state kept on disk.

moto keeps its state in memory only. Given a state folder, the emulator
restores what it held there before it serves, and snapshots it every second
while requests change it (:mod:`infra.emulator_state.persistence`), so
buckets, objects, queues with their messages, rules and log streams survive a
restart, and a SIGKILL loses at most the last second. Without one (``headwater
up --ephemeral``, most tests) it starts empty and forgets everything at stop.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from infra.emulator_iam import wrap_iam
from infra.emulator_state.gate import RequestGate, gated
from infra.emulator_state.persistence import EmulatorState

log = logging.getLogger(__name__)


class EmbeddedEmulator:
    """moto's server in a background thread of this process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 4566, state_dir: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.gate = RequestGate()
        self.state = EmulatorState(state_dir, self.gate) if state_dir is not None else None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Restore the saved state (if any), start serving; return the endpoint URL (the real port when 0 was asked)."""
        # moto keeps its backends per process, not per server: a second emulator in
        # the same process (tests, the demo) would inherit the first's state.
        moto_api_backend.reset()
        if self.state is not None:
            self.state.restore()
        app = gated(wrap_iam(DomainDispatcherApplication(create_backend_app)), self.gate)
        self._server = make_server(self.host, self.port, app, threaded=True, request_handler=MotoRequestHandler)
        self.host, self.port = str(self._server.server_address[0]), int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="emulator", daemon=True)
        self._thread.start()
        if self.state is not None:
            self.state.start()
        log.info("embedded AWS emulator (moto) on %s%s", self.endpoint,
                 f", state in {self.state.root}" if self.state is not None else " (ephemeral)")
        return self.endpoint

    @property
    def endpoint(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop serving, join the thread, and save the last changes."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        if self.state is not None:
            self.state.stop()
