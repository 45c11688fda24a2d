"""The trace-driven simulator: the world of :mod:`greenhop.world` on a simulated clock.

:class:`SimulatedWorld` implements :class:`~greenhop.world.loop.World`; the one loop
(:func:`~greenhop.world.loop.run_steps`) drives it. Each step of ``step_s`` seconds:

1. jobs whose arrival falls in the step join the queue;
2. the policy sees a :class:`~greenhop.policies.base.View` and returns actions, which the world's
   rules check (:mod:`greenhop.world.rules`: a full site, a busy job are refused) and the engine
   carries out;
3. time advances through the step: running jobs make progress, migrations go through their
   phases (checkpoint, transfer, restore) with the left-over time of one phase carried into the
   next, and concurrent transfers over one link share its bandwidth;
4. each site's IT load (jobs, jobs checkpointing or restoring at idle power, idle slots) is
   recorded and settled by the energy ledger (:func:`greenhop.world.ledger.settle`: renewables
   first, then battery, then grid).

Idle slots that sleep (``SimInputs.sleep``, the scenario's ``[sites.sleep]``): an empty slot
draws the sleep power instead of the idle power, except for the rest of the step in which its job
left it (it is still awake then, and at the next step's decisions, where a start or a resume in
place takes it without waking it). Every other take of a slot wakes a sleeping one: a start, a
resume in place beyond the awake slots, and every landing of a move (its reserved slot slept
through the transfer). A wake-up costs ``wake_j`` (booked to the job, in that step) and
``wake_s`` added before the job's restore, during which its slot draws the idle power and it
makes no progress. Without sleep none of this runs, and every number is what it was.

Progress is lost only where a real system would lose it: a migration or pause checkpoints first,
so in the simulator no progress is ever lost (there are no failures here; see docs/results.md).
A transfer that outlasts the destination's window still finishes and costs what it costs.
"""

from __future__ import annotations

import array
import heapq
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from greenhop.energy.battery import BatteryBank
from greenhop.policies.base import (
    Action,
    JobState,
    JobsView,
    Migrate,
    Pause,
    Policy,
    Resume,
    Start,
    View,
)
from greenhop.sim.prestage import Prestages
from greenhop.world.inputs import SimInputs
from greenhop.world.jobs import JobTable, readonly
from greenhop.world.ledger import settle
from greenhop.world.loop import World, run_steps
from greenhop.world.record import Migration, RunRecord
from greenhop.world.rules import arrival_steps, is_wasted_move, refusal
from greenhop.world.view import ViewBuilder

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_RUN = int(JobState.RUNNING)
_CKPT = int(JobState.CHECKPOINTING)
_XFER = int(JobState.TRANSFERRING)
_REST = int(JobState.RESTORING)
_PAUSED = int(JobState.PAUSED)
_QUEUED = int(JobState.QUEUED)
_DONE = int(JobState.DONE)

Progress = Callable[[int, int], None]

_SPAN_MAX = 4096  # steps a quiet span advances at most at once (bounds its arrays)


@dataclass
class _Move:
    """Engine bookkeeping of a job in CHECKPOINTING / TRANSFERRING / RESTORING."""

    phase_left_s: float = 0.0  # seconds left in the current timed phase
    bytes_left: float = 0.0  # bytes left to transfer
    then: str = ""  # after checkpoint: "transfer" (migrate) or "pause"
    migration: Migration | None = None


