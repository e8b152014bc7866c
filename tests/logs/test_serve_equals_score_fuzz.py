"""Randomized differential test: the lines of a log file give the same buckets, rows, window
scores, flags and alert templates in ``score`` (offline.py) as in ``serve`` (the scorer fed
the same lines as Kafka records, committed as it goes and at the end as at shutdown).

The streams are seeded and generated as users send them: several entities interleaved,
bursts, silences longer than ``logs.gap_seconds``, a template going silent, Java and Python
traces joined to their event, bad lines (a banner, bytes that are not UTF-8, an event over
``serve.windows.max_event_bytes``, a line without its entity), event lines that logs.regex
matches but that are refused, with a trace (an unreadable time, an entity over
``max_entity_bytes``, a line over ``max_event_bytes``, no entity, stamped ahead of the
clock: REFUSED), records of one line or of several events' lines. The bad records are
compared too: ``serve``'s invalid parts by reason are the records ``score``'s
``logs.bad_lines: skip`` note leaves out, its dead letters count as many, and of regex
lines they are the parts written (a refused line with its trace is one). What docs/logs.md
says differs on purpose is not generated (each exclusion cites the rule) or is compared as
it says:

- a line stamped ahead of the clock (by decades: ahead of the scorer's clock and of the
  wall clock) is ``serve``'s ``future_timestamp``, where a file's reader takes any time and
  ``score`` leaves it out of the count (Offline): it is compared as one;

- the tail, with time buckets: ``score`` closes every bucket at the end of its file (the
  last line is the watermark), where ``serve`` keeps an entity's open bucket and its
  watermark lags up to two lines for sparse lines (Watermark); so ``serve``'s rows of an
  entity are the first of ``score``'s, and those after them start with the bucket still
  open. Per N lines there is no tail: ``score`` leaves each entity's partial last bucket
  out, as ``serve`` never scores one (Offline), so their rows are the same (until
  2026-12-07 ``score``'s held one partial bucket more);
- a continuation line sent as its own record is dead-lettered where a file joins it
  (Multi-line events): a record never starts with a trace line here;
- ``score`` counts a file in time order where ``serve`` drops a line more than
  ``serve.windows.reorder_tolerance_seconds`` behind, and an entity's own line for an older
  bucket than its open one (Time buckets: "its own lines must come in bucket order"): lines
  come out of order only across entities, within the tolerance, or within one bucket;
- a stray first or last line more than ``logs.gap_seconds`` from the others is left out
  offline (Offline): no silence is generated among the first or last lines;
- with ``serve.windows.max_entities`` below the entities, an evicted entity starts fresh in
  ``serve`` when it returns (docs/logs.md, Entities held; ``score`` holds every entity): only
  its rows before its first eviction are compared.

The formats are regex, json, otlp_json and otlp_proto (the same batches in protobuf: Kafka
records, and a file as the Collector's file exporter writes with ``format: proto``).
"""

from __future__ import annotations

import itertools
import os
import random
from collections import Counter
from typing import Any

import numpy as np
import pytest

from anomaly_gan.logs.offline import (
    LineTally,
    latest_allowed,
    load_log_model,
    read_for_log_model,
)
from anomaly_gan.stream.app import Scorer
from anomaly_gan.stream.events import InvalidEvent
from tests.support.logs_fuzz import (
    Stream,
    add_runs,
    alert_decisions,
    alerts,
    debounced_as_series,
    published,
    run,
    scored_runs,
    stream,
    windows,
)

# ------------------------------------------------------------------ both sides


def dead_letters(io) -> list[tuple[str, int]]:
    """Each record sent to the dead-letter topic: its reason (its first invalid part's) and
    how many invalid parts it held ("3 of 5 log records invalid; the first: ...")."""
    out = []
    for t, _, _, headers in io.sent:
        if t == "anomaly-gan.dlq":
            h = dict(headers)
            detail = h["detail"].decode()
            n = int(detail.split(" ", 1)[0]) if " log records invalid; " in detail else 1
            out.append((h["reason"].decode(), n))
    return out


def counting_invalid(invalid: Counter) -> Any:
    """An ``instrument`` for :func:`run`: ``invalid`` gets the reason of each invalid part
    of each record that serve parses (an event line with its trace, a line that is no
    event, a bad log record of a batch)."""
    def instrument(sc: Scorer) -> None:
        feed = sc.intake.logs
        parse_many = feed.parse_many

        def counted(raw):
            evs = parse_many(raw)
            invalid.update(ev.reason for ev in evs if isinstance(ev, InvalidEvent))
            return evs

        feed.parse_many = counted
    return instrument


