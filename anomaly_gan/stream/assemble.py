"""Events from records that each carry some of the model's features (pure: no Kafka, no
clock): ``serve.assemble_seconds``, between the parser and the window state, for ``serve``
and ``retrain``'s topic range alike.

A sensor or an agent often sends one record per measurement: a pump's temperature, then its
rpm; Telegraf a host's ``cpu`` record, then its ``mem`` record of the same tick. With
``assemble_seconds = S`` each record's time is put in a *slot*, ``floor(ts / S) * S``, and
per entity the values of one slot are gathered; once every feature of the model has come,
the slot is one :class:`~anomaly_gan.stream.events.Event` (stamped with the slot's time,
values in model order), pushed to the windows exactly as a whole record would be.

- **Repeats.** A feature sent twice within an open slot keeps the value of the record read
  later (whatever their times within the slot): a corrected reading replaces the first one,
  and a replay of the same records decides it again the same way. A value's start time (an
  OTLP cumulative sum's, :attr:`~anomaly_gan.stream.events.Event.starts`) goes with it.
- **Order.** Events leave in time order per entity. At most ``open_slots`` (2) slots of an
  entity are open: opening a further one drops the oldest, and a slot that completes drops
  every older open slot; each dropped slot is counted in :attr:`Assembler.incomplete`. A
  record for a slot no newer than the entity's last emitted one is *late* (counted in
  :attr:`Assembler.late`, dropped).
- **Offsets.** An event carries the offset of the earliest record that made it, or of an
  open newer slot's earliest record where that is earlier (then the offsets an entity's
  events carry never go down, which the window state's commit rule needs); an open slot pins
  its earliest record (:meth:`Assembler.pins`), so a replay from a commit rebuilds it.
- **Memory.** At most ``max_entities`` entities are held (the least recently seen one is
  evicted: forgotten, its open slots counted as incomplete, and :attr:`Assembler.on_evict`
  told, so that the window state evicts it too and it starts afresh there). An open slot more than ``gap_seconds``
  behind its partition's recent entities (the 90th percentile of their newest slots, as the
  window state's commit rule reads them) is dropped by :meth:`Assembler.expire`: a sensor
  that went silent half-way through a slot does not hold the commits back.

>>> from anomaly_gan.stream.events import PartialEvent
>>> asm = Assembler(n_features=2, seconds=10.0, max_entities=100, gap_seconds=300.0)
>>> asm.add(PartialEvent("pump-7", 12.0, {0: 71.2}), "p0", 5) is None
True
>>> asm.pins()
{'p0': 5}
>>> asm.add(PartialEvent("pump-7", 14.0, {1: 1500}), "p0", 6)
(Event(entity='pump-7', ts=10.0, values=[71.2, 1500]), 5)
>>> asm.pins(), asm.add(PartialEvent("pump-7", 19.0, {0: 70.0}), "p0", 7), asm.late
({}, None, 1)
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from fractions import Fraction
from typing import Any

from anomaly_gan.config import ServeConfig
from anomaly_gan.data.windows import more_than_apart
from anomaly_gan.stream.events import Event, PartialEvent

__all__ = ["OPEN_SLOTS", "Assembler", "assembler_from_config"]

OPEN_SLOTS = 2  # open slots per entity: one being completed, the next one starting


class _Slot:
    """The values of one entity's slot gathered so far."""

    __slots__ = ("missing", "offset", "starts", "ts", "values")

    def __init__(self, ts: float, n_features: int, offset: int) -> None:
        self.ts = ts
        self.values: list[Any] = [None] * n_features  # None: not come yet
        self.missing = n_features
        self.offset = offset  # the earliest record that contributed
        # the start times of the values kept (an OTLP cumulative sum's); None: none yet
        self.starts: dict[int, float] | None = None


class _Entity:
    __slots__ = ("emitted", "partition", "slots")

    def __init__(self, partition: Hashable) -> None:
        self.partition = partition
        self.emitted = -math.inf  # time of the last slot emitted
        self.slots: list[_Slot] = []  # open, oldest first

    @property
    def newest(self) -> float:
        return self.slots[-1].ts if self.slots else self.emitted


