"""Records that each carry some of the model's features, assembled into whole events
(serve.assemble_seconds): slots, later-wins, what is dropped and counted, offsets."""

from __future__ import annotations

import json

import pytest

from anomaly_gan.stream.assemble import Assembler, assembler_from_config
from anomaly_gan.stream.events import Event, EventParser, PartialEvent

FEATURES = ("temp", "rpm", "vib")


def part(entity, ts, **values):
    return PartialEvent(entity, float(ts), {FEATURES.index(k): v for k, v in values.items()})


@pytest.fixture
def asm():
    return Assembler(len(FEATURES), 10.0, max_entities=100, gap_seconds=300.0)


def test_a_complete_slot_is_one_event_at_the_slot_time_in_model_order(asm):
    assert asm.add(part("pump-7", 21, vib=0.3), "p0", 4) is None
    assert asm.add(part("pump-7", 23.5, temp=71.2), "p0", 5) is None
    assert asm.add(part("pump-7", 29.9, rpm=1500), "p0", 6) == (
        Event("pump-7", 20.0, [71.2, 1500, 0.3]), 4)
    assert (asm.late, asm.incomplete, asm.pins()) == (0, 0, {})
    # a whole record completes its slot at once; another entity's slots are its own
    assert asm.add(Event("pump-8", 25.0, [1.0, 2.0, 3.0]), "p0", 7) == (
        Event("pump-8", 20.0, [1.0, 2.0, 3.0]), 7)


def test_a_feature_sent_twice_in_an_open_slot_keeps_the_later_value(asm):
    asm.add(part("pump-7", 20, temp=99.0, rpm=1), "p0", 0)
    asm.add(part("pump-7", 21, temp=71.2), "p0", 1)  # the corrected reading
    assert asm.add(part("pump-7", 22, vib=0.3), "p0", 2) == (
        Event("pump-7", 20.0, [71.2, 1, 0.3]), 0)


def test_an_incomplete_older_slot_is_dropped_and_counted_when_a_newer_one_completes(asm):
    asm.add(part("pump-7", 10, temp=1.0), "p0", 0)  # rpm and vib never come
    asm.add(part("pump-7", 20, temp=2.0, rpm=2.0), "p0", 1)
    assert asm.pins() == {"p0": 0}
    assert asm.add(part("pump-7", 20, vib=2.0), "p0", 2) == (
        Event("pump-7", 20.0, [2.0, 2.0, 2.0]), 1)
    assert (asm.incomplete, asm.pins()) == (1, {})
    # a third open slot drops the oldest one too
    for ts, off in ((30, 3), (40, 4), (50, 5)):
        asm.add(part("pump-7", ts, temp=1.0), "p0", off)
    assert (asm.incomplete, asm.pins()) == (2, {"p0": 4})


def test_a_record_for_a_slot_no_newer_than_the_last_emitted_one_is_late(asm):
    asm.add(Event("pump-7", 20.0, [1, 2, 3]), "p0", 0)
    assert asm.add(part("pump-7", 29, temp=5.0), "p0", 1) is None  # slot 20: emitted
    assert asm.add(part("pump-7", 12, temp=5.0), "p0", 2) is None  # slot 10: older
    assert (asm.late, asm.incomplete, asm.pins()) == (2, 0, {})
    assert asm.add(Event("pump-7", 30.0, [1, 2, 3]), "p0", 3) is not None


def test_an_event_carries_the_earliest_offset_and_offsets_never_go_down(asm):
    """Slot 20's first record came before slot 10's: slot 10 is pushed with offset 0, so
    that a commit at slot 10's row still lets a replay rebuild slot 20."""
    asm.add(part("pump-7", 20, temp=2.0), "p0", 0)
    asm.add(part("pump-7", 10, temp=1.0, rpm=1.0), "p0", 1)
    assert asm.pins() == {"p0": 0}
    assert asm.add(part("pump-7", 10, vib=1.0), "p0", 2) == (
        Event("pump-7", 10.0, [1.0, 1.0, 1.0]), 0)
    assert asm.pins() == {"p0": 0}
    assert asm.add(part("pump-7", 20, rpm=2.0, vib=2.0), "p0", 3) == (
        Event("pump-7", 20.0, [2.0, 2.0, 2.0]), 0)


