"""Running sweeps on the German scenario (real Solcast PV): a cell is the simulation
``greenhop simulate`` runs with the same overrides; an interrupted sweep resumes without running
a finished cell again; on Ray the rows are the same and no Ray process is left behind; the CLI
writes the table and the report."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Cli

from greenhop.runner import run_policies
from greenhop.scenario import load_scenario
from greenhop.sim import metrics, with_overrides
from greenhop.sweep import load_sweep, run_sweep, write_report
from greenhop.sweep.report import compare_table, t_interval
from greenhop.sweep.store import done_keys, write_part
from greenhop.world.inputs import inputs_from_scenario

#: Columns that hold wall-clock times (the only ones two runs of a cell may differ in).
TIMES = ["wall_s", "cell_s", "cell_cpu_s"]

#: Generated jobs, two seeds, two points: four cells on the German scenario.
GENERATED = """
scenario = "germany"
policies = {policies}
seeds = [0, 1]
[workload]
jobs = 6
work_gpu_h = [2.0, 12.0]
[grid]
alpha = [0.05, 0.5]
"""


def _write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _same_rows(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        a.drop(columns=TIMES).reset_index(drop=True), b.drop(columns=TIMES).reset_index(drop=True)
    )


class _StopAfter:
    """A progress callback that presses Ctrl-C once ``n`` cells are done."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.processes: set[int] = set()  # this process's descendants when Ctrl-C came

    def __call__(self, done: int, total: int, what: str) -> None:
        if what == "running" and done >= self.n:
            self.processes = _children()
            raise KeyboardInterrupt


def _children() -> set[int]:
    """Every live descendant of this process."""
    out: set[int] = set()
    todo = [os.getpid()]
    while todo:
        pid = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                kids = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for kid in map(int, kids):
                try:
                    state = Path(f"/proc/{kid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                except OSError:
                    continue
                if state != "Z":
                    out.add(kid)
                    todo.append(kid)
    return out


def test_a_cell_is_the_simulation_of_the_scenario_with_its_overrides(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'scenario = "germany"\npolicies = ["energy-only", "feasibility-aware"]\n'
        "[grid]\nbandwidth_gbps = [0.5, 5.0]\ncheckpoint_gb = [2.0, 50.0]\n",
    )
    spec = load_sweep(path)
    run = run_sweep(spec, tmp_path / "out", inline=True)
    rows = run.results
    assert (run.cells, run.ran, run.skipped_done) == (4, 4, 0)
    assert len(rows) == 8 and (rows["status"] == "ok").all()
    assert list(rows["policy"]) == ["energy-only", "feasibility-aware"] * 4
    base = inputs_from_scenario(load_scenario("germany"))
    for (bw, size), cell in rows.groupby(["bandwidth_gbps", "checkpoint_gb"], sort=False):
        inputs = with_overrides(base, bandwidth_gbps=bw, checkpoint_gb=size)
        for record in run_policies(inputs, ["energy-only", "feasibility-aware"]):
            want = metrics.summary(record)
            got = cell[cell["policy"] == record.policy].iloc[0]
            for m in ("non_renewable_kwh", "jobs_non_renewable_kwh", "migrations", "jct_mean_h"):
                assert got[m] == want[m], (bw, size, record.policy, m)
    # the axes matter: energy-only moves the same jobs, so the bytes it moves scale with S
    eo = rows[rows["policy"] == "energy-only"]
    small = eo[eo["checkpoint_gb"] == 2.0]["bytes_moved"].to_numpy()
    large = eo[eo["checkpoint_gb"] == 50.0]["bytes_moved"].to_numpy()
    assert (small > 0).all() and (large > small).all()
    written = pd.read_parquet(tmp_path / "out" / "results.parquet")
    _same_rows(written, rows)


def test_an_interrupted_sweep_resumes_and_a_new_policy_runs_alone(tmp_path: Path) -> None:
    path = _write(tmp_path, GENERATED.format(policies='["energy-only", "feasibility-aware"]'))
    spec = load_sweep(path)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, out, inline=True, progress=_StopAfter(2))
    # the two finished cells are on disk (Ctrl-C came after the second, before a flush)
    assert len(done_keys(out)) == 4
    assert len(pd.read_parquet(out / "results.parquet")) == 4
    again = run_sweep(spec, out, inline=True)
    assert (again.skipped_done, again.ran) == (2, 2)
    fresh = run_sweep(spec, tmp_path / "fresh", inline=True)
    _same_rows(again.results, fresh.results)
    # seeds draw different jobs: the two seeds of a point differ
    eo = fresh.results[fresh.results["policy"] == "energy-only"]
    assert eo.groupby("point")["it_energy_kwh"].nunique().eq(2).all()
    # a policy added later runs alone; the rows already there are kept as they were
    more = load_sweep(
        _write(tmp_path, GENERATED.format(policies='["energy-only", "feasibility-aware", "stay"]'))
    )
    third = run_sweep(more, out, inline=True)
    assert (third.skipped_done, third.ran) == (0, 4)
    merged = third.results
    assert len(merged) == 12 and list(merged["policy"][:3]) == [
        "energy-only",
        "feasibility-aware",
        "stay",
    ]
    kept = merged[merged["policy"] != "stay"].set_index("key")["cell_s"]
    before = again.results.set_index("key")["cell_s"]
    assert kept.sort_index().equals(before.sort_index())


