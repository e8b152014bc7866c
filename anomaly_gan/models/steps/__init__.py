"""``train_step``/``test_step`` for the running Keras backend: the only backend-specific code.

Networks, losses and the loss assembly (``GANBase.compute_losses``) are written once with
``keras.ops``; what differs is how gradients are taken and applied:

- TensorFlow (:mod:`.tensorflow`): ``tf.GradientTape`` and ``optimizer.apply``, as in keras-io's
  ``custom_train_step_in_tensorflow``;
- JAX (:mod:`.jax`): ``stateless_call`` under ``jax.value_and_grad`` and
  ``optimizer.stateless_apply``, as in keras-io's ``custom_train_step_in_jax``.

Both scale each loss by its optimizer's loss scale (1 unless the optimizer is a
``LossScaleOptimizer``, i.e. under ``mixed_float16``) and let the optimizer unscale the
gradients, skipping the update and halving the scale when they overflowed.
:func:`input_gradient` is the one other piece of gradient plumbing: the gradient penalty's
derivative with respect to the critic's input.
"""

from __future__ import annotations

import keras

from anomaly_gan.errors import BackendError

__all__ = ["BACKENDS", "BackendSteps", "input_gradient"]

BACKENDS: tuple[str, ...] = ("tensorflow", "jax")
"""The Keras backends the GANs train on (``KERAS_BACKEND``)."""

_backend = keras.backend.backend()
if _backend == "jax":
    from anomaly_gan.models.steps.jax import JaxSteps as BackendSteps
    from anomaly_gan.models.steps.jax import input_gradient
elif _backend == "tensorflow":
    from anomaly_gan.models.steps.tensorflow import TensorFlowSteps as BackendSteps  # type: ignore[assignment]
    from anomaly_gan.models.steps.tensorflow import input_gradient  # type: ignore[assignment]
else:  # pragma: no cover - depends on the environment
    # One line and exit 2 from the CLI, where an ImportError printed a traceback (exit 1)
    raise BackendError(f"KERAS_BACKEND={_backend!r} is not supported for training; anomaly-gan "
                       f"trains on {' or '.join(BACKENDS)} (set KERAS_BACKEND to one of them)")
