"""The scorer's log side (LogFeed), without Kafka or a network."""

import json
from types import SimpleNamespace

import pytest

from anomaly_gan.config import config_from_dict
from anomaly_gan.logs.events import LogEvent
from anomaly_gan.logs.live import LogFeed
from anomaly_gan.logs.model import fit_log_model
from anomaly_gan.logs.offline import count_rows
from anomaly_gan.stream.events import InvalidEvent

LINES = ["GET /a/1 200", "GET /b/2 200", "cache flushed", "disk full on /dev/sda1"]


@pytest.fixture
def feed():
    cfg = config_from_dict({"logs": {"bucket_seconds": 10.0, "top_k": 2},
                            "serve": {"windows": {"max_entities": 2}}})
    model, _ = fit_log_model(cfg.logs, LINES)
    det = SimpleNamespace(config=cfg, extras={"logs": model.to_dict()}, window=2,
                          feature_names=model.feature_names, version="v1")
    return LogFeed(det, cfg.serve)


def line(entity, ts, message="GET /a/9 200"):
    return LogEvent(entity, ts, "INFO", message)


def test_each_partition_closes_only_its_own_buckets(feed):
    assert feed.add(line("a", 1.0), "p0", 10) == []
    rows = feed.add(line("b", 55.0), "p1", 3)  # p1 is far ahead: a's bucket stays open
    assert rows == [] and feed.late == 0
    assert feed.add(line("a", 5.0), "p0", 11) == []  # not late on its own partition
    rows = feed.add(line("a", 21.0), "p0", 12)
    assert [(r.entity, r.lines, r.first_offset) for r in rows] == [("a", 2, ("p0", 10)),
                                                                  ("a", 0, ("p0", 10))]
    # a zero row goes with the first line of the entity's last bucket with lines, where a
    # replay rebuilds it (not the line that closed it: a replay from there starts afresh)
    assert feed.origin(rows[1]) == ("p0", 10)


def test_pins_hold_back_commits_to_the_first_line_of_open_buckets(feed):
    feed.add(line("a", 1.0), "p0", 10)
    feed.add(line("a", 2.0), "p0", 11)
    feed.add(line("b", 3.0), "p1", 7)
    assert feed.pins() == {"p0": 10, "p1": 7}
    feed.add(line("a", 12.0), "p0", 12)
    assert feed.pins() == {"p0": 12, "p1": 7}


def test_unseen_lines_are_counted_and_explained_by_their_own_template(feed):
    feed.add(line("a", 1.0, "kernel panic on cpu 3"), "p0", 1)
    feed.add(line("a", 2.0, "kernel panic on cpu 5"), "p0", 2)
    feed.add(line("a", 12.0), "p0", 3)
    rows = feed.add(line("a", 22.0), "p0", 4)
    assert feed.unseen == 2
    top = feed.explain(rows[-1], limit=1)[0]
    assert top["template"] == "kernel panic on cpu <NUM>" and top["feature"] == "unseen"
    assert top["observed"] == 2 and top["expected"] == 0
    assert top["examples"] == ["kernel panic on cpu 3", "kernel panic on cpu 5"]



def test_an_alert_names_no_credential_in_its_templates_or_example_lines(feed):
    """Example lines went out in the alert as logged, and a template kept a credential its
    lines shared: a password=, an API key, a bearer token reached the alert topic (and the
    chat or pager behind it). The masking rules group lines and take none of them."""
    secret_lines = ["login failed for bob@example.com password=hunter2 from 10.0.0.7",
                    "login failed for amy@example.com password=hunter2 from 10.0.0.9",
                    'call {"api_key": "sk_live_51HxQ2aBcD3", "route": "/charge"} failed',
                    "upstream refused Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIi.x1"]
    for i, text in enumerate(secret_lines):
        feed.add(line("a", 1.0 + i, text), "p0", i)
    rows = feed.add(line("a", 12.0), "p0", 9)
    sent = json.dumps(feed.explain(rows[-1], limit=10))
    for secret in ("hunter2", "sk_live_51HxQ2aBcD3", "eyJhbGciOiJIUzI1NiJ9"):
        assert secret not in sent
    entries = {t["template"]: t["examples"] for t in feed.explain(rows[-1], limit=10)}
    assert entries["login failed for <*> password=<SECRET> from <IP>"] == [
        "login failed for bob@example.com password=<SECRET> from 10.0.0.7",
        "login failed for amy@example.com password=<SECRET> from 10.0.0.9"]
    assert ['call {"api_key": "<SECRET>", "route": "/charge"} failed'] in entries.values()
    assert ["upstream refused Authorization: Bearer <SECRET>"] in entries.values()

def test_an_alert_shows_a_huge_template_cut_as_its_example_lines_are(feed):
    """A 60 KB line of numbers was a 180,000-character template once each was <NUM>: each such
    template was that long in the alert (and its log line); a few made the alert larger than
    a producer request (1 MiB), and a record that cannot be published is replayed forever."""
    from anomaly_gan.logs.events import EXAMPLE_CHARS

    feed.add(line("a", 1.0, "x " + "1 " * 30_000), "p0", 1)
    feed.add(line("a", 2.0, "token " + "é" * 60_000), "p0", 2)
    rows = feed.add(line("a", 12.0), "p0", 3)
    explained = feed.explain(rows[-1], limit=10)
    long = [t for t in explained if t["feature"] == "unseen"]
    assert len(long) == 2
    for t in long:
        assert len(t["template"]) == EXAMPLE_CHARS + len(" [cut at 2000 characters]")
        assert t["template"].endswith(" [cut at 2000 characters]")
    assert {t["template"][:8] for t in long} == {"x <NUM> ", "token éé"}


