import json

from anomaly_gan.stream.alerts import (
    Debouncer,
    alert_id,
    build_alert,
    dumps,
    encode_score,
    iso_utc,
    sampled,
)


def test_alert_after_k_consecutive_then_cooldown():
    d = Debouncer(consecutive=3, cooldown_seconds=100)
    flags = [True, True, False, True, True, True, True, True]
    fired = [d.update("a", float(t), f) for t, f in enumerate(flags)]
    assert fired == [False, False, False, False, False, True, False, False]
    # After the cooldown the still-anomalous entity alerts again.
    assert d.update("a", 105.0, True) is True


def test_debounce_is_per_entity_and_forget_resets():
    d = Debouncer(consecutive=2, cooldown_seconds=0)
    assert d.update("a", 0, True) is False
    assert d.update("b", 0, True) is False
    assert d.update("a", 1, True) is True
    d.forget("b")
    assert d.update("b", 1, True) is False


def test_alert_id_is_deterministic_and_depends_on_all_three_parts():
    base = alert_id("pump-1", 100.0, "v1")
    assert base == alert_id("pump-1", 100.0, "v1")
    assert len({base, alert_id("pump-2", 100.0, "v1"), alert_id("pump-1", 110.0, "v1"),
                alert_id("pump-1", 100.0, "v2")}) == 4


def test_alert_record_is_json_with_all_fields():
    rec = build_alert(entity="pump-1", start_ts=0.0, end_ts=70.0, score=5.5, threshold=2.0,
                      severity=99.0, components={"reconstruction": 4.0, "latent": float("nan")},
                      top_features=["rpm", "temp"], model_version="v1", model_kind="ganomaly",
                      consecutive=3)
    back = json.loads(dumps(rec))
    assert back["alert_id"] == alert_id("pump-1", 70.0, "v1")
    assert back["window_start"] == "1970-01-01T00:00:00.000Z"
    assert back["window_end"] == iso_utc(70.0)
    assert back["components"] == {"reconstruction": 4.0, "latent": None}
    assert back["top_features"] == ["rpm", "temp"]
    assert {"score", "threshold", "severity", "model_version", "model_kind"} <= back.keys()
    assert (back["anomalous_since"], back["anomalous_since_ts"]) == (iso_utc(70.0), 70.0)
    since = build_alert(entity="pump-1", start_ts=0.0, end_ts=70.0, score=5.5, threshold=2.0,
                        severity=99.0, components={}, top_features=[], model_version="v1",
                        model_kind="ganomaly", consecutive=3, since_ts=50.0)
    assert (since["anomalous_since"], since["anomalous_since_ts"]) == (iso_utc(50.0), 50.0)


def test_score_record_is_compact_json_with_all_fields():
    raw = encode_score(entity='pump "7" \u00e9', start_ts=0.0, end_ts=70.5, score=3.25,
                       threshold=2.0, is_anomaly=True,
                       components={"reconstruction": 4.0, "latent": float("inf")},
                       model_version="v1", partition=2, offset=41)
    assert raw == dumps(json.loads(raw))  # compact, the same bytes json.dumps writes
    assert json.loads(raw) == {
        "entity": 'pump "7" \u00e9', "window_start_ts": 0.0, "window_end_ts": 70.5,
        "score": 3.25, "threshold": 2.0, "is_anomaly": True,
        "components": {"reconstruction": 4.0, "latent": None}, "model_version": "v1",
        "partition": 2, "offset": 41}


def test_sampling_is_deterministic_and_close_to_the_rate():
    keep = [sampled("e", float(t), 0.25) for t in range(4000)]
    assert keep == [sampled("e", float(t), 0.25) for t in range(4000)]
    assert 0.2 < sum(keep) / len(keep) < 0.3
    assert sampled("e", 1.0, 1.0) and not sampled("e", 1.0, 0.0)


def test_retain_drops_entities_no_longer_held():
    d = Debouncer(consecutive=1, cooldown_seconds=100)
    d.update("a", 0, True)
    d.update("b", 0, True)
    d.retain(lambda e: e == "a")
    assert d.run_length("a") == 1 and d.run_length("b") == 0
    assert d.update("b", 1, True) is True  # b's cooldown was forgotten with it


def test_an_unscorable_window_alerts_with_a_null_score_and_full_severity():
    """A window the network could not compute scores +inf (Detector.score_windows); JSON
    has no infinity, so the alert carries score null beside severity 100."""
    rec = build_alert(entity="pump-1", start_ts=0.0, end_ts=70.0, score=float("inf"),
                      threshold=2.0, severity=100.0,
                      components={"reconstruction": float("inf"), "latent": float("nan")},
                      top_features=["rpm"], model_version="v1", model_kind="ganomaly",
                      consecutive=3)
    back = json.loads(dumps(rec))  # strict JSON: dumps refuses NaN and Infinity
    assert back["score"] is None and back["severity"] == 100.0 and back["threshold"] == 2.0
    assert back["components"] == {"reconstruction": None, "latent": None}
    raw = encode_score(entity="pump-1", start_ts=0.0, end_ts=70.0, score=float("inf"),
                       threshold=2.0, is_anomaly=True, components={}, model_version="v1",
                       partition=0, offset=1)
    assert json.loads(raw)["score"] is None and json.loads(raw)["is_anomaly"] is True


def test_a_cooldown_holds_the_replay_to_the_alerting_run_and_only_while_it_lasts():
    """resolve_windows 0: the alert of a run that reached ``consecutive`` holds the replay
    to that run's first window until its cooldown ends; a run that goes on past it holds
    nothing more, so an entity anomalous for ever does not pin the commit."""
    from anomaly_gan.stream.alerts import Debouncer

    d = Debouncer(consecutive=2, cooldown_seconds=10.0)
    fired = [d.update("a", t, anomalous=True, replay_from=("p0", 100 + int(t)))
             for t in (0.0, 1.0)]
    assert fired == [False, True] and d.cooling == {"a": ("p0", 100, 11.0)}
    assert d.update("a", 2.0, anomalous=False, replay_from=("p0", 102)) is False
    assert d.cooling == {"a": ("p0", 100, 11.0)}  # a normal window ends the run, not this
    for t in range(3, 30):  # one long run: it alerts again once the cooldown ends
        d.update("a", float(t), anomalous=True, replay_from=("p0", 100 + t))
        assert ("a" in d.cooling) == (t < 11), t
    assert Debouncer(consecutive=2, cooldown_seconds=10.0, resolve_windows=1).tracks_cooldown \
        is False


def test_a_window_exactly_cooldown_seconds_after_the_alert_alerts_again():
    # 1767225600.7 - 1767225600.4 is 0.29999995... in floats: read as less than a cooldown
    # of 0.3 s, the window that docs/streaming.md (Debounce) lets alert was kept quiet, while
    # the cooldown's hold of the commit (``cooling``: 1767225600.4 + 0.3) took it as over
    d = Debouncer(consecutive=1, cooldown_seconds=0.3)
    assert d.update("a", 1767225600.4, True, replay_from=("p0", 4)) is True
    assert d.update("a", 1767225600.6999998, True) is False  # the float before: inside
    assert d.update("a", 1767225600.7, True) is True
    assert d.update("a", 1767225600.9, True) is False
