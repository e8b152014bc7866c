"""The docs name config keys, flags, metrics and alerts that exist.

A key renamed or removed in ``anomaly_gan/config.py`` leaves the prose that names it behind,
and a reader who copies ``serve.kafka.scores_fromat: batch`` into a config is refused with
"unknown key". Every backticked dotted name in README.md and docs/*.md that starts with a
top-level config section must name a field of :class:`Config`; every config a YAML block
shows must load; every ``--flag`` given to an ``anomaly-gan`` command must be one of that
command's; every ``anomaly_gan_*`` metric and ``AnomalyGan*`` alert named must be exported
or defined.
"""

import argparse
import dataclasses
import difflib
import logging
import re
import typing
from pathlib import Path

import pytest
import yaml

from anomaly_gan.config import Config, config_keys, load_config

ROOT = Path(__file__).resolve().parents[1]
# Archives of measurements: they quote configs as they were when measured.
ARCHIVES = {"detection-studies.md", "benchmark-history.md"}
DOCS = [ROOT / "README.md"] + sorted(p for p in (ROOT / "docs").glob("*.md")
                                     if p.name not in ARCHIVES) + [
    ROOT / "helm/anomaly-gan/README.md"]
SECTIONS = [f.name for f in config_keys(Config)]
KEY = re.compile(r"(?<![\w./-])((?:" + "|".join(SECTIONS) + r")(?:\.[A-Za-z_]\w*)+)(?![\w/-]|\.\w)")
# Names that start like a key but are file names: `logs.py`, `logs.yaml`, `training.py`.
FILE_SUFFIXES = {"py", "yaml", "yml", "md", "json", "csv", "log"}
# Legitimate non-config uses, each with what it is.
NOT_CONFIG = {
    "threshold.details.extrapolated",  # a field of a bundle's calibration.json
    "threshold.details.no_spread_margin",  # a field of a bundle's calibration.json
}
# The Helm chart has top-level values named like config sections (`model.mountPath`,
# `retrain.enabled`, `retrain.timeZone`): docs/deployment.md names those; they must exist
# in the chart's values.yaml instead.
CHART_VALUES = yaml.safe_load((ROOT / "helm/anomaly-gan/values.yaml").read_text())


def _names_a_field(parts: list[str]) -> bool:
    try:
        _config_default(parts)
    except KeyError:
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
    for f in config_keys(cls):
        tp = typing.get_type_hints(cls)[f.name]
        args = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
        out.append(prefix + f.name)
        if dataclasses.is_dataclass(args[0]):
            out += _all_fields(args[0], f"{prefix}{f.name}.")
    return out


def _names_in_code(pattern: re.Pattern[str]) -> typing.Iterator[tuple[Path, str, int, str]]:
    """``(doc, its text, offset, name)`` for each match of ``pattern``'s first group inside a
    `code` span of the docs."""
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for span in re.finditer(r"`([^`\n]+)`", text):
            for m in pattern.finditer(span.group(1)):
                yield doc, text, span.start(), m.group(1)


