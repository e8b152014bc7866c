"""One compiled call per batch: raw windows -> raw score components and per-feature errors.

:class:`CompiledScorer` fuses the three steps that used to run one after the other in numpy
and Keras (scale, run the scorer network, reduce its outputs to components) into a single
TensorFlow graph function that returns only what scoring needs: the components ``(n,)``, the
per-feature reconstruction error ``(n, F)`` and the per-feature movement ``(n, F)`` (for the
``quiet`` component), not the ``(n, W, F)`` reconstruction. The definitions are
:func:`anomaly_gan.scoring.raw_components`'s and :func:`anomaly_gan.scoring.window_activity`'s,
traced into the graph, so there is one definition for every path.

Scaling is computed in float64 exactly as :meth:`Scaler.transform` does (readings within
round-off of a feature that never moved in training read as its value: ``round_off``, see
:func:`anomaly_gan.data.scaling.settled`), then cast to float32, so the network sees the
same inputs as before; the reductions run in float32 (relative
differences ~1e-7 against the former float64 numpy reductions).

By default the function is traced once for any batch size (``None`` batch dimension), so a
batch is never padded. ``jit_compile=True`` compiles it with XLA instead, which needs one
program per batch shape (~0.3 s each on two cores): a batch is then padded up to
:func:`padded_size` ``(n)`` (powers of two up to 32, then multiples of 32: at most 31 windows
of padding) and split into calls of at most :data:`MAX_CALL` windows.
``bench/stream.py`` measures both; on 2 CPU cores XLA cost the same CPU per window as the
plain graph (within noise) and 21 compilations at start, so the default is the plain graph.
Windows are scored independently of each other, so neither batching nor padding changes a
window's result beyond the ULP-level differences batch composition already causes.

:func:`configure_threads` sizes TensorFlow's thread pools from the container's CPU limit
(cgroups) or, without one, the CPUs it requested (:data:`CPUS_ENV`), since TensorFlow
otherwise sizes them from the host's cores: ``serve`` and ``retrain`` call it.

>>> padded_size(1), padded_size(5), padded_size(33), padded_size(100), padded_size(512)
(1, 8, 64, 128, 512)
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from anomaly_gan.config import CPUS_ENV

__all__ = [
    "CPUS_ENV",
    "GIL_SWITCH_INTERVAL_S",
    "MAX_CALL",
    "CompiledScorer",
    "batch_sizes",
    "configure_threads",
    "cpu_limit",
    "padded_size",
    "thread_settings",
]

MAX_CALL = 512
"""Most windows per compiled call; larger batches are split."""
_STEP = 32  # above this, batches are padded to a multiple of it


def padded_size(n: int) -> int:
    """The compiled batch size that holds ``n`` (1 <= n <= MAX_CALL) windows."""
    if n <= _STEP:
        return 1 << max(n - 1, 0).bit_length()
    return min(MAX_CALL, -(-n // _STEP) * _STEP)


def batch_sizes(limit: int = MAX_CALL) -> list[int]:
    """Every compiled size that a batch of at most ``limit`` windows can use.

    >>> batch_sizes(100)
    [1, 2, 4, 8, 16, 32, 64, 96, 128]
    """
    limit = max(1, min(limit, MAX_CALL))
    return sorted({padded_size(n) for n in range(1, limit + 1)})


class CompiledScorer:
    """``raw (n, W, F) float64 windows -> (components {name: (n,)}, per_feature (n, F),
    activity (n, F))``.

    ``scorer`` is the inference network of :func:`anomaly_gan.models.inference_networks`
    (window batch -> dict of raw outputs); ``center``/``scale`` are the fitted scaler's, and
    ``round_off`` its :meth:`~anomaly_gan.data.Scaler.round_off` (None: no margin).
    ``jit_compile``: XLA, see the module docstring. Under a backend other than TensorFlow
    the function runs eagerly. ``reference_codes``: the calibration's latent codes of normal
    training windows, for the ``knn`` component.
    """

    def __init__(self, scorer: Any, center: np.ndarray, scale: np.ndarray,
                 jit_compile: bool = False, reference_codes: np.ndarray | None = None,
                 round_off: np.ndarray | None = None) -> None:
        import keras

        from anomaly_gan.data.scaling import settled
        from anomaly_gan.scoring import raw_components, window_activity

        _, self.window, self.n_features = scorer.input_shape
        center64 = np.asarray(center, dtype=np.float64)
        scale64 = np.asarray(scale, dtype=np.float64)
        margin64 = np.zeros_like(center64) if round_off is None else np.asarray(round_off,
                                                                                np.float64)
        ops = keras.ops
        # TensorFlow traces the scaling with a float64 input. The other backends run it on
        # the numpy windows, and in numpy it stays: JAX computes in float32 (unless
        # jax_enable_x64), and its where() took every reading to float32 before the centres
        # came off, so a feature at 1.7e9 that moved by tens (float32's step there is 128)
        # reached the network as 0 wherever another feature never moved in training.
        wide = ops if keras.backend.backend() == "tensorflow" else np

        def scale_(raw: Any) -> Any:
            return ops.cast((settled(raw, center64, margin64, wide) - center64) / scale64,
                            "float32")

        def fused(raw: Any) -> tuple[dict[str, Any], Any, Any]:
            scaled = scale_(raw)
            comps, per_feature = raw_components(scaled, scorer(scaled, training=False),
                                                reference_codes)
            return comps, per_feature, window_activity(scaled)

        def reconstruct(raw: Any) -> Any:
            scaled = scale_(raw)
            return scorer(scaled, training=False)["reconstruction"]

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            # Only for the windows that alert (explanations in the data's units): traced
            # once like the plain scoring function; eager, a call cost ~30 ms on 2 cores.
            self._reconstruct = tf.function(reconstruct, autograph=False, input_signature=[
                tf.TensorSpec([None, self.window, self.n_features], tf.float64)])
            # autograph=False: ``fused`` has no Python control flow on tensors to convert, and
            # autograph wrote each converted function to a temporary file (five a scorer),
            # which a process killed with SIGKILL (an OOM kill) left in /tmp.
            if jit_compile:
                self._fn = tf.function(fused, jit_compile=True, autograph=False)
            else:
                self._fn = tf.function(fused, autograph=False, input_signature=[
                    tf.TensorSpec([None, self.window, self.n_features], tf.float64)])
        else:
            self._fn = fused
            self._reconstruct = reconstruct
        self.jit_compile = jit_compile and keras.backend.backend() == "tensorflow"
        self._to_numpy = ops.convert_to_numpy

    def __call__(self, raw: np.ndarray
                 ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        raw = np.asarray(raw, dtype=np.float64)
        n = raw.shape[0]
        comps: dict[str, list[np.ndarray]] = {}
        per_feature: list[np.ndarray] = []
        activity: list[np.ndarray] = []
        for start in range(0, n, MAX_CALL):
            chunk = raw[start:start + MAX_CALL]
            m = chunk.shape[0]
            size = padded_size(m) if self.jit_compile else m
            if size > m:
                chunk = np.concatenate([chunk, np.zeros((size - m, *chunk.shape[1:]))])
            c, pf, act = self._fn(chunk)
            for k, v in c.items():
                comps.setdefault(k, []).append(self._to_numpy(v)[:m])
            per_feature.append(self._to_numpy(pf)[:m])
            activity.append(self._to_numpy(act)[:m])
        if not per_feature:
            raise ValueError("no windows to score")
        return ({k: np.concatenate(v) for k, v in comps.items()},
                np.concatenate(per_feature), np.concatenate(activity))

    def reconstruct(self, raw: np.ndarray) -> np.ndarray:
        """The scorer network's reconstruction of ``(n, W, F)`` raw windows: ``(n, W, F)``
        float32, scaled (the network's own units), from the same inputs as :meth:`__call__`."""
        raw = np.asarray(raw, dtype=np.float64)
        return np.concatenate([self._to_numpy(self._reconstruct(raw[s:s + MAX_CALL]))
                               for s in range(0, raw.shape[0], MAX_CALL)])

    def warm_up(self, max_batch: int = MAX_CALL) -> None:
        """Trace the function (under XLA: compile every batch size that calls of at most
        ``max_batch`` windows meet) and :meth:`reconstruct`'s."""
        for size in batch_sizes(max_batch) if self.jit_compile else [1]:
            self(np.zeros((size, self.window, self.n_features)))
        self.reconstruct(np.zeros((1, self.window, self.n_features)))


# ---------------------------------------------------------------------- threads


def cpu_limit(cgroup_root: str = "/sys/fs/cgroup") -> float:
    """CPUs this process may use: the smallest of the cgroup quota (v2 ``cpu.max`` or v1
    ``cpu.cfs_quota_us``/``cpu.cfs_period_us``) if one is set, :data:`CPUS_ENV` if set to a
    positive number, and the CPUs in its affinity mask. A Kubernetes ``limits.cpu: 1500m``
    gives 1.5."""
    cpus = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                 else os.cpu_count() or 1)
    try:
        entitled = float(os.environ.get(CPUS_ENV, "") or "nan")
    except ValueError:  # not a number: as if unset (the variable is a hint, not a setting)
        entitled = math.nan
    if entitled > 0:
        cpus = min(cpus, entitled)
    root = Path(cgroup_root)
    quota: float | None = None
    try:
        text = (root / "cpu.max").read_text().split()
        if text and text[0] != "max":
            quota = float(text[0]) / float(text[1])
    except (OSError, ValueError, IndexError):
        try:
            q = float((root / "cpu" / "cpu.cfs_quota_us").read_text())
            p = float((root / "cpu" / "cpu.cfs_period_us").read_text())
            if q > 0 and p > 0:
                quota = q / p
        except (OSError, ValueError):
            pass
    return min(cpus, quota) if quota else cpus


