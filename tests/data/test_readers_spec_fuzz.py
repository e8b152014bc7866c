"""Seeded test of the CSV reader of ``train``, ``score``, ``evaluate``, ``plot`` and
``retrain --data`` (:func:`~anomaly_gan.data.readers.read_table`, then
:func:`~anomaly_gan.data.readers.table_times` and
:func:`~anomaly_gan.data.readers.late_rows`) against a reference written from the docs alone.

The differential tests between the commands share this reader, so they cannot find a fault
in it. :func:`reference` restates README.md's *Data files* and docs/streaming.md's ``ts``
and ``bad_timestamp`` rows (and configs/default.yaml's ``data.header`` and
``data.timestamp_column``) without the product's code:

- bytes: UTF-8 (a line that is not is refused naming it), a byte-order mark at the start
  ignored; lines end with ``\\n`` or ``\\r\\n``; blank lines are skipped but counted, so
  errors name the real line; cells are separated by commas;
- header (``data.header``): ``auto``: a first row of names is a header, one of numbers is
  data (features ``f0..fN``), one mixing both is refused; ``names``: the first row names
  the columns whatever it holds (``200,404``); ``none``: it is data. Names must be unique
  and not empty;
- time column: ``data.timestamp_column``, else the column named ``timestamp``, ``ts``,
  ``time``, ``datetime`` or ``date``; not a feature. A headerless file has none (a
  headerless ``time,value`` export is refused: a first row of times and numbers);
- a cell: empty or ``NA``, ``N/A``, ``null``, ``None``, ``#N/A`` (any case) is missing
  (NaN), a row of empty cells a row of missing values (in a file with a time column, a
  row empty in every cell, its time too, is skipped as a blank line); a number is a plain
  decimal
  (``1.5``, ``-2e3``, ``nan``, ``inf``); ``1_000``, ``True``/``False`` and any other text
  are refused naming file, line and column;
- a stamp: RFC 3339 with or without an offset (none: UTC; ``T``, ``t`` or a space; ``Z`` or
  ``z``), a date alone (its midnight UTC), or epoch digits (ASCII, at most one point):
  seconds, or ms, µs, ns when over 1e11, 1e14, 1e17; after the year 9999, or anything else
  (``1_000``, non-ASCII digits), is no time and refused naming its line (a number with an
  exponent, which README allows since this test found it read, is not generated);
- order: a row stamped before an earlier row is *late*; more than 5% of the rows, and more
  than one, late: refused naming the first late line; fewer: left out (``late_rows``);
- a refusal is one :class:`DataError` line naming the file and the line (and, for a cell
  of a file with a header, its column); where a file has several faults the reference
  accepts any of their lines (the docs do not order the checks).

Left out because the docs do not say: separators other than a comma, quoting, spaces
around cells, an empty file or one of a header alone, a first row with missing cells,
names that differ from the time names only in case, a second time-named column, a
missing stamp, ``NaN``/``Infinity`` spellings, signs and leap seconds in stamps.

``READERS_SPEC_FUZZ_SEEDS`` (default 400) seeds from ``READERS_SPEC_FUZZ_SEED_START``
(default 0): ``READERS_SPEC_FUZZ_SEED_START=17 READERS_SPEC_FUZZ_SEEDS=1`` runs seed 17 alone.
"""

from __future__ import annotations

import io
import math
import os
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from anomaly_gan.data.readers import late_rows, read_table, table_times
from anomaly_gan.errors import DataError
from tests.support.fuzz import (
    assert_every_rule_reached,
    block_id,
    each_seed,
    first_difference,
    seed_blocks,
)
from tests.support.stamps import STAMP_RULES, ref_time

SEEDS = int(os.environ.get("READERS_SPEC_FUZZ_SEEDS", "400"))
SEED_START = int(os.environ.get("READERS_SPEC_FUZZ_SEED_START", "0"))

TIME_NAMES = ("timestamp", "ts", "time", "datetime", "date")
MISSING = ("", "NA", "N/A", "null", "None", "#N/A")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|nan|-?inf", re.ASCII)

