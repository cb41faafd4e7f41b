"""Building test images of Headwater's containers on the offline base image.

No registry can be reached, so ``FROM python:3.11-slim`` + ``pip install``
(the production Dockerfiles) cannot build here. The test image of an
algorithm is instead built in two layers on ``localhost/headwater-base``,
whose python3 is Debian's 3.11:

1. ``localhost/headwater-runtime-<algorithm>:<hash>``: the distributions the
   process runner runs the algorithm on, copied file by file (their
   ``RECORD``) into ``dist-packages``: every distribution of a framework
   image's own environment (``.images/<image>``, which ``make`` builds from
   its ``requirements.txt``), else the ones the algorithm's
   ``requirements.txt`` names from the project's own virtualenv. These are
   the cp311 wheels already installed for the process runner, so the
   container runs the very same numpy / xgboost / torch builds (a model
   trained under one runner loads under the other), and nothing is
   downloaded. The hash covers the names and versions, so the large layer is
   built once.
2. ``headwater/<algorithm>:latest``: that runtime plus ``containers/shared``, ``containers/common``
   and the algorithm's folder, rebuilt (seconds) whenever the code changes.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from containers.engine.service import BASE_IMAGE, REPO, EngineError, engine_env

CONTAINERS = REPO / "containers"
# The framework images' own environments, as containers/environments.sh builds them (a complete one has
# its stamp).
ENVIRONMENTS = REPO / ".images"
SITE = "/usr/local/lib/python3.11/dist-packages"
# Production pins name CPU-only builds; the virtualenv has the same code under these names.
_ALIASES = {"xgboost-cpu": "xgboost"}


def requirements(algorithm: str) -> list[str]:
    """Distribution names from ``containers/<algorithm>/requirements.txt``."""
    path = CONTAINERS / algorithm / "requirements.txt"
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name = re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0]
            name = _ALIASES.get(name.lower(), name)
            if name not in names:  # one pin per machine type (environment markers) names it again
                names.append(name)
    return names


def image_site(algorithm: str) -> Path | None:
    """The site directory of the algorithm's own environment, or ``None`` when it has no complete one."""
    prefix = ENVIRONMENTS / algorithm
    if not (prefix / ".installed").is_file():
        return None
    return next((prefix / "lib").glob("python3*/site-packages"), None)


def _venv_distribution(name: str) -> md.Distribution:
    try:
        return md.distribution(name)
    except md.PackageNotFoundError:
        raise EngineError(f"{name} is not installed in the project's virtualenv; a framework image's test image "
                          "is copied from its own environment (make images builds it)") from None


def _podman(*args: str, timeout: float = 900) -> str:
    proc = subprocess.run(["podman", *args], env=engine_env(), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise EngineError(f"podman {' '.join(args[:2])} failed: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def image_exists(tag: str) -> bool:
    """Whether the engine's storage holds ``tag``."""
    return subprocess.run(["podman", "image", "exists", tag], env=engine_env()).returncode == 0


def _stage_distribution(dist: md.Distribution, site: Path) -> None:
    for file in dist.files or []:
        if file.parts[0] in ("..", "bin") or "__pycache__" in file.parts:
            continue  # scripts and caches are not needed to import
        src = Path(dist.locate_file(file))
        if src.is_file():
            dest = site / file
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# torch and what it imports: staged once into a layer the torch-based images share (about 1 GB,
# minutes to copy), instead of once per algorithm.
_TORCH_LAYER = ("torch", "filelock", "typing-extensions", "setuptools", "sympy", "mpmath", "networkx", "jinja2",
                "markupsafe", "fsspec")


# Part of every layer's tag: a change to how layers are built must not reuse old ones.
_RECIPE = "site+bytecode-2"


def _layer(parent: str, dists: dict[str, md.Distribution]) -> str:
    """Build (once) ``parent`` plus the files of ``dists`` (by name); the tag covers parent and pins."""
    pins = [f"{n}=={dists[n].version}" for n in sorted(dists, key=_canonical)]
    digest = hashlib.sha256("\n".join([_RECIPE, parent, *pins]).encode()).hexdigest()[:12]
    tag = f"localhost/headwater-runtime:{digest}"
    if image_exists(tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="hw-runtime-") as tmp:
        context = Path(tmp)
        (context / "site").mkdir()
        for dist in dists.values():
            _stage_distribution(dist, context / "site")
        (context / "Containerfile").write_text(
            f"FROM {parent}\nCOPY site/ {SITE}/\n"
            # Bytecode, as pip would have compiled it: without it every container start
            # recompiles torch or scikit-learn from source (seconds per import). A few
            # distributions ship files no Python 3.11 compiles (never imported): not an error.
            f"RUN python3 -m compileall -q -j 0 {SITE} > /dev/null || true\n"
            f"LABEL org.headwater.pins=\"{' '.join(pins)}\"\n")
        _podman("build", "--quiet", "-t", tag, "-f", str(context / "Containerfile"), str(context))
    return tag


def runtime_image(algorithm: str) -> str:
    """Build (once) and return the tag of the algorithm's dependency layers.

    A framework image with its own environment gets all of it (pip itself aside) in one layer. Otherwise
    images with the same pins share one tag; torch-based ones share a torch layer below theirs.
    """
    site = image_site(algorithm)
    if site is not None:
        return _layer(BASE_IMAGE, {d.metadata["Name"]: d for d in md.distributions(path=[str(site)])
                                   if _canonical(d.metadata["Name"]) != "pip"})
    names = requirements(algorithm)
    parent = BASE_IMAGE
    if any(_canonical(n) == "torch" for n in names):
        parent = _layer(BASE_IMAGE, {n: _venv_distribution(n) for n in _TORCH_LAYER if _installed(n)})
        names = [n for n in names if _canonical(n) not in _TORCH_LAYER]
    return _layer(parent, {n: _venv_distribution(n) for n in names}) if names else parent


def _installed(name: str) -> bool:
    try:
        md.version(name)
    except md.PackageNotFoundError:
        return False
    return True


def algorithm_image(algorithm: str) -> str:
    """Build ``headwater/<algorithm>:latest`` from the current code; return the tag."""
    runtime = runtime_image(algorithm)
    tag = f"headwater/{algorithm}:latest"
    with tempfile.TemporaryDirectory(prefix="hw-image-") as tmp:
        context = Path(tmp)
        program = context / "containers"
        program.mkdir()
        shutil.copy2(CONTAINERS / "__init__.py", program / "__init__.py")
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for folder in ("shared", "common", algorithm):
            shutil.copytree(CONTAINERS / folder, program / folder, ignore=ignore)
        # The same layout, environment and entrypoint as the production Dockerfile.
        (context / "Containerfile").write_text(
            f"FROM {runtime}\n"
            "WORKDIR /opt/program\n"
            "COPY containers/ /opt/program/containers/\n"
            "ENV SAGEMAKER_BASE_DIR=/opt/ml PYTHONPATH=/opt/program PYTHONUNBUFFERED=1 "
            "PYTHONDONTWRITEBYTECODE=1\n"
            f'ENTRYPOINT ["python3", "-m", "containers.{algorithm}"]\n')
        _podman("build", "--quiet", "-t", tag, "-f", str(context / "Containerfile"), str(context))
    return tag
