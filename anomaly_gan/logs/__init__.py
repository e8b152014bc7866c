"""Log streams: lines -> drain3 templates -> per-entity count buckets -> the same scaling,
windows, GAN models, scores and alerts as metrics.

- :mod:`.events`     JSON or regex-parsed lines (pure)
- :mod:`.templates`  drain3 mining, masking rules, the capped live miner, JSON state (pure)
- :mod:`.counts`     per-entity count buckets, empty buckets as zeros, the gap rule (pure)
- :mod:`.model`      the fitted front end: columns, expected counts, alert explanations
- :mod:`.offline`    log files: train, score (I/O edge)
- :mod:`.live`       the streaming scorer's log side (records -> window rows)
"""

from anomaly_gan.logs.counts import BucketRow, CountBuckets
from anomaly_gan.logs.events import LOG_INVALID_REASONS, LogEvent, LogParser
from anomaly_gan.logs.model import LogModel, fit_log_model
from anomaly_gan.logs.templates import MASKS, TemplateMiner

__all__ = [
    "LOG_INVALID_REASONS",
    "MASKS",
    "BucketRow",
    "CountBuckets",
    "LogEvent",
    "LogModel",
    "LogParser",
    "TemplateMiner",
    "fit_log_model",
]
