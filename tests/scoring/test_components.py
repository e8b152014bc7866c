import json

import numpy as np
import pytest

from anomaly_gan.data import sliding_windows
from anomaly_gan.scoring import (
    FeatureErrors,
    QuietFeatures,
    RobustStats,
    combine,
    fit_component_stats,
    fit_feature_errors,
    fit_quiet_features,
    fit_robust_stats,
    fit_severity_quantiles,
    low_floors,
    raw_components,
    severity,
    standardise_components,
    top_features,
    window_activity,
)


def test_raw_components_from_outputs():
    x = np.zeros((2, 4, 3), np.float32)
    rec = x.copy()
    rec[1, :, 2] = 2.0  # window 1 badly reconstructed on feature 2
    outs = {"reconstruction": rec, "features_real": np.zeros((2, 5)), "features_fake": np.ones((2, 5)),
            "latent": np.zeros((2, 2)), "latent_hat": np.full((2, 2), 3.0)}
    comps, per_feature = raw_components(x, outs)
    np.testing.assert_allclose(comps["reconstruction"], [0, 2 / 3])
    np.testing.assert_allclose(comps["discriminator"], [1, 1])
    np.testing.assert_allclose(comps["latent"], [9, 9])
    np.testing.assert_allclose(per_feature[1], [0, 0, 2])
    outs.pop("latent"), outs.pop("latent_hat")
    assert "latent" not in raw_components(x, outs)[0]


def test_robust_standardisation_and_weights():
    rng = np.random.default_rng(0)
    normal = rng.normal(5, 2, 10_000)
    st = fit_robust_stats(normal)
    z = st.standardise(normal)
    assert abs(np.median(z)) < 0.02 and 0.95 < np.std(z) < 1.05
    assert RobustStats.from_dict(st.to_dict()).median == st.median
    flat = fit_robust_stats(np.ones(10))
    assert flat.scale == 1.0
    c = combine({"reconstruction": np.array([1.0, 2.0]), "discriminator": np.array([3.0, 6.0])},
                {"reconstruction": 1.0, "discriminator": 0.5, "latent": 1.0})
    np.testing.assert_allclose(c, [(1 + 1.5) / 1.5, (2 + 3) / 1.5])


def test_two_sided_components_count_below_their_floor():
    z = {"reconstruction": np.array([-9.0, -4.0, 0.0, 4.0]), "knn": np.array([-9.0, 0.0, 0.0, 4.0])}
    w = {"reconstruction": 1.0, "knn": 1.0}
    np.testing.assert_allclose(combine(z, w), [-9.0, -2.0, 0.0, 4.0])
    # 5 below the floor counts like 5 above the median; halfway down counts as typical
    np.testing.assert_allclose(combine(z, w, floors={"reconstruction": -4.0}),
                               [(5.0 - 9.0) / 2, 0.0, 0.0, 4.0])
    training = {k: np.linspace(-6.0, 6.0, 1201) for k in ("reconstruction", "latent", "knn")}
    floors = low_floors(training, ["reconstruction", "latent", "knn", "discriminator"])
    # knn (a distance to normal codes: small = typical) never counts both ways
    assert set(floors) == {"reconstruction", "latent"}
    assert floors["latent"] == pytest.approx(-6.0 + 0.01 * 12.0)


def test_max_share_gives_a_fault_in_one_component_its_weight_back():
    """A fault that shows in one component only: the weighted mean of four dilutes it to a
    quarter, inside the others' ordinary spread; with max_share the largest component keeps
    that share of the score. Floors apply before the maximum (a window far below its floor
    is the largest), and max_share 0 is the weighted mean exactly."""
    rng = np.random.default_rng(0)
    names = ("reconstruction", "discriminator", "latent", "knn")
    w = dict.fromkeys(names, 1.0)
    normal = {k: rng.normal(size=2000) for k in names}
    fault = {k: rng.normal(size=200) for k in names}
    fault["reconstruction"] += 6.0  # only one component sees it
    caught = {}
    for share in (0.0, 0.5):
        thr = np.quantile(combine(normal, w, max_share=share), 0.995)
        caught[share] = (combine(fault, w, max_share=share) > thr).mean()
    assert caught[0.0] < 0.8 and caught[0.5] > 0.98, caught
    np.testing.assert_array_equal(combine(normal, w, max_share=0.0), combine(normal, w))
    z = {"reconstruction": np.array([-9.0, 1.0]), "knn": np.array([0.0, 3.0])}
    np.testing.assert_allclose(combine(z, {"reconstruction": 1.0, "knn": 1.0},
                                       floors={"reconstruction": -4.0}, max_share=1.0), [5.0, 3.0])
    # a component without weight takes no part in the maximum either
    np.testing.assert_allclose(combine(z, {"reconstruction": 0.0, "knn": 1.0}, max_share=1.0),
                               [0.0, 3.0])


