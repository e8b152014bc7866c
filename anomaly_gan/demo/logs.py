"""``anomaly-gan demo --logs``: a synthetic service's logs through the whole log path.

1. four components logging at steady rates (:mod:`.service_logs`); the first hour trains;
2. drain3 templates + count buckets + a small GANomaly, saved as a logs bundle;
3. an embedded broker and the same :class:`~anomaly_gan.stream.app.Scorer` as ``serve``;
4. the next half hour replayed as JSON lines (``--speed`` x real time), with three
   incidents: an error burst, a new exception template, a component that goes silent;
5. live alerts with the templates they name, a RESOLVED line once the component has been
   normal for ``RESOLVE_WINDOWS`` windows in a row (``serve.alerts.resolve_windows``), then,
   per incident, whether an alert named the right template and when it was resolved.
   Exit 0 when all three incidents were alerted with their template.
"""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anomaly_gan.demo.common import (
    check_options,
    demo_output,
    duration_text,
    live_pipeline,
    say,
    score_text,
    training_progress,
)
from anomaly_gan.runtime import Interrupts

__all__ = ["LOGS_DEMO_CONFIG", "LogsDemoOptions", "names_template", "run_logs_demo"]

# serve.alerts.resolve_windows: a minute of normal 10 s buckets in a row (one window length)
# resolves a component's incident.
RESOLVE_WINDOWS = 6

LOGS_DEMO_CONFIG: dict[str, Any] = {
    "model": {"kind": "ganomaly", "backbone": "dense", "latent_dim": 8, "hidden": [32]},
    "data": {"window": 6, "stride": 1, "scaler": "minmax"},
    "training": {"epochs": 10, "batch_size": 64, "learning_rate": 1e-3, "seed": 0,
                 "verbose": 0},
    "logs": {"format": "json", "bucket_seconds": 10.0, "top_k": 12},
}


@dataclass(frozen=True)
class LogsDemoOptions:
    speed: float = 60.0
    seed: int = 0
    http_port: int = 9108
    out: str = "out/demo-logs"
    epochs: int | None = None

    def __post_init__(self) -> None:
        check_options(self.speed, self.http_port, self.epochs, self.seed)


def _words(template: str) -> list[str]:
    """A template's fixed words, for comparison: placeholders (``<NUM>``, ``<*>``), holes
    (``{num}``) and any token with a digit (masked in one, literal in the other) dropped."""
    return [w for w in template.split() if not re.search(r"[<{\d]", w)]


def names_template(alert: dict[str, Any], template: str, top: int = 3) -> bool:
    """Whether one of the alert's first ``top`` templates is ``template`` (holes aside)."""
    want = _words(template)
    return any(_words(t["template"]) == want for t in alert.get("templates", [])[:top])


def _matches(alert: dict[str, Any], incident: dict[str, Any], span: float) -> bool:
    return (alert["entity"] == incident["entity"]
            and alert["window_end_ts"] >= incident["start_ts"]
            and alert["window_start_ts"] <= incident["end_ts"] + span)


def run_logs_demo(opts: LogsDemoOptions) -> int:
    stop = Interrupts()
    with stop.installed(), demo_output(Path(opts.out)):
        return _run_logs_demo(opts, stop)


def _train(opts: LogsDemoOptions, stop: Interrupts, logs: Any, train_file: Path
           ) -> tuple[Any, Path]:
    """Train on ``train_file`` (the first hour of ``logs``), save the bundle to
    ``OUT/model``; the bundle loaded back, and its path."""
    from anomaly_gan.artifacts import load_bundle, save_bundle
    from anomaly_gan.config import config_from_dict
    from anomaly_gan.logs.offline import train_log_detector

    raw_cfg = json.loads(json.dumps(LOGS_DEMO_CONFIG))
    if opts.epochs is not None:
        # exactly that many passes (quick runs), as the sensor demo's --epochs: no step floor
        # (with it, --epochs 1 still trained 2,000 steps)
        raw_cfg["training"].update(epochs=opts.epochs, min_steps=0)
    cfg = config_from_dict(raw_cfg, "logs demo config")
    say(f"synthetic service: {len(logs.lines)} log lines from 4 components; the first "
         f"{logs.train_seconds / 60:.0f} minutes train, then 30 minutes with 3 incidents")
    t0 = time.monotonic()
    det = train_log_detector(cfg, [str(train_file)], progress=training_progress(stop))
    stop.check()  # a signal after the last progress line: no bundle
    path = save_bundle(det, Path(opts.out) / "model", overwrite=True)
    det = load_bundle(path)
    say(f"model {det.version} -> {path} ({time.monotonic() - t0:.0f}s); threshold "
         f"{det.threshold:.3f}, window {det.window} buckets of 10 s")
    return det, path


