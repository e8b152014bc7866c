"""Retraining a logs model: from log files and from a range of a log topic, keeping the
current version's template columns so that ``serve`` can hot-reload the candidate."""

from __future__ import annotations

import copy
import dataclasses
import json
from types import SimpleNamespace

import pytest

from anomaly_gan.config import config_from_dict
from anomaly_gan.errors import DataError
from anomaly_gan.logs.model import ALL
from anomaly_gan.retrain.logs import FORMER_DEFAULTS, check_kind, keep_former_defaults
from tests.logs.conftest import (
    AUTO_CONFIG,
    TINY_LOGS_CONFIG,
    otlp_batch,
    short_capture,
    syslog_line,
)
from tests.retrain.conftest import produce_timestamped
from tests.support.logs_retrain import GATE, logs_retrain_config


def test_a_logs_config_retrains_only_a_logs_store():
    logs_cfg, metrics_cfg = logs_retrain_config(), config_from_dict({}, "defaults")
    logs_info = SimpleNamespace(version="v-logs", extras={"logs": {}})
    metrics_info = SimpleNamespace(version="v-metrics", extras={})
    check_kind(logs_cfg, logs_info, "store")
    check_kind(metrics_cfg, metrics_info, "store")
    check_kind(logs_cfg, None, "store")  # the first version
    with pytest.raises(DataError, match="v-metrics is a metrics model; the config's logs: "):
        check_kind(logs_cfg, metrics_info, "store")
    with pytest.raises(DataError, match="v-logs is a logs model; retrain it with its logs"):
        check_kind(metrics_cfg, logs_info, "store")


def test_a_retrain_with_format_auto_reads_lines_as_the_current_version_does():
    """configs/logs.yaml says logs.format: auto; train wrote the layout it recognised into
    the version's config, and a retrain (from the topic, or files into a store that has a
    current version) parses as that version does instead of guessing again."""
    trained = logs_retrain_config()
    auto = trained.replace(logs=dataclasses.replace(trained.logs, format="auto", regex=None))
    info = SimpleNamespace(version="v1", extras={"logs": {}}, config=trained)
    notes: list[str] = []
    kept = keep_former_defaults(auto, info, notes.append)
    assert (kept.logs.format, kept.logs.regex, kept.logs.timestamp_format) == (
        trained.logs.format, trained.logs.regex, trained.logs.timestamp_format)
    assert notes == [("note: logs.format: auto: this retrain reads lines as the current "
                      f"version v1 does (logs.format: {trained.logs.format}, as train "
                      "recognised them)")]


def test_a_store_trained_under_a_former_default_keeps_it_when_the_config_leaves_it_out():
    """logs.error_levels' default grew on 2026-12-05, and a retrain may not change it: the
    config serve runs with (no error_levels) would have refused every retrain of a store
    trained before. The version's former default is kept, with a note; anything else is
    left to the refusal that names the key."""
    cfg = logs_retrain_config()  # no error_levels: today's default
    former = FORMER_DEFAULTS["error_levels"][0]

    def info(levels):
        logs = dataclasses.replace(cfg.logs, error_levels=levels)
        return SimpleNamespace(version="v1", extras={"logs": {}},
                               config=cfg.replace(logs=logs))

    notes: list[str] = []
    kept = keep_former_defaults(cfg, info(former), notes.append)
    assert kept.logs.error_levels == former and "ERR" not in kept.logs.error_levels
    assert kept.logs.regex == cfg.logs.regex  # nothing else moves
    assert len(notes) == 1 and notes[0].startswith("note: logs.error_levels: the current "
                                                   "version v1 has the former default")
    notes.clear()
    # A list of the user's own, an explicit choice in the config, no store yet, a metrics
    # store: as they were (a differing list is then refused by _current_model).
    assert keep_former_defaults(cfg, info(("ERROR", "OOPS")), notes.append) is cfg
    mine = cfg.replace(logs=dataclasses.replace(cfg.logs, error_levels=("ERROR",)))
    assert keep_former_defaults(mine, info(former), notes.append) is mine
    assert keep_former_defaults(cfg, None, notes.append) is cfg
    metrics = config_from_dict({}, "defaults")
    assert keep_former_defaults(metrics, info(former), notes.append) is metrics
    assert notes == []


