"""The names the CLI accepts (policies, forecasters, bundled scenarios) in help pages and shell
completion.

Listing the policies imports the simulator and the oracle, so a help text names them with a
placeholder (``{policies}``, ``{forecasters}``, ``{scenarios}``) that :func:`fill` replaces only
when a help page, an error or a completion needs it (``cli/_commands.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def policies() -> list[str]:
    """Every policy name ``--policy`` takes (``all`` runs them all)."""
    from greenhop.runner import available_policies

    return list(available_policies())


def forecasters() -> list[str]:
    """Every forecaster name ``--forecast`` takes."""
    from greenhop.energy.forecast import FORECASTERS

    return list(FORECASTERS)


def scenarios() -> list[str]:
    """The bundled scenarios, by name."""
    from greenhop.scenario import bundled_scenarios

    return bundled_scenarios()


_PLACEHOLDERS: dict[str, Callable[[], list[str]]] = {
    "{policies}": policies,
    "{forecasters}": forecasters,
    "{scenarios}": scenarios,
}


def fill(text: str | None) -> str | None:
    """``text`` with each placeholder replaced by its comma-separated names."""
    if not text:
        return text
    for placeholder, names in _PLACEHOLDERS.items():
        if placeholder in text:
            text = text.replace(placeholder, ", ".join(names()))
    return text


def _complete_list(names: list[str], incomplete: str) -> list[str]:
    # comma-separated lists complete their last item
    head, _, last = incomplete.rpartition(",")
    prefix = f"{head}," if head else ""
    return [f"{prefix}{n}" for n in names if n.startswith(last)]


def complete_policies(incomplete: str) -> list[str]:
    """Shell completion of ``--policy``: ``all`` or policy names, comma-separated."""
    names = policies()
    return _complete_list(names if "," in incomplete else ["all", *names], incomplete)


def complete_policy(incomplete: str) -> list[str]:
    """Shell completion of a single policy name."""
    return [n for n in policies() if n.startswith(incomplete)]


def complete_forecasters(incomplete: str) -> list[str]:
    """Shell completion of ``--forecast``."""
    return [n for n in forecasters() if n.startswith(incomplete)]


def complete_scenarios(incomplete: str) -> list[str]:
    """Shell completion of a scenario: the bundled names, then TOML files and folders."""
    import glob

    named = [n for n in scenarios() if n.startswith(incomplete)]
    paths = sorted(glob.glob(f"{glob.escape(incomplete)}*"))
    files = [
        p + "/" if Path(p).is_dir() else p for p in paths if p.endswith(".toml") or Path(p).is_dir()
    ]
    return named + files