def test_a_multi_line_event_counts_under_its_first_line_and_shows_its_trace(feed):
    trace = "java.io.IOException: disk full\n\tat Store.write(Store.java:7)"
    for i in range(2):
        feed.add(LogEvent("a", 1.0 + i, "ERROR", f"disk full on /dev/sda{i}", trace),
                 "p0", i)
    rows = feed.add(line("a", 12.0), "p0", 2)
    assert feed.unseen == 0 and rows[-1].lines == 2  # the known template, not unseen
    top = feed.explain(rows[-1], limit=1)[0]
    assert top["template"] == "disk full on <PATH>"
    assert top["examples"][0] == f"disk full on /dev/sda0\n{trace}"


def test_an_example_line_is_made_only_for_the_lines_a_bucket_keeps(feed, monkeypatch):
    """Every line's example (message and trace, cut at 2,000 characters) was made, though a
    bucket keeps logs.example_lines (3) of a template and none of a late line."""
    made = []
    example = LogEvent.example

    def counted(ev):
        made.append(ev.message)
        return example(ev)

    monkeypatch.setattr(LogEvent, "example", counted)
    trace = "java.io.IOException: disk full\n" + "\tat Store.write(Store.java:7)\n" * 200
    for i in range(50):
        feed.add(LogEvent("a", 1.0 + i / 10, "ERROR", f"disk full on /dev/sda{i}", trace),
                 "p0", i)
    rows = feed.add(line("a", 12.0), "p0", 50)
    feed.add(line("a", 1.0), "p0", 51)  # late: its bucket has closed
    assert made == [f"disk full on /dev/sda{i}" for i in range(3)] + ["GET /a/9 200"]
    assert feed.late == 1
    top = feed.explain(rows[-1], limit=1)[0]
    assert top["observed"] == 50
    kept = [LogEvent("a", 1.0, "ERROR", f"disk full on /dev/sda{i}", trace) for i in range(3)]
    assert top["examples"] == [example(ev) for ev in kept]


def test_entities_are_bounded_and_moves_or_revokes_forget_them(feed):
    feed.add(line("a", 1.0), "p0", 1)
    feed.add(line("b", 1.0), "p0", 2)
    feed.add(line("c", 1.0), "p0", 3)  # max_entities 2: the oldest goes
    assert feed.evicted == 1 and sorted(feed._where) == ["b", "c"]
    feed.add(line("b", 2.0), "p1", 4)  # moved partition: starts again there
    assert feed.pins() == {"p0": 3, "p1": 4}
    feed.drop_partitions({"p1"})
    assert feed.pins() == {"p0": 3}
    feed.clear()
    assert feed.pins() == {} and feed.add(line("a", 1.0), "p0", 9) == []


def test_the_entity_evicted_is_the_least_recently_seen_not_the_first_seen(feed):
    """Until 2026-12-06 a line of a known entity left its place among max_entities where it
    was: the entity seen first was evicted, though it had just logged, and lost its open
    bucket (found reading live.py for the score-vs-serve fuzz of max_entities)."""
    feed.add(line("a", 1.0), "p0", 1)
    feed.add(line("b", 1.0), "p0", 2)
    feed.add(line("a", 2.0), "p0", 3)
    feed.add(line("c", 2.0), "p0", 4)  # b is the least recently seen
    assert feed.evicted == 1 and sorted(feed._where) == ["a", "c"]
    assert feed.pins() == {"p0": 1}  # a's open bucket is still held


def test_an_alert_of_an_entity_evicted_before_it_is_published_still_names_its_templates(feed):
    """Rows are explained when their alerts are published, a batch or two after they were
    pushed. Until 2026-12-06 an eviction in between dropped the entity's rows at once, and its
    alert went out with no templates (``"templates": []``; found by
    tests/logs/test_eviction_fuzz.py, regex time seed 7001). Its rows now go once published,
    as those of an entity the gap rule lets go of; back before that, it explains both."""
    feed.add(line("a", 1.0, "disk full on /dev/sda1"), "p0", 1)
    last = feed.add(line("a", 12.0), "p0", 2)[-1]
    feed.add(line("b", 12.5), "p0", 3)
    feed.add(line("c", 13.0), "p0", 4)  # max_entities 2: a is evicted
    assert feed.evicted == 1 and "a" not in feed._where
    feed.add(line("a", 14.0), "p0", 5)  # and back, afresh (b goes)
    assert [e["template"] for e in feed.explain(last, limit=1)] == ["disk full on <PATH>"]
    feed.published()
    assert feed.explain(last, limit=1) == []  # published: let go


def bucket_scorer(io, registry, **serve):
    """serve's Scorer on ``io`` with a fake logs detector of 10 s buckets (scores to a topic;
    ``serve``: sections of serve's config, e.g. windows={"max_entities": 2})."""
    from anomaly_gan.stream.app import Scorer
    from anomaly_gan.stream.metrics import StreamMetrics
    from tests.support.logs_fuzz import T0, Weighed

    cfg = config_from_dict({"serve": {**serve, "kafka": {"scores_topic": "scores"}}}).serve
    return Scorer(cfg, Weighed({"bucket_seconds": 10.0}, 1), io, StreamMetrics(registry),
                  clock=lambda: T0 + 1e6)


