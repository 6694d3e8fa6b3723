"""Baseline and canary series from a Prometheus server (the only module that imports ``prometheus_api_client``).

    >>> collector = PrometheusCollector(config.prometheus, config.scopes, config.variables)
    >>> pairs = collector.collect(config.metrics, Window(start, end))

Each metric's ``query`` is expanded once per scope (``analysis.collectors.promql``) and sent as a range query over
the window at ``step``. What comes back is converted to numpy here, at the boundary:

* samples are placed on the step grid ``start + k * step``; grid points with no sample are counted into
  ``Series.missing`` (never filled), NaN values are kept;
* one series per scope is expected; several are an error naming their label sets, unless the metric sets
  ``aggregate`` (sum, avg, max, min), which combines them point by point;
* an empty result is ``nodata``; a refused connection, a timeout, an HTTP error (the server's message is kept) or
  a malformed answer is a per-metric ``error``, so the verdict fails closed.

Fetches run concurrently (``concurrency``); each has ``timeout`` seconds in total, inside which connection errors,
429 and 5xx answers are retried ``retries`` times with exponential backoff. Once one fetch finds the server down,
the fetches not yet started fail at once with the same message, so a dead server is reported within ``timeout``.
Headers and the bearer token are sent, never printed, logged or written into results.
"""

from __future__ import annotations

import ast
import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests.adapters import HTTPAdapter
from urllib3 import disable_warnings as urllib3_disable_warnings, exceptions as urllib3_exceptions
from urllib3.util.retry import Retry

from analysis.config import CanaryConfig, MetricConfig, PrometheusSettings
from analysis.errors import CollectorError, ConfigError
from analysis.series import SCOPES, SamplePair, Series, Window
from analysis.collectors import promql

__all__ = ["PrometheusCollector", "display_url"]

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_BACKOFF = 0.1  # seconds before the first retry; doubled for each further one
_AGGREGATES = {"sum": np.sum, "avg": np.mean, "max": np.max, "min": np.min}
_MAX_LABEL_SETS = 5


def display_url(url: str) -> str:
    """``url`` without user info, query or fragment: safe to print and to record."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


class _FetchError(Exception):
    """One scope's fetch failed; ``down`` marks failures that say the server itself is unreachable."""

    def __init__(self, message: str, down: bool = False):
        super().__init__(message)
        self.down = down