def test_pins_are_per_partition_and_forgetting_follows_the_scorer(asm):
    asm.add(part("a", 10, temp=1.0), "p0", 7)
    asm.add(part("b", 10, temp=1.0), "p1", 3)
    asm.add(part("c", 10, temp=1.0), "p1", 5)
    assert asm.pins() == {"p0": 7, "p1": 3}
    asm.drop_partitions(["p1"])  # revoked: read again elsewhere, nothing counted
    assert (asm.pins(), asm.incomplete, len(asm)) == ({"p0": 7}, 0, 1)
    asm.forget("a")  # evicted from the windows: its slot is lost
    assert (asm.pins(), asm.incomplete, len(asm)) == ({}, 1, 0)
    asm.add(part("a", 10, temp=1.0), "p0", 8)
    asm.clear()  # a rewind: read again
    assert (asm.pins(), asm.incomplete, len(asm)) == ({}, 1, 0)


def test_an_entity_that_moves_partition_starts_again_there(asm):
    asm.add(part("a", 10, temp=1.0), "p0", 7)
    asm.add(part("a", 10, rpm=1.0, vib=1.0), "p1", 2)
    assert (asm.pins(), asm.incomplete) == ({"p1": 2}, 1)


def test_entities_are_bounded_and_a_stale_open_slot_stops_pinning():
    asm = Assembler(2, 10.0, max_entities=2, gap_seconds=60.0)
    asm.add(PartialEvent("a", 0.0, {0: 1.0}), "p0", 0)
    asm.add(PartialEvent("b", 0.0, {0: 1.0}), "p0", 1)
    asm.add(PartialEvent("c", 0.0, {0: 1.0}), "p0", 2)  # "a", least recently seen, goes
    assert (len(asm), asm.incomplete, asm.pins()) == (2, 1, {"p0": 1})
    # "c" keeps reporting; "b" went silent half-way through its slot at 0
    for i in range(1, 10):
        asm.add(Event("c", 10.0 * i, [1.0, 2.0]), "p0", 2 + i)
    assert asm.expire() == 0  # c's open slot at 0 was dropped when slot 10 completed
    assert asm.incomplete == 2 and asm.pins() == {"p0": 1}
    asm.add(Event("d", 90.0, [1.0, 2.0]), "p0", 20)  # evicts b: counted; d and c recent
    assert (asm.incomplete, asm.pins()) == (3, {})
    stale = Assembler(2, 10.0, max_entities=100, gap_seconds=60.0)
    stale.add(PartialEvent("b", 0.0, {0: 1.0}), "p0", 1)
    for i in range(10):
        stale.add(Event(f"e{i}", 100.0, [1.0, 2.0]), "p0", 2 + i)
    assert stale.pins() == {"p0": 1}
    assert stale.expire() == 1  # 100 s behind its partition's recent entities > 60
    assert (stale.pins(), stale.incomplete) == ({}, 1)


def test_an_entity_with_no_slot_left_does_not_hold_its_partitions_slots_open():
    """An entity whose open slots expired before one completed has no slot at all: it says
    nothing of its partition's time. Until 2026-12-07 it counted as a newest slot at
    -infinity, which pulled the 90th percentile down with it, and a slot more than
    ``gap_seconds`` behind its partition's only other entity kept pinning the commit
    (tests/stream/test_assembler_spec_fuzz.py, seed 320)."""
    asm = Assembler(2, 10.0, max_entities=100, gap_seconds=10.0)
    asm.add(PartialEvent("silent", 0.0, {0: 1.0}), "p0", 0)  # its rpm never comes
    for name in ("b", "c"):
        asm.add(Event(name, 100.0, [1.0, 2.0]), "p0", 1)
    assert asm.expire() == 1  # "silent" has no slot now, and never emitted one
    asm.forget("b")
    asm.forget("c")
    asm.add(PartialEvent("d", 300.0, {0: 1.0}), "p0", 3)  # its rpm never comes
    asm.add(PartialEvent("d", 400.0, {0: 1.0}), "p0", 4)
    # d alone has a time on p0: its slot at 300 is 100 s behind its partition's 400
    assert (asm.expire(), asm.pins(), asm.incomplete) == (1, {"p0": 4}, 2)


