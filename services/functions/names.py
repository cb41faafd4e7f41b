"""Function names as Lambda accepts them: a name, a partial or full ARN, each with an optional qualifier."""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.functions.exceptions import InvalidParameterValueException, ResourceNotFoundException

LATEST = "$LATEST"

# arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>], <account>:function:<name>[:<qualifier>],
# or <name>[:<qualifier>].
_FUNCTION = re.compile(r"^(?:(?:arn:aws[a-z-]*:lambda:(?P<region>[a-z0-9-]+):)?(?P<account>\d{12}):function:)?"
                       r"(?P<name>[a-zA-Z0-9_-]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]{1,128}))?$")
_ALIAS = re.compile(r"^(?!^[0-9]+$)[a-zA-Z0-9_-]{1,128}$")
_VERSION = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class FunctionRef:
    """A function's name and the qualifier asked for (``None``: unqualified)."""

    name: str
    qualifier: str | None


def parse_function_name(raw: str, qualifier: str | None = None) -> FunctionRef:
    """The function ``raw`` names, with its qualifier (from the name or from ``Qualifier``).

    :raises ResourceNotFoundException: ``raw`` is no function name Lambda would accept.
    :raises InvalidParameterValueException: the name's qualifier and ``qualifier`` disagree.
    """
    m = _FUNCTION.match(raw)
    if m is None:
        raise ResourceNotFoundException(f"Function not found: {raw}")
    derived = m["qualifier"]
    if derived and qualifier and derived != qualifier:
        raise InvalidParameterValueException(
            "The derived qualifier from the function name does not match the specified qualifier.")
    return FunctionRef(m["name"], derived or qualifier or None)


def is_version(qualifier: str) -> bool:
    """True for a published version number."""
    return bool(_VERSION.match(qualifier))


def check_alias_name(name: str) -> None:
    """An alias name is letters, digits, ``-`` and ``_``, and not a number."""
    if not _ALIAS.match(name):
        raise InvalidParameterValueException(f"Alias name {name!r} is not valid: letters, digits, '-' and '_', "
                                             "not all digits")


def function_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    """The function's ARN, qualified when ``qualifier`` is given."""
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn
