"""What the Lambda API needs of the functions Headwater ships (its built-in handlers).

The handlers sit above the services, so the API is given them through this
protocol (``handlers.lambda_api.BuiltinHandlers`` implements it) rather than
importing them. A user's function may not take a built-in's name.
"""

from __future__ import annotations

from typing import Any, Protocol


class BuiltinFunctions(Protocol):
    """The built-in handlers, as Lambda functions."""

    def names(self) -> list[str]:
        """Every built-in function's name."""
        ...

    def configuration(self, name: str) -> dict[str, Any]:
        """Its ``FunctionConfiguration``."""
        ...

    async def invoke(self, name: str, payload: Any) -> tuple[Any, bool]:
        """Run it on a parsed payload: the result, and whether it is a function error document."""
        ...

    async def queue_event(self, name: str, payload: Any) -> None:
        """Queue an ``Event`` invocation of it durably."""
        ...
