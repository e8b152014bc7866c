"""Seeded fuzz of the real scoring loop's readiness and progress under the faults ops meet.

tests/stream/test_readiness_spec_fuzz.py checks the health object against the docs with
ready-made events (progress, error replays, input waiting); this file checks that the loop
feeds those events rightly. A real :class:`~anomaly_gan.stream.app.Scorer` (FakeModel:
window 3, anomalous above 10; its model thread inline) runs over a simulated broker
(tests/support/scorer_world.py) on a hand-moved clock, through a random history of: records
on 2-3 partitions from several entities, poison records among them (bad JSON, not UTF-8,
no values), transient poll errors and an error at one offset until it is cleared, commit
failures, a producer that fails every record, one that never answers until it is replaced,
slow acknowledgements, a broker outage, a consumer that stops fetching (until replaced, or
for good; its successor may read as "broker unreachable" for a moment), rebalances (partitions revoked, assigned back), idle periods past the stall
limits, record batches the consumer cannot read (the search for their end answered, or
not in time), hot reloads (a new model version, a corrupt or incompatible bundle; a real
``ModelWatcher`` checks the store every ``reload_interval_seconds``, the swap often with a
batch in flight; SIGHUP: a check at once that tries a refused bundle again) and one SIGTERM
(during any of those faults: the drain runs, sometimes cut by a second SIGTERM while it
waits for the flush or the commit, then a new process starts on the same world from the
group's commit, its committed offset for one partition sometimes past the partition's end). The loop turns every 0.5 s of the clock.

After every step, what ``/readyz`` and the gauges say is compared with what the docs
promise (docs/streaming.md *Failed deliveries*, *Errors that recur at every replay*,
*Broker outages*, *Metrics and probes*; docs/deployment.md *Probes*; the gauges of
docs/CONTRACTS.md), from what the world saw happen, never from the product's state:

1. never ready while output has gone unacknowledged past ``delivery_stall_seconds``
   (pending records, or a run of failures no clean flush has ended), while input has waited
   unread past ``input_stall_seconds`` (plus the documented detection: a probe once nothing
   has been read for a second, at a housekeeping pass once a second), while 3 error replays
   spanning ``input_stall_seconds`` had no progress the docs name (a commit that moved an
   offset forward, a read past where an error came, ``input_stall_seconds`` with no error),
   while no partition is assigned, or while the broker has been down past a housekeeping
   pass; ``anomaly_gan_ready`` always says what ``/readyz`` says;
2. a poison record never stops the loop nor blocks those after it: no error replay comes but
   those the world raised (``anomaly_gan_replays_total{reason="error"}``), every poison
   record has an acknowledged dead letter naming it, and the commit passes it;
3. nothing is lost (at-least-once): once the faults end, every good record's window has an
   acknowledged score record and every anomalous one an acknowledged alert;
4. a healthy replica never flaps: once no fault has been active for
   ``input_stall_seconds + delivery_stall_seconds + 4`` s, ``/readyz`` is 200 at every step,
   idle topic or not;
5. hot reload (docs/streaming.md *Hot reload*): every score record and alert names a
   version that was in use when the window's last record was read (everything read before
   a swap is scored by the old model, after it by the new one; a refused bundle never
   scores), and its score is the one that version computes;
6. at-least-once at every step (*Delivery guarantees*): the group's commit never passes a
   window without an acknowledged score (an anomalous one: alert) nor a poison record or an
   unreadable batch without an acknowledged dead letter;
7. a stop (*Shutdown*): ``/readyz`` answers 503 ``shutting down`` from SIGTERM on; a stop
   with a replay due commits nothing and exits 1; exit 0 only with nothing unacknowledged;
   a second SIGTERM during the drain exits 130 at once and commits nothing more;
   the restarted process delivers everything (3); no score is sent for a window whose
   last record a replay's rewind dropped (it is read again first);
8. an unreadable batch (*Unreadable record batches*) is one dead letter naming its first
   offset each time it is met and committed past, no error replay unless the search for its
   end got no answer; a position past the end is moved by ``auto_offset_reset`` (``latest``:
   the records before the end are left unread, exempt from 3 and 6), once: a replay, and
   a new consumer that replaced a stuck one, resume from the new position.

A failure names the seed and the step and prints the history. ``SCORER_PROGRESS_FUZZ_SEEDS``
(default 150) seeds from ``SCORER_PROGRESS_FUZZ_SEED_START`` (default 0):
``SCORER_PROGRESS_FUZZ_SEED_START=17 SCORER_PROGRESS_FUZZ_SEEDS=1`` runs seed 17 alone.
"""

from __future__ import annotations

import json
import os
import random
import signal
from collections import Counter
from dataclasses import dataclass
from typing import Any, NoReturn
from unittest import mock

