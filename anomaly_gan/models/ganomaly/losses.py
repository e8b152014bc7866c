"""GANomaly losses, all computed in float32 whatever the layers' compute dtype.

Generator: ``w_adv * L_adv + w_con * L_con + w_enc * L_enc`` with

- ``L_adv``: feature matching, the mean squared difference between the discriminator's features
  of x and of x_hat (more stable than fooling D's logit, as in the paper and anomalib);
- ``L_con``: squared (``l2``, default) or absolute (``l1``, the paper's) error between x and
  x_hat, the reconstruction that matters for scoring. L1's optimum for a rarely-changing
  feature is its median, and its gradient is the same size however wrong a cell is: on
  telemetry beside sparse 0/1 command flags the decoder settled on the median window and
  stayed there (NASA channels, best epoch 1). L2's optimum is the conditional mean and its
  gradient grows with the error, so the rare cells pull the decoder off that window;
- ``L_enc``: mean squared difference between z = G_E(x) and z_hat = E(x_hat).

Discriminator: binary cross-entropy from logits, real windows -> 1, reconstructions -> 0.

Only ``keras.ops`` here (no TensorFlow import), so the formulas run on any Keras backend,
e.g. in benchmarks on a machine with JAX only.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import keras
from keras import ops

__all__ = [
    "adversarial_loss",
    "contextual_loss",
    "discriminator_loss",
    "encoder_loss",
    "generator_loss",
]


Tensor: TypeAlias = Any
"""A backend tensor (or array-like) of any dtype."""


def _f32(x: Tensor) -> Tensor:
    return ops.cast(x, "float32")


def adversarial_loss(features_real: Tensor, features_fake: Tensor) -> Tensor:
    """Feature matching: mean squared difference of D's features of x and of x_hat."""
    return ops.mean(ops.square(_f32(features_real) - _f32(features_fake)))


def contextual_loss(x: Tensor, x_hat: Tensor, norm: str = "l2") -> Tensor:
    """Mean squared (``l2``) or absolute (``l1``) reconstruction error."""
    diff = _f32(x) - _f32(x_hat)
    if norm == "l1":
        return ops.mean(ops.abs(diff))
    if norm == "l2":
        return ops.mean(ops.square(diff))
    raise ValueError(f"unknown reconstruction loss {norm!r}; expected 'l1' or 'l2'")


def encoder_loss(z: Tensor, z_hat: Tensor) -> Tensor:
    """Mean squared difference between the two latent codes."""
    return ops.mean(ops.square(_f32(z) - _f32(z_hat)))


def generator_loss(adv: Tensor, con: Tensor, enc: Tensor, *, w_adv: float,
                   w_con: float, w_enc: float) -> Tensor:
    """The weighted sum; defaults 1/50/1 (config) follow the paper."""
    return w_adv * adv + w_con * con + w_enc * enc


def discriminator_loss(logit_real: Tensor, logit_fake: Tensor) -> Tensor:
    """Mean of the BCE on real (target 1) and fake (target 0) logits, in float32."""
    real = _f32(logit_real)
    fake = _f32(logit_fake)
    loss_real = keras.losses.binary_crossentropy(ops.ones_like(real), real, from_logits=True)
    loss_fake = keras.losses.binary_crossentropy(ops.zeros_like(fake), fake, from_logits=True)
    return 0.5 * (ops.mean(loss_real) + ops.mean(loss_fake))
