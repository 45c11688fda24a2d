"""``lookahead``: greenhop's own policy, beyond the paper.

It keeps the feasibility-aware rule (only time- and energy-feasible moves) and adds four things a
real orchestrator knows and the paper's policy does not use:

1. **Forecast over a horizon**: a job stays where it is when the forecaster predicts renewables
   back at its site within ``patience_h``, rather than moving for a short gap (a passing cloud).
2. **Batteries**: energy stored at a site counts as renewable power: a site whose battery could
   carry the job for ``battery_cover_h`` is not treated as in deficit, and a destination's
   window is lengthened by the hours its battery could carry the job.
3. **Deadlines**: a job with a deadline is *deferrable*. When no site has renewables for it, a
   queued deferrable job waits and a running one pauses (checkpoint, free the slot), as long as
   the deadline still allows: ``deadline - now > remaining work + restore + safety_h``. It starts
   or resumes at the greenest free site as soon as one has renewables for it, or when its slack
   runs out, wherever a slot is free.
4. **Hysteresis** against flapping: a job moves at most once per ``min_dwell_h``, and only when the
   renewable energy it is predicted to gain at the destination (over the shorter of the
   destination's window and its remaining work) exceeds ``gain_factor`` times the move's energy.

Destinations are ranked by predicted renewable hours for the job, then by slack.

**Objective** (``non-renewable``, the default; ``carbon``; ``cost``): with ``carbon`` or
``cost`` a queued job starts where its grid draw weighs least now (forecast intensity or price,
:func:`~greenhop.policies.base.grid_weight`), and a deferrable job that would draw from the grid
waits (queued) or pauses (running, with nowhere green to go) while the forecast over its slack
(at most ``shift_h``) holds a step at least ``margin`` cheaper than now at a free site, the
carbon-aware rule; the forecast is the signal's (issued, or daily persistence).

**Demand response**: as :class:`~greenhop.policies.feasibility_aware.FeasibilityAwarePolicy`,
jobs are shed before an event (:func:`~greenhop.policies.base.shed_for_demand_response`) and
no job starts or resumes at a site with an event ahead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from greenhop import feasibility
from greenhop.policies.base import (
    Action,
    JobState,
    Migrate,
    Objective,
    Pause,
    Policy,
    Resume,
    Start,
    View,
    admit_queued,
    check_objective,
    free_slots_after,
    grid_view,
    grid_weight,
    resume_elsewhere_pays,
    shed_for_demand_response,
    steps_without_deficit,
)


class LookaheadPolicy(Policy):
    """Forecast horizon, batteries, deadlines and hysteresis on top of feasibility."""

    name = "lookahead"

    def __init__(
        self,
        *,
        patience_h: float = 1.0,
        min_dwell_h: float = 1.0,
        gain_factor: float = 2.0,
        battery_cover_h: float = 0.5,
        safety_h: float = 1.0,
        objective: Objective = "non-renewable",
        shift_h: float = 12.0,
        margin: float = 0.05,
    ) -> None:
        self.objective = check_objective(objective)
        self.shift_h = shift_h
        self.margin = margin
        if objective != "non-renewable":
            self.name = f"lookahead:{objective}"
        self.patience_h = patience_h
        self.min_dwell_h = min_dwell_h
        self.gain_factor = gain_factor
        self.battery_cover_h = battery_cover_h
        self.safety_h = safety_h
        self._params: dict[float, feasibility.ModelParameters] = {}

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "patience_h": self.patience_h,
            "min_dwell_h": self.min_dwell_h,
            "gain_factor": self.gain_factor,
            "battery_cover_h": self.battery_cover_h,
            "safety_h": self.safety_h,
            "objective": self.objective,
        }

    # -- helpers ---------------------------------------------------------------------------

    def _slack(self, view: View, j: Any, now_s: Any, speed: float | None = None) -> Any:
        """Seconds to spare before the deadline of job ``j`` (an index, or an array of them)
        at ``now_s`` (a time, or a column of times), after the remaining work and a restore;
        the work at ``speed`` (default: the fastest site's, 1 on equal sites)."""
        jobs = view.jobs
        rest_s = (jobs.work_gpu_h[j] - jobs.progress_gpu_h[j]) * 3600.0
        if speed is None and view.site_speed is not None:
            speed = float(view.site_speed.max())
        if speed is not None and speed != 1.0:
            rest_s = rest_s / speed
        restore_s = jobs.size_gb[j] / view.params.disk_read_gb_per_s + view.params.restart_s
        return jobs.deadline_s[j] - now_s - rest_s - restore_s - self.safety_h * 3600

    def _slack_s(self, view: View, j: int, speed: float | None = None) -> float:
        """:meth:`_slack` of job ``j`` now."""
        return float(self._slack(view, j, view.now_s, speed))

    def _params_for(self, view: View, power_w: float) -> feasibility.ModelParameters:
        if power_w not in self._params:
            self._params[power_w] = view.params.replace(job_power_w=power_w)
        return self._params[power_w]

    @staticmethod
    def _draw(view: View, j: int) -> float | np.ndarray:
        """Job ``j``'s power: one figure on equal sites, its draw at each site's part on
        heterogeneous ones (:meth:`View.power_at`)."""
        return view.power_at(j) if view.heterogeneous() else float(view.jobs.power_w[j])

    def _green_w(self, view: View) -> np.ndarray:
        """Renewable power left for one more job at each site, battery included."""
        battery_w = view.battery_soc_kwh * 1000.0 / max(self.battery_cover_h, 1e-9)
        res: np.ndarray = view.available_w() + battery_w
        return res

    # -- the decision ------------------------------------------------------------------------

    def _cheaper_later(self, view: View, j: int, free: np.ndarray) -> bool:
        """Whether waiting may pay (carbon and cost objectives): the generation forecast holds
        renewables for the job within its slack (at most ``shift_h``), or the grid forecast a
        step ``margin`` cheaper than the best free site now. Always True for non-renewable."""
        if self.objective == "non-renewable":
            return True
        grid = grid_view(view)
        if grid is None:
            return True
        slack = min(self._slack_s(view, j), self.shift_h * 3600.0)
        h = max(2, int(slack // view.step_s))
        surplus = view.forecast.surplus_w(h)
        room = surplus - view.it_load_w[None, :] + view.idle_slot_power_w[None, :]
        if (np.nan_to_num(room[1:], nan=-np.inf) >= self._draw(view, j)).any():
            return True
        ahead = grid.carbon_g_per_kwh(h) if self.objective == "carbon" else grid.price_per_mwh(h)
        ahead = np.where(np.isnan(ahead), np.inf, ahead)
        now_best = float(np.where(free > 0, ahead[0], np.inf).min())
        later = float(ahead[1:].min())
        return bool(later < now_best - self.margin * abs(now_best))

    def decide(self, now: float, view: View) -> list[Action]:
        jobs = view.jobs
        green = self._green_w(view)
        weight = grid_weight(view, self.objective)
        grid = grid_view(view)
        if grid is not None and grid.has_demand_response:
            shed, blocked = shed_for_demand_response(view, [])
        else:  # no demand response in this run
            shed, blocked = [], np.zeros(len(view.site_names), dtype=bool)
        shed_jobs = {a.job for a in shed}
        free0 = np.where(blocked, 0, view.free_slots)
        # deferrable queued jobs wait for renewables while their deadline allows
        deferred = frozenset(
            int(j)
            for j in jobs.in_state(JobState.QUEUED)
            if np.isfinite(jobs.deadline_s[j])
            and self._slack_s(view, int(j)) > view.step_s
            and not (green >= self._draw(view, int(j))).any()
            and self._cheaper_later(view, int(j), free0)
        )
        actions: list[Action] = [*shed]
        if view.heterogeneous():
            actions += self._admit_hetero(view, deferred, weight, blocked)
        else:
            actions += admit_queued(
                view, exclude=deferred, weight=weight, blocked=blocked if blocked.any() else None
            )
        free = free_slots_after(view, actions)
        free[blocked] = 0
        green = green.copy()
        hetero = view.heterogeneous()
        for a in actions:
            if isinstance(a, Start):
                green[a.site] -= view.power_at(a.job)[a.site] if hetero else jobs.power_w[a.job]

        # paused jobs come back where there are renewables, or when their slack runs out
        for j in jobs.in_state(JobState.PAUSED):
            j = int(j)
            if hetero:
                d = self._resume_site(view, j, free, green)
                if d is not None:
                    actions.append(Resume(j, d))
                    free[d] -= 1
                    green[d] -= view.power_at(j)[d]
                continue
            p = float(jobs.power_w[j])
            cand = np.where(free > 0, green, -np.inf)
            d = int(np.argmax(cand))
            if cand[d] == -np.inf:
                continue
            if (
                cand[d] >= p
                or self._slack_s(view, j) <= view.step_s
                or not np.isfinite(jobs.deadline_s[j])  # paused for a demand-response event
            ):
                actions.append(Resume(j, d))
                free[d] -= 1
                green[d] -= p

        running = jobs.in_state(JobState.RUNNING)
        if running.size == 0:
            return actions
        own = green - view.idle_slot_power_w  # left at each job's own site, its draw included
        in_deficit = [int(j) for j in running if own[jobs.site[j]] < 0 and int(j) not in shed_jobs]
        if not in_deficit:
            return actions
        in_deficit.sort(key=lambda j: own[jobs.site[j]])
        patience = max(1, round(self.patience_h * 3600.0 / view.step_s))
        ahead: np.ndarray | None = None
        for j in in_deficit:
            s = int(jobs.site[j])
            p = float(jobs.power_w[j])
            p_at = view.power_at(j) if hetero else None
            if now - jobs.last_move_s[j] < self.min_dwell_h * 3600.0:
                continue
            if ahead is None:
                ahead = view.forecast.surplus_w(patience + 1)
            # renewables predicted back here soon: wait rather than move
            if (ahead[1:, s] >= view.it_load_w[s]).any():
                continue
            move = (
                self._best_move(view, j, s, p, free, green)
                if p_at is None
                else self._best_move_hetero(view, j, s, p_at, free, green)
            )
            if move is not None:
                actions.append(Migrate(j, move))
                free[move] -= 1
                green[move] -= p if p_at is None else p_at[move]
                own[s] += p if p_at is None else p_at[s]
                continue
            # nowhere green to go and time to spare: pause (checkpoint, free the slot)
            if (
                np.isfinite(jobs.deadline_s[j])
                and self._slack_s(view, j) > 2 * view.step_s
                and not (green >= (p if p_at is None else p_at)).any()
                and self._cheaper_later(view, j, free)
            ):
                actions.append(Pause(j))
                own[s] += p if p_at is None else p_at[s]
        return actions

    def quiet_steps(self, view: View, surplus_w: np.ndarray, it_load_w: np.ndarray) -> int:
        # decide returns nothing at a step where, with the plain objective, no demand response
        # and no battery charge (green is then the renewable power left):
        # - no job waits to start or resume: none queued or paused, or no slot free, or each
        #   such job has a deadline with more than a step to spare (on equal sites, _slack) and
        #   no site has renewables for it (queued: any site, as the deferral; paused: a free
        #   one, as the resumption);
        # - no running job with a deadline is at a site in deficit (it might pause);
        # - no job in deficit that a site could take (a move needs a free site with
        #   renewables for the job, whatever the forecast and the dwell): steps_without_deficit
        jobs = view.jobs
        if self.objective != "non-renewable" or view.battery_soc_kwh.any():
            return 0
        grid = grid_view(view)
        if grid is not None and grid.has_demand_response:
            return 0
        n = len(surplus_w)
        idle = view.idle_slot_power_w
        green = surplus_w - it_load_w + idle  # available_w of each row
        green[0] = surplus_w[0] - view.it_load_w + idle
        quiet = np.ones(n, dtype=bool)
        running = jobs.in_state(JobState.RUNNING)
        dated = running[np.isfinite(jobs.deadline_s[running])]
        if dated.size:
            quiet &= ~((green - idle)[:, jobs.site[dated]] < 0).any(axis=1)
        free = view.free_slots > 0
        waiting = jobs.in_state(JobState.QUEUED, JobState.PAUSED)
        if waiting.size and free.any():
            deadline = jobs.deadline_s[waiting]
            if view.heterogeneous() or not np.isfinite(deadline).all():
                return 0
            now = np.arange(view.step, view.step + n) * view.step_s
            slack = self._slack(view, waiting, now[:, None])  # (rows, waiting jobs)
            quiet &= (slack > view.step_s).all(axis=1)
            queued = jobs.state[waiting] == JobState.QUEUED
            draw = jobs.power_w[waiting]
            if queued.any():
                quiet &= green.max(axis=1) < draw[queued].min()
            if not queued.all():
                quiet &= np.where(free, green, -np.inf).max(axis=1) < draw[~queued].min()
        n = n if quiet.all() else int(np.argmin(quiet))
        if n == 0:
            return 0
        return steps_without_deficit(view, surplus_w[:n], it_load_w, whole_job=True)

    def _admit_hetero(
        self,
        view: View,
        deferred: frozenset[int],
        weight: np.ndarray | None,
        blocked: np.ndarray,
    ) -> list[Action]:
        """Start the queued jobs on heterogeneous sites (in order of arrival; a preferred site
        as :func:`~greenhop.policies.base.admit_queued`): at the free site where the job's grid
        draw per unit of work weighs least (its draw there less the renewable power left, over
        the site's speed; times the grid weight with a carbon or cost objective), among the
        sites whose speed meets its deadline (all, if none does) and is time-feasible (within
        ``1 + alpha`` of the fastest such site's: a slower part loses more than alpha of the
        run, as a move may not); ties, such as several sites whose renewables carry it, go to
        the fastest, then to the most renewable power left."""
        jobs = view.jobs
        queued = jobs.in_state(JobState.QUEUED)
        if queued.size == 0:
            return []
        assert view.site_speed is not None
        speed = view.site_speed
        free = np.where(blocked, 0, view.free_slots)
        avail = view.available_w().astype(np.float64)
        restart_s = view.params.restart_s
        w = np.ones_like(avail) if weight is None else weight
        out: list[Action] = []
        for j in queued[np.argsort(jobs.arrival_s[queued], kind="stable")]:
            j = int(j)
            if j in deferred:
                continue
            pref = int(jobs.preferred_site[j])
            if pref >= 0:
                if free[pref] <= 0:
                    continue
                site = pref
            else:
                if not (free > 0).any():
                    break
                rest_s = float(jobs.work_gpu_h[j] - jobs.progress_gpu_h[j]) * 3600.0
                meets = view.now_s + restart_s + rest_s / speed <= jobs.deadline_s[j]
                ok = (free > 0) & meets if ((free > 0) & meets).any() else free > 0
                # time-feasible, as a move must be: a part slower than the fastest one open
                # would lose (1/v - 1/v_max) x the run, at most alpha x its run there
                ok &= speed * (1.0 + view.params.alpha) >= float(speed[ok].max())
                p_at = view.power_at(j)
                short = np.maximum(p_at - np.maximum(avail, 0.0), 0.0)
                per_work = np.where(short > 0, short * w / speed, 0.0)
                order = np.lexsort((-avail, -speed, np.where(ok, per_work, np.inf)))
                site = int(order[0])
            out.append(Start(j, site))
            free[site] -= 1
            avail[site] -= view.power_at(j)[site]
        return out

    def _resume_site(self, view: View, j: int, free: np.ndarray, green: np.ndarray) -> int | None:
        """Heterogeneous sites: where paused job ``j`` resumes now, or None (it waits).

        A free site whose renewables carry the job's draw there, and whose speed still meets
        its deadline, the one where its remaining work runs longest on renewables first (the
        site's green power over the job's draw there, times its speed); with none, once its
        slack runs out (or for a job paused for a demand-response event), the fastest free
        site."""
        jobs = view.jobs
        assert view.site_speed is not None
        speed = view.site_speed
        p_at = view.power_at(j)
        open_ = free > 0
        open_ &= np.array([resume_elsewhere_pays(view, j, s) for s in range(len(open_))])
        if not open_.any():
            return None
        dated = bool(np.isfinite(jobs.deadline_s[j]))
        meets = np.array(
            [not dated or self._slack_s(view, j, float(v)) > 0 for v in speed], dtype=bool
        )
        green_ok = open_ & meets & (green >= p_at)
        if green_ok.any():
            score = np.where(green_ok, speed, -np.inf)  # the fastest green site
            return int(np.argmax(score))
        if not dated or self._slack_s(view, j) <= view.step_s:
            return int(np.argmax(np.where(open_, speed + 1e-9 * green, -np.inf)))
        return None

    def _best_move_hetero(
        self, view: View, j: int, s: int, p_at: np.ndarray, free: np.ndarray, green: np.ndarray
    ) -> int | None:
        """:meth:`_best_move` on heterogeneous sites: the job's draw and window at each
        destination's part, its lost time there (a slower part gives up progress over the
        window, :func:`~greenhop.feasibility.lost_time_s`), its effective size (what the
        destination lacks) and, as the gain, the source's grid energy the work done on
        renewables at the destination would have cost (``P_s · v_d/v_s`` per second there)."""
        jobs = view.jobs
        ok = (free > 0) & (green >= p_at)
        ok[s] = False
        dests = np.flatnonzero(ok)
        if dests.size == 0:
            return None
        w = np.zeros(dests.size)
        for value in np.unique(p_at[dests]):
            at = p_at[dests] == value
            w[at] = view.forecast.remaining_window_s(float(value))[dests[at]]
        w = w + view.battery_soc_kwh[dests] * 3.6e6 / p_at[dests]  # a battery lengthens it
        p_src = float(p_at[s])
        params = self._params_for(view, p_src)
        n = len(view.site_names)
        size = jobs.size_to(j, n)[dests]  # S_eff: what each destination lacks
        bw = view.bandwidth_gbps[s, dests]
        ratio = view.speed_ratio(s)[dests]
        slack, t_ok, e_ok = feasibility.move_verdicts(
            size, bw, w, params, speed_ratio=ratio, dest_power_w=p_at[dests]
        )
        feasible = t_ok & e_ok & (w > 0)
        if not feasible.any():
            return None
        assert view.site_speed is not None
        rest_s = (jobs.work_gpu_h[j] - jobs.progress_gpu_h[j]) * 3600.0 / view.site_speed[dests]
        d_s = feasibility.disruption_s(size, bw, params)
        green_s = np.maximum(np.minimum(w, rest_s) - d_s, 0.0)  # renewable run at the dest
        gain_kwh = p_src * ratio * green_s / 3.6e6  # the source's grid draw for that work
        e_mig = params.network_kwh_per_gb * size + params.idle_power_w * d_s / 3.6e6
        good = feasible & (gain_kwh > self.gain_factor * e_mig)
        if not good.any():
            return None
        score = np.where(good, ratio * green_s + 1e-6 * slack, -np.inf)
        return int(dests[int(np.argmax(score))])

    def _best_move(
        self, view: View, j: int, s: int, p: float, free: np.ndarray, green: np.ndarray
    ) -> int | None:
        jobs = view.jobs
        ok = (free > 0) & (green >= p)
        ok[s] = False
        dests = np.flatnonzero(ok)
        if dests.size == 0:
            return None
        w = view.forecast.remaining_window_s(p)[dests]
        w = w + view.battery_soc_kwh[dests] * 3.6e6 / p  # a battery lengthens the window
        params = self._params_for(view, p)
        size: float | np.ndarray = (  # S_eff: what each destination lacks
            float(jobs.size_gb[j])
            if jobs.frozen_gb is None
            else jobs.size_to(j, len(view.site_names))[dests]
        )
        slack, t_ok, e_ok = feasibility.move_verdicts(
            size, view.bandwidth_gbps[s, dests], w, params
        )
        feasible = t_ok & e_ok & (w > 0)
        if not feasible.any():
            return None
        rest_s = (jobs.work_gpu_h[j] - jobs.progress_gpu_h[j]) * 3600.0
        d_s = params.alpha * w - slack  # disruption
        green_s = np.maximum(np.minimum(w, rest_s) - d_s, 0.0)
        gain_kwh = p * green_s / 3.6e6
        e_mig = params.network_kwh_per_gb * size + params.idle_power_w * d_s / 3.6e6
        good = feasible & (gain_kwh > self.gain_factor * e_mig)
        if not good.any():
            return None
        score = np.where(good, green_s + 1e-6 * slack, -np.inf)
        return int(dests[int(np.argmax(score))])
