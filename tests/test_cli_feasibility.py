"""``greenhop feasibility``: outputs and error paths, through the real entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Cli


def test_verdict_table(cli: Cli) -> None:
    code, out, _ = cli(
        "feasibility", "--checkpoint-gb", "40", "--bandwidth-gbps", "1", "--window-h", "2.5"
    )
    assert code == 0
    assert "320.0" in out  # transfer seconds
    assert "FEASIBLE" in out and "NOT FEASIBLE" not in out
    for term in (
        "checkpoint write",
        "transfer",
        "load",
        "restart",
        "disruption",
        "budget",
        "slack",
        "break-even",
        "migration energy",
        "regime",
    ):
        assert term in out


def test_verdict_json_with_model_and_overrides(cli: Cli) -> None:
    code, out, _ = cli(
        "feasibility",
        "--model",
        "llama-2-7b",
        "--setup",
        "mixed-adam",
        "--bandwidth-gbps",
        "1",
        "--window-h",
        "2.5",
        "--alpha",
        "0.05",
        "--restart-s",
        "30",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["model"] == "llama-2-7b"
    assert data["size_gb"] == pytest.approx(6_738_415_616 * 14 / 1e9)
    assert data["transfer_s"] == pytest.approx(8 * data["size_gb"])
    assert data["params"]["alpha"] == 0.05
    assert data["budget_s"] == pytest.approx(450.0)
    assert data["time_feasible"] is False  # 94 GB over 1 Gbit/s needs 12.6 min > 7.5 min
    assert data["feasible"] is False


def test_catalog_table(cli: Cli) -> None:
    code, out, _ = cli("feasibility", "table", "--json")
    assert code == 0
    rows = json.loads(out)
    models = {r["model"] for r in rows}
    assert {"resnet-50", "bert-base", "gpt2-xl", "llama-2-7b", "llama-2-13b"} <= models
    assert {r["bandwidth_gbps"] for r in rows} == {0.1, 1.0, 10.0, 100.0}
    code, out, _ = cli("feasibility", "table")
    assert code == 0 and "llama-2-13b" in out and "break-even" in out


def test_domain_plot(tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "domain.png"
    code, _, _ = cli("feasibility", "--alpha", "0.2", "domain", "--out", str(out))
    assert code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path) == ["domain.png"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--checkpoint-gb", "0"], "checkpoint size"),
        (["--checkpoint-gb", "-3"], "checkpoint size"),
        (["--checkpoint-gb", "nan"], "--checkpoint-gb must be a finite number"),
        (["--checkpoint-gb", "10", "--bandwidth-gbps", "-1"], "bandwidth"),
        (["--model", "gpt-9"], "unknown model 'gpt-9'"),
        (["--model", "bert-base", "--setup", "int4"], "unknown set-up 'int4'"),
        (["--checkpoint-gb", "10", "--alpha", "0"], "alpha must be in (0, 1]"),
        (["--checkpoint-gb", "10", "--alpha", "1.01"], "alpha must be in (0, 1]"),
        (["--checkpoint-gb", "10", "--alpha", "nan"], "'alpha' must be a finite number"),
        (["--checkpoint-gb", "10", "--model", "bert-base"], "exactly one of"),
        ([], "exactly one of"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli: Cli, args: list[str], message: str) -> None:
    code, out, err = cli("feasibility", *args)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert message in err


@pytest.mark.parametrize("name", ["missing-dir/domain.png", "domain.txt", "."])
def test_unwritable_output_writes_nothing(tmp_path: Path, cli: Cli, name: str) -> None:
    code, _, err = cli("feasibility", "domain", "--out", str(tmp_path / name))
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_read_only_folder(tmp_path: Path, cli: Cli) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user that may write into read-only folders")
        code, _, err = cli("feasibility", "domain", "--out", str(ro / "d.png"))
        assert code == 2 and "not writable" in err
    finally:
        ro.chmod(0o700)


def test_entry_point_script() -> None:
    exe = Path(sys.executable).with_name("greenhop")
    res = subprocess.run(
        [str(exe), "feasibility", "--checkpoint-gb", "-1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 2
    assert res.stderr.startswith("greenhop: error:")
    res = subprocess.run(
        [str(exe), "feasibility", "--checkpoint-gb", "40", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0
    assert json.loads(res.stdout)["transfer_s"] == pytest.approx(320.0)
