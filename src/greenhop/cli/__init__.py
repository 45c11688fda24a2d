"""The ``greenhop`` command line.

Each face of greenhop lives in its own module (``cli/feasibility.py``, ``cli/windows.py`` ...)
that exposes a typer app or command and registers it here. Library errors
(:class:`greenhop.errors.GreenhopError`) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

import typer

from greenhop.errors import GreenhopError

app = typer.Typer(
    name="greenhop",
    help="Move AI training between renewable-powered micro datacenters, only when it pays off.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Imported here so that each face registers itself on `app` without import cycles.
    from greenhop.cli import feasibility as _feasibility
    from greenhop.cli import scenario as _scenario

    app.add_typer(_feasibility.app, name="feasibility")
    app.add_typer(_scenario.app, name="scenario")
    for name in ("windows", "simulate", "live"):
        try:
            module = __import__(f"greenhop.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"greenhop.cli.{name}":
                raise
            continue
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``greenhop`` script."""
    try:
        app(args=argv, standalone_mode=False)
    except GreenhopError as exc:
        print(f"greenhop: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except typer.Abort:
        print("greenhop: aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # click's usage errors carry their own exit code
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        raise
