"""The alerting/recording rules and the dashboard's queries, checked by the real promtool and
against the metric names the scorer exports (docs/CONTRACTS.md).

tests/deploy/test_prometheus_e2e.py then runs them on a real Prometheus scraping a real scorer.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from prometheus_client import CollectorRegistry

from anomaly_gan.config import DriftConfig
from anomaly_gan.stream.drift import DriftMonitor
from anomaly_gan.stream.metrics import SCORE_BUCKETS, StreamMetrics
from anomaly_gan.stream.shadow import ShadowScorer
from tests.deploy import promql
from tests.deploy.conftest import DEPLOY, RULES, contract_metrics, find, run

pytestmark = pytest.mark.prometheus

RULES_TEST = Path(__file__).with_name("rules_test.yaml")
ALERTS = {e.name for e in promql.rule_expressions() if e.kind == "alert"}
RECORDS = {e.name for e in promql.rule_expressions() if e.kind == "record"}
REQUIRED_ALERTS = {
    "AnomalyGanAnomalyDetected", "AnomalyGanScorerDown", "AnomalyGanNoEventsReceived",
    "AnomalyGanConsumerLagHigh", "AnomalyGanInvalidEventRateHigh",
    "AnomalyGanModelReloadFailing", "AnomalyGanBaselineDrift", "AnomalyGanBaselineDriftRetrain",
}


def test_promtool_check_rules(promtool: str) -> None:
    out = run([promtool, "check", "rules", str(RULES)]).stdout
    assert f"SUCCESS: {len(ALERTS) + len(RECORDS)} rules found" in out


def test_promtool_unit_tests_pass(promtool: str) -> None:
    out = run([promtool, "test", "rules", str(RULES_TEST)])
    assert "SUCCESS" in out.stdout + out.stderr


def test_every_alert_is_tested_firing_and_silent() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for case in yaml.safe_load(RULES_TEST.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    assert REQUIRED_ALERTS <= ALERTS
    assert ALERTS - firing == set(), "alerts with no test where they fire"
    assert ALERTS - silent == set(), "alerts with no test where they stay silent"


def test_rules_and_dashboard_use_only_exported_metrics() -> None:
    exported = contract_metrics()
    known = exported | RECORDS | {"up", "ALERTS"}

    def base(name: str) -> str:
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in exported:
                return name[: -len(suffix)]
        # prometheus_client's creation time of each labelled counter (Unix seconds)
        if name.endswith("_created") and name[: -len("_created")] + "_total" in exported:
            return name[: -len("_created")] + "_total"
        return name

    for e in promql.rule_expressions() + promql.dashboard_expressions():
        names = {base(n) for n in promql.metric_names(e.expr)}
        assert names, f"{e.source}: no metric found in {e.expr!r}"
        assert names <= known, f"{e.source}: unknown metric(s) {names - known} in {e.expr!r}"

# Exported metrics that no rule and no panel reads, each with why.
LEFT_OFF_THE_DASHBOARD = {
    "anomaly_gan_entity_score": "per-entity labels stay out of rules and panels "
                                "(test_no_expression_keeps_or_groups_by_entity)",
}


def _base_metric(name: str) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_every_exported_metric_is_read_by_a_panel_or_a_rule() -> None:
    """An operator looks for the DLQ, dropped scrapes, stalls, unscorable windows and the log
    lines on the dashboard: a metric in docs/CONTRACTS.md that nothing reads is one they
    cannot see without writing their own query."""
    read = set()
    for e in promql.rule_expressions() + promql.dashboard_expressions():
        read |= {_base_metric(n) for n in promql.metric_names(e.expr)}
    unread = contract_metrics() - read - LEFT_OFF_THE_DASHBOARD.keys()
    assert unread == set(), "exported metrics no panel or rule reads"


def test_panels_of_logs_metrics_say_they_are_for_logs_models() -> None:
    """A metrics model exports the log counters at 0: their panels say so, and a share of
    log lines divides by at least a tiny number so that a metrics model reads 0, not NaN."""
    for p in promql.panels():
        exprs = [t["expr"] for t in p.get("targets", [])]
        if not any("anomaly_gan_log_" in e for e in exprs):
            continue
        assert "Logs models only" in p["description"], p["title"]
        for e in exprs:
            if "/" in e:
                assert "clamp_min(" in e.split("/", 1)[1], f"{p['title']}: {e}"


# Labels Prometheus or the Prometheus Operator put on every scraped series.
TARGET_LABELS = {"namespace", "job", "service", "instance", "pod", "container", "endpoint"}


def _exported_labels() -> dict[str, dict[str, set[str] | None]]:
    """``{series name: {label: its values, or None when open-ended}}`` of a fresh scorer
    registry. Counters pre-create their fixed label sets (reasons, results, outcomes), so
    their values are known; other labels (versions, topics, features) are open-ended."""
    reg = CollectorRegistry()
    StreamMetrics(reg, entity_labels_top_n=1)
    DriftMonitor(reg, DriftConfig())
    ShadowScorer(reg, SimpleNamespace(version="v", kind="k", threshold=1.0), SCORE_BUCKETS)
    out: dict[str, dict[str, set[str] | None]] = {}
    for collector, names in reg._collector_to_names.items():
        fixed = collector._type == "counter"
        labels: dict[str, set[str] | None] = {
            n: ({s.labels[n] for m in collector.collect() for s in m.samples if n in s.labels}
                or None) if fixed else None
            for n in collector._labelnames}
        for name in names:
            out[name] = {**labels, **({"le": None} if name.endswith("_bucket") else {})}
    return out


def test_rules_and_dashboard_match_only_exported_labels_and_values() -> None:
    """A matcher on a label the metric lacks, or on a value it never takes (say
    reason="inputs"), selects nothing, so its alert never fires; promtool's unit tests write
    their own series and cannot tell."""
    exported = _exported_labels()
    for e in promql.rule_expressions() + promql.dashboard_expressions():
        for selector in promql.selectors(e.expr):
            name, _, matchers = selector.partition("{")
            if name not in exported:  # recording rules, up, ALERTS
                continue
            for label, op, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', matchers):
                if label in TARGET_LABELS:
                    continue
                assert label in exported[name], f"{e.source}: {name} has no label {label!r}"
                values = exported[name][label]
                if values is not None and op in ("=", "=~"):
                    wanted = value.split("|") if op == "=~" else [value]
                    assert set(wanted) <= values, (
                        f"{e.source}: {name}{{{label}}} never takes {set(wanted) - values}")


def test_no_expression_keeps_or_groups_by_entity() -> None:
    for e in promql.rule_expressions() + promql.dashboard_expressions():
        assert not re.search(r"\bentity\b", e.expr), f"{e.source} uses the entity label"
        assert "anomaly_gan_entity_score" not in e.expr, e.source


def test_every_recording_rule_feeds_the_dashboard() -> None:
    used = set()
    for e in promql.dashboard_expressions():
        used |= promql.metric_names(e.expr)
    assert RECORDS - used == set(), "recording rules nobody reads"


def test_every_alert_has_severity_summary_and_description() -> None:
    for group in promql.rules()["groups"]:
        for r in group["rules"]:
            if "alert" in r:
                assert r["labels"]["severity"] in {"critical", "warning", "info"}, r["alert"]
                assert r["annotations"]["summary"] and r["annotations"]["description"], r["alert"]


def test_deployment_guide_lists_every_alert_with_its_duration_and_labels() -> None:
    """docs/deployment.md's table (alert | fires when | for | severity / category) is what
    operators route on: it must follow rules.yaml."""
    guide = (DEPLOY.parent / "docs" / "deployment.md").read_text()
    row = re.compile(r"^\| (AnomalyGan\w+)[^|]*\|[^|]*\| ([^|]+?) \| (\w+) / (\w+) \|$",
                     re.MULTILINE)
    documented = {m[1]: (m[2], m[3], m[4]) for m in row.finditer(guide)}
    shipped = {}
    for group in promql.rules()["groups"]:
        for r in group["rules"]:
            if "alert" in r:
                duration = re.sub(r"^0[smh]?$", "0", str(r.get("for", "0")))
                shipped[r["alert"]] = (duration, r["labels"]["severity"], r["labels"]["category"])
    assert documented == shipped


def test_the_runbook_has_one_section_per_alert() -> None:
    """docs/runbook.md is where each alert's runbook_url points (its anchor, the heading in
    lower case): a section per shipped alert, and none for an alert that is gone."""
    runbook = (DEPLOY.parent / "docs" / "runbook.md").read_text()
    sections = re.findall(r"^### (\S+)$", runbook, re.MULTILINE)
    alerts = [r["alert"] for group in promql.rules()["groups"] for r in group["rules"]
              if "alert" in r]
    assert sorted(sections) == sorted(alerts)


def test_dashboard_has_the_required_panels() -> None:
    dash = promql.dashboard()
    titles = {p["title"] for p in promql.panels(dash)}
    for required in ("Anomaly rate", "Score vs threshold", "Recent alerts", "Events/s",
                     "Invalid events by reason", "Consumer lag", "Event lag p50/p99",
                     "Inference latency p50/p99", "Model version", "Shadow vs current: anomaly rate",
                     "Shadow agreement", "Drift PSI", "Resolved and silenced alerts"):
        assert required in titles
    assert dash["uid"] == "anomaly-gan"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for p in promql.panels(dash):
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        for t in p["targets"]:
            promql.substitute_grafana_variables(t["expr"])  # only known variables


def test_compose_prometheus_config_is_valid(promtool: str, tmp_path: Path) -> None:
    """deploy/prometheus/prometheus.yml with the rule path as compose mounts it."""
    text = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    mounted = "/etc/prometheus/rules/anomaly-gan.yaml"
    assert mounted in text
    config = tmp_path / "prometheus.yml"
    config.write_text(text.replace(mounted, str(RULES)))
    out = run([promtool, "check", "config", str(config)]).stdout
    assert "SUCCESS" in out
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert any(v.endswith(":" + mounted + ":ro") for v in compose["services"]["prometheus"]["volumes"])
    jobs = [j["job_name"] for j in yaml.safe_load(text)["scrape_configs"]]
    assert "anomaly-gan" in jobs  # the job the rules select


def test_compose_alertmanager_config_is_valid(amtool: str) -> None:
    out = run([amtool, "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml")]).stdout
    assert "SUCCESS" in out


def _held_from_first_scrape(registry: CollectorRegistry, minutes: int) -> list[dict[str, str]]:
    """promtool input series: every sample of ``registry`` as Prometheus scrapes it every 15 s
    from its first scrape on, unchanged (what a scorer that does nothing more exports)."""
    series = []
    for metric in registry.collect():
        for s in metric.samples:
            labels = {"namespace": "plant", "job": "anomaly-gan", "service": "sensors",
                      "instance": "10.0.0.1:9108", **s.labels}
            matchers = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            value = "NaN" if math.isnan(s.value) else repr(float(s.value))
            series.append({"series": f"{s.name}{{{matchers}}}",
                           "values": " ".join([value] * (minutes * 4 + 1))})
    return series


class _Model(SimpleNamespace):
    def __init__(self, version: str, window: int) -> None:
        super().__init__(version=version, kind="ganomaly", threshold=1.0, window=window,
                         feature_names=("a",))


def _shadow_not_loaded(reg: CollectorRegistry) -> None:
    ShadowScorer(reg, None, SCORE_BUCKETS)  # serve's _shadow: the bundle did not load


def _shadow_switched_off(reg: CollectorRegistry) -> None:
    ShadowScorer(reg, _Model("v2", window=3), SCORE_BUCKETS).check(_Model("v1", window=2))


@pytest.mark.parametrize("shadow", [_shadow_not_loaded, _shadow_switched_off],
                         ids=["not loaded", "switched off"])
def test_the_shadow_row_shows_a_shadow_that_scores_nothing(promtool: str, tmp_path: Path,
                                                           shadow) -> None:
    """A shadow bundle that did not load at start (pruned, damaged) counts its one error
    before the first scrape, where rate() cannot see it, and one switched off after a reload
    (it cannot score the served model's windows) counts nothing and keeps its model_info:
    the "Shadow agreement" panel must still say that no shadow scores."""
    reg = CollectorRegistry()
    shadow(reg)
    [panel] = [p for p in promql.panels() if p["title"] == "Shadow agreement"]
    shown = " or ".join(f"(({promql.substitute_grafana_variables(t['expr'])}) > 0)"
                        for t in panel["targets"])
    (tmp_path / "test.yaml").write_text(yaml.safe_dump({
        "rule_files": [str(RULES)],  # the panel reads their recorded agreement
        "tests": [{"interval": "15s", "input_series": _held_from_first_scrape(reg, 15),
                   "promql_expr_test": [{"expr": f"clamp_max(count({shown}), 1) or vector(0)",
                                         "eval_time": "15m",
                                         "exp_samples": [{"labels": "{}", "value": 1}]}]}],
    }))
    out = run([promtool, "test", "rules", str(tmp_path / "test.yaml")], check=False)
    assert out.returncode == 0, f"the panel shows nothing:\n{out.stdout}{out.stderr}"


def test_recent_alerts_panel_counts_alerts_raised_before_a_new_series_first_scrape(
        promtool: str, tmp_path: Path) -> None:
    """A hot reload (or a new pod) creates the new version's alert counter at 0 and alerts
    may come before the next scrape: the series is first seen at 2, where increase() sees
    nothing. Like AnomalyGanAnomalyDetected, the "Recent alerts" panel counts a series new
    in a bar's interval whole: in the bar where it is first seen, and in no other (each bar
    counts the change since the bar before, so the bars add up to the alerts sent)."""
    [panel] = [p for p in promql.panels() if p["title"] == "Recent alerts"]
    [target] = panel["targets"]
    expr = promql.substitute_grafana_variables(target["expr"])  # $__interval: 15s
    labels = 'namespace="plant", job="anomaly-gan", service="sensors", instance="10.0.0.1:9108"'
    release = 'namespace="plant", job="anomaly-gan", service="sensors"'
    series = [  # scraped every 15 s; v2 created at 292 s, first scraped at 300 s
        (f'anomaly_gan_alerts_total{{{labels}, model_version="v1"}}', "0x40"),
        (f'anomaly_gan_alerts_created{{{labels}, model_version="v1"}}', "0x40"),
        (f'anomaly_gan_alerts_total{{{labels}, model_version="v2"}}', "_x20 2x20"),
        (f'anomaly_gan_alerts_created{{{labels}, model_version="v2"}}', "_x20 292x20"),
    ]
    (tmp_path / "test.yaml").write_text(yaml.safe_dump({
        "tests": [{"interval": "15s",
                   "input_series": [{"series": s, "values": v} for s, v in series],
                   "promql_expr_test": [
                       {"expr": expr, "eval_time": "5m",
                        "exp_samples": [{"labels": f'{{{release}, model_version="v1"}}',
                                         "value": 0},
                                        {"labels": f'{{{release}, model_version="v2"}}',
                                         "value": 2}]},
                       # the next bar: counted once, not again
                       {"expr": expr, "eval_time": "5m15s",
                        "exp_samples": [{"labels": f'{{{release}, model_version="v1"}}',
                                         "value": 0},
                                        {"labels": f'{{{release}, model_version="v2"}}',
                                         "value": 0}]}]}],
    }))
    out = run([promtool, "test", "rules", str(tmp_path / "test.yaml")], check=False)
    assert out.returncode == 0, f"the panel undercounts:\n{out.stdout}{out.stderr}"


@pytest.mark.parametrize(("interval", "missed", "eval_time"),
                         [("1m", 10, "11m30s"), ("2m", None, "11m")],
                         ids=["1m, a scrape missed", "2m"])
def test_recording_rules_answer_at_the_scrape_interval_the_chart_is_given(
        promtool: str, render, tmp_path: Path, interval: str, missed: int | None,
        eval_time: str) -> None:
    """rate() needs two samples in its window: a 2m window over a 2m scrape holds one, and
    over a 1m scrape one missed scrape leaves one, so every recording rule (and the dashboard
    built on them) went blank. The chart widens the rules' ranges to four scrape intervals."""
    docs = render(sets=("serviceMonitor.enabled=true", "prometheusRule.enabled=true",
                        f"serviceMonitor.interval={interval}"))
    groups = find(docs, "PrometheusRule")["spec"]["groups"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    records = [r for g in groups for r in g["rules"] if "record" in r]
    read = set().union(*(promql.metric_names(r["expr"]) for r in records))
    labels = 'namespace="plant", job="anomaly-gan", service="sensors", instance="10.0.0.1:9108"'
    values = " ".join("_" if i == missed else str(10 * i) for i in range(21))
    series = []
    for name in sorted(read - {r["record"] for r in records}):
        extra = ([', le="1"', ', le="+Inf"'] if name.endswith("_bucket") else
                 [', outcome="both"', ', outcome="current_only"']
                 if name == "anomaly_gan_shadow_agreement_total" else [""])
        series += [{"series": f"{name}{{{labels}{e}}}", "values": values} for e in extra]
    (tmp_path / "test.yaml").write_text(yaml.safe_dump({
        "rule_files": [str(tmp_path / "rules.yaml")],
        "evaluation_interval": "15s",
        "tests": [{"interval": interval, "input_series": series,
                   "promql_expr_test": [{"expr": f"absent({r['record']})", "eval_time": eval_time,
                                         "exp_samples": []} for r in records]}],
    }))
    out = run([promtool, "test", "rules", str(tmp_path / "test.yaml")], check=False)
    assert out.returncode == 0, f"recording rules with no value:\n{out.stdout}{out.stderr}"


@pytest.mark.parametrize(("interval", "window"),
                         [("30s", "5 minutes"), ("100s", "400 seconds"), ("2m", "8 minutes")])
def test_the_anomaly_alert_says_the_window_it_counts_over(render, interval: str,
                                                          window: str) -> None:
    """Over a 75 s scrape interval the chart widens AnomalyGanAnomalyDetected's 5 minutes to
    four scrapes; its description said "in the last 5 minutes" all the same."""
    docs = render(sets=("serviceMonitor.enabled=true", "prometheusRule.enabled=true",
                        f"serviceMonitor.interval={interval}"))
    groups = find(docs, "PrometheusRule")["spec"]["groups"]
    [rule] = [r for g in groups for r in g["rules"] if r.get("alert") == "AnomalyGanAnomalyDetected"]
    seconds = {int(n) * {"s": 1, "m": 60}[unit]
               for n, unit in re.findall(r"\[(\d+)([sm])\]", rule["expr"])}
    seconds |= {int(n) for n in re.findall(r"time\(\) - (\d+)", rule["expr"])}
    assert len(seconds) == 1, rule["expr"]
    said = re.findall(r"in the last (\d+ (?:minutes|seconds))", rule["annotations"]["description"])
    assert said == [window]
    n, unit = window.split()
    assert int(n) * (60 if unit == "minutes" else 1) in seconds


def test_dashboard_ranges_follow_the_scrape_interval() -> None:
    """A fixed range holds too few samples at a long scrape interval (a [2m] over 1m scrapes
    leaves one at a missed scrape) and the panel goes blank: the dashboard reads raw
    counters over Grafana's $__rate_interval, and the recording rules' ranges are the chart's
    to widen."""
    for e in promql.dashboard_expressions():
        fixed = [r for r in re.findall(r"\[([^\]]+)\]", e.expr) if r != "$__rate_interval"]
        assert fixed == [], f"{e.source}: {e.expr!r}"


@pytest.mark.parametrize(("own_target", "fires"), [(False, True), (True, False)],
                         ids=["own release absent", "own release scraped"])
def test_scorer_absent_sees_its_own_release_beside_another_one(
        promtool: str, render, tmp_path: Path, own_target: bool, fires: bool) -> None:
    """Two releases in one Prometheus (a sensors and a logs scorer, in one namespace or two):
    with the sensors scorers scaled to zero, or their ServiceMonitor not selected,
    absent(up{job="anomaly-gan"}) still saw the logs scorer's targets, so the sensors
    release's AnomalyGanScorerAbsent could never fire. With the chart's ServiceMonitor the
    release knows the namespace and Service its targets are labelled with."""
    docs = render(sets=("serviceMonitor.enabled=true", "prometheusRule.enabled=true"),
                  release="sensors")
    groups = find(docs, "PrometheusRule")["spec"]["groups"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    series = [{"series": 'up{job="anomaly-gan", namespace="plant", service="logs-anomaly-gan", '
                         'instance="10.0.0.7:9108"}', "values": "1x20"}]
    if own_target:
        series.append({"series": 'up{job="anomaly-gan", namespace="plant", '
                                 'service="sensors-anomaly-gan", instance="10.0.0.1:9108"}',
                       "values": "0x20"})  # down, which is AnomalyGanScorerDown's to say
    want = ([{"labels": 'ALERTS{alertname="AnomalyGanScorerAbsent", alertstate="firing", '
                        'job="anomaly-gan", namespace="plant", service="sensors-anomaly-gan", '
                        'severity="critical", category="health"}', "value": 1}]
            if fires else [])
    (tmp_path / "test.yaml").write_text(yaml.safe_dump({
        "rule_files": [str(tmp_path / "rules.yaml")],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series,
                   "promql_expr_test": [{"expr": 'ALERTS{alertname="AnomalyGanScorerAbsent"}',
                                         "eval_time": "15m", "exp_samples": want}]}],
    }))
    out = run([promtool, "test", "rules", str(tmp_path / "test.yaml")], check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_panel_in_seconds_draws_counts_with_their_own_unit() -> None:
    """The "Output and input stalls" panel is in seconds, and its replays and error replays
    (counts) read "3 s" in the tooltip: a line that reads no *_seconds metric on a panel in
    seconds has an override that gives it its own unit."""
    for p in promql.panels():
        if p.get("fieldConfig", {}).get("defaults", {}).get("unit") != "s":
            continue
        overrides = [o["matcher"]["options"] for o in p["fieldConfig"].get("overrides", [])
                     if o["matcher"]["id"] == "byRegexp"
                     and any(prop["id"] == "unit" for prop in o["properties"])]
        for t in p["targets"]:
            if any("_seconds" in n for n in promql.metric_names(t["expr"])):
                continue
            assert any(re.search(rx, t["legendFormat"]) for rx in overrides), (
                f"panel {p['title']!r} {t['refId']}: {t['legendFormat']!r} is no duration")


def test_the_shadow_score_panel_shows_each_model_threshold() -> None:
    """Its description promises each model's threshold beside the medians; it drew the
    shadow's only, so the current model's median had nothing to be read against."""
    [p] = [p for p in promql.panels() if p["title"] == "Shadow vs current: median score"]
    read = set().union(*(promql.metric_names(t["expr"]) for t in p["targets"]))
    assert {"job:anomaly_gan_threshold:max", "anomaly_gan_shadow_threshold"} <= read
