"""A module whose import starts a Python thread (a fork would not carry it)."""

from __future__ import annotations

import threading

_idle = threading.Event()
threading.Thread(target=_idle.wait, name="started-at-import", daemon=True).start()