def test_an_entity_the_log_side_evicts_is_counted_and_its_window_starts_afresh():
    """docs/streaming.md, Memory: an entity evicted to respect max_entities is counted in
    anomaly_gan_entities_evicted_total and starts fresh if it returns. Until 2026-12-06 the
    log side's evictions were counted nowhere, and the entity's window went on: its next
    row, in a bucket that lost the lines read before the eviction, joined the window of the
    rows before it."""
    import json

    from prometheus_client import CollectorRegistry

    from tests.support.logs_fuzz import T0, stamp
    from tests.support.stream_fakes import TP, Partitions, Record

    lines = [(T0 + i + 0.1 * k, e) for i in range(30) for k, e in enumerate("ab")]
    lines += [(T0 + 30.0, "a"), (T0 + 30.2, "b"), (T0 + 30.5, "c")]  # c evicts a
    lines += [(T0 + i + 0.1 * k, e) for i in range(31, 80) for k, e in enumerate("ab")]
    tp = TP("events", 0)
    io = Partitions([{tp: [Record(i, b"k", f"{stamp(t)} {e} INFO GET /a/1 200".encode())
                           for i, (t, e) in enumerate(lines)]}], [tp])
    registry = CollectorRegistry()
    sc = bucket_scorer(io, registry, windows={"max_entities": 2})
    while io.batches:
        sc.step()
    sc._score_batch()
    sc._pool.shutdown()
    ends = {}
    for topic, _, value, _ in io.sent:
        if topic == "scores":
            r = json.loads(value)
            ends.setdefault(r["entity"], []).append(
                (r["window_start_ts"] - T0, r["window_end_ts"] - T0))
    evicted = sc.intake.logs.evicted
    assert evicted == 3  # a by c, b by a, c by b: each came back or came while the others logged
    sc.metrics.count_state(sc.state)
    assert registry.get_sample_value("anomaly_gan_entities_evicted_total") == evicted
    for entity in "ab":  # each window after the eviction is of rows from after it
        assert ends[entity][:1] == [(10.0, 30.0)], ends[entity]
        assert all(start > 30.0 for start, _ in ends[entity][1:]), (entity, ends[entity])
        assert len(ends[entity]) > 2  # windows started afresh after it


def test_the_rows_of_an_entity_the_gap_rule_forgot_go_once_they_are_published(feed):
    """10,000 pods that each logged a line and went away held 700,000 rows (312 MB) three
    hours later: an entity past logs.gap_seconds (1800 s) was forgotten by its buckets but
    kept its window + 64 rows, and its place among max_entities, until evicted."""
    feed.add(line("pod-1", 1.0, "disk full on /dev/sda1"), "p0", 1)
    ts = 1.0
    while "pod-1" in feed._buckets["p0"].entities:  # another entity moves the watermark
        ts += 10.0
        feed.add(line("web", ts), "p0", int(ts))
    # not yet published: the rows of its last windows are kept to explain their alerts
    assert feed._recent["pod-1"][-1].end_ts == 1800.0
    feed.published()
    assert "pod-1" not in feed._recent and "pod-1" not in feed._where
    # an entity that came back after its gap, before the publish, keeps its new rows
    feed.add(line("web", ts + 1.0), "p0", 10_000)  # web stays; the gap rule forgets nothing
    feed.published()
    assert "web" in feed._where


def test_an_entity_the_gap_rule_lets_go_of_leaves_the_windows_too():
    """docs/logs.md, Gap rule: an entity silent past logs.gap_seconds is forgotten, and serve
    lets go of its place among max_entities; it starts a new series when it comes back.
    Until 2026-12-06, with time buckets, the windows kept it: its window stayed in memory,
    and a new entity's row later evicted it there, counted in
    anomaly_gan_entities_evicted_total though the log side evicted nothing (found by the
    score-vs-serve fuzz, otlp_json time seed 401 of its evicting search)."""
    from prometheus_client import CollectorRegistry

    from tests.support.logs_fuzz import GAP, T0, stamp
    from tests.support.stream_fakes import TP, Partitions, Record

    # a logs for 30 s and goes silent; b logs every second; c comes once a is past the gap
    lines = [(T0 + i + 0.1 * k, e) for i in range(30) for k, e in enumerate("ab")]
    lines += [(T0 + i, "b") for i in range(30, 150)]
    lines += [(T0 + 150.5, "c")] + [(T0 + i, "b") for i in range(151, 200)]
    tp = TP("events", 0)
    records = [Record(i, b"k", f"{stamp(t)} {e} INFO GET /a/1 200".encode())
               for i, (t, e) in enumerate(lines)]
    io = Partitions([{tp: records[i:i + 40]} for i in range(0, len(records), 40)], [tp])
    assert 30.0 + GAP < 140.0  # a is past the gap before c comes
    registry = CollectorRegistry()
    sc = bucket_scorer(io, registry, windows={"max_entities": 2})
    while io.batches:
        sc.step()
        sc._score_batch()
        if "a" not in sc.intake.logs._where:
            assert "a" not in sc.state, "the windows kept an entity the log side let go of"
    sc._pool.shutdown()
    assert sc.intake.logs.evicted == 0 and sorted(sc.intake.logs._where) == ["b", "c"]
    assert sorted(sc.state._slots) == ["b", "c"]
    sc.metrics.count_state(sc.state)
    assert registry.get_sample_value("anomaly_gan_entities_evicted_total") == 0
    # its series ended: counted once as a window restart for a gap, as per N lines
    assert registry.get_sample_value("anomaly_gan_window_restarts_total",
                                     {"reason": "gap"}) == 1


