"""Seeded test of the assembler (``serve.assemble_seconds``) against a reference written
from the docs.

``serve``'s intake, the OTLP metric file reader (``data/otlp_files.py``) and ``retrain``'s
segments gather partial records through the same
:class:`~anomaly_gan.stream.assemble.Assembler`, so their differential fuzz tests cannot
find a bug in it. Here :func:`reference` restates docs/streaming.md (*Records with some of
the features*, its *Assembled* OTLP bullet, *Memory*, *The record key should be the
entity*, the open slots of *Delivery guarantees*) and the module docstring of
``stream/assemble.py`` without the product's code: per entity it keeps its open slots as
plain dicts of ``feature -> (value, start time)`` with the offsets of the records that went
into them.

- **Slots.** A record at ``ts`` is in slot ``floor(ts / S) * S``, computed exactly with
  ``ts`` and ``S`` as written (a time on a boundary is in the slot it starts); the event is
  stamped with the slot's own time (the float nearest ``k * S``).
- **Repeats.** A feature twice in an open slot keeps the value of the record read later,
  whatever their times within the slot; a value's start time goes with it (a value without
  one leaves none).
- **Complete.** Once every feature has come the slot is one event at the slot's time,
  values in model order; every older open slot is dropped (incomplete), newer ones stay.
- **Open slots.** At most ``open_slots`` per entity: opening one more drops the oldest of
  them (in time: the new one itself, if it is older than the open ones), counted.
- **Late.** A record for a slot no newer than the entity's last emitted one is counted and
  dropped.
- **Offsets.** An event carries the offset of the earliest record that went into its slot,
  or of a newer open slot's earliest record where that is earlier; ``pins()`` gives per
  partition the earliest record an open slot holds.
- **Memory.** At most ``max_entities``: a new entity evicts the least recently seen one
  *by its records* (a late one too), its open slots counted as incomplete and ``on_evict``
  told; it starts afresh if it returns. ``forget`` forgets an entity, its open slots
  counted; ``drop_partitions`` (a revoke) and ``clear`` (a rewind) forget, counting nothing.
- **Partitions.** An entity seen on another partition starts there as a new entity would:
  its open slots dropped (counted), its last emitted slot forgotten.
- **Expiry at a commit.** ``expire()`` drops (counted) each open slot more than
  ``gap_seconds`` behind its partition's recent entities: the 90th percentile of their
  newest slots (open or emitted).

Each seed draws 1-4 features, ``S`` of 0.1 to 10 s (times near 2026's epoch seconds with
``S = 0.1``, so that boundaries are decimals floats cannot hold), ``open_slots`` 1-3, 1-5
entities on 1-3 partitions with ``max_entities`` often below their number, readings whose
data points are spread over a slot or split across a boundary, some missing, repeated
(corrected) points, late points, whole records, start times, partition moves, and between
the records commits (``expire``), forgets, revokes and rewinds. The product is compared
after every step. ``ASSEMBLER_SPEC_FUZZ_SEEDS`` (default 500, a few seconds) seeds from
``ASSEMBLER_SPEC_FUZZ_SEED_START`` (default 0): ``ASSEMBLER_SPEC_FUZZ_SEED_START=17
ASSEMBLER_SPEC_FUZZ_SEEDS=1`` runs seed 17 alone.
"""

from __future__ import annotations

import math
import os
import random
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from fractions import Fraction

import pytest

from anomaly_gan.stream.assemble import Assembler
from anomaly_gan.stream.events import Event, PartialEvent
from tests.support.fuzz import block_id, each_seed, seed_blocks

SEEDS = int(os.environ.get("ASSEMBLER_SPEC_FUZZ_SEEDS", "500"))
SEED_START = int(os.environ.get("ASSEMBLER_SPEC_FUZZ_SEED_START", "0"))


@dataclass
class Record:
    entity: str
    ts: float
    values: dict[int, float]  # feature -> value
    partition: str
    offset: int
    starts: dict[int, float] | None = None
    whole: bool = False  # a record with every feature, as a list (an Event)


