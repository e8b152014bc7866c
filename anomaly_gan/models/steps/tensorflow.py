"""The TensorFlow train and test steps (keras-io ``custom_train_step_in_tensorflow``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

__all__ = ["TensorFlowSteps", "input_gradient"]


def input_gradient(fn: Callable[[tf.Tensor], tf.Tensor], x: tf.Tensor) -> tf.Tensor:
    """d sum(fn(x)) / dx, recorded so an outer tape can differentiate it again."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(fn(x))
    return tape.gradient(y, x)


class TensorFlowSteps:
    """``train_step``/``test_step`` of :class:`anomaly_gan.models.base.GANBase` on TensorFlow.

    Each :class:`~anomaly_gan.models.base.Update` runs its loss group once inside a persistent
    tape; each optimizer differentiates its scaled loss with respect to its own variables and
    applies. Under a ``tf.distribute`` strategy the loss is divided by the number of replicas
    (the optimizer sums the replicas' gradients).
    """

    def train_step(self: Any, data: Any) -> dict[str, tf.Tensor]:
        from anomaly_gan.models.base import unpack_windows

        x = unpack_windows(data)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        optimizers = self.optimizers()
        logged: dict[str, tf.Tensor] = {}
        for update in self.updates():
            scales = {name: optimizers[name].scale_loss(1.0) for name in update.losses}
            with tf.GradientTape(persistent=True) as tape:
                values = self.compute_losses(update.group, x, True, scales)
                scaled = {name: optimizers[name].scale_loss(values[key]) / replicas
                          for name, key in update.losses.items()}
            for name, loss in scaled.items():
                variables = self.variables_of(name)
                optimizers[name].apply(tape.gradient(loss, variables), variables)
            del tape
            logged.update(values)
        return self._track(logged)

    def test_step(self: Any, data: Any) -> dict[str, tf.Tensor]:
        from anomaly_gan.models.base import unpack_windows

        group = self.eval_groups[self.phase]
        return self._track(self.compute_losses(group, unpack_windows(data), False, {}))
