"""Sweep files: the example loads, cells and keys, sampling, and every problem of a bad file at
once, one line each, as the scenario's errors are."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import Cli

from greenhop.scenario import bundled_scenarios
from greenhop.sweep import AXES, SweepError, load_sweep

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "sweeps" / "germany-bandwidth.toml"


def _write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(SweepError) as info:
        load_sweep(path)
    return str(info.value).splitlines()


def test_the_example_sweep_loads_with_every_combination_of_its_grid() -> None:
    spec = load_sweep(EXAMPLE)
    assert spec.scenario_path.name == "germany.toml" and spec.generates_jobs
    grid = spec.grid
    assert grid is not None
    cells = spec.cells()
    n_points = math.prod(len(v) for v in grid.values())
    assert len(cells) == n_points * len(spec.seeds)
    # each point appears once per seed, seeds innermost
    seen = {(c.values["bandwidth_gbps"], c.values["checkpoint_gb"], c.seed) for c in cells}
    assert len(seen) == len(cells)
    assert [c.seed for c in cells[: len(spec.seeds)]] == list(spec.seeds)
    base = spec.base_hash()
    keys = [spec.key(c, p, base) for c in cells for p in spec.policies]
    assert len(set(keys)) == len(keys)
    again = load_sweep(EXAMPLE)
    assert [again.key(c, p, again.base_hash()) for c in again.cells() for p in again.policies] == (
        keys
    )


def test_every_problem_of_a_bad_file_is_reported_at_once_naming_table_and_field(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path,
        """
scenario = "germany"
polices = ["stay"]
seeds = [0, 0]

[grid]
alpha = [0.5, 1.5]
bandwith_gbps = [1.0]
forecaster = ["perfect", "psychic"]

[report]
metrics = ["non_renewable_kwhh"]
""",
        name="bad.toml",
    )
    lines = _problems(path)
    assert all(line.startswith("bad.toml: ") for line in lines), lines
    text = "\n".join(lines)
    assert "field 'polices': unknown field; did you mean 'policies'?" in text
    assert "field 'policies': must be a non-empty list of policy names" in text
    assert "field 'seeds': lists a seed twice" in text
    assert "[grid]: field 'alpha': must be in (0, 1] (got 1.5)" in text
    assert "[grid]: field 'bandwith_gbps': unknown axis; did you mean 'bandwidth_gbps'?" in text
    assert "[grid]: field 'forecaster': unknown forecaster 'psychic'" in text
    assert "[report]: field 'metrics': unknown metric 'non_renewable_kwhh'; did you mean" in text
    assert len(lines) == 7


def test_the_axes_are_checked_against_the_scenario(tmp_path: Path) -> None:
    # germany's own jobs: four give a checkpoint size without a model, so a set-up cannot apply
    lines = _problems(
        _write(
            tmp_path,
            'scenario = "germany"\npolicies = ["stay"]\n[grid]\nsetup = ["lora"]\n',
        )
    )
    assert len(lines) == 1
    assert "[grid]: field 'setup': jobs 'resnet50-shard', 'whisper-finetune'" in lines[0]
    # nothing is random in germany's own jobs with Solcast's forecasts: seeds would repeat cells
    lines = _problems(
        _write(
            tmp_path,
            'scenario = "germany"\npolicies = ["stay"]\nseeds = [0, 1]\n'
            "[grid]\nalpha = [0.1, 0.2]\n",
        )
    )
    assert len(lines) == 1 and "field 'seeds': 2 seeds would run the same cells" in lines[0]
    # a scenario that is neither a file nor bundled
    lines = _problems(_write(tmp_path, 'scenario = "atlantis"\npolicies = ["stay"]\n'))
    assert lines == [
        "sweep.toml: field 'scenario': 'atlantis' is neither a file (relative to sweep.toml) "
        f"nor a bundled scenario ({', '.join(bundled_scenarios())})"
    ]


def test_a_scenario_beside_the_sweep_file_is_found_and_its_errors_are_its_own(
    tmp_path: Path,
) -> None:
    text = (ROOT / "src" / "greenhop" / "scenarios" / "germany.toml").read_text()
    (tmp_path / "mine.toml").write_text(text.replace("gpu_slots = 8", "gpu_slots = 0", 1))
    lines = _problems(_write(tmp_path, 'scenario = "mine.toml"\npolicies = ["stay"]\n'))
    assert lines == ["mine.toml: [[sites]] #1 'berlin': field 'gpu_slots': must be > 0 (got 0)"]


def test_a_sample_draws_reproducible_points_inside_its_ranges(tmp_path: Path) -> None:
    body = """
scenario = "germany"
policies = ["energy-only"]
[workload]
jobs = 5
[sample]
n = 200
seed = {seed}
bandwidth_gbps = {{ min = 0.01, max = 100.0, scale = "log" }}
jobs = {{ min = 2, max = 9 }}
forecaster = ["perfect", "persistence"]
"""
    spec = load_sweep(_write(tmp_path, body.format(seed=3)))
    points = spec.points()
    assert len(points) == 200 and spec.axes == ("bandwidth_gbps", "jobs", "forecaster")
    bw = np.array([p["bandwidth_gbps"] for p in points])
    jobs = np.array([p["jobs"] for p in points])
    assert ((bw >= 0.01) & (bw <= 100.0)).all()
    # log-uniform: about as many points in each decade (a uniform draw would put 90 % above 10)
    assert 0.1 < np.mean(bw < 1.0) < 0.9
    assert set(jobs) <= set(range(2, 10)) and len(set(jobs)) > 4
    assert {p["forecaster"] for p in points} == {"perfect", "persistence"}
    assert load_sweep(spec.source).points() == points
    other = load_sweep(_write(tmp_path, body.format(seed=4), name="other.toml"))
    assert other.points() != points


def test_each_axis_refuses_values_out_of_its_range() -> None:
    assert AXES["bandwidth_gbps"].check(0.0) is not None
    assert AXES["bandwidth_gbps"].check(0.5) is None
    assert AXES["alpha"].check(1.0) is None and AXES["alpha"].check(1.01) is not None
    assert AXES["jobs"].check(2.5) is not None and AXES["jobs"].check(True) is not None
    assert AXES["setup"].check("lora") is None and AXES["setup"].check("fp8") is not None


def test_the_cli_prints_a_bad_file_as_an_error_exit_2_and_writes_nothing(
    tmp_path: Path, cli: Cli
) -> None:
    path = _write(tmp_path, 'scenario = "germany"\npolicies = ["stay", "teleport"]\n')
    out = tmp_path / "out"
    code, stdout, err = cli("sweep", str(path), "--out", str(out))
    assert code == 2 and stdout == ""
    assert err.startswith("greenhop: error: sweep.toml: field 'policies': unknown policy ")
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
    code, _, err = cli("sweep", str(tmp_path / "missing.toml"))
    assert code == 2 and "missing.toml: cannot read" in err


def test_the_guide_lists_every_axis_and_value_and_shows_the_example_file() -> None:
    from greenhop.checkpoints import SETUPS
    from greenhop.energy.forecast import FORECASTERS
    from greenhop.sweep.spec import job_mixes

    guide = (ROOT / "docs" / "sweeps.md").read_text()
    for axis in AXES:
        assert f"| `{axis}` |" in guide, axis
    for name in [*SETUPS, *FORECASTERS, *job_mixes()]:
        assert f"`{name}`" in guide, name
    block = guide.split("```toml\n", 1)[1].split("```", 1)[0]
    example = EXAMPLE.read_text()
    assert block.strip() in example
