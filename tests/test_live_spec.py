"""The [jobs.live] table: kept as read by the schema, validated by greenhop.live (no torch, Ray)."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenhop.errors import ScenarioError
from greenhop.live.jobs.spec import LiveJobSpec, live_job_specs
from greenhop.scenario import bundled_scenario, load_scenario

DEMO = bundled_scenario("live-demo").read_text("utf-8")
LM = 'trainer = "char-transformer"\ntrain_steps = 480'


def _demo(tmp_path: Path, new: str) -> Path:
    assert LM in DEMO
    path = tmp_path / "demo.toml"
    path.write_text(DEMO.replace(LM, new, 1), encoding="utf-8")
    return path


def _error(tmp_path: Path, new: str) -> str:
    scenario = load_scenario(_demo(tmp_path, new))  # the schema takes any [jobs.live] table
    with pytest.raises(ScenarioError) as err:
        live_job_specs(scenario)
    return str(err.value)


def test_the_demo_names_its_trainers_and_steps() -> None:
    scenario = load_scenario("live-demo")
    specs = live_job_specs(scenario)
    assert [(s.trainer, s.train_steps) for s in specs] == [
        ("digits-cnn", 560),
        ("char-transformer", 480),
        ("digits-cnn", 400),
    ]
    assert scenario.jobs[1].live == {"trainer": "char-transformer", "train_steps": 480}


def test_a_job_without_the_table_gets_the_defaults() -> None:
    scenario = load_scenario("default")
    assert live_job_specs(scenario) == [LiveJobSpec()] * len(scenario.jobs)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'trainer = "gpt-5"\ntrain_steps = 480',
            "field 'trainer': neither a bundled trainer (digits-cnn, char-transformer) nor an "
            "import path like 'my_project.train:make_trainer' (got 'gpt-5')",
        ),
        (
            'trainer = "char-transformer"\ntrain_step = 480',
            "field 'train_step': unknown field; did you mean 'train_steps'?",
        ),
        (
            'trainer = "char-transformer"\ntrain_steps = 0',
            "field 'train_steps': must be ≥ 1 (got 0)",
        ),
        (
            'trainer = "char-transformer"\ntrain_steps = 4.5',
            "field 'train_steps': Input should be a valid integer (got 4.5)",
        ),
    ],
)
def test_a_bad_table_is_one_line_naming_the_job(tmp_path: Path, table: str, message: str) -> None:
    assert _error(tmp_path, table) == f"demo.toml: [[jobs]] #2 'lm': [jobs.live]: {message}"


def test_the_live_world_checks_the_table_before_it_builds_anything(tmp_path: Path) -> None:
    from greenhop.live.control.scenario import LiveScenario

    scenario = load_scenario(_demo(tmp_path, 'trainer = "char-transformer"\ntrain_steps = 0'))
    with pytest.raises(ScenarioError, match=r"^demo\.toml: \[\[jobs\]\] #2 'lm': \[jobs\.live\]"):
        LiveScenario.from_scenario(scenario)
