"""Score components -> one combined score (pure functions; higher = more anomalous).

Raw components per window, from the model's raw outputs:

- ``reconstruction``: mean absolute error between the scaled window and its
  reconstruction (also kept per feature, for explanations);
- ``discriminator``: mean squared distance between discriminator/critic features of the
  window and of its reconstruction;
- ``latent`` (GANomaly): mean squared distance between E(x) and E'(G(x));
- ``knn`` (GANomaly): mean Euclidean distance from the window's latent code E(x) to its
  :data:`KNN_NEIGHBOURS` nearest codes of normal training windows (a sample of them is saved
  with the calibration). Reconstruction errors measure how hard a window is to reproduce,
  so a window that is *unusually simple* (a signal gone flat, a missing burst of commands)
  reconstructs well and scores low on them; its latent code still lies away from every
  normal one, which this component measures.

Each is standardised on a log scale with robust statistics (median, MAD) of normal windows,
then combined: a weighted mean, and with ``scoring.max_share`` (default 0.5) that share of
the score given to the largest component instead (see :func:`combine`). The statistics are
fitted once and saved. For the model errors (:data:`TWO_SIDED`) the normal windows are the
held-out ones *and* the evenly spaced training windows of the ``knn`` reference: held-out
windows are the last part of the series only, so on their own they see one stretch of
what the series does (part of a daily cycle, one setpoint), and every other normal stretch
then scores many sigmas out; the training windows span the whole period but the model has
fitted them (lower errors), so neither alone is the spread of normal errors. ``knn`` keeps
the held-out windows only: a reference window's distance to its own code is 0. The
threshold is still set on held-out windows' combined scores, which the model never saw.

Two-sided: the model errors (:data:`TWO_SIDED`) also count when they fall far *below*
normal (``scoring.two_sided``, on by default). A window the model reproduces better than
nearly any window it was trained on (a busy signal gone flat, a stuck sensor, a silent
service) is unlike normal data; one-sided, it scores below every normal window. The
held-out median is no reference for that side: held-out windows come from the end of the
series, which the model did not see, and normal data like the training part reconstructs
several robust sigmas better than they do. So the low side is measured from a *floor*, the
:data:`FLOOR_QUANTILE` of the component on the model's own training windows (saved with the
calibration): ``max(z, floor - z)``. ``knn`` is a distance to normal codes, where small
means typical, so it stays one-sided.

Worst feature (``scoring.reconstruction: worst_feature``, the default): the
``reconstruction`` component is the *worst feature's* error rather than the mean over
features. Each feature's error is standardised on its own log scale (median and MAD of the
normal windows above), two-sided against that feature's floor on the training windows, and
the largest of these per window is standardised once more on them (:class:`FeatureErrors`). A
mean over ``F`` features divides one sensor's fault by ``F``: on a channel with one telemetry
value and 24 command flags, a telemetry fault moved the mean by 1/25 of its size, under the
flags' ordinary noise. The same per-feature z-scores are the explanations, so the sensor
named in an alert is the one that raised the score (also when it went flat). ``mean``
keeps the mean over features (bundles written before this have no :class:`FeatureErrors`
and score that way).

Quiet features (``quiet``, from the windows alone, no model): a feature that moves much
*less* than it ever did in training (a sensor gone flat, commands that stopped, a busy
service gone silent). Its movement in a window is the mean ``|x[t] - x[t-1]|`` over the
window's rows (scaled units, :func:`window_activity`); on a log scale, its depth below the
:data:`QUIET_QUANTILE` of the training windows, in MADs of those windows, less a margin of
:data:`QUIET_MARGIN`, is that feature's depth, and the component is the deepest feature's
(0 for any window that moves like a normal one; :class:`QuietFeatures`). The model errors
cannot say this: a window that holds still is the easiest one to reconstruct, and its
latent code may lie near the codes of normal quiet stretches; a feature that is often
still in training (a command flag) has its quantile at "no movement" and never counts.

Why log: the errors are positive and right-skewed, and their tails differ a lot between
components (the discriminator distance's 99th percentile can sit 12 robust sigmas out
where the reconstruction error's sits at 5). On a linear scale the heaviest-tailed
component decides every combined score; on the log scale a component counts by how many
orders of magnitude it moved, so the weights mean what they say.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from anomaly_gan.config import SCORE_COMPONENTS

__all__ = [
    "COMPONENTS",
    "FLOOR_QUANTILE",
    "KNN_NEIGHBOURS",
    "KNN_REFERENCE",
    "QUIET_MARGIN",
    "QUIET_QUANTILE",
    "TWO_SIDED",
    "FeatureErrors",
    "QuietFeatures",
    "RobustStats",
    "combine",
    "fit_component_stats",
    "fit_feature_errors",
    "fit_quiet_features",
    "fit_robust_stats",
    "knn_distance",
    "low_floors",
    "raw_components",
    "standardise_components",
    "window_activity",
]

COMPONENTS = SCORE_COMPONENTS
KNN_NEIGHBOURS = 5
KNN_REFERENCE = 1024
"""Training windows whose latent codes are kept as the ``knn`` reference (evenly spaced)."""
TWO_SIDED: tuple[str, ...] = ("reconstruction", "discriminator", "latent")
"""Model errors: far below normal is anomalous too (see the module docstring)."""
FLOOR_QUANTILE = 0.01
"""A two-sided component's floor: this quantile of it on the model's own training windows."""
QUIET_QUANTILE = 0.005
"""The low end of a feature's normal movement: this quantile of it on training windows."""
QUIET_MARGIN = 3.0
"""MADs below :data:`QUIET_QUANTILE` that a feature's movement may fall before it counts."""
# Log units: a feature that moves alike in every training window still has a scale, and
# "far less" stays a factor: with the margin, a feature counts from about 2x below its
# quietest normal windows (at 0.05 it counted from 16% below, 20 points at 3x).
_QUIET_MIN_MAD = 0.25
_QUIET_EPS = 0.01  # of the feature's mean movement: movement below this is no movement
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class RobustStats:
    """Median and scale of a quantity on normal data (scalar or per feature)."""

    median: np.ndarray
    scale: np.ndarray

    def standardise(self, values: np.ndarray) -> np.ndarray:
        return (values - self.median) / self.scale

    def to_dict(self) -> dict[str, Any]:
        return {"median": np.asarray(self.median).tolist(), "scale": np.asarray(self.scale).tolist()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RobustStats:
        return cls(np.asarray(raw["median"], dtype=np.float64), np.asarray(raw["scale"], dtype=np.float64))


def fit_robust_stats(values: np.ndarray, axis: int = 0) -> RobustStats:
    """Median and MAD-based sigma along ``axis``; falls back to the std, then to 1, where
    the MAD is zero so that a standardised value is always finite.

    >>> st = fit_robust_stats(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    >>> float(st.median), round(float(st.scale), 4)
    (3.0, 1.4826)
    """
    values = np.asarray(values, dtype=np.float64)
    median = np.median(values, axis=axis)
    mad = np.median(np.abs(values - np.expand_dims(median, axis)), axis=axis) * _MAD_TO_SIGMA
    std = values.std(axis=axis)
    scale = np.where(mad > 1e-12, mad, np.where(std > 1e-12, std, 1.0))
    return RobustStats(median, scale)


_LOG_FLOOR = 1e-12  # errors can be exactly 0 (a perfectly reconstructed constant window)


def _log(values: np.ndarray) -> np.ndarray:
    return np.log(np.asarray(values, dtype=np.float64) + _LOG_FLOOR)


def fit_component_stats(held_out: dict[str, np.ndarray],
                        training: Mapping[str, np.ndarray] | None = None
                        ) -> dict[str, RobustStats]:
    """Robust statistics of each raw component's log on held-out normal windows; for the
    model errors (:data:`TWO_SIDED`) pooled with ``training`` windows' values where it has
    them. ``knn`` never is (see the module docstring), whatever ``training`` holds.

    >>> held = {"latent": np.array([2.0, 2.0, 2.0]), "knn": np.array([1.0, 2.0, 4.0])}
    >>> ones = np.ones(4)
    >>> st = fit_component_stats(held, {"latent": ones, "knn": ones})
    >>> round(float(np.exp(st["latent"].median)), 3), round(float(np.exp(st["knn"].median)), 3)
    (1.0, 2.0)
    """
    training = training or {}
    pooled = {k: np.concatenate([v, training[k]]) if k in TWO_SIDED and k in training else v
              for k, v in held_out.items()}
    return {k: fit_robust_stats(_log(v)) for k, v in pooled.items()}


def standardise_components(components: dict[str, np.ndarray],
                           stats: dict[str, RobustStats]) -> dict[str, np.ndarray]:
    """Robust z-scores of the log components: 0 is a typical normal window, 3 is far out.

    >>> st = fit_component_stats({"reconstruction": np.array([1.0, 2.0, 4.0])})
    >>> float(standardise_components({"reconstruction": np.array([2.0])}, st)["reconstruction"][0])
    0.0
    """
    return {k: stats[k].standardise(_log(v)) for k, v in components.items()}


@dataclass(frozen=True)
class FeatureErrors:
    """The worst-feature ``reconstruction`` component (see the module docstring).

    ``stats``: per-feature median and scale of the log error on held-out and training windows;
    ``floors``: per-feature floors of those z-scores on training windows (``None``: one-sided);
    ``worst``: median and scale of the per-window maximum on the same windows as ``stats``.
    """

    stats: RobustStats
    floors: np.ndarray | None
    worst: RobustStats

    def feature_z(self, per_feature: np.ndarray) -> np.ndarray:
        """``(n, F)`` per-feature z-scores, two-sided where there are floors (the explanations)."""
        z = self.stats.standardise(_log(per_feature))
        return z if self.floors is None else np.maximum(z, self.floors - z)

    def component(self, feature_z: np.ndarray) -> np.ndarray:
        """The standardised component from :meth:`feature_z`'s output: the worst feature."""
        return self.worst.standardise(feature_z.max(axis=1))

    def to_dict(self) -> dict[str, Any]:
        return {"stats": self.stats.to_dict(),
                "floors": None if self.floors is None else self.floors.tolist(),
                "worst": self.worst.to_dict()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FeatureErrors:
        floors = raw.get("floors")
        return cls(RobustStats.from_dict(raw["stats"]),
                   None if floors is None else np.asarray(floors, dtype=np.float64),
                   RobustStats.from_dict(raw["worst"]))


def fit_feature_errors(held_out: np.ndarray, training: np.ndarray | None, *,
                       two_sided: bool = True, quantile: float = FLOOR_QUANTILE
                       ) -> FeatureErrors:
    """Fit :class:`FeatureErrors` from per-feature errors ``(n, F)`` of held-out windows and
    of training windows: the statistics on both together, the floors (``two_sided``) on the
    training windows alone. ``training=None``: held-out statistics, one-sided.

    >>> rng = np.random.default_rng(0)
    >>> held = np.exp(rng.normal(size=(500, 3)))
    >>> fe = fit_feature_errors(held, np.exp(rng.normal(size=(500, 3))))
    >>> fault = held[:2].copy(); fault[0, 1] *= 1e3; fault[1, 2] = 1e-9  # a jump, a flat line
    >>> z = fe.feature_z(fault)
    >>> z.argmax(axis=1).tolist(), bool((fe.component(z) > 3).all())
    ([1, 2], True)
    """
    normal = held_out if training is None else np.concatenate([held_out, training])
    stats = fit_robust_stats(_log(normal), axis=0)
    floors = (None if training is None or not two_sided
              else np.quantile(stats.standardise(_log(training)), quantile, axis=0))
    fe = FeatureErrors(stats, floors, RobustStats(np.zeros(()), np.ones(())))
    return FeatureErrors(stats, floors, fit_robust_stats(fe.feature_z(normal).max(axis=1)))


def window_activity(windows: Any) -> Any:
    """How much each feature moves in each window: the mean ``|x[t] - x[t-1]|`` over its
    rows, ``(n, W, F) -> (n, F)``. ``keras.ops``, like :func:`raw_components`.

    >>> np.asarray(window_activity(np.array([[[0.0, 1.0], [2.0, 1.0], [0.0, 1.0]]]))).tolist()
    [[2.0, 0.0]]
    """
    from keras import ops

    return ops.mean(ops.abs(windows[:, 1:] - windows[:, :-1]), axis=1)


@dataclass(frozen=True)
class QuietFeatures:
    """The ``quiet`` component (see the module docstring), per feature: ``low``, the
    :data:`QUIET_QUANTILE` of the log movement on training windows; ``scale``, its MAD there
    (at least 0.25); ``eps``, added before the log (1% of the feature's mean movement on
    training windows; 0.01 where it never moves, whose ``low`` is then ``log(eps)`` and
    depth always 0); ``margin`` in MADs."""

    low: np.ndarray
    scale: np.ndarray
    eps: np.ndarray
    margin: float = QUIET_MARGIN

    def depth(self, activity: np.ndarray) -> np.ndarray:
        """``(n, F)`` depth of each feature below its normal movement, 0 where it moves as
        usual (also the explanations: a feature that went still is named by it)."""
        below = (self.low - np.log(np.asarray(activity, np.float64) + self.eps)) / self.scale
        return np.maximum(below - self.margin, 0.0)

    def normal_movement(self) -> np.ndarray:
        """``(F,)`` the low end of each feature's normal movement, in the units of the
        movement (scaled here): about the movement that all but :data:`QUIET_QUANTILE` of
        the training windows reached (``exp(low) - eps``, at least 0). A feature counts as
        quiet from ``exp(margin * scale)`` times below it.

        >>> q = QuietFeatures(np.log([0.51, 0.01]), np.ones(2), np.array([0.01, 0.01]))
        >>> q.normal_movement().round(6).tolist()
        [0.5, 0.0]
        """
        return np.maximum(np.exp(self.low) - self.eps, 0.0)

    @staticmethod
    def component(depth: np.ndarray) -> np.ndarray:
        """The component from :meth:`depth`'s output: the deepest feature."""
        return depth.max(axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {"low": self.low.tolist(), "scale": self.scale.tolist(), "eps": self.eps.tolist(),
                "margin": self.margin}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> QuietFeatures:
        low, scale, eps = (np.asarray(raw[k], dtype=np.float64) for k in ("low", "scale", "eps"))
        return cls(low, scale, eps, float(raw["margin"]))


def fit_quiet_features(training_windows: np.ndarray, quantile: float = QUIET_QUANTILE,
                       margin: float = QUIET_MARGIN) -> QuietFeatures:
    """Fit :class:`QuietFeatures` on scaled ``(n, W, F)`` normal training windows.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 32, 2)); x[:, :, 1] = (rng.random((400, 32)) < 0.02)
    >>> q = fit_quiet_features(x)
    >>> flat = np.zeros((1, 32, 2))  # both still: the moving feature counts, the flag not
    >>> depth = q.depth(np.asarray(window_activity(flat)))
    >>> bool(depth[0, 0] > 10), float(depth[0, 1])
    (True, 0.0)
    >>> float(q.component(q.depth(np.asarray(window_activity(x[:50])))).max())
    0.0
    """
    x = np.asarray(training_windows, dtype=np.float64)
    activity = np.asarray(window_activity(x), np.float64)
    # "No movement" sits 100x below the feature's usual movement. (1% of its spread, as
    # before, put it 2x below a daily cycle's noisy plateaus: a sensor stuck flat there
    # stayed inside the margin.)
    # A feature that never moves has every log movement at log(eps), its quantile too, and
    # no window can fall below that: any eps > 0 does there.
    step = activity.mean(axis=0)
    eps = _QUIET_EPS * np.where(step > 1e-12, step, 1.0)
    log_activity = np.log(activity + eps)
    mad = np.median(np.abs(log_activity - np.median(log_activity, axis=0)), axis=0)
    return QuietFeatures(np.quantile(log_activity, quantile, axis=0),
                         np.maximum(mad, _QUIET_MIN_MAD), eps, margin)


def _widest_float() -> str:
    """``float64`` where the Keras backend computes in it; JAX without ``jax_enable_x64``
    has only float32, and asking it for float64 prints a warning on every call."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return str(jax.dtypes.canonicalize_dtype(np.float64))
    return "float64"


def knn_distance(codes: Any, reference: Any, k: int = KNN_NEIGHBOURS) -> Any:
    """Mean Euclidean distance from each row of ``codes`` to its ``k`` nearest ``reference`` rows.

    ``keras.ops`` in float64 where the backend has it, like :func:`raw_components` (runs on
    numpy and inside the compiled inference function).

    >>> ref = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0]])
    >>> np.asarray(knn_distance(np.array([[0.0, 0.0], [4.0, 0.0]]), ref, k=2)).round(3)
    array([0.5, 2. ])
    """
    from keras import ops

    wide = _widest_float()
    codes = ops.cast(codes, wide)
    ref = ops.cast(ops.convert_to_tensor(np.asarray(reference, dtype=np.float64)), wide)
    k = max(1, min(int(k), int(np.shape(reference)[0])))
    d2 = (ops.sum(ops.square(codes), axis=1)[:, None] + ops.sum(ops.square(ref), axis=1)[None, :]
          - 2.0 * ops.matmul(codes, ops.transpose(ref)))
    nearest, _ = ops.top_k(-ops.maximum(d2, 0.0), k)
    return ops.mean(ops.sqrt(-nearest), axis=1)


def raw_components(windows: Any, outputs: Mapping[str, Any], reference_codes: Any = None
                   ) -> tuple[dict[str, Any], Any]:
    """Raw per-window components and the per-feature reconstruction error ``(n, F)``.

    ``windows`` and ``outputs["reconstruction"]`` are the scaled ``(n, W, F)`` arrays. Written
    with ``keras.ops`` so that this one definition runs on numpy arrays and inside the compiled
    inference function (:mod:`anomaly_gan.inference`); it returns backend tensors (convert with
    ``np.asarray``). ``reference_codes`` (latent codes of normal training windows) enables
    ``knn``.
    """
    from keras import ops

    per_feature = ops.mean(ops.abs(windows - outputs["reconstruction"]), axis=1)
    comps = {
        "reconstruction": ops.mean(per_feature, axis=1),
        "discriminator": ops.mean(
            ops.square(outputs["features_real"] - outputs["features_fake"]), axis=1),
    }
    if "latent" in outputs:
        comps["latent"] = ops.mean(ops.square(outputs["latent"] - outputs["latent_hat"]), axis=1)
        if reference_codes is not None and len(reference_codes):
            comps["knn"] = knn_distance(outputs["latent"], reference_codes)
    return comps, per_feature


def combine(standardised: dict[str, np.ndarray], weights: dict[str, float],
            floors: Mapping[str, float] | None = None, max_share: float = 0.0) -> np.ndarray:
    """Weighted mean of the standardised components that exist and have weight > 0, and
    with ``max_share`` > 0 (``scoring.max_share``) the largest of them: the score is
    ``(1 - max_share) * weighted mean + max_share * largest component``.

    The largest term is for a fault that shows in one component only. Which one varies with
    the data: on the shared NASA channels the reconstruction error ranks the labelled rows
    best and the latent ones rank them *below* normal, on NAB's daily cycles it is the other
    way round; a weighted mean dilutes whichever one fired by the others' ordinary noise.

    A component with a ``floors`` entry (two-sided, see the module docstring) counts as
    ``max(z, floor - z)``: unchanged down to halfway to its floor, and rising again below
    the floor, by how far below it the window lies.

    >>> combine({"reconstruction": np.array([2.0]), "discriminator": np.array([4.0])},
    ...         {"reconstruction": 1.0, "discriminator": 1.0, "latent": 5.0})
    array([3.])
    >>> combine({"reconstruction": np.array([1.0, -1.0, -4.0, -9.0])}, {"reconstruction": 1.0},
    ...         floors={"reconstruction": -4.0})
    array([ 1., -1.,  0.,  5.])
    >>> combine({"reconstruction": np.array([2.0]), "discriminator": np.array([4.0])},
    ...         {"reconstruction": 1.0, "discriminator": 1.0}, max_share=0.5)
    array([3.5])
    """
    floors = floors or {}
    # Fixed summation order: a bundle's weights come back from JSON in another key order,
    # and a different float summation order would change scores in the last bit.
    used = [(k, weights[k]) for k in COMPONENTS if weights.get(k, 0) > 0 and k in standardised]
    if not used:
        raise ValueError(f"no weighted component among {sorted(standardised)}")
    total = sum(w for _, w in used)
    out = np.zeros_like(standardised[used[0][0]], dtype=np.float64)
    largest = np.full_like(out, -np.inf)
    for k, w in used:
        z = standardised[k]
        z = np.maximum(z, floors[k] - z) if k in floors else z
        out += w * z
        largest = np.maximum(largest, z)
    out /= total
    if max_share > 0:
        out = (1.0 - max_share) * out + max_share * largest
    return out


def low_floors(training: dict[str, np.ndarray], names: Collection[str],
               quantile: float = FLOOR_QUANTILE) -> dict[str, float]:
    """Each two-sided component's floor: its ``quantile`` on the model's own (standardised)
    *training* windows, for the components of :data:`TWO_SIDED` among ``names``.

    >>> low_floors({"latent": np.linspace(-5.0, 5.0, 1001), "knn": np.zeros(3)}, ["latent", "knn"])
    {'latent': -4.9}
    """
    return {k: float(np.quantile(training[k], quantile)) for k in TWO_SIDED
            if k in names and k in training}
