"""XGBoost framework-mode container: ``python -m containers.xgboost_framework {train|serve}``.

Script mode as SageMaker's XGBoost image runs it when the job carries
``sagemaker_program``: the user's entry point, code from
``sagemaker_submit_directory``. Without it the same image URI is the
built-in algorithm (``containers.xgboost``).
"""

from __future__ import annotations

import sys

from containers.common.script_mode import run_user_script
from containers.common.trainer import run

USAGE = "usage: python -m containers.xgboost_framework {train|serve}"


def main(argv: list[str] | None = None) -> int:
    """Dispatch on the command SageMaker passes to the container."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["train"]:
        run(run_user_script)
    if args[:1] == ["serve"]:
        # Imported here so that training does not pay for the serving modules.
        from containers.xgboost_framework.serve import main as serve

        return serve()
    print(USAGE, file=sys.stderr, flush=True)
    return 2


if __name__ == "__main__":
    sys.exit(main())
