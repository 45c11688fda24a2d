"""The command classes of the ``greenhop`` CLI.

Their help pages name the valid values (placeholders filled in by :func:`greenhop.cli._names.fill`
when the page is shown), and a group called without a command reports it as a usage error, one
line (``cli/_usage.py``), instead of printing its help.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup

from greenhop.cli._names import fill


def fill_command(command: Any) -> None:
    """Fill the placeholders of a command's help, epilog and parameters' help, in place."""
    for attr in ("help", "epilog", "short_help"):
        if isinstance(getattr(command, attr, None), str):
            setattr(command, attr, fill(getattr(command, attr)))
    for param in getattr(command, "params", ()):
        if isinstance(getattr(param, "help", None), str):
            param.help = fill(param.help)


class NamedCommand(TyperCommand):
    """A command whose help names the valid values, looked up when the help is shown."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        fill_command(self)
        super().format_help(ctx, formatter)

    def shell_complete(self, ctx: Any, incomplete: str) -> Any:
        fill_command(self)
        return super().shell_complete(ctx, incomplete)


class NamedGroup(TyperGroup):
    """A command group whose help names the valid values, looked up when the help is shown;
    without arguments it fails with "Missing command." rather than printing its help."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            ctx.fail("Missing command.")
        return super().parse_args(ctx, args)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        fill_command(self)
        super().format_help(ctx, formatter)
