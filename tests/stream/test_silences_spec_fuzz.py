"""Seeded test of the silences file and its lookup against a reference written from the docs.

``serve``, ``score --alerts`` and ``retrain`` read ``serve.alerts.silences_path`` through
:func:`~anomaly_gan.stream.silences.load_silences` and look silences up through
:class:`~anomaly_gan.stream.silences.Silences`, so comparing them with each other cannot
find a bug in either. Here :func:`reference` restates docs/streaming.md (*Silences*),
docs/runbook.md (*Mute an entity during maintenance*) and the module docstring without the
product's code (no regex, no ``datetime``, no YAML: the generator knows what each value it
writes means):

- The file is YAML: empty, or a mapping whose one key ``silences`` holds a list (null:
  none). Each entry is a mapping of ``entity`` (required, a non-empty string), ``start``
  (absent or null: no start), ``end`` (required), ``comment`` and ``created_by`` (strings,
  optional); any other key is refused. A key twice in one mapping is refused as YAML, naming
  the line.
- A time is RFC 3339 with a zone (``T``/``t``, or a space, between date and time; ``Z``,
  ``z`` or an offset; an optional fraction; surrounding blanks ignored), or epoch seconds (a
  YAML number, not below 0), up to 9999-12-31T23:59:59Z. No zone, a date alone, a date or
  time that does not exist, a boolean or a quoted number are refused. ``end`` must lie after
  ``start``.
- A refused file is one :class:`ConfigError` line naming the file, the first bad entry
  (``silences[i]``) and one of its bad fields.
- ``entity`` without ``*`` or ``?`` is an exact id; with them, a pattern: ``*`` any
  characters (``/`` too, none), ``?`` exactly one character (a code point); nothing else is
  special (``[``, ``]``, ``\\``, ``.`` are themselves), case counts.
- A silence covers (entity, window end ``t``) when its entity matches and
  ``start <= t < end``; the alert is muted when any silence covers it. ``retrain`` leaves out
  the rows of every silence matching the entity at any time. A pattern of stars with at most
  one ``?`` (``*``, ``?*``) matches every entity and is named as such.

Each seed writes a file of 0-6 entries (valid ones and slightly invalid ones: times in every
spelling above, with offsets, around the year-9999 bound and before 1970, end before or at
start, open starts, overlapping and duplicate entities, exact ids holding ``[``, ``.``, ``\\``,
spaces and non-ASCII characters, patterns, comments and blank lines, a BOM, keys given
twice), loads it with :func:`load_silences` and asks 40 random (entity, time) queries, at the
bounds and near them. ``SILENCES_SPEC_FUZZ_SEEDS`` (default 500, a few seconds) seeds from
``SILENCES_SPEC_FUZZ_SEED_START`` (default 0): ``SILENCES_SPEC_FUZZ_SEED_START=17
SILENCES_SPEC_FUZZ_SEEDS=1`` runs seed 17 alone.
"""

from __future__ import annotations

import math
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from anomaly_gan.errors import ConfigError
from anomaly_gan.stream.silences import Silences, load_silences
from tests.support.fuzz import block_id, each_seed, seed_blocks

SEEDS = int(os.environ.get("SILENCES_SPEC_FUZZ_SEEDS", "500"))
SEED_START = int(os.environ.get("SILENCES_SPEC_FUZZ_SEED_START", "0"))

LATEST = 253402300799  # 9999-12-31T23:59:59Z
EARLIEST = -62135596800  # 0001-01-01T00:00:00Z
FIELDS = ("entity", "start", "end", "comment", "created_by")


# -- what a value written in the file means ------------------------------------------------


@dataclass
class Value:
    """A YAML value as written (``text``), and what the docs make of it: ``seconds`` for a
    valid time (None for a null start), or ``bad`` with the rule that refuses it."""

    text: str
    seconds: Fraction | None = None
    bad: str = ""
    rule: str = ""


@dataclass
class Entry:
    fields: list[tuple[str, Value]]  # in file order; a key may come twice
    style: str = "block"  # or "flow"


