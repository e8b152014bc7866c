"""Retraining on a new baseline: rows from the events topic or files, incidents left out,
a candidate trained and gated, then kept in the model store and promoted (or not)."""

from anomaly_gan.retrain.run import EXIT_REJECTED, RetrainRequest, RetrainResult, retrain

__all__ = ["EXIT_REJECTED", "RetrainRequest", "RetrainResult", "retrain"]
