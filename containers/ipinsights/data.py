"""Reading IP Insights' training channels: headerless CSV of ``entity, ip address`` pairs.

Every file under the channel is read (gzip when the channel says so). A row
must have exactly two cells, a non-empty entity and an IPv4 or IPv6
address; anything else fails the job with a reason naming the channel's
file and line.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np

from containers.common.environment import Environment
from containers.common.errors import CustomerError
from containers.common.sources import channel_files, data_lines
from containers.ipinsights.encoding import ip_array, parse_ip

CSV = "text/csv"


@dataclass(frozen=True)
class Pairs:
    """A channel's entities and addresses (16 bytes each, IPv4 mapped)."""

    entities: list[str]
    ips: np.ndarray  # (rows, 16) uint8


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


def read_pairs(env: Environment, name: str) -> Pairs:
    """Channel ``name`` as (entity, address) pairs."""
    channel = env.require_channel(name)
    media = (channel.content_type or CSV).split(";")[0].strip().lower()
    if media != CSV:
        raise CustomerError(f"Channel '{name}' has content type '{channel.content_type}', which IP Insights does not "
                            f"support (supported: {CSV}).")
    # Pipe mode: channel_files finds <channel>_0, read once (IP Insights trains in memory).
    directory = env.channel_dir(name)
    entities: list[str] = []
    packed: list[bytes] = []
    for _, line in data_lines(name, directory, channel_files(name, directory), channel.reads_gzip):
        cells = next(csv.reader([line.text], skipinitialspace=True))
        where = f"Bad input in {line.where} at line {line.number}"
        if len(cells) != 2:
            raise CustomerError(f"{where}: expected 2 columns (entity, IP address) but found {len(cells)}.")
        entity, address = cells[0].strip(), cells[1].strip()
        if not entity:
            raise CustomerError(f"{where}: the entity (column 1) is empty.")
        ip = parse_ip(address)
        if ip is None:
            hint = " CSV input must not have a header row." if line.number == 1 else ""
            raise CustomerError(f"{where}: {_show(address)} (column 2) is not an IPv4 or IPv6 address.{hint}")
        entities.append(entity)
        packed.append(ip)
    print(f"Channel '{name}': {len(entities)} (entity, IP) pairs.", flush=True)
    return Pairs(entities, ip_array(packed))
