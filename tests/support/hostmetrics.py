"""OTLP/JSON metric requests as the Collector's hostmetrics receiver sends them
(``hostmetrics``), with the serve section that reads them (``SERVE``): the offline metric
file tests (tests/data/test_otlp_files.py) and tests/test_compressed.py."""

from __future__ import annotations

import math

T0 = 1767225600  # 2026-01-01T00:00:00Z
SERVE = {"event_format": "otlp_proto", "assemble_seconds": 10, "unknown_features": "ignore"}


def kv(key, value):
    return {"key": key, "value": {"stringValue": value}}


def gauge(name, *points):
    return {"name": name, "unit": "1", "gauge": {"dataPoints": list(points)}}


def point(value, ns, **attributes):
    p = {"timeUnixNano": str(ns), "asDouble": value}
    if attributes:
        p["attributes"] = [kv(k, v) for k, v in attributes.items()]
    return p


def request(host, metrics):
    return {"resourceMetrics": [{"resource": {"attributes": [kv("host.name", host)]},
                                 "scopeMetrics": [{"scope": {"name": "hostmetrics"},
                                                   "metrics": metrics}]}]}


def hostmetrics(steps=60, hosts=("web-1", "web-2"), drop=()):
    """Requests as the hostmetrics receiver sends them every 10 s: per host and collection
    the load scraper's batch, then the memory scraper's a few ms later (with a histogram
    that is not read); collections ``drop`` lose their memory batch."""
    docs = []
    for k in range(steps):
        for j, host in enumerate(hosts):
            ns = (T0 + 10 * k + 2) * 10**9 + j
            x = math.sin(k / 5 + j)
            docs.append(request(host, [gauge("system.cpu.load_average.1m",
                                              point(1 + x, ns))]))
            if k in drop:
                continue
            docs.append(request(host, [
                gauge("system.memory.utilization", point(0.5 + x / 4, ns + 3_000_000,
                                                         state="used"),
                      point(0.5 - x / 4, ns + 3_000_000, state="free")),
                {"name": "http.server.duration", "histogram": {"dataPoints": [
                    {"timeUnixNano": str(ns), "count": "3", "bucketCounts": ["1", "2"]}]}}]))
    return docs