def test_on_ray_the_rows_are_the_same_and_ctrl_c_leaves_no_ray_process(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    path = _write(tmp_path, GENERATED.format(policies='["energy-only", "feasibility-aware"]'))
    spec = load_sweep(path)
    out = tmp_path / "ray"
    before = _children()
    stop = _StopAfter(1)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, out, cpus=1, object_store_mb=100, progress=stop)
    assert stop.processes - before, "the embedded Ray ran no process of its own"
    assert not ray.is_initialized()
    assert _children() <= before, "the embedded Ray left processes behind"
    # the cell that finished is kept; the one still running was cancelled
    on_ray = pd.read_parquet(out / "results.parquet")
    assert len(on_ray) == 2 and len(done_keys(out)) == 2
    rest = run_sweep(spec, out, inline=True)
    assert (rest.skipped_done, rest.ran) == (1, 3)
    inline = run_sweep(spec, tmp_path / "inline", inline=True)
    _same_rows(rest.results, inline.results)


def test_the_cli_writes_one_table_and_a_report_and_resumes(tmp_path: Path, cli: Cli) -> None:
    path = _write(
        tmp_path,
        GENERATED.format(policies='["energy-only", "feasibility-aware"]').replace(
            "alpha = [0.05, 0.5]", "bandwidth_gbps = [0.2, 5.0]\ncheckpoint_gb = [1.0, 40.0]"
        ),
    )
    out = tmp_path / "out"
    code, stdout, _ = cli("sweep", str(path), "--out", str(out), "--inline", "--json")
    assert code == 0
    info = json.loads(stdout)
    assert (info["cells"], info["ran"], info["rows"]) == (8, 8, 16)
    results = pd.read_parquet(info["results"])
    for column in ("key", "cell", "seed", "bandwidth_gbps", "checkpoint_gb", "policy"):
        assert column in results
    for metric in ("non_renewable_kwh", "migrations", "jct_mean_h", "renewable_share"):
        assert results[metric].notna().all()
    report = out / "report"
    page = (report / "index.html").read_text()
    for m in ("non_renewable_kwh", "jct_mean_h"):
        assert (report / f"heatmap-{m}.png").stat().st_size > 1000
        assert f'src="heatmap-{m}.png"' in page
    # the report's paired differences are those of the table, seed by seed
    spec = load_sweep(path)
    table = compare_table(results, spec, "feasibility-aware", "energy-only", ["non_renewable_kwh"])
    written = pd.read_csv(report / "compare.csv")
    np.testing.assert_allclose(written["non_renewable_kwh_diff"], table["non_renewable_kwh_diff"])
    pivot = results.pivot_table(
        index=["point", "seed"], columns="policy", values="non_renewable_kwh"
    )
    diff = (pivot["feasibility-aware"] - pivot["energy-only"]).groupby("point")
    np.testing.assert_allclose(table["non_renewable_kwh_diff"], diff.mean().to_numpy())
    ci = np.array([t_interval(g.to_numpy())[1] for _, g in diff])
    np.testing.assert_allclose(table["non_renewable_kwh_diff_ci95"], ci)
    code, stdout, _ = cli("sweep", str(path), "--out", str(out), "--inline", "--json")
    assert code == 0 and json.loads(stdout)["ran"] == 0
    code, stdout, _ = cli("sweep", str(path), "--out", str(out), "--dry-run")
    assert code == 0 and "8 done" in stdout and "0 to run" in stdout


def test_a_policy_a_cell_cannot_run_gives_a_skipped_row_with_the_reason(tmp_path: Path) -> None:
    # germany has no grid signals: the carbon objective cannot be built, energy-only runs
    path = _write(
        tmp_path,
        'scenario = "germany"\npolicies = ["energy-only", "lookahead:carbon"]\n'
        '[grid]\nalpha = [0.2]\n[report]\nmetrics = ["emissions_kgco2e", "migrations"]\n',
    )
    spec = load_sweep(path)
    run = run_sweep(spec, tmp_path / "out", inline=True)
    rows = run.results.set_index("policy")
    assert rows.loc["energy-only", "status"] == "ok"
    assert rows.loc["lookahead:carbon", "status"] == "skipped"
    assert "needs a carbon signal" in rows.loc["lookahead:carbon", "reason"]
    page = write_report(tmp_path / "out", spec, run.results).read_text()
    assert "1 simulated, 1 skipped" in page
    # a skipped row is done: a rerun runs nothing
    assert run_sweep(spec, tmp_path / "out", inline=True).ran == 0


