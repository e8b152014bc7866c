"""A detector made without training, for the tests of bundles and stores that need one
saved in a moment (``untrained_detector``)."""

from __future__ import annotations

import numpy as np

from anomaly_gan.config import config_from_dict
from anomaly_gan.data.scaling import Scaler
from anomaly_gan.detector import Calibration, Detector
from anomaly_gan.scoring import SEVERITY_LEVELS, RobustStats, Threshold
from tests.support_models import FEATURES


class _Unloadable:
    """Stands in for a network: inspect_bundle never loads one."""

    def save(self, path):
        path.write_bytes(b"not a keras archive")


def untrained_detector(version: str = "v1") -> Detector:
    """A detector whose bundle :func:`inspect_bundle` accepts, made without training (fast):
    a GANomaly calibration with a knn component over latent codes of 4 values; its network
    cannot be loaded."""
    cfg = config_from_dict({"model": {"latent_dim": 4, "hidden": [8]}, "data": {"window": 16}})
    one = RobustStats(np.array(0.0), np.array(1.0))
    calibration = Calibration(
        component_stats={"reconstruction": one, "latent": one, "knn": one},
        feature_stats=RobustStats(np.zeros(3), np.ones(3)),
        weights={"latent": 1.0, "knn": 1.0},
        threshold=Threshold(3.0, "quantile", {}),
        severity_quantiles=np.linspace(0.0, 5.0, len(SEVERITY_LEVELS)),
        reference_codes=np.zeros((5, 4), np.float32),
    )
    return Detector("ganomaly", version, FEATURES, 16, Scaler("robust", np.zeros(3), np.ones(3)),
                    {"scorer": _Unloadable()}, calibration, cfg)
