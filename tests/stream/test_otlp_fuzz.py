"""score against serve on OpenTelemetry metrics, fuzzed: for any stream of OTLP metric
requests a Collector sends (several hosts per request, the host on the resource or on each
data point; gauges, cumulative sums that restart with a later ``startTimeUnixNano``, their
value falling or not, delta sums whose start moves every period, non-monotonic sums;
staleness markers, repeated and late data points, metrics missing from some collections,
collections missing, metrics the model does not read), written by the file exporter as
lines (``otlp_json``) or length-prefixed messages (``otlp_proto``) and sent to Kafka cut
into records at other places than the file's lines, ``score --entity`` on the file and
serve's Scorer (fake Kafka) on the records give each host the same rows (values and start
times), the same windows (gaps, ``serve.windows.hop``, ``data.counters``), the same scores
and flags, and ``score --alerts`` the records serve sends to its alert topic. Also on up to
three partitions (a host's batches on one, as the kafka exporter keys them), with slots of
0.5, 0.25 and 0.1 s, and killed after a few commits then restarted from the committed
offsets: the windows and alerts of one run without the kill. With
``serve.windows.max_entities`` up to the hosts (one partition): below them, where serve
evicts a host and starts its window afresh, the file's tables say so too, and the windows,
scores, flags and alert records agree as well (until 2026-12-07 score ran a host's rows on
through an eviction, and only the rows and the published windows' scores were checked)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support.otlp_metrics import (
    CPU,
    FEATURES,
    MEM,
    NS,
    REQUESTS,
    SLOT,
    T0,
    close,
    cut,
    kv,
    metric_of,
    newest_slot,
    otlp_bundles,
    release,
    request,
    score_agrees,
    served,
    write_file,
)
from tests.support_models import normal_series

pytestmark = pytest.mark.slow

HOSTS = ("web-1", "web-2", "web-3")
# OTLP_FUZZ_EXAMPLES=300 for a longer search than the suite's
FUZZ = settings(max_examples=int(os.environ.get("OTLP_FUZZ_EXAMPLES", "6")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def bundles(tiny_detector, tmp_path_factory):
    return otlp_bundles(tiny_detector, tmp_path_factory.mktemp("otlp-bundles"))


@st.composite
def collector_streams(draw, slot: float = SLOT):
    """(data points in the order sent, file's request sizes, Kafka record sizes, poll sizes,
    whether hosts are named on each data point, serve section, data.counters), collected
    every ``slot`` seconds (``serve.assemble_seconds``; the data points' nanoseconds need
    not be multiples of it)."""
    slot_ns = round(slot * NS)
    counters = draw(st.booleans())
    hosts = HOSTS[:draw(st.integers(1, 3))]
    n = draw(st.integers(26, 60))
    kinds = {CPU: draw(st.sampled_from(["gauge", "gauge", "delta"])),
             MEM: draw(st.sampled_from(["gauge", "updown"])),
             REQUESTS: "cumulative" if counters else draw(st.sampled_from(
                 ["cumulative", "gauge", "delta"]))}
    on_point = draw(st.booleans())
    as_int = draw(st.booleans())  # the counter's total as asInt, as SDKs send it
    per_host: dict = {}
    for j, host in enumerate(hosts):
        x = normal_series(n, seed=draw(st.integers(0, 3)) + 10 * j)
        sd = x.std(axis=0)
        for _ in range(draw(st.integers(0, 2))):  # incidents
            at, length, col = (draw(st.integers(0, n - 1)), draw(st.integers(1, 8)),
                               draw(st.integers(0, 2)))
            x[at:at + length, col] += draw(st.sampled_from([-40, 40])) * sd[col]
        start = np.full(n, float(T0 - 3600))  # each collection's series start time (s)
        if counters or kinds[REQUESTS] == "cumulative":
            flow = np.abs(x[:, 2]) if counters else x[:, 2]
            total = 1e5 + np.cumsum(flow) if counters else flow.copy()
            for k, drop in draw(st.lists(st.tuples(st.integers(1, n - 1), st.booleans()),
                                         max_size=3)):
                start[k:] = T0 + k * slot - draw(st.integers(1, 9)) * slot / 10  # restarted
                if counters:  # its total starts again; or has passed the old one already
                    total[k:] = (np.cumsum(flow[k:]) if drop
                                 else total[k:] + draw(st.integers(0, 50)))
            x[:, 2] = np.round(total) if as_int and counters else total
        if draw(st.booleans()):  # its start time is left out (or 0, OTLP's unknown)
            start[:] = draw(st.sampled_from([math.nan, 0.0]))
        mem_start = float(T0 - 7200)
        skipped = set(draw(st.lists(st.integers(1, n - 1), max_size=4)))  # no collection
        if draw(st.booleans()):  # a longer silence: two to four collections in a row
            at = draw(st.integers(2, n - 4))
            skipped |= set(range(at, at + draw(st.integers(2, 4))))
        missing = set(draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 2)),
                                    max_size=3)))
        jitter = draw(st.lists(st.integers(0, slot_ns - 1), min_size=3, max_size=3))
        per_host[host] = (x, start, mem_start, skipped, missing, jitter)

    def point(host, k, f, value, stale=False):
        _, start, mem_start, _, _, jitter = per_host[host]
        name, kind = metric_of(FEATURES[f]), kinds[FEATURES[f]]
        ns = T0 * NS + k * slot_ns + jitter[f]
        p: dict = {"timeUnixNano": str(ns)}
        if kind == "delta":  # the period since the collection before: moves every time
            p["startTimeUnixNano"] = str(ns - slot_ns)
        elif kind == "updown":
            p["startTimeUnixNano"] = str(int(mem_start * NS))
        elif kind == "cumulative" and not math.isnan(start[k]):
            p["startTimeUnixNano"] = str(int(start[k] * NS))
        if stale:
            p["flags"] = 1
        elif f == 2 and as_int and counters:
            p["asInt"] = str(int(value))
        else:
            p["asDouble"] = float(value)
        attrs = [kv("cpu", "cpu0")] if f == 0 else []
        if on_point:
            attrs.append(kv("host.name", host))
        if attrs:
            p["attributes"] = attrs
        return (host, name, kind, p)

    points = []
    for k in range(n):
        for host in hosts:
            x, _, _, skipped, missing, _ = per_host[host]
            if k in skipped:
                continue
            for f in range(3):
                if (k, f) not in missing:
                    points.append(point(host, k, f, x[k, f]))
            if draw(st.integers(0, 9)) == 0:  # a metric the model does not read
                points.append((host, "system.disk.io", "gauge", {
                    "timeUnixNano": str(T0 * NS + k * slot_ns), "asDouble": 1.0}))
    # staleness markers, repeats (another value, maybe another start) and late points,
    # each put in a few data points after where it was due (k, f of a host). At most 12: a
    # point that comes after the host's other hosts have moved gap_seconds on finds its slot
    # gone in serve only if a commit came between (Assembler.expire, docs/streaming.md,
    # "Records with some of the features"), which score cannot know
    for what, k, f, host, later in draw(st.lists(st.tuples(
            st.sampled_from(["stale", "repeat", "late"]), st.integers(0, n - 1),
            st.integers(0, 2), st.sampled_from(hosts), st.integers(0, 12)), max_size=8)):
        x = per_host[host][0]
        value = x[k, f] * (1.0 if what == "late" else 1.01) + (1.0 if what == "repeat" else 0.0)
        extra = point(host, k, f, value, stale=what == "stale")
        due = next((i for i, (h, name, _, p) in enumerate(points)
                    if h == host and int(p["timeUnixNano"]) >= T0 * NS + k * slot_ns),
                   len(points))
        points.insert(min(due + later, len(points)), extra)
    gap = draw(st.sampled_from([2.5 * slot, 3600.0]))
    tolerance = draw(st.sampled_from([0.0, 0.0, 1.5 * slot]))
    serve = {"event_format": draw(st.sampled_from(["otlp_json", "otlp_proto"])),
             "assemble_seconds": float(slot), "unknown_features": "ignore",
             "alerts": {"consecutive": draw(st.integers(1, 3)),
                        "cooldown_seconds": float(draw(st.sampled_from([0, 3 * slot, 600]))),
                        "resolve_windows": draw(st.integers(0, 4))},
             "windows": {"hop": draw(st.integers(1, 3)), "gap_seconds": gap,
                         "reorder_tolerance_seconds": tolerance}}
    if draw(st.integers(0, 2)) == 0:  # serve.windows.max_entities up to the hosts: evictions
        held = serve["windows"]["max_entities"] = draw(st.integers(1, len(hosts)))
        if held < len(hosts) and draw(st.integers(0, 3)):
            # the hosts past those held send a burst of collections only: the others have
            # windows before and after the evictions it makes (each collection of all of
            # them evicts every host: no window)
            at, length = draw(st.integers(0, n - 1)), draw(st.integers(1, 4))
            burst = range(T0 * NS + at * slot_ns, T0 * NS + (at + length) * slot_ns)
            points = [pt for pt in points
                      if pt[0] in hosts[:held] or int(pt[3]["timeUnixNano"]) in burst]
    sizes = st.lists(st.integers(1, 40), min_size=1, max_size=5)
    return (points, draw(sizes), draw(sizes), draw(st.lists(st.integers(1, 8), min_size=1,
                                                             max_size=3)),
            on_point, serve, counters)



@FUZZ
@given(case=collector_streams())
def test_score_on_the_file_is_what_serve_does_with_the_records(bundles, tmp_path, capsys,
                                                               case):
    points, line_sizes, record_sizes, polls, on_point, serve, counters = case
    model = bundles[counters]
    hosts = sorted({h for h, *_ in points})
    data, cfg_file = write_file(tmp_path, points, line_sizes, on_point, serve)
    newest, newest_ns = newest_slot(points, SLOT)
    records = [request(piece, on_point) for piece in cut(points, record_sizes)]
    evictions = ([] if serve["windows"].get("max_entities", len(hosts)) < len(hosts)
                 else None)  # then held rows are released at the end, not by a collection
    records += release(serve, hosts if evictions is None else [], newest_ns)
    rows, scores, alerts, _ = served(model, serve, {0: records},
                                     [{0: polls[i % len(polls)]} for i in range(len(records))],
                                     evictions=evictions)
    rows = [r for r in rows if r[1] <= newest]  # not the release's
    score_agrees(model, serve, data, cfg_file, hosts, rows, scores, alerts, counters,
                 bundles["window"], capsys, tmp_path, evictions or ())
    event(f"format: {serve['event_format']}; counters: {counters}; hosts: {len(hosts)}; "
          f"on point: {on_point}")
    held = serve["windows"].get("max_entities")
    event(f"max_entities: {'-' if held is None else 'below the hosts' if held < len(hosts) else 'the hosts'}"
          + (f"; windows: {'some' if scores else 'none'}" if held is not None and held < len(hosts) else ""))
    event(f"windows: {'some' if scores else 'none'}; alerts: {'some' if alerts else 'none'}; "
          f"resolutions: {'some' if any(a['status'] == 'resolved' for a in alerts) else 'none'}")
    event(f"rows with a start time: {'some' if any(r[3] for r in rows) else 'none'}; "
          f"hosts with no window: {sum(1 for h in hosts if not any(s['entity'] == h for s in scores))}")


def evicting_points(n=90):
    """Gauge data points of hosts x and y every collection and z in collections 24, 25 and
    56 only (each of which, with serve.windows.max_entities 2, evicts x, then y, then z in
    turn); x resends its collection 24 (other values) after z's collection 25, and runs
    anomalous in collections 40 to 44 and 70 to 74, y in 45 to 49."""
    xs = {h: normal_series(n, seed=j) for j, h in enumerate("xyz")}
    for h, at in (("x", 40), ("x", 70), ("y", 45)):
        xs[h][at:at + 5, 1] += 40 * xs[h][:, 1].std()

    def collection(host, k, bump=0.0):
        return [(host, metric_of(f), "gauge", {
            "timeUnixNano": str(T0 * NS + k * SLOT * NS + 1000 * j),
            "asDouble": float(xs[host][k, j]) + bump,
            "attributes": [kv("cpu", "cpu0")] if j == 0 else []})
            for j, f in enumerate(FEATURES)]

    points = []
    for k in range(n):
        for host in ("x", "y", "z") if k in (24, 25, 56) else ("x", "y"):
            points += collection(host, k)
        if k == 25:
            points += collection("x", 24, bump=1.0)
    return points


@pytest.mark.parametrize("tolerance", [0.0, 1.5 * SLOT])
def test_hosts_evicted_by_max_entities_start_afresh_in_score_as_in_serve(bundles, tmp_path,
                                                                         capsys, tolerance):
    """Three hosts interleaved with serve.windows.max_entities 2: serve evicts a host and
    starts its window afresh (no window spans the eviction; a resend after it is a row of
    the new window; the rows held for reordering are dropped; its debounce state goes), and
    score --alerts on the file publishes the same: until 2026-12-07 its table ran on through
    the eviction, so it scored windows serve never did, and its alerts differed."""
    serve = {"event_format": "otlp_json", "assemble_seconds": float(SLOT),
             "unknown_features": "ignore",
             "alerts": {"consecutive": 1, "cooldown_seconds": 0.0, "resolve_windows": 2},
             "windows": {"hop": 1, "gap_seconds": 3600.0, "max_entities": 2,
                         "reorder_tolerance_seconds": tolerance}}
    points = evicting_points()
    data, cfg_file = write_file(tmp_path, points, [3], False, serve)
    evictions: list = []
    rows, scores, alerts, _ = served(bundles[False], serve, {0: [
        request(piece, False) for piece in cut(points, [3])]}, [{0: 4}], evictions=evictions)
    assert {h for h, _ in evictions} == {"x", "y", "z"}
    assert {a["entity"] for a in alerts if a["status"] == "firing"} == {"x", "y"}
    score_agrees(bundles[False], serve, data, cfg_file, ["x", "y", "z"], rows, scores, alerts,
                 False, bundles["window"], capsys, tmp_path, evictions)


@st.composite
def partitioned_streams(draw):
    """A stream of :func:`collector_streams` collected every 10, 0.5, 0.25 or 0.1 s, sent to
    up to three input partitions as the kafka exporter's
    ``partition_metrics_by_resource_attributes`` sends it (docs/streaming.md: "a host's
    batches stay on one partition, in order"): a host on its resource on its partition;
    hosts named on each data point, with one resource for all, on one partition. Read in
    polls of some partitions at a time, committed after some polls; maybe killed after a
    few commits (having read on)."""
    slot = draw(st.sampled_from([10.0, 0.5, 0.25, 0.1]))
    points, line_sizes, record_sizes, _, on_point, serve, counters = draw(
        collector_streams(slot))
    n = draw(st.integers(1, 3))
    hosts = sorted({h for h, *_ in points})
    if serve["windows"].get("max_entities", len(hosts)) < len(hosts):
        # not with partitions: polls interleave the hosts otherwise than the file does
        del serve["windows"]["max_entities"]
    home = {h: 0 if on_point else draw(st.integers(0, n - 1)) for h in hosts}
    parts = {p: [request(piece, on_point) for piece in cut(
        [pt for pt in points if home[pt[0]] == p], record_sizes)] for p in range(n)}
    polls = draw(st.lists(st.dictionaries(st.integers(0, n - 1), st.integers(1, 8),
                                          min_size=1), min_size=1, max_size=60))
    every = draw(st.integers(1, 4))  # commits after about every this many polls
    commits = {k for k in range(60) if draw(st.integers(1, every)) == 1}
    kill_after = draw(st.sampled_from([None, 1, 2, 3, 5]))
    if kill_after is not None:  # with serve.windows.hop > 1 a replay may score other
        serve["windows"]["hop"] = 1  # windows than before (docs/streaming.md, Debounce ...)
    again = draw(st.lists(st.dictionaries(st.integers(0, n - 1), st.integers(1, 8),
                                          min_size=1), min_size=1, max_size=30))
    return (points, line_sizes, on_point, serve, counters, home, parts, polls, commits,
            kill_after, again)


def published(scores, alerts):
    """The windows serve published ({(entity, end): score}) and its alert records (by id and
    status): what a replay may send again, the same."""
    return ({(s["entity"], s["window_end_ts"]): s["score"] for s in scores},
            {(a.get("alert_id"), a.get("resolution_id"), a["status"]): a for a in alerts})


# OTLP_FUZZ_EXAMPLES=300 searches longer here too
PARTITIONED = settings(FUZZ, max_examples=max(FUZZ.max_examples // 2, 1))


@PARTITIONED
@given(case=partitioned_streams())
def test_partitions_sub_second_slots_and_a_kill_agree_with_score(bundles, tmp_path, capsys,
                                                                 case):
    """Partitioned, with slots of 10, 0.5, 0.25 or 0.1 s (data points stamped anywhere in
    them): each host's rows, windows, scores and alert records are score's on the file; and
    killed after a few commits, then restarted from the committed offsets, serve publishes
    the windows the run without the kill does, with the same scores, and every alert it
    raised (docs/streaming.md: at-least-once, a replayed window gets the same score, a
    replayed alert the same id). Not that it raises no others: an incident that spans the
    kill may be re-opened by the replay, one more alert, and its resolution may be lost
    (docs/streaming.md, Debounce across a restart), as the first search here found
    (one host, ``consecutive: 2``, ``resolve_windows: 2``)."""
    (points, line_sizes, on_point, serve, counters, home, parts, polls, commits,
     kill_after, again) = case
    model = bundles[counters]
    hosts = sorted(home)
    slot = serve["assemble_seconds"]
    data, cfg_file = write_file(tmp_path, points, line_sizes, on_point, serve)
    newest, newest_ns = newest_slot(points, slot)
    for p in parts:
        parts[p] += release(serve, [h for h in hosts if home[h] == p], newest_ns)
    rows, scores, alerts, _ = served(model, serve, parts, polls, commits)
    score_agrees(model, serve, data, cfg_file, hosts, [r for r in rows if r[1] <= newest],
                 scores, alerts, counters, bundles["window"], capsys, tmp_path)
    event(f"slot: {slot}; partitions: {len(parts)}; kill: {kill_after is not None}")
    if kill_after is None:
        return
    _, scores1, alerts1, done = served(model, serve, parts, polls, commits, kill_after)
    committed = {tp.partition: o for tp, o in done[-1].items()} if done else {}
    event(f"killed with records unread: {any(committed.get(p, 0) < len(d) for p, d in parts.items())}")
    rest = {p: docs[committed.get(p, 0):] for p, docs in parts.items()}
    _, scores2, alerts2, _ = served(model, serve, rest, again, first=committed)
    want_w, want_a = published(scores, alerts)
    (w1, a1), (w2, a2) = published(scores1, alerts1), published(scores2, alerts2)
    assert w1.keys() | w2.keys() == want_w.keys(), sorted(
        (w1.keys() | w2.keys()) ^ want_w.keys())[:4]
    for key, score in {**w1, **w2}.items():
        assert close(score, want_w[key]), (key, score, want_w[key])
    firing = {key for key in want_a if key[2] == "firing"}
    assert firing <= a1.keys() | a2.keys(), sorted(firing - a1.keys() - a2.keys())[:4]
    event(f"windows scored again after the kill: {'some' if w1.keys() & w2.keys() else 'none'}")
