"""Ray clusters with one node per site: start an embedded local one, or attach to a real one.

A site is a Ray node that carries the custom resource ``site:<name>`` sized to its GPU slots.
:class:`LocalCluster` starts one such node per site on this machine (``ray start`` processes in
their own session) and stops exactly the processes it started: on exit, on Ctrl-C (SIGINT), on
SIGTERM and on errors. It never runs ``ray stop``, which would stop every Ray process on the
machine. :func:`attach` connects to a cluster that was started by hand (see ``docs/live.md``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from greenhop.errors import InputError
from greenhop.live._extras import import_ray
from greenhop.live.errors import ClusterError

SITE_RESOURCE_PREFIX = "site:"
"""Prefix of the custom Ray resource that marks a node as a site: ``site:<name>``."""

_SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def site_resource(site: str) -> str:
    """Name of the Ray resource that marks the node of ``site``: ``site:<site>``."""
    return f"{SITE_RESOURCE_PREFIX}{site}"


@dataclass(frozen=True)
class SiteNode:
    """One site's Ray node: its id, address and GPU slots (the ``site:<name>`` amount)."""

    site: str
    node_id: str
    node_ip: str
    slots: float


def sites_from_nodes(nodes: list[dict[str, Any]]) -> dict[str, SiteNode]:
    """Map each site to its node, from ``ray.nodes()``; alive nodes only.

    Raises ClusterError if two nodes claim the same site (each site must be one node).
    """
    sites: dict[str, SiteNode] = {}
    for node in nodes:
        if not node.get("Alive", False):
            continue
        for key, amount in node.get("Resources", {}).items():
            if not key.startswith(SITE_RESOURCE_PREFIX):
                continue
            site = key[len(SITE_RESOURCE_PREFIX) :]
            if site in sites:
                raise ClusterError(
                    f"Site {site!r} is on two Ray nodes ({sites[site].node_id[:12]} and "
                    f"{node['NodeID'][:12]}); start each site's node with its own "
                    f"--resources='{{\"site:<name>\": <slots>}}'."
                )
            sites[site] = SiteNode(site, node["NodeID"], node["NodeManagerAddress"], amount)
    return sites


def _validate_sites(sites: Mapping[str, int]) -> dict[str, int]:
    if not sites:
        raise InputError("A cluster needs at least one site; got none.")
    for name, slots in sites.items():
        if not _SITE_NAME.match(name):
            raise InputError(
                f"Site name {name!r} is not valid for a Ray resource; use letters, digits, "
                "'_', '.' and '-', starting with a letter or digit."
            )
        if not isinstance(slots, int) or isinstance(slots, bool) or slots < 1:
            raise InputError(f"Site {name!r} has {slots!r} GPU slots; it needs an integer >= 1.")
    return dict(sites)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                children = Path(f"/proc/{pid}/task/{task}/children").read_text()
                out += [int(c) for c in children.split()]
    return out


def _start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), None if it is gone or a zombie.

    A PID with its start time names one process even after the PID is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else int(fields[19])


def _process_tree(pid: int) -> dict[int, int]:
    """``pid`` and all its descendants that are alive now, with their start times."""
    seen: dict[int, int] = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        start = _start_time(p)
        if p in seen or start is None:
            continue
        seen[p] = start
        todo += _children(p)
    return seen


def pid_alive(pid: int) -> bool:
    """True if process ``pid`` exists and is not a zombie."""
    return _start_time(pid) is not None


