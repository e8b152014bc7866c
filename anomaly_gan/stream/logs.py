"""Structured logging for the service: ``serve.log_format`` text or json (one object a line).

Fields passed as ``extra={"fields": {...}}`` become JSON keys (or ``k=v`` pairs in text).
Callers never pass secrets; Kafka settings are logged through ``kafka_io.describe``.
"""

from __future__ import annotations

import json
import logging
import sys
import time

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging"]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return text


def configure_logging(fmt: str = "text", level: str = "INFO") -> None:
    """Route the ``anomaly_gan`` loggers to stderr in the chosen format.

    kafka-python's loggers and Python warnings get the same handler, so under ``json`` every
    line the process writes through logging is a JSON object.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logging.captureWarnings(True)
    # kafka-python is chatty at INFO (every connection, every rebalance step), so it logs from
    # WARNING up, or from the level asked for when that is higher: under ERROR (the demo's)
    # its "task ran for 0.42 s, blocking the event loop" warnings on a busy machine are noise.
    kafka_level = max(logging.WARNING, logging.getLevelNamesMapping().get(level.upper(), 0))
    for name, lvl in (("anomaly_gan", level), ("py.warnings", logging.WARNING),
                      ("kafka", kafka_level)):
        logger = logging.getLogger(name)
        for h in list(logger.handlers):
            logger.removeHandler(h)
        logger.addHandler(handler)
        logger.setLevel(lvl)
        logger.propagate = False
