import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from anomaly_gan.config import DriftConfig
from anomaly_gan.stream.drift import DriftMonitor
from anomaly_gan.stream.events import INVALID_REASONS
from anomaly_gan.stream.metrics import SCORE_BUCKETS, StreamMetrics
from anomaly_gan.stream.shadow import ShadowScorer

CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "CONTRACTS.md"


def contract_table():
    """``{name: (type, label names)}`` from the metric table of docs/CONTRACTS.md, whose label
    cells read ``a, b``, ``name: value, value``, or ``name (comment)``; ``(comment)`` alone
    means no labels."""
    rows = {}
    for line in CONTRACTS.read_text().splitlines():
        if not line.startswith("| anomaly_gan_"):
            continue
        name, kind, labels = (cell.strip() for cell in line.strip("|").split("|"))
        labels = labels.split("(")[0].strip()
        if ":" in labels:
            names = {labels.split(":")[0].strip()}
        else:
            names = {n.strip() for n in labels.split(",") if n.strip()}
        rows[name] = (kind.split()[0], names)
    assert len(rows) > 10, f"no metric table in {CONTRACTS}"
    return rows


@pytest.fixture
def reg():
    return CollectorRegistry()


def test_the_documented_metrics_are_exactly_the_exported_ones(reg):
    """Every part that registers metrics (the optional shadow and drift ones too), with the
    type and label names the table gives."""
    StreamMetrics(reg, entity_labels_top_n=3)
    DriftMonitor(reg, DriftConfig())
    ShadowScorer(reg, SimpleNamespace(version="v2", kind="ganomaly", threshold=1.0),
                 SCORE_BUCKETS)
    exported = {}
    for collector in reg._collector_to_names:  # each Counter, Gauge and Histogram
        suffix = "_total" if collector._type == "counter" else ""
        exported[collector._name + suffix] = (collector._type, set(collector._labelnames))
    assert exported == contract_table()


def test_documented_label_values_are_the_pre_created_ones(reg):
    """Label cells such as ``reason: gap, partition_change (...)`` list exactly the values the
    scorer pre-creates, and docs/streaming.md's reason table those of invalid events: both
    are kept by hand (moving not_utf8 between the reason sets touched three files)."""
    StreamMetrics(reg)
    ShadowScorer(reg, SimpleNamespace(version="v2", kind="ganomaly", threshold=1.0),
                 SCORE_BUCKETS)
    created: dict[tuple[str, str], set[str]] = {}
    for metric in reg.collect():
        for sample in metric.samples:
            for label, value in sample.labels.items():
                created.setdefault((sample.name, label), set()).add(value)
    checked = 0
    for line in CONTRACTS.read_text().splitlines():
        if not line.startswith("| anomaly_gan_"):
            continue
        name, _, cell = (c.strip() for c in line.strip("|").split("|"))
        bare = re.sub(r"\([^()]*\)", "", cell)
        while bare != cell:  # comments, nested ones too
            cell, bare = bare, re.sub(r"\([^()]*\)", "", bare)
        label, colon, values = cell.partition(":")
        if colon:
            listed = {v.split()[-1] for v in re.split(r"[,;]", values) if v.strip()}
            assert listed == created.get((name, label.strip()), set()), name
            checked += 1
    assert checked >= 5
    table = re.findall(r"^\| `(\w+)` \|", (CONTRACTS.parent / "streaming.md").read_text(),
                       re.MULTILINE)
    assert table == list(INVALID_REASONS)


def test_entity_labels_are_opt_in(reg):
    StreamMetrics(reg)
    assert "anomaly_gan_entity_score" not in {m.name for m in reg.collect()}


def test_reason_label_sets_are_bounded_and_pre_created(reg):
    StreamMetrics(reg)
    for reason in INVALID_REASONS:
        assert reg.get_sample_value("anomaly_gan_events_invalid_total", {"reason": reason}) == 0
        assert reg.get_sample_value("anomaly_gan_dlq_total", {"reason": reason}) == 0
    assert reg.get_sample_value("anomaly_gan_model_reloads_total", {"result": "failure"}) == 0


def test_batch_observation(reg):
    m = StreamMetrics(reg)
    m.observe_batch(np.array([0.5, 3.5, 12.0]), np.array([0.01, 0.02, 0.03]), 0.004)
    assert reg.get_sample_value("anomaly_gan_windows_scored_total") == 3
    assert reg.get_sample_value("anomaly_gan_score_count") == 3
    assert reg.get_sample_value("anomaly_gan_score_bucket", {"le": "4.0"}) == 2
    assert reg.get_sample_value("anomaly_gan_batch_size_sum") == 3
    assert reg.get_sample_value("anomaly_gan_inference_seconds_count") == 1


