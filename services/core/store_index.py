"""A collection's index: a small summary of every document, kept beside the documents.

Why this structure: a ``List*`` call, a lookup by name on a miss and a search by an attribute
(the training job behind a model artifact) need a few fields of every document, not the
documents. Reading every document (or walking a listing of every key, 1,000 keys a page)
costs in proportion to the history; the index costs the same whatever the history:

* ``_index/<collection>/<shard>.json``: a fixed number of shard documents (names hashed over
  them), each a map ``name -> {"s": summary, "p": {token: epoch seconds}}``. A summary is a
  few scalars the store's owner chooses (name, times, status...).
* A reader lists the index's keys (one ``ListObjectsV2`` page: the shards and a marker) and
  reads only the shards whose ETag changed since it last saw them, then filters and sorts the
  summaries in memory and reads only the documents of the page it answers.
* Every shard write is a conditional write (``If-None-Match`` / ``If-Match``) retried on
  conflict, so writers on any number of nodes sharing one state bucket never lose an entry.
  A writer first tries against the shard as it last wrote or read it, so while it is the
  shard's only writer an edit is one write, no read.
* A write that changes a summary marks the entry *pending* first (a token of its own), then
  writes the document, then settles the entry (the new summary, its token dropped). A reader
  never trusts a pending entry: it reads the document. So a writer that dies between the two
  writes leaves an entry that readers verify; once its token is older than ``grace`` seconds a
  reader repairs the entry from the document (or removes it when there is none), and the index
  converges. Writes that change no summary (heartbeats, claims) do not touch the index.
* ``_index/<collection>/built.json`` marks an index built. A collection written before it had an
  index (a state bucket from an earlier version) is indexed once, by the first reader, from a
  walk of its documents; entries already there are kept, so concurrent writers lose nothing.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from services.core.exceptions import PlatformError, PreconditionFailed

Summary = dict[str, Any]
Entries = dict[str, dict[str, Any]]

_SHARDS = 16
_GRACE_SECONDS = 60.0
_MAX_CONFLICT_RETRIES = 50


class StoreIndex:
    """The index of one collection of a :class:`services.core.store.StoreBackend`.

    ``read_summary(name)`` gives the summary of the document as stored now (``None`` when it
    does not exist): the index calls it to verify pending entries and to build itself.
    """

    def __init__(self, backend: Any, collection: str, read_summary: Callable[[str], Awaitable[Summary | None]],
                 *, shards: int = _SHARDS, grace: float = _GRACE_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self.collection = collection
        self.read_summary = read_summary
        self.shards = shards
        self.grace = grace
        self.clock = clock
        self.root = f"_index/{collection}/"
        self._held: dict[str, tuple[str, Entries]] = {}  # shard key -> (version tag, entries)
        self._built = False
        self.generation = 0  # moves whenever the entries held change; None-free summaries cache on it
        self._cached: tuple[int, dict[str, Summary]] | None = None
        self.stable = False  # whether the last summaries() had no pending entry (so its order may be kept)

    def shard_key(self, name: str) -> str:
        """The key of the shard that holds ``name``'s entry (a stable hash: every node agrees)."""
        return f"{self.root}{zlib.crc32(name.encode()) % self.shards:02d}.json"

    # --- writing ---------------------------------------------------------------------

    async def _edit(self, name: str, edit: Callable[[dict[str, Any] | None], dict[str, Any] | None]) -> None:
        """Read-modify-write ``name``'s entry in its shard with a conditional write, retried on conflict.
        ``edit`` gets the entry (or ``None``) and returns the new one (``None`` removes it)."""
        key = self.shard_key(name)
        for attempt in range(_MAX_CONFLICT_RETRIES):
            held = self._held.get(key) if attempt == 0 else None
            # The shard as this index last wrote or read it: the conditional write below fails if anyone
            # changed it since, and then the shard is read. A sole writer edits a shard in one call.
            found = (({"entries": held[1]}, held[0]) if held is not None else await self.backend.read(key))
            entries: Entries = dict(found[0].get("entries", {})) if found else {}
            new = edit(entries.get(name))
            if new is None:
                if name not in entries:
                    if held is not None:
                        continue  # perhaps only absent from the held version: decide on the stored one
                    return
                entries.pop(name)
            else:
                entries[name] = new
            try:
                if found is None:
                    version = await self.backend.create(key, {"entries": entries})
                else:
                    version = await self.backend.replace(key, {"entries": entries}, found[1])
            except PreconditionFailed:
                if held is None:
                    await asyncio.sleep(0.005 * (attempt + 1))  # another writer of this shard won; read it again
                continue
            self._held[key] = (version, entries)
            self.generation += 1
            return
        raise PlatformError(f"index of {self.collection}: too many concurrent writes to {key}")

    async def begin(self, name: str) -> str:
        """Mark ``name``'s entry pending before its document is written; returns the writer's token."""
        token = uuid.uuid4().hex
        now = self.clock()

        def mark(entry: dict[str, Any] | None) -> dict[str, Any]:
            entry = dict(entry or {"s": None})
            entry["p"] = {**entry.get("p", {}), token: now}
            return entry

        await self._edit(name, mark)
        return token

    async def settle(self, name: str, token: str, summary: Summary | None) -> None:
        """The document is written: record its ``summary`` (``None``: it does not exist) and drop ``token``."""

        def done(entry: dict[str, Any] | None) -> dict[str, Any] | None:
            pending = {t: at for t, at in (entry or {}).get("p", {}).items() if t != token}
            if summary is None and not pending:
                return None
            return {"s": summary, "p": pending} if pending else {"s": summary}

        await self._edit(name, done)

    # --- reading ---------------------------------------------------------------------

    async def _refresh(self) -> Entries:
        """Every entry, from the shards held at the versions listed (reading only those that changed)."""
        listed = dict(await self.backend.listing(self.root))
        marker = f"{self.root}built.json"
        if marker not in listed and not self._built:
            await self._build()
            listed = dict(await self.backend.listing(self.root))
        self._built = True
        shards = [k for k in listed if k != marker]
        stale = [k for k in shards if listed[k] is None or self._held.get(k, ("",))[0] != listed[k]]
        for key, found in zip(stale, await asyncio.gather(*(self.backend.read(k) for k in stale)), strict=True):
            self.generation += 1
            if found is None:
                self._held.pop(key, None)
            else:
                self._held[key] = (found[1], dict(found[0].get("entries", {})))
        for key in [k for k in self._held if k not in listed]:
            self.generation += 1
            del self._held[key]
        merged: Entries = {}
        for _, entries in self._held.values():
            merged.update(entries)
        return merged

    async def summaries(self) -> dict[str, Summary]:
        """The summary of every document, by name: settled entries as written, pending ones verified
        against their documents (and repaired when every writer that marked them is presumed dead)."""
        before = self.generation
        entries = await self._refresh()
        if self._cached is not None and self._cached[0] == self.generation == before:
            self.stable = True
            return self._cached[1]  # nothing changed and nothing pending: the same summaries
        pending = [n for n, e in entries.items() if e.get("p")]
        verified = await asyncio.gather(*(self.read_summary(n) for n in pending))
        out = {n: e["s"] for n, e in entries.items() if not e.get("p") and e.get("s") is not None}
        cutoff = self.clock() - self.grace
        repairs = []
        for name, summary in zip(pending, verified, strict=True):
            if summary is not None:
                out[name] = summary
            if all(at < cutoff for at in entries[name]["p"].values()):
                repairs.append(self._repair(name, summary, cutoff))
        await asyncio.gather(*repairs)
        self.stable = not pending
        self._cached = (self.generation, out) if not pending else None
        return out

    async def _repair(self, name: str, summary: Summary | None, cutoff: float) -> None:
        """Settle an entry whose writers all died: the document's summary, their tokens dropped."""

        def fix(entry: dict[str, Any] | None) -> dict[str, Any] | None:
            live = {t: at for t, at in (entry or {}).get("p", {}).items() if at >= cutoff}
            if live:  # a writer came since: it settles the entry itself
                return entry
            return None if summary is None else {"s": summary}

        await self._edit(name, fix)

    def forget(self) -> None:
        """Drop what this reader holds (the next read lists and reads every shard again)."""
        self._held.clear()
        self._built = False
        self._cached = None

    async def _build(self) -> None:
        """Index the documents written before the collection had an index (once per collection)."""
        prefix = f"{self.collection}/"
        names = [k[len(prefix):-len(".json")] for k in await self.backend.keys(prefix) if k.endswith(".json")]
        found = await asyncio.gather(*(self.read_summary(n) for n in names))
        by_shard: dict[str, dict[str, Summary]] = {}
        for name, summary in zip(names, found, strict=True):
            if summary is not None:
                by_shard.setdefault(self.shard_key(name), {})[name] = summary
        await asyncio.gather(*(self.add_missing(entries) for entries in by_shard.values()))
        try:
            await self.backend.create(f"{self.root}built.json", {"built": True})
        except PreconditionFailed:
            pass  # another reader built it too

    async def add_missing(self, summaries: dict[str, Summary]) -> None:
        """Add settled entries for ``summaries`` (all of one shard) that the shard does not hold yet;
        entries already there (written by the documents' writers) win."""
        if not summaries:
            return
        key = self.shard_key(next(iter(summaries)))
        for attempt in range(_MAX_CONFLICT_RETRIES):
            found = await self.backend.read(key)
            entries: Entries = dict(found[0].get("entries", {})) if found else {}
            for name, summary in summaries.items():
                entries.setdefault(name, {"s": summary})
            try:
                if found is None:
                    await self.backend.create(key, {"entries": entries})
                else:
                    await self.backend.replace(key, {"entries": entries}, found[1])
                return
            except PreconditionFailed:
                await asyncio.sleep(0.005 * (attempt + 1))
        raise PlatformError(f"index of {self.collection}: too many concurrent writes to {key}")
