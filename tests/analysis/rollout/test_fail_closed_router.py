"""Issue 13, defects 6 and 8: the webhook router confirms every weight it sets, and keeps its secrets. The
endpoints are the shared fault-injection server (``servers.faults``): a router that answers 2xx and does nothing,
one that redirects, one that echoes.
"""

from __future__ import annotations

import json
import time

import pytest

from analysis.config._reader import Reader
from analysis.errors import ConfigError
from analysis.rollout.routers import router_from_config
from analysis.rollout.routers.base import RouterError, Weights
from servers.faults import Fault, FaultProxy

UNCHANGED = (200, b'{"baseline": 100, "canary": 0}')


def build(options: dict):
    return router_from_config(Reader(options, "rollout.router", "test.yaml"))


def test_a_2xx_that_does_nothing_is_not_success():
    """Defect 6: any 2xx counted as applied; a no-op server got 'promoted' reported with traffic unchanged."""
    with FaultProxy(None, [(200, b'{"ok": true}'), UNCHANGED]) as rx:
        router = build({"type": "webhook", "url": rx.url + "/set", "read_url": rx.url + "/get"})
        with pytest.raises(RouterError, match="reads back 100/0 instead of 50/50: the change was not applied"):
            router.set_weights(50, 50)
    with FaultProxy(None, [(204, b"")]) as rx:
        router = build({"type": "webhook", "url": rx.url + "/set"})
        with pytest.raises(RouterError, match="did not confirm the weights 50/50"):
            router.set_weights(50, 50)


def test_an_echo_or_a_read_back_confirms():
    with FaultProxy(None, [(200, b'{"baseline": 50, "canary": 50, "applied": true}')]) as rx:
        build({"type": "webhook", "url": rx.url + "/set"}).set_weights(50, 50)
        assert json.loads(rx.requests[0]["body"])["canary"] == 50
    with FaultProxy(None, [(202, b""), (200, b'{"baseline": 50, "canary": 50}')]) as rx:
        build({"type": "webhook", "url": rx.url + "/set", "read_url": rx.url + "/get"}).set_weights(50, 50)
        assert [r["method"] for r in rx.requests] == ["POST", "GET"]


def test_a_redirected_post_is_not_an_update():
    """Defect 6: a 302 followed to a GET page was taken for 'weights applied'."""
    with FaultProxy(None, [Fault(302, redirect="/done"), (200, b'{"baseline": 50, "canary": 50}')]) as rx:
        router = build({"type": "webhook", "url": rx.url + "/set", "retries": 2})
        with pytest.raises(RouterError, match=r"redirected POST to .*/done \(HTTP 302\)"):
            router.set_weights(50, 50)
        assert len(rx.requests) == 1  # neither followed nor retried


def test_user_info_in_the_url_works_and_is_never_shown(tmp_path):
    """Defect 8: a webhook URL with user info failed to resolve and the error printed the password."""
    with FaultProxy(None, [(200, b'{"baseline": 90, "canary": 10}'), (500, b"")]) as rx:
        url = rx.url.replace("http://", "http://deploy:p%40ss-s3cret@") + "/set"
        router = build({"type": "webhook", "url": url, "retries": 0})
        router.set_weights(90, 10)
        assert rx.requests[0]["Authorization"] == "Basic ZGVwbG95OnBAc3MtczNjcmV0"  # deploy:p@ss-s3cret
        with pytest.raises(RouterError) as e:
            router.set_weights(50, 50)
    assert "s3cret" not in str(e.value) and "deploy" not in str(e.value) and "s3cret" not in repr(router)


def test_secrets_do_not_follow_a_read_redirect_to_another_host():
    with FaultProxy(None, [UNCHANGED]) as other:
        with FaultProxy(None, [Fault(302, redirect=f"http://localhost:{other.port}/weights")]) as rx:
            router = build({"type": "webhook", "url": rx.url + "/set", "read_url": rx.url + "/get",
                            "headers": {"X-Api-Key": "k3y-s3cret"}})
            assert router.get_weights() == Weights(100, 0)
        assert rx.requests[0]["X-Api-Key"] == "k3y-s3cret"
        assert "X-Api-Key" not in other.requests[0] and "Authorization" not in other.requests[0]


def test_header_values_with_line_breaks_are_refused_without_showing_them():
    with pytest.raises(ConfigError) as e:
        build({"type": "webhook", "url": "http://127.0.0.1:9/set", "headers": {"X-Api-Key": "k3y-s3cret\n"}})
    assert "rollout.router.headers.X-Api-Key" in str(e.value) and "s3cret" not in str(e.value)


def test_a_dripping_router_is_bounded_by_its_timeout():
    drip = Fault(200, b'{"baseline": 50, "canary": 50}' + b" " * 100, drip=0.1)
    with FaultProxy(None, [drip]) as rx:
        t0 = time.monotonic()
        with pytest.raises(RouterError, match="timed out after 0.5s"):
            build({"type": "webhook", "url": rx.url + "/set", "timeout": "0.5s", "retries": 0}).set_weights(50, 50)
        assert time.monotonic() - t0 < 2.0


def test_retry_after_is_honoured():
    busy = Fault(503, b"", headers={"Retry-After": "1"})
    with FaultProxy(None, [busy, (200, b'{"baseline": 50, "canary": 50}')]) as rx:
        t0 = time.monotonic()
        build({"type": "webhook", "url": rx.url + "/set", "retries": 1, "backoff": "10ms"}).set_weights(50, 50)
        assert time.monotonic() - t0 >= 1.0 and len(rx.requests) == 2
