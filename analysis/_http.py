"""One bounded HTTP exchange, shared by the Prometheus collector and the webhook router.

``requests`` (through urllib3) bounds each socket operation, not the whole exchange, follows redirects with the
caller's headers, and decompresses whatever the server sends without a limit. ``fetch`` closes those gaps so a
lying or hostile server cannot hold a run or exhaust memory:

* **one deadline** for the whole exchange (connect, headers, body, redirects): the caller gets an answer or a
  ``HttpFailure`` by then, however slowly the server drips bytes;
* **bounded body**: at most ``max_bytes`` on the wire and ``max_bytes`` after decompression (gzip and deflate are
  decoded here, with a limit, even when the server ignored ``Accept-Encoding: identity``);
* **redirects** are followed only when asked (``GET``), at most ``MAX_REDIRECTS``; ``secret_headers`` (custom
  headers, ``Authorization``) go to the original origin (scheme, host, port) only, never to another host;
* messages never hold header values or URL credentials (``display_url``).
"""

from __future__ import annotations

import email.utils
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from urllib3 import exceptions as urllib3_exceptions

__all__ = ["HttpAnswer", "HttpFailure", "MAX_BYTES", "display_url", "fetch", "origin", "retry_after",
           "split_credentials"]

MAX_BYTES = 64 * 1024 * 1024
MAX_REDIRECTS = 3
_CHUNK = 65536
_REDIRECTS = (301, 302, 303, 307, 308)


def display_url(url: str) -> str:
    """``url`` without user info, query or fragment: safe to print and to record."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its user info, and the ``(user, password)`` it held (percent-decoded), if any."""
    from urllib.parse import unquote

    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), \
        (unquote(parts.username or ""), unquote(parts.password or ""))


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in: what 'the same server' means."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A complete answer: status, headers, the (decoded) body and the URL that gave it."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str