def served(s: Stream, rng: random.Random, evictions: list | None = None):
    """Per entity: the rows ``serve`` closed, the windows it scored (in order), its alerts,
    and the bucket each entity still has open; and the invalid parts of the records by
    reason, and the dead letters (dead_letters)."""
    rows: dict[str, list] = {}
    invalid: Counter[str] = Counter()
    sc, io = run(s, rng, rows=rows, evictions=evictions, instrument=counting_invalid(invalid))
    still_open = {}
    for buckets in sc.intake.logs._buckets.values():
        still_open.update(buckets._open)
    if evictions is not None:  # counted (docs/streaming.md, Memory)
        sc.metrics.count_state(sc.state)
        # only the log side's evictions: an entity the gap rule let go of leaves the windows
        # too (docs/logs.md, Gap rule; until 2026-12-06, with time buckets, the windows kept
        # it and evicted it, counted, for a new entity: otlp_json time seed 401 of the search)
        assert sc.metrics.registry.get_sample_value(
            "anomaly_gan_entities_evicted_total") == len(evictions) == sc.intake.logs.evicted, (
            evictions, sc.state.evicted)
    return rows, windows(io), alerts(io), still_open, invalid, dead_letters(io)


def scored_offline(det, paths):
    """Per entity: ``score``'s rows, its windows (in order) and their explanations and series
    (each file's entities are its own: an entity stays on its partition); and the records
    left out by reason (``logs.bad_lines: skip``, its note), with ``future_timestamp`` the
    events stamped ahead of the wall clock, which score leaves out of the count; and the
    lines the note counts by reason."""
    rows: dict[str, list] = {}
    windows: dict[str, list] = {}
    left_out: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    series = itertools.count()
    for path in paths:
        tally = LineTally()
        evs, _ = read_for_log_model(det.config, str(path), tally=tally)
        left_out.update(tally.records_skipped)
        lines.update(tally.skipped)
        # score's latest_allowed, taken before it: AHEAD is decades past either
        ahead = latest_allowed(det.config)
        left_out["future_timestamp"] += sum(ev.ts is not None and ev.ts > ahead for ev in evs)
        add_runs(det, scored_runs(det, load_log_model(det), evs), rows, windows, series)
    return rows, windows, +left_out, lines


def compare(fmt: str, mode: str, seed: int, tmp_path, partitions: int = 1,
            evicting: bool = False, debounced: bool = False) -> dict[str, int]:
    """With ``evicting``, ``serve.windows.max_entities`` is below the entities: the least
    recently seen one is evicted and starts fresh if it returns (docs/streaming.md, Memory;
    docs/logs.md, Entities held), so only its rows before its first eviction are ``score``'s;
    the other entities' are all. With ``debounced``, serve.alerts vary (alerts_varied):
    each entity's alerts and resolutions are those of its windows in score, each series
    debounced on its own (debounced_as_series)."""
    s, rng = stream(fmt, mode, seed, tmp_path, partitions, evicting=evicting,
                    debounced=debounced)
    evictions: list | None = [] if evicting else None
    live_rows, live_windows, sent_alerts, still_open, invalid, dlq = served(s, rng, evictions)
    file_rows, file_windows, left_out, note = scored_offline(s.det, s.files)
    where = (f"{fmt} {mode} seed {seed} ({partitions} partitions, tolerance {s.tolerance}, "
             f"alerts {s.alerts})")
    # the bad records: serve's invalid parts by reason are the records score's note leaves
    # out (an event line refused with its trace is one, in both), and its dead letters
    # count them; of regex lines, as many as were written (regex_units), and the note counts
    # their lines (a trace's with its event's), but a future line's, which the file reads
    assert invalid == left_out, (where, invalid, left_out)
    assert sum(n for _, n in dlq) == sum(invalid.values()), (where, dlq, invalid)
    if s.written is not None:
        assert invalid == s.written["invalid"], (where, invalid, s.written["invalid"])
        want = {r: n for r, n in s.written["invalid_lines"].items() if r != "future_timestamp"}
        assert note == want, (where, note, want)
    assert set(live_rows) <= set(file_rows), where
    evicted: dict[str, int] = {}
    for victim, least_recent, n_rows in evictions or ():
        assert victim == least_recent, (where, evictions)
        evicted.setdefault(victim, n_rows)
    for entity, n_rows in evicted.items():
        # per N lines an entity of fewer lines than a bucket has no row in either
        got, want = live_rows.get(entity, [])[:n_rows], file_rows.get(entity, [])[:n_rows]
        assert [(r.start_ts, r.end_ts, r.lines, r.values.tolist()) for r in got] == [
            (r.start_ts, r.end_ts, r.lines, r.values.tolist()) for r in want], (where, entity)
    sent_alerts = [a for a in sent_alerts if a["entity"] not in evicted]
    for entity, want in file_rows.items():
        if entity in evicted:
            continue
        got = live_rows.get(entity, [])
        n = len(got)
        assert [(r.start_ts, r.end_ts, r.lines, r.values.tolist()) for r in got] == [
            (r.start_ts, r.end_ts, r.lines, r.values.tolist()) for r in want[:n]], (where, entity)
        tail = want[n:]
        if mode == "time":  # the tail: the open bucket on
            if tail:
                assert entity in still_open, (where, entity, tail[0].start_ts)
                assert tail[0].start_ts == still_open[entity].index * 10.0, (where, entity)
        else:  # none: the partial last bucket, open in serve or forgotten by its gap rule
            # at a commit, is left out by score too
            assert not tail, (where, entity, [(r.start_ts, r.lines) for r in tail])
        offline = [w for w in file_windows.get(entity, []) if w[4] < n]
        live = live_windows.get(entity, [])
        assert [w[:2] + (w[3],) for w in live] == [w[:2] + (w[3],) for w in offline], (
            where, entity)
        np.testing.assert_allclose([w[2] for w in live], [w[2] for w in offline],
                                   rtol=1e-12, atol=1e-12, err_msg=f"{where} {entity}")
        assert alert_decisions([a for a in sent_alerts if a["entity"] == entity]) == \
            debounced_as_series(offline, s.alerts), (where, entity)
    resolutions = sum(a["status"] == "resolved" for a in sent_alerts)
    sent_alerts = [a for a in sent_alerts if a["status"] == "firing"]
    for a in sent_alerts:  # each alert names the templates and examples score names for its
        # window: a template's earliest lines by time, where serve got them out of order
        same = [w[5] for w in file_windows[a["entity"]] if w[1] == a["window_end_ts"] and w[3]]
        assert a["templates"] in same, (where, a["entity"], a["window_end_ts"])
    return {"rows": sum(map(len, live_rows.values())),
            "windows": sum(map(len, live_windows.values())), "alerts": len(sent_alerts),
            "evicted": len(evictions or ()), "resolved": resolutions,
            "invalid": sum(invalid.values()),
            "refused": s.written["refused_traced"] if s.written is not None else 0}


