"""The ``greenhop`` command line.

Each face of greenhop lives in its own module (``cli/feasibility.py``, ``cli/windows.py`` ...)
that exposes a typer app or command and registers it here. Library errors
(:class:`greenhop.errors.GreenhopError`) and usage errors (an unknown option, a missing
argument, a malformed value) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from greenhop.cli import _output
from greenhop.cli._commands import NamedGroup
from greenhop.errors import GreenhopError

app = typer.Typer(
    name="greenhop",
    cls=NamedGroup,
    help="Move AI training between renewable-powered micro datacenters, only when it pays off.",
    epilog=("Policies: {policies}. Forecasters: {forecasters}. Bundled scenarios: {scenarios}."),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("greenhop")
    except PackageNotFoundError:  # run from a source tree that was not installed
        from greenhop import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"greenhop {_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Print only results, warnings and errors: no progress, no notes."
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print greenhop's version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    _output.set_quiet(quiet)


def _register() -> None:
    # Imported here so that each face registers itself on `app` without import cycles.
    from greenhop.cli import feasibility as _feasibility
    from greenhop.cli import scenario as _scenario

    app.add_typer(_feasibility.app, name="feasibility", cls=NamedGroup)
    app.add_typer(_scenario.app, name="scenario", cls=NamedGroup)
    for name in ("windows", "simulate", "sweep", "live", "calibrate"):
        try:
            module = __import__(f"greenhop.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"greenhop.cli.{name}":
                raise
            continue
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``greenhop`` script (and of ``python -m greenhop``)."""
    from greenhop.cli._usage import is_usage_error, one_line

    args = list(sys.argv[1:] if argv is None else argv)
    _output.set_quiet(False)
    try:
        code = app(args=args, prog_name="greenhop", standalone_mode=False)
    except GreenhopError as exc:
        print(f"greenhop: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except typer.Abort:
        print("greenhop: aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        if not is_usage_error(exc):
            raise
        print(f"greenhop: error: {one_line(exc, args)}", file=sys.stderr)
        sys.exit(2)
    # without standalone mode, typer returns the code of a `typer.Exit` instead of exiting
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        sys.exit(code)
