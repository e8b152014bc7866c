"""A synthetic service's logs with injected incidents, for ``anomaly-gan demo --logs`` and
the tests.

Four components log at steady Poisson rates. After ``train_seconds`` three incidents are
injected, each with the template an alert should name:

- ``error_burst``: checkout-svc logs ``payment gateway timeout after N ms`` ~40 times a
  bucket instead of about once an hour;
- ``new_exception``: payments-svc logs a ``NullPointerException`` never seen in training;
- ``silent``: inventory-svc stops logging.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["COMPONENTS", "ServiceLogs", "make_service_logs"]

# component -> (level, template with {} holes, lines per 10 s)
COMPONENTS: dict[str, list[tuple[str, str, float]]] = {
    "checkout-svc": [("INFO", "GET /api/cart/{num} 200 in {num} ms", 12.0),
                     ("INFO", "order {uuid} placed for user {num}", 4.0),
                     ("INFO", "cache refresh took {num} ms", 1.0),
                     ("ERROR", "payment gateway timeout after {num} ms", 0.02)],
    "payments-svc": [("INFO", "charge {uuid} authorised amount {num} EUR", 6.0),
                     ("INFO", "fraud check passed for card ending {num}", 6.0),
                     ("WARN", "retrying charge {uuid} attempt {num}", 0.3)],
    "inventory-svc": [("INFO", "sync completed: {num} items updated", 2.0),
                      ("INFO", "stock level for sku-{num} is {num}", 8.0)],
    "auth-svc": [("INFO", "login ok for user {num} from {ip}", 8.0),
                 ("INFO", "token refreshed for session {hex}", 4.0),
                 ("WARN", "login failed for user {num} from {ip}", 0.4)],
}
INCIDENT_TEMPLATES = {
    "error_burst": ("checkout-svc", "ERROR", "payment gateway timeout after {num} ms"),
    "new_exception": ("payments-svc", "ERROR",
                      "NullPointerException in ChargeService.settle at line {num}"),
    "silent": ("inventory-svc", "INFO", "stock level for sku-{num} is {num}"),
}


@dataclass
class ServiceLogs:
    lines: list[dict]  # {"entity", "ts", "level", "message"}, time order
    train_seconds: float
    start_ts: float
    incidents: list[dict] = field(default_factory=list)  # entity, kind, start_ts, end_ts, template

    def jsonl(self, start_ts: float | None = None, end_ts: float | None = None) -> list[str]:
        return [json.dumps(r) for r in self.lines
                if (start_ts is None or r["ts"] >= start_ts)
                and (end_ts is None or r["ts"] < end_ts)]


_HOLE = re.compile(r"\{(num|uuid|ip|hex)\}")


def _fill(rng: np.random.Generator, template: str) -> str:
    def value(m: re.Match[str]) -> str:
        kind = m.group(1)
        if kind == "uuid":
            return str(uuid.UUID(int=int(rng.integers(1 << 62)) << 64 | int(rng.integers(1 << 62))))
        if kind == "ip":
            return f"10.0.{rng.integers(256)}.{rng.integers(1, 255)}"
        if kind == "hex":
            return f"{int(rng.integers(1 << 40)):010x}f"
        return str(int(rng.integers(1, 5000)))

    return _HOLE.sub(value, template)


def make_service_logs(train_minutes: float = 60.0, test_minutes: float = 30.0, seed: int = 0,
                      start_ts: float = 1_767_225_600.0, step_seconds: float = 10.0
                      ) -> ServiceLogs:
    """Generate the logs; incidents fall in the test part, 5, 15 and 22 minutes into it.

    >>> logs = make_service_logs(train_minutes=5, test_minutes=25, seed=1)
    >>> sorted({i["kind"] for i in logs.incidents})
    ['error_burst', 'new_exception', 'silent']
    """
    rng = np.random.default_rng(seed)
    train_s = train_minutes * 60.0
    total_s = train_s + test_minutes * 60.0
    t0 = start_ts + train_s
    incidents: list[dict[str, Any]] = [
        {"kind": "error_burst", "start_ts": t0 + 300.0, "end_ts": t0 + 420.0},
        {"kind": "new_exception", "start_ts": t0 + 900.0, "end_ts": t0 + 1020.0},
        {"kind": "silent", "start_ts": t0 + 1320.0, "end_ts": t0 + 1500.0},
    ]
    for inc in incidents:
        entity, level, template = INCIDENT_TEMPLATES[inc["kind"]]
        inc.update(entity=entity, level=level, template=template)
    lines: list[dict] = []
    for step in range(int(total_s // step_seconds)):
        t_lo = start_ts + step * step_seconds
        for entity, templates in COMPONENTS.items():
            active = [i for i in incidents if i["entity"] == entity
                      and i["start_ts"] <= t_lo < i["end_ts"]]
            if any(i["kind"] == "silent" for i in active):
                continue
            plan = list(templates)
            for i in active:
                plan.append((i["level"], i["template"], 40.0 if i["kind"] == "error_burst"
                             else 10.0))
            for level, template, rate in plan:
                for _ in range(int(rng.poisson(rate * step_seconds / 10.0))):
                    ts = round(t_lo + float(rng.uniform(0, step_seconds)), 3)
                    lines.append({"entity": entity, "ts": ts, "level": level,
                                  "message": _fill(rng, template)})
    lines.sort(key=lambda r: r["ts"])
    return ServiceLogs(lines, train_s, start_ts, incidents)
