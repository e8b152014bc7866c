"""The random configs of tests/test_config_fuzz.py, shared with the chart's values fuzz
(tests/deploy/test_helm_values_fuzz.py, which mutates the service config under ``config:``
the same way): the config schema's leaves and sections, random values of every kind, the
documented string forms, and the mutations of a config document, of its text and of the
environment."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import math
import random
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from anomaly_gan.config import ENV_PREFIX, Config, config_keys

ROOT = Path(__file__).resolve().parents[2]
BASES: dict[str, dict[str, Any]] = {
    p.name: yaml.safe_load(p.read_text()) for p in sorted((ROOT / "configs").glob("*.yaml"))}
BASES["<empty>"] = {}
# logs.yaml's documented alternative: format regex with the regex its comment gives
BASES["logs.yaml (regex)"] = {**BASES["logs.yaml"], "logs": {
    **BASES["logs.yaml"]["logs"], "format": "regex",
    "regex": r"^(?P<ts>\S+) (?P<entity>[\w.-]+) (?P<level>[A-Z]+) (?P<message>.*)$"}}


# --------------------------------------------------------------------------- the schema


@dataclass(frozen=True)
class Leaf:
    path: tuple[str, ...]
    tp: Any
    meta: typing.Mapping[str, Any]


def _section_of(tp: Any) -> Any:
    if dataclasses.is_dataclass(tp):
        return tp
    inner = [a for a in typing.get_args(tp) if a is not type(None)]
    return inner[0] if len(inner) == 1 and dataclasses.is_dataclass(inner[0]) else None


def _walk(cls: Any, prefix: tuple[str, ...] = ()) -> tuple[list[Leaf], list[tuple[str, ...]]]:
    leaves: list[Leaf] = []
    sections: list[tuple[str, ...]] = []
    hints = typing.get_type_hints(cls)
    for f in config_keys(cls):
        section = _section_of(hints[f.name])
        if section is not None:
            sections.append((*prefix, f.name))
            more, subs = _walk(section, (*prefix, f.name))
            leaves += more
            sections += subs
        else:
            leaves.append(Leaf((*prefix, f.name), hints[f.name], f.metadata))
    return leaves, sections


LEAVES, SECTIONS = _walk(Config)
NUMERIC = [leaf for leaf in LEAVES if leaf.meta.get("lo") is not None
           or leaf.meta.get("hi") is not None]


# --------------------------------------------------------------------------- random values

STRINGS = ["", " ", "x", "yes", "no", "null", "~", "ünïcødé ✓", "日本語", "🙂", "\u2028",
           "a\u2029", "a\x85", "a\nb", "tab\there", "1e5", "nan", ".inf", "-1", "0x1F", "1_000",
           "+08:00", "Europe/Berlin", "UTC", "../../etc/passwd", "${HOME}", "%Y-%m-%d", "a.b.c", "a..b",
           ".", "kafka:9092", "kafka:", "[::1]:9092", "SSL://k:1", "k:0", "k:99999",
           "(?P<message>.*)", "(?P<ts>\\S+) (?P<entity>\\S+) (?P<message>.*)", "(", "[a-",
           "(?P<message>a{99999999999})", "(?P<message>" + "(" * 3000 + ")" * 3000 + ")",
           "(?P<message>.*" + "|x" * 50, "k:" + "9" * 5000, "9" * 5000, "x" * 5000]


# Keys whose strings have a documented form (README, docs/logs.md, docs/streaming.md): valid
# ones, edge cases and breakages of that form, so that a seed reaches the checks of the form
# and not only the type check.
FORMS: dict[tuple[str, ...], list[str]] = {
    ("serve", "kafka", "bootstrap_servers"): [
        "k:9092,", " , ", "k:0", "k:65535", "k:65536", "k:" + "9" * 5000, "k:" + "0" * 5000 + "1",
        "[::1]:9092", "::1", "[::1", "SASL_SSL://", "k:９０９２", "k :1", "a/b:1"],
    ("logs", "regex"): [
        "(?P<message>.*)", "(?P<message>a{4294967296})", "(?P<message>a{1,2}{3})",
        "(?P<message>" + "(" * 3000 + ")" * 3000 + ")", "(?P<message>" + "(" * 90 + ")" * 90 + ")",
        "(?P<ts>\\S+) (?P<message>.*)", "(?P<entity>x)", "(?P<message>", "\\", "(?P<1>x)",
        "".join(f"(?P<g{i}>x)" for i in range(300))],
    ("logs", "timezone"): ["UTC", "z", "+08:00", "-0530", "+24:00", "+05:60", "Europe/Berlin",
                           "Europe", "/etc/passwd", "../zoneinfo/UTC", "x" * 300, "posixrules"],
    ("logs", "timestamp_format"): ["%Y-%m-%d", "%b %d %H:%M:%S", "%H:%M", "%Z %Y", "%%Y", "%"],
    ("serve", "kafka", "input_topic"): ["a", ".", "..", "a" * 250, "a b", "anomaly-gan.alerts"],
    ("serve", "event_fields", "ts"): ["ts", "a..b", ".a", "values", "entity", "tags.host"],
    ("logs", "entity"): ["web-1", "x" * 600, "a\x1bb", "\u2028", "é" * 200],
}


def random_string(rng: random.Random) -> str:
    if rng.random() < 0.2:
        alphabet = "abc_.:-/%()[]{}?*+\\ \t9é日\u0000\u0085\u2028\u2029\u200b🙂"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
    return rng.choice(STRINGS)


def random_number(rng: random.Random) -> Any:
    return rng.choice([
        0, 1, -1, 2, 7, 100, 65535, 65536, 2**31, 2**32, 2**63, 2**64, -(2**63),
        10 ** rng.randint(19, 400), -(10 ** rng.randint(19, 400)),
        0.0, -0.0, 0.5, 1.5, -1.5, 1e-300, 5e-324, 1e308, -1e308,
        math.nan, math.inf, -math.inf, rng.uniform(-1e6, 1e6)])


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.choice(["str", "num", "num", "bool", "null", "list", "dict", "date", "bytes"])
    if depth > 2 and kind in ("list", "dict"):
        kind = "num"
    if kind == "str":
        return random_string(rng)
    if kind == "num":
        return random_number(rng)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        if rng.random() < 0.05:
            return list(range(rng.choice([17, 1001, 10_001, 20_000])))  # past max_items
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == "dict":
        return {random_key(rng): random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    if kind == "date":
        return rng.choice([datetime.date(2026, 1, 1), datetime.datetime(2026, 1, 1, 12, 30)])
    return rng.choice([b"", b"\x00\xff", b"hunter2"])


def random_key(rng: random.Random) -> Any:
    return rng.choice([
        "unknown", "x", "Epochs", "training", "kind", "", " ", "ünï", "日本", "a.b", "a:b",
        "x" * 300, 1, 0, -1, 1.5, True, False, None, datetime.date(2026, 1, 1)])


def allowed_value(rng: random.Random, leaf: Leaf) -> Any:
    """A value the key's type allows (bounds aside): reaches the cross-field checks."""
    tp, meta = leaf.tp, leaf.meta
    args = typing.get_args(tp)
    options: list[Any] = []
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if type(None) in args:
            options.append(None)
        tp = next(a for a in args if a is not type(None))
        args = typing.get_args(tp)
    if typing.get_origin(tp) is Literal:
        options += list(args)
    elif tp is bool:
        options += [True, False]
    elif tp in (int, float):
        lo, hi = meta.get("lo"), meta.get("hi")
        lo = 0 if lo is None else lo
        hi = lo + 1000 if hi is None else hi
        pick = rng.choice([lo, hi, (lo + hi) / 2, lo + 1, hi - 1])
        options.append(int(pick) if tp is int else float(pick))
    elif tp is str:
        options += [random_string(rng), "service.name", "all", "tags.host"]
    elif typing.get_origin(tp) is tuple:
        options.append([random_string(rng) for _ in range(rng.randint(0, 3))])
    elif typing.get_origin(tp) is dict:
        options.append({rng.choice(["latent", "knn", "quiet", "bogus"]): rng.choice([0, 1.0])})
    return rng.choice(options or [None])


