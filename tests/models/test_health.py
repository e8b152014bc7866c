"""Each health detector fires on a history that shows its failure and stays quiet otherwise."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from anomaly_gan.data.windows import sliding_windows
from anomaly_gan.models.health import (
    assess_health,
    chance_skill,
    discriminator_collapse,
    linear_skill,
    non_finite_losses,
    reconstruction_skill,
    variance_ratio,
)

RNG = np.random.default_rng(0)
REAL = RNG.standard_normal((64, 8, 2))


def _healthy_history() -> dict[str, list[float]]:
    return {"d_loss": [0.69, 0.62, 0.6, 0.63, 0.61], "adv_loss": [0.3, 0.2, 0.1, 0.08, 0.07],
            "rec_loss": [0.5, 0.3, 0.2, 0.15, 0.12], "val_rec_loss": [0.5, 0.3, 0.2, 0.16, 0.13]}


def _assess(history: dict[str, list[float]], generated: np.ndarray) -> dict:
    return assess_health(history, disc_loss_key="d_loss", adv_loss_key="adv_loss",
                         samples={"reconstruction": generated}, reference=REAL)


def test_healthy_run_is_healthy_and_json_able() -> None:
    health = _assess(_healthy_history(), REAL + 0.1 * RNG.standard_normal(REAL.shape))
    assert health["status"] == "healthy"
    assert health["issues"] == []
    assert health["final_losses"]["val_rec_loss"] == 0.13
    assert math.isclose(health["min_disc_loss"], 0.6)
    assert 0.9 < health["variance_ratio"]["reconstruction"] < 1.2
    json.dumps(health, allow_nan=False)


def test_non_finite_loss_is_reported_by_name() -> None:
    history = _healthy_history()
    history["adv_loss"][-1] = float("nan")
    history["rec_loss"][-1] = float("inf")
    assert non_finite_losses(history) == ["adv_loss", "rec_loss"]
    health = _assess(history, REAL)
    assert health["status"] == "unhealthy"
    assert any("non-finite" in issue and "adv_loss" in issue for issue in health["issues"])
    assert health["final_losses"]["rec_loss"] is None  # JSON-able, not inf
    json.dumps(health, allow_nan=False)


def test_discriminator_collapse_needs_tiny_d_loss_and_growing_adversarial_loss() -> None:
    history = _healthy_history()
    history["d_loss"] = [0.6, 0.1, 5e-4, 2e-4, 1e-4]
    history["adv_loss"] = [0.1, 0.4, 0.9, 1.5, 2.4]
    health = _assess(history, REAL)
    assert health["status"] == "unhealthy"
    assert any("discriminator collapse" in issue for issue in health["issues"])
    assert health["min_disc_loss"] == 1e-4
    # A brief dip, or a tiny loss while the generator keeps up, is not a collapse.
    assert not discriminator_collapse([0.6, 1e-4, 0.5, 0.6], [0.1, 0.4, 0.9, 1.5])
    assert not discriminator_collapse([0.6, 1e-4, 1e-4, 1e-4], [2.0, 1.0, 0.5, 0.2])


def test_mode_collapse_fires_on_near_constant_outputs() -> None:
    one_window = np.repeat(REAL[:1], len(REAL), axis=0) + 1e-3 * RNG.standard_normal(REAL.shape)
    health = _assess(_healthy_history(), one_window)
    assert health["status"] == "unhealthy"
    assert any("mode collapse" in issue for issue in health["issues"])
    assert health["variance_ratio"]["reconstruction"] < 1e-3


def test_variance_ratio_edge_cases() -> None:
    assert variance_ratio(REAL, np.zeros_like(REAL)) == float("inf")
    assert math.isnan(variance_ratio(np.full_like(REAL, np.nan), REAL))
    nan_health = _assess(_healthy_history(), np.full_like(REAL, np.nan))
    assert nan_health["status"] == "unhealthy"
    assert nan_health["variance_ratio"]["reconstruction"] is None


def test_wgan_critic_is_not_judged_by_bce_collapse() -> None:
    history = {"c_loss": [-5.0, -1e-5, -1e-5, -1e-5], "g_loss": [0.1, 1.0, 2.0, 3.0]}
    assert assess_health(history)["status"] == "healthy"


def _telemetry_beside_flags(n: int = 64, window: int = 16, flags: int = 20) -> np.ndarray:
    """One moving channel beside rarely-set 0/1 flags, like NASA's command columns."""
    rng = np.random.default_rng(1)
    t = np.arange(window)[None, :, None]
    moving = np.sin(0.4 * t + rng.uniform(0, 6, (n, 1, 1)))
    rare = (rng.random((n, window, flags)) < 0.03).astype(float)
    return np.concatenate([moving, rare], axis=2)


