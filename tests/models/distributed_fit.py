"""Trains a tiny GAN on every device found and prints what happened as JSON.

Run as a script by ``test_backends.py`` with ``KERAS_BACKEND`` set and two CPU devices:
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` for JAX, and for TensorFlow
``--tf-cpu-devices 2``, which splits the CPU into logical devices before TensorFlow starts.

Only runs as a script: pytest's --doctest-modules imports this file while collecting,
and an import must neither parse pytest's arguments nor train anything.
"""

from __future__ import annotations

import argparse
import json
import math


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", default="ganomaly")
    parser.add_argument("--tf-cpu-devices", type=int, default=0)
    args = parser.parse_args()

    if args.tf_cpu_devices:
        import tensorflow as tf

        (cpu,) = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.tf_cpu_devices)

    import keras

    from anomaly_gan.models import build_gan, fit_gan
    from tests.models.helpers import sine_windows, tiny_model, tiny_training

    training = tiny_training(epochs=2, batch_size=16)
    windows = sine_windows(45, 9, 3)  # odd sizes on purpose: every batch must still split evenly
    gan = build_gan(tiny_model(args.kind), training, 9, 3)
    fit = fit_gan(gan, windows[:33], windows[33:], training)
    devices: list[str] = []
    if keras.backend.backend() == "jax":
        devices = sorted(str(d) for d in gan.trainable_variables[0].value.sharding.device_set)
    else:
        mirrored = gan.trainable_variables[0].value  # a tf.distribute MirroredVariable
        devices = sorted(component.device
                         for component in getattr(mirrored, "values", [mirrored]))
    print(json.dumps({
        "backend": keras.backend.backend(),
        "replicas": gan.distribution.replicas,
        "description": gan.distribution.description,
        "health_devices": fit.health["devices"],
        "variable_devices": devices,
        "finite": all(math.isfinite(v) for vs in fit.history.values() for v in vs),
        "epochs_run": fit.epochs_run,
        "iterations": {n: int(keras.ops.convert_to_numpy(o.iterations))
                       for n, o in gan.optimizers().items()},
        "updates": fit.health["skipped_updates"],
    }))


if __name__ == "__main__":
    main()