def test_a_sampled_sweep_of_one_policy_maps_its_own_values(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'scenario = "germany"\npolicies = ["energy-only"]\n[workload]\njobs = 4\n'
        "[sample]\nn = 5\n"
        'bandwidth_gbps = { min = 0.1, max = 10.0, scale = "log" }\n'
        'checkpoint_gb = { min = 1.0, max = 100.0, scale = "log" }\n',
    )
    spec = load_sweep(path)
    run = run_sweep(spec, tmp_path / "out", inline=True)
    page = write_report(tmp_path / "out", spec, run.results)
    index = (page.parent / "index.md").read_text()
    assert "non_renewable_kwh of energy-only, kWh over bandwidth_gbps (x)" in index
    assert (page.parent / "heatmap-non_renewable_kwh.png").stat().st_size > 1000
    points = pd.read_csv(page.parent / "points.csv")
    assert len(points) == 5 and points["bandwidth_gbps"].between(0.1, 10.0).all()
    want = run.results.set_index("point")["non_renewable_kwh"].sort_index()
    np.testing.assert_allclose(points.set_index("point")["non_renewable_kwh"].sort_index(), want)
    # five points in six by six bins leave squares empty: grey, and said so
    assert "Grey: no cell fell there." in index


def test_a_folder_that_is_not_a_sweep_folder_is_refused(tmp_path: Path, cli: Cli) -> None:
    path = _write(tmp_path, 'scenario = "germany"\npolicies = ["stay"]\n')
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    code, _, err = cli("sweep", str(path), "--out", str(other), "--inline")
    assert code == 2 and "is not a sweep folder" in err
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]


def test_an_address_where_no_ray_answers_is_one_line_and_writes_nothing(
    tmp_path: Path, cli: Cli
) -> None:
    pytest.importorskip("ray")
    path = _write(tmp_path, 'scenario = "germany"\npolicies = ["stay"]\n')
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "out"
    code, _, err = cli("sweep", str(path), "--out", str(out), "--address", f"127.0.0.1:{port}")
    assert code == 2
    assert err.startswith(f"greenhop: error: --address 127.0.0.1:{port}: no Ray cluster answers")
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_two_runs_in_one_process_never_write_the_same_part(tmp_path: Path) -> None:
    # a resumed run right after an interrupted one starts its counter at 1 again, in the same
    # process and, often, the same second: its part must not replace the other's
    (tmp_path / "parts").mkdir()
    first = write_part(tmp_path, [{"key": "a", "cell": 0, "policy": "stay"}], 1)
    second = write_part(tmp_path, [{"key": "b", "cell": 1, "policy": "stay"}], 1)
    assert first != second
    assert done_keys(tmp_path) == {"a", "b"}


def test_the_t_interval_over_seeds() -> None:
    mean, half, n = t_interval([1.0, 2.0, 3.0])
    # t(0.975, 2) = 4.3027 (any t-table); s = 1
    assert (mean, n) == (2.0, 3) and half == pytest.approx(4.3027 / math.sqrt(3), rel=1e-4)
    mean, half, n = t_interval([5.0, float("nan")])
    assert (mean, n) == (5.0, 1) and math.isnan(half)


def test_the_network_energy_axis_scales_e_net_in_the_books_and_in_the_model(
    tmp_path: Path,
) -> None:
    """``network_energy_scale`` multiplies e_net for the policies and for the books: at the same
    moves, the network energy scales by exactly the factor; the feasibility-aware policy sees the
    dearer moves (its break-even time grows) and may make fewer."""
    path = _write(
        tmp_path,
        'scenario = "germany"\npolicies = ["energy-only", "feasibility-aware"]\n'
        "[grid]\nnetwork_energy_scale = [1.0, 100.0]\ncheckpoint_gb = [20.0]\n",
    )
    rows = run_sweep(load_sweep(path), tmp_path / "out", inline=True).results
    assert (rows["status"] == "ok").all()
    eo = rows[rows["policy"] == "energy-only"].set_index("network_energy_scale")
    # energy-only ignores e_net: the same moves, so network energy x100 exactly
    assert eo.loc[100.0, "migrations"] == eo.loc[1.0, "migrations"] > 0
    assert eo.loc[100.0, "network_kwh"] == pytest.approx(100 * eo.loc[1.0, "network_kwh"])
    base = inputs_from_scenario(load_scenario("germany"))
    want = metrics.summary(
        run_policies(
            dataclasses.replace(
                with_overrides(base, checkpoint_gb=20.0),
                params=base.params.replace(network_kwh_per_gb=base.params.network_kwh_per_gb * 100),
            ),
            ["feasibility-aware"],
        )[0]
    )
    fa = rows[(rows["policy"] == "feasibility-aware") & (rows["network_energy_scale"] == 100.0)]
    for m in ("non_renewable_kwh", "migrations", "network_kwh"):
        assert fa.iloc[0][m] == want[m], m
