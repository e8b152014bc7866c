"""f-AnoGAN as a ``keras.Model`` trained in two phases (Schlegl et al. 2019).

Phase ``"gan"``: WGAN-GP. Each ``train_step`` makes ``n_critic`` critic updates on the batch
(a fresh z and interpolation per update), then one generator update, so G gets one update per
batch and C ``n_critic``. No early stopping: WGAN losses are not a convergence signal.

Phase ``"encoder"``: G and C are frozen (their gradients are simply never applied; nothing
toggles ``.trainable``) and E is trained with izi_f,
``MSE(x, G(E(x))) + kappa * MSE(f(x), f(G(E(x))))``, stopping early on ``val_izi_loss``.

Switching phase clears the traced ``train_function``/``test_function`` so the next ``fit``
traces the other step. How ``training.epochs`` is split is :func:`split_epochs`.
"""

from __future__ import annotations

from typing import Any, Literal

import keras
import numpy as np
import tensorflow as tf

from anomaly_gan.config import ModelConfig
from anomaly_gan.models.base import GANBase, unpack_windows
from anomaly_gan.models.fanogan import losses
from anomaly_gan.models.fanogan.networks import build_networks, build_scorer

__all__ = ["FAnoGAN", "Phase", "split_epochs"]

Phase = Literal["gan", "encoder"]


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
    >>> gan(np.zeros((1, 8, 2), "float32")).shape
    TensorShape([1, 8, 2])
    """

    kind = "fanogan"
    monitor = "val_izi_loss"
    disc_loss_key = None
    adv_loss_key = None

    def __init__(self, model: ModelConfig, *, window: int, n_features: int,
                 policy: str = "float32", seed: int = 0, **kwargs: Any) -> None:
        super().__init__(lambda p: build_networks(model, window, n_features, p), window=window,
                         n_features=n_features, policy=policy, seed=seed,
                         name=kwargs.pop("name", "fanogan"), **kwargs)
        self.latent_dim = int(model.latent_dim)
        self.gp_weight = float(model.gp_weight)
        self.n_critic = int(model.n_critic)
        self.kappa = float(model.kappa)
        self.phase: Phase = "gan"
        self.c_loss_tracker = keras.metrics.Mean(name="c_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.w_dist_tracker = keras.metrics.Mean(name="w_dist")
        self.gp_tracker = keras.metrics.Mean(name="gp")
        self.izi_loss_tracker = keras.metrics.Mean(name="izi_loss")
        self.rec_loss_tracker = keras.metrics.Mean(name="rec_loss")
        self.feat_loss_tracker = keras.metrics.Mean(name="feat_loss")

    def compile(self, c_optimizer: keras.optimizers.Optimizer,
                g_optimizer: keras.optimizers.Optimizer,
                e_optimizer: keras.optimizers.Optimizer, **kwargs: Any) -> None:
        """One optimizer per network; ``jit_compile`` defaults to off (see fit_gan)."""
        kwargs.setdefault("jit_compile", False)
        super().compile(**kwargs)
        self.c_optimizer = c_optimizer
        self.g_optimizer = g_optimizer
        self.e_optimizer = e_optimizer

    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        return {"critic": self.c_optimizer, "generator": self.g_optimizer,
                "encoder": self.e_optimizer}

    def set_phase(self, phase: Phase) -> None:
        """Switch what ``fit`` trains; forces ``train_step``/``test_step`` to be retraced."""
        if phase not in ("gan", "encoder"):
            raise ValueError(f"unknown f-AnoGAN phase {phase!r}; expected 'gan' or 'encoder'")
        self.phase = phase
        self.train_function = None
        self.test_function = None

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        if self.phase == "gan":
            return [self.c_loss_tracker, self.g_loss_tracker, self.w_dist_tracker,
                    self.gp_tracker]
        return [self.izi_loss_tracker, self.rec_loss_tracker, self.feat_loss_tracker]

    def call(self, windows: Any, training: bool = False) -> Any:
        z = self.networks["encoder"](windows, training=training)
        return self.networks["generator"](z, training=training)

    def _score(self, windows: tf.Tensor) -> tf.Tensor:
        return self.networks["critic"](windows, training=True)[1]

    def _sample_latent(self, batch: tf.Tensor) -> tf.Tensor:
        return keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)

    def _critic_update(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        batch = tf.shape(x)[0]
        z = self._sample_latent(batch)
        alpha = keras.random.uniform((batch, 1, 1), seed=self.seed_generator)
        critic_vars = self.variables_of("critic")
        # G's forward stays off the critic's tape: nothing of G is updated here.
        fake = tf.stop_gradient(self.networks["generator"](z, training=True))
        with tf.GradientTape() as tape:
            score_real = self._score(x)
            score_fake = self._score(fake)
            wasserstein = losses.critic_loss(score_real, score_fake)
            gp = losses.gradient_penalty(self._score, x, fake, alpha,
                                         scale=self.c_optimizer.scale_loss(1.0))
            c_loss = wasserstein + self.gp_weight * gp
            scaled = self.c_optimizer.scale_loss(c_loss)
        self._step(self.c_optimizer, tape, scaled, critic_vars)
        return {"c_loss": c_loss, "w_dist": -wasserstein, "gp": gp}

    def _generator_update(self, batch: tf.Tensor) -> tf.Tensor:
        z = self._sample_latent(batch)
        with tf.GradientTape() as tape:
            g_loss = losses.generator_loss(self._score(self.networks["generator"](z,
                                                                                  training=True)))
            scaled = self.g_optimizer.scale_loss(g_loss)
        self._step(self.g_optimizer, tape, scaled, self.variables_of("generator"))
        return g_loss

    def _izi(self, x: tf.Tensor, training: bool) -> dict[str, tf.Tensor]:
        nets = self.networks
        x_rec = nets["generator"](nets["encoder"](x, training=training), training=training)
        features_real, _ = nets["critic"](x, training=training)
        features_rec, _ = nets["critic"](x_rec, training=training)
        return losses.izi_f_loss(x, x_rec, features_real, features_rec, self.kappa)

    def _track(self, values: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        for tracker in self.metrics:
            if tracker.name in values:
                tracker.update_state(values[tracker.name])
        return {m.name: m.result() for m in self.metrics if m.name in values}

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        x = unpack_windows(data)
        if self.phase == "encoder":
            with tf.GradientTape() as tape:
                values = self._izi(x, training=True)
                scaled = self.e_optimizer.scale_loss(values["izi_loss"])
            # Only E's variables: G and C stay as the GAN phase left them.
            self._step(self.e_optimizer, tape, scaled, self.variables_of("encoder"))
            return self._track(values)
        for _ in range(self.n_critic):
            values = self._critic_update(x)
        values["g_loss"] = self._generator_update(tf.shape(x)[0])
        return self._track(values)

    def test_step(self, data: Any) -> dict[str, tf.Tensor]:
        x = unpack_windows(data)
        if self.phase == "encoder":
            return self._track(self._izi(x, training=False))
        fake = self.networks["generator"](self._sample_latent(tf.shape(x)[0]), training=False)
        score_real = self.networks["critic"](x, training=False)[1]
        score_fake = self.networks["critic"](fake, training=False)[1]
        return self._track({"w_dist": -losses.critic_loss(score_real, score_fake)})

    def inference_networks(self) -> dict[str, keras.Model]:
        """``{"scorer": window -> raw outputs}``, float32, built-in layers only."""
        return {"scorer": build_scorer(self.float32_networks(), self.window, self.n_features)}

    def health_samples(self, windows: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        """G(z) for as many seeded random codes as windows, and the reconstructions G(E(x))."""
        z = np.random.default_rng(seed).standard_normal((len(windows), self.latent_dim))
        generated = self.networks["generator"](z.astype("float32"), training=False)
        return {
            "generated": np.asarray(keras.ops.convert_to_numpy(generated), dtype=np.float32),
            "reconstruction": np.asarray(self.predict_on_batch(windows), dtype=np.float32),
        }
