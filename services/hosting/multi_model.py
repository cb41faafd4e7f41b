"""Multi-model endpoints: load a ``TargetModel`` on the instance that serves it, evict the least recently used.

A model whose container has ``Mode: MultiModel`` names an S3 prefix as its
``ModelDataUrl``; its instances start the container with
``SAGEMAKER_MULTI_MODEL=true`` and nothing loaded. ``InvokeEndpoint`` with
``TargetModel="a.tar.gz"`` picks an instance as usual; if ``a.tar.gz`` is
not loaded there, the router downloads ``<prefix>/a.tar.gz``, extracts it
safely into the instance's ``models/<name>/model`` (SageMaker's
``/opt/ml/models/<name>/model``), and asks the container to load it
(``POST /models``), first unloading least-recently-used models
(``DELETE /models/<name>``) past the per-instance limit or when the
container answers 507. Then ``POST /models/<name>/invoke`` answers.
With ``MultiModelConfig.ModelCacheSetting: Enabled`` (the default) an
unloaded model stays extracted on disk and reloads without a download.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import uuid
import weakref
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from services.aws.s3 import S3Adapter, parse_s3_uri
from services.core.exceptions import JobFailed
from services.hosting.model_lru import LoadedModels
from services.hosting.target_model import H_TARGET_MODEL, cache_enabled, container_model_name
from services.inference.artifacts import extract_model
from services.inference.instance import Answer, Instance, InstanceUnavailable
from services.inference.models import ContainerDefinition
from services.runners.base import RunSpec

log = logging.getLogger(__name__)


class TargetModelNotFound(Exception):
    """The target model cannot be fetched (no such object, or not a safe archive): ``ValidationError``."""


class ModelLoadRefused(Exception):
    """The container would not load the target model; its answer becomes a ``ModelError``."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.body.decode("utf-8", errors="replace"))
        self.answer = answer


@dataclass
class _InstanceModels:
    """One instance's multi-model state."""

    lru: LoadedModels
    models_dir: Path  # host path of the container's /opt/ml/models
    container_dir: str  # the same directory as the container sees it
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    unloading: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    loading: int = 0