def out_of_range(rng: random.Random, leaf: Leaf) -> Any:
    """A number just outside a documented bound, or on an open one."""
    lo, hi = leaf.meta.get("lo"), leaf.meta.get("hi")
    picks = []
    for bound, step in ((lo, -1), (hi, 1)):
        if bound is None:
            continue
        picks.append(bound)  # in range unless the bound is open
        picks.append(bound + step)
        if isinstance(bound, float) or leaf.tp is not int:
            picks.append(math.nextafter(float(bound), step * math.inf))
            picks.append(float(bound) + step * 1e-9)
        picks.append(bound + step * 10 ** rng.randint(3, 30))
    return rng.choice(picks)


# --------------------------------------------------------------------------- mutations


def nodes(doc: Any, prefix: tuple = ()) -> list[tuple[tuple, Any]]:
    """Every (path, value) inside ``doc``'s mappings (not inside lists)."""
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append(((*prefix, k), v))
            out += nodes(v, (*prefix, k))
    return out


def holds(outer: Any, doc: dict, path: tuple) -> bool:
    """Whether a mapping on ``path`` in ``doc`` (where ``outer`` is to go) is ``outer`` or
    inside it."""
    inside: set[int] = set()

    def walk(node: Any) -> None:
        if id(node) not in inside and isinstance(node, dict | list):
            inside.add(id(node))
            for child in node.values() if isinstance(node, dict) else node:
                walk(child)

    walk(outer)
    node: Any = doc
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
        if id(node) in inside:
            return True
    return False