def test_a_slot_exactly_gap_seconds_behind_is_kept_whatever_floats_make_of_it():
    """"More than ``gap_seconds`` behind" is read with the times and ``gap_seconds`` as
    written: until 2026-12-07 ``1767225600.4 - 0.1`` in floats came out above
    ``1767225600.3``, and a slot exactly 0.1 s behind was dropped
    (tests/stream/test_assembler_spec_fuzz.py, seed 26)."""
    asm = Assembler(2, 0.1, max_entities=100, gap_seconds=0.1)
    asm.add(PartialEvent("a", 1767225600.3, {0: 1.0}), "p0", 0)
    for name in ("b", "c"):
        asm.add(Event(name, 1767225600.4, [1.0, 2.0]), "p0", 1)
    assert (asm.expire(), asm.pins()) == (0, {"p0": 0})
    asm.add(Event("b", 1767225600.5, [1.0, 2.0]), "p0", 2)
    asm.add(Event("c", 1767225600.5, [1.0, 2.0]), "p0", 3)
    assert (asm.expire(), asm.pins()) == (1, {})  # 0.2 s behind


@pytest.fixture
def parser():
    return EventParser(FEATURES, 4096, partial=True)


def enc(values, ts=21):
    return json.dumps({"entity": "pump-7", "ts": ts, "values": values}).encode()


def test_the_parser_in_assemble_mode_gives_partial_events(parser):
    assert parser.parse(enc({"rpm": 1500, "temp": 71.2})) == PartialEvent(
        "pump-7", 21.0, {1: 1500, 0: 71.2})
    assert parser.parse(enc({"rpm": 1, "temp": 2, "vib": 3})) == Event("pump-7", 21.0, [2, 1, 3])
    assert parser.parse(enc([1, 2, 3])) == Event("pump-7", 21.0, [1, 2, 3])


@pytest.mark.parametrize("values, reason, detail", [
    ([1500], "wrong_length", "'values' has 1 items, the model expects 3"),  # positional
    ({}, "missing_feature",
     "'values' holds none of the model's features; expected some of ['temp', 'rpm', 'vib']"),
    ({"rpm": None}, "non_finite", "a value is None, not a finite number"),
    ({"rpm": float("nan")}, "non_finite", "a value is NaN or infinite"),
    ({"rpm": 1, "speed": 2}, "unknown_feature", ("unknown feature(s) ['speed']; expected "
     "['temp', 'rpm', 'vib'] (serve.unknown_features: ignore leaves such names out)")),
])
def test_the_parser_in_assemble_mode_refuses_what_no_slot_can_use(parser, values, reason,
                                                                   detail):
    got = parser.parse(enc(values))
    assert (got.reason, got.detail) == (reason, detail)


def test_names_all_unknown_and_ignored_are_a_record_of_no_feature():
    p = EventParser(FEATURES, 4096, partial=True, unknown_features="ignore")
    assert p.parse(enc({"rpm": 1, "speed": 2})) == PartialEvent("pump-7", 21.0, {1: 1})
    assert p.parse(enc({"speed": 2})).reason == "missing_feature"


def test_off_by_default_and_from_the_config():
    from anomaly_gan.config import config_from_dict

    serve = config_from_dict({}).serve
    assert serve.assemble_seconds == 0.0 and assembler_from_config(3, serve) is None
    assert EventParser(FEATURES, 4096).parse(enc({"rpm": 1})).reason == "missing_feature"
    serve = config_from_dict({"serve": {"assemble_seconds": 10, "windows": {
        "max_entities": 7, "gap_seconds": 30}}}).serve
    asm = assembler_from_config(3, serve)
    assert (asm.seconds, asm.max_entities, asm.gap_seconds) == (10.0, 7, 30.0)


# ---------------------------------------------------------------------- the scorer's intake


class Det:
    feature_names, window, extras = FEATURES, 3, {}


class Msg:
    def __init__(self, value, offset):
        self.value, self.offset = value, offset


