"""Scikit-learn framework container: ``python -m containers.sklearn {train|serve}``.

Script mode as SageMaker's scikit-learn container runs it: the user's entry
point from ``sagemaker_program``, code from ``sagemaker_submit_directory``.
Processing jobs run their own ``ContainerEntrypoint`` in this image.
"""

from __future__ import annotations

import sys

from containers.common.script_mode import run_user_script
from containers.common.trainer import run

USAGE = "usage: python -m containers.sklearn {train|serve}"


def main(argv: list[str] | None = None) -> int:
    """Dispatch on the command SageMaker passes to the container."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["train"]:
        run(run_user_script)
    if args[:1] == ["serve"]:
        # Imported here so that training does not pay for the serving modules.
        from containers.sklearn.serve import main as serve

        return serve()
    print(USAGE, file=sys.stderr, flush=True)
    return 2


if __name__ == "__main__":
    sys.exit(main())