# Mismatches found by this search and not yet minimised or decided (left open, named here so
# that the other cases still guard what they cover). None now: ("otlp_json", "time", 1, 35)
# and (..., 3, 124) were the generator's (a "bad" log record without an entity is logs.entity's,
# bad_log_record); ("regex", "lines", "kill", 200) was serve's (a replay ended a bucket at
# another time: tests/logs/test_replay.py, per N lines a replay ends each bucket ...).
OPEN: set[tuple] = set()


def fuzz(fmt: str, mode: str, tmp_path, seeds=range(40), **kw) -> dict[str, int]:
    seen = {"rows": 0, "windows": 0, "alerts": 0, "evicted": 0, "resolved": 0, "invalid": 0,
            "refused": 0}
    for seed in seeds:
        if (fmt, mode, kw.get("partitions", 1), seed) in OPEN:
            continue
        for k, v in compare(fmt, mode, seed, tmp_path, **kw).items():
            seen[k] += v
    return seen


# More seeds of every test below: LOGS_FUZZ_SEEDS=400 (the searches of 2026-12-06 ran 400
# of otlp_proto in each test and 200 of each format evicting: no mismatch left)
MORE = int(os.environ.get("LOGS_FUZZ_SEEDS", "0"))


def seeds(start: int, n: int) -> range:
    return range(start, start + max(n, MORE))


@pytest.mark.parametrize("fmt", ["regex", "json", "otlp_json", "otlp_proto"])
@pytest.mark.parametrize("mode", ["time", "lines"])
def test_serve_scores_the_lines_of_a_file_as_score_does(fmt, mode, tmp_path):
    n = {"regex": 24, "otlp_proto": 8}.get(fmt, 12)
    seen = fuzz(fmt, mode, tmp_path, seeds=seeds(0, n))
    # the cases compared something: bad records, of regex event lines refused with a trace
    assert seen["windows"] > 20 * n and seen["alerts"] > n and seen["invalid"] > n, seen
    assert fmt != "regex" or seen["refused"] > 2 * n, seen