@dataclass
class Case:
    entries: list[Entry]
    top: str  # "list", "empty_file", "null_list", "empty_list", "bad_top", "extra_key"
    bom: bool
    queries: list[tuple[str, float]] = field(default_factory=list)


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _month_days(y: int, m: int) -> int:
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    return [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]


def _yaml_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _rfc3339(rng: random.Random, notes: Counter[str]) -> Value:
    """An RFC 3339 time, valid or with one thing wrong, quoted or as YAML writes it."""
    pick = rng.random()
    y = rng.choice([2026, 2026, 2026, 2025, 2024, 1969, 1970, 2000, 9999, 1]) \
        if pick < 0.9 else rng.randint(1, 9999)
    m, d = rng.randint(1, 12), rng.randint(1, 28)
    hh, mm, ss = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    if y == 9999 and rng.random() < 0.6:
        m, d, hh, mm, ss = 12, 31, 23, 59, rng.choice([58, 59])
    if y == 1:  # its first hours with an offset east of UTC are in the year 0 in UTC
        m, d, hh = 1, rng.randint(1, 2), rng.choice([0, 0, hh])
    frac = "" if rng.random() < 0.7 else "." + "".join(rng.choice("0123456789")
                                                       for _ in range(rng.randint(1, 6)))
    sep = rng.choice("TTTTt ")
    zone_kind = rng.random()
    if zone_kind < 0.45:
        zone, offset = rng.choice("ZZZz"), 0
    elif zone_kind < 0.9:
        oh, om = rng.randint(0, 23), rng.choice([0, 0, 30, 45, rng.randint(0, 59)])
        sign = rng.choice("+-")
        zone = f"{sign}{oh:02d}:{om:02d}"
        offset = (1 if sign == "+" else -1) * (oh * 3600 + om * 60)
    else:
        zone, offset = "", None
    bad, rule = "", ""
    wrong = rng.random()
    if wrong < 0.04:
        d = _month_days(y, m) + 1 if m != 2 or rng.random() < 0.5 else 29 + (y % 4 != 0)
        if d <= _month_days(y, m):
            d = 30
        bad, rule = "start/end", "no_such_day"
    elif wrong < 0.07:
        hh, bad, rule = 24, "start/end", "no_such_hour"
    elif wrong < 0.09:
        mm, bad, rule = 60, "start/end", "no_such_minute"
    elif wrong < 0.11 and zone and zone[0] in "+-":
        zone, bad, rule = zone[0] + "24:00", "start/end", "no_such_offset"
    elif wrong < 0.14:
        text = f"{y:04d}-{m:02d}-{d:02d}"
        notes["date_alone"] += 1
        return Value(text if rng.random() < 0.5 else _yaml_str(text), bad="start/end",
                     rule="date_alone")
    if offset is None:
        bad, rule = "start/end", rule or "no_zone"
    text = f"{y:04d}-{m:02d}-{d:02d}{sep}{hh:02d}:{mm:02d}:{ss:02d}{frac}{zone}"
    seconds = None
    if not bad:
        utc = Fraction(_days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss
                       - offset) + (Fraction(frac[1:]) / 10 ** (len(frac) - 1) if frac else 0)
        if utc > LATEST:
            bad, rule = "start/end", "after_9999"
        elif utc < EARLIEST:  # the year 1 with an offset east of UTC: the year 0 in UTC
            bad, rule = "start/end", "before_year_1"
        else:
            seconds, rule = utc, "rfc3339" if sep in "Tt" else "rfc3339_space"
            notes["rfc3339_offset"] += offset != 0
            notes["rfc3339_lower"] += sep == "t" or zone == "z"
            notes["rfc3339_fraction"] += bool(frac)
            notes["before_1970"] += utc < 0
    notes[rule] += 1
    style = rng.random()
    if style < 0.45 or " " in text and style < 0.9:
        written = _yaml_str(text)
    elif style < 0.6:
        written = _yaml_str(rng.choice([" ", "  ", "\t"]) + text + rng.choice(["", " "]))
        notes["padded_time"] += 1
    else:
        written = text  # YAML's own timestamp where it reads one, else a plain string
    return Value(written, seconds=seconds, bad=bad, rule=rule)


