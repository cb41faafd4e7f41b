"""Container entrypoint: ``python -m containers.factorization_machines train|serve``."""

from __future__ import annotations

from containers.common.entrypoint import dispatch, exit_now


def main(argv: list[str] | None = None) -> int:
    """Dispatch on the command SageMaker passes to the container."""
    return dispatch("containers.factorization_machines", argv)


if __name__ == "__main__":
    exit_now(main())
