"""The document store's conditional semantics (in-memory backend)."""

from __future__ import annotations

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