class MultiModelRouter:
    """Serves ``TargetModel`` requests on multi-model instances; counts loads, hits and evictions."""

    def __init__(self, s3: S3Adapter, *, limit: int) -> None:
        self.s3 = s3
        self.limit = limit
        self.stats: Counter[str] = Counter()
        self._states: weakref.WeakKeyDictionary[Instance, _InstanceModels] = weakref.WeakKeyDictionary()
        self._background: set[asyncio.Task[None]] = set()

    def loaded(self, instance: Instance) -> list[str]:
        """Target models loaded on ``instance``, least recently used first."""
        state = self._states.get(instance)
        return state.lru.order() if state else []

    async def invoke(self, session: aiohttp.ClientSession, instance: Instance, container: ContainerDefinition,
                     target: str, body: bytes, ctype: str, accept: str | None, custom: str | None,
                     timeout: float) -> Answer:
        """Answer one request with ``target``, loading it on ``instance`` first if needed."""
        state = self._state(instance)
        name = state.lru.use(target)
        if name is None:
            name = await self._load(session, instance, state, container, target, timeout)
        else:
            self.stats["hits"] += 1
        try:
            headers = {"Content-Type": ctype, H_TARGET_MODEL: target}
            if accept:
                headers["Accept"] = accept
            if custom:
                headers["X-Amzn-SageMaker-Custom-Attributes"] = custom
            return await _request(session, instance, "POST", f"/models/{name}/invoke", body, headers, timeout)
        finally:
            state.lru.release(target)
            # Every model was busy when one more had to load: back under the limit now that one is idle.
            for victim in state.lru.make_room(state.loading):
                done = _mark_unloading(state, victim[0])  # before any await: see _mark_unloading
                task = asyncio.create_task(self._unload(session, instance, state, container, *victim, timeout,
                                                        done))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    def _state(self, instance: Instance) -> _InstanceModels:
        state = self._states.get(instance)
        if state is None:
            spec = instance.specs[0]
            base = instance.runner.base_dir(RunSpec(name=instance.ident, image=spec.image, command=["serve"],
                                                    ml_root=spec.root))
            state = _InstanceModels(LoadedModels(self.limit), spec.root / "models", f"{base}/models")
            self._states[instance] = state
        return state

    async def _load(self, session: aiohttp.ClientSession, instance: Instance, state: _InstanceModels,
                    container: ContainerDefinition, target: str, timeout: float) -> str:
        """Load ``target`` (one load per target at a time); return its name, counted busy."""
        async with state.locks.setdefault(target, asyncio.Lock()):
            name = state.lru.use(target)
            if name is not None:  # loaded by the request this one waited behind
                return name
            if target in state.unloading:
                await asyncio.shield(state.unloading[target])
            state.loading += 1
            try:
                # Loads in progress count against the limit, so concurrent loads cannot overshoot it.
                victims = [(v, _mark_unloading(state, v[0])) for v in state.lru.make_room(state.loading)]
                for victim, done in victims:
                    await self._unload(session, instance, state, container, *victim, timeout, done)
                name = container_model_name(target)
                local = state.models_dir / name / "model"
                if not local.is_dir():
                    await self._fetch(container, target, local)
                try:
                    await self._container_load(session, instance, state, container, name, timeout)
                except ModelLoadRefused:  # a model that will not load is fetched afresh next time
                    await asyncio.to_thread(shutil.rmtree, state.models_dir / name, True)
                    raise
            finally:
                state.loading -= 1
            state.lru.add(target, name)
            state.lru.use(target)
            self.stats["loads"] += 1
            instance.note(f"Headwater: loaded model {target} ({len(state.lru)} of at most {state.lru.limit} "
                          f"loaded on this instance)")
            return name

    async def _fetch(self, container: ContainerDefinition, target: str, local: Path) -> None:
        """Download ``<prefix>/<target>`` and extract it into ``local`` (all or nothing)."""
        prefix = container.model_data_url or ""
        bucket, key = parse_s3_uri(prefix if prefix.endswith("/") else prefix + "/")
        key += target
        if await self.s3.head(bucket, key) is None:
            raise TargetModelNotFound(f"Failed to download model data(bucket: {bucket}, key: {key}). Please ensure "
                                      f"that there is an object located at the URL and that the role passed to "
                                      f"CreateModel has permissions to download the object.")
        staging = local.parent.with_name(f"{local.parent.name}.{uuid.uuid4().hex[:8]}.part")
        archive = staging / "model.tar.gz"
        try:
            await self.s3.download_file(bucket, key, archive)
            await asyncio.to_thread(extract_model, archive, staging / "model")
            archive.unlink()
            with contextlib.suppress(OSError):  # a concurrent fetch (cache off, reload) got there first
                staging.replace(local.parent)
        except JobFailed as err:
            raise TargetModelNotFound(f"Model data s3://{bucket}/{key} could not be used: {err}") from err
        finally:
            await asyncio.to_thread(shutil.rmtree, staging, True)

    async def _container_load(self, session: aiohttp.ClientSession, instance: Instance, state: _InstanceModels,
                              container: ContainerDefinition, name: str, timeout: float) -> None:
        """``POST /models``; on 507 (no room) unload the least recently used model and try again."""
        spec = json.dumps({"model_name": name, "url": f"{state.container_dir}/{name}/model"}).encode()
        while True:
            answer = await _request(session, instance, "POST", "/models", spec,
                                    {"Content-Type": "application/json"}, timeout)
            if answer.status < 400 or answer.status == 409:  # 409: the container holds it already
                return
            victim = state.lru.evict_one() if answer.status == 507 else None
            if victim is None:
                raise ModelLoadRefused(answer)
            await self._unload(session, instance, state, container, *victim, timeout)

    async def _unload(self, session: aiohttp.ClientSession, instance: Instance, state: _InstanceModels,
                      container: ContainerDefinition, target: str, name: str, timeout: float,
                      done: asyncio.Future[None] | None = None) -> None:
        """``DELETE /models/<name>``; a request for ``target`` meanwhile waits, then loads it again."""
        done = done if done is not None else _mark_unloading(state, target)
        try:
            try:
                await _request(session, instance, "DELETE", f"/models/{name}", b"", {}, timeout)
            except Exception as err:  # noqa: BLE001 - at worst the container keeps a model it no longer serves
                log.warning("could not unload model %s from instance %s: %s", target, instance.ident, err)
            self.stats["evictions"] += 1
            instance.note(f"Headwater: unloaded model {target} (least recently used; at most {state.lru.limit} "
                          f"loaded per instance)")
            if not cache_enabled(container):
                await asyncio.to_thread(shutil.rmtree, state.models_dir / name, True)
        finally:
            state.unloading.pop(target, None)
            done.set_result(None)


def _mark_unloading(state: _InstanceModels, target: str) -> asyncio.Future[None]:
    """Announce that ``target`` is being unloaded, in the same step that forgot it as loaded.

    A request for ``target`` arriving before the ``DELETE`` is sent would
    otherwise load it again (the container answers 409: still loaded) and then
    lose it to that ``DELETE``.
    """
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    state.unloading[target] = done
    return done


async def _request(session: aiohttp.ClientSession, instance: Instance, method: str, path: str, body: bytes,
                   headers: dict[str, str], timeout: float) -> Answer:
    """One request to the instance's container; :class:`InstanceUnavailable` if it cannot be reached."""
    try:
        async with session.request(method, f"http://127.0.0.1:{instance.ports[0]}{path}", data=body,
                                   headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            return Answer(resp.status, await resp.read(), resp.headers.get("Content-Type", "application/json"),
                          resp.headers.get("X-Amzn-SageMaker-Custom-Attributes"))
    except aiohttp.ClientConnectionError as err:
        instance.unreachable(str(err))
        raise InstanceUnavailable(f"instance {instance.ident}: {err}") from err
