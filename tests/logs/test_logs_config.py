import pytest

from anomaly_gan.config import config_from_dict
from anomaly_gan.errors import ConfigError


def test_no_logs_section_means_numeric_events():
    assert config_from_dict({}).logs is None
    assert config_from_dict({"logs": {}}).logs.bucket_seconds == 60.0


@pytest.mark.parametrize("logs, message", [
    ({"bucket_lines": 10}, "logs.bucket_lines: expected exactly one of"),
    ({"format": "regex"}, "logs.regex: expected a regular expression"),
    ({"format": "regex", "regex": "(?P<message"}, "logs.regex: not a valid regular expression"),
    ({"format": "regex", "regex": "(?P<ts>x) (?P<entity>y)"}, "named group (?P<message>...)"),
    ({"format": "regex", "regex": "(?P<ts>x) (?P<message>.*)"}, "logs.entity: expected"),
    ({"format": "regex", "regex": "(?P<entity>x) (?P<message>.*)"}, "need a (?P<ts>...) group"),
    ({"masking": ["ips"]}, "logs.masking[0]: expected one of 'uuid', 'ip'"),
    ({"top_k": 0}, "logs.top_k: expected an integer >= 1"),
    # without a date strptime says January 1900: every line a century late
    ({"timestamp_format": "%H:%M:%S"}, "logs.timestamp_format: expected a date: a year (%Y"),
    ({"timestamp_format": "%%Y-%%m-%d"}, "reads as a day of January 1900, got '%%Y-%%m-%d'"),
    ({"timezone": "CEST"}, "logs.timezone: expected UTC, an offset such as +08:00"),
    ({"timezone": "+25:00"}, "logs.timezone: expected an offset under 24 hours, got '+25:00'"),
    ({"timezone": 600}, "logs.timezone: expected a non-empty string (quote it in YAML: '+10:00')"),
    ({"timezone": "Europe/Berlin", "timestamp_format": "%Y-%m-%d %H:%M:%S %Z"},
     "logs.timezone: expected UTC with a %Z timestamp_format"),
    # every silence of an entity up to gap_seconds is counted as empty buckets, each a row
    ({"bucket_seconds": 0.001}, ("logs.bucket_seconds: 0.001 with logs.gap_seconds 1800 "
                                 "counts up to 1,800,000 empty buckets")),
    ({"bucket_seconds": 1, "gap_seconds": 1e6}, ("expected at most 100,000 (bucket_seconds of "
                                                 "at least 10, or a shorter gap_seconds)")),
    ({"format": "otlp"}, ("logs.format: expected one of 'json', 'regex', 'otlp_json', "
                         "'otlp_proto', 'auto', got 'otlp'")),
    *(case for fmt in ("otlp_json", "otlp_proto") for case in (
        ({"format": fmt, "otlp_entity": ""}, "logs.otlp_entity: expected a non-empty string"),
        ({"format": fmt, "otlp_entity": ["service.name"]},
         "logs.otlp_entity: expected a non-empty string"))),
])
def test_bad_logs_sections_are_one_line_naming_the_key(logs, message):
    with pytest.raises(ConfigError) as err:
        config_from_dict({"logs": logs}, "x.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("fields, message", [
    ({"message": "msg", "entity": "msg"},
     ("x.yaml: logs.json_fields.entity: expected a field other than logs.json_fields.message's, "
      "got 'msg'")),
    ({"level": "message"},
     ("x.yaml: logs.json_fields.level: expected a field other than logs.json_fields.message's, "
      "got 'message'")),
    ({"entity": ["kubernetes.pod_name", "kubernetes.pod_name"]},
     ("x.yaml: logs.json_fields.entity[1]: expected a field other than "
      "logs.json_fields.entity[0]'s, got 'kubernetes.pod_name'")),
    ({"ts": "time", "entity": ["host", "time"]},
     ("x.yaml: logs.json_fields.entity[1]: expected a field other than logs.json_fields.ts's, "
      "got 'time'")),
    ({"entity": "kubernetes..pod_name"},
     ("x.yaml: logs.json_fields.entity: expected a key or a dotted path such as tags.host (no "
      "empty part between dots), got 'kubernetes..pod_name'")),
])
def test_json_fields_are_checked_as_serve_event_fields_are(fields, message):
    """serve.event_fields refused two parts read from one field and a path with an empty
    part; logs.json_fields took them: with ``entity: msg`` every line's message was its
    entity (max_entities of them, each a window of one line), with ``level: message`` every
    line's text its level (no error share)."""
    with pytest.raises(ConfigError) as err:
        config_from_dict({"logs": {"json_fields": fields}}, "x.yaml")
    assert str(err.value) == message
    # a bundle trained so still loads; with another format the fields are not read
    config_from_dict({"logs": {"json_fields": fields}}, "b/config.yaml", trained=True)
    config_from_dict({"logs": {"format": "otlp_json", "json_fields": fields}}, "x.yaml")
    # no time field ('') is no field another part could share
    config_from_dict({"logs": {"json_fields": {"ts": "", "level": "lvl"},
                               "bucket_seconds": None, "bucket_lines": 10}}, "x.yaml")


