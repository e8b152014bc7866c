"""Feature scaling fitted on training data only, stored with the model as plain numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from anomaly_gan.errors import BundleError, brief

__all__ = ["EXTREME_SPREADS", "ROUND_OFF", "Scaler", "fit_scaler", "near_constant", "settled"]

#: A reading more than this many spreads from its feature's centre is no normal value in
#: any reading of the training rows. Training sees such values clipped to it (one 1e12
#: glitch made every attempt's losses non-finite); scoring does not clip, and names such a
#: feature first in the window's explanation (the network's output for every feature is
#: far off then, and the glitch's feature did not always rank first).
EXTREME_SPREADS = 1e4

# Constant (or near-constant) features get unit scale so they neither blow up nor vanish.
# "Near" is relative to the feature's typical magnitude (the median of |x|, so one sentinel
# such as -9.99e36 does not make every real movement "near constant"), so units do not
# matter: values around 1e-9 that vary by 1e-10 are a signal (an absolute floor of 1e-6
# called them constant and the model never saw them move), while 1e6 +- 1e-7 is rounding
# noise on a constant.
_MIN_RELATIVE_SCALE = 1e-12
_MIN_SCALE = 1e-300

#: A reading of a feature that never moved in training which lies within this share of the
#: feature's value counts as that value: float32's resolution (1.2e-7), twice the error of
#: a float64 reading that went through float32 once (a float32 Parquet column or producer:
#: 0.1 arrives as 0.10000000149). Such a feature has unit scale, so the network saw its
#: round-off at full size: an entirely constant training series alerted on every window of
#: readings off by 1e-9 of their value. A real change of the value is larger.
ROUND_OFF = float(np.finfo(np.float32).eps)


def _spread_floor(values: np.ndarray) -> np.ndarray:
    """Per feature of ``(T, F)`` rows: spreads at or under this are no movement (see above)."""
    magnitude = np.median(np.abs(values), axis=0) if len(values) else np.zeros(values.shape[1:])
    return np.maximum(_MIN_RELATIVE_SCALE * magnitude, _MIN_SCALE)


def near_constant(values: np.ndarray) -> np.ndarray:
    """Per feature of ``(T, F)`` rows: holds one value, up to rounding noise on it. The
    scaler gives such a feature unit scale, so the model learns it as constant.

    >>> near_constant(np.array([[1.0, 0.0, 1e6, 1e-9], [2.0, 0.0, 1e6 + 1e-7, 2e-9]])).tolist()
    [False, True, True, False]
    """
    values = np.asarray(values, dtype=np.float64)
    return np.ptp(values, axis=0) <= _spread_floor(values)


@dataclass(frozen=True)
class Scaler:
    """``(x - center) / scale`` per feature; ``low`` and ``high``: each feature's smallest
    and largest training reading (None in bundles written before 2026-12-05), for
    explanations (:meth:`beyond_range`)."""

    method: Literal["robust", "minmax"]
    center: np.ndarray
    scale: np.ndarray
    low: np.ndarray | None = None
    high: np.ndarray | None = None

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scale ``(..., F)`` values to float32, each feature that never moved in training
        read as its training value within :meth:`round_off` of it (:func:`settled`). A
        reading past float32's range once scaled (3.4e38 spreads; 1e39 on any sensor, or
        1e308 on one of spread below 1) is ``inf`` of its sign, without numpy's overflow
        warning, which was a stray line in ``train``'s output (training clips it, scoring
        calls such a window unscorable).

        >>> s = fit_scaler(np.array([[0.1, 0.0], [0.1, 1.0]]))
        >>> s.transform(np.array([[0.10000000149011612, 1.0], [0.1001, 1.0]])).tolist()
        [[0.0, 1.0], [9.999999747378752e-05, 1.0]]
        >>> s.transform(np.array([[1e39, -1.7976931348623157e308]])).tolist()
        [[inf, -inf]]
        """
        with np.errstate(over="ignore"):
            return ((settled(values, self.center, self.round_off()) - self.center)
                    / self.scale).astype(np.float32)

    def round_off(self) -> np.ndarray:
        """``(F,)``: for a feature that never moved in training (:func:`near_constant`, so
        unit scale), :data:`ROUND_OFF` of its value: readings that close to its training
        value are that value (:func:`settled`); 0 for every other feature, and for every
        feature of a bundle without the training range (written before 2026-12-05).

        >>> fit_scaler(np.array([[1500.0, 1.0, 0.0], [1500.0, 2.0, 0.0]])).round_off().tolist()
        [0.00017881393432617188, 0.0, 0.0]
        """
        if self.low is None or self.high is None:
            return np.zeros_like(self.center)
        magnitude = np.maximum(np.abs(self.low), np.abs(self.high))
        still = ((self.high - self.low <= np.maximum(_MIN_RELATIVE_SCALE * magnitude, _MIN_SCALE))
                 & (self.scale == 1.0))
        return np.where(still, ROUND_OFF * magnitude, 0.0)

    def inverse_transform(self, scaled: np.ndarray) -> np.ndarray:
        """Back to the data's units, in float64: ``scaled * scale + center``, the exact
        inverse of :meth:`transform`'s affine map (both methods are one). Of values that
        went through :meth:`transform`, only its float32 rounding is lost: a relative
        error of about 6e-8 of ``|scaled| * scale``.

        >>> s = Scaler("robust", np.array([1500.0]), np.array([300.0]))
        >>> s.inverse_transform(s.transform(np.array([[1800.0], [1234.5]]))).tolist()
        [[1800.0], [1234.500002861023]]
        """
        return np.asarray(scaled, dtype=np.float64) * self.scale + self.center

    def spreads(self, values: np.ndarray) -> np.ndarray:
        """How far each of ``(..., F)`` values lies from its feature's centre, in units of
        its scale, in float64: what :meth:`transform` gives in size before its float32
        cast, which overflows past 3.4e38.

        >>> s = Scaler("robust", np.array([1.0]), np.array([2.0]))
        >>> s.spreads(np.array([[-3.0], [1e300]])).tolist()
        [[2.0], [5e+299]]
        """
        return np.abs((np.asarray(values, dtype=np.float64) - self.center) / self.scale)

    def beyond_range(self, windows: np.ndarray) -> np.ndarray | None:
        """``(n, F)``: how far each feature's readings in each of ``(n, W, F)`` windows go
        beyond its training range, in units of its scale (0 within it); None without the
        range (an older bundle).

        >>> s = Scaler("robust", np.zeros(2), np.array([1.0, 2.0]), np.zeros(2), np.ones(2))
        >>> s.beyond_range(np.array([[[0.5, 5.0], [-3.0, 1.0]]])).tolist()
        [[3.0, 2.0]]
        """
        if self.low is None or self.high is None:
            return None
        with np.errstate(invalid="ignore"):
            return self.beyond_extremes(np.nanmax(windows, axis=1), np.nanmin(windows, axis=1))

    def beyond_extremes(self, highest: np.ndarray, lowest: np.ndarray) -> np.ndarray | None:
        """:meth:`beyond_range` from the windows' ``(n, F)`` largest and smallest readings
        (``np.nanmax`` and ``np.nanmin`` over their rows), for a caller that has them."""
        if self.low is None or self.high is None:
            return None
        # a reading near the float64 limit is out by more than a float64 holds: inf, as far
        # out as it can be said, without numpy's overflow warning (a line in serve's log)
        with np.errstate(invalid="ignore", over="ignore"):
            above = highest - self.high
            below = self.low - lowest
            return np.maximum(np.maximum(above, below), 0.0) / self.scale

    def held_constant(self, highest: np.ndarray, lowest: np.ndarray) -> np.ndarray | None:
        """``(n, F)``: True where a feature held one value in every training row and the
        windows' largest and smallest readings (as :meth:`beyond_extremes` takes them) are
        both that value: nothing about it changed. None without the training range. As in
        :meth:`transform`, a reading within :meth:`round_off` of the value of a feature that
        never moved is that value (a float32 producer's 0.10000000149 for 0.1).

        >>> s = Scaler("minmax", np.zeros(2), np.ones(2), low=np.array([0.0, 0.0]),
        ...            high=np.array([0.0, 5.0]))
        >>> s.held_constant(np.array([[0.0, 0.0], [1.0, 0.0]]), np.zeros((2, 2))).tolist()
        [[True, False], [False, False]]
        """
        if self.low is None or self.high is None:
            return None
        margin = self.round_off()
        with np.errstate(invalid="ignore"):
            exact = (self.low == self.high) & (highest == self.low) & (lowest == self.low)
            settled = ((margin > 0) & (np.abs(highest - self.center) <= margin)
                       & (np.abs(lowest - self.center) <= margin))
            return exact | settled

    def to_dict(self) -> dict[str, Any]:
        out = {"method": self.method, "center": self.center.tolist(), "scale": self.scale.tolist()}
        if self.low is not None and self.high is not None:
            out.update(low=self.low.tolist(), high=self.high.tolist())
        return out

    @classmethod
    def from_dict(cls, raw: Any) -> Scaler:
        """Read back :meth:`to_dict`'s form; a :class:`BundleError` names the key that is
        missing or wrong, as ``calibration.json`` holds it (``scaler.center: ...``)."""
        if not isinstance(raw, dict):
            raise BundleError(f"scaler: expected an object with 'method', 'center' and "
                              f"'scale', got {brief(raw)}")
        if raw.get("method") not in ("robust", "minmax"):
            raise BundleError(f"scaler.method: expected 'robust' or 'minmax', "
                              f"got {brief(raw.get('method'))}")
        arrays = {}
        ranged = "low" in raw or "high" in raw  # both, in bundles from 2026-12-05 on
        for key in ("center", "scale", *(("low", "high") if ranged else ())):
            try:
                arrays[key] = np.asarray(raw[key], dtype=np.float64)
            except KeyError:
                raise BundleError(f"scaler.{key}: missing; expected a list of numbers") from None
            except (TypeError, ValueError):
                raise BundleError(f"scaler.{key}: expected a list of numbers, "
                                  f"got {brief(raw[key])}") from None
        center, scale = arrays["center"], arrays["scale"]
        if (center.shape != scale.shape or center.ndim != 1 or not np.isfinite(center).all()
                or not np.isfinite(scale).all() or np.any(scale <= 0)):
            raise BundleError("scaler: center and scale must be equal-length lists of finite "
                              "numbers, and scale > 0")
        low, high = arrays.get("low"), arrays.get("high")
        if low is not None and high is not None and (
                low.shape != center.shape or high.shape != center.shape
                or not np.isfinite(low).all() or not np.isfinite(high).all()
                or np.any(low > high)):
            raise BundleError("scaler: low and high must be lists of finite numbers as long as "
                              "center, and low <= high")
        return cls(method=raw["method"], center=center, scale=scale, low=low, high=high)