RULES: Counter[str] = Counter()  # the rules the reference took, for the coverage test


@dataclass
class Want:
    """What the docs say of a file: its table and times, or the lines a refusal may name."""

    names: tuple[str, ...] = ()
    values: list[list[float]] = field(default_factory=list)
    times: list[float] | None = None
    late: list[bool] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # each row's file line
    faults: dict[int, set[str]] = field(default_factory=dict)  # line -> columns ("" none)

    def fault(self, line: int, rule: str, column: str = "") -> None:
        RULES[rule] += 1
        self.faults.setdefault(line, set()).add(column)


def is_missing(cell: str) -> bool:
    return cell.upper() in {m.upper() for m in MISSING}


def is_number(cell: str) -> bool:
    return NUMBER.fullmatch(cell) is not None


@dataclass(frozen=True)
class Case:
    data: bytes
    header: str  # data.header
    timestamp_column: str | None  # data.timestamp_column


def reference(case: Case) -> Want | None:
    """The table, times and late rows of a CSV file as the docs describe them, or the
    lines a refusal may name; None where the docs do not say."""
    want = Want()
    data = case.data
    if data.startswith(b"\xef\xbb\xbf"):
        RULES["bom"] += 1
        data = data[3:]
    rows: list[tuple[int, list[str]]] = []
    for n, raw in enumerate(re.split(rb"\r?\n", data), 1):
        if raw.endswith(b"\r"):
            raise AssertionError("a lone \\r: the generator writes none")
        if not raw:
            RULES["blank_line"] += 1
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            want.fault(n, "not_utf8")
            continue
        rows.append((n, text.split(",")))
    if not rows:  # one line, not UTF-8
        assert want.faults
        return want
    first_line, first = rows[0]
    header = case.header
    if header == "auto" and any(is_missing(c) for c in first):
        RULES["unspecified.first_row_missing"] += 1  # the docs do not say: not compared
        return None
    if header == "auto":
        numbers = [is_number(c) for c in first]
        if all(numbers):
            RULES["header.auto_numbers"] += 1
            header = "none"
        elif not any(numbers):
            RULES["header.auto_names"] += 1
            header = "names"
        else:
            want.fault(first_line, "header.auto_mixed")
            return want
    else:
        RULES[f"header.{header}"] += 1
    if header == "names":
        names = first
        body = rows[1:]
        if not body:
            RULES["unspecified.header_alone"] += 1  # the docs do not say: not compared
            return None
        if any(not name for name in names):
            want.fault(first_line, "header.empty_name")
        if len(set(names)) < len(names):
            want.fault(first_line, "header.duplicate")
        if case.timestamp_column is not None:
            time_col = names.index(case.timestamp_column) \
                if case.timestamp_column in names else None
            if time_col is None:  # a setting the file lacks: the column, no line, named
                want.fault(0, "timestamp_column.absent", case.timestamp_column)
            else:
                RULES["timestamp_column.config"] += 1
        else:
            hits = [i for i, name in enumerate(names) if name in TIME_NAMES]
            if len(hits) > 1:  # one time name twice: the duplicate refused
                assert "header.duplicate" in RULES
                return want
            time_col = hits[0] if hits else None
            if hits:
                RULES[f"timestamp_column.{names[hits[0]]}"] += 1
        if want.faults:
            return want
    else:
        names = [f"f{i}" for i in range(len(first))]
        body = rows
        time_col = None
        if case.timestamp_column is not None:
            want.fault(0, "timestamp_column.headerless", case.timestamp_column)
            return want
    features = [i for i in range(len(names)) if i != time_col]
    want.names = tuple(names[i] for i in features)
    stamps: list[str] = []
    timed: list[int] = []  # the lines of the rows whose stamps are read
    for n, cells in body:
        if len(cells) != len(names):
            want.fault(n, "row.width")
            continue
        if time_col is not None and all(c == "" for c in cells):
            RULES["row.all_empty_timed"] += 1
            continue
        values = []
        for i in features:
            cell = cells[i]
            if is_missing(cell):
                RULES["cell.missing" if cell else "cell.empty"] += 1
                values.append(math.nan)
            elif is_number(cell):
                RULES["cell.nan_inf" if cell.lstrip("-") in ("nan", "inf") else "cell.number"] += 1
                values.append(float(cell))
            else:
                want.fault(n, "cell.not_number", names[i] if header == "names" else "")
        if all(c == "" for c in cells) and len(cells) > 1:
            RULES["row.all_empty"] += 1
        want.values.append(values)
        want.lines.append(n)
        if time_col is not None:
            stamps.append(cells[time_col])
            timed.append(n)
    if time_col is None:
        return want
    if not timed and not want.faults:
        RULES["unspecified.only_empty_rows"] += 1  # the docs do not say: not compared
        return None
    times = []
    for n, stamp in zip(timed, stamps, strict=True):
        t = ref_time(stamp)
        if t is None:
            want.fault(n, "ts.no_time")
        times.append(t if t is not None else math.nan)
    if want.faults:
        return want
    want.times = times
    latest = -math.inf
    for t in times:
        want.late.append(t < latest)
        latest = max(latest, t)
    count = sum(want.late)
    if count:
        RULES["order.late"] += 1
    if count > 1 and count > 0.05 * len(times):
        want.fault(want.lines[want.late.index(True)], "order.refused")
    return want