def _run_logs_demo(opts: LogsDemoOptions, stop: Interrupts) -> int:
    from anomaly_gan.demo.service_logs import make_service_logs
    from anomaly_gan.files import atomic_write_text
    from anomaly_gan.stream.logs import configure_logging

    out = Path(opts.out)
    configure_logging("text", "ERROR")
    logs = make_service_logs(train_minutes=60, test_minutes=30, seed=opts.seed)
    split = logs.start_ts + logs.train_seconds
    train_file = out / "train.jsonl"
    existed = train_file.exists()
    # whole or not at all: a disk that filled left half of it (and its directory) behind
    atomic_write_text(train_file, lambda fh: fh.writelines(
        line + "\n" for line in logs.jsonl(end_ts=split)))
    try:
        det, path = _train(opts, stop, logs, train_file)
    except BaseException:  # stopped before it saved: no training logs without their model
        if not existed:
            train_file.unlink(missing_ok=True)
        raise
    test_lines = [r for r in logs.lines if r["ts"] >= split]
    span = det.window * 10.0

    topics = {"events": "demo.logs", "alerts": "demo.log-alerts", "dlq": "demo.log-dlq"}
    alerts: list[dict[str, Any]] = []
    resolutions: dict[str, dict[str, Any]] = {}  # alert_id of the incident's last alert -> record

    def on_alert(_topic: str, rec: dict[str, Any], _timestamp_s: float) -> None:
        if rec.get("status") == "resolved":
            resolutions[rec["alert_id"]] = rec
            n = rec["alerts"]
            say(f"RESOLVED {rec['entity']:<14} since {rec['anomalous_since'][11:19]}, resolved "
                f"{rec['resolved_at'][11:19]} after {duration_text(rec['duration_seconds'])} "
                f"({n} alert{'s' if n != 1 else ''})")
            return
        alerts.append(rec)
        say(f"ALERT {rec['entity']:<14} {rec['window_start'][11:19]}-"
            f"{rec['window_end'][11:19]} score {score_text(rec['score'], 6)}")
        for t in rec.get("templates", [])[:2]:
            say(f"      {t['template']!r} x{t['observed']}, expected {t['expected']:g}"
                + (f"  e.g. {t['examples'][0]!r}" if t["examples"] else ""))

    with live_pipeline(
            stop, det, model_path=str(path), topics=topics,
            partitions={"events": 2, "alerts": 1, "dlq": 1}, group_id="anomaly-gan-logs-demo",
            serve={"batching": {"max_batch": 256, "max_latency_ms": 20},
                   "alerts": {"consecutive": 2, "cooldown_seconds": 600.0,
                              "resolve_windows": RESOLVE_WINDOWS}},
            http_port=opts.http_port, read=["alerts"], on_record=on_alert,
            linger_ms=5) as pipe:
        live, producer = pipe.scorer, pipe.producer
        say(f"streaming {len(test_lines)} lines at "
            + (f"{opts.speed:g}x real time" if opts.speed > 0 else "full speed") + " ...")
        started = time.monotonic()
        for rec in test_lines:
            pipe.check()
            if opts.speed > 0:
                wait = started + (rec["ts"] - split) / opts.speed - time.monotonic()
                if wait > 0:
                    pipe.sleep(wait)
            producer.send(topics["events"], key=rec["entity"].encode(),
                          value=json.dumps(rec).encode())
        producer.flush()
        producer.close()
        deadline = time.monotonic() + 60
        while (live.value("anomaly_gan_log_lines_total") < len(test_lines)
               and time.monotonic() < deadline):
            pipe.sleep(0.05)
        if not pipe.settle():  # the last alerts and resolutions
            say("(the scorer's last output was not all read within 30 s: the summary "
                "may leave out its last alerts)")

    say("\nsummary")
    ok = True
    for inc in logs.incidents:
        mine = [a for a in alerts if _matches(a, inc, span)]
        named = [a for a in mine if names_template(a, inc["template"])]
        ok &= bool(named)
        closing = [resolutions[a["alert_id"]] for a in mine if a["alert_id"] in resolutions]
        resolved = (f"resolved {duration_text(closing[-1]['resolved_at_ts'] - inc['end_ts'])} "
                    "after it ended" if closing else "not resolved")
        say(f"  {inc['kind']:<14} {inc['entity']:<14} {len(mine)} alert(s), {resolved}; "
             + ("named " + repr(named[0]["templates"][0]["template"]) if named
                else f"NOT named: {inc['template']!r}"))
    unrelated = [a for a in alerts if not any(_matches(a, i, span) for i in logs.incidents)]
    opened = {(a["entity"], a["anomalous_since_ts"]) for a in alerts}  # an incident's alerts
    say(f"  {len(alerts)} alerts in all, {len(unrelated)} outside the incidents; "
        f"{len(resolutions)} of {len(opened)} alerted incidents resolved")
    if not ok:
        print("demo: an incident was not alerted with its template", file=sys.stderr)
    return 0 if ok else 1
