"""Hyperparameter tuning job shapes, as botocore's SageMaker service model names them."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, ClassVar

from pydantic import Field

from services.core.jobs import JobFields, JobRuntime, JobStatus
from services.core.models import ApiModel
from services.inputs.models import Channel
from services.training.models import AlgorithmSpecification, OutputDataConfig, ResourceConfig, StoppingCondition

# ``HyperParameterTuningJobStatus``: the values every job kind shares.
TuningJobStatus = JobStatus


class Strategy(str, Enum):
    """``HyperParameterTuningJobStrategyType``."""

    BAYESIAN = "Bayesian"
    RANDOM = "Random"
    HYPERBAND = "Hyperband"
    GRID = "Grid"


class Objective(ApiModel):
    """``HyperParameterTuningJobObjective``."""

    type: str  # Maximize | Minimize
    metric_name: str

    @property
    def maximize(self) -> bool:
        """True when larger values are better."""
        return self.type == "Maximize"


class ResourceLimits(ApiModel):
    """``ResourceLimits``."""

    max_number_of_training_jobs: int | None = None
    max_parallel_training_jobs: int
    max_runtime_in_seconds: int | None = None


class IntegerParameterRange(ApiModel):
    """``IntegerParameterRange``."""

    name: str
    min_value: str
    max_value: str
    scaling_type: str | None = None


class ContinuousParameterRange(ApiModel):
    """``ContinuousParameterRange``."""

    name: str
    min_value: str
    max_value: str
    scaling_type: str | None = None


class CategoricalParameterRange(ApiModel):
    """``CategoricalParameterRange``."""

    name: str
    values: list[str]


class ParameterRanges(ApiModel):
    """``ParameterRanges``."""

    integer_parameter_ranges: list[IntegerParameterRange] | None = None
    continuous_parameter_ranges: list[ContinuousParameterRange] | None = None
    categorical_parameter_ranges: list[CategoricalParameterRange] | None = None
    auto_parameters: list[dict[str, Any]] | None = None


class HyperbandStrategyConfig(ApiModel):
    """``HyperbandStrategyConfig``."""

    min_resource: int | None = None
    max_resource: int | None = None


class StrategyConfig(ApiModel):
    """``HyperParameterTuningJobStrategyConfig``."""

    hyperband_strategy_config: HyperbandStrategyConfig | None = None


class BestObjectiveNotImproving(ApiModel):
    """``BestObjectiveNotImproving``."""

    max_number_of_training_jobs_not_improving: int | None = None


class ConvergenceDetected(ApiModel):
    """``ConvergenceDetected``."""

    complete_on_convergence: str | None = None


class CompletionCriteria(ApiModel):
    """``TuningJobCompletionCriteria``."""

    target_objective_metric_value: float | None = None
    best_objective_not_improving: BestObjectiveNotImproving | None = None
    convergence_detected: ConvergenceDetected | None = None


class TuningJobConfig(ApiModel):
    """``HyperParameterTuningJobConfig``."""

    strategy: Strategy
    strategy_config: StrategyConfig | None = None
    hyper_parameter_tuning_job_objective: Objective | None = None
    resource_limits: ResourceLimits
    parameter_ranges: ParameterRanges | None = None
    training_job_early_stopping_type: str | None = None
    tuning_job_completion_criteria: CompletionCriteria | None = None
    random_seed: int | None = None


class TrainingJobDefinition(ApiModel):
    """``HyperParameterTrainingJobDefinition`` (fields not modelled round-trip as extras)."""

    definition_name: str | None = None
    tuning_objective: Objective | None = None
    hyper_parameter_ranges: ParameterRanges | None = None
    static_hyper_parameters: dict[str, str] | None = None
    algorithm_specification: AlgorithmSpecification
    role_arn: str
    input_data_config: list[Channel] | None = None
    output_data_config: OutputDataConfig
    resource_config: ResourceConfig | None = None
    stopping_condition: StoppingCondition
    environment: dict[str, str] | None = None


class ParentTuningJob(ApiModel):
    """``ParentHyperParameterTuningJob``."""

    hyper_parameter_tuning_job_name: str | None = None


class WarmStartConfig(ApiModel):
    """``HyperParameterTuningJobWarmStartConfig``."""

    parent_hyper_parameter_tuning_jobs: list[ParentTuningJob]
    warm_start_type: str  # IdenticalDataAndAlgorithm | TransferLearning


class CreateTuningJobRequest(ApiModel):
    """``CreateHyperParameterTuningJobRequest``."""

    hyper_parameter_tuning_job_name: str
    hyper_parameter_tuning_job_config: TuningJobConfig
    training_job_definition: TrainingJobDefinition | None = None
    training_job_definitions: list[TrainingJobDefinition] | None = None
    warm_start_config: WarmStartConfig | None = None
    tags: list[dict[str, str]] | None = None
    autotune: dict[str, Any] | None = None

    def definitions(self) -> list[TrainingJobDefinition]:
        """The training job definitions, one or many."""
        if self.training_job_definition is not None:
            return [self.training_job_definition]
        return list(self.training_job_definitions or [])


class TrialStatus(str, Enum):
    """Where one trial (one child training job) stands."""

    PENDING = "Pending"  # recorded, child not created yet
    IN_PROGRESS = "InProgress"
    STOPPING = "Stopping"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPED = "Stopped"

    @property
    def is_terminal(self) -> bool:
        """True once the child can no longer change."""
        return self in (TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.STOPPED)


class Trial(ApiModel):
    """One trial: Headwater's record of a child training job (never in Describe)."""

    index: int
    name: str
    definition_name: str | None = None
    hyper_parameters: dict[str, str]
    status: TrialStatus = TrialStatus.PENDING
    objective: float | None = None
    failure_reason: str | None = None
    error_kind: str | None = None  # RetryableError | NonRetryableError
    stopped_by: str | None = None  # EarlyStopping | Hyperband | Tuner
    attempt: int = 1
    retry_of: int | None = None
    bracket: int | None = None
    suggestion_note: str | None = None  # why the strategy did not suggest it as asked (a Bayesian fallback)
    curve: list[float | None] = Field(default_factory=list)  # objective by step
    rungs: dict[str, float] = Field(default_factory=dict)  # Hyperband: resource -> objective
    created: bool = False
    arn: str | None = None
    creation_time: datetime | None = None
    training_start_time: datetime | None = None
    training_end_time: datetime | None = None
    finished_order: int | None = None  # the order trials finished in (BestObjectiveNotImproving)
    tuning_job_name: str | None = None  # set on a warm start parent's trials

    @property
    def active(self) -> bool:
        """Created (or about to be) and not finished."""
        return not self.status.is_terminal


