"""Script mode: run a user's entry point the way SageMaker's training toolkit does.

The SageMaker Python SDK's framework estimators send the entry point as the
``sagemaker_program`` hyperparameter and the code as ``sagemaker_submit_directory``
(an S3 ``sourcedir.tar.gz``, JSON-encoded like every framework
hyperparameter). The platform unpacks that archive into ``<base>/code``; this
module installs ``requirements.txt`` when there is one, then runs the entry
point with the user's hyperparameters as ``--name value`` arguments and the
``SM_*`` environment the platform exported. A failed install or a script that
exits non-zero writes ``<base>/output/failure`` (the job's FailureReason) with
the last lines the script printed to stderr: its traceback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from containers.common import params
from containers.common.environment import Environment
from containers.common.errors import CustomerError

PROGRAM = "sagemaker_program"
SUBMIT_DIRECTORY = "sagemaker_submit_directory"
# Keys the SDK adds for the toolkit, never passed to the script.
_RESERVED_PREFIX = "sagemaker_"
TRACEBACK_LINES = 12


def decode(value: str) -> object:
    """A hyperparameter as the toolkit sees it: JSON-decoded where it can be."""
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def _arg(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def user_args(hyperparameters: dict[str, str]) -> list[str]:
    """``--name value`` for every user hyperparameter, sorted by name (as the toolkit does)."""
    out: list[str] = []
    for name in sorted(hyperparameters):
        if not name.startswith(_RESERVED_PREFIX):
            out += [f"--{name}", _arg(decode(hyperparameters[name]))]
    return out


def code_dir() -> Path:
    """Where the platform unpacked ``sourcedir.tar.gz``."""
    return params.base_dir() / "code"


def entry_point(env: Environment) -> Path:
    """The script named by ``sagemaker_program``, inside the code directory."""
    raw = env.hyperparameters.get(PROGRAM)
    if raw is None:
        raise CustomerError(f"Script mode needs the '{PROGRAM}' hyperparameter naming the entry point "
                            f"(the SDK sets it from entry_point).")
    program = str(decode(raw))
    return program_path(code_dir(), program, f"Entry point {program!r}", "the source directory")


def program_path(code: Path, name: str, what: str, container: str, found_in: str | None = None) -> Path:
    """``code/name`` resolved; it must stay inside ``code`` and exist.

    The errors read "<what> is outside <container>." and "<what> was not found
    in <found_in or container> (it holds: ...)".
    """
    root = code.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise CustomerError(f"{what} is outside {container}.")
    if not path.is_file():
        present = ", ".join(sorted(p.name for p in root.iterdir())[:10]) if root.is_dir() else "nothing"
        raise CustomerError(f"{what} was not found in {found_in or container} (it holds: {present or 'nothing'}). "
                            f"Check entry_point and source_dir.")
    return path


def _run_logged(argv: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[int, list[str]]:
    """Run ``argv`` with its output echoed to ours; return the exit code and its last stderr lines."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=None, stderr=subprocess.PIPE, text=True,
                            errors="replace", bufsize=1)
    tail: deque[str] = deque(maxlen=TRACEBACK_LINES)

    def forward(signum: int, _frame: object) -> None:
        # A stop (SIGTERM) reaches the script too: it may save a checkpoint first.
        if proc.poll() is None:
            proc.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            sys.stderr.write(line)
            sys.stderr.flush()
            if line.strip():
                tail.append(line.rstrip("\n"))
        return proc.wait(), list(tail)
    finally:
        signal.signal(signal.SIGTERM, previous)


def install_requirements(code: Path, env: dict[str, str]) -> None:
    """``pip install -r requirements.txt`` into a job-local directory put on ``PYTHONPATH``."""
    requirements = code / "requirements.txt"
    if not requirements.is_file():
        return
    target = params.base_dir() / ".requirements"
    print(f"Installing requirements from {requirements.name}", flush=True)
    code_, tail = _run_logged([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                               "--retries", "1", "--timeout", "30", "--target", str(target), "-r", str(requirements)],
                              cwd=code, env=env)
    if code_ != 0:
        detail = "\n".join(line for line in tail if not line.startswith("WARNING"))
        raise CustomerError(f"InstallRequirementsError: pip could not install {requirements.name} "
                            f"(exit code {code_}):\n{detail}")
    env["PYTHONPATH"] = os.pathsep.join([str(target), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)


def command_for(script: Path, args: list[str]) -> list[str]:
    """How the toolkit runs an entry point: python for ``.py``, a shell for ``.sh``, else as is."""
    if script.suffix == ".py":
        return [sys.executable, str(script), *args]
    if script.suffix == ".sh":
        return ["/bin/sh", str(script), *args]
    return [str(script), *args]


def run_user_script(env: Environment, prepare: Callable[[Environment, dict[str, str]], None] | None = None) -> None:
    """Install requirements and run the entry point; raise ``CustomerError`` when it fails."""
    script = entry_point(env)
    child_env = dict(os.environ)
    # The code directory is importable, as the toolkit makes it.
    child_env["PYTHONPATH"] = os.pathsep.join([str(script.parent), child_env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    install_requirements(script.parent, child_env)
    if prepare is not None:
        prepare(env, child_env)  # framework specifics (distributed settings)
    argv = command_for(script, user_args(env.hyperparameters))
    print(f"Invoking user script: {' '.join(argv[1:] if script.suffix == '.py' else argv)}", flush=True)
    code, tail = _run_logged(argv, cwd=script.parent, env=child_env)
    if code == -signal.SIGTERM or code == 128 + signal.SIGTERM:
        raise KeyboardInterrupt  # stopped, not failed
    if code != 0:
        how = f"killed by signal {-code}" if code < 0 else f"ExitCode {code}"
        message = "\n".join(tail) or "(the script printed nothing to stderr)"
        raise CustomerError(f"AlgorithmError: ExecuteUserScriptError: {how}\nErrorMessage \"{message}\"\n"
                            f"Command \"{' '.join(argv)}\"")
