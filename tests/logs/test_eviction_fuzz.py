"""Randomized differential test of ``serve.windows.max_entities`` for a logs model: with
fewer entity places than entities, each stretch of an entity's lines between its evictions
is scored as ``score`` scores those lines alone (docs/logs.md, Entities held: the least
recently seen entity "is evicted, counted in ``anomaly_gan_entities_evicted_total``, and
starts fresh if it returns: the lines of its open bucket are lost, and its window warms up
again").

The streams are those of test_serve_equals_score_fuzz.py (every format, time buckets and
per N lines, 1-3 partitions read by one scorer, ``max_entities`` from 1 to all but one of
the entities). The least-recently-seen order is simulated from the lines the scorer counts,
in the order it counts them (its newest line makes an entity the most recently seen), with
the entities the gap rule lets go of (``logs.gap_seconds``: not evictions, they leave no
place taken) taken out of it when the scorer lets go of them. Each line is then named
after its entity's stretch (``svc-1~0``, ``svc-1~1``, ...) in a copy of the partition's
file, which ``score`` reads as it reads the file: each stretch is an entity of its own,
with the other entities' lines around it as in the file. What ``serve`` published for an
entity is, stretch by stretch, that stretch's rows, windows, flags, alerts and alert
templates in ``score``, up to its eviction; with time buckets the rest of a stretch is the
bucket it had open then (its rows from that bucket on are lost), as
test_serve_equals_score_fuzz.py compares the tail of an entity never evicted; per N lines
there is none (its partial bucket, lost at the eviction, is left out by ``score`` at the
end of the stretch's lines: docs/logs.md, Offline).

``LOGS_EVICTION_FUZZ_SEEDS`` runs more seeds per format and mode (default 2).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import replace
from typing import Any

import pytest

from anomaly_gan.logs.offline import (
    latest_allowed,
    load_log_model,
    read_for_log_model,
)
from tests.support.logs_eviction import Stretches, check_evictions_counted, compare_by_stretch
from tests.support.logs_fuzz import add_runs, alerts, run, scored_runs, stream, windows

SEEDS = int(os.environ.get("LOGS_EVICTION_FUZZ_SEEDS", "2"))


def scored_by_stretch(det, parts: dict, files: list, lines: dict[Any, list[tuple[Any, str]]]):
    """Per stretch: ``score``'s rows and windows of a copy of each partition's file whose
    lines are named after their stretch (as scored_offline gives them)."""
    model = load_log_model(det)
    rows: dict[str, list] = {}
    out: dict[str, list] = {}
    series = itertools.count(1)
    for tp, path in zip(parts, files, strict=True):
        evs, _ = read_for_log_model(det.config, str(path))
        # a line stamped ahead of the clock: serve refuses it (future_timestamp), a file's
        # reader takes it and score leaves it out of the count (docs/logs.md, Offline)
        ahead = latest_allowed(det.config)
        evs = [ev for ev in evs if ev.ts is None or ev.ts <= ahead]
        names = [n for _, n in lines.get(tp, [])]
        # the scorer counted the file's lines, in its order (else the harness is wrong)
        assert [ev.entity for ev in evs] == [n.rpartition("~")[0] for n in names], path
        renamed = [replace(ev, entity=n) for ev, n in zip(evs, names, strict=True)]
        add_runs(det, scored_runs(det, model, renamed), rows, out, series)
    return rows, out


def compare_stretches(fmt: str, mode: str, seed: int, tmp_path) -> dict[str, int]:
    s, rng = stream(fmt, mode, seed, tmp_path, partitions=1 + seed % 3, evicting=True)
    sim: list[Stretches] = []
    _, io = run(s, rng, instrument=lambda sc: sim.append(Stretches(sc, s.max_entities)))
    st = sim[0]
    where = f"{fmt} {mode} seed {seed} (max_entities {s.max_entities}, tolerance {s.tolerance})"
    check_evictions_counted(st, where)
    still_open = {st.name(e): ob for b in st.feed._buckets.values() for e, ob in b._open.items()}
    live_windows = windows(io)
    sent = alerts(io)
    compare_by_stretch(s, mode, st, scored_by_stretch(s.det, s.parts, s.files, st.lines),
                       still_open, live_windows, sent, where)
    return {"windows": sum(map(len, live_windows.values())),
            "alerts": sum(a["status"] == "firing" for a in sent), "evicted": st.evicted,
            "returned": sum(st.stretch.values())}


@pytest.mark.parametrize("fmt", ["regex", "json", "otlp_json", "otlp_proto"])
@pytest.mark.parametrize("mode", ["time", "lines"])
def test_each_stretch_between_evictions_scores_as_score_of_its_lines_alone(
        fmt, mode, tmp_path):
    seen = {"windows": 0, "alerts": 0, "evicted": 0, "returned": 0}
    start = 7000 + 1000 * ["regex", "json", "otlp_json", "otlp_proto"].index(fmt)
    for seed in range(start, start + SEEDS):
        for k, v in compare_stretches(fmt, mode, seed, tmp_path).items():
            seen[k] += v
    # it compared something: windows, and evicted entities that came back
    assert seen["windows"] > 0 and seen["evicted"] > 0, seen
