"""A fitted detector: scaler + inference networks + calibration -> scores.

The same object scores a file offline (:meth:`Detector.score_series`) and micro-batches of
windows in the streaming service (:meth:`Detector.score_windows`). Row ``t`` of a series
gets the score of the window that *ends* at ``t`` (causal), so both paths emit identical
numbers for the same events.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from anomaly_gan.config import Config
from anomaly_gan.data.counters import counter_columns
from anomaly_gan.data.scaling import EXTREME_SPREADS, Scaler
from anomaly_gan.data.windows import sliding_windows
from anomaly_gan.errors import DataError, brief, name_list
from anomaly_gan.scoring import (
    SEVERITY_LEVELS,
    FeatureErrors,
    QuietFeatures,
    RobustStats,
    Threshold,
    TopFeatures,
    combine,
    feature_values,
    severity,
    standardise_components,
    top_features,
    window_activity,
)

__all__ = ["OUT_OF_RANGE_SPREADS", "Calibration", "Detector", "SeriesScores", "WindowScores"]

# Windows per model call when scoring a whole file: bounds memory, keeps batches large.
_CHUNK = 4096

T = TypeVar("T")

#: A reading this many spreads (the scaler's unit) beyond its feature's training range
#: names that feature first in a flagged window's explanation (see
#: :meth:`Detector._extremes_first`); within it, the reconstruction errors rank them.
OUT_OF_RANGE_SPREADS = 1.0


@dataclass(frozen=True)
class Calibration:
    """Everything fitted on normal windows after training (held-out ones; for the model
    errors' statistics and floors also evenly spaced training windows)."""

    component_stats: dict[str, RobustStats]
    feature_stats: RobustStats  # per-feature reconstruction error, for explanations
    weights: dict[str, float]
    threshold: Threshold
    severity_quantiles: np.ndarray  # combined normal scores at SEVERITY_LEVELS
    validation: dict[str, Any] = field(default_factory=dict)
    # Latent codes of a sample of normal training windows: the ``knn`` component's reference.
    reference_codes: np.ndarray | None = None
    # Two-sided components and their floors (scoring.two_sided, see scoring/components.py);
    # bundles written before two-sided scoring have none and score as they always did.
    floors: dict[str, float] = field(default_factory=dict)
    # The worst-feature reconstruction component (scoring.reconstruction: worst_feature, see
    # scoring/components.py); None: the mean over features, as bundles written before it.
    feature_errors: FeatureErrors | None = None
    # Share of the score taken by the largest component (scoring.max_share, see
    # scoring/components.py); bundles written before it have none: the weighted mean alone.
    max_share: float = 0.0
    # The quiet component's per-feature movement band (see scoring/components.py); None:
    # no quiet component (weight 0, or a bundle written before it).
    quiet: QuietFeatures | None = None

    @property
    def components(self) -> tuple[str, ...]:
        """The components this calibration scores."""
        return (*self.component_stats, *(("quiet",) if self.quiet is not None else ()))

    @property
    def score_floors(self) -> dict[str, float]:
        """The floors :func:`combine` applies: the worst-feature component is two-sided per
        feature already, so its mean-over-features floor does not apply to it."""
        if self.feature_errors is None:
            return self.floors
        return {k: v for k, v in self.floors.items() if k != "reconstruction"}

    def combine(self, comps: dict[str, np.ndarray], per_feature: np.ndarray,
                activity: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Raw components, per-feature errors and per-feature movement (``window_activity``)
        -> (standardised components, per-feature explanations, combined score). One
        definition for calibration and scoring.

        A feature's explanation is its reconstruction z-score, or its depth below its normal
        movement where that is larger (a sensor gone flat is named)."""
        standardised = standardise_components(comps, self.component_stats)
        contributions = self.feature_z(per_feature)
        if self.feature_errors is not None:
            standardised["reconstruction"] = self.feature_errors.component(contributions)
        if self.quiet is not None:
            depth = self.quiet.depth(activity)
            standardised["quiet"] = self.quiet.component(depth)
            # Only where a feature is below its band: elsewhere depth is 0, and the order
            # of the reconstruction z-scores (negative ones too) is kept.
            contributions = np.where(depth > 0, np.maximum(contributions, depth), contributions)
        return standardised, contributions, combine(standardised, self.weights, self.score_floors,
                                                     self.max_share)

    def feature_z(self, per_feature: np.ndarray) -> np.ndarray:
        """``(n, F)`` per-feature reconstruction errors -> their z-scores (the explanations
        before the quiet depths)."""
        if self.feature_errors is not None:
            return self.feature_errors.feature_z(per_feature)
        return self.feature_stats.standardise(per_feature)

    def named_by_quiet(self, per_feature: np.ndarray, activity: np.ndarray) -> np.ndarray:
        """``(n, F)``: True where :meth:`combine` explains a feature by its depth below its
        normal movement (a feature gone still), not by its reconstruction error."""
        if self.quiet is None:
            return np.zeros(np.shape(activity), dtype=bool)
        depth = self.quiet.depth(activity)
        with np.errstate(invalid="ignore"):
            return (depth > 0) & (depth >= self.feature_z(per_feature))

    def to_dict(self) -> dict[str, Any]:
        return {
            "component_stats": {k: v.to_dict() for k, v in self.component_stats.items()},
            "feature_stats": self.feature_stats.to_dict(),
            "weights": dict(self.weights),
            "two_sided_floors": dict(self.floors),
            "max_share": self.max_share,
            **({} if self.feature_errors is None
               else {"feature_errors": self.feature_errors.to_dict()}),
            **({} if self.quiet is None else {"quiet": self.quiet.to_dict()}),
            "threshold": self.threshold.to_dict(),
            "severity_quantiles": self.severity_quantiles.tolist(),
            "validation": self.validation,
            **({} if self.reference_codes is None
               else {"reference_codes": self.reference_codes.tolist()}),
        }

    def check(self, n_features: int, latent_dim: int | None = None) -> None:
        """Raise ``ValueError`` naming the first field that cannot score anything sensible.

        A NaN threshold flags nothing and a zero scale divides by zero, silently, at scoring
        time; latent codes of another width than the model's (``latent_dim``) fail inside
        the knn distance. Loading a bundle calls this so it fails at once instead.
        """
        if not math.isfinite(self.threshold.value):
            raise ValueError(f"threshold.value: expected a finite number, got {self.threshold.value}")
        if not self.component_stats:
            raise ValueError("component_stats: expected at least one component")
        for name, st in self.component_stats.items():
            _check_stats(f"component_stats.{name}", st, ())
        _check_stats("feature_stats", self.feature_stats, (n_features,))
        if self.feature_errors is not None:
            fe = self.feature_errors
            _check_stats("feature_errors.stats", fe.stats, (n_features,))
            _check_stats("feature_errors.worst", fe.worst, ())
            if fe.floors is not None and (fe.floors.shape != (n_features,)
                                          or not np.isfinite(fe.floors).all()):
                raise ValueError(f"feature_errors.floors: expected {n_features} finite "
                                 f"number(s), got shape {fe.floors.shape}")
            if "reconstruction" not in self.component_stats:
                raise ValueError("feature_errors: the reconstruction component is missing "
                                 "from component_stats")
        if self.quiet is not None:
            quiet = self.quiet
            _check_arrays("quiet", {"low": quiet.low, "scale": quiet.scale, "eps": quiet.eps},
                          (n_features,), positive=("scale", "eps"))
            if not (math.isfinite(quiet.margin) and quiet.margin >= 0):
                raise ValueError(f"quiet.margin: expected a finite number >= 0, "
                                 f"got {quiet.margin}")
        for name, w in self.weights.items():
            if name not in self.components:
                raise ValueError(f"weights.{name}: no such component in this calibration "
                                 f"({', '.join(self.components)})")
            if not (math.isfinite(w) and w >= 0):
                raise ValueError(f"weights.{name}: expected a finite number >= 0, got {w}")
        if not (math.isfinite(self.max_share) and 0.0 <= self.max_share <= 1.0):
            raise ValueError(f"max_share: expected a number in [0, 1], got {self.max_share}")
        if not any(w > 0 for w in self.weights.values()):
            raise ValueError("weights: expected at least one weight > 0")
        for name, floor in self.floors.items():
            if name not in self.component_stats:
                raise ValueError(f"two_sided_floors.{name}: no such component in "
                                 f"component_stats ({', '.join(self.component_stats)})")
            if not math.isfinite(floor):
                raise ValueError(f"two_sided_floors.{name}: expected a finite number, "
                                 f"got {floor}")
        codes = self.reference_codes
        if "knn" in self.component_stats or codes is not None:
            width = "" if latent_dim is None else f" of {latent_dim} values each (model.latent_dim)"
            if (codes is None or codes.ndim != 2 or len(codes) == 0
                    or (latent_dim is not None and codes.shape[1] != latent_dim)
                    or not np.isfinite(codes).all()):
                got = "none" if codes is None else f"shape {codes.shape}"
                raise ValueError(f"reference_codes: expected a non-empty table of finite latent "
                                 f"codes{width}, got {got}; the knn component measures "
                                 f"distances to them")
        q = self.severity_quantiles
        if q.shape != SEVERITY_LEVELS.shape or not np.isfinite(q).all() or np.any(np.diff(q) < 0):
            raise ValueError(f"severity_quantiles: expected {len(SEVERITY_LEVELS)} finite, "
                             f"non-decreasing numbers")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Calibration:
        """Read back :meth:`to_dict`'s form. A key that is missing or holds the wrong kind of
        value is a ``ValueError`` naming it and what was expected (:meth:`check` then
        checks the values).

        >>> Calibration.from_dict({"component_stats": {}, "feature_stats": None})
        Traceback (most recent call last):
        ValueError: feature_stats: expected an object with number lists 'median' and 'scale', got None
        """
        per_component = "an object of a number per component"
        return cls(
            component_stats=_read(
                raw, "component_stats", "an object of numbers 'median' and 'scale' per component",
                lambda v: {str(k): RobustStats.from_dict(st) for k, st in v.items()}),
            feature_stats=_read(raw, "feature_stats",
                                "an object with number lists 'median' and 'scale'",
                                RobustStats.from_dict),
            weights=_read(raw, "weights", per_component, _numbers_by_name),
            threshold=_read(raw, "threshold", "an object with a number 'value' and a 'method'",
                            Threshold.from_dict),
            severity_quantiles=_read(raw, "severity_quantiles", "a list of numbers", _floats),
            validation=_read(raw, "validation", "an object", dict, default={}),
            reference_codes=_read(raw, "reference_codes",
                                  "a table of latent codes (equal-length lists of numbers)",
                                  lambda v: np.asarray(v, dtype=np.float32), default=None),
            floors=_read(raw, "two_sided_floors", per_component, _numbers_by_name, default={}),
            feature_errors=_read(raw, "feature_errors", "an object with 'stats' and 'worst' (each "
                                 "with 'median' and 'scale') and 'floors'",
                                 FeatureErrors.from_dict, default=None),
            max_share=_read(raw, "max_share", "a number", _float, default=0.0),
            quiet=_read(raw, "quiet", "an object with number lists 'low', 'scale' and 'eps' and "
                        "a number 'margin'", QuietFeatures.from_dict, default=None),
        )


_REQUIRED: Any = object()


def _read(raw: Mapping[str, Any], key: str, expected: str, parse: Callable[[Any], T],
          default: T = _REQUIRED) -> T:
    """``parse(raw[key])``; a ``ValueError`` naming ``key`` if it is missing (and required)
    or ``parse`` refuses its value. With a ``default``, null is the same as missing."""
    value = raw.get(key)
    if value is None and default is not _REQUIRED:
        return default
    if key not in raw:
        raise ValueError(f"{key}: missing; expected {expected}")
    try:
        return parse(value)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        raise ValueError(f"{key}: expected {expected}, got {brief(value)}") from None


def _float(value: Any) -> float:
    """A JSON number (not a string or a boolean, which ``float`` would take)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"not a number: {value!r}")
    return float(value)


def _floats(value: Any) -> np.ndarray:
    return np.asarray([_float(v) for v in value], dtype=np.float64)


def _numbers_by_name(value: Mapping[str, Any]) -> dict[str, float]:
    return {str(k): _float(v) for k, v in value.items()}


def _check_arrays(name: str, arrays: dict[str, np.ndarray], shape: tuple[int, ...],
                  positive: tuple[str, ...] = ()) -> None:
    """Raise ``ValueError`` naming the first of ``arrays`` that is not of ``shape`` and
    finite, or, among ``positive``, not > 0."""
    for part, arr in arrays.items():
        if arr.shape != shape or not np.isfinite(arr).all():
            raise ValueError(f"{name}.{part}: expected {shape[0] if shape else 1} finite "
                             f"number(s), got shape {arr.shape}")
    for part in positive:
        if np.any(arrays[part] <= 0):
            raise ValueError(f"{name}.{part}: expected numbers > 0")


def _check_stats(name: str, st: RobustStats, shape: tuple[int, ...]) -> None:
    _check_arrays(name, {"median": st.median, "scale": st.scale}, shape, positive=("scale",))


@dataclass(frozen=True)
class WindowScores:
    """Scores of ``n`` windows (or rows, for a series)."""

    score: np.ndarray
    threshold: float
    is_anomaly: np.ndarray
    severity: np.ndarray
    components: dict[str, np.ndarray]
    contributions: np.ndarray  # (n, F) standardised per-feature reconstruction error
    top_features: TopFeatures  # names built on access (only alerts read them live)

    def __len__(self) -> int:
        return int(self.score.shape[0])

    def take(self, rows: Sequence[int] | np.ndarray) -> WindowScores:
        """The scores of ``rows`` (indices), in that order: e.g. a series' rows that end
        the windows ``serve`` scores (``score --alerts``)."""
        at = np.asarray(rows, dtype=np.intp)
        return WindowScores(
            score=self.score[at], threshold=self.threshold, is_anomaly=self.is_anomaly[at],
            severity=self.severity[at], components={k: v[at] for k, v in self.components.items()},
            contributions=self.contributions[at],
            top_features=TopFeatures(self.top_features.indices[at], self.top_features.names))


SeriesScores = WindowScores


@dataclass
class Detector:
    """Scores raw (unscaled) windows; a ``data.counters`` feature's rows hold its increases
    (the callers take them: :attr:`counters`). Build with :func:`anomaly_gan.train.train_detector`
    or load with :func:`anomaly_gan.artifacts.load_bundle`."""

    kind: str
    version: str
    feature_names: tuple[str, ...]
    window: int
    scaler: Scaler
    nets: dict[str, Any]
    calibration: Calibration
    config: Config
    metadata: dict[str, Any] = field(default_factory=dict)
    # Fitted state of an input kind, saved as extras/<name>.json (e.g. the log templates).
    extras: dict[str, Any] = field(default_factory=dict)
    _compiled: Any = field(default=None, init=False, repr=False, compare=False)
    # the reference codes _compiled was made with (the knn component's, bound into it)
    _compiled_codes: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def threshold(self) -> float:
        return self.calibration.threshold.value

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def counters(self) -> tuple[int, ...]:
        """Columns of ``data.counters``: the rows this detector reads hold their increase
        per row, not the counter's value (:mod:`anomaly_gan.data.counters`); none for a
        bundle trained before the key existed."""
        return counter_columns(self.feature_names, self.config.data.counters,
                               "the model's features")

    def _check_shape(self, raw: np.ndarray, what: str) -> None:
        if raw.shape[-1] != self.n_features:
            raise DataError(
                f"{what}: expected {self.n_features} features ({name_list(self.feature_names)}), "
                f"got {raw.shape[-1]}"
            )

    def _make_scorer(self, reference_codes: np.ndarray | None) -> Any:
        from anomaly_gan.inference import CompiledScorer

        if "scorer" not in self.nets:
            raise DataError(f"inference networks for {self.kind} need a 'scorer' model, "
                            f"got {sorted(self.nets)}")
        return CompiledScorer(self.nets["scorer"], self.scaler.center, self.scaler.scale,
                              reference_codes=reference_codes,
                              round_off=self.scaler.round_off())

    def _scorer(self, reference_codes: Any = None) -> Any:
        """The compiled scorer with ``reference_codes`` (None: the calibration's), made once
        and kept while they are the same array: training scores the held-out windows, then
        the training windows, then the bundle scores, with one trace (about 0.5 s on 2
        cores) where each made its own."""
        if reference_codes is None and self.calibration is not None:
            reference_codes = self.calibration.reference_codes
        if self._compiled is None or self._compiled_codes is not reference_codes:
            self._compiled = self._make_scorer(reference_codes)
            self._compiled_codes = reference_codes
        return self._compiled

    def share_scorer(self, other: Detector) -> None:
        """Take ``other``'s compiled scorer (same networks and scaler: training's
        provisional detector), used where its reference codes are this calibration's."""
        if other.nets is self.nets and other.scaler is self.scaler:
            self._compiled, self._compiled_codes = other._compiled, other._compiled_codes

    def warm_up(self, max_batch: int = 512) -> None:
        """Trace (compile) the scoring function for batches of up to ``max_batch`` windows,
        then run a few small batches through :meth:`score_windows`, so that no call made
        while serving pays for a first call (up to a second each)."""
        self._scorer().warm_up(max_batch)
        for n in (1, 2, 3, 8):
            self.score_windows(np.zeros((n, self.window, self.n_features)))
        self.feature_values(np.zeros((1, self.window, self.n_features)), [[]])

    def raw_scores(self, raw_windows: np.ndarray, reference_codes: np.ndarray | None = None
                   ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Unstandardised components, per-feature errors and per-feature movement (used for
        calibration): one compiled call per batch
        (:class:`anomaly_gan.inference.CompiledScorer`).

        ``reference_codes`` stands in for the calibration's (training measures the held-out
        windows before the calibration exists).
        """
        scorer = self._scorer(reference_codes)
        comps, per_feature, activity = scorer(np.asarray(raw_windows, dtype=np.float64))
        return ({k: v.astype(np.float64) for k, v in comps.items()},
                per_feature.astype(np.float64), activity.astype(np.float64))

    def score_windows(self, raw_windows: np.ndarray) -> WindowScores:
        """Score ``(n, W, F)`` unscaled windows in one model call."""
        raw_windows = np.asarray(raw_windows, dtype=np.float64)
        if raw_windows.ndim != 3 or raw_windows.shape[1] != self.window:
            raise DataError(
                f"windows: expected shape (n, {self.window}, {self.n_features}), got {raw_windows.shape}"
            )
        self._check_shape(raw_windows, "windows")
        if raw_windows.shape[0] == 0:
            return self._empty()
        comps, per_feature, activity = self.raw_scores(raw_windows)
        cal = self.calibration
        standardised, contributions, score = cal.combine(comps, per_feature, activity)
        unscorable = np.isnan(score) | np.isposinf(score)
        if unscorable.any():
            score, contributions = self._unscorable(raw_windows, unscorable, score,
                                                    contributions)
        flagged = score > self.threshold
        if flagged.any():
            contributions = self._extremes_first(raw_windows, flagged, contributions)
        return WindowScores(
            score=score,
            threshold=self.threshold,
            is_anomaly=score > self.threshold,
            severity=severity(score, cal.severity_quantiles),
            components=standardised,
            contributions=contributions,
            top_features=top_features(contributions, self.feature_names, self.config.scoring.top_k),
        )

    def feature_values(self, raw_windows: np.ndarray, top: Sequence[Sequence[str]]
                       ) -> list[list[dict[str, Any]]]:
        """For each of ``(n, W, F)`` unscaled windows, how far off each of its named
        features (``top``: per window, the names its explanation gives, e.g.
        ``WindowScores.top_features``) is, in the data's units: observed reading and the
        model's reconstruction of it, unscaled (see
        :func:`anomaly_gan.scoring.feature_values` for what each number is).

        One more network call on these windows: meant for the few that alert (``serve``
        calls it once per batch with alerts, ``score`` once per chunk with flagged rows),
        never for every scored window. The reconstruction is the scorer network's, as in
        :meth:`score_windows`, from the same float32 inputs.
        """
        raw = np.asarray(raw_windows, dtype=np.float64)
        if raw.shape[0] == 0:
            return []
        index = {name: j for j, name in enumerate(self.feature_names)}
        indices = [[index[name] for name in names] for names in top]
        recon = self._scorer().reconstruct(raw).astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = self.scaler.transform(raw)
            expected = self.scaler.inverse_transform(recon)
            # A reading past EXTREME_SPREADS (training never saw one; past float32 the
            # window is unscorable) leaves the network's output for the window without
            # meaning, finite or not (1e39 on rpm came back as -9e36): no expected value.
            far = ~(self.scaler.spreads(raw) <= EXTREME_SPREADS).all(axis=(1, 2))
            expected[far] = np.nan
            quiet = movement = normal = None
            if self.calibration.quiet is not None:
                activity = np.asarray(window_activity(scaled), np.float64)
                per_feature = np.abs(scaled - recon).mean(axis=1)
                quiet = self.calibration.named_by_quiet(per_feature, activity)
                movement = activity * self.scaler.scale
                normal = self.calibration.quiet.normal_movement() * self.scaler.scale
        return feature_values(raw, expected, indices, self.feature_names, self.scaler.center,
                              quiet, movement, normal, self.counters)

    def flagged_feature_values(self, raw: np.ndarray, scores: SeriesScores
                               ) -> dict[int, list[dict[str, Any]]]:
        """:meth:`feature_values` of the flagged rows of a ``(T, F)`` series that
        :meth:`score_series` scored as ``scores``: row -> its top features' values, the
        same numbers ``serve`` puts in the alert of the window ending at that row."""
        raw = np.asarray(raw, dtype=np.float64)
        rows = np.flatnonzero(scores.is_anomaly)
        windows = sliding_windows(raw, self.window, 1)
        out: dict[int, list[dict[str, Any]]] = {}
        for i in range(0, len(rows), _CHUNK):
            chunk = rows[i:i + _CHUNK]
            values = self.feature_values(windows[chunk - (self.window - 1)],
                                         [scores.top_features[j] for j in chunk.tolist()])
            out.update(zip(chunk.tolist(), values, strict=True))
        return out

    def _extremes_first(self, raw_windows: np.ndarray, flagged: np.ndarray,
                        contributions: np.ndarray) -> np.ndarray:
        """In the ``flagged`` windows (the ones explained in alerts), a feature with a
        reading more than :data:`OUT_OF_RANGE_SPREADS` beyond its training range, or
        beyond :data:`EXTREME_SPREADS` from its centre, ranks first, by how far out it
        lies. The network's output is off for every feature then: a 1e12 glitch on one
        sensor was explained by another, and so was a queue at 30 that never passed 10 in
        training (the untouched sensor beside it was named first in 20 of 51 windows).
        A feature at the one value it held in every training row ranks last: nothing about
        it changed. (For flagged windows only: normal traffic pays nothing; the scores are
        computed before, and not changed.)"""
        windows = raw_windows if flagged.all() else raw_windows[flagged]  # no copy of all
        # each window's largest and smallest readings, once for both measures: in a burst
        # of alerts (every window flagged) the four reductions were a sixth of the model
        # thread's time per window
        highest, lowest = np.nanmax(windows, axis=1), np.nanmin(windows, axis=1)
        far = self._farthest(highest, lowest)
        rank = np.where(far > EXTREME_SPREADS, far, 0.0)
        beyond = self.scaler.beyond_extremes(highest, lowest)
        if beyond is not None:
            rank = np.maximum(rank, np.where(beyond > OUT_OF_RANGE_SPREADS, beyond, 0.0))
        out = rank > 0
        held = self.scaler.held_constant(highest, lowest)
        held = held & ~out if held is not None else np.zeros_like(out)
        if not out.any() and not held.any():
            return contributions
        contributions = np.array(contributions, dtype=np.float64)
        mine = contributions[flagged]
        finite = np.isfinite(mine)
        # above every other feature's value in the window, whatever its scale; the others
        # only: beside a reading of 1e308, 1e308 + rank was 1e308 for every out-of-range
        # feature, and they were named in column order, not by how far out they lie
        top = np.nanmax(np.where(finite & ~out, np.abs(mine), 0.0), axis=1, keepdims=True)
        # below every other one: a feature at the one value it held in every training row
        # (a logs model's 'other' and 'unseen' columns at 0, a constant sensor) did not
        # change. Its reconstruction error, z-scored against errors near 0, named 'other'
        # and 'unseen' among the first 3 in 306 and 248 of the 480 flagged windows of
        # bench/logs_explain.py with no such line in them (0 and 0 now)
        bottom = np.nanmin(np.where(finite, mine, np.inf), axis=1, keepdims=True)
        bottom = np.where(np.isfinite(bottom), bottom, 0.0) - 1.0
        with np.errstate(over="ignore"):  # a rank near the float64 limit ranks first as inf
            contributions[flagged] = np.where(out, top + rank, np.where(held, bottom, mine))
        return contributions

    def _farthest(self, highest: np.ndarray, lowest: np.ndarray) -> np.ndarray:
        """``(n, F)``: how far out, in spreads of the training rows, each feature's most
        extreme reading in each window lies, from the windows' ``(n, F)`` largest and
        smallest readings (``np.nanmax``/``np.nanmin`` over their rows: no ``(n, W, F)``
        temporary)."""
        sc = self.scaler
        with np.errstate(over="ignore"):  # 1e308 on a sensor of spread 0.3: inf spreads out
            return np.maximum(np.abs(highest - sc.center), np.abs(lowest - sc.center)) / sc.scale

    def _unscorable(self, raw_windows: np.ndarray, rows: np.ndarray, score: np.ndarray,
                    contributions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score and explain the windows the network cannot compute.

        A reading far enough out overflows float32 inside the model (a 1e39 sentinel always
        does; on the default network 1e20 on a sensor of unit spread did). The components
        then come out NaN or infinite, and a NaN score would flag nothing: the most extreme
        window of a stream would be the one never alerted on (and ``retrain`` would keep
        it in the new baseline). Such a window is as far from normal as a score can say. Its
        score is +inf, so it is flagged with severity 100. Its explanation ranks the features
        by how far out, in spreads of the training rows, their most extreme value lies.
        """
        score = np.where(rows, np.inf, score)
        windows = raw_windows[rows]
        far = self._farthest(np.nanmax(windows, axis=1), np.nanmin(windows, axis=1))
        contributions = np.array(contributions, dtype=np.float64)
        contributions[rows] = far
        return score, contributions

    def _empty(self) -> WindowScores:
        comps = {k: np.empty(0) for k in self.calibration.components}
        return WindowScores(np.empty(0), self.threshold, np.empty(0, bool), np.empty(0), comps,
                            np.empty((0, self.n_features)),
                            TopFeatures(np.empty((0, 0), int), self.feature_names))

    def score_series(self, raw: np.ndarray,
                     progress: Callable[[int, int], None] | None = None) -> SeriesScores:
        """One result per row; rows before the first complete window get NaN / no flag.
        ``progress(done, total)`` is called after each chunk of windows scored."""
        raw = np.asarray(raw, dtype=np.float64)
        if raw.ndim != 2:
            raise DataError(f"series: expected a (rows, features) array, got shape {raw.shape}")
        self._check_shape(raw, "series")
        rows, w = raw.shape[0], self.window
        if rows < w:
            raise DataError(f"series: need at least one window of {w} rows, got {rows} rows")
        windows = sliding_windows(raw, w, 1)
        # Each chunk's results go straight into arrays of one row per row: a list of the
        # chunks' results, concatenated at the end, held every result twice (2 million rows
        # of 3 features: 280 MB more at the end of score, on a peak of 1.56 GB)
        out = self._empty_series(rows)
        components = out.components
        top = out.top_features.indices
        for i in range(0, len(windows), _CHUNK):
            part = self.score_windows(windows[i : i + _CHUNK])
            at = slice(w - 1 + i, w - 1 + i + len(part))
            out.score[at], out.is_anomaly[at] = part.score, part.is_anomaly
            out.severity[at], out.contributions[at] = part.severity, part.contributions
            if i == 0:  # the components in the order scoring gives them (the CSV's columns)
                components.update({name: np.full(rows, np.nan) for name in part.components})
            for name, values in part.components.items():
                components[name][at] = values
            if top.shape[1] != part.top_features.indices.shape[1]:
                top = np.full((rows, part.top_features.indices.shape[1]), -1, dtype=np.intp)
                out.top_features.indices = top
            top[at] = part.top_features.indices
            if progress is not None:
                progress(min(i + _CHUNK, len(windows)), len(windows))
        return out

    def _empty_series(self, rows: int) -> SeriesScores:
        """Scores of ``rows`` rows, none scored yet (NaN, no flag, no features named); no
        components: :meth:`score_series` adds them as the first chunk gives them."""
        top_k = min(self.config.scoring.top_k, self.n_features)
        return WindowScores(
            score=np.full(rows, np.nan), threshold=self.threshold,
            is_anomaly=np.zeros(rows, bool), severity=np.full(rows, np.nan),
            components={}, contributions=np.full((rows, self.n_features), np.nan),
            top_features=TopFeatures(np.full((rows, top_k), -1, dtype=np.intp),
                                     self.feature_names),
        )
