"""Live PSI gauges (injected clock, no sleeps) and shadow-model comparison metrics."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from anomaly_gan.config import DriftConfig
from anomaly_gan.scoring.drift import psi, reference_histograms
from anomaly_gan.stream.drift import DriftMonitor
from anomaly_gan.stream.metrics import SCORE_BUCKETS
from anomaly_gan.stream.shadow import ShadowScorer


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def model(names, rng, version="v1"):
    rows = rng.normal(size=(5000, len(names)))
    ref = reference_histograms(rows, names, rng.normal(size=5000))
    return SimpleNamespace(version=version, feature_names=tuple(names), metadata={"reference": ref})


def test_psi_gauges_follow_a_shift_and_forget_it_after_the_period():
    rng = np.random.default_rng(0)
    reg, clock = CollectorRegistry(), Clock()
    mon = DriftMonitor(reg, DriftConfig(period_seconds=120.0, max_feature_labels=10), clock)
    det = model(["a", "b"], rng)
    mon.set_model(det)
    live = rng.normal(size=(4000, 2))
    live[:, 1] += 1.0  # b drifts, a does not
    mon.observe(live, rng.normal(size=4000))
    mon.refresh()
    get = reg.get_sample_value
    ref_b = det.metadata["reference"]["features"]["b"]
    by_hand = psi(ref_b["fractions"], np.bincount(
        np.searchsorted(ref_b["edges"], live[:, 1]), minlength=len(ref_b["fractions"])))
    assert get("anomaly_gan_feature_drift_psi", {"feature": "b"}) == pytest.approx(by_hand)
    assert by_hand > 0.25
    assert get("anomaly_gan_feature_drift_psi", {"feature": "a"}) < 0.02
    assert get("anomaly_gan_score_drift_psi") < 0.02
    clock.t += 130.0  # the shifted data leaves the sliding period
    mon.observe(rng.normal(size=(4000, 2)), rng.normal(size=4000))
    mon.refresh()
    assert get("anomaly_gan_feature_drift_psi", {"feature": "b"}) < 0.02


def test_psi_gauges_have_no_value_once_the_periods_events_have_left_it():
    """A replica whose input stopped, or that a rebalance left without partitions, kept the
    last period's PSI for good (3.28 ten thousand seconds later), so
    AnomalyGanBaselineDriftRetrain never cleared on it."""
    rng = np.random.default_rng(3)
    reg, clock = CollectorRegistry(), Clock()
    mon = DriftMonitor(reg, DriftConfig(period_seconds=120.0), clock)
    mon.set_model(model(["a", "b"], rng))
    live = rng.normal(size=(4000, 2))
    live[:, 1] += 1.0
    mon.observe(live, rng.normal(size=4000) + 2.0)
    mon.refresh()
    get = reg.get_sample_value
    assert get("anomaly_gan_score_drift_psi") > 0.25
    assert get("anomaly_gan_feature_drift_psi", {"feature": "b"}) > 0.25
    clock.t += 60.0  # half the period later the events still count
    mon.refresh()
    assert get("anomaly_gan_score_drift_psi") > 0.25
    clock.t += 70.0  # nothing read since: the period holds no event
    mon.refresh()
    assert math.isnan(get("anomaly_gan_score_drift_psi"))
    assert get("anomaly_gan_feature_drift_psi", {"feature": "b"}) is None
    assert get("anomaly_gan_feature_drift_psi", {"feature": "a"}) is None
    mon.observe(rng.normal(size=(500, 2)), rng.normal(size=500))  # events again
    mon.refresh()
    assert get("anomaly_gan_score_drift_psi") < 0.25
    assert get("anomaly_gan_feature_drift_psi", {"feature": "a"}) is not None


def test_feature_labels_are_capped_to_the_most_drifted():
    rng = np.random.default_rng(1)
    names = [f"f{i}" for i in range(20)]
    reg = CollectorRegistry()
    mon = DriftMonitor(reg, DriftConfig(max_feature_labels=3), Clock())
    mon.set_model(model(names, rng))
    live = rng.normal(size=(3000, 20))
    live[:, [4, 7, 11]] += 2.0
    mon.observe(live, rng.normal(size=3000))
    mon.refresh()
    shown = {s.labels["feature"] for m in reg.collect() for s in m.samples
             if s.name == "anomaly_gan_feature_drift_psi"}
    assert shown == {"f4", "f7", "f11"}


def test_a_model_without_reference_exports_no_drift():
    reg = CollectorRegistry()
    mon = DriftMonitor(reg, DriftConfig(), Clock())
    mon.set_model(SimpleNamespace(version="old", feature_names=("a",), metadata={}))
    mon.observe(np.zeros((500, 1)), np.zeros(500))
    mon.refresh()
    assert math.isnan(reg.get_sample_value("anomaly_gan_score_drift_psi"))
    assert reg.get_sample_value("anomaly_gan_feature_drift_psi", {"feature": "a"}) is None


def test_a_reload_starts_a_new_period_without_the_old_models_drift():
    """The score PSI of the previous model used to stay exported after a reload (for good
    when the new bundle has no reference), keeping the retrain alert firing after the retrain."""
    rng = np.random.default_rng(2)
    reg = CollectorRegistry()
    mon = DriftMonitor(reg, DriftConfig(), Clock())
    assert math.isnan(reg.get_sample_value("anomaly_gan_score_drift_psi"))  # nothing yet
    mon.set_model(model(["a"], rng))
    mon.observe(rng.normal(size=(500, 1)), rng.normal(size=500) + 3.0)
    mon.refresh()
    assert reg.get_sample_value("anomaly_gan_score_drift_psi") > 1.0
    mon.set_model(model(["a"], rng, version="v2"))
    mon.refresh()
    assert math.isnan(reg.get_sample_value("anomaly_gan_score_drift_psi"))
    mon.set_model(SimpleNamespace(version="v3", feature_names=("a",), metadata={}))
    mon.refresh()
    assert math.isnan(reg.get_sample_value("anomaly_gan_score_drift_psi"))


def test_unscorable_windows_count_in_the_top_score_bin():
    """An unscorable window (its score +inf, float32 overflowed in the model) was left out
    of the score's PSI: 100 events with 40 such windows exported the feature PSIs but the
    score gauge read NaN, and a stream of far-out readings that the model cannot score did
    not count as score drift (tests/stream/test_drift_spec_fuzz.py found it)."""
    rng = np.random.default_rng(4)
    reg = CollectorRegistry()
    mon = DriftMonitor(reg, DriftConfig(), Clock())
    det = model(["a"], rng)
    mon.set_model(det)
    scores = rng.normal(size=100)
    scores[:40] = np.inf
    mon.observe(rng.normal(size=(100, 1)), scores)
    mon.refresh()
    ref = det.metadata["reference"]["score"]
    by_hand = psi(ref["fractions"], np.bincount(np.searchsorted(ref["edges"], scores),
                                                minlength=len(ref["fractions"])))
    assert reg.get_sample_value("anomaly_gan_feature_drift_psi", {"feature": "a"}) is not None
    assert reg.get_sample_value("anomaly_gan_score_drift_psi") == pytest.approx(by_hand)
    assert by_hand > 0.25


class FixedModel:
    """Flags the windows whose first value is above ``cut``."""

    def __init__(self, version, cut, window=2, names=("a",)):
        self.version, self.kind, self.threshold = version, "ganomaly", cut
        self.window, self.feature_names = window, names

    def score_windows(self, w):
        score = w[:, 0, 0]
        return SimpleNamespace(score=score, is_anomaly=score > self.threshold)


def test_shadow_counts_agreement_and_its_own_anomaly_rate():
    reg = CollectorRegistry()
    current, shadow = FixedModel("v1", 0.5), FixedModel("v2", 1.5)
    sh = ShadowScorer(reg, shadow, SCORE_BUCKETS)
    sh.check(current)
    windows = np.array([0.0, 1.0, 1.0, 2.0, 3.0])[:, None, None] * np.ones((1, 2, 1))
    sh.compare(windows, current.score_windows(windows))
    get = reg.get_sample_value
    assert get("anomaly_gan_shadow_windows_scored_total") == 5
    assert get("anomaly_gan_shadow_anomalies_total") == 2
    counts = {o: get("anomaly_gan_shadow_agreement_total", {"outcome": o})
              for o in ("both", "neither", "current_only", "shadow_only")}
    assert counts == {"both": 2, "neither": 1, "current_only": 2, "shadow_only": 0}
    assert get("anomaly_gan_shadow_model_info", {"version": "v2", "kind": "ganomaly"}) == 1
    assert get("anomaly_gan_shadow_score_count") == 5
    assert get("anomaly_gan_shadow_active") == 1
    # the shadow's model calls run in the scoring loop beside the current model's: their
    # time is its own series (anomaly_gan_inference_seconds counts the current model's only)
    assert get("anomaly_gan_shadow_inference_seconds_count") == 1
    sh.compare(windows[:0], current.score_windows(windows[:0]))  # no windows: no call
    assert get("anomaly_gan_shadow_inference_seconds_count") == 1


def test_an_incompatible_shadow_is_switched_off_not_fatal():
    reg = CollectorRegistry()
    sh = ShadowScorer(reg, FixedModel("v2", 1.0, window=3), SCORE_BUCKETS)
    sh.check(FixedModel("v1", 1.0, window=2))
    sh.compare(np.zeros((4, 2, 1)), SimpleNamespace(is_anomaly=np.zeros(4, bool)))
    assert not sh.active
    assert reg.get_sample_value("anomaly_gan_shadow_windows_scored_total") == 0
    # it keeps its model_info: the gauge says it scores nothing, until a model it fits is back
    assert reg.get_sample_value("anomaly_gan_shadow_active") == 0
    sh.check(FixedModel("v3", 1.0, window=3))
    assert reg.get_sample_value("anomaly_gan_shadow_active") == 1


def test_a_shadow_switched_off_says_why_without_reload_advice(caplog):
    """The reason came from the hot reload's check, with its advice ("restart serve with
    it", "restart serve to change it"), which does nothing for a shadow: the shadow can only
    score windows of the served model's kind, features and window."""
    from anomaly_gan.config import LogsConfig

    logs = FixedModel("v2", 1.0)
    logs.extras, logs.config = {"logs": {}}, SimpleNamespace(logs=LogsConfig())
    for shadow in (logs, FixedModel("v3", 1.0, window=3)):
        caplog.clear()
        with caplog.at_level("ERROR", logger="anomaly_gan.stream.shadow"):
            ShadowScorer(CollectorRegistry(), shadow, SCORE_BUCKETS).check(FixedModel("v1", 1.0))
        [line] = [r.getMessage() for r in caplog.records]
        assert line.startswith(f"shadow model {shadow.version} switched off: it cannot score "
                               f"the served model's windows: "), line
        assert "restart serve" not in line and "replace" not in line, line


