"""The part of a GAN ``keras.Model`` that is the same in every family.

A family subclasses :class:`GANBase`, builds its networks in ``__init__`` through a
``build_networks(policy)`` function, and writes ``train_step``/``test_step``. The base gives it:

- one ``_step`` that scales the loss (a no-op unless the optimizer is a
  ``LossScaleOptimizer``), takes gradients and applies them, so no family forgets loss scaling;
- float32 copies of the networks for inference (training may run in mixed precision, serving
  runs on CPU where float16 is slow and inexact);
- the seed generator, the precision and the constructor arguments kept for the copies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

__all__ = ["GANBase", "NetworkBuilder", "unpack_windows"]

NetworkBuilder = Callable[[str], dict[str, keras.Model]]
"""``policy -> {name: functional model}``; called once for training, once for float32 copies."""


def unpack_windows(data: Any) -> tf.Tensor:
    """The window batch from whatever ``fit`` hands ``train_step`` (``x`` or ``(x,)``)."""
    if isinstance(data, (tuple, list)):
        data = data[0]
    return tf.cast(data, "float32")


class GANBase(keras.Model):
    """Shared machinery of the GAN families (see the module docstring)."""

    kind: str = ""
    monitor: str = ""
    """The validation loss early stopping watches (a ``fit`` log key)."""
    disc_loss_key: str | None = None
    adv_loss_key: str | None = None
    """History keys for the discriminator-collapse check (``None``: not a BCE discriminator)."""

    def __init__(self, builder: NetworkBuilder, *, window: int, n_features: int,
                 policy: str = "float32", seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.window = int(window)
        self.n_features = int(n_features)
        self.policy = policy
        self._builder = builder
        self.networks: dict[str, keras.Model] = builder(policy)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, windows: Any, training: bool = False) -> Any:
        """The reconstruction of ``windows`` (what scoring compares them with)."""
        raise NotImplementedError

    def inference_networks(self) -> dict[str, keras.Model]:
        """Float32 functional models of built-in layers for saving and scoring."""
        raise NotImplementedError

    def health_samples(self, windows: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        """Generated/reconstructed batches to compare with ``windows`` for mode collapse."""
        raise NotImplementedError

    def fit_callbacks(self) -> list[keras.callbacks.Callback]:
        """Family-specific callbacks for every ``fit`` (run after early stopping's)."""
        return []

    def health_figures(self) -> dict[str, Any]:
        """Family-specific JSON-able figures added to the health report."""
        return {}

    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        """Every optimizer the family compiled with, by network name."""
        raise NotImplementedError

    def build_optimizers(self) -> None:
        """Create optimizer (and loss-scale) variables before ``fit`` traces ``train_step``.

        ``LossScaleOptimizer.scale_loss`` multiplies by its ``dynamic_scale`` variable only once
        built; traced unbuilt it would bake the initial scale into the graph as a constant and
        never adapt. Building also keeps variable creation out of ``tf.cond`` branches.
        """
        for name, optimizer in self.optimizers().items():
            if not optimizer.built:
                optimizer.build(self.variables_of(name))

    def variables_of(self, *names: str) -> list[keras.Variable]:
        """Trainable variables of the named networks, in a stable order."""
        return [v for n in names for v in self.networks[n].trainable_variables]

    @staticmethod
    def _step(optimizer: keras.optimizers.Optimizer, tape: tf.GradientTape,
              scaled_loss: tf.Tensor, variables: Sequence[keras.Variable]) -> None:
        """Differentiate a loss scaled *inside* ``tape`` and apply (the optimizer unscales).

        Call as ``scaled = optimizer.scale_loss(loss)`` within the tape's context, then
        ``self._step(optimizer, tape, scaled, vars)``: a plain optimizer returns the loss
        unchanged, a ``LossScaleOptimizer`` multiplies by its dynamic scale and divides the
        gradients again in ``apply`` (skipping the update and halving the scale if they
        overflowed), so one code path serves every precision.
        """
        grads = tape.gradient(scaled_loss, list(variables))
        optimizer.apply(grads, list(variables))

    def float32_networks(self) -> dict[str, keras.Model]:
        """Fresh float32 copies of the networks with the trained weights.

        Under a float32 policy the copies are still fresh objects, so a saved inference model
        never shares layers with the training model.
        """
        copies = self._builder("float32")
        for name, net in copies.items():
            net.set_weights(self.networks[name].get_weights())
        return copies
