"""SageMaker Pipelines: pipelines and their versions, the definition language, and executions advanced by
the job state-change events the platform already publishes."""
