"""Flagger webhooks: ``POST /flagger/{configId}`` with Flagger's ``CanaryWebhookPayload`` (integrations.md §5, §6).

``metadata`` holds ``baseline`` and ``canary`` (scope strings), ``lookback`` (window = now - lookback .. now) or
``start``/``end``, and ``step``; every other key whose name can be a variable is one, as are the payload's ``name``
and ``namespace``. Pass answers 200 with the result; any other verdict 412 with a one-line reason (Flagger halts on
any status above 202 and shows the body; 4xx, not 5xx, which its retries would repeat).
"""

from __future__ import annotations

from typing import Any, Mapping

from analysis.collectors.promql import LABEL_NAME
from analysis.runs.serve.argo import _step, window
from analysis.runs.serve.configs import Entry
from analysis.runs.serve.jobs import BadRequest, Job, check_variables, scopes_for

__all__ = ["parse_payload"]

_WINDOW_KEYS = {"baseline", "canary", "lookback", "start", "end", "step"}


def parse_payload(entry: Entry, payload: Any) -> Job:
    """The job of one Flagger webhook call; ``BadRequest`` for a payload it cannot run."""
    if not isinstance(payload, Mapping):
        raise BadRequest("the body must be Flagger's webhook payload (a JSON object with name, namespace, metadata)")
    metadata = payload.get("metadata") or {}
    if not isinstance(metadata, Mapping) or not all(isinstance(v, str) for v in metadata.values()):
        raise BadRequest("metadata: expected an object of strings (Flagger's map[string]string)")
    variables = {k: payload[k] for k in ("name", "namespace") if isinstance(payload.get(k), str) and payload[k]}
    variables.update({k: v for k, v in metadata.items() if k not in _WINDOW_KEYS and LABEL_NAME.match(k)
                      and k != "scope"})
    baseline, canary = scopes_for(entry, metadata.get("baseline"), metadata.get("canary"),
                                  ("metadata.baseline", "metadata.canary"))
    start, end = window(metadata.get("start"), metadata.get("end"), metadata.get("lookback"), "metadata.")
    return Job(entry.id, baseline, canary, start, end, _step(metadata.get("step")),
               check_variables(variables, "metadata"))