def test_every_config_key_the_docs_name_exists():
    checked, unknown = 0, []
    for doc, text, at, key in _names_in_code(KEY):
        parts = key.split(".")
        if parts[-1] in FILE_SUFFIXES or key in NOT_CONFIG:
            continue
        checked += 1
        if not (_names_a_field(parts) or _names_a_chart_value(parts)):
            close = difflib.get_close_matches(key, _all_fields(), n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            unknown.append(f"{doc.relative_to(ROOT)}:{_line(text, at)}: `{key}`{hint}")
    assert checked > 100, f"only {checked} keys found: is the pattern still right?"
    assert not unknown, "keys the docs name that config.py does not have:\n" + "\n".join(unknown)


def test_the_local_serve_recipe_config_is_valid(tmp_path):
    """docs/streaming.md, "Try it on one machine": a new user copies its `local.yaml` as it
    stands, so it must load (and keep Tansu's group timings: without them the first poll of
    a new group waits minutes)."""
    text = (ROOT / "docs/streaming.md").read_text(encoding="utf-8")
    section = text[text.index("## Try it on one machine"):text.index("## Events in")]
    (block,) = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    path = tmp_path / "local.yaml"
    path.write_text(block)
    kafka = load_config(path, env={}).serve.kafka
    assert (kafka.session_timeout_ms, kafka.heartbeat_interval_ms,
            kafka.max_poll_interval_ms) == (2000, 300, 3000)


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def test_every_config_a_yaml_block_shows_loads(tmp_path):
    """A reader copies these blocks into a config: each must load as it stands. Blocks whose
    top-level keys are not all config sections (chart values, Kubernetes objects, the
    OpenTelemetry Collector's config) are someone else's."""
    checked, refused = 0, []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in re.finditer(r"^```ya?ml\n(.*?)^```", text, re.DOTALL | re.MULTILINE):
            data = yaml.safe_load(m.group(1))
            if not (isinstance(data, dict) and set(data) <= set(SECTIONS)):
                continue
            checked += 1
            path = tmp_path / "block.yaml"
            path.write_text(m.group(1))
            try:
                load_config(path, env={})
            except ValueError as e:
                refused.append(f"{doc.relative_to(ROOT)}:{_line(text, m.start())}: {e}")
    assert checked >= 5, f"only {checked} config blocks found: is the pattern still right?"
    assert not refused, "config blocks the docs show that load_config refuses:\n" + "\n".join(
        refused)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


# `anomaly-gan SUB ...` up to the end of the line (or a shell operator), `\` continuations
# included.
COMMAND = re.compile(r"(?:anomaly-gan|-m anomaly_gan)[ \t]+([a-z][\w-]*)"
                     r"((?:[ \t]+(?:\\\n\s*)?[^\s|;&`#]+)*)")


def test_every_flag_the_docs_give_a_command_is_one_of_its_options():
    """`retrain --keep-versions` in a doc is refused by argparse when a reader runs it."""
    from anomaly_gan.cli import build_parser

    commands = _subcommands(build_parser())
    checked, unknown = 0, []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in COMMAND.finditer(text):
            parser = commands.get(m.group(1))
            if parser is None:  # prose: "anomaly-gan refuses ..."
                continue
            words = m.group(2).replace("\\\n", " ").split()
            if words and words[0] in _subcommands(parser):  # models list ...
                parser = _subcommands(parser)[words[0]]
            options = {o for a in parser._actions for o in a.option_strings}
            for word in words:
                flag = word.lstrip("[(").split("=")[0].rstrip(".,:;)]'\"")
                if not flag.startswith("--"):
                    continue
                checked += 1
                if flag not in options:
                    unknown.append(f"{doc.relative_to(ROOT)}:{_line(text, m.start())}: "
                                   f"{m.group(1)} {flag}")
    assert checked > 80, f"only {checked} flags found: is the pattern still right?"
    assert not unknown, "flags the docs give that the command does not have:\n" + "\n".join(
        unknown)


_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _code(text: str, wrapped: bool) -> list[tuple[int, str]]:
    """The fenced blocks and the code spans of a doc's ``text``, each with where it starts;
    ``wrapped``: spans may run over a line break (a long command in a paragraph)."""
    code = [(m.start(1), m.group(1)) for m in _FENCE.finditer(text)]
    outside = _FENCE.sub(lambda m: " " * len(m.group(0)), text)
    span = r"`([^`]+)`" if wrapped else r"`([^`\n]+)`"
    return code + [(m.start(1), m.group(1)) for m in re.finditer(span, outside)]


def test_every_command_the_docs_show_in_code_is_one():
    """`anomaly-gan evalute ...` in a code block or span is refused by argparse when a
    reader runs it, and the flags test above skips a word that is no command (prose:
    "anomaly-gan refuses ..."): in code, the word after `anomaly-gan` must be a command
    (or an option, or the placeholder COMMAND)."""
    from anomaly_gan.cli import build_parser

    commands = set(_subcommands(build_parser())) | {"COMMAND"}
    checked, unknown = 0, []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for at, span in _code(text, wrapped=False):
            for m in re.finditer(r"(?<![\w./-])(?:anomaly-gan|-m anomaly_gan)[ \t]+"
                                 r"([A-Za-z][\w-]*)", span):
                checked += 1
                if m.group(1) not in commands:
                    unknown.append(f"{doc.relative_to(ROOT)}:{_line(text, at + m.start())}: "
                                   f"anomaly-gan {m.group(1)}")
    assert checked > 60, f"only {checked} commands found: is the pattern still right?"
    assert not unknown, "commands the docs show that anomaly-gan does not have:\n" + \
        "\n".join(unknown)


def test_the_readme_models_block_gives_every_option_of_each_action():
    """README's block of `anomaly-gan models ACTION` lines is where the Retraining section
    shows an operator what each action takes: `promote` left out `--allow-unhealthy`, the
    one way to promote a version kept with `train --allow-unhealthy`."""
    from anomaly_gan.cli import build_parser

    actions = _subcommands(_subcommands(build_parser())["models"])
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    shown: dict[str, set[str]] = {}
    for m in re.finditer(r"^anomaly-gan models (\w+) +(.*)$", text, re.MULTILINE):
        command = m.group(2).split("#")[0]
        shown.setdefault(m.group(1), set()).update(re.findall(r"--[\w-]+", command))
    assert set(shown) == set(actions), shown
    missing = [f"models {name} {o}" for name, parser in actions.items()
               for a in parser._actions for o in a.option_strings
               if o.startswith("--") and o != "--help" and o not in shown[name]]
    assert not missing, "options README's models block does not show:\n" + "\n".join(missing)


def test_the_readme_command_line_block_gives_every_option_of_each_command():
    """README's "Command line" block is the one place a new user sees every command with
    what it takes: an option added to a command (`score --alerts`, `demo --logs`) must be
    shown there, on the command's lines (its `anomaly-gan COMMAND` line and the indented
    lines under it) or on an indented line that names the command (`# [--entity NAME]
    (score, evaluate, plot)`). `models`' actions have the Retraining block (above)."""
    from anomaly_gan.cli import build_parser

    commands = _subcommands(build_parser())
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Command line"):]
    block = re.search(r"^```sh\n(.*?)^```", section, re.DOTALL | re.MULTILINE).group(1)
    shown: dict[str, set[str]] = {name: set() for name in commands}
    current = None
    for line in block.splitlines():
        m = re.match(r"anomaly-gan ([a-z][\w-]*)", line)
        if m:
            current = m.group(1) if m.group(1) in commands else None
            named = {current}
        elif line.startswith(" "):
            named = {current} | set(re.findall(r"(?<![\w-])([a-z][\w-]*)(?![\w-])", line))
        else:
            named = set()
        for name in named & set(commands):
            shown[name].update(re.findall(r"--[\w-]+", line))
    missing = [f"{name} {o}" for name, parser in commands.items() if name != "models"
               for a in parser._actions for o in a.option_strings
               if o.startswith("--") and o != "--help" and o not in shown[name]]
    assert sum(map(len, shown.values())) > 40, f"is the pattern still right? {shown}"
    assert not missing, "options README's Command line block does not show:\n" + "\n".join(
        missing)


def _exported_metrics() -> set[str]:
    """Every metric name a scorer can export: the optional drift and shadow parts too."""
    from types import SimpleNamespace

    from prometheus_client import CollectorRegistry

    from anomaly_gan.config import DriftConfig
    from anomaly_gan.stream.drift import DriftMonitor
    from anomaly_gan.stream.metrics import SCORE_BUCKETS, StreamMetrics
    from anomaly_gan.stream.shadow import ShadowScorer

    reg = CollectorRegistry()
    # with a model loaded, as in a running scorer: its per-version series (and their
    # _created samples, which the rules read) exist
    StreamMetrics(reg, entity_labels_top_n=3).set_model("v1", "ganomaly", 1.0)
    DriftMonitor(reg, DriftConfig())
    ShadowScorer(reg, SimpleNamespace(version="v2", kind="ganomaly", threshold=1.0),
                 SCORE_BUCKETS)
    return {s.name for metric in reg.collect() for s in metric.samples} | {
        metric.name + ("_total" if metric.type == "counter" else "") for metric in reg.collect()}


def test_every_metric_and_alert_the_docs_name_exists():
    """A query or a silence copied from the docs must name a series the scorer exports (or a
    family of them: `anomaly_gan_shadow_*`) and an alert the shipped rules define."""
    metrics = _exported_metrics()
    alerts = set(re.findall(r"^\s*- alert: (\w+)$",
                            (ROOT / "helm/anomaly-gan/files/rules.yaml").read_text(),
                            re.MULTILINE))
    assert len(alerts) > 10
    checked, unknown = 0, []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in re.finditer(r"(?<![\w:])(anomaly_gan_\w+)(\*?)|\b(AnomalyGan[A-Z]\w*)", text):
            name, star, alert = m.groups()
            checked += 1
            if alert:
                known = alert in alerts
            elif star:
                known = any(n.startswith(name) for n in metrics)
            else:
                known = name in metrics
            if not known:
                unknown.append(f"{doc.relative_to(ROOT)}:{_line(text, m.start())}: "
                               f"{name or alert}{star or ''}")
    assert checked > 100, f"only {checked} names found: is the pattern still right?"
    assert not unknown, "metrics or alerts the docs name that do not exist:\n" + "\n".join(
        unknown)


def test_the_readme_config_error_is_the_line_validate_config_prints(tmp_path, monkeypatch, capsys):
    """README's example of a refused config is the whole line a reader sees on stderr."""
    from anomaly_gan.cli import main

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    (shown,) = re.findall(r"^```\n(.*configs/x\.yaml: training\.epochs: .*)\n```", text,
                          re.MULTILINE)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs/x.yaml").write_text("training:\n  epochs: 0\n")
    monkeypatch.chdir(tmp_path)
    assert main(["validate-config", "configs/x.yaml"]) == 2
    assert capsys.readouterr().err.strip() == shown


def test_serve_help_gives_the_exit_code_of_a_second_signal():
    """README and `anomaly-gan --help` say a second SIGTERM or Ctrl-C while `serve` drains
    ends it at once with 130; `serve --help` gave 130 only for a signal while it starts."""
    from anomaly_gan.cli import build_parser

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "130 too, at once and with one line, for a second SIGTERM or Ctrl-C while it drains" \
        in readme
    description = " ".join(_subcommands(build_parser())["serve"].description.split())
    assert "130" in description and "a second one while it drains" in description, description


def test_the_runbook_names_the_keys_a_json_log_line_starts_with():
    """The runbook's `kubectl logs` line said the JSON lines have "level" and "message"
    first; they start with "ts", "level", "logger", "msg": a `jq .message` finds nothing."""
    import json
    import logging

    from anomaly_gan.stream.logs import JsonFormatter

    text = (ROOT / "docs/runbook.md").read_text(encoding="utf-8")
    (comment,) = re.findall(r"kubectl -n <ns> logs <pod> .*# JSON lines(.*)$", text, re.MULTILINE)
    named = re.findall(r'"(\w+)"', comment)
    record = logging.LogRecord("anomaly_gan.stream", logging.INFO, "", 0, "starting", None, None)
    record.fields = {"http": "0.0.0.0:9108"}
    keys = list(json.loads(JsonFormatter().format(record)))
    assert named == keys[:len(named)] and len(named) >= 4, (named, keys)


def test_no_date_in_the_docs_is_after_today():
    """The docs date their changes ("until 2026-12-05 ...", "before 2026-12-05"); a date
    after today is a typo (docs/logs.md said `bucket_seconds: 60` was refused "as it did
    for every config before 2026-12-06", the day after the change). A date followed by a
    time (`2031-01-01T00:35:00Z`, an example line's stamp) is data, not a claim."""
    import datetime

    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    future = [f"{p.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(1)}"
              for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
              for text in [p.read_text(encoding="utf-8")]
              for m in re.finditer(r"(?<![\d-])(20\d\d-[01]\d-[0-3]\d)(?![\dT:-])", text)
              if m.group(1) > today]
    assert not future, "dates after today in the docs:\n" + "\n".join(future)


def _chart_paths(node: typing.Any = CHART_VALUES, prefix: str = "") -> dict[str, typing.Any]:
    out: dict[str, typing.Any] = {}
    if isinstance(node, dict):
        for k, v in node.items():
            out[prefix + k] = v
            out.update(_chart_paths(v, f"{prefix}{k}."))
    return out


# Chart values that are Kubernetes objects rendered as given: a doc may name a field of one
# that the default leaves out (`resources.limits.cpu`).
CHART_PASSTHROUGH = {"resources", "podSecurityContext", "securityContext", "livenessProbe",
                     "readinessProbe", "startupProbe", "affinity", "nodeSelector",
                     "tolerations", "topologySpreadConstraints", "podAnnotations", "podLabels"}
# OpenTelemetry attributes whose first word is also a chart value's name.
NOT_CHART = {"service.name", "service.instance.id"}
# The docs that speak of chart values by their path relative to a parent
# (`tls.caSecret` under `kafka`).
HELM_DOCS = {"docs/deployment.md", "docs/runbook.md", "helm/anomaly-gan/README.md"}


def test_every_chart_value_the_docs_name_exists():
    """`--set kafka.tls.caScret=...` or `serviceMonitor.scrapeTimout` copied from a doc is
    refused by the schema (or, under a passthrough value, silently ignored). Every dotted
    name that starts with a top-level value of helm/anomaly-gan/values.yaml must be one;
    `config.serve.x` must name a config key; in the Helm docs a camelCase name given
    relative to its parent (`tls.keyPasswordSecret`) must end a value's path."""
    import anomaly_gan.config as config_module

    paths = _chart_paths()
    top = set(CHART_VALUES) - set(SECTIONS)
    name = re.compile(r"(?<![\w./$-])([a-z][A-Za-z0-9]*(?:\.[A-Za-z_]\w*)+)(?![\w/(-])")
    checked, unknown = 0, []
    for doc, text, at, key in _names_in_code(name):
        parts = key.split(".")
        if parts[-1] in FILE_SUFFIXES or key in NOT_CHART:
            continue
        if key in paths:
            ok = True
        elif parts[0] == "config":
            ok = (_names_a_field(parts[1:])
                  or len(parts) == 2 and hasattr(config_module, parts[1]))
        elif parts[0] in top:
            ok = key in paths or parts[0] in CHART_PASSTHROUGH
        elif (str(doc.relative_to(ROOT)) in HELM_DOCS and parts[0] not in SECTIONS
              and any(c.isupper() for c in key)):
            ok = any(p.endswith("." + key) for p in paths)
        else:
            continue
        checked += 1
        if not ok:
            close = difflib.get_close_matches(key, list(paths), n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            unknown.append(f"{doc.relative_to(ROOT)}:{_line(text, at)}: `{key}`{hint}")
    assert checked > 60, f"only {checked} chart values found: is the pattern still right?"
    assert not unknown, "chart values the docs name that values.yaml does not have:\n" + \
        "\n".join(unknown)


def _config_default(parts: list[str]) -> typing.Any:
    """The default of a config key, or KeyError (an optional section's keys are those of its
    class: `logs.otlp_entity`)."""
    node: typing.Any = Config
    value: typing.Any = None
    for part in parts:
        if dataclasses.is_dataclass(node):
            fields = {f.name: f for f in config_keys(node)}
            if part not in fields:
                raise KeyError(part)
            f = fields[part]
            value = (f.default_factory() if f.default_factory is not dataclasses.MISSING
                     else f.default)
            tp = typing.get_type_hints(node)[part]
            args = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
            node = args[0] if dataclasses.is_dataclass(args[0]) else None
            if node is not None and value is None:
                value = node()
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(part)
    return value


def test_every_default_the_docs_give_is_the_default():
    """"`serve.kafka.input_stall_seconds` (default 60)": a reader who relies on it gets what
    config.py (or values.yaml, for a chart value) says. Checked where the name resolves to
    one key and the default is one word."""
    paths = _chart_paths()
    said = re.compile(r"`([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)`\s+\(default\s+`?([^`\s,;)]+)`?"
                      r"\s*[,;)]")
    checked, wrong = 0, []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in said.finditer(text):
            key, shown = m.groups()
            parts = key.split(".")
            try:
                actual = _config_default(parts[1:] if parts[0] == "config" else parts)
            except KeyError:
                chart = [p for p in paths if p == key or p.endswith("." + key)]
                if len(chart) != 1:
                    continue  # a name relative to something the prose says
                actual = paths[chart[0]]
            checked += 1
            try:
                same = float(shown) == float(actual)
            except (TypeError, ValueError):
                same = shown == str(actual)
            if not same:
                wrong.append(f"{doc.relative_to(ROOT)}:{_line(text, m.start())}: `{key}` "
                             f"(default {shown}), but it is {actual!r}")
    assert checked >= 12, f"only {checked} defaults found: is the pattern still right?"
    assert not wrong, "defaults the docs give that are not the defaults:\n" + "\n".join(wrong)


def _readyz_details() -> set[str]:
    """Every detail /readyz answers 503 with, numbers written N and names X as the runbook
    writes them. "shutting down" is left out: it lasts the drain of a SIGTERM
    (serve.grace_seconds), never the 5 minutes AnomalyGanNotReady waits."""
    from types import SimpleNamespace

    from kafka.errors import KafkaConnectionError

    from anomaly_gan.config import KafkaConfig
    from anomaly_gan.stream.app import Scorer
    from anomaly_gan.stream.http import Health
    from anomaly_gan.stream.kafka_io import AuthFailures

    def health(**state: typing.Any) -> Health:
        h = Health(liveness_timeout_s=60, clock=lambda: 1000.0)
        h.last_beat, h.model_loaded, h.broker_up, h.assigned = 990.0, True, True, 1
        for k, v in state.items():
            setattr(h, k, v)
        return h

    refused = AuthFailures()
    refused.count = 1

    def tls(error: str) -> str | None:
        failures = AuthFailures()
        failures.filter(logging.LogRecord(
            "kafka.net.connection", logging.ERROR, "", 0, "%s: Connection lost: %s",
            ("conn", KafkaConnectionError(f"Handshake failed: {error} (_ssl.c:1)")), None))
        return failures.reason_since(0, KafkaConfig(security_protocol="SSL", ssl_cafile="X"))

    scorer = SimpleNamespace(health=health(assigned=0), _topic_missing=False,
                             cfg=SimpleNamespace(kafka=KafkaConfig(input_topic="X")))
    Scorer._input_topic_missing(scorer, True)  # type: ignore[arg-type]
    states = [
        health(last_beat=900.0), health(model_loaded=False), health(broker_up=False),
        health(broker_up=False, broker_reason=refused.reason_since(
            0, KafkaConfig(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                           sasl_username="X", sasl_password="p"))),
        health(broker_up=False, broker_reason=tls("[SSL: X] X")),
        health(broker_up=False, broker_reason=tls(
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: X")),
        health(delivery=SimpleNamespace(stalled_for=lambda: 75.0), stall_limit_s=60),
        health(input=lambda: 75.0, input_limit_s=60),
        health(error_replays=(3, 75.0, "X"), error_limit_s=60), health(assigned=0),
        scorer.health]
    details = set()
    for h in states:
        ok, why = h.ready()
        assert not ok, why
        details.add(re.sub(r"\d+", "N", why))
    return details


def test_the_runbook_lists_every_readyz_detail():
    """AnomalyGanNotReady's table says what to do for each `detail` /readyz gives: each row
    must be a detail the scorer answers, and each detail must have its row."""
    text = (ROOT / "docs/runbook.md").read_text(encoding="utf-8")
    section = text[text.index("### AnomalyGanNotReady"):text.index("### AnomalyGanInputStalling")]
    rows = set(re.findall(r"^\| `([^`]+)` \|", section, re.MULTILINE))
    named = set(re.findall(r"the detail `([^`]+)`", section))  # within a row: the topic's
    assert rows | named == _readyz_details()


def test_the_dead_letter_reasons_the_docs_list_are_the_scorers():
    """docs/logs.md lists the reasons a logs model's bad record is dead-lettered with, and the
    runbook's AnomalyGanInvalidEventRateHigh section names reasons to act on: a reason
    renamed in the code, or one added, must be named there too."""
    from anomaly_gan.logs.events import LOG_INVALID_REASONS
    from anomaly_gan.stream.events import INVALID_REASONS, LOG_REASONS

    known = set(INVALID_REASONS) | set(LOG_REASONS)
    logs = (ROOT / "docs/logs.md").read_text(encoding="utf-8")
    listed = logs[logs.index("Live, a bad record goes to the dead-letter topic"):
                  logs.index("### Worked examples")]
    named = set(re.findall(r"`([a-z_0-9]+)`", listed)) & known
    # the reasons any record can have whatever the model: a bug, a batch the client cannot read
    assert named == set(LOG_INVALID_REASONS) | {"unprocessable", "corrupt_record"}
    runbook = (ROOT / "docs/runbook.md").read_text(encoding="utf-8")
    section = runbook[runbook.index("### AnomalyGanInvalidEventRateHigh"):
                      runbook.index("### AnomalyGanNothingScored")]
    words = {w for w in re.findall(r"`([a-z]+(?:_[a-z]+)+)`", section)
             if not w.startswith("anomaly_gan_")}  # metrics: checked above
    assert len(words) >= 6 and words <= known, words - known


# A path inside the repository that the docs name: a folder of it, then what follows.
REPO_PATH = re.compile(r"(?<![\w./-])((?:anomaly_gan|bench|configs|deploy|docs|helm|scripts|tests)"
                       r"/[\w.*/-]*[\w*/])")


NOT_PATHS = {
    "configs/x.yaml",  # README's example of a refused config
    "helm/prometheus",  # README: "the npm registry for helm/prometheus", two tools
}


def test_every_repository_path_the_docs_name_exists():
    """`tests/deploy/rules_test.yaml`, `deploy/compose/plant.py`: a path a reader opens must
    be there (globs such as `ci/*-values.yaml` must match something)."""
    checked, missing = 0, []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in REPO_PATH.finditer(text):
            path = m.group(1)
            if path in NOT_PATHS:
                continue
            checked += 1
            if not (ROOT / path).exists() and not list(ROOT.glob(path)):
                missing.append(f"{doc.relative_to(ROOT)}:{_line(text, m.start())}: {path}")
    assert checked > 50, f"only {checked} paths found: is the pattern still right?"
    assert not missing, "paths the docs name that do not exist:\n" + "\n".join(missing)


# What each command exits with, apart from 1 for a bug (any command, with its traceback) and
# 130 for a Ctrl-C that `validate-config` is too quick to meet: 1 where the command itself
# returns it, 3 where it trains (train_detector raises TrainingHealthError, which main() turns
# into 3, for networks that ended non-finite), 4 where it gates. Its help, `anomaly-gan
# --help` and README's exit codes must all name it.
COMMAND_EXIT_CODES = {
    "validate-config": {0, 2}, "train": {0, 2, 3, 130}, "score": {0, 2, 130},
    "evaluate": {0, 2, 130}, "plot": {0, 2, 130}, "offline-demo": {0, 2, 3, 130},
    "serve": {0, 1, 2, 130}, "demo": {0, 1, 2, 3, 130}, "retrain": {0, 2, 3, 4, 130},
    "models": {0, 2, 130}}


def _codes_in(text: str, start: str, sep: str) -> dict[int, str]:
    """The text given for each exit code in ``text`` from ``start`` on: ``CODE reason``
    after ``start`` or after ``sep``, each reason up to the next code."""
    if start not in text:
        return {}
    text = text[text.index(start) + len(start):]
    marks = list(re.finditer(rf"(?:^|{sep})\s*(0|1|2|3|4|130)\s", text))
    reasons: dict[int, str] = {}
    for m, n in zip(marks, [*marks[1:], None], strict=True):  # a code again: more of its reason
        reasons.setdefault(int(m.group(1)), " ".join(text[m.end():n.start() if n else None].split()))
    return reasons


def test_each_command_help_names_the_exit_codes_it_can_return():
    """`demo --help` listed 0, 1, 2 and 130, where a training whose networks end non-finite
    exits 3 as in `train`, `offline-demo` and `retrain`."""
    from anomaly_gan.cli import build_parser

    commands = _subcommands(build_parser())
    assert set(commands) == set(COMMAND_EXIT_CODES)
    named = {name: set(_codes_in(p.description, "Exit codes:", ";"))
             for name, p in commands.items()}
    wrong = {name: (sorted(named[name]), sorted(codes))
             for name, codes in COMMAND_EXIT_CODES.items() if named[name] != codes}
    assert not wrong, f"{{command: (codes its help names, codes it returns)}}: {wrong}"


def test_each_command_help_names_both_signals_of_exit_130():
    """Every command exits 130 for SIGTERM as for Ctrl-C (README; `main` turns both into
    KeyboardInterrupt): `offline-demo --help` said `130 interrupted (Ctrl-C)` and `demo
    --help` `130 interrupted.`, so an operator stopping a demo's pod or a scripted run with
    SIGTERM could not tell from the help what exit to expect."""
    from anomaly_gan.cli import build_parser

    missing = [f"{name}: 130 {reason}" for name, p in _subcommands(build_parser()).items()
               for code, reason in _codes_in(p.description, "Exit codes:", ";").items()
               if code == 130 and not ("Ctrl-C" in reason and "SIGTERM" in reason)]
    assert not missing, "exit 130 not said of both Ctrl-C and SIGTERM:\n" + "\n".join(missing)


def test_the_top_level_help_and_the_readme_name_each_command_for_its_exit_codes():
    """`anomaly-gan --help` gave exit 1 for `serve` only as a failed final flush or commit,
    not a record not delivered that still waited for its replay (as `serve --help` and
    README do); it and README named only `train` and `retrain` for exit 3, not `demo` and
    `offline-demo`, which train too."""
    from anomaly_gan.cli import EPILOG

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    paragraph = readme[readme.index("- **Exit codes:**"):].split("\n\n")[0]
    texts = {"anomaly-gan --help": _codes_in(EPILOG.split("\n\n")[0], "exit codes:", "\n"),
             "README": _codes_in(paragraph, "**Exit codes:**", ";")}
    missing = []
    for where, reasons in texts.items():
        assert set(reasons) == set().union(*COMMAND_EXIT_CODES.values()), (where, reasons)
        missing += [f"{where}: exit {code} does not name {name}"
                    for name, codes in COMMAND_EXIT_CODES.items() for code in codes & {1, 3, 4}
                    if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", reasons[code])]
        if "not delivered" not in reasons[1]:
            missing.append(f"{where}: exit 1 of serve: no record not delivered")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("argv", [["demo"], ["demo", "--logs"], ["offline-demo"]])
def test_a_demo_whose_networks_end_non_finite_exits_3(argv, tmp_path, monkeypatch, capsys):
    """What COMMAND_EXIT_CODES says of the demos: training's TrainingHealthError reaches
    main(), which exits 3 with one line, as for `train`."""
    from anomaly_gan.cli import main
    from anomaly_gan.errors import TrainingHealthError

    def non_finite(*_args, **_kwargs):
        raise TrainingHealthError("non-finite network outputs")

    monkeypatch.setattr("anomaly_gan.train.train_detector", non_finite)
    monkeypatch.setattr("anomaly_gan.logs.offline.train_log_detector", non_finite)
    monkeypatch.setattr("anomaly_gan.runtime.import_tensorflow_quietly", lambda: None)
    monkeypatch.setattr("anomaly_gan.cli._tensorflow", lambda: None)
    assert main([*argv, "--out", str(tmp_path / "out")]) == 3
    assert capsys.readouterr().err.endswith(
        "anomaly-gan: training ended unhealthy: non-finite network outputs\n")


def _pytest_markers(path: Path) -> set[str]:
    """The marks of a test module's ``pytestmark`` (a mark or a list of them) that select
    tests (``-m``): not ``timeout(...)``, a setting of pytest-timeout."""
    m = re.search(r"^pytestmark = (\[.*?\]|pytest\.mark\.\w+)", path.read_text(encoding="utf-8"),
                  re.MULTILINE | re.DOTALL)
    return set(re.findall(r"pytest\.mark\.(\w+)", m.group(1))) - {"timeout"} if m else set()


def test_the_deployment_tests_table_lists_each_deploy_test_with_its_markers():
    """docs/deployment.md, "Tests": an operator picks the chart's checks to run from this
    table (`-m "not slow"`), so each tests/deploy/test_*.py must be a row, with the markers
    it carries (test_helm_values_fuzz.py and test_rendered_commands.py had no row)."""
    text = (ROOT / "docs/deployment.md").read_text(encoding="utf-8")
    section = text[text.index("## 9. Tests"):]
    rows = {m.group(1): {w.strip() for w in m.group(2).split(",")}
            for m in re.finditer(r"^\| `(tests/deploy/test_\w+\.py)` \| ([^|]+) \|", section,
                                 re.MULTILINE)}
    modules = {str(p.relative_to(ROOT)): _pytest_markers(p)
               for p in sorted((ROOT / "tests/deploy").glob("test_*.py"))}
    assert set(rows) == set(modules), (
        f"without a row: {sorted(set(modules) - set(rows))}; "
        f"rows of no file: {sorted(set(rows) - set(modules))}")
    wrong = [f"{name}: the table says {sorted(rows[name])}, the module has {sorted(marks)}"
             for name, marks in modules.items() if rows[name] != marks]
    assert not wrong, "\n".join(wrong)


def _chart_readme_default(value: typing.Any, shown: str) -> bool | None:
    """Whether ``shown``, one default of the chart README's table, is ``value``; None where it
    is prose (`serve`: ..., PLAINTEXT `kafka:9092`)."""
    shown = re.sub(r"\s*\(.*\)$", "", shown.strip())
    m = re.fullmatch(r"(off)?(?:, )?(?:`(\w+): ([^`]*)`)?", shown)
    if shown and m:
        return (isinstance(value, dict)
                and (not m.group(1) or value.get("enabled") is False)
                and (not m.group(2) or value.get(m.group(2)) == yaml.safe_load(m.group(3))))
    if re.fullmatch(r'""|\[\]|\{\}|true|false|-?\d+', shown):
        return value == yaml.safe_load(shown)
    return None


def test_the_chart_readme_table_names_values_with_their_defaults():
    """helm/anomaly-gan/README.md's table is where an operator looks a value up: each name in
    its first column must be a value of values.yaml (`kafka.*`: a map of them), and each
    default the second column gives (`off`, `1`, `""`, `9108 / 9108`, `maxUnavailable: 1`)
    must be that value's default."""
    paths = _chart_paths()
    text = (ROOT / "helm/anomaly-gan/README.md").read_text(encoding="utf-8")
    checked, wrong = 0, []
    for m in re.finditer(r"^\| (`[^|]+) \| ([^|]*) \|", text, re.MULTILINE):
        names = re.findall(r"`([^`]+)`", m.group(1))
        where = f"helm/anomaly-gan/README.md:{_line(text, m.start())}"
        for name in names:
            key = name.removesuffix(".*")
            if key not in paths or name.endswith(".*") and not isinstance(paths[key], dict):
                wrong.append(f"{where}: `{name}` is no value of values.yaml")
        defaults = m.group(2).split(" / ")
        if len(defaults) != len(names):
            defaults = [m.group(2)] * len(names)
        for name, shown in zip(names, defaults, strict=True):
            if name.removesuffix(".*") not in paths:
                continue
            same = _chart_readme_default(paths[name.removesuffix(".*")], shown)
            if same is None:
                continue
            checked += 1
            if not same:
                wrong.append(f"{where}: `{name}` (default {shown.strip()}), but it is "
                             f"{paths[name.removesuffix('.*')]!r}")
    assert checked >= 12, f"only {checked} defaults found: is the pattern still right?"
    assert not wrong, "the chart README's table against values.yaml:\n" + "\n".join(wrong)


# A Kafka command-line tool given with what it acts on (`--topic`, `--group`): a command to
# run, not a tool named in passing (`kafka-delete-records.sh`).
KAFKA_TOOL = re.compile(r"(?<![\w/.-])(kafka-[\w-]+\.sh)\b([^`]*)")


def test_every_kafka_tool_command_the_docs_give_names_the_brokers():
    """The runbook's `kafka-consumer-groups.sh --describe --group <serve.kafka.group_id>`,
    `kafka-get-offsets.sh --topic ...` and `kafka-console-consumer.sh --topic anomaly-gan.dlq
    ...` stop at once with `Missing required argument "[bootstrap-server]"` (Kafka 3's tools
    take no ZooKeeper and have no default broker): each such command must give
    `--bootstrap-server`, and a `--reset-offsets` one `--execute` (without it the tool only
    prints the plan, and the on-call engineer believes the offsets moved)."""
    checked, wrong = 0, []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for at, span in _code(text, wrapped=True):
            for m in KAFKA_TOOL.finditer(span):
                words = m.group(2).split()
                if not {"--topic", "--group"} & set(words) and "--reset-offsets" not in words:
                    continue
                checked += 1
                where = f"{doc.relative_to(ROOT)}:{_line(text, at + m.start())}: {m.group(1)}"
                if "--bootstrap-server" not in words:
                    wrong.append(f"{where}: no --bootstrap-server")
                if "--reset-offsets" in words and "--execute" not in words:
                    wrong.append(f"{where}: --reset-offsets without --execute")
    assert checked >= 4, f"only {checked} Kafka commands found: is the pattern still right?"
    assert not wrong, "Kafka commands the docs give that the tool refuses:\n" + "\n".join(wrong)
