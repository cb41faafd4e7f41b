"""A model package's model card (``ModelPackageModelCard``): the checks SageMaker makes of it.

The content is a JSON document in the model card schema, simplified for a
package: no ``model_package_details`` (the package is the details), and a
``model_overview`` of ``model_creator`` and ``model_artifact`` only. An
``Archived`` card's content is frozen.
"""

from __future__ import annotations

import json
from typing import Any

from services.core.exceptions import ValidationException

# The model card schema's sections, less model_package_details (SageMaker's model package model card schema).
SECTIONS = ("model_overview", "intended_uses", "business_details", "training_details", "evaluation_details",
            "additional_information")
OVERVIEW = ("model_creator", "model_artifact")
ARCHIVED = "Archived"


def check_content(content: str) -> None:
    """Raise ``ValidationException`` naming what in ``content`` the package card schema does not allow."""
    try:
        document = json.loads(content)
    except ValueError as err:
        raise ValidationException(f"Invalid ModelCardContent: not valid JSON ({err})") from err
    if not isinstance(document, dict):
        raise ValidationException("Invalid ModelCardContent: the content must be a JSON object")
    unknown = sorted(set(document) - set(SECTIONS))
    if unknown:
        raise ValidationException(f"Invalid ModelCardContent: {', '.join(unknown)} not allowed by the model package "
                                  f"model card schema (sections: {', '.join(SECTIONS)})")
    overview = document.get("model_overview")
    if overview is not None and (not isinstance(overview, dict) or set(overview) - set(OVERVIEW)):
        extra = sorted(set(overview) - set(OVERVIEW)) if isinstance(overview, dict) else ["a non-object value"]
        raise ValidationException(f"Invalid ModelCardContent: model_overview of a model package holds only "
                                  f"{' and '.join(OVERVIEW)}, not {', '.join(extra)}")


def merged_card(current: dict[str, Any] | None, update: dict[str, Any]) -> dict[str, Any]:
    """``current`` with ``update``'s members, after checking them; an archived card's content is frozen."""
    if "ModelCardContent" in update:
        if current and current.get("ModelCardStatus") == ARCHIVED:
            raise ValidationException("Model Card is in Archived state")
        check_content(update["ModelCardContent"])
    return {**(current or {}), **update}