@pytest.mark.parametrize("published_in_the_silence", [True, False])
@pytest.mark.parametrize("alerts", [{"cooldown_seconds": 10_000.0},
                                    {"cooldown_seconds": 0.0, "resolve_windows": 20}])
def test_an_entity_back_after_the_gap_starts_its_alert_state_afresh(published_in_the_silence,
                                                                     alerts):
    """docs/logs.md, Gap rule: an entity silent past logs.gap_seconds starts a new series,
    with no alert state (cooldown, open incident) from the old one. It lost that state only
    when its rows were published during the silence (LogFeed.published -> on_gone); read in
    one batch with its return, it kept it, so whether its next incident alerted (here: a's
    burst 180 s after the first, within a cooldown of 10,000 s, or within an incident that
    20 normal windows would resolve) depended on batch timing: [50] instead of [50, 230]."""
    from prometheus_client import CollectorRegistry

    from tests.support.logs_fuzz import GAP, T0, stamp
    from tests.support.stream_fakes import TP, Partitions, Record

    lines = [(T0 + i, "b", "GET /a/1 200") for i in range(0, 400, 5)]
    for start in (20, 200):  # a's bursts of unseen lines, silent past the gap in between
        lines += [(T0 + start + j * 0.25, "a", "kernel panic on cpu 3") for j in range(120)]
    assert 200 - (20 + 30) > GAP + 10
    lines.sort()
    tp = TP("events", 0)
    records = [Record(i, b"k", f"{stamp(t)} {e} INFO {m}".encode())
               for i, (t, e, m) in enumerate(lines)]
    chunks = ([records[i:i + 10] for i in range(0, len(records), 10)]
              if published_in_the_silence else [records])
    io = Partitions([{tp: c} for c in chunks], [tp])
    sc = bucket_scorer(io, CollectorRegistry(), alerts={"consecutive": 1, **alerts})
    while io.batches:
        sc.step()
        if published_in_the_silence:
            sc._score_batch()
    sc._score_batch()
    sc._pool.shutdown()
    sent = [json.loads(v) for t, _, v, _ in io.sent if t == "anomaly-gan.alerts"]
    assert [(a["entity"], a["status"], a["window_end_ts"] - T0) for a in sent] == [
        ("a", "firing", 50.0), ("a", "firing", 230.0)]
    assert sent[1]["anomalous_since_ts"] - T0 == 230.0  # a new incident, no resolution sent


def test_an_entity_gaining_rows_faster_than_they_are_published_asks_for_a_flush(feed):
    """The rows behind an unpublished alert must still be there to explain it: an entity
    that gains half the slack in rows before everything is published makes the feed
    crowded, and the scorer then scores and publishes at once."""
    from anomaly_gan.logs.live import _SLACK_ROWS

    rows = []
    ts = 1.0
    while not feed.crowded:
        ts += 10.0  # every line closes the entity's previous bucket: one row each
        rows += feed.add(line("a", ts, "disk full on /dev/sda1"), "p0", len(rows))
    assert len(rows) == _SLACK_ROWS // 2
    # the oldest of those rows is still held: a window ending there can be explained
    assert feed.explain(rows[0], limit=1)[0]["observed"] == 1
    feed.published()
    assert not feed.crowded
    feed.add(line("b", ts + 10.0), "p1", 1)
    feed.forget("a")
    assert not feed.crowded


def make_feed(clock):
    cfg = config_from_dict({"logs": {"format": "regex", "bucket_seconds": 10.0, "top_k": 2,
                                     "regex": r"^(?P<ts>\S+) (?P<entity>\S+) (?P<message>.*)$"},
                            "serve": {"windows": {"max_future_skew_seconds": 300.0}}})
    model, _ = fit_log_model(cfg.logs, LINES)
    det = SimpleNamespace(config=cfg, extras={"logs": model.to_dict()}, window=2,
                          feature_names=model.feature_names, version="v1")
    feed = LogFeed(det, cfg.serve, clock=clock)
    feed.det = det  # for tests that build the scorer's intake from the same model
    return feed


def test_a_line_stamped_years_ahead_goes_to_the_dlq_and_later_lines_still_count():
    """It used to close every bucket of its partition and make every later line late."""
    now = 1767225600.0
    feed = make_feed(lambda: now)
    records = [b"1767225590 web GET /a/1 200", b"2082758400 web GET /a/2 200",
               b"1767225595 web GET /a/3 200", b"1767225601 web GET /a/4 200"]
    parsed = [feed.parse(r) for r in records]
    assert parsed[1].reason == "future_timestamp"
    rows = [row for i, ev in enumerate(parsed) if i != 1 for row in feed.add(ev, "p0", i)]
    assert [(r.entity, r.lines) for r in rows] == [("web", 2)] and feed.late == 0


def test_a_host_whose_clock_runs_ahead_does_not_close_the_other_entities_buckets():
    """One host's clock 200 s fast (within max_future_skew_seconds): its lines used to move
    the partition's watermark 200 s ahead, so every other entity of the partition had its
    buckets closed early, each of its lines dropped as late and its rows empty (alerts of
    silence for every service but the one with the wrong clock)."""
    clock = [1767225600.0]
    feed = make_feed(lambda: clock[0])
    rows = []
    for t in range(120):
        clock[0] = 1767225600.0 + t + 0.5
        for entity, skew in (("web", 0), ("fast", 200)):
            ev = feed.parse(f"{1767225600 + t + skew} {entity} GET /a/{t} 200".encode())
            rows += feed.add(ev, "p0", len(rows))
    assert feed.late == 0
    web = [r.lines for r in rows if r.entity == "web"]
    fast = [r.lines for r in rows if r.entity == "fast"]
    assert web == [10] * 11 and fast == [10] * 11  # each bucket closed by the entity's own lines

