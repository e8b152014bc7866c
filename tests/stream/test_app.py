"""The scoring loop with test doubles for Kafka and the model: delivery failures, counters,
model swaps between batches."""

from __future__ import annotations

import json
import logging
import math

import pytest
from prometheus_client import CollectorRegistry

from anomaly_gan.config import config_from_dict
from anomaly_gan.stream.app import Scorer
from anomaly_gan.stream.metrics import StreamMetrics
from tests.support.scorer_world import on_hand_clock
from tests.support.stream_fakes import (
    IN,
    TP,
    Clock,
    FakeIO,
    FakeModel,
    Record,
    events,
    make,
    refuse_login,
)


def test_alerts_scores_and_commit_follow_the_events():
    io = FakeIO([events([(t, 1.0) for t in range(4)] + [(4, 50.0)])])
    scorer, reg = make(io)
    scorer.step()
    scorer._score_batch()
    assert scorer._commit(force=True)
    alerts = [json.loads(v) for t, _, v, _ in io.sent if t == "anomaly-gan.alerts"]
    assert [(a["entity"], a["window_end_ts"]) for a in alerts] == [("e", 4.0)]
    assert len([s for s in io.sent if s[0] == "scores"]) == 3
    # Kept: the newest W-1 = 2 events (offsets 3, 4), and offset 2 too, because the last
    # window (2, 3, 4) is in an anomalous run that a replay must re-score.
    assert io.commits[-1] == {IN: 2}
    assert reg.get_sample_value("anomaly_gan_alerts_total", {"model_version": "v1"}) == 1


def test_late_and_gap_events_are_counted():
    io = FakeIO([events([(0, 1.0), (1, 1.0), (0.5, 1.0), (500, 1.0), (501, 1.0), (502, 1.0)])])
    scorer, reg = make(io)
    scorer.step()
    scorer._score_batch()
    scorer._sync_counters()
    assert reg.get_sample_value("anomaly_gan_events_late_total") == 1
    assert reg.get_sample_value("anomaly_gan_window_restarts_total", {"reason": "gap"}) == 1
    assert reg.get_sample_value("anomaly_gan_windows_scored_total") == 1  # 500..502 only


def test_an_unacknowledged_record_blocks_the_commit_and_rewinds_after_a_backoff():
    io = FakeIO([[Record(0, b"k", b"{not json")] + events([(t, 1.0) for t in range(3)], 1)],
                fail_topic="anomaly-gan.dlq")
    clock = Clock()
    scorer, reg = make(io, clock=clock)
    scorer.step()
    assert scorer._commit(force=True) is False
    assert io.commits == []  # nothing committed past the lost DLQ record
    assert reg.get_sample_value("anomaly_gan_replays_total", {"reason": "delivery"}) == 1
    io.batches.append(events([(9, 1.0)], 9))
    scorer.step()  # still backing off: nothing is read, nothing is sought
    assert io.seeks == [] and len(io.batches) == 1
    clock.now += 60.0
    scorer.step()
    assert io.seeks == [(IN, None)]  # re-read from the last commit (none: the beginning)
    assert io.batches == []


@pytest.mark.parametrize("then", ["stop", "revoke"])
def test_a_stop_or_revoke_while_a_replay_waits_commits_nothing_past_the_lost_alert(then, caplog):
    """An alert is not delivered (an alert topic that refuses writes), so the loop waits out
    a backoff before reading it again. A SIGTERM then (a rollout while the topic is being
    fixed), or a revoke (a replica joins), committed what was read, past the alert: the
    failure had been taken by the replay, so the final flush looked clean, and the alert
    never reached the topic, neither from this replica nor from the one that read on."""
    rows = [(0, 1.0), (1, 1.0), (2, 1.0), (3, 50.0)] + [(t, 1.0) for t in range(4, 8)]
    io = FakeIO([events(rows)], fail_topic="anomaly-gan.alerts")
    scorer, reg = make(io)
    scorer.step()
    assert scorer._commit() is False  # the alert of window end 3 failed: a replay is due
    assert reg.get_sample_value("anomaly_gan_replays_total", {"reason": "delivery"}) == 1
    if then == "stop":
        scorer.request_stop()
        with caplog.at_level(logging.WARNING, logger="anomaly_gan.stream"):
            assert scorer.run() == 1  # not everything read was committed
        assert any("read again at the next start" in r.getMessage() for r in caplog.records)
    else:
        assert scorer.on_revoked([IN]) is None  # the new owner reads from the last commit
    assert io.commits == []

def test_a_partition_revoked_in_a_replays_backoff_and_back_resumes_from_the_groups_commit():
    """A revoke while a replay waits commits nothing (above). The partition may come back
    before the loop runs again, after another member read on and committed past this one's
    last commit: the rewind sought to the offset this scorer had committed itself, not the
    group's, and read again what the other member had already scored (its alerts twice)."""
    clock = Clock()
    rows = [(t, 1.0) for t in range(6)]
    io = FakeIO([events(rows[:3]), events(rows[3:], 3)], fail_topic=None)
    scorer, _ = make(io, clock=clock)
    scorer.step()
    assert scorer._commit(force=True) and io.commits[-1] == {IN: 1}
    io.fail_topic = "scores"
    scorer.step()
    assert scorer._commit(force=True) is False  # a score was not delivered: a replay is due
    assert scorer.on_revoked([IN]) is None
    io.committed = lambda tp: 40  # the member that owned it meanwhile committed 40
    scorer.on_assigned([IN])
    clock.now += 60.0
    scorer.step()
    assert io.seeks == [(IN, 40)]