def thread_settings(cpus: float, loop: bool = True) -> tuple[int, int]:
    """``(intra_op, inter_op)`` threads for a process allowed ``cpus`` CPUs.

    A scorer (``loop``): the scoring loop (polling, JSON parsing, windows, producing) keeps
    one core busy while the model thread scores the previous batch, so the model gets the
    remaining whole CPUs (at least one) for its intra-op pool, and one inter-op thread (the
    scorer network is one chain of ops). A batch job (``loop=False``: ``retrain``'s
    training and scoring) has no loop beside the model: both pools get the whole CPUs, as
    TensorFlow sizes them on a machine of that many cores (it counts the host's cores, not
    the container's limit).

    >>> thread_settings(2.0), thread_settings(1.5), thread_settings(8.0)
    ((1, 1), (1, 1), (7, 1))
    >>> thread_settings(0.5, loop=False), thread_settings(2.5, loop=False)
    ((1, 1), (2, 2))
    """
    whole = max(1, math.floor(cpus))
    return (max(1, whole - 1), 1) if loop else (whole, whole)


GIL_SWITCH_INTERVAL_S = 0.0005
"""The interpreter's GIL switch interval in a scoring process (Python's default: 0.005).

The model thread hands the GIL back and forth many times per batch (the graph call, each
large numpy operation of the post-processing), and each time it wants it back while the
loop thread runs Python it waits for the loop to reach the switch interval. With the
default 5 ms that wait was of the order of the batch's whole compute (~4 ms for 512
windows). Measured with ``bench/stream.py``'s scorer run, interleaved, 5 runs each on 2
cores: median 37.2k events/s at 5 ms, 41.9k at 1 ms, 46.8k at 0.5 ms."""


def configure_threads(cpus: float | None = None, loop: bool = True) -> tuple[int, int]:
    """Apply :func:`thread_settings` for ``cpus`` (default :func:`cpu_limit`) to TensorFlow
    and return the pools in effect; a scorer (``loop``) also gets
    :data:`GIL_SWITCH_INTERVAL_S`. The pools can only be sized before TensorFlow executes its
    first op; later they stay as they are and the pools already in use are returned."""
    if loop:
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    intra, inter = thread_settings(cpu_limit() if cpus is None else cpus, loop)
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
            tf.config.threading.set_inter_op_parallelism_threads(inter)
        except RuntimeError:  # TensorFlow already initialised: keep its pools
            return (tf.config.threading.get_intra_op_parallelism_threads(),
                    tf.config.threading.get_inter_op_parallelism_threads())
    return intra, inter
