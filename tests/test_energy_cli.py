"""``greenhop windows``: outputs and error paths, through the real entry point."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from conftest import Cli


def test_windows_table_and_plots(cli: Cli, tmp_path: Path) -> None:
    out_dir = tmp_path / "w"
    code, out, _ = cli("windows", "default", "--out", str(out_dir))
    assert code == 0
    assert "Surplus windows — default" in out
    for site in ("greensboro", "sand-point", "amsterdam", "nw-colorado"):
        assert site in out
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "durations.png",
        "surplus.png",
        "windows.csv",
    ]
    for image in ("surplus.png", "durations.png"):
        assert (out_dir / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    windows = pd.read_csv(out_dir / "windows.csv", parse_dates=["start", "end"])
    assert set(windows["site"]) >= {"greensboro", "piedmont"}
    assert (windows["end"] > windows["start"]).all()
    # the table's window count for greensboro is the CSV's
    greensboro_row = next(line for line in out.splitlines() if "greensboro" in line)
    assert str((windows["site"] == "greensboro").sum()) in greensboro_row


def test_bad_inputs_exit_2_and_write_nothing(cli: Cli, tmp_path: Path) -> None:
    out_dir = tmp_path / "never"
    code, _, err = cli("windows", "no-such-scenario", "--out", str(out_dir))
    assert code == 2 and "no such scenario file" in err
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\nstart = 2024-01-01T00:00:00Z\n', encoding="utf-8")
    code, _, err = cli("windows", str(broken), "--out", str(out_dir))
    assert code == 2 and "broken.toml: field 'end': required field is missing" in err
    code, _, err = cli("windows", "default", "--job-power-w", "-5", "--out", str(out_dir))
    assert code == 2 and "--job-power-w must be a finite number ≥ 0" in err
    assert not out_dir.exists()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    code, _, err = cli("windows", "default", "--out", str(a_file))
    assert code == 2 and "is a file, not a folder" in err