class LocalCluster:
    """An embedded Ray cluster on this machine, one node per site; a context manager.

    ``LocalCluster({"a": 2, "b": 1})`` starts a head node carrying ``site:a = 2`` and a node
    carrying ``site:b = 1``, connects this process as the Ray driver, and on exit disconnects
    and stops every process it started (and nothing else). :meth:`kill_site` kills one site's
    node (its raylet, object store and actors) as a power cut would.

    Parameters
    ----------
    sites:
        site name -> GPU slots (the amount of the ``site:<name>`` resource). The first site's
        node is the head.
    object_store_mb:
        Ray object store per node in MiB (Ray's default would take 30 % of RAM in /dev/shm).
    num_cpus_per_node:
        CPUs each node advertises; training actors ask for none, so this only bounds other
        Ray tasks.
    temp_dir:
        Ray's session and log directory; by default a fresh ``/tmp/greenhop-ray-*`` that is
        removed on exit unless ``keep_logs``.
    system_config:
        Ray system config for the head, e.g. ``{"object_manager_pull_timeout_ms": 120000}``
        on slow links (a pull slower than the timeout is re-requested and sent twice).
    connect:
        Connect this process to the cluster with ``ray.init`` on start.
    runtime_env:
        Ray's runtime environment of this driver's jobs (e.g. ``{"working_dir": ...}``: the
        trainers' code, uploaded to the cluster; :meth:`LiveScenario.runtime_env
        <greenhop.live.control.scenario.LiveScenario.runtime_env>`).
    start_timeout_s:
        How long to wait for every node to join.
    """

    def __init__(
        self,
        sites: Mapping[str, int],
        *,
        object_store_mb: int = 150,
        num_cpus_per_node: int = 1,
        temp_dir: str | os.PathLike[str] | None = None,
        keep_logs: bool = False,
        system_config: Mapping[str, Any] | None = None,
        connect: bool = True,
        start_timeout_s: float = 90.0,
        runtime_env: Mapping[str, Any] | None = None,
    ) -> None:
        self.site_slots = _validate_sites(sites)
        if object_store_mb < 75:
            raise InputError(f"object_store_mb={object_store_mb} is below Ray's minimum of 75.")
        self.object_store_mb = object_store_mb
        self.num_cpus_per_node = num_cpus_per_node
        self._temp_dir_given = temp_dir is not None
        self.temp_dir = Path(temp_dir) if temp_dir else None
        self.keep_logs = keep_logs
        self.system_config = dict(system_config or {})
        self.connect = connect
        self.runtime_env = dict(runtime_env) if runtime_env else None
        self.start_timeout_s = start_timeout_s
        self.address: str | None = None
        self.sites: dict[str, SiteNode] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._pids: dict[int, int] = {}  # pid -> start time: never signal a reused PID
        self._lock = threading.Lock()
        self._connected = False
        self._old_sigterm: Any = None

    # -- context manager ----------------------------------------------------------------------

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LocalCluster:
        """Start one node per site, wait until all joined, and connect (if ``connect``)."""
        if self._procs:
            raise ClusterError("This LocalCluster is already started.")
        ray = import_ray()
        if self.connect and ray.is_initialized():
            raise ClusterError(
                "This process is already connected to a Ray cluster; call ray.shutdown() "
                "first or pass connect=False."
            )
        atexit.register(self.stop)
        self._install_sigterm_handler()
        try:
            self._start_nodes()
            if self.connect:
                ray.init(
                    address=self.address,
                    logging_level="WARNING",
                    log_to_driver=False,
                    runtime_env=self.runtime_env,
                )
                self._connected = True
                self._wait_for_sites(ray)
        except BaseException:  # Ctrl-C or an error half-way: stop what was started
            self.stop()
            raise
        return self

    def _start_nodes(self) -> None:
        if self.temp_dir is None:
            self.temp_dir = Path(tempfile.mkdtemp(prefix="greenhop-ray-", dir="/tmp"))
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"] = "0"  # stop at once, nothing to drain
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        # an embedded cluster on loopback: no token auth, whatever a local ray.init() elsewhere
        # left in ~/.ray/auth_token (Ray 2.60 enables tokens for new local clusters)
        env["RAY_AUTH_MODE"] = "disabled"
        port = _free_port()
        names = list(self.site_slots)
        self.address = f"{self._node_ip(names[0])}:{port}"
        head_args = [
            "--head",
            f"--port={port}",
            "--include-dashboard=false",
            f"--ray-client-server-port={_free_port()}",
        ]
        if self.system_config:
            head_args.append(f"--system-config={json.dumps(self.system_config)}")
        # one node at a time: on two loaded cores, parallel starts miss Ray's fixed 30 s
        # registration timeout
        for name in names:
            args = head_args if name == names[0] else [f"--address={self.address}"]
            for attempt in range(3):
                self._spawn(name, args, env)
                if self._wait_started(name, last_attempt=attempt == 2):
                    break

    def _wait_started(self, site: str, *, last_attempt: bool) -> bool:
        """Wait until ``ray start`` of ``site`` reports its node running; False if it exited."""
        assert self.temp_dir is not None
        log = self.temp_dir / f"ray-start-{site}.log"
        proc = self._procs[site]
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if b"Ray runtime started" in log.read_bytes():
                return True
            if proc.poll() is not None:
                if last_attempt:
                    self._check_procs_alive()
                with self._lock:
                    del self._procs[site]
                return False
            time.sleep(0.2)
        raise ClusterError(
            f"The Ray node of site {site!r} did not start within {self.start_timeout_s:.0f} s; "
            f"see {log}."
        )

    def _node_ip(self, site: str) -> str:
        """The address the node of ``site`` binds to (subclasses place nodes elsewhere)."""
        return "127.0.0.1"

    def _exec_prefix(self, site: str) -> list[str]:
        """What runs the node's command, e.g. ``ip netns exec NS`` (nothing here)."""
        return []

    def _spawn(self, site: str, args: list[str], env: dict[str, str]) -> None:
        ray_cli = Path(sys.executable).with_name("ray")
        cmd = [
            *self._exec_prefix(site),
            str(ray_cli) if ray_cli.exists() else "ray",
            "start",
            *args,
            "--block",
            f"--node-ip-address={self._node_ip(site)}",
            f"--num-cpus={self.num_cpus_per_node}",
            "--num-gpus=0",
            f"--object-store-memory={self.object_store_mb * 2**20}",
            f"--resources={json.dumps({site_resource(site): self.site_slots[site]})}",
            f"--temp-dir={self.temp_dir}",
            "--disable-usage-stats",
            # fixed defaults would collide between nodes on one machine
            f"--dashboard-agent-listen-port={_free_port()}",
            f"--dashboard-agent-grpc-port={_free_port()}",
            f"--metrics-export-port={_free_port()}",
            f"--runtime-env-agent-port={_free_port()}",
        ]
        assert self.temp_dir is not None
        log = open(self.temp_dir / f"ray-start-{site}.log", "ab")  # noqa: SIM115 (kept by Popen)
        with self._lock:
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # Ctrl-C in the terminal reaches us, not the nodes
            )
            log.close()
            self._procs[site] = proc
            self._pids.update(_process_tree(proc.pid))

    def _check_procs_alive(self) -> None:
        for site, proc in self._procs.items():
            if proc.poll() is not None:
                raise ClusterError(
                    f"The Ray node of site {site!r} exited with code {proc.returncode} while "
                    f"starting; see {self.temp_dir}/ray-start-{site}.log."
                )

    def _wait_for_sites(self, ray: Any) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            self._check_procs_alive()
            self.sites = sites_from_nodes(ray.nodes())
            if set(self.sites) >= set(self.site_slots):
                self._record_pids()
                return
            if time.monotonic() > deadline:
                missing = sorted(set(self.site_slots) - set(self.sites))
                raise ClusterError(
                    f"Sites {missing} did not join within {self.start_timeout_s:.0f} s; "
                    f"see the logs in {self.temp_dir}."
                )
            time.sleep(0.2)

    def _record_pids(self) -> None:
        with self._lock:
            for proc in self._procs.values():
                self._pids.update(_process_tree(proc.pid))

    def pids(self) -> set[int]:
        """PIDs of every process this cluster started that is alive now (node daemons and
        the actors' worker processes)."""
        self._record_pids()
        return {p for p in self._pids if self._still_ours(p)}

    def site_pids(self) -> dict[str, set[int]]:
        """Per site, the PIDs alive now of its node: its ``ray start`` and every descendant
        (raylet, object store, the actors' workers on that node; on the head site also the GCS
        and the dashboard)."""
        out: dict[str, set[int]] = {}
        with self._lock:
            for site, proc in self._procs.items():
                tree = _process_tree(proc.pid)
                self._pids.update(tree)
                out[site] = set(tree)
        return out

    def _still_ours(self, pid: int) -> bool:
        return _start_time(pid) == self._pids[pid]

    def kill_site(self, site: str) -> list[int]:
        """SIGKILL every process of ``site``'s node at once (a power cut); return their PIDs.

        The actors' worker processes are found through the process tree (and the session) of
        the site's ``ray start``; only processes this cluster started are signalled."""
        with self._lock:
            proc = self._procs.get(site)
            if proc is None:
                raise ClusterError(f"Site {site!r} has no running node in this cluster.")
            tree = _process_tree(proc.pid)
            self._pids.update(tree)
        for pid, start in tree.items():
            if pid != proc.pid and _start_time(pid) == start:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return sorted(tree)

    def stop(self, timeout_s: float = 15.0) -> None:
        """Disconnect and stop every process this cluster started; safe to call twice.

        Each node's ``ray start`` gets SIGTERM and stops its own processes; whatever is left
        after ``timeout_s`` is killed. Ctrl-C is held off until the nodes are gone.
        """
        with _sigint_deferred():
            if self._connected:
                with contextlib.suppress(Exception):
                    import_ray().shutdown()
                self._connected = False
            if not self._procs:
                self._restore_sigterm_handler()
                return
            self._record_pids()  # actors started since the last look
            procs = list(self._procs.values())
            # worker nodes first, so the head (GCS) does not see them fail
            for proc in reversed(procs):
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            for proc in reversed(procs):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(max(0.1, deadline - time.monotonic()))
            for proc in procs:  # the process group holds the node daemons
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            with self._lock:
                for pid in self._pids:
                    if self._still_ours(pid):  # actor workers live in sessions of their own
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.kill(pid, signal.SIGKILL)
            self._wait_gone(deadline=time.monotonic() + 10.0)
            self._procs.clear()
            self.sites = {}
            self._restore_sigterm_handler()
            if not self.keep_logs and not self._temp_dir_given and self.temp_dir is not None:
                shutil.rmtree(self.temp_dir, ignore_errors=True)
            with contextlib.suppress(Exception):
                atexit.unregister(self.stop)

    def _wait_gone(self, deadline: float) -> None:
        while time.monotonic() < deadline and any(self._still_ours(p) for p in self._pids):
            time.sleep(0.05)

    # -- SIGTERM becomes SystemExit, so __exit__ and finally blocks run -------------------------

    def _install_sigterm_handler(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)
        if previous not in (signal.SIG_DFL, None):
            return  # the application handles SIGTERM itself

        def _on_sigterm(signum: int, frame: FrameType | None) -> None:
            raise SystemExit(128 + signum)

        self._old_sigterm = previous
        signal.signal(signal.SIGTERM, _on_sigterm)

    def _restore_sigterm_handler(self) -> None:
        if self._old_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold a Ctrl-C that arrives while the nodes are being stopped; re-raise it after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