import pytest

from anomaly_gan.stream import service
from tests.support.fuzz import assert_every_rule_reached, block_id, each_seed, seed_blocks
from tests.support.scorer_world import ProcessEnded, World, build
from tests.support.stream_fakes import Clock, Record

SEEDS = int(os.environ.get("SCORER_PROGRESS_FUZZ_SEEDS", "150"))
SEED_START = int(os.environ.get("SCORER_PROGRESS_FUZZ_SEED_START", "0"))

TURN_S = 0.5  # the clock between two turns of the loop
WINDOW = 3  # FakeModel's
T0 = 1_794_000_000.0  # event time of the first events (the scorer's wall clock: T0 + 1e6)

SCRAPED = ("anomaly_gan_ready", "anomaly_gan_error_replays_without_progress",
           "anomaly_gan_input_stalled_seconds", "anomaly_gan_delivery_stalled_seconds",
           "anomaly_gan_assigned_partitions", "anomaly_gan_replays_total")

#: the rules the reference decides by, each counted when it decides an answer
RULES = {"delivery_pending_stall", "delivery_failing_stall", "input_stall", "error_replays",
         "error_replays_too_few", "progress_commit", "progress_read_past", "progress_idle",
         "unassigned", "broker_down", "healthy_ready", "healthy_idle_ready",
         "poison_dead_lettered", "poison_committed_past", "window_delivered",
         "alert_delivered", "revoke_committed", "commit_failed", "producer_replaced",
         "consumer_replaced", "stuck_for_good", "model_swapped", "swap_inflight",
         "reload_failure", "version_checked", "stop_shutting_down", "stop_clean",
         "stop_unclean", "stop_replay_due", "restarted", "restart_delivered",
         "corrupt_skipped", "corrupt_dead_lettered", "corrupt_committed_past",
         "corrupt_search_failed", "offset_reset", "offset_reset_latest", "commit_checked",
         "sighup", "second_sigterm", "blip"}

POISON = [b"{not json", b"\xff\xfe\x00", b'{"entity": "e0", "ts": 1}', b"", b"[1, 2]"]


@dataclass
class Case:
    partitions: int
    entities: int
    delivery_limit: float
    input_limit: float
    steps: list[tuple[str, Any]]
    grace: float = 20.0
    reload_s: float = 1.0
    past_end: float | None = None  # at the restart: one partition's commit past its end
    policy: str = "earliest"
    second_sigterm: str = ""  # "" | "flush" | "commit": where in the drain a second one lands
    blips: int = 0  # connected() False this many times after each consumer replaced


