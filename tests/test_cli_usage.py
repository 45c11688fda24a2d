"""The ``greenhop`` command itself: usage errors as one line, --version, --quiet, --help,
``python -m greenhop`` and shell completion."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import Cli

from greenhop.energy.forecast import FORECASTERS
from greenhop.runner import available_policies
from greenhop.scenario import bundled_scenarios


def _module(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "greenhop", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], ["missing command", "simulate", "feasibility", "scenario"]),
        (["--quiet"], ["missing command"]),
        (["simulat"], ["no such command 'simulat'", "simulate"]),
        (["scenario"], ["missing command", "'greenhop scenario'", "validate"]),
        (["simulate"], ["missing argument SCENARIO", "greenhop simulate", "default"]),
        (["windows"], ["missing argument SCENARIO", "greenhop windows", "germany"]),
        (["live"], ["missing argument SCENARIO", "greenhop live"]),
        (["simulate", "x.toml", "--polcy", "stay"], ["no such option --polcy", "--policy"]),
        (["simulate", "default", "--policy"], ["--policy", "requires an argument"]),
        (["simulate", "default", "--quiet"], ["--quiet is an option of 'greenhop'", "before"]),
        (["feasibility", "--checkpoint-gb", "abc"], ["'abc'", "--checkpoint-gb", "number"]),
        (["feasibility", "--checkpoint-gb=abc"], ["'abc'", "--checkpoint-gb"]),
        (
            ["feasibility", "domain", "--alpha", "0.2"],
            ["--alpha is an option of 'greenhop feasibility'", "give it before 'domain'"],
        ),
        (["feasibility", "table", "--alpha", "0.2"], ["give it before 'table'"]),
        (["feasibility", "table", "--json", "--csv"], ["give one of --json or --csv"]),
        (["windows", "default", "--job-power-w", "lots"], ["'lots'", "--job-power-w"]),
        (["simulate", "default", "--json", "--csv"], ["give one of --json or --csv"]),
        (["live", "live-demo", "--json", "--csv"], ["give one of --json or --csv"]),
        (["live", "live-demo", "--polcy", "stay"], ["no such option --polcy", "--policy"]),
    ],
)
def test_usage_error_is_one_line_and_exit_2(cli: Cli, args: list[str], says: list[str]) -> None:
    code, out, err = cli(*args)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("greenhop: error: ")
    for text in says:
        assert text in lines[0]


def test_usage_errors_of_the_installed_command_have_no_traceback() -> None:
    # each case of issue 13, through a new interpreter as a user runs it
    for args in (
        [],
        ["simulate"],
        ["simulate", "x.toml", "--polcy", "stay"],
        ["feasibility", "--checkpoint-gb", "abc"],
        ["feasibility", "domain", "--alpha", "0.2"],
    ):
        res = _module(*args)
        assert res.returncode == 2, args
        assert res.stdout == ""
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert res.stderr.startswith("greenhop: error: ")
        assert "Traceback" not in res.stderr


def test_version() -> None:
    res = _module("--version")
    assert res.returncode == 0
    assert res.stdout == f"greenhop {version('greenhop')}\n"
    assert res.stderr == ""


def test_version_in_process(cli: Cli) -> None:
    code, out, _ = cli("--version")
    assert code == 0 and out.strip() == f"greenhop {version('greenhop')}"


def test_help_lists_the_valid_names(cli: Cli) -> None:
    code, out, err = cli("simulate", "--help")
    assert code == 0 and err == ""
    for name in [*available_policies(), *FORECASTERS, *bundled_scenarios()]:
        assert name in out, name
    assert "{policies}" not in out
    code, out, _ = cli("--help")
    assert code == 0
    for name in [*available_policies(), *FORECASTERS, *bundled_scenarios()]:
        assert name in out, name
    for command in ("feasibility", "windows", "simulate", "live", "scenario"):
        assert command in out
    code, out, _ = cli("live", "--help")
    assert code == 0 and "feasibility-aware" in out and "live-demo" in out
    code, out, _ = cli("windows", "--help")
    assert code == 0 and "germany" in out


def test_quiet_leaves_out_notes(cli: Cli, tmp_path: Path) -> None:
    image = tmp_path / "domain.png"
    code, out, err = cli("--quiet", "feasibility", "domain", "--out", str(image))
    assert code == 0 and out == "" and err == ""
    assert image.exists()
    code, _, err = cli("feasibility", "domain", "--out", str(tmp_path / "again.png"))
    assert code == 0 and "wrote" in err
    # the flag does not stick to the next invocation in the same process
    code, _, err = cli("-q", "feasibility", "domain", "--out", str(tmp_path / "third.png"))
    assert code == 0 and err == ""


def test_shell_completion() -> None:
    res = _module("--show-completion", "bash")
    assert res.returncode == 0 and "_GREENHOP_COMPLETE" in res.stdout
    cases = {
        "greenhop sim": ["simulate"],
        "greenhop simulate def": ["default"],
        "greenhop simulate default --policy feas": ["feasibility-aware"],
        "greenhop simulate default --policy stay,look": ["stay,lookahead"],
        "greenhop simulate default --forecast p": ["perfect", "persistence"],
        "greenhop live live-demo --policy e": ["energy-only"],
    }
    for words, expected in cases.items():
        env = {
            "_GREENHOP_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - 1),
        }
        res = _module(env=env)
        assert res.returncode == 0, res.stderr
        assert res.stdout.split() == expected, words