@pytest.mark.parametrize("ahead", ["fresh", "svc3"])
def test_a_line_stamped_now_in_a_week_old_backlog_leaves_the_other_lines_counted(ahead):
    """A backlog caught up (``auto_offset_reset: earliest`` on a topic a week old) with one
    line stamped now among it: that line moved its partition's watermark to now, so every
    other entity's buckets closed and 1,000 of the 1,201 lines were dropped as late. Now only
    its own entity's later (earlier-stamped) lines are late, as any entity's lines that go
    back a bucket; the other entities' rows are those ``score`` counts for the file."""
    now = 1767225600.0
    feed = make_feed(lambda: now)
    t0 = now - 7 * 86400
    records = [f"{t0 + i * 0.5:.1f} svc{i % 12} GET /a/{i} 200" for i in range(1200)]
    records.insert(200, f"{now:.1f} {ahead} GET /a/0 200")
    events = [feed.parse(r.encode()) for r in records]
    rows = [row for i, ev in enumerate(events) for row in feed.add(ev, "p0", i)]
    assert feed.late == sum(f" {ahead} " in r for r in records[201:])  # 0, or 83 of svc3's
    served: dict[str, list] = {}
    for r in rows:
        served.setdefault(r.entity, []).append((r.start_ts, r.values.tolist()))
    offline = count_rows(feed.model, events)  # the line stamped now is a stray last line there
    for entity in {f"svc{i}" for i in range(12)} - {ahead}:
        want = [(r.start_ts, r.values.tolist()) for r in offline[entity]]
        assert served[entity] == want[:-1]  # its last bucket still open


def test_a_record_that_starts_with_a_byte_order_mark_counts_as_the_file_line_does():
    """A shipper tailing a file written with a BOM sends it with the file's first line;
    offline the BOM is ignored, live the record went to the DLQ as bad_timestamp (its ts
    began with U+FEFF; with logs.format json, bad_json)."""
    feed = make_feed(lambda: 1767225600.0)
    line = b"1767225590 web GET /a/1 200"
    assert feed.parse(b"\xef\xbb\xbf" + line) == feed.parse(line) \
        == LogEvent("web", 1767225590.0, "", "GET /a/1 200")


def test_a_record_the_parser_fails_on_is_unprocessable_not_an_exception(monkeypatch, caplog):
    feed = make_feed(lambda: 1767225600.0)

    def broken(raw):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(feed.parser, "_parse_regex", broken)  # what a record is read with
    with caplog.at_level("ERROR", "anomaly_gan"):
        got = [feed.parse(b"1767225590 web GET /a/1 200") for _ in range(3)]
    assert all(g.reason == "unprocessable" and "parser bug" in g.detail for g in got)
    # its traceback once, not once per record (a log storm at the input's rate)
    assert [r.exc_info[0] for r in caplog.records] == [RuntimeError]


def test_a_flood_of_distinct_unseen_lines_is_explained_by_one_overflow_entry(feed):
    for i in range(300):  # single tokens that share nothing: each is its own template
        feed.add(line("a", 1.0, f"tok{chr(97 + i % 26)}{i}x" * 2), "p0", i)
    rows = feed.add(line("a", 12.0), "p0", 300)
    assert rows[0].lines == 300 and len(rows[0].detail) == 257
    top = feed.explain(rows[0], limit=1)[0]
    assert top["template"] == "(more new templates than a bucket keeps)"
    assert top["observed"] == 300 - 256 and top["feature"] == "unseen"



def test_the_intake_sends_a_log_record_it_fails_on_to_the_dlq_and_reads_on(monkeypatch):
    """Counting a line (after parsing) had no guard in the scorer's intake: an exception
    there went up to the loop, which replays from its last commit, so the same record failed
    again and nothing after it was ever scored."""
    from kafka import TopicPartition

    from anomaly_gan.stream.intake import Intake
    from anomaly_gan.stream.state import WindowBatch

    now = 1767225600.0
    det = make_feed(lambda: now).det
    dead: list[tuple[int, str]] = []
    intake = Intake(det, det.config.serve,
                    dead_letter=lambda tp, m, ev: dead.append((m.offset, ev.reason)),
                    on_drop=lambda e: None, clock=lambda: now)
    assert intake.logs.clock() == now  # the scorer's clock judges future timestamps
    real_add = intake.logs.add

    def add(ev, partition, offset):
        if offset == 1:
            raise RuntimeError("counting bug")
        return real_add(ev, partition, offset)

    monkeypatch.setattr(intake.logs, "add", add)
    records = [SimpleNamespace(offset=i, value=f"{now - 35 + 10 * i:.0f} web GET /a/{i} 200"
                               .encode()) for i in range(4)]
    records.append(SimpleNamespace(offset=4, value=b"2082758400 web GET /a/9 200"))
    tp = TopicPartition("logs", 0)
    intake.consume(tp, records, WindowBatch(2, len(det.feature_names)),
                   lambda tp, offset, batch, flush: batch)
    assert dead == [(1, "unprocessable"), (4, "future_timestamp")]
    assert intake.logs.pins() == {tp: 3}  # the lines after the failure were counted