def make_case(seed: int) -> Case:
    rng = random.Random(seed)
    steps: list[tuple[str, Any]] = []
    for _ in range(rng.randint(15, 60)):
        r = rng.random()
        if r < 0.35:
            steps.append(("records", [(rng.randrange(6), rng.random() < 0.15,
                                       rng.choice([1.0, 1.0, 2.0, 15.0]))
                                      for _ in range(rng.randint(1, 6))]))
        elif r < 0.5:
            steps.append(("idle", rng.choice([1.0, 2.0, 3.0, 6.0, 12.0])))
        else:
            steps.append(rng.choice([
                ("poll_error", rng.randint(1, 3)), ("bad_spot", rng.random()),
                ("clear_bad_spot", None), ("commit_failures", rng.randint(1, 4)),
                ("producer", "failing"), ("producer", "stuck"), ("producer", "ok"),
                ("producer", "slow"), ("broker_down", None), ("broker_up", None),
                ("consumer_stuck", rng.choice(["once", "once", "always"])),
                ("consumer_fetches", None), ("revoke", rng.random()), ("assign", None)]))
    case = Case(rng.choice([2, 3]), rng.randint(2, 5), float(rng.choice([2, 3, 5])),
                float(rng.choice([2, 3, 5])), steps)
    # reloads, unreadable batches and a stop, drawn apart so that the draws above (and the
    # seeds named in the docs) are kept
    more = random.Random(seed * 31 + 7)
    for _ in range(more.randint(1, 6)):
        steps.insert(more.randint(0, len(steps)), more.choice([
            ("new_model", None), ("new_model", None), ("bad_model", more.choice(["bad", "wide"])),
            ("corrupt", (more.random(), more.randint(1, 4), more.random() < 0.25))]))
    if more.random() < 0.5:
        steps.insert(more.randint(len(steps) // 3, len(steps)), ("stop", more.random() < 0.5))
    case.grace = float(more.choice([1, 5, 20]))
    case.reload_s = more.choice([0.5, 1.0, 3.0])
    case.past_end = more.random() if more.random() < 0.4 else None
    case.policy = more.choice(["earliest", "latest"])
    # SIGHUPs, a second SIGTERM during the drain and momentary outages after a consumer is
    # replaced, drawn apart again so that the histories above are kept
    extra = random.Random(seed * 131 + 5)
    for _ in range(extra.choice([0, 0, 1, 2])):
        steps.insert(extra.randint(0, len(steps)), ("sighup", None))
    case.second_sigterm = extra.choice(["", "", "flush", "commit"])
    case.blips = extra.choice([0, 1, 2])
    return case


class Run:
    """A case played on a world and a real scorer, with the checks after every step."""

    def __init__(self, case: Case, seed: int, notes: Counter[str]) -> None:
        self.case, self.notes = case, notes
        self.seed = seed
        self.rng = random.Random(seed * 7919 + 1)
        self.clock = Clock()
        self.world = w = World(self.clock, case.partitions)
        self.scorer, self.reg = build(w, seed, case.delivery_limit, case.input_limit,
                                      grace=case.grace)
        self.scrape = self.reg.restricted_registry(SCRAPED)
        self.next_reload = self.clock.now + case.reload_s
        self.models = 1  # versions put in the store so far
        self.stopping = False
        # where each good row lies (parallel to ``good``), and what was acknowledged
        self.where: dict[int, list[tuple[Any, int]]] = {e: [] for e in range(case.entities)}
        self.value_at: dict[tuple[str, float], float] = {}
        self.row_at: dict[tuple[str, float], tuple[Any, int]] = {}
        self.seen = 0
        self.scored: set[tuple[str, float]] = set()
        self.alerted: set[tuple[str, float]] = set()
        self.dead: set[str] = set()
        self.scored_before_restart: set[tuple[str, float]] | None = None
        w.window_row = self.row_at
        self.shown: list[str] = [(
            f"partitions={case.partitions} entities={case.entities} "
            f"delivery_stall={case.delivery_limit} input_stall={case.input_limit} "
            f"grace={case.grace} reload={case.reload_s} past_end={case.past_end} "
            f"policy={case.policy} second_sigterm={case.second_sigterm!r} blips={case.blips}")]
        w.blip_after_replace = case.blips
        self.ts = {e: T0 + e for e in range(case.entities)}
        self.poison: list[tuple[Any, int]] = []
        self.good: dict[int, list[tuple[float, float]]] = {e: [] for e in range(case.entities)}
        self.faulty_at = self.clock.now  # the last time a fault was active

    # ------------------------------------------------------------------ the history

    def apply(self, event: str, arg: Any) -> None:
        w, case = self.world, self.case
        if event == "records":
            for e, poison, value in arg:
                e %= case.entities
                tp = w.tps[e % case.partitions]
                log = w.logs[tp]
                key = f"e{e}".encode()
                if poison:
                    log.append(Record(len(log), key, self.rng.choice(POISON)))
                    self.poison.append((tp, len(log) - 1))
                else:
                    self.ts[e] += 1.0
                    self.good[e].append((self.ts[e], value))
                    self.where[e].append((tp, len(log)))
                    self.value_at[(f"e{e}", self.ts[e])] = value
                    self.row_at[(f"e{e}", self.ts[e])] = (tp, len(log))
                    log.append(Record(len(log), key, json.dumps(
                        {"entity": f"e{e}", "ts": self.ts[e], "values": [value, 0.0]}).encode()))
        elif event == "poll_error":
            w.poll_errors += arg
        elif event == "bad_spot":  # the record batch at the next offset of a partition
            tp = w.tps[int(arg * case.partitions)]
            if w.bad_spot is None:
                w.bad_spot = (tp, len(w.logs[tp]))
                self.apply("records", [(tp.partition, False, 1.0)])
        elif event == "clear_bad_spot":
            w.bad_spot = None
        elif event == "commit_failures":
            w.commit_failures += arg
        elif event == "producer":
            w.producer = arg
            if arg == "slow":
                w.slow_s = self.rng.choice([0.5, case.delivery_limit, case.delivery_limit + 1])
        elif event == "broker_down":
            w.down = True
            if w.facts.down_since is None:
                w.facts.down_since = self.clock.now
        elif event == "broker_up":
            w.down, w.facts.down_since = False, None
        elif event == "consumer_stuck":
            w.consumer_stuck = arg
        elif event == "consumer_fetches":
            w.consumer_stuck = ""
        elif event == "revoke":
            mine = sorted(w.assigned)
            if mine and w.rebalance is None:
                k = max(1, int(arg * len(mine)))
                w.rebalance = (mine[:k], [])
        elif event == "assign" and w.rebalance is None and set(w.tps) - w.assigned:
            w.rebalance = ([], sorted(set(w.tps) - w.assigned))
        elif event == "new_model":
            self.models += 1
            w.bundle = f"v{self.models}"
        elif event == "sighup":  # serve's handler: ModelWatcher.check_now; its thread wakes
            w.watcher.check_once(retry=True)
            self.notes["sighup"] += 1
        elif event == "bad_model":  # checksums that fail, or another window length
            self.models += 1
            w.bundle = f"{arg}{self.models}"
        elif event == "corrupt":  # an unreadable batch of k records at a partition's end
            where, k, search_fails = arg
            tp = w.tps[int(where * case.partitions)]
            first = len(w.logs[tp])
            w.logs[tp].extend(Record(first + i, b"e0", b'{"entity": "e0"}') for i in range(k))
            w.corrupt.append((tp, first, first + k))
            w.search_failures += search_fails

    def faults(self) -> list[str]:
        w = self.world
        out = [name for name, on in [
            ("broker down", w.down), ("poll errors", w.poll_errors), ("bad spot", w.bad_spot),
            ("commit failures", w.commit_failures), ("producer " + w.producer,
                                                     w.producer != "ok"),
            ("consumer stuck", w.consumer_stuck), ("rebalance due", w.rebalance),
            ("unassigned", set(w.tps) - w.assigned), ("search failures", w.search_failures),
            ("past end", any(w.pos[tp] > len(w.logs[tp]) for tp in w.assigned))] if on]
        return out

    def turn(self) -> None:
        w = self.world
        self.clock.now += TURN_S
        self.scorer.health.beat()  # run() beats at each pass through step() too
        if self.clock.now >= self.next_reload:  # the watcher's check, on the hand clock
            self.next_reload = self.clock.now + self.case.reload_s
            w.watcher.check_once()
        self.scorer.turn()
        if w.producer == "ok":
            w.answer()  # the broker acknowledges within milliseconds
        since = w.facts.reading_since
        if w.facts.errors and since is not None and self.clock.now - since >= self.case.input_limit:
            w._progress("no error for input_stall_seconds")
        w.update_unread()
        if self.faults():
            self.faulty_at = self.clock.now

    # ------------------------------------------------------------------ the reference

    def must_not_ready(self) -> list[str]:
        """The documented reasons that hold now (each one a 503), from the world's facts."""
        w, f, now, case = self.world, self.world.facts, self.clock.now, self.case
        why = []
        if f.pending_since is not None and now - f.pending_since > case.delivery_limit:
            self.notes["delivery_pending_stall"] += 1
            why.append(f"output pending unacknowledged for {now - f.pending_since:g}s")
        if f.failing_since is not None and now - f.failing_since > case.delivery_limit:
            self.notes["delivery_failing_stall"] += 1
            why.append(f"failed deliveries, no clean flush for {now - f.failing_since:g}s")
        # the probe comes once nothing was read for a second, at a pass once a second; a
        # flush that waits (slow or stuck producer) may hold the loop that much longer
        detect = 2.0 + TURN_S + 1.0 + (case.delivery_limit if w.producer != "ok" else 0.0)
        if f.unread_since is not None and now - f.unread_since > case.input_limit + detect:
            self.notes["input_stall"] += 1
            self.notes["stuck_for_good"] += w.consumer_stuck == "always"
            why.append(f"input waiting unread for {now - f.unread_since:g}s")
        if len(f.errors) >= 3 and f.errors[-1] - f.errors[0] >= case.input_limit:
            self.notes["error_replays"] += 1
            why.append(f"{len(f.errors)} error replays with no progress in "
                       f"{f.errors[-1] - f.errors[0]:g}s")
        elif f.errors:
            self.notes["error_replays_too_few"] += 1
        if not w.assigned:
            self.notes["unassigned"] += 1
            why.append("no partitions assigned")
        if f.down_since is not None and now - f.down_since > 1.0 + TURN_S + case.delivery_limit:
            self.notes["broker_down"] += 1
            why.append("broker down")
        return why

    def answers(self) -> dict[str, Any]:
        ready, detail = self.scorer.health.ready()
        got: dict[str, Any] = {"ready": ready, "detail": detail, "error_replays_total": 0.0}
        for metric in self.scrape.collect():  # a scrape of these alone
            for sample in metric.samples:
                if sample.name == "anomaly_gan_replays_total":
                    if sample.labels.get("reason") == "error":
                        got["error_replays_total"] = sample.value
                else:
                    got[sample.name] = sample.value
        return got

    def check(self, step: int) -> None:
        why = self.must_not_ready()
        got = self.answers()
        f, now = self.world.facts, self.clock.now
        problems = []
        if why and got["ready"]:
            problems.append(f"ready ({got['detail']}) while the docs say 503: {why}")
        if got["anomaly_gan_ready"] != float(got["ready"]):
            problems.append("anomaly_gan_ready disagrees with /readyz")
        if got["error_replays_total"] != f.errors_total:
            problems.append(f"{got['error_replays_total']:g} error replays counted, "
                            f"{f.errors_total} errors raised: a record stopped the loop")
        if got["anomaly_gan_error_replays_without_progress"] < len(f.errors):
            problems.append(f"the gauge counts fewer error replays than came since the last "
                            f"documented progress ({len(f.errors)})")
        if self.stopping:
            if got["ready"] or got["detail"] != "shutting down":
                problems.append(f"stopping, yet /readyz says {got['detail'] or 'ready'!r}, not "
                                f"'shutting down'")
            else:
                self.notes["stop_shutting_down"] += 1
        problems += self.acknowledged()
        healthy_for = now - self.faulty_at
        settle = self.case.input_limit + self.case.delivery_limit + 4.0
        if not why and healthy_for >= settle and not self.stopping:
            self.notes["healthy_ready"] += 1
            self.notes["healthy_idle_ready"] += not self.world.waiting(0)
            if not got["ready"]:
                problems.append(f"not ready ({got['detail']}) after {healthy_for:g}s with no "
                                f"fault")
        if problems:
            raise AssertionError("\n".join([*self.shown, f"step {step} (t={now - 1000:g}s): "
                                            + "; ".join(problems), f"  product: {got}",
                                            f"  world: faults={self.faults()} {f}"]))

    def acknowledged(self) -> list[str]:
        """Invariant 5 for the output acknowledged since the last call; the sets of what
        was acknowledged."""
        w, problems = self.world, []
        for topic, _, value, headers in w.delivered[self.seen:]:
            if topic == "anomaly-gan.dlq":
                self.dead.add(dict(headers)["source"].decode())
                continue
            rec = json.loads(value)
            if rec.get("status", "firing") != "firing":
                continue
            key = (rec["entity"], rec["window_end_ts"])
            (self.scored if topic == "scores" else self.alerted).add(key)
            version = rec["model_version"]
            read = w.read_versions.get(self.row_at[key], set())
            expected = self.value_at[key] + int(version[1:]) / 8
            if version not in read:
                problems.append(f"{topic} record of {key[0]} ending at {key[1] - T0:g} names "
                                f"{version}; its last record was read with {sorted(read)} in use")
            elif abs(rec["score"] - expected) > 1e-9:
                problems.append(f"{topic} record of {key[0]} ending at {key[1] - T0:g} names "
                                f"{version} but its score {rec['score']} is not that "
                                f"version's ({expected})")
            else:
                self.notes["version_checked"] += 1
        self.seen = len(w.delivered)
        return problems

    def undelivered(self) -> dict[Any, tuple[int, str]]:
        """Per partition, the lowest offset the group's commit may not pass (invariant 6)
        and why: the first row of a window without its acknowledged output, a poison record
        or an unreadable batch without its dead letter. Records an ``auto_offset_reset:
        latest`` left unread are exempt."""
        w, low = self.world, {}

        def hold(tp: Any, offset: int, why: str) -> None:
            if offset >= w.left_unread.get(tp, 0) and offset < low.get(tp, (1 << 62, ""))[0]:
                low[tp] = (offset, why)

        for tp, offset in self.poison:
            if f"{tp.topic}/{tp.partition}/{offset}" not in self.dead:
                hold(tp, offset, f"poison record {tp.partition}/{offset}")
        for tp, first, _ in w.corrupt:
            if f"{tp.topic}/{tp.partition}/{first}" not in self.dead:
                hold(tp, first, f"unreadable batch at {tp.partition}/{first}")
        for e, rows in self.good.items():
            for i in range(WINDOW - 1, len(rows)):
                key = (f"e{e}", rows[i][0])
                if key not in self.scored or (rows[i][1] > 10.0 and key not in self.alerted):
                    tp, first = self.where[e][i - WINDOW + 1]
                    hold(tp, first, f"window of e{e} ending at {rows[i][0] - T0:g}")
        return low

    def commit_problems(self) -> list[str]:
        w, problems = self.world, []
        for tp, (offset, why) in self.undelivered().items():
            committed = w.group.get(tp, 0)
            if committed > len(w.logs[tp]):
                continue  # the injected fault: past the end, moved at its reset
            self.notes["commit_checked"] += 1
            if committed > offset:
                problems.append(f"partition {tp.partition}: committed {committed}, past "
                                f"offset {offset} ({why}) whose output was never acknowledged")
        return problems

    def after_step(self, step: int) -> None:
        w = self.world
        problems = self.acknowledged() + self.commit_problems() + w.stale[:3]
        if w.resets_this_process > 1:  # injected once per process, at its start
            problems.append(f"{w.resets_this_process} offset resets for one offset past the "
                            f"end: the new position was not where a replay resumed")
        if problems:
            raise AssertionError("\n".join([*self.shown, f"step {step} (t="
                                            f"{self.clock.now - 1000:g}s): " + "; ".join(problems),
                                            (f"  world: faults={self.faults()} "
                                             f"group={self.world.group}")]))

    def stop_and_restart(self, step: int, mid_turn: bool) -> None:
        """SIGTERM (during whatever faults are on), the drain, then a new process on the same
        world from the group's commit (invariant 7)."""
        w, scorer = self.world, self.scorer
        replay_due = scorer._must_rewind
        scorer.request_stop()  # from the signal handler, the loop anywhere in its turn
        self.stopping = True
        self.check(step)
        if mid_turn:  # the turn under way ends before run() drains
            self.turn()
            self.check(step)
            replay_due = scorer._must_rewind
        before = dict(w.group)
        w.second_signal, w.on_signal = self.case.second_sigterm, self.second_sigterm
        try:
            rc = scorer.drain()
        except ProcessEnded as ended:
            # docs *Shutdown*: exit 130 at once, nothing more committed; what was read since
            # the last commit is read again at the next start (the restart's checks)
            self.notes["second_sigterm"] += 1
            self.shown.append(f"  --- a second SIGTERM in the drain's {self.case.second_sigterm}")
            if ended.code != 130 or w.group != before:
                said = (f"step {step}: a second SIGTERM exited {ended.code}, committed "
                        f"{before} -> {w.group}")
                raise AssertionError("\n".join([*self.shown, said])) from None
            self.after_step(step)
            self.restart()
            return
        w.second_signal = ""
        self.check(step)
        self.after_step(step)
        problems = []
        if replay_due:
            self.notes["stop_replay_due"] += 1
            if rc != 1 or w.group != before:
                problems.append(f"a stop with a replay due exited {rc}, committed "
                                f"{before} -> {w.group}")
        if rc == 0:
            self.notes["stop_clean"] += 1
            if w.pending:
                problems.append(f"exit 0 with {len(w.pending)} records unacknowledged")
        else:
            self.notes["stop_unclean"] += 1
        if problems:
            raise AssertionError("\n".join([*self.shown, f"step {step}: " + "; ".join(problems)]))
        self.shown.append(f"  --- drained: exit {rc}, committed {w.group}; a new process")
        self.restart()

    def second_sigterm(self) -> None:
        """serve's handler of a second SIGTERM while stopping (its process exit patched)."""
        def ended(code: int) -> NoReturn:
            raise ProcessEnded(code)

        with mock.patch.object(service, "end_now", ended):
            service._stop_now(signal.SIGTERM, self.case.grace)

    def restart(self) -> None:
        w = self.world
        self.stopping = False
        w.restart()
        self.scored_before_restart = set(self.scored)
        if self.case.past_end is not None:
            tp = w.tps[int(self.case.past_end * self.case.partitions)]
            w.group[tp] = len(w.logs[tp]) + 1000  # committed against another cluster
            w.auto_offset_reset = self.case.policy
            self.shown.append(f"  --- {tp.partition}: committed offset past its end")
        self.scorer, self.reg = build(w, self.seed + 1, self.case.delivery_limit,
                                      self.case.input_limit, grace=self.case.grace)
        self.scrape = self.reg.restricted_registry(SCRAPED)
        self.faulty_at = self.clock.now

    # ------------------------------------------------------------------ the run

    def play(self) -> None:
        w = self.world
        for step, (event, arg) in enumerate(self.case.steps):
            if event == "stop":
                self.shown.append(f"  {step:3d} t={self.clock.now - 1000:g} stop "
                                  f"(mid-turn: {arg}) during {self.faults()}")
                self.stop_and_restart(step, arg)
                continue
            self.apply(event, arg)
            turns = int(arg / TURN_S) if event == "idle" else self.rng.randint(1, 4)
            self.shown.append(f"  {step:3d} t={self.clock.now - 1000:g} {event} {arg}"
                              f" ({turns} turns)")
            for _ in range(turns):
                self.turn()
                self.check(step)
            self.after_step(step)
        self.shown.append("  --- heal: every fault ends")
        w.down = False
        w.facts.down_since = None
        w.poll_errors = w.commit_failures = 0
        w.bad_spot = None
        w.search_failures = 0
        if w.producer != "stuck":  # a stuck producer ends only when the scorer replaces it
            w.producer = "ok"
        w.consumer_stuck = ""
        # a new consumer's joining the group is no fault: it comes, with every partition
        joining = sorted(w.assigned) if w.rejoin else []
        w.rebalance = None
        if set(w.tps) - w.assigned or joining:
            w.rebalance = ([], sorted(set(w.tps) - w.assigned) + joining)
        step = len(self.case.steps)
        quiet = 0
        for _ in range(2000):
            self.turn()
            self.check(step)
            done = (not w.rebalance and not w.pending and not w.waiting(0)
                    and self.scorer.health.ready()[0])
            quiet = quiet + 1 if done else 0
            if quiet * TURN_S > self.case.input_limit + self.case.delivery_limit + 6:
                break
        else:
            raise AssertionError("\n".join([*self.shown, "the loop never caught up"]))
        self.after_step(step)
        self.outcome(step)

    def outcome(self, step: int) -> None:
        """Invariants 2 and 3 once the faults ended."""
        w = self.world
        for name in ("revoke_committed", "commit_failed", "producer_replaced",
                     "consumer_replaced", "model_swapped", "swap_inflight", "reload_failure",
                     "restarted", "corrupt_skipped", "corrupt_search_failed", "offset_reset",
                     "blip"):
            self.notes[name] += w.counts.get(name, 0)
        for how, rule in [("a commit", "progress_commit"), ("read past", "progress_read_past"),
                          ("no error", "progress_idle")]:
            self.notes[rule] += sum(how in p for p in w.facts.progress)
        self.notes["offset_reset_latest"] += bool(w.left_unread)
        problems = []
        dead = self.dead
        for tp, first, after in w.corrupt:
            if f"{tp.topic}/{tp.partition}/{first}" not in dead:
                if first >= w.left_unread.get(tp, 0):
                    problems.append(f"unreadable batch {tp.partition}/{first}: no dead letter")
            else:
                self.notes["corrupt_dead_lettered"] += 1
                self.notes["corrupt_committed_past"] += w.group.get(tp, 0) >= after
        for tp, offset in self.poison:
            if offset < w.left_unread.get(tp, 0):
                continue
            if f"{tp.topic}/{tp.partition}/{offset}" not in dead:
                problems.append(f"poison record {tp.partition}/{offset}: no dead letter")
            else:
                self.notes["poison_dead_lettered"] += 1
        # the commit stops at the oldest event a window (W-1 events) or an anomalous run
        # (consecutive: 1, so up to 2 windows more) still needs: never further back
        for tp in w.tps:
            held = [o for o, r in enumerate(w.logs[tp]) if (tp, o) not in self.poison
                    and not any(t == tp and a <= o < b for t, a, b in w.corrupt)]
            by_entity: dict[bytes, list[int]] = {}
            for o in held:
                by_entity.setdefault(w.logs[tp][o].key, []).append(o)
            need = min([os_[-(WINDOW - 1 + 2):][0] for os_ in by_entity.values()],
                       default=len(w.logs[tp]))
            committed = w.group.get(tp, 0)
            if committed < need:
                problems.append(f"partition {tp.partition}: committed {committed}, yet nothing "
                                f"before offset {need} is needed again")
            self.notes["poison_committed_past"] += sum(
                1 for p, o in self.poison if p == tp and o < committed)
        scored, alerted = self.scored, self.alerted
        for e, rows in self.good.items():
            for i in range(WINDOW - 1, len(rows)):
                ts, value = rows[i]
                tp, first = self.where[e][i - WINDOW + 1]
                if first < w.left_unread.get(tp, 0):
                    continue  # auto_offset_reset: latest left it unread
                if (f"e{e}", ts) not in scored:
                    problems.append(f"window of e{e} ending at {ts - T0:g}: no score delivered")
                else:
                    self.notes["window_delivered"] += 1
                    self.notes["restart_delivered"] += (
                        self.scored_before_restart is not None
                        and (f"e{e}", ts) not in self.scored_before_restart)
                if value > 10.0:
                    if (f"e{e}", ts) not in alerted:
                        problems.append(f"anomalous window of e{e} ending at {ts - T0:g}: no "
                                        f"alert delivered")
                    else:
                        self.notes["alert_delivered"] += 1
        if problems:
            raise AssertionError("\n".join([*self.shown, f"after the heal (step {step}):",
                                            *problems[:10]]))


def run_case(seed: int, notes: Counter[str]) -> None:
    Run(make_case(seed), seed, notes).play()


def check_seed(seed: int) -> None:
    run_case(seed, Counter())


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, SEEDS, size=50), ids=block_id)
def test_the_loop_feeds_readiness_as_documented(seeds):
    each_seed(seeds, check_seed)