@dataclass
class AttachedCluster:
    """A connection to a running Ray cluster whose nodes carry ``site:<name>`` resources.

    A context manager: on exit it disconnects this process and leaves the cluster running.
    """

    address: str
    sites: dict[str, SiteNode]

    def __enter__(self) -> AttachedCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect this process (the cluster keeps running)."""
        import_ray().shutdown()


def attach(
    address: str,
    *,
    required_sites: list[str] | None = None,
    runtime_env: Mapping[str, Any] | None = None,
) -> AttachedCluster:
    """Connect to the Ray cluster at ``address`` (``host:port`` of its GCS) as its driver, with
    ``runtime_env`` (the trainers' code to ship) for its jobs.

    If this process is already connected, that connection is used (and its runtime_env).
    Raises ClusterError if no node carries a ``site:<name>`` resource, or if a site in
    ``required_sites`` is missing.
    """
    if not address or address == "auto":
        raise InputError(
            f"attach() needs the explicit address of the head node (host:port), got {address!r}."
        )
    ray = import_ray()
    connected_here = not ray.is_initialized()
    if connected_here:
        try:
            ray.init(
                address=address,
                logging_level="WARNING",
                log_to_driver=False,
                runtime_env=dict(runtime_env) if runtime_env else None,
            )
        except ConnectionError as exc:
            raise ClusterError(f"Cannot reach a Ray cluster at {address}: {exc}") from exc
    try:
        sites = check_sites(address, sites_from_nodes(ray.nodes()), required_sites or [])
    except BaseException:
        if connected_here:
            ray.shutdown()
        raise
    return AttachedCluster(address, sites)


def check_sites(
    address: str, sites: dict[str, SiteNode], required_sites: list[str]
) -> dict[str, SiteNode]:
    """Return ``sites`` if there is at least one and every required site is among them; raise
    ClusterError saying how to start the missing nodes otherwise."""
    if not sites:
        raise ClusterError(
            f"The Ray cluster at {address} has no node with a site resource; start each "
            "site's node with ray start --resources='{\"site:<name>\": <gpu slots>}'."
        )
    missing = sorted(set(required_sites) - set(sites))
    if missing:
        raise ClusterError(
            f"The Ray cluster at {address} has sites {sorted(sites)} but not {missing}; "
            "start a node for each with ray start --resources='{\"site:<name>\": <slots>}'."
        )
    return sites