def parent_of(doc: dict, path: tuple) -> dict:
    node = doc
    for part in path[:-1]:
        node = node[part]
    return node


def set_at(doc: dict, path: tuple, value: Any) -> None:
    """Set ``path`` in ``doc``, making the sections on the way (a value in the way stays:
    then nothing is set)."""
    node = doc
    for part in path[:-1]:
        if node.get(part) is None:
            node[part] = {}
        if not isinstance(node[part], dict):
            return
        node = node[part]
    node[path[-1]] = value


def typo(rng: random.Random, key: str) -> str:
    if not key:
        return "x"
    i = rng.randrange(len(key))
    how = rng.choice(["drop", "double", "swap", "upper", "dash", "space", "plural"])
    if how == "drop" and len(key) > 1:
        return key[:i] + key[i + 1:]
    if how == "swap" and len(key) > 1:
        i = min(i, len(key) - 2)
        swapped = key[:i] + key[i + 1] + key[i] + key[i + 2:]
        return swapped if swapped != key else key + "s"
    if how == "upper":
        return key.upper() if key.upper() != key else key + "_"
    if how == "dash" and "_" in key:
        return key.replace("_", "-", 1)
    if how == "space":
        return key + " "
    if how == "plural":
        return key + "s"
    return key[:i] + key[i] + key[i:]


def mutate(rng: random.Random, doc: dict, notes: list[str]) -> None:
    kind = rng.choice(["retype", "delete", "unknown", "typo", "swap_shape", "range",
                       "allowed", "allowed", "junk", "alias", "form"])
    present = nodes(doc)
    if kind in ("retype", "delete", "typo", "junk") and not present:
        kind = rng.choice(["unknown", "range", "allowed", "swap_shape"])
    if kind == "retype":
        path, _ = rng.choice(present)
        parent_of(doc, path)[path[-1]] = random_value(rng)
    elif kind == "delete":
        path, _ = rng.choice(present)
        del parent_of(doc, path)[path[-1]]
    elif kind == "unknown":
        maps = [((), doc)] + [(p, v) for p, v in present if isinstance(v, dict)]
        path, node = rng.choice(maps)
        node[random_key(rng)] = random_value(rng)
    elif kind == "typo":
        candidates = [(p, v) for p, v in present if isinstance(p[-1], str)]
        if not candidates:
            return mutate(rng, doc, notes)
        path, value = rng.choice(candidates)
        parent = parent_of(doc, path)
        parent[typo(rng, path[-1])] = parent.pop(path[-1])
    elif kind == "swap_shape":
        if rng.random() < 0.5:  # a section where a value is expected
            leaf = rng.choice(LEAVES)
            set_at(doc, leaf.path, rng.choice([{}, {leaf.path[-1]: 1}, {"a": {"b": None}}]))
        else:  # a value where a section is expected
            set_at(doc, rng.choice(SECTIONS), rng.choice([1, "x", [], True, 0.5, [{}], ""]))
    elif kind == "range":
        leaf = rng.choice(NUMERIC)
        set_at(doc, leaf.path, out_of_range(rng, leaf))
    elif kind == "allowed":
        leaf = rng.choice(LEAVES)
        set_at(doc, leaf.path, allowed_value(rng, leaf))
    elif kind == "form":
        path = rng.choice(sorted(FORMS))
        set_at(doc, path, rng.choice(FORMS[path]))
        if path[0] == "logs" and rng.random() < 0.5:  # where the form is read
            set_at(doc, ("logs", "format"), "regex")
    elif kind == "junk":
        strings = [(p, v) for p, v in present if isinstance(v, str)]
        if not strings:
            return mutate(rng, doc, notes)
        path, value = rng.choice(strings)
        junk = rng.choice([":", ":" + "9" * rng.choice([3, 6, 5000]), ",", " ", "\x00", "é",
                           "(", "{99999999999}", "%", "/..", "\u200b", "*" * 3])
        parent_of(doc, path)[path[-1]] = value + junk
    elif kind == "alias":  # two keys share one object: the YAML writes an anchor and alias
        maps = [(p, v) for p, v in present if isinstance(v, dict | list)]
        if not maps:
            return mutate(rng, doc, notes)
        _, shared = rng.choice(maps)
        target = rng.choice(LEAVES + [Leaf(s, None, {}) for s in SECTIONS]).path
        if holds(shared, doc, target[:-1]):  # inside itself: a cycle, no YAML
            shared = copy.deepcopy(shared)
        set_at(doc, target, shared)
    notes.append(kind)
    return None