def test_the_scorer_reads_records_with_the_bundles_json_fields():
    """serve parses with the bundle's logs section, json_fields included: a pino record
    (msg, time in ms, a numeric level, hostname) is the event offline reading gives."""
    cfg = config_from_dict({"logs": {"bucket_seconds": 10.0, "top_k": 2, "json_fields": {
        "message": "msg", "ts": "time", "entity": "hostname"}}})
    model, _ = fit_log_model(cfg.logs, LINES)
    det = SimpleNamespace(config=cfg, extras={"logs": model.to_dict()}, window=2,
                          feature_names=model.feature_names, version="v1")
    feed = LogFeed(det, cfg.serve, clock=lambda: 1767225600.0)
    record = b'{"level":50,"time":1767225590500,"pid":7,"hostname":"web-1","msg":"disk full"}'
    assert feed.parse(record) == LogEvent("web-1", 1767225590.5, "ERROR", "disk full")
    assert feed.parse(b'{"level":30,"time":1767225590500,"message":"m"}').reason \
        == "missing_field"


@pytest.mark.parametrize(("fmt", "malformed"), [("otlp_json", "missing_field"),
                                                ("otlp_proto", "bad_protobuf")])
def test_the_intake_counts_each_log_record_of_an_otlp_batch_at_its_records_offset(fmt,
                                                                                 malformed):
    """An OTLP batch (the Collector's kafka exporter, encoding: otlp_json or its default
    protobuf) is one record of many log records: each is counted with the record's offset,
    so an open bucket pins it; a batch with bad log records goes to the DLQ once, naming
    the first reason and how many were bad, and its other log records are counted; a record
    that is no batch (JSON of the wrong shape, or on a protobuf topic any JSON) once."""
    import json

    from kafka import TopicPartition

    from anomaly_gan.stream.intake import Intake
    from anomaly_gan.stream.state import WindowBatch
    from tests.support.otlp import to_proto

    now = 1767225600.0
    cfg = config_from_dict({"logs": {"format": fmt, "bucket_seconds": 10.0,
                                     "top_k": 2}})
    model, _ = fit_log_model(cfg.logs, LINES)
    det = SimpleNamespace(config=cfg, extras={"logs": model.to_dict()}, window=2,
                          feature_names=model.feature_names, version="v1")

    def batch(*records):
        doc = json.dumps({"resourceLogs": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "web"}}]},
            "scopeLogs": [{"logRecords": list(records)}]}]})
        return to_proto(doc) if fmt == "otlp_proto" else doc.encode()

    def rec(t, body="GET /a/1 200"):
        return {"timeUnixNano": str(int(t * 10**9)), "severityText": "INFO",
                "body": {"stringValue": body}}

    dead: list[tuple[int, str, str]] = []
    intake = Intake(det, cfg.serve,
                    dead_letter=lambda tp, m, ev: dead.append((m.offset, ev.reason, ev.detail)),
                    on_drop=lambda e: None, clock=lambda: now)
    tp = TopicPartition("logs", 0)
    records = [SimpleNamespace(offset=0, value=batch(rec(now - 40), rec(now - 39), rec(now - 38))),
               SimpleNamespace(offset=1, value=batch(rec(now - 28), {"timeUnixNano": "5"},
                                                     rec(now - 27), rec(now + 10**9))),
               SimpleNamespace(offset=2, value=b'{"resourceLogs": "none"}'),
               SimpleNamespace(offset=3, value=batch(rec(now - 18)))]
    intake.consume(tp, records, WindowBatch(2, len(det.feature_names)),
                   lambda tp, offset, batch, flush: batch)
    assert intake.logs.lines == 3 + 2 + 1
    assert [(o, r) for o, r, _ in dead] == [(1, "missing_field"), (2, malformed)]
    assert dead[0][2].startswith("2 of 4 log records invalid; the first: "
                                 "resourceLogs[0].scopeLogs[0].logRecords[1]: 'body' is missing")
    assert intake.logs.pins() == {tp: 3}  # the open bucket's first log record came in offset 3


def test_serve_reads_a_syslog_pri_as_its_severity_and_counts_its_errors():
    """serve parses with the same parser as train: a <PRI> of severity 0-3 counts in the
    error share, one that is no priority goes to the dead-letter topic."""
    cfg = config_from_dict({"logs": {"format": "regex", "bucket_seconds": 10.0, "top_k": 2,
                                     "regex": r"^<(?P<pri>\d{1,3})>(?P<ts>\S+) (?P<entity>\S+) "
                                              r"(?P<message>.*)$"}})
    model, _ = fit_log_model(cfg.logs, LINES)
    det = SimpleNamespace(config=cfg, extras={"logs": model.to_dict()}, window=2,
                          feature_names=model.feature_names, version="v1")
    feed = LogFeed(det, cfg.serve, clock=lambda: 1767225700.0)
    records = [b"<3>1767225590 web disk full on /dev/sda1", b"<14>1767225591 web GET /a/1 200",
               b"<192>1767225592 web GET /a/2 200", b"<14>1767225601 web GET /a/3 200"]
    parsed = [feed.parse(r) for r in records]
    assert [ev.reason if isinstance(ev, InvalidEvent) else ev.level for ev in parsed] == [
        "ERR", "INFO", "missing_field", "INFO"]
    rows = [row for i, ev in enumerate(parsed) if i != 2 for row in feed.add(ev, "p0", i)]
    share = model.feature_names.index("error_share")
    assert [(r.lines, r.values[share]) for r in rows] == [(2, 0.5)]