def test_a_store_trained_with_the_former_configs_logs_yaml_keeps_its_top_k():
    """configs/logs.yaml said top_k: 12 until 2026-12-06 while the code's default (train with
    no config) is 20; the file now says 20, and a retrain with it of a store trained with the
    former file keeps the version's 12 columns instead of refusing the change."""
    from pathlib import Path

    from anomaly_gan.config import load_config

    shipped = load_config(Path(__file__).parents[2] / "configs" / "logs.yaml", env={})
    assert shipped.logs.top_k == type(shipped.logs)().top_k == 20
    former = shipped.replace(logs=dataclasses.replace(shipped.logs, top_k=12))
    info = SimpleNamespace(version="v1", extras={"logs": {}}, config=former)
    notes: list[str] = []
    kept = keep_former_defaults(shipped, info, notes.append)
    assert kept.logs.top_k == 12
    assert notes[0] == ("note: logs.top_k: the current version v1 has the former default 12; "
                        "this retrain keeps it (a retrain keeps the parsing of the version "
                        "serve runs; train a new version to take today's default)")
    # a top_k of the user's own stays theirs (a differing one is refused by _current_model)
    mine = former.replace(logs=dataclasses.replace(former.logs, top_k=8))
    assert keep_former_defaults(shipped, SimpleNamespace(version="v1", extras={"logs": {}},
                                                         config=mine), notes.append).logs.top_k == 20


def test_a_retrain_keeps_the_buckets_train_chose_when_the_config_leaves_them_out():
    """train chose a bucket every 12 lines for a config that sets neither bucket key (the
    bundle's config holds it); a retrain with that same config keeps the version's buckets
    instead of refusing its 60 s default as a change. A config that sets either key is the
    user's choice: as it was (a differing one is then refused by name)."""
    raw = copy.deepcopy(TINY_LOGS_CONFIG)
    del raw["logs"]["bucket_seconds"]
    cfg = config_from_dict(raw, "auto.yaml")
    chosen = dataclasses.replace(cfg.logs, bucket_seconds=None, bucket_lines=12)
    version = SimpleNamespace(version="v1", extras={"logs": {}}, config=cfg.replace(logs=chosen))
    notes: list[str] = []
    kept = keep_former_defaults(cfg, version, notes.append)
    assert (kept.logs.bucket_seconds, kept.logs.bucket_lines) == (None, 12)
    assert kept.logs == chosen
    assert notes == [("note: logs.bucket_lines: the current version v1 counts a bucket every "
                      "12 lines; this retrain keeps it, as the config sets neither "
                      "logs.bucket_seconds nor logs.bucket_lines")]
    mine = logs_retrain_config(logs={"bucket_seconds": 60.0})
    assert keep_former_defaults(mine, version, notes.append) is mine
    timed = SimpleNamespace(version="v1", extras={"logs": {}}, config=cfg)  # 60 s buckets
    assert keep_former_defaults(cfg, timed, notes.append) is cfg
    assert len(notes) == 1


def test_a_store_trained_with_the_former_configs_logs_yaml_keeps_its_10_s_buckets():
    """configs/logs.yaml set bucket_seconds: 10 until 2026-12-06 and now sets neither key
    (the 60 s default); a retrain of a store it trained, with today's file, counted 60 s
    buckets and was refused ('logs.bucket_seconds 60.0 differs from the current version
    v1's 10.0'). The version's buckets are kept, with a note."""
    from pathlib import Path

    from anomaly_gan.config import load_config

    today = load_config(Path(__file__).parents[2] / "configs" / "logs.yaml", env={})
    former = today.replace(logs=dataclasses.replace(today.logs, bucket_seconds=10.0))
    version = SimpleNamespace(version="v1", extras={"logs": {}}, config=former)
    notes: list[str] = []
    kept = keep_former_defaults(today, version, notes.append)
    assert (kept.logs.bucket_seconds, kept.logs.bucket_lines) == (10.0, None)
    assert notes[-1] == ("note: logs.bucket_seconds: the current version v1 counts 10 s "
                         "buckets; this retrain keeps it, as the config sets neither "
                         "logs.bucket_seconds nor logs.bucket_lines")


