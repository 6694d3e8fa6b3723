"""ASGI guards in front of every route: the token check and the request size limit.

The token is accepted as ``Authorization: Bearer <token>`` or as the password of HTTP Basic with any user name
(Argo's ``kayenta`` provider and Flagger cannot set headers; Go turns ``http://user:<token>@host`` into Basic). It is
compared in constant time and never logged or echoed. ``/healthz`` and ``/metrics`` stay open.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Any, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SizeLimit", "TokenAuth", "send_json"]

OPEN_PATHS = frozenset({"/healthz", "/metrics"})


async def send_json(send: Send, status: int, body: dict[str, Any],
                    headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for k, v in scope.get("headers", []):
        if k.lower() == name:
            return v
    return None


def _presented(authorization: bytes | None) -> bytes | None:
    if not authorization:
        return None
    kind, _, value = authorization.strip().partition(b" ")
    kind = kind.lower()
    if kind == b"bearer":
        return value.strip()
    if kind == b"basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        _, sep, password = decoded.partition(b":")
        return password if sep else None
    return None


class TokenAuth:
    """401 JSON unless the request carries the token (Bearer, or Basic password); ``token=None`` turns it off."""

    def __init__(self, app: ASGIApp, token: str | None):
        self.app = app
        self._token = token.encode() if token is not None else None

    def __repr__(self) -> str:  # the token must never show up in a repr or a log
        return f"TokenAuth(enabled={self._token is not None})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._token is None or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        presented = _presented(_header(scope, b"authorization"))
        if presented is not None and hmac.compare_digest(presented, self._token):
            await self.app(scope, receive, send)
            return
        message = ("missing token: send Authorization: Bearer <token>, or the token as the HTTP Basic password "
                   "(http://user:<token>@host/...)" if presented is None else "wrong token")
        await send_json(send, 401, {"message": message},
                        [(b"www-authenticate", b'Bearer realm="canary-engine", Basic realm="canary-engine"')])


class SizeLimit:
    """413 JSON for a request body over ``limit`` bytes (declared or streamed); the body is read once and replayed.

    A client that goes away mid-body ends only its own request.
    """

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        too_big = {"message": f"the request body is larger than {self.limit} bytes"}
        try:
            if declared is not None and int(declared) > self.limit:
                await send_json(send, 413, too_big)
                return
        except ValueError:
            await send_json(send, 400, {"message": "bad Content-Length header"})
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left; nothing to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await send_json(send, 413, too_big)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
