"""The ``train`` / ``serve`` dispatch every built-in algorithm's ``__main__`` does.

SageMaker starts a training container as ``docker run <image> train`` and a
hosting container as ``docker run <image> serve``; the first argument picks.
The algorithm's ``train`` and ``serve`` modules are imported only for their
command, so serving and usage errors do not pay for the training libraries.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import NoReturn

from containers.common.trainer import run


def dispatch(package: str, argv: list[str] | None = None) -> int:
    """Run ``<package>.train.train`` under the trainer, or serve ``<package>.serve.handler()``."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else ""
    if command == "train":
        run(importlib.import_module(f"{package}.train").train)
    if command == "serve":
        from containers.common.model_server import serve

        return serve(importlib.import_module(f"{package}.serve").handler())
    print(f"usage: python -m {package} {{train|serve}}", file=sys.stderr, flush=True)
    return 2


def exit_now(code: int) -> NoReturn:
    """End the container process with ``code`` once its output is flushed.

    Interpreter teardown with numpy, scipy and xgboost loaded takes about
    0.2 s and writes nothing; a stopped serving container (a finished
    transform job, a replaced endpoint instance) need not wait for it.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
