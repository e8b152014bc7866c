"""serve's sensor path against ``score --alerts``, fuzzed over what one entity in file order
(test_offline_fuzz.py) does not reach: several entities interleaved in time, keyed by entity
so each stays on one of 1-3 partitions, read in polls of some partitions at a time; a kill
after some commits and a replay from the committed offsets; ``serve.windows.max_entities``
below the number of entities. The harness is that of tests/logs/test_serve_equals_score_fuzz.py
(its Partitions and polls; run, compare and replay are the sensor counterparts, run in
tests/support/sensor_fuzz.py).

What docs/streaming.md says differs on purpose is not generated, each exclusion citing it:
- a replay after a kill is compared with ``serve.windows.hop: 1`` only (Delivery guarantees:
  "with h > 1 the replay may score other windows of the run than before, and the alerts of a
  run that spans a crash can come a window earlier or later"; test_serve_hop_fuzz.py
  checks what holds at h > 1);
- eviction is fuzzed with ``reorder_tolerance_seconds: 0``: the rows an evicted entity still
  held for reordering are forgotten with it, which ``score`` of its rows cannot know
  (test_rebalance_fuzz.py fuzzes eviction above 0 against a scorer of the rows alone);
- the kill and replay generates no entity that falls silent for longer than ``gap_seconds``
  (Resolutions: its run or incident "is dropped ... after a restart once the entity has
  been silent for more than gap_seconds"), and compares with what
  tests/stream/replay_checks.py allows (re-opened incidents, Delivery guarantees);
- the entities of a partition move on in time together (real streams; the commit rule lets an
  entity more than ``gap_seconds`` behind the 90th percentile of its partition not hold the
  commit back, Delivery guarantees).

``SENSOR_FUZZ_EXAMPLES`` (default 2 per test) runs more seeds.
"""

from __future__ import annotations

import os
import random
from collections import OrderedDict

import pytest

from tests.stream.replay_checks import alerts, check_published
from tests.support.sensor_fuzz import (
    brief,
    bundles,
    close,
    for_score,
    offline,
    per_entity,
    run,
    sensor_stream,
    where,
)

__all__ = ["bundles"]  # the module fixture, from tests/support/sensor_fuzz.py

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("SENSOR_FUZZ_EXAMPLES", "2"))


def compare(bundles, seed: int, tmp_path, capsys) -> int:
    serve, counters, rows, parts = sensor_stream(seed, max_hop=5)
    path, bundle = bundles[counters]
    _, io, _ = run(bundle, serve, parts, random.Random(seed))
    got = per_entity(alerts(io))
    n = 0
    for entity, mine in rows.items():
        want = offline(path, for_score(serve), entity, mine, tmp_path, capsys)
        if want is None:
            continue
        assert close(got.get(entity, []), want), (seed, entity, brief(got.get(entity, [])),
                                                  brief(want))
        n += len(want)
    return n


def test_entities_interleaved_on_partitions_alert_as_score_does_per_entity(
        bundles, tmp_path, capsys):
    n = sum(compare(bundles, seed, tmp_path, capsys) for seed in range(EXAMPLES))
    assert n > 0  # the cases compared some alerts


def replay(bundles, seed: int) -> int:
    """Killed after a few commits, then a new scorer from the committed offsets: what both
    published is what a run without the kill publishes (docs/streaming.md, Delivery
    guarantees: "a crash in the middle of an anomaly gives the same alerts, with the same
    ids, as no crash"; windows in the replayed range scored twice, with the same ids), but
    for what replay_checks.check_published says the docs allow. No entity falls silent for
    longer than ``gap_seconds``: its run or open incident from before the silence is dropped
    at a restart (docs/streaming.md, Resolutions: "after a restart once the entity has been
    silent for more than gap_seconds ...; the same holds across a gap in its own data, whose
    window restarts"). Returns the windows published twice."""
    serve, counters, _, parts = sensor_stream(seed, kill=True, silences=False)
    _, bundle = bundles[counters]
    rng = random.Random(seed)
    _, whole, _ = run(bundle, serve, parts, random.Random(rng.random()))
    _, io1, _ = run(bundle, serve, parts, rng, kill_after=rng.randint(1, 6))
    committed = io1.commits[-1] if io1.commits else {}
    rest = {tp: recs[committed.get(tp, 0):] for tp, recs in parts.items()}
    _, io2, _ = run(bundle, serve, {tp: r for tp, r in rest.items() if r}, rng)
    return check_published((seed, serve), serve, whole, [io1, io2])


def test_a_kill_and_a_replay_from_the_commit_publish_what_one_run_does(bundles):
    # some windows were scored again after the kill (the replay re-read them)
    assert sum(replay(bundles, seed) for seed in range(1000, 1000 + EXAMPLES)) > 0


def evict(bundles, seed: int, tmp_path, capsys) -> int:
    """``serve.windows.max_entities`` below the number of entities: the least recently seen
    entity is evicted and "starts fresh if it returns" (docs/streaming.md, Memory; its
    incident "is dropped, with no record", Resolutions): its alerts are those ``score``
    gives for each stretch of its rows between evictions as a file of its own. The entities
    held stay within the bound and anomaly_gan_entities_evicted_total counts the evictions."""
    serve, counters, rows, parts = sensor_stream(seed, evict=True)
    path, bundle = bundles[counters]
    pushed: list = []
    sc, io, reg = run(bundle, serve, parts, random.Random(seed), pushed=pushed)
    limit = serve["windows"]["max_entities"]
    held: OrderedDict = OrderedDict()
    starts: dict[str, list[int]] = {}
    evicted = 0
    for entity, offset, tp in pushed:
        if entity in held:
            held.move_to_end(entity)
            continue
        if len(held) >= limit:
            held.popitem(last=False)
            evicted += 1
        held[entity] = True
        starts.setdefault(entity, []).append(where(parts)[tp, offset][1])
    assert len(sc.state) <= limit, seed
    assert reg.get_sample_value("anomaly_gan_entities_evicted_total") == evicted, seed
    got = per_entity(alerts(io))
    n = 0
    for entity, mine in rows.items():
        cuts = starts.get(entity, [0])[1:]
        want: list[dict] = []
        for a, b in zip([0, *cuts], [*cuts, len(mine)], strict=True):
            part = offline(path, for_score(serve), entity, mine[a:b], tmp_path, capsys)
            if part is None:
                break
            want += part
        else:
            assert close(got.get(entity, []), want), (
                seed, entity, cuts, brief(got.get(entity, [])), brief(want))
            n += len(want)
    return evicted


def test_entities_beyond_max_entities_start_fresh_when_they_return(bundles, tmp_path, capsys):
    assert sum(evict(bundles, seed, tmp_path, capsys)
               for seed in range(2004, 2004 + EXAMPLES)) > 0
