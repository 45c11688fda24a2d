"""``greenhop feasibility``: outputs and error paths, through the real entry point."""

from __future__ import annotations

import csv
import io
import json
import os
import re
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


_CELL = re.compile(r"([ABC]) \d+(?:\.\d+)? (?:s|min|h) ([✓e✗])([✓e✗])")


def _cells(text: str) -> list[tuple[str, str, str]]:
    return _CELL.findall(text)


@pytest.mark.parametrize("width", [80, 120])
def test_catalog_table_fits(cli: Cli, monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, _ = cli("feasibility", "table")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= width
    assert "…" not in out
    header = next(line for line in out.splitlines() if line.lstrip().startswith("model"))
    assert header.split() == ["model", "S", "GB"] + [
        w for b in ("0.1", "1", "10", "100") for w in (b, "Gbit/s")
    ]
    for model in ("resnet-50", "bert-base", "gpt2-xl", "llama-2-7b", "llama-2-13b", "llama-2-70b"):
        assert model in out
    assert len(_cells(out)) == 11 * 4  # 6 models in mixed-adam, 5 in lora, 4 bandwidths


def test_catalog_marks_agree_with_the_regime(cli: Cli) -> None:
    code, out, _ = cli("feasibility", "table")
    assert code == 0
    cells = _cells(out)
    for regime, short, long_ in cells:
        # the regime is the time verdict at the two windows the marks are for
        if regime == "A":
            assert short != "✗"
        elif regime == "B":
            assert short == "✗" and long_ != "✗"
        else:
            assert short == long_ == "✗"
    # the cell of issue 13 ("A 8.5 min ✗✓"): time-feasible, but its energy does not pay back
    # in 2.5 h; the mark now says so
    assert ("A", "e", "✓") in cells
    legend = " ".join(out.split())
    assert "✓ feasible (D < αW and D + T_be < W)" in legend
    assert "e time-feasible, but the move's energy does not pay back in W" in legend
    assert "✗ not time-feasible (D ≥ αW)" in legend
    assert "The regime is the time verdict alone (α = 0.1)" in legend
    assert "one mark for W = 2.5 h and one for W = 9.5 h" in legend


def test_catalog_marks_are_the_records(cli: Cli) -> None:
    code, out, _ = cli("feasibility", "table", "--json")
    assert code == 0
    rows = json.loads(out)
    llama = {
        r["window_h"]: r
        for r in rows
        if r["model"] == "llama-2-70b" and r["setup"] == "mixed-adam" and r["bandwidth_gbps"] == 100
    }
    short, long_ = llama[2.5], llama[9.5]
    assert short["regime"] == "A" and short["time_feasible"] and not short["energy_feasible"]
    assert long_["feasible"]


def test_catalog_table_follows_the_regime_range(cli: Cli) -> None:
    args = ("feasibility", "--window-short-h", "1", "--window-long-h", "12", "table")
    code, out, _ = cli(*args)
    assert code == 0
    assert "W = 1 h and 12 h" in " ".join(out.split())
    for regime, short, long_ in _cells(out):
        assert (regime == "A") == (short != "✗")
        assert (regime == "C") == (long_ == "✗")
    code, out, _ = cli(*args, "--json")
    assert {r["window_h"] for r in json.loads(out)} == {1.0, 12.0}


def test_catalog_and_verdict_csv(cli: Cli) -> None:
    code, out, err = cli("feasibility", "table", "--csv")
    assert code == 0 and err == ""
    records = list(csv.DictReader(io.StringIO(out)))
    assert len(records) == 11 * 4 * 2
    assert {"model", "setup", "window_h", "bandwidth_gbps", "regime", "feasible"} <= set(records[0])
    code, out, _ = cli("feasibility", "--checkpoint-gb", "40", "--csv")
    assert code == 0
    (verdict,) = list(csv.DictReader(io.StringIO(out)))
    assert float(verdict["transfer_s"]) == pytest.approx(320.0)
    assert float(verdict["param_alpha"]) == 0.1
    assert verdict["feasible"] == "True"


@pytest.mark.parametrize("width", [80, 120])
def test_verdict_table_fits(cli: Cli, monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, _ = cli("feasibility", "--model", "llama-2-70b", "--bandwidth-gbps", "0.1")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= width
    assert "…" not in out and "NOT FEASIBLE" in out


def test_a_frozen_part_gives_the_verdict_for_s_eff_beside_s(cli: Cli) -> None:
    """A LoRA fine-tuning of a 7B model: 13.5 GB of frozen bf16 base and 0.5 GB of adapters
    and optimizer state. Over 0.1 Gbit/s into a 2.5 h window the whole checkpoint is not
    time-feasible; to a site that holds the base, only 0.5 GB cross and the move is regime A."""
    code, out, _ = cli(
        "feasibility",
        "--checkpoint-gb",
        "14",
        "--frozen-gb",
        "13.5",
        "--bandwidth-gbps",
        "0.1",
        "--json",
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["frozen_gb"] == 13.5 and not doc["time_feasible"]
    eff = doc["effective"]
    assert eff["size_gb"] == pytest.approx(0.5) and eff["regime"] == "A" and eff["feasible"]
    assert eff["transfer_s"] == pytest.approx(40.0)
    code, out, _ = cli("feasibility", "--checkpoint-gb", "14", "--frozen-gb", "13.5")
    assert code == 0 and "S_eff = 0.5 GB" in out and out.count("FEASIBLE") == 2
    code, _, err = cli("feasibility", "--checkpoint-gb", "14", "--frozen-gb", "14")
    assert code == 2 and "--frozen-gb must be >= 0 and below" in err


def test_the_lora_domain_plot_draws_s_and_s_eff(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "lora.png"
    code, _, err = cli("feasibility", "--setup", "lora", "domain", "--out", str(out))
    assert code == 0, err
    assert out.stat().st_size > 20_000 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
