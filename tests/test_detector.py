import dataclasses

import numpy as np
import pytest

from anomaly_gan.data import sliding_windows
from anomaly_gan.errors import DataError
from anomaly_gan.scoring import TWO_SIDED
from tests.support_models import normal_series


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


def _spiked(det, at, rows=300):
    """A normal series with rpm spiked by 8 standard deviations at row ``at``; the
    unspiked reading and rpm's standard deviation."""
    from tests.support_models import normal_series

    x = normal_series(rows, seed=5)
    sd = x[:, 1].std()
    before = x[at, 1]
    x[at, 1] += 8 * sd
    return x, before, sd


@pytest.mark.parametrize("after", [0, 3])
def test_an_alert_says_how_far_off_its_spiked_feature_is_in_its_own_units(tiny_detector, after):
    """An alert named `rpm` and nothing about how far off it was. Its values now say it:
    observed is the spiked reading itself (also when the window ends 3 rows later: the row
    farthest from the reconstruction, with rows_before_end), expected is near the normal
    reading, both in rpm, not in scaled units."""
    det, at = tiny_detector, 200
    x, normal, sd = _spiked(det, at)
    res = det.score_series(x)
    end = at + after
    assert res.is_anomaly[end] and res.top_features[end][0] == "rpm"
    window = x[None, end - det.window + 1:end + 1]
    (values,) = det.feature_values(window, [res.top_features[end]])
    assert [v["feature"] for v in values] == res.top_features[end]
    rpm = values[0]
    assert rpm["observed"] == x[at, 1] and rpm["rows_before_end"] == after
    assert abs(rpm["expected"] - normal) < sd  # the model's guess: about the normal reading
    assert rpm["observed"] - rpm["expected"] > 6 * sd
    for v in values:  # every named feature's numbers are its readings and the model's
        assert v["observed"] == x[end - v["rows_before_end"], det.feature_names.index(v["feature"])]
        assert v["expected"] is not None and np.isfinite(v["expected"])


def test_feature_values_unscale_the_reconstruction_the_scorer_uses(tiny_detector):
    """expected = the scorer network's reconstruction, unscaled with the bundle's scaler."""
    det = tiny_detector
    x, _, _ = _spiked(det, 100)
    windows = sliding_windows(x, det.window, 1)[80:90]
    tops = [list(det.feature_names)] * len(windows)
    got = det.feature_values(windows, tops)
    out = det.nets["scorer"](det.scaler.transform(windows), training=False)
    recon = det.scaler.inverse_transform(np.asarray(out["reconstruction"]))
    for i, values in enumerate(got):
        for j, v in enumerate(values):
            row = det.window - 1 - v["rows_before_end"]
            assert v["expected"] == pytest.approx(recon[i, row, j], rel=1e-5, abs=1e-6)
            assert v["observed"] == windows[i, row, j]
    assert det.feature_values(windows[:0], []) == []


def test_a_feature_named_for_going_still_gets_its_movement_not_an_expected_value(tiny_detector):
    """`flow` stuck at one reading is named by the quiet component: no reconstruction flagged
    it, so there is no expected value; its movement (0) and its normal movement say why."""
    from tests.support_models import normal_series

    det, end = tiny_detector, 250
    y = normal_series(300, seed=5)
    y[150:260, 2] = y[150, 2]
    res = det.score_series(y)
    assert res.is_anomaly[end] and "flow" in res.top_features[end]
    (values,) = det.feature_values(y[None, end - det.window + 1:end + 1],
                                   [res.top_features[end]])
    flow = next(v for v in values if v["feature"] == "flow")
    assert flow["expected"] is None and flow["observed"] == y[150, 2]
    assert flow["movement"] == 0.0
    # the training rows' flow moves ~0.3 a row; the low end of normal is some of that
    steps = np.abs(np.diff(normal_series(800)[:, 2])).mean()
    assert 0.05 * steps < flow["normal_movement"] < steps


def test_a_window_the_network_cannot_compute_names_the_reading_without_an_expected_value(
        tiny_detector):
    det = tiny_detector
    x, _, _ = _spiked(det, 100)
    x[100, 1] = 1e39
    window = x[None, 100 - det.window + 3:103]  # the reading 2 rows before the end
    (values,) = det.feature_values(window, [["rpm"]])
    assert values == [{"feature": "rpm", "observed": 1e39, "expected": None,
                       "rows_before_end": 2}]


