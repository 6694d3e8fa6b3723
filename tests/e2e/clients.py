"""The HTTP calls of Argo Rollouts' ``kayenta`` and ``web`` providers and of Flagger's webhooks, replayed as their
Go sources make them (``shared/docs/integrations.md`` §1, §3, §5): same paths, query strings built with
``fmt.Sprintf`` (values not escaped), compact ``json.Marshal`` bodies in struct order, exact status checks, and
Go's ``net/http`` turning URL user info into ``Authorization: Basic``.
"""

from __future__ import annotations

import base64
import http.client
import json
import time
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


def go_request(method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None,
               timeout: float = 15.0) -> Answer:
    """One request as Go's ``http.Client`` sends it: user info in ``url`` becomes ``Authorization: Basic``."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    hdrs = dict(headers or {})
    if parts.username is not None:  # net/http client.go send(): req.URL.User -> SetBasicAuth
        creds = f"{parts.username}:{parts.password or ''}".encode()
        hdrs.setdefault("Authorization", "Basic " + base64.b64encode(creds).decode())
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request(method, target, body=body, headers=hdrs)
        r = conn.getresponse()
        return Answer(r.status, r.read(), {k.lower(): v for k, v in r.getheaders()})
    finally:
        conn.close()


@dataclass(frozen=True)
class KayentaMetric:
    """The ``KayentaMetric`` of an AnalysisTemplate (field names as in Argo's CRD)."""

    address: str
    application: str
    canaryConfigName: str
    thresholds: tuple[int, int]  # (pass, marginal), int64 in Argo
    scopes: tuple[dict[str, Any], ...]  # [{name, controlScope: {scope, region, step, start, end}, experimentScope}]
    metricsAccountName: str = "prometheus-account"
    configurationAccountName: str = "config-account"
    storageAccountName: str = "storage-account"


def _scope_detail(d: Mapping[str, Any]) -> dict[str, Any]:
    # ScopeDetail's JSON tags in struct order; location always sent ("" when region unset), step always (0)
    return {"scope": d["scope"], "location": d.get("region", ""), "step": int(d.get("step", 0)),
            "start": d["start"], "end": d["end"]}


@dataclass(frozen=True)
class Measurement:
    phase: str  # Successful, Inconclusive, Failed, Error
    value: int | None = None
    message: str = ""
    execution_id: str | None = None
    polls: int = 0


def argo_kayenta(metric: KayentaMetric, resume_delay: float = 15.0, max_polls: int = 400) -> Measurement:
    """``kayenta.Provider.Run`` then ``Resume`` until complete, with Argo's checks and decision.

    ``resume_delay`` is Argo's 15 s between the POST and each poll (tests pass a shorter one: the cadence is
    not part of the HTTP exchange).
    """
    m = metric
    # call 1: the config lookup sends the *storage* account as configurationAccountName (sic)
    lookup = go_request("GET", f"{m.address}/canaryConfig?application={m.application}"
                               f"&configurationAccountName={m.storageAccountName}")
    if lookup.status != 200:
        return Measurement("Error", message=f"Invalid Response ({lookup.status})")
    configs = json.loads(lookup.body)
    if not isinstance(configs, list):
        return Measurement("Error", message="json: cannot unmarshal into []canaryConfig")
    config_id = None
    for c in configs:
        ts = c.get("updatedTimestamp", 0)
        if not isinstance(ts, int) or isinstance(ts, bool):  # Go: int field, a float or string fails to decode
            return Measurement("Error", message="json: cannot unmarshal updatedTimestamp into int")
        if not isinstance(c.get("id", ""), str) or not isinstance(c.get("name", ""), str):
            return Measurement("Error", message="json: cannot unmarshal id/name into string")
        if c.get("name") == m.canaryConfigName and config_id is None:
            config_id = c.get("id", "")
    if config_id is None:
        return Measurement("Error", message="Canary config not found")
    # call 2: start
    url = (f"{m.address}/canary/{config_id}?application={m.application}&metricsAccountName={m.metricsAccountName}"
           f"&configurationAccountName={m.configurationAccountName}&storageAccountName={m.storageAccountName}")
    payload = {"scopes": {s["name"]: {"controlScope": _scope_detail(s["controlScope"]),
                                      "experimentScope": _scope_detail(s["experimentScope"])} for s in m.scopes},
               "thresholds": {"pass": m.thresholds[0], "marginal": m.thresholds[1]}}
    body = json.dumps(payload, separators=(",", ":")).encode()
    started = go_request("POST", url, body, {"Content-Type": "application/json"})
    if started.status != 200:
        return Measurement("Error", message=f"Invalid Response ({started.status}): {started.body[:200]!r}")
    execution_id = started.json().get("canaryExecutionId")
    if not isinstance(execution_id, str) or not execution_id:  # %v of a non-string would not be a usable id
        return Measurement("Error", message="Invalid canaryExecutionId")
    # call 3: poll
    for polls in range(1, max_polls + 1):
        time.sleep(resume_delay)
        answer = go_request("GET", f"{m.address}/canary/{execution_id}")
        if answer.status != 200:
            return Measurement("Error", message=f"Invalid Response ({answer.status})", execution_id=execution_id)
        doc = answer.json()
        complete = doc.get("complete")
        if not isinstance(complete, bool):
            return Measurement("Error", message="Missing Complete Status", execution_id=execution_id)
        if not complete:
            continue
        score = (((doc.get("result") or {}).get("judgeResult") or {}).get("score") or {}).get("score")
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            return Measurement("Error", message="Missing Score", execution_id=execution_id, polls=polls)
        value = int(score)  # Go: score := int(result)
        passed, marginal = m.thresholds
        phase = "Successful" if value >= passed else "Inconclusive" if value >= marginal else "Failed"
        return Measurement(phase, value, execution_id=execution_id, polls=polls)
    return Measurement("Error", message="never completed", execution_id=execution_id, polls=max_polls)


def argo_web(url: str, token: str, timeout: float = 10.0) -> tuple[str, Any]:
    """``webmetric``: GET with the template's header; any status outside 200-299 is an Error measurement; then
    ``jsonPath: {$.verdict}`` with ``successCondition: result == "pass"`` and
    ``failureCondition: result in ["fail", "nodata", "error"]``."""
    answer = go_request("GET", url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
    if not 200 <= answer.status < 300:
        return "Error", answer
    result = answer.json()["verdict"]
    if result == "pass":
        return "Successful", answer
    if result in ("fail", "nodata", "error"):
        return "Failed", answer
    return "Inconclusive", answer


def flagger_webhook(url: str, name: str, namespace: str, metadata: Mapping[str, str],
                    phase: str = "Progressing", checksum: str = "85d557f47b", timeout: float = 10.0) -> tuple[bool, Answer]:
    """``callWebhook``: POST the ``CanaryWebhookPayload``; status <= 202 is go, anything else a halt with the body
    as the event text."""
    payload: dict[str, Any] = {"name": name, "namespace": namespace, "phase": phase, "checksum": checksum}
    if metadata:  # omitempty
        payload["metadata"] = dict(metadata)
    answer = go_request("POST", url, json.dumps(payload, separators=(",", ":")).encode(),
                        {"Content-Type": "application/json"}, timeout=timeout)
    return answer.status <= 202, answer
