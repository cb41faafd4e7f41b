"""Processing jobs: a container with S3 inputs and outputs, as SageMaker Processing runs it."""