# -- the generator ---------------------------------------------------------------------

T0 = 1796601600  # 2026-12-07T00:00:00Z
NAMES = ("cpu", "rpm", "temp", "requests_total", "Zürich-1", "x y", "Temp2")
NUMERIC_NAMES = ("200", "404", "1e3", "-1", "500")
NOT_NUMBERS = ("1_000", "True", "False", "12 rpm", "0x1F", "abc", "--1", "1e", "∞", "1.2.3")


def gen_number(rng: random.Random) -> str:
    kind = rng.randrange(10)
    if kind == 0:
        return rng.choice(["nan", "inf", "-inf"])
    if kind == 1:
        return rng.choice(["-2e3", "1E5", "2.5e-3", "-0.0", "0", "1e308", "-3E+2"])
    if kind < 5:
        return str(rng.randint(-1000, 1000))
    return f"{rng.uniform(-1e4, 1e4):.{rng.randint(1, 6)}f}"


def gen_stamp(rng: random.Random, t: float, faulty: bool = True) -> str:
    """A stamp of ``t`` in one of the documented forms; where ``faulty``, now and then an
    epoch at a unit's edge or no time at all."""
    kind = rng.randrange(12) if faulty else rng.randrange(2, 12)
    if kind == 0:  # an epoch at a unit's boundary
        return rng.choice(["100000000000", "100000000001", "100000000000000",
                           "100000000000001", "100000000000000000", "100000000000000001",
                           "99999999999", "1" + "0" * 21, "253402300799"])
    if kind == 1:
        return rng.choice(["2026-13-01T00:00:00Z", "yesterday", "2026-02-30T00:00:00Z",
                           "12:00", "1_000", "١٢٣", "2026-12-07T25:00:00Z", "9999-12-31T23:59:59-01:00",
                           "0x10"])
    if kind in (2, 3):
        return str(int(t))
    if kind == 4:
        per = rng.choice([1000, 10**6, 10**9])
        return str(int(t) * per + rng.randrange(per))
    if kind == 5:
        return f"{t:.3f}"
    if kind == 6:
        return datetime.fromtimestamp(int(t) // 86400 * 86400, UTC).strftime("%Y-%m-%d")
    zone = rng.choice(["Z", "z", "", "+05:30", "-08:00", "+14:00"])
    tz = UTC if zone in ("Z", "z", "") else timezone(
        (-1 if zone[0] == "-" else 1) * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:])))
    dt = datetime.fromtimestamp(t, tz)
    frac = rng.choice(["", f".{dt.microsecond:06d}"[:rng.choice([2, 4, 7])]])
    return dt.strftime(f"%Y-%m-%d{rng.choice(['T', 't', ' '])}%H:%M:%S") + frac + zone