def test_an_alert_with_many_long_example_lines_is_kept_under_the_producers_request_size():
    """scoring.top_k 10 and logs.example_lines 10 (both allowed) of lines of 2,000 non-ASCII
    characters (6 bytes each once JSON-escaped) made an alert of 1.3 MB: the producer refuses
    a record over its 1 MiB request size, and the scorer replays an unsent alert without end.
    The examples of the lowest-ranked templates, then those templates, are left out."""
    from prometheus_client import CollectorRegistry

    from anomaly_gan.stream.metrics import StreamMetrics
    from anomaly_gan.stream.publisher import ALERT_MAX_BYTES, Publisher

    cfg = config_from_dict({"logs": {"bucket_seconds": 10.0, "top_k": 2, "example_lines": 10},
                            "scoring": {"top_k": 10}})
    model, _ = fit_log_model(cfg.logs, LINES)
    det = SimpleNamespace(config=cfg, extras={"logs": model.to_dict()}, window=2,
                          feature_names=model.feature_names, version="v1")
    feed = LogFeed(det, cfg.serve)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
             "india", "juliet"]
    for k, word in enumerate(words):
        for i in range(10):
            feed.add(line("a", 1.0 + k / 100, f"{word} " + "é" * 2000 + f" {i}"), "p0", i)
    feed.add(line("a", 12.0), "p0", 100)
    rows = feed.add(line("a", 22.0), "p0", 101)
    sent = []
    io = SimpleNamespace(send=lambda topic, value, **kw: sent.append(value))
    publisher = Publisher(cfg.serve, io, StreamMetrics(CollectorRegistry()), logs=feed)
    rec = {"entity": "a", "alert_id": "x", "window_end": "t", "score": 1.0, "threshold": 0.5,
           "anomalous_since": "t", "top_features": ["unseen"]}
    whole = feed.explain(rows[-1], limit=10)
    assert len(whole) == 10 and sum(len(t["examples"]) for t in whole) == 100
    assert len(json.dumps({**rec, "templates": whole}).encode()) > 1024 * 1024
    publisher._send_alert(det, rec, None, rows[-1])
    (value,) = sent
    assert len(value) <= ALERT_MAX_BYTES
    kept = json.loads(value)["templates"]
    assert kept[0] == whole[0]  # the highest-ranked template keeps its examples
    assert [t["template"] for t in kept] == [t["template"] for t in whole[:len(kept)]]


def _idle_feed(clock, hold=100.0):
    cfg = config_from_dict({"logs": {"format": "regex", "bucket_seconds": 10.0, "top_k": 2,
                                     "gap_seconds": 1800.0,
                                     "regex": r"^(?P<ts>\S+) (?P<entity>\S+) (?P<message>.*)$"},
                            "serve": {"windows": {"idle_close_seconds": hold}}})
    model, _ = fit_log_model(cfg.logs, LINES)
    det = SimpleNamespace(config=cfg, extras={"logs": model.to_dict()}, window=2,
                          feature_names=model.feature_names, version="v1")
    return LogFeed(det, cfg.serve, clock=clock)


@pytest.mark.parametrize("hold", [100.0, None])
def test_a_partition_whose_service_stops_logging_closes_its_buckets_on_the_clock(hold):
    """docs/logs.md, Buckets: a partition read to its end with no line for longer than
    serve.windows.idle_close_seconds closes its buckets as if its newest line's time ran on
    with the clock, that far behind. Until 2026-12-07 buckets closed on lines only: a
    service alone on its partition that crashed closed no bucket, and its silence was never
    scored (null keeps that)."""
    t0, clock = 1767225600.0, [0.0]
    feed = _idle_feed(lambda: clock[0], hold)
    rows = []
    for t in range(30):  # one line a second, each read half a second after its time
        clock[0] = t0 + t + 0.5
        rows += feed.add(feed.parse(f"{t0 + t} web GET /a/{t} 200".encode()), "p0", t)
    assert [r.lines for r in rows] == [10, 10]  # [0, 10) and [10, 20); [20, 30) open
    clock[0] = t0 + 29.5 + 100.0
    assert feed.idle("p0") == []  # quiet for the hold, not longer
    clock[0] = t0 + 29.5 + 150.0
    closed = feed.idle("p0")
    if hold is None:
        assert closed == []
        return
    # the watermark is at t0 + 29 + 150 - 100 = t0 + 79: [20, 30) closes with its lines, the
    # four empty buckets up to 70 as zero rows; [70, 80) is still open
    assert [(r.lines, r.end_ts - t0) for r in closed] == [(10, 30.0), (0, 40.0), (0, 50.0),
                                                         (0, 60.0), (0, 70.0)]
    assert all(r.entity == "web" for r in closed) and feed.late == 0
    # a line that reaches the topic within the hold of its own time is never late
    clock[0] = t0 + 29.5 + 151.0
    feed.add(feed.parse(f"{t0 + 29.5 + 151.0 - 99.0} web GET /a/1 200".encode()), "p0", 30)
    assert feed.late == 0


def test_an_idle_partition_of_old_logs_closes_from_their_own_time_not_the_clock():
    """A replay of last year's logs read now: a pause counts on from the newest line's time
    (the buckets after it close as time passes, a hold behind), not from today's clock,
    which would close every bucket ahead and make the rest of the replay late."""
    t0, clock = 1735689600.0, [1767225600.0]  # lines of 2025-01-01 read on 2026-01-01
    feed = _idle_feed(lambda: clock[0])
    for t in range(5):
        feed.add(feed.parse(f"{t0 + t} web GET /a/{t} 200".encode()), "p0", t)
    clock[0] += 120.0  # the watermark at t0 + 4 + 120 - 100: [0, 10) and [10, 20) close
    assert [(r.lines, r.end_ts - t0) for r in feed.idle("p0")] == [(5, 10.0), (0, 20.0)]
    feed.add(feed.parse(f"{t0 + 25.0} web GET /a/9 200".encode()), "p0", 5)
    assert feed.late == 0