@dataclass
class Expire:  # a commit
    pass


@dataclass
class Forget:
    entity: str


@dataclass
class Revoke:
    partitions: frozenset[str]


@dataclass
class Rewind:  # clear()
    pass


Step = Record | Expire | Forget | Revoke | Rewind


@dataclass
class Case:
    n_features: int
    seconds: float
    open_slots: int
    max_entities: int
    gap: float
    steps: list[Step]


# (entity, slot time, values in model order, starts, partition, offset)
Row = tuple[str, float, tuple[float, ...], dict[int, float] | None, str, int]
# after each step: rows, the entities evicted (in order), expire's return (or None), then
# late, incomplete, entities held, pins, newest open slot per entity, open slots
Observed = tuple[list[Row], list[str], int | None, int, int, int,
                 dict[str, int], dict[str, float], int]


# -- the reference ------------------------------------------------------------------------


@dataclass
class _Slot:
    k: int  # the slot is [k * S, (k + 1) * S)
    got: dict[int, tuple[float, float | None]] = field(default_factory=dict)  # f -> value, start
    offsets: list[int] = field(default_factory=list)  # of the records that went into it


@dataclass
class _Entity:
    partition: str
    emitted: int | None = None  # k of the last emitted slot
    slots: list[_Slot] = field(default_factory=list)  # open, any order


def _exact(x: float) -> Fraction:
    """A number as it is written (the shortest decimal that reads back as it)."""
    return Fraction(repr(x))


def _percentile_90(xs: list[int]) -> int:
    """The 90th percentile as docs/streaming.md defines it: of the ``n`` values sorted, the
    one at index ``floor(0.9 * (n - 1))`` (the lower of two)."""
    return sorted(xs)[math.floor(0.9 * (len(xs) - 1))]


