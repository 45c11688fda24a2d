"""The live controller's state in SQLite, so that a restarted controller carries on.

One database file per run (stdlib ``sqlite3``, WAL journal, ``synchronous=FULL``). What it
holds:

=================  ===========================================================================
``meta``           the run: scenario name and fingerprint, policy, step, ticks, speedup, the
                   clock position ``next_tick`` (the first tick not yet committed), wall time
``jobs``           per job: state, site, steps done, steps granted, start/done/last-move times,
                   its last checkpoint on disk (path, steps, SHA-256)
``links``          the bandwidth estimate of each link (Gbit/s) and how many transfers fed it
``migrations``     every move: when, where, what it measured (bandwidth, durations), or why it
                   failed
``job_energy``     the energy ledger per tick and job (see :mod:`greenhop.live.control.ledger`)
``site_energy``    the energy ledger per tick and site
``events``         arrivals, starts, moves, pauses, resumes, recoveries, completions
``refused``        actions the world refused, and why
=================  ===========================================================================

Every write goes through :meth:`ControllerState.transaction`: a tick (its job rows, its ledger,
its events and ``next_tick``) is one transaction, a migration is another, so the file is
consistent at every commit and a controller killed at any moment restarts from the last one.
Times are seconds of trace time since the scenario's start.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenhop.errors import InputError, OutputError
from greenhop.live.control.ledger import JobEnergy, SiteEnergy

SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    idx INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, state INTEGER NOT NULL,
    site INTEGER NOT NULL, steps_done INTEGER NOT NULL, granted_steps REAL NOT NULL,
    start_s REAL, done_s REAL, last_move_s REAL,
    checkpoint_path TEXT, checkpoint_steps INTEGER, checkpoint_sha256 TEXT);
CREATE TABLE IF NOT EXISTS links (
    a INTEGER NOT NULL, b INTEGER NOT NULL, bandwidth_gbps REAL NOT NULL,
    samples INTEGER NOT NULL, PRIMARY KEY (a, b));
CREATE TABLE IF NOT EXISTS migrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tick INTEGER NOT NULL, time_s REAL NOT NULL,
    job INTEGER NOT NULL, kind TEXT NOT NULL, src INTEGER NOT NULL, dest INTEGER NOT NULL,
    ok INTEGER NOT NULL, error TEXT, steps_done INTEGER, size_bytes INTEGER, sha256 TEXT,
    bandwidth_gbps REAL, actor_start_s REAL, checkpoint_s REAL, transfer_s REAL, load_s REAL,
    downtime_s REAL, bytes_sent INTEGER);
CREATE TABLE IF NOT EXISTS job_energy (
    tick INTEGER NOT NULL, job INTEGER NOT NULL, site INTEGER NOT NULL, power_w REAL NOT NULL,
    run_s REAL NOT NULL, energy_j REAL NOT NULL, renewable_j REAL NOT NULL,
    grid_j REAL NOT NULL, PRIMARY KEY (tick, job));
CREATE TABLE IF NOT EXISTS site_energy (
    tick INTEGER NOT NULL, site INTEGER NOT NULL, surplus_w REAL NOT NULL,
    it_energy_j REAL NOT NULL, idle_energy_j REAL NOT NULL, renewable_j REAL NOT NULL,
    grid_j REAL NOT NULL, jobs INTEGER NOT NULL, battery_charge_j REAL NOT NULL,
    battery_discharge_j REAL NOT NULL, curtailed_j REAL NOT NULL, battery_soc_kwh REAL NOT NULL,
    PRIMARY KEY (tick, site));
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tick INTEGER NOT NULL, time_s REAL NOT NULL,
    job INTEGER NOT NULL, event TEXT NOT NULL, site INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS signal_episodes (
    site INTEGER NOT NULL, signal TEXT NOT NULL, start TEXT NOT NULL, reason TEXT NOT NULL,
    detail TEXT NOT NULL, start_tick INTEGER NOT NULL, end TEXT, end_tick INTEGER,
    readings INTEGER NOT NULL, PRIMARY KEY (site, signal, start));
CREATE TABLE IF NOT EXISTS prestages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, start_tick INTEGER NOT NULL, end_tick INTEGER NOT NULL,
    job INTEGER NOT NULL, src INTEGER NOT NULL, dest INTEGER NOT NULL,
    bytes_sent INTEGER NOT NULL, duration_s REAL NOT NULL, completed INTEGER NOT NULL,
    reason TEXT);
CREATE TABLE IF NOT EXISTS refused (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tick INTEGER NOT NULL, time_s REAL NOT NULL,
    action TEXT NOT NULL, reason TEXT NOT NULL);
"""


@dataclass
class JobRow:
    """One job's persistent state (``state`` is a :class:`~greenhop.policies.base.JobState`)."""

    idx: int
    name: str
    state: int
    site: int = -1
    steps_done: int = 0
    granted_steps: float = 0.0
    start_s: float | None = None
    done_s: float | None = None
    last_move_s: float | None = None
    checkpoint_path: str | None = None
    checkpoint_steps: int | None = None
    checkpoint_sha256: str | None = None


