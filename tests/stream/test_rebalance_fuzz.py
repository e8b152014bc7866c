"""Consumer-group rebalances, fuzzed: two or three scorers (replicas of one group) share the
input partitions; at random points partitions are revoked from their owner, which commits
what ``Scorer.on_revoked`` returns (as ``KafkaIO``'s listener does, asynchronously, before
the group re-joins), and assigned to another member (or back), which reads from the
group's committed offset. What all members publish together must cover what one scorer
without a rebalance publishes (docs/streaming.md, Consumer groups and Delivery guarantees:
"a new owner after a rebalance re-reads from there, rebuilds every window, and scores
every window that was not yet acknowledged. Nothing is skipped"), with the same scores and
ids; the only extras are the re-opened incidents a kill and replay may send too.

A rebalance here is one of:
- a partition moved from one member to another (cooperative; a scale from 1 to 2 replicas);
- an eager one: every member's partitions revoked, then a new random assignment (a member
  that keeps a partition keeps its position, as kafka-python 3 does, and the scorer seeks
  it back: until 2026-12-08 this harness read it from the commit instead, and hid that
  the scorer did not);
- a revoke while the loop is busy (it holds its lock past ``_revoke_wait_s``): nothing is
  committed on revoke and the new owner "resumes from the last periodic commit"
  (docs/streaming.md, Consumer groups).
Callbacks run where kafka-python 3 runs them, on its IO thread while the loop waits in a
consumer call: here inside ``poll`` and ``commit``, whose offsets (computed before the
revoke) the broker still takes, as a real broker takes a commit of the current generation.

Harness: the sensor streams of test_serve_fuzz.py and the log streams of
tests/logs/test_serve_equals_score_fuzz.py, compared as their kill/replay tests compare
(tests/stream/replay_checks.py for sensors; the same documented exclusions: ``hop: 1``
for sensors, since "with h > 1 the replay may score other windows"; no stray line across
a silence for logs), and sensor entities that do not fall silent for longer than
``gap_seconds`` (see ``sensors``).

Sensor rows out of order are generated: until 2026-12-06 a commit pinned by another entity
inside an entity's swapped rows made the new owner build windows the run without the
rebalance never had (seeds 3241, 3246, 3301, 3315, 3351, 3439 of 500 failed with swaps;
docs/streaming.md, Delivery guarantees).
With ``serve.windows.max_entities`` below the number of entities (``evicting``), each
member's least-recently-seen order depends on the rows it read, so the expectation is per
member: its order simulated from those rows and its revokes, each stretch an entity was
held alerts as ``score --alerts`` of its rows and scores as a scorer of those rows alone.
With ``reorder_tolerance_seconds`` above 0 too (``evicting(reorder=True)``), the rows an
entity still held for reordering at an eviction or revoke are forgotten with it, which
``score`` of its rows cannot know: each stretch alerts as a scorer of its records alone.
With failed deliveries too (``evicting(fail=...)``), a replay drops every entity its
member holds, so a stretch ends there as well; each member's output is compared delivered
or not (``Member.tried``), and every record not delivered must be read again (``reread``).

``REBALANCE_FUZZ_EXAMPLES`` (default 6 sensor seeds, a third as many per log format and
mode, a sixth as many with evictions and as many with evictions and rows held for
reordering, and with evictions and failed deliveries) runs more seeds;
``REBALANCE_FUZZ_SEED_START`` sets the first seed of the last (by default 6004).
"""

from __future__ import annotations

import json
import os
import random
from collections import OrderedDict
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from tests.stream.replay_checks import alerts, check_published, score_records
from tests.support import logs_fuzz
from tests.support.rebalance import Group, rebalanced
from tests.support.sensor_fuzz import (
    brief,
    bundles,
    close,
    for_score,
    offline,
    per_entity,
    run,
    scorer,
    sensor_stream,
    where,
)
from tests.support.stream_fakes import TP, Record

pytestmark = pytest.mark.slow

