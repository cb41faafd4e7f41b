"""A real OCI engine for the container test tier (podman's Docker-compatible API)."""
