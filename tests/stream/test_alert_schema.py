"""docs/alert.schema.json is the contract of the alert topic's records: the records that the
real record builders make (``score --alerts``' alerts_of_series, serve's Publisher) validate
against it, for a metrics model (firing with feature_values, quiet entries, an unscorable
window, resolutions), a data.counters model (an ``increase`` entry) and a logs model
(templates with example lines); a field the code adds without the schema, or one it drops,
fails here."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from anomaly_gan.config import config_from_dict
from anomaly_gan.scoring.explain import feature_values
from anomaly_gan.stream.offline import alerts_of_series

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "alert.schema.json"


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def assert_valid(validator: Draft202012Validator, records: list[dict]) -> None:
    """Each record, as it goes out (JSON bytes), is valid; the message names the field."""
    for rec in records:
        sent = json.loads(json.dumps(rec, allow_nan=False))
        errors = sorted(validator.iter_errors(sent), key=lambda e: list(e.absolute_path))
        # oneOf hides which branch failed: validate against the branch of its status too
        branch = Draft202012Validator(validator.schema["$defs"][sent.get("status", "")]
                                      | {"$defs": validator.schema["$defs"]})
        detail = [f"{'/'.join(map(str, e.absolute_path)) or '(record)'}: {e.message}"
                  for e in branch.iter_errors(sent)]
        assert not errors, f"{sent.get('status')} record not in the schema: {detail}"


class ExplainingModel:
    """Score = last value of the first feature (anomalous above 10; inf past 1e6: a window
    the network cannot compute). Its feature values are built by the detector's own
    function (scoring.explain.feature_values) with the reconstruction 0, the second feature
    named as quiet, and ``counters`` read as increases, as Detector.feature_values does."""

    def __init__(self, counters: tuple[int, ...] = ()) -> None:
        self.feature_names, self.window, self.counters = ("a", "b", "c"), 3, counters
        self.version, self.kind = "ganomaly-20260101T000000Z-1a2b3c4d", "ganomaly"

    def score_windows(self, raw):
        s = raw[:, -1, 0].astype(float)
        s = np.where(s > 1e6, np.inf, s)
        top = [["a", "b"] if i % 2 else ["a"] for i in range(len(s))]
        with np.errstate(invalid="ignore"):
            return SimpleNamespace(
                score=s, threshold=10.0, is_anomaly=s > 10.0,
                severity=np.where(s > 10.0, 100.0, 40.0),
                components={"reconstruction": s, "quiet": np.zeros(len(s))}, top_features=top)

    def feature_values(self, raw, top):
        raw = np.asarray(raw, dtype=np.float64)
        index = {n: j for j, n in enumerate(self.feature_names)}
        quiet = np.zeros((len(raw), 3), dtype=bool)
        quiet[:, 1] = True
        return feature_values(raw, np.zeros_like(raw), [[index[n] for n in names] for names in top],
                              self.feature_names, np.zeros(3), quiet,
                              np.full((len(raw), 3), 0.0), np.full(3, 0.05), self.counters)


def serve_config(resolve_windows: int = 2):
    return config_from_dict({"serve": {"alerts": {
        "consecutive": 1, "cooldown_seconds": 0.0, "resolve_windows": resolve_windows}}}).serve


def incident_rows(first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Three features, the first one ``first``; times a second apart from 2026-01-01."""
    rows = np.column_stack([first, np.full(len(first), 5.0), np.arange(len(first)) * 10.0])
    return 1767225600.0 + np.arange(len(first), dtype=np.float64), rows


def test_the_schema_is_draft_2020_12_and_says_whether_new_fields_may_appear(validator):
    schema = validator.schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "additionalProperties" in schema["description"]
    defs = schema["$defs"]
    for name in ("firing", "resolved", "feature_value", "template"):
        assert defs[name]["additionalProperties"] is False
        for field, spec in defs[name]["properties"].items():
            if field != "status":  # every field says what it is
                assert spec.get("description") or defs.get(
                    spec.get("$ref", "#/$defs/").rsplit("/", 1)[1], {}).get("description"), field


def test_a_metrics_models_alerts_and_resolutions_are_in_the_schema(validator):
    """score --alerts' records (serve's builders): firing with feature_values (a quiet
    entry with movement), a window the model cannot compute (score null) and resolutions."""
    first = np.array([1.0] * 4 + [50.0, 60.0] + [1.0] * 5 + [2e6, 2e6] + [1.0] * 4)
    times, rows = incident_rows(first)
    records = alerts_of_series(ExplainingModel(), serve_config(), "pump-7", times, rows)
    firing = [r for r in records if r["status"] == "firing"]
    assert len(firing) >= 2 and sum(r["status"] == "resolved" for r in records) == 2
    assert any(r["score"] is None for r in firing)
    assert any("movement" in v for r in firing for v in r["feature_values"])
    assert_valid(validator, records)


def test_a_counters_models_increase_entries_are_in_the_schema(validator):
    """data.counters: the third feature is a running total, read as its increase; its entry
    in feature_values says so with "increase": true."""
    first = np.array([1.0] * 4 + [50.0] + [1.0] * 4)
    times, rows = incident_rows(first)
    det = ExplainingModel(counters=(2,))
    det.score_windows = _naming_c(det.score_windows)
    records = alerts_of_series(det, serve_config(), "pump-7", times, rows)
    values = [v for r in records if r["status"] == "firing" for v in r["feature_values"]]
    assert any(v.get("increase") is True and v["feature"] == "c" for v in values)
    assert_valid(validator, records)


def _naming_c(score_windows):
    def scored(raw):
        res = score_windows(raw)
        res.top_features = [["a", "c"]] * len(res.score)
        return res
    return scored