def split_records(seed, entities=("a", "b", "c"), slots=12):
    """Each entity's readings at 10 s steps, every reading split into one to three records
    (stamped within its slot), sometimes a reading's first record before the last one of
    the reading before (before its only one: then the later slot's records start first);
    the entities interleaved. Returns (partition, entity, slot, record) in
    read order; a and b are on p0, c on p1."""
    import random

    rng = random.Random(seed)
    per_entity = {}
    for e in entities:
        seq = []
        for k in range(slots):
            start = len(seq)
            names = list(FEATURES)
            rng.shuffle(names)
            cuts = sorted(rng.sample(range(1, len(names)), rng.randint(0, len(names) - 1)))
            groups = [names[i:j] for i, j in zip([0, *cuts], [*cuts, len(names)], strict=True)]
            for group in groups:
                values = {n: float(k * 10 + FEATURES.index(n)) + 0.5 * len(e) for n in group}
                ts = 1_767_225_600 + 10 * k + rng.random() * 9.9
                seq.append((e, k, {"entity": e, "ts": ts, "values": values}))
            if k and len(groups) > 1 and seq[start - 1][1] == k - 1 and rng.random() < 0.4:
                # this reading's first record overtakes the last one of the reading before
                # (not a whole reading's: a newer slot that completes drops the older one;
                # never two readings back: a third open slot would drop the oldest)
                seq[start - 1], seq[start] = seq[start], seq[start - 1]
        per_entity[e] = seq
    out, offsets = [], {"p0": 0, "p1": 0}
    while any(per_entity.values()):
        e = rng.choice([e for e, seq in per_entity.items() if seq])
        entity, k, rec = per_entity[e].pop(0)
        p = "p1" if entity == "c" else "p0"
        out.append((p, entity, k, Msg(json.dumps(rec).encode(), offsets[p])))
        offsets[p] += 1
    return out


def intake_of(serve):
    from anomaly_gan.stream.intake import Intake

    dead = []
    intake = Intake(Det(), serve, dead_letter=lambda tp, m, ev: dead.append(ev),
                    on_drop=lambda e: None, clock=lambda: 2e9)
    return intake, dead


def windows_of(intake, records):
    """Per record read, the windows it completed: (entity, end_ts, window bytes)."""
    from anomaly_gan.stream.state import WindowBatch

    batch = WindowBatch(Det.window, len(FEATURES))
    out = []
    for p, _entity, _k, m in records:
        intake.consume(p, [m], batch, lambda tp, off, b, flush: b)
        out.append([(e, t, w.tobytes()) for e, t, w in
                    zip(batch.entities, batch.end_ts, batch.windows(), strict=True)])
        batch.clear()
    return out


@pytest.mark.parametrize("seed", range(4))
def test_the_intake_never_calls_an_offset_safe_past_an_open_slot(seed):
    """After every record, the safe offset of each partition is at most the offset of the
    earliest record of every slot still waiting for features; and a scorer restarted from
    those offsets at any point emits every window the first one emitted after it, exactly."""
    from anomaly_gan.config import config_from_dict

    serve = config_from_dict({"serve": {"assemble_seconds": 10.0,
                                        "windows": {"gap_seconds": 3600.0}}}).serve
    records = split_records(seed)
    last = {}  # (entity, slot) -> index of its last record
    for i, (_p, e, k, _m) in enumerate(records):
        last[(e, k)] = i
    intake, dead = intake_of(serve)
    next_offsets, first, safe_at = {}, {}, []
    from anomaly_gan.stream.state import WindowBatch

    batch = WindowBatch(Det.window, len(FEATURES))
    for i, (p, e, k, m) in enumerate(records):
        intake.consume(p, [m], batch, lambda tp, off, b, flush: b)
        first.setdefault((e, k), (p, m.offset))
        next_offsets[p] = m.offset + 1
        safe = intake.safe_offsets(dict(next_offsets), rescore=lambda entity: 0)
        safe_at.append(safe)
        for (oe, ok), (op, offset) in first.items():
            if last[(oe, ok)] > i:  # open: its last record is still to come
                assert safe[op] <= offset, (i, oe, ok)
    assert dead == [] and intake.assembler.incomplete == 0 and intake.assembler.late == 0
    assert batch.n == 3 * (12 - Det.window + 1)  # one event per reading

    full = windows_of(intake_of(serve)[0], records)
    for crash in range(0, len(records), 7):
        safe = safe_at[crash]
        replay = [r for r in records if r[3].offset >= safe.get(r[0], 0)]
        again = {w for ws in windows_of(intake_of(serve)[0], replay) for w in ws}
        after = {w for ws in full[crash + 1:] for w in ws}
        assert after <= again, crash


def test_a_logs_model_refuses_assemble_seconds_in_one_line():
    from anomaly_gan.config import config_from_dict
    from anomaly_gan.errors import ConfigError
    from anomaly_gan.stream.intake import Intake

    class LogsDet(Det):
        extras = ("logs",)  # what Intake looks in

    serve = config_from_dict({"serve": {"assemble_seconds": 10.0}}).serve
    with pytest.raises(ConfigError, match=r"^serve.assemble_seconds: expected 0 with a logs "
                                          r"model: .*, got 10.0$"):
        Intake(LogsDet(), serve, dead_letter=lambda *a: None, on_drop=lambda e: None,
               clock=lambda: 2e9)