def gen_case(rng: random.Random) -> Case:
    width = rng.randint(1, 4)
    faulty = rng.random() < 0.35  # else only faults of names and headers: most files read
    header = rng.choice(["auto", "auto", "auto", "names", "none"])
    with_header = rng.random() < 0.7
    timestamp_column = None
    time_at = None
    if with_header:
        names = rng.sample(NAMES, width)
        if rng.random() < 0.15:  # numeric-looking names
            names = [rng.choice(NUMERIC_NAMES) if rng.random() < 0.6 else n for n in names]
        if rng.random() < 0.75:
            time_at = rng.randint(0, width)
            if rng.random() < 0.2:
                timestamp_column = "when"
                time_name = "when"
            else:
                time_name = rng.choice(TIME_NAMES)
            names.insert(time_at, time_name)
        if rng.random() < 0.06:
            names[-1] = rng.choice(["", names[0]])  # an empty or repeated name
        if rng.random() < 0.03:
            timestamp_column = "missing_col"
    elif rng.random() < 0.05:
        timestamp_column = "when"
    rows: list[list[str]] = []
    if with_header:
        rows.append(names)
    elif rng.random() < 0.05:  # a headerless time,value export
        rows.append([gen_stamp(rng, T0)] + [gen_number(rng) for _ in range(width - 1 or 1)])
        width = len(rows[0])
    n_rows = rng.randint(1 if with_header or header != "names" else 2, 60)
    step = rng.choice([1, 60, 0.5, 3600])
    # around 1e8 s (1973), ms, us and ns stamps straddle the units' edges 1e11, 1e14, 1e17
    t = T0 + rng.uniform(-1e8, 1e8) if rng.random() < 0.8 else 1e8 - step * rng.randint(0, 40)
    for r in range(n_rows):
        t += step
        when = t
        if rng.random() < rng.choice([0.0, 0.02, 0.1]):
            when = t - step * rng.choice([2, 5, 0.5])  # out of order
        cells = []
        for _ in range(width):
            roll = rng.random()
            first_data = r == 0 and not with_header
            if roll < 0.1 and not first_data:
                cells.append(rng.choice(MISSING) if rng.random() < 0.5 else rng.choice(
                    ["na", "n/a", "NULL", "none", "#n/a", "Null", "NONE"]))
            elif roll < 0.12 and faulty:
                cells.append(rng.choice(NOT_NUMBERS))
            else:
                cells.append(gen_number(rng))
        if time_at is not None:
            stamp = gen_stamp(rng, when, faulty)
            if rng.random() < 0.4:
                stamp = str(int(when)) if rng.random() < 0.5 else gen_stamp(rng, when, faulty)
            cells.insert(time_at, stamp)
        if rng.random() < 0.02 and r > 0:
            cells = [""] * len(cells)  # a row of empty cells
        if rng.random() < 0.02 and (r > 0 or with_header) and faulty:
            cells = cells + [""] if rng.random() < 0.5 else cells[:-1] or ["1", "2"]
        rows.append(cells)
    eol = rng.choice([b"\n", b"\r\n"])
    lines = [",".join(c).encode() for c in rows]
    if rng.random() < 0.08 and faulty:
        at = rng.randrange(1, len(lines)) if len(lines) > 1 else 0
        lines[at] = lines[at] + b"\xff"
    out: list[bytes] = []
    for i, line in enumerate(lines):
        if i > 0 and rng.random() < 0.05:
            out.append(b"")  # a blank line between rows
        out.append(line)
    data = eol.join(out) + rng.choice([b"", eol, eol + eol, eol * 3])
    if rng.random() < 0.15:
        data = b"\xef\xbb\xbf" + data
    if rng.random() < 0.05:
        data = eol + data  # a blank line first
    return Case(data, header, timestamp_column)


# -- the comparison --------------------------------------------------------------------

PATH = "fuzz.csv"