def test_a_logs_models_alerts_with_templates_and_examples_are_in_the_schema(validator):
    """serve's Publisher for a logs model: the alert names templates (with example lines)
    instead of feature values; its resolution follows."""
    from prometheus_client import CollectorRegistry

    from anomaly_gan.logs.events import LogEvent
    from anomaly_gan.logs.live import LogFeed
    from anomaly_gan.logs.model import fit_log_model
    from anomaly_gan.stream.metrics import StreamMetrics
    from anomaly_gan.stream.publisher import Publisher
    from anomaly_gan.stream.state import WindowBatch, WindowState

    cfg = config_from_dict({"logs": {"bucket_seconds": 10.0, "top_k": 2, "example_lines": 2},
                            "serve": {"alerts": {"consecutive": 1, "cooldown_seconds": 0.0,
                                                 "resolve_windows": 1}}})
    model, _ = fit_log_model(cfg.logs, ["GET /a/1 200", "GET /b/2 200", "cache flushed",
                                        "disk full on /dev/sda1"])
    errors_from = 1767225630.0

    class LogsModel:  # anomalous while its window holds lines training never saw
        version, kind, window = "logs-v1", "ganomaly", 2
        config, extras, feature_names = cfg, {"logs": model.to_dict()}, model.feature_names

        def score_windows(self, raw):
            s = raw[:, :, model.feature_names.index("unseen")].max(axis=1) * 10.0
            return SimpleNamespace(score=s, threshold=5.0, is_anomaly=s > 5.0,
                                   severity=np.where(s > 5.0, 100.0, 10.0),
                                   components={"reconstruction": s},
                                   top_features=[["unseen", "t1"]] * len(s))

    det = LogsModel()
    feed = LogFeed(det, cfg.serve)
    state = WindowState(det.window, len(det.feature_names), gap_seconds=3600.0,
                        max_entities=8)
    batch = WindowBatch(det.window, len(det.feature_names), capacity=64)
    t0 = 1767225600.0
    for k in range(90):
        ts = t0 + k
        text = "kernel panic: attempted to kill init" if errors_from <= ts < errors_from + 10 else "GET /a/9 200"
        rows = feed.add(LogEvent("web", ts, "INFO", text), "p0", k)
        for row, x in zip(rows, model.features(rows) if rows else [], strict=True):
            state.push(row.entity, row.end_ts, list(map(float, x)), "p0", k, batch, row)
    sent = []
    io = SimpleNamespace(send=lambda topic, value, **kw: sent.append(json.loads(value)))
    pub = Publisher(cfg.serve, io, StreamMetrics(CollectorRegistry()), logs=feed)
    pub.publish(batch, det, det.score_windows(batch.windows()))
    assert [r["status"] for r in sent][:1] == ["firing"] and sent[-1]["status"] == "resolved"
    firing = [r for r in sent if r["status"] == "firing"]
    assert all("templates" in r and "feature_values" not in r for r in firing)
    assert any(t["examples"] for r in firing for t in r["templates"])
    assert_valid(validator, sent)


def test_a_record_with_a_field_more_or_less_is_refused(validator):
    """The schema is exact: a field it does not list (or a feature value's or template's),
    a missing required one, or a firing field in a resolution, is an error."""
    times, rows = incident_rows(np.array([1.0] * 4 + [50.0] + [1.0] * 4))
    records = alerts_of_series(ExplainingModel(), serve_config(), "pump-7", times, rows)
    firing, resolved = records[0], records[-1]
    assert resolved["status"] == "resolved"
    for bad in ({**firing, "region": "eu"}, {**resolved, "score": 1.0},
                {k: v for k, v in firing.items() if k != "severity"},
                {k: v for k, v in resolved.items() if k != "resolution_id"},
                {**firing, "feature_values": [{**firing["feature_values"][0], "unit": "rpm"}]},
                {**firing, "templates": [{"template": "t", "feature": "t1", "observed": 1,
                                          "expected": 0.5, "examples": [], "rank": 1}]},
                {**firing, "status": "resolved"}, {**firing, "alert_id": "2f0c..."},
                {**firing, "window_end": "2026-01-01 05:15:10"}):
        assert not validator.is_valid(bad), bad


@pytest.mark.slow
def test_a_trained_models_alerts_are_in_the_schema(validator, tiny_detector):
    """The real Detector.feature_values (reconstructions, quiet entries where the bundle has
    them) on a spike that fires and resolves, and the same for a model trained with
    data.counters (its increase entries)."""
    from dataclasses import replace

    from anomaly_gan.train import train_detector
    from tests.support_models import FEATURES, normal_series, tiny_config

    x = normal_series(300, seed=5)
    x[150:156, 1] += 40 * x[:100, 1].std()
    times = 1767225600.0 + np.arange(300.0)
    records = alerts_of_series(tiny_detector, serve_config(), "pump-7", times, x)
    assert {"firing", "resolved"} <= {r["status"] for r in records}
    assert_valid(validator, records)

    cfg = tiny_config(epochs=2)
    cfg = replace(cfg, data=replace(cfg.data, counters=(FEATURES[2],)))
    train = normal_series(800)
    train[:, 2] = np.cumsum(np.abs(train[:, 2]))
    det = train_detector(cfg, train, FEATURES)
    x = normal_series(300, seed=5)
    x[150:156, 2] *= 40
    x[:, 2] = np.cumsum(np.abs(x[:, 2]))
    records = alerts_of_series(det, serve_config(), "pump-7", times, x)
    values = [v for r in records if r["status"] == "firing" for v in r["feature_values"]]
    assert any(v.get("increase") is True for v in values)
    assert_valid(validator, records)
