"""The README's member tables keep up with botocore's SageMaker model.

Each served create (and update) operation has a table in the README saying
what Headwater does with every top-level member of its input. When a
botocore upgrade adds, renames or removes a member, the table must say what
happens to it; these tests name the members that went missing or stale.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.api.validation import load_service_model

README = Path(__file__).resolve().parents[2] / "README.md"

# The operations whose every input member the README accounts for.
DOCUMENTED = (
    "CreateTrainingJob", "CreateProcessingJob", "CreateTransformJob", "CreateHyperParameterTuningJob",
    "CreateModel", "CreateEndpointConfig", "CreateEndpoint", "UpdateEndpoint",
    "CreateModelPackageGroup", "CreateModelPackage", "UpdateModelPackage",
    "CreateMonitoringSchedule", "CreateDataQualityJobDefinition", "CreateModelQualityJobDefinition",
    "CreateArtifact", "CreateAction", "CreateContext", "UpdateArtifact", "UpdateAction", "UpdateContext",
)

_OPERATION = re.compile(r"\b((?:Create|Update)[A-Z]\w+)")


def member_tables(markdown: str) -> dict[str, set[str]]:
    """Operation -> the members its README table names.

    A table with a ``member`` column is a member table. Its operation is the
    row's ``operation`` cell (an empty cell continues the row above), or,
    without that column, the one operation its section heading names.
    """
    tables: dict[str, set[str]] = {}
    heading_operation: str | None = None
    columns: list[str] | None = None
    operation: str | None = None
    for line in markdown.splitlines():
        if line.startswith("#"):
            named = set(_OPERATION.findall(line))
            heading_operation = named.pop() if len(named) == 1 else None
            columns = None
            continue
        if not line.startswith("|"):
            columns = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if columns is None:
            columns, operation = cells, heading_operation
            continue
        if "member" not in columns or not line.strip("|-: "):
            continue  # another kind of table, or the header's rule
        if "operation" in columns:
            operation = cells[columns.index("operation")].strip("`") or operation
        assert operation, f"a member table row names no operation: {line}"
        tables.setdefault(operation, set()).update(re.findall(r"`(\w+)`", cells[columns.index("member")]))
    return tables


def test_member_tables_are_read_as_written() -> None:
    markdown = "\n".join([
        "#### What Headwater does with each CreateTrainingJob member", "",
        "| member | Headwater |", "|---|---|", "| `TrainingJobName`, `Tags` | implemented |", "",
        "| operation | member | Headwater |", "|---|---|---|",
        "| `CreateModel` | `ModelName` | implemented |", "| | `VpcConfig` | stored, no effect |",
        "| `CreateEndpoint` | `EndpointName` | implemented |", "",
        "| setting | default |", "|---|---|", "| `HEADWATER_X` | 1 |",
    ])
    assert member_tables(markdown) == {"CreateTrainingJob": {"TrainingJobName", "Tags"},
                                       "CreateModel": {"ModelName", "VpcConfig"},
                                       "CreateEndpoint": {"EndpointName"}}


@pytest.mark.parametrize("operation", DOCUMENTED)
def test_the_readme_says_what_happens_to_every_member_botocore_knows(operation: str) -> None:
    documented = member_tables(README.read_text(encoding="utf-8")).get(operation)
    assert documented is not None, f"README.md has no member table for {operation}"
    known = set(load_service_model("sagemaker").operation_model(operation).input_shape.members)
    assert not known - documented, f"{operation}: members botocore knows that the README's table leaves out"
    assert not documented - known, f"{operation}: members in the README's table that botocore does not know"
