import numpy as np
import pytest

from anomaly_gan.scoring.thresholds import (
    NO_SPREAD_MARGIN,
    Threshold,
    fit_pot_threshold,
    fit_quantile_threshold,
    fit_threshold,
)


def test_quantile_threshold():
    s = np.random.default_rng(0).normal(size=100_000)
    t = fit_quantile_threshold(s, 0.99)
    assert t.value == pytest.approx(2.326, abs=0.03)
    assert "extrapolated" not in t.details
    assert Threshold.from_dict(t.to_dict()) == t


def test_a_short_sample_extrapolates_the_quantile_from_its_tail():
    # 29 scores (the held-out windows of a 300-row baseline) cannot show a 0.995 quantile:
    # the sample quantile is about their largest, which Exponential(1) data exceeds with
    # probability exp(-value), about 1/30. Fitted from the tail, the threshold is exceeded
    # about as rarely as asked (not exactly: ten points make a noisy tail).
    rng = np.random.default_rng(3)
    fitted = [fit_quantile_threshold(rng.exponential(1.0, 29), 0.995) for _ in range(500)]
    assert all(t.details["extrapolated"] and t.details["tail_peaks"] == 9 for t in fitted)
    assert all(t.value >= t.details["empirical"] for t in fitted)
    sample_exceeded = np.mean([np.exp(-t.details["empirical"]) for t in fitted])
    fitted_exceeded = np.mean([np.exp(-t.value) for t in fitted])
    assert sample_exceeded > 0.025
    assert 0.002 < fitted_exceeded < 0.015


def test_too_few_scores_for_a_tail_keep_the_sample_quantile():
    t = fit_quantile_threshold(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 0.995)
    assert "extrapolated" not in t.details and t.value == pytest.approx(4.98)


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


def test_pot_on_tiny_scores_scales_with_them():
    """Two peaks get the exponential tail of their mean excess. The mean was floored at
    1e-12, so scores of 1e-20 (spread 1e-18) got a threshold 6e-12 over them, six million
    times their range: nothing normal or anomalous at that scale ever crossed it (found by
    the spec fuzz, seed 607: scores near 1e-300)."""
    s = np.arange(100.0)
    assert fit_pot_threshold(s * 1e-20, 0.98, 1e-3).value == pytest.approx(
        fit_pot_threshold(s, 0.98, 1e-3).value * 1e-20, rel=1e-12)


@pytest.mark.parametrize("factor", [1e300, 1e30, 1e-30])
def test_pot_on_huge_and_tiny_scores_scales_with_them(factor):
    """The Pareto fit is scale-free (the shape stays, the scale scales), so scores times
    ``factor`` get the threshold times ``factor``. scipy's fit of peaks near 1e300 started
    from a variance that overflowed to inf and ended at gamma clipped to 1 with a scale of
    1e19, 280 orders below the peaks: the threshold fell to the initial quantile, which the
    top 2% of normal scores crossed (found by the spec fuzz, seeds 600092 and 600761; at
    1e30 too, seed 600208); peaks of 1e-30 were all "the same" to an absolute tolerance of
    1e-8 and got the exponential tail (seed 600036)."""
    s = np.random.default_rng(3).pareto(3.0, 3_000) + 1.0
    unit, scaled = fit_pot_threshold(s, 0.98, 1e-3), fit_pot_threshold(s * factor, 0.98, 1e-3)
    assert scaled.details["gamma"] == pytest.approx(unit.details["gamma"], rel=1e-6)
    assert scaled.details["sigma"] == pytest.approx(unit.details["sigma"] * factor, rel=1e-6)
    assert scaled.value == pytest.approx(unit.value * factor, rel=1e-6)


def test_pot_falls_back_to_an_exponential_tail_where_the_pareto_fit_fails(monkeypatch):
    # scipy raises FitError (a RuntimeError) when the optimiser lands outside the support;
    # the threshold must still be set, from the peaks' mean excess, not end training.
    from scipy import stats

    def fails(*args, **kwargs):
        raise stats.FitError("Optimization converged to parameters outside the range")

    monkeypatch.setattr(stats.genpareto, "fit", fails)
    s = np.random.default_rng(1).exponential(1.0, 20_000)
    t = fit_pot_threshold(s, initial_quantile=0.98, risk=1e-4)
    assert t.details["gamma"] == 0.0
    assert t.details["sigma"] == pytest.approx(1.0, rel=0.15)
    assert t.value == pytest.approx(np.log(1e4), rel=0.15)