__all__ = ["bundles"]  # the module fixture, from tests/support/sensor_fuzz.py

EXAMPLES = int(os.environ.get("REBALANCE_FUZZ_EXAMPLES", "6"))


def sensors(bundles, seed: int, fail: float = 0.0) -> int:
    # No entity falls silent for longer than gap_seconds: its window restarts, and its run
    # or open incident from before the silence is dropped at a restart and so at a
    # rebalance (docs/streaming.md, Resolutions: "after a restart once the entity has been
    # silent for more than gap_seconds ...; the same holds across a gap in its own data,
    # whose window restarts").
    serve, counters, _, parts = sensor_stream(seed, kill=True, silences=False)
    _, bundle = bundles[counters]
    rng = random.Random(seed)
    _, whole, _ = run(bundle, serve, parts, random.Random(rng.random()))
    group = rebalanced(parts, lambda io: scorer(bundle, serve, io)[0], rng, fail)
    # what replay_checks.check_published says a kill and replay may change, a rebalance
    # may too: the new owner replays as a restart does (docs/streaming.md, Consumer groups)
    check_published((seed, serve, group.log), serve, whole, group.members)
    if fail:
        return sum(len(m.failed) for m in group.members)
    return sum(1 for e in group.log if e[0] == "revoke")


def test_rebalances_among_replicas_publish_what_one_scorer_does(bundles):
    assert sum(sensors(bundles, seed) for seed in range(3000, 3000 + EXAMPLES)) > 0


def test_failed_deliveries_around_rebalances_are_published_by_a_replay(bundles):
    """Some alert and score records are not delivered, reported at once or at the next
    flush, also the flush of a revoke: "the loop does not commit; it ... re-reads it"
    (docs/streaming.md, Delivery guarantees, Failed deliveries), and a revoke then "commits
    nothing, and the new owner reads from the last commit" (Shutdown). What the broker took
    from all members covers what one scorer without failures publishes."""
    assert sum(sensors(bundles, seed, fail=0.05) for seed in range(3500, 3500 + EXAMPLES)) > 0


def logs(fmt: str, mode: str, seed: int, tmp_path) -> int:
    """The same for a logs model (docs/logs.md, Live: "a kill after any record scores the
    same windows and raises the same alerts as a run without one"; a rebalance replays as a
    kill does)."""
    s, rng = logs_fuzz.stream(fmt, mode, seed, tmp_path,
                              partitions=random.Random(seed).randint(2, 3), across=False)
    want = logs_fuzz.published(logs_fuzz.run(s, random.Random(rng.random()))[1])
    group = rebalanced(s.parts, lambda io: logs_fuzz.scorer(s.det, s.tolerance, io), rng)
    ws: set = set()
    al: set = set()
    for m in group.members:
        w, a = logs_fuzz.published(m)
        ws, al = ws | w, al | a
    where = (fmt, mode, seed, s.tolerance, group.log)
    assert ws == want[0], (where, sorted(ws ^ want[0])[:4])
    assert al == want[1], (where, sorted(al ^ want[1])[:4])
    return sum(1 for e in group.log if e[0] == "revoke")


