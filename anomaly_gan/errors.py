"""One root exception for everything the package raises on purpose.

The CLI turns any :class:`AnomalyGanError` into one line on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "AnomalyGanError",
    "BundleError",
    "ConfigError",
    "DataError",
    "TrainingHealthError",
]


class AnomalyGanError(Exception):
    """Root of every error raised deliberately by anomaly_gan."""


class ConfigError(AnomalyGanError, ValueError):
    """A configuration file, key or value is not allowed."""


class DataError(AnomalyGanError, ValueError):
    """Input data is unreadable, malformed or does not match the model."""


class BundleError(AnomalyGanError):
    """A model bundle is missing, corrupted or incompatible."""


class TrainingHealthError(AnomalyGanError):
    """GAN training ended unhealthy (collapse or non-finite losses)."""
