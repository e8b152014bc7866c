"""Fixtures for the log tests: synthetic service logs and a tiny logs bundle (regex lines)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

# The stream tests' broker and scorer fixtures.
from tests.stream.conftest import start_scorer  # noqa: F401

SYSLOG_REGEX = (r"^(?P<ts>\S+) (?:(?P<entity>[a-z][\w-]*) )?(?P<level>[A-Z]+) "
                r"(?P<message>.*)$")

TINY_LOGS_CONFIG = {
    "model": {"kind": "ganomaly", "backbone": "dense", "latent_dim": 8, "hidden": [32]},
    "data": {"window": 6, "stride": 1, "scaler": "minmax"},
    "training": {"epochs": 6, "batch_size": 64, "verbose": 0, "seed": 0,
                 "learning_rate": 1e-3, "min_steps": 0, "allow_unhealthy": True},
    "logs": {"format": "regex", "regex": SYSLOG_REGEX, "bucket_seconds": 10.0, "top_k": 12},
}

#: The tiny config with the buckets left to train (logs.bucket_seconds not set; window 6: runs
#: of 12 buckets): docs/logs.md, Buckets train chooses.
AUTO_CONFIG = {**TINY_LOGS_CONFIG, "logs": {k: v for k, v in TINY_LOGS_CONFIG["logs"].items()
                                            if k != "bucket_seconds"}}


def iso_z(ts: float) -> str:
    """``ts`` as RFC 3339 in UTC, to the second, with ``Z``."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def short_capture(path, seconds: float = 90.0, lines: int = 600,
                  entities: tuple[str, ...] = ("api", "db")) -> None:
    """``lines`` lines of each entity spread over ``seconds``: two 60 s buckets each."""
    t0 = 1_767_225_600  # 2026-01-01
    words = ["cache hit", "request served in 12 ms", "user login ok", "GET /health"]
    out = [f"{iso_z(t0 + seconds * i / lines)} {e} INFO {words[(i + k) % 4]}"
           for i in range(lines) for k, e in enumerate(entities)]
    path.write_text("\n".join(out) + "\n")


#: OTLP's severity number of each level the service logs write (its ranges' first numbers)
OTLP_SEVERITY = {"INFO": 9, "WARN": 13, "ERROR": 17}


def otlp_batch(recs: list[dict]) -> str:
    """The lines ``recs`` as one OTLP/JSON ExportLogsServiceRequest, as the Collector's
    kafka exporter (``encoding: otlp_json``) and file exporter write it: each run of one
    entity a resource named by ``service.name``, the time in nanoseconds as a string, the
    level as a severity number only, the message as a string body."""
    resources: list[dict] = []
    for r in recs:
        if not resources or resources[-1]["entity"] != r["entity"]:
            resources.append({"entity": r["entity"], "records": []})
        ns = round(r["ts"] * 1000) * 10**6  # the milliseconds syslog_line writes
        resources[-1]["records"].append({
            "timeUnixNano": str(ns), "observedTimeUnixNano": str(ns + 10**6),
            "severityNumber": OTLP_SEVERITY[r["level"]],
            "body": {"stringValue": r["message"]},
            "attributes": [{"key": "thread.id", "value": {"intValue": "7"}}]})
    return json.dumps({"resourceLogs": [
        {"resource": {"attributes": [{"key": "service.name",
                                      "value": {"stringValue": res["entity"]}}]},
         "scopeLogs": [{"scope": {"name": "shop.logging"}, "logRecords": res["records"]}]}
        for res in resources]}, separators=(",", ":"))


def syslog_line(rec: dict) -> str:
    ts = datetime.fromtimestamp(rec["ts"], tz=UTC).isoformat(timespec="milliseconds")
    return f"{ts.replace('+00:00', 'Z')} {rec['entity']} {rec['level']} {rec['message']}"


@pytest.fixture(scope="session")
def service_logs():
    from anomaly_gan.demo.service_logs import make_service_logs

    return make_service_logs(train_minutes=30, test_minutes=30, seed=0)


@pytest.fixture(scope="session")
def log_files(tmp_path_factory, service_logs) -> dict[str, Path]:
    """train.log / test.log (syslog-like lines) and test_labels.csv (one 0/1 per line)."""
    d = tmp_path_factory.mktemp("logs")
    split = service_logs.start_ts + service_logs.train_seconds
    train = [r for r in service_logs.lines if r["ts"] < split]
    test = [r for r in service_logs.lines if r["ts"] >= split]
    (d / "train.log").write_text("".join(syslog_line(r) + "\n" for r in train))
    (d / "test.log").write_text("".join(syslog_line(r) + "\n" for r in test))
    labels = [int(any(i["entity"] == r["entity"] and i["start_ts"] <= r["ts"] < i["end_ts"]
                      for i in service_logs.incidents)) for r in test]
    (d / "test_labels.csv").write_text("".join(f"{v}\n" for v in labels))
    return {"train": d / "train.log", "test": d / "test.log", "labels": d / "test_labels.csv"}


@pytest.fixture(scope="session")
def log_bundle(tmp_path_factory, log_files) -> Path:
    from anomaly_gan.artifacts import save_bundle
    from anomaly_gan.config import config_from_dict
    from anomaly_gan.logs.offline import train_log_detector

    cfg = config_from_dict(TINY_LOGS_CONFIG, "tiny logs config")
    det = train_log_detector(cfg, [str(log_files["train"])])
    return save_bundle(det, tmp_path_factory.mktemp("models") / "logs")


@pytest.fixture(scope="session")
def log_detector(log_bundle):
    from anomaly_gan.artifacts import load_bundle

    return load_bundle(log_bundle)


class SeriesFromWindows:
    """A fake detector's ``score_series`` from its ``score_windows``, as
    :meth:`~anomaly_gan.detector.Detector.score_series` gives it: NaN (not anomalous) before
    the first whole window."""

    window: int

    def score_series(self, x):
        res = self.score_windows(np.lib.stride_tricks.sliding_window_view(
            x, (self.window, x.shape[1]))[:, 0])
        pad = self.window - 1
        res.score = np.concatenate([np.full(pad, np.nan), res.score])
        res.is_anomaly = np.concatenate([np.zeros(pad, bool), res.is_anomaly])
        return res