@pytest.mark.parametrize("every", [1, 3])
def test_flagged_windows_are_reduced_once_for_their_extremes(tiny_detector, monkeypatch,
                                                             every):
    """The flagged windows' largest and smallest readings serve both measures of how far out
    a feature lies (spreads from the centre, spreads past the training range): one
    ``nanmax`` and one ``nanmin`` over the windows, not two of each, and no copy when every
    window is flagged (an alert burst: the four reductions were a sixth of the model
    thread's time per window). The glitched feature still ranks first."""
    from anomaly_gan.data.windows import sliding_windows
    from tests.support_models import normal_series

    det = tiny_detector
    x = normal_series(120, seed=3)
    x[60, 1] = 1e6
    windows = sliding_windows(x, det.window, 1)
    flagged = np.zeros(len(windows), bool)
    flagged[::every] = True
    contributions = np.zeros((len(windows), det.n_features))
    reduced = []
    for name in ("nanmax", "nanmin"):
        real = getattr(np, name)
        monkeypatch.setattr(np, name, lambda a, *args, real=real, name=name, **kw: (
            reduced.append(name) if np.ndim(a) == 3 else None) or real(a, *args, **kw))
    out = det._extremes_first(windows, flagged, contributions)
    assert sorted(reduced) == ["nanmax", "nanmin"]
    hit = [i for i in range(60 - det.window + 1, 61) if flagged[i]]
    assert hit and all(np.argmax(out[i]) == 1 for i in hit)
    # with no other contribution, a flagged window's features carry their rank: spreads
    # from the centre past EXTREME_SPREADS, spreads past the range past OUT_OF_RANGE_SPREADS
    from anomaly_gan.data.scaling import EXTREME_SPREADS
    from anomaly_gan.detector import OUT_OF_RANGE_SPREADS

    far = (np.abs(windows[flagged] - det.scaler.center) / det.scaler.scale).max(axis=1)
    beyond = det.scaler.beyond_range(windows[flagged])
    rank = np.maximum(np.where(far > EXTREME_SPREADS, far, 0.0),
                      np.where(beyond > OUT_OF_RANGE_SPREADS, beyond, 0.0))
    assert np.array_equal(out[flagged], rank) and not out[~flagged].any()


