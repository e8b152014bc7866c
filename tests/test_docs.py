"""The docs name config keys that exist.

A key renamed or removed in ``anomaly_gan/config.py`` leaves the prose that names it behind,
and a reader who copies ``serve.kafka.scores_fromat: batch`` into a config is refused with
"unknown key". Every backticked dotted name in README.md and docs/*.md that starts with a
top-level config section must name a field of :class:`Config`.
"""

import dataclasses
import difflib
import re
import types
import typing
from pathlib import Path

import yaml

from anomaly_gan.config import Config

ROOT = Path(__file__).resolve().parents[1]
# Archives of measurements: they quote configs as they were when measured.
ARCHIVES = {"detection-studies.md", "benchmark-history.md"}
DOCS = [ROOT / "README.md"] + sorted(p for p in (ROOT / "docs").glob("*.md")
                                     if p.name not in ARCHIVES)
SECTIONS = [f.name for f in dataclasses.fields(Config)]
KEY = re.compile(r"(?<![\w./-])((?:" + "|".join(SECTIONS) + r")(?:\.[A-Za-z_]\w*)+)(?![\w/-]|\.\w)")
# Names that start like a key but are file names: `logs.py`, `logs.yaml`, `training.py`.
FILE_SUFFIXES = {"py", "yaml", "yml", "md", "json", "csv", "log"}
# Legitimate non-config uses, each with what it is.
NOT_CONFIG = {
    "threshold.details.extrapolated",  # a field of a bundle's calibration.json
}
# The Helm chart has top-level values named like config sections (`model.mountPath`,
# `retrain.enabled`, `retrain.timeZone`): docs/deployment.md names those; they must exist
# in the chart's values.yaml instead.
CHART_VALUES = yaml.safe_load((ROOT / "helm/anomaly-gan/values.yaml").read_text())


def _names_a_field(parts: list[str]) -> bool:
    node: typing.Any = Config
    default: typing.Any = None
    for part in parts:
        if dataclasses.is_dataclass(node):
            fields = {f.name: f for f in dataclasses.fields(node)}
            if part not in fields:
                return False
            f = fields[part]
            node = typing.get_type_hints(node)[part]
            if typing.get_origin(node) in (typing.Union, types.UnionType):  # `logs: X | None`
                node = next(a for a in typing.get_args(node) if a is not type(None))
            default = (f.default_factory() if f.default_factory is not dataclasses.MISSING
                       else f.default)
        elif isinstance(default, dict) and part in default:  # scoring.weights.quiet
            node, default = None, default[part]
        else:
            return False
    return True


def _names_a_chart_value(parts: list[str]) -> bool:
    node = CHART_VALUES
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _all_fields(cls: typing.Any = Config, prefix: str = "") -> list[str]:
    out = []
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        args = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
        out.append(prefix + f.name)
        if dataclasses.is_dataclass(args[0]):
            out += _all_fields(args[0], f"{prefix}{f.name}.")
    return out


def test_every_config_key_the_docs_name_exists():
    checked, unknown = 0, []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for span in re.finditer(r"`([^`\n]+)`", text):
            for m in KEY.finditer(span.group(1)):
                key = m.group(1)
                parts = key.split(".")
                if parts[-1] in FILE_SUFFIXES or key in NOT_CONFIG:
                    continue
                checked += 1
                if not (_names_a_field(parts) or _names_a_chart_value(parts)):
                    line = text.count("\n", 0, span.start()) + 1
                    close = difflib.get_close_matches(key, _all_fields(), n=1)
                    hint = f" (did you mean `{close[0]}`?)" if close else ""
                    unknown.append(f"{doc.relative_to(ROOT)}:{line}: `{key}`{hint}")
    assert checked > 100, f"only {checked} keys found: is the pattern still right?"
    assert not unknown, "keys the docs name that config.py does not have:\n" + "\n".join(unknown)


def test_the_local_serve_recipe_config_is_valid(tmp_path):
    """docs/streaming.md, "Try it on one machine": a new user copies its `local.yaml` as it
    stands, so it must load (and keep Tansu's group timings: without them the first poll of
    a new group waits minutes)."""
    from anomaly_gan.config import load_config

    text = (ROOT / "docs/streaming.md").read_text(encoding="utf-8")
    section = text[text.index("## Try it on one machine"):text.index("## Events in")]
    (block,) = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    path = tmp_path / "local.yaml"
    path.write_text(block)
    kafka = load_config(path, env={}).serve.kafka
    assert (kafka.session_timeout_ms, kafka.heartbeat_interval_ms,
            kafka.max_poll_interval_ms) == (2000, 300, 3000)
