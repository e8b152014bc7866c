"""Randomized differential test of ``serve.windows.max_entities`` for a logs model: with
fewer entity places than entities, each stretch of an entity's lines between its evictions
is scored as ``score`` scores those lines alone (docs/logs.md, Entities held: the least
recently seen entity "is evicted, counted in ``anomaly_gan_entities_evicted_total``, and
starts fresh if it returns: the lines of its open bucket are lost, and its window warms up
again").

The streams are those of test_serve_equals_score_fuzz.py (every format, time buckets and
per N lines, 1-3 partitions read by one scorer, ``max_entities`` from 1 to all but one of
the entities). The least-recently-seen order is simulated from the lines the scorer counts,
in the order it counts them (its newest line makes an entity the most recently seen), with
the entities the gap rule lets go of (``logs.gap_seconds``: not evictions, they leave no
place taken) taken out of it when the scorer lets go of them. Each line is then named
after its entity's stretch (``svc-1~0``, ``svc-1~1``, ...) in a copy of the partition's
file, which ``score`` reads as it reads the file: each stretch is an entity of its own,
with the other entities' lines around it as in the file. What ``serve`` published for an
entity is, stretch by stretch, that stretch's rows, windows, flags, alerts and alert
templates in ``score``, up to its eviction; the rest of a stretch is the bucket it had open
then (time buckets: its rows from that bucket on are lost) or one partial bucket (per N
lines), as test_serve_equals_score_fuzz.py compares the tail of an entity never evicted.

``LOGS_EVICTION_FUZZ_SEEDS`` runs more seeds per format and mode (default 2).
"""

from __future__ import annotations

import itertools
import os
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from anomaly_gan.logs.offline import (
    latest_allowed,
    load_log_model,
    read_for_log_model,
    score_log_events,
)
from tests.logs.test_serve_equals_score_fuzz import (
    add_runs,
    alert_decisions,
    alerts,
    debounced_as_series,
    run,
    stream,
    windows,
)

SEEDS = int(os.environ.get("LOGS_EVICTION_FUZZ_SEEDS", "2"))


class Stretches:
    """The scorer's least-recently-seen order, simulated beside it: each line counted
    (``LogFeed.add``) makes its entity the most recently seen, a new entity beyond
    ``max_entities`` evicts the least recently seen one (ending its stretch: its next line
    starts another), and an entity the gap rule lets go of leaves the order. Checks after
    each line that the scorer holds the entities simulated and counted the evictions
    (``wrong``: an assertion inside a hook the intake calls would be caught by the intake
    and the record sent to the DLQ). tests/logs/test_rebalance_eviction_fuzz.py's ``Held``
    adds a consumer group's members, drops and replays."""

    def __init__(self, sc: Any, limit: int) -> None:
        self.sc = sc
        self.feed = feed = sc.intake.logs
        self.limit = limit
        self.held: OrderedDict[str, None] = OrderedDict()
        self.stretch: dict[str, int] = {}  # entity -> its current stretch
        self.ended: set[str] = set()  # entities whose current stretch has ended
        self.evicted = 0
        self.wrong: list[tuple] = []  # ("line", entity, time, evictions simulated, held, sim)
        # (partition, for Held also its assignment) -> each line counted and its stretch
        self.lines: dict[Any, list[tuple[Any, str]]] = {}
        self.rows: dict[str, list] = {}  # stretch -> the rows serve closed for it
        self.open_at_end: dict[str, int | None] = {}  # stretch -> its open bucket then
        add, gone, expire = feed.add, feed.on_gone, feed.expire

        def counted(ev, partition, offset):
            evicting = self.see(ev.entity, partition)
            before = feed.evicted
            closed = add(ev, partition, offset)
            if feed.evicted - before != evicting or set(feed._where) != set(self.held):
                self.wrong.append(("line", ev.entity, ev.ts, evicting, list(feed._where),
                                   list(self.held)))
            self.after_line(partition, offset, closed)
            self.lines.setdefault(self.line_key(partition), []).append(
                (ev, self.name(ev.entity)))
            for r in closed:
                self.rows.setdefault(self.name(r.entity), []).append(r)
            return closed

        def let_go(entity):  # the gap rule, once the entity's rows are published
            self.held.pop(entity, None)
            gone(entity)

        def expired():  # the gap rule per N lines, at a commit
            out = expire()
            for entity in out:
                self.held.pop(entity, None)
            return out

        feed.add, feed.on_gone, feed.expire = counted, let_go, expired

    def name(self, entity: str) -> str:
        return f"{entity}~{self.stretch[entity]}"

    def line_key(self, partition: Any) -> Any:
        """Which of ``lines`` a line read from ``partition`` goes to."""
        return partition

    def after_line(self, partition: Any, offset: int, closed: list) -> None:
        """A line read from ``partition`` at ``offset`` was counted, closing ``closed``."""

    def note_open(self, entity: str) -> None:
        """``entity``'s stretch ends: notes the bucket it has open (``open_at_end``)."""
        where = self.feed._where.get(entity)
        buckets = self.feed._buckets.get(where[0]) if where is not None else None
        ob = buckets._open.get(entity) if buckets is not None else None
        self.open_at_end[self.name(entity)] = None if ob is None else ob.index

    def see(self, entity: str, partition: Any) -> int:
        """``entity`` logs a line on ``partition``: returns the evictions it makes (0 or 1)."""
        if entity in self.held:
            self.held.move_to_end(entity)
            return 0
        evicting = 0
        if len(self.held) >= self.limit:
            victim, _ = self.held.popitem(last=False)
            self.note_open(victim)
            self.ended.add(victim)
            self.evicted += 1
            evicting = 1
        if entity in self.ended:
            self.ended.discard(entity)
            self.stretch[entity] += 1
        self.stretch.setdefault(entity, 0)
        self.held[entity] = None
        return evicting