NOTES: Counter[str] = Counter()


def test_the_histories_reach_every_rule():
    """The default seeds reach every rule: each stall past its limit, error replays that fail
    readiness and too few that do not, each kind of documented progress, no partitions, a
    broker down, a healthy replica (idle too) checked ready, poison dead-lettered and
    committed past, windows and alerts delivered, a commit on revoke, a failed commit, a
    replaced producer and consumer, a consumer stuck for good; a model swapped in (with a
    batch in flight too) and a bundle refused, versions checked; a stop that answers
    `shutting down`, exits 0 and 1, with a replay due, a restart that delivers what was not
    delivered before; an unreadable batch skipped, dead-lettered, committed past, its search
    failing; an offset past the end reset (by `latest` too); the commit checked against what
    was not acknowledged. A test of nothing would pass too."""
    assert_every_rule_reached(RULES, lambda seed: run_case(seed, NOTES),
                              range(SEED_START, SEED_START + min(SEEDS, 60)), NOTES)


# ---------------------------------------------------------------------- named histories
# Histories the random draws reach seldom, each played on the same world and scorer.


def _world_turn(run: Run) -> None:
    run.turn()
    run.check(0)
    run.after_step(0)


def _named_run(partitions: int = 1, input_limit: float = 2.0) -> Run:
    case = Case(partitions, 1, 2.0, input_limit, [])
    run = Run(case, 0, Counter())
    run.apply("records", [(0, False, 1.0) for _ in range(6)])
    return run


