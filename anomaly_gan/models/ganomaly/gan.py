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

from collections.abc import Mapping
from typing import Any, ClassVar

import keras
import numpy as np

from anomaly_gan.config import ModelConfig
from anomaly_gan.models.base import GANBase, Tensor, Update
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
    >>> tuple(gan(np.zeros((1, 8, 2), "float32")).shape)
    (1, 8, 2)
    """

    kind = "ganomaly"
    output_keys = ("reconstruction", "features_real", "features_fake", "latent", "latent_hat")
    trained_networks: ClassVar[Mapping[str, tuple[str, ...]]] = {"discriminator": ("discriminator",), "generator": GENERATOR_NETWORKS}
    phase_losses: ClassVar[Mapping[str, tuple[str, ...]]] = {"gan": ("d_loss", "g_loss", "adv_loss", "rec_loss", "enc_loss")}
    eval_groups: ClassVar[Mapping[str, str]] = {"gan": "gan"}
    monitor = "val_rec_loss"
    disc_loss_key = "d_loss"
    adv_loss_key = "adv_loss"
    build_networks = staticmethod(build_networks)
    build_scorer = staticmethod(build_scorer)

    def __init__(self, model: ModelConfig, *, window: int, n_features: int,
                 policy: str = "float32", seed: int = 0, **kwargs: Any) -> None:
        super().__init__(model, window=window, n_features=n_features, policy=policy, seed=seed,
                         **kwargs)
        self.initial_discriminator = tuple(
            np.array(w) for w in self.networks["discriminator"].get_weights())
        self.discriminator_resets: list[int] = []
        self.w_adv = float(model.w_adv)
        self.w_con = float(model.w_con)
        self.w_enc = float(model.w_enc)
        self.reconstruction_loss = model.reconstruction_loss

    def fit_callbacks(self) -> list[keras.callbacks.Callback]:
        return [ResetCollapsedDiscriminator(self)]

    def health_figures(self) -> dict[str, Any]:
        return {"discriminator_resets": list(self.discriminator_resets)}

    def reconstruct(self, windows: Tensor, training: bool) -> Tensor:
        z = self.networks["encoder"](windows, training=training)
        return self.networks["decoder"](z, training=training)

    def updates(self) -> list[Update]:
        # One pass serves both players: D's gradients are taken w.r.t. D's variables only and
        # G's w.r.t. G's only, so x_hat needs no stop_gradient for D's loss.
        return [Update("gan", {"discriminator": "d_loss", "generator": "g_loss"})]

    def compute_losses(self, group: str, x: Tensor, training: bool,
                       scales: Mapping[str, Tensor]) -> dict[str, Tensor]:
        del group, scales  # one loss group, nothing differentiated inside
        nets = self.networks
        z = nets["encoder"](x, training=training)
        x_hat = nets["decoder"](z, training=training)
        z_hat = nets["encoder_hat"](x_hat, training=training)
        features_real, logit_real = nets["discriminator"](x, training=training)
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

    def health_samples(self, windows: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        """Reconstructions of ``windows`` for the mode-collapse check."""
        del seed  # reconstructions are deterministic
        return {"reconstruction": np.asarray(self.predict_on_batch(windows))}
