"""Your training code as a live job: a trainer factory named by its import path.

A scenario job names its trainer in ``[jobs.live]``::

    [jobs.live]
    trainer = "my_project.train:make_trainer"   # module:attribute, or a bundled name
    trainer_args = { hidden = 64, lr = 0.01 }   # keyword arguments of the factory
    train_steps = 500

The factory is any callable that returns a :class:`~greenhop.live.jobs.trainer.Trainer` (a class,
a function). It gets ``trainer_args`` and, when it takes a ``seed`` parameter that
``trainer_args`` does not set, the job's seed (the scenario's ``seed`` plus the job's index).
The bundled examples are two such factories (:data:`BUNDLED`).

**How the code reaches the sites** (the way Ray ships code, the run's ``runtime_env``,
:meth:`~greenhop.live.control.scenario.LiveScenario.runtime_env`):

- ``working_dir`` (default: the scenario file's folder when the trainer is not bundled): the
  folder is uploaded to the cluster and each site's worker runs in it, so ``my_project`` imports;
- ``py_modules``: extra packages or modules (folders or files) uploaded beside it;
- an installed package (``working_dir = false`` in the table and nothing uploaded): the module
  must already be importable on every node.

**Checked before any cluster starts** (:meth:`TrainerSource.check`): the module imports, the
attribute exists and is callable, the factory builds a trainer, and the trainer has ``step``,
``state_dict`` and ``load_state_dict``; otherwise one :class:`TrainerError` names the job, the
path and what to do.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenhop.errors import InputError

#: The bundled example trainers by name, and the factories they stand for.
BUNDLED = {
    "digits-cnn": "greenhop.live.jobs.examples:DigitsCNNTrainer",
    "char-transformer": "greenhop.live.jobs.examples:CharTransformerTrainer",
}

_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
_PROTOCOL = ("step", "state_dict", "load_state_dict")


class TrainerError(InputError):
    """A job's trainer cannot be imported, built, or does not follow the trainer protocol."""


def is_trainer_path(value: str) -> bool:
    """True for a bundled name or a ``module:attribute`` import path."""
    return value in BUNDLED or bool(_PATH.match(value))


@dataclass(frozen=True)
class TrainerSource:
    """A picklable trainer factory: an import path, its keyword arguments and the code's
    location. Calling it (on a site's node) imports the factory and builds the trainer."""

    path: str  # module:attribute
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    working_dir: str | None = None  # absolute; uploaded to the cluster as the runtime_env's
    py_modules: tuple[str, ...] = ()  # absolute paths of extra modules or packages
    job: str = "?"

    def __call__(self) -> Any:
        return self._factory()(**self.kwargs)

    @property
    def label(self) -> str:
        return f"job {self.job!r}: trainer {self.path!r}"

    def runtime_env(self) -> dict[str, Any] | None:
        """The Ray ``runtime_env`` that ships this code to a site (None: nothing to ship)."""
        env: dict[str, Any] = {}
        if self.working_dir is not None:
            env["working_dir"] = self.working_dir
        if self.py_modules:
            env["py_modules"] = list(self.py_modules)
        return env or None

    def _factory(self) -> Any:
        module_name, _, attr = self.path.partition(":")
        with _importable(self.working_dir, self.py_modules):
            try:
                obj: Any = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                where = f" in {self.working_dir}" if self.working_dir else ""
                raise TrainerError(
                    f"{self.label}: cannot import module {module_name!r}{where} ({exc}); check "
                    "the path, working_dir and py_modules in [jobs.live]"
                ) from None
            except Exception as exc:
                raise TrainerError(
                    f"{self.label}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
                ) from None
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise TrainerError(
                    f"{self.label}: module {module_name!r} has no attribute {attr!r}"
                )
            obj = getattr(obj, part)
        if not callable(obj):
            raise TrainerError(f"{self.label}: {attr!r} is a {type(obj).__name__}, not callable")
        return obj

    def check(self) -> None:
        """Import the factory, build a trainer in this process and check it against the
        protocol; raise :class:`TrainerError` naming the job and the path if anything fails."""
        factory = self._factory()
        try:
            inspect.signature(factory).bind(**self.kwargs)
        except TypeError as exc:
            raise TrainerError(
                f"{self.label}: trainer_args do not fit the factory: {exc}"
            ) from None
        except ValueError:
            pass  # no signature (a builtin): calling it tells
        with _importable(self.working_dir, self.py_modules):
            try:
                trainer = factory(**self.kwargs)
            except Exception as exc:
                raise TrainerError(
                    f"{self.label}: the factory raised {type(exc).__name__}: {exc}"
                ) from None
        missing = [m for m in _PROTOCOL if not callable(getattr(trainer, m, None))]
        if missing:
            raise TrainerError(
                f"{self.label}: the factory returned a {type(trainer).__name__} without "
                f"{', '.join(missing)}; a trainer needs step(), state_dict() and "
                "load_state_dict() (greenhop.live.jobs.trainer.Trainer)"
            )
        if callable(getattr(trainer, "frozen_keys", None)):
            from greenhop.live.jobs.checkpoint import Checkpoint

            try:
                Checkpoint.capture(trainer, steps_done=0).check_frozen()
            except (InputError, TypeError) as exc:
                raise TrainerError(f"{self.label}: {exc}") from None