def reference(case: Case, notes: Counter[str] | None = None) -> list[Observed]:
    notes = Counter() if notes is None else notes
    f, s = case.n_features, _exact(case.seconds)
    entities: OrderedDict[str, _Entity] = OrderedDict()  # least recently seen first
    late = incomplete = 0
    ever: set[str] = set()

    def slot_time(k: int) -> float:
        return float(k * s)

    observed: list[Observed] = []
    for step in case.steps:
        rows: list[Row] = []
        evicted: list[str] = []
        expired: int | None = None
        if isinstance(step, Record):
            rec = step
            k = math.floor(_exact(rec.ts) / s)
            if k * s == _exact(rec.ts):
                notes["on_boundary"] += 1
            e = entities.get(rec.entity)
            if e is None:
                if len(entities) >= case.max_entities:
                    name, gone = entities.popitem(last=False)
                    incomplete += len(gone.slots)
                    evicted.append(name)
                    notes["evicted_with_open" if gone.slots else "evicted"] += 1
                if rec.entity in ever:
                    notes["returned"] += 1
                e = entities[rec.entity] = _Entity(rec.partition)
                ever.add(rec.entity)
            else:
                entities.move_to_end(rec.entity)
                if e.partition != rec.partition:
                    notes["moved_with_open" if e.slots else "moved"] += 1
                    if e.emitted is not None and k <= e.emitted:
                        notes["moved_not_late"] += 1
                    incomplete += len(e.slots)
                    e = entities[rec.entity] = _Entity(rec.partition)
            if e.emitted is not None and k <= e.emitted:
                late += 1
                notes["late_same_slot" if k == e.emitted else "late"] += 1
            else:
                slot = next((sl for sl in e.slots if sl.k == k), None)
                if slot is None:
                    slot = _Slot(k)
                    e.slots.append(slot)
                    if len(e.slots) > case.open_slots:
                        oldest = min(e.slots, key=lambda sl: sl.k)
                        e.slots.remove(oldest)
                        incomplete += 1
                        notes["opened_dropped_at_once" if oldest is slot
                              else "too_many_open"] += 1
                        if oldest is slot:
                            slot = None
                if slot is not None:
                    slot.offsets.append(rec.offset)
                    for i, v in rec.values.items():
                        start = (rec.starts or {}).get(i)
                        if i in slot.got:
                            notes["repeat"] += 1
                            if slot.got[i][1] is not None and start is None:
                                notes["repeat_drops_start"] += 1
                        slot.got[i] = (v, start)
                    if rec.whole:
                        notes["whole_over_partial" if len(slot.offsets) > 1 else "whole"] += 1
                    if len(slot.got) == f:
                        older = [sl for sl in e.slots if sl.k < k]
                        newer = [sl for sl in e.slots if sl.k > k]
                        incomplete += len(older)
                        if older:
                            notes["completion_drops_older"] += 1
                        if newer:
                            notes["completed_with_newer_open"] += 1
                        e.slots = newer
                        e.emitted = k
                        offset = min(slot.offsets + [o for sl in newer for o in sl.offsets])
                        if offset < min(slot.offsets):
                            notes["offset_of_newer"] += 1
                        if len(slot.offsets) > 1:
                            notes["assembled"] += 1
                        starts = {i: st for i, (_, st) in slot.got.items() if st is not None}
                        if starts:
                            notes["starts"] += 1
                        rows.append((rec.entity, slot_time(k),
                                     tuple(slot.got[i][0] for i in range(f)), starts or None,
                                     rec.partition, offset))
        elif isinstance(step, Expire):
            newest: dict[str, list[int]] = {}  # the k of each entity's newest slot
            for e in entities.values():
                ks = [sl.k for sl in e.slots] + ([e.emitted] if e.emitted is not None else [])
                if ks:
                    newest.setdefault(e.partition, []).append(max(ks))
            if any(e.slots and any(not o.slots and o.emitted is None and
                                   o.partition == e.partition for o in entities.values())
                   for e in entities.values()):
                notes["expire_beside_slotless_entity"] += 1
            expired = 0
            for e in entities.values():
                if not e.slots:
                    continue
                recent = _percentile_90(newest[e.partition])  # slots in time order
                behind = {sl.k: (recent - sl.k) * s for sl in e.slots}  # exactly, in seconds
                if any(b == _exact(case.gap) for b in behind.values()):
                    notes["exactly_gap_behind"] += 1
                kept = [sl for sl in e.slots if not behind[sl.k] > _exact(case.gap)]
                expired += len(e.slots) - len(kept)
                if kept and len(kept) < len(e.slots):
                    notes["expired_some"] += 1
                e.slots = kept
            incomplete += expired
            notes["expired" if expired else "expire_nothing"] += 1
        elif isinstance(step, Forget):
            gone = entities.pop(step.entity, None)
            if gone is not None:
                incomplete += len(gone.slots)
                notes["forgot_with_open" if gone.slots else "forgot"] += 1
        elif isinstance(step, Revoke):
            for name in [n for n, e in entities.items() if e.partition in step.partitions]:
                notes["revoked_with_open" if entities[name].slots else "revoked"] += 1
                del entities[name]
        else:
            notes["rewound"] += 1
            entities.clear()
        pins: dict[str, int] = {}
        for e in entities.values():
            for sl in e.slots:
                pins[e.partition] = min(pins.get(e.partition, sl.offsets[0]), min(sl.offsets))
        observed.append((rows, evicted, expired, late, incomplete, len(entities), pins,
                         {n: slot_time(max(sl.k for sl in e.slots))
                          for n, e in entities.items() if e.slots},
                         sum(len(e.slots) for e in entities.values())))
    return observed


# -- the product, driven as serve's intake drives it ---------------------------------------


