"""A Ray driver in a process of its own inside a site's network namespace, for the tests and
benchmarks on the namespaced WAN (:mod:`greenhop.live.cluster.wan`).

Network namespaces do not isolate Unix sockets or ``/dev/shm``: a driver outside the namespaces
would reach a raylet through its Unix socket and bypass the shaped links. ``driver.call(fn,
*args)`` runs ``fn(ctx, *args)`` in that process and returns the result. Run as a script, this
file is the driver process; Ray puts the script's folder on its workers' paths, so trainers
defined next to it (:class:`wan_tools.SyntheticTrainer`) are importable in the actors.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from greenhop.live.errors import ClusterError, LiveError


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
        import ray

        return ray

    def refresh_sites(self) -> dict[str, Any]:
        """Re-read the alive site nodes from the cluster."""
        from greenhop.live.cluster.local import sites_from_nodes

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
            "ip", "netns", "exec", self.netns, sys.executable, str(Path(__file__).resolve()),
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
        import ray

        ray.init(
            address=address,
            _node_ip_address=node_ip,
            logging_level=logging.WARNING,
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
            import ray

            ray.shutdown()


def driver_jobs(ctx: DriverContext, name: str = "jobs", cls: Any = None, **kwargs: Any) -> None:
    """Create a :class:`~greenhop.live.jobs.driver.LiveJobs` (or subclass ``cls``) on the cluster's
    sites and keep it in ``ctx.state[name]``."""
    from greenhop.live.jobs.driver import LiveJobs

    ctx.refresh_sites()
    ctx.state[name] = (cls or LiveJobs)(ctx.sites, **kwargs)


def driver_call(
    ctx: DriverContext, method: str, *args: Any, jobs: str = "jobs", **kwargs: Any
) -> Any:
    """Call ``ctx.state[jobs].<method>(*args, **kwargs)`` in the driver."""
    return getattr(ctx.state[jobs], method)(*args, **kwargs)


if __name__ == "__main__":  # the driver process of NamespaceDriver
    _serve(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), float(sys.argv[5]))
    sys.stdout.flush()
    os._exit(0)  # Ray's threads must not hold the exit
