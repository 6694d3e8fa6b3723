"""A router that POSTs the split as JSON to an HTTP endpoint (a traffic controller, a ChatOps bot, a CD system).

Body: ``{"service": S, "step": N, "baseline": B, "canary": C, "time": EPOCH_S}``. A change counts as applied only
when it is **confirmed**: the 2xx answer is JSON echoing ``baseline`` and ``canary`` (an acknowledgement), or
``read_url`` (GET, JSON weights) reads them back. A 2xx that confirms nothing, a redirect (a 302 to a GET page is
not an update), or weights that differ from those sent are a ``RouterError``: never reported as applied.
Connection errors, timeouts, 429 and 5xx are retried (``retries`` times, exponential backoff, or the server's
``Retry-After`` when it fits in ``timeout``); other statuses fail at once. ``timeout`` bounds each attempt in
total, however slowly the server sends. With a secret (``secret_env`` or ``secret_file``) the body is signed with
HMAC-SHA256 and the header ``X-Canary-Signature: sha256=<hex>`` carries it, as GitHub signs its webhooks.
User info in the URL (``https://user:pass@host/...``) is sent as HTTP Basic auth; it and the header values never
appear in messages, the journal or ``repr``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from typing import Any, Mapping

import requests

from analysis import _http
from analysis.config import check_headers
from analysis.config._reader import Reader
from analysis.errors import SECRET_LIMIT, ConfigError, read_bytes
from analysis.rollout.routers.base import RouterError, Weights

SIGNATURE_HEADER = "X-Canary-Signature"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_MAX_ANSWER = 1024 * 1024


def sign(secret: bytes, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=`` and the hex HMAC-SHA256 digest."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _weights_in(answer: bytes) -> Weights | None:
    """The weights a JSON answer states (``{"baseline": B, "canary": C}``), or ``None`` when it states none."""
    try:
        d = json.loads(answer) if answer.strip() else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(d, dict) or "baseline" not in d or "canary" not in d:
        return None
    b, c = d["baseline"], d["canary"]
    if isinstance(b, bool) or isinstance(c, bool) or not isinstance(b, (int, float)) or not isinstance(c, (int, float)):
        return None
    try:
        return Weights(int(b), int(c)) if b == int(b) and c == int(c) else None
    except (ValueError, OverflowError):
        return None


class WebhookRouter:
    def __init__(self, url: str, read_url: str | None = None, timeout: float = 5.0, retries: int = 3,
                 backoff: float = 0.5, headers: Mapping[str, str] | None = None, secret: bytes | None = None,
                 signature_header: str = SIGNATURE_HEADER):
        self.url, self._auth = _http.split_credentials(url)
        self.read_url: str | None = None
        self._read_auth: tuple[str, str] | None = None
        if read_url:
            self.read_url, self._read_auth = _http.split_credentials(read_url)
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.headers = dict(headers or {})
        self._secret = secret
        self.signature_header = signature_header
        self.context: dict[str, Any] = {"service": "", "step": None}
        self._session = requests.Session()
        self._session.trust_env = False  # no .netrc credentials; proxies from the environment, resolved once
        self._session.proxies = requests.utils.get_environ_proxies(self.url)
        self._session.headers["Accept-Encoding"] = "identity"

    def __repr__(self) -> str:
        return f"WebhookRouter({_http.display_url(self.url)!r}, signed={self._secret is not None})"

    def bind(self, context: Mapping[str, Any]) -> None:
        self.context.update(context)

    def _mask(self, text: str) -> str:
        secrets = [v for v in self.headers.values() if len(v) >= 3]
        for auth in (self._auth, self._read_auth):
            secrets += [v for v in (auth or ()) if len(v) >= 3]
        for v in sorted(secrets, key=len, reverse=True):
            text = text.replace(v, "***")
        return text

    def _request(self, method: str, url: str, auth: tuple[str, str] | None, body: bytes | None) -> bytes:
        secret_headers = dict(self.headers)
        headers = {"User-Agent": "canary-engine"}
        if body is not None:
            headers["Content-Type"] = "application/json"
            if self._secret is not None:
                secret_headers[self.signature_header] = sign(self._secret, body)
        where = f"webhook {method} {_http.display_url(url)}"
        problem = ""
        pause = 0.0
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(max(pause, self.backoff * 2 ** (attempt - 1)))
            pause = 0.0
            try:
                answer = _http.fetch(self._session, method, url, data=body, headers=headers,
                                     secret_headers=secret_headers, auth=auth, where=where,
                                     deadline=time.monotonic() + self.timeout, max_bytes=_MAX_ANSWER,
                                     follow_redirects=body is None)
            except _http.HttpFailure as e:
                if e.kind == "timeout":
                    problem = f"timed out after {self.timeout:g}s (total, per attempt)"
                elif e.kind == "connect":
                    problem = str(e)
                elif e.kind == "protocol":
                    problem = f"the answer was cut short or garbled ({e})" if "cut short" not in str(e) else str(e)
                else:  # a redirect or an oversized answer: retrying cannot help
                    raise RouterError(self._mask(f"{where} failed: {e}")) from None
                continue
            if 200 <= answer.status < 300:
                return answer.body
            problem = f"HTTP {answer.status}"
            wait = _http.retry_after(answer.headers)
            if answer.status not in _RETRY_STATUS:
                break
            if wait is not None:
                if wait >= self.timeout * (self.retries + 1):
                    problem += f" (Retry-After {wait:g}s is longer than this router waits)"
                    break
                pause = wait
        tries = f" after {attempt + 1} attempt(s)" if attempt else ""
        raise RouterError(self._mask(f"{where} failed{tries}: {problem}"))

    def set_weights(self, baseline: int, canary: int) -> None:
        """POST the split; returns only once the answer or ``read_url`` confirms it (``RouterError`` else)."""
        w = Weights(baseline, canary)
        payload = {"service": self.context.get("service", ""), "step": self.context.get("step"),
                   **w.to_dict(), "time": round(time.time(), 3)}
        answer = self._request("POST", self.url, self._auth, json.dumps(payload, sort_keys=True).encode())
        echoed = _weights_in(answer)
        shown = _http.display_url(self.url)
        if echoed is not None and echoed != w:
            raise RouterError(f"webhook {shown} applied {echoed} instead of {w}")
        if echoed == w:
            return
        if self.read_url is None:
            raise RouterError(f"webhook {shown} answered 2xx but did not confirm the weights {w}: its answer does "
                              f"not echo baseline and canary, and no read_url is set to read them back")
        read = self.get_weights()
        if read != w:
            raise RouterError(f"webhook {shown} answered 2xx but {_http.display_url(self.read_url)} reads back "
                              f"{read} instead of {w}: the change was not applied")

    def get_weights(self) -> Weights | None:
        if self.read_url is None:
            return None
        answer = self._request("GET", self.read_url, self._read_auth, None)
        w = _weights_in(answer)
        if w is None:
            raise RouterError(f"webhook GET {_http.display_url(self.read_url)}: expected JSON "
                              f"{{\"baseline\": B, \"canary\": C}}, got {self._mask(repr(answer[:80]))}")
        return w


def _url(r: Reader, key: str, url: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:
        ok = False
    if not ok:
        raise r.error(f"expected an http:// or https:// URL, got {_http.display_url(url)!r}", key)
    return url


def from_config(r: Reader) -> WebhookRouter:
    """Keys: ``url``, ``read_url``, ``timeout`` (5s), ``retries`` (3), ``backoff`` (0.5s), ``headers``,
    ``secret_env`` or ``secret_file`` (HMAC key), ``signature_header``."""
    url = _url(r, "url", r.str("url"))
    read_url = r.str("read_url", None)
    if read_url is not None:
        read_url = _url(r, "read_url", read_url)
    timeout = r.duration("timeout", 5.0)
    if timeout <= 0:
        raise r.error("must be > 0", "timeout")
    retries = int(r.num("retries", 3, lo=0, hi=20))
    backoff = r.duration("backoff", 0.5)
    headers = check_headers(r, r.mapping("headers", {}))
    secret_env, secret_file = r.str("secret_env", None), r.str("secret_file", None)
    if secret_env and secret_file:
        raise r.error("give secret_env or secret_file, not both", "secret_file")
    secret = None
    if secret_env:
        value = os.environ.get(secret_env)
        if not value:
            raise r.error(f"environment variable {secret_env} is not set or empty", "secret_env")
        secret = value.encode()
    elif secret_file:
        try:
            secret = read_bytes(secret_file, ConfigError, SECRET_LIMIT).strip()
        except ConfigError as e:
            raise r.error(str(e), "secret_file") from None
        if not secret:
            raise r.error(f"{secret_file} is empty", "secret_file")
    signature_header = r.str("signature_header", SIGNATURE_HEADER)
    r.finish()
    return WebhookRouter(url, read_url, timeout, retries, backoff, headers, secret, signature_header)