def test_a_consumer_replaced_before_a_reset_is_committed_resumes_from_the_reset():
    """docs/streaming.md *Broker outages*: a position past the end is reset once. A consumer
    that replaces a stuck one before the reset's commit lands joins at the group's offset,
    still past the end: until 2026-12-07 the partition waited there another
    input_stall_seconds and was reset a second time."""
    run = _named_run()
    w, tp = run.world, run.world.tps[0]
    for _ in range(4):
        _world_turn(run)
    w.group[tp] = len(w.logs[tp]) + 1000  # committed against another cluster
    w.restart()
    run.scorer, run.reg = build(w, 1, 2.0, 2.0)
    run.scrape = run.reg.restricted_registry(SCRAPED)
    w.commit_failures = 1 << 30  # the reset's commit does not land
    run.apply("records", [(0, False, 1.0) for _ in range(3)])
    for _ in range(100):
        _world_turn(run)
        if w.counts.get("offset_reset"):
            break
    assert w.counts.get("offset_reset") == 1
    w.consumer_stuck = "once"  # stuck at once: replaced before any commit lands
    for _ in range(100):
        _world_turn(run)
        if w.counts.get("consumer_replaced"):
            break
    assert w.counts.get("consumer_replaced") == 1
    for _ in range(20):
        _world_turn(run)
    w.commit_failures = 0
    for _ in range(40):
        _world_turn(run)
    assert w.counts.get("offset_reset") == 1, run.shown
    assert w.group[tp] <= len(w.logs[tp])  # the reset committed at last


