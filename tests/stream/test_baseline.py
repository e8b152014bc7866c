"""anomaly_gan_baseline_drift: recent scores against the calibration's median and spread."""

import math
from types import SimpleNamespace

import numpy as np
from prometheus_client import CollectorRegistry, Gauge

from anomaly_gan.stream.baseline import BaselineDrift, baseline_stats


def model(quantiles):
    return SimpleNamespace(calibration=SimpleNamespace(severity_quantiles=quantiles))


def gauge():
    reg = CollectorRegistry()
    return Gauge("drift", "test", registry=reg), lambda: reg.get_sample_value("drift")


def test_the_gauge_is_the_recent_median_in_robust_units_of_the_calibration():
    g, value = gauge()
    drift = BaselineDrift(g, size=4)
    drift.set_model(model([0.0, 1.0, 2.0, 3.0, 4.0]))  # median 2, IQR 2
    drift.refresh()
    assert value() == 0.0  # nothing scored yet: left at its initial value
    drift.observe(np.array([100.0] * 3))
    drift.observe(np.array([100.0] * 2 + [5.0] * 4))  # only the newest 4 count (all: 100)
    drift.refresh()
    assert np.isclose(value(), (5.0 - 2.0) / (2.0 / 1.349))


def test_a_reload_drops_the_old_models_scores_and_reads_nan_until_the_new_one_scores():
    """A reload kept the old model's recent scores and measured them against the new
    model's calibration: after a retrain onto a new normal (which the old model scored
    high) the gauge stayed drifted until about 512 windows of the new model were in, and
    AnomalyGanBaselineDrift fired after the retrain it asked for."""
    g, value = gauge()
    drift = BaselineDrift(g, size=8)
    drift.set_model(model([0.0, 1.0, 2.0, 3.0, 4.0]))  # median 2, IQR 2
    drift.observe(np.full(6, 8.0))  # the old model scores the new normal high
    drift.refresh()
    assert np.isclose(value(), (8.0 - 2.0) / (2.0 / 1.349))
    drift.set_model(model([6.0, 7.0, 8.0, 9.0, 10.0]))  # the retrain: median 8, IQR 2
    assert math.isnan(value())
    drift.refresh()
    assert math.isnan(value())  # nothing scored by the new model yet
    drift.observe(np.full(2, 8.5))
    drift.refresh()
    assert np.isclose(value(), (8.5 - 8.0) / (2.0 / 1.349))  # its own scores only


def test_a_model_without_quantiles_measures_raw_scores():
    assert baseline_stats(SimpleNamespace()) == (0.0, 1.0)
    assert baseline_stats(model([3.0] * 5)) == (3.0, 1.0)  # no spread: unit scale


def test_unscorable_windows_count_in_the_recent_median():
    """An unscorable window (+inf, a reading past float32 in the model) was left out of the
    median: with 600 of the last 1,024 windows unscorable, or all of them, the gauge read 0,
    "looks like the training baseline", and AnomalyGanBaselineDrift stayed quiet."""
    g, value = gauge()
    drift = BaselineDrift(g)
    drift.set_model(model([0.0, 1.0, 2.0, 3.0, 4.0]))
    drift.observe(np.full(1024, 2.0))
    drift.refresh()
    assert value() == 0.0
    scores = np.full(1024, 2.0)
    scores[:600] = np.inf
    drift.observe(scores)
    drift.refresh()
    assert value() == np.inf
    drift.observe(np.full(1024, np.inf))
    drift.refresh()
    assert value() == np.inf
    drift.observe(np.full(1024, 2.0))  # scorable again: back to the baseline
    drift.refresh()
    assert value() == 0.0
