"""The OpenAPI document of ``canary serve`` (``/openapi.json``) and a self-contained page rendering it (``/docs``)."""

from __future__ import annotations

import html
from typing import Any, Sequence

__all__ = ["docs_html", "spec"]

_ERR = {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _op(summary: str, ok: str, params: Sequence[dict[str, Any]] = (), body: str | None = None,
        errors: tuple[int, ...] = (400, 401, 404), ok_type: str = "application/json") -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "parameters": list(params),
                          "responses": {"200": {"description": ok, "content": {ok_type: {}}}}}
    for status in errors:
        op["responses"][str(status)] = _ERR
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": body}}}}
    return op


def _p(name: str, where: str = "query", required: bool = False, description: str = "",
       array: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": {"type": "string"}} if array else {"type": "string"}
    return {"name": name, "in": where, "required": required or where == "path", "description": description,
            "schema": schema}


_ACCOUNTS = [_p(n, description="accepted and ignored") for n in
             ("application", "metricsAccountName", "configurationAccountName", "storageAccountName")]
_WEB = [_p("baseline", description="scope: label matchers app=shop,version=v1 (default: the config's)"),
        _p("canary", description="scope: label matchers (default: the config's)"),
        _p("start", description="now-30m, ISO 8601 or epoch seconds"), _p("end", description="default now"),
        _p("lookback", description="instead of start: a duration, e.g. 30m"), _p("step", description="e.g. 30s"),
        _p("var", description="NAME=VALUE for ${NAME} in the queries", array=True)]


def spec() -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    from analysis import __version__

    cfg = _p("configId", "path", description="the config file's stem")
    return {
        "openapi": "3.1.0",
        "info": {"title": "canary-engine serve", "version": __version__,
                 "description": "Kayenta-compatible canary analysis for Argo Rollouts (kayenta and web providers), "
                                "Flagger webhooks and Kayenta clients. Auth: Authorization: Bearer <token>, or the "
                                "token as the HTTP Basic password. Errors: JSON {\"message\"}."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "basic": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "Error": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
                "CanaryExecutionRequest": {"type": "object", "required": ["scopes", "thresholds"], "properties": {
                    "scopes": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                        "controlScope": {"$ref": "#/components/schemas/CanaryScope"},
                        "experimentScope": {"$ref": "#/components/schemas/CanaryScope"}}}},
                    "thresholds": {"type": "object", "properties": {"pass": {"type": "number"},
                                                                    "marginal": {"type": "number"}}}}},
                "CanaryScope": {"type": "object", "properties": {
                    "scope": {"type": "string"}, "location": {"type": "string"}, "step": {"type": "integer"},
                    "start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"},
                    "extendedScopeParams": {"type": "object", "additionalProperties": {"type": "string"}}}},
                "WebAnalysis": {"type": "object", "properties": {k: {"type": "string"} for k in
                                                                 ("baseline", "canary", "start", "end", "lookback",
                                                                  "step")}},
                "FlaggerPayload": {"type": "object", "properties": {
                    "name": {"type": "string"}, "namespace": {"type": "string"}, "phase": {"type": "string"},
                    "checksum": {"type": "string"},
                    "metadata": {"type": "object", "additionalProperties": {"type": "string"}}}},
            },
        },
        "security": [{"bearer": []}, {"basic": []}],
        "paths": {
            "/healthz": {"get": {**_op("Liveness", "{\"status\": \"ok\"}", errors=()), "security": []}},
            "/metrics": {"get": {**_op("Prometheus metrics of the server", "exposition format", errors=(),
                                       ok_type="text/plain"), "security": []}},
            "/openapi.json": {"get": _op("This document", "OpenAPI JSON", errors=(401,))},
            "/docs": {"get": _op("This document as a page", "HTML", errors=(401,), ok_type="text/html")},
            "/canaryConfig": {"get": _op("List configs (Kayenta)", "[{id, name, updatedTimestamp, ...}]",
                                         [_p("application", array=True), _p("configurationAccountName")],
                                         errors=(401,))},
            "/canaryConfig/{configId}": {"get": _op("One config's summary", "config", [cfg])},
            "/canary/{configId}": {"post": _op("Start an execution (Kayenta)", "{\"canaryExecutionId\"}",
                                               [cfg, *_ACCOUNTS], "#/components/schemas/CanaryExecutionRequest",
                                               (400, 401, 404, 413, 429))},
            "/canary/{canaryExecutionId}": {"get": _op(
                "Execution status (Kayenta)", "{complete, status, result.judgeResult.score, ...}",
                [_p("canaryExecutionId", "path"), _p("storageAccountName")], errors=(401, 404))},
            "/analysis/{configId}": {
                "get": _op("Run one analysis (Argo web provider): 200 with the result for every verdict",
                           "result JSON (verdict, score, metrics)", [cfg, *_WEB], errors=(400, 401, 404, 429)),
                "post": _op("Same, keys in a JSON body", "result JSON", [cfg], "#/components/schemas/WebAnalysis",
                            (400, 401, 404, 413, 429))},
            "/flagger/{configId}": {"post": {
                **_op("Flagger webhook gate: 200 on pass, 412 with a one-line reason otherwise", "result JSON",
                      [cfg], "#/components/schemas/FlaggerPayload", (400, 401, 404, 412, 413, 429))}},
        },
    }


def docs_html() -> str:
    """A page listing every operation of ``spec()`` (no external scripts: it works offline)."""
    doc = spec()
    rows = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            params = ", ".join(p["name"] for p in op.get("parameters", []))
            codes = ", ".join(op["responses"])
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{html.escape(op['summary'])}</td><td>{html.escape(params)}</td><td>{codes}</td></tr>")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>canary-engine serve API</title><style>"
            "body{font-family:sans-serif;margin:2em}td,th{padding:4px 8px;border-bottom:1px solid #ddd;"
            "text-align:left}</style></head><body>"
            f"<h1>{html.escape(doc['info']['title'])} {html.escape(doc['info']['version'])}</h1>"
            f"<p>{html.escape(doc['info']['description'])}</p><p><a href='openapi.json'>openapi.json</a></p>"
            "<table><tr><th>method</th><th>path</th><th>what</th><th>parameters</th><th>answers</th></tr>"
            + "".join(rows) + "</table></body></html>")
