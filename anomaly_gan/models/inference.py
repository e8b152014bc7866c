"""Batched inference with a bundle's float32 scorer: windows -> the family's raw outputs."""

from __future__ import annotations

import keras
import numpy as np

from anomaly_gan.errors import DataError
from anomaly_gan.models.base import family

__all__ = ["output_keys", "raw_outputs"]


def output_keys(kind: str) -> tuple[str, ...]:
    """The arrays :func:`raw_outputs` returns for ``kind`` (``GANBase.output_keys``)."""
    return family(kind).output_keys


def raw_outputs(kind: str, nets: dict[str, keras.Model], windows: np.ndarray,
                batch_size: int = 1024) -> dict[str, np.ndarray]:
    """Run the inference networks over ``windows`` (n, W, F) in batches of ``batch_size``.

    Returns float32 arrays: ``reconstruction`` (n, W, F), ``features_real`` / ``features_fake``
    (n, D) and, for GANomaly, ``latent`` / ``latent_hat`` (n, Z). Deterministic: the same
    windows and weights give the same arrays, before and after a save/load.

    A window's outputs can differ by a few float32 ULPs (relative ~1e-7) with the batch it is
    computed in (CPU conv kernels block the batch differently), so streaming micro-batches and
    an offline pass agree to a relative tolerance, not bit for bit.
    """
    keys = output_keys(kind)
    if "scorer" not in nets:
        raise DataError(f"inference networks for {kind} need a 'scorer' model, got "
                        f"{sorted(nets)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    scorer = nets["scorer"]
    _, window, n_features = scorer.input_shape
    arr = np.asarray(windows, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[1:] != (window, n_features):
        raise DataError(f"windows: expected shape (n, {window}, {n_features}), got {arr.shape}")
    missing = [k for k in keys if k not in scorer.output]
    if missing:
        raise DataError(f"the {kind} scorer lacks outputs {missing}; is it a {kind} model?")
    if len(arr) == 0:
        return {k: np.zeros((0, *scorer.output[k].shape[1:]), dtype=np.float32) for k in keys}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for start in range(0, len(arr), batch_size):
        chunk = arr[start:start + batch_size]
        n = len(chunk)
        # Every distinct batch shape costs a graph trace (~0.1 s): the streaming scorer sees
        # all sizes from 1 to max_batch. Padding to the next power of two bounds the traces
        # to about log2(batch_size) shapes; windows are scored independently of each other.
        padded = min(batch_size, 1 << max(n - 1, 0).bit_length())
        if padded > n:
            chunk = np.concatenate([chunk, np.zeros((padded - n, *chunk.shape[1:]), np.float32)])
        out = scorer.predict_on_batch(chunk)
        for k in keys:
            parts[k].append(np.asarray(out[k], dtype=np.float32)[:n])
    return {k: np.concatenate(v, axis=0) for k, v in parts.items()}
