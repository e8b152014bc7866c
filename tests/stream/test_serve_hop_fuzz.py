"""serve at ``serve.windows.hop: h`` > 1 (2-5) under a kill and a replay, against the offline
scores of the same rows: test_serve_fuzz.py's streams, harness and kill (its ``replay``
compares a replay with one run at hop 1 only), checked for what docs/streaming.md promises
at h > 1 (*Hop*; Delivery guarantees, *Debounce across a restart*):

- every score serve publishes is the offline score (``score_series``) of the window of the
  entity's rows that ends at the scored row ("the streamed scores are still offline scores
  ... of the same rows, just not of every row");
- one run scores "its first complete window, then the windows ending h, 2h, ... events
  later", the count starting again after a gap;
- "between two scored windows of an entity there are never more than h events, also across
  a restart": over what the killed run and its replay published together;
- every alert of the run without the kill comes after it too, "a window earlier or later"
  (h events) at most ("the hop count starts again with the replayed window, so with h > 1
  the replay may score other windows of the run than before, and the alerts of a run that
  spans a crash can come a window earlier or later"), or as a re-opened incident
  (replay_checks.py's allowance), or not at all where the killed run's and the replay's
  windows never held ``consecutive`` anomalous ones in a row near it (*Debounce across a
  restart*: an anomaly about ``consecutive`` windows long may hold one window fewer of the
  replay's), or a repeated alert of a run (after its cooldown) where the replay alerted
  for that run but with one window of it fewer did not repeat it (seed 4304);
- in each run, every resolution is at the N-th normal window in a row of those it scored,
  after a flagged one, and names the entity's last alert before it (Resolutions).

Events are counted by the entity's rows that reach its window, in the order serve windows
them: a row with a missing or infinite cell is dead-lettered, the others are released in time
order by ``serve.windows.reorder_tolerance_seconds`` (a row or two of a stream swapped now
and then, test_serve_fuzz.py's ``swaps``; one swapped beyond the tolerance is late and
dropped), ``release_order``, by which ``score`` reads a file too. So that count is the row's
place in the released order, not in the file. Some streams have silences longer than ``gap_seconds`` (their
windows restart); their alerts are not compared (test_serve_fuzz.py, Resolutions: a run is
dropped at a restart after such a silence).

``HOP_FUZZ_EXAMPLES`` (default 3) runs more seeds, from ``HOP_FUZZ_SEED_START`` (default
3000): ``HOP_FUZZ_SEED_START=5093 HOP_FUZZ_EXAMPLES=1`` runs seed 5093 alone.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, field

import numpy as np
import pytest

from anomaly_gan.data.counters import increases
from anomaly_gan.data.windows import release_order
from tests.stream.replay_checks import alerts, score_records
from tests.support.sensor_fuzz import bundles, run, sensor_stream, where

__all__ = ["bundles"]  # the module fixture, from tests/support/sensor_fuzz.py

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("HOP_FUZZ_EXAMPLES", "3"))
SEED_START = int(os.environ.get("HOP_FUZZ_SEED_START", "3000"))


def kept(rows: list[list]) -> list[int]:
    """The rows that reach the entity's state: every cell finite (serve dead-letters the
    others as ``non_finite`` before they are held for reordering)."""
    return [i for i, r in enumerate(rows)
            if all(c and math.isfinite(float(c)) for c in r[1:])]


def windowed(rows: list[list], tolerance: float) -> list[int]:
    """The rows that reach the entity's window, in the order serve windows them: the kept
    rows released by ``serve.windows.reorder_tolerance_seconds`` (``release_order``, the rule
    serve releases events with and ``score`` reads a file by; late rows left out). The rows
    still held at the end are released too: sensor_stream sends one more event per entity
    that releases them."""
    keep = kept(rows)
    return [keep[j] for j in release_order(np.array([rows[i][0] for i in keep]), tolerance)]


def offline_scores(det, rows: list[list], tolerance: float) -> dict[int, tuple[float, bool]]:
    """Row index -> ``score_series``' score and flag of the window of the windowed rows
    ending there (of their increases with ``data.counters``, as ``score`` computes them)."""
    keep = windowed(rows, tolerance)
    values = np.array([[float(c) for c in rows[i][1:]] for i in keep])
    lead = 0
    if det.counters:
        values, lead = increases(values, det.counters), 1
    if len(values) < det.window:
        return {}
    series = det.score_series(values)
    return {keep[k + lead]: (float(s), bool(f))
            for k, (s, f) in enumerate(zip(series.score, series.is_anomaly, strict=True))
            if not math.isnan(s)}


@dataclass
class Entity:
    """One entity's rows as serve windows them, computed once a case (the model runs once):
    ``keep``, the windowed rows (``windowed``); ``place``, row index -> its place among them;
    ``want``, ``offline_scores``; ``flagged``, the places of the flagged windows."""

    rows: list[list]
    keep: list[int]
    want: dict[int, tuple[float, bool]]
    place: dict[int, int] = field(init=False)
    flagged: set[int] = field(init=False)

    def __post_init__(self) -> None:
        self.place = {i: k for k, i in enumerate(self.keep)}
        self.flagged = {self.place[i] for i, (_, f) in self.want.items() if f}


def entities(det, rows: dict, tolerance: float) -> dict[str, Entity]:
    return {e: Entity(r, windowed(r, tolerance), offline_scores(det, r, tolerance))
            for e, r in rows.items()}


def published(io, at: dict) -> dict[str, dict[int, list[float]]]:
    """entity -> row index -> the scores serve published for the window ending there."""
    out: dict[str, dict[int, list[float]]] = {}
    for r in score_records(io):
        entity, i = at[("events", r["partition"]), r["offset"]]
        assert entity == r["entity"]
        out.setdefault(entity, {}).setdefault(i, []).append(r["score"])
    return out


def segments(ent: Entity, gap: float, first: int) -> list[list[int]]:
    """The windowed rows' places (0, 1, ...) in each stretch without a gap longer than
    ``gap`` from which windows are scored: from the ``first``-th row of the stretch on."""
    rows, keep = ent.rows, ent.keep
    out: list[list[int]] = [[]]
    for k, i in enumerate(keep):
        if k and rows[i][0] - rows[keep[k - 1]][0] > gap:
            out.append([])
        out[-1].append(k)
    return [s[first:] for s in out if len(s) > first]


def check_hop(where_: tuple, det, serve: dict, ents: dict[str, Entity], at: dict, whole,
              ios) -> int:
    """The checks of the module docstring; returns the windows the runs scored."""
    hop, gap = serve["windows"]["hop"], serve["windows"]["gap_seconds"]
    first = det.window - 1 + (1 if det.counters else 0)
    runs = [published(io, at) for io in (whole, *ios)]
    n = 0
    for entity, ent in ents.items():
        want, place = ent.want, ent.place
        for got in runs:
            for i, scores in got.get(entity, {}).items():
                assert i in want, (where_, entity, i, "scored, but no window ends there")
                assert all(math.isclose(s, want[i][0], rel_tol=1e-5, abs_tol=1e-6)
                           for s in scores), (where_, entity, i, scores, want[i])
                n += len(scores)
        one = {place[i] for i in runs[0].get(entity, {})}
        both = {place[i] for got in runs[1:] for i in got.get(entity, {})}
        for seg in segments(ent, gap, first):
            lo, hi = seg[0], seg[-1]
            # one run: the first complete window, then every h-th
            assert {k for k in one if lo <= k <= hi} == set(range(lo, hi + 1, hop)), (
                where_, entity, lo, hi, sorted(k for k in one if lo <= k <= hi))
            # across the kill: never more than h events between two scored windows
            mark = sorted(k for k in both if lo <= k <= hi)
            steps = [b - a for a, b in zip([lo - hop, *mark], [*mark, hi + 1], strict=True)]
            assert mark and max(steps) <= hop, (where_, entity, lo, hi, mark)
    return n


def alert_rows(records: list[dict], ents: dict[str, Entity]
               ) -> dict[str, list[tuple[list[int], dict]]]:
    """entity -> (places of the windowed rows its window may end at: rows of one time share
    it, firing alert), in order."""
    out: dict[str, list[tuple[list[int], dict]]] = {}
    for r in records:
        if r["status"] != "firing":
            continue
        ent = ents[r["entity"]]
        ks = [k for k, i in enumerate(ent.keep)
              if abs(ent.rows[i][0] - r["window_end_ts"]) < 5e-4]  # ms in records
        assert ks, r
        out.setdefault(r["entity"], []).append((ks, r))
    return out


def streak_ends(places: list[int], flags: set[int], consecutive: int) -> set[int]:
    """The scored windows (``places``, in order) that end ``consecutive`` or more flagged
    ones in a row: the windows one run's debounce may alert at."""
    out, streak = set(), 0
    for k in places:
        streak = streak + 1 if k in flags else 0
        if streak >= consecutive:
            out.add(k)
    return out


