"""Pre-staging on a policy's hints, in the simulated world.

A policy may hint that a running job's frozen part (``frozen_gb``: a LoRA job's base weights) is
worth copying to a site ahead of a move (:meth:`greenhop.policies.base.Policy.prestage_hints`).
A simulated world whose inputs set ``prestage_share`` acts on the hints as the live controller
does: it copies the frozen part from the job's site over the link, at ``prestage_share`` of the
link's bandwidth (the pre-stages on one link share that), paused in any step in which a move's
transfer uses the link. Each pre-stage is recorded as a
:class:`~greenhop.world.record.Migration` of kind ``"prestage"`` (it never restores a job): the
bytes it sent are counted as network energy, ``e_net`` per GB, by the one ledger
(:func:`greenhop.world.ledger.non_renewable_kwh`), like a move's. Once it completes, the site
holds the frozen part, so a later move there sends only the rest (S_eff). A move to a site
whose pre-stage is still under way takes it over: the pre-stage stops, its record keeps the
bytes it sent, and the move sends the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from greenhop.policies.base import JobState
from greenhop.world.record import Migration

_RUN = int(JobState.RUNNING)


@dataclass
class _Copy:
    """One pre-stage under way."""

    record: Migration
    bytes_left: float


class Prestages:
    """The pre-stages of one simulated run (see the module docstring)."""

    def __init__(
        self,
        frozen_gb: NDArray[np.float64],
        frozen_at: NDArray[np.bool_],
        bandwidth_gbps: NDArray[np.float64],
        share: float,
    ) -> None:
        self.frozen_gb = frozen_gb
        self.frozen_at = frozen_at  # the world's (jobs, sites) table, updated in place
        self.bandwidth_gbps = bandwidth_gbps
        self.share = float(share)
        self.under_way: dict[tuple[int, int], _Copy] = {}
        self._open: list[Migration] = []  # moves whose transfer may still be to come
        self._seen = 0  # records of the world's list looked at so far

    def busy_links(
        self, migrations: list[Migration], now_s: float, step_s: float
    ) -> set[tuple[int, int]]:
        """Links (unordered site pairs) a move's transfer used in the step from ``now_s``, read
        from the world's move records once the step has passed (``migrations``, in order of
        start; pre-stage records are skipped)."""
        self._open.extend(m for m in migrations[self._seen :] if m.kind != "prestage")
        self._seen = len(migrations)
        end = now_s + step_s
        out, keep = set(), []
        for m in self._open:
            if m.transferred and m.transfer_done_s < now_s:
                continue  # crossed before this step
            keep.append(m)
            if m.checkpoint_done_s < end and not m.transfer_done_s <= now_s:
                out.add((m.src, m.dest) if m.src < m.dest else (m.dest, m.src))
        self._open = keep
        return out

    def start(
        self,
        now_s: float,
        hints: list[tuple[int, int]],
        state: NDArray[np.int64],
        site: NDArray[np.int64],
    ) -> list[Migration]:
        """Start a pre-stage for each hint of a running job to a site other than its own that
        lacks its frozen part and has none under way; returns their new records."""
        out = []
        for j, d in hints:
            j, d = int(j), int(d)
            src = int(site[j])
            if state[j] != _RUN or d == src or src < 0 or self.frozen_at[j, d]:
                continue
            if (j, d) in self.under_way or self.frozen_gb[j] <= 0:
                continue
            rec = Migration(j, src, d, float(self.frozen_gb[j]), now_s, "prestage")
            self.under_way[(j, d)] = _Copy(rec, float(self.frozen_gb[j]) * 1e9)
            out.append(rec)
        return out

    def advance(self, now_s: float, step_s: float, busy_links: set[tuple[int, int]]) -> None:
        """Let a step of ``step_s`` from ``now_s`` pass: the pre-stages on each link not in
        ``busy_links`` (unordered site pairs a move's transfer used) share ``share`` of its
        bandwidth; one that completes marks its site as holding the frozen part."""
        if not self.under_way:
            return
        per_link: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for key, c in self.under_way.items():
            a, b = c.record.src, c.record.dest
            link = (a, b) if a < b else (b, a)
            if link not in busy_links:
                per_link.setdefault(link, []).append(key)
        for link, keys in per_link.items():
            t, left = 0.0, list(keys)
            while left and t < step_s - 1e-9:
                rate = self.bandwidth_gbps[link] * 1e9 / 8.0 * self.share / len(left)  # B/s
                dt = min(step_s - t, min(self.under_way[k].bytes_left for k in left) / rate)
                for k in left:
                    self.under_way[k].bytes_left -= rate * dt
                t += dt
                for k in [k for k in left if self.under_way[k].bytes_left <= 1e-3]:
                    left.remove(k)
                    c = self.under_way.pop(k)
                    c.record.transfer_done_s = now_s + t
                    self.frozen_at[k] = True

    def take_over(self, j: int, dest: int, now_s: float) -> float:
        """A move of job ``j`` to ``dest`` begins: stop a pre-stage under way there, keep in
        its record the bytes it sent (counted as transferred), and return them, GB (the move
        sends only the rest of the frozen part); 0 when none was under way."""
        c = self.under_way.pop((j, dest), None)
        if c is None:
            return 0.0
        sent_gb = c.record.size_gb - c.bytes_left / 1e9
        c.record.size_gb = max(sent_gb, 0.0)
        c.record.transfer_done_s = now_s
        return max(sent_gb, 0.0)
