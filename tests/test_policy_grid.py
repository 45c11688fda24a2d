"""Policies on the grid side, on real signals: objectives (carbon, cost), the carbon-aware
baseline, demand response and curtailment as supply (WattTime CAISO-North; CAISO NP15 week)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import WATTTIME, unpack_grid_data

from greenhop.errors import InputError
from greenhop.runner import is_grid_policy, policy_for, run_policies
from greenhop.scenario import load_scenario
from greenhop.signals.grid import read_curtailment
from greenhop.sim.metrics import job_table, summary
from greenhop.world import ledger
from greenhop.world.inputs import SimInputs


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = unpack_grid_data(tmp_path_factory.mktemp("grid-policies"))
    # a second region: a flat, cleaner marginal rate (hydro-backed), 5-min like WattTime's
    times = pd.date_range("2023-06-01", "2023-07-10", freq="5min")
    pd.DataFrame({"time": times, "hydro": 100.0}).to_csv(out / "flat.csv", index=False)
    return out


def two_regions(
    folder: Path,
    *,
    jobs: str,
    extra: str = "",
    name: str = "two",
    second: str = "hydro",
) -> Path:
    """Two US sites without renewables at night: greensboro in CAISO-North's region (real
    marginal rates), nw-colorado in ``second`` (the flat, cleaner one by default)."""
    text = f"""
name = "{name}"
start = 2023-06-12T04:00:00Z
end = 2023-06-13T04:00:00Z
step = "15min"
forecaster = "persistence"
[[sites]]
name = "greensboro"
gpu_slots = 2
base_load_w = 6000.0
pv = {{ peak_kw = 4.0, tilt_deg = 30.0, azimuth_deg = 180.0 }}
region = "caiso-north"
[[sites]]
name = "nw-colorado"
gpu_slots = 2
base_load_w = 6000.0
pv = {{ peak_kw = 4.0, tilt_deg = 30.0, azimuth_deg = 180.0 }}
region = "{second}"
[[grid]]
signal = "carbon"
kind = "marginal"
file = "{WATTTIME}_actual.csv"
unit = "lbs/MWh"
label = "end"
forecast = "{WATTTIME}_forecast.csv"
region = "caiso-north"
[[grid]]
signal = "carbon"
kind = "marginal"
file = "flat.csv"
unit = "g/kWh"
region = "hydro"
{extra}
{jobs}
"""
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


JOB = """
[[jobs]]
name = "night"
arrival = 2023-06-12T05:00:00Z
work_gpu_h = 3.0
power_w = 400.0
checkpoint_gb = 2.0
"""


def started_at(record, job: int = 0) -> int:  # type: ignore[no-untyped-def]
    return next(site for _, j, event, site in record.events if j == job and event == "start")


def test_carbon_objective_starts_where_the_grid_is_cleaner(data: Path) -> None:
    inputs = SimInputs.from_scenario(load_scenario(two_regions(data, jobs=JOB)))
    caiso = inputs.grid.carbon.values[:, 0]  # type: ignore[union-attr]
    assert (caiso[:8] > 100.0).all()  # the real CAISO-North rate is above the flat one then
    plain, carbon = run_policies(inputs, ["feasibility-aware", "feasibility-aware:carbon"])
    assert started_at(plain) == 0  # no renewables anywhere: the lower index
    assert started_at(carbon) == 1  # the cleaner grid
    assert summary(carbon)["emissions_kgco2e"] < summary(plain)["emissions_kgco2e"]
    assert carbon.policy == "feasibility-aware:carbon"
    assert carbon.policy_config["objective"] == "carbon"


def test_carbon_aware_shifts_the_start_to_low_intensity(data: Path) -> None:
    job = JOB.replace('"night"', '"flex"') + "deadline = 2023-06-13T03:00:00Z\n"
    path = two_regions(data, jobs=job, name="one", second="caiso-north")
    inputs = SimInputs.from_scenario(load_scenario(path))
    stay, aware = run_policies(inputs, ["stay", "carbon-aware"])
    assert aware.job_start_s[0] > stay.job_start_s[0]  # it waited
    assert aware.job_done_s[0] <= inputs.jobs.deadline_s[0]  # within its slack
    assert summary(aware)["emissions_kgco2e"] < summary(stay)["emissions_kgco2e"]
    assert job_table(aware)["emissions_kgco2e"][0] < job_table(stay)["emissions_kgco2e"][0]


def test_grid_policies_need_their_signal() -> None:
    inputs = SimInputs.from_scenario(load_scenario("default"))
    with pytest.raises(InputError, match="needs a carbon signal"):
        policy_for("carbon-aware", inputs)
    with pytest.raises(InputError, match="needs a price signal"):
        policy_for("lookahead:cost", inputs)
    assert is_grid_policy("lookahead:carbon") and not is_grid_policy("lookahead")
    with pytest.raises(InputError, match="unknown objective"):
        policy_for("lookahead:speed", inputs)


def test_demand_response_sheds_jobs_before_the_event(data: Path) -> None:
    (data / "dr.csv").write_text("start,end,cap_kw\n2023-06-12T07:00Z,2023-06-12T09:00Z,0.3\n")
    job = JOB + 'site = "greensboro"\n'  # it starts there
    dr = """
