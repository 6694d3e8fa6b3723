"""Shared fixtures. Real servers run on 127.0.0.1 random ports and are stopped by PID at teardown."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

# test modules live in folders mirroring the packages; the shared helpers (servers/, _*.py) stay here
sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers import datasets  # noqa: E402
from servers.dask_cluster import DaskCluster  # noqa: E402
from servers.haproxy import binary as haproxy_binary  # noqa: E402
from servers.prometheus import PrometheusServer, Sample, binaries, openmetrics  # noqa: E402


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_prometheus() -> None:
    """Skip when the prometheus binaries are missing here; in CI (CI=true) that is a failure, not a skip."""
    missing = [name for name, path in zip(("prometheus", "promtool"), binaries()) if path is None]
    if missing:
        message = (f"{' and '.join(missing)} not installed (Debian package prometheus; scripts/test.sh installs "
                   f"it)")
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def require_haproxy() -> None:
    """Skip when haproxy is missing here; in CI (CI=true) that is a failure, not a skip."""
    if haproxy_binary() is None:
        message = "haproxy not installed (Debian package haproxy; scripts/test.sh installs it)"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="session")
def prometheus():
    """A Prometheus serving ``servers.datasets.standard()`` (one backfilled hour from 2024-01-01T00:00:00Z)."""
    require_prometheus()
    with tempfile.TemporaryDirectory(prefix="canary-prom-") as d:
        with PrometheusServer(Path(d), openmetrics(datasets.standard())) as server:
            yield server


@pytest.fixture
def prometheus_factory(tmp_path):
    """``make(samples=(), targets=(), **kwargs) -> PrometheusServer``: a started instance of the test's own,
    backfilled with ``samples`` and scraping ``targets``; every instance is stopped at teardown."""
    require_prometheus()
    servers: list[PrometheusServer] = []

    def make(samples: list[Sample] | tuple = (), targets=(), **kwargs) -> PrometheusServer:
        workdir = tmp_path / f"prom{len(servers)}"
        workdir.mkdir()
        server = PrometheusServer(workdir, openmetrics(samples) if samples else None, targets, **kwargs)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def dask_cluster():
    """A real ``dask scheduler`` with two single-threaded ``dask worker`` processes on 127.0.0.1."""
    pytest.importorskip("distributed")
    with tempfile.TemporaryDirectory(prefix="canary-dask-") as d:
        with DaskCluster(Path(d), workers=2) as cluster:
            yield cluster


@pytest.fixture(scope="session")
def history_prometheus():
    """A Prometheus holding two days of ``servers.datasets.history()``: two stable groups, one point a minute."""
    require_prometheus()
    with tempfile.TemporaryDirectory(prefix="canary-prom-history-") as d:
        with PrometheusServer(Path(d), openmetrics(datasets.history(48.0))) as server:
            yield server
