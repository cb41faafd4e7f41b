"""Multi-model endpoints' rules: which models are multi-model, and what a ``TargetModel`` must be.

A container with ``Mode: MultiModel`` names an S3 prefix as its
``ModelDataUrl`` and is the model's only container. A request to such a
variant must name a ``TargetModel`` (the object's key below the prefix);
a request to any other variant must not. Errors are worded as SageMaker's.
"""

from __future__ import annotations

import hashlib
import uuid

from services.core.exceptions import ValidationException
from services.hosting.models import Model
from services.inference.models import ContainerDefinition

MULTI_MODEL_ENV = "SAGEMAKER_MULTI_MODEL"
H_TARGET_MODEL = "X-Amzn-SageMaker-Target-Model"
MAX_TARGET_MODEL = 1024  # TargetModelHeader's maximum length in the sagemaker-runtime model


def multi_model_container(model: Model) -> ContainerDefinition | None:
    """The container of a multi-model ``model``; ``None`` for a single-model one."""
    pipeline = model.pipeline()
    return pipeline[0] if len(pipeline) == 1 and pipeline[0].mode == "MultiModel" else None


def validate_modes(model: Model) -> None:
    """``CreateModel``'s checks of ``Mode`` and ``MultiModelConfig``; :class:`ValidationException` says why."""
    pipeline = model.pipeline()
    for n, c in enumerate(pipeline):
        where = "primaryContainer" if model.primary_container else f"containers.{n + 1}"
        if c.mode not in (None, "SingleModel", "MultiModel"):
            raise ValidationException(f"1 validation error detected: Value '{c.mode}' at '{where}.mode' failed to "
                                      "satisfy constraint: Member must satisfy enum value set: [SingleModel, "
                                      "MultiModel]")
        setting = ((c.model_extra or {}).get("MultiModelConfig") or {}).get("ModelCacheSetting")
        if setting not in (None, "Enabled", "Disabled"):
            raise ValidationException(f"1 validation error detected: Value '{setting}' at '{where}.multiModelConfig."
                                      "modelCacheSetting' failed to satisfy constraint: Member must satisfy enum "
                                      "value set: [Enabled, Disabled]")
        if c.mode == "MultiModel":
            if len(pipeline) > 1:
                raise ValidationException("MultiModel mode is not supported for a model with more than one "
                                          "container (an inference pipeline).")
            if not (c.model_data_url or "").startswith("s3://"):
                raise ValidationException("A container in MultiModel mode needs ModelDataUrl: the S3 prefix its "
                                          "models are loaded from (s3://bucket/prefix/).")


def check_target_model(endpoint: str, model: Model, target: str | None) -> tuple[str, str | None] | None:
    """Why a request's ``TargetModel`` does not suit the variant's model, as SageMaker words it
    (message, ``ErrorCode`` or ``None``); ``None`` when it does."""
    if multi_model_container(model) is None:
        if target:
            return (f"Endpoint {endpoint} is not a multi-model endpoint and does not support target model header.",
                    "TARGET_MODEL_HEADER_NOT_SUPPORTED")
        return None
    if not target:
        return f"Request {uuid.uuid4()} is missing a target model header.", None
    if len(target) > MAX_TARGET_MODEL or target[0].isspace() or not target.isprintable():
        return ("1 validation error detected: Value at 'targetModel' failed to satisfy constraint: Member must "
                f"have length less than or equal to {MAX_TARGET_MODEL} and satisfy regular expression pattern: "
                "\\A\\S[\\p{Print}]*\\z", None)
    return None


def cache_enabled(container: ContainerDefinition) -> bool:
    """``MultiModelConfig.ModelCacheSetting`` (``Enabled`` unless it says ``Disabled``)."""
    config = (container.model_extra or {}).get("MultiModelConfig") or {}
    return config.get("ModelCacheSetting", "Enabled") != "Disabled"


def container_model_name(target: str) -> str:
    """The opaque name the container knows ``target`` by (safe in a URL path and a file name)."""
    return hashlib.sha256(target.encode()).hexdigest()[:32]
