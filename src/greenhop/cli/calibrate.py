"""``greenhop calibrate TRAINER``: measure a trainer on this machine's device (speed, power,
checkpoint, bit-exact resumption) and print the scenario lines the figures give."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from greenhop.cli import _output
from greenhop.cli._commands import NamedCommand


def _kwargs(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; VALUE read as JSON when it parses (numbers, true, strings in
    quotes), else kept as text."""
    from greenhop.errors import InputError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--arg {pair!r}: give KEY=VALUE, e.g. --arg d_model=256")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def calibrate_command(
    trainer: Annotated[
        str,
        typer.Argument(
            help="A bundled trainer (char-transformer, digits-cnn) or an import path "
            "'my_project.train:make_trainer', as in [jobs.live]."
        ),
    ],
    arg: Annotated[
        list[str] | None,
        typer.Option(help="A keyword argument of the factory, KEY=VALUE (repeat for more)."),
    ] = None,
    working_dir: Annotated[
        Path | None, typer.Option(help="Folder the trainer's module is imported from.")
    ] = None,
    steps: Annotated[int, typer.Option(min=2, help="Steps to time, after the warm-up.")] = 50,
    warmup: Annotated[int, typer.Option(min=0, help="Steps before timing starts.")] = 5,
    seconds: Annotated[
        float,
        typer.Option(min=0, help="Time at least this long (s), so a power meter averages well."),
    ] = 0.0,
    gpu: Annotated[
        int | None,
        typer.Option(
            help="Measure the power of this NVIDIA GPU through NVML (default: GPU 0 when torch "
            "sees CUDA and nvidia-ml-py is installed, else no power)."
        ),
    ] = None,
    reference_steps_per_s: Annotated[
        float | None,
        typer.Option(
            help="The same trainer's step rate on the scenario's reference part: prints this "
            "site's accelerator_speed."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Run TRAINER here for a while and measure what the scenario needs: step time, board power
    (NVML), checkpoint size, capture and restore times, and whether a run checkpointed half-way
    and resumed in a fresh trainer ends bit-identical to an uninterrupted one."""
    from greenhop.errors import InputError
    from greenhop.live._extras import import_torch
    from greenhop.live.jobs.calibrate import calibrate
    from greenhop.live.jobs.factory import trainer_source

    source = trainer_source(
        "calibrate",
        trainer,
        trainer_args=_kwargs(arg or []),
        scenario_dir=Path.cwd(),
        working_dir=str(working_dir) if working_dir is not None else False,
    )
    source.check()
    torch = import_torch()
    meter = None
    if gpu is not None or torch.cuda.is_available():
        from greenhop.errors import MissingExtraError
        from greenhop.live.cluster.power import NvmlPowerMeter

        try:
            meter = NvmlPowerMeter(gpu or 0)
        except MissingExtraError:
            if gpu is not None:
                raise
            _output.note("nvidia-ml-py is not installed: power is not measured")
        except Exception as exc:  # NVML's own errors (no driver, no such GPU)
            raise InputError(f"--gpu {gpu or 0}: NVML cannot read this GPU ({exc})") from None
    console = _output.stderr_console()
    with _output.stdout_to_stderr():
        if _output.shows_progress(console):
            with console.status("calibrating") as status:
                result = calibrate(
                    source,
                    steps=steps,
                    warmup=warmup,
                    min_seconds=seconds,
                    meter=meter,
                    progress=lambda msg: status.update(msg),
                )
        else:
            result = calibrate(source, steps=steps, warmup=warmup, min_seconds=seconds, meter=meter)
    if as_json:
        out = result.as_dict()
        if reference_steps_per_s is not None:
            out["accelerator_speed"] = result.speed_relative_to(reference_steps_per_s)
        typer.echo(json.dumps(out, indent=2))
        raise typer.Exit(0 if result.bit_exact else 1)
    table = _output.compact_table(title=f"{trainer} on {result.device}")
    table.add_column("measured")
    table.add_column("value", justify="right")

    def fmt(x: float | None, unit: str, digits: int = 4) -> str:
        return "—" if x is None else f"{x:.{digits}g} {unit}"

    rows = [
        ("step time (median)", fmt(result.step_s_median * 1e3, "ms")),
        ("step time (p90)", fmt(result.step_s_p90 * 1e3, "ms")),
        ("steps per second", fmt(result.steps_per_s, "/s")),
        (f"power idle ({result.power_source})", fmt(result.idle_power_w, "W")),
        (f"power training ({result.power_source})", fmt(result.mean_power_w, "W")),
        ("energy per step", fmt(result.energy_per_step_j, "J")),
        ("checkpoint", fmt(result.checkpoint_bytes / 1e6, "MB")),
        ("of which frozen", fmt(result.frozen_bytes / 1e6, "MB")),
        ("capture + serialise", fmt(result.capture_s * 1e3, "ms")),
        ("parse + load", fmt(result.restore_s * 1e3, "ms")),
        (
            f"resumed at step {result.resumed_at_step}",
            "bit-identical" if result.bit_exact else "DIFFERS",
        ),
    ]
    for row in rows:
        table.add_row(*row)
    _output.stdout_console().print(table)
    typer.echo("\n".join(result.scenario_lines(reference_steps_per_s)))
    if not result.bit_exact:
        typer.echo(
            "The resumed run differs from the uninterrupted one: the trainer's state_dict misses "
            "something (a generator, the data position) or its kernels are not deterministic; "
            "call greenhop.live.jobs.trainer.make_deterministic(seed) in its factory.",
            err=True,
        )
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("calibrate", cls=NamedCommand)(calibrate_command)
