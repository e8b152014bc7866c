"""Which Keras dtype policy training uses: ``training.precision`` and the ``auto`` rule.

``auto`` picks the best policy for the first device the running backend computes on:

=======================================  ==================  ===============================
device                                   policy              why
=======================================  ==================  ===============================
GPU with compute capability >= 8.0       ``mixed_bfloat16``  bfloat16 tensor cores (Ampere+)
(A100, H100, RTX 30xx/40xx ...)                              and float32's range: no loss
                                                             scaling needed
other GPU (V100, T4, RTX 20xx ...)       ``mixed_float16``   float16 tensor cores; loss
                                                             scaling keeps gradients from
                                                             underflowing
TPU                                      ``mixed_bfloat16``  native bfloat16
CPU                                      ``float32``         mixed precision is no faster on
                                                             CPU and less exact
=======================================  ==================  ===============================

Under ``mixed_*`` the layers compute in 16 bits and keep float32 weights; losses are computed
in float32, and the inference copies saved in a bundle are always float32.
"""

from __future__ import annotations

import keras

from anomaly_gan.config import PRECISIONS

__all__ = ["best_precision", "cpu_precision_note", "detect_accelerator", "resolve_precision"]


def best_precision(platform: str, compute_capability: tuple[int, int] | None = None) -> str:
    """The ``auto`` rule for a device of ``platform`` ("gpu", "tpu" or "cpu").

    >>> best_precision("gpu", (9, 0)), best_precision("gpu", (7, 5))
    ('mixed_bfloat16', 'mixed_float16')
    >>> best_precision("tpu"), best_precision("cpu")
    ('mixed_bfloat16', 'float32')
    """
    if platform == "tpu":
        return "mixed_bfloat16"
    if platform == "gpu":
        if compute_capability is not None and compute_capability >= (8, 0):
            return "mixed_bfloat16"
        return "mixed_float16"
    return "float32"


def cpu_precision_note(name: str, platform: str | None = None) -> str | None:
    """A ``note:`` line for ``mixed_float16`` asked for by name on a ``"cpu"`` platform
    (:func:`detect_accelerator`'s when not given, asked only for that policy), else
    ``None``. The policy is honoured (its numerics, loss scaling included, can be checked
    without a GPU), but CPUs compute float16 without a fast path: on 2 cores a short GANomaly
    run took 3.2 s under float32, 3.4 s under mixed_bfloat16 and 21.7 s under mixed_float16
    (an f-AnoGAN run 11 s and 170 s on a busy machine). bfloat16 costs little there, so it
    gets no note.

    >>> cpu_precision_note("mixed_bfloat16", "cpu"), cpu_precision_note("mixed_float16", "gpu")
    (None, None)
    >>> cpu_precision_note("mixed_float16", "cpu")[:55]
    'note: training.precision mixed_float16 on a CPU (no GPU'
    """
    if name != "mixed_float16" or (platform or detect_accelerator()[0]) != "cpu":
        return None
    return ("note: training.precision mixed_float16 on a CPU (no GPU or TPU found): float16 "
            "has no fast path there, so training runs 2x to 8x slower than under float32 "
            "on 2 cores (make bench-train, by the CPU); precision auto picks float32 on a CPU, "
            "and the bundle's networks are float32 either way")


def _capability(value: object) -> tuple[int, int] | None:
    """``"8.6"`` or ``(8, 6)`` -> ``(8, 6)``; anything else -> ``None``."""
    try:
        parts = str(value).strip("()").replace(",", ".").replace(" ", "").split(".")
        return int(parts[0]), int(parts[1]) if len(parts) > 1 and parts[1] else 0
    except (ValueError, IndexError):
        return None


def detect_accelerator() -> tuple[str, tuple[int, int] | None]:
    """``(platform, compute capability)`` of the device the running Keras backend uses."""
    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        platform = "gpu" if device.platform in ("gpu", "cuda", "rocm") else device.platform
        return platform, _capability(getattr(device, "compute_capability", None))
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "cpu", None
    details = tf.config.experimental.get_device_details(gpus[0])
    return "gpu", _capability(details.get("compute_capability"))


def resolve_precision(name: str) -> str:
    """``"auto"`` -> :func:`best_precision` of :func:`detect_accelerator`; any other name
    passes through after validation.

    >>> resolve_precision("float32")
    'float32'
    """
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; expected one of {', '.join(PRECISIONS)}")
    if name != "auto":
        return name
    return best_precision(*detect_accelerator())