def _epoch(rng: random.Random, notes: Counter[str]) -> Value:
    pick = rng.random()
    if pick < 0.5:
        n = rng.choice([rng.randint(1_700_000_000, 1_800_000_000), rng.randint(0, 1000),
                        LATEST, LATEST + 1, LATEST - rng.randint(0, 5)])
        value: Fraction = Fraction(n)
        text = str(n)
    elif pick < 0.75:
        x = rng.choice([rng.uniform(1.7e9, 1.8e9), rng.uniform(0, 10), LATEST + 0.5,
                        LATEST - 0.25])
        text = repr(x)
        if "e" in text or "." not in text:
            text = f"{x:.6f}"
        value = Fraction(text)
    elif pick < 0.82:
        n = rng.randint(1, 10**6)
        notes["negative_epoch"] += 1
        return Value(f"-{n}", bad="start/end", rule="negative_epoch")
    elif pick < 0.88:
        notes["epoch_millis"] += 1
        return Value(str(rng.randint(1_700_000_000_000, 1_800_000_000_000)), bad="start/end",
                     rule="after_9999")
    elif pick < 0.94:
        notes["quoted_epoch"] += 1
        return Value(_yaml_str(str(rng.randint(1_700_000_000, 1_800_000_000))),
                     bad="start/end", rule="quoted_epoch")
    else:
        text, rule = rng.choice([("true", "bool_time"), ("no", "bool_time"),
                                 (".inf", "infinite"), (".nan", "infinite"),
                                 ("tomorrow", "garbage_time"), ("[1, 2]", "garbage_time"),
                                 ("{a: 1}", "garbage_time")])
        notes[rule] += 1
        return Value(text, bad="start/end", rule=rule)
    if value > LATEST:
        notes["after_9999"] += 1
        return Value(text, bad="start/end", rule="after_9999")
    notes["epoch"] += 1
    return Value(text, seconds=value, rule="epoch")


def _time(rng: random.Random, notes: Counter[str], near: Fraction | None = None) -> Value:
    """A time; with ``near``, often one close to it (overlaps, end at or before start)."""
    if near is not None and rng.random() < 0.5:
        delta = rng.choice([Fraction(0), Fraction(-1), Fraction(1, 2), Fraction(60),
                            Fraction(3600), Fraction(rng.randint(1, 86400 * 3))])
        t = near + delta
        if t < 0 or t > LATEST:
            t = near if 0 <= near <= LATEST else Fraction(1_772_000_000)
        if t.denominator == 1:
            return Value(str(int(t)), seconds=t, rule="epoch")
        return Value(f"{float(t):.6f}", seconds=Fraction(f"{float(t):.6f}"), rule="epoch")
    return _rfc3339(rng, notes) if rng.random() < 0.55 else _epoch(rng, notes)


ALPHABET = list("abcxyz-_./:0129 ") + ["[", "]", "\\", "é", "É", "日", "💥", "'", "\"",
                                        "#", ",", "e\u0301", "ß"]


def _id(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return rng.choice(["pump-7", "pump-70", "web-1/cpu0", "web-12/cpu0", "fan[1]", "fan1",
                           "a.b", "axb", "x\\y", "Pump-7", "日本-1", "pümp-7"])
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 8)))


def _pattern_of(rng: random.Random, ident: str) -> str:
    """A glob made from ``ident``: some characters replaced by ``?``, runs by ``*``."""
    out = []
    i = 0
    while i < len(ident):
        r = rng.random()
        if r < 0.15:
            out.append("?")
            i += 1
        elif r < 0.3:
            out.append("*")
            i += rng.randint(0, 3)
        else:
            out.append(ident[i])
            i += 1
    if rng.random() < 0.2:
        out.insert(rng.randint(0, len(out)), "*")
    return "".join(out) or "*"