def test_a_failed_delivery_whose_replay_finds_nothing_ends_once_the_input_is_read():
    """A delivery fails (a restarted broker refuses the old producer's records) and the
    replay finds nothing to read again: the restarted broker lost the input topic, or the
    partitions went to another replica. Nothing was pending or failing any more, yet
    /readyz said "no output acknowledged" until new input came, since only a commit of
    something read flushed and ended the run of failures (tests/stream/test_broker_outage.py
    waited 90 s for readiness under load). Now a clean flush ends it once the input is known
    to be all read; while records wait to be read again, it does not."""
    from anomaly_gan.stream.kafka_io import Delivery

    clock = Clock()
    io = FakeIO([events([(t, 1.0) for t in range(3)])], fail_topic="scores")
    io.delivery = Delivery(clock=clock)
    scorer, reg = make(io, clock=clock, serve={"kafka": {"scores_topic": "scores",
                                                          "delivery_stall_seconds": 5.0}})
    scorer.step()  # reads 3 records; the score record of their window fails
    assert scorer._commit() is False
    assert reg.get_sample_value("anomaly_gan_replays_total", {"reason": "delivery"}) == 1
    io.input_waiting = True  # the replay's records are still to be read
    clock.now += 60.0
    scorer.step()  # rewinds to the last commit; nothing read yet
    assert io.seeks == [(IN, None)]
    assert scorer.health.ready() == (False, "no output acknowledged for 60s")
    io.input_waiting = False  # the input holds nothing after the last commit
    clock.now += 2.0
    scorer.step()
    assert scorer.health.ready() == (True, "1 partition(s) assigned")
    assert reg.get_sample_value("anomaly_gan_broker_up") == 1
    assert io.commits == []  # nothing was read, so nothing is committed


def test_a_new_model_is_swapped_in_between_batches(caplog):
    new = FakeModel(version="v2")
    new.threshold = 12.5

    class Watcher:
        pending = new

        def take(self):
            det, Watcher.pending = Watcher.pending, None
            return det

    io = FakeIO([events([(t, 1.0) for t in range(3)]), events([(3, 1.0)], 3)])
    old = FakeModel()
    scorer, reg = make(io, model=old)
    scorer.watcher = Watcher()
    with caplog.at_level(logging.INFO, "anomaly_gan.stream"):
        scorer.step()  # first batch: scored by v1, then v2 is installed
    scorer.baseline.refresh()
    # v1's scores are on another scale: the baseline drift waits for v2's own
    assert math.isnan(reg.get_sample_value("anomaly_gan_baseline_drift"))
    scorer.step()
    scorer._score_batch()
    scorer.baseline.refresh()
    assert reg.get_sample_value("anomaly_gan_baseline_drift") == 1.0  # v2's one window
    assert scorer.det is new
    versions = [json.loads(v)["model_version"] for t, _, v, _ in io.sent if t == "scores"]
    assert versions == ["v1", "v2"]
    assert reg.get_sample_value("anomaly_gan_model_info", {"version": "v2", "kind": "ganomaly"}) == 1
    # the operator's log says what the new model compares scores with
    assert [r.fields for r in caplog.records if r.getMessage() == "model swapped"] == [
        {"model_version": "v2", "threshold": 12.5}]


def test_drain_returns_one_when_the_final_flush_fails():
    class FlushFails(FakeIO):
        def flush(self, timeout_s=None):
            raise TimeoutError("broker gone")

    io = FlushFails([events([(t, 1.0) for t in range(3)])])
    scorer, _ = make(io)
    scorer.step()
    scorer.request_stop()
    assert scorer.run() == 1
    assert io.commits == []  # nothing committed: the successor replays it all


def test_a_stop_with_output_unacknowledged_exits_one_though_nothing_is_left_to_commit():
    """A replay (a poll error) dropped what was read, so the drain had nothing to commit and
    did not flush: exit 0 ("clean": true) while the score sent before the replay was never
    acknowledged, the broker gone (tests/stream/test_scorer_progress_fuzz.py, seed 11). The
    docs: exit 1 if the flush could not complete."""
    clock = Clock()

    class BrokerGone(FakeIO):
        gone = False

        def flush(self, timeout_s=None):
            if self.gone:
                raise TimeoutError("KafkaTimeoutError: flush did not finish")

    io = BrokerGone([events([(t, 1.0) for t in range(3)]), RuntimeError("broker hiccup")])
    scorer, _ = make(io, clock=clock)
    scorer.step()
    scorer._score_batch()
    assert [s for s in io.sent if s[0] == "scores"]
    io.gone = True
    scorer.turn()  # the poll raises: a replay from the last commit is due
    clock.now += 5.0  # past its backoff
    scorer.turn()  # the rewind: nothing read since
    assert not scorer._must_rewind and not scorer._next
    scorer.request_stop()
    assert scorer.run() == 1
    assert io.commits == []


def test_a_replay_with_a_batch_in_flight_scores_none_of_its_windows_later():
    """A replay dropped the batch in flight without clearing it, and the loop's two batch
    buffers alternate: two submits later that buffer was filled again on top of its old
    windows, which were published once more, after a hot reload under the new model, though
    read before the swap (tests/stream/test_scorer_progress_fuzz.py, seed 377)."""
    import threading

    gate = threading.Event()

    class Slow(FakeModel):
        def score_windows(self, raw):
            gate.wait(10)
            return super().score_windows(raw)

    clock = Clock()
    io = FakeIO([events([(t, 1.0) for t in range(3)]), RuntimeError("broker hiccup")])
    scorer, _ = make(io, model=Slow(), clock=clock)
    scorer.step()  # the window ending at 2 is in flight
    scorer.turn()  # the poll raises: a replay is due, the batch still in flight
    assert scorer._inflight is not None and scorer._must_rewind
    gate.set()
    io.batches += [events([(t, 1.0) for t in range(3)]), events([(3, 1.0)], 3)]
    clock.now += 5.0  # past the backoff: the rewind, then the replay reads
    for _ in range(3):
        scorer.turn()
    scorer._score_batch()
    ends = [json.loads(v)["window_end_ts"] for t, _, v, _ in io.sent if t == "scores"]
    assert ends == [2.0, 3.0]


def test_readiness_says_shutting_down_from_the_signal_on_not_from_the_drain():
    """SIGTERM while the loop waits in a flush (up to delivery_stall_seconds, at most 30 s,
    before run() gets to drain): /readyz said 200 until the drain began, though the docs say
    503 `shutting down` from SIGTERM on (tests/stream/test_scorer_progress_fuzz.py, seed 1)."""
    seen = []

    class SignalDuringFlush(FakeIO):
        def flush(self, timeout_s=None):
            if not seen:
                scorer.request_stop()  # serve's handler, while the loop waits here
                seen.append(scorer.health.ready())

    io = SignalDuringFlush([events([(t, 1.0) for t in range(3)])])
    scorer, _ = make(io)
    scorer.health.broker_up = scorer.health.assigned = 1
    scorer.step()
    assert scorer.health.ready()[0]
    scorer._commit(force=True)
    assert seen == [(False, "shutting down")]


