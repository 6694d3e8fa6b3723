"""A real Prometheus for tests: OpenMetrics written here, backfilled with promtool, served on 127.0.0.1.

    >>> text = openmetrics([Sample("latency_ms", {"version": "v1"}, ts, values)])
    >>> with PrometheusServer(tmpdir, text) as prom:
    ...     requests.get(prom.url + "/api/v1/query_range", ...)

Pitfalls handled (``shared/docs/real-stack.md`` section 2): OpenMetrics timestamps are seconds (guarded), ``# EOF``
is required, samples are sorted per series, families are kept contiguous, retention is 100y so old blocks are
never deleted, blocks are built into the instance's own data dir, and the listen address is always 127.0.0.1.
The process is stopped by its PID (terminate, wait, kill).
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from . import free_port, stop_process, wait_ready

READY_TIMEOUT = 30.0


def binaries() -> tuple[str | None, str | None]:
    """Paths of ``prometheus`` and ``promtool`` (None when missing)."""
    return shutil.which("prometheus"), shutil.which("promtool")


@dataclass(frozen=True)
class Sample:
    """One series to backfill: ``timestamps`` in epoch seconds, ``values`` (NaN allowed)."""

    name: str
    labels: Mapping[str, str]
    timestamps: Sequence[float]
    values: Sequence[float]
    kind: str = "gauge"
    extra: Mapping[str, str] = field(default_factory=dict)


def _escape(value: str) -> str:
    # OpenMetrics label values escape only backslash, double quote and line feed
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def openmetrics(samples: Iterable[Sample]) -> str:
    """OpenMetrics text for ``promtool tsdb create-blocks-from openmetrics``: families contiguous, each series
    sorted by time, timestamps in seconds, ``# EOF`` at the end."""
    families: dict[str, list[Sample]] = {}
    kinds: dict[str, str] = {}
    for s in samples:
        family = s.name[: -len("_total")] if s.kind == "counter" and s.name.endswith("_total") else s.name
        families.setdefault(family, []).append(s)
        kinds[family] = s.kind
    lines = []
    for family, series in families.items():
        lines.append(f"# TYPE {family} {kinds[family]}")
        for s in series:
            labels = ",".join(f'{k}="{_escape(str(v))}"' for k, v in s.labels.items())
            head = f"{s.name}{{{labels}}}" if labels else s.name
            ts = [float(t) for t in s.timestamps]
            if ts and max(ts) >= 1e11:
                raise ValueError(f"{s.name}: timestamps must be epoch seconds, not milliseconds")
            for t, v in sorted(zip(ts, s.values)):
                lines.append(f"{head} {_number(v)} {t:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def scrape_config(targets: Sequence[str] = (), interval: str = "1s") -> str:
    if not targets:
        return "global: {}\nscrape_configs: []\n"
    listed = ", ".join(f"'{t}'" for t in targets)
    return (f"global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n"
            f"scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: [{listed}]\n")


class PrometheusServer:
    """A Prometheus process with its own directory, data backfilled from ``openmetrics_text`` (if given).

    Parameters
    ----------
    workdir : Path
        An empty directory owned by this instance (config, data, log).
    openmetrics_text : str, optional
        Data to backfill before start.
    targets : sequence of str, optional
        ``host:port`` targets to scrape every ``scrape_interval``.
    """

    def __init__(self, workdir: Path, openmetrics_text: str | None = None, targets: Sequence[str] = (),
                 scrape_interval: str = "1s", extra_args: Sequence[str] = ()):
        self.dir = Path(workdir)
        self.data = self.dir / "data"
        self.openmetrics_text = openmetrics_text
        self.targets = tuple(targets)
        self.scrape_interval = scrape_interval
        self.extra_args = tuple(extra_args)
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def backfill(self) -> None:
        _, promtool = binaries()
        source = self.dir / "data.om"
        source.write_text(self.openmetrics_text or "# EOF\n", encoding="utf-8")
        self.data.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(self.data)],
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"promtool failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> "PrometheusServer":
        prometheus, _ = binaries()
        if self.openmetrics_text is not None:
            self.backfill()
        (self.dir / "prometheus.yml").write_text(scrape_config(self.targets, self.scrape_interval), encoding="utf-8")
        for _ in range(5):  # the free port can be taken between bind(0) and Prometheus' bind
            self.port = free_port()
            log = open(self.dir / "prometheus.log", "ab")
            try:
                self.proc = subprocess.Popen(
                    [prometheus, f"--config.file={self.dir / 'prometheus.yml'}",
                     f"--storage.tsdb.path={self.data}", f"--web.listen-address=127.0.0.1:{self.port}",
                     "--storage.tsdb.retention.time=100y", "--log.level=warn", *self.extra_args],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            finally:
                log.close()
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"Prometheus did not become ready; log:\n{self.log_tail()}")

    def _wait_ready(self) -> bool:
        def probe() -> bool:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                return r.status == 200

        return wait_ready(self.proc, probe, READY_TIMEOUT)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.dir / "prometheus.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def pause(self) -> None:
        """SIGSTOP: the socket still accepts connections but nothing answers (a hung server)."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc, resume_first=True)  # tests pause it with SIGSTOP to play a hung server

    def __enter__(self) -> "PrometheusServer":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
