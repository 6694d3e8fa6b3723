"""The Starlette application of ``canary serve``: routes, JSON errors, guards and the execution lifecycle."""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from typing import Any, AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from analysis.errors import CanaryError
from analysis.runs.serve.argo import parse_query
from analysis.runs.serve.configs import ConfigDir, Entry
from analysis.runs.serve.flagger import parse_payload
from analysis.runs.serve.guards import SizeLimit, TokenAuth
from analysis.runs.serve.jobs import BadRequest, Job, ServerConfigError, one_line, prepare, result_document, run
from analysis.runs.serve.kayenta import parse_request, status_response
from analysis.runs.serve.openapi import docs_html, spec
from analysis.runs.serve.runner import Busy, Runner
from analysis.runs.serve.settings import ServeSettings
from analysis.runs.serve.store import Store
from analysis.runs.serve.telemetry import Telemetry

__all__ = ["create_app"]

log = logging.getLogger("canary.serve")
RETRY_AFTER = "5"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status, headers=headers)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise BadRequest("the request body is empty; expected JSON")
    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(raw, parse_constant=no_constants)
    except (ValueError, RecursionError) as e:
        raise BadRequest(f"the request body is not valid JSON: {e}") from None


class _Handlers:
    def __init__(self, settings: ServeSettings, configs: ConfigDir, runner: Runner, telemetry: Telemetry):
        self.settings = settings
        self.configs = configs
        self.runner = runner
        self.telemetry = telemetry
        self._warned: set[str] = set()

    def entry(self, config_id: str) -> Entry:
        entry = self.configs.get(config_id)  # ConfigError (a broken file) is answered 500 by the handler below
        if entry is None:
            raise HTTPException(404, f"no canary config {config_id!r} in {self.settings.config_dir}")
        return entry

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics(self, request: Request) -> Response:
        return Response(self.telemetry.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(spec())

    async def docs(self, request: Request) -> Response:
        return HTMLResponse(docs_html())

    async def list_configs(self, request: Request) -> Response:
        wanted = [a for a in request.query_params.getlist("application") if a]
        entries, broken = self.configs.entries()
        for message in set(broken) - self._warned:  # once per problem, not at every poll
            log.warning("config not listed: %s", message)
            self._warned.add(message)
        listed = [e.listing() for e in sorted(entries, key=lambda e: e.id)
                  if not wanted or not e.applications or set(wanted) & set(e.applications)]
        return JSONResponse(listed)

    async def get_config(self, request: Request) -> Response:
        entry = self.entry(request.path_params["config_id"])
        return JSONResponse({**entry.listing(), "description": entry.config.description,
                             "metrics": [{"name": m.name, "groups": [m.group], "query": m.query}
                                         for m in entry.config.metrics]})

    async def start_execution(self, request: Request) -> Response:
        entry = self.entry(request.path_params["config_id"])
        body = await _json_body(request)
        job = parse_request(entry, body)
        accounts = {k: request.query_params.get(k, "") for k in
                    ("application", "metricsAccountName", "configurationAccountName", "storageAccountName")}

        def accept() -> str:
            # every check that needs no network, so a bad request is a 400 now; then journal (fsync) and queue.
            # In Starlette's thread pool, not the bounded one of synchronous analyses: never a 429 from here
            # below the queue limit
            prepare(entry, job, self.settings.prometheus_url)
            execution_id = str(uuid.uuid4())
            self.runner.submit(execution_id, entry.id, job, {"request": body, "accounts": accounts})
            return execution_id

        return JSONResponse({"canaryExecutionId": await run_in_threadpool(accept)})

    async def get_execution(self, request: Request) -> Response:
        execution_id = request.path_params["execution_id"]
        execution = self.runner.store.get(execution_id)
        if execution is None:
            raise HTTPException(404, f"no canary execution {execution_id!r}")
        return JSONResponse(status_response(execution))

    async def _analyse(self, entry: Entry, job: Job) -> Any:
        import time

        t0 = time.monotonic()
        try:
            result = await self.runner.run_sync(lambda: run(entry, job, self.settings.prometheus_url))
        except (BadRequest, Busy):
            raise
        except Exception:
            self.telemetry.failed(entry.id, time.monotonic() - t0)
            raise
        self.telemetry.observe(entry.id, result, time.monotonic() - t0)
        return result

    async def web_analysis(self, request: Request) -> Response:
        entry = self.entry(request.path_params["config_id"])
        if request.method == "POST":
            body = await _json_body(request)
            if not isinstance(body, dict):
                raise BadRequest("the body must be a JSON object with baseline, canary, start, end, step, var")
            params: dict[str, Any] = body
        else:
            params = {k: request.query_params.get(k) for k in request.query_params if k != "var"}
            if "var" in request.query_params:
                params["var"] = request.query_params.getlist("var")
        result = await self._analyse(entry, parse_query(entry, params))
        return JSONResponse(result_document(result))

    async def flagger(self, request: Request) -> Response:
        entry = self.entry(request.path_params["config_id"])
        job = parse_payload(entry, await _json_body(request))
        result = await self._analyse(entry, job)
        if result.verdict.value == "pass":
            return JSONResponse(result_document(result))
        return PlainTextResponse(one_line(result) + "\n", status_code=412)


def _exception_handlers() -> dict[Any, Callable[..., Any]]:
    async def http(request: Request, exc: HTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        return _error(exc.status_code, message, dict(exc.headers or {}))

    async def bad_request(request: Request, exc: Exception) -> Response:
        return _error(400, str(exc))

    async def busy(request: Request, exc: Exception) -> Response:
        return _error(429, str(exc), {"Retry-After": RETRY_AFTER})

    async def server_config(request: Request, exc: Exception) -> Response:
        return _error(500, str(exc))

    async def disconnect(request: Request, exc: Exception) -> Response:
        return Response(status_code=400)  # nobody is listening; nothing to say

    async def internal(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _error(500, f"internal error: {type(exc).__name__}")

    return {HTTPException: http, BadRequest: bad_request, Busy: busy, ServerConfigError: server_config,
            CanaryError: server_config, ClientDisconnect: disconnect, Exception: internal}


def create_app(settings: ServeSettings) -> Any:
    """The ASGI application: Starlette routes wrapped in the size limit and the token check.

    The store opens, and executions left unfinished by the last stop are queued again, when the app starts
    (ASGI lifespan); on shutdown it waits ``settings.drain`` seconds for running executions and leaves the rest
    journaled for the next start.
    """
    configs = ConfigDir(settings.config_dir)
    telemetry = Telemetry()
    store = Store(settings.db)
    runner = Runner(store, configs, telemetry, settings.prometheus_url, settings.workers, settings.max_queued,
                    settings.max_sync)
    h = _Handlers(settings, configs, runner, telemetry)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        resumed = runner.start()
        if resumed:
            log.info("resumed %d execution(s) journaled by the last stop", resumed)
        try:
            yield
        finally:
            left = runner.drain(settings.drain)
            if left:
                log.warning("stopping with %d execution(s) unfinished; journaled, they run at the next start", left)
            store.close()

    routes = [
        Route("/healthz", h.healthz, methods=["GET"]),
        Route("/metrics", h.metrics, methods=["GET"]),
        Route("/openapi.json", h.openapi, methods=["GET"]),
        Route("/docs", h.docs, methods=["GET"]),
        Route("/canaryConfig", h.list_configs, methods=["GET"]),
        Route("/canaryConfig/{config_id}", h.get_config, methods=["GET"]),
        Route("/canary/{config_id}", h.start_execution, methods=["POST"]),
        Route("/canary/{execution_id}", h.get_execution, methods=["GET"]),
        Route("/analysis/{config_id}", h.web_analysis, methods=["GET", "POST"]),
        Route("/flagger/{config_id}", h.flagger, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers=_exception_handlers(), lifespan=lifespan)
    app.state.runner = runner
    return TokenAuth(SizeLimit(app, settings.max_body), settings.token)
