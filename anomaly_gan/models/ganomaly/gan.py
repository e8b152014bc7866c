"""GANomaly as a ``keras.Model`` with a custom ``train_step`` (Akcay et al. 2018).

One step runs the generator (G_E -> G_D -> E) and the discriminator forward once and updates
both from that pass: D with BCE on real vs reconstructed windows, the generator with
``w_adv * feature matching + w_con * reconstruction (L2 or L1, ``model.reconstruction_loss``)
+ w_enc * latent L2``. Early stopping watches ``val_rec_loss``, the validation reconstruction
error, because that is what the anomaly
score relies on.

D wins easily here (the generator never tries to fool its logit, only to match its features),
so, as in the reference implementation and anomalib, a discriminator whose epoch loss falls
below :data:`anomaly_gan.models.health.COLLAPSE_LOSS` is reset to its initial weights
(:class:`ResetCollapsedDiscriminator`). The epochs are listed in the health report as
``discriminator_resets``; a D that collapses again within every one of the last epochs is
still reported as discriminator collapse.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from anomaly_gan.config import ModelConfig
from anomaly_gan.models.base import GANBase, unpack_windows
from anomaly_gan.models.ganomaly import losses
from anomaly_gan.models.ganomaly.networks import (
    GENERATOR_NETWORKS,
    build_networks,
    build_scorer,
)
from anomaly_gan.models.health import COLLAPSE_LOSS

__all__ = ["GANomaly", "ResetCollapsedDiscriminator"]


class ResetCollapsedDiscriminator(keras.callbacks.Callback):
    """Restores D's initial weights after an epoch whose mean ``d_loss`` is below ``threshold``.

    The initial weights (not a fresh random draw) keep the run reproducible without touching
    the global seeds mid-training. D's optimizer state is kept, as in anomalib.
    """

    def __init__(self, gan: GANomaly, threshold: float = COLLAPSE_LOSS) -> None:
        super().__init__()
        self.gan = gan
        self.threshold = threshold

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        d_loss = float((logs or {}).get("d_loss", np.nan))
        if np.isfinite(d_loss) and d_loss < self.threshold:
            self.gan.networks["discriminator"].set_weights(list(self.gan.initial_discriminator))
            self.gan.discriminator_resets.append(epoch + 1)


class GANomaly(GANBase):
    """Encoder-decoder-encoder generator plus a discriminator.

    >>> from anomaly_gan.config import ModelConfig
    >>> gan = GANomaly(ModelConfig(hidden=(8,), latent_dim=2), window=8, n_features=2)
    >>> gan(np.zeros((1, 8, 2), "float32")).shape
    TensorShape([1, 8, 2])
    """

    kind = "ganomaly"
    monitor = "val_rec_loss"
    disc_loss_key = "d_loss"
    adv_loss_key = "adv_loss"

    def __init__(self, model: ModelConfig, *, window: int, n_features: int,
                 policy: str = "float32", seed: int = 0, **kwargs: Any) -> None:
        super().__init__(lambda p: build_networks(model, window, n_features, p), window=window,
                         n_features=n_features, policy=policy, seed=seed,
                         name=kwargs.pop("name", "ganomaly"), **kwargs)
        self.initial_discriminator = tuple(
            np.array(w) for w in self.networks["discriminator"].get_weights())
        self.discriminator_resets: list[int] = []
        self.w_adv = float(model.w_adv)
        self.w_con = float(model.w_con)
        self.w_enc = float(model.w_enc)
        self.reconstruction_loss = model.reconstruction_loss
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.adv_loss_tracker = keras.metrics.Mean(name="adv_loss")
        self.rec_loss_tracker = keras.metrics.Mean(name="rec_loss")
        self.enc_loss_tracker = keras.metrics.Mean(name="enc_loss")

    def compile(self, d_optimizer: keras.optimizers.Optimizer,
                g_optimizer: keras.optimizers.Optimizer, **kwargs: Any) -> None:
        """Keep one optimizer per player; ``jit_compile`` defaults to off (see fit_gan)."""
        kwargs.setdefault("jit_compile", False)
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    def fit_callbacks(self) -> list[keras.callbacks.Callback]:
        return [ResetCollapsedDiscriminator(self)]

    def health_figures(self) -> dict[str, Any]:
        return {"discriminator_resets": list(self.discriminator_resets)}

    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        return {"discriminator": self.d_optimizer, "generator": self.g_optimizer}

    def variables_of(self, *names: str) -> list[keras.Variable]:
        expanded = [n for name in names
                    for n in (GENERATOR_NETWORKS if name == "generator" else (name,))]
        return super().variables_of(*expanded)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.d_loss_tracker, self.g_loss_tracker, self.adv_loss_tracker,
                self.rec_loss_tracker, self.enc_loss_tracker]

    def call(self, windows: Any, training: bool = False) -> Any:
        z = self.networks["encoder"](windows, training=training)
        return self.networks["decoder"](z, training=training)

    def _compute_losses(self, x: tf.Tensor, training: bool) -> dict[str, tf.Tensor]:
        nets = self.networks
        z = nets["encoder"](x, training=training)
        x_hat = nets["decoder"](z, training=training)
        z_hat = nets["encoder_hat"](x_hat, training=training)
        features_real, logit_real = nets["discriminator"](x, training=training)
        # One pass serves both players: D's gradients are taken w.r.t. D's variables only and
        # G's w.r.t. G's only, so x_hat needs no stop_gradient for D's loss.
        features_fake, logit_fake = nets["discriminator"](x_hat, training=training)
        adv = losses.adversarial_loss(features_real, features_fake)
        con = losses.contextual_loss(x, x_hat, self.reconstruction_loss)
        enc = losses.encoder_loss(z, z_hat)
        return {
            "d_loss": losses.discriminator_loss(logit_real, logit_fake),
            "g_loss": losses.generator_loss(adv, con, enc, w_adv=self.w_adv, w_con=self.w_con,
                                            w_enc=self.w_enc),
            "adv_loss": adv,
            "rec_loss": con,
            "enc_loss": enc,
        }

    def _track(self, values: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        for tracker in self.metrics:
            tracker.update_state(values[tracker.name])
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        x = unpack_windows(data)
        with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
            values = self._compute_losses(x, training=True)
            d_scaled = self.d_optimizer.scale_loss(values["d_loss"])
            g_scaled = self.g_optimizer.scale_loss(values["g_loss"])
        self._step(self.d_optimizer, d_tape, d_scaled, self.variables_of("discriminator"))
        self._step(self.g_optimizer, g_tape, g_scaled, self.variables_of("generator"))
        return self._track(values)

    def test_step(self, data: Any) -> dict[str, tf.Tensor]:
        return self._track(self._compute_losses(unpack_windows(data), training=False))

    def inference_networks(self) -> dict[str, keras.Model]:
        """``{"scorer": window -> raw outputs}``, float32, built-in layers only."""
        return {"scorer": build_scorer(self.float32_networks(), self.window, self.n_features)}

    def health_samples(self, windows: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        """Reconstructions of ``windows`` for the mode-collapse check."""
        del seed  # reconstructions are deterministic
        return {"reconstruction": np.asarray(self.predict_on_batch(windows))}
