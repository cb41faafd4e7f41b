"""Container entrypoint: ``python -m containers.knn train|serve``."""

from __future__ import annotations

import sys

from containers.common.trainer import run

USAGE = "usage: python -m containers.knn {train|serve}"


def main(argv: list[str] | None = None) -> int:
    """Dispatch on the command SageMaker passes to the container."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else ""
    if command == "train":
        from containers.knn.train import train

        run(train)
    if command == "serve":
        from containers.common.serving import serve
        from containers.knn.serve import handler

        return serve(handler())
    print(USAGE, file=sys.stderr, flush=True)
    return 2


if __name__ == "__main__":
    sys.exit(main())