def scored_by_stretch(det, parts: dict, files: list, lines: dict[Any, list[tuple[Any, str]]]):
    """Per stretch: ``score``'s rows and windows of a copy of each partition's file whose
    lines are named after their stretch (as scored_offline gives them)."""
    model = load_log_model(det)
    rows: dict[str, list] = {}
    out: dict[str, list] = {}
    series = itertools.count(1)
    for tp, path in zip(parts, files, strict=True):
        evs, _ = read_for_log_model(det.config, str(path))
        # a line stamped ahead of the clock: serve refuses it (future_timestamp), a file's
        # reader takes it and score leaves it out of the count (docs/logs.md, Offline)
        ahead = latest_allowed(det.config)
        evs = [ev for ev in evs if ev.ts is None or ev.ts <= ahead]
        names = [n for _, n in lines.get(tp, [])]
        # the scorer counted the file's lines, in its order (else the harness is wrong)
        assert [ev.entity for ev in evs] == [n.rpartition("~")[0] for n in names], path
        renamed = [replace(ev, entity=n) for ev, n in zip(evs, names, strict=True)]
        add_runs(det, score_log_events(det, model, renamed, explain_anomalies_only=False),
                 rows, out, series)
    return rows, out


def as_compared(rows: list) -> list[tuple]:
    return [(r.start_ts, r.end_ts, r.lines, r.values.tolist()) for r in rows]


def stretch_order(name: str) -> tuple[str, int]:
    """A stretch's entity and number (``svc-1~2``; ``svc-1~0.2``: member 0's)."""
    entity, _, k = name.rpartition("~")
    return entity, int(k.rpartition(".")[2])


def check_evictions_counted(st: Stretches, where: Any) -> None:
    """The scorer held the entities simulated after every line (``wrong``), and counted
    the evictions simulated."""
    assert not st.wrong, (where, st.wrong[:2])
    st.sc.metrics.count_state(st.sc.state)
    assert st.sc.metrics.registry.get_sample_value("anomaly_gan_entities_evicted_total") == \
        st.evicted == st.feed.evicted, where


