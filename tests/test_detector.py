import dataclasses

import numpy as np
import pytest

from anomaly_gan.data import sliding_windows
from anomaly_gan.errors import DataError
from anomaly_gan.scoring import TWO_SIDED


def test_causal_scoring_row_t_is_window_ending_at_t(tiny_detector):
    det = tiny_detector
    x = np.random.default_rng(0).normal(size=(60, 3)) * 10
    res = det.score_series(x)
    t = 40
    single = det.score_windows(x[None, t - det.window + 1 : t + 1])
    assert res.score[t] == pytest.approx(single.score[0], abs=1e-6)
    # Changing a later row never changes an earlier score.
    y = x.copy()
    y[t + 1 :] += 100
    np.testing.assert_array_equal(det.score_series(y).score[: t + 1], res.score[: t + 1])


def test_shape_errors(tiny_detector):
    with pytest.raises(DataError, match="expected 3 features"):
        tiny_detector.score_series(np.zeros((40, 2)))
    with pytest.raises(DataError, match="need at least one window of 16 rows"):
        tiny_detector.score_series(np.zeros((5, 3)))
    with pytest.raises(DataError, match=r"expected shape \(n, 16, 3\)"):
        tiny_detector.score_windows(np.zeros((2, 8, 3)))
    assert len(tiny_detector.score_windows(np.zeros((0, 16, 3)))) == 0


def test_a_stuck_signal_is_flagged_though_it_reconstructs_well(tiny_detector):
    """Every sensor stuck at its median: the model reproduces that far better than any normal
    window, so one-sided errors rank it below normal; two-sided scoring flags it."""
    from tests.support_models import normal_series

    x = normal_series(400, seed=5)
    x[200:260] = np.median(x, axis=0)
    res = tiny_detector.score_series(x)
    stuck = slice(200 + tiny_detector.window, 260)  # windows wholly inside the stuck stretch
    assert res.is_anomaly[stuck].mean() >= 0.9
    # The same model's errors one-sided and averaged over features (no floors, no worst
    # feature; without quiet and knn, which see stillness on their own): the stuck stretch
    # scores below normal on every error, and as normal or below overall.
    cal = tiny_detector.calibration
    errors_only = dataclasses.replace(
        cal, floors={}, feature_errors=None, quiet=None,
        weights={k: v for k, v in cal.weights.items() if k in TWO_SIDED})
    comps, per_feature, activity = tiny_detector.raw_scores(
        sliding_windows(x, tiny_detector.window, 1))
    z, _, one_sided = errors_only.combine(comps, per_feature, activity)
    inside = slice(stuck.start - (tiny_detector.window - 1), stuck.stop - (tiny_detector.window - 1))
    assert all((z[k][inside] < 0).all() for k in TWO_SIDED if k in z)
    assert (one_sided[inside] > tiny_detector.threshold).mean() <= 0.1
    assert res.is_anomaly[tiny_detector.window:190].mean() <= 0.05


def test_one_sensor_stuck_at_its_last_value_is_flagged_and_named(tiny_detector):
    """The quiet component: one of three sensors holds its last value for 80 rows while the
    others move on; the windows wholly inside are flagged and that sensor is named first."""
    from tests.support_models import normal_series

    det = tiny_detector
    x = normal_series(400, seed=6)
    x[200:280, 2] = x[199, 2]
    res = det.score_series(x)
    inside = slice(200 + det.window, 280)
    assert res.is_anomaly[inside].mean() >= 0.9
    assert (res.components["quiet"][inside] > 0).all()
    assert all(names[0] == det.feature_names[2] for names in res.top_features[inside])
    assert (res.components["quiet"][det.window:190] == 0).mean() >= 0.95


@pytest.mark.parametrize("reading", [1e20, 1e39])
def test_a_reading_past_float32_is_flagged_and_named_not_dropped(tiny_detector, reading):
    """A reading far enough out overflows float32 inside the network: 1e39 is past float32
    itself, and 1e20 overflows some networks (its square does; the default conv1d gave
    infinite components on it, this tiny one does not). The components then come out NaN or
    infinite, and a NaN score flagged nothing, so the most extreme windows of the series
    were the ones never alerted on. Now they are flagged with severity 100 and the sensor
    that holds the reading named first, scoring +inf where the network could not compute."""
    from anomaly_gan.evaluate import evaluate_scores
    from tests.support_models import normal_series

    det = tiny_detector
    x = normal_series(300, seed=8)
    x[150, 1] = reading
    res = det.score_series(x)
    hit = slice(150, 150 + det.window)  # the windows that hold row 150
    if reading > float(np.finfo(np.float32).max):
        assert np.isposinf(res.score[hit]).all()
    assert (res.score[hit] > det.threshold).all()
    assert res.is_anomaly[hit].all() and (res.severity[hit] == 100).all()
    assert all(names[0] == det.feature_names[1] for names in res.top_features[hit])
    rest = np.r_[det.window - 1:150, 150 + det.window:300]
    assert np.isfinite(res.score[rest]).all()
    assert np.isnan(res.score[:det.window - 1]).all()  # before the first window: no score
    labels = np.zeros(300, int)
    labels[hit] = 1
    metrics = evaluate_scores(res.score, labels, det.threshold)
    assert metrics["auc_roc"] == 1.0 and metrics["recall"] == 1.0
    assert metrics["unscored_rows"] == det.window - 1


def test_a_window_whose_components_come_out_nan_is_flagged_not_dropped(tiny_detector,
                                                                       monkeypatch):
    """The default conv1d network gave NaN components for a 1e39 reading (where this small
    one gives +inf), and a NaN score flagged nothing. Forced here: the first window's
    components come out NaN; it must score +inf, be flagged and name the far sensor."""
    from tests.support_models import normal_series

    det = tiny_detector
    windows = sliding_windows(normal_series(60, seed=9), det.window).copy()
    windows[0, -1, 2] = 1e39
    real = det.raw_scores

    def nan_in_first(raw, reference_codes=None):
        comps, per_feature, activity = real(raw, reference_codes)
        comps = {k: np.where(np.arange(len(v)) == 0, np.nan, v) for k, v in comps.items()}
        per_feature = per_feature.copy()
        per_feature[0] = np.nan
        return comps, per_feature, activity

    monkeypatch.setattr(det, "raw_scores", nan_in_first)
    res = det.score_windows(windows)
    assert np.isposinf(res.score[0]) and res.is_anomaly[0] and res.severity[0] == 100
    assert res.top_features[0][0] == det.feature_names[2]
    assert np.isfinite(res.score[1:]).all()