def product(case: Case) -> Want | DataError:
    try:
        table = read_table(Path(PATH), case.timestamp_column, case.header,
                           opened=io.BytesIO(case.data))
        times = table_times(table)
    except DataError as exc:
        return exc
    got = Want(names=tuple(table.feature_names), values=table.values.tolist(),
               lines=[int(x) for x in (table.lines if table.lines is not None else [])])
    if times is not None:
        got.times = times.tolist()
        got.late = late_rows(times).tolist()
    return got


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or abs(a - b) <= 2e-6 * max(1.0, abs(a) / 1e9)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def check_seed(seed: int) -> None:
    case = gen_case(random.Random(seed))
    want = reference(case)
    if want is None:
        return
    got = product(case)
    where = f"header={case.header} timestamp_column={case.timestamp_column}\n{case.data!r}"
    if want.faults:
        assert isinstance(got, DataError), (
            f"docs refuse it at lines {sorted(want.faults)}, the product reads it\n{where}")
        msg = str(got)
        named = [int(n) for n in re.findall(r"\bline (\d+)", msg)] or [0]
        assert "\n" not in msg and msg.startswith(PATH + ":"), f"not one line naming the file: {msg!r}"
        assert named and named[0] in want.faults, (
            f"refusal names line {named[:1]}, docs: one of {sorted(want.faults)}: {msg}\n{where}")
        columns = want.faults[named[0]] - {""}
        if columns and "" not in want.faults[named[0]]:
            assert any(f"'{c}'" in msg or repr(c) in msg for c in columns), (
                f"refusal names none of the columns {sorted(columns)}: {msg}\n{where}")
        return
    assert not isinstance(got, DataError), f"docs read it, the product refuses: {got}\n{where}"
    for what in ("names", "lines", "values", "times", "late"):
        a, b = getattr(want, what), getattr(got, what)
        if what == "names":
            a, b = list(a), list(b)
        if not _same(a, b):
            if isinstance(a, list) and isinstance(b, list):
                i, lines = first_difference(a, b, _same)
                raise AssertionError(f"{what} differ at {i}\n" + "\n".join(lines) + f"\n{where}")
            raise AssertionError(f"{what}: docs {a}, product {b}\n{where}")


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, SEEDS), ids=block_id)
def test_csv_reader_follows_the_docs(seeds: range) -> None:
    each_seed(seeds, check_seed)


def test_every_rule_is_reached() -> None:
    """The default seeds reach every rule of the reference, so a rule no file takes cannot
    hide a disagreement."""
    rules = {"bom", "blank_line", "not_utf8", "header.auto_numbers", "header.auto_names",
             "header.auto_mixed", "header.names", "header.none", "header.empty_name",
             "header.duplicate", "timestamp_column.absent", "timestamp_column.config",
             "timestamp_column.headerless", *(f"timestamp_column.{n}" for n in TIME_NAMES),
             "row.width", "row.all_empty", "row.all_empty_timed", "cell.missing", "cell.empty", "cell.number",
             "cell.nan_inf", "cell.not_number", "ts.epoch", "ts.epoch_fraction",
             "ts.epoch_over_100000000000", "ts.epoch_over_100000000000000",
             "ts.epoch_over_100000000000000000", "ts.after_9999", "ts.date_alone",
             "ts.offset", "ts.no_offset", "ts.rfc3339", "ts.no_time", "order.late",
             "order.refused"}
    assert_every_rule_reached(rules, check_seed, range(400), RULES, STAMP_RULES)


def test_a_refusal_and_a_reading_are_told_apart() -> None:
    """The comparison fails where the product and the docs disagree (a file the docs read
    but with its values changed)."""
    case = Case(b"timestamp,cpu\n1767225600,1.5\n1767225660,NA\n", "auto", None)
    want = reference(case)
    assert want is not None
    assert want.values[1][0] != want.values[1][0] and want.times == [1767225600.0, 1767225660.0]
    got = product(case)
    assert not isinstance(got, DataError)
    assert _same(got.values, want.values) and not _same(got.values, [[1.5], [0.0]])
    assert np.isnan(got.values[1][0])