def test_mostly_constant_features_do_not_fool_mode_collapse() -> None:
    real = _telemetry_beside_flags()
    flat = real.reshape(-1, real.shape[2])
    median = np.broadcast_to(np.median(flat, axis=0), real.shape)
    mean = np.broadcast_to(flat.mean(axis=0), real.shape)
    # Learns the moving channel, predicts the flags' constant median (their L1 optimum): healthy.
    learnt = median.copy()
    learnt[..., 0] = real[..., 0] + 0.05 * RNG.standard_normal(real[..., 0].shape)
    good = assess_health(_healthy_history(), samples={"reconstruction": learnt}, reference=real)
    assert good["status"] == "healthy", good["issues"]
    assert good["reconstruction_skill"]["overall"] > 0.3
    assert good["reconstruction_skill"]["moving_features"] == real.shape[2]
    # Ignores its input (a constant window): collapse, whatever the flags do.
    for constant in (mean, median):
        bad = assess_health(_healthy_history(), samples={"reconstruction": constant},
                            reference=real)
        assert bad["status"] == "unhealthy"
        assert any("ignores its input" in issue for issue in bad["issues"])
        assert bad["reconstruction_skill"]["overall"] < 1e-9
    assert abs(reconstruction_skill(mean, real)[0]) < 1e-9


def test_a_model_that_fits_only_what_it_saw_is_told_apart_from_one_that_ignores_input() -> None:
    """Both fail on the held-out windows; the training windows' skill says which failure it
    is (a 200-sensor series of 17 unrelated cycles: 0.96 of the training windows' variance
    explained, -0.05 of the held-out windows', and the issue said "ignores its input")."""
    real = _telemetry_beside_flags()
    mean = np.broadcast_to(real.reshape(-1, real.shape[2]).mean(axis=0), real.shape)
    for fitted, cause in (((real, real), "overfitting: "), ((real, mean), "mode collapse: ")):
        bad = assess_health(_healthy_history(), samples={"reconstruction": mean},
                            reference=real, fitted=fitted)
        assert bad["status"] == "unhealthy"
        [issue] = [i for i in bad["issues"] if "held-out data's variance" in i]
        assert issue.startswith(cause), issue
        assert ("does not generalise" in issue) == (cause == "overfitting: ")
        assert ("ignores its input" in issue) == (cause == "mode collapse: ")
        assert bad["reconstruction_skill"]["training_windows"] == (
            1.0 if cause == "overfitting: " else pytest.approx(0.0, abs=1e-9))


def test_reconstruction_skill_per_feature_and_edge_cases() -> None:
    real = _telemetry_beside_flags(flags=2)
    skill, per_feature = reconstruction_skill(real, real)
    assert skill == 1.0 and np.allclose(per_feature, 1.0)
    constant = np.zeros((8, 4, 2))
    skill, per_feature = reconstruction_skill(constant, constant)
    assert skill == float("inf") and np.isnan(per_feature).all()
    assert math.isnan(reconstruction_skill(np.full_like(real, np.nan), real)[0])


