"""A broker for one real :class:`~anomaly_gan.stream.app.Scorer`, simulated in one thread on
a hand-moved clock, with the faults ops meet (tests/stream/test_scorer_progress_fuzz.py):
``World`` is the input partitions, the group's committed offsets, a consumer (positions,
assignment, rebalance callbacks run inside ``poll`` as kafka-python runs them) and a producer
whose acknowledgements a :class:`~anomaly_gan.stream.kafka_io.Delivery` tracks, as
``KafkaIO`` wires it. Faults: poll errors (transient, or at one offset until cleared), commit
failures, a producer that fails every record, one that never answers until it is replaced,
slow acknowledgements, a broker outage, a consumer that stops fetching (until it is replaced,
or for good; its successor holds no partition until its first poll joins the group, and may
read as unreachable for a moment), rebalances, a record batch the consumer cannot read (``UnreadableInput``; the
search for its end may get no answer in time), a position past the partition's end (answered
with nothing, as Tansu does), and a model store whose ``current`` names a new bundle, a
corrupt one or an incompatible one (a real :class:`~anomaly_gan.stream.reload.ModelWatcher`
checks it on the hand clock). :meth:`World.restart` is a new process after a stop: the old
producer's unacknowledged records are gone, a fresh consumer joins from the group's commit;
a second SIGTERM may end the old process inside the drain's flush or commit
(:class:`ProcessEnded`).

``World`` keeps, beside the product, what happened as the docs speak of it (``Facts``): when
output became pending or was last acknowledged, the first failure of a run and the last
clean flush, since when input has waited unread, the error replays the scorer must have
counted and the progress the docs name. The test derives its expectations from those."""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from anomaly_gan.config import config_from_dict
from anomaly_gan.errors import AnomalyGanError
from anomaly_gan.stream.app import Scorer
from anomaly_gan.stream.http import Health
from anomaly_gan.stream.kafka_io import _BACKOFF_MIN_S, Backoff, Delivery, UnreadableInput
from anomaly_gan.stream.metrics import StreamMetrics
from anomaly_gan.stream.reload import ModelWatcher
from tests.support.rebalance import Inline
from tests.support.stream_fakes import TP, Clock, FakeModel, Record


class SeededBackoff(Backoff):
    """The scorer's backoff with its jitter drawn from a seeded generator, so that a seed
    replays the same history."""

    def __init__(self, ceiling_s: float, rng: random.Random) -> None:
        super().__init__(ceiling_s)
        self.rng = rng

    def next(self) -> float:
        self.nominal = min(max(self.nominal * 2.0, _BACKOFF_MIN_S), self.ceiling_s)
        return self.nominal * self.rng.uniform(0.5, 1.0)


class ProcessEnded(BaseException):
    """The process ended at once (``runtime.end_now``, patched), with ``code``: nothing after
    it runs, as after ``os._exit``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class HandClockStop(threading.Event):
    """The scorer's stop flag, whose ``wait`` (the loop's pause during a replay's backoff)
    moves the hand clock instead of sleeping."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        if not self.is_set() and timeout:
            self.clock.now += timeout
        return self.is_set()


class VersionedModel(FakeModel):
    """FakeModel version ``v<n>``, whose score is the window's last value plus n/8: a score
    record names the version that computed it, and the score says which one did."""

    def __init__(self, n: int, window: int = 3) -> None:
        super().__init__(f"v{n}", window)
        self.n = n

    def score_windows(self, raw: Any) -> Any:
        res = super().score_windows(raw)
        res.score = res.score + self.n / 8
        res.is_anomaly = res.score > self.threshold
        res.components = {"reconstruction": res.score}
        return res


class HandWatcher(ModelWatcher):
    """The real watcher over the world's model store (``World.bundle``: ``v<n>`` a good
    bundle, ``bad<n>`` one whose checksums fail, ``wide<n>`` one with another window
    length), checked by the test on the hand clock instead of in its thread; the world
    notes which version is in use from each swap on."""

    def __init__(self, world: World) -> None:
        super().__init__("store", 1.0, world.models["v1"], "v1", resolve=lambda _p: world.bundle,
                         fingerprint=lambda b: str(b), loader=world.load_bundle,
                         on_result=lambda r: world.note(f"reload_{r}"), clock=world.clock)
        self.world = world

    def take(self) -> Any:
        det = super().take()
        if det is not None:
            w = self.world
            w.version = det.version
            w.note("model_swapped")
            if w.scorer is not None and w.scorer._inflight is not None:
                w.note("swap_inflight")
        return det