def settled(values: Any, center: np.ndarray, round_off: np.ndarray, ops: Any = np) -> Any:
    """``values`` ``(..., F)`` with each reading within ``round_off`` of its feature's
    ``center`` replaced by the centre (:meth:`Scaler.round_off`); ``values`` itself where no
    feature has a margin, so the features that moved in training are scaled bit for bit as
    before. ``ops``: ``numpy``, or ``keras.ops`` inside the compiled scorer.

    >>> settled(np.array([[20.0 + 1e-8, 3.0], [21.0, 3.0]]), np.array([20.0, 0.0]),
    ...         np.array([2.4e-6, 0.0])).tolist()
    [[20.0, 3.0], [21.0, 3.0]]
    """
    if not np.any(round_off > 0):
        return values
    return ops.where(ops.abs(values - center) <= round_off, center, values)


def fit_scaler(values: np.ndarray, method: Literal["robust", "minmax"] = "robust") -> Scaler:
    """Fit on ``(T, F)`` training rows.

    ``robust``: median and inter-quartile range (outliers in the normal period do not
    squash everything else). ``minmax``: maps the training range to [0, 1].

    >>> s = fit_scaler(np.array([[0.0], [1.0], [2.0], [3.0], [4.0]]))
    >>> float(s.transform(np.array([[2.0]]))[0, 0])
    0.0
    >>> fit_scaler(np.array([[1e-9], [2e-9], [3e-9], [4e-9], [5e-9]])).scale  # units do not matter
    array([2.e-09])
    >>> fit_scaler(np.array([[7.0, 1e6], [7.0, 1e6 + 1e-7]])).scale  # constant; rounding noise
    array([1., 1.])
    >>> fit_scaler(np.array([[0.0], [1.0], [2.0], [3.0], [-9.99e36]])).scale  # a sentinel
    array([2.])
    """
    values = np.asarray(values, dtype=np.float64)
    floor = _spread_floor(values)
    if method == "robust":
        q25, center, q75 = np.percentile(values, [25, 50, 75], axis=0)
        scale = q75 - q25
        # Binary flags and mostly-constant features have IQR 0: fall back to the full
        # range, so a rare 0/1 flag stays a 0/1-sized signal instead of being blown up.
        spread = values.max(axis=0) - values.min(axis=0)
        scale = np.where(scale > floor, scale, spread)
    elif method == "minmax":
        center = values.min(axis=0)
        scale = values.max(axis=0) - center
    else:
        raise ValueError(f"unknown scaler {method!r}")
    scale = np.where(scale > floor, scale, 1.0)
    return Scaler(method=method, center=center, scale=scale, low=values.min(axis=0),
                  high=values.max(axis=0))
