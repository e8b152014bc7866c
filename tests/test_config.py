import dataclasses
import re
import typing
from pathlib import Path

import pytest
import yaml

from anomaly_gan.config import (
    CPUS_ENV,
    SCORE_COMPONENTS,
    Config,
    LogsConfig,
    ScoringConfig,
    config_from_dict,
    config_keys,
    config_to_dict,
    load_config,
)
from anomaly_gan.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_documented_default_file_equals_builtin_defaults():
    assert load_config(CONFIGS / "default.yaml", env={}) == Config()
    assert load_config(None, env={}) == Config()


@pytest.mark.parametrize("name", ["ganomaly.yaml", "fanogan.yaml"])
def test_family_configs_validate(name):
    cfg = load_config(CONFIGS / name, env={})
    assert cfg.model.kind == name.split(".")[0]


SHIPPED = sorted(CONFIGS.glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_validates(path):
    load_config(path, env={})


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_weight_maps_name_every_component(path):
    """A weights map in a file replaces the default map whole, so a component a shipped file
    leaves out is silently off: ganomaly.yaml lost knn and quiet that way when they came."""
    weights = (yaml.safe_load(path.read_text()).get("scoring") or {}).get("weights")
    if weights is not None:
        assert sorted(weights) == sorted(SCORE_COMPONENTS)


_LOGS_MARK = "Its keys and defaults:"


def _documented_lines() -> dict[str, str]:
    """``{key path: its line}`` of configs/default.yaml, the logs: keys (comments there,
    since the section's default is null) included."""
    text = (CONFIGS / "default.yaml").read_text()
    main, logs = text.split(_LOGS_MARK)
    lines: dict[str, str] = {}
    stack: list[str] = []
    for line in main.splitlines():
        m = re.match(r"( *)([a-z_0-9]+):", line)
        if m:
            stack[len(m[1]) // 2:] = [m[2]]
            lines[".".join(stack)] = line
    stack = []
    for line in logs.splitlines():
        m = re.match(r"#(   (?:  )*)([a-z_]+):", line)
        if m:
            stack[(len(m[1]) - 3) // 2:] = [m[2]]
            lines[".".join(["logs", *stack])] = line
    return lines


def _fields(cls: type, prefix: str = ""):
    """``(key path, declared type)`` of every leaf key under ``cls``."""
    hints = typing.get_type_hints(cls)
    for f in config_keys(cls):
        tp = hints[f.name]
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        section = tp if dataclasses.is_dataclass(tp) else (
            inner[0] if len(inner) == 1 and dataclasses.is_dataclass(inner[0]) else None)
        if section is not None:
            yield from _fields(section, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", tp


def test_default_yaml_documents_every_key_and_its_allowed_values():
    """Every key is on a line of default.yaml (loading it equals Config() even when one is
    missing), and a key with a fixed set of values names each of them there."""
    lines = _documented_lines()
    for path, tp in _fields(Config):
        assert path in lines, f"configs/default.yaml does not document {path}"
        literals = [a for a in (tp, *typing.get_args(tp)) if typing.get_origin(a) is typing.Literal]
        for allowed in (v for lit in literals for v in typing.get_args(lit)):
            assert re.search(rf"(?<![\w-]){re.escape(allowed)}(?![\w-])", lines[path]), (
                f"configs/default.yaml: {path}: allowed value {allowed!r} not named in "
                f"{lines[path].strip()!r}")


def test_documented_logs_defaults_equal_logs_config():
    """default.yaml's logs: section is null and its keys are comments: they must still be
    LogsConfig's keys and defaults."""
    text = (CONFIGS / "default.yaml").read_text().split(_LOGS_MARK)[1]
    documented = yaml.safe_load("\n".join(line[1:] for line in text.splitlines()
                                          if line.startswith("#   ")))
    assert list(documented) == [f.name for f in dataclasses.fields(LogsConfig)]
    assert config_from_dict({"logs": documented}).logs == LogsConfig()


def test_config_is_frozen():
    cfg = Config()
    with pytest.raises(AttributeError):
        cfg.training.epochs = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("training:\n  epochs: 0\n", "training.epochs: expected an integer >= 1 and <= 100000, got 0"),
        ("training:\n  epochs: ten\n", "training.epochs: expected an integer"),
        ("model:\n  kind: vae\n", "model.kind: expected one of 'ganomaly', 'fanogan', got 'vae'"),
        ("model:\n  colour: red\n", "model.colour: unknown key; allowed: kind, backbone"),
        ("bogus: 1\n", "bogus: unknown key; allowed: model, data"),
        ("serve:\n  kafka:\n    bootstrap_server: k:9092\n",
         "serve.kafka.bootstrap_server: unknown key (did you mean 'bootstrap_servers'?); allowed: "),
        ("serve:\n  drift:\n    period_secs: 60\n",
         "serve.drift.period_secs: unknown key (did you mean 'period_seconds'?)"),
        ("threshold:\n  quantile: 1.0\n", "threshold.quantile: expected a number >= 0.5 and < 1"),
        ("scoring:\n  weights: {speed: 1}\n", "scoring.weights.speed: expected a component"),
        ("scoring:\n  max_share: 1.5\n", "scoring.max_share: expected a number >= 0 and <= 1"),
        ("model:\n  hidden: []\n", "model.hidden: expected a non-empty"),
        ("data:\n  window: 8\n  stride: 9\n", "data.stride: expected <= data.window (8), got 9"),
        ("training:\n  allow_unhealthy: 1\n", "training.allow_unhealthy: expected true or false"),
        ("serve:\n  kafka:\n    security_protocol: SASL_SSL\n", "serve.kafka.sasl_mechanism"),
        # kafka-python refused these only when serve made its clients: "broker unreachable;
        # retrying" forever, and a traceback
        ("serve:\n  kafka:\n    session_timeout_ms: 2000\n    heartbeat_interval_ms: 2000\n",
         ("serve.kafka.heartbeat_interval_ms: expected < serve.kafka.session_timeout_ms "
          "(2000), got 2000")),
        ("serve:\n  kafka:\n    input_topic: plant events\n",
         "serve.kafka.input_topic: expected a Kafka topic name"),
        ("serve:\n  kafka:\n    dlq_topic: '..'\n", "serve.kafka.dlq_topic: expected a Kafka"),
        (f"serve:\n  kafka:\n    scores_topic: {'s' * 250}\n", "serve.kafka.scores_topic"),
        # serve ended in a ValueError traceback from inside kafka-python, exit 1, and
        # validate-config said ok
        ("serve:\n  kafka:\n    bootstrap_servers: kafka:notaport\n",
         ("serve.kafka.bootstrap_servers: expected host:port addresses separated by commas "
          "(port 1-65535); 'kafka:notaport': the port is no number")),
        ("serve:\n  kafka:\n    bootstrap_servers: ' , '\n",
         ("serve.kafka.bootstrap_servers: expected host:port addresses separated by commas "
          "(port 1-65535); no address")),
        ("serve:\n  kafka:\n    bootstrap_servers: 'SSL://'\n",
         "'SSL://': expected host:port after the protocol"),
        ("serve:\n  kafka:\n    bootstrap_servers: 'k1:9092 k2:9092'\n",
         "'k1:9092 k2:9092': expected host:port"),
        ("serve:\n  kafka:\n    bootstrap_servers: 'k1:99999'\n", "the port is not in 1-65535"),
        # a dead letter written to the input topic was read, refused and written again, for ever
        ("serve:\n  kafka:\n    dlq_topic: anomaly-gan.events\n",
         ("serve.kafka.dlq_topic: expected a topic other than serve.kafka.input_topic, got "
          "'anomaly-gan.events' (the scorer would read back what it writes)")),
        ("serve:\n  kafka:\n    input_topic: metrics\n    alert_topic: metrics\n",
         "serve.kafka.alert_topic: expected a topic other than serve.kafka.input_topic"),
        ("serve:\n  kafka:\n    scores_topic: anomaly-gan.events\n",
         "serve.kafka.scores_topic: expected a topic other than"),
        ("- a\n- b\n", "<top level>: expected a mapping"),
        ("training:\n  seed: 4294967296\n",
         "training.seed: expected an integer >= 0 and <= 4294967276, got 4294967296"),
        ("training:\n  min_steps: -1\n",
         "training.min_steps: expected an integer >= 0 and <= 10000000, got -1"),
        # each window of an open incident costs every entity 16 bytes of held offsets
        ("serve:\n  alerts:\n    consecutive: 10000\n",
         "serve.alerts.consecutive: expected an integer >= 1 and <= 1000, got 10000"),
        ("serve:\n  alerts:\n    resolve_windows: 10000\n",
         "serve.alerts.resolve_windows: expected an integer >= 0 and <= 1000, got 10000"),
        # ... and each of those windows holds hop events' offsets
        ("serve:\n  windows:\n    hop: 1001\n",
         "serve.windows.hop: expected an integer >= 1 and <= 1000, got 1001"),
        # the quoting example is the value itself where it is no time zone
        ("data:\n  timestamp_column: 5\n",
         "data.timestamp_column: expected a non-empty string (quote it in YAML: '5'), got 5"),
        # serve.event_fields: a typo'd path, two parts from one field, an unknown policy
        ("serve:\n  event_fields:\n    entity: tags..host\n",
         ("serve.event_fields.entity: expected a key or a dotted path such as tags.host (no "
         "empty part between dots), got 'tags..host'")),
        ("serve:\n  event_fields:\n    entity: .host\n", "serve.event_fields.entity: expected"),
        ("serve:\n  event_fields:\n    values: fields.\n", "serve.event_fields.values: expected"),
        ("serve:\n  event_fields:\n    ts: time\n    values: time\n",
         ("serve.event_fields.values: expected a field other than serve.event_fields.ts's, "
         "got 'time'")),
        ("serve:\n  event_fields:\n    entity: ''\n",
         "serve.event_fields.entity: expected a non-empty string"),
        ("serve:\n  event_fields:\n    entity: [tags.host, tags.host]\n",
         ("serve.event_fields.entity[1]: expected a field other than "
          "serve.event_fields.entity[0]'s, got 'tags.host'")),
        ("serve:\n  event_fields:\n    entity: [tags.host, timestamp]\n    ts: timestamp\n",
         "serve.event_fields.ts: expected a field other than serve.event_fields.entity[1]'s"),
        ("serve:\n  event_fields:\n    entity: [tags.host, tags..cpu]\n",
         "serve.event_fields.entity[1]: expected a key or a dotted path"),
        ("serve:\n  event_fields:\n    entity: []\n",
         "serve.event_fields.entity: expected a non-empty list of strings, got []"),
        ("serve:\n  event_fields:\n    entity:\n",
         "serve.event_fields.entity: expected a string or a list of strings, got None"),
        ("serve:\n  event_fields:\n    entity: {host: tags.host}\n",
         "serve.event_fields.entity: expected a string or a list of strings, got {'host'"),
        ("serve:\n  event_fields:\n    entity: [a, b, c, d, e, f, g, h, i]\n",
         "serve.event_fields.entity: expected at most 8 items, got '9 items'"),
        ("serve:\n  event_fields:\n    host: tags.host\n",
         "serve.event_fields.host: unknown key; allowed: entity, ts, values"),
        ("serve:\n  unknown_features: drop\n",
         "serve.unknown_features: expected one of 'reject', 'ignore', got 'drop'"),
        # serve.assemble_seconds: a slot of 0 to a day; none for a logs model's lines
        ("serve:\n  assemble_seconds: -1\n",
         "serve.assemble_seconds: expected a number >= 0 and <= 86400, got -1"),
        ("serve:\n  assemble_seconds: 86401\n",
         "serve.assemble_seconds: expected a number >= 0 and <= 86400, got 86401"),
        ("logs:\n  format: json\nserve:\n  assemble_seconds: 10\n",
         ("serve.assemble_seconds: expected 0 with a logs model: it reads log lines, counted "
          "into logs.bucket_seconds buckets, not records of numeric features, got 10.0")),
        ("serve:\n  event_format: otlp\n",
         "serve.event_format: expected one of 'json', 'otlp_json', 'otlp_proto', got 'otlp'"),
        # each rule of otlp_json holds for otlp_proto, the same batches in protobuf
        *(case for fmt in ("otlp_json", "otlp_proto") for case in (
            # an OpenTelemetry format's data points are each one feature: assembled
            (f"serve:\n  event_format: {fmt}\n",
             (f"serve.assemble_seconds: expected > 0 with serve.event_format: {fmt} (each "
              f"data point is one feature's value: the scrape interval, e.g. 10), got 0")),
            (f"logs:\n  format: {fmt}\nserve:\n  event_format: {fmt}\n",
             ("serve.event_format: expected 'json' with a logs model: it reads log lines in "
              "logs.format (OpenTelemetry log batches: logs.format: otlp_proto or otlp_json), "
              f"got '{fmt}'")),
            (f"serve:\n  event_format: {fmt}\n  assemble_seconds: 10\n  otlp_entity: ''\n",
             "serve.otlp_entity: expected a non-empty string"),
            (f"serve:\n  event_format: {fmt}\n  assemble_seconds: 10\n  otlp_entity: [a]\n",
             "serve.otlp_entity: expected a non-empty string"),
        )),
    ],
)
def test_bad_values_name_file_key_and_allowed(tmp_path, text, expected):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(p, env={})
    msg = str(info.value)
    assert msg.startswith(str(p))
    assert expected in msg
    assert "\n" not in msg


def test_largest_seed_leaves_room_for_every_retry():
    import numpy as np

    from anomaly_gan.train import attempt_settings

    top = config_from_dict({"training": {"seed": 4294967276, "max_attempts": 20}}).training
    last = attempt_settings(top, top.max_attempts - 1)
    np.random.RandomState(last.seed)  # what keras.utils.set_random_seed does first
    assert last.seed == 2**32 - 1
    with pytest.raises(ConfigError, match="training.seed: expected an integer >= 0 and "
                                          "<= 4294967276, got 4294967277"):
        config_from_dict({"training": {"seed": 4294967277}}, "x.yaml")


@pytest.mark.parametrize("key, client_key, largest", [
    ("fetch_max_wait_ms", "fetch_max_wait_ms", 29_999),  # < the consumer's request timeout
    ("producer_linger_ms", "linger_ms", 90_000),  # + request timeout <= delivery timeout
])
def test_a_kafka_wait_the_client_refuses_is_refused_by_validate_config(key, client_key, largest):
    """kafka-python refuses these only when serve makes its clients (exit 2 at start, with a
    broker up), and the chart's config check let them through: validate-config said ok."""
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.errors import KafkaConfigurationError

    client = KafkaConsumer if key == "fetch_max_wait_ms" else KafkaProducer

    def make(value: int) -> None:  # api_version given: no broker is asked
        client(bootstrap_servers=["127.0.0.1:1"], api_version=(2, 0),
               **{client_key: value}).close(**({"timeout": 0} if client is KafkaProducer else {}))

    make(largest)
    with pytest.raises(KafkaConfigurationError):
        make(largest + 1)
    assert getattr(config_from_dict({"serve": {"kafka": {key: largest}}}).serve.kafka,
                   key) == largest
    with pytest.raises(ConfigError, match=rf"^x\.yaml: serve\.kafka\.{key}: expected an integer "
                                          rf">= 0 and <= {largest}, got {largest + 1}$"):
        config_from_dict({"serve": {"kafka": {key: largest + 1}}}, "x.yaml")


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="line 2"):
        load_config(write(tmp_path, "a: 1\n b: [\n"), env={})
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml", env={})


def test_a_yaml_problem_in_two_halves_is_shown_whole(tmp_path):
    """PyYAML says 'expected a single document in the stream' as its context and 'but found
    another document' as its problem: the error showed the second half alone."""
    p = write(tmp_path, "training: {epochs: 3}\n---\nmodel: {latent_dim: 4}\n")
    with pytest.raises(ConfigError) as err:
        load_config(p, env={})
    assert str(err.value) == (f"{p}: line 2 not valid YAML: expected a single document in the "
                              f"stream, but found another document")
    # likewise 'second occurrence' alone, for an anchor given twice
    p = write(tmp_path, "a: &w 3\ntraining: {epochs: &w 4}\n")
    with pytest.raises(ConfigError) as err:
        load_config(p, env={})
    assert str(err.value) == (f"{p}: line 2 not valid YAML: found duplicate anchor; first "
                              f"occurrence on line 1, second occurrence here")


def test_env_overrides_are_parsed_and_validated(tmp_path):
    p = write(tmp_path, "training:\n  epochs: 3\n")
    cfg = load_config(p, env={"ANOMALY_GAN__TRAINING__EPOCHS": "7",
                              "ANOMALY_GAN__SERVE__KAFKA__BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
                              "ANOMALY_GAN__MODEL__HIDDEN": "[8, 16]",
                              "OTHER": "x"})
    assert cfg.training.epochs == 7
    assert cfg.serve.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert cfg.model.hidden == (8, 16)
    with pytest.raises(ConfigError, match=r"ANOMALY_GAN__TRAINING__EPOCHS.*training.epochs"):
        load_config(p, env={"ANOMALY_GAN__TRAINING__EPOCHS": "-1"})


@pytest.mark.parametrize("name, meant", [
    ("ANOMALY_GAN_TRAINING__EPOCHS", "ANOMALY_GAN__TRAINING__EPOCHS"),  # one underscore
    ("ANOMALY_GAN_TRAINING_EPOCHS", "ANOMALY_GAN__TRAINING__EPOCHS"),
    ("anomaly_gan__training__epochs", "ANOMALY_GAN__TRAINING__EPOCHS"),  # names are cased
    ("ANOMALY_GAN_SERVE_KAFKA_SASL_PASSWORD", "ANOMALY_GAN__SERVE__KAFKA__SASL_PASSWORD"),
    ("ANOMALY_GAN_SCORING_WEIGHTS_KNN", "ANOMALY_GAN__SCORING__WEIGHTS__KNN"),
    ("ANOMALY_GAN_TRAINING__NO_SUCH_KEY", "ANOMALY_GAN__TRAINING__<KEY>"),
    ("ANOMALY_GAN_CPU", CPUS_ENV),
])
def test_a_look_alike_of_an_override_is_refused_with_the_spelling_meant(name, meant):
    """Such a variable was ignored without a word: the user believed the override held."""
    with pytest.raises(ConfigError, match=rf"^environment {name}: would be ignored: not a "
                                          rf".*; did you mean {re.escape(meant)}\?$"):
        load_config(None, env={name: "5", "ANOMALY_GAN__TRAINING__EPOCHS": "7"})


@pytest.mark.parametrize("name, meant", [
    ("ANOMALY_GAN__TRAINNG__EPOCHS", "ANOMALY_GAN__TRAINING__EPOCHS"),
    ("ANOMALY_GAN__TRAINING_EPOCHS", "ANOMALY_GAN__TRAINING__EPOCHS"),
    ("ANOMALY_GAN__SCORING__WEIGHT__KNN", "ANOMALY_GAN__SCORING__WEIGHTS__KNN"),
    ("ANOMALY_GAN__SERVE__KAFKA__SASL_PASWORD", "ANOMALY_GAN__SERVE__KAFKA__SASL_PASSWORD"),
])
def test_an_override_of_an_unknown_key_names_the_spelling_meant(name, meant):
    dotted = name.removeprefix("ANOMALY_GAN__").lower().replace("__", ".")
    with pytest.raises(ConfigError, match=rf"^environment {name}: {dotted}: unknown key; "
                                          rf"did you mean {meant}\?$"):
        load_config(None, env={name: "5"})


def test_variables_of_the_prefix_that_are_no_overrides_are_left_alone():
    """The chart's CPUs, and what Kubernetes sets for each Service of the namespace
    (enableServiceLinks): a release named anomaly-gan, or anomaly-gan-serve."""
    links = {f"{svc}_{suffix}": "x" for svc in ("ANOMALY_GAN", "ANOMALY_GAN_SERVE")
             for suffix in ("SERVICE_HOST", "SERVICE_PORT", "SERVICE_PORT_HTTP_METRICS", "PORT",
                            "PORT_9108_TCP", "PORT_9108_TCP_PROTO", "PORT_9108_TCP_PORT",
                            "PORT_9108_TCP_ADDR")}
    # a section's name alone, or with words that name none of its keys: a wrapper's own
    own = {name: "/srv/x" for name in ("ANOMALY_GAN_MODEL_DIR", "ANOMALY_GAN_DATA",
                                       "ANOMALY_GAN_TRAINING_NO_SUCH_KEY")}
    env = {CPUS_ENV: "4", "ANOMALY_GAN_BUILD_ID": "x", **links, **own}
    assert load_config(None, env=env) == Config()


def test_one_weight_from_the_environment_keeps_the_others(tmp_path):
    default = ScoringConfig().weights
    env = {"ANOMALY_GAN__SCORING__WEIGHTS__KNN": "0"}
    cfg = load_config(write(tmp_path, "training:\n  epochs: 3\n"), env=env)
    assert cfg.scoring.weights == {**default, "knn": 0.0}
    # a map the file sets is the one changed
    cfg = load_config(write(tmp_path, "scoring:\n  weights: {latent: 1, knn: 2}\n"), env=env)
    assert cfg.scoring.weights == {"latent": 1.0, "knn": 0.0}
    # the whole map from the environment replaces it
    cfg = load_config(None, env={"ANOMALY_GAN__SCORING__WEIGHTS": "{latent: 2}"})
    assert cfg.scoring.weights == {"latent": 2.0}


@pytest.mark.parametrize("text, env, expected", [
    ("training: [1, 2]\n", {"ANOMALY_GAN__TRAINING__EPOCHS": "3"},
     "{file}: training: expected a mapping, got [1, 2]"),
    ("scoring:\n  weights: 7\n", {"ANOMALY_GAN__SCORING__WEIGHTS__KNN": "2"},
     "{file}: scoring.weights: expected a mapping, got 7"),
    ("serve: {kafka: on}\n", {"ANOMALY_GAN__SERVE__KAFKA__GROUP_ID": "g"},
     "{file}: serve.kafka: expected a mapping, got True"),
    ("", {"ANOMALY_GAN__TRAINING": "[1]", "ANOMALY_GAN__TRAINING__EPOCHS": "3"},
     "environment ANOMALY_GAN__TRAINING: training: expected a mapping, got [1]"),
])
def test_an_override_inside_a_section_the_file_got_wrong_does_not_hide_it(tmp_path, text, env,
                                                                          expected):
    """An override of a key inside a section (or map) that the file wrote as no mapping
    replaced the file's value with a fresh mapping, without a word: the file was refused
    without the variable and accepted with it (a pod's environment hid a broken ConfigMap,
    its weights map of 7 became the default weights)."""
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(p, env=env)
    assert str(err.value) == expected.format(file=p)
    # a section left empty (null) takes the override, as one left out does
    assert load_config(write(tmp_path, "training:\n"),
                       env={"ANOMALY_GAN__TRAINING__EPOCHS": "3"}).training.epochs == 3


def test_round_trip_through_plain_dict():
    cfg = config_from_dict({"model": {"kind": "fanogan", "hidden": [8]}, "data": {"window": 16}})
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_exponent_without_dot_is_a_number(tmp_path):
    # YAML 1.1 (PyYAML) reads 1e-05 as a string; a float key accepts it anyway.
    cfg = load_config(write(tmp_path, "training:\n  learning_rate: 1e-05\n"), env={})
    assert cfg.training.learning_rate == 1e-05
    with pytest.raises(ConfigError, match="training.learning_rate: expected a number"):
        load_config(write(tmp_path, "training:\n  learning_rate: fast\n"), env={})


SECRETS = ["hunter2 #1", "null", "yes", "12345", "[secret-pw-123", "~", "{a: b}", "'q'", " x "]


@pytest.mark.parametrize("secret", SECRETS)
def test_secrets_and_strings_from_the_environment_are_verbatim(tmp_path, secret):
    cfg = load_config(write(tmp_path, "serve:\n  kafka:\n    sasl_username: u\n"),
                      env={"ANOMALY_GAN__SERVE__KAFKA__SASL_PASSWORD": secret,
                           "ANOMALY_GAN__SERVE__KAFKA__GROUP_ID": secret,
                           "ANOMALY_GAN__SERVE__MODEL_PATH": secret})
    assert cfg.serve.kafka.sasl_password == secret
    assert cfg.serve.kafka.group_id == secret and cfg.serve.model_path == secret
    # An empty value means "not set"; a Literal key takes the string too.
    cfg = load_config(None, env={"ANOMALY_GAN__SERVE__KAFKA__SASL_PASSWORD": "",
                                 "ANOMALY_GAN__SERVE__LOG_FORMAT": "json"})
    assert cfg.serve.kafka.sasl_password is None and cfg.serve.log_format == "json"


def test_string_keys_of_the_optional_logs_section_from_the_environment_are_verbatim():
    """logs is optional (``LogsConfig | None``), and its keys were parsed as YAML: a regex
    starting with '[' was 'not valid YAML', an entity named null became None."""
    regex = r"[<](?P<ts>\d+)[>] (?P<entity>\w+) (?P<message>.*)"
    cfg = load_config(None, env={"ANOMALY_GAN__LOGS__FORMAT": "regex",
                                 "ANOMALY_GAN__LOGS__REGEX": regex,
                                 "ANOMALY_GAN__LOGS__ENTITY": "null"})
    assert cfg.logs is not None and (cfg.logs.regex, cfg.logs.entity) == (regex, "null")


@pytest.mark.parametrize("secret", ["12345", "yes", "[secret-pw-123", "{pw: secret-pw-123}",
                                    "secret-pw-123: x"])
def test_no_error_ever_shows_a_secret(tmp_path, secret):
    """A secret of the wrong YAML type in a file, and errors elsewhere with a secret set."""
    p = write(tmp_path, f"serve:\n  kafka:\n    sasl_password: {secret}\n")
    with pytest.raises(ConfigError) as info:
        load_config(p, env={})
    msg = str(info.value)
    if "not valid YAML" not in msg:
        assert "serve.kafka.sasl_password: expected a non-empty string (quote it in YAML)" in msg
        assert "value not shown: secret" in msg
    for token in (secret, "12345", "secret-pw-123", "True"):
        assert token not in msg
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "training: {epochs: 0}\n"),
                    env={"ANOMALY_GAN__SERVE__KAFKA__SASL_PASSWORD": secret})
    assert secret not in str(info.value) and "training.epochs" in str(info.value)