def check_alerts(where_: tuple, serve: dict, ents: dict[str, Entity], at: dict, whole,
                 ios) -> int:
    """Every alert of the run without the kill after it too: the same id, or an alert of the
    same entity at most a window (h events) earlier or later, or one of an incident the
    replay re-opened (replay_checks.check_published: a later ``anomalous_since``, within
    a cooldown of it); but for an alert less than h events before the entity's last row,
    whose later window never comes, and for one whose run of anomalous windows the killed
    run and its replay, scoring other windows, never saw ``consecutive`` of in a row within
    a window of it (seed 3165: 4 anomalous windows in a row at hop 5 without the kill, 3 of
    the replay's). Every alert after the kill that the run without it did not send is for a
    window the model flags (a re-opened incident's; one that lost its cooldown:
    Debounce across a restart). Returns the alerts compared."""
    hop, cooldown = serve["windows"]["hop"], serve["alerts"]["cooldown_seconds"]
    want = alert_rows(alerts(whole), ents)
    got = alert_rows([r for io in ios for r in alerts(io)], ents)
    consecutive = serve["alerts"]["consecutive"]
    scored = [published(io, at) for io in ios]
    n = 0
    for entity, fired in want.items():
        mine = got.get(entity, [])
        ent = ents[entity]
        ends = set().union(*(streak_ends(sorted(ent.place[i] for i in got_.get(entity, {})),
                                         ent.flagged, consecutive) for got_ in scored))
        ids = {r["alert_id"] for _, r in mine}
        last = len(ent.keep) - 1
        for k, r in fired:
            n += 1
            # "a window later" needs that window: the replay's windows, other ones (up to
            # h - 1 events later) for the rest of the entity's stretch, may end with its rows
            # before it (seed 4190: an incident in the last 4 rows, at hop 5)
            # a repeated alert of a run (after its cooldown) may be one the replay, with one
            # window fewer of the run, does not repeat, where it alerted for the run
            # (seed 4304: 5 anomalous windows at hop 4, a 5 s cooldown, 4 of the replay's)
            since = max(k) - (r["consecutive_windows"] - 1) * hop
            assert r["alert_id"] in ids or max(k) + hop > last or not any(
                abs(a - e) <= hop for a in k for e in ends) or (
                r["consecutive_windows"] > consecutive and any(
                    since - hop <= b <= max(k) + hop for js, _ in mine for b in js)) or any(
                abs(a - b) <= hop for js, _ in mine for a in k for b in js) or any(
                r["anomalous_since_ts"] < g["anomalous_since_ts"] <= r["window_end_ts"]
                and abs(g["window_end_ts"] - r["window_end_ts"]) <= cooldown
                for _, g in mine), (where_, entity, k, r["window_end_ts"],
                                    [(j, g["window_end_ts"]) for j, g in mine])
    for entity, fired in got.items():
        ids = {r["alert_id"] for _, r in want.get(entity, [])}
        flagged = ents[entity].flagged
        for k, r in fired:
            assert r["alert_id"] in ids or any(a in flagged for a in k), (
                where_, entity, k, r["window_end_ts"])
    return n


