"""Seeded test of the alert logic against a reference written from its prose contract.

``serve`` and ``score --alerts`` decide alerts through the same code
(:func:`~anomaly_gan.stream.alerts.debounce`, :class:`~anomaly_gan.stream.alerts.Debouncer`,
:func:`~anomaly_gan.stream.alerts.alert_records`), so their differential fuzz tests cannot
find a bug in it. Here :func:`reference` restates docs/streaming.md (*Since when*,
*Debounce*, *Resolutions*, *Silences*, *Alert id*) without the product's code: it keeps each
entity's scored windows since it was last forgotten and reads the run, the normal windows in
a row and the incident's anomalous windows off that history.

- An entity alerts at a window when the anomalous windows in a row up to it number at least
  ``consecutive`` and no alert of the entity lies less than ``cooldown_seconds`` of event
  time (window ends) before it (its last alert at ``t0``: quiet while ``t - t0 <
  cooldown``, the three read as written: a step of 0.1 s is 0.1 s). With
  ``resolve_windows`` 0 a normal window ends the run, not the cooldown.
- ``consecutive_windows``: the anomalous windows in a row up to the alerting one;
  ``anomalous_since``: the end of the first of them, or with an open incident the first
  window of the run that opened it.
- ``resolve_windows = N > 0``: an alert opens an incident (if none is open); the N-th normal
  window in a row after it resolves it, ends its cooldown, and its record names the last
  alert sent, counts the alerts sent and the anomalous windows since ``anomalous_since``;
  ``duration_seconds`` runs from ``anomalous_since`` to the resolving window's end.
- A silence covering ``[start, end)`` of the window end keeps an alert off the topic but the
  state evolves as without it; an incident none of whose alerts was sent is resolved
  without a record.
- A forget (eviction, revoke; ``retain`` at a commit of the entities no longer held) drops
  everything: run, cooldown, incident, silently; one at window i of a batch comes after the
  batch's windows before i.
- What a replay must rebuild (*Debounce across a restart*), compared at each batch's end:
  the windows to re-score (the open incident's, else the run's) and, with
  ``resolve_windows`` 0 and a cooldown, the hold of an alert whose run is exactly
  ``consecutive`` long, back to the run's first window until the alert's end plus
  ``cooldown_seconds``.
- Ids, as docs/alert.schema.json spells them: the alert id is the first 32 hex characters
  of sha256 of ``entity|window end (µs)|model version`` (``|repeat`` for a window whose end
  its entity's rows before it share), the resolution id of ``resolved|entity|resolved_at
  (µs)|model version`` (``|repeat`` of the resolving window).

Each seed draws 1-4 entities, ``consecutive`` 1-4, ``cooldown_seconds`` 0 or up to 6 window
steps, ``resolve_windows`` 0-3, sticky random flags, repeated window ends (a window whose
end time its entity's previous window shares, with its own repeat), time jumps, forgets,
silences in about half the seeds (exact entities, patterns, open starts), window steps of
0.1 to 60 s, and cuts the stream into batches scored by model ``v1`` or, after a reload,
``v2``, with retains between some; the product gets the batches as ``serve``'s publisher
does. ``DEBOUNCE_SPEC_FUZZ_SEEDS`` (default 500, about 3 s) seeds from
``DEBOUNCE_SPEC_FUZZ_SEED_START`` (default 0): ``DEBOUNCE_SPEC_FUZZ_SEED_START=17
DEBOUNCE_SPEC_FUZZ_SEEDS=1`` runs seed 17 alone.
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from anomaly_gan.stream.alerts import Debouncer, alert_records, debounce
from anomaly_gan.stream.silences import Silence, Silences
from tests.support.fuzz import block_id, each_seed, first_difference, seed_blocks

SEEDS = int(os.environ.get("DEBOUNCE_SPEC_FUZZ_SEEDS", "500"))
SEED_START = int(os.environ.get("DEBOUNCE_SPEC_FUZZ_SEED_START", "0"))

#: the fields of the records that the debounce decides (the rest come from the scores)
FIRING = ("status", "alert_id", "entity", "window_end_ts", "consecutive_windows",
          "anomalous_since_ts", "model_version")
RESOLVED = ("status", "resolution_id", "alert_id", "entity", "anomalous_since_ts",
            "resolved_at_ts", "duration_seconds", "alerts", "anomalous_windows",
            "normal_windows", "model_version")


@dataclass
class Window:
    entity: str
    end: float
    anomalous: bool
    repeat: str
    version: str
    offset: int  # of the record that completed it, on partition "p0" (a replay's start)


@dataclass
class Forget:
    entity: str


@dataclass
class Retain:
    """Between two batches, the state of the entities not in ``keep`` is dropped
    (:meth:`Debouncer.retain`, at ``serve``'s commits: entities no longer held)."""

    keep: frozenset[str]


@dataclass
class Case:
    consecutive: int
    cooldown: float
    resolve: int
    silences: list[Silence]
    steps: list[Window | Forget | Retain]
    cuts: list[int]  # batch boundaries, as indices into steps


# -- the reference ------------------------------------------------------------------------


@dataclass
class _Incident:
    since_at: int  # index in the entity's history of the first window of the opening run
    sent: int = 0
    last_sent_id: str = ""
    versions: set[str] = field(default_factory=set)  # the models of its alerts


@dataclass
class _Entity:
    history: list[Window] = field(default_factory=list)  # since the entity was last forgotten
    last_alert: float | None = None
    incident: _Incident | None = None
    resolved_at: float | None = None  # window end of its last resolution
    hold: tuple[Any, int, float] | None = None  # (partition, offset, until): see _snapshot


def _id(*parts: object, repeat: str) -> str:
    key = "|".join(str(p) for p in parts) + (f"|{repeat}" if repeat else "")
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _apart(later: float, earlier: float, seconds: float) -> int:
    """-1, 0 or 1 as ``later - earlier`` is less than, equal to or more than ``seconds``, the
    three read as written (``1767225600.7 - 1767225600.4`` is 0.3, 0.2999999523 in floats)."""
    diff = Fraction(repr(later)) - Fraction(repr(earlier)) - Fraction(repr(float(seconds)))
    return (diff > 0) - (diff < 0)


def _us(ts: float) -> int:
    return round(ts * 1_000_000)


def _silenced(silences: list[Silence], entity: str, end: float) -> bool:
    def matches(pattern: str) -> bool:  # * any characters, ? one, nothing else special
        return fnmatch.fnmatchcase(entity, pattern.replace("[", "[[]"))
    return any(matches(s.entity) and (s.start is None or s.start <= end) and end < s.end
               for s in silences)


Snapshot = tuple[dict[str, int], dict[str, tuple[Any, int, float]]]


def _snapshot(state: dict[str, _Entity]) -> Snapshot:
    """What a replay must rebuild, per entity: the windows to re-score (those of its open
    incident, else of its run of anomalous windows) and, with ``resolve_windows`` 0 and a
    cooldown, where the run that raised its alert began and until when (the alert's end plus
    ``cooldown_seconds``) the commit holds back to it."""
    held: dict[str, int] = {}
    for name, ent in state.items():
        if ent.incident is not None:
            n = len(ent.history) - ent.incident.since_at
        else:
            n = 0
            while n < len(ent.history) and ent.history[-1 - n].anomalous:
                n += 1
        if n:
            held[name] = n
    holds = {name: ent.hold for name, ent in state.items() if ent.hold is not None}
    return held, holds


def reference(case: Case, notes: Counter[str] | None = None,
              ) -> tuple[list[dict[str, Any]], list[tuple[str, float]], list[Snapshot]]:
    """The records the docs promise, in window order, and what silences kept back: the
    (entity, window end) of each alert muted and each resolution not sent, and a
    :func:`_snapshot` at the end of each batch. ``notes`` counts the rules that decided
    something (:func:`test_the_cases_reach_every_rule`)."""
    notes = Counter() if notes is None else notes
    state: dict[str, _Entity] = {}
    out: list[dict[str, Any]] = []
    muted: list[tuple[str, float]] = []
    snapshots: list[Snapshot] = []
    cuts = set(case.cuts)
    for k, step in enumerate(case.steps):
        if k in cuts:
            snapshots.append(_snapshot(state))
        if not isinstance(step, Window):
            names = [step.entity] if isinstance(step, Forget) else [
                e for e in state if e not in step.keep]
            for name in names:
                gone = state.pop(name, None)
                notes["forget_open_incident"] += gone is not None and gone.incident is not None
                notes["forget_in_cooldown"] += gone is not None and gone.last_alert is not None
                notes["retain_dropped"] += gone is not None and isinstance(step, Retain)
            continue
        ent = state.setdefault(step.entity, _Entity())
        ent.history.append(step)
        if ent.hold is not None and (step.end >= ent.hold[2] if ent.last_alert is None else
                                     _apart(step.end, ent.last_alert, case.cooldown) >= 0):
            ent.hold = None  # the cooldown is over
        hist = ent.history
        trailing = 0  # windows in a row at the end of the history with this window's flag
        while trailing < len(hist) and hist[-1 - trailing].anomalous == step.anomalous:
            trailing += 1
        if not step.anomalous:
            inc = ent.incident
            if case.resolve and inc is not None and trailing == case.resolve:
                since = hist[inc.since_at].end
                notes["resolved"] += 1
                notes["resolved_by_other_model"] += inc.versions != {step.version}
                if inc.sent:
                    out.append({
                        "status": "resolved",
                        "resolution_id": _id("resolved", step.entity, _us(step.end),
                                             step.version, repeat=step.repeat),
                        "alert_id": inc.last_sent_id, "entity": step.entity,
                        "anomalous_since_ts": since, "resolved_at_ts": step.end,
                        "duration_seconds": step.end - since, "alerts": inc.sent,
                        "anomalous_windows": sum(w.anomalous for w in hist[inc.since_at:]),
                        "normal_windows": case.resolve, "model_version": step.version})
                else:
                    notes["resolution_unsent"] += 1
                    muted.append((step.entity, step.end))
                ent.incident = None
                ent.last_alert = None  # a resolution ends the cooldown
                ent.resolved_at = step.end
            continue
        if trailing < case.consecutive:
            continue
        if ent.last_alert is not None and _apart(step.end, ent.last_alert, case.cooldown) < 0:
            notes["cooling"] += 1
            continue
        notes["cooldown_just_over"] += (ent.last_alert is not None and case.cooldown > 0
                                        and _apart(step.end, ent.last_alert, case.cooldown) == 0)
        notes["after_resolution_in_cooldown"] += (
            ent.resolved_at is not None and step.end - ent.resolved_at < case.cooldown)
        notes["again_in_run"] += trailing > case.consecutive
        notes["repeat"] += bool(step.repeat)
        ent.last_alert = step.end
        run_start = len(hist) - trailing
        if not case.resolve and case.cooldown > 0 and trailing == case.consecutive:
            ent.hold = ("p0", hist[run_start].offset, step.end + case.cooldown)
            notes["hold"] += 1
        if case.resolve and ent.incident is None:
            ent.incident = _Incident(since_at=run_start)
        since_at = ent.incident.since_at if ent.incident is not None else run_start
        notes["hysteresis"] += since_at < run_start
        if ent.incident is not None:
            ent.incident.versions.add(step.version)
        if _silenced(case.silences, step.entity, step.end):
            notes["silenced"] += 1
            muted.append((step.entity, step.end))
            continue
        notes["fired"] += 1
        aid = _id(step.entity, _us(step.end), step.version, repeat=step.repeat)
        if ent.incident is not None:
            ent.incident.sent += 1
            ent.incident.last_sent_id = aid
        out.append({"status": "firing", "alert_id": aid, "entity": step.entity,
                    "window_end_ts": step.end, "consecutive_windows": trailing,
                    "anomalous_since_ts": hist[since_at].end, "model_version": step.version})
    snapshots.append(_snapshot(state))
    return out, muted, snapshots


# -- the product, fed as serve's publisher feeds it ----------------------------------------


def product(case: Case,
            ) -> tuple[list[dict[str, Any]], list[tuple[str, float]], list[Snapshot]]:
    d = Debouncer(case.consecutive, case.cooldown, case.resolve)
    silences = Silences(case.silences) if case.silences else None
    out: list[dict[str, Any]] = []
    muted: list[tuple[str, float]] = []
    snapshots: list[Snapshot] = []
    names = sorted({s.entity for s in case.steps if isinstance(s, Window)})
    bounds = [0, *case.cuts, len(case.steps)]
    for lo, hi in itertools.pairwise(bounds):
        wins: list[Window] = []
        forgets: list[tuple[int, str]] = []
        for step in case.steps[lo:hi]:
            if isinstance(step, Retain):
                assert not wins and not forgets, "a retain comes between batches"
                d.retain(step.keep.__contains__)
            elif isinstance(step, Forget):
                forgets.append((len(wins), step.entity))
            else:
                wins.append(step)
        versions = {w.version for w in wins}
        assert len(versions) <= 1, "a batch is scored by one model"
        version = versions.pop() if versions else "v1"
        entities = [w.entity for w in wins]
        ends = [w.end for w in wins]
        repeats = [w.repeat for w in wins]
        dec = debounce(d, entities, ends, [w.anomalous for w in wins], version, silences,
                       repeat=repeats.__getitem__, forgets=forgets,
                       replay_from=[("p0", w.offset) for w in wins])
        kept_back = [i for i, _ in dec.silenced] + [i for i, _ in dec.unsent]
        muted += [(entities[i], ends[i]) for i in sorted(kept_back)]
        n = len(wins)
        res = SimpleNamespace(score=np.ones(n), threshold=0.5, severity=np.full(n, 50.0),
                              components={"reconstruction": np.ones(n)},
                              top_features=[["x"]] * n)
        records = alert_records(fired=dec.fired, resolved=dec.resolved, entities=entities,
                                starts=[e - 1.0 for e in ends], ends=ends, res=res,
                                feature_values=[None] * len(dec.fired),
                                model_version=version, model_kind="ganomaly",
                                normal_windows=d.resolve, repeat=repeats.__getitem__)
        for rec in records:
            keys = FIRING if rec["status"] == "firing" else RESOLVED
            out.append({k: rec[k] for k in keys})
        held = {e: n for e in names if (n := d.held_windows(e))}
        snapshots.append((held, dict(d.cooling)))
    return out, muted, snapshots


# -- the cases ------------------------------------------------------------------------------


def make_case(seed: int) -> Case:
    rng = random.Random(seed)
    names = ["pump-1", "pump-2", "web-a", "web-b"][:rng.randint(1, 4)]
    step = rng.choice([1.0, 0.1, 0.7, 60.0])  # window ends in float arithmetic too
    consecutive = rng.randint(1, 4)
    cooldown = rng.choice([0.0, 0.0, step, 2 * step, 2.5 * step, 4 * step, 6 * step])
    resolve = rng.randint(0, 3)
    p_stay = rng.uniform(0.5, 0.95)  # how sticky each entity's flags are
    p_anomalous = rng.uniform(0.2, 0.8)
    clock = {e: 1767225600.0 + rng.randint(0, 5) * step for e in names}
    flag = {e: rng.random() < p_anomalous for e in names}
    ndup = {e: 1 for e in names}
    steps: list[Window | Forget | Retain] = []
    cuts: list[int] = []
    version = "v1"
    for _ in range(rng.randint(10, 150)):
        if steps and rng.random() < 0.12:
            cuts.append(len(steps))
            if rng.random() < 0.2:  # a model reload between batches
                version = "v2" if version == "v1" else "v1"
            if rng.random() < 0.15:
                steps.append(Retain(frozenset(e for e in names if rng.random() < 0.7)))
        entity = rng.choice(names)
        if rng.random() < 0.04:
            steps.append(Forget(entity))
            continue
        r = rng.random()
        if r < 0.1 and any(isinstance(s, Window) and s.entity == entity
                                            for s in steps):
            ndup[entity] += 1  # the previous window's end time again: a repeat
            repeat = f"{ndup[entity]}/{rng.getrandbits(64):016x}"
        else:
            clock[entity] += step if r > 0.15 else rng.choice([2, 3, 7, 20]) * step
            ndup[entity] = 1
            repeat = ""
        if rng.random() > p_stay:
            flag[entity] = rng.random() < p_anomalous
        steps.append(Window(entity, clock[entity], flag[entity], repeat, version, len(steps)))
    silences: list[Silence] = []
    if rng.random() < 0.5:
        first, last = 1767225600.0, max(clock.values()) + step
        for _ in range(rng.randint(1, 3)):
            pattern = rng.choice([*names, "pump-*", "web-?", "*"])
            start = rng.uniform(first, last)
            end = start + rng.uniform(0.5 * step, (last - first) / 2 + step)
            silences.append(Silence(pattern, None if rng.random() < 0.2 else start, end,
                                    "maintenance"))
    return Case(consecutive, cooldown, resolve, silences, steps, sorted(set(cuts)))


def _explain(case: Case, what: str, want: list[Any], got: list[Any]) -> str:
    lines = [f"consecutive={case.consecutive} cooldown={case.cooldown} resolve={case.resolve}",
             f"silences={case.silences} cuts={case.cuts}"]
    for i, s in enumerate(case.steps):
        lines.append(f"  {i:3d} {s}")
    first, shown = first_difference(want, got)
    lines.append(f"{what}: first difference at {first}:")
    return "\n".join(lines + shown)


def check_seed(seed):
    case = make_case(seed)
    want, want_muted, want_held = reference(case)
    got, got_muted, got_held = product(case)
    assert got == want, _explain(case, "records", want, got)
    assert got_muted == want_muted, _explain(case, "kept back by silences", want_muted,
                                             got_muted)
    assert got_held == want_held, _explain(case, "replay state at batch ends", want_held,
                                           got_held)


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, SEEDS), ids=block_id)
def test_debounce_keeps_the_documented_contract(seeds):
    each_seed(seeds, check_seed)


def test_the_cases_reach_every_rule():
    """The generator makes what the contract speaks of, each many times in 300 seeds: an
    alert again within a run after the cooldown and one exactly at its end, alerts the
    cooldown holds back, hysteresis, resolutions (under a reloaded model too) and a new
    incident inside the old cooldown, silenced alerts and unsent resolutions, forgets of an
    open incident and of a cooldown, alerts of repeated window ends. A test of nothing would
    pass too."""
    notes: Counter[str] = Counter()
    for seed in range(300):
        reference(make_case(seed), notes)
    rules = ("fired", "cooling", "cooldown_just_over", "again_in_run", "hysteresis",
             "resolved", "resolved_by_other_model", "after_resolution_in_cooldown",
             "silenced", "resolution_unsent", "forget_open_incident", "forget_in_cooldown",
             "repeat", "hold", "retain_dropped")
    assert all(notes[rule] >= 5 for rule in rules), {r: notes[r] for r in rules}
