"""The seeded sensor streams of serve's sensor path against ``score --alerts``
(tests/stream/test_serve_fuzz.py, whose docstring says what is generated and what is left
out on purpose), shared with the hop and rebalance fuzzes: ``bundles`` (a module fixture:
import it into the test module), ``sensor_stream`` (a case: serve section, entities' rows
and each partition's records), ``run`` (serve over it through a ``Scorer`` over
``Partitions``), ``offline`` (``score --alerts`` of one entity's rows) and the helpers that
compare their records."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import random
from datetime import UTC, datetime

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from anomaly_gan.cli import main
from anomaly_gan.config import config_from_dict
from anomaly_gan.stream.app import Scorer
from anomaly_gan.stream.metrics import StreamMetrics
from tests.support.logs_fuzz import polls
from tests.support.stream_fakes import TP, Clock, Partitions, Record
from tests.support_models import normal_series

START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def bundles(tiny_detector, tmp_path_factory):
    """The session's tiny detector, plain and with data.counters: [flow] (test_offline_fuzz)."""
    from anomaly_gan.artifacts import load_bundle, save_bundle

    d = tmp_path_factory.mktemp("bundles")
    cfg = tiny_detector.config
    counting = dataclasses.replace(tiny_detector, config=cfg.replace(
        data=dataclasses.replace(cfg.data, counters=("flow",))))
    paths = {False: save_bundle(tiny_detector, d / "plain"),
             True: save_bundle(counting, d / "counting")}
    return {k: (p, load_bundle(p)) for k, p in paths.items()}


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entity_rows(rng: random.Random, n: int, gap: float, counters: bool,
                silences: bool = True, swaps: bool = True) -> list[list]:
    """One entity's rows as a file holds them: (time, cells), with incidents, repeated times,
    gaps, a bad cell or two and a swap (test_offline_fuzz's pump_files, seeded); without
    ``silences``, no gap longer than ``gap``; without ``swaps``, no row out of order."""
    x = normal_series(n, seed=rng.randrange(4))
    sd = x.std(axis=0)
    for _ in range(rng.randint(0, 2)):
        at, length, col = rng.randrange(n), rng.randint(1, 15), rng.randrange(3)
        x[at:at + length, col] += rng.choice([-40, 40]) * sd[col]
    if counters:
        reset = rng.randint(1, n - 1)
        total = 1e5 + np.cumsum(np.abs(x[:, 2]))
        total[reset:] = np.cumsum(np.abs(x[reset:, 2]))
        x[:, 2] = total
    steps = np.ones(n)
    steps[0] = rng.uniform(0.0, 1.0)
    for _ in range(rng.randint(0, 4)):
        steps[rng.randint(1, n - 1)] = rng.choice(
            [0.0, 0.5, 2.0, gap + 1.0, 3 * gap] if silences else [0.0, 0.5, 2.0])
    times = START + np.cumsum(steps)
    rows = [[float(t), *(f"{v:.6f}" for v in row)] for t, row in zip(times, x, strict=True)]
    for _ in range(rng.randint(0, 2)):
        rows[rng.randrange(n)][rng.randint(1, 3)] = rng.choice(["", "nan", "inf"])
    if rng.random() < 0.3 and swaps:  # one row out of order by a row or two
        at = rng.randrange(n - 2)
        other = at + rng.randint(1, 2)
        rows[at][0], rows[other][0] = rows[other][0], rows[at][0]
    return rows


def sensor_stream(seed: int, *, kill: bool = False, evict: bool = False,
                  silences: bool = True, swaps: bool = True, hop: int | None = None,
                  max_hop: int = 3, reorder: bool = False):
    """(serve section, counters, entity -> rows, partition -> records). Entities' records
    are merged in time order (ties at random) onto their partition. ``silences``: entities
    fall silent for longer than ``gap_seconds`` now and then (their windows restart);
    ``swaps``: they send a row out of order now and then; ``hop``: serve.windows.hop (by
    default 1 with ``kill``, else 1 to ``max_hop`` at random); ``reorder``: with ``evict``,
    a ``reorder_tolerance_seconds`` above 0 (else 0 with ``evict``)."""
    rng = random.Random(seed)
    gap = rng.choice([5.0, 30.0])
    tolerance = (rng.choice([1.0, 2.5]) if reorder else 0.0) if evict else rng.choice(
        [0.0, 0.0, 1.0, 2.5])
    counters = rng.random() < 0.4
    names = [f"pump-{i}" for i in range(rng.randint(2, 5 if evict else 4))]
    rows = {e: entity_rows(rng, rng.randint(24, 90), gap, counters, silences, swaps)
            for e in names}
    serve = {"alerts": {"consecutive": rng.randint(1, 4),
                        "cooldown_seconds": float(rng.choice([0, 5, 60, 600])),
                        "resolve_windows": rng.randint(0, 4)},
             "windows": {"hop": hop if hop is not None else 1 if kill else rng.randint(1, max_hop),
                         "gap_seconds": gap,
                         "reorder_tolerance_seconds": tolerance,
                         "max_entities": rng.randint(1, len(names) - 1) if evict else 10_000},
             "batching": {"max_batch": rng.choice([1, 4, 64]), "max_latency_ms": 0},
             "kafka": {"scores_topic": "scores"}}
    tps = [TP("events", p) for p in range(rng.randint(1, 3))]
    home = {e: rng.choice(tps) for e in names}
    sent = {e: list(r) for e, r in rows.items()}
    if tolerance:  # one more event per entity releases the rows serve still holds, as score
        for e, r in sent.items():  # releases them at the file's end (test_offline_fuzz)
            sent[e] = r + [[max(row[0] for row in r) + tolerance, "20", "1500", "10"]]
    parts: dict = {}
    for tp in tps:
        mine = sorted(((row[0], rng.random(), e, row) for e in names if home[e] == tp
                       for row in sent[e]), key=lambda k: (k[0], k[1]))
        # each entity's rows stay in their file order (a swap is the entity's own)
        order = {e: iter(sent[e]) for e in names}
        recs = []
        for i, (_, _, e, _) in enumerate(mine):
            row = next(order[e])
            recs.append(Record(i, e.encode(), json.dumps({
                "entity": e, "ts": stamp(row[0]),
                "values": [float(v) if v else None for v in row[1:]]}).encode()))
        if recs:
            parts[tp] = recs
    return serve, counters, rows, parts


