"""Seeded test of ``serve``'s health and readiness against a reference written from the docs.

:func:`reference` restates docs/deployment.md (*Probes*, the ``AnomalyGanNotReady`` row),
docs/streaming.md (*Failed deliveries*, *Errors that recur at every replay*, *Broker
outages*, *Metrics and probes*), docs/runbook.md (the ``AnomalyGanNotReady`` details) and
docs/CONTRACTS.md (the gauges) without the product's code. It keeps what happened to a
replica (the loop's turns, the model, the broker, partitions, output sent, acknowledged or
failed, input waiting unread, error replays and progress, a stop) and answers from that:

- ``/healthz``: 503 once the loop's last turn is older than the liveness timeout
  (max(60 s, 3 x ``max_poll_interval_ms``)), else 200 (also before the first turn).
- ``/readyz``: 200 only when the loop keeps turning, a model is loaded, the broker is
  reachable, no output has gone unacknowledged for more than ``delivery_stall_seconds``
  (records pending since they became pending or since the last acknowledgement, or a run of
  failed deliveries that no clean flush has ended, counted from its first failure), no
  input has waited unread for more than ``input_stall_seconds``, fewer than 3 error replays
  with no progress or ones spanning less than ``input_stall_seconds`` from the first to the
  last, partitions are assigned and the scorer is not stopping. A 503's detail is the text
  the runbook gives for one of the conditions that hold (the docs fix no order among them);
  a 200's is ``N partition(s) assigned``.
- The gauges: ``anomaly_gan_ready`` (1 when /readyz would answer 200),
  ``anomaly_gan_broker_up`` (connected and output acknowledged),
  ``anomaly_gan_assigned_partitions``, ``anomaly_gan_delivery_stalled_seconds``,
  ``anomaly_gan_input_stalled_seconds``, ``anomaly_gan_error_replays_without_progress``, and
  from them whether the shipped ``AnomalyGanNotReady`` expression would be true: not ready,
  except on an idle replica (no partition) whose broker is up beside replicas of its release
  that hold the partitions; where no replica of the release holds one (the input topic
  missing), not ready is enough.

The product is what ``serve`` wires (stream/app.py, stream/service.py): a
:class:`~anomaly_gan.stream.http.Health` on a hand-moved clock, a
:class:`~anomaly_gan.stream.kafka_io.Delivery` watched with ``delivery_stall_seconds``, an
input-stall reading watched with ``input_stall_seconds``, error replays as the scorer hands
them over, and :class:`~anomaly_gan.stream.metrics.StreamMetrics` on a fresh registry. How
the scorer decides that input waits or that the loop progressed is tested with its fake
Kafka in tests/stream/test_app.py; here those are events of the history.

Each seed draws the three timings (small, so that the clock crosses each often and lands on
each limit exactly), whether the model is loaded at start, and 20-120 events; readiness is
compared after every event. ``READINESS_SPEC_FUZZ_SEEDS`` (default 400) seeds from
``READINESS_SPEC_FUZZ_SEED_START`` (default 0): ``READINESS_SPEC_FUZZ_SEED_START=17
READINESS_SPEC_FUZZ_SEEDS=1`` runs seed 17 alone.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from anomaly_gan.stream.http import Health
from anomaly_gan.stream.kafka_io import Delivery
from anomaly_gan.stream.metrics import StreamMetrics
from tests.support.fuzz import (
    assert_every_rule_reached,
    block_id,
    each_seed,
    first_difference,
    seed_blocks,
)
from tests.support.stream_fakes import Clock

SEEDS = int(os.environ.get("READINESS_SPEC_FUZZ_SEEDS", "400"))
SEED_START = int(os.environ.get("READINESS_SPEC_FUZZ_SEED_START", "0"))

GAUGES = ("anomaly_gan_ready", "anomaly_gan_broker_up", "anomaly_gan_assigned_partitions",
          "anomaly_gan_delivery_stalled_seconds", "anomaly_gan_input_stalled_seconds",
          "anomaly_gan_error_replays_without_progress")

#: the rules of the docs, each counted by the reference when it decides an answer
RULES = {"starting", "loop_stalled", "loop_at_liveness_limit", "no_model", "broker_down",
         "broker_reason", "delivery_pending_stall", "delivery_failing_stall",
         "delivery_at_limit", "acked_in_time", "input_stall", "input_at_limit",
         "error_replays", "error_replays_too_few", "error_replays_too_short",
         "error_replays_at_span", "progress_after_errors", "unassigned",
         "unassigned_reason", "idle_replica_left_out", "idle_replica_broker_stalled",
         "stopping", "ready", "several_reasons"}


@dataclass
class Case:
    liveness: float
    delivery_limit: float
    input_limit: float
    model_at_start: bool
    events: list[tuple[float, str, Any]]  # (seconds the clock moves first, event, argument)


# -- the reference ------------------------------------------------------------------------


@dataclass
class World:
    """What happened, as the docs speak of it."""

    last_turn: float | None = None
    model: bool = False
    broker: bool = False
    broker_why: str = ""
    partitions: int = 0
    unassigned_why: str = ""
    pending: int = 0
    pending_since: float = 0.0  # output became pending, or its last acknowledgement
    failing_since: float | None = None  # the first failed delivery no clean flush ended
    waiting_since: float | None = None  # input waiting unread on an assigned partition
    replays: list[tuple[float, str]] = field(default_factory=list)  # since the last progress
    stopping: bool = False


def apply(w: World, now: float, event: str, arg: Any) -> None:
    if event == "turn":
        w.last_turn = now
    elif event == "model":
        w.model = True
    elif event == "broker":
        w.broker, w.broker_why = arg
    elif event == "assign":
        w.partitions, w.unassigned_why = arg
        if not w.partitions:
            w.waiting_since = None  # nothing assigned: no input waits on this replica
    elif event == "send":
        if w.pending == 0:
            w.pending_since = now
        w.pending += arg
    elif event == "ack":  # acknowledged, or failed (which also ends the wait for it)
        n, failed = arg
        if failed and w.failing_since is None:
            w.failing_since = now
        w.pending -= n
        w.pending_since = now
    elif event == "new_producer":  # pending records dropped (read again), failures go on
        w.pending, w.pending_since = 0, now
    elif event == "clean_flush":  # everything sent was acknowledged
        w.failing_since = None
    elif event == "input_waits":
        if w.waiting_since is None:
            w.waiting_since = now
    elif event == "input_read":
        w.waiting_since = None
    elif event == "error_replay":
        w.replays.append((now, arg))
    elif event == "progress":
        w.replays.clear()
    elif event == "stop":
        w.stopping = True
    else:  # pragma: no cover - the generator makes only the events above
        raise AssertionError(event)


def reference(case: Case, w: World, now: float, notes: Counter[str]) -> dict[str, Any]:
    """The probes' answers and the gauges the docs promise for ``w`` at ``now``: ``ready``
    and ``alive`` are (ok, the details allowed)."""
    reasons: list[str] = []
    alive, alive_detail = True, None
    if w.last_turn is None:
        notes["starting"] += 1
    else:
        age = now - w.last_turn
        notes["loop_at_liveness_limit"] += age == case.liveness
        if age > case.liveness:
            notes["loop_stalled"] += 1
            alive, alive_detail = False, f"scoring loop stalled for {age:.0f}s"
            reasons.append(alive_detail)
    if w.stopping:
        notes["stopping"] += 1
        reasons.append("shutting down")
    if not w.model:
        notes["no_model"] += 1
        reasons.append("no model loaded")
    if not w.broker:
        notes["broker_down"] += 1
        notes["broker_reason"] += bool(w.broker_why)
        reasons.append(w.broker_why or "broker unreachable")
    pending_for = now - w.pending_since if w.pending else 0.0
    failing_for = now - w.failing_since if w.failing_since is not None else 0.0
    unacked = max(pending_for, failing_for)
    notes["delivery_at_limit"] += unacked == case.delivery_limit
    notes["acked_in_time"] += w.pending > 0 and 0 < pending_for <= case.delivery_limit
    delivering = unacked <= case.delivery_limit
    if not delivering:
        notes["delivery_pending_stall"] += pending_for > case.delivery_limit
        notes["delivery_failing_stall"] += failing_for > case.delivery_limit
        reasons.append(f"no output acknowledged for {unacked:.0f}s")
    waited = now - w.waiting_since if w.waiting_since is not None else 0.0
    notes["input_at_limit"] += waited == case.input_limit
    if waited > case.input_limit:
        notes["input_stall"] += 1
        reasons.append(f"input waiting, nothing read for {waited:.0f}s")
    n = len(w.replays)
    span = w.replays[-1][0] - w.replays[0][0] if w.replays else 0.0
    notes["error_replays_at_span"] += n >= 3 and span == case.input_limit
    if n >= 3 and span >= case.input_limit:
        notes["error_replays"] += 1
        reasons.append(f"{n} error replays in {span:.0f}s with no progress, "
                       f"the last: {w.replays[-1][1]}")
    else:
        notes["error_replays_too_few"] += 0 < n < 3 and span >= case.input_limit
        notes["error_replays_too_short"] += n >= 3 and span < case.input_limit
    if not w.partitions:
        notes["unassigned"] += 1
        notes["unassigned_reason"] += bool(w.unassigned_why)
        reasons.append(f"no partitions assigned: {w.unassigned_why}" if w.unassigned_why
                       else "no partitions assigned")
    ready = not reasons
    notes["ready"] += ready
    notes["several_reasons"] += len(reasons) > 1
    broker_up = w.broker and delivering
    idle = not w.partitions and broker_up
    notes["idle_replica_left_out"] += idle and not ready
    notes["idle_replica_broker_stalled"] += not w.partitions and w.broker and not delivering
    return {
        "alive": (alive, {alive_detail} if not alive else None),
        "ready": (ready, {f"{w.partitions} partition(s) assigned"} if ready else set(reasons)),
        "anomaly_gan_ready": float(ready),
        "anomaly_gan_broker_up": float(broker_up),
        "anomaly_gan_assigned_partitions": float(w.partitions),
        "anomaly_gan_delivery_stalled_seconds": unacked,
        "anomaly_gan_input_stalled_seconds": waited,
        "anomaly_gan_error_replays_without_progress": float(n),
        "AnomalyGanNotReady": not ready and not idle,  # beside replicas holding partitions
        "AnomalyGanNotReady, no replica holds a partition": not ready,
    }


# -- the product, wired as serve wires it -----------------------------------------------


class Product:
    def __init__(self, case: Case) -> None:
        self.clock = Clock()
        self.health = Health(liveness_timeout_s=case.liveness, clock=self.clock)
        self.health.model_loaded = case.model_at_start
        self.delivery = Delivery(clock=self.clock)
        self.health.watch_delivery(self.delivery, case.delivery_limit)
        self.waiting_since: float | None = None
        self.health.watch_input(self.input_stalled_for, case.input_limit)
        self.health.watch_errors(case.input_limit)
        self.registry = CollectorRegistry()
        StreamMetrics(self.registry).watch_health(self.health)
        self.gauges = self.registry.restricted_registry(GAUGES)  # a scrape of these alone
        self.first_error: float | None = None

    def input_stalled_for(self) -> float:
        return 0.0 if self.waiting_since is None else self.clock() - self.waiting_since

    def apply(self, event: str, arg: Any) -> None:
        h, now = self.health, self.clock()
        if event == "turn":
            h.beat()
        elif event == "model":
            h.model_loaded = True
        elif event == "broker":
            h.broker_up, h.broker_reason = arg
        elif event == "assign":
            h.assigned, h.unassigned_reason = arg
            if not h.assigned:
                self.waiting_since = None
        elif event == "send":
            for _ in range(arg):
                self.delivery.sent()
        elif event == "ack":
            n, failed = arg
            for _ in range(n):
                if failed:
                    self.delivery.failed()
                self.delivery.done()
        elif event == "new_producer":
            self.delivery.reset()
        elif event == "clean_flush":
            self.delivery.recovered()
        elif event == "input_waits":
            if self.waiting_since is None:
                self.waiting_since = now
        elif event == "input_read":
            self.waiting_since = None
        elif event == "error_replay":  # as the scorer hands a replay over (_error_replayed)
            if self.first_error is None:
                self.first_error = now
            h.error_replays = (h.error_replays[0] + 1, now - self.first_error, arg)
        elif event == "progress":
            self.first_error = None
            h.error_replays = (0, 0.0, "")
        elif event == "stop":
            h.stopping = True

    def answers(self) -> dict[str, Any]:
        alive, alive_why = self.health.alive()
        ready, ready_why = self.health.ready()
        got: dict[str, Any] = {"alive": (alive, alive_why), "ready": (ready, ready_why)}
        for metric in self.gauges.collect():
            for sample in metric.samples:
                got[sample.name] = sample.value
        assert set(GAUGES) <= set(got), sorted(set(GAUGES) - set(got))
        # the shipped rule's expression: ready + broker_up * (assigned == bool 0)
        # * (the release's assigned > bool 0) == 0, beside replicas that hold 2 and none
        assigned = got["anomaly_gan_assigned_partitions"]
        for key, others in (("AnomalyGanNotReady", 2.0),
                            ("AnomalyGanNotReady, no replica holds a partition", 0.0)):
            got[key] = got["anomaly_gan_ready"] + got["anomaly_gan_broker_up"] * (
                assigned == 0) * (assigned + others > 0) == 0
        return got


def _agree(want: dict[str, Any], got: dict[str, Any]) -> bool:
    for key, value in want.items():
        if key in ("alive", "ready"):
            ok, allowed = value
            if got[key][0] != ok or (allowed is not None and got[key][1] not in allowed):
                return False
        elif got[key] != value:
            return False
    return True


# -- the cases ------------------------------------------------------------------------------


ERRORS = ["RuntimeError: cannot read the record batch at offset 10",
          "ValueError: bad", "KeyError: 'x'"]


def make_case(seed: int) -> Case:
    rng = random.Random(seed)
    liveness = float(rng.choice([3, 5, 8]))
    delivery_limit = float(rng.choice([1, 2, 4]))
    input_limit = float(rng.choice([2, 3, 5]))
    events: list[tuple[float, str, Any]] = []
    p_turn = rng.uniform(0.5, 0.95)  # a loop that turns often, or one that gets stuck
    for _ in range(rng.randint(20, 120)):
        dt = float(rng.choice([0, 0, 0.5, 1, 1, 1, 2, 3]))
        r = rng.random()
        if r < p_turn * 0.35:
            ev: tuple[str, Any] = ("turn", None)
        elif r < 0.4:
            ev = rng.choice([("send", rng.randint(1, 3)), ("ack", (1, rng.random() < 0.25)),
                             ("new_producer", None), ("clean_flush", None)])
        elif r < 0.5:
            ev = rng.choice([("input_waits", None), ("input_read", None)])
        elif r < 0.62:
            ev = rng.choice([("error_replay", rng.choice(ERRORS))] * 3 + [("progress", None)])
        elif r < 0.72:
            n = rng.choice([0, 1, 1, 2, 3])
            why = "input topic 'events' not found on the brokers (the scorer creates none)"
            ev = ("assign", (n, why if not n and rng.random() < 0.3 else ""))
        elif r < 0.78:
            up = rng.random() < 0.7
            why = "" if up or rng.random() < 0.6 else "authentication failed for sasl_username u"
            ev = ("broker", (up, why))
        elif r < 0.8:
            ev = ("model", None)
        elif r < 0.805:
            ev = ("stop", None)
        else:
            ev = ("turn", None)
        events.append((dt, *ev))
    return Case(liveness, delivery_limit, input_limit, rng.random() < 0.8, events)


def _possible(w: World, event: str, arg: Any) -> tuple[str, Any] | None:
    """An acknowledgement needs a pending record and a clean flush nothing pending: the
    event as it can happen, or None."""
    if event == "ack" and w.pending == 0:
        return None
    if event == "clean_flush" and w.pending:
        return None
    return event, arg


def run_case(case: Case, notes: Counter[str]) -> None:
    w = World(model=case.model_at_start)
    product = Product(case)
    now = product.clock.now
    shown: list[str] = []
    wants: list[dict[str, Any]] = []
    gots: list[dict[str, Any]] = []
    for step, (dt, event, arg) in enumerate(case.events):
        allowed = _possible(w, event, arg)
        now += dt
        product.clock.now = now
        if allowed is not None:
            apply(w, now, event, arg)
            product.apply(event, arg)
            if event == "progress":
                notes["progress_after_errors"] += 1
        shown.append(f"  {step:3d} +{dt:g}s t={now:g} {event} {arg}"
                     + ("" if allowed is not None else " (cannot happen: skipped)"))
        wants.append(reference(case, w, now, notes))
        gots.append(product.answers())
        if not _agree(wants[-1], gots[-1]):
            first, lines = first_difference(wants, gots, _agree)
            raise AssertionError("\n".join(
                [(f"liveness={case.liveness} delivery_stall={case.delivery_limit} "
                  f"input_stall={case.input_limit} model_at_start={case.model_at_start}"),
                 *shown, f"step {first}: the docs and the product disagree:", *lines]))


def check_seed(seed: int) -> None:
    run_case(make_case(seed), Counter())


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, SEEDS), ids=block_id)
def test_readiness_keeps_the_documented_contract(seeds):
    each_seed(seeds, check_seed)


NOTES: Counter[str] = Counter()


def test_the_cases_reach_every_rule():
    """The default seeds make every case the docs speak of, at least once: a loop before its
    first turn, stuck, and exactly at the liveness timeout; no model; a broker down, with a
    reason; output pending past the limit, a run of failures past it, and either exactly at
    it; input waiting past the limit and exactly at it; error replays that fail readiness,
    too few of them, too short a span and exactly the span; progress; no partitions, with
    the missing topic named; an idle replica that the alert leaves out and one whose
    delivery stalls; a stop; ready; several reasons at once. A test of nothing would pass
    too."""
    assert_every_rule_reached(RULES, lambda seed: run_case(make_case(seed), NOTES),
                              range(SEED_START, SEED_START + min(SEEDS, 200)), NOTES)
