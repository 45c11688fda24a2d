"""Your training code as a live job (live.jobs.factory): found by its import path, checked
against the trainer protocol before any cluster starts, one clear error per mistake."""

from __future__ import annotations

import pickle
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("torch")

from greenhop.live.control.scenario import LiveScenario
from greenhop.live.jobs.factory import BUNDLED, TrainerError, trainer_source
from greenhop.scenario import ScenarioError, load_scenario

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own-trainer"

PROJECT = {
    "good.py": """
        class T:
            def __init__(self, seed=0, width=1):
                self.seed, self.width, self.n = seed, width, 0
            def step(self):
                self.n += 1
                return {"n": float(self.n)}
            def state_dict(self):
                return {"n": self.n}
            def load_state_dict(self, state):
                self.n = state["n"]
        def make(seed, width=1):
            return T(seed, width)
        def make_fixed(width=1):
            return T(0, width)
    """,
    "broken.py": """
        class NoState:
            def step(self):
                return {}
        def make():
            return NoState()
        def explode():
            raise RuntimeError("no data on this node")
        NOT_CALLABLE = 3
    """,
    "fails_to_import.py": "raise ImportError('needs a GPU library')",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, text in PROJECT.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path


def test_a_factory_by_import_path_gets_its_args_and_the_seed(project: Path) -> None:
    src = trainer_source("j", "good:make", trainer_args={"width": 3}, seed=7, scenario_dir=project)
    assert src.working_dir == str(project.resolve())  # the scenario's folder, shipped
    assert src.runtime_env() == {"working_dir": str(project.resolve())}
    src.check()
    trainer = pickle.loads(pickle.dumps(src))()  # what a site's node does
    assert (trainer.seed, trainer.width) == (7, 3)
    # a factory without a seed parameter gets none; an explicit seed in trainer_args wins
    assert "seed" not in trainer_source("j", "good:make_fixed", scenario_dir=project, seed=7).kwargs
    fixed = trainer_source("j", "good:make", trainer_args={"seed": 1}, seed=7, scenario_dir=project)
    assert fixed.kwargs["seed"] == 1


def test_the_bundled_trainers_are_factories_too() -> None:
    for name, path in BUNDLED.items():
        src = trainer_source("j", name, seed=3)
        assert src.path == path and src.kwargs == {"seed": 3}
        assert src.runtime_env() is None  # installed with greenhop: nothing to ship


@pytest.mark.parametrize(
    ("trainer", "args", "message"),
    [
        ("nowhere:make", None, "job 'j': trainer 'nowhere:make': cannot import module 'nowhere'"),
        ("good:missing", None, "module 'good' has no attribute 'missing'"),
        ("broken:NOT_CALLABLE", None, "'NOT_CALLABLE' is a int, not callable"),
        ("broken:explode", None, "the factory raised RuntimeError: no data on this node"),
        ("broken:make", None, "returned a NoState without state_dict, load_state_dict"),
        ("fails_to_import:x", None, "importing 'fails_to_import' failed: ImportError"),
        ("good:make", {"depth": 2}, "trainer_args do not fit the factory"),
        ("not a path", None, "neither a bundled trainer"),
    ],
)
def test_each_mistake_is_one_error_naming_the_job_and_path(
    project: Path, trainer: str, args: dict[str, int] | None, message: str
) -> None:
    with pytest.raises(TrainerError, match="job 'j'") as info:
        trainer_source("j", trainer, trainer_args=args, scenario_dir=project).check()
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_missing_working_dir_is_named(project: Path) -> None:
    with pytest.raises(TrainerError, match="working_dir 'code' does not exist"):
        trainer_source("j", "good:make", scenario_dir=project, working_dir="code")


def test_the_example_project_checks_before_any_cluster() -> None:
    live = LiveScenario.from_scenario(load_scenario(EXAMPLE / "scenario.toml"))
    assert live.runtime_env() == {"working_dir": str(EXAMPLE.resolve())}
    assert live.trainers == ("my_project.train:make_trainer",)
    # the bundled demo ships nothing: its trainers come with greenhop
    assert LiveScenario.from_scenario(load_scenario("live-demo")).runtime_env() is None


def test_a_scenario_with_a_bad_trainer_fails_at_load(tmp_path: Path) -> None:
    text = (EXAMPLE / "scenario.toml").read_text()
    (tmp_path / "trace.csv").write_text((EXAMPLE / "trace.csv").read_text())
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("my_project.train:make_trainer", "my_project.train:nope"))
    with pytest.raises(TrainerError, match=r"job 'sine': trainer 'my_project\.train:nope'"):
        LiveScenario.from_scenario(load_scenario(bad))
    bad.write_text(text.replace('"my_project.train:make_trainer"', '"my project"'))
    with pytest.raises(ScenarioError, match="neither a bundled trainer"):
        LiveScenario.from_scenario(load_scenario(bad))
