"""The document store's conditional semantics (in-memory backend)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from services.core.exceptions import ResourceInUse, ResourceNotFound
from services.core.store import DocumentStore, MemoryBackend


class Doc(BaseModel):
    name: str
    count: int = 0


@pytest.fixture
def store() -> DocumentStore[Doc]:
    return DocumentStore(MemoryBackend(), "docs", Doc, "Doc")


async def test_create_is_once_per_name(store: DocumentStore[Doc]) -> None:
    await store.create("a", Doc(name="a"))
    with pytest.raises(ResourceInUse, match="Doc a already exists"):
        await store.create("a", Doc(name="a", count=5))
    assert (await store.require("a")).count == 0


async def test_missing_document(store: DocumentStore[Doc]) -> None:
    assert await store.get("nope") is None
    with pytest.raises(ResourceNotFound, match="Doc nope does not exist"):
        await store.require("nope")
    with pytest.raises(ResourceNotFound):
        await store.update("nope", lambda d: d)


async def test_update_retries_on_a_concurrent_write(store: DocumentStore[Doc]) -> None:
    await store.create("a", Doc(name="a"))
    backend = store.backend
    calls = 0

    async def racing(doc: Doc) -> Doc:
        nonlocal calls
        calls += 1
        if calls == 1:  # another writer slips in between our read and our write
            text, version = await backend.read("docs/a.json")
            await backend.replace("docs/a.json", {**text, "count": 100}, version)
        doc.count += 1
        return doc

    before, after = await store.update("a", racing)
    assert calls == 2
    assert (before.count, after.count) == (100, 101)
    assert (await store.require("a")).count == 101


async def test_update_returning_none_writes_nothing(store: DocumentStore[Doc]) -> None:
    await store.create("a", Doc(name="a"))
    version = store.backend.docs["docs/a.json"][1]
    before, after = await store.update("a", lambda d: None)
    assert before is after
    assert store.backend.docs["docs/a.json"][1] == version


async def test_list_returns_every_document(store: DocumentStore[Doc]) -> None:
    for n in ("b", "a", "c"):
        await store.create(n, Doc(name=n))
    assert sorted(d.name for d in await store.list()) == ["a", "b", "c"]



class CountingBackend(MemoryBackend):
    """The in-memory backend, counting the document reads a listing costs."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def read(self, key: str) -> tuple[Any, str] | None:
        self.reads += 1
        return await super().read(key)


async def test_listing_again_reads_only_the_documents_that_changed() -> None:
    backend = CountingBackend()
    store: DocumentStore[Doc] = DocumentStore(backend, "docs", Doc, "Doc")
    for n in ("a", "b", "c"):
        await backend.create(f"docs/{n}.json", {"name": n})  # written by another process
    assert sorted(d.name for d in await store.list()) == ["a", "b", "c"]
    assert backend.reads == 3  # the first listing reads each document once

    backend.reads = 0
    assert sorted(d.name for d in await store.list()) == ["a", "b", "c"]
    assert backend.reads == 0  # nothing changed: the versions listed are the ones held

    text, version = await backend.read("docs/c.json")
    await backend.replace("docs/c.json", {**text, "count": 3}, version)  # another writer changes c
    await store.update("b", lambda d: Doc(name="b", count=7))  # this store changes b: it knows the new version
    await store.create("d", Doc(name="d"))
    await store.delete("a")
    backend.reads = 0
    assert {d.name: d.count for d in await store.list()} == {"b": 7, "c": 3, "d": 0}
    assert backend.reads == 1  # c alone: a is gone, b and d were written here


class Nested(BaseModel):
    name: str
    meta: dict[str, Any] = {}


async def test_a_listed_document_is_the_callers_own_copy() -> None:
    store: DocumentStore[Nested] = DocumentStore(MemoryBackend(), "docs", Nested, "Doc")
    await store.create("a", Nested(name="a", meta={"inner": {"n": 1}}))
    first = (await store.list())[0]
    first.meta["inner"]["n"] = 99  # editing what was listed changes nothing held for the next listing
    assert (await store.list())[0].meta == {"inner": {"n": 1}}