class SimulatedWorld(World):
    """The world of one simulated run: jobs, slots, moves and the per-step energy record."""

    def __init__(self, inputs: SimInputs, *, record_placement: bool = False) -> None:
        inp = inputs
        self.inputs = inp
        n_steps, n_sites, n_jobs = inp.n_steps, len(inp.site_names), len(inp.jobs)
        self.step_s = float(inp.step_s)
        self.surplus_w = inp.surplus_w
        self.jobs = JobTable.pending(
            n_jobs,
            n_sites=n_sites,
            frozen=inp.jobs.frozen_gb is not None,
            prestaged=inp.prestaged,
        )
        self._frozen = inp.jobs.frozen_gb
        # pre-staging on the policy's hints (greenhop.sim.prestage); not when every base is
        # pre-staged already (inputs.prestaged)
        fa = self.jobs.frozen_at
        self._pre = (
            Prestages(self._frozen, fa, inp.bandwidth_gbps, inp.prestage_share)
            if inp.prestage_share is not None and self._frozen is not None and fa is not None
            else None
        )
        self.prestages = self._pre is not None and not inp.prestaged
        self.run_s_at = np.zeros((n_jobs, n_sites))
        self.held = np.zeros(n_sites, dtype=np.int64)  # slots held (restoring/running/ckpt)
        self.reserved = np.zeros(n_sites, dtype=np.int64)  # slots reserved by incoming moves
        self.free = inp.slots.copy()  # slots - held - reserved, kept as they change
        self.moves: dict[int, _Move] = {}
        self.migrations: list[Migration] = []
        self.refused: list[tuple[float, str, str]] = []
        self.events: list[tuple[float, int, str, int]] = []
        # mean IT load of each step, W: every slot idles (or sleeps) unless a job runs in it
        # (a job that checkpoints or restores draws the idle power of its slot)
        empty = inp.empty_slot_power_w
        self.idle_full = (empty * inp.slots).astype(np.float64)
        self.it_load = np.tile(self.idle_full, (n_steps, 1))
        assert inp.site_speed is not None and inp.site_power_factor is not None
        # a job's draw at each site (its power on the reference part x the site's factor)
        self.power_at = inp.jobs.power_w[:, None] * inp.site_power_factor[None, :]
        self.extra_w = self.power_at - empty[None, :]
        # idle slots that sleep: what an awake slot draws above a sleeping one, W; the empty
        # slots awake at this step's decisions (freed in the last step) and those freed in this
        # one; the wake-ups so far, per site
        sl = inp.sleep
        self._sleeps = sl is not None
        self._awake_w = inp.idle_slot_power_w - empty
        self._wake_s = np.zeros(n_sites) if sl is None else sl.wake_s
        self._wake_j = np.zeros(n_sites) if sl is None else sl.wake_j
        self._sleepy = (self._awake_w > 0) | (self._wake_s > 0) | (self._wake_j > 0)
        self.awake_free = np.zeros(n_sites, dtype=np.int64)
        self._freed = np.zeros(n_sites, dtype=np.int64)
        self.wakes = np.zeros(n_sites, dtype=np.int64)
        self._speed = inp.site_speed
        self._work, self._power = inp.jobs.work_gpu_h, inp.jobs.power_w
        self._idle = inp.idle_slot_power_w
        self.running_jobs = np.zeros((n_steps, n_sites), dtype=np.int32)
        self.placement = (
            np.full((n_steps, n_jobs), -1, dtype=np.int16) if record_placement else None
        )
        self.bank = BatteryBank(inp.batteries or [None] * n_sites, self.step_s)
        self.has_battery = bool((self.bank.capacity_kwh > 0).any())
        shape = (n_steps, n_sites) if self.has_battery else (0, n_sites)
        self.flows = {f: np.zeros(shape) for f in ("renewable", "charge", "discharge", "grid")}
        self.flows["curtailed"] = np.zeros(shape)
        self.soc = np.zeros((n_steps, n_sites))
        self.arrival_step = arrival_steps(inp.jobs.arrival_s, self.step_s)
        self.order = np.argsort(self.arrival_step, kind="stable")
        self.arr_ptr = 0
        self._next_arrival = int(self.arrival_step[self.order[0]]) if n_jobs else 2**62
        self.active: set[int] = set()  # arrived and not done
        self._active_changed = True
        self._jobs_view = self.jobs.view(inp.jobs)
        self._bw = readonly(inp.bandwidth_gbps)
        self._capacity = readonly(self.bank.capacity_kwh)
        self._no_soc = readonly(np.zeros(n_sites))
        self._idle_full_ro = readonly(self.idle_full)
        self._it_load_ro = readonly(self.it_load)  # its rows are read-only views too
        self._view = ViewBuilder(inp)
        # every job's energy per step and site (J), appended as it is drawn
        self.e_k = array.array("i")
        self.e_j = array.array("i")
        self.e_s = array.array("i")
        self.e_e = array.array("d")
        # The engine's two paths through a step. A job that runs through whole steps is
        # *steady*: it advances with the others in a few array operations per step, and its
        # energy is kept as one segment of steps (expanded in the record). Every other job
        # (starting, checkpointing, in transfer, restoring, or running into the step in which
        # it finishes) goes through the per-job phases (_run_phases), as does a steady job
        # from the step in which it finishes. ``_stepping``: the jobs on the per-job path;
        # ``_steady``: job -> the first step of its open segment; ``_watch``: a heap of
        # (step, job, generation) at which a steady job's finish is checked exactly.
        self._stepping: set[int] = set()
        self._steady: dict[int, int] = {}
        self._gen = np.zeros(n_jobs, dtype=np.int64)
        self._watch: list[tuple[int, int, int]] = []
        # the steady jobs in arrays, kept as jobs join and leave (a leaving job's entry takes
        # the last one's place): the job, its site, its progress in one step (GPU-h), its
        # draw above an empty slot (W) and its seconds run at its site (its entry of run_s_at,
        # kept here while it is steady and written back when it leaves or the run is recorded);
        # ``_spos``: job -> its entry
        self._buf_j = np.zeros(n_jobs, dtype=np.int64)
        self._buf_at = np.zeros(n_jobs, dtype=np.int64)
        self._buf_inc = np.zeros(n_jobs)
        self._buf_w = np.zeros(n_jobs)
        self._buf_run = np.zeros(n_jobs)
        self._spos: dict[int, int] = {}
        self._steady_dirty = False
        self._sj = self._buf_j[:0]  # the steady jobs (views of the arrays above)
        self._sat = self._buf_at[:0]  # their sites
        self._sinc = self._buf_inc[:0]  # their progress in one step, GPU-h
        self._srun = self._buf_run[:0]  # their seconds run at their sites
        self._s_load = np.zeros(n_sites)  # their draw above an empty slot per site, W
        self._seg_j = array.array("i")
        self._seg_s = array.array("i")
        self._seg_k0 = array.array("i")
        self._seg_k1 = array.array("i")
        self._k_next = 0  # the first step not yet advanced
        # quiet spans (quiet_span): not with batteries (their state moves every step) or
        # pre-stages (the policy hints every step); the view built for a span's check, kept
        # for the step that follows it
        self._spans = not self.has_battery and self._pre is None
        self._view_at: tuple[int, View] | None = None

    # -- the World contract -------------------------------------------------------------------

    def arrive(self, k: int, now_s: float) -> None:
        if k < self._next_arrival:
            return
        order, arrival, state = self.order, self.arrival_step, self.jobs.state
        n = len(order)
        while self.arr_ptr < n and arrival[order[self.arr_ptr]] <= k:
            j = int(order[self.arr_ptr])
            state[j] = _QUEUED
            self.active.add(j)
            self._active_changed = True
            self.events.append((now_s, j, "arrive", -1))
            self.arr_ptr += 1
        self._next_arrival = int(arrival[order[self.arr_ptr]]) if self.arr_ptr < n else 2**62

    def has_active_jobs(self) -> bool:
        return bool(self.active)

    def view(self, k: int, now_s: float) -> View:
        if self._view_at is not None:
            at, view = self._view_at
            self._view_at = None
            if at == k:  # built by quiet_span at this step, and nothing changed since
                return view
        if self._active_changed:
            active = np.array(sorted(self.active), dtype=np.int64)
            # a frozen dataclass: a shallow copy with the new ``active`` (replace() costs 10x
            # as much, copy.copy 6x)
            jobs_view = object.__new__(JobsView)
            jobs_view.__dict__.update(self._jobs_view.__dict__, active=active)
            self._jobs_view = jobs_view
            self._active_changed = False
        return self._view(
            k,
            self._jobs_view,
            self._it_load_ro[k - 1] if k else self._idle_full_ro,
            self.free.copy(),
            self._bw,
            self.bank.soc_kwh.copy() if self.has_battery else self._no_soc,
            self._capacity,
        )

    def job_states(self) -> tuple[IntArray, IntArray]:
        return self.jobs.state, self.jobs.site

    def free_slots(self) -> IntArray:
        return self.free.copy()

    def refusal(self, act: Action) -> str:
        # the world's rules on its own arrays (they only read them), without the copies
        return refusal(act, self.jobs.state, self.jobs.site, self.free)

    def refuse(self, k: int, now_s: float, act: Action, reason: str) -> None:
        self.refused.append((now_s, repr(act), reason))

    def carry_out(self, k: int, now_s: float, act: Action) -> None:
        jobs, params, size = self.jobs, self.inputs.params, self.inputs.jobs.size_gb
        j = act.job
        if j in self._steady:  # it leaves the steady path (a move or a pause)
            self._end_steady(j, k)
        self._stepping.add(j)
        if isinstance(act, Start):
            self.held[act.site] += 1
            self.free[act.site] -= 1
            jobs.start_s[j] = now_s
            jobs.state[j] = _REST
            jobs.site[j] = act.site
            if jobs.frozen_at is not None:
                jobs.frozen_at[j, act.site] = True
            self.moves.setdefault(j, _Move()).phase_left_s = params.restart_s
            if self._sleeps:
                self._take(j, act.site, k, at_decision=True)
            jobs.last_move_s[j] = now_s
            self.events.append((now_s, j, "start", act.site))
        elif isinstance(act, Migrate):
            self.reserved[act.dest] += 1
            self.free[act.dest] -= 1
            jobs.state[j] = _CKPT
            jobs.dest[j] = act.dest
            mig = Migration(
                j, int(jobs.site[j]), act.dest, self._sent_gb(j, act.dest, now_s), now_s, "migrate"
            )
            self.migrations.append(mig)
            self.moves[j] = _Move(
                phase_left_s=size[j] / params.disk_write_gb_per_s, then="transfer", migration=mig
            )
            self.events.append((now_s, j, "migrate", act.dest))
        elif isinstance(act, Pause):
            jobs.state[j] = _CKPT
            self.moves[j] = _Move(phase_left_s=size[j] / params.disk_write_gb_per_s, then="pause")
            self.events.append((now_s, j, "pause", int(jobs.site[j])))
        elif isinstance(act, Resume):
            self.events.append((now_s, j, "resume", act.site))
            if act.site == jobs.site[j]:
                self.held[act.site] += 1
                self.free[act.site] -= 1
                self._begin_restore(j, act.site, now_s)
                if self._sleeps:
                    self._take(j, act.site, k, at_decision=True)
            else:
                self.reserved[act.site] += 1
                self.free[act.site] -= 1
                mig = Migration(
                    j,
                    int(jobs.site[j]),
                    act.site,
                    self._sent_gb(j, act.site, now_s),
                    now_s,
                    "resume",
                )
                mig.checkpoint_done_s = now_s
                self.migrations.append(mig)
                jobs.state[j] = _XFER
                jobs.dest[j] = act.site
                self.moves[j] = _Move(bytes_left=mig.size_gb * 1e9, migration=mig)

    def prestage(self, k: int, now_s: float, hints: list[tuple[int, int]]) -> None:
        assert self._pre is not None
        self.migrations += self._pre.start(now_s, hints, self.jobs.state, self.jobs.site)

    def advance(self, k: int, now_s: float) -> None:
        load = self.it_load[k]
        if self.active:
            self._advance_jobs(k, now_s, load)
        self._k_next = k + 1
        if self._pre is not None and self._pre.under_way:  # pre-stages on links moves left free
            busy = self._pre.busy_links(self.migrations, now_s, self.step_s)
            self._pre.advance(now_s, self.step_s, busy)
        if self.has_battery:
            s = settle(self.surplus_w[k], load, self.bank)
            f = self.flows
            f["renewable"][k] = s.renewable_w
            f["charge"][k] = s.battery_charge_w
            f["discharge"][k] = s.battery_discharge_w
            f["grid"][k] = s.grid_w
            f["curtailed"][k] = s.curtailed_w
            self.soc[k] = self.bank.soc_kwh
        if self._sleeps:  # the slots freed in this step are awake at the next one's decisions
            self.awake_free[:] = self._freed
            self._freed[:] = 0

    def quiet_span(self, k: int, stop: int, policy: Policy) -> int:
        """Advance, from step ``k``, the steps at which the policy provably does nothing
        (:meth:`~greenhop.policies.base.Policy.quiet_steps`), without asking it; how many.

        Quiet steps come in spans (:meth:`_span`): while no job arrives or changes state,
        they advance at once in array operations. The step that ends a span (a job finishes,
        restores or lands in it) is advanced here too, as :meth:`advance` makes it, when the
        policy would decide nothing at it either; then the next span begins. The run is the
        same as asking the policy at every step: its answers are exact."""
        quiet_steps = getattr(policy, "quiet_steps", None)  # a plain decide() has none
        if not self._spans or quiet_steps is None:
            return 0
        total = 0
        while k < stop:
            n, idle_next = self._span(k, stop, quiet_steps)
            total += n
            k += n
            if not idle_next:
                break
            self.advance(k, k * self.step_s)  # nothing to decide: only time passes
            total += 1
            k += 1
        return total

    def _span(
        self, k: int, stop: int, quiet_steps: Callable[[View, FloatArray, FloatArray], int]
    ) -> tuple[int, bool]:
        """Advance the quiet steps from ``k`` at once: while no job arrives, none changes
        state (none checkpoints, restores or finishes, the watch says when one may; a
        transfer under way goes on, and the span ends before one lands), and the policy
        provably does nothing. Each such step is what :meth:`advance` would make of it: the
        steady jobs run through it, transfers move their bytes, the slots draw what they
        draw; the arithmetic is the same, step by step, so the run is identical.

        Returns the steps advanced and whether the policy would decide nothing at the step
        after them either (no job arrives in it, and its decision sees the span's state and
        the span's load: one more row of ``quiet_steps``)."""
        end = min(stop, self._next_arrival, k + _SPAN_MAX)
        xfer: list[int] = []
        rates: dict[int, float] = {}
        if self._stepping:  # only transfers under way: the span ends before one lands
            state = self.jobs.state
            if any(state[j] != _XFER for j in self._stepping):
                end = k  # a job changes state in this step: no span, but its decision
            else:
                xfer = sorted(self._stepping)
                whole, rates = self._whole_transfer_steps(xfer, end - k)
                end = k + whole
        watch, steady, gen = self._watch, self._steady, self._gen
        while watch and (watch[0][2] != gen[watch[0][1]] or watch[0][1] not in steady):
            heapq.heappop(watch)  # a job that left the steady path since (moved, paused)
        if watch:
            end = max(k, min(end, watch[0][0]))
        rows = end - k
        # the step after the span: asked about too, unless a job arrives in it (or the run
        # ends); its view is the span's state with the span's load (the last step's)
        ask_next = end < stop and end != self._next_arrival
        if not self.active:  # nothing to decide while no job is active
            n, idle_next = rows, False
        elif rows == 0 and not ask_next:
            return 0, False
        else:
            if self._steady_dirty:
                self._rebuild_steady()
            view = self.view(k, k * self.step_s)
            self._view_at = (k, view)
            load = self.idle_full + self._s_load  # what a quiet step draws
            m = rows + 1 if ask_next else rows
            q = min(quiet_steps(view, self.surplus_w[k : k + m], load), m)
            n, idle_next = min(q, rows), ask_next and q == m
            if n <= 0 and not idle_next:
                return 0, False
            self._view_at = None
        if n > 0:
            self._advance_quiet(k, n, xfer, rates)
        return n, idle_next

    def _advance_quiet(self, k: int, n: int, xfer: list[int], rates: dict[int, float]) -> None:
        """Advance ``n`` quiet steps from ``k`` at once (see :meth:`_span`)."""
        if self._steady_dirty:
            self._rebuild_steady()
        step_s = self.step_s
        for j in xfer:  # one subtraction per step, as _advance_transfers makes them
            mv, r = self.moves[j], rates[j]
            for _ in range(n):
                mv.bytes_left -= r * step_s
        sj, sat = self._sj, self._sat
        if len(sj):
            progress = self.jobs.progress_gpu_h[sj]
            run_s = self._srun
            inc = self._sinc
            for _ in range(n):  # one addition per step, as advance makes them
                progress += inc
                run_s += step_s
            self.jobs.progress_gpu_h[sj] = progress
            self.it_load[k : k + n] += self._s_load
            if self.placement is not None:
                self.placement[k : k + n, sj] = sat
        self.running_jobs[k : k + n] = self.held
        if self._sleeps:  # nothing was freed in these steps
            self.awake_free[:] = 0
            self._freed[:] = 0
        self._k_next = k + n

    # -- time passing -------------------------------------------------------------------------

    def _advance_jobs(self, k: int, now_s: float, load: FloatArray) -> None:
        step_s = self.step_s
        state = self.jobs.state
        step_end = now_s + step_s
        finishing = self._finishing(k) if self._watch else []
        if self._steady_dirty:
            self._rebuild_steady()
        if len(self._sj):
            self._advance_steady(k, load)
        time_left: dict[int, float] = {}
        todo = []
        for j in sorted(self._stepping.union(finishing)):
            if state[j] == _XFER:
                time_left[j] = step_s
            else:
                todo.append((j, step_s))
        seen = [j for j, _ in todo]
        time_left.update(self._run_phases(todo, k, step_end, load))
        if time_left:
            xfer = sorted(time_left)
            seen += xfer
            # transfers share links, so they advance together
            self._advance_transfers(xfer, time_left)
            landed = []
            for j in xfer:
                mv = self.moves[j]
                if mv.bytes_left > 1e-6:
                    continue
                t_done = step_end - time_left[j]
                assert mv.migration is not None
                mv.migration.transfer_done_s = t_done
                d = int(self.jobs.dest[j])
                self.reserved[d] -= 1
                self.held[d] += 1
                self._begin_restore(j, d, t_done)
                if self._sleeps:  # the slot reserved for it slept through the transfer
                    self._take(j, d, k, at_decision=False)
                landed.append((j, time_left[j]))
            self._run_phases(landed, k, step_end, load)
        self.running_jobs[k] = self.held
        placement = self.placement
        if placement is not None and len(self._sj):
            placement[k, self._sj] = self._sat
        site = self.jobs.site
        for j in dict.fromkeys(seen):  # a job may be in both lists (checkpoint, then transfer)
            s = state[j]
            if placement is not None and s in (_RUN, _CKPT, _REST):
                placement[k, j] = site[j]
            if s == _RUN:  # it runs through the next step, or into its end
                self._stepping.discard(j)
                self._begin_steady(j, k + 1)
            elif s in (_DONE, _PAUSED):
                self._stepping.discard(j)

    # -- the steady path ----------------------------------------------------------------------

    def _begin_steady(self, j: int, k0: int) -> None:
        """Job ``j`` runs from step ``k0`` on: it joins the steady path, and the step from which
        it may finish is put on the watch."""
        assert j not in self._steady, j
        self._steady[j] = k0
        self._steady_dirty = True
        at = int(self.jobs.site[j])
        i = len(self._spos)
        self._spos[j] = i
        self._buf_j[i] = j
        self._buf_at[i] = at
        self._buf_inc[i] = self.step_s * self._speed[at] / 3600.0
        self._buf_w[i] = self.extra_w[j, at] * self.step_s / self.step_s  # as _run_phases adds it
        self._buf_run[i] = self.run_s_at[j, at]
        need_s = (self._work[j] - self.jobs.progress_gpu_h[j]) * 3600.0 / self._speed[at]
        # it finishes in the first step that starts with at most one step's work left, some
        # m steps on, m = ceil((need_s - step_s) / step_s); watched from 10 ms of work
        # earlier, which the rounding of the steps' sums cannot pass (it is below 1 ms after a
        # year of 5-minute steps), so a finish is never missed, and it is seldom early
        ahead = math.ceil((need_s - self.step_s - 1e-2) / self.step_s)
        self._gen[j] += 1
        heapq.heappush(self._watch, (k0 + max(ahead, 0), j, int(self._gen[j])))

    def _end_steady(self, j: int, k: int) -> None:
        """Job ``j`` leaves the steady path before step ``k``: its segment closes."""
        k0 = self._steady.pop(j)
        self._steady_dirty = True
        i, last = self._spos.pop(j), len(self._spos)
        self.run_s_at[j, self._buf_at[i]] = self._buf_run[i]
        if i != last:  # the last entry takes its place
            moved = int(self._buf_j[last])
            self._spos[moved] = i
            for buf in (self._buf_j, self._buf_at, self._buf_inc, self._buf_w, self._buf_run):
                buf[i] = buf[last]
        self._gen[j] += 1
        if k > k0:
            self._seg_j.append(j)
            self._seg_s.append(int(self.jobs.site[j]))
            self._seg_k0.append(k0)
            self._seg_k1.append(k)

    def _finishing(self, k: int) -> list[int]:
        """The steady jobs that finish in step ``k`` (they take the per-job path for it)."""
        watch, steady, gen = self._watch, self._steady, self._gen
        progress, work = self.jobs.progress_gpu_h, self._work
        speed, site = self._speed, self.jobs.site
        limit = self.step_s + 1e-9
        out = []
        while watch and watch[0][0] <= k:
            _, j, g = heapq.heappop(watch)
            if g != gen[j] or j not in steady:
                continue  # it left the steady path since
            need_s = (work[j] - progress[j]) * 3600.0 / speed[int(site[j])]
            if need_s <= limit:
                self._end_steady(j, k)
                out.append(j)
            else:
                heapq.heappush(watch, (k + 1, j, g))
        return out

    def _rebuild_steady(self) -> None:
        n = len(self._spos)
        self._sj, self._sat, self._sinc = self._buf_j[:n], self._buf_at[:n], self._buf_inc[:n]
        self._srun = self._buf_run[:n]
        self._s_load = np.asarray(
            np.bincount(self._sat, weights=self._buf_w[:n], minlength=len(self.idle_full)),
            dtype=np.float64,
        )
        self._steady_dirty = False

    def _advance_steady(self, k: int, load: FloatArray) -> None:
        """A whole step of running for every steady job, in array operations: the same
        arithmetic, job by job, as :meth:`_run_phases` does for a job that runs through a
        step."""
        self.jobs.progress_gpu_h[self._sj] += self._sinc
        self._srun += self.step_s
        load += self._s_load

    def _sent_gb(self, j: int, dest: int, now_s: float) -> float:
        """GB a move of job ``j`` sends to ``dest``: its checkpoint, less its frozen part if
        that lies there already (S_eff), or less what a pre-stage there under way has sent
        (the move takes it over)."""
        size = float(self.inputs.jobs.size_gb[j])
        frozen_at = self.jobs.frozen_at
        if frozen_at is not None and self._frozen is not None and frozen_at[j, dest]:
            return size - float(self._frozen[j])
        if self._pre is not None:
            return size - self._pre.take_over(j, dest, now_s)
        return size

    def _take(self, j: int, at: int, k: int, *, at_decision: bool) -> None:
        """Job ``j`` takes a slot at site ``at`` in step ``k`` (idle slots sleep): an awake
        empty slot if one is left at the step's decisions, else a sleeping one, which it wakes:
        ``wake_j`` booked to it in step ``k``, ``wake_s`` added before its restore."""
        if at_decision and self.awake_free[at] > 0:
            self.awake_free[at] -= 1
            return
        if not self._sleepy[at]:
            return
        self.wakes[at] += 1
        wake_j = float(self._wake_j[at])
        if wake_j:
            self.it_load[k, at] += wake_j / self.step_s
            self.e_k.append(k)
            self.e_j.append(j)
            self.e_s.append(at)
            self.e_e.append(wake_j)
        self.moves[j].phase_left_s += float(self._wake_s[at])
        mig = self.moves[j].migration
        if mig is not None and not at_decision:
            mig.woke = True

    def _begin_restore(self, j: int, at: int, t: float) -> None:
        jobs = self.jobs
        jobs.state[j] = _REST
        jobs.site[j] = at
        jobs.dest[j] = -1
        if jobs.frozen_at is not None:
            jobs.frozen_at[j, at] = True
        mv = self.moves.get(j)
        if mv is None:  # a resume in place (a landing move has its entry)
            mv = self.moves[j] = _Move()
        p = self.inputs.params
        mv.phase_left_s = self.inputs.jobs.size_gb[j] / p.disk_read_gb_per_s + p.restart_s
        jobs.last_move_s[j] = t

    def _run_phases(
        self, todo: list[tuple[int, float]], k: int, step_end: float, load: FloatArray
    ) -> dict[int, float]:
        """Run each job ``j`` of ``todo`` through its phases for its ``tl`` seconds of step ``k``
        (until it waits, transfers or is done). Returns the jobs that began a transfer with
        time left in the step, and that time. The engine's inner loop: every array it touches
        is bound to a local name once per call."""
        jobs = self.jobs
        state, site, progress, done_s = jobs.state, jobs.site, jobs.progress_gpu_h, jobs.done_s
        step_s = self.step_s
        e_k, e_j, e_s, e_e = self.e_k, self.e_j, self.e_s, self.e_e
        work_h, power_at, idle, speed = self._work, self.power_at, self._idle, self._speed
        run_s_at, extra_w, held, moves = self.run_s_at, self.extra_w, self.held, self.moves
        free = self.free
        sleeps, awake_w, freed = self._sleeps, self._awake_w, self._freed
        transferring: dict[int, float] = {}
        for j, tl in todo:
            while tl > 1e-9:
                s = state[j]
                if s == _RUN:
                    at = int(site[j])
                    work = work_h[j]
                    rate = speed[at]  # GPU-hours of work per hour here
                    need_s = (work - progress[j]) * 3600.0 / rate
                    dt = tl if tl < need_s else need_s
                    progress[j] += dt * rate / 3600.0
                    run_s_at[j, at] += dt
                    load[at] += extra_w[j, at] * dt / step_s
                    e_k.append(k)
                    e_j.append(j)
                    e_s.append(at)
                    e_e.append(power_at[j, at] * dt)
                    tl -= dt
                    if need_s <= dt + 1e-9:
                        progress[j] = work
                        state[j] = _DONE
                        done_s[j] = step_end - tl
                        held[at] -= 1
                        free[at] += 1
                        if sleeps:  # its slot stays awake for the rest of the step
                            load[at] += awake_w[at] * tl / step_s
                            freed[at] += 1
                        self.active.discard(j)
                        self._active_changed = True
                        self.events.append((float(done_s[j]), j, "done", at))
                        break
                elif s in (_CKPT, _REST):
                    at = int(site[j])
                    mv = moves[j]
                    dt = tl if tl < mv.phase_left_s else mv.phase_left_s
                    mv.phase_left_s -= dt
                    e_k.append(k)
                    e_j.append(j)
                    e_s.append(at)
                    e_e.append(idle[at] * dt)
                    if sleeps:  # the slot is awake: idle power, not sleep power
                        load[at] += awake_w[at] * dt / step_s
                    tl -= dt
                    if mv.phase_left_s > 1e-9:
                        break
                    t_d = step_end - tl
                    if s == _REST:
                        state[j] = _RUN
                        if mv.migration is not None:
                            self._restored(mv.migration, k, at, t_d)
                        moves.pop(j, None)
                    elif mv.then == "pause":
                        state[j] = _PAUSED
                        held[at] -= 1
                        free[at] += 1
                        if sleeps:
                            load[at] += awake_w[at] * tl / step_s
                            freed[at] += 1
                        moves.pop(j, None)
                        break
                    else:
                        assert mv.migration is not None
                        mv.migration.checkpoint_done_s = t_d
                        held[at] -= 1
                        free[at] += 1
                        if sleeps:
                            load[at] += awake_w[at] * tl / step_s
                            freed[at] += 1
                        state[j] = _XFER
                        mv.bytes_left = mv.migration.size_gb * 1e9  # S_eff to the destination
                        if tl > 1e-9:
                            transferring[j] = tl
                        break
                else:
                    break
        return transferring

    def _restored(self, mig: Migration, k: int, at: int, t: float) -> None:
        mig.restored_s = t
        prev = self.it_load[k - 1, at] if k else self.idle_full[at]
        mig.wasted = is_wasted_move(
            self.surplus_w[k, at],
            prev,
            self.power_at[mig.job, at],
            self.inputs.empty_slot_power_w[at],
        )
        self.events.append((t, mig.job, "restored", at))

    def _advance_transfers(self, xfer: list[int], time_left: dict[int, float]) -> None:
        """Move bytes of concurrent transfers; transfers on one link share its bandwidth.

        A link is the unordered pair of sites. Within the step, whenever one transfer finishes
        the others' shares are recomputed (event by event).
        """
        moves = self.moves
        ongoing = list(xfer)
        while ongoing:
            rates = self._transfer_rates(ongoing)
            # time until the first transfer finishes or a job's step time runs out
            dt = min(
                min(moves[j].bytes_left / rates[j] for j in ongoing),
                min(time_left[j] for j in ongoing),
            )
            for j in ongoing:
                moves[j].bytes_left -= rates[j] * dt
                time_left[j] -= dt
            ongoing = [j for j in ongoing if moves[j].bytes_left > 1e-6 and time_left[j] > 1e-9]

    def _transfer_rates(self, ongoing: list[int]) -> dict[int, float]:
        """Each ongoing transfer's share of its link, bytes/s (a link is the unordered pair of
        sites; its transfers share its bandwidth equally)."""
        site, dest, bw = self.jobs.site, self.jobs.dest, self._bw
        per_link: dict[tuple[int, int], int] = {}
        for j in ongoing:
            a, b = int(site[j]), int(dest[j])
            key = (a, b) if a < b else (b, a)
            per_link[key] = per_link.get(key, 0) + 1
        rates = {}
        for j in ongoing:
            a, b = int(site[j]), int(dest[j])
            key = (a, b) if a < b else (b, a)
            rates[j] = bw[a, b] * 1e9 / 8.0 / per_link[key]  # bytes/s
        return rates

    def _whole_transfer_steps(self, xfer: list[int], limit: int) -> tuple[int, dict[int, float]]:
        """How many steps in a row (at most ``limit``) every transfer of ``xfer`` runs through
        whole, none landing (the steps :meth:`_advance_transfers` would give each the whole
        step at an unchanged rate), and those rates. The same arithmetic as there, step by
        step."""
        rates = self._transfer_rates(xfer)
        step_s = self.step_s
        left = [(self.moves[j].bytes_left, rates[j]) for j in xfer]
        n = 0
        while n < limit:
            # the step's dt is the whole step (no transfer would end in it), and every
            # transfer has bytes left after it (none lands)
            if any(b / r < step_s or b - r * step_s <= 1e-6 for b, r in left):
                break
            left = [(b - r * step_s, r) for b, r in left]
            n += 1
        return n, rates

    # -- the record ---------------------------------------------------------------------------

    def record(self, policy: Policy, wall_s: float) -> RunRecord:
        """The run so far as a :class:`~greenhop.world.record.RunRecord`."""
        if self.has_battery:
            f = self.flows
            flows = (f["renewable"], f["charge"], f["discharge"], f["grid"], f["curtailed"])
        else:  # no battery: the ledger settles every step at once
            s = settle(self.surplus_w, self.it_load)
            flows = (
                s.renewable_w,
                s.battery_charge_w,
                s.battery_discharge_w,
                s.grid_w,
                s.curtailed_w,
            )
        renewable, charge, discharge, grid, curtailed = flows
        jobs = self.jobs
        if self._steady_dirty:
            self._rebuild_steady()
        self.run_s_at[self._sj, self._sat] = self._srun  # the steady jobs' seconds, so far
        job_energy = self._job_energy()
        return RunRecord(
            inputs=self.inputs,
            policy=policy.name,
            policy_config=policy.config(),
            it_load_w=self.it_load,
            running_jobs=self.running_jobs,
            grid_w=grid,
            renewable_w=renewable,
            battery_discharge_w=discharge,
            battery_charge_w=charge,
            curtailed_w=curtailed,
            battery_soc_kwh=self.soc,
            job_start_s=jobs.start_s,
            job_done_s=jobs.done_s,
            job_progress_gpu_h=jobs.progress_gpu_h,
            job_run_s_at=self.run_s_at,
            migrations=self.migrations,
            refused=self.refused,
            events=self.events,
            placement=self.placement,
            job_energy=job_energy,
            wall_s=wall_s,
            extra={"wakes": self.wakes.copy()} if self._sleeps else {},
        )

    def _job_energy(
        self,
    ) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32], FloatArray]:
        """Every job's energy per step and site (J): the per-job path's entries, then the steady
        segments (the open ones up to the last step advanced), one entry per step."""
        seg_j = np.frombuffer(self._seg_j, dtype=np.int32)
        seg_s = np.frombuffer(self._seg_s, dtype=np.int32)
        k0 = np.frombuffer(self._seg_k0, dtype=np.int32)
        k1 = np.frombuffer(self._seg_k1, dtype=np.int32)
        if self._steady:
            open_j = np.fromiter(self._steady, dtype=np.int32, count=len(self._steady))
            seg_j = np.concatenate([seg_j, open_j])
            seg_s = np.concatenate([seg_s, self.jobs.site[open_j].astype(np.int32)])
            k0 = np.concatenate(
                [k0, np.fromiter(self._steady.values(), dtype=np.int32, count=len(open_j))]
            )
            k1 = np.concatenate([k1, np.full(len(open_j), self._k_next, dtype=np.int32)])
        keep = k1 > k0
        seg_j, seg_s, k0, k1 = seg_j[keep], seg_s[keep], k0[keep], k1[keep]
        n = (k1 - k0).astype(np.int64)
        # each column written once into its final array: the per-job path's entries first,
        # then one entry per step of every segment (a year of thousands of jobs makes
        # millions, and fresh memory costs more than the arithmetic)
        m, total = len(self.e_k), int(n.sum())
        out_k, out_j, out_s = (np.empty(m + total, dtype=np.int32) for _ in range(3))
        out_e = np.empty(m + total)
        for out, col in ((out_k, self.e_k), (out_j, self.e_j), (out_s, self.e_s)):
            out[:m] = np.frombuffer(col, dtype=np.int32)
        out_e[:m] = np.frombuffer(self.e_e, dtype=np.float64)
        # the step of each entry: its segment's first step plus its place in the segment
        first = np.cumsum(n) - n  # each segment's first entry
        np.subtract(np.arange(total), np.repeat(first - k0, n), out=out_k[m:], casting="unsafe")
        out_j[m:] = np.repeat(seg_j, n)
        out_s[m:] = np.repeat(seg_s, n)
        # a segment's energy per step, the same product for each of its steps
        out_e[m:] = np.repeat(self.power_at[seg_j, seg_s] * self.step_s, n)
        return out_k, out_j, out_s, out_e


class Simulator:
    """Runs one policy over :class:`~greenhop.world.inputs.SimInputs`."""

    def __init__(self, inputs: SimInputs, *, record_placement: bool = False) -> None:
        self.inputs = inputs
        self.record_placement = record_placement

    def run(self, policy: Policy, *, progress: Progress | None = None) -> RunRecord:
        """Simulate the whole time range with ``policy``.

        ``progress``, when given, is called as ``progress(steps_done, steps_total)`` now and then.
        """
        t_wall = time.perf_counter()
        world = SimulatedWorld(self.inputs, record_placement=self.record_placement)
        n_steps = self.inputs.n_steps
        on_step = None
        if progress is not None:
            every = max(1, n_steps // 200)
            progress(0, n_steps)

            def on_step(k: int) -> None:
                if (k + 1) % every == 0:
                    progress(k + 1, n_steps)

        run_steps(world, policy, range(n_steps), on_step=on_step)
        if progress is not None:
            progress(n_steps, n_steps)
        return world.record(policy, time.perf_counter() - t_wall)
