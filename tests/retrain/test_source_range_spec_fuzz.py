"""Seeded test of which records ``retrain --from T --to T`` (and ``--last``) reads from the
events topic, against a reference written from the docs.

:func:`reference` restates README *Retraining* (phase 1, *read*), docs/streaming.md
(*Windows: order, late events, gaps, memory*; the invalid reasons of *Events in*) and the
docstring of :func:`~anomaly_gan.retrain.source.read_topic_range`, without the product's code:

- Kafka record timestamps select the range, ``[from, to)``: a record stamped exactly at
  ``--from`` is read, one stamped exactly at ``--to`` belongs to the next range. A
  partition is read up to its first record stamped ``serve.windows.max_future_skew_seconds``
  or more after ``--to`` (a producer's clock ahead of another's puts records stamped after
  the range before its last ones): every record stamped in the range before that one is
  read, out of time order or not; one after it (a producer lagging more than that) is not.
- A range that ends (or starts) after the read begins is read up to the moment the read
  began: records written while it is read (stamped then) are not read, and a live topic is
  not followed. A record stamped more than
  ``serve.windows.max_future_skew_seconds`` ahead of the clock (a stray producer clock) is
  in no range.
- Each record read is an event, counted in ``events_read``; invalid ones are counted by
  reason (``bad_json``; ``future_timestamp``: an event whose own ``ts`` is that far ahead),
  never trained on. Rows are the events' own ``ts``, not the record timestamp: a record in
  the range whose event is stamped outside it is trained on at its event time.
- Per entity, in the order of its partition: an event older than the entity's last
  accepted one is late (counted, dropped; an equal time is accepted); more than
  ``gap_seconds`` after the previous row starts a new segment (exactly ``gap_seconds`` does
  not). A segment is a run of at least two rows (one row holds no window of two).
- No event read: the retrain refuses (``no events between``, one line, exit 2); a range
  whose ``--from`` is not before its ``--to`` is refused before anything is read.

The windowing itself (reorder tolerance, entity eviction, partition moves) is
``tests/retrain/test_segment_fuzz.py``'s: here the tolerance is 0 and entities stay on
their partition.

The product runs as a retrain runs it, :func:`~anomaly_gan.retrain.source.read_event_range`,
with the client replaced by :class:`tests.support.range_consumer.RangeConsumer`, a
kafka-python ``KafkaConsumer`` over partitions in memory (``offsets_for_times``: the earliest
offset stamped at or after the time; batches of a few partitions at a time; compacted
offsets; a partition that grows while read, or is written at every poll). Each seed draws 1-4 partitions (empty ones,
ones wholly before ``--from`` or after ``--to``, ones with thousands of records around a
short range), records on a 1 s grid so that they fall on the edges, records swapped out of
time order, lagging producers, event ``ts`` that differ from the record timestamp, invalid
records, stray clocks, ranges with no record and ranges ending in the future.
It found (2026-12-07) that the first record stamped at or after ``--to`` ended its
partition's read, losing the range's records after it (95 of 400 seeds), and that a range
starting after the read began followed a live topic for ever where a stray record stamped
after ``--from`` was on the partition (7 of 400). It fails with the product broken on
purpose (8 of 8): ``--from`` exclusive, ``--to`` inclusive, the read ended at the first
record past ``--to``, the read's end not capped at the moment it began, the seek a second
late, a stray clock ending the read, future event times not invalid, ``--from`` equal to
``--to`` accepted.
``SOURCE_RANGE_FUZZ_SEEDS`` (default 300) seeds from ``SOURCE_RANGE_FUZZ_SEED_START``
(default 0): ``SOURCE_RANGE_FUZZ_SEED_START=17 SOURCE_RANGE_FUZZ_SEEDS=1`` runs seed 17 alone.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from anomaly_gan.config import config_from_dict
from anomaly_gan.errors import DataError
from anomaly_gan.retrain import source
from anomaly_gan.retrain.commands import last_range
from anomaly_gan.retrain.run import RetrainRequest, check_request
from tests.support.fuzz import (
    assert_every_rule_reached,
    block_id,
    each_seed,
    first_difference,
    seed_blocks,
)
from tests.support.range_consumer import RangeConsumer, Stored

SEEDS = int(os.environ.get("SOURCE_RANGE_FUZZ_SEEDS", "300"))
SEED_START = int(os.environ.get("SOURCE_RANGE_FUZZ_SEED_START", "0"))
TOPIC = "anomaly-gan.events"
FEATURES = ("id", "part")
SKEW_S = 300
STRAY_S = 50 * 86400  # a producer clock this far ahead
NOTES: Counter[str] = Counter()
_SEGMENT_BUILDER = source.SegmentBuilder  # the product's, told which records it gets


# -- the case ---------------------------------------------------------------------------------


@dataclass
class Record:
    offset: int
    stamp: int  # Kafka record timestamp, whole seconds
    entity: str
    ts: float | None  # the event's own ts (None: an invalid record)
    ident: int  # a value unique to the record, to tell which rows came from which record
    raw: bytes = b""


@dataclass
class Case:
    now: int
    start: int
    end: int
    gap: float
    partitions: dict[int, list[Record]]
    grow: dict[int, list[tuple[int, Record]]] = field(default_factory=dict)
    empty_ends: dict[int, int] = field(default_factory=dict)
    live: int | None = None  # a partition written at every poll while read, stamped then


def _raw(rec: Record, part: int, bad: bool) -> bytes:
    if bad:
        return f'{{"id": {rec.ident}, "entity": "{rec.entity}", "ts": '.encode()  # bad_json
    return json.dumps({"entity": rec.entity, "ts": rec.ts,
                       "values": [float(rec.ident), float(part)]}).encode()


def make_case(seed: int, now: int) -> Case:
    rng = random.Random(seed)
    future = rng.random() < 0.12  # a range that ends after the read begins
    length = rng.randint(20, 240)
    if future:
        end = now + rng.randint(60, 7200)
        start = end - length - rng.randint(60, 600)
    else:
        start = now - rng.randint(2, 40) * 86400 + rng.randint(0, 86400)
        end = start + length
    gap = float(rng.choice([5, 10, 30]))
    ident = iter(range(1, 10**9))
    partitions: dict[int, list[Record]] = {}
    grow: dict[int, list[tuple[int, Record]]] = {}
    empty_ends: dict[int, int] = {}
    for part in range(rng.randint(1, 4)):
        shape = rng.choices(["normal", "empty", "before", "after", "huge", "none_in_range"],
                            [8, 1, 1, 1, 1, 1])[0]
        entities = [f"p{part}-e{j}" for j in range(rng.randint(1, 3))]
        lo, hi = start - rng.randint(0, 60), end + rng.randint(0, 60)
        if shape == "empty":
            if rng.random() < 0.5:
                empty_ends[part] = rng.randint(1, 50)  # records deleted by retention
            partitions[part] = []
            continue
        if shape == "before":
            lo, hi = start - rng.randint(30, 400), start - rng.randint(1, 20)
        elif shape == "after":
            lo, hi = end + rng.randint(0, 20), end + rng.randint(30, 400)
        elif shape == "huge":
            lo, hi = start - rng.randint(1500, 3000), end + rng.randint(1500, 3000)
        if future:
            hi = min(hi, now - 1)
            lo = min(lo, hi)
        step = rng.choice([1, 1, 2, 3]) if shape != "huge" else 1
        stamps = list(range(lo, hi + 1, step))
        if shape == "none_in_range":
            stamps = [s for s in stamps if not start <= s < end]
        if shape == "normal":  # on the edges
            stamps += [start] * rng.randint(0, 2) + [end] * rng.randint(0, 2)
            stamps.sort()
        # out of time order: swaps of neighbours, and records of a lagging producer
        for _ in range(rng.randint(0, 4)):
            if len(stamps) > 1:
                i = rng.randrange(len(stamps) - 1)
                stamps[i], stamps[i + 1] = stamps[i + 1], stamps[i]
        for _ in range(rng.choice([0, 0, 1, 3])):
            if stamps:
                i = rng.randrange(len(stamps))
                stamps.insert(i, stamps[i] - rng.randint(1, 40))
        if not future and shape != "empty" and rng.random() < 0.2:
            # a record stamped about the skew after --to, then one of a producer lagging
            # that far behind it, stamped inside the range
            stamps += [end + SKEW_S + rng.choice([-1, 0, 0, 1, 30]),
                       rng.randint(start, end - 1)]
        recs: list[Record] = []
        offset = rng.choice([0, 0, 1000])
        lagging = f"p{part}-lag"
        for stamp in stamps:
            entity = rng.choice(entities)
            if rng.random() < 0.05:
                entity = lagging
            r = rng.random()
            ts: float | None = float(stamp)
            if r < 0.12:  # a producer that stamps the send time, not the event's
                ts = float(stamp + rng.choice([-1, 1]) * rng.randint(1, 30))
            elif r < 0.14:
                ts = None
            elif r < 0.15:
                ts = float(now + STRAY_S)  # the event's own clock is astray
            if rng.random() < 0.01:
                stamp = now + STRAY_S  # the record's
            rec = Record(offset, stamp, entity, ts, next(ident))
            rec.raw = _raw(rec, part, ts is None)
            recs.append(rec)
            offset += 1 if rng.random() < 0.85 else rng.randint(2, 6)  # compacted
        partitions[part] = recs
        if rng.random() < 0.3:  # written while the range is read, stamped then
            for _ in range(rng.randint(1, 5)):
                at = rng.randint(1, 6)
                rec = Record(0, now + rng.randint(5, 20), rng.choice(entities),
                             float(now + 5), next(ident))
                rec.raw = _raw(rec, part, False)
                grow.setdefault(at, []).append((part, rec))
    live = rng.choice(list(partitions)) if rng.random() < 0.25 else None
    return Case(now, start, end, gap, partitions, grow, empty_ends, live)


# -- the reference (the docs) -------------------------------------------------------------


@dataclass
class Outcome:
    read: list[int]  # identities of the records read, sorted
    events_read: int
    invalid: dict[str, int]
    late: int
    segments: list[tuple[str, tuple[float, ...], tuple[int, ...]]]
    refused: bool


def reference(case: Case, notes: Counter[str] = NOTES) -> Outcome:
    stop = min(case.end, case.now)  # read up to when the read began
    # a partition's read ends at its first record stamped this late (not a stray)
    past = min(case.end + SKEW_S, case.now)
    if case.end > case.now:
        notes["range_ends_in_the_future"] += 1
    if case.start > case.now:
        notes["range_starts_in_the_future"] += 1
    read: list[tuple[int, Record]] = []
    for part, recs in case.partitions.items():
        if not recs:
            notes["empty_partition"] += 1
        elif any(b.offset - a.offset > 1 for a, b in itertools.pairwise(recs)):
            notes["compacted_offsets"] += 1
        inside = [r for r in recs if case.start <= r.stamp < stop]
        if recs and not inside:
            notes["partition_with_none_in_range"] += 1
        if max((r.stamp for r in recs if r.stamp < case.now + SKEW_S), default=math.inf) < case.start:
            notes["partition_wholly_before"] += 1
        after_to = False  # a record stamped at or after --to came before
        for r in recs:
            if r.stamp > case.now + SKEW_S:
                notes["stray_record_clock_skipped"] += 1
                continue
            if r.stamp >= past:
                notes["read_ends_at_skew_after_to"] += 1
                if r.stamp == past:
                    notes["read_ends_exactly_at_skew_after_to"] += 1
                if any(case.start <= q.stamp < stop for q in recs[recs.index(r) + 1:]):
                    notes["in_range_after_the_read_ended_not_read"] += 1
                break
            if r.stamp == case.start:
                notes["record_at_from_read"] += 1
            if r.stamp == case.end:
                notes["record_at_to_not_read"] += 1
            if not case.start <= r.stamp < stop:
                after_to = after_to or r.stamp >= stop
                continue
            if after_to:
                notes["in_range_after_a_record_past_to_read"] += 1
            read.append((part, r))
        if len(recs) > 20 * max(1, len(inside)) and len(recs) > 1000:
            notes["huge_partition"] += 1
    for part, grown in case.grow.items():
        notes["partition_grows_while_read"] += bool(grown)
    if case.live is not None:
        notes["live_partition_not_followed"] += 1
    invalid: Counter[str] = Counter()
    rows: dict[str, list[tuple[float, int]]] = {}
    late = 0
    for _part, r in read:
        if r.ts is None:
            invalid["bad_json"] += 1
            continue
        if r.ts > case.now + SKEW_S:
            invalid["future_timestamp"] += 1
            continue
        if not case.start <= r.ts < case.end:
            notes["event_ts_outside_range_trained_on"] += 1
        mine = rows.setdefault(r.entity, [])
        if mine and r.ts < mine[-1][0]:
            late += 1
            notes["late_event"] += 1
            continue
        mine.append((r.ts, r.ident))
    segments = []
    for entity, got in rows.items():
        runs: list[list[tuple[float, int]]] = [[got[0]]]
        for prev, row in itertools.pairwise(got):
            if row[0] - prev[0] > case.gap:
                notes["gap_starts_a_segment"] += 1
                runs.append([])
            elif row[0] - prev[0] == case.gap:
                notes["exactly_gap_no_gap"] += 1
            runs[-1].append(row)
        segments += [(entity, tuple(t for t, _ in run), tuple(i for _, i in run))
                     for run in runs if len(run) >= 2]
    if not read:
        notes["no_record_refused"] += 1
    for rule in ("bad_json", "future_timestamp"):
        notes[f"invalid_{rule}"] += invalid[rule]
    return Outcome(sorted(r.ident for _, r in read), len(read), dict(invalid), late,
                   sorted(segments, key=lambda s: (s[0], s[1][0])), not read)


RULES = {"range_ends_in_the_future", "range_starts_in_the_future", "empty_partition", "compacted_offsets",
         "partition_with_none_in_range", "partition_wholly_before", "stray_record_clock_skipped",
         "record_at_from_read", "record_at_to_not_read", "in_range_after_a_record_past_to_read",
         "read_ends_at_skew_after_to", "read_ends_exactly_at_skew_after_to",
         "in_range_after_the_read_ended_not_read",
         "huge_partition", "partition_grows_while_read", "live_partition_not_followed", "event_ts_outside_range_trained_on",
         "late_event", "gap_starts_a_segment", "exactly_gap_no_gap", "no_record_refused",
         "invalid_bad_json", "invalid_future_timestamp", "last_days",
         "from_not_before_to_refused", "range_accepted"}


# -- the product ------------------------------------------------------------------------------


def product(case: Case, monkeypatch: pytest.MonkeyPatch, seed: int) -> Outcome:
    def stored(r: Record) -> Stored:
        return Stored(r.offset, r.stamp * 1000, r.raw)

    consumer = RangeConsumer(TOPIC, {p: [stored(r) for r in recs]
                                     for p, recs in case.partitions.items()},
                             random.Random(seed), max_poll_records=random.Random(seed).choice(
                                 [3, 50, 2000]), empty_ends=dict(case.empty_ends),
                             live_stamp_ms=(case.now + 5) * 1000)
    if case.live is not None:
        consumer.live[case.live] = json.dumps({"entity": "live", "ts": case.now + 5,
                                               "values": [-1.0, -1.0]}).encode()
    offsets = {p: (recs[-1].offset + 1 if recs else case.empty_ends.get(p, 0))
               for p, recs in case.partitions.items()}
    for at, grown in sorted(case.grow.items()):
        for part, r in grown:
            r.offset = offsets[part]
            offsets[part] += 1
            consumer.grow.setdefault(at, []).append((part, stored(r)))
    cfg = config_from_dict({"serve": {"windows": {"gap_seconds": case.gap,
                                                  "max_future_skew_seconds": SKEW_S}}}, "test")
    monkeypatch.setattr(source, "_consumer", lambda _k: consumer)
    read: list[int] = []  # the records the product read, by identity

    class Builder(_SEGMENT_BUILDER):
        def add(self, raw: bytes | None, partition: Any, offset: int) -> None:
            assert raw is not None
            read.append(int(raw.split(b",")[0].split(b": ")[1]) if raw.startswith(b'{"id"')
                        else int(json.loads(raw)["values"][0]))
            super().add(raw, partition, offset)

    monkeypatch.setattr(source, "SegmentBuilder", Builder)
    rows = source.read_event_range(cfg, FEATURES, float(case.start), float(case.end))
    assert consumer.closed
    segments = sorted(((s.entity, tuple(float(t) for t in s.ts),
                        tuple(int(v) for v in s.values[:, 0])) for s in rows.segments),
                      key=lambda s: (s[0], s[1][0]))
    return Outcome(sorted(read), rows.events_read, dict(rows.invalid), rows.late, segments,
                   rows.events_read == 0)


def _explain(case: Case, what: str, want: Any, got: Any, marked: set[int] | None = None) -> str:
    lines = [f"{what} differs", f"  docs:    {want!r}", f"  product: {got!r}",
             f"range [{case.start}, {case.end}) now {case.now} gap {case.gap}"]
    def shown(r: Record) -> str:
        ts = ("bad" if r.ts is None else "" if r.ts == r.stamp
              else f"(ts{r.ts - case.start:+g})")
        mark = "<<" if marked and r.ident in marked else ""
        return f"{r.offset}@{r.stamp - case.start:+d}{ts}:{r.entity}#{r.ident}{mark}"

    for part, recs in case.partitions.items():  # times relative to --from
        near = [r for r in recs if case.start - 5 <= r.stamp <= case.end + 5]
        if marked:  # the records that differ, with three on either side
            at = [i for i, r in enumerate(recs) if r.ident in marked]
            near = [r for i, r in enumerate(recs) if any(abs(i - j) <= 3 for j in at)]
        lines.append(f"  partition {part} ({len(recs)} records, {len(near)} shown): "
                     + " ".join(shown(r) for r in near[:40]))
    return "\n".join(lines)


def check_seed(seed: int, monkeypatch: pytest.MonkeyPatch, notes: Counter[str] = NOTES) -> None:
    case = make_case(seed, math.floor(time.time()))
    want = reference(case, notes)
    got = product(case, monkeypatch, seed)
    if got.read != want.read:
        missed, extra = sorted(set(want.read) - set(got.read)), sorted(set(got.read) - set(want.read))
        raise AssertionError(_explain(case, "records read", f"also #{missed}",
                                      f"also #{extra}", set(missed) | set(extra)))
    for key in ("events_read", "invalid", "late", "refused"):
        assert getattr(got, key) == getattr(want, key), _explain(
            case, key, getattr(want, key), getattr(got, key))
    if got.segments != want.segments:
        at, lines = first_difference(want.segments, got.segments)
        raise AssertionError(_explain(case, f"segment {at}", "", "") + "\n" + "\n".join(lines))


def check_request_seed(seed: int, notes: Counter[str] = NOTES) -> None:
    """A range's bounds (``--from``/``--to``, or ``--last D`` before ``--to``): refused
    before anything is read where ``--from`` is not before ``--to``, in one line."""
    rng = random.Random(seed)
    end = float(rng.randint(1_700_000_000, 1_800_000_000))
    if rng.random() < 0.5:
        days = rng.randint(1, 30)
        start = last_range(f"{days}d", end)
        assert start == end - days * 86400, (days, start, end)
        notes["last_days"] += 1
    else:
        start = end + rng.choice([-3600.0, -1.0, -0.001, 0.0, 0.001, 1.0])
    refused = start >= end
    notes["from_not_before_to_refused" if refused else "range_accepted"] += 1
    try:
        check_request(RetrainRequest(store="models", start=start, end=end))
    except DataError as exc:
        assert refused and "\n" not in str(exc), f"[{start}, {end}): {exc}"
    else:
        assert not refused, f"[{start}, {end}) accepted"


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, SEEDS), ids=block_id)
def test_a_topic_range_reads_the_documented_records(seeds, monkeypatch):
    each_seed(seeds, lambda seed: check_seed(seed, monkeypatch))
    each_seed(seeds, check_request_seed)


def test_the_cases_reach_every_rule():
    """Every rule of the reference is taken by some seed of the first 200: a rule no case
    reaches could hide a disagreement."""
    now = math.floor(time.time())
    def check(seed: int) -> None:
        reference(make_case(seed, now))
        check_request_seed(seed)

    assert_every_rule_reached(RULES, check, range(200), NOTES)
