"""Resolving a training image URI to one of Headwater's containers.

SageMaker users name images by their ECR URI (any region, that algorithm's
account); Headwater maps the repository name to its own container folder,
and also accepts short names (``headwater/xgboost``).

Under the process runner a framework image's container (PyTorch, scikit-learn,
XGBoost framework mode) runs on that image's own Python environment, the
libraries its Dockerfile installs (:func:`image_environment`), so that a
script imports what SageMaker's image holds and never the node's libraries.

An image Headwater has no container for (a user's own) may be given an
interpreter instead (the ``image_interpreters`` setting): under the process
runner, that Python environment stands in for the image, and a job on it runs
its own ``ContainerEntrypoint`` with that interpreter's ``python`` first on
``PATH``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CONTAINERS_DIR = Path(__file__).resolve().parents[2] / "containers"
# Each framework image's own Python environment, ``<dir>/<container>`` (``make`` builds them with
# containers/environments.sh from the image's requirements.txt).
ENVIRONMENTS_DIR = CONTAINERS_DIR.parent / ".images"
# Written last by a complete install: an environment without it is not used.
_ENVIRONMENT_STAMP = ".installed"

# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>[:tag|@digest]
_ECR = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/(?P<repo>[^:@]+)(?:[:@].*)?$")
_SHORT = re.compile(r"^headwater/(?P<name>[a-z0-9_-]+)(?::[\w.-]+)?$")


@dataclass(frozen=True)
class ContainerImage:
    """One of Headwater's containers."""

    name: str  # folder under containers/ ("" for an interpreter image)
    module: str  # python -m <module> train|serve ("" for an interpreter image: it runs a job's own entrypoint only)
    image: str  # tag the docker runner builds/uses; an interpreter image's URI
    python: str | None = None  # the interpreter standing in for an image Headwater has no container for

    @property
    def folder(self) -> Path:
        """The container's source folder (holds its Dockerfile)."""
        return CONTAINERS_DIR / self.name

    @property
    def label(self) -> str:
        """What a job's log calls it: the container module, or an interpreter image's URI."""
        return self.module or self.image


def _builtin(name: str) -> ContainerImage:
    return ContainerImage(name=name, module=f"containers.{name}", image=f"headwater/{name}:latest")


# The script-mode images: each has an environment of its own (containers/environments.sh builds these).
FRAMEWORK_IMAGES = frozenset({"pytorch", "sklearn", "xgboost_framework"})

# ECR repository name -> container folder.
_REPOSITORIES: dict[str, str] = {
    "sagemaker-xgboost": "xgboost",
    "xgboost": "xgboost",
    # Framework images (script mode): the SDK's SKLearn, PyTorch estimators and processors.
    "sagemaker-scikit-learn": "sklearn",
    "pytorch-training": "pytorch",
    # The SDK's PyTorchModel serves from the inference repository (the same container's `serve`).
    "pytorch-inference": "pytorch",
    # First-party built-in algorithms (382416733822.dkr.ecr.us-east-1.amazonaws.com/<name>:1 and other regions).
    "kmeans": "kmeans",
    "linear-learner": "linear_learner",
    "factorization-machines": "factorization_machines",
    "pca": "pca",
    "knn": "knn",
    "lda": "lda",
    "randomcutforest": "randomcutforest",
    "ipinsights": "ipinsights",
    # Model Monitor's pre-built analyzer (DefaultModelMonitor / ModelQualityMonitor).
    "sagemaker-model-monitor-analyzer": "model_monitor",
}


def untagged(uri: str) -> str:
    """``uri`` without its ``:tag`` or ``@digest`` (a registry's ``host:port`` stays)."""
    base = uri.partition("@")[0]
    head, slash, last = base.rpartition("/")
    return head + slash + last.partition(":")[0]


def resolve_image(uri: str, interpreters: Mapping[str, str] | None = None) -> ContainerImage | None:
    """The container for ``uri``, or ``None`` when Headwater has none.

    ``interpreters`` (the ``image_interpreters`` setting): for an image with no container, the interpreter
    named for its exact URI, or for its repository without a tag (any tag), makes it an interpreter image.
    """
    uri = uri.strip()
    if m := _ECR.match(uri):
        folder = _REPOSITORIES.get(m["repo"])
        if folder:
            return _builtin(folder)
    elif m := _SHORT.match(uri):
        name = m["name"]
        if (CONTAINERS_DIR / name / "__main__.py").exists():
            return _builtin(name)
    python = (interpreters or {}).get(uri) or (interpreters or {}).get(untagged(uri))
    return ContainerImage(name="", module="", image=uri, python=python) if python else None


def known_images() -> list[str]:
    """Short names of the containers that exist, for error messages."""
    return sorted(f"headwater/{p.name}" for p in CONTAINERS_DIR.iterdir() if (p / "__main__.py").exists())


def image_environment(image: ContainerImage) -> Path | None:
    """The interpreter of the own environment built for Headwater container ``image``, or ``None``.

    ``None`` for an interpreter image, and for a container with no complete environment (the built-in
    algorithms, which run on the node's; a checkout where ``make`` has not built it).
    """
    if not image.name:
        return None
    prefix = ENVIRONMENTS_DIR / image.name
    python = prefix / "bin" / "python"
    return python if (prefix / _ENVIRONMENT_STAMP).is_file() and os.access(python, os.X_OK) else None