@pytest.mark.parametrize("tag, line", [("!!float", "line 3 "), ("!!bool", "line 3 "),
                                       ("!!timestamp", "line 3 "), ("!!int", "line 3 "),
                                       ("!!set", "")])
def test_a_secret_under_an_explicit_tag_it_does_not_fit_is_one_line_without_it(tmp_path, tag,
                                                                              line):
    """PyYAML's !!float, !!bool and !!timestamp constructors raise ValueError or KeyError
    holding the value: `sasl_password: !!float s3cret-pw` ended validate-config (and serve)
    in a traceback that printed the password."""
    p = write(tmp_path, f"serve:\n  kafka:\n    sasl_password: {tag} s3cret-pw\n")
    with pytest.raises(ConfigError) as info:
        load_config(p, env={})
    assert str(info.value).startswith(f"{p}: {line}not valid YAML: ")
    assert "value not shown" in str(info.value) and "s3cret" not in str(info.value)
    with pytest.raises(ConfigError) as info:  # a YAML-parsed environment value, the same
        load_config(None, env={"ANOMALY_GAN__TRAINING__EPOCHS": f"{tag} s3cret-pw"})
    assert "s3cret" not in str(info.value) and "ANOMALY_GAN__TRAINING__EPOCHS" in str(info.value)


