"""What the demos refuse before any work: bad options and an output path they cannot write
(one line, exit 2, not a traceback or a minute of training first)."""

import pytest

from anomaly_gan.demo import logs as logs_demo
from anomaly_gan.demo import stream as stream_demo
from anomaly_gan.demo.broker import BrokerError
from anomaly_gan.demo.common import demo_output
from anomaly_gan.demo.logs import LogsDemoOptions
from anomaly_gan.demo.stream import DemoOptions
from anomaly_gan.errors import ConfigError, OutputError


@pytest.mark.parametrize(("options", "flag"), [
    ({"speed": -1.0}, "--speed"),
    ({"speed": float("nan")}, "--speed"),
    ({"speed": float("inf")}, "--speed"),
    ({"entities": 0}, "--entities and --steps"),
    ({"steps": -5}, "--entities and --steps"),
    ({"entities": 100_000}, "--entities x --steps"),  # 18 GB of plant before training
    # too few normal rows for the split: was "series 0: ... or a smaller data.window" after
    # the plant was made, naming a key the demo has no flag for
    ({"entities": 1, "steps": 131}, "--steps"),
    ({"steps": 1}, "--steps"),
    ({"http_port": 70_000}, "--http-port"),
    ({"epochs": 0}, "--epochs"),
    ({"seed": -1}, "--seed"),  # numpy's traceback, exit 1
])
def test_bad_sensor_demo_options_name_the_flag(options, flag):
    with pytest.raises(ConfigError, match=f"demo: {flag} must"):
        DemoOptions(**options)


@pytest.mark.parametrize("options", [{"speed": float("nan")}, {"speed": -60.0},
                                     {"http_port": -1}, {"epochs": -2}, {"seed": -1}])
def test_bad_logs_demo_options_are_refused(options):
    with pytest.raises(ConfigError, match="demo: --"):
        LogsDemoOptions(**options)


def test_the_defaults_and_full_speed_are_accepted():
    DemoOptions()
    DemoOptions(speed=0, entities=1000, http_port=0, epochs=1)
    DemoOptions(entities=1, steps=132)  # the least that trains (run: 66 windows scored)
    LogsDemoOptions(speed=0)


def test_cli_says_one_line_and_exits_2_before_tensorflow_loads():
    """The CLI imported TensorFlow before it built the demo's options: a typo took 5.5 s."""
    from tests.support.cli import run_cli

    probe = run_cli(["demo", "--speed", "nan"], ["demo", "--logs", "--http-port", "70000"])
    assert not probe["tensorflow"]
    [(rc, err), (rc_logs, err_logs)] = probe["results"]
    assert rc == rc_logs == 2
    assert err.splitlines() == [("anomaly-gan: error: demo: --speed must be a finite number "
                                 ">= 0 (0 = as fast as possible), got nan")]
    assert err_logs.splitlines() == [("anomaly-gan: error: demo: --http-port must be 0..65535 "
                                      "(0 = any free port), got 70000")]


def test_a_negative_seed_is_one_line_and_exit_2_before_tensorflow_loads():
    """`offline-demo --seed -1` and `demo --seed -1` ended in numpy's traceback ('expected
    non-negative integer', exit 1), the offline demo's after TensorFlow had loaded."""
    from tests.support.cli import run_cli

    probe = run_cli(["offline-demo", "--seed", "-1"], ["demo", "--seed", "-1"])
    assert not probe["tensorflow"]
    [(rc, err), (rc_demo, err_demo)] = probe["results"]
    assert rc == rc_demo == 2
    assert err.splitlines() == [("anomaly-gan: error: offline-demo: --seed must be an "
                                 "integer >= 0, got -1")]
    assert err_demo.splitlines() == [("anomaly-gan: error: demo: --seed must be an integer "
                                      ">= 0, got -1")]


def _never(*_args, **_kwargs):
    raise AssertionError("trained although the output path cannot be written")


