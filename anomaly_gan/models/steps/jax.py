"""The JAX train and test steps (keras-io ``custom_train_step_in_jax``).

The JAX trainer hands the step its state as lists of values and expects new lists back:
``(trainable, non_trainable, optimizer, metrics)``. The loss assembly runs through
``model.stateless_call`` (which maps the model's variables to those values), gradients come
from ``jax.value_and_grad`` over the updated optimizer's slice of the trainable values, and
``optimizer.stateless_apply`` returns the new weights and optimizer state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import jax
from keras import StatelessScope, ops

__all__ = ["JaxSteps", "input_gradient"]


def input_gradient(fn: Callable[[Any], Any], x: Any) -> Any:
    """d sum(fn(x)) / dx, itself differentiable (the outer ``value_and_grad`` goes through)."""
    return jax.grad(lambda t: ops.sum(fn(t)))(x)


def _scope_values(variables: Sequence[Any], values: Sequence[Any],
                  fn: Callable[[], Any]) -> tuple[Any, list[Any]]:
    """Run ``fn`` with ``variables`` reading ``values``; return its result and their new values."""
    with StatelessScope(state_mapping=list(zip(variables, values, strict=True))) as scope:
        result = fn()
    updated = []
    for variable, value in zip(variables, values, strict=True):
        new = scope.get_current_value(variable)
        updated.append(value if new is None else new)
    return result, updated


class JaxSteps:
    """``train_step``/``test_step`` of :class:`anomaly_gan.models.base.GANBase` on JAX."""

    def _positions(self: Any, name: str) -> list[int]:
        index = {id(v): i for i, v in enumerate(self.trainable_variables)}
        return [index[id(v)] for v in self.variables_of(name)]

    def _gradients(self: Any, name: str, key: str, group: str, trainable: list[Any],
                   non_trainable: list[Any], x: Any, scales: dict[str, Any]
                   ) -> tuple[list[int], Any, dict[str, Any], list[Any]]:
        """Gradients of optimizer ``name``'s scaled loss ``key`` w.r.t. its own variables."""
        positions = self._positions(name)

        def scaled_loss(own: list[Any]) -> tuple[Any, tuple[dict[str, Any], list[Any]]]:
            full = list(trainable)
            for i, value in zip(positions, own, strict=True):
                full[i] = value
            values, updated = self.stateless_call(full, non_trainable, x, training=True,
                                                  losses=group, scales=scales)
            return values[key] * scales[name], (values, updated)

        (_, (values, updated)), grads = jax.value_and_grad(scaled_loss, has_aux=True)(
            [trainable[i] for i in positions])
        return positions, grads, values, updated

    def train_step(self: Any, state: Any, data: Any) -> tuple[dict[str, Any], Any]:
        from anomaly_gan.models.base import unpack_windows

        trainable, non_trainable, optimizer_values, metrics_values = (list(s) for s in state)
        x = unpack_windows(data)
        optimizer_set = self.optimizer
        logged: dict[str, Any] = {}
        for update in self.updates():
            scales: dict[str, Any] = {}
            for name in update.losses:
                optimizer = optimizer_set.by_network[name]
                scales[name], _ = _scope_values(
                    optimizer.variables, optimizer_values[optimizer_set.slice_of(name)],
                    partial(optimizer.scale_loss, 1.0))
            # Every optimizer of the update differentiates the same pass (same inputs, same
            # random draws) and is applied to the weights from before the update.
            results = [(name, *self._gradients(name, key, update.group, trainable,
                                               non_trainable, x, scales))
                       for name, key in update.losses.items()]
            for name, positions, grads, values, updated in results:
                where = optimizer_set.slice_of(name)
                new_weights, optimizer_values[where] = optimizer_set.by_network[
                    name].stateless_apply(optimizer_values[where], grads,
                                          [trainable[i] for i in positions])
                for i, value in zip(positions, new_weights, strict=True):
                    trainable[i] = value
                logged.update(values)
            non_trainable = updated
        logs, metrics_values = _scope_values(self.metrics_variables, metrics_values,
                                             partial(self._track, logged))
        return logs, (trainable, non_trainable, optimizer_values, metrics_values)

    def test_step(self: Any, state: Any, data: Any) -> tuple[dict[str, Any], Any]:
        from anomaly_gan.models.base import unpack_windows

        trainable, non_trainable, metrics_values = (list(s) for s in state)
        values, non_trainable = self.stateless_call(
            trainable, non_trainable, unpack_windows(data), training=False,
            losses=self.eval_groups[self.phase])
        logs, metrics_values = _scope_values(self.metrics_variables, metrics_values,
                                             partial(self._track, values))
        return logs, (trainable, non_trainable, metrics_values)