def test_a_failed_commit_is_retried_later():
    class CommitFailsOnce(FakeIO):
        failures = 1

        def commit(self, offsets):
            if self.failures:
                self.failures -= 1
                raise RuntimeError("coordinator moved")
            super().commit(offsets)

    clock = Clock()
    io = CommitFailsOnce([events([(t, 1.0) for t in range(3)])])
    scorer, _ = make(io, clock=clock)
    clock.now += 10.0
    scorer.step()  # reads, then its periodic commit fails
    assert io.commits == [] and io.failures == 0
    clock.now += 10.0
    scorer.step()  # nothing new read; the next periodic commit goes through
    assert io.commits == [{IN: 1}]


def test_input_that_waits_unread_fails_readiness_then_replaces_the_consumer(caplog):
    """A consumer that is connected and assigned, with records waiting, but whose polls
    return nothing (kafka-python after a broker restart): not ready once it has lasted
    input_stall_seconds (60 by default), then a new consumer and a replay from the commit."""
    clock = Clock()
    io = FakeIO([events([(t, 1.0) for t in range(3)])])
    scorer, reg = make(io, clock=clock)
    scorer.step()  # reads 3 records
    assert scorer._commit(force=True)
    io.input_waiting = True
    scorer.step()  # nothing read for under a second: no question asked
    assert io.probes == 0
    clock.now += 2.0
    scorer.step()  # first sign of waiting input: the stall clock starts
    assert io.probes == 1 and scorer.input_stalled_for() == 0.0
    clock.now += 30.0
    scorer.step()
    assert scorer.input_stalled_for() == 30.0 and scorer.health.ready()[0] is True
    assert reg.get_sample_value("anomaly_gan_input_stalled_seconds") == 30.0
    clock.now += 31.0
    ready, why = scorer.health.ready()
    assert ready is False and why == "input waiting, nothing read for 61s"
    assert reg.get_sample_value("anomaly_gan_ready") == 0
    with caplog.at_level(logging.ERROR, logger="anomaly_gan.stream"):
        scorer.step()
    assert io.resets == 1 and "recreating the consumer" in caplog.text
    assert reg.get_sample_value("anomaly_gan_replays_total", {"reason": "input"}) == 1
    # nothing read yet by the new consumer: the input still waits (see the test below)
    assert scorer.input_stalled_for() == 61.0 and scorer.health.ready()[0] is False
    clock.now += 60.0
    io.batches.append(events([(3, 1.0)], 3))
    scorer.step()  # the replay rewinds to the last commit and the new consumer reads
    assert io.seeks == [(IN, 1)]
    assert scorer.input_stalled_for() == 0.0 and scorer.health.ready()[0] is True


@pytest.mark.parametrize("rejoin", [False, True], ids=["same-assignment", "reassigned"])
def test_a_new_consumer_that_reads_nothing_either_keeps_readiness_failed(rejoin):
    """The consumer stalls with records waiting, and the one that replaces it reads nothing
    either (the broker still refuses its fetches). The stall clock started again with each
    new consumer, so /readyz answered 200 for ever, 503 at most between the stall passing
    the limit and the next housekeeping pass, which replaced the consumer at once
    (tests/stream/test_scorer_progress_fuzz.py, seed 3: 9 s of waiting input with an
    input_stall_seconds of 3, /readyz 200 throughout, the gauge at 0). Now the input counts
    as waiting from the first answer until a record is read, as the docs say; a new
    consumer is still tried every input_stall_seconds. ``reassigned``: on a real broker the
    new consumer joins the group and is assigned the partition again, which must not start
    the count again either."""
    clock = Clock()
    io = FakeIO([events([(t, 1.0) for t in range(3)])])
    scorer, reg = make(io, clock=clock, serve={"kafka": {"scores_topic": "scores",
                                                          "input_stall_seconds": 3.0}})
    scorer.health.broker_up = True
    if rejoin:
        replace = io.reset_consumer

        def reset_and_rejoin():
            replace()
            scorer.on_assigned([IN])

        io.reset_consumer = reset_and_rejoin
    scorer.step()
    io.input_waiting = True  # and no poll returns anything, whichever consumer asks
    answers = []
    for _ in range(60):  # 30 s, a turn every half second
        clock.now += 0.5
        scorer.health.beat()
        scorer.turn()
        answers.append((scorer.health.ready()[0], scorer.input_stalled_for()))
    assert io.resets >= 3  # a new consumer each time the stall passed the limit
    waited = [s for _, s in answers]
    assert waited[-1] > 25.0 and reg.get_sample_value("anomaly_gan_input_stalled_seconds") > 25.0
    first_503 = next(i for i, (ok, _) in enumerate(answers) if not ok)
    assert not any(ok for ok, _ in answers[first_503:]), answers
    io.batches.append(events([(3, 1.0)], 3))  # a consumer reads at last
    clock.now += 0.5
    scorer.turn()
    while scorer._resume_at:  # the replay's backoff, then the rewind and the read
        clock.now += 0.5
        scorer.turn()
    scorer.turn()
    assert scorer.input_stalled_for() == 0.0 and scorer.health.ready()[0] is True