def _entity(rng: random.Random, ids: list[str], notes: Counter[str]) -> Value:
    r = rng.random()
    if r < 0.05:
        text, rule = rng.choice([("''", "empty_entity"), ("7", "entity_not_text"),
                                 ("null", "entity_not_text"), ("[a, b]", "entity_not_text"),
                                 ("true", "entity_not_text")])
        notes[rule] += 1
        return Value(text, bad="entity", rule=rule)
    if r < 0.1:
        text = rng.choice(["*", "?*", "*?", "**", "*?*", "??*", "?", "*?*?"])
        rule = "every_entity_pattern" if text.count("?") <= 1 and "*" in text else "pattern"
    elif r < 0.5 and ids:
        text, rule = _pattern_of(rng, rng.choice(ids)), "pattern"
    else:
        text = rng.choice(ids) if ids and rng.random() < 0.5 else _id(rng)
        ids.append(text)
        rule = "exact"
    if "*" not in text and "?" not in text:
        rule = "exact"
        notes["exact_with_specials"] += any(c in text for c in "[].\\")
        notes["exact_non_ascii"] += any(ord(c) > 127 for c in text)
    notes[rule] += 1
    plain = text.replace("-", "").replace("_", "").isalnum() and text.isascii() \
        and text[0].isalpha() and text.lower() not in ("yes", "no", "true", "false",
                                                          "null", "on", "off", "y", "n")
    return Value(text if plain and rng.random() < 0.5 else _yaml_str(text), rule=rule)


def _text(rng: random.Random, notes: Counter[str], key: str) -> Value:
    r = rng.random()
    if r < 0.05:
        notes["text_not_string"] += 1
        return Value(rng.choice(["5", "[x]", "true"]), bad=key, rule="text_not_string")
    if r < 0.15:
        return Value("null", rule="null_text")
    words = rng.choice(["bearing swap (CHG-1234)", "ops@example.com", "x: y", "# not a comment",
                        "ünïcode 日本", "", "a 'quote'", "tab\there"])
    return Value(_yaml_str(words), rule="text")


def _draw(rng: random.Random, notes: Counter[str], dirty: bool, draw: Any) -> Value:
    """``draw(notes)``, again until valid unless ``dirty``; counts the value kept."""
    while True:
        drawn: Counter[str] = Counter()
        value: Value = draw(drawn)
        if dirty or not value.bad:
            notes.update(drawn)
            return value


def make_case(seed: int, notes: Counter[str] | None = None) -> Case:
    """The file and queries of ``seed``; ``notes`` counts what the generator drew. Two
    seeds in five write slightly invalid entries too (a file is refused at its first)."""
    rng = random.Random(seed)
    notes = Counter() if notes is None else notes
    dirty = rng.random() < 0.4
    ids: list[str] = []
    entries = []
    for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 3, 4, 5, 6])):
        fields: list[tuple[str, Value]] = []
        if not dirty or rng.random() > 0.03:
            fields.append(("entity", _draw(rng, notes, dirty,
                                           lambda n: _entity(rng, ids, n))))
        start: Value | None = None
        r = rng.random()
        if r < 0.6:
            start = _draw(rng, notes, dirty, lambda n: _time(rng, n))
        elif r < 0.7:
            start = Value("null", rule="null_start")
        if start is not None:
            fields.append(("start", start))
        if not dirty or rng.random() > 0.04:
            near = start.seconds if start else None
            for _ in range(10):
                end = _draw(rng, notes, dirty, lambda n, near=near: _time(rng, n, near))
                if dirty or near is None or float(end.seconds or 0) > float(near):
                    break
            else:  # a start too close to the year 9999 for any end
                fields.remove(("start", start))
            fields.append(("end", end))
        for key in ("comment", "created_by"):
            if rng.random() < 0.4:
                fields.append((key, _draw(rng, notes, dirty,
                                          lambda n, key=key: _text(rng, n, key))))
        if dirty and rng.random() < 0.06:
            fields.append((rng.choice(["reason", "ends", "Entity", "'entity '", "日"]),
                           Value("'x'")))
        if dirty and fields and rng.random() < 0.04:
            key, value = rng.choice(fields)
            fields.append((key, value))  # a key twice
        rng.shuffle(fields)
        entries.append(Entry(fields, rng.choice(["block", "block", "flow"])))
    top = rng.choices(["list", "empty_file", "null_list", "empty_list", "bad_top", "extra_key"],
                      [90, 2, 2, 2, 2 * dirty, 2 * dirty])[0]
    case = Case(entries, top if entries else rng.choice(["list", top]), rng.random() < 0.05)
    case.queries = _queries(rng, case)
    return case


