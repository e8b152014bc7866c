"""One root exception for everything the package raises on purpose.

The CLI turns any :class:`AnomalyGanError` into one line on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "AnomalyGanError",
    "BackendError",
    "BundleError",
    "ConfigError",
    "DataError",
    "OutputError",
    "StoreError",
    "TrainingHealthError",
    "brief",
    "clip",
    "duration",
    "name_list",
]


class AnomalyGanError(Exception):
    """Root of every error raised deliberately by anomaly_gan."""


class ConfigError(AnomalyGanError, ValueError):
    """A configuration file, key or value is not allowed."""


class DataError(AnomalyGanError, ValueError):
    """Input data is unreadable, malformed or does not match the model."""


class BackendError(AnomalyGanError, ImportError):
    """The running Keras backend (``KERAS_BACKEND``) cannot do what was asked: training
    needs TensorFlow or JAX."""


class BundleError(AnomalyGanError):
    """A model bundle is missing, corrupted or incompatible."""


class OutputError(AnomalyGanError):
    """An output path cannot be written: it exists as something else, or is not writable."""


class TrainingHealthError(AnomalyGanError):
    """GAN training ended unhealthy (collapse or non-finite losses)."""


# Error lines stay short whatever the input: a value is shown as a bounded repr (a YAML
# "billion laughs" or a 5,000-digit integer must not be expanded to print it) and a list of
# names shows its first few and counts the rest.
_BRIEF = reprlib.Repr()
_BRIEF.maxlevel = 2
_BRIEF.maxlist = _BRIEF.maxtuple = _BRIEF.maxdict = _BRIEF.maxset = 4
_BRIEF.maxstring = _BRIEF.maxother = 60
_BRIEF.maxlong = 40


def brief(value: Any, limit: int = 80) -> str:
    """A repr of ``value`` for an error line: at most about ``limit`` characters.

    >>> brief("x" * 200)[:12], len(brief("x" * 200)) <= 80
    ("'xxxxxxxxxxx", True)
    >>> brief(10 ** 5000)
    'an integer of about 5001 digits'
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        # repr() of a huge int is slow and past 4,300 digits raises ValueError.
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    text = _BRIEF.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clip(text: str, limit: int = 200) -> str:
    """A message (e.g. a library's exception text) cut to ``limit`` characters, unquoted."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def duration(seconds: float) -> str:
    """A span of time in the unit that reads best: how far a line or row is behind a later
    one (Loghub's HPC sample: lines 988 days out of order).

    >>> [duration(t) for t in (0.85, 771.0, 3 * 3600.0, 8.53888e7)]
    ['0.85 s', '12.8 min', '3 h', '988 days']
    """
    for unit, size in (("days", 86_400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= 2 * size:
            n = seconds / size
            return f"{n:.0f} {unit}" if n >= 100 else f"{n:.3g} {unit}"
    return f"{seconds:.3g} s"


def name_list(names: Iterable[Any], limit: int = 10) -> str:
    """Comma-separated names, the first ``limit`` of them and a count of the others.

    >>> name_list(["a", "b", "c"], limit=2)
    'a, b (and 1 more)'
    """
    names = list(names)
    shown = ", ".join(brief(str(n), 60).strip("'\"") for n in names[:limit])
    return shown + (f" (and {len(names) - limit} more)" if len(names) > limit else "")
class StoreError(AnomalyGanError):
    """A model store is missing, malformed, locked, or refuses an operation."""