def product(case: Case) -> list[Observed]:
    asm = Assembler(case.n_features, case.seconds, max_entities=case.max_entities,
                    gap_seconds=case.gap, open_slots=case.open_slots)
    evicted: list[str] = []
    asm.on_evict = evicted.append
    observed: list[Observed] = []
    for step in case.steps:
        evicted.clear()
        rows: list[Row] = []
        expired: int | None = None
        if isinstance(step, Record):
            ev: Event | PartialEvent
            if step.whole:
                ev = Event(step.entity, step.ts, [step.values[i] for i in range(case.n_features)],
                           step.starts)
            else:
                ev = PartialEvent(step.entity, step.ts, dict(step.values), step.starts)
            done = asm.add(ev, step.partition, step.offset)
            if done is not None:
                whole, offset = done
                rows.append((whole.entity, whole.ts, tuple(whole.values), whole.starts,
                             step.partition, offset))
        elif isinstance(step, Expire):
            expired = asm.expire()
        elif isinstance(step, Forget):
            asm.forget(step.entity)
        elif isinstance(step, Revoke):
            asm.drop_partitions(step.partitions)
        else:
            asm.clear()
        observed.append((rows, list(evicted), expired, asm.late, asm.incomplete, len(asm),
                         dict(asm.pins()), asm.newest_open(), asm.waiting()))
    return observed


# -- the cases ----------------------------------------------------------------------------


def make_case(seed: int) -> Case:
    rng = random.Random(seed)
    f = rng.randint(1, 4)
    seconds = rng.choice([10.0, 10.0, 2.5, 1.0, 0.5, 0.1, 0.1])
    base = Fraction(1767225600) if rng.random() < 0.6 else Fraction(0)
    tenth = _exact(seconds) / 10  # times on a grid of tenths of a slot
    open_slots = rng.randint(1, 3)
    n_ent, n_part = rng.randint(1, 5), rng.randint(1, 3)
    max_entities = rng.randint(1, n_ent) if rng.random() < 0.5 else n_ent + rng.randint(0, 2)
    gap = float(_exact(seconds) * rng.choice([1, 2, 3, 5]))
    home = {f"e{i}": f"p{rng.randrange(n_part)}" for i in range(n_ent)}
    reading = {e: rng.randint(0, 3) for e in home}  # the slot of each entity's next reading
    # some entities send far less often: their open slots fall behind their partition's
    weights = [rng.choice([0.1, 1.0, 1.0, 3.0]) for _ in home]
    # and some never send one of the features: their slots never complete
    broken = {e: rng.randrange(f) for e in home if f > 1 and rng.random() < 0.3}
    with_starts = rng.random() < 0.3
    offsets = {f"p{i}": 0 for i in range(n_part)}
    pending: list[tuple[str, Fraction, dict[int, float], bool]] = []  # queued data points
    steps: list[Step] = []

    def value() -> float:
        return float(rng.randint(-3, 3)) if rng.random() < 0.5 else round(rng.uniform(-9, 9), 3)

    def queue_reading(e: str) -> None:
        k = reading[e]
        reading[e] += rng.choice([1, 1, 1, 2, 3, 8])  # 8: off for a while
        if rng.random() < 0.08:  # a whole record
            pending.append((e, base + (10 * k + rng.randrange(10)) * tenth,
                            {i: value() for i in range(f)}, True))
            return
        feats = list(range(f))
        rng.shuffle(feats)
        if rng.random() < 0.2:  # some never come
            feats = feats[:rng.randint(0, f - 1)]
        if e in broken and broken[e] in feats:
            feats.remove(broken[e])
        split = rng.random() < 0.15  # the collection straddles a boundary
        for i in feats:
            j = rng.randrange(10)
            if split:
                j = rng.choice([8, 9, 10, 11])
            pending.append((e, base + (10 * k + j) * tenth, {i: value()}, False))
            if rng.random() < 0.1:  # a corrected reading, or a resend
                pending.append((e, base + (10 * k + rng.randrange(10)) * tenth,
                                {i: value()}, False))
        if rng.random() < 0.05:  # the whole reading again, in one record
            pending.append((e, base + (10 * k + rng.randrange(10)) * tenth,
                            {i: value() for i in range(f)}, True))
        if f > 1 and rng.random() < 0.15 and feats:  # two features in one record
            pending.append((e, base + (10 * k + rng.randrange(10)) * tenth,
                            {i: value() for i in rng.sample(range(f), 2)}, False))

    for _ in range(rng.randint(10, 70)):
        r = rng.random()
        if r < 0.08:
            steps.append(Expire())
            continue
        if r < 0.1:
            steps.append(Forget(rng.choice(sorted(home) + ["nobody"])))
            continue
        if r < 0.115:
            steps.append(Revoke(frozenset(rng.sample(sorted(offsets), rng.randint(1, n_part)))))
            continue
        if r < 0.12:
            steps.append(Rewind())
            continue
        if rng.random() < 0.3:
            queue_reading(rng.choices(sorted(home), weights)[0])
        while not pending:
            queue_reading(rng.choices(sorted(home), weights)[0])
        # mostly in order, sometimes a data point from further back in the queue
        at = 0 if rng.random() < 0.7 else rng.randrange(len(pending))
        e, ts, values, whole = pending.pop(at)
        if rng.random() < 0.07:  # late: a point of a reading long gone
            ts -= rng.randint(10, 40) * tenth
        if rng.random() < 0.04:
            home[e] = f"p{rng.randrange(n_part)}"  # records not keyed by entity
        starts = None
        if with_starts and rng.random() < 0.8:
            starts = {i: float(rng.randint(1, 3)) for i in values if rng.random() < 0.7}
        part = home[e]
        steps.append(Record(e, float(max(ts, Fraction(0))), values, part, offsets[part],
                            starts, whole))
        offsets[part] += 1
    return Case(f, seconds, open_slots, max_entities, gap, steps)


