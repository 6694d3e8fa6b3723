"""Baseline and canary series from a Prometheus server's HTTP API.

    >>> collector = PrometheusCollector(config.prometheus, config.scopes, config.variables)
    >>> pairs = collector.collect(config.metrics, Window(start, end))

Each metric's ``query`` is expanded once per scope (``analysis.collectors.promql``) and sent as a range query over
the window at ``step``. What comes back is converted to numpy here, at the boundary:

* samples are placed on the step grid ``start + k * step``; grid points with no sample are counted into
  ``Series.missing`` (never filled), NaN values are kept; two samples at one grid point are an error;
* one series per scope is expected; several are an error naming their label sets, unless the metric sets
  ``aggregate`` (sum, avg, max, min), which combines them point by point;
* an empty result is ``nodata``; a refused connection, a timeout, an HTTP error (the server's message is kept), an
  answer whose ``status`` is not ``success`` (even with HTTP 200), a body over ``max_response_bytes`` or a
  malformed answer is a per-metric ``error``, so the verdict fails closed. ``warnings`` of a successful answer are
  kept as notes (``Prometheus warning: ...``) and shown in every output.

The HTTP exchange is ``analysis._http.fetch`` on a ``requests`` session, not ``prometheus-api-client``: that
library cannot bound a request's total time or its body size, follows redirects with the caller's headers and
reports errors only as text (docs/guarantees.md). Fetches run concurrently (``concurrency``); each has ``timeout``
seconds in total, inside which connection errors, 429 and 5xx answers are retried ``retries`` times with
exponential backoff or after the server's ``Retry-After`` when that fits; every fetch of one ``collect`` also ends
by ``total_timeout``. Once one fetch finds the server down, the fetches not yet started fail at once with the same
message, so a dead server is reported within ``timeout``. Headers, the bearer token and URL credentials are sent
(to the configured server only, never to a redirect target on another host) and masked in every message.
"""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

import numpy as np
import requests
from requests.adapters import HTTPAdapter
from urllib3 import disable_warnings as urllib3_disable_warnings, exceptions as urllib3_exceptions

from analysis import _http
from analysis._http import display_url
from analysis.config import CanaryConfig, MetricConfig, PrometheusSettings
from analysis.errors import CollectorError, ConfigError, read_secret
from analysis.series import SCOPES, SOURCE_WARNING, SamplePair, Series, Window
from analysis.collectors import _ranges, promql

__all__ = ["PrometheusCollector", "display_url"]

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_BACKOFF = 0.1  # seconds before the first retry; doubled for each further one
_AGGREGATES: dict[str, Any] = {"sum": np.sum, "avg": np.mean, "max": np.max, "min": np.min}
_MAX_LABEL_SETS = 5


class _FetchError(Exception):
    """One scope's fetch failed; ``down`` marks failures that say the server itself is unreachable."""

    def __init__(self, message: str, down: bool = False):
        super().__init__(message)
        self.down = down


class _Breaker:
    """Shared by the fetches of one ``collect`` call: the first 'server down' stops the ones not yet started."""

    def __init__(self, deadline: float) -> None:
        self._lock = threading.Lock()
        self.message: str | None = None
        self.deadline = deadline  # of the whole collect call (total_timeout)

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
        return {"start": f"{self.start_ms / 1000:.3f}", "end": f"{self.end_ms / 1000:.3f}",
                "step": f"{self.step_ms / 1000:.3f}"}