class _Breaker:
    """Shared by the fetches of one ``collect`` call: the first 'server down' stops the ones not yet started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.message: str | None = None

    def trip(self, message: str) -> None:
        with self._lock:
            if self.message is None:
                self.message = message


@dataclass(frozen=True, slots=True)
class _Grid:
    """The step grid of a window, in integer milliseconds as Prometheus computes it."""

    start_ms: int
    step_ms: int
    n: int

    @staticmethod
    def of(window: Window, step: float) -> "_Grid":
        start_ms, end_ms, step_ms = round(window.start * 1000), round(window.end * 1000), max(1, round(step * 1000))
        return _Grid(start_ms, step_ms, (end_ms - start_ms) // step_ms + 1)

    @property
    def end_ms(self) -> int:
        return self.start_ms + (self.n - 1) * self.step_ms

    def timestamps(self) -> np.ndarray:
        return (self.start_ms + self.step_ms * np.arange(self.n, dtype=np.int64)) / 1000.0

    def params(self) -> dict[str, str]:
        # sent explicitly: the client would round start and end to whole seconds, off the grid
        return {"start": f"{self.start_ms / 1000:.3f}", "end": f"{self.end_ms / 1000:.3f}",
                "step": f"{self.step_ms / 1000:.3f}"}


class PrometheusCollector:
    """Fetches every metric's baseline and canary series from one Prometheus server.

    Parameters
    ----------
    settings : PrometheusSettings
        ``url`` (required), ``step``, ``timeout``, ``headers``, ``bearer_token_file``, ``verify_tls``,
        ``retries`` and ``concurrency``.
    scopes : mapping, optional
        ``{"baseline": {label: value}, "canary": {label: value}}``; ``${scope}`` expands to these matchers.
    variables : mapping, optional
        Values of the other ``${name}`` placeholders.
    source : str
        The config file, for error messages.

    Notes
    -----
    An instance holds one HTTP session and can be reused for any number of windows; ``close()`` releases it.
    """

    def __init__(self, settings: PrometheusSettings, scopes: Mapping[str, Mapping[str, str]] | None = None,
                 variables: Mapping[str, str] | None = None, source: str = "<config>"):
        if not settings.url:
            raise ConfigError(f"{source}: prometheus.url: no Prometheus URL; set prometheus.url or pass "
                              f"--prometheus-url")
        parts = urlsplit(settings.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{source}: prometheus.url: expected http(s)://host[:port][/path], got "
                              f"{display_url(settings.url) or settings.url!r}")
        self.settings = settings
        self.scopes = {k: dict(v) for k, v in (scopes or {}).items()}
        self.variables = dict(variables or {})
        self.source = source
        self.url = settings.url.rstrip("/")
        self.display_url = display_url(self.url)
        session = requests.Session()
        # requests re-reads proxy and CA settings from the environment on every call (a third of the client's
        # time per query); resolve them once here instead
        session.trust_env = False
        session.proxies = requests.utils.get_environ_proxies(self.url)
        session.verify = (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True) \
            if settings.verify_tls else False
        # uncompressed answers halve the time per query on both sides when Prometheus is near; a distant one can
        # be asked for gzip with headers: {Accept-Encoding: gzip}
        session.headers["Accept-Encoding"] = "identity"
        session.headers.update(dict(settings.headers))
        if not settings.verify_tls:  # the user chose it; one warning per request would bury the output
            urllib3_disable_warnings(urllib3_exceptions.InsecureRequestWarning)
        self._session = session
        self._refresh_token()
        # retries are ours (bounded by the deadline), so the adapter never retries; its pool fits the threads
        no_retry = Retry(total=0, redirect=0, raise_on_status=False)
        self._client = PrometheusConnect(url=self.url, session=session, retry=no_retry, timeout=settings.timeout)
        session.mount(self.url, HTTPAdapter(max_retries=no_retry, pool_connections=1,
                                            pool_maxsize=max(1, settings.concurrency)))

    @classmethod
    def from_config(cls, config: CanaryConfig) -> "PrometheusCollector":
        """The collector a config describes (``prometheus``, ``scopes`` and ``variables`` sections)."""
        return cls(config.prometheus, config.scopes or None, config.variables, config.source)

    def _refresh_token(self) -> None:
        # read again for every collect: mounted service-account tokens are rotated while a realtime run waits
        if self.settings.bearer_token_file:
            self._session.headers["Authorization"] = f"Bearer {self._read_token(self.settings.bearer_token_file)}"

    def _read_token(self, path: str) -> str:
        try:
            token = Path(path).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(f"{self.source}: prometheus.bearer_token_file: cannot read {path}: "
                              f"{e.strerror or type(e).__name__}") from None
        if not token or "\n" in token:
            raise ConfigError(f"{self.source}: prometheus.bearer_token_file: {path} must hold one token on one line")
        return token

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "PrometheusCollector":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def queries(self, metrics: Sequence[MetricConfig]) -> dict[str, dict[str, str]]:
        """The expanded query of every metric per scope; raises ``ConfigError`` for any template problem."""
        out = {}
        scopes = self.scopes or None
        for i, m in enumerate(metrics):
            where = f"{self.source}: metric {m.name}: query"
            if not m.query:
                raise ConfigError(f"{self.source}: metric {m.name}: query: a query is required to fetch from "
                                  f"Prometheus")
            if "scope" not in promql.placeholders(m.query):
                raise ConfigError(f"{where}: has no ${{scope}}, so baseline and canary would be the same series; "
                                  f"select the scope with metric{{${{scope}}}}")
            out[m.name] = {s: promql.expand(m.query, None if scopes is None else scopes.get(s), self.variables,
                                            where) for s in SCOPES}
        return out

    def check(self) -> None:
        """Raise ``CollectorError`` unless the server answers a trivial query within ``timeout``."""
        try:
            self._request(lambda timeout: self._client.custom_query("1", timeout=timeout), _Breaker())
        except _FetchError as e:
            raise CollectorError(str(e)) from None

    def collect(self, metrics: Sequence[MetricConfig], window: Window | None) -> dict[str, SamplePair]:
        """Fetch baseline and canary of every metric over ``window`` (see the module docstring for outcomes)."""
        if window is None:
            raise ConfigError(f"{self.source}: the Prometheus collector needs a window (--start and --end)")
        queries = self.queries(metrics)
        self._refresh_token()
        grid = _Grid.of(window, self.settings.step)
        breaker = _Breaker()
        tasks = [(m, scope) for m in metrics for scope in SCOPES]
        workers = max(1, min(self.settings.concurrency, len(tasks)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prometheus") as pool:
            futures = [pool.submit(self._fetch, queries[m.name][scope], grid, m.aggregate, breaker)
                       for m, scope in tasks]
            fetched = [f.result() for f in futures]
        out: dict[str, SamplePair] = {}
        for i, m in enumerate(metrics):
            (b, b_err, b_note), (c, c_err, c_note) = fetched[2 * i], fetched[2 * i + 1]
            notes = tuple(f"{s}: {n}" for s, n in (("baseline", b_note), ("canary", c_note)) if n)
            out[m.name] = SamplePair.of(m.name, b, c, b_err, c_err, notes=notes)
        return out

    def _fetch(self, query: str, grid: _Grid, aggregate: str | None,
               breaker: _Breaker) -> tuple[Series, str | None, str | None]:
        """One scope: (series, error, note). Never raises, so one metric cannot stop the others."""
        start = datetime.fromtimestamp(grid.start_ms / 1000, tz=timezone.utc)
        end = datetime.fromtimestamp(grid.end_ms / 1000, tz=timezone.utc)
        try:
            result = self._request(lambda timeout: self._client.custom_query_range(
                query, start, end, grid.params()["step"], params=grid.params(), timeout=timeout), breaker)
            series, note = _to_series(result, grid, query, aggregate)
            return series, None, note
        except _FetchError as e:
            return Series.empty(query), str(e), None

    def _request(self, call, breaker: _Breaker) -> Any:
        """Run ``call(timeout)`` with retries inside one deadline; map every failure to ``_FetchError``."""
        timeout = self.settings.timeout
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            if breaker.message is not None:
                raise _FetchError(breaker.message, down=True)
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise requests.Timeout()
                try:
                    return call(remaining)
                except requests.ConnectionError as e:
                    if _timed_out(e):
                        raise _Timeout() from e
                    raise
            except (requests.Timeout, _Timeout):
                error = _FetchError(f"Prometheus at {self.display_url} did not answer within {timeout:g}s "
                                    f"(prometheus.timeout)", down=True)
                retry = False
            except requests.ConnectionError as e:
                error = _FetchError(f"cannot reach Prometheus at {self.display_url}: {_connection_reason(e)}",
                                    down=True)
                retry = True
            except PrometheusApiClientException as e:
                status, message = _http_error(str(e))
                error = _FetchError(f"Prometheus answered HTTP {status}: {message}")
                retry = status in _RETRY_STATUS
            except (requests.JSONDecodeError, ValueError, KeyError, TypeError, IndexError) as e:
                # not JSON, or not {"data": {"result": ...}}
                raise _FetchError(f"malformed response from Prometheus at {self.display_url}: "
                                  f"{type(e).__name__}: {_one_line(str(e))}") from None
            except requests.RequestException as e:
                error = _FetchError(f"request to Prometheus at {self.display_url} failed: {type(e).__name__}")
                retry = False
            pause = _BACKOFF * 2 ** attempt
            if not retry or attempt >= self.settings.retries or time.monotonic() + pause >= deadline:
                if error.down:
                    breaker.trip(error.args[0])
                raise error
            attempt += 1
            time.sleep(pause)


def open_prometheus(config: CanaryConfig, options: Mapping[str, Any]) -> PrometheusCollector:
    """Entry point of the ``prometheus`` collector: settings come from the config's ``prometheus:`` section."""
    if options:
        raise ConfigError(f"{config.source}: collector.options.{sorted(options)[0]}: the prometheus collector takes "
                          f"its settings from the prometheus: section, not collector.options")
    collector = PrometheusCollector.from_config(config)
    collector.queries(config.metrics)  # expand every query once: template errors exit 2 before any fetch
    return collector