def _queries(rng: random.Random, case: Case) -> list[tuple[str, float]]:
    entities: list[str] = []
    times: list[Fraction] = [Fraction(0), Fraction(1_772_000_000)]
    for entry in case.entries:
        for key, value in entry.fields:
            if key == "entity" and not value.bad:
                raw = value.text[1:-1].replace("''", "'") if value.text.startswith("'") \
                    else value.text
                entities.append(raw)
                entities.append(raw.replace("*", "").replace("?", "q"))
                entities.append(raw.replace("*", rng.choice(["", "/", "xyz", "日"]))
                                .replace("?", rng.choice(["a", "/", "é", "💥"])))
            elif key in ("start", "end") and value.seconds is not None:
                times.append(value.seconds)
    entities += [_id(rng) for _ in range(3)]
    out = []
    for _ in range(40):
        e = rng.choice(entities)
        if rng.random() < 0.2 and e:
            e = rng.choice([e + rng.choice(ALPHABET), e[1:], e.upper(), e[:-1]])
        if not e:
            e = "a"
        t = float(rng.choice(times))
        t = rng.choice([t, t, math.nextafter(t, -math.inf), math.nextafter(t, math.inf),
                        t - 0.5, t + 30.0, rng.uniform(-1e3, 2e9)])
        out.append((e, t))
    return out


# -- the file ------------------------------------------------------------------------------


def render(case: Case) -> str:
    lines = ["# maintenance windows", ""] if case.bom or len(case.entries) % 2 else []
    if case.top == "empty_file":
        return "\n".join(lines + ["# nothing yet", ""])
    if case.top == "null_list":
        return "\n".join(lines + ["silences:", ""])
    if case.top == "empty_list":
        return "\n".join(lines + ["silences: []", ""])
    if case.top == "bad_top":
        return "\n".join(lines + ["- entity: a", "  end: 5", ""])
    lines.append("silences:  # one per maintenance")
    for entry in case.entries:
        if entry.style == "flow":
            inner = ", ".join(f"{k}: {v.text}" for k, v in entry.fields)
            lines.append(f"  - {{{inner}}}")
            continue
        if not entry.fields:
            lines.append("  - {}")
            continue
        for j, (k, v) in enumerate(entry.fields):
            lines.append(f"  {'- ' if j == 0 else '  '}{k}: {v.text}"
                         + ("   # why" if j == 1 else ""))
        lines.append("")
    if case.top == "extra_key":
        lines.append("silence_count: 3")
    return "\n".join(lines) + "\n"


# -- the reference -------------------------------------------------------------------------


@dataclass
class Expected:
    silences: list[tuple[str, float | None, float, str, str]] | None = None
    error_entry: int | None = None  # the entry the error line names, None: the top level
    error_fields: set[str] = field(default_factory=set)
    yaml_line: int | None = None  # a key twice: the line YAML names
    top_error: bool = False


def _glob(pattern: str, text: str) -> bool:
    """``*`` any run of characters, ``?`` one, anything else itself (dynamic programming)."""
    ok = [True] + [False] * len(text)
    for p in pattern:
        if p == "*":
            for j in range(1, len(text) + 1):
                ok[j] = ok[j] or ok[j - 1]
        else:
            ok = [False] + [ok[j] and (p == "?" or p == text[j]) for j in range(len(text))]
    return ok[len(text)]