class PrometheusCollector:
    """Fetches every metric's baseline and canary series from one Prometheus server.

    Parameters
    ----------
    settings : PrometheusSettings
        ``url`` (required), ``step``, ``timeout``, ``total_timeout``, ``max_response_bytes``, ``headers``,
        ``bearer_token_file``, ``verify_tls``, ``retries`` and ``concurrency``.
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
        try:
            parts = urlsplit(settings.url)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(f"{source}: prometheus.url: expected http(s)://host[:port][/path], got "
                              f"{display_url(settings.url)}")
        self.settings = settings
        self.scopes = {k: dict(v) for k, v in (scopes or {}).items()}
        self.variables = dict(variables or {})
        self.source = source
        url, self._auth = _http.split_credentials(settings.url.rstrip("/"))
        self.url = url
        self.display_url = display_url(self.url)
        self._where = f"Prometheus at {self.display_url}"
        session = requests.Session()
        # requests re-reads proxy and CA settings from the environment on every call (a third of the client's
        # time per query); resolve them once here instead
        session.trust_env = False
        session.proxies = requests.utils.get_environ_proxies(self.url)
        session.verify = (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True) \
            if settings.verify_tls else False
        # uncompressed answers halve the time per query on both sides when Prometheus is near; a gzip answer
        # (asked for with headers: {Accept-Encoding: gzip}, or sent regardless) is decoded with a size limit
        session.headers["Accept-Encoding"] = "identity"
        session.headers["User-Agent"] = "canary-engine"
        if not settings.verify_tls:  # the user chose it; one warning per request would bury the output
            urllib3_disable_warnings(urllib3_exceptions.InsecureRequestWarning)
        adapter = HTTPAdapter(max_retries=0, pool_connections=1, pool_maxsize=max(1, settings.concurrency))
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session
        self._secret_headers: dict[str, str] = dict(settings.headers)
        self._refresh_token()

    @classmethod
    def from_config(cls, config: CanaryConfig) -> "PrometheusCollector":
        """The collector a config describes (``prometheus``, ``scopes`` and ``variables`` sections)."""
        return cls(config.prometheus, config.scopes or None, config.variables, config.source)

    def _refresh_token(self) -> None:
        # read again for every collect: mounted service-account tokens are rotated while a realtime run waits
        if self.settings.bearer_token_file:
            token = read_secret(self.settings.bearer_token_file, f"{self.source}: prometheus.bearer_token_file")
            self._secret_headers["Authorization"] = f"Bearer {token}"

    def _secrets(self) -> list[str]:
        values = [v for v in self._secret_headers.values() if v]
        values += [v.partition(" ")[2] for v in values if " " in v]  # the token without its scheme
        if self._auth is not None:
            values += [v for v in self._auth if v]
        return sorted({v for v in values if len(v) >= 3}, key=len, reverse=True)

    def _mask(self, text: str) -> str:
        """``text`` with every secret value replaced by ``***`` (a server may echo what it was sent)."""
        for secret in self._secrets():
            text = text.replace(secret, "***")
        return text

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
        for m in metrics:
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

    def _total_deadline(self) -> float:
        return time.monotonic() + self.settings.run_timeout

    def check(self) -> None:
        """Raise ``CollectorError`` unless the server answers a trivial query within ``timeout``."""
        try:
            self._api("/api/v1/query", {"query": "1"}, _Breaker(self._total_deadline()))
        except _FetchError as e:
            raise CollectorError(str(e)) from None

    def collect(self, metrics: Sequence[MetricConfig], window: Window | None) -> dict[str, SamplePair]:
        """Fetch baseline and canary of every metric over ``window`` (see the module docstring for outcomes)."""
        if window is None:
            raise ConfigError(f"{self.source}: the Prometheus collector needs a window (--start and --end)")
        queries = self.queries(metrics)
        self._refresh_token()
        grid = _Grid.of(window, self.settings.step)
        breaker = _Breaker(self._total_deadline())
        tasks = [(m, scope) for m in metrics for scope in SCOPES]
        workers = max(1, min(self.settings.concurrency, len(tasks)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prometheus") as pool:
            futures = [pool.submit(self._fetch, queries[m.name][scope], grid, m.aggregate, breaker)
                       for m, scope in tasks]
            fetched = [f.result() for f in futures]
        out: dict[str, SamplePair] = {}
        for i, m in enumerate(metrics):
            (b, b_err, b_notes), (c, c_err, c_notes) = fetched[2 * i], fetched[2 * i + 1]
            notes = tuple(f"{s}: {n}" for s, ns in (("baseline", b_notes), ("canary", c_notes)) for n in ns)
            out[m.name] = SamplePair.of(m.name, b, c, b_err, c_err, notes=notes)
        return out

    def _fetch(self, query: str, grid: _Grid, aggregate: str | None,
               breaker: _Breaker) -> tuple[Series, str | None, tuple[str, ...]]:
        """One scope: (series, error, notes). Never raises, so one metric cannot stop the others."""
        try:
            # past Prometheus' 11,000 points per series: consecutive sub-ranges of the grid, stitched (_ranges)
            parts: list[Any] = []
            warnings: list[str] = []
            for start_ms, n in _ranges.split(*astuple(grid)):
                part = _Grid(start_ms, grid.step_ms, n)
                data, said = self._api("/api/v1/query_range", {"query": query, **part.params()}, breaker)
                if not isinstance(data, dict) or "result" not in data:
                    raise _FetchError(f"malformed response from {self._where}: no data.result")
                parts.append(data["result"])
                warnings.extend(said)
            series, note = _to_series(_ranges.stitch(parts), grid, query, aggregate)
            notes = tuple(f"{SOURCE_WARNING}{w}" for w in dict.fromkeys(warnings)) + ((note,) if note else ())
            return series, None, notes
        except _FetchError as e:
            return Series.empty(query), self._mask(str(e)), ()

    def _api(self, path: str, params: Mapping[str, str], breaker: _Breaker) -> tuple[Any, tuple[str, ...]]:
        """``data`` and ``warnings`` of one API call, with retries inside one deadline; ``_FetchError`` else."""
        timeout = self.settings.timeout
        deadline = min(time.monotonic() + timeout, breaker.deadline)
        attempt = 0
        while True:
            if breaker.message is not None:
                raise _FetchError(breaker.message, down=True)
            pause = _BACKOFF * 2 ** attempt
            try:
                answer = _http.fetch(self._session, "GET", self.url + path, params=params, deadline=deadline,
                                     where=self._where, secret_headers=self._secret_headers, auth=self._auth,
                                     max_bytes=self.settings.max_response_bytes)
                if answer.status == 200:
                    return self._success(answer)
                error = _FetchError(f"Prometheus answered HTTP {answer.status}: {_server_message(answer.body)}")
                retry = answer.status in _RETRY_STATUS
                wait = _http.retry_after(answer.headers)
                if retry and wait is not None:
                    if time.monotonic() + wait >= deadline:
                        retry = False
                        error = _FetchError(f"{error}; Retry-After {wait:g}s is beyond the deadline "
                                            f"(prometheus.timeout {timeout:g}s)")
                    pause = max(pause, wait)
            except _http.HttpFailure as e:
                if e.kind == "timeout":
                    overall = breaker.deadline <= deadline
                    what = (f"the run's total_timeout ({self.settings.run_timeout:g}s)" if overall else
                            f"{timeout:g}s (prometheus.timeout)")
                    error = _FetchError(f"{self._where} did not answer within {what}", down=True)
                    retry = False
                elif e.kind == "connect":
                    error = _FetchError(f"cannot reach {self._where}: {e}", down=True)
                    retry = True
                else:
                    raise _FetchError(str(e) if self._where in str(e) else
                                      f"bad response from {self._where}: {e}") from None
            if not retry or attempt >= self.settings.retries or time.monotonic() + pause >= deadline:
                if error.down:
                    breaker.trip(self._mask(error.args[0]))
                raise error
            attempt += 1
            time.sleep(pause)

    def _success(self, answer: _http.HttpAnswer) -> tuple[Any, tuple[str, ...]]:
        try:
            doc = json.loads(answer.body)
        except (ValueError, RecursionError) as e:
            raise _FetchError(f"malformed response from {self._where}: not JSON: "
                              f"{_one_line(str(e), 120)}") from None
        if not isinstance(doc, dict):
            raise _FetchError(f"malformed response from {self._where}: expected a JSON object")
        status = doc.get("status")
        if status != "success":
            # Prometheus (and proxies in front of it) can say error with HTTP 200: never data
            raise _FetchError(f"Prometheus answered status {_one_line(repr(status), 40)} with HTTP 200: "
                              f"{_server_message(answer.body)}")
        raw_warnings = doc.get("warnings") or []
        if not isinstance(raw_warnings, list):
            raw_warnings = [raw_warnings]
        warnings = tuple(self._mask(_one_line(str(w), 300)) for w in raw_warnings[:10])
        if "data" not in doc:
            raise _FetchError(f"malformed response from {self._where}: no data")
        return doc["data"], warnings


def open_prometheus(config: CanaryConfig, options: Mapping[str, Any]) -> PrometheusCollector:
    """Entry point of the ``prometheus`` collector: settings come from the config's ``prometheus:`` section."""
    if options:
        raise ConfigError(f"{config.source}: collector.options.{sorted(options)[0]}: the prometheus collector takes "
                          f"its settings from the prometheus: section, not collector.options")
    collector = PrometheusCollector.from_config(config)
    collector.queries(config.metrics)  # expand every query once: template errors exit 2 before any fetch
    return collector


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _server_message(body: bytes) -> str:
    """The server's own error text: ``errorType: error`` of a Prometheus error document, else the body's start."""
    text = body.decode("utf-8", errors="replace")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        doc = None
    if isinstance(doc, dict) and doc.get("error"):
        kind = doc.get("errorType")
        return _one_line(f"{kind}: {doc['error']}" if kind else str(doc["error"]))
    return _one_line(text) or "(empty body)"


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
    if np.unique(index).size != index.size:
        dup = np.flatnonzero(np.bincount(index[index >= 0]) > 1) if (index >= 0).all() else index[:1]
        t = (grid.start_ms + int(dup[0]) * grid.step_ms) / 1000 if dup.size else float(arr[0, 0])
        raise _FetchError(f"malformed response from Prometheus: {promql.format_labels(labels)} has two samples "
                          f"at timestamp {t:g}")
    if (offset % grid.step_ms).any() or (index < 0).any() or (index >= grid.n).any():
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
    assert aggregate is not None  # several series without aggregate were refused above
    combine = _AGGREGATES[aggregate]
    values = np.array([combine(matrix[present[:, k], k]) for k in np.flatnonzero(have)], dtype=float)
    common = _common_labels([labels for _, _, labels in placed])
    note = f"{len(placed)} series combined with {aggregate}"
    return Series(ts_all[have], values, query, common, int(grid.n - have.sum())), note
