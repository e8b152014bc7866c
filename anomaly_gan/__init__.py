"""anomaly-gan: GAN anomaly detection for ops telemetry.

Data flows config -> windows -> model -> score -> threshold -> alert/metrics:

- :mod:`anomaly_gan.config`    YAML -> frozen, validated settings
- :mod:`anomaly_gan.data`      readers (I/O), scaling and sliding windows (pure numpy)
- :mod:`anomaly_gan.models`    Keras 3 GANs: GANomaly and f-AnoGAN
- :mod:`anomaly_gan.scoring`   components -> combined score, thresholds, explanations
- :mod:`anomaly_gan.detector`  fitted scaler + networks + calibration = a scorer
- :mod:`anomaly_gan.artifacts` save/load a versioned model bundle
- :mod:`anomaly_gan.train`     config + data -> fit -> calibrate -> detector
- :mod:`anomaly_gan.stream`    the Kafka scoring service
- :mod:`anomaly_gan.logs`      log lines -> drain3 templates -> count buckets (the logs input)
- :mod:`anomaly_gan.demo`      demos and the embedded broker (not used in production)
"""

from anomaly_gan.errors import (
    AnomalyGanError,
    BundleError,
    ConfigError,
    DataError,
    OutputError,
    TrainingHealthError,
)

__version__ = "0.1.0"

__all__ = [
    "AnomalyGanError",
    "BundleError",
    "ConfigError",
    "DataError",
    "OutputError",
    "TrainingHealthError",
    "__version__",
]
