"""A live exporter for the scrape test: ``python exporter.py PORT`` serves ``live_latency_ms{version}`` on 127.0.0.1.

Both versions show the same deterministic value, changed four times a second, so an A/A analysis has real,
identical data whatever the scrape timing.
"""

import itertools
import sys
import time

from prometheus_client import CollectorRegistry, Gauge, start_http_server


def main() -> None:
    port = int(sys.argv[1])
    registry = CollectorRegistry()
    gauge = Gauge("live_latency_ms", "Request latency of the live test service", ["version"], registry=registry)
    for version in ("v1", "v2"):
        gauge.labels(version=version).set(100.0)
    start_http_server(port, addr="127.0.0.1", registry=registry)
    for value in itertools.cycle((100.0, 101.0, 99.0, 100.5)):
        for version in ("v1", "v2"):
            gauge.labels(version=version).set(value)
        time.sleep(0.25)


if __name__ == "__main__":
    main()
