import json

import numpy as np
import pytest
import yaml

from anomaly_gan.config import Config, LogsConfig, config_from_dict, config_to_dict
from anomaly_gan.logs.counts import BucketRow
from anomaly_gan.logs.events import LogParser
from anomaly_gan.logs.model import LogModel, fit_log_model, set_means

LINES = (["GET /api/cart/17 200 in 3 ms", "GET /api/cart/99 200 in 5 ms"] * 20
         + ["cache refresh took 40 ms"] * 4
         + ["payment gateway timeout after 5003 ms"])


def logs_cfg(**kw):
    return config_from_dict({"logs": {"bucket_seconds": 10.0, "top_k": 2, **kw}}).logs


def model_and_rows():
    cfg = logs_cfg()
    model, _ = fit_log_model(cfg, LINES)
    buckets = model.buckets()
    rows = []
    for i, line in enumerate(LINES):
        col, key = model.classify(line)
        rows += buckets.add("web", i * 1.0, col, key, line, False)
    rows += buckets.flush()
    set_means(model, rows)
    return model, rows


def test_top_k_columns_other_and_unseen():
    model, _ = model_and_rows()
    assert model.feature_names[2:] == ("other", "unseen", "lines_per_second", "error_share",
                                       "volume_drop")
    tops = [model.miner.template(t) for t in model.template_ids]
    assert tops == ["GET <PATH> <NUM> in <NUM> ms", "cache refresh took <NUM> ms"]
    assert model.classify("payment gateway timeout after 1 ms")[0] == model.other
    col, key = model.classify("disk /dev/sda is full")
    assert col == model.unseen and key[0] == "new"


def test_explanations_name_what_changed_with_observed_and_expected_counts():
    model, rows = model_and_rows()
    burst = [BucketRow("web", 100.0, 110.0, rows[0].values,
                       {("known", tid): [40, ["payment gateway timeout after 9 ms"] * 3]})
             for tid in [model.miner.match("payment gateway timeout after 1 ms")]]
    out = model.explain(burst, limit=2)
    assert out[0]["template"] == "payment gateway timeout after <NUM> ms"
    assert out[0]["observed"] == 40 and out[0]["expected"] < 1 and len(out[0]["examples"]) == 3
    # a silent window names the templates that stayed away
    silent = [BucketRow("web", 100.0 + 10 * i, 110.0 + 10 * i, rows[0].values * 0)
              for i in range(3)]
    out = model.explain(silent, limit=1)
    assert out[0]["template"] == "GET <PATH> <NUM> in <NUM> ms"
    assert out[0]["observed"] == 0 and out[0]["expected"] > 10


def test_features_are_log_counts_and_a_volume_drop():
    model, rows = model_and_rows()
    x = model.features(rows)
    assert x.shape == (len(rows), len(model.feature_names))
    assert np.allclose(x[:, :4], np.log1p([r.values[:4] for r in rows]))
    mean = model.entity_lines["web"]
    silent = BucketRow("web", 900.0, 910.0, rows[0].values * 0)
    assert model.features([silent])[0, -1] == pytest.approx(mean)  # -ln P(N = 0) = mean
    assert model.features(rows)[:, -1].max() < mean / 2


def test_json_round_trip():
    model, _ = model_and_rows()
    raw = json.loads(json.dumps(model.to_dict()))
    again = LogModel.from_dict(logs_cfg(), raw)
    assert again.feature_names == model.feature_names
    assert again.template_means == model.template_means
    assert again.classify("GET /x/y 404 in 1 ms") == model.classify("GET /x/y 404 in 1 ms")


def test_error_levels_count_syslog_and_logrus_names_case_insensitively():
    model, _ = model_and_rows()
    parse = LogParser(format="regex", regex=r"^(?P<level>\S+) (?P<message>.*)$", need_ts=False,
                      entity="web").parse
    # rsyslog's %syslogseverity-text%, logrus' 4-letter levels (Docker), zap, .NET, PSR-3
    for level in ("err", "crit", "alert", "emerg", "panic", "ERRO", "FATA", "PANI", "DPANIC",
                  "fail", "Emergency", "ERROR", "severe"):
        assert model.is_error(parse(f"{level} disk full").level), level
    for level in ("E", "F", "WARN", "warning", "notice", "INFO", "ERRORS", "-"):
        assert not model.is_error(parse(f"{level} disk full").level), level


def test_a_bundle_trained_with_the_old_default_levels_keeps_them():
    """A bundle's config.yaml holds its logs section key for key: the levels it was trained
    with, whatever today's default is (an ``err`` line stays out of its error share)."""
    old = ("ERROR", "FATAL", "CRITICAL", "SEVERE", "ALERT", "EMERG")
    written = yaml.safe_dump(config_to_dict(Config(logs=LogsConfig(error_levels=old))))
    cfg = config_from_dict(yaml.safe_load(written), source="config.yaml").logs
    model, _ = model_and_rows()
    again = LogModel.from_dict(cfg, model.to_dict())
    assert cfg.error_levels == old
    assert again.is_error("ERROR") and not again.is_error("ERR")
    assert model.is_error("ERR")  # today's default


