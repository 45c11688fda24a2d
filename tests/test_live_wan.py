"""A real WAN on one machine: sites in network namespaces joined by tbf-shaped veth links.

First the links alone: a WAN is built, reshaped and deleted (also on an error), and a TCP
stream sent across a shaped link crosses its veth (the tx counter grows by at least the bytes
sent) at the shaped rate (the transfer takes the model's ``8 S / B``, within 15 %). Then Ray on
top: a node inside each of two sites' namespaces, the driver inside the first; checkpoints of
30, 60 and 100 MB migrate across the link at 100 and then (reshaped mid-run) 50 Mbit/s.

Checks: every checkpoint byte crosses the shaped veth (its tx counter); the measured transfer
time is within 15 % of the model's S/B and goodput is at least 90 % of the shaped rate (the
issue's explicit comparison of measured time with the model); the controller's link estimate
(:class:`~greenhop.live.control.links.LinkEstimates`), fed the measured migrations as the controller
feeds it, follows the link down when it is reshaped slower, and a feasibility decision flips
with it. Needs root (namespaces, tc); skipped with the reason otherwise.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from wan_tools import LinkMeasurement, sweep_link

from greenhop import feasibility as fz
from greenhop.live.cluster.wan import Wan, WanError, wan_unavailable_reason
from greenhop.live.control.links import LinkEstimates

pytestmark = pytest.mark.live

REASON = wan_unavailable_reason()
needs_wan = pytest.mark.skipif(REASON is not None, reason=f"no namespaced WAN here: {REASON}")

SIZES_MB = (30, 60, 100)  # a transfer starts in ~0.1 s: small sizes pay it visibly
RATES_MBIT = (100, 50)  # the second is a `tc qdisc change` of the running link
NOMINAL_GBPS = 0.1  # the link's rate as a scenario states it: the estimate before any migration
TOLERANCE = 0.15  # the issue's: measured transfer time within 15 % of S/B
MIN_GOODPUT = 0.90  # the issue's: goodput at least 90 % of the shaped rate
REPEATS = 2  # migrations per (size, rate): there and back; the faster one is compared

STREAM_MB = 5.0  # a TCP stream of 5 MB takes 1 s at 40 Mbit/s
STREAM_RATE_MBIT = 40.0
STREAM_PORT = 50007  # inside namespaces of this test's own: nothing else listens there

RECEIVER = """\
import socket, sys, time
server = socket.create_server((sys.argv[1], int(sys.argv[2])))
print("listening", flush=True)
conn, _ = server.accept()
start, got, want = time.monotonic(), 0, int(sys.argv[3])
while got < want:
    data = conn.recv(1 << 20)
    if not data:
        break
    got += len(data)