def test_held_out_drift_is_not_mode_collapse() -> None:
    """A short series whose held-out tail moved away from the training level: a model that
    tracks its input is healthy against the training mean (what a collapsed generator
    predicts), though the held-out data's own mean, an oracle, would beat it."""
    train = _telemetry_beside_flags()
    held = train.copy()
    held[..., 0] = 0.3 * held[..., 0] - 1.5  # quieter and lower than in training
    baseline = train.reshape(-1, train.shape[2]).mean(axis=0)
    tracking = np.array(np.broadcast_to(baseline, held.shape))  # rare flags: their mean
    tracking[..., 0] = held[..., 0] + 0.3  # follows the input, biased towards training levels
    good = assess_health(_healthy_history(), samples={"reconstruction": tracking},
                         reference=held, baseline=baseline)
    assert good["status"] == "healthy", good["issues"]
    assert reconstruction_skill(tracking, held)[0] < 0.1  # the oracle calls it collapsed
    collapsed = np.broadcast_to(baseline, held.shape)
    bad = assess_health(_healthy_history(), samples={"reconstruction": collapsed},
                        reference=held, baseline=baseline)
    assert bad["status"] == "unhealthy"


def _sliding(x: np.ndarray) -> np.ndarray:
    return sliding_windows(x, 16)


def test_nothing_to_learn_is_not_called_collapse() -> None:
    """A stuck sensor with rare blips beside randomly set flags: no reconstruction can beat
    the constant window, so the constant window is not a collapse (it used to be refused);
    on data with structure the same constant window still is."""
    from tests.support_models import plant_series, stuck_series

    x = stuck_series(1500)
    train, held = _sliding(x[:1200]), _sliding(x[1200:])
    baseline = x[:1200].mean(axis=0)
    constant = np.broadcast_to(baseline, held.shape)
    assert linear_skill(train, held, baseline) < 0.1
    health = assess_health(_healthy_history(), samples={"reconstruction": constant},
                           reference=held, baseline=baseline, train=train)
    assert health["status"] == "healthy", health["issues"]
    assert health["reconstruction_skill"]["required"] is None  # reported, not judged
    assert abs(health["reconstruction_skill"]["overall"]) < 0.05

    y = plant_series(1500)
    train, held = _sliding(y[:1200]), _sliding(y[1200:])
    baseline = y[:1200].mean(axis=0)
    assert linear_skill(train, held, baseline) > 0.5
    bad = assess_health(_healthy_history(),
                        samples={"reconstruction": np.broadcast_to(baseline, held.shape)},
                        reference=held, baseline=baseline, train=train)
    assert bad["status"] == "unhealthy"
    assert bad["reconstruction_skill"]["required"] == 0.1
    assert "linear reconstruction explains" in bad["issues"][0]


def test_little_structure_lowers_the_minimum_skill() -> None:
    """Where a linear reconstruction explains 0.1-0.2 above chance, the minimum is half of
    that excess, not 0.1 (nor half the raw linear skill, which counts what it explains by
    chance): here a faint wave shared by 20 noisy features. The constant window still fails
    it; a reconstruction that follows the wave at a third of its amplitude (over half of
    what there is to learn, but under half the raw linear skill) passes."""
    rng = np.random.default_rng(3)
    t = np.arange(1500)
    wave = 0.55 * np.sin(2 * np.pi * t / 50)[:, None] * np.ones((1, 20))
    x = wave + rng.normal(size=(1500, 20))
    train, held = _sliding(x[:1200]), _sliding(x[1200:])
    baseline = x[:1200].mean(axis=0)
    linear, chance = linear_skill(train, held, baseline), chance_skill(train, held, baseline)
    excess = (linear - chance) / (1 - chance)
    assert 0.1 <= excess < 0.2 and chance > 0.02
    report = assess_health(_healthy_history(),
                           samples={"reconstruction": np.broadcast_to(baseline, held.shape)},
                           reference=held, baseline=baseline, train=train)
    assert report["reconstruction_skill"]["required"] == 0.5 * excess
    assert report["status"] == "unhealthy"
    assert "above chance" in report["issues"][0]

    signal = _sliding(0.35 * wave[1200:] + baseline)  # some of the wave, none of the noise
    fit = assess_health(_healthy_history(), samples={"reconstruction": signal},
                        reference=held, baseline=baseline, train=train)
    skill = fit["reconstruction_skill"]["overall"]
    assert 0.5 * excess <= skill < 0.5 * linear, (skill, excess, linear)
    assert fit["status"] == "healthy", fit["issues"]


