"""Lineage shapes: artifacts, actions, contexts, the associations between them, and graph vertices.

Artifacts, actions and contexts are stored as their Describe responses; an
association is stored with the types and names of its two ends, as
``ListAssociations`` returns them. A :class:`Vertex` is what ``QueryLineage``
knows of any entity an association may name (trial components and
experiments included), and what its filters test.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import Field

from services.core.models import ApiModel

#: ``arn:aws:sagemaker:<region>:<account>:<kind>/<name>``, for every kind an association may name.
ENTITY_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]*:\d{12}:"
                        r"(?P<kind>experiment|experiment-trial|experiment-trial-component|artifact|action|context)"
                        r"/(?P<name>.+)$")
#: Experiment entities: SageMaker refuses an association between two of them.
EXPERIMENT_KINDS = frozenset({"experiment", "experiment-trial", "experiment-trial-component"})


class LineageType(str, Enum):
    """``LineageType`` of a ``QueryLineage`` vertex."""

    TRIAL_COMPONENT = "TrialComponent"
    ARTIFACT = "Artifact"
    CONTEXT = "Context"
    ACTION = "Action"


#: The lineage type of each ARN kind (an experiment or trial groups entities, as a context does).
LINEAGE_TYPE_OF_KIND = {"artifact": LineageType.ARTIFACT, "action": LineageType.ACTION,
                        "context": LineageType.CONTEXT, "experiment": LineageType.CONTEXT,
                        "experiment-trial": LineageType.CONTEXT,
                        "experiment-trial-component": LineageType.TRIAL_COMPONENT}


def arn_kind(arn: str) -> tuple[str, str] | None:
    """``(kind, name)`` of a lineage entity ARN, or ``None`` when it names none."""
    m = ENTITY_ARN.match(arn)
    return (m["kind"], m["name"]) if m else None


def canonical_arn(arn: str) -> str:
    """The ARN as SageMaker spells it: the entity's name lower-cased (names are unique without regard to case),
    so that one entity has one ARN, whichever case a caller wrote."""
    m = ENTITY_ARN.match(arn)
    return f"{arn[:m.start('name')]}{m['name'].lower()}" if m else arn


def digest(text: str) -> str:
    """A short, stable, key-safe digest of ``text`` (an ARN or a URI)."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class LineageEntity(ApiModel):
    """What artifacts, actions and contexts share."""

    properties: dict[str, str] | None = None
    creation_time: datetime
    created_by: dict[str, Any] = Field(default_factory=dict)
    last_modified_time: datetime
    last_modified_by: dict[str, Any] = Field(default_factory=dict)
    tags: list[dict[str, str]] | None = None
    # Headwater's bookkeeping: whether SageMaker (Headwater) created it; those escape the creation limits.
    auto_created: bool = Field(default=False, alias="HeadwaterAutoCreated")

    def describe(self) -> dict[str, Any]:
        """The Describe response."""
        doc = self.to_api()
        for key in ("Tags", "HeadwaterAutoCreated"):
            doc.pop(key, None)
        return doc

    @property
    def arn(self) -> str:
        """The entity's ARN."""
        raise NotImplementedError

    @property
    def entity_type(self) -> str | None:
        """``ArtifactType`` / ``ActionType`` / ``ContextType``."""
        raise NotImplementedError

    @property
    def entity_name(self) -> str | None:
        """``ArtifactName`` / ``ActionName`` / ``ContextName``."""
        raise NotImplementedError

    @property
    def source_uri(self) -> str:
        """``Source.SourceUri``."""
        return str((getattr(self, "source", None) or {}).get("SourceUri", ""))


class ArtifactDoc(LineageEntity):
    """An artifact document (``DescribeArtifact``): named by an id in its ARN, its name optional."""

    artifact_name: str | None = None
    artifact_arn: str
    source: dict[str, Any]
    artifact_type: str
    metadata_properties: dict[str, str] | None = None

    @property
    def arn(self) -> str:
        return self.artifact_arn

    @property
    def entity_type(self) -> str | None:
        return self.artifact_type

    @property
    def entity_name(self) -> str | None:
        return self.artifact_name

    def summary(self) -> dict[str, Any]:
        """An ``ArtifactSummary``."""
        keys = ("ArtifactArn", "ArtifactName", "Source", "ArtifactType", "CreationTime", "LastModifiedTime")
        return {k: v for k, v in self.describe().items() if k in keys}


class ActionDoc(LineageEntity):
    """An action document (``DescribeAction``)."""

    action_name: str
    action_arn: str
    source: dict[str, Any]
    action_type: str
    description: str | None = None
    status: str | None = None
    metadata_properties: dict[str, str] | None = None

    @property
    def arn(self) -> str:
        return self.action_arn

    @property
    def entity_type(self) -> str | None:
        return self.action_type

    @property
    def entity_name(self) -> str | None:
        return self.action_name

    def summary(self) -> dict[str, Any]:
        """An ``ActionSummary``."""
        keys = ("ActionArn", "ActionName", "Source", "ActionType", "Status", "CreationTime", "LastModifiedTime")
        return {k: v for k, v in self.describe().items() if k in keys}


class ContextDoc(LineageEntity):
    """A context document (``DescribeContext``)."""

    context_name: str
    context_arn: str
    source: dict[str, Any]
    context_type: str
    description: str | None = None

    @property
    def arn(self) -> str:
        return self.context_arn

    @property
    def entity_type(self) -> str | None:
        return self.context_type

    @property
    def entity_name(self) -> str | None:
        return self.context_name

    def summary(self) -> dict[str, Any]:
        """A ``ContextSummary``."""
        keys = ("ContextArn", "ContextName", "Source", "ContextType", "CreationTime", "LastModifiedTime")
        return {k: v for k, v in self.describe().items() if k in keys}


class JobComponent(ApiModel):
    """The trial component SageMaker creates for a job (``<job>-aws-training-job``), as lineage knows it:
    its ARN, its type (``TrainingJob``...), the job's ARN and when it was recorded."""

    trial_component_name: str
    trial_component_arn: str
    component_type: str
    source_arn: str
    creation_time: datetime
    last_modified_time: datetime


class Association(ApiModel):
    """An association document: an ``AssociationSummary``."""

    source_arn: str
    destination_arn: str
    association_type: str | None = None
    source_type: str | None = None
    destination_type: str | None = None
    source_name: str | None = None
    destination_name: str | None = None
    creation_time: datetime
    created_by: dict[str, Any] = Field(default_factory=dict)

    def edge(self) -> dict[str, Any]:
        """The ``Edge`` of a ``QueryLineage`` response."""
        return {k: v for k, v in {"SourceArn": self.source_arn, "DestinationArn": self.destination_arn,
                                  "AssociationType": self.association_type}.items() if v is not None}


class SourceRef(ApiModel):
    """An index entry: the store name of an entity with a given ``SourceUri``."""

    key: str


@dataclass(frozen=True)
class Vertex:
    """An entity as ``QueryLineage`` returns and filters it."""

    arn: str
    lineage_type: LineageType
    type: str | None = None
    creation_time: datetime | None = None
    last_modified_time: datetime | None = None
    properties: dict[str, str] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        """The ``Vertex`` of a ``QueryLineage`` response."""
        out: dict[str, Any] = {"Arn": self.arn, "LineageType": self.lineage_type.value}
        if self.type:
            out["Type"] = self.type[:40]  # botocore's String40
        return out
