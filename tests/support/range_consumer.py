"""A stand-in for kafka-python's ``KafkaConsumer`` as a retrain's topic range uses it
(``anomaly_gan/retrain/source.py``: ``partitions_for_topic``, ``topics``,
``offsets_for_times``, ``beginning_offsets``, ``assign``, ``seek``, ``poll``, ``pause``, ``end_offsets``,
``highwater``, ``position``, ``close``), over partitions held in memory.

What it keeps of the real client (kafka-python 3.0), since a fix that holds only against
the fake is no fix:

- ``beginning_offsets``: per partition its first offset left (after retention), or its end
  offset where none is left.
- ``offsets_for_times``: per partition the earliest offset whose record timestamp is at or
  after the time (an ``OffsetAndTimestamp``), ``None`` where there is none (an empty
  partition, or every record stamped before it); records are in offset order, their
  timestamps in any order (CreateTime: what the producer stamped).
- offsets need not be consecutive (a compacted partition); its last record is never
  compacted away (the active segment), so the end offset is the last offset + 1.
- ``poll`` returns at most ``max_poll_records`` records, from some of the fetchable (assigned,
  not paused, positioned) partitions, in offset order from each one's position, and
  sometimes nothing for a partition that still has records (its fetch has not come back);
  the position moves past what was returned. ``highwater`` is the end offset the last fetch
  of the partition saw (None before one).
- a partition may grow while it is read: ``grow`` appends records after a given poll, and
  ``live`` one after every poll (a producer that never stops: a read that follows it is
  stopped by an assertion after ``max_polls``).
- retention may delete a partition's oldest records while it is read (``truncate``): a
  fetch from a position before its first offset left is OFFSET_OUT_OF_RANGE, and the
  position is reset as ``auto_offset_reset`` says (``config``, as the consumer was built
  with it: kafka-python's default is latest, the partition's end; earliest, its first
  offset left), as is that of an assigned partition that was never sought.
- built through :meth:`built` in place of ``kafka.KafkaConsumer``, it holds the settings
  the code under test gave the real client in ``config``.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from typing import Any

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import OffsetAndTimestamp


@dataclass
class Stored:
    """One record of a partition: its offset, Kafka timestamp (ms) and value."""

    offset: int
    timestamp_ms: int
    value: bytes


@dataclass
class RangeConsumer:
    topic: str
    partitions: dict[int, list[Stored]]
    rng: random.Random
    max_poll_records: int = 500
    # poll number (1-based) -> records appended to a partition after that poll
    grow: dict[int, list[tuple[int, Stored]]] = field(default_factory=dict)
    # partition -> the value of a record its live producer writes at every poll, stamped
    # ``live_stamp_ms`` (a topic still being written while it is read)
    live: dict[int, bytes] = field(default_factory=dict)
    live_stamp_ms: int = 0
    max_polls: int = 20_000  # a read still polling then follows a live topic for ever
    # an empty partition's end offset (its records deleted by retention): 0 where not given
    empty_ends: dict[int, int] = field(default_factory=dict)
    # poll number (1-based) -> (partition, its first offset kept): retention deletes the
    # records before it after that poll
    truncate: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=lambda: {"bootstrap_servers": ["fake:9092"]})
    polls: int = 0
    closed: bool = False
    _positions: dict[Any, int] = field(default_factory=dict)
    _highwaters: dict[Any, int] = field(default_factory=dict)
    _assigned: list[Any] = field(default_factory=list)
    _paused: set[Any] = field(default_factory=set)

    def _records(self, tp: Any) -> list[Stored]:
        assert tp.topic == self.topic, tp
        return self.partitions[tp.partition]

    def _end(self, tp: Any) -> int:
        recs = self._records(tp)
        return recs[-1].offset + 1 if recs else self.empty_ends.get(tp.partition, 0)

    # ------------------------------------------------------------------ metadata

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return set(self.partitions) if topic == self.topic else None

    def topics(self) -> set[str]:
        return {self.topic}

    # ------------------------------------------------------------------ offsets

    def offsets_for_times(self, timestamps: dict[Any, int]) -> dict[Any, Any]:
        out = {}
        for tp, ms in timestamps.items():
            hit = next((r for r in self._records(tp) if r.timestamp_ms >= ms), None)
            out[tp] = None if hit is None else OffsetAndTimestamp(hit.offset, hit.timestamp_ms, -1)
        return out

    def beginning_offsets(self, tps: list[Any], timeout_ms: int | None = None
                          ) -> dict[Any, int]:
        return {tp: recs[0].offset if (recs := self._records(tp)) else self._end(tp)
                for tp in tps}

    def end_offsets(self, tps: list[Any], timeout_ms: int | None = None) -> dict[Any, int]:
        return {tp: self._end(tp) for tp in tps}

    def highwater(self, tp: Any) -> int | None:
        return self._highwaters.get(tp)

    def position(self, tp: Any, timeout_ms: int | None = None) -> int:
        assert tp in self._assigned, f"position of {tp}, not assigned"
        if tp not in self._positions:
            self._reset(tp)
        return self._positions[tp]

    def _reset(self, tp: Any) -> None:
        """Move ``tp`` as ``auto_offset_reset`` says (kafka-python's default: latest)."""
        if self.config.get("auto_offset_reset", "latest") == "earliest":
            recs = self._records(tp)
            self._positions[tp] = recs[0].offset if recs else self._end(tp)
        else:
            self._positions[tp] = self._end(tp)

    def built(self, **config: Any) -> RangeConsumer:
        """This consumer, as ``kafka.KafkaConsumer(**config)`` would be configured."""
        self.config = {**self.config, **config}
        return self

    # ------------------------------------------------------------------ reading

    def assign(self, tps: list[Any]) -> None:
        self._assigned = list(tps)
        self._positions = {}
        self._paused = set()

    def assignment(self) -> set[Any]:
        return set(self._assigned)

    def seek(self, tp: Any, offset: int) -> None:
        assert tp in self._assigned, f"seek on {tp}, not assigned"
        self._positions[tp] = int(offset)

    def pause(self, *tps: Any) -> None:
        self._paused.update(tps)

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Any]]:
        self.polls += 1
        budget = min(max_records or self.max_poll_records, self.max_poll_records)
        fetchable = [tp for tp in self._assigned if tp not in self._paused]
        self.rng.shuffle(fetchable)
        out: dict[Any, list[Any]] = {}
        for tp in fetchable:
            if budget <= 0:
                break
            if self.rng.random() < 0.25:  # this partition's fetch has not come back yet
                continue
            pos = self.position(tp)
            recs = self._records(tp)
            if recs and pos < recs[0].offset:  # deleted by retention: OFFSET_OUT_OF_RANGE
                self._reset(tp)
                continue
            self._highwaters[tp] = self._end(tp)
            at = bisect.bisect_left(recs, pos, key=lambda r: r.offset)
            take = recs[at:at + min(budget, self.rng.randint(1, max(1, budget)))]
            if not take:
                continue
            budget -= len(take)
            self._positions[tp] = take[-1].offset + 1
            out[tp] = [ConsumerRecord(tp.topic, tp.partition, -1, r.offset, r.timestamp_ms, 0,
                                      None, r.value, [], None, -1, len(r.value), -1)
                       for r in take]
        for part, first in self.truncate.pop(self.polls, []):
            kept = [r for r in self.partitions[part] if r.offset >= first]
            if not kept:  # the end offset stays where it was
                self.empty_ends[part] = self._end(TopicPartition(self.topic, part))
            self.partitions[part][:] = kept
        for part, rec in self.grow.pop(self.polls, []):
            self.partitions[part].append(rec)
        for part, value in self.live.items():
            end = self._end(TopicPartition(self.topic, part))
            self.partitions[part].append(Stored(end, self.live_stamp_ms, value))
        assert self.polls < self.max_polls, f"still reading after {self.polls} polls"
        return out

    def close(self, autocommit: bool = True, timeout_ms: int | None = None) -> None:
        self.closed = True