class TuningRuntime(JobRuntime):
    """Headwater's bookkeeping on a tuning job document (never in Describe): the claim's, plus the trials."""

    trials: list[Trial] = Field(default_factory=list)
    parent_trials: list[Trial] = Field(default_factory=list)  # warm start: the parents' scored trials
    finishing: str | None = None  # why no more trials are launched


class TuningJob(JobFields, CreateTuningJobRequest):
    """The tuning job document: what ``DescribeHyperParameterTuningJob`` returns, plus bookkeeping."""

    name_field: ClassVar[str] = "hyper_parameter_tuning_job_name"
    arn_field: ClassVar[str] = "hyper_parameter_tuning_job_arn"
    status_field: ClassVar[str] = "hyper_parameter_tuning_job_status"
    end_time_field: ClassVar[str] = "hyper_parameter_tuning_end_time"

    hyper_parameter_tuning_job_arn: str
    hyper_parameter_tuning_job_status: TuningJobStatus = TuningJobStatus.IN_PROGRESS
    creation_time: datetime
    hyper_parameter_tuning_end_time: datetime | None = None
    last_modified_time: datetime
    failure_reason: str | None = None
    tuning_job_completion_details: dict[str, Any] | None = None
    consumed_resources: dict[str, Any] | None = None
    headwater: TuningRuntime = Field(default_factory=TuningRuntime)

    def objective(self, definition_name: str | None = None) -> Objective:
        """The objective of a definition (its own, else the config's)."""
        for d in self.definitions():
            if d.definition_name == definition_name and d.tuning_objective is not None:
                return d.tuning_objective
        own = self.hyper_parameter_tuning_job_config.hyper_parameter_tuning_job_objective
        if own is not None:
            return own
        first = self.definitions()[0].tuning_objective
        assert first is not None  # creation checked that every definition has an objective
        return first
