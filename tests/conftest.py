"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The project's test data in ../shared/data (tests may read it; the product never does);
    skips when absent."""
    if not (SHARED_DATA / "solcast2022_germany.zip").exists():
        pytest.skip(f"test data not found: {SHARED_DATA.resolve()} (the project's shared data)")
    return SHARED_DATA.resolve()


GRID_DATA = Path(__file__).resolve().parent / "data"


WATTTIME = "watttime2023_caiso-north"


@pytest.fixture(scope="session")
def grid_data_dir() -> Path:
    """The real grid signals the grid-side tests read (tests/data, with their provenance)."""
    return GRID_DATA


def unpack_grid_data(out: Path) -> Path:
    """WattTime's CAISO-North files and the NP15 week (as ``np15.csv``) unpacked into ``out``,
    a folder a scenario can point at."""
    import shutil
    import zipfile

    with zipfile.ZipFile(GRID_DATA / f"{WATTTIME}.zip") as z:
        z.extractall(out)
    shutil.copy(GRID_DATA / "caiso_np15_week_2024-01.csv", out / "np15.csv")
    return out


@pytest.fixture(scope="session")
def solcast_germany():  # type: ignore[no-untyped-def]
    """The Solcast German trace as greenhop ships it."""
    from greenhop.energy.solcast import load_solcast

    return load_solcast("germany")


@pytest.fixture(scope="session")
def solcast_global():  # type: ignore[no-untyped-def]
    """The Solcast global trace as greenhop ships it."""
    from greenhop.energy.solcast import load_solcast

    return load_solcast("global")


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