def test_what_a_linear_map_explains_by_chance_is_not_structure() -> None:
    """A setpoint sitting still under white noise (a short baseline that never saw it move):
    a rank-16 projection keeps a share of any noise (16 of the 48 dimensions of these
    windows), so the linear skill alone called it learnable and a model that could not beat
    the constant window was refused. Above chance there is nothing: reported, not judged.
    A faint wave in one noisy channel of eight is likewise too little to judge."""
    rng = np.random.default_rng(5)
    x = np.array([50.0, 100.0, 25.0]) + rng.normal(0.0, [0.05, 0.1, 0.05], size=(600, 3))
    train, held = _sliding(x[:480]), _sliding(x[480:])
    baseline = x[:480].mean(axis=0)
    linear, chance = linear_skill(train, held, baseline), chance_skill(train, held, baseline)
    assert linear >= 0.1  # judged before
    assert abs(linear - chance) < 0.05
    noisy = held + rng.normal(0.0, 0.1, held.shape)  # reconstructions worse than the constant
    report = assess_health(_healthy_history(), samples={"reconstruction": noisy},
                           reference=held, baseline=baseline, train=train)
    assert report["status"] == "healthy", report["issues"]
    assert report["reconstruction_skill"]["required"] is None
    assert report["reconstruction_skill"]["overall"] < 0
    assert report["reconstruction_skill"]["linear_by_chance"] == chance

    t = np.arange(1500)
    y = np.column_stack([np.sin(2 * np.pi * t / 50) + rng.normal(size=1500),
                         rng.normal(size=(1500, 7))])
    train, held = _sliding(y[:1200]), _sliding(y[1200:])
    baseline = y[:1200].mean(axis=0)
    assert linear_skill(train, held, baseline) >= 0.1
    faint = assess_health(_healthy_history(),
                          samples={"reconstruction": np.broadcast_to(baseline, held.shape)},
                          reference=held, baseline=baseline, train=train)
    assert faint["reconstruction_skill"]["required"] is None


def _svd_fails(*args: object, **kwargs: object) -> None:
    raise np.linalg.LinAlgError("SVD did not converge")


def test_linear_skill_falls_back_to_the_qr_driver_where_the_default_svd_fails(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """LAPACK's divide-and-conquer SVD failed to converge on a NASA channel at window 64
    (652 of 1,600 columns constant) and `train` ended with a traceback. The QR-iteration
    driver gives the same axes; where that fails too the skill is unknown (nan), and the
    health check judges against the plain minimum instead of raising."""
    import scipy.linalg

    t = np.arange(900)
    y = np.column_stack([np.sin(2 * np.pi * t / 40), np.cos(2 * np.pi * t / 40),
                         (t % 97 == 0).astype(float)]) + RNG.normal(0.0, 0.05, (900, 3))
    train, held = _sliding(y[:700]), _sliding(y[700:])
    baseline = y[:700].mean(axis=0)
    expected = linear_skill(train, held, baseline)
    monkeypatch.setattr(np.linalg, "svd", _svd_fails)
    assert linear_skill(train, held, baseline) == pytest.approx(expected, abs=1e-9)

    monkeypatch.setattr(scipy.linalg, "svd", _svd_fails)
    assert math.isnan(linear_skill(train, held, baseline))
    flat = np.broadcast_to(baseline, held.shape)  # ignores its input
    report = assess_health(_healthy_history(), samples={"reconstruction": flat},
                           reference=held, baseline=baseline, train=train)
    assert report["reconstruction_skill"]["linear_rank16"] is None
    assert report["reconstruction_skill"]["required"] == 0.1
    assert report["status"] == "unhealthy"
    good = assess_health(_healthy_history(), samples={"reconstruction": held},
                         reference=held, baseline=baseline, train=train)
    assert good["status"] == "healthy", good["issues"]
