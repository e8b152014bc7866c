"""Randomized differential test of consumer-group rebalances with ``serve.windows.max_entities``
for a logs model: two or three scorers of one group read the log records of 2-3 partitions,
partitions are revoked and assigned during the run (moved, eager, or revoked while the loop
is busy: tests/stream/test_rebalance_fuzz.py's ``Group``), and each member holds fewer
entity places than there are entities.

Each member's least-recently-seen order is simulated from the lines it counted, in the order
it counted them (``Held``: tests/logs/test_eviction_fuzz.py's ``Stretches``, which simulates
one scorer's), with the gap rule's let-gos taken out of it, and a revoke's drop (the
intake's ``drop_partitions``: the windows', then ``LogFeed.drop_partitions``; when the
scorer applies it, at once or at the next poll after a busy revoke) taking out every entity
whose latest line came from a dropped partition (docs/streaming.md, Consumer groups: "on
revoke ... drops their entities"; "on assign, windows start empty"). Checked after every
line and drop: the member holds the entities simulated and counted the evictions; and after
the run, each revoke dropped what its member had read of its partitions, its windows hold
none but the entities it holds, and ``anomaly_gan_entity_score`` shows none but those
(docs/streaming.md, Metrics: "an entity's series goes when its window does (evicted, revoked
...)"; as the sensor variant, tests/stream/test_rebalance_fuzz.py's ``evicting``).

With failed deliveries (``fail``: that share of alert and score records is not delivered,
``Member.send``), a replay's rewind drops every entity its member holds (docs/streaming.md,
Failed deliveries: "drops what it read"), what each member produced is compared,
delivered or not (``Member.tried``), and every record not delivered is read again from no
later than the first line of the bucket that ends its window (``reread``).

A stretch is an entity's lines counted by one member from its first line after an
assignment, an eviction or a replay to its eviction, the drop of its partition or a
replay. Each stretch is
scored by ``score`` (``score_log_events``) of the lines the member counted from that
partition in that assignment, each line named after its stretch: its rows are a prefix of
``score``'s (the rest from the bucket open at the eviction or drop; per N lines all of
them: ``score`` leaves the partial last bucket out), its windows, scores and flags equal, its alerts debounced series by series,
its alert templates among ``score``'s. A stray first or last line of an assignment's lines
(more than ``logs.gap_seconds`` from the others: a member that read a partition from just
before or up to just after a silence of every entity) is left out of a file by ``score``
and counted by ``serve`` (docs/logs.md, Offline), whose buckets then apply the gap rule to
it as to any line: ``score`` of such an assignment's lines counts it too
(``counting_strays``). Until 2026-12-06 those stretches were not compared (47 of 4,481 in
seeds 8000-8199 with time buckets, 175 of 6,866 with failed deliveries in 8500-8699);
leaving the stray out of the expectation fails 8 of seeds 8000-8099.

``LOGS_REBALANCE_FUZZ_SEEDS`` runs more seeds per mode and test (default 3; the search of
2026-12-06 ran 400 seeds per mode without failed deliveries and 300 with: no mismatch;
with the stray lines compared, ``reread`` and the entities held at the end, 400 without,
200 with 5% and 200 with 10% not delivered: no mismatch after the two harness fixes that
``reread`` describes);
``LOGS_REBALANCE_FUZZ_SEED_START`` sets the first (default 8000; with failed deliveries
500 more).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest

from anomaly_gan.logs import offline
from anomaly_gan.logs.offline import load_log_model, time_order
from tests.stream.replay_checks import ALERTS
from tests.support import logs_fuzz
from tests.support.logs_eviction import Stretches, check_evictions_counted, compare_by_stretch
from tests.support.rebalance import rebalanced
from tests.support.stream_fakes import Clock

SEEDS = int(os.environ.get("LOGS_REBALANCE_FUZZ_SEEDS", "3"))
START = int(os.environ.get("LOGS_REBALANCE_FUZZ_SEED_START", "8000"))


class Held(Stretches):
    """One member's least-recently-seen order, simulated beside its scorer (see the module
    docstring): test_eviction_fuzz.py's ``Stretches``, with the partition of each entity's
    latest line (``latest``), each revoke's drop and each replay's rewind ending the
    stretches of the entities they take, each assignment's lines apart (``lines``), and what
    the checks after the run need (``done``, ``closed``, ``revoked``)."""

    def __init__(self, sc: Any, io: Any, member: int, limit: int) -> None:
        super().__init__(sc, limit)
        self.io, self.member = io, member
        self.latest: dict[str, Any] = {}  # entity -> partition of its latest line counted
        # each line counted and each drop applied, in order: (length of the group's log then,
        # its partition, or the drop's partitions)
        self.done: list[tuple[int, int | set[int]]] = []
        self.drops = self.replays = 0
        self.assignment: dict[Any, int] = {}  # partition -> its assignment (drops so far)
        # (Group.sends and len(Group.reads) then, entity, row end, partition and offset of
        # its replay point) of each row closed: what a window ending at that row needs read
        # again (``reread``)
        self.closed: list[tuple[int, int, str, float, Any, int]] = []
        self.revoked: list[tuple[int, int, set]] = []  # (the same, partitions) of each revoke
        feed = self.feed
        drop = sc.intake.drop_partitions  # the windows' drop, then the feed's

        def dropped(partitions):
            partitions = set(partitions)
            self.done.append((len(io.group.log), {p.partition for p in partitions}))
            self.drops += 1
            for entity, p in self.latest.items():
                if p not in partitions or entity in self.ended:
                    continue
                if entity in self.held:
                    del self.held[entity]
                    self.note_open(entity)
                self.ended.add(entity)
            for p in partitions:
                self.assignment[p] = self.assignment.get(p, 0) + 1
            out = drop(list(partitions))
            if set(feed._where) != set(self.held):
                self.wrong.append(("drop", sorted(p.partition for p in partitions),
                                   list(feed._where), list(self.held)))
            return out

        clear = sc.intake.clear

        def cleared():  # a replay's rewind (a failed delivery): every entity goes
            for entity in self.latest:
                if entity in self.held:
                    self.note_open(entity)
                self.ended.add(entity)
            self.held.clear()
            for p in set(self.latest.values()):
                self.assignment[p] = self.assignment.get(p, 0) + 1
            self.done.append((len(io.group.log), {p.partition for p in self.latest.values()}))
            self.replays += 1
            clear()
            if feed._where:
                self.wrong.append(("replay", list(feed._where)))

        on_revoked = sc.on_revoked

        def revoked(partitions):
            self.revoked.append((io.group.sends, len(io.group.reads), set(partitions)))
            return on_revoked(partitions)

        sc.on_revoked = revoked
        sc.intake.drop_partitions, sc.intake.clear = dropped, cleared

    def name(self, entity: str) -> str:
        return f"{entity}~{self.member}.{self.stretch[entity]}"

    def line_key(self, partition: Any) -> tuple[Any, int]:
        return partition, self.assignment.get(partition, 0)

    def after_line(self, partition: Any, offset: int, closed: list) -> None:
        group = self.io.group
        self.done.append((len(group.log), partition.partition))
        group.reads.append((group.sends, partition, offset))
        self.closed.extend((group.sends, len(group.reads), r.entity, r.end_ts,
                            *self.feed.origin(r)) for r in closed)

    def see(self, entity: str, partition: Any) -> int:
        self.latest[entity] = partition
        return super().see(entity, partition)


def scored_by_stretch(det, lines: dict[tuple, list], gap: float):
    """Per stretch: ``score``'s rows and windows of each assignment's lines, each named
    after its stretch, counted as ``serve`` counted them: a stray first or last line of an
    assignment's lines (more than ``logs.gap_seconds`` from the others; ``score`` leaves it
    out of a file, docs/logs.md, Offline) is counted (``counting_strays``); and the stretches
    of assignments with one."""
    model = load_log_model(det)
    rows: dict[str, list] = {}
    out: dict[str, list] = {}
    strays: set[str] = set()
    series = itertools.count(1)
    for key in sorted(lines, key=lambda k: (k[0].partition, k[1])):
        renamed = [replace(ev, entity=n) for ev, n in lines[key]]
        if det.config.logs.bucket_seconds is not None and time_order(
                [ev.ts for ev in renamed], gap)[2]:
            strays |= {ev.entity for ev in renamed}
        with counting_strays():
            scored = logs_fuzz.scored_runs(det, model, renamed)
        logs_fuzz.add_runs(det, scored, rows, out, series)
    return rows, out, strays


@contextmanager
def counting_strays() -> Iterator[None]:
    """``score`` counting a stray first or last line as ``serve`` does: it counts every
    line as it comes, and the same buckets (``CountBuckets``) then apply the gap rule to it
    (the stray's entity is forgotten after ``logs.gap_seconds`` of silence and starts a new
    series; the watermark moves to a line far ahead only once other lines corroborate it).
    ``score``'s time order leaves such a line out only where ``gap_seconds`` separates it
    (``offline._time_order``): with no gap that far, none is a stray."""
    real = offline._time_order

    def no_strays(times, gap_seconds, not_after):
        return real(times, math.inf, not_after)

    with mock.patch.object(offline, "_time_order", no_strays):
        yield


def compare_member(s, mode: str, st: Held, m, where: tuple) -> dict[str, int]:
    where = (*where, st.member)
    check_evictions_counted(st, where)
    reg = st.sc.metrics.registry
    # the windows hold only entities the member holds, and a series goes with its window
    # (docs/streaming.md, Metrics: "an entity's series goes when its window does (evicted,
    # revoked ...)")
    entities = {e for e in st.latest if e in st.sc.state}
    assert entities <= set(st.held), (where, entities - set(st.held))
    shown = {x.labels["entity"] for metric in reg.collect()
             if metric.name == "anomaly_gan_entity_score" for x in metric.samples}
    assert shown <= entities, (where, shown - entities)
    still_open = {st.name(e): ob for b in st.feed._buckets.values() for e, ob in b._open.items()
                  if e in st.held}
    file_rows, file_windows, strays = scored_by_stretch(s.det, st.lines, logs_fuzz.GAP)
    produced = SimpleNamespace(sent=m.tried)  # delivered or not (Member.send)
    live_windows = logs_fuzz.windows(produced)
    sent = logs_fuzz.alerts(produced)
    compare_by_stretch(s, mode, st, (file_rows, file_windows), still_open, live_windows, sent,
                       where)
    return {"windows": sum(map(len, live_windows.values())), "shown": len(shown),
            "held_at_end": len(entities),
            "alerts": sum(a["status"] == "firing" for a in sent), "evicted": st.evicted,
            "drops": st.drops, "replays": st.replays, "with_stray": len(strays),
            "stretches": len(file_rows)}


def compare_group(fmt: str, mode: str, seed: int, tmp_path, fail: float = 0.0
                  ) -> dict[str, int]:
    s, rng = logs_fuzz.stream(fmt, mode, seed, tmp_path,
                              partitions=random.Random(seed).randint(2, 3), evicting=True,
                              debounced=seed % 2 == 1)
    sims: dict[Any, Held] = {}
    taken: list[tuple[int, tuple]] = []  # (Group.sends then, what) of each record delivered

    def make(io):
        sc = logs_fuzz.scorer(s.det, s.tolerance, io, s.max_entities, s.alerts, Clock(),
                              entity_labels_top_n=1000)
        sims[io] = Held(sc, io, len(sims), s.max_entities)
        send = io.send

        def sending(topic, value, key=None, headers=None, on_error=None):
            before = len(io.sent)
            send(topic, value, key, headers, on_error)
            if len(io.sent) > before and topic in (ALERTS, "scores"):
                taken.append((io.group.sends, produced(value)))

        io.send = sending
        return sc

    group = rebalanced(s.parts, make, rng, fail)
    for m in group.members:  # a busy revoke at the end: its drop is the next poll's work
        if m.scorer._revoked:
            with m.scorer._loop_lock:
                m.scorer._apply_rebalance()
                m.scorer._score_batch()
    where = (fmt, mode, seed, s.max_entities, s.tolerance, s.alerts, fail, group.log)
    for i, m in enumerate(group.members):  # each revoke dropped what its member read of its
        done = sims[m].done  # partitions (at once, or at the next poll after a busy revoke)
        for k, e in enumerate(group.log):
            for p in e[2] if e[0] == "revoke" and e[1] == i else ():
                read = [j for j, (at, what) in enumerate(done) if at <= k and what == p]
                assert not read or any(isinstance(what, set) and p in what
                                       for _, what in done[read[-1]:]), (where, i, k, p)
    seen: dict[str, int] = {"failed": sum(len(m.failed) for m in group.members)}
    for m in group.members:
        for k, v in compare_member(s, mode, sims[m], m, where).items():
            seen[k] = seen.get(k, 0) + v
    seen["reread"], seen["delivered_before"] = reread(where, group, sims, taken)
    return seen


def produced(value: bytes) -> tuple[str, str, float]:
    """An alert, resolution or score record's entity, status and window end."""
    r = json.loads(value)
    return r["entity"], r.get("status", "score"), r.get("window_end_ts", r.get("resolved_at_ts"))