[[grid]]
signal = "demand_response"
file = "dr.csv"
sites = ["greensboro"]
"""
    inputs = SimInputs.from_scenario(load_scenario(two_regions(data, jobs=job, extra=dr)))
    stay, fa, look = run_policies(inputs, ["stay", "feasibility-aware", "lookahead"])
    assert summary(stay)["dr_excess_kwh"] > 0  # the job kept drawing through the event
    assert summary(fa)["dr_excess_kwh"] == pytest.approx(0.0)
    assert summary(look)["dr_excess_kwh"] == pytest.approx(0.0)
    assert look.migrations[0].dest == 1
    move = fa.migrations[0]
    assert move.src == 0 and move.dest == 1
    assert move.restored_s <= 3 * 3600  # done before the event (07:00, run starts 04:00)
    # a move that takes longer than the lead (100 GB over 0.1 Gbit/s: 2.2 h) starts early
    big = job.replace("checkpoint_gb = 2.0", "checkpoint_gb = 100.0").replace(
        "2023-06-12T05:00:00Z", "2023-06-12T04:00:00Z"
    )
    slow = dr + "\n[links]\ndefault_gbps = 0.1\n"
    inputs = SimInputs.from_scenario(
        load_scenario(two_regions(data, jobs=big, extra=slow, name="slow"))
    )
    (early,) = run_policies(inputs, ["feasibility-aware"])
    move = early.migrations[0]
    assert move.kind == "migrate"
    assert move.restored_s - move.started_s > 2 * 3600
    assert move.restored_s <= 3 * 3600  # still before the event
    assert summary(early)["dr_excess_kwh"] == pytest.approx(0.0)
    # with no room elsewhere it pauses, and resumes after the event
    full = dr.replace('sites = ["greensboro"]', "")
    inputs = SimInputs.from_scenario(
        load_scenario(two_regions(data, jobs=job, extra=full, name="both"))
    )
    (paused,) = run_policies(inputs, ["feasibility-aware"])
    kinds = [e for _, j, e, _ in paused.events if j == 0]
    assert "pause" in kinds and "resume" in kinds and kinds[-1] == "done"
    assert summary(paused)["dr_excess_kwh"] < summary(stay)["dr_excess_kwh"]


def np15_scenario(folder: Path, *, jobs: int = 6) -> Path:
    rows = []
    for i in range(jobs):
        day = 15 + i
        rows.append(
            f"""
[[jobs]]
name = "j{i}"
arrival = 2024-01-{day}T09:00:00Z
work_gpu_h = 4.0
power_w = 500.0
checkpoint_gb = 5.0
deadline = 2024-01-{day + 1}T09:00:00Z
"""
        )
    text = f"""
name = "np15-week"
start = 2024-01-15T08:00:00Z
end = 2024-01-22T08:00:00Z
step = "15min"
forecaster = "persistence"
[[sites]]
name = "np15-dc"
gpu_slots = 4
latitude = 38.6
longitude = -121.5
timezone = "America/Los_Angeles"
curtailment_share = 0.00002
curtailment_cap_kw = 10.0
[[sites]]
name = "greensboro"
gpu_slots = 4
base_load_w = 6000.0
pv = {{ peak_kw = 8.0, tilt_deg = 30.0, azimuth_deg = 180.0 }}
[[grid]]
signal = "curtailment"
file = "np15.csv"
column = "Total_Curtailment_NP15_MW"
unit = "MW"
[[grid]]
signal = "price"
file = "np15.csv"
column = "LMP_NP15"
unit = "$/MWh"
known_ahead = "24h"  # a day-ahead price
{"".join(rows)}
"""
    path = folder / "np15.toml"
    path.write_text(text)
    return path


def test_curtailment_is_supply_and_price_is_cost(data: Path) -> None:
    inputs = SimInputs.from_scenario(load_scenario(np15_scenario(data)))
    cur = read_curtailment(data / "np15.csv", column="Total_Curtailment_NP15_MW")
    want = np.minimum(cur.on_grid(inputs.time_index()) * 0.00002, 10e3)
    np.testing.assert_allclose(inputs.generation_w[:, 0], want)
    assert inputs.generation_w[:, 0].max() == pytest.approx(10e3)  # the cap bites
    stay, cost = run_policies(inputs, ["lookahead", "lookahead:cost"])
    s, c = summary(stay), summary(cost)
    assert s["currency"] == "USD"
    acc = ledger.grid_accounts(stay)
    price = inputs.grid.price.values  # type: ignore[union-attr]
    by_hand = (stay.grid_w * price).sum() * inputs.step_s / 3.6e6 / 1000.0
    net = acc.network_cost
    assert s["energy_cost"] == pytest.approx(by_hand + net)
    assert c["energy_cost"] < s["energy_cost"]  # shifted to cheaper hours
    assert c["jobs_done"] == s["jobs_done"] == len(inputs.jobs)
