"""Real servers for the live-source tests: an HTTP meter returning JSON, a Prometheus exporter
(``prometheus-client``) replaying a real trace fast, and a real Prometheus server (Debian's
``prometheus``) scraping it, each on loopback and stopped by the test that started it."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

PROMETHEUS = shutil.which("prometheus")
NO_PROMETHEUS = (
    "Debian's prometheus is not installed (make test installs it as root with apt-get; "
    "without root, install it yourself: apt-get install prometheus)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JsonMeter:
    """An HTTP meter on loopback: ``GET /`` gives ``{"power": {"w": ...}, "time": ...}``.

    ``mode`` injects a fault: ``ok``, ``garbage`` (not JSON), ``nan`` (a string that is no
    number), ``negative``, ``slow`` (answers after ``slow_s``), ``stale`` (a time an hour old),
    ``error`` (HTTP 500)."""

    def __init__(self, value_w: float = 1000.0, slow_s: float = 3.0) -> None:
        self.value_w = value_w
        self.mode = "ok"
        self.slow_s = slow_s
        meter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                mode = meter.mode
                if mode == "slow":
                    time.sleep(meter.slow_s)
                if mode == "error":
                    self.send_error(500)
                    return
                now = time.time() - (3600 if mode == "stale" else 0)
                value: Any = {"negative": -5.0, "nan": "n/a"}.get(mode, meter.value_w)
                doc = {"power": {"w": value}, "time": now}
                body = b"<html>oops" if mode == "garbage" else json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                with contextlib.suppress(OSError):  # the client gave up (a timeout test)
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TraceExporter:
    """A ``prometheus-client`` exporter publishing ``greenhop_site_power_w{site=...}``, replaying
    real traces (W, one column per site) at ``rows_per_s`` rows per wall second."""

    def __init__(self, traces_w: dict[str, np.ndarray], rows_per_s: float, port: int) -> None:
        from prometheus_client import CollectorRegistry, Gauge

        self.registry = CollectorRegistry()
        self.gauge = Gauge(
            "greenhop_site_power_w", "renewable power of a site", ["site"], registry=self.registry
        )
        self.traces = traces_w
        self.rows_per_s = rows_per_s
        self.port = port
        self.t0 = time.monotonic()
        self.frozen = False
        self._stop = threading.Event()
        self._server: Any = None
        self.update()
        self.serve()
        self._thread = threading.Thread(target=self._replay, daemon=True)
        self._thread.start()

    def row(self) -> int:
        return int((time.monotonic() - self.t0) * self.rows_per_s)

    def update(self) -> None:
        i = self.row()
        for site, values in self.traces.items():
            self.gauge.labels(site=site).set(float(values[min(i, len(values) - 1)]))

    def _replay(self) -> None:
        while not self._stop.wait(0.1):
            if not self.frozen:
                self.update()

    def serve(self) -> None:
        """Start (or restart) serving the metrics on the port."""
        from prometheus_client import start_http_server

        for _ in range(50):
            try:
                self._server, _thread = start_http_server(
                    self.port, addr="127.0.0.1", registry=self.registry
                )
                return
            except OSError:  # the port is still closing
                time.sleep(0.1)
        raise RuntimeError(f"cannot serve on port {self.port}")

    def down(self) -> None:
        """The exporter dies: its port closes (Prometheus' target goes down)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self) -> None:
        self._stop.set()
        self.down()


class PrometheusServer:
    """A real Prometheus on loopback, its own config and data folder, scraping ``targets``
    every second; stopped by its PID."""

    def __init__(self, tmp: Path, targets: list[str]) -> None:
        assert PROMETHEUS is not None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = tmp / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: meters\n    static_configs:\n"
            f"      - targets: {json.dumps(targets)}\n"
        )
        self.log = (tmp / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.close()
        raise RuntimeError("prometheus did not become ready in 60 s")

    def query(self, q: str) -> Any:
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
        with urllib.request.urlopen(url, timeout=2) as r:
            return json.loads(r.read())

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def json_meter() -> Iterator[JsonMeter]:
    meter = JsonMeter()
    try:
        yield meter
    finally:
        meter.close()


def wait_for(predicate: Any, timeout_s: float = 30.0, every_s: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned) or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(every_s)
    raise AssertionError(f"condition not met in {timeout_s} s")