@dataclass(frozen=True)
class MigrationRow:
    """One move of a job, as recorded (durations in wall-clock seconds)."""

    tick: int
    time_s: float
    job: int
    kind: str  # "migrate" or "resume"
    src: int
    dest: int
    ok: bool
    error: str | None = None
    steps_done: int | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    bandwidth_gbps: float | None = None
    actor_start_s: float | None = None
    checkpoint_s: float | None = None
    transfer_s: float | None = None
    load_s: float | None = None
    downtime_s: float | None = None
    bytes_sent: int | None = None  # on the network (less than size_bytes with chunk stores)


@dataclass(frozen=True)
class EpisodeRow:
    """A run of ticks in which one site's live signal was unknown (times are ISO 8601 UTC)."""

    site: int
    signal: str  # "power" or "base_load"
    start: str
    reason: str  # unreachable, timeout, garbage, stale, no-data
    detail: str
    start_tick: int
    end: str | None  # None while it lasts
    end_tick: int | None
    readings: int


@dataclass(frozen=True)
class PrestageRow:
    """A copy of a job's frozen part to another site ahead of a move (bytes on the network)."""

    start_tick: int
    end_tick: int
    job: int
    src: int
    dest: int
    bytes_sent: int
    duration_s: float  # wall seconds
    completed: bool
    reason: str | None = None  # why it stopped early (superseded by a move, cancelled, error)