@dataclass
class Facts:
    """What happened, as docs/streaming.md speaks of it (kept by the world, not the product)."""

    pending_since: float | None = None  # output pending since then, or its last acknowledgement
    failing_since: float | None = None  # first failed delivery no clean flush ended since
    unread_since: float | None = None  # input waits unread on an assigned partition since
    errors: list[float] = field(default_factory=list)  # error replays since the last progress
    marks: dict[Any, int] = field(default_factory=dict)  # furthest read when one of them came
    # when the loop polled again after the last of them (its backoff over): "input_stall_seconds
    # of reading with no error after the last replay" counts from here, not from the error
    reading_since: float | None = None
    errors_total: int = 0
    down_since: float | None = None
    progress: list[str] = field(default_factory=list)  # each progress the docs name, by kind


class World:
    """The broker, the group and one consumer and producer of one scorer."""

    def __init__(self, clock: Clock, partitions: int) -> None:
        self.clock = clock
        self.tps = [TP("events", p) for p in range(partitions)]
        self.logs: dict[Any, list[Record]] = {tp: [] for tp in self.tps}
        self.group: dict[Any, int] = {}
        self.assigned: set[Any] = set(self.tps)
        self.pos = {tp: 0 for tp in self.tps}
        self.read_to = dict(self.pos)  # the furthest a poll handed out since the last seek
        self.per_poll = 3
        self.delivery = Delivery(clock=clock)
        self.pending: list[tuple] = []  # (topic, key, value, headers, on_error)
        self.delivered: list[tuple] = []  # acknowledged: (topic, key, value, headers)
        # faults
        self.down = False
        self.poll_errors = 0
        self.bad_spot: tuple[Any, int] | None = None
        self.commit_failures = 0
        self.producer = "ok"  # ok | failing | stuck (until replaced) | slow (acks at a flush)
        self.slow_s = 0.0
        self.consumer_stuck = ""  # "" | "once" (until replaced) | "always"
        # momentary "broker unreachable": connected() answers False this many more times
        # while polls and commits go on (a new consumer whose connection is not up yet);
        # blip_after_replace more after each consumer replaced
        self.blips = 0
        self.blip_after_replace = 0
        # a second SIGTERM lands while the drain waits in a "flush" or a "commit": the
        # handler (on_signal) runs there, before the broker answers
        self.second_signal = ""
        self.on_signal: Any = None
        self.rebalance: tuple[list, list] | None = None  # (revoke, assign) at the next poll
        self.rejoin = False  # the assignment due is a replaced consumer's joining the group
        self.corrupt: list[tuple[Any, int, int]] = []  # unreadable batches: (tp, first, after)
        self.search_failures = 0  # searches for a batch's end that get no answer in time
        self.auto_offset_reset = "earliest"
        self.left_unread: dict[Any, int] = {}  # below it, auto_offset_reset: latest skipped
        # the model store: bundle name -> detector (None: its checksums fail)
        self.models: dict[str, Any] = {"v1": VersionedModel(1)}
        self.bundle = "v1"  # what the store's current names
        self.version = "v1"  # the version in use, from the last swap
        self.read_versions: dict[tuple[Any, int], set[str]] = {}  # in use at each read
        # records handed out and not dropped by a seek back since (a replay's rewind), the
        # row of each window (set by the test), and scores sent for a window whose last
        # record a rewind had dropped
        self.live: set[tuple[Any, int]] = set()
        self.window_row: dict[tuple[str, float], tuple[Any, int]] = {}
        self.stale: list[str] = []
        self.resets_this_process = 0
        self.scorer: Scorer | None = None
        self.watcher: HandWatcher | None = None
        self.facts = Facts()
        self.counts: dict[str, int] = {}

    def note(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    # ---------------------------------------------------------------- consumer

    def poll(self, timeout_ms: int, max_records: int | None = None) -> dict:
        now, f = self.clock(), self.facts
        if f.errors and f.reading_since is None:
            f.reading_since = now
        if self.rebalance is not None:
            revoke, assign = self.rebalance
            self.rebalance = None
            if revoke:
                offsets = self.scorer.on_revoked(revoke)
                if offsets:
                    self.note("revoke_committed")
                    self._committed(offsets)
                self.assigned.difference_update(revoke)
            self.assigned.update(assign)
            if assign and not self.rejoin:  # joins at the group's offset, maybe still past
                self.resets_this_process = 0  # the end, after another member may have owned it
            for tp in assign:
                self.pos[tp] = self.read_to[tp] = self.group.get(tp, 0)
            self.scorer.on_assigned(assign)  # kafka-python calls it after each join, [] too
            if not self.rejoin:  # docs: assigned partitions are given time to fetch, but a
                f.unread_since = None  # replaced consumer's stall stands until a read
            self.rejoin = False
        if self.down:
            return self._polled({})
        bad = self.bad_spot
        if self.poll_errors or (bad and bad[0] in self.assigned and self.pos[bad[0]] == bad[1]):
            what = (f"cannot read the record batch at offset {bad[1]}" if not self.poll_errors
                    else "the broker hiccuped")
            self.poll_errors = max(self.poll_errors - 1, 0)
            f.errors.append(now)
            f.reading_since = None
            f.errors_total += 1
            for tp in self.assigned:
                f.marks[tp] = max(f.marks.get(tp, 0), self.read_to[tp])
            f.unread_since = None  # an error, not a stuck consumer: the replay rule's case
            raise RuntimeError(what)
        if self.consumer_stuck:
            return self._polled({})
        for tp, first, after in self.corrupt:
            if tp in self.assigned and first <= self.pos[tp] < after:
                raise UnreadableInput("CorruptRecordError: invalid header key", tp, self.pos[tp])
        out = {}
        for tp in sorted(self.assigned):
            end = len(self.logs[tp])
            if bad and bad[0] == tp and self.pos[tp] < bad[1]:
                end = bad[1]
            for t, first, _ in self.corrupt:
                if t == tp and self.pos[tp] < first:
                    end = min(end, first)
            recs = self.logs[tp][self.pos[tp]:end][:self.per_poll]
            if recs:
                out[tp] = recs
                self.pos[tp] += len(recs)
                self.read_to[tp] = max(self.read_to[tp], self.pos[tp])
                for r in recs:
                    self.read_versions.setdefault((tp, r.offset), set()).add(self.version)
                    self.live.add((tp, r.offset))
        if out:
            f.unread_since = None
        return self._polled(out)

    def _polled(self, out: dict) -> dict:
        """Docs: a poll cycle that read a partition past where an error came (or, by an
        earlier poll, skipped an unreadable batch past it) is progress."""
        f = self.facts
        if f.errors and any(self.pos[tp] > f.marks.get(tp, self.pos[tp]) for tp in self.assigned):
            self._progress("read past the spot of an error")
        return out

    def waiting(self, timeout_ms: int) -> bool:
        return any(self.pos[tp] != len(self.logs[tp]) for tp in self.assigned)

    def update_unread(self) -> None:
        """Input waits unread from when records lie past an assigned partition's position
        while the broker answers (reset by a read, an error, an assignment, an outage)."""
        f = self.facts
        if self.down or not self.waiting(0):
            f.unread_since = None
        elif f.unread_since is None:
            f.unread_since = self.clock()

    def seek(self, tp: Any, offset: int | None) -> None:
        self.pos[tp] = self.read_to[tp] = offset or 0
        self.live = {(t, o) for t, o in self.live if t != tp or o < (offset or 0)}

    def committed(self, tp: Any) -> int | None:
        return self.group.get(tp)

    def assignment(self) -> set:
        if self.rejoin:  # kafka-python: a new consumer holds none until its first poll joins
            return set()
        return set(self.assigned)

    def _signal(self, where: str) -> None:
        if self.second_signal == where:
            self.second_signal = ""
            self.on_signal()

    def commit(self, offsets: dict) -> None:
        self._signal("commit")
        if self.down or self.commit_failures:
            self.commit_failures = max(self.commit_failures - 1, 0)
            self.note("commit_failed")
            raise RuntimeError("commit failed: the coordinator is not available")
        self._committed(offsets)

    def _committed(self, offsets: dict) -> None:
        if any(o > self.group.get(tp, 0) for tp, o in offsets.items()) and self.facts.errors:
            self._progress("a commit moved an offset forward")
        self.group.update(offsets)

    def _progress(self, how: str) -> None:
        self.facts.errors.clear()
        self.facts.marks.clear()
        self.facts.reading_since = None
        self.facts.progress.append(how)

    def connected(self) -> bool:
        if self.blips and not self.down:
            self.blips -= 1
            self.note("blip")
            return False
        return not self.down

    def lag(self, next_offsets: dict) -> dict:
        return {}

    def reset_consumer(self) -> None:
        """A new consumer resumes from the group's commit and fetches (unless stuck for good)."""
        self.note("consumer_replaced")
        if self.consumer_stuck == "once":
            self.consumer_stuck = ""
        for tp in self.assigned:
            self.pos[tp] = self.read_to[tp] = self.group.get(tp, 0)
        if self.rebalance is None and self.assigned:
            # the new consumer joins the group and gets the partitions back at its first poll
            self.rebalance, self.rejoin = ([], sorted(self.assigned)), True
        self.blips += self.blip_after_replace  # its connection may not be up yet

    def skip_unreadable(self, tp: Any, first: int, timeout_s: float) -> int | None:
        """The first offset after the unreadable batch at ``first``, the consumer moved
        there; None when the brokers do not answer the search in time (the loop replays: an
        error replay, docs *Unreadable record batches*)."""
        f = self.facts
        after = next((a for t, b, a in self.corrupt if t == tp and b <= first < a), None)
        if self.search_failures or self.down or after is None or tp not in self.assigned:
            self.search_failures = max(self.search_failures - 1, 0)
            self.note("corrupt_search_failed")
            f.errors.append(self.clock())
            f.errors_total += 1
            for t in self.assigned:
                f.marks[t] = max(f.marks.get(t, 0), self.read_to[t])
            f.unread_since = None
            return None
        self.note("corrupt_skipped")
        self.pos[tp] = self.read_to[tp] = after
        f.unread_since = None
        return after

    def past_end(self, timeout_ms: int) -> dict:
        """Assigned partitions whose position lies past their end, once a fetch was answered
        there (a consumer that does not fetch gives no verdict)."""
        if self.down or self.consumer_stuck:
            return {}
        return {tp: (self.pos[tp], len(self.logs[tp])) for tp in sorted(self.assigned)
                if self.pos[tp] > len(self.logs[tp])}

    def reset_offset(self, tp: Any, end: int) -> tuple[int, int]:
        if self.down:
            raise RuntimeError("KafkaTimeoutError: ListOffsets")
        self.note("offset_reset")
        self.resets_this_process += 1
        offset = 0 if self.auto_offset_reset == "earliest" else end
        if offset:
            self.left_unread[tp] = max(self.left_unread.get(tp, 0), offset)
        self.pos[tp] = self.read_to[tp] = offset
        self.facts.unread_since = None
        if tp in self.facts.marks:  # a position past the end was never read to
            self.facts.marks[tp] = min(self.facts.marks[tp], offset)
        return offset, 0

    def load_bundle(self, bundle: str) -> Any:
        if bundle.startswith("bad"):
            raise AnomalyGanError(f"{bundle}/manifest.json: checksum mismatch for g.keras")
        if bundle not in self.models:
            n = int(bundle.lstrip("vwide"))
            self.models[bundle] = VersionedModel(n, window=4 if bundle.startswith("w") else 3)
        return self.models[bundle]

    def restart(self) -> None:
        """A new process after a stop on the same world: the old producer's unacknowledged
        records are gone, a fresh consumer joins the group from its commit (the faults of
        the broker stay as they are)."""
        self.note("restarted")
        self.resets_this_process = 0
        self.live.clear()
        self.pending.clear()
        self.delivery = Delivery(clock=self.clock)
        if self.consumer_stuck == "once":
            self.consumer_stuck = ""
        if self.producer == "stuck":
            self.producer = "ok"
        self.assigned = set()
        self.rebalance, self.rejoin = ([], list(self.tps)), False
        self.bundle = self.version  # the store rolled back to what ran: serve starts with it
        self.facts = Facts(progress=self.facts.progress, down_since=self.facts.down_since)

    def topic_exists(self, topic: str) -> bool:
        return True

    # ---------------------------------------------------------------- producer

    def send(self, topic: str, value: bytes, key: bytes | None = None, headers: Any = None,
             on_error: Any = None) -> None:
        if topic == "scores":
            rec = json.loads(value)
            row = self.window_row.get((rec["entity"], rec["window_end_ts"]))
            if row is not None and row not in self.live:
                self.stale.append(f"a score of {rec['entity']} ending at "
                                  f"{rec['window_end_ts']:.0f} sent after a rewind dropped "
                                  f"its last record ({row[0].partition}/{row[1]})")
        if self.delivery.pending == 0:
            self.facts.pending_since = self.clock()
        self.delivery.sent()
        self.pending.append((topic, key, value, headers, on_error))

    def answer(self, n: int | None = None) -> bool:
        """The broker answers the first ``n`` pending records (all: None); False when one
        failed."""
        if self.down or self.producer == "stuck":
            return True
        clean = True
        take, self.pending = (self.pending, []) if n is None else (self.pending[:n],
                                                                    self.pending[n:])
        now = self.clock()
        for topic, key, value, headers, on_error in take:
            if self.producer == "failing":
                clean = False
                if self.facts.failing_since is None:
                    self.facts.failing_since = now
                on_error(RuntimeError(f"topic {topic} refused the record"))
            else:
                self.delivered.append((topic, key, value, headers))
            self.delivery.done()
            self.facts.pending_since = now if self.pending else None
        return clean

    def close(self, timeout_s: float = 5.0) -> None:
        pass

    def flush(self, timeout_s: float | None = None) -> None:
        self._signal("flush")
        timeout = float(timeout_s or 0.0)
        if self.pending and (self.down or self.producer == "stuck"
                             or (self.producer == "slow" and self.slow_s > timeout)):
            self.clock.now += timeout
            self.facts.unread_since = None  # the loop backs off, reading nothing on purpose
            raise RuntimeError(f"KafkaTimeoutError: flush did not finish in {timeout} s")
        if self.pending and self.producer == "slow":
            self.clock.now += self.slow_s
        if self.answer():  # docs: a flush with every record acknowledged (none pending, too:
            self.facts.failing_since = None  # a replay that found nothing to read again)
        else:
            self.facts.unread_since = None  # a replay after its backoff

    def reset_producer(self) -> None:
        self.note("producer_replaced")
        self.pending.clear()  # dropped with the old producer: the loop replays their input
        self.delivery.reset()
        self.facts.pending_since = None
        self.facts.unread_since = None  # a replay after its backoff
        if self.producer == "stuck":
            self.producer = "ok"


def build(world: World, seed: int, delivery_limit: float, input_limit: float,
          liveness: float = 60.0, grace: float = 20.0) -> tuple[Scorer, CollectorRegistry]:
    """A real Scorer over ``world`` (its model thread inline, its backoff drawn from
    ``seed``, its waits on the hand clock, its watcher a :class:`HandWatcher`), started with
    the model the store names; VersionedModel: window 3, anomalous above 10."""
    cfg = config_from_dict({"serve": {
        "grace_seconds": grace,
        "windows": {"gap_seconds": 100.0},
        "batching": {"max_batch": 8, "max_latency_ms": 0},
        "alerts": {"consecutive": 1, "cooldown_seconds": 0.0},
        "kafka": {"scores_topic": "scores", "delivery_stall_seconds": delivery_limit,
                  "input_stall_seconds": input_limit, "reconnect_backoff_max_ms": 1000,
                  "auto_offset_reset": world.auto_offset_reset},
    }}).serve
    reg = CollectorRegistry()
    clock = world.clock
    health = Health(liveness_timeout_s=liveness, clock=clock)
    watcher = HandWatcher(world)
    world.version = world.bundle  # serve loads what the store names (a good bundle)
    watcher._current = world.models[world.bundle]
    watcher._seen = watcher._active = world.bundle
    world.watcher = watcher
    scorer = Scorer(cfg, world.models[world.bundle], world, StreamMetrics(reg), health,
                    watcher=watcher, monotonic=clock, clock=lambda: 1_795_000_000.0)
    on_hand_clock(scorer, clock, seed)
    world.scorer = scorer
    return scorer, reg


def on_hand_clock(scorer: Scorer, clock: Any, seed: int) -> None:
    """``scorer`` made repeatable on the hand ``clock``: the model's work done on the loop's
    thread, the backoff's jitter seeded and its waits on the clock, and the broker up (as
    after serve's connect). With the real thread, the global random's jitter and real waits,
    where a test's revoke found the loop differed from run to run."""
    scorer._pool.shutdown()  # it starts its thread at the first submit: none yet
    scorer._pool = Inline(random.Random(seed))
    scorer._stop = HandClockStop(clock)
    scorer._backoff = SeededBackoff(scorer._backoff.ceiling_s, random.Random(seed))
    scorer.health.broker_up = True