@pytest.mark.parametrize("fmt", ["otlp_json", "otlp_proto"])
def test_otlp_reads_the_entity_from_service_name_unless_told_otherwise(fmt):
    """An OTLP batch names its service in the resource attribute service.name; a key of
    its own (otlp_entity) names another (a pod, a host), and it reaches the parser."""
    from anomaly_gan.logs.events import parser_from_config

    assert config_from_dict({"logs": {"format": fmt}}).logs.otlp_entity == "service.name"
    logs = config_from_dict({"logs": {"format": fmt, "otlp_entity": "k8s.pod.name",
                                      "entity": "unknown"}}).logs
    parser = parser_from_config(logs, 1024)
    assert (parser.format, parser.otlp_entity, parser.entity) == \
        (fmt, "k8s.pod.name", "unknown")


def test_per_n_lines_needs_no_timestamp_group():
    cfg = config_from_dict({"logs": {"format": "regex", "regex": "(?P<message>.*)",
                                     "entity": "app", "bucket_seconds": None,
                                     "bucket_lines": 50}})
    assert cfg.logs.bucket_lines == 50


@pytest.mark.parametrize("fmt", ["%Y-%m-%d %H:%M:%S", "%d/%b/%y:%H:%M:%S %z", "%c",
                                 "%b %d %H:%M:%S", "%j %H:%M"])  # the last two: syslog's
def test_timestamp_formats_with_a_date_are_accepted(fmt):
    assert config_from_dict({"logs": {"timestamp_format": fmt}}).logs.timestamp_format == fmt


@pytest.mark.parametrize("zone", ["UTC", "+08:00", "-0530", "+05", "Asia/Shanghai", "Europe/Berlin"])
def test_time_zones_are_offsets_or_names(zone):
    assert config_from_dict({"logs": {"timezone": zone}}).logs.timezone == zone


@pytest.mark.parametrize("fmt", ["%Y-%m-%d %H:%M:%S %%Z", "%Y%%Z%m%d", "%Y-%m-%d %H:%M%%%%Z"])
def test_a_literal_percent_z_takes_any_time_zone(fmt):
    """``%%Z`` is a literal ``%Z`` in the stamp, no zone name: the check that a ``%Z``
    format (a zone name, which strptime gives without an offset) needs ``timezone: UTC``
    refused it too."""
    cfg = config_from_dict({"logs": {"timestamp_format": fmt, "timezone": "Europe/Berlin"}})
    assert cfg.logs.timezone == "Europe/Berlin"
    with pytest.raises(ConfigError, match="expected UTC with a %Z timestamp_format"):
        config_from_dict({"logs": {"timestamp_format": fmt.replace("%Y", "%Y %Z", 1),
                                   "timezone": "Europe/Berlin"}})
