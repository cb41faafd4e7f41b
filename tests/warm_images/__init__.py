"""Stand-in containers for the process runner's warm pool tests (run as ``python -m tests.warm_images.<x>``)."""