def _unquote(text: str) -> str:
    return text[1:-1].replace("''", "'") if text.startswith("'") else text


def reference(case: Case, notes: Counter[str] | None = None) -> Expected:
    notes = Counter() if notes is None else notes
    if case.top in ("empty_file", "null_list", "empty_list") or \
            (case.top == "list" and not case.entries):
        notes["no_silences_file"] += 1
        return Expected(silences=[])
    if case.top == "bad_top":  # a list, not a mapping: the entries are not written
        notes["top_level"] += 1
        return Expected(top_error=True)
    rendered = render(case).split("\n")
    for entry in case.entries:  # YAML refuses a key given twice before anything is checked
        seen = set()
        for key, _ in entry.fields:
            if key in seen:
                notes["key_twice"] += 1
                for n, line in enumerate(rendered, 1):
                    if f"{key}:" in line and line.count(f"{key}:") > 1 or \
                            (n > 1 and line.lstrip(" -").startswith(f"{key}:") and
                             _twice_before(rendered, n, key)):
                        return Expected(yaml_line=n)
                return Expected(yaml_line=-1)
            seen.add(key)
    if case.top == "extra_key":
        notes["top_level"] += 1
        return Expected(top_error=True)
    out = []
    for i, entry in enumerate(case.entries):
        given = dict(entry.fields)
        bad = {_unquote(k) for k in given if k not in FIELDS}
        bad |= {k for k, v in given.items() if k in FIELDS and v.bad}
        if "end" not in given:
            bad.add("end")
            notes["end_missing"] += 1
        if "entity" not in given:
            bad.add("entity")
            notes["entity_missing"] += 1
        start = given.get("start")
        end = given.get("end")
        if start is not None and start.seconds is not None and end is not None \
                and end.seconds is not None and float(end.seconds) <= float(start.seconds):
            bad.add("end")
            notes["end_not_after_start"] += 1
        notes["unknown_key"] += any(k not in FIELDS for k in given)
        if bad:
            return Expected(error_entry=i, error_fields=bad)
        start_s = float(start.seconds) if start is not None and start.seconds is not None \
            else None
        notes["open_start"] += start_s is None
        texts = [_unquote(given[k].text) if k in given and given[k].text != "null" else ""
                 for k in ("comment", "created_by")]
        assert end is not None and end.seconds is not None
        out.append((_unquote(given["entity"].text), start_s, float(end.seconds), *texts))
    notes["valid_file"] += 1
    notes["overlap"] += any(a[0] == b[0] and (a[1] or -math.inf) < b[2] and
                            (b[1] or -math.inf) < a[2]
                            for k, a in enumerate(out) for b in out[k + 1:])
    return Expected(silences=out)


def _twice_before(lines: list[str], n: int, key: str) -> bool:
    """Whether line ``n`` (1-based) is the second ``key:`` of its block entry."""
    k = n - 2
    while k >= 0 and not lines[k].startswith("  - ") and lines[k].startswith("    "):
        if lines[k].lstrip().startswith(f"{key}:"):
            return True
        k -= 1
    return k >= 0 and lines[k].startswith("  - ") and lines[k][4:].startswith(f"{key}:")


def covered(silences: list[tuple[str, float | None, float, str, str]], entity: str,
            t: float) -> list[int]:
    """The silences (by index) covering ``entity``'s window ending at ``t``."""
    return [i for i, (pattern, start, end, _, _) in enumerate(silences)
            if _glob(pattern, entity) and (start is None or start <= t) and t < end]


def of_every_entity(pattern: str) -> bool:
    return "*" in pattern and set(pattern) <= {"*", "?"} and pattern.count("?") <= 1


# -- the comparison ------------------------------------------------------------------------


def _as_tuple(s: Any) -> tuple[str, float | None, float, str, str]:
    return (s.entity, s.start, s.end, s.comment, s.created_by)


