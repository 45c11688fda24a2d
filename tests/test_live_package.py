"""greenhop.live imports Ray and torch only when they are used, and names the extra if missing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from greenhop.errors import MissingExtraError


def test_importing_the_package_loads_neither_ray_nor_torch() -> None:
    code = (
        "import sys, greenhop.live, greenhop.live.cluster.power, greenhop.live.errors; "
        "assert 'ray' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lazy_names_resolve() -> None:
    import greenhop.live as live

    assert live.NominalPowerMeter.__module__ == "greenhop.live.cluster.power"
    assert live.ChecksumError.__module__ == "greenhop.live.errors"
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = live.Nope


def test_missing_ray_names_the_live_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from greenhop.live._extras import import_ray, import_torch

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("ray", "torch") else real(name),
    )
    with pytest.raises(MissingExtraError, match=r"greenhop\[live\]"):
        import_ray()
    with pytest.raises(MissingExtraError, match=r"greenhop\[live\]"):
        import_torch()
