"""Reading ``xgboost-model`` in the formats SageMaker's XGBoost containers have written it.

What the installed XGBoost reads is served; what it cannot read is refused with
a reason naming the format and the XGBoost release that wrote it:

- JSON (``save_model`` to a ``.json`` name, XGBoost 1.0 on) and UBJSON
  (``.ubj``, 1.6 on; the default from 2.0): read.
- A pickled ``Booster`` (``pickle.dump(booster, ...)``, as SageMaker's
  algorithm mode and many framework-mode scripts save it): the pickle holds
  the Booster's own serialization. From XGBoost 1.6 that is UBJSON, which
  unpickles as is; from 1.3 to 1.5 it is JSON, whose model part is rebuilt
  into a Booster here; before 1.3 it is the legacy binary format (below).
- The legacy binary format (``save_model`` to any other name before 2.0, and
  what pickles before 1.3 hold): removed in XGBoost 3.1, so not read.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import warnings
from pathlib import Path
from typing import Any

import xgboost as xgb

# XGBoost 1.0 to 1.2 pickles: this header, an 8-byte offset, then the legacy binary model.
_CONFIG_HEADER = b"CONFIG-offset:"
# What XGBoost 1.0 on writes before a legacy binary model saved to a file.
_BINARY_MAGIC = b"binf"
# The legacy binary model's leading parameter block: 34 4-byte fields, the 6th and 7th the writer's
# major and minor version (zero before 1.0); the objective's name (a length-prefixed string) follows.
_PARAM_BLOCK = 136
_VERSION_AT = 20


class UnreadableModelError(Exception):
    """A model file in a format the installed XGBoost cannot read."""


class _PickledBooster:
    """Stands in for ``xgboost.Booster`` while a pickle is inspected: keeps the state it was pickled with."""

    state: dict[str, Any]

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.state = state


class _Inspector(pickle.Unpickler):
    """Unpickles with the Booster replaced by :class:`_PickledBooster`, so no XGBoost parses it yet."""

    def find_class(self, module: str, name: str) -> Any:
        if module.partition(".")[0] == "xgboost" and name == "Booster":
            return _PickledBooster
        return super().find_class(module, name)


def _legacy_writer(raw: bytes) -> str | None:
    """Which XGBoost wrote ``raw`` in the legacy binary format, or ``None`` when it is not that format."""
    body = raw[len(_BINARY_MAGIC):] if raw.startswith(_BINARY_MAGIC) else raw
    if len(body) < _PARAM_BLOCK + 8:
        return None
    (name_len,) = struct.unpack_from("<Q", body, _PARAM_BLOCK)
    name = body[_PARAM_BLOCK + 8:_PARAM_BLOCK + 8 + name_len]
    # The objective's name ("binary:logistic", "reg:squarederror", ...) is what marks the format.
    if not 0 < name_len < 64 or len(name) != name_len or not name.isascii() or not name.replace(b":", b"").replace(
            b"_", b"").isalnum():
        return None
    major, minor = struct.unpack_from("<II", body, _VERSION_AT)
    return f"XGBoost {major}.{minor}" if major else "an XGBoost release before 1.0"


def _cannot_read(what: str) -> UnreadableModelError:
    return UnreadableModelError(
        f"{what}, which XGBoost {xgb.__version__} cannot read (the legacy binary format was removed in XGBoost "
        "3.1): load it with XGBoost 3.0 or earlier, save it again as JSON or UBJSON (save_model to a .json or "
        ".ubj name), and package that file as xgboost-model")


def _from_pickle(name: str, data: bytes) -> xgb.Booster:
    try:
        obj = _Inspector(io.BytesIO(data)).load()
    except Exception as err:  # noqa: BLE001 - any failure to unpickle is the artifact's
        raise UnreadableModelError(f"{name} is a pickle that could not be read: {type(err).__name__}: {err}") from None
    if not isinstance(obj, _PickledBooster):
        kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
        raise UnreadableModelError(f"{name} holds a pickled {kind}, not an XGBoost Booster")
    handle = bytes(obj.state.get("handle") or b"")
    if handle.startswith(b'{"'):  # XGBoost 1.3 to 1.5: JSON of {"Config": ..., "Model": ...}
        try:
            model = json.loads(handle)["Model"]
        except (ValueError, KeyError, TypeError) as err:
            raise UnreadableModelError(f"{name} is a pickled Booster whose JSON could not be read: {err}") from None
        booster = xgb.Booster()
        booster.load_model(bytearray(json.dumps(model).encode()))
        return booster
    if handle.startswith(b"{"):  # XGBoost 1.6 on: UBJSON, which this XGBoost unpickles itself
        return pickle.loads(data)  # noqa: S301 - the user's own model artifact, as SageMaker's container loads it
    inner = handle[len(_CONFIG_HEADER) + 8:] if handle.startswith(_CONFIG_HEADER) else handle
    writer = _legacy_writer(inner) or "an XGBoost release before 1.3"
    raise _cannot_read(f"{name} is a Booster pickled by {writer}, whose pickles hold the legacy binary format")


def load_booster(path: Path) -> xgb.Booster:
    """The Booster in ``path``; :class:`UnreadableModelError` names the format when it cannot be read."""
    data = path.read_bytes()
    # XGBoost warns on every model an older release wrote: reading those is what this module is for.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _load(path, data)


def _load(path: Path, data: bytes) -> xgb.Booster:
    if data.startswith(b"\x80"):  # a pickle (protocol 2 or later: what Python 3's pickle.dump writes)
        return _from_pickle(path.name, data)
    try:
        return xgb.Booster(model_file=str(path))
    except (xgb.core.XGBoostError, ValueError) as err:  # ValueError: UnicodeDecodeError of a non-JSON file
        writer = _legacy_writer(data)
        if writer:
            raise _cannot_read(f"{path.name} is in XGBoost's legacy binary format, written by {writer}") from None
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UnreadableModelError(f"{path.name} is not a model XGBoost {xgb.__version__} can read (JSON, UBJSON "
                                   f"or a pickled Booster): {reason}") from None