def test_the_scorer_scores_the_silence_of_a_service_alone_on_its_partition():
    """serve's Scorer: a partition read to its end (lag 0) and empty in a poll closes its
    buckets on the clock, and the zero rows reach the entity's windows and the scores
    topic. Until 2026-12-07 the silent service on partition 0 got no window after its last
    line while its neighbour on partition 1 went on logging."""
    import json

    from prometheus_client import CollectorRegistry

    from anomaly_gan.stream.app import Scorer
    from anomaly_gan.stream.metrics import StreamMetrics
    from tests.support.logs_fuzz import T0, Weighed, stamp
    from tests.support.stream_fakes import TP, Partitions, Record

    quiet, busy = TP("events", 0), TP("events", 1)

    class ReadToTheEnd(Partitions):
        def lag(self, next_offsets):
            return {(tp.topic, tp.partition): 0 for tp in self.tps}

    def records(tp_lines, first):
        return [Record(first + i, b"k", f"{stamp(t)} {e} INFO GET /a/1 200".encode())
                for i, (t, e) in enumerate(tp_lines)]

    polls = [{quiet: records([(T0 + i, "a") for i in range(30)], 0),
              busy: records([(T0 + i, "b") for i in range(30)], 0)}]
    for t in range(30, 400, 10):
        polls.append({busy: records([(T0 + t + i, "b") for i in range(10)], t)})
    io = ReadToTheEnd(polls, [quiet, busy])
    clock = [T0 + 30.0]
    cfg = config_from_dict({"serve": {"kafka": {"scores_topic": "scores"},
                                      "windows": {"idle_close_seconds": 100.0}}}).serve
    sc = Scorer(cfg, Weighed({"bucket_seconds": 10.0}, 1), io,
                StreamMetrics(CollectorRegistry()), clock=lambda: clock[0])
    sc._last_housekeeping = -1e9  # the lags come from the first step's housekeeping
    while io.batches:
        sc.step()
        sc._score_batch()
        clock[0] += 10.0
        sc._last_housekeeping = -1e9
    sc._pool.shutdown()
    ends = [json.loads(v)["window_end_ts"] - T0 for t, _, v, _ in io.sent
            if t == "scores" and json.loads(v)["entity"] == "a"]
    # a's buckets [0, 10), [10, 20) and [20, 30), then zero rows while 10 x k < gap (60 s):
    # windows of 3 rows ending at 30 and at 40 ... 80 (the gap rule then lets it go)
    assert ends == [30.0, 40.0, 50.0, 60.0, 70.0, 80.0], ends


def test_a_hot_reload_keeps_the_names_of_the_new_templates_counted_before_it(feed):
    """Rows and open buckets name a line no training template matched by its live template
    id. A reloaded bundle (here the same one again) brought a live miner that numbered its
    own new templates from 1 again: the 'kernel panic' lines counted before the reload and
    the 'fan speed' lines after it were one entry, named 'fan speed low on rack <NUM>'."""
    feed.add(line("a", 1.0, "kernel panic on cpu 3"), "p0", 1)
    feed.add(line("a", 12.0), "p0", 2)
    cfg = config_from_dict({"logs": {"bucket_seconds": 10.0, "top_k": 2}})
    model, _ = fit_log_model(cfg.logs, LINES)
    feed.install(SimpleNamespace(config=cfg, extras={"logs": model.to_dict()}, window=2,
                                 feature_names=model.feature_names, version="v2"))
    feed.add(line("a", 13.0, "fan speed low on rack 7"), "p0", 3)
    feed.add(line("a", 14.0, "fan speed low on rack 9"), "p0", 4)
    rows = feed.add(line("a", 22.0), "p0", 5)
    named = {t["template"]: (t["observed"], t["examples"]) for t in feed.explain(rows[-1], 5)}
    assert named["kernel panic on cpu <NUM>"] == (1, ["kernel panic on cpu 3"])
    assert named["fan speed low on rack <NUM>"] == (
        2, ["fan speed low on rack 7", "fan speed low on rack 9"])


def test_a_hot_reload_to_a_bundle_without_a_template_still_names_it(feed):
    """Two bundles of the same columns (t1, t2) where only the first knows a template
    counted in 'other' ('disk full on <PATH>', id 3): a line of it counted before the
    reload to the second was explained after it with the second bundle's miner, which has
    no id 3: a KeyError inside the alert's explanation, in serve's scoring loop.
    The texts of templates the new bundle lacks are kept for the rows counted with them."""
    feed.add(line("a", 1.0, "disk full on /dev/sdb2"), "p0", 1)
    cfg = config_from_dict({"logs": {"bucket_seconds": 10.0, "top_k": 2}})
    model, _ = fit_log_model(cfg.logs, LINES[:3])
    assert model.feature_names == feed.model.feature_names
    feed.install(SimpleNamespace(config=cfg, extras={"logs": model.to_dict()}, window=2,
                                 feature_names=model.feature_names, version="v2"))
    rows = feed.add(line("a", 12.0), "p0", 2)
    named = {t["template"]: (t["observed"], t["examples"]) for t in feed.explain(rows[-1], 5)}
    assert named["disk full on <PATH>"] == (1, ["disk full on /dev/sdb2"])