class Assembler:
    """Gathers an entity's partial records into whole events; see the module docstring."""

    def __init__(self, n_features: int, seconds: float, *, max_entities: int,
                 gap_seconds: float, open_slots: int = OPEN_SLOTS) -> None:
        if n_features < 1 or not seconds > 0 or max_entities < 1 or open_slots < 1:
            raise ValueError("n_features, seconds, max_entities and open_slots must be > 0")
        self.n_features = int(n_features)
        self.seconds = float(seconds)
        self.max_entities = int(max_entities)
        self.gap_seconds = float(gap_seconds)
        self.open_slots = int(open_slots)
        # S as the decimal it was written as (0.1 is 1/10, not the float nearest it): the
        # slots' times are the floats nearest k * S, which a time on a boundary parses to
        exact = Fraction(repr(self.seconds))
        self._num, self._den = exact.numerator, exact.denominator
        self._entities: OrderedDict[str, _Entity] = OrderedDict()  # least recently seen first
        # Running totals, exported as anomaly_gan_events_late_total and
        # anomaly_gan_events_incomplete_total.
        self.late = 0
        self.incomplete = 0
        # told of each entity evicted to respect max_entities (the scorer's intake, retrain's
        # segments: its window goes too, counted as an eviction there). Until 2026-12-06 the
        # windows kept it: the assembler no longer knew which slot it had emitted last, and
        # a resend of that reading went into the window again as a repeated row
        # (tests/stream/test_assemble.py)
        self.on_evict: Callable[[str], None] | None = None

    def __len__(self) -> int:
        return len(self._entities)

    def add(self, ev: Event | PartialEvent, partition: Hashable,
            offset: int) -> tuple[Event, int] | None:
        """Gather one record's values (a whole record's too: its slot then completes at
        once); returns the event its slot became, with the offset to push it with, or None
        while the slot waits for features (or the record was late)."""
        ts = self.slot_of(ev.ts)
        entity = ev.entity
        ent = self._entities.get(entity)
        if ent is None:
            if len(self._entities) >= self.max_entities:
                victim = next(iter(self._entities))  # the least recently seen
                self.forget(victim)
                if self.on_evict is not None:
                    self.on_evict(victim)
            ent = self._entities[entity] = _Entity(partition)
        else:
            self._entities.move_to_end(entity)
            if ent.partition != partition:
                # Moved partition (records not keyed by entity): the window state restarts its
                # window; the slots gathered on the other partition cannot pin its offsets.
                self.incomplete += len(ent.slots)
                ent.slots.clear()
                ent.partition, ent.emitted = partition, -math.inf
        if ts <= ent.emitted:
            self.late += 1
            return None
        slot = self._slot(ent, ts, offset)
        if slot is None:
            return None
        values = slot.values
        missing = slot.missing
        items = ev.values.items() if type(ev) is PartialEvent else enumerate(ev.values)
        for i, v in items:  # type: ignore[attr-defined]
            if values[i] is None:
                missing -= 1
            values[i] = v  # a repeat: the later value wins
        if ev.starts is not None or slot.starts is not None:
            _keep_starts(slot, ev)
        slot.missing = missing
        if missing:
            return None
        # Complete: older open slots can no longer be emitted in time order.
        k = ent.slots.index(slot)
        self.incomplete += k
        rest = ent.slots[k + 1:]
        ent.slots = rest
        ent.emitted = ts
        pushed = min([slot.offset, *(later.offset for later in rest)])
        return Event(entity, ts, values, slot.starts), pushed

    def slot_of(self, ts: float) -> float:
        """The time of ``ts``'s slot: the float nearest ``k * S`` for the largest ``k`` whose
        float is at most ``ts``. ``floor(ts / S) * S`` in floats put a time on a boundary
        (``.3`` with S = 0.1) in the slot before one time in five, and stamped two slots
        in five a float off their time (until 2026-12-06).

        >>> Assembler(1, 0.1, max_entities=1, gap_seconds=1.0).slot_of(1767225600.3)
        1767225600.3
        """
        k = math.floor(ts / self.seconds)
        num, den = self._num, self._den
        while (k + 1) * num / den <= ts:  # int / int: correctly rounded
            k += 1
        while k * num / den > ts:
            k -= 1
        return k * num / den

    def _slot(self, ent: _Entity, ts: float, offset: int) -> _Slot | None:
        """The open slot at ``ts``, opened if need be (None: it would be the oldest of more
        than ``open_slots``, so it is dropped at once)."""
        slots = ent.slots
        for slot in slots:
            if slot.ts == ts:
                slot.offset = min(slot.offset, offset)
                return slot
        slot = _Slot(ts, self.n_features, offset)
        at = len(slots)
        while at and slots[at - 1].ts > ts:
            at -= 1
        slots.insert(at, slot)
        if len(slots) > self.open_slots:
            self.incomplete += 1
            if slots.pop(0) is slot:
                return None
        return slot

    # ------------------------------------------------------------------ offsets, memory

    def pins(self) -> dict[Hashable, int]:
        """Per partition, the earliest record that an open slot still needs."""
        out: dict[Hashable, int] = {}
        for ent in self._entities.values():
            for slot in ent.slots:
                p = ent.partition
                if slot.offset < out.get(p, slot.offset + 1):
                    out[p] = slot.offset
        return out

    def newest_open(self) -> dict[str, float]:
        """Entity -> the time of its newest open slot, for the entities with one: data of
        it the windows have not seen yet (their commit rule must not take it for idle)."""
        return {e: ent.slots[-1].ts for e, ent in self._entities.items() if ent.slots}

    def waiting(self) -> int:
        """How many slots are open (waiting for features)."""
        return sum(len(ent.slots) for ent in self._entities.values())

    def expire(self) -> int:
        """Drop (as incomplete) every open slot more than ``gap_seconds`` behind its
        partition's recent entities: the 90th percentile of their newest slots (of ``n``
        sorted, the one at ``floor(0.9 * (n - 1))``), not the newest one, so that no single
        entity's clock decides; an entity with no slot at all has no time. Returns how
        many."""
        times: dict[Hashable, list[float]] = {}
        for ent in self._entities.values():
            # an entity with no slot at all (its open ones expired before one completed)
            # has no time: until 2026-12-07 it counted as -inf and pulled the percentile down
            if ent.slots or ent.emitted > -math.inf:
                times.setdefault(ent.partition, []).append(ent.newest)
        recent = {p: sorted(t)[int(0.9 * (len(t) - 1))] for p, t in times.items()}
        # "more than" with the times and gap_seconds as written, as the window state's gap
        # and idle rules: floats made 1767225600.4 - 0.1 more than 1767225600.3, and
        # dropped a slot exactly gap_seconds behind (until 2026-12-07)
        gap = self.gap_seconds
        dropped = 0
        for ent in self._entities.values():
            if ent.slots and more_than_apart(now := recent[ent.partition], ent.slots[0].ts, gap):
                kept = [slot for slot in ent.slots if not more_than_apart(now, slot.ts, gap)]
                dropped += len(ent.slots) - len(kept)
                ent.slots = kept
        self.incomplete += dropped
        return dropped

    def forget(self, entity: str) -> None:
        """Forget ``entity`` (evicted, here or from the windows): its open slots are lost,
        counted as incomplete."""
        ent = self._entities.pop(entity, None)
        if ent is not None:
            self.incomplete += len(ent.slots)

    def drop_partitions(self, partitions: Iterable[Hashable]) -> None:
        """Forget the entities of ``partitions`` (revoked: their records will be read again
        by whichever consumer gets them, so nothing is counted)."""
        gone = set(partitions)
        for entity in [e for e, ent in self._entities.items() if ent.partition in gone]:
            del self._entities[entity]

    def clear(self) -> None:
        """Forget everything (the scorer rewinds to its last commit and reads again)."""
        self._entities.clear()


def _keep_starts(slot: _Slot, ev: Event | PartialEvent) -> None:
    """The start times of ``ev``'s values replace those of the values they replace in
    ``slot`` (a value without one leaves none)."""
    given = ev.starts or {}
    starts = slot.starts if slot.starts is not None else {}
    keys = ev.values.keys() if type(ev) is PartialEvent else range(len(ev.values))
    for i in keys:  # type: ignore[union-attr]
        start = given.get(i)
        if start is None:
            starts.pop(i, None)
        else:
            starts[i] = start
    slot.starts = starts or None


def assembler_from_config(n_features: int, serve: ServeConfig) -> Assembler | None:
    """The assembler of ``serve.assemble_seconds`` (None when 0: records are whole events),
    for the scorer's intake and ``retrain``'s topic range alike."""
    if not serve.assemble_seconds:
        return None
    w = serve.windows
    return Assembler(n_features, serve.assemble_seconds, max_entities=w.max_entities,
                     gap_seconds=w.gap_seconds)