@pytest.mark.slow
def test_a_first_retrain_chooses_the_buckets_as_train_does(tmp_path, capsys):
    """A store's first version from a 90-second log, with a config that sets neither bucket
    key: retrain counted 60 s buckets (two per entity) and refused the file as too short,
    where train counts a bucket every 3 lines. It now chooses as train does, says so, and
    the version's config holds the choice, so serve counts the same."""
    import yaml

    from anomaly_gan.cli import main
    from anomaly_gan.store import ModelStore

    raw = copy.deepcopy(AUTO_CONFIG)
    raw["retrain"] = GATE
    raw["training"].update(min_steps=400)  # the gate refuses an unhealthy candidate
    cfg = tmp_path / "auto.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    p = tmp_path / "app.log"
    short_capture(p, lines=601)  # 200 buckets of 3 lines per entity, and 1 line left
    store = tmp_path / "store"
    assert main(["retrain", "--store", str(store), "--data", str(p), "--config", str(cfg)]) == 0
    err = capsys.readouterr().err
    assert "[read] note: logs.bucket_lines: 3, chosen by train" in err
    # the partial last buckets are no late lines (the report counted them so until
    # 2026-12-07, those of the buckets train chose too)
    assert "0 late, 2 in partial buckets left out" in err
    version = ModelStore.open(store).current()
    saved = yaml.safe_load((store / version / "config.yaml").read_text())["logs"]
    assert (saved["bucket_seconds"], saved["bucket_lines"]) == (None, 3)
    source = json.loads((store / version / "metadata.json").read_text())["lineage"]["source"]
    assert (source["late"], source["partial_bucket_lines"]) == (0, 2)