def test_the_scoring_loop_feeds_shadow_and_drift_and_alerts_only_from_current():
    from prometheus_client import CollectorRegistry as Registry

    from anomaly_gan.config import config_from_dict
    from anomaly_gan.stream.app import Scorer
    from anomaly_gan.stream.metrics import StreamMetrics
    from tests.support.stream_fakes import FakeIO, FakeModel, events

    class RefModel(FakeModel):
        def __init__(self, version, threshold):
            super().__init__(version)
            self.threshold = threshold
            rng = np.random.default_rng(0)
            self.metadata = {"reference": reference_histograms(
                rng.normal(size=(1000, 2)), self.feature_names, rng.normal(size=1000))}

    cfg = config_from_dict({"serve": {"batching": {"max_batch": 64, "max_latency_ms": 0},
                                      "alerts": {"consecutive": 1, "cooldown_seconds": 0.0}}}).serve
    reg = Registry()
    rows = [(t, 20.0 if t % 2 else 1.0) for t in range(300)]  # every other window over 10
    io = FakeIO([events(rows)])
    clock = Clock()
    scorer = Scorer(cfg, RefModel("v1", 10.0), io, StreamMetrics(reg),
                    shadow=ShadowScorer(reg, RefModel("v2", 100.0), SCORE_BUCKETS),
                    drift=DriftMonitor(reg, DriftConfig(), clock))
    scorer.step()
    scorer._score_batch()
    scorer._housekeeping()
    get = reg.get_sample_value
    alerts = [json.loads(v) for t, _, v, _ in io.sent if t == cfg.kafka.alert_topic]
    assert alerts and {a["model_version"] for a in alerts} == {"v1"}
    assert get("anomaly_gan_shadow_windows_scored_total") == 298
    assert get("anomaly_gan_shadow_agreement_total", {"outcome": "current_only"}) == len(alerts)
    assert get("anomaly_gan_shadow_anomalies_total") == 0
    assert get("anomaly_gan_score_drift_psi") > 1.0  # scores of 1 and 20 vs N(0, 1)
    assert get("anomaly_gan_feature_drift_psi", {"feature": "b"}) > 1.0  # always 0.0



