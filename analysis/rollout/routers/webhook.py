"""A router that POSTs the split as JSON to an HTTP endpoint (a traffic controller, a ChatOps bot, a CD system).

Body: ``{"service": S, "step": N, "baseline": B, "canary": C, "time": EPOCH_S}``. A 2xx answer means the change
was applied; when the answer is JSON holding ``baseline`` and ``canary``, they must equal what was sent.
Connection errors, timeouts, 429 and 5xx are retried (``retries`` times, exponential backoff); other statuses
fail at once. With a secret (``secret_env`` or ``secret_file``) the body is signed with HMAC-SHA256 and the
header ``X-Canary-Signature: sha256=<hex>`` carries it, as GitHub signs its webhooks; the receiver recomputes it
over the raw body. ``read_url`` (optional) answers GET with the JSON weights, so the split can be read back.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Mapping

from analysis.config._reader import Reader
from analysis.rollout.routers.base import RouterError, Weights

SIGNATURE_HEADER = "X-Canary-Signature"


def sign(secret: bytes, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=`` and the hex HMAC-SHA256 digest."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookRouter:
    def __init__(self, url: str, read_url: str | None = None, timeout: float = 5.0, retries: int = 3,
                 backoff: float = 0.5, headers: Mapping[str, str] | None = None, secret: bytes | None = None,
                 signature_header: str = SIGNATURE_HEADER):
        self.url, self.read_url = url, read_url
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.headers = dict(headers or {})
        self._secret = secret
        self.signature_header = signature_header
        self.context: dict[str, Any] = {"service": "", "step": None}

    def __repr__(self) -> str:
        return f"WebhookRouter({self.url!r}, signed={self._secret is not None})"

    def bind(self, context: Mapping[str, Any]) -> None:
        self.context.update(context)

    def _request(self, method: str, url: str, body: bytes | None) -> bytes:
        headers = {"User-Agent": "canary-engine", **self.headers}
        if body is not None:
            headers["Content-Type"] = "application/json"
            if self._secret is not None:
                headers[self.signature_header] = sign(self._secret, body)
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            req = urllib.request.Request(url, data=body, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return resp.read()
            except urllib.error.HTTPError as e:
                problem = f"HTTP {e.code} {e.reason}"
                if e.code != 429 and e.code < 500:
                    break
            except (urllib.error.URLError, TimeoutError, OSError) as e:
                reason = getattr(e, "reason", e)
                problem = f"{getattr(reason, 'strerror', None) or reason}"
            except http.client.HTTPException as e:  # an answer cut short or garbled: retried like a dropped line
                problem = type(e).__name__
        tries = f" after {attempt + 1} attempt(s)" if attempt else ""
        raise RouterError(f"webhook {method} {url} failed{tries}: {problem}")

    def set_weights(self, baseline: int, canary: int) -> None:
        w = Weights(baseline, canary)
        payload = {"service": self.context.get("service", ""), "step": self.context.get("step"),
                   **w.to_dict(), "time": round(time.time(), 3)}
        answer = self._request("POST", self.url, json.dumps(payload, sort_keys=True).encode())
        try:
            d = json.loads(answer) if answer.strip() else None
        except ValueError:
            d = None
        if isinstance(d, dict) and "baseline" in d and "canary" in d:
            if (d["baseline"], d["canary"]) != (w.baseline, w.canary):
                raise RouterError(f"webhook {self.url} applied {d['baseline']}/{d['canary']} instead of {w}")

    def get_weights(self) -> Weights | None:
        if self.read_url is None:
            return None
        answer = self._request("GET", self.read_url, None)
        try:
            d = json.loads(answer)
            return Weights(int(d["baseline"]), int(d["canary"]))
        except (ValueError, KeyError, TypeError):
            raise RouterError(f"webhook GET {self.read_url}: expected JSON {{\"baseline\": B, \"canary\": C}}, "
                              f"got {answer[:80]!r}") from None


def from_config(r: Reader) -> WebhookRouter:
    """Keys: ``url``, ``read_url``, ``timeout`` (5s), ``retries`` (3), ``backoff`` (0.5s), ``headers``,
    ``secret_env`` or ``secret_file`` (HMAC key), ``signature_header``."""
    url = r.str("url")
    if not url.startswith(("http://", "https://")):
        raise r.error(f"expected an http:// or https:// URL, got {url!r}", "url")
    read_url = r.str("read_url", None)
    if read_url is not None and not read_url.startswith(("http://", "https://")):
        raise r.error(f"expected an http:// or https:// URL, got {read_url!r}", "read_url")
    timeout = r.duration("timeout", 5.0)
    if timeout <= 0:
        raise r.error("must be > 0", "timeout")
    retries = int(r.num("retries", 3, lo=0, hi=20))
    backoff = r.duration("backoff", 0.5)
    headers = r.mapping("headers", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise r.error("header names and values must be strings", "headers")
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
            secret = Path(secret_file).read_bytes().strip()
        except OSError as e:
            raise r.error(f"cannot read {secret_file}: {e.strerror or e}", "secret_file") from None
        if not secret:
            raise r.error(f"{secret_file} is empty", "secret_file")
    signature_header = r.str("signature_header", SIGNATURE_HEADER)
    r.finish()
    return WebhookRouter(url, read_url, timeout, retries, backoff, headers, secret, signature_header)