def test_unscorable_windows_are_counted_apart_from_the_score_histogram(reg):
    m = StreamMetrics(reg)
    m.observe_batch(np.array([0.5, np.inf, 12.0, np.inf]), np.zeros(4), 0.004)
    assert reg.get_sample_value("anomaly_gan_windows_scored_total") == 4
    assert reg.get_sample_value("anomaly_gan_windows_unscorable_total") == 2
    assert reg.get_sample_value("anomaly_gan_score_count") == 2
    m.observe_batch(np.array([1.0]), np.zeros(1), 0.001)
    assert reg.get_sample_value("anomaly_gan_windows_unscorable_total") == 2


def test_model_info_keeps_only_the_loaded_version(reg):
    m = StreamMetrics(reg)
    m.set_model("v1", "ganomaly", 2.0)
    m.set_model("v2", "ganomaly", 3.0)
    assert reg.get_sample_value("anomaly_gan_model_info", {"version": "v1", "kind": "ganomaly"}) is None
    assert reg.get_sample_value("anomaly_gan_model_info", {"version": "v2", "kind": "ganomaly"}) == 1
    assert reg.get_sample_value("anomaly_gan_threshold") == 3.0


def test_a_versions_alert_counter_is_served_with_its_creation_time(reg):
    """AnomalyGanAnomalyDetected counts a series created in the last 5 minutes whole, from
    anomaly_gan_alerts_created in the text /metrics serves: the counter of a version is
    created at 0 when the version is loaded (a reload), with the time of that load."""
    import time

    from prometheus_client.exposition import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    m = StreamMetrics(reg)
    m.set_model("v1", "ganomaly", 2.0)
    before = time.time()
    m.set_model("v2", "ganomaly", 3.0)
    after = time.time()
    served = {(s.name, s.labels.get("model_version")): s.value
              for family in text_string_to_metric_families(generate_latest(reg).decode())
              for s in family.samples}
    assert served[("anomaly_gan_alerts_total", "v2")] == 0
    assert before <= served[("anomaly_gan_alerts_created", "v2")] <= after
    assert served[("anomaly_gan_alerts_created", "v1")] <= before


def test_consumer_lag_series_follow_the_assignment(reg):
    m = StreamMetrics(reg)
    m.set_consumer_lag({("t", 0): 5, ("t", 1): 7})
    m.set_consumer_lag({("t", 1): 2})
    assert reg.get_sample_value("anomaly_gan_consumer_lag", {"topic": "t", "partition": "0"}) is None
    assert reg.get_sample_value("anomaly_gan_consumer_lag", {"topic": "t", "partition": "1"}) == 2


def test_entity_labels_only_for_the_top_n(reg):
    m = StreamMetrics(reg, entity_labels_top_n=2)
    m.update_entity_scores(["a", "b", "c"], np.array([1.0, 5.0, 3.0]))
    shown = {s.labels["entity"]: s.value for metric in reg.collect()
             if metric.name == "anomaly_gan_entity_score" for s in metric.samples}
    assert shown == {"b": 5.0, "c": 3.0}
    m.update_entity_scores([f"e{i}" for i in range(500)], np.arange(500.0))
    shown = [s for metric in reg.collect() if metric.name == "anomaly_gan_entity_score"
             for s in metric.samples]
    assert len(shown) == 2


def test_observe_many_equals_one_by_one():
    from prometheus_client import Histogram

    from anomaly_gan.stream.metrics import observe_many

    a, b = CollectorRegistry(), CollectorRegistry()
    ha = Histogram("h", "h", buckets=(0.0, 1.0, 2.5), registry=a)
    hb = Histogram("h", "h", buckets=(0.0, 1.0, 2.5), registry=b)
    values = np.array([-1.0, 0.0, 0.5, 1.0, 2.5, 2.6, 100.0, float("nan")])
    observe_many(ha, values)
    for v in values[np.isfinite(values)]:
        hb.observe(v)
    def samples(reg):
        return [(s.name, s.labels, s.value) for s in next(iter(reg.collect())).samples
                if not s.name.endswith("_created")]

    assert samples(a) == samples(b)