def _explain(case: Case, want: list[Observed], got: list[Observed]) -> str:
    lines = [(f"F={case.n_features} S={case.seconds} open_slots={case.open_slots} "
              f"max_entities={case.max_entities} gap={case.gap}")]
    first = next((i for i, (a, b) in enumerate(zip(want, got, strict=True)) if a != b), 0)
    lines += [f"  {i:3d} {s}" for i, s in enumerate(case.steps[:first + 1])]
    lines.append(f"first difference after step {first}: (rows, evicted, expired, late, "
                 "incomplete, entities, pins, newest open, open slots)")
    lines.append(f"  docs:    {want[first]}")
    lines.append(f"  product: {got[first]}")
    return "\n".join(lines)


def check_seed(seed):
    case = make_case(seed)
    want, got = reference(case), product(case)
    assert got == want, _explain(case, want, got)


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, SEEDS), ids=block_id)
def test_the_assembler_keeps_the_documented_contract(seeds):
    each_seed(seeds, check_seed)


def test_the_cases_reach_every_rule():
    """The generator makes what the contract speaks of, each many times in 300 seeds: slots
    assembled from several records, times on a boundary, repeats (one dropping a start
    time), whole records (over a partial slot too), completions that drop older slots and
    keep newer ones, events carrying a newer slot's earlier offset, one open slot too many
    (the new one itself the oldest too), late records (for the emitted slot too),
    evictions (with open slots too) and returns, partition moves (with open slots; with a
    slot that would be late otherwise), expiry (of some of an entity's slots too),
    forgets, revokes and rewinds. A test of nothing would pass too."""
    notes: Counter[str] = Counter()
    for seed in range(300):
        reference(make_case(seed), notes)
    rules = ("assembled", "on_boundary", "repeat", "repeat_drops_start", "whole",
             "whole_over_partial", "completion_drops_older", "completed_with_newer_open",
             "offset_of_newer", "starts", "too_many_open", "opened_dropped_at_once", "late",
             "late_same_slot", "evicted", "evicted_with_open", "returned", "moved",
             "moved_with_open", "moved_not_late", "expired", "expired_some", "forgot",
             "forgot_with_open", "revoked", "revoked_with_open", "rewound",
             "expire_beside_slotless_entity", "exactly_gap_behind")
    assert all(notes[rule] >= 5 for rule in rules), {r: notes[r] for r in rules}