@pytest.mark.parametrize("policy, offset, unread", [("earliest", 4, 0), ("latest", 10, 6)])
def test_a_position_past_the_end_is_moved_by_the_reset_policy_not_replaced(
        caplog, policy, offset, unread):
    """The committed offset lies past the partition's end (the topic was recreated): a new
    consumer would resume from it and wait again, for ever. After input_stall_seconds the
    partition is moved as serve.kafka.auto_offset_reset says, its windows are dropped, the
    new position is committed and counted, one line says so, and the consumer is kept."""
    clock = Clock()
    io = FakeIO([events([(t, 1.0) for t in range(3)])])
    io.policy, io.first_offset = policy, 4
    scorer, reg = make(io, clock=clock, serve={"kafka": {"scores_topic": "scores",
                                                          "auto_offset_reset": policy}})
    scorer.step()  # reads 3 records; their entity holds a window on the partition
    assert scorer._commit(force=True) and len(scorer.state) == 1
    io.input_waiting, io.past = True, {IN: (100, 10)}
    clock.now += 2.0
    scorer.step()  # the stall clock starts
    clock.now += 61.0
    with caplog.at_level(logging.ERROR, logger="anomaly_gan.stream"):
        scorer.step()
    assert io.resets == 0 and io.seeks == [(IN, offset)]
    assert reg.get_sample_value("anomaly_gan_replays_total", {"reason": "input"}) == 0
    assert reg.get_sample_value("anomaly_gan_offset_resets_total",
                                {"topic": "events", "partition": "0"}) == 1
    assert io.commits[-1] == {IN: offset} and len(scorer.state) == 0
    [line] = [r for r in caplog.records if "past the partition's end" in r.getMessage()]
    assert line.fields["records_unread"] == unread and line.fields["policy"] == policy
    assert (line.fields["position"], line.fields["end"]) == (100, 10)
    assert scorer.input_stalled_for() == 0.0 and scorer.health.ready()[0] is True
    io.input_waiting = False
    for _ in range(3):  # moved once: nothing more happens
        clock.now += 100.0
        scorer.step()
    assert io.resets == 0 and len(io.seeks) == 1


def test_a_replay_before_the_reset_is_committed_resumes_from_the_reset_not_past_the_end():
    """The commit after a reset past the end failed (or its flush did), then a replay came:
    its rewind sought the group's offset again, past the end, and the partition waited
    another input_stall_seconds for a second reset (a second ERROR line and count;
    tests/stream/test_scorer_progress_fuzz.py, seed 171). It resumes from the reset now."""
    clock = Clock()

    class CommitFails(FakeIO):
        failing = False

        def commit(self, offsets):
            if self.failing:
                raise RuntimeError("commit failed: the coordinator is not available")
            super().commit(offsets)

        def committed(self, tp):
            return 100  # the group's offset: past the end

    io = CommitFails([events([(t, 1.0) for t in range(3)])])
    io.policy, io.first_offset = "earliest", 4
    scorer, reg = make(io, clock=clock)
    scorer.step()
    io.input_waiting, io.past, io.failing = True, {IN: (100, 10)}, True
    clock.now += 2.0
    scorer.step()  # the stall clock starts
    clock.now += 61.0
    scorer.step()  # moved to 4; its commit fails
    assert io.seeks == [(IN, 4)] and io.commits == []
    io.past, io.input_waiting = {}, False
    io.batches.append(RuntimeError("broker hiccup"))
    scorer.turn()  # a replay from the last commit is due
    clock.now += 5.0
    scorer.turn()  # its rewind
    assert io.seeks == [(IN, 4), (IN, 4)]
    assert reg.get_sample_value("anomaly_gan_offset_resets_total",
                                {"topic": "events", "partition": "0"}) == 1


def test_a_partition_past_its_end_beside_partitions_that_flow_is_moved():
    """Records keep coming from the other partitions, so no stall is ever due: the partition
    whose committed offset lies past its end was left there for ever. Its offsets are now
    asked every input_stall_seconds while records flow, too."""
    clock = Clock()
    io = FakeIO([events([(t, 1.0)], start=t) for t in range(200)])
    scorer, reg = make(io, clock=clock, serve={"kafka": {"scores_topic": "scores"}})
    io.past = {IN: (100, 10)}
    for _ in range(200):
        clock.now += 0.5  # a record every half second: never a second without one
        scorer.step()
        if io.seeks:
            break
    assert io.seeks == [(IN, 0)] and io.resets == 0
    assert reg.get_sample_value("anomaly_gan_offset_resets_total",
                                {"topic": "events", "partition": "0"}) == 1


def test_an_idle_or_reading_consumer_is_never_replaced():
    clock = Clock()
    io = FakeIO([])
    scorer, _ = make(io, clock=clock)
    for _ in range(5):  # idle: nothing waits
        clock.now += 100.0
        scorer.step()
    assert io.probes == 5 and io.resets == 0 and scorer.input_stalled_for() == 0.0
    io.input_waiting = True
    for t in range(5):  # records keep coming: a read clears the stall clock
        io.batches.append(events([(t, 1.0)], t))
        clock.now += 100.0
        scorer.step()
    assert io.resets == 0 and scorer.input_stalled_for() == 0.0


def test_an_entity_on_two_partitions_is_counted_and_named_once(caplog):
    other = TP("events", 1)
    moving = [Record(i, None, json.dumps({"entity": "unkeyed", "ts": i, "values": [1.0, 0.0]})
                     .encode()) for i in range(6)]

    class TwoPartitions(FakeIO):  # the entity's records land on alternating partitions
        def poll(self, timeout_ms, max_records=None):
            if not self.batches:
                return {}
            rec = self.batches.pop(0)
            return {(IN, other)[rec.offset % 2]: [rec]}

        def assignment(self):
            return {IN, other}

    io = TwoPartitions(moving)
    scorer, reg = make(io)
    with caplog.at_level("WARNING", logger="anomaly_gan.stream"):
        for _ in moving:
            scorer.step()
            scorer._sync_counters()
    assert reg.get_sample_value("anomaly_gan_window_restarts_total",
                                {"reason": "partition_change"}) == 5
    assert reg.get_sample_value("anomaly_gan_windows_scored_total") == 0  # never a window
    named = [r for r in caplog.records if "'unkeyed'" in r.getMessage()]
    assert len(named) == 1 and "key the input records by entity" in named[0].getMessage()


@pytest.mark.parametrize("n", [1, 3])
def test_drain_commits_and_returns_zero(n):
    io = FakeIO([events([(t, 1.0) for t in range(n)])])
    scorer, _ = make(io)
    scorer.step()
    scorer.request_stop()
    assert scorer.run() == 0
    # Kept: the newest W-1 = 2 events of the entity (all of them while it warms up).
    assert io.commits[-1] == {IN: max(n - 2, 0)}


