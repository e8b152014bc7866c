"""The dashboard with two releases in one Prometheus, queried for real.

docs/deployment.md says two releases in one namespace (a sensors and a logs scorer, as
docs/logs.md recommends) stay apart, and the dashboard's ``service`` variable starts at "All".
Two registries built by the scorer's own classes (StreamMetrics, DriftMonitor, ShadowScorer),
each fed like a scorer that scores, are served on loopback and scraped every second by a real
Prometheus with the shipped rules, as the Prometheus Operator labels a ServiceMonitor's
targets (namespace, service). Every panel's queries then go through the HTTP API and each
series is named as Grafana names it (its legendFormat): two series of one panel with one
name cannot be told apart (which release's threshold is the dashed red line?).
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server

from anomaly_gan.config import DriftConfig
from anomaly_gan.stream.drift import DriftMonitor
from anomaly_gan.stream.metrics import SCORE_BUCKETS, StreamMetrics
from anomaly_gan.stream.shadow import ShadowScorer
from tests.deploy import promql
from tests.deploy.conftest import RULES, Proc

pytestmark = [pytest.mark.prometheus, pytest.mark.slow, pytest.mark.timeout(300)]

# (namespace, service, input topic, model version, threshold): a sensors and a logs release
# in one namespace, and a sensors release of another cluster whose topic has the same name
RELEASES = (("plant", "sensors-anomaly-gan", "events", "20261201-sensors", 3.5),
            ("plant", "logs-anomaly-gan", "logs", "20261201-logs", 6.0),
            ("staging", "sensors-anomaly-gan", "events", "20261130-sensors", 4.0))
WAIT_S = 60.0


class _Scorer:
    """A registry as a scorer fills it, moved on by ``tick`` (about 0.2 s of work)."""

    def __init__(self, topic: str, version: str, threshold: float, seed: int) -> None:
        self.registry = CollectorRegistry()
        self.rng = np.random.default_rng(seed)
        self.metrics = StreamMetrics(self.registry)
        self.metrics.set_model(version, "ganomaly", threshold)
        self.metrics.set_consumer_lag({(topic, 0): 10 + 100 * seed, (topic, 1): 20})
        self.threshold = threshold
        self.version, self.seed = version, seed
        self.drift = DriftMonitor(self.registry, DriftConfig())
        self.drift.score_psi.set(0.1)
        self.drift.feature_psi.labels(f"{topic}_a").set(0.2)
        shadow = SimpleNamespace(version=version + "-next", kind="ganomaly",
                                 threshold=threshold + 1.0,
                                 score_windows=self._shadow_scores)
        self.shadow = ShadowScorer(self.registry, shadow, SCORE_BUCKETS)

    def _shadow_scores(self, windows: np.ndarray) -> SimpleNamespace:
        score = windows[:, 0] + 0.5
        return SimpleNamespace(score=score, is_anomaly=score > self.threshold + 1.0)

    def tick(self) -> None:
        m = self.metrics
        scores = self.rng.normal(1.0, 1.5, 32)
        m.events_consumed.inc(40)
        m.invalid("bad_json")
        m.anomalies.inc(int((scores > self.threshold).sum()))
        m.alerts.labels(self.version).inc(self.seed + 1)  # each release its own count
        m.observe_batch(scores, self.rng.uniform(0.01, 0.5, 32), 0.004)
        self.shadow.compare(scores[:, None], SimpleNamespace(is_anomaly=scores > self.threshold))


def _legend(fmt: str, labels: dict[str, str]) -> str:
    """The series name Grafana shows: legendFormat with each {{label}} replaced (a missing
    label reads as empty)."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)