def test_saved_configs_have_no_secrets():
    from anomaly_gan.config import without_secrets

    cfg = load_config(None, env={"ANOMALY_GAN__SERVE__KAFKA__SASL_PASSWORD": "pw",
                                 "ANOMALY_GAN__SERVE__KAFKA__SSL_PASSWORD": "key-pass"})
    assert cfg.serve.kafka.ssl_password == "key-pass"
    clean = without_secrets(cfg)
    assert clean.serve.kafka.sasl_password is None and clean.serve.kafka.ssl_password is None
    assert clean.replace(serve=cfg.serve) == cfg and "pw" not in str(config_to_dict(clean))
    assert "key-pass" not in str(config_to_dict(clean))


# A "billion laughs": 9**9 strings by reference in a 300-byte flow list.
BOMB = "[&a [lol,lol,lol,lol,lol,lol,lol,lol,lol], " + ", ".join(
    f"&{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")) + "]"


def test_yaml_bomb_is_rejected_at_once(tmp_path):
    """The error shows a bounded repr of the value instead of expanding it."""
    for env, path in (({}, write(tmp_path, f"training:\n  epochs: {BOMB}\n")),
                      ({"ANOMALY_GAN__TRAINING__EPOCHS": BOMB}, None)):
        with pytest.raises(ConfigError) as info:
            load_config(path, env=env)
        assert "training.epochs: expected an integer" in str(info.value)
        assert len(str(info.value)) < 400