def test_score_series_reports_each_chunk_it_scored(tiny_detector):
    """score, evaluate and plot show progress from these calls on a long file."""
    from anomaly_gan.detector import _CHUNK

    calls = []
    rows = np.tile(normal_series(500), (_CHUNK // 500 + 2, 1))
    res = tiny_detector.score_series(rows, lambda done, total: calls.append((done, total)))
    windows = len(rows) - tiny_detector.window + 1
    assert calls == [(_CHUNK, windows), (windows, windows)]
    np.testing.assert_array_equal(res.score, tiny_detector.score_series(rows).score)


@pytest.mark.parametrize("chunk", [7, 64, 10_000])
def test_a_series_scored_in_chunks_gets_the_scores_of_its_windows_scored_at_once(
        tiny_detector, monkeypatch, chunk):
    """score_series fills one array per result as each chunk is scored (no list of chunk
    results joined at the end, which held them twice); every row gets what the windows
    scored in one call give it, the rows before the first window nothing."""
    from anomaly_gan import detector

    x = normal_series(300)
    x[200:204, 1] += 40.0  # flagged windows, with features named
    whole = tiny_detector.score_windows(sliding_windows(x, tiny_detector.window, 1))
    assert whole.is_anomaly.any()
    monkeypatch.setattr(detector, "_CHUNK", chunk)
    res = tiny_detector.score_series(x)
    pad = tiny_detector.window - 1
    assert len(res) == len(x)
    assert np.isnan(res.score[:pad]).all() and not res.is_anomaly[:pad].any()
    assert np.isnan(res.contributions[:pad]).all() and res.top_features[:pad] == [[]] * pad
    np.testing.assert_array_equal(res.score[pad:], whole.score)
    np.testing.assert_array_equal(res.is_anomaly[pad:], whole.is_anomaly)
    np.testing.assert_array_equal(res.severity[pad:], whole.severity)
    np.testing.assert_array_equal(res.contributions[pad:], whole.contributions)
    assert res.components.keys() == whole.components.keys()
    for name, values in whole.components.items():
        np.testing.assert_array_equal(res.components[name][pad:], values, err_msg=name)
        assert np.isnan(res.components[name][:pad]).all()
    assert res.top_features[pad:] == whole.top_features[:]


def test_a_series_holds_its_scores_once_while_it_is_scored(tiny_detector, monkeypatch):
    """The chunks' results were kept in a list and joined at the end: every score,
    component, contribution and feature index held twice at once. Python's allocations
    are counted (tracemalloc); the model's own (TensorFlow's) are not."""
    import tracemalloc

    from anomaly_gan import detector

    monkeypatch.setattr(detector, "_CHUNK", 256)
    x = np.tile(normal_series(500), (40, 1))
    tiny_detector.score_series(x[:1000])  # traced and compiled outside the count
    tracemalloc.start()
    try:
        res = tiny_detector.score_series(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    held = (res.score.nbytes + res.is_anomaly.nbytes + res.severity.nbytes
            + res.contributions.nbytes + res.top_features.indices.nbytes
            + sum(v.nbytes for v in res.components.values()))
    assert peak < 1.5 * held + (1 << 20), f"{peak >> 10} KiB for {held >> 10} KiB of results"


def test_a_feature_at_its_one_training_value_is_named_last(tiny_detector, monkeypatch):
    """A feature that held one value in every training row and holds it through a flagged
    window did not change (a logs model's 'other' and 'unseen' at 0): it was named 2nd or
    3rd in 306 and 248 of 480 flagged windows of bench/logs_explain.py where no such line
    was in the window, its reconstruction error z-scored against errors near 0. It ranks
    below every other feature of the flagged windows; the scores are not touched."""
    import dataclasses

    from anomaly_gan.data.windows import sliding_windows
    from tests.support_models import normal_series

    det = tiny_detector
    x = normal_series(60, seed=4)
    x[:, 2] = 0.0
    windows = sliding_windows(x, det.window, 1)
    low = np.asarray(det.scaler.low if det.scaler.low is not None else x.min(axis=0), float)
    high = np.asarray(det.scaler.high if det.scaler.high is not None else x.max(axis=0), float)
    low, high = low.copy(), high.copy()
    low[2] = high[2] = 0.0
    monkeypatch.setattr(det, "scaler", dataclasses.replace(det.scaler, low=low, high=high))
    flagged = np.zeros(len(windows), bool)
    flagged[::2] = True
    contributions = np.tile(np.arange(det.n_features, dtype=float), (len(windows), 1))
    contributions[:, 2] = 50.0  # the largest error
    out = det._extremes_first(windows, flagged, contributions)
    assert all(np.argsort(-out[i], kind="stable")[-1] == 2 for i in np.flatnonzero(flagged))
    assert np.array_equal(out[~flagged], contributions[~flagged])  # not flagged: as scored
    others = [j for j in range(det.n_features) if j != 2]
    assert np.array_equal(out[flagged][:, others], contributions[flagged][:, others])
    x[10, 2] = 1.0  # it moved in these windows: ranked by its error again
    moved = sliding_windows(x, det.window, 1)
    out = det._extremes_first(moved, flagged, contributions)
    rows = [i for i in np.flatnonzero(flagged) if i <= 10 < i + det.window]
    assert rows and all(np.argmax(out[i]) == 2 for i in rows)


def test_features_out_of_range_beside_one_near_the_float64_limit_keep_their_order():
    """Out-of-range features rank first by how far out they lie. Their rank was added to
    the window's largest contribution, theirs included: beside a sentinel of 1e308 (a
    double's maximum standing for 'missing') the others' ranks vanished in 1e308 + rank,
    and they were named in column order (explain spec fuzz, seeds 9, 103, 207, 307)."""
    from anomaly_gan.data.scaling import Scaler
    from tests.support.detectors import untrained_detector

    det = untrained_detector()
    det.scaler = Scaler("robust", np.zeros(3), np.ones(3), low=-np.ones(3), high=np.ones(3))
    window = np.zeros((1, det.window, 3))
    window[0, 3] = [1e308, 50.0, 1e5]  # out by 1e308, 49 and 1e5 spreads
    contributions = np.array([[1e308, 2.0, 1.0]])  # an unscorable window ranks by spreads
    out = det._extremes_first(window, np.array([True]), contributions)
    assert np.argsort(-out[0], kind="stable").tolist() == [0, 2, 1]
