"""Seeded mutation fuzz of the chart's values: hostile edits of values.yaml and of every
ci/*-values.yaml, rendered by the real ``helm template``.

Each seed starts from the chart's values.yaml (alone, or with a ci/ values file merged over
it), applies 1-3 random mutations (a value of another type, an empty or a huge string, a key
removed (null, which helm takes as "delete the default"), an unknown key at any depth, a
list where a map is expected and the reverse, a number on or past a bound the schema
documents, another value of a schema enum, a feature switched on or off, and edits of the
service config under ``config:`` made by tests/test_config_fuzz.py's mutations) and renders
the whole document as the release's ``-f`` file.

The property (helm/anomaly-gan/README.md, values.schema.json; docs/deployment.md):

* helm refuses the values with an error that names the offending value: the schema's
  ``at '/path'`` or the chart's own ``values: <key> ...`` (or helm's own refusal of a
  values file it cannot read, naming the file); never a template's runtime error (a nil
  pointer, ``error calling ...``, a wrong type) and never a rendered manifest that is not
  YAML (``YAML parse error on anomaly-gan/templates/...``: a value the schema allowed broke
  the chart's output);
* or it renders documents that each parse, with apiVersion, kind and metadata.name, that
  the Kubernetes API schemas take (``kubernetes_validate.validate``, strict, the version
  tests/deploy/test_chart_checks.py's ``kubernetes-validate --strict`` checks; the custom
  resources aside): a values file that passes values.schema.json and renders, and that the
  API server then refuses, is a failed release at ``helm install/upgrade`` instead of an
  early refusal naming the value. Where the BaseLoader fallback reads every scalar as a
  string (below), the objects are not validated. And a service config (the scorer's
  ConfigMap, with the ANOMALY_GAN__* variables of the scorer's environment) that :func:`anomaly_gan.config.load_config` accepts, and silences that
  :func:`anomaly_gan.stream.silences.load_silences` accepts: a release whose scorer refuses
  its own config at start is an install that crash-loops (or, with validateConfig, fails its
  pre-install check with that message: what the schema could have said at once). Every
  string of ``config:`` (the chart's own keys aside) is in that config, exactly: the values
  file is written with its characters past ASCII raw, or (one seed in two) escaped, since
  PyYAML writes a NEL raw and reads it back as a line break.

The chart's toYaml wrote U+2028/U+2029 raw, which broke the ConfigMap (seeds 432, 6892,
8109, 9588, 14409, 300059), and folded a NEL into a space (seeds 12818, 18655): the config
is now indented JSON.

The Kubernetes validation found, in 2000 seeds (0-999, 100000-100999), 52 rendered values
files the API server would refuse: probes, security contexts and NetworkPolicy peers of the
wrong type or with unknown keys, and Secret keys or tmpSizeLimit unset with null
(values.schema.json now holds the API's definitions for the values written as they are, and
requires those keys). The default 30 seeds fail on each of 5 template sabotages (a containerPort, a Service port or
replicas quoted, a misspelt restartPolicy, a backoffLimit that is no integer), which the
fuzz let through before.

``HELM_VALUES_FUZZ_SEEDS`` (default 30, about 4 s; the Kubernetes validation costs about
150 ms a rendered seed, one seed in five renders) seeds from ``HELM_VALUES_FUZZ_SEED_START``
(default 0): ``HELM_VALUES_FUZZ_SEED_START=17 HELM_VALUES_FUZZ_SEEDS=1`` runs seed 17 alone.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from anomaly_gan.config import load_config
from anomaly_gan.errors import AnomalyGanError
from anomaly_gan.stream.silences import load_silences
from tests.deploy.conftest import CHART, CRD_KINDS, find, run
from tests.support.config_fuzz import mutate as mutate_config
from tests.support.config_fuzz import random_string, random_value
from tests.support.fuzz import block_id, each_seed, seed_blocks

pytestmark = [pytest.mark.helm, pytest.mark.slow]

SEEDS = int(os.environ.get("HELM_VALUES_FUZZ_SEEDS", "30"))
SEED_START = int(os.environ.get("HELM_VALUES_FUZZ_SEED_START", "0"))
DEFAULTS: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
SCHEMA: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
# The version `kubernetes-validate --strict` checks by default (tests/deploy/test_chart_checks.py).
K8S_VERSION = kubernetes_validate.latest_version()


def merged(base: Any, over: Any) -> Any:
    """``over`` merged into ``base`` as helm merges a values file into the chart's."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merged(base.get(k), v) if k in base else v
        return out
    return over


