"""Container entrypoint: ``python -m containers.model_monitor``.

SageMaker runs the analyzer image with no arguments; the job is entirely in
the environment. A user error (bad input) writes its reason to
``/opt/ml/output/message`` (the processing contract's ExitMessage) and to
``/opt/ml/output/failure`` (read by Headwater's runner) and exits 1; any
other error exits 2 with its traceback.
"""

from __future__ import annotations

import logging
import sys
import traceback

from containers.model_monitor import params
from containers.model_monitor.analyzer import analyze
from containers.model_monitor.config import AnalyzerConfig
from containers.model_monitor.errors import MonitorInputError

# SageMaker caps ExitMessage / FailureReason at 1 KB.
_LIMIT = 1024


def _report(text: str) -> None:
    for path in (params.message_path(), params.failure_path()):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text[:_LIMIT], encoding="utf-8")
        except OSError:
            pass  # the log below still says why
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the analysis; 0 on success, 1 on bad input, 2 on an internal error."""
    del argv  # the contract passes everything through the environment
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        analyze(AnalyzerConfig.read())
    except MonitorInputError as exc:
        _report(f"ClientError: {exc}")
        return 1
    except Exception as exc:  # noqa: BLE001 - last resort: report, never hang
        _report(f"AlgorithmError: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
