"""A consumer group of scorers under rebalances, simulated in one thread
(tests/stream/test_rebalance_fuzz.py, whose docstring says which rebalances and where their
callbacks run; tests/logs/test_rebalance_eviction_fuzz.py): ``rebalanced`` serves the
partitions with 2-3 members (``Member``, a ``FakeIO`` per replica) of a ``Group`` that
holds the committed offsets, with each scorer's model thread run inline (``Inline``)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from tests.stream.replay_checks import ALERTS
from tests.support.stream_fakes import FakeIO


class Group:
    """The group's committed offsets, its members and the rebalances among them."""

    def __init__(self, parts: dict, rng: random.Random, members: int, rebalances: int,
                 fail: float = 0.0) -> None:
        self.parts, self.rng = parts, rng
        self.fail = fail  # the chance that an alert or score record is not delivered,
        self.fails_left = rng.randint(1, 5) if fail else 0  # this many times (then all are)
        self.committed: dict[Any, int] = {}
        self.sends = 0  # alert and score records produced by all members so far
        self.reads: list[tuple] = []  # (sends then, partition, offset) of each row pushed
        self.members = [Member(self) for _ in range(members)]
        self.left = rebalances  # rebalances still to come
        self.log: list[tuple] = []  # what happened, for a failure's message
        first = self.members[0] if rng.random() < 0.5 else None  # scale from 1 replica
        for tp in parts:
            (first or rng.choice(self.members)).owned.add(tp)
        for m in self.members:
            m.pos = {tp: 0 for tp in m.owned}

    def maybe_rebalance(self, where: str) -> None:
        if self.left and self.rng.random() < 0.15:
            self.left -= 1
            self.rebalance(where)

    def revoke(self, m: Member, tps: list, busy: bool) -> None:
        if busy:  # the loop holds its lock longer than the callback waits
            held, release = threading.Event(), threading.Event()

            def hold() -> None:
                with m.scorer._loop_lock:
                    held.set()
                    release.wait()

            t = threading.Thread(target=hold)
            t.start()
            held.wait()
            m.scorer._revoke_wait_s = 0.001
            try:
                offsets = m.scorer.on_revoked(tps)
            finally:
                release.set()
                t.join()
            assert offsets is None
        else:
            offsets = m.scorer.on_revoked(tps)
        if offsets:
            assert set(offsets) <= set(tps), offsets
            self.committed.update(offsets)
        m.owned.difference_update(tps)
        for tp in tps:
            m.pos.pop(tp, None)
        self.log.append(("revoke", self.members.index(m), sorted(t.partition for t in tps),
                         offsets, busy))

    def assign(self, m: Member, tps: list, kept: dict | None = None) -> None:
        """``kept``: the member's positions before an eager rebalance, which kafka-python 3
        keeps for a partition the member keeps (until 2026-12-08 this harness read such a
        partition from the commit, and a scorer that relied on that lost windows)."""
        for tp in tps:
            m.owned.add(tp)
            m.pos[tp] = (kept or {}).get(tp, self.committed.get(tp, 0))
        self.log.append(("assign", self.members.index(m), sorted(t.partition for t in tps),
                         {tp.partition: m.pos[tp] for tp in tps}))
        m.scorer.on_assigned(tps)

    def rebalance(self, where: str) -> None:
        rng = self.rng
        busy = rng.random() < 0.2
        self.log.append(("rebalance", where))
        if rng.random() < 0.5:  # eager: everything revoked, then a new assignment
            before = [dict(m.pos) for m in self.members]
            for m in self.members:
                if m.owned:
                    self.revoke(m, sorted(m.owned), busy and rng.random() < 0.5)
            new: dict[int, list] = {i: [] for i in range(len(self.members))}
            for tp in self.parts:
                new[rng.randrange(len(self.members))].append(tp)
            for i, m in enumerate(self.members):
                self.assign(m, new[i], before[i])
            return
        owners = [m for m in self.members if m.owned]
        src = rng.choice(owners)
        tps = rng.sample(sorted(src.owned), rng.randint(1, len(src.owned)))
        dst = rng.choice([m for m in self.members if m is not src])
        self.revoke(src, tps, busy)
        self.assign(dst, tps)

    def done(self) -> bool:
        return all(m.pos.get(tp, 0) >= len(recs) for tp, recs in self.parts.items()
                   for m in self.members if tp in m.owned)


