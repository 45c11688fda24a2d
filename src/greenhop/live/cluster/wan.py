"""A real wide-area network on one machine: one Linux network namespace per site, veth links
shaped with ``tc tbf``, and Ray nodes bound inside their namespaces, so that every byte between
sites crosses a shaped link.

- :class:`Wan` creates the namespaces (one per site, each with its address on ``lo``), one veth
  pair per pair of sites with a ``tbf`` qdisc on both ends, and the routes; it reshapes a link
  (``tc qdisc change``), cuts and restores it (``ip link set down/up``), reads its byte
  counters, and deletes everything it created on exit (also on errors).
- :class:`NamespacedCluster` is a :class:`~greenhop.live.cluster.local.LocalCluster` whose nodes run
  inside the sites' namespaces (``ip netns exec NS ray start ... --node-ip-address=ADDR``).

Network namespaces do not isolate Unix sockets or ``/dev/shm``: a Ray driver outside the
namespaces would reach a raylet through its Unix socket, bypassing the links, so the driver of a
namespaced cluster runs inside a namespace too (``ip netns exec``, connecting with
``_node_ip_address``). Everything here needs root (``ip netns``); :func:`wan_unavailable_reason`
says why it cannot run on a machine. The kernel here has no ``netem``: a link has a rate, not a
delay.
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from greenhop.errors import InputError
from greenhop.live.cluster.local import LocalCluster
from greenhop.live.errors import LiveError

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
    namespaces): run the Ray driver inside a site's namespace (``wan.exec_prefix(site)``),
    connected with ``_node_ip_address`` = that site's address.
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


__all__ = [
    "DEFAULT_PULL_TIMEOUT_MS",
    "LinkEnd",
    "NamespacedCluster",
    "Wan",
    "WanError",
    "wan_unavailable_reason",
]