@pytest.fixture(scope="module")
def prom(prometheus_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("dash-releases")
    scorers = [_Scorer(topic, version, threshold, seed)
               for seed, (_, _, topic, version, threshold) in enumerate(RELEASES)]
    servers = [start_http_server(0, addr="127.0.0.1", registry=s.registry)[0] for s in scorers]
    stop = threading.Event()

    def feed() -> None:
        while not stop.wait(0.2):
            for s in scorers:
                s.tick()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        group["interval"] = "1s"
    (work / "rules.yaml").write_text(yaml.safe_dump(rules))
    (work / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(work / "rules.yaml")],
        "scrape_configs": [{"job_name": "anomaly-gan", "static_configs": [
            {"targets": [f"127.0.0.1:{srv.server_port}"],
             "labels": {"namespace": namespace, "service": service}}
            for srv, (namespace, service, *_) in zip(servers, RELEASES)]}],
    }))
    from anomaly_gan.demo.broker import free_port

    port = free_port()
    proc = Proc("prometheus", [
        prometheus_bin, f"--config.file={work / 'prometheus.yml'}",
        f"--web.listen-address=127.0.0.1:{port}", f"--storage.tsdb.path={work / 'tsdb'}",
        "--log.level=warn"], work)
    try:
        url = f"http://127.0.0.1:{port}"
        # every release's recording rules have a rate (two scrapes each, then an evaluation)
        _wait(url, f'count(job:anomaly_gan_score:p50_rate2m{{job="anomaly-gan"}} >= -100) '
                   f'== {len(RELEASES)}', proc)
        yield url
    finally:
        proc.stop()
        stop.set()
        feeder.join()
        for srv in servers:
            srv.shutdown()
            srv.server_close()


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v1/query?"
                                + urllib.parse.urlencode({"query": expr}), timeout=5) as r:
        body = json.loads(r.read().decode())
    assert body["status"] == "success", body
    return body["data"]["result"]


def _wait(url: str, expr: str, proc: Proc) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT_S
    while True:
        proc.check_alive([proc])
        try:
            result = _query(url, expr)
        except OSError:  # not listening yet
            result = []
        if result:
            return result
        assert time.monotonic() < deadline, f"no data for {expr!r}\n{proc.tail()}"
        time.sleep(0.5)


def _graphed(panel: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in panel.get("targets", []) if t.get("format") != "table"]


@pytest.mark.parametrize("panel", [p for p in promql.panels() if _graphed(p)],
                         ids=lambda p: f"{p['id']} {p['title']}")
def test_each_series_of_a_panel_has_its_own_name_with_two_releases(prom: str,
                                                                   panel: dict[str, Any]) -> None:
    names: dict[str, dict[str, str]] = {}
    for target in _graphed(panel):
        for series in _query(prom, promql.substitute_grafana_variables(target["expr"])):
            name = _legend(target["legendFormat"], series["metric"])
            assert name not in names, (
                f"panel {panel['title']!r} {target['refId']}: two series named {name!r}: "
                f"{names[name]} and {series['metric']}")
            names[name] = series["metric"]


@pytest.mark.parametrize("panel", [p for p in promql.panels()
                                   if _graphed(p) and p["type"] != "stat"],
                         ids=lambda p: f"{p['id']} {p['title']}")
def test_no_series_adds_two_releases_together_under_all(prom: str,
                                                        panel: dict[str, Any]) -> None:
    """With "All" releases selected, a graph shows as many series as with each release
    alone, added up (a stat is one number for the selection): a ``sum by (reason)`` (invalid events, dead letters, replays, the
    log-line rates, ...) drew one line for the sensors and the logs release together, so a
    flood of invalid events of one release read as the other's too."""
    def count(expr: str, namespace: str, service: str) -> int:
        one = expr.replace("$namespace", namespace).replace("$service", service)
        return len(_query(prom, promql.substitute_grafana_variables(one)))

    for target in _graphed(panel):
        together = count(target["expr"], ".*", ".*")
        alone = sum(count(target["expr"], namespace, service)
                    for namespace, service, *_ in RELEASES)
        assert together == alone, (target["legendFormat"], together, alone)