def check(case: Case, path: Path, notes: Counter[str] | None = None) -> None:
    notes = Counter() if notes is None else notes
    text = render(case)
    path.write_bytes(("\ufeff" if case.bom else "").encode() + text.encode("utf-8"))
    want = reference(case, notes)
    where = f"\n--- file ---\n{text}--- expected ---\n{want}"
    try:
        got: Silences | None = load_silences(str(path))
        error = ""
    except ConfigError as exc:
        got, error = None, str(exc)
    if want.silences is None:
        assert got is None, f"taken, but the docs refuse it:{where}\n{got and got.all}"
        assert "\n" not in error and error.startswith(f"{path}: "), (error, where)
        if want.yaml_line is not None:
            assert "not valid YAML" in error and "duplicate key" in error, (error, where)
            if want.yaml_line > 0:
                assert f"line {want.yaml_line}:" in error, (error, where)
        elif want.top_error:
            assert f"{path}: <top level>: expected" in error, (error, where)
        else:
            head = f"{path}: silences[{want.error_entry}]."
            assert error.startswith(head), (error, where)
            named = error[len(head):].split(":")[0]
            assert named in want.error_fields or named.strip("'") in want.error_fields, \
                (error, where)
            assert "expected" in error or "unknown key; allowed:" in error, (error, where)
        return
    assert got is not None, f"refused, but the docs take it: {error}{where}"
    assert [_as_tuple(s) for s in got.all] == want.silences, where
    assert [s.entity for s in got.of_every_entity()] == \
        [s[0] for s in want.silences if of_every_entity(s[0])], where
    for entity, t in case.queries:
        covering = covered(want.silences, entity, t)
        hit = got.match(entity, t)
        notes["query_covered" if covering else "query_not_covered"] += 1
        if hit is None:
            assert not covering, f"{entity!r} at {t!r} not muted; docs: {covering}{where}"
        else:
            assert _as_tuple(hit) in [want.silences[i] for i in covering], \
                f"{entity!r} at {t!r} muted by {hit}; docs: {covering}{where}"
        assert Counter(map(_as_tuple, got.of_entity(entity))) == \
            Counter(s for s in want.silences if _glob(s[0], entity)), (entity, where)


def check_seed(seed, tmp_path):
    check(make_case(seed), tmp_path / "silences.yaml")


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, SEEDS), ids=block_id)
def test_silences_keep_the_documented_contract(seeds, tmp_path):
    each_seed(seeds, lambda seed: check_seed(seed, tmp_path))


def test_the_cases_reach_every_rule(tmp_path):
    """The generator writes what the contract speaks of, each several times in 400 seeds:
    every spelling of a time and each way one is refused, end at or before start, open
    starts, patterns (of every entity too) and exact ids with characters a regex or glob
    would read, a key twice, unknown keys, top-level shapes; and queries both covered and
    not. A test of nothing would pass too."""
    notes: Counter[str] = Counter()
    for seed in range(400):
        case = make_case(seed, notes)
        check(case, tmp_path / "silences.yaml", notes)
    rules = ("rfc3339", "rfc3339_space", "rfc3339_offset", "rfc3339_lower", "rfc3339_fraction",
             "before_1970", "padded_time", "epoch", "negative_epoch", "epoch_millis",
             "quoted_epoch", "after_9999", "before_year_1", "no_zone", "date_alone", "no_such_day",
             "no_such_hour", "bool_time", "garbage_time", "infinite", "end_not_after_start",
             "end_missing", "entity_missing", "empty_entity", "entity_not_text",
             "text_not_string", "unknown_key", "key_twice", "top_level", "open_start",
             "exact", "exact_with_specials", "exact_non_ascii", "pattern",
             "every_entity_pattern", "overlap", "valid_file", "no_silences_file",
             "query_covered", "query_not_covered")
    assert all(notes[rule] >= 3 for rule in rules), {r: notes[r] for r in rules}

