from pathlib import Path

import pytest

from anomaly_gan.config import Config, config_from_dict, config_to_dict, load_config
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
        ("threshold:\n  quantile: 1.0\n", "threshold.quantile: expected a number >= 0.5 and < 1"),
        ("scoring:\n  weights: {speed: 1}\n", "scoring.weights.speed: expected a component"),
        ("model:\n  hidden: []\n", "model.hidden: expected a non-empty"),
        ("data:\n  window: 8\n  stride: 9\n", "data.stride: expected <= data.window (8), got 9"),
        ("training:\n  allow_unhealthy: 1\n", "training.allow_unhealthy: expected true or false"),
        ("serve:\n  kafka:\n    security_protocol: SASL_SSL\n", "serve.kafka.sasl_mechanism"),
        ("- a\n- b\n", "<top level>: expected a mapping"),
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


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="line 2"):
        load_config(write(tmp_path, "a: 1\n b: [\n"), env={})
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml", env={})


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


def test_round_trip_through_plain_dict():
    cfg = config_from_dict({"model": {"kind": "fanogan", "hidden": [8]}, "data": {"window": 16}})
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_exponent_without_dot_is_a_number(tmp_path):
    # YAML 1.1 (PyYAML) reads 1e-05 as a string; a float key accepts it anyway.
    cfg = load_config(write(tmp_path, "training:\n  learning_rate: 1e-05\n"), env={})
    assert cfg.training.learning_rate == 1e-05
    with pytest.raises(ConfigError, match="training.learning_rate: expected a number"):
        load_config(write(tmp_path, "training:\n  learning_rate: fast\n"), env={})