class _Timeout(Exception):
    pass


def _timed_out(e: requests.ConnectionError) -> bool:
    # with retries off, urllib3 reports a read timeout as MaxRetryError(reason=ReadTimeoutError), which requests
    # turns into a ConnectionError; NewConnectionError (refused) subclasses ConnectTimeoutError, so exclude it
    reason = getattr(e.args[0], "reason", None) if e.args else None
    return isinstance(reason, urllib3_exceptions.TimeoutError) and \
        not isinstance(reason, urllib3_exceptions.NewConnectionError)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _connection_reason(e: Exception) -> str:
    # requests wraps urllib3 wraps the socket error; its text names the host and path but never the headers
    text = str(e)
    m = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if m:
        return m.group(1).strip().rstrip(".").lower()
    if "SSL" in text or isinstance(e, requests.exceptions.SSLError):
        return "TLS handshake failed (prometheus.verify_tls)"
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "the connection was closed without an answer"
    return type(e).__name__


_STATUS = re.compile(r"^HTTP Status Code (\d+) \((.*)\)$", re.S)


def _http_error(text: str) -> tuple[int, str]:
    """(status, server message) from the client's ``HTTP Status Code 400 (b'{...}')`` exception text."""
    m = _STATUS.match(text)
    if not m:
        return 0, _one_line(text)
    status = int(m.group(1))
    body: Any = m.group(2)
    try:
        body = ast.literal_eval(body)
        if isinstance(body, bytes):
            body = body.decode("utf-8", errors="replace")
    except (ValueError, SyntaxError):
        pass
    try:
        doc = json.loads(body)
        if isinstance(doc, dict) and doc.get("error"):
            kind = doc.get("errorType")
            return status, _one_line(f"{kind}: {doc['error']}" if kind else str(doc["error"]))
    except (TypeError, ValueError):
        pass
    return status, _one_line(str(body)) or "(empty body)"