class ControllerState:
    """The controller's SQLite database at ``path`` (created if missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise OutputError(f"state database {str(self.path)!r} exists and is not a file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        except (OSError, sqlite3.Error) as exc:
            raise OutputError(f"cannot open state database {str(self.path)!r}: {exc}") from None
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise InputError(
                f"{str(self.path)!r} is not a greenhop state database: {exc}; give another --db"
            ) from None

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic transaction: everything written inside commits together, or nothing."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- meta ---------------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        """Every meta entry, JSON-decoded."""
        rows = self.conn.execute("SELECT key, value FROM meta").fetchall()
        return {k: json.loads(v) for k, v in rows}

    @staticmethod
    def set_meta(conn: sqlite3.Connection, **values: Any) -> None:
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(k, json.dumps(v)) for k, v in values.items()],
        )

    # -- jobs and links -----------------------------------------------------------------------

    def jobs(self) -> list[JobRow]:
        rows = self.conn.execute(
            "SELECT idx, name, state, site, steps_done, granted_steps, start_s, done_s, "
            "last_move_s, checkpoint_path, checkpoint_steps, checkpoint_sha256 FROM jobs "
            "ORDER BY idx"
        ).fetchall()
        return [JobRow(*r) for r in rows]

    @staticmethod
    def put_jobs(conn: sqlite3.Connection, rows: Sequence[JobRow]) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO jobs (idx, name, state, site, steps_done, granted_steps, "
            "start_s, done_s, last_move_s, checkpoint_path, checkpoint_steps, "
            "checkpoint_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.idx,
                    r.name,
                    r.state,
                    r.site,
                    r.steps_done,
                    r.granted_steps,
                    r.start_s,
                    r.done_s,
                    r.last_move_s,
                    r.checkpoint_path,
                    r.checkpoint_steps,
                    r.checkpoint_sha256,
                )
                for r in rows
            ],
        )

    def links(self) -> dict[tuple[int, int], tuple[float, int]]:
        """(a, b) with a < b -> (bandwidth estimate Gbit/s, transfers measured)."""
        rows = self.conn.execute("SELECT a, b, bandwidth_gbps, samples FROM links").fetchall()
        return {(a, b): (bw, n) for a, b, bw, n in rows}

    @staticmethod
    def put_link(conn: sqlite3.Connection, a: int, b: int, bandwidth_gbps: float, n: int) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO links (a, b, bandwidth_gbps, samples) VALUES (?, ?, ?, ?)",
            (min(a, b), max(a, b), bandwidth_gbps, n),
        )

    # -- history ------------------------------------------------------------------------------

    @staticmethod
    def add_migration(conn: sqlite3.Connection, m: MigrationRow) -> None:
        conn.execute(
            "INSERT INTO migrations (tick, time_s, job, kind, src, dest, ok, error, steps_done, "
            "size_bytes, sha256, bandwidth_gbps, actor_start_s, checkpoint_s, transfer_s, "
            "load_s, downtime_s, bytes_sent) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                m.tick,
                m.time_s,
                m.job,
                m.kind,
                m.src,
                m.dest,
                int(m.ok),
                m.error,
                m.steps_done,
                m.size_bytes,
                m.sha256,
                m.bandwidth_gbps,
                m.actor_start_s,
                m.checkpoint_s,
                m.transfer_s,
                m.load_s,
                m.downtime_s,
                m.bytes_sent,
            ),
        )

    def migrations(self) -> list[MigrationRow]:
        rows = self.conn.execute(
            "SELECT tick, time_s, job, kind, src, dest, ok, error, steps_done, size_bytes, "
            "sha256, bandwidth_gbps, actor_start_s, checkpoint_s, transfer_s, load_s, "
            "downtime_s, bytes_sent FROM migrations ORDER BY id"
        ).fetchall()
        names = [f.name for f in dataclasses.fields(MigrationRow)]
        return [
            MigrationRow(**{**dict(zip(names, r, strict=True)), "ok": bool(r[6])}) for r in rows
        ]

    @staticmethod
    def add_event(
        conn: sqlite3.Connection, tick: int, time_s: float, job: int, event: str, site: int
    ) -> None:
        conn.execute(
            "INSERT INTO events (tick, time_s, job, event, site) VALUES (?, ?, ?, ?, ?)",
            (tick, time_s, job, event, site),
        )

    def events(self) -> list[tuple[float, int, str, int]]:
        """(time_s, job, event, site), in order: tick by tick, a tick's arrivals first (they are
        committed with the tick, after the actions of that tick)."""
        rows = self.conn.execute(
            "SELECT time_s, job, event, site FROM events "
            "ORDER BY tick, CASE event WHEN 'arrive' THEN 0 ELSE 1 END, id"
        )
        return [tuple(r) for r in rows.fetchall()]

    @staticmethod
    def add_refused(
        conn: sqlite3.Connection, tick: int, time_s: float, action: str, reason: str
    ) -> None:
        conn.execute(
            "INSERT INTO refused (tick, time_s, action, reason) VALUES (?, ?, ?, ?)",
            (tick, time_s, action, reason),
        )

    def refused(self) -> list[tuple[float, str, str]]:
        rows = self.conn.execute("SELECT time_s, action, reason FROM refused ORDER BY id")
        return [tuple(r) for r in rows.fetchall()]

    # -- live signals -------------------------------------------------------------------------

    @staticmethod
    def put_episode(conn: sqlite3.Connection, e: EpisodeRow) -> None:
        """Record (or update) one episode in which a site's live signal was unknown."""
        conn.execute(
            "INSERT OR REPLACE INTO signal_episodes (site, signal, start, reason, detail, "
            "start_tick, end, end_tick, readings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            dataclasses.astuple(e),
        )

    def episodes(self) -> list[EpisodeRow]:
        """Every episode of an unknown live signal, in the order they began."""
        rows = self.conn.execute(
            "SELECT site, signal, start, reason, detail, start_tick, end, end_tick, readings "
            "FROM signal_episodes ORDER BY start, site, signal"
        ).fetchall()
        return [EpisodeRow(*r) for r in rows]

    @staticmethod
    def add_prestage(conn: sqlite3.Connection, p: PrestageRow) -> None:
        conn.execute(
            "INSERT INTO prestages (start_tick, end_tick, job, src, dest, bytes_sent, "
            "duration_s, completed, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (p.start_tick, p.end_tick, p.job, p.src, p.dest, p.bytes_sent, p.duration_s,
             int(p.completed), p.reason),
        )  # fmt: skip

    def prestages(self) -> list[PrestageRow]:
        rows = self.conn.execute(
            "SELECT start_tick, end_tick, job, src, dest, bytes_sent, duration_s, completed, "
            "reason FROM prestages ORDER BY id"
        ).fetchall()
        return [
            PrestageRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8]) for r in rows
        ]

    # -- the ledger ---------------------------------------------------------------------------

    @staticmethod
    def add_energy(
        conn: sqlite3.Connection, jobs: Sequence[JobEnergy], sites: Sequence[SiteEnergy]
    ) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO job_energy (tick, job, site, power_w, run_s, energy_j, "
            "renewable_j, grid_j) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (e.tick, e.job, e.site, e.power_w, e.run_s, e.energy_j, e.renewable_j, e.grid_j)
                for e in jobs
            ],
        )
        columns = [f.name for f in dataclasses.fields(SiteEnergy)]
        conn.executemany(
            f"INSERT OR REPLACE INTO site_energy ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})",
            [dataclasses.astuple(e) for e in sites],
        )

    def job_energy(self) -> list[JobEnergy]:
        rows = self.conn.execute(
            "SELECT tick, job, site, power_w, run_s, energy_j, renewable_j, grid_j "
            "FROM job_energy ORDER BY tick, job"
        ).fetchall()
        return [JobEnergy(*r) for r in rows]

    def site_energy(self, tick: int | None = None) -> list[SiteEnergy]:
        """The ledger's site entries, of every tick or of one, by tick and site."""
        columns = ", ".join(f.name for f in dataclasses.fields(SiteEnergy))
        where, args = ("WHERE tick = ?", (tick,)) if tick is not None else ("", ())
        rows = self.conn.execute(
            f"SELECT {columns} FROM site_energy {where} ORDER BY tick, site", args
        ).fetchall()
        return [SiteEnergy(*r) for r in rows]
