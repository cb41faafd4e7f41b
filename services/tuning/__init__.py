"""Automatic model tuning: SageMaker's hyperparameter tuning jobs.

``ranges`` maps ``ParameterRanges`` (with their ``ScalingType``) to a unit
cube the strategies search in; ``strategies`` suggests trials (Random,
Bayesian with Optuna's samplers, Hyperband, Grid); ``early_stopping`` and
``hyperband`` decide which running trials to stop from their intermediate
objective values; ``service`` is the API's domain logic and
``orchestrator`` runs a tuning job on a worker's orchestration slot,
launching ordinary training jobs as its trials.
"""