def test_a_bundle_whose_error_levels_name_digits_still_counts_those_levels():
    """A bundle trained when a level group's digits were kept as written lists them
    (error_levels ['3', '2'], syslog's err and crit): its '3' lines were errors. Digits in a
    level now read as the level they stand for ('3' is ERR), so no line's level was '3' and
    its error share stayed 0. Its digits now stand for the same levels."""
    written = yaml.safe_dump(config_to_dict(Config(logs=LogsConfig(error_levels=("3", "2")))))
    cfg = config_from_dict(yaml.safe_load(written), source="config.yaml").logs
    model, _ = model_and_rows()
    loaded = LogModel.from_dict(cfg, model.to_dict())
    parse = LogParser(format="regex", regex=r"^(?P<level>\S+) (?P<message>.*)$", need_ts=False,
                      entity="web").parse
    assert cfg.error_levels == ("3", "2")  # the bundle's config, as written
    for level in ("3", "2", "err", "CRIT"):
        assert loaded.is_error(parse(f"{level} disk full").level), level
    for level in ("4", "6", "ERROR", "alert", "1"):  # not in its list, digits or not
        assert not loaded.is_error(parse(f"{level} disk full").level), level


@pytest.mark.parametrize("first", ["kernel panic on cpu 3", "rebalancing shard 7 of orders"])
def test_new_templates_of_equal_change_are_named_whatever_the_live_miner_saw_first(first):
    """Two new templates seen once each in a window rank the same: the one named was the one
    the live miner had numbered first, so a scorer that had seen the other's lines before
    (from another partition, or before a restart) named the other one, and ``score`` of a
    partition's lines and ``serve`` disagreed (found by tests/logs/test_serve_equals_score_fuzz.py,
    three partitions). Ties between new templates now go by their text."""
    model, rows = model_and_rows()
    other = ({"kernel panic on cpu 3", "rebalancing shard 7 of orders"} - {first}).pop()
    keys = {line: model.classify(line)[1] for line in [first, other]}
    window = [BucketRow("web", 100.0, 110.0, rows[0].values,
                        {keys[line]: [1, [line]] for line in [other, first]})]
    named = [e["template"] for e in model.explain(window, limit=99)]
    # the first of the two is named where scoring.top_k leaves room for one of them
    assert named.index("kernel panic on cpu <NUM>") + 1 == named.index(
        "rebalancing shard <NUM> of orders")


def test_a_burst_of_empty_messages_is_named_by_its_own_empty_template_not_as_dropped():
    """An empty message (JSON "message": "", an OTLP empty stringValue) or one of white space
    alone is a template of no tokens, whose text is "": an alert of a burst of them said
    "(new template, dropped by the cap)", though no template had been dropped."""
    model, _ = model_and_rows()
    buckets = model.buckets()
    for i, message in enumerate(["", "   ", "\t"] * 10):
        col, key = model.classify(message)
        buckets.add("web", 1000.0 + i * 0.1, col, key, message, False)
    burst = buckets.flush()
    top = model.explain(burst, limit=1)[0]
    assert model.miner.dropped == 0
    assert top["feature"] == "unseen" and top["observed"] == 30
    assert top["template"] == ""


def test_an_entity_named_star_is_an_entity_not_the_all_entities_means():
    """Until 2026-12-07 the means over every entity were kept under the key ``*``: an entity
    named ``*`` shared them, its lines counted twice in them and its own means were lost."""
    from anomaly_gan.logs.model import ALL

    model, _ = fit_log_model(logs_cfg(), LINES)
    buckets = model.buckets()
    rows = []
    for i, line in enumerate(LINES):  # web: 10 lines a bucket; "*": 1 line a bucket
        rows += buckets.add("web", i * 1.0, *model.classify(line), line, False)
        if i % 10 == 0:
            rows += buckets.add("*", i * 1.0, *model.classify("cache refresh took 1 ms"),
                                "cache refresh took 1 ms", False)
    rows += buckets.flush()
    set_means(model, rows)
    star = [r for r in rows if r.entity == "*"]
    assert model.entity_lines["*"] == pytest.approx(np.mean([r.lines for r in star]))
    assert model.entity_lines[ALL] == pytest.approx(np.mean([r.lines for r in rows]))
    cache = model.miner.match("cache refresh took 1 ms")
    assert model.template_means["*"] == {cache: 1.0}
    assert model.template_means[ALL][cache] == pytest.approx(9 / len(rows))
    silent = BucketRow("*", 900.0, 910.0, rows[0].values * 0)
    assert model.features([silent])[0, -1] == pytest.approx(1.0)  # -ln P(N = 0) = its mean
    again = LogModel.from_dict(logs_cfg(), json.loads(json.dumps(model.to_dict())))
    assert again.entity_lines == model.entity_lines
    assert again.template_means == model.template_means


def test_a_bundle_written_before_the_all_entities_key_changed_keeps_its_means():
    model, _ = model_and_rows()
    raw = json.loads(json.dumps(model.to_dict()))
    from anomaly_gan.logs.model import ALL

    raw["entity_lines"]["*"] = raw["entity_lines"].pop(ALL)  # as bundles before 2026-12-07
    raw["template_means"]["*"] = raw["template_means"].pop(ALL)
    again = LogModel.from_dict(logs_cfg(), raw)
    assert again.entity_lines == model.entity_lines
    assert again.template_means == model.template_means
    unknown = BucketRow("db", 900.0, 910.0, model_and_rows()[1][0].values * 0)
    assert again.features([unknown])[0, -1] == pytest.approx(model.entity_lines[ALL])