BASES: dict[str, dict[str, Any]] = {"values.yaml": DEFAULTS} | {
    p.name: merged(DEFAULTS, yaml.safe_load(p.read_text()))
    for p in sorted((CHART / "ci").glob("*-values.yaml"))}


# --------------------------------------------------------------------------- the schema


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not ref:
        return schema
    node: Any = SCHEMA
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return _resolve(node)


def _schema_leaves(schema: dict[str, Any], path: tuple[str, ...] = ()
                   ) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every (path, schema) of a property the schema describes (the config section is left
    to the config fuzz's own mutations)."""
    schema = _resolve(schema)
    for name, sub in schema.get("properties", {}).items():
        if path == () and name == "config":
            continue
        yield (*path, name), _resolve(sub)
        yield from _schema_leaves(sub, (*path, name))


SCHEMA_LEAVES = list(_schema_leaves(SCHEMA))
BOUNDED = [(p, s) for p, s in SCHEMA_LEAVES
           if {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"} & s.keys()]
ENUMS = [(p, s) for p, s in SCHEMA_LEAVES if "enum" in s]
SWITCHES = [p for p, s in SCHEMA_LEAVES if s.get("type") == "boolean"]


def on_and_past_bounds(rng: random.Random, schema: dict[str, Any]) -> Any:
    picks: list[Any] = []
    for key, step in (("minimum", -1), ("exclusiveMinimum", -1), ("maximum", 1),
                      ("exclusiveMaximum", 1)):
        if key in schema:
            bound = schema[key]
            picks += [bound, bound + step, bound + step * 10 ** rng.randint(3, 20),
                      bound + step * 0.5]
    return rng.choice(picks)


# --------------------------------------------------------------------------- mutations


def nodes(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) inside ``doc``, into its maps and lists."""
    out: list[tuple[tuple[Any, ...], Any]] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(
        doc, list) else ()
    for k, v in items:
        out.append(((*prefix, k), v))
        out += nodes(v, (*prefix, k))
    return out


def set_at(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    """Set ``path`` in ``doc``, making the maps on the way (a value in the way stays)."""
    node: Any = doc
    for part in path[:-1]:
        if isinstance(node, list):
            if not (isinstance(part, int) and part < len(node)):
                return
        elif node.get(part) is None:
            node[part] = {}
        if not isinstance(node[part], dict | list):
            return
        node = node[part]
    if isinstance(node, list) and not (isinstance(path[-1], int) and path[-1] < len(node)):
        return
    node[path[-1]] = value


UNKNOWN_KEYS = ["unknown", "x", "Enabled", "replicas", "apiVersion", "kind", "a.b", "a/b",
                "ünï", "x" * 300, "1", "true", "null"]


def mutate(rng: random.Random, doc: dict[str, Any], case: Case) -> None:
    kind = rng.choice(["retype", "retype", "delete", "unknown", "empty", "huge", "shape",
                       "bound", "bound", "enum", "switch", "switch", "config", "config",
                       "config"])
    present = [(p, v) for p, v in nodes(doc) if p[0] != "config" or kind == "retype"]
    path: tuple[Any, ...] = ()
    if kind == "retype":
        path, _ = rng.choice(present)
        set_at(doc, path, random_value(rng))
    elif kind == "delete":
        path, _ = rng.choice(present)
        set_at(doc, path, None)
    elif kind == "unknown":
        maps = [((), doc)] + [(p, v) for p, v in present if isinstance(v, dict)]
        path, node = rng.choice(maps)
        key = rng.choice(UNKNOWN_KEYS)
        node[key] = random_value(rng)
        path = (*path, key)
    elif kind in ("empty", "huge"):
        strings = [p for p, v in present if isinstance(v, str)] or [("nameOverride",)]
        path = rng.choice(strings)
        set_at(doc, path, "" if kind == "empty" else rng.choice(
            ["x" * rng.choice([64, 254, 5000, 70_000]), random_string(rng) * 100]))
    elif kind == "shape":
        path, value = rng.choice([(p, v) for p, v in present if isinstance(v, dict | list)])
        set_at(doc, path, rng.choice([[], [{}], ["a"], [1, 2]]) if isinstance(value, dict)
               else rng.choice([{}, {"a": 1}, {"name": "x"}]))
    elif kind == "bound":
        path, schema = rng.choice(BOUNDED)
        set_at(doc, path, on_and_past_bounds(rng, schema))
    elif kind == "enum":
        path, schema = rng.choice(ENUMS)
        set_at(doc, path, rng.choice(schema["enum"]))
    elif kind == "switch":
        path = rng.choice(SWITCHES)
        set_at(doc, path, rng.random() < 0.7)
    else:  # config: the config fuzz's own edits of the service YAML
        if not isinstance(doc.get("config"), dict):
            doc["config"] = {}
        notes: list[str] = []
        before = copy.deepcopy(doc["config"])
        mutate_config(rng, doc["config"], notes)
        path = ("config", *_changed(before, doc["config"]))
        kind = f"config:{notes[-1]}"
    case.notes.append(kind)
    case.paths.append(path)


def _changed(before: Any, after: Any) -> tuple[Any, ...]:
    """The first path at which ``after`` differs from ``before`` (() where they agree)."""
    if isinstance(before, dict) and isinstance(after, dict):
        for k in list(after) + [k for k in before if k not in after]:
            if k not in before or k not in after:
                return (k,)
            if before[k] != after[k]:
                return (k, *_changed(before[k], after[k]))
    return ()


@dataclass
class Case:
    seed: int
    base: str
    doc: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    paths: list[tuple[Any, ...]] = field(default_factory=list)
    # The values file with its characters past ASCII raw (as a person writes it), or escaped:
    # PyYAML writes a NEL raw where it reads back a line break, so only the escaped file
    # carries every string to helm.
    escaped: bool = False

    def __str__(self) -> str:
        spelt = " (escaped)" if self.escaped else ""
        return f"{self.base}{spelt} {list(zip(self.notes, self.paths, strict=True))}"


def make_case(seed: int) -> Case:
    rng = random.Random(seed)
    base = rng.choice(sorted(BASES))
    case = Case(seed, base, copy.deepcopy(BASES[base]))
    for _ in range(rng.randint(1, 3)):
        mutate(rng, case.doc, case)
    case.escaped = rng.random() < 0.5
    return case


# --------------------------------------------------------------------------- the property

# A template that failed at run time, or rendered YAML that does not parse, or a type that
# reached a function the chart calls: values the schema let through and the chart mishandled.
CHART_FAILURES = re.compile(
    r"nil pointer|panic|runtime error|error calling|can't evaluate|wrong type|"
    r"incompatible types|YAML parse error on|invalid value; expected|unable to cast|"
    r"index out of range|cannot (?:index|range)", re.IGNORECASE)


def names(path: tuple[Any, ...]) -> list[str]:
    """How an error may name ``path`` or a section holding it: the schema's JSON pointer,
    the chart's dotted key, or (an unknown key) the key itself."""
    out = [f"'{path[-1]}'"] if path else []
    for n in range(1, len(path) + 1):
        parts = [str(p) for p in path[:n]]
        out += ["/" + "/".join(parts), ".".join(parts)]
    return out


def check_refusal(case: Case, values: Path, stderr: str) -> None:
    where = f"{case}:\n{stderr[-3000:]}"
    assert not CHART_FAILURES.search(stderr), f"the chart failed at run time: {where}"
    if f"failed to parse {values}" in stderr:
        return  # helm itself refuses a values file it cannot read, naming the file
    named = [n for path in case.paths for n in names(path)]
    assert any(n in stderr for n in named), f"the error names no mutated value: {where}"


# The scorer's words for a value of the wrong type, out of bounds or an unknown key, which
# the schema (scripts/values_schema.py, from the same literals) refuses itself.
SCHEMA_WORDS = re.compile(r"unknown key|expected an? (?:integer|number|boolean|mapping|list)|"
                          r"expected one of")


def _pod(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc.get("spec") or {}
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec if doc["kind"] == "Pod" else (spec.get("template") or {}).get("spec") or {}


def kubernetes_rejections(docs: list[dict[str, Any]]) -> list[str]:
    """What the Kubernetes API schemas refuse in ``docs`` (the custom resources aside), as
    tests/deploy/test_chart_checks.py's ``kubernetes-validate --strict`` does: values the
    schema let through that ``helm install`` would take to the API server, which refuses
    the release there."""
    out = []
    for d in docs:
        if d["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(d, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            at = ".".join(str(p) for p in exc.path)
            out.append(f"{d['kind']}/{d['metadata']['name']}: {at}: {exc.message:.300}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            out.append(f"{d['kind']}/{d['metadata']['name']}: {exc.message}")
    return out


def check_render(case: Case, out: str, tmp: Path) -> list[str]:
    where = str(case)
    typed = True
    try:
        docs = [d for d in yaml.safe_load_all(out) if d is not None]
    except ValueError:
        # Python's int() refuses over 4300 digits: helm's toYaml writes a string of digits
        # past a float's range unquoted (under an unknown key of a probe, which the chart
        # passes through as the Probe it is). Read every scalar as a string instead.
        docs = [d for d in yaml.load_all(out, Loader=yaml.BaseLoader) if d]
        typed = False
    except yaml.YAMLError as exc:
        raise AssertionError(f"a manifest that is not YAML: {where}: {exc}") from None
    for d in docs:
        assert isinstance(d, dict), f"a manifest that is not a mapping: {where}: {d!r:.300}"
        assert d.get("apiVersion") and d.get("kind"), f"no apiVersion/kind: {where}: {d!r:.300}"
        assert isinstance(d.get("metadata"), dict) and d["metadata"].get("name"), (
            f"no metadata.name: {where}: {d!r:.300}")
    if typed:  # every scalar a string would fail every port and count: nothing to learn
        rejected = kubernetes_rejections(docs)
        assert not rejected, f"manifests the API server would refuse: {where}: {rejected}"
    # A string value written unquoted reads as a number where Kubernetes wants a name.
    for owner, name in [(d["kind"], v["secret"].get("secretName")) for d in docs
                        for v in _pod(d).get("volumes", []) if "secret" in v]:
        assert isinstance(name, str), f"{owner}: a secretName that is not a string: {where}"
    pod = find(docs, "Deployment")["spec"]["template"]["spec"]
    (scorer,) = pod["containers"]
    # The scorer's ConfigMap, by the volume it mounts (nameOverride renames it).
    (volume,) = [v for v in pod["volumes"] if v["name"] == "config"]
    config = tmp / "config.yaml"
    config.write_text(find(docs, "ConfigMap", volume["configMap"]["name"])["data"]["config.yaml"])
    env = {e["name"]: e["value"] for e in scorer.get("env", [])
           if str(e.get("name", "")).startswith("ANOMALY_GAN__") and "value" in e}
    check_config_strings(case, yaml.safe_load((tmp / "values.yaml").read_text()),
                         yaml.safe_load(config.read_text()))
    problems = []
    try:
        load_config(config, env={k: str(v) for k, v in env.items()})
    except AnomalyGanError as exc:
        problems.append((config, str(exc)))
    silences = [d for d in docs if d["kind"] == "ConfigMap"
                and d["metadata"]["name"].endswith("-silences")]
    for cm in silences:
        path = tmp / "silences.yaml"
        path.write_text(cm["data"]["silences.yaml"])
        try:
            load_silences(str(path))
        except AnomalyGanError as exc:
            problems.append((path, str(exc)))
    for path, message in problems:
        check_scorer_refusal(case, docs, path, message)
    return [m for _, m in problems]


# The settings the chart writes over values.config (anomaly-gan.serviceConfig).
CHART_OWNED = [("serve", "model_path"), ("serve", "http"), ("serve", "kafka"),
               ("serve", "alerts", "silences_path")]


def _strings(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    # A key that is not a string (1, true) is the chart's string key: left out.
    items = [(k, v) for k, v in node.items() if isinstance(k, str)] if isinstance(
        node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        if isinstance(v, str):
            yield (*path, k), v
        else:
            yield from _strings(v, (*path, k))


def check_config_strings(case: Case, values: dict[str, Any], config: Any) -> None:
    """Every string of values.config (as the values file reads) is in the service config
    the scorer reads, exactly, at its place: the chart's rendering carries any character
    (a line break the YAML writer passes raw, NEL, U+2028, U+2029, a C1 control)."""
    for path, text in _strings(values.get("config")):
        if any(path[:len(owned)] == owned for owned in CHART_OWNED):
            continue
        node = config
        for k in path:
            node = node[k]
        assert node == text, f"{case}: config.{'.'.join(map(str, path))}: {text!r:.200} " \
                             f"rendered as {node!r:.200}"


def check_scorer_refusal(case: Case, docs: list[dict[str, Any]], path: Path,
                         message: str) -> None:
    """A config or silences that the scorer refuses, which helm rendered: only what the
    schema cannot say (a form such as a time zone or a regular expression, a check across
    keys), refused by the config check (validateConfig) before the release changes, in the
    scorer's one line naming the key. The schema says what it can: a value of the wrong
    type, out of its bounds, or an unknown key, never reaches the scorer."""
    where = f"{case}: {message!r:.600}"
    assert "\n" not in message and message.startswith(f"{path}: "), f"not one line: {where}"
    assert re.match(r"[\w.\[\]]+[:.]", message[len(f"{path}: "):]), f"names no key: {where}"
    assert not SCHEMA_WORDS.search(message), f"the schema could have refused it: {where}"
    if case.doc.get("validateConfig", {}).get("enabled") is not False:
        assert [d for d in docs if d["kind"] == "Job"
                and d["metadata"]["name"].endswith("-validate-config")], (
            f"no config check refuses it before the release changes: {where}")


def run_case(helm: str, case: Case, tmp: Path) -> list[str] | None:
    """None where helm refused ``case``, else what the scorer refused in the rendering
    (each outcome checked)."""
    values = tmp / "values.yaml"
    values.write_text(yaml.safe_dump(case.doc, allow_unicode=not case.escaped,
                                    sort_keys=False))
    proc = run([helm, "template", "prod", str(CHART), "--namespace", "plant", "-f", str(values)],
               check=False)
    if proc.returncode != 0:
        check_refusal(case, values, proc.stderr)
        return None
    return check_render(case, proc.stdout, tmp)


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, SEEDS, size=10), ids=block_id)
def test_mutated_values_render_a_config_the_scorer_takes_or_fail_naming_the_value(
        helm: str, tmp_path: Path, seeds: range) -> None:
    each_seed(seeds, lambda seed: run_case(helm, make_case(seed), tmp_path))


def test_the_mutants_reach_both_outcomes_and_every_mutation(helm: str, tmp_path: Path) -> None:
    """Some mutants render (and reach the scorer's loader) and many are refused, by each kind
    of mutation: a fuzz whose every values file helm refused would test nothing."""
    outcomes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for seed in range(40):
        case = make_case(seed)
        outcomes["refused" if run_case(helm, case, tmp_path) is None else "rendered"] += 1
        kinds.update(k.split(":")[0] for k in case.notes)
    assert outcomes["rendered"] >= 5 and outcomes["refused"] >= 10, outcomes
    for kind in ("retype", "delete", "unknown", "empty", "huge", "shape", "bound", "enum",
                 "switch", "config"):
        assert kinds[kind] >= 1, (kind, kinds)