def test_size_caps(tmp_path):
    big = write(tmp_path, "model:\n  hidden: [" + ", ".join(["8"] * 400_000) + "]\n")
    with pytest.raises(ConfigError, match="larger than the 1048576 bytes"):
        load_config(big, env={})
    with pytest.raises(ConfigError, match=r"model.hidden: expected at most 16 items, got '20000 items'"):
        load_config(write(tmp_path, "model:\n  hidden: [" + ", ".join(["8"] * 20_000) + "]\n"),
                    env={})
    with pytest.raises(ConfigError, match=r"model.hidden\[0\]: expected an integer >= 1 and <= 65536"):
        load_config(write(tmp_path, "model:\n  hidden: [1000000000]\n"), env={})
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, f"training:\n  epochs: {'9' * 4000}\n"), env={})
    assert "got an integer of about 400" in str(info.value)
    with pytest.raises(ConfigError, match="line 2 not valid YAML: integer of 5000 characters"):
        load_config(write(tmp_path, f"training:\n  epochs: {'9' * 5000}\n"), env={})
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, f"training:\n  learning_rate: {'9' * 400}\n"), env={})
    assert "learning_rate: expected a finite number" in str(info.value)


def test_a_regex_in_double_quotes_is_told_to_use_single_quotes(tmp_path):
    """A Loghub regex (HealthApp's, tried) written in double quotes got only 'found
    unknown escape character': YAML reads a backslash in double quotes as an escape."""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, 'logs:\n  format: regex\n  regex: "^(?P<ts>\\d+) '
                                    '(?P<message>.*)$"\n'), env={})
    assert str(info.value).endswith(
        "line 3 not valid YAML: found unknown escape character; a backslash starts an escape "
        "in a double-quoted YAML string: put a regex in single quotes ('^(?P<ts>\\d+) ...'), "
        "as configs/logs.yaml does"), str(info.value)
    cfg = load_config(write(tmp_path, "logs:\n  format: regex\n  regex: '^(?P<ts>\\d+) "
                                      "(?P<message>.*)$'\n  entity: a\n"), env={})
    assert cfg.logs.regex == r"^(?P<ts>\d+) (?P<message>.*)$"


