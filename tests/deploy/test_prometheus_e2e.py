"""The shipped rules and dashboard against what the scorer really exports.

A real Prometheus server (Debian's, on loopback) scrapes a real `anomaly-gan serve` process
every second; the scorer consumes from the embedded Kafka-protocol broker (or
$KAFKA_BOOTSTRAP_SERVERS) while deploy/compose/plant.py -- the same producer the compose stack
runs -- replays a synthetic plant with amplified incidents and some malformed records. The
model is trained by that script's seed-model command, as in compose.

Prometheus loads helm/anomaly-gan/files/rules.yaml with every `for:` shortened to 1s (the
expressions are the shipped ones, checked below). Then every dashboard query, every recording
rule and every series an alert selects must return data through the HTTP API, every rule must
evaluate without error, and the anomaly alert must be firing and reach a real Alertmanager
running deploy/alertmanager/alertmanager.yml. The scorer is stopped and AnomalyGanScorerDown
must fire; that test starts the scorer again and waits until it is healthy, so the tests
do not depend on their order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import promql
from tests.deploy.conftest import DEPLOY, RULES, Proc, alertmanager_command
from tests.stream.conftest import PATIENT_POLL_MS
from tests.support.kafka import FAST_GROUP, unique_name

pytestmark = [pytest.mark.prometheus, pytest.mark.kafka, pytest.mark.slow,
              pytest.mark.timeout(600)]

PLANT = DEPLOY / "compose" / "plant.py"
PLANT_ARGS = ["--entities", "3", "--steps", "1200", "--seed", "0"]
# A model that trains in seconds; the replay amplifies incidents so it flags them.
TINY_MODEL = {
    "model": {"kind": "ganomaly", "backbone": "dense", "latent_dim": 8, "hidden": [16]},
    "data": {"window": 8, "stride": 2},
    "training": {"epochs": 2, "batch_size": 64, "verbose": 0, "seed": 0, "allow_unhealthy": True,
                 "min_steps": 0, "max_attempts": 1},
}
STARTUP_S = 120.0
# Alerts that must stay silent on a healthy scorer.
HEALTH_ALERTS = ("AnomalyGanScorerDown", "AnomalyGanScorerAbsent", "AnomalyGanNotReady",
                 "AnomalyGanNoEventsReceived", "AnomalyGanModelReloadFailing",
                 "AnomalyGanModelWatcherStuck", "AnomalyGanConsumerLagHigh",
                 "AnomalyGanSilencesRefused", "AnomalyGanOffsetReset")
DATA_WAIT_S = 60.0


def _free_port() -> int:
    from anomaly_gan.demo.broker import free_port

    return free_port()


def _get(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


def _get_text(url: str, timeout: float = 5.0) -> str:
    """The body of ``url``, whatever its status (/readyz answers 503 with its reason)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return f"{r.status} {r.read().decode()[:300]}"
    except urllib.error.HTTPError as exc:
        return f"{exc.code} {exc.read().decode()[:300]}"


@dataclass
class Stack:
    prom_url: str
    scorer_url: str
    alertmanager_url: str
    procs: list[Proc]
    start_serve: Callable[[], Proc]

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.prom_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            body = _get(url)
        except urllib.error.HTTPError as exc:  # 400 carries Prometheus' parse error
            raise AssertionError(f"Prometheus rejected {expr!r}: {exc.read().decode()}") from None
        assert body["status"] == "success", body
        return body["data"]["result"]

    def wait_for_data(self, expr: str, timeout_s: float = DATA_WAIT_S) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.query(expr)
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"no data after {timeout_s:.0f}s for {expr!r}\n" + self.logs())
            for p in self.procs:
                p.check_alive(self.procs)
            time.sleep(1.0)

    def alerts(self) -> list[dict[str, Any]]:
        return _get(f"{self.prom_url}/api/v1/alerts")["data"]["alerts"]

    def logs(self) -> str:
        """The processes' output, and what the scorer's /readyz and Prometheus' view of its
        target say now (a wait that timed out on readiness said nothing of why)."""
        seen = []
        for what, get in (("scorer /readyz", lambda: _get_text(f"{self.scorer_url}/readyz")),
                          ("prometheus targets", lambda: json.dumps(
                              [(t.get("health"), t.get("lastError")) for t in _get(
                                  f"{self.prom_url}/api/v1/targets")["data"]["activeTargets"]]))):
            try:
                seen.append(f"--- {what}: {get()}")
            except Exception as exc:  # noqa: BLE001 - a diagnostic only
                seen.append(f"--- {what}: {type(exc).__name__}: {exc}")
        return "\n".join([*seen, *(p.tail() for p in self.procs)])