class BrokenModel(FixedModel):
    def score_windows(self, w):
        raise RuntimeError("shadow network broke")


def test_a_shadow_that_fails_at_every_batch_is_counted_each_time_and_logged_once(caplog):
    reg = CollectorRegistry()
    sh = ShadowScorer(reg, BrokenModel("v2", 1.0), SCORE_BUCKETS)
    sh.check(FixedModel("v1", 1.0))
    windows = np.zeros((4, 2, 1))
    current = SimpleNamespace(is_anomaly=np.zeros(4, bool))
    with caplog.at_level("ERROR", logger="anomaly_gan.stream.shadow"):
        for _ in range(5):
            sh.compare(windows, current)
    assert reg.get_sample_value("anomaly_gan_shadow_errors_total") == 5
    # a traceback per batch (several a second under load) buried the scorer's own lines
    assert len(caplog.records) == 1 and "logged once" in caplog.records[0].getMessage()
    # once it scores again, a later failure is news and is logged again
    sh.det = FixedModel("v2", 1.0)
    sh.compare(windows, current)
    sh.det = BrokenModel("v2", 1.0)
    with caplog.at_level("ERROR", logger="anomaly_gan.stream.shadow"):
        sh.compare(windows, current)
    assert len(caplog.records) == 2


def test_a_shadow_that_cannot_be_loaded_leaves_serve_alerting_without_it(tmp_path, caplog):
    """A pruned or damaged shadow bundle stopped serve at start (BundleError, exit 2), so a
    restarted scorer sent no alert at all; it is now one line, one counted error, no shadow."""
    from anomaly_gan.config import config_from_dict
    from anomaly_gan.stream.app import Scorer
    from anomaly_gan.stream.metrics import StreamMetrics
    from anomaly_gan.stream.service import _shadow
    from tests.support.stream_fakes import FakeIO, FakeModel, events

    missing = tmp_path / "store" / "v7"
    cfg = config_from_dict({"serve": {"shadow_model_path": str(missing),
                                      "batching": {"max_batch": 64, "max_latency_ms": 0},
                                      "alerts": {"consecutive": 1, "cooldown_seconds": 0.0}}}
                           ).serve
    reg = CollectorRegistry()
    with caplog.at_level("ERROR", logger="anomaly_gan.stream"):
        shadow = _shadow(cfg, reg)
    [line] = caplog.records
    assert line.getMessage() == (f"serve.shadow_model_path: {missing}: model path does not "
                                 "exist; serving without a shadow model")
    assert reg.get_sample_value("anomaly_gan_shadow_errors_total") == 1
    assert not any(s.name == "anomaly_gan_shadow_model_info"
                   for m in reg.collect() for s in m.samples)
    assert reg.get_sample_value("anomaly_gan_shadow_active") == 0
    io = FakeIO([events([(t, 20.0) for t in range(4)])])
    scorer = Scorer(cfg, FakeModel("v1"), io, StreamMetrics(reg), shadow=shadow)
    scorer.step()
    scorer._score_batch()
    assert [t for t, *_ in io.sent].count(cfg.kafka.alert_topic) == 2
    assert reg.get_sample_value("anomaly_gan_shadow_windows_scored_total") == 0
