"""Container entrypoint: ``python -m containers.xgboost train``.

SageMaker starts a training container as ``docker run <image> train`` and a
hosting container as ``docker run <image> serve``; the first argument picks.
"""

from __future__ import annotations

import sys

from containers.common.entrypoint import dispatch


def main(argv: list[str] | None = None) -> int:
    """Dispatch on the command SageMaker passes to the container."""
    return dispatch("containers.xgboost", argv)


if __name__ == "__main__":
    sys.exit(main())