@pytest.mark.parametrize("fmt", ["regex", "json"])
@pytest.mark.parametrize("mode", ["time", "lines"])
def test_rebalances_among_replicas_of_a_logs_model_publish_what_one_scorer_does(
        fmt, mode, tmp_path):
    n = max(EXAMPLES // 3, 1)
    assert sum(logs(fmt, mode, seed, tmp_path) for seed in range(4000, 4000 + n)) > 0


def member_stretches(group: Group, member: int, pushed: list, parts: dict, limit: int):
    """One member's least-recently-seen order, simulated from the rows its window state was
    given (``pushed``: (entity, partition, offset, length of ``group.log`` then)) and the
    revokes of ``group.log``: a revoke drops the entities of the revoked partitions before
    the member's next row ("drops their entities", docs/streaming.md, Consumer groups; a
    busy revoke's at the next poll, before its records), a replay after a failed delivery
    (an entity of None in ``pushed``) drops every entity ("drops what it read",
    Failed deliveries: the rewind clears the window state, so the entities held before the
    last commit go too, and are not counted as evicted), and a new entity beyond ``limit``
    evicts the least recently seen one (Memory). Returns (entity -> the row indexes of each
    stretch it was held in, with the
    partition and offset of each, evictions, the entities held at the end)."""
    at = where(parts)
    revokes = [(i, set(e[2])) for i, e in enumerate(group.log)
               if e[0] == "revoke" and e[1] == member]
    held: OrderedDict = OrderedDict()  # entity -> partition, least recently seen first
    stretches: dict[str, list[list[int]]] = {}
    evicted = done = 0
    for entity, tp, offset, logged in pushed:
        while done < len(revokes) and revokes[done][0] < logged:
            for e, p in list(held.items()):
                if p.partition in revokes[done][1]:
                    del held[e]
            done += 1
        if entity is None:  # a replay (failed delivery): every entity goes, none evicted
            held.clear()
            continue
        row = (at[tp, offset][1], tp, offset)
        if entity in held:
            held.move_to_end(entity)
            stretches[entity][-1].append(row)
            continue
        if len(held) >= limit:
            held.popitem(last=False)
            evicted += 1
        held[entity] = tp
        stretches.setdefault(entity, []).append([row])
    for i, tps in revokes[done:]:
        for e, p in list(held.items()):
            if p.partition in tps:
                del held[e]
    return stretches, evicted, set(held)


def alone(bundle, serve: dict, parts: dict, stretches: dict) -> dict[str, list]:
    """entity -> (window end, score) of the windows one scorer without a rebalance and with
    room for every entity publishes for ``stretches`` (entity -> stretches of (row,
    partition, offset)), each stretch's records as an entity of its own: what a member
    publishes for an entity held in those stretches, with no window across two of them."""
    recs = []
    for entity, each in stretches.items():
        for k, stretch in enumerate(each):
            for _, tp, offset in stretch:
                event = json.loads(parts[tp][offset].value)
                event["entity"] = f"{entity}~{k}"
                recs.append(Record(len(recs), event["entity"].encode(),
                                   json.dumps(event).encode()))
    roomy = {**serve, "windows": {**serve["windows"], "max_entities": 10_000}}
    _, io, _ = run(bundle, roomy, {TP("events", 0): recs}, random.Random(0))
    return scored_windows(io, lambda name: name.rpartition("~")[0])


def scored_windows(io, entity: Callable[[str], str] = lambda name: name
                   ) -> dict[str, list[tuple[float, float]]]:
    """entity (``entity`` of the record's) -> (window end, score) of the windows published
    for it, in order."""
    out: dict[str, list[tuple[float, float]]] = {}
    for r in score_records(io):
        out.setdefault(entity(r["entity"]), []).append((r["window_end_ts"], r["score"]))
    return out


def alerts_alone(bundle, serve: dict, parts: dict, stretch: list) -> list[dict]:
    """The alerts one scorer with room for every entity publishes for the records of one
    ``stretch`` ((row, partition, offset) of one entity) alone: with
    ``reorder_tolerance_seconds`` > 0, the rows the entity still held for reordering when it
    was evicted or revoked are forgotten with it (and a row late only behind one of them is
    taken), which ``score`` of the stretch's rows as a file cannot know (it reads the rows
    within the tolerance of the file's end too, docs/streaming.md, Late events); a scorer
    given the same records holds them at the end as the member held them."""
    recs = [Record(i, parts[tp][offset].key, parts[tp][offset].value)
            for i, (_, tp, offset) in enumerate(stretch)]
    roomy = {**serve, "windows": {**serve["windows"], "max_entities": 10_000}}
    _, io, _ = run(bundle, roomy, {TP("events", 0): recs}, random.Random(0))
    return alerts(io)


def evicting(bundles, seed: int, tmp_path, capsys, reorder: bool = False,
             fail: float = 0.0) -> int:
    """Rebalances with ``serve.windows.max_entities`` below the number of entities. Each
    member holds its own least-recently-seen order, of the rows it read; simulated from
    them (``member_stretches``), each stretch of an entity's rows that a member held, from
    its first row after an assignment or an eviction to its eviction or revoke, alerts as
    ``score --alerts`` of those rows as a file of its own (docs/streaming.md, Memory: an
    evicted entity "starts fresh if it returns"; Consumer groups: "on assign, windows start
    empty"), and its scored windows are those a scorer publishes for those rows alone
    (``alone``): no window holds rows from both sides of an eviction or a revoke. Each member holds at most ``max_entities`` entities, counts
    the simulated evictions in anomaly_gan_entities_evicted_total, and shows
    ``anomaly_gan_entity_score`` only for the entities it still holds (Metrics: "an
    entity's series goes when its window does (evicted, revoked ...)"). With ``reorder``, a
    ``reorder_tolerance_seconds`` above 0 and ``serve.windows.hop`` 1-5 (else 1-3): each
    stretch's alerts are those of its records alone (``alerts_alone``). With ``fail``, that
    share of alert and score records is not delivered (``Member.send``): a replay drops
    every entity a member holds (``member_stretches``), the comparisons above are of what
    each member produced, taken by the broker or not (``Member.tried``), and every record
    the broker did not take is read again (``reread``). Returns the evictions, or with
    ``fail`` the records not delivered."""
    serve, counters, rows, parts = sensor_stream(seed, evict=True, reorder=reorder,
                                                 max_hop=5 if reorder else 3)
    serve["http"] = {"entity_labels_top_n": 1000}
    path, bundle = bundles[counters]
    limit = serve["windows"]["max_entities"]
    pushed: dict[Any, list] = {}
    regs: dict[Any, Any] = {}

    def make(io):
        sc, reg = scorer(bundle, serve, io)
        regs[io], mine = reg, pushed.setdefault(io, [])
        push = sc.state.push

        def spy(entity, ts, values, partition, offset, *args, **kwargs):
            mine.append((entity, partition, offset, len(io.group.log)))
            io.group.reads.append((io.group.sends, partition, offset))
            push(entity, ts, values, partition, offset, *args, **kwargs)
            assert len(sc.state) <= limit, (seed, io.group.log)

        sc.state.push = spy
        clear = sc.intake.clear

        def cleared():  # a replay's rewind
            mine.append((None, None, None, len(io.group.log)))
            clear()

        sc.intake.clear = cleared
        return sc

    group = rebalanced(parts, make, random.Random(seed), fail)
    sends = group.sends
    for m in group.members:  # a busy revoke at the end: its drop is the next poll's work
        if m.scorer._revoked:  # (seed 5150 held the revoked entity at the end without it)
            with m.scorer._loop_lock:
                m.scorer._apply_rebalance()
                m.scorer._score_batch()
    assert group.sends == sends, (seed, group.log)  # all was scored: a record sent here
    # could not fail and be read again (``reread``)
    evictions = 0
    for i, m in enumerate(group.members):
        where_ = (seed, i, serve, group.log)
        stretches, evicted, held = member_stretches(group, i, pushed[m], parts, limit)
        reg = regs[m]
        assert reg.get_sample_value("anomaly_gan_entities_evicted_total") == evicted, where_
        assert {e for e in rows if e in m.scorer.state} == held, where_
        shown = {s.labels["entity"] for metric in reg.collect()
                 if metric.name == "anomaly_gan_entity_score" for s in metric.samples}
        assert shown <= held, (where_, shown - held)
        produced = SimpleNamespace(sent=m.tried)  # what was sent, delivered or not
        got = per_entity(alerts(produced))
        scored = scored_windows(produced)
        want_scored = alone(bundle, serve, parts, stretches)
        for entity in rows:
            mine, want = scored.get(entity, []), want_scored.get(entity, [])
            assert [t for t, _ in mine] == [t for t, _ in want], (where_, entity)
            assert close([s for _, s in mine], [s for _, s in want]), (where_, entity)
        for entity, each in stretches.items():
            want_alerts: list[dict] = []
            if reorder:
                want_alerts = [r for s in each for r in alerts_alone(bundle, serve, parts, s)]
                assert close(got.get(entity, []), want_alerts), (
                    where_, entity, [s[0][0] for s in each], brief(got.get(entity, [])),
                    brief(want_alerts))
                continue
            for s in each:
                part = offline(path, for_score(serve), entity,
                               rows[entity][s[0][0]:s[-1][0] + 1], tmp_path, capsys)
                if part is None:
                    break
                want_alerts += part
            else:
                starts = [s[0][0] for s in each]
                assert close(got.get(entity, []), want_alerts), (
                    where_, entity, starts, brief(got.get(entity, [])), brief(want_alerts))
        evictions += evicted
    if fail:
        return reread((seed, serve, group.log), group, parts, rows)
    return evictions


def reread(where_: Any, group: Group, parts: dict, rows: dict) -> int:
    """Every alert, resolution and score record that a member produced and the broker did
    not take is read again: after it was produced, some member reads its partition again
    from an offset no later than the event that ended its window (docs/streaming.md,
    Failed deliveries: the loop "drops what it read since the last commit and ... re-reads
    it"; a revoke then "commits nothing, and the new owner reads from the last commit").
    Whether that read builds the window again is up to the reader's own least-recently-seen
    order and hop count (the per-member checks of ``evicting``), so that is not asked here.
    Returns how many records were not delivered."""
    at = {}  # (entity, event time) -> partition and offset of its latest event then
    for (tp, offset), (entity, i) in where(parts).items():
        key = (entity, round(rows[entity][i][0], 3))
        at[key] = max(at.get(key, (tp, -1)), (tp, offset))
    missed = []
    failed = [(seq, f) for m in group.members for seq, f in zip(m.failed_at, m.failed,
                                                                 strict=True)]
    for seq, (_, _, value, _) in failed:  # seq: Group.sends just after it was produced,
        r = json.loads(value)  # so a read with Group.sends == seq came after it
        end = r.get("window_end_ts", r.get("resolved_at_ts"))
        tp, offset = at[r["entity"], round(end, 3)]
        if not any(s >= seq and p == tp and o <= offset for s, p, o in group.reads):
            missed.append((r["entity"], r.get("status", "score"), end,
                           tp.partition, offset))
    assert not missed, (where_, missed)
    return len(failed)


def test_rebalances_with_evictions_alert_as_each_members_stretches_do(
        bundles, tmp_path, capsys):
    n = max(EXAMPLES // 6, 1)  # about 3 s a seed (score --alerts per stretch)
    assert sum(evicting(bundles, seed, tmp_path, capsys)
               for seed in range(5000, 5000 + n)) > 0


def test_rebalances_with_evictions_and_reordering_alert_as_each_members_stretches_do(
        bundles, tmp_path, capsys):
    n = max(EXAMPLES // 6, 1)
    assert sum(evicting(bundles, seed, tmp_path, capsys, reorder=True)
               for seed in range(5500, 5500 + n)) > 0


def test_rebalances_with_evictions_and_failed_deliveries_alert_as_each_members_stretches_do(
        bundles, tmp_path, capsys):
    """Evictions, rebalances and 1-5 alert or score records not delivered: each replay
    drops every entity its member holds, so its stretches end there too; what each member
    produced alerts and scores as its stretches do, and what the broker did not take is
    read again (``reread``)."""
    n = max(EXAMPLES // 6, 1)
    start = int(os.environ.get("REBALANCE_FUZZ_SEED_START", "6004"))
    assert sum(evicting(bundles, seed, tmp_path, capsys, fail=0.05)
               for seed in range(start, start + n)) > 0
