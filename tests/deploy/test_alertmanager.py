"""deploy/alertmanager/alertmanager.yml's inhibitions, checked by a real Alertmanager.

amtool tests routing only; which alert mutes which is the running Alertmanager's to say, so
the test starts Debian's on loopback with the shipped config, posts alerts labelled as
Prometheus sends them for the shipped rules (the target labels of the Prometheus Operator),
and reads each alert's `inhibitedBy` back from its API.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anomaly_gan.demo.broker import free_port
from tests.deploy.conftest import Proc, alertmanager_command

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

# A deadline only for a broken Alertmanager; every wait ends on a condition.
GIVE_UP_S = 60.0


def _target(release: str, pod: str, ip: str) -> dict[str, str]:
    """The labels the Prometheus Operator gives every series of one scorer pod."""
    return {"namespace": "plant", "job": "anomaly-gan", "service": f"{release}-anomaly-gan",
            "instance": f"{ip}:9108", "pod": pod, "container": "anomaly-gan",
            "endpoint": "http-metrics"}


def _alert(name: str, category: str = "health", **labels: str) -> dict[str, Any]:
    severity = "critical" if name == "AnomalyGanScorerDown" else "warning"
    return {"labels": {"alertname": name, "severity": severity, "category": category, **labels}}


def _request(url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5.0) as r:
        text = r.read().decode()
    return json.loads(text) if text else None


@pytest.fixture(scope="module")
def alertmanager(alertmanager_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work: Path = tmp_path_factory.mktemp("alertmanager")
    port = free_port()
    proc = Proc("alertmanager", alertmanager_command(alertmanager_bin, port, work / "data"), work)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + GIVE_UP_S
        while True:
            try:
                _request(f"{url}/api/v2/status")
                break
            except (urllib.error.URLError, ConnectionError):
                if proc.proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"Alertmanager did not start:\n{proc.tail()}", pytrace=False)
                time.sleep(0.2)
        yield url
    finally:
        proc.stop()


def _inhibited(url: str, alerts: list[dict[str, Any]], settled: Any) -> dict[str, bool]:
    """Post ``alerts`` and return ``{key: muted}`` once the inhibitor has taken in the
    sources (``settled(result)`` true); keys are alertname/service/pod."""
    _request(f"{url}/api/v2/alerts", alerts)

    def key(labels: dict[str, str]) -> str:
        return "/".join(labels.get(k, "") for k in ("alertname", "service", "pod"))

    wanted = {key(a["labels"]) for a in alerts}
    deadline = time.monotonic() + GIVE_UP_S
    while True:
        got = {key(a["labels"]): bool(a["status"]["inhibitedBy"])
               for a in _request(f"{url}/api/v2/alerts")}
        result = {k: v for k, v in got.items() if k in wanted}
        if result.keys() == wanted and settled(result):
            return result
        assert time.monotonic() < deadline, f"Alertmanager never muted as expected: {result}"
        time.sleep(0.2)


def test_a_scorer_down_mutes_only_its_own_pods_not_ready(alertmanager: str) -> None:
    """`equal: [namespace, job, service]` let one pod that could not be scraped mute the
    NotReady alerts of every other pod of its release, and the release's NoEventsReceived,
    which one pod of several being down does not explain (the rule itself stays silent
    while every scorer of the release is down)."""
    a, b, other = (_target("sensors", "sensors-a", "10.0.0.1"),
                   _target("sensors", "sensors-b", "10.0.0.2"),
                   _target("logs", "logs-a", "10.0.0.3"))
    release = {k: a[k] for k in ("namespace", "job", "service")}
    muted = _inhibited(alertmanager, [
        _alert("AnomalyGanScorerDown", **a),
        _alert("AnomalyGanNotReady", **a),
        _alert("AnomalyGanNotReady", **b),
        _alert("AnomalyGanNotReady", **other),
        _alert("AnomalyGanNoEventsReceived", **release),
    ], settled=lambda r: r["AnomalyGanNotReady/sensors-anomaly-gan/sensors-a"])
    assert muted == {
        "AnomalyGanScorerDown/sensors-anomaly-gan/sensors-a": False,
        "AnomalyGanNotReady/sensors-anomaly-gan/sensors-a": True,  # its own pod: the cause
        "AnomalyGanNotReady/sensors-anomaly-gan/sensors-b": False,
        "AnomalyGanNotReady/logs-anomaly-gan/logs-a": False,
        "AnomalyGanNoEventsReceived/sensors-anomaly-gan/": False,
    }
