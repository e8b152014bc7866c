"""Training on every device found, with each backend's own data-parallel API.

- JAX: ``keras.distribution.DataParallel`` over ``keras.distribution.list_devices()`` (all
  GPUs, else all CPU devices; ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` makes a
  CPU look like N devices). Variables are replicated, every batch is split across devices and
  XLA sums the gradients.
- TensorFlow: ``tf.distribute.MirroredStrategy`` over all logical GPUs, else all logical CPUs
  (one unless configured with ``tf.config.set_logical_device_configuration``). The train step
  divides each loss by the number of replicas, and the optimizers sum the replicas' gradients.

With one device nothing is distributed. The batch size is the global batch: each of N devices
computes ``batch_size / N`` windows per step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import keras

__all__ = ["Distribution", "find_distribution"]


@dataclass(frozen=True)
class Distribution:
    """How a GAN is spread over devices: ``scope()`` is entered to build and to fit it."""

    replicas: int = 1
    description: str = "one device"
    scope: Callable[[], AbstractContextManager[Any]] = field(
        default=contextlib.nullcontext, repr=False)


def find_distribution(enabled: bool = True) -> Distribution:
    """Data parallelism over every device of the running backend, if there are several."""
    if not enabled:
        return Distribution()
    if keras.backend.backend() == "jax":
        devices = keras.distribution.list_devices()
        if len(devices) > 1:
            data_parallel = keras.distribution.DataParallel(devices=devices)
            return Distribution(len(devices), f"keras DataParallel over {len(devices)} devices "
                                f"({', '.join(devices)})", data_parallel.scope)
        return Distribution()
    import tensorflow as tf

    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    if len(devices) > 1:
        names = [d.name for d in devices]
        strategy = tf.distribute.MirroredStrategy(names)
        return Distribution(len(names), f"tf.distribute.MirroredStrategy over {len(names)} "
                            f"devices ({', '.join(names)})", strategy.scope)
    return Distribution()
