"""The PromQL that ships: every expression of the rules file and of the Grafana dashboard,
read from those files (never retyped), plus the small amount of parsing the tests need."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.conftest import DASHBOARD, RULES

# Values for the dashboard's template variables when a test sends its queries to Prometheus
# directly (what Grafana would substitute with "All" selected and a short range).
GRAFANA_VARIABLES = {
    "$__rate_interval_ms": "60000",  # before $__rate_interval, its prefix
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "${datasource}": "",
    "$namespace": ".*",
    "$job": ".*",
    "$service": ".*",
}

_KEYWORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "offset", "bool", "inf", "nan", "atan2",
}


@dataclass(frozen=True)
class Expr:
    source: str  # "record job:...", "alert AnomalyGan...", "panel 'Title' A"
    expr: str
    kind: str  # "record" | "alert" | "panel"
    name: str  # record/alert name or panel title


def rules() -> dict[str, Any]:
    return yaml.safe_load(Path(RULES).read_text())


def rule_expressions() -> list[Expr]:
    out = []
    for group in rules()["groups"]:
        for r in group["rules"]:
            if "record" in r:
                out.append(Expr(f"record {r['record']}", r["expr"], "record", r["record"]))
            else:
                out.append(Expr(f"alert {r['alert']}", r["expr"], "alert", r["alert"]))
    return out


def dashboard() -> dict[str, Any]:
    return json.loads(Path(DASHBOARD).read_text())


def panels(dash: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    out = []
    for p in (dash or dashboard())["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return [p for p in out if p.get("type") != "row"]


def dashboard_expressions() -> list[Expr]:
    return [Expr(f"panel {p['title']!r} {t['refId']}", t["expr"], "panel", p["title"])
            for p in panels() for t in p.get("targets", [])]


def substitute_grafana_variables(expr: str) -> str:
    for var, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"unknown Grafana variable left in {expr!r}"
    return expr


def metric_names(expr: str) -> set[str]:
    """Names of the series an expression selects (metrics and recording rules)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values
    text = re.sub(r"\{[^}]*\}", "", text)  # matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\$\{?\w+\}?", "", text)  # Grafana variables ($__rate_interval_ms)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    # number literals (1e-9 would otherwise leave a metric named "e")
    text = re.sub(r"(?<![A-Za-z0-9_:.])\d+(?:\.\d*)?(?:[eE][+-]?\d+)?", "", text)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        token = m.group(0)
        rest = text[m.end():].lstrip()
        if token in _KEYWORDS or rest.startswith("("):
            continue
        if re.fullmatch(r"\d+(e\d+)?", token):
            continue
        names.add(token)
    return names


def selectors(expr: str) -> list[str]:
    """Each series selector in ``expr``: a name with its label matchers, e.g.
    ``anomaly_gan_model_reloads_total{result="failure"}``."""
    text = re.sub(r"\[[^\]]*\]", "", expr)
    out = []
    for name in sorted(metric_names(expr)):
        for m in re.finditer(rf"(?<![A-Za-z0-9_:]){re.escape(name)}(?![A-Za-z0-9_:])\s*(\{{[^}}]*\}})?", text):
            out.append(name + (m.group(1) or ""))
    return sorted(set(out))


def split_threshold(expr: str) -> tuple[str, str, float] | None:
    """``(lhs, op, number)`` when an alert is ``<lhs> <op> <number>`` at the top level."""
    m = re.fullmatch(r"(?s)(.*\S)\s*(>=|<=|==|!=|>|<)\s*(-?[0-9.]+(?:e[+-]?[0-9]+)?)\s*", expr)
    if not m:
        return None
    lhs = m.group(1)
    depth = 0
    for ch in lhs:  # the comparison must not sit inside parentheses
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return None
    top = lhs
    while (inner := re.sub(r"\([^()]*\)", "", top)) != top:  # innermost groups, until none
        top = inner
    if depth != 0 or re.search(r"\b(and|or|unless)\b", top):
        return None
    return lhs, m.group(2), float(m.group(3))