class Inline:
    """The scorer's model thread (``Scorer._pool``), run on the loop's thread: a batch is
    scored when submitted, and whether it is done when the loop next looks without waiting
    (``Scorer._collect(wait=False)``) is drawn from the group's ``rng``. With the real thread
    that depended on how fast the model ran, so records were sent, and ``Member.send`` drew
    its failures, at other points of ``rng`` from run to run: one seed gave other rebalances
    and other results on another run."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def submit(self, fn: Callable, *args: Any) -> Future:
        fut = Drawn(self.rng)
        try:
            fut.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - raised by fut.result(), as the thread's
            fut.set_exception(exc)
        return fut

    def shutdown(self, wait: bool = True) -> None:
        pass


class Drawn(Future):
    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng

    def done(self) -> bool:
        return self.rng.random() < 0.5


class Member(FakeIO):
    """One replica's consumer: reads its partitions from its positions, some at a time."""

    def __init__(self, group: Group) -> None:
        super().__init__([])
        self.group = group
        self.owned: set = set()
        self.pos: dict[Any, int] = {}
        self.scorer: Any = None
        self.failed: list = []  # records the broker did not take
        self.failed_at: list[int] = []  # and Group.sends when each was produced
        self.tried: list = []  # every alert and score record produced, taken or not, in order
        self.pending = []

    def poll(self, timeout_ms, max_records=None):
        self.group.maybe_rebalance("poll")
        if self.pending and self.group.rng.random() < 0.3:
            self.flush()  # the broker answers while the loop polls, not only at a flush
        live = [tp for tp in sorted(self.owned) if self.pos[tp] < len(self.group.parts[tp])]
        out = {}
        if live:
            rng = self.group.rng
            for tp in rng.sample(live, rng.randint(1, len(live))):
                at = self.pos[tp]
                out[tp] = self.group.parts[tp][at:at + rng.randint(1, 40)]
                self.pos[tp] = at + len(out[tp])
        return out

    def step(self) -> None:
        if self.scorer._resume_at:  # a replay's backoff: its time passes (the clock is ours)
            self.scorer.mono.now = max(self.scorer.mono.now, self.scorer._resume_at)
        self.scorer.step()

    def commit(self, offsets):
        self.group.maybe_rebalance("commit")
        super().commit(offsets)
        self.group.committed.update(offsets)

    def assignment(self):
        return set(self.owned)

    # Failed deliveries (``Group.fail``): a record the broker does not take is reported to
    # the producer's error callback, at once (as a send that gives up) or later, at a poll
    # or at the next flush (outstanding until the broker answers; a member with nothing to
    # commit does not flush, so only at a poll: waiting for a flush, seed 6062 never ended);
    # it is not in ``sent``, which holds what the broker took. ``pending``: the callbacks of
    # records still outstanding.
    pending: list

    def send(self, topic, value, key=None, headers=None, on_error=None):
        rng = self.group.rng
        if topic in (ALERTS, "scores"):
            self.tried.append((topic, key, value, headers))
            self.group.sends += 1
        if (self.group.fails_left and topic in (ALERTS, "scores")
                and rng.random() < self.group.fail):
            self.group.fails_left -= 1
            self.failed.append((topic, key, value, headers))
            self.failed_at.append(self.group.sends)
            exc = RuntimeError(f"{topic}: not delivered")
            if rng.random() < 0.5:
                on_error(exc)
            else:
                self.pending.append(lambda: on_error(exc))
            return
        self.sent.append((topic, key, value, headers))

    def flush(self, timeout_s=None):
        pending, self.pending = self.pending, []
        for answer in pending:
            answer()

    def committed(self, tp):
        return self.group.committed.get(tp)

    def seek(self, tp, offset):
        super().seek(tp, offset)
        self.pos[tp] = offset or 0  # None: from the beginning (KafkaIO.seek)


def rebalanced(parts: dict, make, rng: random.Random, fail: float = 0.0) -> Group:
    """Serve ``parts`` with a group of 2-3 scorers (``make(io)`` builds one) and 1-6
    rebalances, committing now and then and at the end as each would at shutdown; with
    ``fail``, that share of alert and score records is not delivered (``Member.send``)."""
    group = Group(parts, rng, rng.randint(2, 3), rng.randint(1, 6), fail)
    for m in group.members:
        m.scorer = make(m)
        m.scorer._pool.shutdown()  # it starts its thread at the first submit: none yet
        m.scorer._pool = Inline(rng)
    while not group.done() or group.left or any(m.scorer._must_rewind or m.scorer._resume_at
                                                   or m.pending for m in group.members):
        m = rng.choice(group.members)
        m.step()
        if rng.random() < 0.3:
            assert m.scorer._commit(force=True) or fail  # a failed delivery commits nothing
        if group.done() and group.left:  # the rest of the rebalances, after the input
            group.left -= 1
            group.rebalance("end")
    for m in group.members:
        while not m.scorer._commit(force=True):  # a failed delivery: replay, then commit
            assert m.scorer._must_rewind, group.log
            while m.scorer._must_rewind or not group.done():
                m.step()
        m.scorer._pool.shutdown()
    return group
