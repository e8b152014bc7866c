"""f-AnoGAN losses: WGAN-GP for the GAN phase, izi_f for the encoder phase. All float32.

Only ``keras.ops``, plus the backend's input gradient for the penalty, so the formulas are
the same on TensorFlow and JAX.

- critic: ``mean C(G(z)) - mean C(x) + gp_weight * GP`` (Gulrajani et al. 2017), where GP is the
  squared distance of ``||grad_x_tilde C(x_tilde)||_2`` from 1 at random interpolates;
- generator: ``-mean C(G(z))``;
- encoder (izi_f): ``MSE(x, G(E(x))) + kappa * MSE(f(x), f(G(E(x))))`` with f the critic's
  features; it is also the f-AnoGAN anomaly score.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

from keras import ops

from anomaly_gan.models.steps import input_gradient

__all__ = [
    "GP_MAX_SCALE",
    "critic_loss",
    "generator_loss",
    "gradient_penalty",
    "izi_f_loss",
]


Tensor: TypeAlias = Any
"""A backend tensor (TensorFlow or JAX)."""


GP_MAX_SCALE = 2.0 ** 15
"""The most the penalty's input gradient is scaled by: the loss scale a
``LossScaleOptimizer`` starts at. Its dynamic scale doubles after every 2,000 finite steps;
from 2**19 on, the default critic's scaled input gradient overflowed float16 (65,504), so
``gp`` and ``c_loss`` came out inf and training was stopped as non-finite, where an overflow
of the weight gradients only skips the step and halves the scale."""


def _f32(x: Tensor) -> Tensor:
    return ops.cast(x, "float32")


def critic_loss(score_real: Tensor, score_fake: Tensor) -> Tensor:
    """Negative Wasserstein estimate (the critic minimises it), without the penalty."""
    return ops.mean(_f32(score_fake)) - ops.mean(_f32(score_real))


def generator_loss(score_fake: Tensor) -> Tensor:
    """The generator raises the critic's score of its samples."""
    return -ops.mean(_f32(score_fake))


def gradient_penalty(critic_score: Callable[[Tensor], Tensor], real: Tensor,
                     fake: Tensor, alpha: Tensor,
                     scale: Tensor | float = 1.0) -> Tensor:
    """``mean((||d critic / d x_tilde||_2 - 1)^2)`` at ``x_tilde = real + alpha (fake - real)``.

    Inputs are cast to float32 so the interpolates and the norm are float32; the critic may
    still compute in float16, so its score is multiplied by ``scale`` (the critic optimizer's
    current loss scale, 1 outside mixed float16), at most :data:`GP_MAX_SCALE`, before
    differentiating and the gradient divided by it afterwards: the underflow protection the
    outer loss gets, without the overflow a long run's grown scale brings.
    """
    real = _f32(real)
    fake = _f32(fake)
    interpolates = real + _f32(alpha) * (fake - real)
    scale = ops.minimum(_f32(scale), GP_MAX_SCALE)
    grads = _f32(input_gradient(lambda t: _f32(critic_score(t)) * scale, interpolates)) / scale
    norms = ops.sqrt(ops.sum(ops.square(grads), axis=list(range(1, len(grads.shape)))) + 1e-12)
    return ops.mean(ops.square(norms - 1.0))


def izi_f_loss(x: Tensor, x_rec: Tensor, features_real: Tensor,
               features_rec: Tensor, kappa: float) -> dict[str, Tensor]:
    """The izi_f loss and its two parts: ``rec_loss`` (image) and ``feat_loss`` (features)."""
    rec = ops.mean(ops.square(_f32(x) - _f32(x_rec)))
    feat = ops.mean(ops.square(_f32(features_real) - _f32(features_rec)))
    return {"izi_loss": rec + kappa * feat, "rec_loss": rec, "feat_loss": feat}
