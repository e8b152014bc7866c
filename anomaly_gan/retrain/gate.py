"""The validation gate: may a retrained candidate become current?

It passes only when all of these hold (each failure adds a reason):

- its false-alarm rate on the held-out newest normal windows (never trained on) is within
  ``retrain.gate.max_false_alarm_rate``;
- every labelled incident in the range is still flagged: at least
  ``retrain.gate.min_incident_flagged`` of the windows ending inside it score over the
  candidate's threshold;
- its training health is clean (:func:`anomaly_gan.store.health_of`).

Periods the current model alerted on are scored too and reported (share flagged), but do
not decide: after a baseline change the old model's alerts are exactly what the new model
should stop raising.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from anomaly_gan.config import GateConfig
from anomaly_gan.retrain.source import Alerted, Segment
from anomaly_gan.store import health_of
from anomaly_gan.stream.alerts import iso_utc

__all__ = ["evaluate_gate", "window_flags"]


def window_flags(detector: Any, seg: Segment) -> tuple[np.ndarray, np.ndarray]:
    """``(end_ts, over_threshold)`` for every window of ``seg`` scored by ``detector``."""
    w = detector.window
    if len(seg) < w:
        return np.empty(0), np.empty(0, dtype=bool)
    res = detector.score_series(seg.values)
    return seg.ts[w - 1:], np.asarray(res.is_anomaly[w - 1:], dtype=bool)


def _false_alarms(detector: Any, holdout: Sequence[Segment]) -> tuple[int, int]:
    flagged = total = 0
    for seg in holdout:
        _, over = window_flags(detector, seg)
        flagged += int(over.sum())
        total += len(over)
    return flagged, total


def _periods(detector: Any, segments: Sequence[Segment], periods: Sequence[Alerted]
             ) -> list[dict[str, Any]]:
    """Windows ending inside each period, and how many the detector flags."""
    by_entity: dict[str, list[Segment]] = {}
    for s in segments:
        by_entity.setdefault(s.entity, []).append(s)
    scored: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    out = []
    for p in periods:
        windows = flagged = 0
        for seg in by_entity.get(p.entity, ()):
            if seg.ts[-1] < p.start_ts or seg.ts[0] > p.end_ts:
                continue
            key = id(seg)
            if key not in scored:
                scored[key] = window_flags(detector, seg)
            ends, over = scored[key]
            inside = (ends >= p.start_ts) & (ends <= p.end_ts)
            windows += int(inside.sum())
            flagged += int((over & inside).sum())
        out.append({"entity": p.entity, "start": iso_utc(p.start_ts), "end": iso_utc(p.end_ts),
                    "windows": windows, "flagged": flagged,
                    "flagged_share": (flagged / windows) if windows else None})
    return out


def evaluate_gate(candidate: Any, gate: GateConfig, *, holdout: Sequence[Segment],
                  segments: Sequence[Segment], labels: Sequence[Alerted],
                  alerted: Sequence[Alerted]) -> dict[str, Any]:
    """Score ``candidate`` and decide; returns the JSON-able gate report."""
    reasons: list[str] = []
    flagged, total = _false_alarms(candidate, holdout)
    rate = flagged / total if total else None
    if rate is None:
        reasons.append("no held-out windows to measure false alarms on")
    elif rate > gate.max_false_alarm_rate:
        reasons.append(f"false-alarm rate {rate:.4f} on {total} held-out normal windows is over "
                       f"the budget {gate.max_false_alarm_rate:g}")
    report: dict[str, Any] = {
        "holdout_windows": total,
        "false_alarm_rate": rate,
        "max_false_alarm_rate": gate.max_false_alarm_rate,
    }
    incidents = _periods(candidate, segments, labels)
    for inc in incidents:
        share = inc["flagged_share"]
        inc["ok"] = share is not None and share >= gate.min_incident_flagged
        if share is None:
            reasons.append(f"labelled incident {inc['entity']} {inc['start']}..{inc['end']}: "
                           f"no events in the range to check it on")
        elif not inc["ok"]:
            reasons.append(f"labelled incident {inc['entity']} {inc['start']}..{inc['end']}: "
                           f"flags {share:.2f} of its {inc['windows']} windows, needs "
                           f">= {gate.min_incident_flagged:g}")
    report["labelled_incidents"] = incidents
    report["min_incident_flagged"] = gate.min_incident_flagged
    periods = _periods(candidate, segments, alerted)
    windows = sum(p["windows"] for p in periods)
    report["alerted_periods"] = {
        "periods": len(periods), "windows": windows,
        "flagged_share": (sum(p["flagged"] for p in periods) / windows) if windows else None}
    health = health_of(candidate.metadata)
    report["health"] = health
    if health["status"] != "healthy":
        reasons.append(f"training health is {health['status']}: "
                       f"{'; '.join(health['issues']) or 'no details'}")
    report["passed"] = not reasons
    report["reasons"] = reasons
    return report
