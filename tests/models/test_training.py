"""Training behaviour a user would notice: reproducibility, precision, stopping, learning."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from anomaly_gan.models import FAnoGAN, build_gan, fit_gan, raw_outputs
from anomaly_gan.models import inference_networks as nets_of
from anomaly_gan.models.base import GANBase
from anomaly_gan.models.training import FitResult
from tests.models.helpers import KINDS, sine_windows, tiny_model, tiny_training


def _weights(gan: keras.Model) -> list[np.ndarray]:
    return [w for net in gan.networks.values() for w in net.get_weights()]


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_training_run(kind: str, windows: np.ndarray) -> None:
    def run() -> tuple[list[np.ndarray], dict[str, list[float]], np.ndarray]:
        training = tiny_training(seed=3, epochs=2)
        gan = build_gan(tiny_model(kind), training, 9, 3)
        fit = fit_gan(gan, windows[:32], windows[32:], training)
        _no_update_skipped(fit, gan)  # float32: no loss scaling
        return _weights(gan), fit.history, raw_outputs(kind, nets_of(gan), windows)["reconstruction"]

    first, history_1, out_1 = run()
    second, history_2, out_2 = run()
    # Weights and outputs are bit-identical. A reported validation loss has been seen to
    # differ in its last float32 bit between runs (the validation pass's reduction order is
    # not pinned by op determinism), so losses are compared to float32 rounding.
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    np.testing.assert_array_equal(out_1, out_2)
    assert history_1.keys() == history_2.keys()
    for key in history_1:
        np.testing.assert_allclose(history_1[key], history_2[key], rtol=1e-6, err_msg=key)


def test_seed_sets_the_initial_weights() -> None:
    def init(seed: int) -> list[np.ndarray]:
        return _weights(build_gan(tiny_model(), tiny_training(seed=seed), 9, 3))

    first, again, other = init(3), init(3), init(4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


@pytest.mark.slow  # trains a model
@pytest.mark.parametrize("kind", KINDS)
def test_mixed_float16_uses_an_active_loss_scale_per_optimizer(kind: str,
                                                               windows: np.ndarray) -> None:
    training = tiny_training(precision="mixed_float16")
    gan = build_gan(tiny_model(kind), training, 9, 3)
    optimizers = gan.optimizers()
    assert len(optimizers) == (3 if kind == "fanogan" else 2)
    assert len({id(o) for o in optimizers.values()}) == len(optimizers)
    for optimizer in optimizers.values():
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        assert float(optimizer.dynamic_scale.numpy()) == 2.0**15
    hidden = [layer for net in gan.networks.values() for layer in net.layers
              if "conv" in layer.name]
    assert hidden and all(layer.compute_dtype == "float16" for layer in hidden)

    fit = fit_gan(gan, windows[:32], windows[32:], training)
    assert fit.precision == "mixed_float16"
    assert all(np.isfinite(v).all() for v in fit.history.values())
    for optimizer in optimizers.values():
        # Only updates that went through the loss scaler's finite-gradient path count here.
        assert int(optimizer.step_counter.numpy()) > 0
    out = gan(windows[:4])
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


@pytest.mark.slow  # trains a model
@pytest.mark.parametrize("kind", KINDS)
def test_updates_the_loss_scaler_skipped_are_counted_and_judged(kind: str) -> None:
    """A LossScaleOptimizer skips an update whose float16 gradients overflowed (and halves
    its scale); the health report said nothing of it (21 of 2,000 updates in one run at the
    default step floor). Here each scale doubles after every finite update, so about every
    other update overflows and is skipped: far more than health allows."""
    training = tiny_training(precision="mixed_float16", epochs=6, batch_size=16)
    gan = build_gan(tiny_model(kind), training, 16, 3)
    for optimizer in gan.optimizers().values():
        optimizer.dynamic_growth_steps = 1
    windows = sine_windows(256, 16, 3)
    fit = fit_gan(gan, windows[:224], windows[224:], training)
    counts = fit.health["skipped_updates"]
    assert counts.keys() == gan.optimizers().keys()
    for name, optimizer in gan.optimizers().items():
        applied = int(keras.ops.convert_to_numpy(optimizer.iterations))
        assert counts[name]["steps"] - counts[name]["skipped"] == applied, (name, counts)
    # 14 steps an epoch; f-AnoGAN's critic updates n_critic (2) times a step, its encoder
    # trains in a phase of its own
    steps = 14 * fit.epochs_run
    if kind == "ganomaly":
        assert {n: c["steps"] for n, c in counts.items()} == {"discriminator": steps,
                                                              "generator": steps}
    skipping = [n for n, c in counts.items() if c["skipped"] > max(16, 0.1 * c["steps"])]
    assert skipping, counts
    issues = [i for i in fit.health["issues"] if i.startswith("loss scaling skipped")]
    assert len(issues) == len(skipping) and fit.health["status"] == "unhealthy"
    assert all(f" {n} updates (" in " ".join(issues) for n in skipping), issues


def _no_update_skipped(fit: FitResult, gan: GANBase) -> None:
    """Without loss scaling (float32, mixed_bfloat16) every optimizer's updates are counted
    and none is skipped (f-AnoGAN's critic updates n_critic (2) times a step)."""
    counts = fit.health["skipped_updates"]
    assert counts.keys() == gan.optimizers().keys()
    assert all(c["skipped"] == 0 and c["steps"] > 0 for c in counts.values()), counts
    if "critic" in counts:
        assert counts["critic"]["steps"] == 2 * counts["generator"]["steps"]
    assert not any(i.startswith("loss scaling") for i in fit.health["issues"])


@pytest.mark.slow
def test_mixed_bfloat16_runs_without_loss_scaling(windows: np.ndarray) -> None:
    training = tiny_training(precision="mixed_bfloat16")
    gan = build_gan(tiny_model("fanogan", "dense"), training, 9, 3)
    assert not any(isinstance(o, keras.optimizers.LossScaleOptimizer)
                   for o in gan.optimizers().values())
    dense = [layer for net in gan.networks.values() for layer in net.layers
             if layer.name.startswith("dense_")]
    assert dense and all(layer.compute_dtype == "bfloat16" for layer in dense)
    fit = fit_gan(gan, windows[:32], windows[32:], training)
    assert all(np.isfinite(v).all() for v in fit.history.values())
    _no_update_skipped(fit, gan)
    out = raw_outputs("fanogan", nets_of(gan), windows)
    assert out["reconstruction"].dtype == np.float32


@pytest.mark.slow
def test_fanogan_encoder_phase_freezes_generator_and_critic(windows: np.ndarray) -> None:
    training = tiny_training()
    gan = build_gan(tiny_model("fanogan"), training, 9, 3)
    assert isinstance(gan, FAnoGAN)
    gan.set_phase("gan")
    gan.fit(windows, epochs=1, batch_size=16, verbose=0)
    frozen = {n: gan.networks[n].get_weights() for n in ("generator", "critic")}
    encoder = gan.networks["encoder"].get_weights()
    gan.set_phase("encoder")
    history = gan.fit(windows, epochs=1, batch_size=16, verbose=0).history
    assert set(history) == {"izi_loss", "rec_loss", "feat_loss"}
    for name, before in frozen.items():
        after = gan.networks[name].get_weights()
        assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True)), name
    assert not all(np.array_equal(a, b) for a, b in
                   zip(encoder, gan.networks["encoder"].get_weights(), strict=True))
    assert all(net.trainable for net in gan.networks.values())


