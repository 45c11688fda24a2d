"""The links' bandwidth estimates of a live run, fed by every measured transfer.

The one bandwidth estimator of greenhop live: the controller starts each link at the scenario's
bandwidth and moves it with each migration's measured goodput; the policies read it in their
View (``bandwidth_gbps``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from greenhop.errors import InputError

DEFAULT_LINK_WEIGHT = 0.5
"""Weight of a new measurement in a link's estimate (0.5: the last transfer counts half)."""


class LinkEstimates:
    """Bandwidth estimate of each link (unordered pair of sites), Gbit/s.

    Each starts at the scenario's bandwidth; each measured transfer between ``a`` and ``b``
    (its achieved goodput, :attr:`~greenhop.live.jobs.transfer.TransferResult.bandwidth_gbps`) moves
    it: ``estimate <- (1 - weight) * estimate + weight * measured``. Both directions share one
    estimate, as they share one bandwidth in the scenario.
    """

    def __init__(
        self,
        initial_gbps: NDArray[np.float64],
        *,
        weight: float = DEFAULT_LINK_WEIGHT,
        measured: Mapping[tuple[int, int], tuple[float, int]] | None = None,
    ) -> None:
        if not 0 < weight <= 1:
            raise InputError(f"link estimate weight must be in (0, 1], got {weight}")
        self.weight = weight
        self._bw = np.array(initial_gbps, dtype=np.float64)
        np.fill_diagonal(self._bw, np.inf)
        self._samples: dict[tuple[int, int], int] = {}
        for (a, b), (bw, n) in (measured or {}).items():
            self._bw[a, b] = self._bw[b, a] = bw
            self._samples[(min(a, b), max(a, b))] = n

    def matrix(self) -> NDArray[np.float64]:
        """(sites, sites) estimates, Gbit/s; inf on the diagonal (a read-only copy)."""
        out = self._bw.copy()
        out.flags.writeable = False
        return out

    def samples(self, a: int, b: int) -> int:
        """Transfers measured on the link between ``a`` and ``b``."""
        return self._samples.get((min(a, b), max(a, b)), 0)

    def update(self, a: int, b: int, measured_gbps: float) -> float:
        """Feed one measured transfer; return the new estimate."""
        if a == b or not (measured_gbps > 0 and np.isfinite(measured_gbps)):
            return float(self._bw[a, b])
        new = (1.0 - self.weight) * self._bw[a, b] + self.weight * measured_gbps
        self._bw[a, b] = self._bw[b, a] = new
        key = (min(a, b), max(a, b))
        self._samples[key] = self._samples.get(key, 0) + 1
        return float(new)