def test_a_first_retrain_too_short_even_per_line_names_what_was_tried(tmp_path, capsys):
    """A 10-line capture with neither bucket key: train's refusal names the 60 s buckets and
    the bucket per line it tried; retrain's named only the 2 rows of the 60 s buckets, as if
    nothing else had been tried. Now it names both, in one line, before TensorFlow loads."""
    import yaml

    from anomaly_gan.cli import main

    cfg = tmp_path / "auto.yaml"
    cfg.write_text(yaml.safe_dump(AUTO_CONFIG))
    p = tmp_path / "app.log"
    short_capture(p, lines=10, entities=("api",))
    assert main(["retrain", "--store", str(tmp_path / "store"), "--data", str(p), "--config",
                 str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (f"anomaly-gan: error: {p}: 2 rows in 1 segment(s), the longest 2 rows in "
                   f"60 s buckets (the default), and 10 per 1 line (logs.bucket_lines, tried "
                   f"as the config sets neither key); expected a segment of at least 14 rows, "
                   f"or two of at least 12 (windows of data.window 6 to train on, and two held "
                   f"out to judge the model and set its threshold)")


def test_per_n_lines_a_line_stamped_ahead_of_the_clock_is_left_out_of_a_files_rows(tmp_path):
    """Per N lines, a file's line stamped a day ahead of the wall clock was counted
    (``serve`` and a retrain from the topic drop it as ``future_timestamp``): its bucket,
    and every later bucket of its entity (a bucket's time is its newest line's), were
    stamped a day ahead, and the entity's silences past logs.gap_seconds no longer started
    a new run. Now it is left out, as in time buckets (a ``late`` line, with the note)."""
    import time

    from anomaly_gan.logs.model import fit_log_model
    from anomaly_gan.retrain.logs import read_log_files_rows
    from tests.logs.conftest import iso_z

    raw = copy.deepcopy(TINY_LOGS_CONFIG)
    raw["logs"].update(bucket_seconds=None, bucket_lines=2, gap_seconds=60.0)
    cfg = config_from_dict(raw, "per 2 lines")
    model, _ = fit_log_model(cfg.logs, ["cache hit", "user login ok"] * 3)
    info = SimpleNamespace(version="v1", config=cfg, extras={"logs": model.to_dict()})
    t0 = 1_700_000_000
    times = [t0, t0 + 1, time.time() + 86_400, t0 + 2, t0 + 200, t0 + 201, t0 + 202]
    p = tmp_path / "app.log"
    p.write_text("".join(f"{iso_z(t)} api INFO cache hit\n" for t in times))
    notes: list[str] = []
    rows, _, _ = read_log_files_rows(cfg, [str(p)], info, notes.append)
    # t0 + 2's partial bucket is left out at the silence (as in serve), and t0 + 202's at
    # the end: they are not late (until 2026-12-07 the report counted them so)
    assert [s.ts.tolist() for s in rows.segments] == [[t0 + 1.0], [t0 + 201.0]]
    assert (rows.late, rows.partial) == (1, 2)  # the line ahead; t0 + 2 and t0 + 202
    assert any("1 line of " in n and "ahead of the wall clock" in n for n in notes), notes


def _shifted(service_logs, hours: float, extra_every: int = 0) -> list[str]:
    """The training part of the synthetic service log, ``hours`` later; every
    ``extra_every``-th line followed by a line of a template born since."""
    split = service_logs.start_ts + service_logs.train_seconds
    out = []
    for i, r in enumerate(r for r in service_logs.lines if r["ts"] < split):
        rec = {**r, "ts": r["ts"] + 3600 * hours}
        out.append(syslog_line(rec))
        if extra_every and i % extra_every == 0:
            out.append(syslog_line({**rec, "message": "feature flags refreshed from the "
                                                      "config service"}))
    return out


@pytest.mark.slow
def test_retrain_from_log_files_keeps_the_columns_serve_can_hot_reload(
        tmp_path, log_files, service_logs, capsys):
    from anomaly_gan.artifacts import load_bundle
    from anomaly_gan.retrain.run import RetrainRequest, retrain
    from anomaly_gan.store import ModelStore
    from anomaly_gan.stream.reload import check_compatible

    cfg = logs_retrain_config()
    store = tmp_path / "store"
    lines: list[str] = []
    first = retrain(cfg, RetrainRequest(str(store), files=(str(log_files["train"]),)),
                    lines.append)
    assert first.exit_code == 0 and first.promoted
    assert any(m.startswith("[read] first version: ") for m in lines)
    v1 = load_bundle(store / first.version)
    assert "logs" in v1.extras and v1.metadata["logs"]["templates"] > 3

    newer = tmp_path / "newer.log"
    shifted = [f"{line}\n" for line in _shifted(service_logs, 2, extra_every=5)]
    trace = "\tat shop.Cart.add(Cart.java:42)\n"  # a stack trace: joined to its event
    banner = "=== checkout-svc restarted ===\n"  # no event: left out, counted
    newer.write_text("".join(shifted[:100] + [trace] * 3 + [banner] * 3 + shifted[100:]))
    lines.clear()
    skip = cfg.replace(logs=dataclasses.replace(cfg.logs, bad_lines="skip"))
    second = retrain(skip, RetrainRequest(str(store), files=(str(newer),)), lines.append)
    assert second.exit_code == 0 and second.promoted, lines
    assert any("[read] counting with the current version's" in m for m in lines)
    assert ModelStore.open(store).current() == second.version
    v2 = load_bundle(store / second.version)
    assert check_compatible(v1, v2) is None  # serve swaps it in
    assert v2.extras["logs"]["template_ids"] == v1.extras["logs"]["template_ids"]
    assert v2.extras["logs"]["miner"] == v1.extras["logs"]["miner"]  # no template added
    # The new baseline's means: a fifth more lines per bucket (the new template's).
    before, after = (v.extras["logs"]["entity_lines"][ALL] for v in (v1, v2))
    assert after == pytest.approx(before * 1.2, rel=0.05)
    assert v2.metadata["lineage"]["source"]["kind"] == "files"
    assert v2.metadata["lineage"]["source"]["invalid"] == {"no_match": 3}
    import json

    from anomaly_gan.cli import main

    capsys.readouterr()
    assert main(["models", "list", "--store", str(store), "--json"]) == 0
    assert [r["input"] for r in json.loads(capsys.readouterr().out)] == ["logs", "logs"]

    # A logs config that parses, buckets or mines otherwise than the current version is
    # refused before training, naming the key: serve keeps its parser and open buckets
    # across a hot reload.
    for change, key in (({"error_share": False}, "error_share"),
                        ({"bucket_seconds": 20.0}, "bucket_seconds"),
                        ({"regex": TINY_LOGS_CONFIG["logs"]["regex"].rstrip("$")}, "regex")):
        with pytest.raises(DataError, match=rf"^retrain: logs.{key} .* differs from the "
                                            rf"current version "):
            retrain(logs_retrain_config(logs={**change, "bad_lines": "skip"}),
                    RetrainRequest(str(store), files=(str(newer),)))


@pytest.mark.slow
def test_retrain_from_a_range_of_the_log_topic(tmp_path, log_files, service_logs,
                                               kafka_bootstrap, kafka_topics, monkeypatch):
    """JSON log records stamped with their event time; the range is read, parsed as serve
    parses it (bad records counted, not trained on) and counted with the current columns,
    saying how far counting has got as with a file (it was silent until 2026-12-06)."""
    import json

    from anomaly_gan.logs import offline
    from anomaly_gan.retrain.run import RetrainRequest, retrain

    topics = kafka_topics(events=2, alerts=1)
    cfg = logs_retrain_config(logs={"format": "json", "regex": None},
                  serve={"kafka": {"bootstrap_servers": kafka_bootstrap,
                                   "input_topic": topics["events"],
                                   "alert_topic": topics["alerts"]}})
    store = tmp_path / "store"
    train = tmp_path / "train.jsonl"
    split = service_logs.start_ts + service_logs.train_seconds
    train.write_text("".join(json.dumps(r) + "\n" for r in service_logs.lines
                             if r["ts"] < split))
    first = retrain(cfg, RetrainRequest(str(store), files=(str(train),)))
    assert first.promoted

    later = [{**r, "ts": r["ts"] + 7200} for r in service_logs.lines if r["ts"] < split]
    records = [(r["entity"], r, r["ts"]) for r in later]
    records.insert(100, ("web", {"entity": "web", "message": "no time"}, later[100]["ts"]))
    produce_timestamped(kafka_bootstrap, topics["events"], records)
    lines: list[str] = []
    stages: list[tuple[str, int, int]] = []
    monkeypatch.setattr(offline, "STAGE_EVERY", 256)  # a line every 256 lines counted
    second = retrain(cfg, RetrainRequest(str(store), start=later[0]["ts"],
                                         end=later[-1]["ts"] + 1), lines.append,
                     stage=lambda *s: stages.append(s))
    assert second.exit_code == 0 and second.promoted, lines
    assert stages and {what for what, _, _ in stages} == {"lines counted into buckets"}
    assert [done for _, done, _ in stages] == [256 * (i + 1) for i in range(len(stages))]
    source = second.report["lineage"]["source"]
    assert source["kind"] == "kafka" and source["events"] == len(records)
    assert source["invalid"] == {"missing_field": 1}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["otlp_json", "otlp_proto"])
def test_retrain_from_otlp_files_and_a_range_of_otlp_batches(tmp_path, service_logs,
                                                             kafka_bootstrap, kafka_topics, fmt):
    """The first version from the Collector's file exporter's lines (retrain --data, OTLP/JSON
    with either format), the next from a range of its kafka exporter's batches (in the
    format's encoding): every log record of a batch is read, counted against max_events,
    and a bad one is counted invalid by its reason alone."""
    import json

    from anomaly_gan.retrain.run import RetrainRequest, retrain
    from tests.support.otlp import to_proto

    topics = kafka_topics(events=2, alerts=1)
    cfg = logs_retrain_config(logs={"format": fmt, "regex": None},
                  serve={"kafka": {"bootstrap_servers": kafka_bootstrap,
                                   "input_topic": topics["events"],
                                   "alert_topic": topics["alerts"]}})
    store = tmp_path / "store"
    split = service_logs.start_ts + service_logs.train_seconds
    lines = [r for r in service_logs.lines if r["ts"] < split]
    train = tmp_path / "train.jsonl"
    train.write_text("".join(otlp_batch(lines[i:i + 25]) + "\n"
                             for i in range(0, len(lines), 25)))
    first = retrain(cfg, RetrainRequest(str(store), files=(str(train),)))
    assert first.promoted
    assert first.report["lineage"]["source"]["events"] == len(lines)

    later = [{**r, "ts": r["ts"] + 7200} for r in lines]
    batches = [json.loads(otlp_batch(later[i:i + 10])) for i in range(0, len(later), 10)]
    del batches[10]["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"]
    encode = to_proto if fmt == "otlp_proto" else dict
    produce_timestamped(kafka_bootstrap, topics["events"],
                        [("batch", encode(b), later[10 * i]["ts"]) for i, b in enumerate(batches)])
    said: list[str] = []
    second = retrain(cfg, RetrainRequest(str(store), start=later[0]["ts"],
                                         end=later[-1]["ts"] + 1), said.append)
    assert second.exit_code == 0 and second.promoted, said
    source = second.report["lineage"]["source"]
    assert source["kind"] == "kafka" and source["events"] == len(later)
    assert source["invalid"] == {"missing_field": 1}


def test_the_current_version_scores_the_new_rows_with_its_own_line_means(tmp_path):
    """``retrain.exclude_over_threshold`` leaves out the windows the current version scores
    over its threshold, as serve would score them with it. A logs row's ``volume_drop`` is
    computed with a version's own lines per bucket (``entity_lines``); the rows the current
    version scored were computed with the candidate's, refitted on the new lines: a service
    that now logs a quarter as much as the current version learnt read as its usual volume
    (volume_drop 0.39 where the current version computes 4.3), so the filter judged rows
    the current version never sees."""
    from anomaly_gan.logs.model import LogModel, fit_log_model
    from anomaly_gan.logs.offline import read_for_log_model
    from anomaly_gan.retrain.logs import read_log_files_rows
    from anomaly_gan.retrain.run import _over_threshold
    from tests.logs.conftest import iso_z

    cfg = logs_retrain_config(data={"window": 3})
    model, _ = fit_log_model(cfg.logs, ["cache hit", "user login ok"] * 3)
    model.entity_lines = {ALL: 8.0, "api": 8.0}  # the current version: 8 lines per 10 s
    info = SimpleNamespace(version="v1", config=cfg, extras={"logs": model.to_dict()})
    t0 = 1_767_225_600
    p = tmp_path / "app.log"  # now 2 lines per 10 s bucket, for 5 minutes
    p.write_text("".join(f"{iso_z(t0 + 5 * i)} api INFO cache hit\n" for i in range(60)))
    rows, _, candidate = read_log_files_rows(cfg, [str(p)], info, lambda _: None)
    assert candidate.entity_lines["api"] == 2.0  # the candidate's baseline: the new volume

    seen = []

    class Current:  # records the rows the current version is given
        def score_series(self, values, progress=None):
            seen.append(values)
            return SimpleNamespace(is_anomaly=[False] * len(values))

    _over_threshold(Current(), rows.segments, 3)
    # what serve (and score) feed the current version for these lines
    evs, _ = read_for_log_model(cfg, str(p))
    current = LogModel.from_dict(cfg.logs, info.extras["logs"])
    from anomaly_gan.logs.offline import log_runs

    runs = log_runs(current, [(str(p), evs)], lambda _: None)
    want = [current.features(run) for run in runs]
    assert len(seen) == len(want) == 1
    assert seen[0][:, -1] == pytest.approx(want[0][:, -1])  # volume_drop, 4.3
    assert seen[0] == pytest.approx(want[0])


def test_a_files_events_count_its_invalid_log_records_as_a_topics_do(tmp_path):
    """The report's ``events`` are the log records read, the invalid ones among them, as a
    retrain from the topic counts them (and its note says: '2 of 801 log records'); a
    file's left its invalid ones out ('799 events ... 2 invalid')."""
    import json

    from anomaly_gan.retrain.logs import read_log_files_rows

    cfg = logs_retrain_config(logs={"format": "otlp_json", "regex": None, "bad_lines": "skip"})
    t0 = 1_767_225_600
    recs = [{"entity": e, "ts": t0 + i, "level": "INFO", "message": f"cache hit {i}"}
            for i in range(400) for e in ("api", "db")]
    batches = [json.loads(otlp_batch(recs[i:i + 25])) for i in range(0, len(recs), 25)]
    del batches[3]["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"]
    p = tmp_path / "app.jsonl"
    p.write_text("".join(json.dumps(b) + "\n" for b in batches) + "not json\n")
    notes: list[str] = []
    rows, _, _ = read_log_files_rows(cfg, [str(p)], None, notes.append)
    assert notes[0].startswith("note: 2 of 801 log records (33 lines) of ")
    assert (rows.events_read, rows.invalid) == (801, {"missing_field": 1, "bad_json": 1})
