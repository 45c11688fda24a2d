"""A link's rate, shared by the transfers that cross it at the same time.

On one machine (``LocalCluster``) the sites' nodes talk over loopback at gigabytes per second, so
a scenario's link would not be what limits a move. ``LiveJobs(link_gbps=...)`` emulates each
link's rate: a :class:`LinkPacer` per link (an unordered pair of sites), a small Ray actor that
holds the link's timeline. Before the destination pulls a chunk it reserves the chunk's bytes on
the link (:meth:`LinkPacer.reserve`); the reservations of every transfer on that link queue one
after the other, each taking ``bytes / rate``, so the transfers together never exceed the link's
rate and ``n`` concurrent ones each get ``1/n`` of it, chunk by chunk, as the simulator shares a
link among its concurrent transfers (``greenhop.sim.engine``). A chunk is delivered at the end
of its reservation: the pull waits for what is left of it.

With shaped links (``greenhop.live.cluster.wan``) the network does this itself; leave
``link_gbps`` out there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from greenhop.errors import InputError
from greenhop.live._extras import import_ray

PACER_NAME_PREFIX = "greenhop-link/"
"""A link's pacer is the actor ``greenhop-link/<a>--<b>`` (sites sorted) of the driver."""


def link_key(a: str, b: str) -> tuple[str, str]:
    """A link is the unordered pair of its sites."""
    return (a, b) if a <= b else (b, a)


class LinkPacer:
    """The timeline of one link of ``rate_bytes_per_s``: reservations queue one after another."""

    def __init__(self, rate_bytes_per_s: float) -> None:
        if not rate_bytes_per_s > 0:
            raise InputError(f"A link's rate must be > 0 bytes/s, got {rate_bytes_per_s}.")
        self.rate = float(rate_bytes_per_s)
        self._free_at = 0.0
        self._lock = threading.Lock()
        self._reserved = 0
        self._busy_s = 0.0

    def reserve(self, nbytes: int) -> float:
        """Put ``nbytes`` on the link after what is queued; return the seconds from now until
        they are through (when the pull may deliver them)."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._free_at)
            self._free_at = start + nbytes / self.rate
            self._reserved += int(nbytes)
            self._busy_s += nbytes / self.rate
            return self._free_at - now

    def stats(self) -> dict[str, float]:
        """Bytes reserved so far and the seconds the link was busy with them."""
        with self._lock:
            return {"bytes": float(self._reserved), "busy_s": self._busy_s, "rate": self.rate}


_REMOTE: Any = None


def link_pacer(a: str, b: str, rate_bytes_per_s: float) -> Any:
    """The pacer actor of link ``a``–``b`` (created if it does not exist; no CPU)."""
    global _REMOTE
    if _REMOTE is None:
        _REMOTE = import_ray().remote(max_concurrency=16)(LinkPacer)
    x, y = link_key(a, b)
    return _REMOTE.options(
        name=f"{PACER_NAME_PREFIX}{x}--{y}", get_if_exists=True, num_cpus=0
    ).remote(rate_bytes_per_s)


def link_rate_gbps(
    link_gbps: float | Mapping[tuple[str, str], float] | None, a: str, b: str
) -> float | None:
    """The rate (Gbit/s) to pace link ``a``–``b`` at: one for every link, or the mapping's entry
    for the pair (either order); None: not paced."""
    if link_gbps is None:
        return None
    if isinstance(link_gbps, Mapping):
        rate = link_gbps.get((a, b), link_gbps.get((b, a)))
        return None if rate is None else float(rate)
    return float(link_gbps)


def paced_get(ref: Any, nbytes: int, pacer: Any) -> Any:
    """``ray.get(ref)``, delivered no sooner than the link's reservation of ``nbytes`` ends."""
    ray = import_ray()
    t0 = time.monotonic()
    wait_s = float(ray.get(pacer.reserve.remote(int(nbytes))))
    chunk = ray.get(ref)
    left = wait_s - (time.monotonic() - t0)
    if left > 0:
        time.sleep(left)
    return chunk