def trainer_source(
    job: str,
    trainer: str,
    *,
    trainer_args: Mapping[str, Any] | None = None,
    seed: int | None = None,
    scenario_dir: Path | None = None,
    working_dir: str | bool | None = None,
    py_modules: Sequence[str] = (),
) -> TrainerSource:
    """The :class:`TrainerSource` of a job's ``[jobs.live]`` table.

    ``trainer``: a bundled name or ``module:attribute``; ``seed`` is passed as ``seed=`` when the
    factory takes it and ``trainer_args`` does not set it. ``working_dir``: a folder (relative to
    ``scenario_dir``), False for none, None for the default (``scenario_dir`` for a trainer that
    is not bundled). ``py_modules``: paths relative to ``scenario_dir``.
    """
    bundled = trainer in BUNDLED
    path = BUNDLED.get(trainer, trainer)
    if not _PATH.match(path):
        raise TrainerError(
            f"job {job!r}: trainer {trainer!r} is neither a bundled trainer "
            f"({', '.join(BUNDLED)}) nor an import path like 'my_project.train:make_trainer'"
        )

    def resolve(p: str, what: str) -> str:
        full = Path(p) if Path(p).is_absolute() or scenario_dir is None else scenario_dir / p
        if not full.exists():
            raise TrainerError(f"job {job!r}: {what} {p!r} does not exist (looked at {full})")
        return str(full.resolve())

    if working_dir is None:
        wd = None if bundled or scenario_dir is None else str(scenario_dir.resolve())
    elif working_dir is False:
        wd = None
    elif working_dir is True:
        raise TrainerError(f"job {job!r}: working_dir is a folder or false, not true")
    else:
        wd = resolve(str(working_dir), "working_dir")
    kwargs = dict(trainer_args or {})
    source = TrainerSource(
        path=path,
        kwargs=kwargs,
        working_dir=wd,
        py_modules=tuple(resolve(m, "py_modules entry") for m in py_modules),
        job=job,
    )
    if seed is not None and "seed" not in kwargs and _takes_seed(source._factory()):
        source = TrainerSource(
            path=path,
            kwargs={**kwargs, "seed": seed},
            working_dir=wd,
            py_modules=source.py_modules,
            job=job,
        )
    return source


def _takes_seed(factory: Any) -> bool:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return "seed" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


@contextlib.contextmanager
def _importable(working_dir: str | None, py_modules: Sequence[str]) -> Iterator[None]:
    """Put the job's code on ``sys.path`` for an import in this process, as the runtime_env
    does on a site's node (the working_dir, and each py_module's parent folder)."""
    extra = [working_dir] if working_dir else []
    extra += [str(Path(m).parent) for m in py_modules]
    extra = [p for p in extra if p not in sys.path]
    sys.path[:0] = extra
    try:
        yield
    finally:
        for p in extra:
            with contextlib.suppress(ValueError):
                sys.path.remove(p)