def test_explanations_and_severity():
    assert top_features(np.array([[1.0, 5.0, 3.0], [9.0, 0.0, 1.0]]), ["a", "b", "c"], 2) == [["b", "c"], ["a", "c"]]
    q = np.quantile(np.random.default_rng(0).normal(size=5000), np.linspace(0, 1, 201))
    sev = severity(np.array([0.0, 2.33, 50.0, np.nan]), q)
    assert 45 < sev[0] < 55 and 98 < sev[1] <= 100 and sev[2] == 100 and np.isnan(sev[3])


def test_severity_of_tied_normal_scores_is_their_middle():
    """Held-out scores that are mostly one value (a channel that sat still): a score equal
    to them is typical, not the most severe; one above them all is 100; between two tied
    runs it rises from the top of the first run's levels to the bottom of the second's."""
    q = np.concatenate([np.zeros(101), np.ones(100)])  # levels 0-50 at 0, 50.5-100 at 1
    sev = severity(np.array([-1.0, 0.0, 0.5, 1.0, 1.5]), q)
    np.testing.assert_allclose(sev, [0.0, 25.0, 50.25, 75.25, 100.0])
    assert severity(np.array([0.0]), np.zeros(201))[0] == 50.0


def test_a_tied_run_of_normal_scores_leaves_the_next_score_above_it():
    """Held-out scores 0 on 99.5% of the windows (a channel that sat still) and one at 1: a
    score just above 0 lies above 99.5% of the normal scores, so its severity is at least
    99.5, as it is 100 where every normal score is 0. It was 49.75 (the line from the
    middle of the zeros' levels to the 1), lower than the same score's 100 over normal
    scores that never moved at all."""
    stored = np.concatenate([np.zeros(200), [1.0]])
    sev = severity(np.array([0.0, 1e-9, 0.5, 1.0]), stored)
    np.testing.assert_allclose(sev, [49.75, 99.5, 99.75, 100.0], atol=1e-6)
    assert severity(np.array([1e-9]), np.zeros(201))[0] == 100.0


def test_severity_quantiles_leave_out_unscorable_normal_scores():
    """A held-out window the network could not compute (+inf) put +inf and NaN among the
    stored quantiles (numpy interpolates toward +inf), which ``load_bundle`` refuses."""
    scores = np.concatenate([np.arange(50.0), [np.inf]])
    stored = fit_severity_quantiles(scores)
    assert np.isfinite(stored).all()
    np.testing.assert_array_equal(stored, np.quantile(np.arange(50.0), np.linspace(0, 1, 201)))


def _errors(rng, n, scales):
    """Per-feature reconstruction errors ``(n, F)``: log-normal around each feature's level
    (about +-30% from window to window)."""
    return np.exp(0.3 * rng.normal(size=(n, len(scales)))) * np.asarray(scales)


