"""A real wide-area network on one machine: one Linux network namespace per site, veth links
shaped with ``tc tbf``, Ray nodes bound inside their namespaces, and a driver that runs inside
a namespace too (so that every byte between sites crosses a shaped link).

- :class:`Wan` creates the namespaces (one per site, each with its address on ``lo``), one veth
  pair per pair of sites with a ``tbf`` qdisc on both ends, and the routes; it reshapes a link
  (``tc qdisc change``), cuts and restores it (``ip link set down/up``), reads its byte
  counters, and deletes everything it created on exit (also on errors).
- :class:`NamespacedCluster` is a :class:`~greenhop.live.cluster.LocalCluster` whose nodes run
  inside the sites' namespaces (``ip netns exec NS ray start ... --node-ip-address=ADDR``).
- :class:`NamespaceDriver` runs a Ray driver process inside a namespace and calls functions in
  it (``driver.call(fn, *args)`` runs ``fn(ctx, *args)`` there and returns the result): network
  namespaces do not isolate Unix sockets or ``/dev/shm``, so a driver outside the namespaces
  would reach a raylet through its Unix socket, bypassing the links.
- :class:`SyntheticTrainer` is a training job whose checkpoint has a chosen size.
- :class:`BandwidthEstimator` turns measured migrations into a link's bandwidth estimate.

Everything here needs root (``ip netns``); :func:`wan_unavailable_reason` says why it cannot
run on a machine. The kernel here has no ``netem``: a link has a rate, not a delay.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from types import TracebackType
from typing import Any

from greenhop.errors import InputError
from greenhop.live.cluster import LocalCluster, _process_tree
from greenhop.live.errors import ClusterError, LiveError

DEFAULT_PULL_TIMEOUT_MS = 600_000
"""Ray's ``object_manager_pull_timeout_ms`` on a namespaced cluster: a pull slower than this is
re-requested and its bytes sent again; 10 min is longer than any single chunk's transfer."""


class WanError(LiveError):
    """The namespaced WAN could not be built or changed (not root, no ``ip``/``tc``...)."""