print(got, time.monotonic() - start, flush=True)
"""

SENDER = """\
import socket, sys
conn = socket.create_connection((sys.argv[1], int(sys.argv[2])))
conn.sendall(bytes(int(sys.argv[3])))
conn.close()
"""


def _netns_list() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


@needs_wan
def test_wan_builds_shaped_links_and_deletes_them_even_on_error() -> None:
    with pytest.raises(RuntimeError, match="boom"), Wan(["x", "y", "z"], 40) as wan:
        names = set(wan.netns.values())
        assert names <= set(_netns_list().split())
        out = subprocess.run(
            ["tc", "-n", wan.netns["x"], "qdisc", "show", "dev", wan.device("x", "y")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "tbf" in out and "40Mbit" in out
        wan.shape("x", "y", 20)
        assert wan.rate_mbit[("y", "x")] == 20
        with pytest.raises(WanError, match="failed"):
            wan.shape("x", "y", 1e-9)  # tc refuses a rate of zero
        raise RuntimeError("boom")
    listed = _netns_list()
    assert not any(n in listed for n in names)


@needs_wan
def test_a_tcp_stream_crosses_the_shaped_veth_at_the_shaped_rate() -> None:
    """``nbytes`` sent from ``p`` to ``q``: the tx counter of ``p``'s veth grows by at least
    ``nbytes`` (plus headers, under 10 % more), and the receiver's time from the connection to
    the last byte is within TOLERANCE of ``transfer_time_s(S, B)`` at the shaped rate."""
    nbytes = int(STREAM_MB * 1e6)
    with Wan(["p", "q"], STREAM_RATE_MBIT) as wan:
        receiver = subprocess.Popen(
            [*wan.exec_prefix("q"), sys.executable, "-c", RECEIVER, wan.address["q"],
             str(STREAM_PORT), str(nbytes)],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            assert receiver.stdout is not None
            assert receiver.stdout.readline().strip() == "listening"
            before = wan.tx_bytes("p", "q")
            subprocess.run(
                [*wan.exec_prefix("p"), sys.executable, "-c", SENDER, wan.address["q"],
                 str(STREAM_PORT), str(nbytes)],
                check=True,
                timeout=60,
            )  # fmt: skip
            got, duration_s = receiver.stdout.readline().split()
            receiver.wait(timeout=10)
        finally:
            if receiver.poll() is None:
                receiver.kill()
                receiver.wait()
        wire = wan.tx_bytes("p", "q") - before
    assert int(got) == nbytes
    assert nbytes <= wire < 1.10 * nbytes
    model_s = float(fz.transfer_time_s(nbytes / 1e9, STREAM_RATE_MBIT / 1e3))
    assert abs(float(duration_s) - model_s) <= TOLERANCE * model_s, (duration_s, model_s)


@pytest.fixture(scope="module")
def sweep() -> list[LinkMeasurement]:
    """The migrations of the sweep, in their order."""
    if REASON is not None:
        pytest.skip(f"no namespaced WAN here: {REASON}")
    return sweep_link(SIZES_MB, RATES_MBIT, repeats=REPEATS)


def _estimates_gbps(rows: list[LinkMeasurement]) -> list[float]:
    """The controller's estimate of the link after each migration, fed as the controller feeds
    it (each transfer's goodput), from the link's nominal rate."""
    links = LinkEstimates(np.array([[np.inf, NOMINAL_GBPS], [NOMINAL_GBPS, np.inf]]))
    return [links.update(0, 1, row.goodput_gbps) for row in rows]


def test_every_checkpoint_byte_crosses_the_shaped_link(sweep: list[LinkMeasurement]) -> None:
    for row in sweep:
        # the veth's tx counter grew by the checkpoint (plus headers and control traffic), and
        # no chunk was sent twice
        assert row.size_bytes <= row.wire_bytes < 1.10 * row.size_bytes, row


def test_transfer_time_matches_the_model_and_goodput_the_link(
    sweep: list[LinkMeasurement],
) -> None:
    """Each (size, rate) is migrated REPEATS times; the fastest is compared with the model
    (the two cores are shared with other work, which only ever slows a transfer down, as
    timeit's min assumes); every migration is in the table of docs/reliability.md."""
    points: dict[tuple[int, float], list[LinkMeasurement]] = {}
    for row in sweep:
        points.setdefault((row.size_bytes, row.rate_mbit), []).append(row)
    assert {rate for _, rate in points} == set(RATES_MBIT)
    assert sorted({round(size, -6) for size, _ in points}) == [1e6 * s for s in SIZES_MB]
    assert len(points) == len(SIZES_MB) * len(RATES_MBIT)
    for (size_bytes, rate_mbit), runs in points.items():
        assert len(runs) == REPEATS
        model_s = float(fz.transfer_time_s(size_bytes / 1e9, rate_mbit / 1e3))
        best = min(runs, key=lambda r: r.transfer_duration_s)
        assert abs(best.transfer_duration_s - model_s) <= TOLERANCE * model_s, (model_s, runs)
        goodput_mbit = 8 * size_bytes / best.transfer_duration_s / 1e6
        assert best.goodput_gbps * 1e3 == pytest.approx(goodput_mbit)
        assert goodput_mbit >= MIN_GOODPUT * rate_mbit, runs


def test_controller_link_estimate_follows_the_link_down(sweep: list[LinkMeasurement]) -> None:
    """From the nominal 100 Mbit/s, the estimate stays within TOLERANCE of the shaped rate
    while the link runs at it; reshaped to 50 Mbit/s, it falls with each of the first
    migrations and is within TOLERANCE of the new rate from the third migration on."""
    estimates = _estimates_gbps(sweep)
    n = len(SIZES_MB) * REPEATS
    fast, slow = estimates[:n], estimates[n:]
    assert len(slow) == n
    for e in fast:
        assert abs(e * 1e3 - RATES_MBIT[0]) <= TOLERANCE * RATES_MBIT[0], fast
    assert fast[-1] < NOMINAL_GBPS  # goodput is below the shaped rate: headers
    assert [fast[-1], *slow[:3]] == sorted([fast[-1], *slow[:3]], reverse=True)
    for e in slow[2:]:
        assert abs(e * 1e3 - RATES_MBIT[1]) <= TOLERANCE * RATES_MBIT[1], slow


def test_feasibility_decision_flips_when_the_link_is_reshaped_slower(
    sweep: list[LinkMeasurement],
) -> None:
    """A 100 MB job and a window chosen so that its move fits at 75 Mbit/s and not slower:
    the move is feasible (and would be attempted) while the controller's estimate follows the
    100 Mbit/s link; once the link is reshaped to 50 Mbit/s, the first slow migration pulls
    the estimate under 75 and the move is no longer attempted."""
    size_gb = 0.1
    window_s = float(fz.disruption_s(size_gb, 0.075)) / fz.DEFAULTS.alpha
    n = len(SIZES_MB) * REPEATS
    decisions = [bool(fz.time_feasible(size_gb, b, window_s)) for b in _estimates_gbps(sweep)]
    assert decisions[:n] == [True] * n
    assert decisions[n:] == [False] * n
    # and the link agrees: the 100 MB transfers at 50 Mbit/s took longer than the model
    # allows at 75 Mbit/s
    slow_100mb = [r for r in sweep if r.rate_mbit == RATES_MBIT[1]][-REPEATS:]
    assert all(
        r.transfer_duration_s > float(fz.transfer_time_s(size_gb, 0.075)) for r in slow_100mb
    )