def text_mutation(rng: random.Random, text: str, notes: list[str]) -> bytes:
    lines = text.splitlines(keepends=True)
    kind = rng.choice(["duplicate", "merge", "tab", "top_level", "bom", "latin1", "control",
                       "documents", "deep", "empty", "cut", "bad_escape", "tag"])
    notes.append(f"text:{kind}")
    keyed = [i for i, line in enumerate(lines) if re.match(r"\s*[A-Za-z_]+:", line)]
    if kind == "duplicate" and keyed:
        i = rng.choice(keyed)
        lines.insert(i + 1, lines[i] if lines[i].endswith("\n") else lines[i] + "\n")
    elif kind == "merge":
        tops = [i for i, line in enumerate(lines) if re.fullmatch(r"[a-z_]+:\n", line)]
        if tops:
            i = rng.choice(tops)
            lines[i] = lines[i].rstrip("\n") + " &anchor\n"
            target = rng.choice(SECTIONS)
            lines.append("\n" + "".join(f"{'  ' * d}{p}:\n" for d, p in enumerate(target))
                         + "  " * len(target) + "<<: *anchor\n")
        else:
            lines.append("x: &a [1]\ny: *a\n")
    elif kind == "tab" and keyed:
        i = rng.choice(keyed)
        lines[i] = re.sub(r"^ *", "\t", lines[i])
    elif kind == "top_level":
        return rng.choice([b"- a\n- b\n", b"42\n", b"just a string\n", b"[training]\n",
                           b"'training: 1'\n", b"!!set {training}\n", b"true\n",
                           yaml.safe_dump([yaml.safe_load(text)]).encode()])
    elif kind == "bom":
        return rng.choice(["\ufeff", "\ufeff\ufeff"]).encode() + text.encode()
    elif kind == "latin1":
        data = text.encode()
        at = rng.randint(0, len(data))
        return data[:at] + rng.choice([b"\xff", b"\xe9", b"\xc3", b"\xed\xa0\x80"]) + data[at:]
    elif kind == "control":
        at = rng.randint(0, len(text))
        return (text[:at] + rng.choice(["\x00", "\x07", "\x1b", "\ufffe", "\x7f"])
                + text[at:]).encode()
    elif kind == "documents":
        lines.append(rng.choice(["---\n", "---\ntraining: {}\n", "...\n---\n- 1\n"]))
    elif kind == "deep":
        depth = rng.choice([50, 500, 5000])
        value = rng.choice(["[" * depth + "]" * depth, "{a: " * depth + "1" + "}" * depth])
        lines.append(f"{rng.choice(['training', 'model', 'zz'])}: {value}\n")
    elif kind == "empty":
        return rng.choice([b"", b"\n", b"# nothing\n", b"---\n", b"~\n", b"null\n", b"{}\n"])
    elif kind == "cut":
        data = text.encode()
        return data[:rng.randint(0, len(data))]
    elif kind == "bad_escape":
        lines.append(rng.choice(['zz: "\\d"\n', 'training: {seed: "\\ud800"}\n',
                                 'logs: {entity: "\\ud800"}\n', 'x: "\\x"\n']))
    elif kind == "tag":
        lines.append(rng.choice(["training: {epochs: !!float x}\n", "training: !!set {a}\n",
                                 "training: {epochs: !!int 1.5}\n", "zz: !!timestamp 3\n",
                                 "training: {epochs: !!python/object:os.system x}\n",
                                 "training: {seed: !!binary '%%%'}\n",
                                 "model: !!str {a: 1}\n"]))
    return "".join(lines).encode()


def env_override(rng: random.Random, notes: list[str]) -> dict[str, str]:
    leaf = rng.choice(LEAVES)
    parts = list(leaf.path)
    if rng.random() < 0.2:
        parts[-1] = typo(rng, parts[-1]).strip() or "x"
    text = rng.choice([yaml.safe_dump(random_value(rng), default_flow_style=True).strip()
                       .removesuffix("...").strip(), random_string(rng), "", "[", "{a: 1}"])
    notes.append("env")
    return {ENV_PREFIX + "__".join(p.upper() for p in parts): text.replace("\x00", "")}


