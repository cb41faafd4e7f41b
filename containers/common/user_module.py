"""Serving a script-mode model: the user's hooks over a framework's defaults.

SageMaker's framework inference toolkits (scikit-learn, PyTorch, XGBoost in
framework mode) import the module named by ``SAGEMAKER_PROGRAM`` from the
code directory and let its ``model_fn`` / ``input_fn`` / ``predict_fn`` /
``output_fn``, or one ``transform_fn`` in place of the last three, replace
the framework's defaults. The code directory is where the platform
unpacked ``SAGEMAKER_SUBMIT_DIRECTORY`` (``<base>/code``) when that is an S3
``sourcedir.tar.gz``, or the path it names (the SDK's repacked
``/opt/ml/model/code``). A ``requirements.txt`` there is installed first.

The hooks are called as the toolkits call them: JSON and CSV bodies reach
``input_fn`` as text, other types as bytes; a request without ``Accept`` (or
``*/*``) is answered in ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``
(``application/json`` by default); a hook that takes one more parameter than
the toolkit passes gets the request context (``None`` here) as the last one.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from containers.common import params
from containers.common.array_codec import ANY, JSON, UTF8_TYPES
from containers.common.errors import CustomerError
from containers.common.script_mode import install_requirements, program_path
from containers.common.model_server import serve
from containers.common.serving import BadInput, InferenceHandler, media_type

PROGRAM_ENV = "SAGEMAKER_PROGRAM"
SUBMIT_DIRECTORY_ENV = "SAGEMAKER_SUBMIT_DIRECTORY"
DEFAULT_ACCEPT_ENV = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
HOOKS = ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")
_LITERAL_BASE = "/opt/ml"


@dataclass(frozen=True)
class FrameworkDefaults:
    """A framework container's default hooks (what a script that defines none gets)."""

    model_fn: Callable[[str], Any]
    input_fn: Callable[[Any, str], Any]
    predict_fn: Callable[[Any, Any], Any]
    output_fn: Callable[[Any, str], Any]


def call_hook(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a user hook with the toolkit's arguments, plus a ``None`` context when it takes one more."""
    try:
        params_ = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return fn(*args)
    positional = [p for p in params_ if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) == len(args) + 1 and positional[-1].default is inspect.Parameter.empty:
        return fn(*args, None)
    return fn(*args)


@dataclass
class ScriptHandler(InferenceHandler):
    """An :class:`InferenceHandler` whose hooks may be the user's: any content type, raw ``Accept``."""

    transform_fn: Callable[..., Any] | None = None
    default_accept_type: str = field(default_factory=lambda: os.environ.get(DEFAULT_ACCEPT_ENV) or JSON)

    def choose_accept(self, accept: str | None, content_type: str) -> str:
        """The ``Accept`` header as the hooks get it: the default for none or ``*/*``."""
        if not accept or not accept.strip() or media_type(accept) == ANY:
            return self.default_accept_type
        return accept.strip()

    def transform(self, model: Any, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        """``transform_fn``, or ``input_fn`` -> ``predict_fn`` -> ``output_fn``; the body and its type."""
        content_type = content_type or JSON
        data: str | bytes = body
        if content_type in UTF8_TYPES:
            try:
                data = body.decode("utf-8")
            except UnicodeDecodeError as err:
                raise BadInput(f"The {content_type} body is not UTF-8 text: {err.reason} at byte {err.start}.") \
                    from None
        if self.transform_fn is not None:
            result = call_hook(self.transform_fn, model, data, content_type, accept)
        else:
            prediction = call_hook(self.predict_fn, call_hook(self.input_fn, data, content_type), model)
            result = call_hook(self.output_fn, prediction, accept)
        if isinstance(result, tuple):  # (body, content type), as the toolkits allow
            result, accept = result[0], str(result[1])
        return _as_bytes(result), accept


def _as_bytes(result: Any) -> bytes:
    if isinstance(result, str):
        return result.encode("utf-8")
    if isinstance(result, (bytes, bytearray, memoryview)):
        return bytes(result)
    # A dict or list, as a Flask view may return: JSON.
    return json.dumps(result, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)).encode("utf-8")


def code_dir() -> Path:
    """The directory the user's module is imported from (see the module docstring)."""
    submit = (os.environ.get(SUBMIT_DIRECTORY_ENV) or "").strip()
    if not submit or submit.startswith("s3://"):
        return params.base_dir() / "code"
    if submit.startswith("file://"):
        submit = submit.removeprefix("file://")
    if submit == _LITERAL_BASE or submit.startswith(_LITERAL_BASE + "/"):
        # The literal /opt/ml of the contract is wherever the base directory is.
        return params.base_dir() / submit[len(_LITERAL_BASE):].lstrip("/")
    return Path(submit)


def _module_path(code: Path, program: str) -> Path:
    name = program if program.endswith(".py") else f"{program}.py"
    return program_path(code, name, f"{PROGRAM_ENV} {program!r}", "the code directory", f"the code directory {code}")


def import_user_module() -> ModuleType | None:
    """Install the code directory's requirements and import ``SAGEMAKER_PROGRAM``; ``None`` when unset."""
    program = (os.environ.get(PROGRAM_ENV) or "").strip()
    if not program:
        return None
    code = code_dir()
    path = _module_path(code, program)
    env = dict(os.environ)
    install_requirements(code, env)
    for entry in reversed([str(code), *env.get("PYTHONPATH", "").split(os.pathsep)]):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    print(f"Importing user module {path.stem} from {code}", flush=True)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # siblings and pickles can refer to it by name
    spec.loader.exec_module(module)
    return module


def handler_for(module: ModuleType | None, defaults: FrameworkDefaults) -> ScriptHandler:
    """The module's hooks over ``defaults``; ``transform_fn`` excludes the other three request hooks."""
    hooks = {name: getattr(module, name, None) for name in HOOKS} if module is not None else {}
    hooks = {name: fn for name, fn in hooks.items() if callable(fn)}
    if "transform_fn" in hooks and {"input_fn", "predict_fn", "output_fn"} & set(hooks):
        raise CustomerError("Cannot use transform_fn implementation with input_fn, predict_fn, and/or output_fn")
    user_model_fn = hooks.get("model_fn")
    model_fn = (lambda model_dir: call_hook(user_model_fn, model_dir)) if user_model_fn else defaults.model_fn
    return ScriptHandler(model_fn=model_fn, input_fn=hooks.get("input_fn", defaults.input_fn),
                         predict_fn=hooks.get("predict_fn", defaults.predict_fn),
                         output_fn=hooks.get("output_fn", defaults.output_fn),
                         content_types=(), accepts=(), transform_fn=hooks.get("transform_fn"))


def serve_framework(defaults: FrameworkDefaults) -> int:
    """The framework container's ``serve``: import the user's module, then serve; 1 if it cannot start."""
    try:
        handler = handler_for(import_user_module(), defaults)
    except Exception as err:  # noqa: BLE001 - the container's failure; its last log lines become the reason
        if not isinstance(err, CustomerError):
            traceback.print_exc(file=sys.stderr)
        summary = " | ".join(line.strip() for line in str(err).splitlines() if line.strip())
        print(f"Serving failed: {summary if isinstance(err, CustomerError) else f'{type(err).__name__}: {summary}'}",
              file=sys.stderr, flush=True)
        return 1
    return serve(handler)