def check_resolutions(where_: tuple, serve: dict, ents: dict[str, Entity], at: dict, runs,
                      silences: bool) -> int:
    """In each run (the one without the kill, the killed one, its replay) every resolution
    is that of docs/streaming.md, Resolutions, at hop h too: ``resolved_at`` is the end of a
    window the run scored that is the N-th (``resolve_windows``) normal one in a row of the
    windows it scored (h events apart), the window it scored before them flagged (but
    after a silence, where the count may span the restarted window), ``normal_windows`` is
    N, and ``alert_id`` names the entity's last alert before it in the run. Returns the
    resolutions checked."""
    want_n = serve["alerts"]["resolve_windows"]
    n = 0
    for io in runs:
        scored = published(io, at)
        last_alert: dict[str, str] = {}
        for r in alerts(io):
            entity = r["entity"]
            if r["status"] == "firing":
                last_alert[entity] = r["alert_id"]
                continue
            n += 1
            ent = ents[entity]
            flagged = ent.flagged
            run_ = sorted(ent.place[i] for i in scored.get(entity, {}))
            ks = [k for k in run_ if abs(ent.rows[ent.keep[k]][0] - r["resolved_at_ts"]) < 5e-4]
            assert r["normal_windows"] == want_n and r["alert_id"] == last_alert.get(entity), (
                where_, entity, r)
            assert any(
                j >= want_n - 1 and not flagged & set(run_[j - want_n + 1:j + 1])
                and (silences or (j >= want_n and run_[j - want_n] in flagged))
                for j in (run_.index(k) for k in ks)), (
                where_, entity, r["resolved_at_ts"], ks,
                [(k, k in flagged) for k in run_])
    return n


