"""f-AnoGAN as a ``keras.Model`` trained in two phases (Schlegl et al. 2019).

Phase ``"gan"``: WGAN-GP. Each ``train_step`` makes ``n_critic`` critic updates on the batch
(a fresh z and interpolation per update), then one generator update, so G gets one update per
batch and C ``n_critic``. No early stopping: WGAN losses are not a convergence signal.

Phase ``"encoder"``: G and C are frozen (their gradients are simply never applied; nothing
toggles ``.trainable``) and E is trained with izi_f,
``MSE(x, G(E(x))) + kappa * MSE(f(x), f(G(E(x))))``, stopping early on ``val_izi_loss``.

Switching phase clears the traced ``train_function``/``test_function`` so the next ``fit``
traces the other step. How ``training.epochs`` is split is :func:`split_epochs`; the encoder
phase is skipped when the GAN phase produced non-finite losses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import keras
import numpy as np
from keras import ops

from anomaly_gan.config import ModelConfig, TrainingConfig
from anomaly_gan.models.base import GANBase, Phase, Tensor, Update
from anomaly_gan.models.fanogan import losses
from anomaly_gan.models.fanogan.networks import build_networks, build_scorer

__all__ = ["FAnoGAN", "split_epochs"]


def split_epochs(epochs: int) -> tuple[int, int]:
    """``(gan_epochs, encoder_epochs)``: two thirds to the GAN, one third to the encoder.

    The GAN is the hard part; the encoder regresses onto a fixed G and converges fast (and stops
    early). Each phase gets at least one epoch, so ``epochs=1`` runs two.

    >>> split_epochs(30), split_epochs(2), split_epochs(1)
    ((20, 10), (1, 1), (1, 1))
    """
    encoder = max(1, epochs // 3)
    return max(1, epochs - encoder), encoder


class FAnoGAN(GANBase):
    """WGAN-GP generator and critic, plus an izi_f encoder.

    >>> from anomaly_gan.config import ModelConfig
    >>> gan = FAnoGAN(ModelConfig(kind="fanogan", hidden=(8,), latent_dim=2), window=8,
    ...               n_features=2)
    >>> tuple(gan(np.zeros((1, 8, 2), "float32")).shape)
    (1, 8, 2)
    """

    # Gulrajani et al.'s WGAN-GP Algorithm 1 and Schlegl et al.'s encoder training use a
    # constant rate; a decaying one starved the generator, then the encoder, on short runs.
    constant_learning_rate = True
    kind = "fanogan"
    output_keys = ("reconstruction", "features_real", "features_fake")
    trained_networks: ClassVar[Mapping[str, tuple[str, ...]]] = {"critic": ("critic",), "generator": ("generator",),
                        "encoder": ("encoder",)}
    phase_losses: ClassVar[Mapping[str, tuple[str, ...]]] = {"gan": ("c_loss", "g_loss", "w_dist", "gp"),
                    "encoder": ("izi_loss", "rec_loss", "feat_loss")}
    eval_groups: ClassVar[Mapping[str, str]] = {"gan": "w_dist", "encoder": "izi"}
    monitor = "val_izi_loss"
    disc_loss_key = None
    adv_loss_key = None
    build_networks = staticmethod(build_networks)
    build_scorer = staticmethod(build_scorer)

    def __init__(self, model: ModelConfig, *, window: int, n_features: int,
                 policy: str = "float32", seed: int = 0, **kwargs: Any) -> None:
        super().__init__(model, window=window, n_features=n_features, policy=policy, seed=seed,
                         **kwargs)
        self.latent_dim = int(model.latent_dim)
        self.gp_weight = float(model.gp_weight)
        self.n_critic = int(model.n_critic)
        self.kappa = float(model.kappa)

    def phases(self, training: TrainingConfig) -> list[Phase]:
        gan_epochs, encoder_epochs = split_epochs(training.epochs)
        return [Phase("gan", gan_epochs, None), Phase("encoder", encoder_epochs, self.monitor)]

    def updates(self) -> list[Update]:
        if self.phase == "encoder":
            # Only E's variables: G and C stay as the GAN phase left them.
            return [Update("izi", {"encoder": "izi_loss"})]
        return [Update("critic", {"critic": "c_loss"})] * self.n_critic + [
            Update("generator", {"generator": "g_loss"})]

    def reconstruct(self, windows: Tensor, training: bool) -> Tensor:
        z = self.networks["encoder"](windows, training=training)
        return self.networks["generator"](z, training=training)

    def _score(self, windows: Tensor) -> Tensor:
        return self.networks["critic"](windows, training=True)[1]

    def _sample_latent(self, batch: Any) -> Tensor:
        return keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)

    def compute_losses(self, group: str, x: Tensor, training: bool,
                       scales: Mapping[str, Tensor]) -> dict[str, Tensor]:
        nets = self.networks
        batch = ops.shape(x)[0]
        if group == "critic":
            # A fresh z and interpolation per critic update; G's forward is a constant here.
            z = self._sample_latent(batch)
            alpha = keras.random.uniform((batch, 1, 1), seed=self.seed_generator)
            fake = ops.stop_gradient(nets["generator"](z, training=True))
            wasserstein = losses.critic_loss(self._score(x), self._score(fake))
            gp = losses.gradient_penalty(self._score, x, fake, alpha,
                                         scale=scales.get("critic", 1.0))
            return {"c_loss": wasserstein + self.gp_weight * gp, "w_dist": -wasserstein,
                    "gp": gp}
        if group == "generator":
            fake = nets["generator"](self._sample_latent(batch), training=True)
            return {"g_loss": losses.generator_loss(self._score(fake))}
        if group == "w_dist":
            fake = nets["generator"](self._sample_latent(batch), training=False)
            score_real = nets["critic"](x, training=False)[1]
            score_fake = nets["critic"](fake, training=False)[1]
            return {"w_dist": -losses.critic_loss(score_real, score_fake)}
        if group == "izi":
            x_rec = nets["generator"](nets["encoder"](x, training=training), training=training)
            features_real, _ = nets["critic"](x, training=training)
            features_rec, _ = nets["critic"](x_rec, training=training)
            return losses.izi_f_loss(x, x_rec, features_real, features_rec, self.kappa)
        raise ValueError(f"unknown f-AnoGAN loss group {group!r}")

    def health_samples(self, windows: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        """G(z) for as many seeded random codes as windows, and the reconstructions G(E(x))."""
        z = np.random.default_rng(seed).standard_normal((len(windows), self.latent_dim))
        generated = self.networks["generator"](z.astype("float32"), training=False)
        return {
            "generated": np.asarray(keras.ops.convert_to_numpy(generated), dtype=np.float32),
            "reconstruction": np.asarray(self.predict_on_batch(windows), dtype=np.float32),
        }