@pytest.mark.slow
@pytest.mark.parametrize("kind,backbone", [("ganomaly", "conv1d"), ("fanogan", "dense")])
def test_short_fit_learns_an_easy_signal(kind: str, backbone: str) -> None:
    window, n_features = 16, 2
    train = sine_windows(320, window, n_features, seed=1)
    val = sine_windows(64, window, n_features, seed=2)
    training = tiny_training(epochs=9, batch_size=32, patience=3, learning_rate=2e-3)
    gan = build_gan(tiny_model(kind, backbone, hidden=(16, 32), latent_dim=4), training,
                    window, n_features)
    lines: list[str] = []
    fit = fit_gan(gan, train, val, training, progress=lines.append)
    monitor = gan.monitor
    curve = fit.history[monitor]
    assert curve[-1] < 0.7 * curve[0], curve
    assert fit.health["status"] == "healthy", fit.health["issues"]
    assert len(lines) == fit.epochs_run
    json.dumps(fit.health, allow_nan=False)

    # The restored weights are those of the best epoch.
    assert fit.best_epoch is not None
    best = fit.history[monitor][fit.best_epoch - 1 - (fit.epochs_run - len(curve))]
    out = raw_outputs(kind, nets_of(gan), val)
    err = np.square  # GANomaly (l2 by default) and f-AnoGAN monitor squared errors
    rec = float(np.mean(err(val - out["reconstruction"])))
    if kind == "ganomaly":
        np.testing.assert_allclose(rec, best, rtol=1e-4)

    # Windows with a spike reconstruct worse than clean ones.
    spiked = val.copy()
    spiked[:, window // 2, 0] += 4.0
    spiked_out = raw_outputs(kind, nets_of(gan), spiked)
    clean_err = np.mean(err(val - out["reconstruction"]), axis=(1, 2))
    spiked_err = np.mean(err(spiked - spiked_out["reconstruction"]), axis=(1, 2))
    assert np.mean(spiked_err > clean_err) > 0.9


def test_collapsed_discriminator_is_reset_to_its_initial_weights() -> None:
    gan = build_gan(tiny_model("ganomaly"), tiny_training(), 9, 3)
    disc = gan.networks["discriminator"]
    initial = disc.get_weights()
    disc.set_weights([w + 1.0 for w in initial])
    (reset,) = gan.fit_callbacks()
    reset.on_epoch_end(0, {"d_loss": 0.4})
    assert not np.array_equal(disc.get_weights()[0], initial[0])
    assert gan.health_figures() == {"discriminator_resets": []}
    reset.on_epoch_end(4, {"d_loss": 1e-5})
    assert all(np.array_equal(a, b) for a, b in zip(disc.get_weights(), initial, strict=True))
    assert gan.health_figures() == {"discriminator_resets": [5]}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ganomaly", "fanogan"])
def test_short_series_get_the_step_floor_and_a_decaying_learning_rate(kind: str) -> None:
    """44 windows in batches of 16 are 3 steps an epoch; min_steps lifts the run to exactly
    60 (whole copies alone would fill 22 steps an epoch, 66 in all)."""
    train = sine_windows(44, 8, 2, seed=1)
    training = tiny_training(epochs=3, min_steps=60, learning_rate=1e-3)
    gan = build_gan(tiny_model(kind), training, 8, 2)
    fit_gan(gan, train, train[:0], training)
    steps = {name: int(opt.iterations.numpy()) for name, opt in gan.optimizers().items()}
    # f-AnoGAN's generator gets 2 of the 3 epochs, its encoder the third.
    expected = ({"generator": 60, "discriminator": 60} if kind == "ganomaly"
                else {"generator": 40, "critic": 40 * 2, "encoder": 20})
    assert steps == expected
    # GANomaly: cosine decay over the planned steps, ending at a tenth of the start.
    # f-AnoGAN keeps its papers' constant rate.
    rates = {name: float(opt.learning_rate.numpy()) for name, opt in gan.optimizers().items()}
    end = 1e-4 if kind == "ganomaly" else 1e-3
    assert rates == pytest.approx({name: end for name in rates}, rel=1e-3)
    constant = tiny_training(epochs=3, min_steps=0, lr_schedule="constant")
    gan = build_gan(tiny_model(kind), constant, 8, 2)
    fit_gan(gan, train, train[:0], constant)
    assert int(gan.optimizers()["generator"].iterations.numpy()) == (9 if kind == "ganomaly" else 6)
    assert float(gan.optimizers()["generator"].learning_rate.numpy()) == pytest.approx(1e-3)


def test_fanogan_gradient_penalty_is_finite_at_a_grown_float16_loss_scale() -> None:
    """The penalty's input gradient was scaled by the critic's live loss scale; from 2**19 on
    it overflowed float16, and gp (so c_loss) came out inf, then NaN."""
    from anomaly_gan.models.fanogan.losses import gradient_penalty

    model = tiny_model("fanogan", hidden=(16, 32), latent_dim=8)
    gan = build_gan(model, tiny_training(precision="mixed_float16"), 16, 3)
    rng = np.random.default_rng(0)
    real, fake = (rng.standard_normal((64, 16, 3)).astype("float32") for _ in range(2))
    alpha = np.full((64, 1, 1), 0.5, "float32")

    def gp(scale: float) -> float:
        return float(keras.ops.convert_to_numpy(
            gradient_penalty(gan._score, real, fake, alpha, scale=scale)))

    unscaled = gp(1.0)
    for exponent in (15, 19, 24):
        assert np.isclose(gp(2.0**exponent), unscaled, rtol=1e-3), exponent


@pytest.mark.slow  # trains a model
def test_fanogan_keeps_training_as_its_float16_loss_scale_grows() -> None:
    """A LossScaleOptimizer doubles its scale after every ``dynamic_growth_steps`` (2,000)
    finite steps. Grown to 2**19 (here: growing every 10 steps), the critic's penalty
    overflowed float16 and the attempt was stopped as non-finite in its first epoch."""
    model = tiny_model("fanogan", hidden=(16, 32), latent_dim=8, n_critic=5)
    training = tiny_training(precision="mixed_float16", epochs=3, batch_size=64)
    gan = build_gan(model, training, 16, 3)
    for optimizer in gan.optimizers().values():
        optimizer.dynamic_growth_steps = 10
    windows = sine_windows(512, 16, 3)
    fit = fit_gan(gan, windows[:448], windows[448:], training)
    # Too short to learn much (health may judge a collapse); it is not stopped as non-finite.
    assert not any("non-finite" in issue for issue in fit.health["issues"]), fit.health
    assert fit.epochs_run == 3
    assert all(np.isfinite(v).all() for v in fit.history.values()), fit.history