def scorer(bundle, serve: dict, io) -> tuple[Scorer, CollectorRegistry]:
    """A scorer of ``serve`` over ``io``, with its metrics in a registry of its own (as
    ``serve`` builds them: ``serve.http.entity_labels_top_n`` per-entity series)."""
    reg = CollectorRegistry()
    cfg = config_from_dict({"serve": serve}).serve
    return Scorer(cfg, bundle, io, StreamMetrics(reg, cfg.http.entity_labels_top_n),
                  monotonic=Clock()), reg


def run(bundle, serve: dict, parts: dict, rng: random.Random, kill_after: int | None = None,
        pushed: list | None = None):
    """serve over the partitions (as the logs fuzz's run): commits now and then, at the end
    as at shutdown; with ``kill_after``, killed after that many commits having read on.
    ``pushed`` gets each (entity, offset, partition) the window state is given, in order."""
    io = Partitions(polls(rng, parts), parts)
    sc, reg = scorer(bundle, serve, io)
    if pushed is not None:
        push = sc.state.push

        def spy(entity, ts, values, partition, offset, *args, **kwargs):
            pushed.append((entity, offset, partition))
            return push(entity, ts, values, partition, offset, *args, **kwargs)

        sc.state.push = spy
    while io.batches:
        sc.step()
        if rng.random() < 0.5:
            assert sc._commit(force=True)
            if kill_after is not None and len(io.commits) >= kill_after:
                for _ in range(rng.randint(0, 3)):
                    sc.step()
                sc._score_batch()
                sc._pool.shutdown()
                return sc, io, reg
    sc._score_batch()
    assert sc._commit(force=True)
    sc._sync_counters()
    sc._pool.shutdown()
    return sc, io, reg


def offline(path, serve: dict, entity: str, rows: list[list], tmp_path, capsys
            ) -> list[dict] | None:
    """``score --alerts`` of one entity's rows as its own file; None where score refuses the
    file as out of time order (README: over 5% of the rows late)."""
    data, cfg, out = tmp_path / f"{entity}.csv", tmp_path / "serve.yaml", tmp_path / "alerts.jsonl"
    with data.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "temp", "rpm", "flow"])
        w.writerows([stamp(r[0]), *r[1:]] for r in rows)
    cfg.write_text(json.dumps({"serve": serve}))
    out.unlink(missing_ok=True)
    rc = main(["score", "--model", str(path), "--data", str(data), "--out",
               str(tmp_path / "s.csv"), "--alerts", str(out), "--config", str(cfg)])
    err = capsys.readouterr().err
    if "expected rows in time order" in err:
        return None
    if rc == 2:
        assert "need at least one window" in err, err
        return []
    assert rc == 0, err
    return [json.loads(line) for line in out.read_text().splitlines()]


def close(a, b) -> bool:
    """Records alike but for the model's floats (a window scored in a batch of another size
    moves in the 8th digit, float32; near 0 that is more than 1e-5 of the score: -0.0118477
    and -0.0118476, seed 6041 of the rebalance fuzz), times exact."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(
            a[k] == b[k] if k.endswith("_ts") else close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def brief(records: list[dict]) -> list[tuple]:
    """What a failure shows of records: status, window end, run length, id."""
    return [(r["status"], r.get("window_end_ts", r.get("resolved_at_ts")),
             r.get("consecutive_windows"), r.get("resolution_id", r["alert_id"])[:8])
            for r in records]


def per_entity(records: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records:
        out.setdefault(r["entity"], []).append(r)
    return out


def for_score(serve: dict) -> dict:
    """The serve section as score --config reads it (no Kafka, one entity per file)."""
    return {k: v for k, v in serve.items() if k in ("alerts", "windows")}


def where(parts: dict) -> dict:
    """(partition, offset) -> (entity, index of the row in the entity's rows)."""
    out, seen = {}, {}
    for tp, recs in parts.items():
        for r in recs:
            e = r.key.decode()
            out[tp, r.offset] = (e, seen.get(e, 0))
            seen[e] = seen.get(e, 0) + 1
    return out
