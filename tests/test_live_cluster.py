"""The embedded cluster: one Ray node per site, and nothing left behind on exit, on an error or
on Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from greenhop.errors import InputError
from greenhop.live.cluster.local import (
    LocalCluster,
    SiteNode,
    attach,
    check_sites,
    pid_alive,
    sites_from_nodes,
)
from greenhop.live.errors import ClusterError

pytestmark = pytest.mark.live


def _node(node_id: str, resources: dict[str, float], alive: bool = True) -> dict[str, object]:
    return {
        "NodeID": node_id,
        "Alive": alive,
        "NodeManagerAddress": "10.0.0.1",
        "Resources": resources,
    }


def test_sites_come_from_the_site_resources_of_alive_nodes() -> None:
    nodes = [
        _node("n1", {"CPU": 4.0, "site:a": 2.0}),
        _node("n2", {"CPU": 4.0, "site:b": 1.0}),
        _node("n3", {"site:c": 1.0}, alive=False),
        _node("n4", {"CPU": 1.0}),
    ]
    assert sites_from_nodes(nodes) == {
        "a": SiteNode("a", "n1", "10.0.0.1", 2.0),
        "b": SiteNode("b", "n2", "10.0.0.1", 1.0),
    }
    with pytest.raises(ClusterError, match="Site 'a' is on two Ray nodes"):
        sites_from_nodes([*nodes, _node("n5", {"site:a": 1.0})])


def test_attaching_needs_site_resources() -> None:
    with pytest.raises(ClusterError, match="no node with a site resource"):
        check_sites("10.0.0.1:6379", {}, [])
    sites = {"a": SiteNode("a", "n1", "10.0.0.1", 2.0)}
    with pytest.raises(ClusterError, match=r"has sites \['a'\] but not \['b'\]"):
        check_sites("10.0.0.1:6379", sites, ["a", "b"])
    with pytest.raises(InputError, match="explicit address"):
        attach("auto")


@pytest.mark.parametrize(
    ("sites", "message"),
    [({}, "at least one site"), ({"a b": 1}, "not valid"), ({"a": 0}, "integer >= 1")],
)
def test_site_names_and_slots_are_checked(sites: dict[str, int], message: str) -> None:
    with pytest.raises(InputError, match=message):
        LocalCluster(sites)


def test_cluster_places_actors_by_site_and_stops_everything_on_error() -> None:
    ray = pytest.importorskip("ray")
    with (
        pytest.raises(RuntimeError, match="boom"),
        LocalCluster({"a": 1, "b": 2}, object_store_mb=80) as cluster,
    ):
        assert set(cluster.sites) == {"a", "b"}
        assert cluster.sites["b"].slots == 2.0
        assert cluster.sites["a"].node_id != cluster.sites["b"].node_id

        @ray.remote(num_cpus=0)
        class Where:
            def node(self) -> tuple[str, int]:
                return ray.get_runtime_context().get_node_id(), os.getpid()

        for site in ("a", "b"):
            actor = Where.options(resources={f"site:{site}": 0.01}).remote()
            node_id, worker_pid = ray.get(actor.node.remote())
            assert node_id == cluster.sites[site].node_id
        attached = attach(cluster.address or "", required_sites=["a", "b"])
        assert attached.sites == cluster.sites
        pids = cluster.pids()
        assert worker_pid in pids  # actors' workers run in sessions of their own
        temp_dir = cluster.temp_dir
        raise RuntimeError("boom")
    assert not ray.is_initialized()
    assert [p for p in pids if pid_alive(p)] == []
    assert temp_dir is not None and not temp_dir.exists()


def _sigint_delivered() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_ctrl_c_stops_the_cluster(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    script = textwrap.dedent(
        """
        import json, os, time
        import ray
        from greenhop.live.cluster.local import LocalCluster

        with LocalCluster({"solo": 1}, object_store_mb=80) as cluster:
            @ray.remote(num_cpus=0, resources={"site:solo": 0.01})
            class Idle:
                def pid(self):
                    return os.getpid()

            idle = Idle.remote()
            ray.get(idle.pid.remote())
            pids = sorted(cluster.pids())
            print(json.dumps({"pids": pids, "temp_dir": str(cluster.temp_dir)}), flush=True)
            time.sleep(600)
        """
    )
    err_path = tmp_path / "stderr.txt"
    started: dict[str, Any] = {"pids": []}
    with err_path.open("w") as err:
        # Ctrl-C as a terminal sends it: to a process that handles it (a child inherits an
        # ignored or blocked SIGINT from this process, where a library may have set it)
        proc = subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            preexec_fn=_sigint_delivered,
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        started = json.loads(line)
        assert len(started["pids"]) >= 4
        assert all(pid_alive(p) for p in started["pids"])
        proc.send_signal(signal.SIGINT)
        try:
            # the nodes get 15 s to stop before they are killed; a loaded machine is slower
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            tail = err_path.read_text()[-3000:]
            pytest.fail(
                f"Ctrl-C did not stop the cluster within 120 s (SIGINT here: "
                f"{signal.getsignal(signal.SIGINT)!r}, blocked: "
                f"{signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])}); "
                f"its stderr ends:\n{tail}"
            )
    finally:
        if proc.poll() is None:
            proc.kill()
            for pid in started["pids"]:  # the cluster's processes, which this test started
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
    assert proc.returncode != 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(pid_alive(p) for p in started["pids"]):
        time.sleep(0.1)
    assert [p for p in started["pids"] if pid_alive(p)] == []
    assert not Path(started["temp_dir"]).exists()