def test_an_assigned_partition_exports_its_offset_reset_counter_at_zero():
    """increase() sees no increase in a series born at 1: the first reset of a partition
    would not fire AnomalyGanOffsetReset unless the counter existed at 0 before it."""
    io = FakeIO([])
    scorer, reg = make(io)
    labels = {"topic": "events", "partition": "0"}
    assert reg.get_sample_value("anomaly_gan_offset_resets_total", labels) is None
    scorer.on_assigned([IN])
    scorer.step()
    assert reg.get_sample_value("anomaly_gan_offset_resets_total", labels) == 0


class UnassignedIO(FakeIO):
    """No partitions; topic_exists() answers from ``topic`` (an exception is raised)."""

    def __init__(self, topic):
        super().__init__([])
        self.topic, self.partitions, self.asked = topic, set(), []

    def assignment(self):
        return set(self.partitions)

    def topic_exists(self, topic):
        self.asked.append(topic)
        if isinstance(self.topic, Exception):
            raise self.topic
        return self.topic


MISSING = ("no partitions assigned: input topic 'events' not found on the brokers "
           "(the scorer creates none)")


def unassigned(topic, clock):
    scorer, _ = make(UnassignedIO(topic), clock=clock,
                     serve={"kafka": {"input_topic": "events", "scores_topic": "scores",
                                      "bootstrap_servers": "kafka-0:9092"}})
    return scorer, scorer.io


def found_missing(clock):
    """A scorer whose first check, 31 s without partitions, found the input topic missing."""
    scorer, io = unassigned(False, clock)
    scorer.step()
    clock.now += 31.0
    scorer.step()
    assert scorer.health.ready() == (False, MISSING)
    return scorer, io


def test_a_missing_input_topic_is_named_by_readiness_and_one_warning(caplog):
    """No partitions for 30 s: the brokers' metadata is asked whether the input topic
    exists, then at most once a minute; the warning comes once, not at every check."""
    clock = Clock()
    scorer, io = unassigned(False, clock)
    with caplog.at_level(logging.WARNING, logger="anomaly_gan.stream"):
        scorer.step()
        clock.now += 29.0
        scorer.step()
        assert io.asked == [] and scorer.health.ready() == (False, "no partitions assigned")
        clock.now += 2.0
        scorer.step()
        assert io.asked == ["events"] and scorer.health.ready() == (False, MISSING)
        clock.now += 30.0
        scorer.step()
        assert io.asked == ["events"]  # within the minute: not asked again
        clock.now += 31.0
        scorer.step()
        assert io.asked == ["events"] * 2 and scorer.health.ready() == (False, MISSING)
    warnings = [r.getMessage() for r in caplog.records if "not found" in r.getMessage()]
    assert warnings == [("input topic 'events' not found on the brokers kafka-0:9092; the "
                         "scorer creates no topic: create it")]


def test_an_existing_input_topic_leaves_the_plain_reason():
    clock = Clock()
    scorer, io = unassigned(True, clock)
    scorer.step()
    clock.now += 31.0
    scorer.step()
    assert io.asked == ["events"] and scorer.health.ready() == (False, "no partitions assigned")


def test_an_input_topic_that_appears_ends_the_missing_reason(caplog):
    clock = Clock()
    scorer, io = found_missing(clock)
    io.topic = True
    clock.now += 60.0
    with caplog.at_level(logging.INFO, logger="anomaly_gan.stream"):
        scorer.step()
    assert scorer.health.ready() == (False, "no partitions assigned")
    assert "input topic 'events' found on the brokers" in caplog.text
    io.topic = False  # missing again, then its partitions come: assigned clears it
    clock.now += 60.0
    scorer.step()
    assert scorer.health.ready() == (False, MISSING)
    io.partitions = {IN}
    clock.now += 1.0
    scorer.step()
    assert scorer.health.ready() == (True, "1 partition(s) assigned")
    assert scorer.health.unassigned_reason == ""


def test_a_failing_metadata_question_is_logged_at_debug_and_the_loop_goes_on(caplog):
    clock = Clock()
    scorer, io = unassigned(RuntimeError("metadata timed out"), clock)
    scorer.step()
    clock.now += 31.0
    with caplog.at_level(logging.DEBUG, logger="anomaly_gan.stream"):
        scorer.step()
    assert io.asked == ["events"] and scorer.health.ready() == (False, "no partitions assigned")
    [record] = [r for r in caplog.records if "input topic" in r.getMessage()]
    assert record.levelno == logging.DEBUG and "metadata timed out" in record.exc_text
    io.topic = False  # the next check, a minute later, still asks
    clock.now += 60.0
    scorer.step()
    assert io.asked == ["events"] * 2 and scorer.health.ready() == (False, MISSING)


def test_no_answer_from_the_metadata_cache_leaves_the_reason_as_it_is():
    """topic_exists() is None where the consumer's cache cannot be read (no consumer, or a
    kafka-python without it): no verdict either way."""
    clock = Clock()
    scorer, io = found_missing(clock)
    io.topic = None
    clock.now += 60.0
    scorer.step()
    assert io.asked == ["events"] * 2 and scorer.health.ready() == (False, MISSING)


def test_an_unreadable_batch_is_skipped_with_one_dead_letter_and_the_commit_passes_it(caplog):
    """kafka-python cannot read a record whose header key is not UTF-8 (Java clients write
    such records), nor anything after it in its batch: every poll there failed, and the
    replay after it read the same batch again, for ever. The partition moves past the batch:
    one DLQ record names the range, one ERROR line says so, no replay, and the commit
    passes it."""
    from anomaly_gan.stream.kafka_io import UnreadableInput

    error = "Found invalid record structure: UnicodeDecodeError('utf-8', b'\\xff')"
    io = FakeIO([events([(t, 1.0) for t in range(3)]),
                 UnreadableInput(error, IN, 3),
                 events([(t, 1.0) for t in range(8, 11)], start=8)])
    io.readable_from = 8
    scorer, reg = make(io)
    with caplog.at_level(logging.WARNING, logger="anomaly_gan.stream"):
        for _ in range(3):
            scorer.step()
    assert io.skips == ((IN, 3),) and io.seeks == [(IN, 8)]
    [dlq] = [(k, v, dict(h)) for t, k, v, h in io.sent if t == "anomaly-gan.dlq"]
    assert dlq[:2] == (None, b"")
    assert dlq[2]["reason"] == b"corrupt_record" and dlq[2]["source"] == b"events/0/3"
    assert dlq[2]["detail"].decode() == f"offsets 3..7 (5 records) cannot be read: {error}"
    [line] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.levelno == logging.ERROR and "offsets 3..7" in line.getMessage()
    assert (line.fields["first"], line.fields["last"], line.fields["records_skipped"]) == (3, 7, 5)
    assert reg.get_sample_value("anomaly_gan_events_invalid_total",
                                {"reason": "corrupt_record"}) == 1
    assert reg.get_sample_value("anomaly_gan_dlq_total", {"reason": "corrupt_record"}) == 1
    assert reg.get_sample_value("anomaly_gan_replays_total", {"reason": "error"}) == 0
    assert scorer._commit(force=True)
    # past the skipped range: the window (8, 9, 10) keeps the newest W-1 = 2 events
    assert io.commits[-1] == {IN: 9}
    assert scorer.health.ready()[0] is True


