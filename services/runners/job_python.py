"""A job's own Python environment, layered over the image's interpreter, for the process runner.

A container's own program (a ``ContainerEntrypoint``: the SageMaker Python SDK v3's drivers, a user's
script) may ``pip install`` what it needs, as it would into a container's throwaway file system. Under the
process runner the image's interpreter is the node's: installing into it would change the node. So such a
program gets a virtual environment of its own, one per host, made from the image's interpreter:

- its ``python`` / ``python3`` is the image's interpreter; a ``.pth`` file adds the image's site
  directories after the environment's own, so the image's libraries import as in the image;
- pip (``python -m pip``, and the ``pip`` / ``pip3`` it finds first on ``PATH``) sees those libraries
  installed, puts only what is missing (or another version) into the job's environment, and never
  uninstalls the image's (they are outside the environment);
- ``PYTHONPATH`` names the job's site directory, so interpreters the image's own scripts start (``torchrun``
  and its workers) see what the job installed too.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from services.core.exceptions import PlatformError

JOB_PYTHON_DIR = ".python"  # in the host's tree (its /opt/ml), so it goes with the tree
_PTH = "headwater-image.pth"
_PIP_SHIM = '#!/bin/sh\nexec "{python}" -m pip "$@"\n'
_SITE_DIRS = "import json, site; print(json.dumps(site.getsitepackages()))"


@dataclass(frozen=True)
class JobPython:
    """A job's environment: where it is, and what a container's process environment needs to use it."""

    prefix: Path
    site_packages: Path

    @property
    def bin(self) -> Path:
        """Its ``python``, ``python3``, ``pip`` and ``pip3``."""
        return self.prefix / "bin"

    def env(self, inherited: dict[str, str]) -> dict[str, str]:
        """``PATH``, ``PYTHONPATH`` and ``VIRTUAL_ENV`` with the job's environment first."""
        return {"PATH": os.pathsep.join(filter(None, [str(self.bin), inherited.get("PATH", "")])),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(self.site_packages), inherited.get("PYTHONPATH")])),
                "VIRTUAL_ENV": str(self.prefix)}


async def _run(*argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    text = out.decode("utf-8", errors="replace")
    if proc.returncode != 0:
        raise PlatformError(f"could not make the job's Python environment ({' '.join(argv[:3])}): {text.strip()}")
    return text


async def image_site_dirs(python: str) -> list[str]:
    """The site directories of the image's interpreter ``python``."""
    return [str(d) for d in json.loads(await _run(python, "-c", _SITE_DIRS)) if Path(d).is_dir()]


async def make_job_python(python: str, ml_root: Path, site_dirs: list[str]) -> JobPython:
    """A fresh environment at ``<ml_root>/.python`` over ``python`` (whose site directories are ``site_dirs``)."""
    prefix = ml_root / JOB_PYTHON_DIR
    if prefix.exists():  # a restarted attempt's host gets a clean one
        await asyncio.to_thread(shutil.rmtree, prefix)
    await _run(python, "-m", "venv", "--without-pip", str(prefix))
    [site_packages] = (prefix / "lib").glob("python*/site-packages")
    # addsitedir, not a bare path: the image's own .pth files (editable installs) are read too.
    (site_packages / _PTH).write_text("".join(f"import site; site.addsitedir({d!r})\n" for d in site_dirs))
    for name in ("pip", "pip3"):
        shim = prefix / "bin" / name
        shim.write_text(_PIP_SHIM.format(python=prefix / "bin" / "python"))
        shim.chmod(0o755)
    return JobPython(prefix, site_packages)
