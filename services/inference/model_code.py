"""An inference container's image and script-mode code, for endpoints and batch transform.

A model the SageMaker Python SDK creates for a script-mode estimator
carries ``SAGEMAKER_PROGRAM`` and ``SAGEMAKER_SUBMIT_DIRECTORY`` in its
``Environment``: an S3 ``sourcedir.tar.gz`` (scikit-learn, XGBoost), which
the platform unpacks into the container's ``code/`` as it does for training
(members that would escape are refused), or ``/opt/ml/model/code``
(PyTorch: the SDK repacked the code into ``model.tar.gz``), which the
container finds in its model. SageMaker's XGBoost image URI names the
built-in algorithm, or the framework container when the model names a
program.
"""

from __future__ import annotations

from pathlib import Path

from services.aws.s3 import S3Adapter
from services.inference.models import ContainerDefinition
from services.inputs.source_code import SUBMIT_DIRECTORY, fetch_source
from services.runners.images import ContainerImage, resolve_image

PROGRAM_ENV = "SAGEMAKER_PROGRAM"
SUBMIT_DIRECTORY_ENV = "SAGEMAKER_SUBMIT_DIRECTORY"
# Built-in algorithm container -> the framework container that runs a user's script on the same image URI.
_FRAMEWORK_OF = {"xgboost": "xgboost_framework"}


def runs_user_code(environment: dict[str, str] | None) -> bool:
    """Whether a container with this ``Environment`` imports the user's module (``SAGEMAKER_PROGRAM``)."""
    return bool((environment or {}).get(PROGRAM_ENV, "").strip())


def serving_image(container: ContainerDefinition) -> ContainerImage | None:
    """The container that serves ``container``; ``None`` when its image is unknown."""
    image = resolve_image(container.image or "")
    if image is not None and image.name in _FRAMEWORK_OF and runs_user_code(container.environment):
        return resolve_image(f"headwater/{_FRAMEWORK_OF[image.name]}") or image
    return image


async def fetch_model_code(s3: S3Adapter, container: ContainerDefinition, code_dir: Path) -> bool:
    """Unpack the model's S3 ``SAGEMAKER_SUBMIT_DIRECTORY`` into ``code_dir``; False when there is none.

    :raises JobFailed: the archive cannot be fetched, or a member would land outside ``code_dir``.
    """
    submit = ((container.environment or {}).get(SUBMIT_DIRECTORY_ENV) or "").strip()
    if not submit.startswith("s3://"):
        return False  # none, or a path inside the container (the repacked model's code/)
    return await fetch_source(s3, {SUBMIT_DIRECTORY: submit}, code_dir)