def test_a_time_on_a_slot_boundary_is_in_that_slot_for_a_decimal_slot():
    """A sensor gateway sends each of a pump's two readings every 0.1 s, stamped on the
    tenths (OTLP nanoseconds): each tenth is one event at its own time. ``floor(ts / S) * S``
    in floats put a fifth of them in the tenth before, where the next reading replaced them."""
    from anomaly_gan.stream.events import parse_timestamp

    asm = Assembler(n_features=2, seconds=0.1, max_entities=10, gap_seconds=60.0)
    ns = [1767225600 * 10**9 + k * 10**8 for k in range(50)]
    out = []
    for k, t in enumerate(ns):
        ts = parse_timestamp(t, per_second=10**9)
        for i in range(2):
            done = asm.add(PartialEvent("pump-7", ts, {i: float(k)}), "p0", 2 * k + i)
            if done is not None:
                out.append(done[0])
    assert [(e.ts, e.values) for e in out] == [
        (parse_timestamp(t, per_second=10**9), [float(k), float(k)]) for k, t in enumerate(ns)]
    assert asm.late == asm.incomplete == 0


def _records(plan):
    """(entity, values, ts) in order -> records on one partition, offset = place."""
    return [("p0", e, 0, Msg(json.dumps({"entity": e, "ts": ts, "values": v}).encode(), i))
            for i, (e, v, ts) in enumerate(plan)]


def _crashes(serve, records, full):
    """A crash after each record: (its place, the offsets committed then, the windows a
    replay from them scores, the windows the run without a crash scored after it)."""
    intake, _ = intake_of(serve)
    for crash, record in enumerate(records):
        windows_of(intake, [record])
        safe = intake.safe_offsets({"p0": crash + 1}, rescore=lambda entity: 0)
        replay = [r for r in records if r[3].offset >= safe["p0"]]
        again = {w for ws in windows_of(intake_of(serve)[0], replay) for w in ws}
        yield crash, safe, again, {w for ws in full[crash + 1:] for w in ws}


def _two_entities_room():
    """An assembler with room for 2 entities, t0, and a whole reading k of every feature."""
    from anomaly_gan.config import config_from_dict

    serve = config_from_dict({"serve": {"assemble_seconds": 10.0, "windows": {
        "gap_seconds": 3600.0, "max_entities": 2}}}).serve

    def whole(k):
        return {f: float(10 * k + i) for i, f in enumerate(FEATURES)}

    return serve, 1_767_225_600.0, whole


@pytest.mark.parametrize("tolerance", [0.0, 2.5])
def test_an_entity_whose_newest_reading_waits_in_an_open_slot_is_not_idle(tolerance):
    """The windows' commit rule lets an idle entity go (more than gap_seconds behind its
    partition's recent ones: its window restarts anyway). "slow" sent a reading at t0 and
    half of the next one (t0 + 10, an open slot) while four others ran on to t0 + 40:
    its newest data is not behind by more than the gap (30 s), and its next event (t0 + 10)
    continues its window. The windows saw only t0 and let the commit pass it (to the open
    slot's first record), so a replay from there began its window at t0 + 10 and never
    scored the window ending at t0 + 20 (as WindowState read held rows before 2026-12-06)."""
    from anomaly_gan.config import config_from_dict

    serve = config_from_dict({"serve": {"assemble_seconds": 10.0, "windows": {
        "gap_seconds": 30.0, "reorder_tolerance_seconds": tolerance}}}).serve
    t0 = 1_767_225_600.0
    whole = dict(zip(FEATURES, (1.0, 2.0, 3.0), strict=True))
    others = ("a", "b", "c", "d")
    plan = [("slow", whole, t0), *((e, whole, t0) for e in others),
            ("slow", {"temp": 20.0}, t0 + 10)]
    plan += [(e, whole, t0 + 10 * k) for k in range(1, 5) for e in others]
    plan += [("slow", {"rpm": 1500.0, "vib": 0.1}, t0 + 10),
             *(("slow", whole, t0 + 10 * k) for k in range(2, 6))]
    records = _records(plan)
    intake, dead = intake_of(serve)
    full = windows_of(intake, records)
    assert dead == [] and intake.assembler.incomplete == 0 and intake.assembler.late == 0
    assert ("slow", t0 + 20) in {(e, t) for ws in full for e, t, _ in ws}
    for crash, safe, again, after in _crashes(serve, records, full):
        assert after <= again, (crash, safe, sorted((e, t) for e, t, _ in after - again))


