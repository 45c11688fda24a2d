"""Usage errors (an unknown option, a missing argument, a value of the wrong type) as one line.

typer parses the command line with the click it bundles (``typer._click`` in typer 0.29, the
``click`` package before): the exception classes are taken from the module that defines the
public ``typer.BadParameter``, so whichever click typer uses, its errors are recognised. Anything
else that looks like a click error (an ``exit_code`` and a ``format_message()``) is handled too.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Any

import typer

from greenhop.cli._names import fill

_click_exceptions = sys.modules[typer.BadParameter.__module__]
_NoSuchOption: type = _click_exceptions.NoSuchOption
_MissingParameter: type = _click_exceptions.MissingParameter
_BadParameter: type = _click_exceptions.BadParameter
# click < 8.2 prints the help and exits without raising
_NoArgsIsHelp: type | None = getattr(_click_exceptions, "NoArgsIsHelpError", None)


def is_usage_error(exc: BaseException) -> bool:
    """True for click's (any click's) errors: they carry an exit code and a message."""
    return isinstance(exc, _click_exceptions.ClickException) or (
        isinstance(getattr(exc, "exit_code", None), int)
        and callable(getattr(exc, "format_message", None))
    )


def one_line(exc: BaseException, argv: Sequence[str] = ()) -> str:
    """The error as one line: what is wrong, naming the option, and what to do."""
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "greenhop"
    see = f"see '{command} --help'"
    if _NoArgsIsHelp is not None and isinstance(exc, _NoArgsIsHelp):
        text = _missing_command(ctx, command, see)
    elif isinstance(exc, _NoSuchOption):
        text = _no_such_option(exc, ctx, command, see)
    elif isinstance(exc, _MissingParameter):
        text = _missing_parameter(exc, command, see)
    elif isinstance(exc, _BadParameter):
        text = _bad_parameter(exc, argv, see)
    else:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if message.rstrip(".").lower() == "missing command":
            text = _missing_command(ctx, command, see)
        else:
            text = f"{_lower_first(message.rstrip('.'))} ({see})"
    return re.sub(r"\s+", " ", text).strip()


def _lower_first(text: str) -> str:
    # "Input should ..." -> "input should ...", but "JCT ..." stays
    return text[:1].lower() + text[1:] if not text[1:2].isupper() else text


def _missing_command(ctx: Any, command: str, see: str) -> str:
    names = []
    if ctx is not None and hasattr(ctx.command, "list_commands"):
        names = [
            n for n in ctx.command.list_commands(ctx) if not ctx.command.get_command(ctx, n).hidden
        ]
    if names:
        return f"missing command: '{command}' needs one of {', '.join(names)} ({see})"
    return f"missing arguments for '{command}' ({see})"


def _no_such_option(exc: Any, ctx: Any, command: str, see: str) -> str:
    option = exc.option_name
    # an option of a parent command given after the subcommand
    parent = ctx.parent if ctx is not None else None
    while parent is not None:
        for param in parent.command.params:
            if option in (*param.opts, *param.secondary_opts):
                sub = ctx.info_name
                return (
                    f"{option} is an option of '{parent.command_path}', not of '{command}': "
                    f"give it before '{sub}' ('{parent.command_path} {option} ... {sub} ...')"
                )
        parent = parent.parent
    close = list(exc.possibilities or ())
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return f"no such option {option} for '{command}'; {hint}({see})"


def _missing_parameter(exc: Any, command: str, see: str) -> str:
    param = exc.param
    if param is None:
        return f"{_lower_first(exc.format_message().rstrip('.'))} ({see})"
    kind = exc.param_type or param.param_type_name
    name = _argument_name(param) if kind == "argument" else "/".join(param.opts)
    help_text = fill(getattr(param, "help", None))
    what = f": {_lower_first(help_text.rstrip('.'))}" if help_text else ""
    return f"missing {kind} {name} for '{command}'{what} ({see})"


def _bad_parameter(exc: Any, argv: Sequence[str], see: str) -> str:
    param = exc.param
    message = _lower_first(str(exc.message).rstrip("."))
    if param is None:
        return f"invalid value: {message} ({see})"
    if param.param_type_name == "argument":
        return f"invalid value for {_argument_name(param)}: {message} ({see})"
    names = (*param.opts, *param.secondary_opts)
    value = _given_value(names, argv)
    given = f" {value!r}" if value is not None else ""
    return f"invalid value{given} for {'/'.join(param.opts)}: {message} ({see})"


def _argument_name(param: Any) -> str:
    return str(getattr(param, "metavar", None) or param.name).upper()


def _given_value(names: Sequence[str], argv: Sequence[str]) -> str | None:
    """The value given on the command line to an option named one of ``names``, if found."""
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(f"{name}="):
                return arg[len(name) + 1 :]
    return None
