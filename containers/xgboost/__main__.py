"""Container entrypoint: ``python -m containers.xgboost train``.

SageMaker starts a training container as ``docker run <image> train`` and a
hosting container as ``docker run <image> serve``; the first argument picks.
"""

from __future__ import annotations

import sys

from containers.common.entrypoint import dispatch, exit_now


def main(argv: list[str] | None = None) -> int:
    """Dispatch on the command SageMaker passes to the container."""
    # The image has no scikit-learn, and nothing here uses it; but under the
    # process runner the container shares the project's virtualenv, which has
    # it, and `import xgboost` would import it for its sklearn wrappers: 0.6 s
    # of every training and serving start. Block it, as the image would.
    sys.modules.setdefault("sklearn", None)  # type: ignore[assignment]
    return dispatch("containers.xgboost", argv)


if __name__ == "__main__":
    exit_now(main())