def test_an_unreadable_batch_met_by_the_poll_that_assigned_its_partition_is_committed_past():
    """kafka-python runs the rebalance callbacks inside poll, so the first poll after a
    (re)join can both assign a partition and raise at a bad batch on it. The skip moved the
    partition past the batch, then the next step applied the assignment ("re-assigned: start
    fresh") and dropped where it stood: with nothing after the batch, the commit never passed
    it, and each restart met it again with one more dead letter
    (tests/stream/test_scorer_progress_fuzz.py, seed 157)."""
    from anomaly_gan.stream.kafka_io import UnreadableInput

    class Rejoin(FakeIO):
        def poll(self, timeout_ms, max_records=None):
            if self.batches and isinstance(self.batches[0], UnreadableInput):
                scorer.on_assigned([IN])  # the join's callback, inside this poll
            return super().poll(timeout_ms, max_records)

    io = Rejoin([events([(t, 1.0) for t in range(3)]),
                 UnreadableInput("CorruptRecordError: invalid header key", IN, 3)])
    io.readable_from = 5
    scorer, _ = make(io)
    for _ in range(3):
        scorer.step()
    assert io.skips == ((IN, 3),)
    assert scorer._commit(force=True)
    assert io.commits[-1:] == [{IN: 5}]


@pytest.mark.parametrize("tp, offset, readable_from", [
    (None, None, None),  # two partitions, and the fetcher does not say which failed
    (IN, 3, None),  # the brokers did not answer the search in time
])
def test_an_unreadable_batch_that_cannot_be_placed_is_replayed_as_before(caplog, tp, offset,
                                                                         readable_from):
    from anomaly_gan.stream.kafka_io import UnreadableInput

    io = FakeIO([UnreadableInput("CRC mismatch", tp, offset)])
    io.readable_from = readable_from
    scorer, reg = make(io)
    with caplog.at_level(logging.ERROR, logger="anomaly_gan.stream"):
        scorer.step()
    assert io.skips == (() if tp is None else ((IN, 3),))
    assert "replaying from the last commit" in caplog.text and "CRC mismatch" in caplog.text
    assert reg.get_sample_value("anomaly_gan_replays_total", {"reason": "error"}) == 1
    assert [s for s in io.sent if s[0] == "anomaly-gan.dlq"] == []


def test_a_refused_login_while_running_is_one_warning_and_the_readiness_reason(caplog):
    """A broker that refuses the scorer's login after it ran (a rotated password) read as
    "broker unreachable"; the refusal kafka-python logs names the user, once."""
    from anomaly_gan.stream.kafka_io import AuthFailures

    class DownIO(FakeIO):
        up = True

        def connected(self):
            return self.up

    cfg = config_from_dict({"serve": {"kafka": {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "svc"}}}
    ).serve
    io, failures = DownIO([]), AuthFailures()
    refuse_login(failures)  # one before: a refusal of an earlier, since-fixed login
    scorer = Scorer(cfg, FakeModel(), io, StreamMetrics(CollectorRegistry()),
                    monotonic=Clock(), auth_failures=failures)
    scorer.health.model_loaded = True
    ready = []
    with caplog.at_level(logging.INFO, logger="anomaly_gan.stream"):
        for up, refused in [(True, False), (False, False), (False, True), (False, False),
                            (True, False)]:
            io.up = up
            if refused:
                refuse_login(failures)
            scorer._housekeeping()
            ready.append(scorer.health.ready()[1])
    assert ready[1:4] == ["broker unreachable"] + ["authentication failed for sasl_username svc"] * 2
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith(("broker", "auth"))] == [
        "broker reachable", "broker unreachable", "authentication failed for sasl_username svc",
        "broker reachable"]


class BadSpotIO(FakeIO):
    """One partition of ``n`` events, read ``per_poll`` a poll, whose poll raises when it
    reaches offset ``bad`` (``times`` times; None: every time), as kafka-python does at a
    record batch it cannot read; a seek moves the position (None: the start)."""

    def __init__(self, n, bad, times=None, per_poll=2):
        super().__init__([])
        self.per_poll = per_poll
        self.log = events([(t, 1.0) for t in range(n)])
        self.bad, self.times, self.pos = bad, times, 0
        self.furthest = 0  # the furthest position a poll reached

    def seek(self, tp, offset):
        super().seek(tp, offset)
        self.pos = offset or 0

    def poll(self, timeout_ms, max_records=None):
        failing = self.times is None or self.times > 0
        if failing and self.pos == self.bad:
            if self.times is not None:
                self.times -= 1
            raise RuntimeError(f"cannot read the record batch at offset {self.bad}\nmore")
        end = self.bad if failing and self.pos < self.bad else len(self.log)
        out = self.log[self.pos:end][:self.per_poll]
        self.pos += len(out)
        self.furthest = max(self.furthest, self.pos)
        return {IN: out} if out else {}


def _turns(scorer, clock, seconds, every=0.5):
    """Run the loop as run() does for ``seconds`` of the fake clock; /readyz's answers."""
    answers = []
    for _ in range(int(seconds / every)):
        clock.now += every
        scorer.health.beat()
        scorer.turn()
        answers.append(scorer.health.ready())
    return answers


ERROR_LOOP = {"kafka": {"scores_topic": "scores", "input_stall_seconds": 5,
                        "reconnect_backoff_max_ms": 1000}}


