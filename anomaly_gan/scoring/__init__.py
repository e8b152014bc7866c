"""Pure scoring: components -> combined score, thresholds, explanations. No I/O."""

from anomaly_gan.scoring.components import (
    COMPONENTS,
    FLOOR_QUANTILE,
    KNN_NEIGHBOURS,
    KNN_REFERENCE,
    TWO_SIDED,
    FeatureErrors,
    RobustStats,
    combine,
    fit_component_stats,
    fit_feature_errors,
    fit_robust_stats,
    knn_distance,
    low_floors,
    raw_components,
    standardise_components,
)
from anomaly_gan.scoring.explain import SEVERITY_LEVELS, TopFeatures, severity, top_features
from anomaly_gan.scoring.thresholds import (
    Threshold,
    fit_pot_threshold,
    fit_quantile_threshold,
    fit_threshold,
    scores_needed,
)

__all__ = [
    "COMPONENTS",
    "FLOOR_QUANTILE",
    "KNN_NEIGHBOURS",
    "KNN_REFERENCE",
    "SEVERITY_LEVELS",
    "TWO_SIDED",
    "FeatureErrors",
    "RobustStats",
    "Threshold",
    "TopFeatures",
    "combine",
    "fit_component_stats",
    "fit_feature_errors",
    "fit_pot_threshold",
    "fit_quantile_threshold",
    "fit_robust_stats",
    "fit_threshold",
    "knn_distance",
    "low_floors",
    "raw_components",
    "scores_needed",
    "severity",
    "standardise_components",
    "top_features",
]