def reread(where: tuple, group: Any, sims: dict[Any, Held], taken: list[tuple[int, tuple]]
           ) -> tuple[int, int]:
    """Every alert, resolution and score record that a member produced and the broker did
    not take is read again: after it was produced, some member reads its partition again
    from no later than the first line of the bucket that ends its window (the row's replay
    point, ``LogFeed.origin``: for an empty bucket the first line of the entity's last
    bucket with lines), as tests/stream/test_rebalance_fuzz.py's ``reread`` asks of sensor
    records (docs/streaming.md, Failed deliveries: the loop "drops what it read since the
    last commit and ... re-reads it"; a revoke then "commits nothing, and the new owner reads
    from the last commit"). The commits stay behind that line while its bucket is open
    (``LogFeed.pins``), and a commit after the window was scored waits for its delivery.
    Of the rows of the entity that the member closed before the record, with the window's
    end, the latest is the window's (per N lines several buckets may end at one time: the
    latest has the latest replay point, so the check is never stricter than the truth).

    A record produced after its partition was revoked from the member (revoked while the
    loop was busy, it finishes the batch it holds: seed 8137 with 5% not delivered) is read
    again by the new owner from the last commit, which may be before the record was
    produced: a read after the revoke counts then. Not asked of a record the broker took
    (``taken``) before it was produced: a member that read its partition again from an
    offset its group had committed past (a commit computed before a rebalance lands after
    the new assignment read its position: seed 8661) makes the windows it had delivered
    again, and its replay after one of those fails starts from that commit, past them, as
    it should. Returns how many records were not delivered, and how many of them were not
    read again but had been delivered."""
    missed = []
    before = 0
    for m in group.members:
        for seq, (_, _, value, _) in zip(m.failed_at, m.failed, strict=True):
            entity, _, end = what = produced(value)  # seq: Group.sends just after
            rows = [(read, tp, offset) for at, read, e, row_end, tp, offset in sims[m].closed
                    if at < seq and e == entity and row_end == end]
            assert rows, (where, what)
            read, tp, offset = rows[-1]
            # reads (their index in Group.reads) after the revoke of tp from m that came
            # after the row was closed and before the record was produced
            gone = min((k for at, k, tps in sims[m].revoked
                        if tp in tps and read <= k and at < seq), default=None)
            if any(at >= seq and p == tp and o <= offset for at, p, o in group.reads) or (
                    gone is not None and any(p == tp and o <= offset
                                             for _, p, o in group.reads[gone:])):
                continue
            if any(at < seq and w == what for at, w in taken):
                before += 1
            else:
                missed.append((*what, tp.partition, offset))
    assert not missed, (where, missed)
    return sum(len(m.failed) for m in group.members), before


def fuzz(mode: str, tmp_path, start: int, fail: float = 0.0) -> dict[str, int]:
    seen: dict[str, int] = {}
    formats = ["regex", "json", "otlp_json", "otlp_proto"]
    for seed in range(start, start + SEEDS):
        got = compare_group(formats[seed % len(formats)], mode, seed, tmp_path, fail)
        for k, v in got.items():
            seen[k] = seen.get(k, 0) + v
    return seen


@pytest.mark.parametrize("mode", ["time", "lines"])
def test_each_stretch_a_member_held_between_rebalances_and_evictions_scores_alone(
        mode, tmp_path):
    seen = fuzz(mode, tmp_path, START)
    # it compared something: windows, evictions, partitions dropped on revoke, and the
    # entities held at the end
    assert seen["windows"] > 0 and seen["evicted"] > 0 and seen["drops"] > 0, seen
    assert seen["held_at_end"] > 0, seen


@pytest.mark.parametrize("mode", ["time", "lines"])
def test_with_failed_deliveries_each_stretch_between_replays_scores_alone(mode, tmp_path):
    seen = fuzz(mode, tmp_path, START + 500, fail=0.1)
    assert seen["windows"] > 0 and seen["replays"] > 0 and seen["failed"] > 0, seen