def test_one_faulty_sensor_among_many_quiet_ones_is_not_averaged_away():
    """One telemetry channel beside 24 command flags: a 5x error on the telemetry channel
    moves the mean over features by a few percent, inside the flags' ordinary noise; the
    worst-feature component puts it far out and names that feature."""
    rng = np.random.default_rng(0)
    scales = [0.05] + [0.2] * 24  # the flags' errors are larger and noisier
    held, seen = _errors(rng, 2000, scales), _errors(rng, 2000, scales)
    fe = fit_feature_errors(held, seen)
    test = _errors(rng, 200, scales)
    test[100:, 0] *= 5.0  # the telemetry channel goes wrong in the second half
    mean_stats = fit_robust_stats(np.log(held.mean(axis=1)))
    mean_z = mean_stats.standardise(np.log(test.mean(axis=1)))
    assert np.median(mean_z[100:]) < 1.0  # averaged away
    z = fe.feature_z(test)
    worst = fe.component(z)
    assert np.median(worst[100:]) > 3.0 and np.median(worst[:100]) < 1.0
    assert (z[100:].argmax(axis=1) == 0).mean() > 0.95  # the explanation names it


def test_worst_feature_is_two_sided_per_feature_and_round_trips():
    rng = np.random.default_rng(1)
    scales = [1.0, 1.0, 1.0]
    held, seen = _errors(rng, 1000, scales), _errors(rng, 1000, scales)
    test = _errors(rng, 10, scales)
    test[:, 2] = 1e-6  # one sensor reproduced far better than ever in training: stuck
    two = fit_feature_errors(held, seen)
    one = fit_feature_errors(held, None)
    assert one.floors is None and two.floors is not None and two.floors.shape == (3,)
    assert (two.component(two.feature_z(test)) > 3.0).all()
    assert (two.feature_z(test).argmax(axis=1) == 2).all()
    assert (one.component(one.feature_z(test)) < 3.0).all()  # one-sided: looks fine
    back = FeatureErrors.from_dict(json.loads(json.dumps(two.to_dict())))
    np.testing.assert_array_equal(back.feature_z(test), two.feature_z(test))
    assert FeatureErrors.from_dict(json.loads(json.dumps(one.to_dict()))).floors is None


def test_statistics_see_every_normal_regime_of_the_training_period():
    """The held-out tail saw one regime (quiet nights). The training windows span nights and
    busy days, on which the reconstruction error is 4x larger; the latent error is alike in
    both. A fault shows in the latent error only (3x). On held-out statistics alone a normal
    day's reconstruction error sits ~4.6 sigma out, above the fault's latent error (~3.7), so
    the fault ranks below normal days and 94% of them alarm. Pooled with the training
    windows (lower errors: the model fitted them, but every regime), the reconstruction's
    scale spans both regimes and the fault ranks first (measured AUC 0.37 -> 0.98, days over
    the held-out 0.995 quantile 94% -> 6%, faults 86% -> 92%)."""
    rng = np.random.default_rng(5)

    def errors(n, level):  # log-normal errors around a regime's level
        return level * np.exp(0.3 * rng.normal(size=n))

    held = {"reconstruction": errors(200, 1.0), "latent": errors(200, 1.0)}
    training = {"reconstruction": np.concatenate([errors(400, 0.8), errors(400, 3.2)]),
                "latent": errors(800, 0.9)}
    day = {"reconstruction": errors(500, 4.0), "latent": errors(500, 1.0)}
    fault = {"reconstruction": errors(50, 1.0), "latent": errors(50, 3.0)}
    weights = {"reconstruction": 1.0, "latent": 1.0}
    for pooled in (False, True):
        stats = fit_component_stats(held, training if pooled else None)

        def score(c, stats=stats):
            return combine(standardise_components(c, stats), weights, None, 0.5)

        threshold = np.quantile(score(held), 0.995)
        days_over = (score(day) > threshold).mean()
        ranked_first = (score(fault)[:, None] > score(day)[None, :]).mean()  # the AUC
        if pooled:
            assert ranked_first > 0.95 and days_over < 0.1
            assert (score(fault) > threshold).mean() > 0.9
        else:
            assert ranked_first < 0.5 and days_over > 0.5
    # knn (a distance to the training windows' own codes) is never pooled, even when given.
    knn = fit_component_stats({"knn": held["latent"]}, {"knn": training["latent"]})["knn"]
    assert knn.median == pytest.approx(np.median(np.log(held["latent"])))