def test_a_resend_after_an_assembler_eviction_replays_as_the_run_without_a_crash():
    """The assembler evicts x (``max_entities`` 2: y's and z's records push it out), so x's
    late resend of its t0 reading is assembled again. Until 2026-12-06 the windows kept x
    and dropped it as late behind their t0 + 20, a commit in (offset 2, offset 5] had to be
    kept out of, and z's open slot (offset 4) lowered the commit into that range after
    commit_offsets had moved it out: the replay began x's window at the late t0 and scored
    a window ending at t0 + 40 that the run without a crash never had. Now the eviction
    evicts x from the windows too: the resend starts x's fresh window, nothing is late to
    them, and a replay from any commit scores only windows the run without a crash scored
    (and every one it scored after the crash)."""
    serve, t0, whole = _two_entities_room()
    plan = [("x", whole(k), t0 + 10 * k) for k in range(3)]
    plan += [("y", {"temp": 1.0}, t0 + 20), ("z", {"temp": 1.0}, t0 + 20),
             ("x", whole(9), t0), *(("x", whole(k), t0 + 10 * k) for k in range(3, 6))]
    records = _records(plan)
    intake, _ = intake_of(serve)
    full = windows_of(intake, records)
    assert (intake.state.late, intake.state._cuts, intake.state.evicted) == (0, {}, 2)
    scored = {w for ws in full for w in ws}
    for crash, safe, again, after in _crashes(serve, records, full):
        assert after <= again, (crash, safe, sorted((e, t) for e, t, _ in after - again))
        # every window the replay scores is one the run without a crash scored
        assert again <= scored, (crash, safe, sorted((e, t) for e, t, _ in again - scored))


def test_an_entity_the_assembler_evicts_starts_a_fresh_window():
    """``max_entities`` 2: y's and z's records push x out of the assembler, whose eviction
    order counts every record (the windows' only complete events). Until 2026-12-06 the
    windows kept x, so x's resend of its t0 + 20 reading, which the assembler no longer knew
    it had emitted, was assembled again and reached the windows at the time of their newest
    row: not late there, it went in as a repeated row (windows ending t0 + 20 twice, and
    t0 + 30 over both). Without the eviction the assembler drops it as late, as ``score`` of
    the same records does; with it, x is evicted from the windows too, counted once, and
    starts a fresh window (docs/streaming.md, Memory)."""
    serve, t0, whole = _two_entities_room()
    plan = [("x", whole(k), t0 + 10 * k) for k in range(3)]
    plan += [("y", {"temp": 1.0}, t0 + 20), ("z", {"temp": 1.0}, t0 + 20),
             ("x", whole(2), t0 + 20), *(("x", whole(k), t0 + 10 * k) for k in (3, 4))]
    records = _records(plan)
    from anomaly_gan.stream.state import WindowBatch

    intake, _ = intake_of(serve)
    batch = WindowBatch(Det.window, len(FEATURES))
    for p, _e, _k, m in records:
        intake.consume(p, [m], batch, lambda tp, off, b, flush: b)
    ends = [t - t0 for e, t in zip(batch.entities, batch.end_ts, strict=True) if e == "x"]
    # no window holds two rows of one time, as no row of score_series does
    assert batch.repeats == {}, (ends, batch.repeats)
    assert ends == [20.0, 40.0]  # the fresh window: the resend at t0 + 20, t0 + 30, t0 + 40
    # x (its window) and y (no row yet) evicted, each counted once
    assert intake.state.evicted == 2 and "y" not in intake.state
    # no eviction: the resend is late, as score drops it
    from anomaly_gan.config import config_from_dict

    roomy = config_from_dict({"serve": {"assemble_seconds": 10.0, "windows": {
        "gap_seconds": 3600.0}}}).serve
    intake, _ = intake_of(roomy)
    batch = WindowBatch(Det.window, len(FEATURES))
    for p, _e, _k, m in records:
        intake.consume(p, [m], batch, lambda tp, off, b, flush: b)
    ends = [t - t0 for e, t in zip(batch.entities, batch.end_ts, strict=True) if e == "x"]
    assert (ends, batch.repeats, intake.assembler.late) == ([20.0, 30.0, 40.0], {}, 1)