def test_sensor_demo_checks_its_output_path_before_training(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setattr(stream_demo, "_train", _never)
    with pytest.raises(OutputError, match="a-file"):
        stream_demo.run_demo(DemoOptions(out=str(tmp_path / "a-file" / "demo")))


def test_logs_demo_checks_its_output_path_before_writing_or_training(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setattr("anomaly_gan.logs.offline.train_log_detector", _never)
    with pytest.raises(OutputError, match="a-file"):
        logs_demo.run_logs_demo(LogsDemoOptions(out=str(tmp_path / "a-file" / "demo-logs")))


def test_demos_look_for_the_broker_binary_before_training(tmp_path, monkeypatch):
    """It was looked for when the broker started, after a minute of training."""
    monkeypatch.setenv("CALF_TANSU_BIN", str(tmp_path / "no-such-tansu"))
    monkeypatch.setattr(stream_demo, "_train", _never)
    monkeypatch.setattr("anomaly_gan.logs.offline.train_log_detector", _never)
    with pytest.raises(BrokerError, match="no embedded broker binary"):
        stream_demo.run_demo(DemoOptions(out=str(tmp_path / "demo")))
    with pytest.raises(BrokerError, match="no embedded broker binary"):
        logs_demo.run_logs_demo(LogsDemoOptions(out=str(tmp_path / "demo-logs")))


@pytest.mark.parametrize("run", ["sensor", "logs"])
def test_a_second_demo_on_the_same_output_directory_is_refused(tmp_path, monkeypatch, run):
    """Two demos on one --out: the second's bundle replaced the one the first one's scorer
    watches, which hot-reloaded it mid-stream (or a save failed on the other's rename)."""
    out = tmp_path / "demo"
    monkeypatch.setattr(stream_demo, "_train", _never)
    monkeypatch.setattr("anomaly_gan.logs.offline.train_log_detector", _never)
    refused = pytest.raises(OutputError, match=f"^{out}: another anomaly-gan demo is running "
                                               "with this output directory")
    with demo_output(out), refused:  # the first demo, running
        if run == "sensor":
            stream_demo.run_demo(DemoOptions(out=str(out)))
        else:
            logs_demo.run_logs_demo(LogsDemoOptions(out=str(out)))
    with demo_output(out):  # ... and free again once it has ended
        pass


def test_offline_demo_checks_its_output_path_before_training(tmp_path, monkeypatch):
    """It trained for a minute, then save_bundle refused the path."""
    from anomaly_gan.demo.offline import run_offline_demo

    (tmp_path / "a-file").write_text("")
    monkeypatch.setattr("anomaly_gan.train.train_detector", _never)
    with pytest.raises(OutputError, match="a-file"):
        run_offline_demo(str(tmp_path / "a-file" / "offline-demo"))


def test_an_output_directory_the_demo_made_goes_again_when_it_stops_before_saving(
        tmp_path, monkeypatch):
    """Held from the start (one demo per --out), it stayed behind empty after a Ctrl-C in
    training; one that holds a bundle, or existed before, stays."""
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(stream_demo, "_train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        stream_demo.run_demo(DemoOptions(out=str(tmp_path / "new" / "demo")))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KeyboardInterrupt):
        stream_demo.run_demo(DemoOptions(out=str(tmp_path)))
    assert tmp_path.is_dir()


@pytest.mark.parametrize("argv", [["offline-demo"], ["demo"], ["demo", "--logs"]])
def test_the_demos_say_they_leave_out_the_environment_overrides(argv, monkeypatch, capsys):
    """The demos run their own configs: `ANOMALY_GAN__TRAINING__EPOCHS=1 anomaly-gan
    offline-demo` trained its 15 epochs without a word, where `--help` said any config key
    can be overridden and every other command applies (or refuses) the variable."""
    from anomaly_gan import cli, runtime
    from anomaly_gan.demo import offline

    ran = []
    for module, runner in [(offline, "run_offline_demo"), (stream_demo, "run_demo"),
                           (logs_demo, "run_logs_demo")]:
        monkeypatch.setattr(module, runner, lambda *a, **k: ran.append(a) or 0)
    monkeypatch.setattr(cli, "_tensorflow", lambda: None)
    monkeypatch.setattr(runtime, "import_tensorflow_quietly", lambda: None)
    monkeypatch.setenv("ANOMALY_GAN__TRAINING__EPOCHS", "1")
    monkeypatch.setenv("ANOMALY_GAN__SERVE__KAFKA__BOOTSTRAP_SERVERS", "kafka:9092")
    assert cli.main(argv) == 0 and len(ran) == 1
    command = " ".join(argv)
    assert capsys.readouterr().err.splitlines() == [
        (f"note: environment ANOMALY_GAN__SERVE__KAFKA__BOOTSTRAP_SERVERS, "
         f"ANOMALY_GAN__TRAINING__EPOCHS: not used: {command} runs its own config (its "
         f"options: anomaly-gan {argv[0]} --help)")]


def test_logs_demo_that_cannot_write_its_training_logs_leaves_no_part_of_them(
        tmp_path, monkeypatch):
    """A disk that filled while the logs demo wrote train.jsonl (its training input, 2 MB):
    the half-written file stayed, and the output directory it was in. Here the file-size
    limit (RLIMIT_FSIZE, EFBIG past 64 KiB) stands in for the full disk."""
    import resource
    import signal

    monkeypatch.setattr("anomaly_gan.logs.offline.train_log_detector", _never)
    out = tmp_path / "new" / "demo-logs"
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    xfsz = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, limits[1]))
    try:
        with pytest.raises(OutputError, match=f"^{out / 'train.jsonl'}: cannot write"):
            logs_demo.run_logs_demo(LogsDemoOptions(out=str(out)))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, xfsz)
    assert list(tmp_path.iterdir()) == []


def test_logs_demo_stopped_before_it_saved_takes_its_training_logs_back(tmp_path,
                                                                        monkeypatch):
    """Ctrl-C while the logs demo trained left out/demo-logs holding the train.jsonl it had
    written (2.2 MB) where the sensor demo leaves nothing; a train.jsonl that was there
    before the run stays."""
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("anomaly_gan.logs.offline.train_log_detector", interrupted)
    with pytest.raises(KeyboardInterrupt):
        logs_demo.run_logs_demo(LogsDemoOptions(out=str(tmp_path / "new" / "demo-logs")))
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "train.jsonl").write_text("")
    with pytest.raises(KeyboardInterrupt):
        logs_demo.run_logs_demo(LogsDemoOptions(out=str(tmp_path)))
    assert (tmp_path / "train.jsonl").is_file()
