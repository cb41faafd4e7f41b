"""Turning (entity, IP address) pairs into the integers the network embeds.

Entities are opaque strings hashed (BLAKE2b, stable across processes and
machines) into ``num_entity_vectors`` buckets. IP addresses, IPv4 or IPv6,
become 16 bytes (IPv4 as the IPv4-mapped IPv6 address ``::ffff:a.b.c.d``),
from which the encoder reads the address's bits and its prefix structure:
one hashed bucket per byte-aligned prefix (``/8``, ``/16``, ... ``/128``),
so addresses in one network share most of their representation.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable

import numpy as np

IP_BYTES = 16
PREFIX_LEVELS = IP_BYTES  # one prefix per byte boundary
_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"
_MIX = np.uint64(0x9E3779B97F4A7C15)


def parse_ip(text: str) -> bytes | None:
    """The 16 bytes of an IPv4 or IPv6 address, or ``None`` when ``text`` is neither."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    return _V4_MAPPED + address.packed if address.version == 4 else address.packed


def ip_array(packed: Iterable[bytes]) -> np.ndarray:
    """(rows, 16) uint8 from 16-byte strings."""
    data = b"".join(packed)
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, IP_BYTES).copy()


def is_v4(ips: np.ndarray) -> np.ndarray:
    """Which rows are IPv4 (IPv4-mapped) addresses."""
    return (ips[:, :12] == np.frombuffer(_V4_MAPPED, np.uint8)).all(1)


def entity_buckets(entities: Iterable[str], num_entity_vectors: int) -> np.ndarray:
    """Each entity's embedding row (int64)."""
    cache: dict[str, int] = {}
    out = []
    for entity in entities:
        bucket = cache.get(entity)
        if bucket is None:
            digest = hashlib.blake2b(entity.encode("utf-8"), digest_size=8).digest()
            bucket = cache[entity] = int.from_bytes(digest, "little") % num_entity_vectors
        out.append(bucket)
    return np.asarray(out, dtype=np.int64)


def ip_bits(ips: np.ndarray) -> np.ndarray:
    """(rows, 128) float32 bits of the addresses, centred on 0 (-0.5 / 0.5)."""
    return np.unpackbits(ips, axis=1).astype(np.float32) - 0.5


def prefix_buckets(ips: np.ndarray, buckets: int) -> np.ndarray:
    """(rows, 16) int64: the hashed bucket of each byte-aligned prefix of each address."""
    h = np.zeros(len(ips), dtype=np.uint64)
    out = np.empty((len(ips), PREFIX_LEVELS), dtype=np.int64)
    with np.errstate(over="ignore"):  # the hash relies on uint64 wrap-around
        for level in range(PREFIX_LEVELS):
            h = (h ^ (ips[:, level].astype(np.uint64) + np.uint64(level + 1))) * _MIX
            mixed = h ^ (h >> np.uint64(29))
            out[:, level] = (mixed % np.uint64(buckets)).astype(np.int64)
    return out


def prefix_table_size(ips: np.ndarray) -> int:
    """Buckets for the prefixes seen in training: twice the distinct ones, a power of two in [1024, 2**20]."""
    hashed = prefix_buckets(ips, 2**62)  # near collision-free: counts distinct prefixes per level
    distinct = sum(len(np.unique(hashed[:, level])) for level in range(PREFIX_LEVELS))
    return int(min(2**20, max(1024, 1 << int(np.ceil(np.log2(2 * distinct))))))