def test_duplicate_keys_and_infinite_durations(tmp_path):
    with pytest.raises(ConfigError, match=r"line 3 not valid YAML: duplicate key 'epochs' \(first on line 2\)"):
        load_config(write(tmp_path, "training:\n  epochs: 3\n  epochs: 4\n"), env={})
    with pytest.raises(ConfigError, match="duplicate key 'training'"):
        load_config(write(tmp_path, "training: {}\ntraining: {}\n"), env={})
    for text in (".inf", ".nan", "-.inf"):
        with pytest.raises(ConfigError, match="serve.reload_interval_seconds: expected a finite"):
            load_config(write(tmp_path, f"serve:\n  reload_interval_seconds: {text}\n"), env={})
    with pytest.raises(ConfigError, match=r"reload_interval_seconds: expected a number >= 0.1 and <= 86400"):
        load_config(None, env={"ANOMALY_GAN__SERVE__RELOAD_INTERVAL_SECONDS": "1e300"})
    with pytest.raises(ConfigError, match="serve.alerts.cooldown_seconds: expected a finite number"):
        load_config(None, env={"ANOMALY_GAN__SERVE__ALERTS__COOLDOWN_SECONDS": ".inf"})


@pytest.mark.parametrize("entity, expected", [
    ("web\x1b[31m", r"logs.entity: 'entity' 'web\\x1b\[31m' holds U\+001B: expected no control"),
    ("x" * 600, r"logs.entity: 'entity' is 600 bytes > max_entity_bytes 512"),
])
def test_a_default_entity_that_no_line_could_carry_is_a_config_error(entity, expected):
    """logs.entity names the entity of lines without one; one with a control character or
    over the entity cap was accepted, and every such line was then refused at the first."""
    with pytest.raises(ConfigError, match=expected):
        config_from_dict({"logs": {"format": "json", "entity": entity}})