def compare_by_stretch(s: Any, mode: str, st: Stretches, scored: tuple[dict, dict],
                       still_open: dict, live_windows: dict[str, list], sent: list[dict],
                       where: Any) -> None:
    """What ``serve`` published (``live_windows``, alerts ``sent``) against ``score`` of
    each stretch (``scored``: scored_by_stretch's rows and windows): each stretch's rows a
    prefix of ``score``'s, the rest from the bucket open at its end (``open_at_end``) or
    still open, or one partial bucket per N lines; each entity's windows, scores and flags
    those of its stretches in order, its alerts debounced series by series, its alert
    templates among ``score``'s."""
    file_rows, file_windows = scored
    assert set(st.rows) <= set(file_rows), where
    want_windows: dict[str, list] = {}
    for name in sorted(file_rows, key=stretch_order):  # each entity's stretches in order
        want, entity = file_rows[name], name.rpartition("~")[0]
        got = st.rows.get(name, [])
        n = len(got)
        assert as_compared(got) == as_compared(want[:n]), (where, name)
        tail = want[n:]
        if mode == "time" and tail:  # from the bucket open at its end, or still open
            ob = still_open.get(name)
            index = ob.index if ob is not None else st.open_at_end.get(name)
            assert index is not None, (where, name, tail[0].start_ts)
            assert tail[0].start_ts == index * 10.0, (where, name)
        elif mode == "lines":  # one partial bucket: open, ended, or let go by the gap rule
            n_lines = s.det.config.logs.bucket_lines
            assert len(tail) <= 1 and all(r.lines < n_lines for r in tail), (where, name)
        want_windows.setdefault(entity, []).extend(
            w for w in file_windows.get(name, []) if w[4] < n)
    for entity in {n.rpartition("~")[0] for n in file_rows}:
        live, want = live_windows.get(entity, []), want_windows.get(entity, [])
        assert [w[:2] + (w[3],) for w in live] == [w[:2] + (w[3],) for w in want], (
            where, entity)
        np.testing.assert_allclose([w[2] for w in live], [w[2] for w in want],
                                   rtol=1e-12, atol=1e-12, err_msg=f"{where} {entity}")
        mine = [a for a in sent if a["entity"] == entity]
        assert alert_decisions(mine) == debounced_as_series(want, s.alerts), (where, entity)
        for a in mine:
            if a["status"] == "firing":
                same = [w[5] for w in want if w[1] == a["window_end_ts"] and w[3]]
                assert a["templates"] in same, (where, entity, a["window_end_ts"])


def compare_stretches(fmt: str, mode: str, seed: int, tmp_path) -> dict[str, int]:
    s, rng = stream(fmt, mode, seed, tmp_path, partitions=1 + seed % 3, evicting=True)
    sim: list[Stretches] = []
    _, io = run(s, rng, instrument=lambda sc: sim.append(Stretches(sc, s.max_entities)))
    st = sim[0]
    where = f"{fmt} {mode} seed {seed} (max_entities {s.max_entities}, tolerance {s.tolerance})"
    check_evictions_counted(st, where)
    still_open = {st.name(e): ob for b in st.feed._buckets.values() for e, ob in b._open.items()}
    live_windows = windows(io)
    sent = alerts(io)
    compare_by_stretch(s, mode, st, scored_by_stretch(s.det, s.parts, s.files, st.lines),
                       still_open, live_windows, sent, where)
    return {"windows": sum(map(len, live_windows.values())),
            "alerts": sum(a["status"] == "firing" for a in sent), "evicted": st.evicted,
            "returned": sum(st.stretch.values())}


@pytest.mark.parametrize("fmt", ["regex", "json", "otlp_json", "otlp_proto"])
@pytest.mark.parametrize("mode", ["time", "lines"])
def test_each_stretch_between_evictions_scores_as_score_of_its_lines_alone(
        fmt, mode, tmp_path):
    seen = {"windows": 0, "alerts": 0, "evicted": 0, "returned": 0}
    start = 7000 + 1000 * ["regex", "json", "otlp_json", "otlp_proto"].index(fmt)
    for seed in range(start, start + SEEDS):
        for k, v in compare_stretches(fmt, mode, seed, tmp_path).items():
            seen[k] += v
    # it compared something: windows, and evicted entities that came back
    assert seen["windows"] > 0 and seen["evicted"] > 0, seen
