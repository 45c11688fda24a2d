"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real traces in ../shared/data (or $GREENHOP_SHARED_DATA); skips when absent."""
    from greenhop.energy.traces import find_shared_data_dir

    found = find_shared_data_dir()
    if found is None or not (found / "solcast2022_germany.zip").exists():
        pytest.skip(
            "real traces not found: ../shared/data/solcast2022_germany.zip next to the repository "
            "(set GREENHOP_SHARED_DATA to its folder)"
        )
    return found


@pytest.fixture(scope="session")
def solcast_germany(shared_data_dir: Path):  # type: ignore[no-untyped-def]
    from greenhop.energy.traces import load_solcast

    return load_solcast("germany", shared_data_dir)


@pytest.fixture(scope="session")
def solcast_global(shared_data_dir: Path):  # type: ignore[no-untyped-def]
    from greenhop.energy.traces import load_solcast

    if not (shared_data_dir / "solcast2022_global.zip").exists():
        pytest.skip("solcast2022_global.zip not in the shared data folder")
    return load_solcast("global", shared_data_dir)