def wan_unavailable_reason() -> str | None:
    """Why a namespaced WAN cannot be built here (not root, no ``ip``/``tc``, namespaces or
    veth refused), or None if it can."""
    if sys.platform != "linux":
        return f"network namespaces need Linux, this is {sys.platform}"
    if os.geteuid() != 0:
        return "network namespaces and tc need root (run as root, e.g. in CI)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"the {tool!r} command (iproute2) is not installed"
    probe = f"ghprobe{secrets.token_hex(3)}"
    try:
        _run(["ip", "netns", "add", probe])
    except WanError as exc:
        return f"cannot create a network namespace: {exc}"
    try:
        _run(["ip", "-n", probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1"])
        _run(["tc", "-n", probe, "qdisc", "add", "dev", "p0", "root", "tbf", "rate", "1mbit",
              "burst", "32kb", "latency", "50ms"])  # fmt: skip
    except WanError as exc:
        return f"cannot create a shaped veth link: {exc}"
    finally:
        with contextlib.suppress(WanError):
            _run(["ip", "netns", "del", probe])
    return None


def _run(cmd: Sequence[str]) -> str:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise WanError(f"`{' '.join(cmd)}` failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def _tbf_args(rate_mbit: float) -> list[str]:
    """tbf parameters for ``rate_mbit``: a burst of at least 64 KiB (one GSO packet) or 4 ms
    at the rate, and a 50 ms queue."""
    if not rate_mbit > 0:
        raise InputError(f"A link's rate must be > 0 Mbit/s, got {rate_mbit}.")
    burst = max(64 * 1024, int(rate_mbit * 1e6 / 8 * 0.004))
    return ["rate", f"{rate_mbit * 1000:.0f}kbit", "burst", str(burst), "latency", "50ms"]


@dataclass(frozen=True)
class LinkEnd:
    """One end of a link: the site, its namespace and the veth device in it."""

    site: str
    netns: str
    device: str


class Wan:
    """Sites in network namespaces, joined pairwise by veth links shaped with ``tbf``.

    Parameters
    ----------
    sites:
        Site names (letters, digits, ``-``); site ``i`` gets the address ``{prefix}.0.{i+1}``.
    rate_mbit:
        Initial rate of every link in Mbit/s (1e6 bit/s), both directions; or a mapping
        ``(site, site) -> rate`` for links with their own rates (missing pairs: no link).
    prefix:
        The first two octets of the addresses (``10.231``); they exist only inside the
        namespaces this object creates.

    A context manager: the namespaces (and with them the veths and qdiscs) are deleted on exit.
    """

    def __init__(
        self,
        sites: Sequence[str],
        rate_mbit: float | Mapping[tuple[str, str], float] = 100.0,
        *,
        prefix: str = "10.231",
    ) -> None:
        if len(set(sites)) != len(sites) or not sites:
            raise InputError(f"A WAN needs distinct site names, got {list(sites)}.")
        if len(sites) > 250:
            raise InputError("A WAN has at most 250 sites.")
        for s in sites:
            if not s.replace("-", "").isalnum() or len(s) > 8:
                raise InputError(f"Site name {s!r}: use up to 8 letters, digits or '-'.")
        self.sites = list(sites)
        self.prefix = prefix
        tag = f"gh{os.getpid() % 100000}{secrets.token_hex(2)}"
        self.netns = {s: f"{tag}-{s}" for s in self.sites}
        self.address = {s: f"{prefix}.0.{i + 1}" for i, s in enumerate(self.sites)}
        if isinstance(rate_mbit, Mapping):
            self._rates = {tuple(sorted(k)): float(v) for k, v in rate_mbit.items()}
        else:
            self._rates = {
                (x, y): float(rate_mbit) for x, y in itertools.combinations(sorted(self.sites), 2)
            }
        self.rate_mbit: dict[tuple[str, str], float] = {}
        self._created: list[str] = []

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Wan:
        self.create()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.delete()

    def create(self) -> Wan:
        """Create the namespaces, links, shaping and routes (deleted again on an error)."""
        reason = wan_unavailable_reason()
        if reason is not None:
            raise WanError(f"Cannot build a namespaced WAN: {reason}.")
        try:
            for site in self.sites:
                ns = self.netns[site]
                _run(["ip", "netns", "add", ns])
                self._created.append(ns)
                _run(["ip", "-n", ns, "link", "set", "lo", "up"])
                _run(["ip", "-n", ns, "addr", "add", f"{self.address[site]}/32", "dev", "lo"])
            for (x, y), rate in self._rates.items():
                self._add_link(x, y, rate)
        except BaseException:
            self.delete()
            raise
        return self

    def _add_link(self, x: str, y: str, rate: float) -> None:
        nx, ny = self.netns[x], self.netns[y]
        dx, dy = self.device(x, y), self.device(y, x)
        _run(["ip", "link", "add", dx, "netns", nx, "type", "veth", "peer", "name", dy,
              "netns", ny])  # fmt: skip
        for ns, dev in ((nx, dx), (ny, dy)):
            _run(["ip", "-n", ns, "link", "set", dev, "up"])
            _run(["tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", *_tbf_args(rate)])
        self.rate_mbit[(x, y)] = self.rate_mbit[(y, x)] = rate
        self._add_routes(x, y)

    def _add_routes(self, x: str, y: str) -> None:
        for here, there in ((x, y), (y, x)):
            _run(["ip", "-n", self.netns[here], "route", "replace", f"{self.address[there]}/32",
                  "dev", self.device(here, there), "src", self.address[here]])  # fmt: skip

    def delete(self) -> None:
        """Delete every namespace this WAN created (their veths and qdiscs go with them)."""
        while self._created:
            ns = self._created.pop()
            with contextlib.suppress(WanError):
                _run(["ip", "netns", "del", ns])

    # -- links ----------------------------------------------------------------------------------

    def device(self, site: str, peer: str) -> str:
        """Name of the veth in ``site``'s namespace that leads to ``peer``."""
        return f"to-{peer}"

    def end(self, site: str, peer: str) -> LinkEnd:
        """The end of the link ``site``-``peer`` inside ``site``'s namespace."""
        self._check_link(site, peer)
        return LinkEnd(site, self.netns[site], self.device(site, peer))

    def _check_link(self, x: str, y: str) -> None:
        if (x, y) not in self.rate_mbit:
            raise InputError(f"There is no link between sites {x!r} and {y!r}.")

    def shape(self, x: str, y: str, rate_mbit: float) -> None:
        """Reshape the link ``x``-``y`` (both directions) to ``rate_mbit`` while it is in use
        (``tc qdisc change``)."""
        self._check_link(x, y)
        for a, b in ((x, y), (y, x)):
            _run(["tc", "-n", self.netns[a], "qdisc", "change", "dev", self.device(a, b), "root",
                  "tbf", *_tbf_args(rate_mbit)])  # fmt: skip
        self.rate_mbit[(x, y)] = self.rate_mbit[(y, x)] = rate_mbit

    def set_link_up(self, x: str, y: str, up: bool) -> None:
        """Cut (``up=False``) or restore the link ``x``-``y`` (``ip link set down/up``)."""
        self._check_link(x, y)
        for a, b in ((x, y), (y, x)):
            _run(["ip", "-n", self.netns[a], "link", "set", self.device(a, b),
                  "up" if up else "down"])  # fmt: skip
        if up:  # the kernel dropped the routes through the devices when they went down
            self._add_routes(x, y)

    def tx_bytes(self, x: str, y: str) -> int:
        """Bytes sent so far from ``x`` towards ``y`` (the veth's tx counter in ``x``'s
        namespace, as in ``/sys/class/net/<veth>/statistics/tx_bytes`` there)."""
        self._check_link(x, y)
        out = _run(["ip", "-n", self.netns[x], "-s", "-j", "link", "show", "dev",
                    self.device(x, y)])  # fmt: skip
        return int(json.loads(out)[0]["stats64"]["tx"]["bytes"])

    def exec_prefix(self, site: str) -> list[str]:
        """The command prefix that runs a program inside ``site``'s namespace."""
        return ["ip", "netns", "exec", self.netns[site]]


# -- Ray nodes inside the namespaces ------------------------------------------------------------


class NamespacedCluster(LocalCluster):
    """A :class:`LocalCluster` whose node of each site runs inside that site's namespace of
    ``wan``, bound to the site's address; the first site is the head.

    The head gets ``object_manager_pull_timeout_ms`` = :data:`DEFAULT_PULL_TIMEOUT_MS` unless
    ``system_config`` says otherwise. This process does not connect (it is outside the
    namespaces); use :class:`NamespaceDriver`. :meth:`kill_site` kills one site's node (its
    raylet, object store and actors) as a power cut would.
    """

    def __init__(
        self,
        wan: Wan,
        sites: Mapping[str, int],
        *,
        object_store_mb: int = 150,
        system_config: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        missing = sorted(set(sites) - set(wan.sites))
        if missing:
            raise InputError(f"Sites {missing} are not in the WAN (sites {wan.sites}).")
        config = {"object_manager_pull_timeout_ms": DEFAULT_PULL_TIMEOUT_MS}
        config.update(system_config or {})
        super().__init__(
            sites,
            object_store_mb=object_store_mb,
            system_config=config,
            connect=False,
            **kwargs,
        )
        self.wan = wan

    def _node_ip(self, site: str) -> str:
        return self.wan.address[site]

    def _exec_prefix(self, site: str) -> list[str]:
        return self.wan.exec_prefix(site)

    def site_pids(self, site: str) -> dict[int, int]:
        """PIDs (with start times) of ``site``'s node: ``ray start``, its daemons, its actors."""
        proc = self._procs.get(site)
        return {} if proc is None else _process_tree(proc.pid)

    def kill_site(self, site: str) -> list[int]:
        """SIGKILL every process of ``site``'s node at once (a power cut); return their PIDs.

        The actors' worker processes are found through the process tree (and the session) of
        the site's ``ray start``; only processes this cluster started are signalled."""
        import signal

        with self._lock:
            proc = self._procs.get(site)
            if proc is None:
                raise ClusterError(f"Site {site!r} has no running node in this cluster.")
            tree = _process_tree(proc.pid)
            self._pids.update(tree)
        for pid, start in tree.items():
            if pid != proc.pid and _same_process(pid, start):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return sorted(tree)


def _same_process(pid: int, start: int) -> bool:
    from greenhop.live.cluster import _start_time

    return _start_time(pid) == start


# -- a driver inside a namespace ----------------------------------------------------------------


@dataclass
class DriverContext:
    """What a function called through :class:`NamespaceDriver` gets: the Ray module, the
    cluster's sites (refreshed by :meth:`refresh_sites`) and a dict that persists between
    calls (for jobs objects and the like)."""

    address: str
    node_ip: str
    sites: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def ray(self) -> Any:
        from greenhop.live._extras import import_ray

        return import_ray()

    def refresh_sites(self) -> dict[str, Any]:
        """Re-read the alive site nodes from the cluster."""
        from greenhop.live.cluster import sites_from_nodes

        self.sites = sites_from_nodes(self.ray.nodes())
        return self.sites


class RemoteCallError(LiveError):
    """A function called in the namespaced driver raised something that could not be sent
    back as itself; the message holds its traceback."""


class NamespaceDriver:
    """A Ray driver process inside ``netns``, connected to the cluster at ``address`` with
    ``_node_ip_address=node_ip``; :meth:`call` runs a function there.

    ``call(fn, *args, **kwargs)`` sends ``fn`` (a picklable, importable function), runs
    ``fn(ctx, *args, **kwargs)`` in the driver with a :class:`DriverContext`, and returns its
    result or raises its exception here. The driver talks to this process over a Unix socket
    in a private folder (Unix sockets cross namespaces). A context manager; on exit the driver
    disconnects and exits (it is killed if it does not).
    """

    def __init__(
        self,
        netns: str,
        address: str,
        node_ip: str,
        *,
        required_sites: Sequence[str] = (),
        start_timeout_s: float = 120.0,
    ) -> None:
        self.netns = netns
        self.address = address
        self.node_ip = node_ip
        self.required_sites = list(required_sites)
        self.start_timeout_s = start_timeout_s
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None

    def __enter__(self) -> NamespaceDriver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> NamespaceDriver:
        """Start the driver process and wait until it is connected and sees every required
        site."""
        self._dir = Path(tempfile.mkdtemp(prefix="greenhop-driver-"))
        path = str(self._dir / "sock")
        authkey = secrets.token_bytes(16)
        listener = Listener(path, family="AF_UNIX", authkey=authkey)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        env["GREENHOP_DRIVER_AUTHKEY"] = authkey.hex()
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        cmd = [
            "ip", "netns", "exec", self.netns, sys.executable, "-m", "greenhop.live.wan",
            path, self.address, self.node_ip, json.dumps(self.required_sites),
            str(self.start_timeout_s),
        ]  # fmt: skip
        log = open(self._dir / "driver.log", "wb")  # noqa: SIM115 (kept by Popen)
        self._proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        log.close()
        try:
            listener._listener._socket.settimeout(self.start_timeout_s)  # type: ignore[attr-defined]
            try:
                self._conn = listener.accept()
            except OSError as exc:
                raise ClusterError(
                    f"The driver in namespace {self.netns} did not connect: {exc}; "
                    f"{self._log_tail()}"
                ) from exc
            finally:
                listener.close()
            ready = self._recv(self.start_timeout_s)
            if ready[0] != "ready":
                raise ClusterError(f"The driver in {self.netns} failed to start: {ready[1]}")
        except BaseException:
            self.close()
            raise
        return self

    def _log_tail(self) -> str:
        if self._dir is None or not (self._dir / "driver.log").exists():
            return ""
        return (self._dir / "driver.log").read_text(errors="replace")[-3000:]

    def _recv(self, timeout_s: float | None) -> Any:
        assert self._conn is not None and self._proc is not None
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self._conn.poll(1.0):
            if self._proc.poll() is not None:
                raise ClusterError(
                    f"The driver in {self.netns} exited ({self._proc.returncode}): "
                    f"{self._log_tail()}"
                )
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"The driver in {self.netns} did not answer in {timeout_s} s.")
        return self._conn.recv()

    def call(
        self, fn: Callable[..., Any], *args: Any, timeout_s: float | None = None, **kwargs: Any
    ) -> Any:
        """Run ``fn(ctx, *args, **kwargs)`` in the driver; return its result or raise its
        exception."""
        if self._conn is None:
            raise ClusterError("The namespaced driver is not running.")
        self._conn.send(("call", fn, args, kwargs))
        kind, value = self._recv(timeout_s)
        if kind == "ok":
            return value
        if isinstance(value, BaseException):
            raise value
        raise RemoteCallError(str(value))

    def close(self) -> None:
        """Disconnect the driver and wait for it to exit (kill it after 30 s)."""
        if self._conn is not None:
            with contextlib.suppress(OSError, EOFError):
                self._conn.send(("close", None, (), {}))
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _serve(path: str, address: str, node_ip: str, required: list[str], timeout_s: float) -> None:
    """The driver process: connect to Ray inside this namespace and run calls until closed."""
    authkey = bytes.fromhex(os.environ["GREENHOP_DRIVER_AUTHKEY"])
    conn = Client(path, family="AF_UNIX", authkey=authkey)
    ctx = DriverContext(address=address, node_ip=node_ip)
    try:
        from greenhop.live._extras import import_ray

        ray = import_ray()
        ray.init(
            address=address,
            _node_ip_address=node_ip,
            logging_level="WARNING",
            log_to_driver=False,
        )
        deadline = time.monotonic() + timeout_s
        while not set(required) <= set(ctx.refresh_sites()):
            if time.monotonic() > deadline:
                raise ClusterError(f"Sites {sorted(set(required) - set(ctx.sites))} missing.")
            time.sleep(0.2)
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        return
    conn.send(("ready", None))
    try:
        while True:
            try:
                kind, fn, args, kwargs = conn.recv()
            except EOFError:
                return
            if kind == "close":
                return
            try:
                result = fn(ctx, *args, **kwargs)
            except BaseException as exc:  # sent back to the caller
                try:
                    conn.send(("err", exc))
                except Exception:
                    conn.send(("err", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
                continue
            conn.send(("ok", result))
    finally:
        with contextlib.suppress(Exception):
            import_ray().shutdown()


# -- faults at a chosen point of a transfer -------------------------------------------------------


class WhenBytesCrossed:
    """Run ``action`` in a background thread once ``nbytes`` more bytes have left ``x``
    towards ``y`` (the veth's tx counter), e.g. to cut a link or kill a node half-way through
    a checkpoint's transfer. ``fired`` is set when it ran; :meth:`join` re-raises its error.
    A context manager that stops watching on exit."""

    def __init__(
        self,
        wan: Wan,
        x: str,
        y: str,
        nbytes: int,
        action: Callable[[], Any],
        *,
        poll_s: float = 0.05,
    ) -> None:
        import threading

        self.wan, self.x, self.y, self.nbytes, self.action = wan, x, y, nbytes, action
        self.poll_s = poll_s
        self.fired = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._base = wan.tx_bytes(x, y)
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> WhenBytesCrossed:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        try:
            while not self._stop.is_set():
                if self.wan.tx_bytes(self.x, self.y) - self._base >= self.nbytes:
                    self.action()
                    self.fired.set()
                    return
                time.sleep(self.poll_s)
        except BaseException as exc:  # handed to join()
            self._error = exc

    def join(self) -> None:
        """Stop watching; raise what the action raised."""
        self.__exit__()
        if self._error is not None:
            raise self._error


# -- a job with a checkpoint of a chosen size ---------------------------------------------------


class SyntheticTrainer:
    """A deterministic training job whose checkpoint is ``size_mb`` MB (1e6 bytes) of float32
    parameters, plus a small header; each step changes a few parameters.

    For measuring transfers: its step costs almost nothing, its checkpoint has exactly the
    size asked for, and two runs of the same number of steps end bit-identical.
    """

    def __init__(self, size_mb: float, seed: int = 0) -> None:
        from greenhop.live._extras import import_torch
        from greenhop.live.trainer import make_deterministic

        make_deterministic(seed)
        torch = import_torch()
        n = max(1, int(size_mb * 1e6 / 4))
        gen = torch.Generator().manual_seed(seed)
        self.weight = torch.rand(n, generator=gen, dtype=torch.float32)
        self.steps = 0

    def step(self) -> dict[str, float]:
        i = (self.steps * 7919) % self.weight.numel()
        self.weight[i] += 1.0
        self.steps += 1
        time.sleep(0.01)  # a step takes time, as real ones do
        return {"value": float(self.weight[i])}

    def state_dict(self) -> dict[str, Any]:
        return {"weight": self.weight, "steps": self.steps}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.weight = state["weight"].clone()
        self.steps = int(state["steps"])


# -- the bandwidth a controller learns from migrations -------------------------------------------


class BandwidthEstimator:
    """A link's bandwidth estimate from the goodput of the migrations that crossed it.

    Before any migration the estimate is ``prior_gbps`` (e.g. the scenario's nominal rate).
    The first measurement replaces the prior; later ones are blended in with weight ``weight``
    (an exponentially weighted moving average), so the estimate follows a link that changes
    and is not thrown by one odd transfer. Transfers shorter than ``min_duration_s`` say more
    about fixed overheads than about the link and are ignored.
    """

    def __init__(
        self, prior_gbps: float, *, weight: float = 0.5, min_duration_s: float = 0.5
    ) -> None:
        if not prior_gbps > 0:
            raise InputError(f"prior_gbps must be > 0, got {prior_gbps}.")
        if not 0 < weight <= 1:
            raise InputError(f"weight must be in (0, 1], got {weight}.")
        self.prior_gbps = prior_gbps
        self.weight = weight
        self.min_duration_s = min_duration_s
        self.samples: list[float] = []
        self._estimate: float | None = None

    @property
    def bandwidth_gbps(self) -> float:
        """The current estimate in Gbit/s (1e9 bit/s)."""
        return self.prior_gbps if self._estimate is None else self._estimate

    def update(self, size_bytes: int, duration_s: float) -> float:
        """Blend in one transfer of ``size_bytes`` that took ``duration_s``; return the new
        estimate."""
        if duration_s < self.min_duration_s or size_bytes <= 0:
            return self.bandwidth_gbps
        gbps = 8.0 * size_bytes / duration_s / 1e9
        self.samples.append(gbps)
        if self._estimate is None:
            self._estimate = gbps
        else:
            self._estimate = self.weight * gbps + (1 - self.weight) * self._estimate
        return self._estimate

    def observe(self, result: Any) -> float:
        """Blend in a :class:`~greenhop.live.transfer.TransferResult`."""
        return self.update(result.size_bytes, result.transfer_duration_s)


@dataclass(frozen=True)
class LinkMeasurement:
    """One migration across a shaped link against the model's ``S / B``."""

    size_bytes: int
    rate_mbit: float
    transfer_duration_s: float
    model_s: float
    wire_bytes: int
    downtime_s: float

    @property
    def error(self) -> float:
        """(measured - model) / model."""
        return (self.transfer_duration_s - self.model_s) / self.model_s

    @property
    def goodput_mbit(self) -> float:
        """Checkpoint bits per second of transfer, in Mbit/s."""
        return 8.0 * self.size_bytes / self.transfer_duration_s / 1e6

    @property
    def goodput_fraction(self) -> float:
        """Goodput over the shaped rate."""
        return self.goodput_mbit / self.rate_mbit


def model_transfer_s(size_bytes: int, rate_mbit: float) -> float:
    """The model's transfer time ``8 S / B`` (greenhop.feasibility.transfer_time_s)."""
    from greenhop.feasibility import transfer_time_s

    return float(transfer_time_s(size_bytes / 1e9, rate_mbit / 1e3))


def measurement_table(rows: Sequence[LinkMeasurement]) -> str:
    """Markdown table of measurements against the model."""
    lines = [
        "| checkpoint (MB) | link (Mbit/s) | measured (s) | model S/B (s) | error | "
        "goodput (Mbit/s) | goodput / rate | bytes on the wire / checkpoint |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.size_bytes / 1e6:.1f} | {r.rate_mbit:.0f} | {r.transfer_duration_s:.2f} | "
            f"{r.model_s:.2f} | {100 * r.error:+.1f} % | {r.goodput_mbit:.1f} | "
            f"{100 * r.goodput_fraction:.1f} % | {r.wire_bytes / r.size_bytes:.3f} |"
        )
    return "\n".join(lines) + "\n"


# -- calls to run in the namespaced driver -------------------------------------------------------


def driver_jobs(ctx: DriverContext, name: str = "jobs", cls: Any = None, **kwargs: Any) -> None:
    """Create a :class:`~greenhop.live.jobs.LiveJobs` (or subclass ``cls``) on the cluster's
    sites and keep it in ``ctx.state[name]``."""
    from greenhop.live.jobs import LiveJobs

    ctx.refresh_sites()
    ctx.state[name] = (cls or LiveJobs)(ctx.sites, **kwargs)


def driver_call(
    ctx: DriverContext, method: str, *args: Any, jobs: str = "jobs", **kwargs: Any
) -> Any:
    """Call ``ctx.state[jobs].<method>(*args, **kwargs)`` in the driver."""
    return getattr(ctx.state[jobs], method)(*args, **kwargs)


def measure_link(
    wan: Wan,
    driver: NamespaceDriver,
    src: str,
    dst: str,
    sizes_mb: Sequence[float],
    rate_mbit: float,
    *,
    repeats: int = 1,
    jobs: str = "jobs",
    on_result: Callable[[Any], None] | None = None,
) -> list[LinkMeasurement]:
    """Shape the link ``src``-``dst`` to ``rate_mbit``, then, for each size, start one
    :class:`SyntheticTrainer` job at ``src`` and migrate it across the link ``repeats`` times
    (``src`` to ``dst``, back, ...; through ``ctx.state[jobs]`` in the driver), measuring each
    move against the model; the sending veth's tx counter gives the bytes that crossed."""
    from greenhop.live.jobs import LiveJob

    wan.shape(src, dst, rate_mbit)
    rows = []
    for size in sizes_mb:
        job_id = f"synthetic-{size:g}MB-{rate_mbit:g}mbit-{secrets.token_hex(2)}"
        job = LiveJob(job_id, _partial(SyntheticTrainer, size), total_steps=10**9)
        driver.call(driver_call, "start", job, src, until=5, jobs=jobs)
        driver.call(driver_call, "wait", job_id, 5, jobs=jobs)
        here, there = src, dst
        for _ in range(repeats):
            before = wan.tx_bytes(here, there)
            result = driver.call(driver_call, "migrate", job_id, there, jobs=jobs)
            wire = wan.tx_bytes(here, there) - before
            if on_result is not None:
                on_result(result)
            rows.append(
                LinkMeasurement(
                    size_bytes=result.size_bytes,
                    rate_mbit=rate_mbit,
                    transfer_duration_s=result.transfer_duration_s,
                    model_s=model_transfer_s(result.size_bytes, rate_mbit),
                    wire_bytes=wire,
                    downtime_s=result.downtime_s,
                )
            )
            here, there = there, here
        driver.call(driver_call, "stop", job_id, jobs=jobs)
    return rows


def _partial(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    import functools

    return functools.partial(fn, *args)


__all__ = [
    "DEFAULT_PULL_TIMEOUT_MS",
    "BandwidthEstimator",
    "DriverContext",
    "LinkEnd",
    "LinkMeasurement",
    "NamespaceDriver",
    "NamespacedCluster",
    "RemoteCallError",
    "SyntheticTrainer",
    "Wan",
    "WanError",
    "WhenBytesCrossed",
    "driver_call",
    "driver_jobs",
    "measure_link",
    "measurement_table",
    "model_transfer_s",
    "wan_unavailable_reason",
]


if __name__ == "__main__":  # the driver process of NamespaceDriver
    _serve(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), float(sys.argv[5]))
    sys.stdout.flush()
    os._exit(0)  # Ray's threads must not hold the exit


def sweep_link(
    sizes_mb: Sequence[float],
    rates_mbit: Sequence[float],
    *,
    repeats: int = 2,
    prior_gbps: float = 1.0,
    object_store_mb: int = 300,
) -> tuple[list[LinkMeasurement], list[float]]:
    """Two sites ``a`` and ``b`` on a namespaced WAN, the driver inside ``a``: migrate each size
    ``repeats`` times at each rate (reshaping the running link from one rate to the next), after
    a 1 MB warm-up that is not reported (the first transfer between two nodes also opens their
    object managers' connections). Returns the measurements and the
    :class:`BandwidthEstimator`'s estimate (Gbit/s, from ``prior_gbps``) after each migration."""
    estimator = BandwidthEstimator(prior_gbps)
    estimates: list[float] = []
    rows: list[LinkMeasurement] = []
    with (
        Wan(["a", "b"], rates_mbit[0]) as wan,
        NamespacedCluster(wan, {"a": 1, "b": 1}, object_store_mb=object_store_mb) as cluster,
        NamespaceDriver(
            wan.netns["a"], str(cluster.address), wan.address["a"], required_sites=["a", "b"]
        ) as driver,
    ):
        driver.call(driver_jobs)
        measure_link(wan, driver, "a", "b", [1], rates_mbit[0])
        for rate in rates_mbit:
            rows += measure_link(
                wan,
                driver,
                "a",
                "b",
                sizes_mb,
                rate,
                repeats=repeats,
                on_result=lambda r: estimates.append(estimator.observe(r)),
            )
    return rows, estimates