def test_an_error_at_the_same_offset_at_every_replay_fails_readiness():
    """A poll that raises at the same offset at each replay: polls keep returning the records
    before it (no input stall), output is acknowledged (no delivery stall), and until
    2026-12-06 /readyz stayed 200 while nothing after the bad spot was ever read."""
    clock = Clock()
    io = BadSpotIO(n=20, bad=10)
    scorer, reg = make(io, clock=clock, serve=ERROR_LOOP)
    scorer.health.broker_up = True
    answers = _turns(scorer, clock, 60)
    replays = reg.get_sample_value("anomaly_gan_replays_total", {"reason": "error"})
    assert replays >= 10
    ok, why = scorer.health.ready()
    assert not ok, why
    assert why.startswith(f"{scorer.error_replays()} error replays in ")
    assert why.endswith("with no progress, the last: RuntimeError: cannot read the record "
                        "batch at offset 10")
    assert reg.get_sample_value("anomaly_gan_error_replays_without_progress") >= 3
    assert reg.get_sample_value("anomaly_gan_ready") == 0
    assert answers[0][0] and not answers[-1][0]
    # Once the batch can be read, the loop passes it: ready again, the gauge back at 0.
    io.times = 0
    _turns(scorer, clock, 10)
    assert scorer.health.ready()[0], scorer.health.ready()
    assert reg.get_sample_value("anomaly_gan_error_replays_without_progress") == 0
    assert io.furthest == 20  # the records after the bad spot were read


def test_errors_that_the_loop_moves_past_keep_it_ready():
    """Each error comes once (at offsets 10, 20, 30, ...): the replay reads past it, so the
    run of errors ends at each one and the scorer stays ready. The commit never moves (the
    window of an entity seen once at offset 0 holds it there), so only reading past the spot
    where the last error came tells that the loop moves on."""

    class Moving(BadSpotIO):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.log[0] = events([(0, 1.0)], entity="quiet")[0]

        def poll(self, timeout_ms, max_records=None):
            try:
                return super().poll(timeout_ms, max_records)
            except RuntimeError:
                self.bad, self.times = self.bad + 10, 1
                raise

    clock = Clock()
    io = Moving(n=200, bad=10, times=1, per_poll=5)
    scorer, reg = make(io, clock=clock, serve=ERROR_LOOP)
    scorer.health.broker_up = True
    answers = _turns(scorer, clock, 60)
    assert reg.get_sample_value("anomaly_gan_replays_total", {"reason": "error"}) >= 5
    assert {o for c in io.commits for o in c.values()} == {0} and io.furthest >= 60
    assert all(ok for ok, _ in answers), [why for ok, why in answers if not ok][:1]
    assert reg.get_sample_value("anomaly_gan_error_replays_without_progress") <= 1


def test_a_partition_assigned_again_is_no_progress_past_an_error_at_every_replay():
    """A rebalance hands the partition with the bad spot back to the same replica. Its first
    commit after that commits the offset the group already had, yet the scorer, which had
    forgotten its own last commit of the partition, counted it as a commit that moved the
    offset forward: the run of error replays ended and /readyz answered 200 until three
    more had spanned input_stall_seconds, while nothing after the bad spot was ever read
    (tests/stream/test_scorer_progress_fuzz.py, seed 50)."""
    clock = Clock()
    io = BadSpotIO(n=20, bad=10)
    scorer, _ = make(io, clock=clock, serve=ERROR_LOOP)
    # repeatable: with the real thread and jitter, the revoke found the loop at another
    # commit from run to run (6 or 8: 1 run in 3 of the file failed)
    on_hand_clock(scorer, clock, seed=0)
    _turns(scorer, clock, 30)
    assert not scorer.health.ready()[0]
    offsets = scorer.on_revoked([IN])
    if offsets:
        io.commit(offsets)  # as KafkaIO's listener does
    commits = len(io.commits)
    io.committed = lambda tp: io.commits[-1][tp]  # the group's commit
    io.pos = io.committed(IN)  # where the consumer resumes
    scorer.on_assigned([IN])
    answers = _turns(scorer, clock, 30)
    assert len(io.commits) > commits  # the same offset again: no commit moved forward
    assert {c[IN] for c in io.commits[commits - 1:]} == {io.committed(IN)}
    assert not any(ok for ok, _ in answers), [why for ok, why in answers if ok][:1]
    assert io.furthest == 10


class TwoPartitionIO(FakeIO):
    """Partitions ``A`` and ``B`` (a list of records each, read ``per_poll`` a poll from the
    position), the group's commit in ``group``; B's poll raises at offset ``bad`` every time
    it gets there, and ``hiccups`` polls raise once each before anything is read."""

    def __init__(self, per_poll=2):
        super().__init__([])
        self.logs = {A: [], B: []}
        self.pos, self.group, self.assigned = {A: 0, B: 0}, {}, {A, B}
        self.bad, self.hiccups, self.per_poll = None, 0, per_poll
        self.furthest = dict(self.pos)  # the furthest position a poll reached

    def seek(self, tp, offset):
        super().seek(tp, offset)
        self.pos[tp] = offset or 0

    def committed(self, tp):
        return self.group.get(tp)

    def commit(self, offsets):
        super().commit(offsets)
        self.group.update(offsets)

    def assignment(self):
        return set(self.assigned)

    def poll(self, timeout_ms, max_records=None):
        if self.hiccups:
            self.hiccups -= 1
            raise RuntimeError("the broker hiccuped")
        if B in self.assigned and self.pos[B] == self.bad:
            raise RuntimeError(f"cannot read the record batch at offset {self.bad}")
        out = {}
        for tp in sorted(self.assigned):
            end = self.bad if tp == B and self.bad is not None and self.pos[B] < self.bad else None
            recs = self.logs[tp][self.pos[tp]:end][:self.per_poll]
            if recs:
                out[tp], self.pos[tp] = recs, self.pos[tp] + len(recs)
                self.furthest[tp] = max(self.furthest[tp], self.pos[tp])
        return out


A, B = TP("events", 0), TP("events", 1)