def shortened_rules(dest: Path) -> Path:
    """The shipped rules with each `for:` cut to 1s; expressions untouched."""
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "1s"
    dest.write_text(yaml.safe_dump(doc, sort_keys=False))
    shipped = [e.expr for e in promql.rule_expressions()]
    loaded = [r["expr"] for g in yaml.safe_load(dest.read_text())["groups"] for r in g["rules"]]
    assert loaded == shipped
    return dest


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, prometheus_bin: str, alertmanager_bin: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("prom-e2e")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    procs: list[Proc] = []

    # 1. A model store with a promoted bundle, trained the way compose's model-init does it.
    model_cfg = work / "model.yaml"
    model_cfg.write_text(yaml.safe_dump(TINY_MODEL))
    store = work / "models"
    seed = subprocess.run([sys.executable, str(PLANT), *PLANT_ARGS, "seed-model", "--store",
                           str(store), "--config", str(model_cfg)],
                          capture_output=True, text=True, timeout=300, env=env, check=False)
    assert seed.returncode == 0, seed.stdout + seed.stderr
    assert (store / "current").is_file()

    # 2. The scorer on fresh topics.
    from anomaly_gan.demo.broker import create_topics

    topics = {role: unique_name(role) for role in ("events", "alerts", "dlq")}
    create_topics(kafka_bootstrap, {topics["events"]: 2, topics["alerts"]: 1, topics["dlq"]: 1})
    port = _free_port()
    serve_cfg = work / "serve.yaml"
    serve_cfg.write_text(yaml.safe_dump({"serve": {
        "model_path": str(store),
        "allow_unhealthy": True,  # TINY_MODEL trains with allow_unhealthy: served as kept
        # The same bundle as shadow: the dashboard's shadow row and its rules get data.
        "shadow_model_path": str(store),
        "drift": {"period_seconds": 60.0},
        "reload_interval_seconds": 2.0,
        "grace_seconds": 10.0,
        "kafka": {"bootstrap_servers": kafka_bootstrap, "input_topic": topics["events"],
                  "alert_topic": topics["alerts"], "dlq_topic": topics["dlq"],
                  "group_id": f"g-{topics['events']}", "poll_timeout_ms": 50,
                  "fetch_max_wait_ms": 50, **FAST_GROUP,
                  # FAST_GROUP's 3 s is a deadline on the scoring loop: on a loaded machine
                  # the scorer left its group, replayed, and a restarted one was not ready in
                  # 120 s (tests/stream/conftest.py: the broker's joins are timed by the
                  # session timeout, not by this one)
                  "max_poll_interval_ms": PATIENT_POLL_MS},
        "windows": {"gap_seconds": 3600.0},
        "alerts": {"consecutive": 2, "cooldown_seconds": 0.0},
        "http": {"host": "127.0.0.1", "port": port},
    }}))

    def start_serve() -> Proc:
        proc = Proc("serve", [sys.executable, "-m", "anomaly_gan", "serve", "--config",
                              str(serve_cfg)], work, env)
        procs.insert(0, proc)
        return proc

    start_serve()

    # 3. Alertmanager with the compose stack's config, and Prometheus scraping the scorer
    # every second with the shipped rules, sending alerts there.
    am_port = _free_port()
    procs.append(Proc("alertmanager", alertmanager_command(alertmanager_bin, am_port,
                                                          work / "alertmanager"), work, env))
    prom_port = _free_port()
    rules = shortened_rules(work / "rules.yaml")
    prom_cfg = work / "prometheus.yml"
    prom_cfg.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [{"job_name": "anomaly-gan",
                            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
    }))
    procs.append(Proc("prometheus", [
        prometheus_bin, f"--config.file={prom_cfg}", f"--web.listen-address=127.0.0.1:{prom_port}",
        f"--storage.tsdb.path={work / 'tsdb'}", "--storage.tsdb.retention.time=1h",
        "--log.level=warn"], work, env))

    s = Stack(f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{port}",
              f"http://127.0.0.1:{am_port}", procs, start_serve)
    try:
        # 4. Wait for the scorer to be ready, then start the producer: a steady stream with
        # one malformed record after every 8 events (~11% invalid).
        deadline = time.monotonic() + STARTUP_S
        while True:
            for p in procs:
                p.check_alive(procs)
            try:
                with urllib.request.urlopen(f"{s.scorer_url}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"scorer not ready after {STARTUP_S:.0f}s\n" + s.logs())
            time.sleep(0.5)
        procs.append(Proc("producer", [
            sys.executable, str(PLANT), *PLANT_ARGS, "replay", "--bootstrap", kafka_bootstrap,
            "--topic", topics["events"], "--rate", "300", "--invalid-every", "8",
            "--amplify", "3", "--loop"], work, env))
        s.wait_for_data('up{job="anomaly-gan"} == 1')
        yield s
    finally:
        for p in reversed(procs):
            p.stop()


def _firing(stack: Stack, name: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        for a in stack.alerts():
            if a["labels"]["alertname"] == name and a["state"] == "firing":
                return a
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not firing after {timeout_s:.0f}s; alerts: "
                                 f"{[(a['labels']['alertname'], a['state']) for a in stack.alerts()]}\n"
                                 + stack.logs())
        for p in stack.procs:
            p.check_alive(stack.procs)
        time.sleep(1.0)


def test_anomaly_alert_fires_for_the_served_model(stack: Stack) -> None:
    alert = _firing(stack, "AnomalyGanAnomalyDetected", timeout_s=120)
    served = stack.wait_for_data("anomaly_gan_model_info")[0]["metric"]["version"]
    assert alert["labels"]["model_version"] == served
    assert alert["labels"]["job"] == "anomaly-gan"
    assert alert["labels"]["category"] == "detection"
    assert served in alert["annotations"]["summary"]


def test_anomaly_alert_reaches_alertmanager(stack: Stack) -> None:
    _firing(stack, "AnomalyGanAnomalyDetected", timeout_s=120)
    deadline = time.monotonic() + 60
    while True:
        received = _get(f"{stack.alertmanager_url}/api/v2/alerts")
        names = {a["labels"]["alertname"] for a in received if a["status"]["state"] == "active"}
        if "AnomalyGanAnomalyDetected" in names:
            break
        assert time.monotonic() < deadline, f"Alertmanager has {names}\n" + stack.logs()
        time.sleep(1.0)
    groups = _get(f"{stack.alertmanager_url}/api/v2/alerts/groups")
    assert any(g["receiver"]["name"] == "local" for g in groups)


def test_invalid_event_alert_fires_and_health_alerts_stay_silent(stack: Stack) -> None:
    _firing(stack, "AnomalyGanInvalidEventRateHigh", timeout_s=120)
    active = {a["labels"]["alertname"] for a in stack.alerts()}
    for healthy in HEALTH_ALERTS:
        assert healthy not in active, f"{healthy} is active on a healthy scorer"


def test_every_rule_evaluates_without_error(stack: Stack) -> None:
    _firing(stack, "AnomalyGanAnomalyDetected", timeout_s=120)  # rules have run a while
    groups = _get(f"{stack.prom_url}/api/v1/rules")["data"]["groups"]
    seen = set()
    for g in groups:
        for r in g["rules"]:
            seen.add(r["name"])
            assert r["health"] == "ok", f"{r['name']}: {r.get('lastError')}"
    assert seen == {e.name for e in promql.rule_expressions()}


@pytest.mark.parametrize("record", [e for e in promql.rule_expressions() if e.kind == "record"],
                         ids=lambda e: e.name)
def test_recording_rule_returns_data(stack: Stack, record: promql.Expr) -> None:
    result = stack.wait_for_data(f'{record.name}{{job="anomaly-gan"}}')
    assert all("instance" not in r["metric"] for r in result), "aggregates keep only namespace/job"


@pytest.mark.parametrize("expr", promql.dashboard_expressions(), ids=lambda e: e.source)
def test_dashboard_query_returns_data(stack: Stack, expr: promql.Expr) -> None:
    if "ALERTS" in expr.expr:
        _firing(stack, "AnomalyGanAnomalyDetected", timeout_s=120)
    stack.wait_for_data(promql.substitute_grafana_variables(expr.expr))


@pytest.mark.parametrize("alert", [e for e in promql.rule_expressions() if e.kind == "alert"],
                         ids=lambda e: e.name)
def test_alert_expression_selects_real_series(stack: Stack, alert: promql.Expr) -> None:
    """Each series an alert reads exists, and its value before the threshold is computable."""
    for selector in promql.selectors(alert.expr):
        stack.wait_for_data(selector)
    split = promql.split_threshold(alert.expr)
    assert split is not None, f"{alert.name}: expected '<signal> <op> <number>'"
    if split[0].startswith("absent("):  # a signal that exists only while its series do not
        assert stack.query(alert.expr) == [], f"{alert.name}: fires on a healthy scorer"
        return
    stack.wait_for_data(split[0])
    stack.query(alert.expr)  # the full expression parses and evaluates


def test_scorer_down_fires_when_the_scorer_stops(stack: Stack) -> None:
    """Stops the scorer, then starts it again and waits until it is healthy: the tests
    that run after this one find the stack as the fixture made it."""
    serve = next(p for p in stack.procs if p.name == "serve")
    stack.procs.remove(serve)
    serve.stop()
    assert serve.proc.returncode == 0, "SIGTERM should drain and exit 0\n" + serve.tail()
    try:
        alert = _firing(stack, "AnomalyGanScorerDown", timeout_s=60)
        assert alert["labels"]["instance"] == stack.scorer_url.removeprefix("http://")
    finally:
        stack.start_serve()
        stack.wait_for_data('anomaly_gan_ready{job="anomaly-gan"} == 1', timeout_s=STARTUP_S)
        deadline = time.monotonic() + 60
        while {a["labels"]["alertname"] for a in stack.alerts()} & set(HEALTH_ALERTS):
            assert time.monotonic() < deadline, f"health alerts still active: {stack.alerts()}"
            time.sleep(1.0)
