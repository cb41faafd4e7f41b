"""The process runner's warm pool: hosts forked from a template that has imported the image's modules.

Real processes: a template on this interpreter preloads numpy and a module with state, and each host runs
``tests.warm_images.host``, which reports what it sees of earlier hosts and then leaves traces behind.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.runners.base import RunningContainer, RunSpec
from services.runners.images import ContainerImage
from services.runners.process import ProcessRunner
from services.runners.warm_pool import ForkedContainer, TemplatePool

ROOT = Path(__file__).resolve().parents[2]
HOST = ContainerImage(name="warm_probe", module="tests.warm_images.host", image="headwater/warm_probe:latest")
OTHER = ContainerImage(name="warm_other", module="tests.warm_images.host", image="headwater/warm_other:latest")
THREADED = ContainerImage(name="warm_threads", module="tests.warm_images.host", image="headwater/warm_threads:1")
PRELOADS = {"warm_probe": ("numpy", "numpy.random", "tests.warm_images.state"), "warm_other": ("numpy", "tests.warm_images.state"),
            "warm_threads": ("numpy", "tests.warm_images.threaded")}


@pytest.fixture
async def pool() -> AsyncIterator[TemplatePool]:
    pool = TemplatePool(memory_mb=1024, idle_seconds=300, preloads=PRELOADS)
    yield pool
    await pool.close()


def _spec(tmp_path: Path, name: str, image: ContainerImage = HOST, **env: str) -> RunSpec:
    root = tmp_path / name
    root.mkdir()
    return RunSpec(name=name, image=image, command=[name], ml_root=root,
                   env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **env})


async def _run(runner: ProcessRunner, spec: RunSpec) -> tuple[RunningContainer, int, dict]:
    container = await runner.start(spec)
    lines = [line async for line in container.lines()]
    code = await container.wait()
    reports = [json.loads(line) for line in lines if line.startswith("{")]
    assert reports, lines
    return container, code, reports[0]


async def _ready(runner: ProcessRunner, pool: TemplatePool, spec: RunSpec) -> str | None:
    """Have the template for ``spec`` ready (or say why there is none)."""
    python, env = runner.python, {**runner.container_env(spec, str(spec.ml_root)), "PYTHONUNBUFFERED": "1"}
    from services.runners.process import inherited_env

    env = {**inherited_env(os.environ), **env}
    env["PATH"] = os.pathsep.join([os.path.dirname(python), env.get("PATH", "")])
    return await pool.prepare(pool.key(python, spec.image.name, spec.image.module, env))


async def test_a_forked_host_sees_nothing_of_the_host_before_it(tmp_path: Path, pool: TemplatePool,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODE_SECRET", "not for jobs")
    runner = ProcessRunner(pool=pool)
    fresh, code, cold = await _run(runner, _spec(tmp_path, "cold", ONLY_COLD="1"))
    assert code == 0 and not isinstance(fresh, ForkedContainer)  # the first host of an image starts fresh
    assert await _ready(runner, pool, _spec(tmp_path, "probe")) is None

    first, code, one = await _run(runner, _spec(tmp_path, "one", ONLY_ONE="1"))
    assert code == 0 and isinstance(first, ForkedContainer), first.ident
    second, code, two = await _run(runner, _spec(tmp_path, "two", EXIT_CODE="3"))
    assert isinstance(second, ForkedContainer) and second.template_pid == first.template_pid
    assert code == 3  # its own exit status, as a fresh process's

    for report, name in ((one, "one"), (two, "two")):
        assert report["seen"] == []  # the preloaded module's state is the template's clean one
        assert "LEFT_BEHIND" not in report["env"] and "NODE_SECRET" not in report["env"]
        assert report["cwd"] == str(tmp_path / name) and report["files"] == []
        assert report["path0"] == report["cwd"] and report["argv"][1:] == [name]
        assert report["argv"][0].endswith("host.py")
        # Exactly the host's environment: what a fresh process of the same spec gets.
        assert set(report["env"]) - {"ONLY_ONE", "EXIT_CODE"} == set(cold["env"]) - {"ONLY_COLD"}
        assert report["main"] == cold["main"]  # nothing of the template's program in __main__
    assert one["env"]["ONLY_ONE"] == "1" and "ONLY_ONE" not in two["env"]
    assert len({cold["pid"], one["pid"], two["pid"], first.template_pid}) == 4
    assert one["random"] != two["random"]  # unseeded generators do not repeat among forks
    assert pool.forks == 2


async def test_a_template_whose_process_died_is_replaced_not_used(tmp_path: Path, pool: TemplatePool) -> None:
    runner = ProcessRunner(pool=pool)
    assert await _ready(runner, pool, _spec(tmp_path, "probe")) is None
    [dead] = pool.templates.values()
    os.kill(dead.proc.pid, signal.SIGKILL)

    container, code, report = await _run(runner, _spec(tmp_path, "after"))
    assert code == 0 and report["name"] == "after"
    assert not (isinstance(container, ForkedContainer) and container.template_pid == dead.proc.pid)
    assert await _ready(runner, pool, _spec(tmp_path, "probe2")) is None
    [replacement] = pool.templates.values()
    assert replacement.proc.pid != dead.proc.pid
    container, code, _ = await _run(runner, _spec(tmp_path, "next"))
    assert code == 0 and isinstance(container, ForkedContainer) and container.template_pid == replacement.proc.pid


async def test_an_image_whose_imports_start_threads_runs_fresh(tmp_path: Path, pool: TemplatePool) -> None:
    runner = ProcessRunner(pool=pool)
    reason = await _ready(runner, pool, _spec(tmp_path, "probe", THREADED))
    assert reason is not None and "started-at-import" in reason
    assert not pool.templates
    container, code, report = await _run(runner, _spec(tmp_path, "fresh", THREADED))
    assert code == 0 and not isinstance(container, ForkedContainer) and report["name"] == "fresh"


async def test_the_memory_bound_is_honoured(tmp_path: Path, pool: TemplatePool) -> None:
    runner = ProcessRunner(pool=pool)
    assert await _ready(runner, pool, _spec(tmp_path, "a")) is None
    one = pool.resident_bytes()
    assert one > 0
    # Room for one template, not two: the second image's evicts the idle first one.
    pool.memory_bytes = one * 3 // 2
    assert await _ready(runner, pool, _spec(tmp_path, "b", OTHER)) is None
    assert [t.key[1:] for t in pool.templates.values()] and len(pool.templates) == 1
    assert pool.resident_bytes() <= pool.memory_bytes

    # A template that alone exceeds the bound is not kept, and its image's hosts start fresh.
    small = TemplatePool(memory_mb=1, preloads=PRELOADS)
    try:
        reason = await _ready(runner, small, _spec(tmp_path, "c"))
        assert reason is not None and "exceed" in reason and not small.templates
        container, code, _ = await _run(ProcessRunner(pool=small), _spec(tmp_path, "d"))
        assert code == 0 and not isinstance(container, ForkedContainer)
    finally:
        await small.close()


async def test_a_pool_of_no_memory_is_off(tmp_path: Path) -> None:
    off = TemplatePool(memory_mb=0, preloads=PRELOADS)
    runner = ProcessRunner(pool=off)
    for name in ("x", "y"):
        container, code, _ = await _run(runner, _spec(tmp_path, name))
        assert code == 0 and not isinstance(container, ForkedContainer)
    assert not off.templates and off.forks == 0