def test_the_alert_bars_add_up_to_the_alerts_sent(prom: str) -> None:
    """The "Recent alerts" bars counted ``increase()`` over ``$__rate_interval``, four bars
    wide at its shortest, so an alert stood in about four bars and the bars of an hour added
    up to four times the alerts of that hour. Each bar now counts its own interval: over a
    range that starts before the releases' first scrape, the bars add up to the counters'
    last values."""
    [panel] = [p for p in promql.panels() if p["title"] == "Recent alerts"]
    step = 2  # Grafana's $__interval is the range query's step
    expr = promql.substitute_grafana_variables(panel["targets"][0]["expr"].replace(
        "$__rate_interval_ms", "8000").replace("$__rate_interval", "8s").replace(
        "$__interval", f"{step}s"))
    # bars that each see several scrapes (1 s apart) and a rate interval's worth of them
    history = "min(count_over_time(anomaly_gan_alerts_total[30s]))"
    while not (_query(prom, history) and float(_query(prom, history)[0]["value"][1]) >= 25):
        time.sleep(0.5)
    # from before the module's Prometheus started (it holds no sample older), ending at a
    # scrape it has taken
    end = int(time.time()) - 1
    start = end - 600
    with urllib.request.urlopen(f"{prom}/api/v1/query_range?" + urllib.parse.urlencode(
            {"query": expr, "start": start, "end": end, "step": step}), timeout=5) as r:
        bars = json.loads(r.read().decode())["data"]["result"]
    last = {s["metric"]["model_version"]: float(s["value"][1]) for s in _query(
        prom, f"anomaly_gan_alerts_total @ {end}")}
    assert len(bars) == len(RELEASES) and last
    for series in bars:
        version = series["metric"]["model_version"]
        assert sum(float(v) for _, v in series["values"]) == last[version], version


def test_consumer_lag_partitions_add_up_to_the_totals(prom: str) -> None:
    """Two clusters' topics of one name are two topics: the per-partition lines of the
    "Consumer lag" panel add up to its totals. The "Consumer lag" stat shows the topic
    furthest behind, as AnomalyGanConsumerLagHigh compares each topic alone: it summed the
    releases, and turned red at 10,000 with no topic near the alert's bar."""
    [stat] = [p for p in promql.panels() if p["title"] == "Consumer lag" and p["type"] == "stat"]
    [graph] = [p for p in promql.panels() if p["title"] == "Consumer lag" and p["type"] != "stat"]

    def total(expr: str) -> float:
        return sum(float(s["value"][1])
                   for s in _query(prom, promql.substitute_grafana_variables(expr)))

    totals, partitions = (total(t["expr"]) for t in graph["targets"][:2])
    assert partitions == totals == 10 + 110 + 210 + 3 * 20
    assert total(stat["targets"][0]["expr"]) == 210 + 20  # staging's topic


def test_overrides_match_the_series_they_are_for() -> None:
    """An override by name or by regex that names no series of its panel styles nothing
    (the threshold's dashed red line, a count's own axis)."""
    labels = {"namespace": "plant", "job": "anomaly-gan", "service": "sensors-anomaly-gan",
              "instance": "10.0.0.1:9108", "topic": "sensors", "partition": "0",
              "reason": "gap", "result": "success", "model_version": "v", "version": "v",
              "kind": "ganomaly", "outcome": "both", "feature": "a"}
    for panel in promql.panels():
        names = [_legend(t["legendFormat"], labels) for t in _graphed(panel)]
        for override in panel.get("fieldConfig", {}).get("overrides", []):
            matcher = override["matcher"]
            if matcher["id"] == "byName":
                hits = [n for n in names if n == matcher["options"]]
            elif matcher["id"] == "byRegexp":
                hits = [n for n in names if re.search(matcher["options"], n)]  # as Grafana
            else:
                continue
            assert hits, f"panel {panel['title']!r}: override {matcher} matches none of {names}"

