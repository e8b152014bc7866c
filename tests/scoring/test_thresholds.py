import numpy as np
import pytest

from anomaly_gan.scoring.thresholds import (
    Threshold,
    fit_pot_threshold,
    fit_quantile_threshold,
    fit_threshold,
)


def test_quantile_threshold():
    s = np.random.default_rng(0).normal(size=100_000)
    t = fit_quantile_threshold(s, 0.99)
    assert t.value == pytest.approx(2.326, abs=0.03)
    assert Threshold.from_dict(t.to_dict()) == t


def test_pot_recovers_exponential_tail_quantile():
    # Exponential(1): exceedance P(X > z) = exp(-z), so risk 1e-4 -> z = ln(1e4) = 9.21,
    # beyond any sample quantile the data can give directly at this sample size.
    s = np.random.default_rng(1).exponential(1.0, 20_000)
    t = fit_pot_threshold(s, initial_quantile=0.98, risk=1e-4)
    assert t.method == "pot" and t.details["peaks"] > 300
    assert abs(t.details["gamma"]) < 0.15
    assert t.value == pytest.approx(np.log(1e4), rel=0.12)


def test_pot_on_pareto_heavy_tail():
    # Pareto with shape a=3 (x >= 1): P(X > z) = z^-3, so risk 1e-4 -> z = 10000^(1/3) = 21.5
    s = np.random.default_rng(2).pareto(3.0, 50_000) + 1.0
    t = fit_pot_threshold(s, 0.98, 1e-4)
    assert t.details["gamma"] == pytest.approx(1 / 3, abs=0.12)
    assert t.value == pytest.approx(21.54, rel=0.25)


def test_dispatch_and_nonfinite_ignored():
    s = np.concatenate([np.arange(100.0), [np.nan, np.inf]])
    assert fit_threshold(s, "quantile", quantile=0.5).value == pytest.approx(49.5)
    with pytest.raises(ValueError):
        fit_threshold(s, "magic")
