"""The least-recently-seen order of a logs scorer's entities, simulated beside it
(``Stretches``), and the check that what ``serve`` published for each stretch of an entity's
lines between evictions is what ``score`` gives for those lines alone
(``compare_by_stretch``): tests/logs/test_eviction_fuzz.py, whose docstring says how, and
tests/logs/test_rebalance_eviction_fuzz.py."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from tests.support.logs_fuzz import alert_decisions, debounced_as_series


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
    still open (per N lines all of them: ``score`` leaves the partial last bucket out); each
    entity's windows, scores and flags those of its stretches in order, its alerts debounced
    series by series, its alert templates among ``score``'s."""
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
        elif mode == "lines":  # none: a partial bucket (open, ended, or let go by the gap
            # rule) is left out by score at the end of the stretch's lines too
            assert not tail, (where, name, [(r.start_ts, r.lines) for r in tail])
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