def test_event_fields_read_telegraf_from_a_file_and_the_environment(tmp_path):
    """A key or a dotted path each, as logs.json_fields; the environment sets one verbatim."""
    p = write(tmp_path, "serve:\n  event_fields:\n    entity: tags.host\n    ts: timestamp\n"
                        "    values: fields\n  unknown_features: ignore\n")
    serve = load_config(p, env={}).serve
    assert (serve.event_fields.entity, serve.event_fields.ts, serve.event_fields.values,
            serve.unknown_features) == ("tags.host", "timestamp", "fields", "ignore")
    serve = load_config(p, env={"ANOMALY_GAN__SERVE__EVENT_FIELDS__ENTITY": "device.id"}).serve
    assert serve.event_fields.entity == "device.id" and serve.event_fields.ts == "timestamp"
    assert load_config(None, env={}).serve.unknown_features == "reject"


def test_assemble_seconds_is_off_by_default_and_read_from_a_file_or_the_environment(tmp_path):
    assert load_config(None, env={}).serve.assemble_seconds == 0.0
    p = write(tmp_path, "serve:\n  assemble_seconds: 10\n")
    assert load_config(p, env={}).serve.assemble_seconds == 10.0
    env = {"ANOMALY_GAN__SERVE__ASSEMBLE_SECONDS": "0.5"}
    assert load_config(p, env=env).serve.assemble_seconds == 0.5
    for edge in ("0", "86400"):
        assert load_config(None, env={"ANOMALY_GAN__SERVE__ASSEMBLE_SECONDS": edge}) \
            .serve.assemble_seconds == float(edge)


@pytest.mark.parametrize("fmt", ["otlp_json", "otlp_proto"])
def test_event_format_is_json_by_default_and_otlp_reads_metric_batches(tmp_path, fmt):
    """serve.event_format: otlp_json or otlp_proto (with assemble_seconds) gives the parser
    of OTLP metric batches in that encoding, with the entity attribute and unknown-feature
    policy; json, the default, the parser of {entity, ts, values} records."""
    from anomaly_gan.stream.events import EventParser, parser_from_config
    from anomaly_gan.stream.otlp import MetricBatchParser

    serve = load_config(None, env={}).serve
    assert (serve.event_format, serve.otlp_entity) == ("json", "host.name")
    assert type(parser_from_config(("a",), serve)) is EventParser
    p = write(tmp_path, f"serve:\n  event_format: {fmt}\n  assemble_seconds: 10\n"
                        "  unknown_features: ignore\n")
    serve = load_config(p, env={"ANOMALY_GAN__SERVE__OTLP_ENTITY": "service.name"}).serve
    parser = parser_from_config(("a",), serve)
    assert type(parser) is MetricBatchParser
    assert (parser.format, parser.otlp_entity, parser.ignore_unknown,
            parser.max_entity_bytes) == (fmt, "service.name", True, serve.windows.max_entity_bytes)


