"""One loop, two clocks: how a policy drives a world, step by step.

A :class:`World` is the simulator (:class:`greenhop.sim.engine.SimulatedWorld`, a simulated clock:
time passes as fast as the engine computes it) or the live controller
(:class:`greenhop.live.control.controller.Controller`, a wall clock: real training jobs on Ray).
Both are driven by :func:`run_steps`; they differ only in how an action is carried out and in how a
step's time passes. Every step ``k`` (``now = k * step_s``):

1. :meth:`World.arrive`: jobs whose arrival step is ``k`` join the queue
   (:func:`greenhop.world.rules.arrival_steps`);
2. while any job is active (arrived, not done), the policy sees :meth:`World.view` and returns
   actions; each is checked by :func:`greenhop.world.rules.refusal` on the world's current
   jobs and free slots, then carried out (:meth:`World.carry_out`) or refused with its reason
   (:meth:`World.refuse`);
3. :meth:`World.advance`: the step's time passes (jobs train, moves go through their phases)
   and the step's energy is settled in the ledger (:mod:`greenhop.world.ledger`).
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from greenhop.policies.base import Action, Policy, View
from greenhop.world.rules import IntArray, refusal


class World(abc.ABC):
    """What a policy acts on; see the module docstring for the loop that drives it."""

    #: Seconds per step.
    step_s: float

    @abc.abstractmethod
    def arrive(self, k: int, now_s: float) -> None:
        """Let the jobs whose arrival step is ``k`` join the queue."""

    @abc.abstractmethod
    def has_active_jobs(self) -> bool:
        """True while some job has arrived and is not done (the policy has something to do)."""

    @abc.abstractmethod
    def view(self, k: int, now_s: float) -> View:
        """The world at step ``k`` as the policy may know it."""

    @abc.abstractmethod
    def job_states(self) -> tuple[IntArray, IntArray]:
        """Every job's current state and site (the arrays the rules check actions against)."""

    @abc.abstractmethod
    def free_slots(self) -> IntArray:
        """Slots per site neither held by a job nor reserved by a move on its way there."""

    def blind_sites(self) -> NDArray[np.bool_] | None:
        """Sites whose power signal is unknown now (none in a simulation)."""
        return None

    def refusal(self, act: Action) -> str:
        """Why ``act`` is refused now, or ``''`` (:func:`greenhop.world.rules.refusal`)."""
        state, site = self.job_states()
        return refusal(act, state, site, self.free_slots(), self.blind_sites())

    @abc.abstractmethod
    def carry_out(self, k: int, now_s: float, act: Action) -> None:
        """Carry out an action the rules allow."""

    @abc.abstractmethod
    def refuse(self, k: int, now_s: float, act: Action, reason: str) -> None:
        """Record an action the rules refuse."""

    @abc.abstractmethod
    def advance(self, k: int, now_s: float) -> None:
        """Let step ``k``'s time pass and settle its energy."""

    def quiet_span(self, k: int, stop: int, policy: Policy) -> int:
        """Advance, from step ``k`` (before ``stop``), the steps at which no job arrives and
        the policy provably returns no action (its
        :meth:`~greenhop.policies.base.Policy.quiet_steps`), without asking it; how many.
        Steps in which nothing happens but time pass all at once; a step in which a job
        changes phase (finishes, lands, restores) passes as :meth:`advance` makes it. A world
        that cannot (the live one, whose steps are real time) advances none: 0."""
        return 0

    #: True for a world that can copy a job's frozen part ahead of a move (it then gets the
    #: policy's :meth:`~greenhop.policies.base.Policy.prestage_hints` through :meth:`prestage`)
    prestages: bool = False

    def prestage(self, k: int, now_s: float, hints: list[tuple[int, int]]) -> None:
        """Copy each hinted job's frozen part to the hinted site, on spare link capacity (a
        world that cannot pre-stage, ``prestages`` False, is never called)."""
        raise NotImplementedError(f"{type(self).__name__} does not pre-stage")


def decide_and_act(world: World, policy: Policy, k: int, now_s: float) -> None:
    """Step 2 of the loop: ask the policy, check each action, carry it out or refuse it."""
    view = world.view(k, now_s)
    for act in policy.decide(now_s, view):
        reason = world.refusal(act)
        if reason:
            world.refuse(k, now_s, act, reason)
        else:
            world.carry_out(k, now_s, act)
    hints = getattr(policy, "prestage_hints", None)  # optional: a plain decide() has none
    if world.prestages and hints is not None:
        world.prestage(k, now_s, hints(view))


def run_steps(
    world: World,
    policy: Policy,
    steps: range,
    *,
    on_step: Callable[[int], None] | None = None,
) -> None:
    """Drive ``world`` with ``policy`` through ``steps`` (see the module docstring);
    ``on_step(k)`` is called after each step. Between steps, a world may advance a quiet span
    at once (:meth:`World.quiet_span`): the same steps, without asking the policy at each."""
    step_s = world.step_s
    if steps.step != 1:
        raise ValueError("run_steps needs consecutive steps")
    k, stop = steps.start, steps.stop
    while k < stop:
        now = k * step_s
        world.arrive(k, now)
        if world.has_active_jobs():
            decide_and_act(world, policy, k, now)
        world.advance(k, now)
        if on_step is not None:
            on_step(k)
        k += 1
        quiet = world.quiet_span(k, stop, policy) if k < stop else 0
        if on_step is not None:
            for q in range(k, k + quiet):
                on_step(q)
        k += quiet
