"""What the tests and benchmarks on the namespaced WAN (:mod:`greenhop.live.cluster.wan`) put on it:
a training job whose checkpoint has a chosen size (:class:`SyntheticTrainer`), a fault fired once a
share of a transfer has crossed a link (:class:`WhenBytesCrossed`), and migrations measured across a
shaped link (:func:`measure_link`, :func:`sweep_link`).

The Ray actors import :class:`SyntheticTrainer` from here: the namespaced driver
(:mod:`namespace_driver`, run as a script from this folder) puts this folder on their paths.
"""

from __future__ import annotations

import functools
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from namespace_driver import NamespaceDriver, driver_call, driver_jobs

from greenhop.live.cluster.wan import NamespacedCluster, Wan

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
        import torch

        from greenhop.live.jobs.trainer import make_deterministic

        make_deterministic(seed)
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


# -- migrations measured across a shaped link ---------------------------------------------------


@dataclass(frozen=True)
class LinkMeasurement:
    """One migration across a link shaped to ``rate_mbit``: what the destination measured and
    what the sending veth counted."""

    size_bytes: int
    rate_mbit: float
    transfer_duration_s: float
    goodput_gbps: float
    """The transfer's goodput, the value the controller feeds its link estimate
    (:attr:`~greenhop.live.jobs.transfer.TransferResult.bandwidth_gbps`)."""
    wire_bytes: int
    downtime_s: float

    @property
    def goodput_fraction(self) -> float:
        """Goodput over the shaped rate."""
        return 1e3 * self.goodput_gbps / self.rate_mbit


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
) -> list[LinkMeasurement]:
    """Shape the link ``src``-``dst`` to ``rate_mbit``, then, for each size, start one
    :class:`SyntheticTrainer` job at ``src`` and migrate it across the link ``repeats`` times
    (``src`` to ``dst``, back, ...; through ``ctx.state[jobs]`` in the driver); the sending
    veth's tx counter gives the bytes that crossed."""
    from greenhop.live.jobs.driver import LiveJob

    wan.shape(src, dst, rate_mbit)
    rows = []
    for size in sizes_mb:
        job_id = f"synthetic-{size:g}MB-{rate_mbit:g}mbit-{secrets.token_hex(2)}"
        job = LiveJob(job_id, functools.partial(SyntheticTrainer, size), total_steps=10**9)
        driver.call(driver_call, "start", job, src, until=5, jobs=jobs)
        driver.call(driver_call, "wait", job_id, 5, jobs=jobs)
        here, there = src, dst
        for _ in range(repeats):
            before = wan.tx_bytes(here, there)
            result = driver.call(driver_call, "migrate", job_id, there, jobs=jobs)
            rows.append(
                LinkMeasurement(
                    size_bytes=result.size_bytes,
                    rate_mbit=rate_mbit,
                    transfer_duration_s=result.transfer_duration_s,
                    goodput_gbps=result.bandwidth_gbps,
                    wire_bytes=wan.tx_bytes(here, there) - before,
                    downtime_s=result.downtime_s,
                )
            )
            here, there = there, here
        driver.call(driver_call, "stop", job_id, jobs=jobs)
    return rows


def sweep_link(
    sizes_mb: Sequence[float],
    rates_mbit: Sequence[float],
    *,
    repeats: int = 2,
    object_store_mb: int = 300,
) -> list[LinkMeasurement]:
    """Two sites ``a`` and ``b`` on a namespaced WAN, the driver inside ``a``: migrate each size
    ``repeats`` times at each rate (reshaping the running link from one rate to the next), after
    a 1 MB warm-up that is not reported (the first transfer between two nodes also opens their
    object managers' connections). Returns the measurements in the order of the migrations."""
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
            rows += measure_link(wan, driver, "a", "b", sizes_mb, rate, repeats=repeats)
    return rows
