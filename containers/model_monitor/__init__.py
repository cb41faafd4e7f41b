"""Headwater's Model Monitor analyzer: SageMaker's pre-built analyzer contract.

Runs as ``python -m containers.model_monitor`` in a processing container (or
as a plain process with ``SAGEMAKER_BASE_DIR`` pointing at a job directory).
Baselining writes ``statistics.json`` + ``constraints.json``; monitoring reads
an endpoint's captured data for a time window and writes the window's
``statistics.json`` and ``constraint_violations.json``.
"""