def test_a_momentary_outage_after_a_replaced_consumer_keeps_the_input_stall():
    """A replica whose consumers all stay stuck stays not ready (docs *Broker outages*),
    even when the broker reads as unreachable for a moment just after a consumer is
    replaced (its connection not up yet): until 2026-12-07 that started the stall count
    again, and /readyz answered 200 while nothing was read."""
    run = _named_run()
    w = run.world
    w.consumer_stuck = "always"
    w.blip_after_replace = 1
    for _ in range(200):
        _world_turn(run)  # the reference: not ready once the input waited past the limit
        if w.counts.get("blip", 0) >= 3:
            break
    assert w.counts.get("blip", 0) >= 3
    assert not run.scorer.health.ready()[0]


def test_a_reset_whose_commit_a_replay_cut_off_is_committed_without_a_read():
    """docs/streaming.md *Broker outages*: the new position of a reset past the end is
    committed. A replay due before its commit landed cleared the positions and sought the
    partition to the reset; until 2026-12-07 only a partition read since was committed, so
    an idle partition (``latest``: nothing after the end) kept the group's offset past the
    end: a revoke committed nothing for it and the next owner, or the next process, reset it
    again (seed 800934)."""
    run = _named_run()
    w, tp = run.world, run.world.tps[0]
    for _ in range(4):
        _world_turn(run)
    w.group[tp] = len(w.logs[tp]) + 1000  # committed against another cluster
    w.auto_offset_reset = "latest"
    w.restart()
    run.scorer, run.reg = build(w, 1, 2.0, 2.0)
    run.scrape = run.reg.restricted_registry(SCRAPED)
    w.commit_failures = 1 << 30  # the reset's commit does not land
    for _ in range(100):
        _world_turn(run)
        if w.counts.get("offset_reset"):
            break
    assert w.counts.get("offset_reset") == 1
    w.poll_errors = 1  # a replay: the rewind seeks the partition to the reset
    for _ in range(20):
        _world_turn(run)
    w.commit_failures = 0
    for _ in range(40):
        _world_turn(run)
    assert w.group[tp] == len(w.logs[tp]), (w.group, run.shown)
    assert w.counts.get("offset_reset") == 1
