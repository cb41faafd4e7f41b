"""Retraining policies (what a user declares) and runs (what the chain records).

A policy binds an endpoint to the model package group its versions come
from and says how a candidate is judged: the holdout set, the objective,
the approval rule and the guard rails. The policy document also carries
the chain's lock (``active_run``) and the end of the last run, so the
debounce and the cool-down are decided in one conditional write.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import Field

from services.core.models import ApiModel

#: Objectives and whether a larger value is better.
OBJECTIVES: dict[str, bool] = {"accuracy": True, "auc": True, "f1": True, "rmse": False, "mae": False}


class ApprovalMode(str, Enum):
    """How a registered candidate is approved."""

    AUTO = "Auto"  # approve when the objective improves by at least MinImprovement
    MANUAL = "Manual"  # always leave PendingManualApproval for a human


class RetrainingPolicy(ApiModel):
    """``headwater retraining put``: the chain's configuration for one endpoint."""

    endpoint_name: str
    model_package_group_name: str
    # label-first CSV, no header: both the candidate and the serving model are scored on it
    holdout_s3_uri: str
    problem_type: Literal["BinaryClassification", "Regression"] = "BinaryClassification"
    objective: Literal["accuracy", "auc", "f1", "rmse", "mae"] = "accuracy"
    approval: ApprovalMode = ApprovalMode.AUTO
    min_improvement: float = Field(default=0.0, ge=0.0)
    probability_threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    # ground truth as SageMaker's model-quality monitor reads it (groundTruthData + eventMetadata.eventId)
    ground_truth_s3_uri: str | None = None
    # the schedule whose baseline is recomputed from the new training data after a deploy
    monitoring_schedule_name: str | None = None
    cooldown_seconds: int = Field(default=900, ge=0)
    # a run whose Training, Evaluating or Deploying step makes no progress for this long fails and frees the
    # endpoint: the chain advances on events, and a lost one, or a job that never ends, must not hold it for ever
    step_timeout_seconds: int = Field(default=6 * 3600, ge=1)
    # what the new version trains on: the serving version's training data plus the labelled captures
    # (default), or the labelled captures alone (a sliding window, when the old world is gone)
    training_data: Literal["ServingPlusCaptured", "CapturedOnly"] = "ServingPlusCaptured"
    # a run with fewer labelled captured records fails instead of training
    min_labelled_records: int = Field(default=0, ge=0)
    # chain state, written by the handlers only
    active_run: str | None = Field(default=None, alias="HeadwaterActiveRun")
    last_run_end: datetime | None = Field(default=None, alias="HeadwaterLastRunEnd")
    serving_package_arn: str | None = Field(default=None, alias="HeadwaterServingPackageArn")
    serving_since: datetime | None = Field(default=None, alias="HeadwaterServingSince")

    def describe(self) -> dict[str, Any]:
        """The policy as ``headwater retraining show`` prints it."""
        return self.to_json_doc()


class RunStatus(str, Enum):
    """Where a retraining run is."""

    TRAINING = "Training"
    EVALUATING = "Evaluating"
    PENDING_APPROVAL = "PendingApproval"  # registered, not approved: the endpoint keeps its model
    DEPLOYING = "Deploying"
    COMPLETED = "Completed"
    FAILED = "Failed"

    @property
    def holds_lock(self) -> bool:
        """Whether a run in this status suppresses new ones (debounce)."""
        return self in (RunStatus.TRAINING, RunStatus.EVALUATING, RunStatus.DEPLOYING)


class RetrainingRun(ApiModel):
    """One pass of the chain for one endpoint, named after what triggered it."""

    run_name: str
    endpoint_name: str
    model_package_group_name: str
    status: RunStatus = RunStatus.TRAINING
    trigger: dict[str, Any] = Field(default_factory=dict)
    creation_time: datetime
    last_modified_time: datetime
    step_started_at: datetime | None = None  # when the run entered its status (its creation, for the first)
    serving_package_arn: str | None = None
    serving_model_name: str | None = None
    training_job_name: str | None = None
    training_data_uri: str | None = None
    captured_records: int = 0
    labelled_records: int = 0
    candidate_model_name: str | None = None
    evaluation: dict[str, Any] = Field(default_factory=dict)  # {"candidate": {...}, "serving": {...}}
    model_package_arn: str | None = None
    approval_description: str | None = None
    endpoint_config_name: str | None = None
    baseline_job_name: str | None = None
    baseline_done: bool = False
    deploy_done: bool = False
    failure_reason: str | None = None

    def overdue(self, timeout_seconds: int, now: datetime) -> bool:
        """Whether the run holds its endpoint's lock in a step older than ``timeout_seconds``."""
        since = self.step_started_at or self.creation_time
        return self.status.holds_lock and (now - since).total_seconds() > timeout_seconds

    def describe(self) -> dict[str, Any]:
        """The run as its events and the CLI show it."""
        return self.to_api()
