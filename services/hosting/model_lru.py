"""Which target models one multi-model instance holds, least recently used first.

SageMaker unloads the least recently used models of an instance when memory
runs short; Headwater keeps at most ``limit`` loaded per instance (a node
setting) and evicts the same way. A model with a request in flight is never
chosen for eviction, so an answer is never cut short by an unload: the set
may exceed ``limit`` briefly when every loaded model is busy.

Pure bookkeeping with no I/O, so every decision is made without an
``await`` in between and concurrent requests see one consistent order.
"""

from __future__ import annotations

from collections import Counter, OrderedDict


class LoadedModels:
    """Target model -> the name the container knows it by, in least-recently-used order."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"The loaded-model limit must be at least 1, not {limit}")
        self.limit = limit
        self._names: OrderedDict[str, str] = OrderedDict()
        self._busy: Counter[str] = Counter()

    def __contains__(self, target: object) -> bool:
        return target in self._names

    def __len__(self) -> int:
        return len(self._names)

    def order(self) -> list[str]:
        """Loaded target models, least recently used first."""
        return list(self._names)

    def use(self, target: str) -> str | None:
        """The container's name for a loaded ``target``, marked used and busy; ``None`` if not loaded.

        Pair every non-``None`` answer with :meth:`release`.
        """
        name = self._names.get(target)
        if name is not None:
            self._names.move_to_end(target)
            self._busy[target] += 1
        return name

    def release(self, target: str) -> None:
        """A request that :meth:`use` counted is answered."""
        self._busy[target] -= 1
        if self._busy[target] <= 0:
            del self._busy[target]

    def add(self, target: str, name: str) -> None:
        """Record ``target`` as loaded under ``name``, most recently used."""
        self._names[target] = name
        self._names.move_to_end(target)

    def discard(self, target: str) -> str | None:
        """Forget ``target`` (unloaded); its container name, if it was loaded."""
        return self._names.pop(target, None)

    def make_room(self, extra: int = 1) -> list[tuple[str, str]]:
        """Evict idle models, least recently used first, until ``extra`` more fit under the limit.

        The evicted ``(target, name)`` pairs are forgotten here at once; the
        caller unloads them from the container.
        """
        excess = len(self._names) + extra - self.limit
        victims = [t for t in self._names if not self._busy[t]][:max(0, excess)]
        return [(t, self._names.pop(t)) for t in victims]

    def evict_one(self) -> tuple[str, str] | None:
        """The least recently used idle model, forgotten here; ``None`` if every model is busy.

        For a container that refused a load for lack of memory (HTTP 507).
        """
        victim = next((t for t in self._names if not self._busy[t]), None)
        return None if victim is None else (victim, self._names.pop(victim))