def _plant(rng, n, rows=32):
    """Windows of a noisy moving sensor, a slow one and a rarely-set 0/1 flag."""
    t = np.arange(n)[:, None] + np.arange(rows)[None, :]
    moving = np.sin(t / 5.0) + rng.normal(0, 0.1, (n, rows))
    slow = np.sin(t / 200.0) + rng.normal(0, 0.01, (n, rows))
    flag = (rng.random((n, rows)) < 0.02).astype(float)
    return np.stack([moving, slow, flag], axis=-1)


def test_a_feature_gone_still_is_deep_and_named_while_normal_windows_are_not():
    rng = np.random.default_rng(3)
    q = fit_quiet_features(_plant(rng, 2000))
    normal = _plant(rng, 500)
    depth = q.depth(np.asarray(window_activity(normal)))
    assert (q.component(depth) == 0).mean() >= 0.99  # normal movement: 0 for nearly all
    for col in (0, 1):  # the moving sensor, then the slow one, stuck at their last value
        stuck = normal[:50].copy()
        stuck[:, :, col] = stuck[:, :1, col]
        d = q.depth(np.asarray(window_activity(stuck)))
        assert (q.component(d) > 3).all() and (d.argmax(axis=1) == col).all()
    # A flag that is often silent in training is never "quiet", however long it stays 0.
    silent = normal[:50].copy()
    silent[:, :, 2] = 0.0
    assert (q.depth(np.asarray(window_activity(silent)))[:, 2] == 0).all()


def test_a_sensor_stuck_on_a_daily_cycle_is_deep():
    """A daily cycle of plateaus and ramps (range +-50) with unit noise: the noise on the
    plateaus is its quietest normal movement, about 2% of the cycle's spread. Stuck at one
    reading, it is far below that. "No movement" is measured against the feature's usual
    movement (1% of it), not its spread: with 1% of the spread the stuck window sat only 2x
    below the plateaus' noise and its depth was 2.7, not the > 10 of a stuck noisy sensor."""
    rng = np.random.default_rng(0)
    t = np.arange(3000)

    def cycle(shift):
        x = 50 * np.clip(2 * np.sin(2 * np.pi * (t + shift) / 288), -1, 1)
        return sliding_windows((x + rng.normal(0, 1, len(t)))[:, None], 32)

    q = fit_quiet_features(cycle(0))
    stuck = np.full((1, 32, 1), 40.0)
    assert q.depth(np.asarray(window_activity(stuck)))[0, 0] > 10
    normal = cycle(7)
    assert (q.component(q.depth(np.asarray(window_activity(normal)))) == 0).mean() >= 0.99


def test_a_feature_moving_a_few_times_slower_than_in_training_is_not_quiet():
    """A telemetry value that moves alike in every training window (a steady ramp) has a
    tiny spread of log movement. At a 0.05 floor on that scale, moving 2-3 times slower
    than in any training window scored 10-20 points: on outside NASA channels (F-3, T-13,
    C-2) the component fired on 49-100% of the normal test windows. A stuck sensor is still
    deep."""
    rng = np.random.default_rng(5)

    def ramp(slope, rows=3000):
        x = slope * np.arange(rows) + rng.normal(0, 0.05 * slope, rows)
        return sliding_windows(x[:, None], 32)

    q = fit_quiet_features(ramp(0.01))
    slower = q.component(q.depth(np.asarray(window_activity(ramp(0.005)))))
    assert (slower == 0).mean() >= 0.99
    stuck = np.full((1, 32, 1), 3.0)
    assert q.component(q.depth(np.asarray(window_activity(stuck))))[0] > 10


def test_quiet_features_do_not_depend_on_units_and_round_trip():
    rng = np.random.default_rng(4)
    train, test = _plant(rng, 1000), _plant(rng, 40)
    test[:20, :, 0] = test[:20, :1, 0]
    q = fit_quiet_features(train)
    units = np.array([1000.0, 0.001, 1.0])
    q2 = fit_quiet_features(train * units)
    np.testing.assert_allclose(q2.depth(np.asarray(window_activity(test * units))),
                               q.depth(np.asarray(window_activity(test))), atol=1e-6)
    back = QuietFeatures.from_dict(json.loads(json.dumps(q.to_dict())))
    act = np.asarray(window_activity(test))
    np.testing.assert_array_equal(back.depth(act), q.depth(act))