def test_the_entity_may_join_several_fields_from_a_file_or_the_environment(tmp_path):
    """One entity per host and CPU (Telegraf's percpu): a YAML list in the file, a YAML
    list in the environment; any other environment value is one field's name, verbatim."""
    p = write(tmp_path, "serve:\n  event_fields:\n    entity: [tags.host, tags.cpu]\n")
    assert load_config(p, env={}).serve.event_fields.entity == ("tags.host", "tags.cpu")
    key = "ANOMALY_GAN__SERVE__EVENT_FIELDS__ENTITY"
    assert load_config(None, env={key: "[tags.host, tags.disk]"}).serve.event_fields.entity \
        == ("tags.host", "tags.disk")
    for text in ("device.id", "7", "yes"):
        assert load_config(None, env={key: text}).serve.event_fields.entity == text


def test_joined_entities_round_trip_through_a_bundles_config():
    """A bundle stores its config as YAML (lists) and reads it back (tuples)."""
    cfg = config_from_dict({
        "serve": {"event_fields": {"entity": ["tags.host", "tags.cpu"]}},
        "logs": {"format": "json", "json_fields": {
            "entity": ["kubernetes.namespace_name", "kubernetes.pod_name"]}}})
    again = config_from_dict(yaml.safe_load(yaml.safe_dump(config_to_dict(cfg))))
    assert again == cfg
    assert again.logs.json_fields.entity == ("kubernetes.namespace_name", "kubernetes.pod_name")


def test_given_names_the_keys_the_file_and_the_environment_set(tmp_path):
    """A default and the same value given are told apart (train chooses the logs buckets
    only where the config leaves them out); a bundle's config.yaml gives every key."""
    p = write(tmp_path, "training:\n  epochs: 2\nlogs:\n  format: json\n")
    cfg = load_config(p, env={"ANOMALY_GAN__LOGS__BUCKET_SECONDS": "60"})
    assert cfg.given == {"training", "training.epochs", "logs", "logs.format",
                         "logs.bucket_seconds"}
    assert cfg.logs.bucket_seconds == LogsConfig().bucket_seconds  # given at its default
    assert cfg == load_config(p, env={})  # not part of the settings' equality
    assert "given" not in config_to_dict(cfg)
    everything = config_from_dict(config_to_dict(cfg))
    assert {"logs.bucket_lines", "serve.kafka.input_topic"} <= everything.given
    with pytest.raises(ConfigError, match=r"<config>: given: unknown key"):
        config_from_dict({"given": ["logs"]})


def test_empty_bootstrap_entries_are_left_out_as_the_clients_leave_them_out():
    """A trailing comma (as a template loop writes one) worked before the address check came
    (stream/kafka_io.py drops empty entries): refusing it stopped a working deployment at its
    upgrade."""
    from anomaly_gan.stream.kafka_io import client_kwargs

    cfg = config_from_dict({"serve": {"kafka": {"bootstrap_servers": "k1:9092,, k2:9093,"}}})
    assert client_kwargs(cfg.serve.kafka)["bootstrap_servers"] == ["k1:9092", "k2:9093"]


LONG = "x" * 300


@pytest.mark.parametrize("text, key", [
    (f"serve:\n  kafka:\n    input_topic: '{LONG} y'\n", "serve.kafka.input_topic"),
    (f"serve:\n  kafka:\n    bootstrap_servers: '{LONG}:99999'\n", "serve.kafka.bootstrap_servers"),
    (f"serve:\n  kafka:\n    bootstrap_servers: '{LONG}/x:9092'\n",
     "serve.kafka.bootstrap_servers"),
    (f"data:\n  counters: [{LONG}, {LONG}]\n", "data.counters[1]"),
    (f"logs:\n  timestamp_format: '%H:%M {LONG}'\n", "logs.timestamp_format"),
])
def test_an_error_shows_at_most_about_80_characters_of_a_value(tmp_path, text, key):
    """README ("Limits") and this module say an error shows at most about 80 characters of a
    value; these lines quoted it whole with repr(): a 300-character topic name, bootstrap
    address, counter name or strptime format came back in full."""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    line = str(info.value)
    assert f"{key}:" in line and "x" * 100 not in line, line


@pytest.mark.parametrize("text, key", [
    (f"data:\n  counters: [{LONG}, y]\nlogs: {{}}\n", "data.counters"),
    ("logs:\n  format: regex\n  entity: a\n  regex: '" + "".join(f"(?P<g{i}>x)" for i in range(200))
     + "'\n", "logs.regex"),
])
def test_an_error_about_a_list_shows_at_most_about_80_characters_of_it(tmp_path, text, key):
    """tests/test_config_fuzz.py seed 8784: data.counters with a logs section printed the
    whole list (5,145 characters for a 5,000-character name); a regex without a message
    group printed every group name."""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    line = str(info.value)
    assert f"{key}:" in line and "x" * 100 not in line and len(line) < 400, line


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\ufffe"])
def test_a_control_character_in_the_file_is_one_line_naming_its_line(tmp_path, char):
    """PyYAML's ReaderError has no problem mark: the error was its two-line str() with a
    character position ('...not allowed\\n  in "<unicode string>", position 25') and no
    line (tests/test_config_fuzz.py, text:control)."""
    path = write(tmp_path, f"model:\n  kind: ganomaly\ntraining:\n  epochs: 3{char}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == (
        f"{path}: line 4 not valid YAML: unacceptable character #x{ord(char):04x}: "
        f"control characters are not allowed")
    with pytest.raises(ConfigError, match=r"^environment ANOMALY_GAN__MODEL__HIDDEN: line 1 not "
                                          r"valid YAML: unacceptable character #x0007: [^\n]+$"):
        load_config(None, env={"ANOMALY_GAN__MODEL__HIDDEN": "[8,\x07 16]"})