def _place(item: Any, grid: _Grid) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """Grid indices, values and labels of one returned series; ``_FetchError`` when it is not well formed."""
    if not isinstance(item, dict) or not isinstance(item.get("values"), list) or \
            not isinstance(item.get("metric", {}), dict):
        raise _FetchError(f"malformed response from Prometheus: expected a series with 'metric' and 'values', "
                          f"got {_one_line(repr(item), 120)}")
    labels = {str(k): str(v) for k, v in item.get("metric", {}).items()}
    try:
        pairs = [(float(t), float(v)) for t, v in item["values"]]
    except (TypeError, ValueError) as e:
        raise _FetchError(f"malformed response from Prometheus: bad sample in {promql.format_labels(labels)}: "
                          f"{_one_line(str(e), 120)}") from None
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0), labels
    arr = np.asarray(pairs, dtype=float)
    offset = np.rint(arr[:, 0] * 1000).astype(np.int64) - grid.start_ms
    index = offset // grid.step_ms
    if (offset % grid.step_ms).any() or (index < 0).any() or (index >= grid.n).any() \
            or np.unique(index).size != index.size:
        raise _FetchError(f"malformed response from Prometheus: timestamps of {promql.format_labels(labels)} "
                          f"are not on the {grid.step_ms / 1000:g}s step grid of the window")
    return index, arr[:, 1], labels


def _common_labels(label_sets: list[dict[str, str]]) -> dict[str, str]:
    common = dict(label_sets[0])
    for labels in label_sets[1:]:
        common = {k: v for k, v in common.items() if labels.get(k) == v}
    return common


def _to_series(result: Any, grid: _Grid, query: str, aggregate: str | None) -> tuple[Series, str | None]:
    if not isinstance(result, list):
        raise _FetchError(f"malformed response from Prometheus: expected a list of series, got "
                          f"{type(result).__name__}")
    if not result:
        return Series.empty(query), "the query returned no series"
    placed = [_place(item, grid) for item in result]
    if len(placed) > 1 and aggregate is None:
        common = _common_labels([labels for _, _, labels in placed])
        sets = [promql.format_labels({k: v for k, v in labels.items() if k not in common})
                for _, _, labels in placed]
        more = f" and {len(sets) - _MAX_LABEL_SETS} more" if len(sets) > _MAX_LABEL_SETS else ""
        raise _FetchError(f"the query returned {len(sets)} series where one was expected: "
                          f"{', '.join(sets[:_MAX_LABEL_SETS])}{more}; aggregate them in the query "
                          f"(e.g. sum(...)) or set aggregate: sum|avg|max|min on the metric "
                          f"(labels common to all: {promql.format_labels(common)})")
    ts_all = grid.timestamps()
    if len(placed) == 1:
        index, values, labels = placed[0]
        order = np.argsort(index)
        return Series(ts_all[index[order]], values[order], query, labels, grid.n - index.size), None
    matrix = np.full((len(placed), grid.n), np.nan)
    present = np.zeros((len(placed), grid.n), dtype=bool)
    for row, (index, values, _) in enumerate(placed):
        matrix[row, index] = values
        present[row, index] = True
    have = present.any(axis=0)
    combine = _AGGREGATES[aggregate]
    values = np.array([combine(matrix[present[:, k], k]) for k in np.flatnonzero(have)], dtype=float)
    common = _common_labels([labels for _, _, labels in placed])
    note = f"{len(placed)} series combined with {aggregate}"
    return Series(ts_all[have], values, query, common, int(grid.n - have.sum())), note