@pytest.mark.parametrize("method", ["quantile", "pot"])
def test_normal_scores_without_spread_leave_a_margin_for_round_off(method):
    """On an entirely constant training series every held-out window scored 0 and the
    threshold was 0: a window that the network's float round-off moved by 1e-6 was over it.
    Scores with any spread keep the threshold of the method alone."""
    t = fit_threshold(np.zeros(185), method)
    assert t.value == NO_SPREAD_MARGIN and t.details["no_spread_margin"] == NO_SPREAD_MARGIN
    assert fit_threshold(np.full(15, 2.5), method).value == 2.5 + NO_SPREAD_MARGIN
    s = np.random.default_rng(0).exponential(size=185)
    plain = (fit_quantile_threshold(s, 0.995) if method == "quantile"
             else fit_pot_threshold(s, 0.98, 1e-3))
    assert fit_threshold(s, method) == plain


@pytest.mark.parametrize("kind", ["pareto", "uniform"])
def test_a_clipped_pareto_shape_gets_the_scale_that_fits_best_at_that_shape(kind):
    """The shape is held to -0.5..1 (a few dozen peaks cannot tell a heavier or shorter
    tail); the scale must then be the most likely one at the held shape. It was the scale
    fitted with the unheld shape: on 7 scores (spec fuzz, seed 600567) gamma -2.2 became
    -0.5 with a scale of 8.65, where 2.62 is the most likely at -0.5 (threshold 17.5, now
    5.5). Pareto draws of index 0.5 (peaks with gamma 2) and uniform ones (gamma -1) have
    their shape held at either end."""
    from scipy import stats

    rng = np.random.default_rng(5)
    s = rng.pareto(0.5, 5_000) + 1.0 if kind == "pareto" else rng.uniform(size=5_000)
    t = fit_pot_threshold(s, 0.98, 1e-3)
    gamma, sigma = t.details["gamma"], t.details["sigma"]
    assert gamma == (1.0 if kind == "pareto" else -0.5)
    excess = s[s > t.details["initial"]] - t.details["initial"]
    fitted = stats.genpareto.logpdf(excess, gamma, 0.0, sigma).sum()
    for factor in [0.5, 0.8, 0.9, 0.99, 0.999, 1.001, 1.01, 1.1, 1.25, 2.0]:
        assert fitted >= stats.genpareto.logpdf(excess, gamma, 0.0, sigma * factor).sum(), factor


def test_a_pareto_shape_beyond_its_range_gets_the_most_likely_fit_within_it():
    """Where scipy's shape lies beyond -0.5..1, the fit must be the most likely one within
    the range, not scipy's shape clipped to its nearer end: on these 5 peaks (spec fuzz,
    seed 23) scipy's shape 3.35 was held at 1, where -0.48 is the most likely shape in the
    range and even the exponential tail (shape 0) is more likely than the held fit
    (log-likelihood -0.279 at 1, -0.252 exponential, -0.197 at -0.48; threshold 57.9, now
    1.2)."""
    from scipy import stats

    peaks = np.array([0.0012, 0.0053, 0.4038, 0.5242, 1.0])
    t = fit_pot_threshold(np.concatenate([np.zeros(6), peaks]), 0.5, 1e-3)
    assert t.details["initial"] == 0.0 and t.details["peaks"] == 5
    fitted = stats.genpareto.logpdf(peaks, t.details["gamma"], 0.0, t.details["sigma"]).sum()
    assert fitted >= stats.genpareto.logpdf(peaks, 0.0, 0.0, peaks.mean()).sum()
    gammas, sigmas = np.linspace(-0.5, 1.0, 31), np.geomspace(1e-3, 10.0, 200)
    grid = stats.genpareto.logpdf(peaks[:, None, None], gammas[:, None], 0.0, sigmas).sum(axis=0)
    assert fitted >= grid.max() - 1e-9, (fitted, grid.max())
