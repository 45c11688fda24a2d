"""One exception hierarchy for greenhop, so callers can catch the library's errors.

Every message says what was wrong, where (file, table, column, row) and how to fix it.
The CLI turns any :class:`GreenhopError` into one line on stderr and exit code 2.
"""

from __future__ import annotations


class GreenhopError(Exception):
    """Base class of every error greenhop raises on purpose."""


class InputError(GreenhopError, ValueError):
    """A value given by the user is out of range, unknown or malformed."""


class UnknownNameError(InputError, KeyError):
    """A name (model, set-up, site, policy) is not in its catalog."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class TraceError(InputError):
    """A power or signal trace is malformed (gaps, duplicates, NaN, negative power ...)."""


class ScenarioError(InputError):
    """A scenario file is invalid; the message names the file, the table and the field."""


class OutputError(GreenhopError, OSError):
    """An output path cannot be written."""


class MissingExtraError(GreenhopError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


def require_extra(module: str, extra: str = "live") -> None:
    """Raise :class:`MissingExtraError` naming ``extra`` if ``module`` cannot be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(
            f"{module!r} is not installed; install greenhop's {extra!r} extra: "
            f"pip install 'greenhop[{extra}]'"
        )