def hop_replay(bundles, seed: int) -> tuple[int, int, int]:
    rng = random.Random(seed)
    hop = rng.randint(2, 5)
    silences = rng.random() < 0.3
    serve, counters, rows, parts = sensor_stream(seed, kill=True, silences=silences, hop=hop)
    _, det = bundles[counters]
    _, whole, _ = run(det, serve, parts, random.Random(rng.random()))
    _, io1, _ = run(det, serve, parts, rng, kill_after=rng.randint(1, 6))
    committed = io1.commits[-1] if io1.commits else {}
    rest = {tp: recs[committed.get(tp, 0):] for tp, recs in parts.items()}
    _, io2, _ = run(det, serve, {tp: r for tp, r in rest.items() if r}, rng)
    where_ = (seed, hop, serve["alerts"], det.window, counters)
    at = where(parts)
    ents = entities(det, rows, serve["windows"]["reorder_tolerance_seconds"])
    n = check_hop(where_, det, serve, ents, at, whole, [io1, io2])
    resolved = check_resolutions(where_, serve, ents, at, [whole, io1, io2], silences)
    return n, resolved, 0 if silences else check_alerts(where_, serve, ents, at, whole,
                                                         [io1, io2])


def test_at_hop_above_1_a_kill_and_replay_keep_offline_scores_and_at_most_h_events_apart(
        bundles):
    seeds = range(SEED_START, SEED_START + EXAMPLES)
    scored, resolved, compared = map(sum, zip(*(hop_replay(bundles, s) for s in seeds),
                                              strict=True))
    # the cases scored windows, checked resolutions and compared alerts
    assert scored > 0 and resolved > 0 and compared > 0
