import numpy as np
import pytest

from anomaly_gan.scoring import (
    RobustStats,
    combine,
    fit_robust_stats,
    low_floors,
    raw_components,
    severity,
    top_features,
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


def test_explanations_and_severity():
    assert top_features(np.array([[1.0, 5.0, 3.0], [9.0, 0.0, 1.0]]), ["a", "b", "c"], 2) == [["b", "c"], ["a", "c"]]
    q = np.quantile(np.random.default_rng(0).normal(size=5000), np.linspace(0, 1, 201))
    sev = severity(np.array([0.0, 2.33, 50.0, np.nan]), q)
    assert 45 < sev[0] < 55 and 98 < sev[1] <= 100 and sev[2] == 100 and np.isnan(sev[3])