@pytest.mark.parametrize("regex, expected", [
    ("(?P<message>a{4294967296})", "the repetition number is too large"),
    ("(?P<message>" + "(" * 3000 + ")" * 3000 + ")", "nested too deeply"),
])
def test_a_regex_python_cannot_compile_is_one_line(tmp_path, regex, expected):
    """re.compile raises OverflowError for a huge repeat count (test_config_fuzz.py seed 7248)
    and RecursionError for deep nesting, not re.error: both leaked as tracebacks."""
    path = write(tmp_path, f"logs:\n  format: regex\n  entity: a\n  regex: '{regex}'\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == f"{path}: logs.regex: not a valid regular expression: {expected}"


@pytest.mark.parametrize("port, problem", [("9" * 5000, "has 5000 digits"),
                                           ("0" * 4999 + "1", "has 5000 digits"),
                                           ("0" * 95 + "99999", "is not in 1-65535")])
def test_a_port_of_thousands_of_digits_is_one_line(tmp_path, port, problem):
    """int() refuses a string of more than 4,300 digits with ValueError: a bootstrap address
    with such a port was a traceback (tests/test_config_fuzz.py seeds 4159, 6758), where
    99999 is 'not in 1-65535'. Leading zeros stay allowed, as the client reads them."""
    path = write(tmp_path, f"serve:\n  kafka:\n    bootstrap_servers: 'k:{port}'\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    line = str(info.value)
    assert line.startswith(f"{path}: serve.kafka.bootstrap_servers: expected host:port")
    assert line.endswith(f"the port {problem}") and len(line) < 400, line
    assert load_config(write(tmp_path, "serve: {kafka: {bootstrap_servers: 'k:009092'}}"),
                       env={}).serve.kafka.bootstrap_servers == "k:009092"


@pytest.mark.parametrize("key, shown", [("''", "''"), ("' '", "' '"), ("'a\\tb'", "'a\\tb'"),
                                        ("'\\u2028'", "'\\u2028'")])
def test_an_unknown_key_that_is_blank_or_holds_a_control_character_is_quoted(tmp_path, key,
                                                                             shown):
    """An empty or blank key was named bare: 'c.yaml:  : unknown key', no key to see
    (tests/test_config_fuzz.py seeds 127, 2540); a tab or line separator in one printed as is."""
    path = write(tmp_path, f'training:\n  "{key[1:-1]}": 1\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value).startswith(f"{path}: training.{shown}: unknown key;"), str(info.value)
    assert "\n" not in str(info.value) and "\u2028" not in str(info.value)


POT_RISK_REFUSED = ("threshold.pot_risk: expected < 1 - threshold.pot_initial_quantile ({room}) "
                    "with threshold.method pot, got {risk} (the tail is fitted over the scores "
                    "above the initial quantile, and a risk not below their share gives that "
                    "quantile's threshold)")


def test_a_pot_risk_the_tail_cannot_give_is_refused_from_a_file_or_the_environment(tmp_path,
                                                                                   capsys):
    """threshold.pot_risk at or above 1 - pot_initial_quantile was accepted and ignored: the
    fit never sets its threshold below the initial quantile, so pot_risk 0.05 over the 0.98
    quantile flagged 2% of normal windows, not 5%, without a word."""
    from anomaly_gan.cli import main
    from anomaly_gan.config import load_logs_defaults

    p = write(tmp_path, "threshold: {method: pot, pot_risk: 0.05}\n")
    with pytest.raises(ConfigError) as info:
        load_config(p, env={})
    assert str(info.value) == f"{p}: " + POT_RISK_REFUSED.format(room="0.02", risk="0.05")
    assert main(["validate-config", str(p)]) == 2
    assert capsys.readouterr().err == (f"anomaly-gan: error: {p}: "
                                       + POT_RISK_REFUSED.format(room="0.02", risk="0.05") + "\n")
    # the default risk (0.001) over a quantile the environment raises to 0.999: equal, refused
    q = write(tmp_path, "threshold: {method: pot}\n")
    env = {"ANOMALY_GAN__THRESHOLD__POT_INITIAL_QUANTILE": "0.999"}
    with pytest.raises(ConfigError) as info:
        load_config(q, env=env)
    assert str(info.value) == (f"{q} (+ ANOMALY_GAN__THRESHOLD__POT_INITIAL_QUANTILE): "
                               + POT_RISK_REFUSED.format(room="0.001", risk="0.001"))
    with pytest.raises(ConfigError, match=re.escape(POT_RISK_REFUSED.format(room="0.02",
                                                                            risk="0.3"))):
        load_logs_defaults({"ANOMALY_GAN__THRESHOLD__METHOD": "pot",
                            "ANOMALY_GAN__THRESHOLD__POT_RISK": "0.3"})
    # a risk below the share is fitted; with method quantile the pot keys are not used
    ok = load_config(write(tmp_path, "threshold: {method: pot, pot_initial_quantile: 0.5, "
                                     "pot_risk: 0.49}\n"), env={})
    assert ok.threshold.pot_risk == 0.49
    assert load_config(write(tmp_path, "threshold: {pot_risk: 0.05}\n"),
                       env={}).threshold.pot_risk == 0.05


def test_a_bundles_config_asking_for_such_a_pot_risk_still_loads():
    """A bundle trained before such a pot_risk was refused keeps its threshold (fitted at the
    initial quantile): its config.yaml, validated again when the bundle loads, is taken as
    written, and so is a config the environment overrides elsewhere than the threshold."""
    from anomaly_gan.config import override_config

    raw = {"threshold": {"method": "pot", "pot_risk": 0.05}}
    trained = config_from_dict(raw, "m/config.yaml", trained=True)
    assert trained.threshold.pot_risk == 0.05
    with pytest.raises(ConfigError, match=re.escape(POT_RISK_REFUSED.format(room="0.02",
                                                                            risk="0.05"))):
        config_from_dict(raw, "c.yaml")
    cfg = override_config(trained, "m/config.yaml",
                          {"ANOMALY_GAN__SERVE__ALERTS__CONSECUTIVE": "1"})
    assert (cfg.serve.alerts.consecutive, cfg.threshold) == (1, trained.threshold)
    with pytest.raises(ConfigError) as info:  # what the environment asks is checked
        override_config(trained, "m/config.yaml", {"ANOMALY_GAN__THRESHOLD__POT_RISK": "0.04"})
    assert str(info.value) == ("m/config.yaml (+ ANOMALY_GAN__THRESHOLD__POT_RISK): "
                               + POT_RISK_REFUSED.format(room="0.02", risk="0.04"))