def test_a_partition_back_after_a_revoke_is_no_progress_past_an_error_its_absence_saw():
    """An error comes while A has been read and B not yet; A is revoked; B is read (the
    documented progress: B read past where it stood when the error came), then B's poll
    raises at the same offset at every replay. A comes back and is read past where it had
    been read to before the revoke: no error of this run came while A was assigned, so that
    is no progress. The scorer marked only the partitions it had read, missed B's progress,
    kept A's mark from before it, and A's re-read ended the run: /readyz answered 200 while
    B was stuck (tests/stream/test_scorer_progress_fuzz.py, seed 700333)."""
    clock = Clock()
    io = TwoPartitionIO()
    io.logs[A] = events([(t, 1.0) for t in range(3)], entity="a")
    scorer, _ = make(io, clock=clock, serve=ERROR_LOOP)
    on_hand_clock(scorer, clock, seed=0)
    _turns(scorer, clock, 3)
    assert io.pos == {A: 3, B: 0}
    io.hiccups = 1  # an error with A read to 3, B not read
    _turns(scorer, clock, 3)
    offsets = scorer.on_revoked([A])
    if offsets:
        io.commit(offsets)  # as KafkaIO's listener does
    io.assigned.discard(A)
    io.logs[A] += events([(3, 1.0)], start=3, entity="a")  # A's next record, unread yet
    io.logs[B] = events([(t, 1.0) for t in range(10)], entity="b")
    io.bad = 5
    _turns(scorer, clock, 12)
    assert not scorer.health.ready()[0]  # B stuck at 5
    while not scorer._must_rewind:  # A comes back as B's error replays: no error before
        _turns(scorer, clock, 0.5)  # the rewind, which seeks both, and the next poll
    io.assigned.add(A)
    scorer.on_assigned([A])
    answers = _turns(scorer, clock, 4)
    assert io.furthest[A] == 4  # A read past where it had been read to before the revoke
    assert not any(ok for ok, _ in answers), [why for ok, why in answers if ok][:1]
    assert io.furthest[B] == 5


def test_transient_errors_on_an_idle_scorer_keep_it_ready():
    """An error now and then on a scorer with nothing to read: no commit moves and nothing
    new is read, yet each error is one that did not recur within input_stall_seconds."""
    clock = Clock()
    io = FakeIO([events([(t, 1.0) for t in range(5)])])
    scorer, reg = make(io, clock=clock, serve=ERROR_LOOP)
    scorer.health.broker_up = True
    answers = _turns(scorer, clock, 3)
    for _ in range(4):
        io.batches.append(RuntimeError("the broker hiccuped"))
        answers += _turns(scorer, clock, 8)
    assert reg.get_sample_value("anomaly_gan_replays_total", {"reason": "error"}) == 4
    assert all(ok for ok, _ in answers), [why for ok, why in answers if not ok][:1]
    assert reg.get_sample_value("anomaly_gan_error_replays_without_progress") == 0


def test_readiness_fails_on_error_replays_only_from_three_spanning_the_limit():
    from anomaly_gan.stream.http import Health

    h = Health(clock=lambda: 1000.0)
    h.last_beat, h.model_loaded, h.broker_up, h.assigned = 999.0, True, True, 1
    h.watch_errors(5.0)
    for replays, span in [(0, 0.0), (1, 0.0), (2, 100.0), (3, 4.9), (50, 4.9)]:
        h.error_replays = (replays, span, "E: x")
        assert h.ready()[0], (replays, span)
    h.error_replays = (3, 5.0, "ValueError: bad")
    assert h.ready() == (False, ("3 error replays in 5s with no progress, the last: "
                                 "ValueError: bad"))


def test_an_entity_evicted_after_its_last_window_still_alerts_for_it():
    """"e" sends an anomalous run that alerts at its last window, then "f" evicts it
    (max_entities 1) while that window waits to be scored: the eviction dropped e's debounce
    state before the window was published, which then counted as a run of 1, and the alert
    was lost, where ``score --alerts`` of e's rows raises it (and serve too when the window
    happened to be published before the eviction). Found by tests/stream/test_serve_fuzz.py."""
    rows = [(0.0, 1.0), (1.0, 1.0), (2.0, 50.0), (3.0, 50.0)]
    e = events(rows)
    io = FakeIO([e[:3], e[3:], events([(4.0, 1.0)], start=4, entity="f")])
    scorer, reg = make(io, model=FakeModel(window=3), windows={"max_entities": 1},
                       consecutive=2)
    scorer.step()
    scorer._score_batch()  # e's window at 2: the first of its run
    scorer.step()  # the window at 3, which completes the run, read
    scorer.step()  # f evicts e
    scorer._score_batch()
    scorer._sync_counters()
    assert reg.get_sample_value("anomaly_gan_entities_evicted_total") == 1
    alerts = [json.loads(v) for t, _, v, _ in io.sent if t == "anomaly-gan.alerts"]
    assert [(a["entity"], a["window_end_ts"]) for a in alerts] == [("e", 3.0)]


def test_an_evicted_entity_leaves_no_per_entity_score_series():
    """"e" completes a window, then "f" evicts it (max_entities 1) while that window waits to
    be scored: the eviction removed e's ``anomaly_gan_entity_score`` series at once, and the
    window published after it set the series again, for an entity no longer held, which
    nothing removed later (one series per evicted entity: the label's cardinality grew)."""
    io = FakeIO([events([(0.0, 1.0), (1.0, 1.0), (2.0, 50.0)]),
                 events([(3.0, 1.0)], start=3, entity="f")])
    cfg = config_from_dict({"serve": {
        "windows": {"gap_seconds": 100.0, "max_entities": 1},
        # the window waits in the filling batch (the test's clock stands still)
        "batching": {"max_batch": 64, "max_latency_ms": 1000},
        "alerts": {"consecutive": 1, "cooldown_seconds": 0.0}}}).serve
    reg = CollectorRegistry()
    scorer = Scorer(cfg, FakeModel(window=3), io, StreamMetrics(reg, entity_labels_top_n=5),
                    monotonic=Clock())
    scorer.step()  # e's window at 2 read
    scorer.step()  # f evicts e
    assert len(scorer.batch) == 1  # e's window, not scored yet
    scorer._score_batch()
    scorer._sync_counters()
    assert reg.get_sample_value("anomaly_gan_entities_evicted_total") == 1
    assert reg.get_sample_value("anomaly_gan_entity_score", {"entity": "e"}) is None