@dataclass
class HttpFailure(Exception):
    """No usable answer. ``kind``: timeout, connect, too_large, redirect, protocol. ``down`` marks failures that
    say the server itself is unreachable."""

    kind: str
    message: str
    down: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta seconds or an HTTP date), ``None`` without one."""
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _socket(raw: Any) -> Any:
    # urllib3 -> http.client.HTTPResponse -> BufferedReader -> SocketIO -> socket; absent for other transports
    fp = getattr(raw, "_fp", None)
    return getattr(getattr(getattr(fp, "fp", None), "raw", None), "_sock", None)


def _decode(body: bytes, encoding: str, limit: int, where: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        d = zlib.decompressobj()
    else:
        raise HttpFailure("protocol", f"{where} answered with Content-Encoding {encoding!r}, which is not supported")
    try:
        out = d.decompress(body, limit + 1)
    except zlib.error as e:
        raise HttpFailure("protocol", f"{where} sent a corrupt {encoding} body: {e}") from None
    if len(out) > limit or d.unconsumed_tail:
        raise HttpFailure("too_large", f"{where} sent a {encoding} body that decompresses to more than "
                                       f"{limit} bytes (the limit)")
    return out


def _read_body(resp: requests.Response, deadline: float, limit: int, cancel: threading.Event, where: str) -> bytes:
    raw = resp.raw
    length = resp.headers.get("Content-Length")
    if length is not None and length.strip().isdigit() and int(length) > limit:
        raise HttpFailure("too_large", f"{where} announced a body of {int(length)} bytes, more than {limit} bytes (the limit)")
    sock = _socket(raw)
    chunks: list[bytes] = []
    total = 0
    while True:
        remaining = deadline - time.monotonic()
        if cancel.is_set() or remaining <= 0:
            raise HttpFailure("timeout", "deadline")
        if sock is not None:
            try:
                sock.settimeout(max(0.01, remaining))  # each read ends by the deadline, not a full timeout later
            except OSError:
                pass
        chunk = raw.read1(_CHUNK, decode_content=False)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise HttpFailure("too_large", f"{where} sent more than {limit} bytes (the limit)")
        chunks.append(chunk)
    return _decode(b"".join(chunks), resp.headers.get("Content-Encoding", ""), limit, where)


def _exchange(session: requests.Session, method: str, url: str, params: Mapping[str, str] | None,
              data: bytes | None, headers: Mapping[str, str], secret_headers: Mapping[str, str],
              auth: tuple[str, str] | None, deadline: float, max_bytes: int, follow: bool, where: str,
              cancel: threading.Event) -> HttpAnswer:
    home = origin(url)
    current = url
    for hop in range(MAX_REDIRECTS + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise HttpFailure("timeout", "deadline")
        same = origin(current) == home
        hdrs = {**headers, **(secret_headers if same else {})}
        resp = session.request(method, current, params=params if hop == 0 else None, data=data, headers=hdrs,
                               auth=auth if same else None, stream=True, allow_redirects=False,
                               timeout=(remaining, remaining))
        try:
            location = resp.headers.get("Location")
            if resp.status_code in _REDIRECTS and location:
                target = urljoin(current, location)
                if not follow:
                    raise HttpFailure("redirect", f"{where} redirected {method} to {display_url(target)} "
                                                  f"(HTTP {resp.status_code}); set the final URL")
                if urlsplit(target).scheme not in ("http", "https"):
                    raise HttpFailure("redirect", f"{where} redirected to a non-HTTP URL")
                current = target
                continue
            body = _read_body(resp, deadline, max_bytes, cancel, where)
            return HttpAnswer(resp.status_code, dict(resp.headers), body, current)
        finally:
            resp.close()
    raise HttpFailure("redirect", f"{where} redirected more than {MAX_REDIRECTS} times")


def fetch(session: requests.Session, method: str, url: str, *, deadline: float, where: str,
          params: Mapping[str, str] | None = None, data: bytes | None = None,
          headers: Mapping[str, str] | None = None, secret_headers: Mapping[str, str] | None = None,
          auth: tuple[str, str] | None = None, max_bytes: int = MAX_BYTES, follow_redirects: bool = True
          ) -> HttpAnswer:
    """One exchange that ends by ``deadline`` (``time.monotonic()`` seconds), whatever the server does.

    Parameters
    ----------
    session : requests.Session
        Connection pool and TLS settings; its own headers should hold no secrets (they would follow redirects).
    method, url, params, data
        The request. ``url`` may not hold credentials: pass them as ``auth``.
    deadline : float
        Monotonic time by which the answer must be complete.
    where : str
        How messages name the server (e.g. ``"Prometheus at http://host:9090"``), without secrets.
    headers, secret_headers, auth
        Sent with the request; ``secret_headers`` and ``auth`` only to the original origin.
    max_bytes : int
        Limit on the body, both on the wire and decoded.
    follow_redirects : bool
        Follow 3xx answers (``GET``); when false a redirect is a ``HttpFailure`` of kind ``redirect``.

    Raises
    ------
    HttpFailure
        kind ``timeout`` (deadline passed), ``connect`` (refused, reset, DNS, TLS), ``too_large``, ``redirect`` or
        ``protocol`` (a garbled answer). Messages name ``where`` and never hold header values.
    """
    box: dict[str, Any] = {}
    cancel = threading.Event()

    def run() -> None:
        try:
            box["answer"] = _exchange(session, method, url, params, data, dict(headers or {}),
                                      dict(secret_headers or {}), auth, deadline, max_bytes, follow_redirects,
                                      where, cancel)
        except BaseException as e:  # handed to the caller's thread
            box["error"] = e

    worker = threading.Thread(target=run, name="canary-http", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if worker.is_alive():
        cancel.set()  # the worker stops at its next read, within its socket timeout (the remaining time)
        raise HttpFailure("timeout", "deadline", down=True)
    error = box.get("error")
    if error is None:
        return box["answer"]
    if isinstance(error, HttpFailure):
        if error.kind == "timeout":
            error.down = True
        raise error
    if isinstance(error, (requests.Timeout, urllib3_exceptions.TimeoutError)):
        raise HttpFailure("timeout", "deadline", down=True)
    if isinstance(error, (urllib3_exceptions.ProtocolError, urllib3_exceptions.DecodeError,
                          requests.exceptions.ChunkedEncodingError)):
        raise HttpFailure("protocol", "the answer was cut short or garbled")
    if isinstance(error, requests.ConnectionError):
        raise HttpFailure("connect", _connection_reason(error), down=True)
    if isinstance(error, requests.RequestException):
        # InvalidHeader, InvalidURL and friends quote the offending value, which may be a secret: name the type
        raise HttpFailure("protocol", type(error).__name__)
    if isinstance(error, OSError):
        raise HttpFailure("connect", (error.strerror or type(error).__name__).lower(), down=True)
    raise HttpFailure("protocol", type(error).__name__)


def _connection_reason(e: Exception) -> str:
    import re

    # requests wraps urllib3 wraps the socket error; its text names the host and path but never the headers
    text = str(e)
    m = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if m:
        return m.group(1).strip().rstrip(".").lower()
    if "SSL" in text or isinstance(e, requests.exceptions.SSLError):
        return "TLS handshake failed"
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "the connection was closed without an answer"
    if "timed out" in text.lower():
        return "timed out"
    return type(e).__name__