@pytest.mark.parametrize("fmt", ["regex", "json", "otlp_json", "otlp_proto"])
@pytest.mark.parametrize("mode", ["time", "lines"])
def test_serve_with_fewer_entity_places_than_entities_evicts_the_least_recently_seen(
        fmt, mode, tmp_path):
    """serve.windows.max_entities below the entities (1 to all but one, 1-3 partitions):
    each eviction is of the least recently seen entity and counted, serve holds no more
    entities than that, and every entity never evicted is scored as score scores it; an
    evicted one up to its eviction (compare)."""
    seen = {"windows": 0, "alerts": 0, "evicted": 0}
    for seed in seeds(300, 6):
        got = compare(fmt, mode, seed, tmp_path, partitions=1 + seed % 3, evicting=True)
        for k in seen:
            seen[k] += got[k]
    assert seen["windows"] > 100 and seen["evicted"] > 10, seen


@pytest.mark.parametrize("mode", ["time", "lines"])
def test_serve_debounces_each_series_of_an_entity_as_its_own(mode, tmp_path):
    """serve.alerts varied (consecutive 1-3, a cooldown or none, incidents resolved after
    1-2 normal windows or none): each entity's alerts and resolutions are score's windows
    debounced series by series (docs/logs.md, Gap rule), however the records fall into
    polls, batches and commits. Until 2026-12-06 an entity back after the gap kept its
    cooldown or open incident per N lines unless a commit had expired it (99 of 400 cases of
    seeds 500-699, 1 and 2 partitions), and with time buckets unless its rows were published
    in the silence (4 of 400: seeds 677 and 693, both included here)."""
    start = {"time": 660, "lines": 500}[mode]
    seen = fuzz("regex", mode, tmp_path, seeds=seeds(start, 40), debounced=True,
                partitions=2)
    assert seen["alerts"] > 12 and seen["resolved"] > 0, seen  # it compared some


@pytest.mark.parametrize("fmt", ["regex", "json", "otlp_json", "otlp_proto"])
@pytest.mark.parametrize("mode", ["time", "lines"])
def test_entities_on_several_partitions_read_in_turns(fmt, mode, tmp_path):
    """Each partition has its own watermark and buckets (docs/logs.md, Time buckets): its
    entities' rows, windows and alerts are those of a file of its lines alone."""
    n = 4 if fmt == "otlp_proto" else 8
    seen = fuzz(fmt, mode, tmp_path, seeds=seeds(100, n), partitions=3)
    assert seen["windows"] > 20 * n and seen["alerts"] > 5, seen


def replay(fmt: str, mode: str, seed: int, tmp_path) -> int:
    """Killed after a few commits, then a new scorer from the committed offsets: what both
    published is what a run without the kill publishes (docs/logs.md, Live: "a kill after
    any record scores the same windows and raises the same alerts as a run without one";
    docs/streaming.md: at-least-once, a window scored twice gets the same score)."""
    s, rng = stream(fmt, mode, seed, tmp_path, partitions=random.Random(seed).randint(1, 3),
                    across=False)
    want = published(run(s, random.Random(rng.random()))[1])
    _, io1 = run(s, rng, kill_after=rng.randint(1, 6))
    committed = io1.commits[-1] if io1.commits else {}
    rest = Stream(s.det, s.tolerance, {tp: recs[committed.get(tp, 0):]
                                       for tp, recs in s.parts.items()}, s.files)
    _, io2 = run(rest, rng)
    (w1, a1), (w2, a2) = published(io1), published(io2)
    where = f"{fmt} {mode} seed {seed} (tolerance {s.tolerance})"
    assert w1 | w2 == want[0], (where, sorted((w1 | w2) ^ want[0])[:4])
    assert a1 | a2 == want[1], (where, sorted((a1 | a2) ^ want[1])[:4])
    return len(w1 & w2)


@pytest.mark.parametrize("fmt", ["regex", "json", "otlp_json", "otlp_proto"])
@pytest.mark.parametrize("mode", ["time", "lines"])
def test_a_kill_and_a_replay_from_the_commit_publish_what_one_run_does(fmt, mode, tmp_path):
    n = 4 if fmt == "otlp_proto" else 8
    again = sum(replay(fmt, mode, seed, tmp_path) for seed in seeds(200, n)
                if (fmt, mode, "kill", seed) not in OPEN)
    assert again > 0  # some windows were scored again after the kill, with the same scores


def test_entities_that_come_back_ahead_of_the_watermark_leave_the_others_their_windows(tmp_path):
    """json time seed 598 of the search (LOGS_FUZZ_SEEDS=400): two of four entities come
    back after a silence longer than the gap, ahead of the watermark, and close their empty
    buckets up to the gap with their own line; the windows' commit rule took the two still
    logging (a bucket and a half behind that 90th percentile of row times) for idle, and
    the commit went past their windows' rows (offset 47: their open buckets only). The
    replay lost four windows of theirs. Now no logs entity is idle to the windows: the
    logs gap rule forgets a silent one."""
    assert replay("json", "time", 598, tmp_path) > 0
