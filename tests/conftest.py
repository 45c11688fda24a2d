"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real traces in ../shared/data (or $GREENHOP_SHARED_DATA); skips when absent."""
    from greenhop.energy.solcast import find_shared_data_dir

    found = find_shared_data_dir()
    if found is None or not (found / "solcast2022_germany.zip").exists():
        pytest.skip(
            "real traces not found: ../shared/data/solcast2022_germany.zip next to the repository "
            "(set GREENHOP_SHARED_DATA to its folder)"
        )
    return found


@pytest.fixture(scope="session")
def solcast_germany(shared_data_dir: Path):  # type: ignore[no-untyped-def]
    from greenhop.energy.solcast import load_solcast

    return load_solcast("germany", shared_data_dir)


@pytest.fixture(scope="session")
def solcast_global(shared_data_dir: Path):  # type: ignore[no-untyped-def]
    from greenhop.energy.solcast import load_solcast

    if not (shared_data_dir / "solcast2022_global.zip").exists():
        pytest.skip("solcast2022_global.zip not in the shared data folder")
    return load_solcast("global", shared_data_dir)


#: ``cli(*args) -> (exit code, stdout, stderr)``: the real ``greenhop`` entry point, in process.
Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    from greenhop.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = 0
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


class Scripted:
    """A policy that plays a fixed list of ``(step, action)`` (tests drive a world with it)."""

    name = "scripted"

    def __init__(self, script: list[tuple[int, Any]]) -> None:
        self.script = script

    def decide(self, now: float, view: Any) -> list[Any]:
        return [a for k, a in self.script if k == view.step]

    def config(self) -> dict[str, Any]:
        return {"name": self.name}
