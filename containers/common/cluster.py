"""How the hosts of a multi-host job reach each other.

On SageMaker every host resolves the others by name (``algo-1``...). Here
the hosts share one machine, so the platform assigns each host a loopback
address and port and exports them as ``HEADWATER_HOST_ADDRESSES`` (a JSON
object ``{"algo-1": "127.0.0.1:PORT", ...}``). Frameworks read the master's
address from here, as SageMaker's toolkits read ``algo-1`` from
``resourceconfig.json``.
"""

from __future__ import annotations

import json
import os

ADDRESSES_ENV = "HEADWATER_HOST_ADDRESSES"
# SageMaker's PyTorch toolkit listens on this port on the master host.
DEFAULT_MASTER_PORT = 7777


def host_addresses() -> dict[str, tuple[str, int]]:
    """``{host: (address, port)}`` as the platform assigned them; empty when it did not."""
    raw = os.environ.get(ADDRESSES_ENV)
    if not raw:
        return {}
    out: dict[str, tuple[str, int]] = {}
    for host, where in json.loads(raw).items():
        address, _, port = str(where).rpartition(":")
        out[host] = (address, int(port))
    return out


def master(hosts: list[str]) -> tuple[str, int]:
    """The master host's address and port (the lexically first host, as the toolkits choose)."""
    first = sorted(hosts)[0]
    return host_addresses().get(first, (first, DEFAULT_MASTER_PORT))
