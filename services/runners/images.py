"""Resolving a training image URI to one of Headwater's containers.

SageMaker users name images by their ECR URI (any region, that algorithm's
account); Headwater maps the repository name to its own container folder,
and also accepts short names (``headwater/xgboost``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CONTAINERS_DIR = Path(__file__).resolve().parents[2] / "containers"

# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>[:tag|@digest]
_ECR = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/(?P<repo>[^:@]+)(?:[:@].*)?$")
_SHORT = re.compile(r"^headwater/(?P<name>[a-z0-9_-]+)(?::[\w.-]+)?$")


@dataclass(frozen=True)
class ContainerImage:
    """One of Headwater's containers."""

    name: str  # folder under containers/
    module: str  # python -m <module> train|serve
    image: str  # tag the docker runner builds/uses

    @property
    def folder(self) -> Path:
        """The container's source folder (holds its Dockerfile)."""
        return CONTAINERS_DIR / self.name


def _builtin(name: str) -> ContainerImage:
    return ContainerImage(name=name, module=f"containers.{name}", image=f"headwater/{name}:latest")


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


def resolve_image(uri: str) -> ContainerImage | None:
    """The container for ``uri``, or ``None`` when Headwater has none."""
    uri = uri.strip()
    if m := _ECR.match(uri):
        folder = _REPOSITORIES.get(m["repo"])
        return _builtin(folder) if folder else None
    if m := _SHORT.match(uri):
        name = m["name"]
        return _builtin(name) if (CONTAINERS_DIR / name / "__main__.py").exists() else None
    return None


def known_images() -> list[str]:
    """Short names of the containers that exist, for error messages."""
    return sorted(f"headwater/{p.name}" for p in CONTAINERS_DIR.iterdir() if (p / "__main__.py").exists())
