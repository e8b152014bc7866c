"""What the command line says before any model runs: help, version, one-line errors.

These run without TensorFlow: a bad path or output must fail before it is imported.
"""

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from anomaly_gan import __version__
from anomaly_gan.cli import build_parser, main
from tests.support.cli import run_cli


def test_version_and_epilog(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"anomaly-gan {__version__}"
    text = build_parser().format_help()
    for needed in ("exit codes:", "130  interrupted", "ANOMALY_GAN__<SECTION>__<KEY>",
                   "docs/streaming.md"):
        assert needed in text


def _subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


def test_every_option_has_help():
    for name, sub in _subparsers().items():
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"{name} {action.option_strings or action.dest}: no help"


EXIT_CODES = {
    "validate-config": (0, 2), "train": (0, 2, 3, 130), "score": (0, 2, 130),
    "evaluate": (0, 2, 130), "plot": (0, 2, 130), "offline-demo": (0, 2, 3, 130),
    "serve": (0, 1, 2, 130), "demo": (0, 1, 2, 130), "retrain": (0, 2, 3, 4, 130),
    "models": (0, 2, 130),
}


@pytest.mark.parametrize("command, codes", EXIT_CODES.items())
def test_commands_document_their_exit_codes(command, codes):
    text = " ".join(_subparsers()[command].format_help().split())
    for code in codes:
        assert re.search(rf"(Exit codes: |; |exit |, ){code} ", text), \
            f"{command} --help: no exit {code}"


def test_every_command_is_checked_for_its_exit_codes():
    """README says `anomaly-gan COMMAND --help` gives each command's exit codes; train's and
    offline-demo's help gave none (they were not in the list above), and serve's left out the
    130 of a signal while it starts."""
    assert set(EXIT_CODES) == set(_subparsers())


@pytest.mark.parametrize("command", ["train", "score", "evaluate", "plot"])
def test_commands_say_what_goes_to_stderr(command):
    """score, evaluate and plot --help had no description: nothing said that the summary
    line goes to stderr, or which exit codes apply."""
    assert "stderr" in " ".join((_subparsers()[command].description or "").split())


def _parsers(parser: argparse.ArgumentParser):
    """``parser`` and every subcommand parser below it (``models list``, ...)."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_readme_command_line_names_every_command_and_option():
    """README's "Command line" block is the synopsis users read: each subcommand and each of
    its options is there, and it names no option that does not exist."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    known = set()
    for name, sub in _subparsers().items():
        assert re.search(rf"anomaly-gan +{name} ", block), f"README: no `anomaly-gan {name}`"
        for parser in _parsers(sub):
            for action in parser._actions:
                for option in action.option_strings:
                    known.add(option)
                    if option not in ("-h", "--help"):
                        assert re.search(rf"(?<![\w-]){option}(?![\w-])", block), (
                            f"README's Command line block lacks `{name} {option}`")
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", block))
    assert named - known - {"--version"} == set(), "README names options that do not exist"


BAD_INPUT = [
    (["score", "--model", "{tmp}/nope", "--data", "{tmp}/d.csv", "--out", "{tmp}/s.csv"],
     "{tmp}/nope: model path does not exist"),
    # serve checks its bundle before the import too (it used to import TensorFlow first)
    (["serve", "--model", "{tmp}/nope"], "{tmp}/nope: model path does not exist"),
    (["serve", "--model", "{tmp}"], "not a model bundle (no manifest.json)"),
    (["evaluate", "--model", "{tmp}", "--data", "{tmp}/d.csv", "--labels", "{tmp}/l.csv"],
     "not a model bundle (no manifest.json)"),
    (["plot", "--model", "{tmp}/nope", "--data", "{tmp}/d.csv", "--out", "{tmp}/fifo"],
     "{tmp}/fifo: is a FIFO; expected a regular file path"),
    (["score", "--model", "{tmp}/nope", "--data", "{tmp}/d.csv", "--out", "{tmp}/fifo"],
     "{tmp}/fifo: is a FIFO"),
    (["score", "--model", "{tmp}/nope", "--data", "{tmp}/d.csv", "--out", "{tmp}/link"],
     "{tmp}/link: is a symbolic link"),
    (["score", "--model", "{tmp}/nope", "--data", "{tmp}/d.csv", "--out", "/dev/null"],
     "/dev/null: is a device"),
    (["train", "--data", "{tmp}/d.csv", "--out", "{tmp}/d.csv/model"],
     "cannot create the bundle directory: {tmp}/d.csv is not a directory"),
    (["train", "--data", "{tmp}/d.csv", "--out", "{tmp}/photos", "--force"],
     "{tmp}/photos: is a directory but not a model bundle"),
    (["train", "--data", "{tmp}/d.csv", "--out", "{tmp}/m"],
     # says how to fill them: train has no --nan-policy (it said "set data.nan_policy")
     ("{tmp}/d.csv: line 3, column 'a': missing or non-finite value (nan); 2 such cells in all "
      "(set data.nan_policy: ffill or zero in the --config file, or "
      "ANOMALY_GAN__DATA__NAN_POLICY=ffill, to fill them)")),
    (["validate-config", "{tmp}/d.csv"], "{tmp}/d.csv: <top level>: expected a mapping"),
    (["serve", "--config", "{tmp}/nope.yaml"], "{tmp}/nope.yaml: config file not found"),
    (["retrain", "--store", "{tmp}/store", "--data", "{tmp}/d.csv", "{tmp}/nope.csv"],
     "{tmp}/nope.csv: file not found"),
    (["retrain", "--store", "{tmp}/store", "--data", "{tmp}/d.csv", "--labels", "{tmp}/photos"],
     "{tmp}/photos: cannot read: is a directory"),
]


def test_bad_input_is_one_line_before_tensorflow(tmp_path):
    """Exit 2 and exactly one line on stderr, and TensorFlow was never imported."""
    (tmp_path / "d.csv").write_text("a,b\n1,2\n,\n3,4\n")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(tmp_path / "d.csv")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "keep.jpg").write_bytes(b"x")
    out = run_cli(*[[a.format(tmp=tmp_path) for a in args] for args, _ in BAD_INPUT])
    assert not out["tensorflow"]
    for (args, expected), (rc, err) in zip(BAD_INPUT, out["results"]):
        assert rc == 2, (args, err)
        assert err.endswith("\n") and err.count("\n") == 1, (args, err)
        assert err.startswith("anomaly-gan: error: ") and expected.format(tmp=tmp_path) in err
    assert (tmp_path / "photos" / "keep.jpg").exists() and (tmp_path / "link").is_symlink()
    assert (tmp_path / "fifo").is_fifo() and not (tmp_path / "m").exists()
    assert not (tmp_path / "store").exists()


OUTPUT_CLASHES = [
    # Overwriting the input it reads, however it is named.
    (["score", "--model", "{tmp}/store", "--data", "{tmp}/d.csv", "--out", "{tmp}/sub/../d.csv"],
     ("{tmp}/sub/../d.csv: is the same file as the --data input {tmp}/d.csv; write the scores "
      "CSV to another path")),
    (["score", "--model", "{tmp}/store", "--data", "{tmp}/link.csv", "--out", "{tmp}/d.csv"],
     "{tmp}/d.csv: is the same file as the --data input {tmp}/link.csv"),
    (["score", "--model", "{tmp}/store", "--data", "{tmp}/d.csv", "--out", "{tmp}/hard.csv"],
     "{tmp}/hard.csv: is the same file as the --data input {tmp}/d.csv"),
    (["plot", "--model", "{tmp}/store", "--data", "{tmp}/d.csv", "--labels", "{tmp}/l.png",
      "--out", "{tmp}/l.png"], "{tmp}/l.png: is the same file as the --labels input {tmp}/l.png"),
    # Writing into the model: the bundle's checksums would no longer match.
    (["score", "--model", "{tmp}/store", "--data", "{tmp}/d.csv", "--out", "{tmp}/store/current"],
     ("{tmp}/store/current: is inside the --model directory {tmp}/store, which must not "
      "change; write the scores CSV outside it")),
    (["score", "--model", "{tmp}/store/v1", "--data", "{tmp}/d.csv",
      "--out", "{tmp}/store/v1/calibration.json"],
     "{tmp}/store/v1/calibration.json: is inside the --model directory {tmp}/store/v1"),
    (["evaluate", "--model", "{tmp}/linked", "--data", "{tmp}/d.csv", "--labels", "{tmp}/l.png",
      "--plot", "{tmp}/elsewhere/fig.png"],
     "{tmp}/elsewhere/fig.png: is inside the --model directory {tmp}/linked/v2"),
    # A figure's extension picks its format: none, or one matplotlib cannot write, is refused.
    (["plot", "--model", "{tmp}/nope", "--data", "{tmp}/d.csv", "--out", "{tmp}/p4"],
     ("{tmp}/p4: no file extension to choose the figure format; end the name with .png, .pdf "
      "or .svg (supported: ")),
    (["evaluate", "--model", "{tmp}/nope", "--data", "{tmp}/d.csv", "--labels", "{tmp}/l.png",
      "--plot", "{tmp}/f.txt"], "{tmp}/f.txt: figure format 'txt' is not supported"),
    # A path that names a directory, or none: until 2026-12-07 `--out res/` (res not there)
    # wrote a file named res, and `--out ''` (an unset variable) was scored to the end and
    # then refused as '.: is a directory; ... for the output file'.
    (["score", "--model", "{tmp}/nope", "--data", "{tmp}/d.csv", "--out", "{tmp}/res/"],
     ("{tmp}/res/: names a directory, not a file; expected a regular file path for the "
      "scores CSV")),
    (["score", "--model", "{tmp}/nope", "--data", "{tmp}/d.csv", "--out", "{tmp}/s.csv",
      "--alerts", "{tmp}/res/."],
     "{tmp}/res/.: names a directory, not a file; expected a regular file path for the alerts file"),
    (["score", "--model", "{tmp}/nope", "--data", "{tmp}/d.csv", "--out", ""],
     "'': an empty path; expected a regular file path for the scores CSV"),
]


def test_outputs_never_replace_inputs_or_the_model(tmp_path):
    """Checked before the bundle is read and the data scored, with one line and exit 2: an
    output that is an input, lies inside the model, or is a figure without a known format.
    Until 2026-12-04 `score --out` replaced its own --data file or a bundle's files, and
    `plot --out p4` wrote p4.png and reported p4, each after the whole scoring run."""
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "d.csv")
    os.link(tmp_path / "d.csv", tmp_path / "hard.csv")
    (tmp_path / "sub").mkdir()
    (tmp_path / "l.png").write_text("0\n")
    # Stores as far as resolving `current` goes; "linked" names a version kept elsewhere.
    for version in (tmp_path / "store" / "v1", tmp_path / "elsewhere"):
        version.mkdir(parents=True)
        (version / "manifest.json").write_text("{}")
    (tmp_path / "store" / "current").write_text("v1\n")
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "v2").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "linked" / "current").write_text("v2\n")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    out = run_cli(*[[a.format(tmp=tmp_path) for a in args] for args, _ in OUTPUT_CLASHES])
    assert not out["tensorflow"]
    for (args, expected), (rc, err) in zip(OUTPUT_CLASHES, out["results"]):
        assert rc == 2 and err.count("\n") == 1, (args, err)
        assert err.startswith(f"anomaly-gan: error: {expected.format(tmp=tmp_path)}"), (args, err)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert not (tmp_path / "p4").exists() and not (tmp_path / "p4.png").exists()
    assert not (tmp_path / "res").exists()


def test_an_output_inside_the_model_is_refused_without_probing_the_model(tmp_path, monkeypatch,
                                                                        capsys):
    """`score --out BUNDLE/x.csv` was refused as "inside the --model directory ..., which must
    not change" only after the writability probe had made and removed a hidden directory in
    the bundle (its mtime changed); on a read-only bundle volume the line would have been the
    probe's "read-only file system" instead."""
    import tempfile

    bundle = tmp_path / "v1"
    bundle.mkdir()
    (bundle / "manifest.json").write_text("{}")
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    probed: list[str] = []
    mkdtemp = tempfile.mkdtemp

    def spy(*args, **kwargs):
        probed.append(str(kwargs.get("dir")))
        return mkdtemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkdtemp", spy)
    for out in (bundle / "x.csv", bundle / "sub" / "x.csv"):
        assert main(["score", "--model", str(bundle), "--data", str(tmp_path / "d.csv"),
                     "--out", str(out)]) == 2
        assert "is inside the --model directory" in capsys.readouterr().err
    assert probed == []


def test_serve_names_the_key_and_file_of_a_bad_model_path(tmp_path):
    """A serve.model_path from the config that is no bundle or store: the line names the
    config file (or variable) and the key, as a bad key does; it said only 'models: model
    path does not exist', with nothing pointing at local.yaml. --model names its path alone."""
    cfg = tmp_path / "local.yaml"
    cfg.write_text(f"serve:\n  model_path: {tmp_path / 'nope'}\n")
    (tmp_path / "photos").mkdir()
    out = run_cli(["serve", "--config", str(cfg)], ["serve", "--model", str(tmp_path / "nope")])
    env_out = run_cli(["serve", "--config", str(cfg)],
                      env={"ANOMALY_GAN__SERVE__MODEL_PATH": str(tmp_path / "photos")})
    (rc, err), (rc_flag, err_flag) = out["results"]
    (rc_env, err_env), = env_out["results"]
    assert rc == rc_flag == rc_env == 2
    assert err == (f"anomaly-gan: error: {cfg}: serve.model_path: {tmp_path / 'nope'}: "
                   "model path does not exist\n")
    assert err_env.startswith("anomaly-gan: error: environment ANOMALY_GAN__SERVE__MODEL_PATH: "
                              f"serve.model_path: {tmp_path / 'photos'}: not a model bundle")
    assert err_env.count("\n") == 1
    assert err_flag == f"anomaly-gan: error: {tmp_path / 'nope'}: model path does not exist\n"


def test_serve_checks_the_kafka_password_and_tls_files_before_the_model(tmp_path):
    """The security settings were first read when connecting: a missing password file or a
    CA file that is no PEM failed after the model and TensorFlow had loaded (6 s for a tiny
    model on a quiet machine), after the "starting" line had logged the password as set.
    Here the model path is no bundle too: the Kafka line comes first, without TensorFlow."""
    cfg = tmp_path / "tls.yaml"
    cfg.write_text(f"serve:\n  model_path: {tmp_path / 'nope'}\n  kafka:\n"
                   f"    security_protocol: SASL_SSL\n    sasl_mechanism: PLAIN\n"
                   f"    sasl_username: svc\n    sasl_password_file: {tmp_path / 'pw'}\n"
                   f"    ssl_cafile: {tmp_path / 'ca.pem'}\n")
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    probe = run_cli(["serve", "--config", str(cfg)])
    (rc, err), = probe["results"]
    assert rc == 2 and not probe["tensorflow"]
    assert err.startswith(f"anomaly-gan: error: serve.kafka.ssl_cafile: {tmp_path / 'ca.pem'}: "
                          "expected PEM CA certificates: ") and err.count("\n") == 1
    (tmp_path / "ca.pem").write_text((Path(__file__).parent / "support" / "tls" /
                                      "client.crt").read_text())
    (rc, err), = run_cli(["serve", "--config", str(cfg)])["results"]
    assert (rc, err) == (2, (f"anomaly-gan: error: serve.kafka.sasl_password_file: "
                             f"{tmp_path / 'pw'}: cannot read it: No such file or directory\n"))


def test_serve_checks_its_http_port_before_the_model_loads(tmp_path, tiny_bundle):
    """A port in use was found when /metrics started, after the model and TensorFlow had
    loaded: it is now one line before TensorFlow. A model path that is no bundle is told
    first, as it would be on any host: the port's answer depends on what else runs there
    (a scorer on 9108 beside the test suite gave a bad model path's error the port's)."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        configs = []
        for name, model in (("port.yaml", tiny_bundle), ("nope.yaml", tmp_path / "nope")):
            configs.append(tmp_path / name)
            # allow_unhealthy: the tiny model trains two epochs and is judged unhealthy
            configs[-1].write_text(f"serve:\n  model_path: {model}\n  http: {{port: {port}}}\n"
                                   f"  allow_unhealthy: true\n")
        probe = run_cli(*(["serve", "--config", str(cfg)] for cfg in configs))
    (rc, err), (rc_model, err_model) = probe["results"]
    assert rc == rc_model == 2 and not probe["tensorflow"] and err.count("\n") == 1
    assert err.startswith(f"anomaly-gan: error: serve.http: cannot listen on 127.0.0.1:{port}: ")
    assert err_model.endswith(f"serve.model_path: {tmp_path / 'nope'}: model path does not exist\n")


def test_serve_refuses_an_unhealthy_model_unless_serve_allow_unhealthy(tmp_path, tiny_bundle):
    """A bundle whose training health is unhealthy (kept with train --allow-unhealthy) is one
    line before TensorFlow, as a hot reload refuses it; serve.allow_unhealthy lets it through
    (here to the port check that follows it: the port is taken, so nothing starts)."""
    import hashlib
    import socket

    meta = json.loads((tiny_bundle / "metadata.json").read_text())
    meta["health"] = {"status": "unhealthy", "issues": ["mode collapse", "overfitting"]}
    (tiny_bundle / "metadata.json").write_text(json.dumps(meta))
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    manifest["files"]["metadata.json"] = hashlib.sha256(
        (tiny_bundle / "metadata.json").read_bytes()).hexdigest()
    (tiny_bundle / "manifest.json").write_text(json.dumps(manifest))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = tmp_path / "c.yaml"
        cfg.write_text(f"serve:\n  model_path: {tiny_bundle}\n  http: {{port: {port}}}\n")
        refused = run_cli(["serve", "--config", str(cfg)])
        allowed = run_cli(["serve", "--config", str(cfg)],
                          env={"ANOMALY_GAN__SERVE__ALLOW_UNHEALTHY": "true"})
    (rc, err), = refused["results"]
    assert rc == 2 and not refused["tensorflow"] and err.count("\n") == 1, err
    assert err.startswith(f"anomaly-gan: error: {tiny_bundle}: training health is unhealthy "
                          "(mode collapse; overfitting); serve.allow_unhealthy is false"), err
    (rc, err), = allowed["results"]
    assert rc == 2 and err.startswith(f"anomaly-gan: error: serve.http: cannot listen on "
                                      f"127.0.0.1:{port}: "), err


def test_bad_model_is_one_line_from_the_real_command(tmp_path):
    r = subprocess.run([sys.executable, "-m", "anomaly_gan", "score", "--model",
                        str(tmp_path / "nope"), "--data", "d.csv", "--out", str(tmp_path / "s")],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"anomaly-gan: error: {tmp_path / 'nope'}: model path does not exist\n"


def test_secrets_never_reach_an_error_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("serve:\n  kafka:\n    sasl_password: 12345\n")
    (rc, err), = run_cli(["validate-config", str(cfg)])["results"]
    assert rc == 2 and "12345" not in err and "value not shown: secret" in err
    cfg.write_text("training: {epochs: 0}\n")
    (rc, err), = run_cli(["validate-config", str(cfg)], env={
        "ANOMALY_GAN__SERVE__KAFKA__SASL_PASSWORD": "[secret-pw-123"})["results"]
    assert rc == 2 and "secret-pw-123" not in err and "training.epochs" in err


def test_a_look_alike_of_an_override_stops_a_command_before_tensorflow(tmp_path):
    """ANOMALY_GAN_TRAINING__EPOCHS=5 (one underscore) was ignored: train ran its default
    epochs."""
    (tmp_path / "d.csv").write_text("a,b\n" + "1,2\n" * 70)
    (tmp_path / "c.yaml").write_text("training: {epochs: 3}\n")
    out = run_cli(["validate-config", str(tmp_path / "c.yaml")],
                  ["train", "--data", str(tmp_path / "d.csv"), "--out", str(tmp_path / "m")],
                  env={"ANOMALY_GAN_TRAINING__EPOCHS": "5"})
    line = ("anomaly-gan: error: environment ANOMALY_GAN_TRAINING__EPOCHS: would be ignored: "
            "not a config override (ANOMALY_GAN__<SECTION>__<KEY>, upper case); did you mean "
            "ANOMALY_GAN__TRAINING__EPOCHS?\n")
    assert out["results"] == [[2, line], [2, line]] and not out["tensorflow"]
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_serve_last_words_are_json_under_json_logs(tmp_path):
    """serve with log_format json and a bad model: every stderr line is a JSON object."""
    r = subprocess.run([sys.executable, "-m", "anomaly_gan", "serve", "--model",
                        str(tmp_path / "nope")], capture_output=True, text=True, check=False,
                       env={**os.environ, "ANOMALY_GAN__SERVE__LOG_FORMAT": "json"})
    assert r.returncode == 2
    lines = [json.loads(line) for line in r.stderr.splitlines()]  # no banner, no plain text
    assert lines[-1]["level"] == "ERROR" and lines[-1]["exit_code"] == 2
    assert "model path does not exist" in lines[-1]["msg"]


def _train_stopped_at_training(monkeypatch, *data, out):
    """``train --data DATA... --out OUT`` in this process, stopped (exit 130) where training
    would begin; returns the exit code and what training was given (``names``, ``series``)."""
    from anomaly_gan import cli, train

    seen = {}

    def fake_train(cfg, series, names, **_kwargs):
        seen["names"], seen["series"] = names, series
        raise KeyboardInterrupt  # stop before anything is fitted or written

    monkeypatch.setattr(cli, "_tensorflow", lambda: None)
    monkeypatch.setattr(train, "train_detector", fake_train)
    return main(["train", "--data", *map(str, data), "--out", str(out)]), seen


@pytest.mark.parametrize(("second", "other", "refused"), [
    ("mem,cpu\n" + "20,2\n" * 70, "cpu,disk\n" + "3,30\n" * 70,
     "c.csv: columns cpu, disk differ from {a}: cpu, mem"),
    ("2,20\n" * 70, "3,30,300\n" * 70, "c.csv: 3 columns and no header, where {a} has 2: cpu, mem"),
], ids=["header-in-another-order", "headerless"])
def test_train_matches_several_files_columns_by_name_or_count(tmp_path, monkeypatch, second,
                                                              other, refused):
    """A second --data file with the same columns in another order was refused ('columns
    ... differ from ...'), where score and retrain --data match columns by name; and (until
    2026-12-07) a headerless one after a file with a header, which the README says is
    matched by its column count, as score matches one ('columns f0, f1 differ from a.csv:
    cpu, mem'). A file with other columns is still refused, naming both."""
    (tmp_path / "a.csv").write_text("cpu,mem\n" + "1,10\n" * 70)
    (tmp_path / "b.csv").write_text(second)
    (tmp_path / "c.csv").write_text(other)
    code, seen = _train_stopped_at_training(monkeypatch, tmp_path / "a.csv",
                                            tmp_path / "b.csv", out=tmp_path / "m")
    assert code == 130 and seen["names"] == ("cpu", "mem")
    assert [s[0].tolist() for s in seen["series"]] == [[1.0, 10.0], [2.0, 20.0]]
    assert not (tmp_path / "m").exists()
    probe = run_cli(["train", "--data", str(tmp_path / "a.csv"), str(tmp_path / "c.csv"),
                     "--out", str(tmp_path / "m")])
    [[rc, err]] = probe["results"]
    assert rc == 2 and not probe["tensorflow"] and not (tmp_path / "m").exists()
    assert err.strip().endswith(refused.format(a=tmp_path / "a.csv"))


def test_train_force_refuses_a_bundle_holding_its_data(tmp_path):
    """``train --force --out models/v1 --data models/v1/train.csv`` (a copy of its data
    kept beside a bundle) trained, then replaced the bundle and deleted the data file it
    had read: refused in one line before TensorFlow loads, the file and the bundle kept."""
    bundle = tmp_path / "v1"
    bundle.mkdir()
    (bundle / "manifest.json").write_text("{}")
    data = bundle / "sub" / "train.csv"
    data.parent.mkdir()
    data.write_text("cpu,mem\n" + "1,10\n2,20\n" * 40)
    (tmp_path / "link").symlink_to(bundle)
    out = run_cli(["train", "--data", str(data), "--out", str(bundle), "--force"],
                  ["train", "--data", str(tmp_path / "link" / "sub" / "train.csv"),
                   "--out", str(bundle), "--force"])
    assert not out["tensorflow"]
    for given, (rc, err) in zip((data, tmp_path / "link" / "sub" / "train.csv"),
                                out["results"], strict=True):
        assert rc == 2 and err.count("\n") == 1, err
        assert err.strip().endswith(f"{bundle}: holds the --data file {given}, which --force "
                                    f"would delete with the bundle; copy it out first or "
                                    f"choose another --out")
    assert data.is_file() and sorted(p.name for p in bundle.iterdir()) == ["manifest.json",
                                                                           "sub"]


def test_train_says_no_fill_for_a_column_it_refuses(tmp_path):
    """Under data.nan_policy ffill, a column with no value in any row is refused; the
    refusal came after a note that ffill had filled its cells and the model would learn
    them: now the error line alone, before TensorFlow."""
    (tmp_path / "a.csv").write_text("cpu,gone\n" + "1,\n2,\n" * 40)
    out = run_cli(["train", "--data", str(tmp_path / "a.csv"), "--out", str(tmp_path / "m")],
                  env={"ANOMALY_GAN__DATA__NAN_POLICY": "ffill"})
    [[rc, err]] = out["results"]
    assert rc == 2 and not out["tensorflow"] and not (tmp_path / "m").exists()
    assert err == (f"anomaly-gan: error: {tmp_path / 'a.csv'}: column 'gone': no finite value "
                   f"in any row; expected the column to hold data\n")


def test_train_notes_a_counter_too_large_for_its_increases(tmp_path, monkeypatch, capsys):
    """A counter of data.counters past 2**53 (a ns or byte total near 1e18) is read as a
    float64, whose steps there are 128: increases of 5 to 7 per row all read 0, silently.
    Training goes on (serve reads it so too) with a note naming the column and the step."""
    from anomaly_gan import cli, train

    rows = "".join(f"{i},{10**18 + 5 * i + i % 3}\n" for i in range(80))
    (tmp_path / "a.csv").write_text("cpu,bytes_total\n" + rows)
    (tmp_path / "b.csv").write_text("cpu,bytes_total\n" + "1,5\n2,9\n" * 40)
    seen = {}

    def fake_train(cfg, series, names, **_kwargs):
        seen["series"] = series
        raise KeyboardInterrupt  # stop before anything is fitted or written

    monkeypatch.setattr(cli, "_tensorflow", lambda: None)
    monkeypatch.setattr(train, "train_detector", fake_train)
    monkeypatch.setenv("ANOMALY_GAN__DATA__COUNTERS", "[bytes_total]")
    code = main(["train", "--data", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"),
                 "--out", str(tmp_path / "m")])
    assert code == 130 and set(seen["series"][0][:, 1]) <= {0.0, 128.0}
    notes = [line for line in capsys.readouterr().err.splitlines() if "2**53" in line]
    assert notes == [(f"note: {tmp_path / 'a.csv'}: column 'bytes_total' of data.counters "
                      f"is past 2**53 from line 2 (up to 1e+18), where a float64 holds only "
                      f"multiples of 128: its increases are read to that step (smaller ones "
                      f"as 0), here and in serve")]


def test_score_and_evaluate_note_a_counter_too_large_for_its_increases(tmp_path,
                                                                        tiny_detector, capsys):
    """A counters model scoring a file whose counter is past 2**53 reads its increases of 5
    to 7 as 0, now and then 128 (a float64's step there), as serve does: a jump of 128 the
    model may flag. train notes it; score and evaluate said nothing. They give train's note."""
    import copy
    import dataclasses

    import numpy as np

    from anomaly_gan.artifacts import save_bundle
    from tests.support_models import normal_series

    det = copy.copy(tiny_detector)
    det.config = det.config.replace(data=dataclasses.replace(det.config.data,
                                                             counters=("flow",)))
    model = save_bundle(det, tmp_path / "m")
    x = normal_series(60)
    x[:, 2] = 10**18 + 5 * np.arange(60) + np.arange(60) % 3
    rows = "".join(f"{t:.6f},{r:.6f},{int(f)}\n" for t, r, f in x)
    (tmp_path / "a.csv").write_text("temp,rpm,flow\n" + rows)
    (tmp_path / "labels.csv").write_text("0\n" * 60)
    note = (f"note: {tmp_path / 'a.csv'}: column 'flow' of data.counters is past 2**53 from "
            f"line 2 (up to 1e+18), where a float64 holds only multiples of 128: its "
            f"increases are read to that step (smaller ones as 0), here and in serve")
    for argv in (["score", "--out", str(tmp_path / "s.csv")],
                 ["evaluate", "--labels", str(tmp_path / "labels.csv")]):
        assert main([*argv, "--model", str(model), "--data", str(tmp_path / "a.csv")]) == 0
        assert [line for line in capsys.readouterr().err.splitlines()
                if "2**53" in line] == [note], argv


def test_a_data_file_given_twice_is_refused_before_training(tmp_path):
    """``--data a.csv a.csv`` (or a.csv and a link to it, as a shell glob beside a name may
    give) would count the file's rows twice in training and in the threshold's held-out
    windows: train and retrain --data refuse it in one line, before TensorFlow loads."""
    data = tmp_path / "a.csv"
    data.write_text("cpu,mem\n" + "1,10\n" * 70)
    (tmp_path / "link.csv").symlink_to(data)
    for args in (["train", "--data", str(data), str(tmp_path / ".." / tmp_path.name / "a.csv"),
                  "--out", str(tmp_path / "m")],
                 ["train", "--data", str(data), str(tmp_path / "link.csv"), "--out",
                  str(tmp_path / "m")],
                 ["retrain", "--store", str(tmp_path / "store"), "--data", str(data),
                  str(tmp_path / "link.csv")]):
        probe = run_cli(args)
        [[rc, err]] = probe["results"]
        assert rc == 2 and not probe["tensorflow"], err
        second = args[3] if args[0] == "train" else args[5]
        assert err.strip().endswith(f"--data: {second} is {data} given twice; give each file "
                                    "once"), err
    assert not (tmp_path / "m").exists() and not (tmp_path / "store").exists()


def test_an_unknown_counter_names_the_config_key_it_came_from(tmp_path):
    """A typo in data.counters named the data file's columns but not the config file (or
    environment variable) the name came from: train and retrain now name it, and the
    feature it is closest to, in one line (exit 2, before TensorFlow loads)."""
    data = tmp_path / "train.csv"
    data.write_text("cpu,requests_total\n" + "".join(f"1,{i}\n" for i in range(70)))
    config = tmp_path / "x.yaml"
    config.write_text("data: {window: 8, counters: [reqests_total]}\n")
    rest = (f"data.counters: 'reqests_total' is not a feature (did you mean "
            f"'requests_total'?); expected one of the columns of {data}: cpu, requests_total\n")
    probe = run_cli(["train", "--config", str(config), "--data", str(data),
                     "--out", str(tmp_path / "m")],
                    ["retrain", "--config", str(config), "--data", str(data),
                     "--store", str(tmp_path / "store")])
    assert not probe["tensorflow"]
    for rc, err in probe["results"]:
        assert (rc, err.splitlines()[-1] + "\n") == (2, f"anomaly-gan: error: {config}: {rest}")
        assert "Traceback" not in err
    probe = run_cli(["train", "--data", str(data), "--out", str(tmp_path / "m")],
                    env={"ANOMALY_GAN__DATA__COUNTERS": "[reqests_total]"})
    [[rc, err]] = probe["results"]
    env_line = f"anomaly-gan: error: environment ANOMALY_GAN__DATA__COUNTERS: {rest}"
    assert (rc, err) == (2, env_line)
    assert not (tmp_path / "m").exists() and not (tmp_path / "store").exists()


SERVE_SIGNALLED_AT_START = """
import os, signal, sys
from anomaly_gan import artifacts, runtime
from anomaly_gan.cli import main

imported = []

def import_tensorflow_quietly():  # the signal lands while TensorFlow is imported
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    imported.append(True)

artifacts.inspect_bundle = lambda path: None
runtime.import_tensorflow_quietly = import_tensorflow_quietly
rc = main(["serve", "--model", "m"])
print(rc, imported == [True])
"""


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_serve_stopped_while_starting_exits_130_in_one_line(signame):
    """Before serve's own handlers (drain, commit, exit 0) are installed, SIGTERM ended the
    process silently with 143, and a signal inside TensorFlow's import could crash the
    interpreter (139). Now the import ends, then the start-up stops: exit 130, one line."""
    # any free port: the default 9108 may be taken on the host (a scorer, another test)
    r = subprocess.run([sys.executable, "-c", SERVE_SIGNALLED_AT_START, signame],
                       capture_output=True, text=True, check=False,
                       env={**os.environ, "ANOMALY_GAN__SERVE__HTTP__PORT": "0"})
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert r.stdout.split() == ["130", "True"]
    assert r.stderr.strip().splitlines() == ["anomaly-gan: interrupted"]


SERVE_HUNG_UP_AT_START = """
import os, signal
from anomaly_gan import artifacts, runtime
from anomaly_gan.cli import main
from anomaly_gan.stream import service

artifacts.inspect_bundle = lambda path: None
# the SIGHUP lands while TensorFlow is imported, before serve() installs its handler
runtime.import_tensorflow_quietly = lambda: os.kill(os.getpid(), signal.SIGHUP)
service.serve = lambda cfg, bundle=None: print("served") or 0
print(main(["serve", "--model", "m"]))
"""


def test_a_sighup_while_serve_starts_does_not_end_it():
    """SIGHUP asks a running serve to check its model path; while it started (config,
    bundle, TensorFlow: seconds) Python's default ended the process silently with 129,
    though the start-up was about to read that path anyway. It now goes on."""
    r = subprocess.run([sys.executable, "-c", SERVE_HUNG_UP_AT_START],
                       capture_output=True, text=True, check=False,
                       env={**os.environ, "ANOMALY_GAN__SERVE__HTTP__PORT": "0"})
    assert (r.returncode, r.stdout.split(), r.stderr) == (0, ["served", "0"], "")


def _timed_csv(path, x):
    stamps = [f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z" for i in range(len(x))]
    path.write_text("timestamp,temp,rpm,flow\n" + "".join(
        f"{s},{a:.6f},{b:.6f},{c:.6f}\n" for s, (a, b, c) in zip(stamps, x)))
    return path


def test_score_evaluate_and_plot_take_the_environment_over_the_bundles_config(
        tmp_path, tiny_detector, monkeypatch, capsys):
    """Without --config, score, evaluate and plot took the bundle's config as it was:
    ANOMALY_GAN__SERVE__ALERTS__CONSECUTIVE=1 still alerted after 3 windows (the summary
    said "consecutive 3"), =0 was not refused, and a look-alike (one underscore) was
    ignored, all exit 0, where serve and --config honour, refuse and refuse them. The
    environment now overrides the bundle's config as it overrides a --config file."""
    from anomaly_gan.artifacts import save_bundle
    from tests.support_models import normal_series

    model = str(save_bundle(tiny_detector, tmp_path / "m"))
    x = normal_series(120, seed=3)
    x[60:70, 1] += 40 * x[:50, 1].std()  # an incident on rpm
    data = _timed_csv(tmp_path / "pump-7.csv", x)
    lines = data.read_text().splitlines(keepends=True)
    lines[41], lines[42] = lines[42], lines[41]  # one second out of order
    data.write_text("".join(lines))
    (tmp_path / "labels.csv").write_text("0\n" * 120)
    score = ["score", "--model", model, "--data", str(data), "--out", str(tmp_path / "s.csv"),
             "--alerts", str(tmp_path / "a.jsonl")]
    evaluate = ["evaluate", "--model", model, "--data", str(data), "--labels",
                str(tmp_path / "labels.csv"), "--json"]
    plot = ["plot", "--model", model, "--data", str(data), "--out", str(tmp_path / "p.png")]

    monkeypatch.setenv("ANOMALY_GAN__SERVE__ALERTS__CONSECUTIVE", "1")
    assert main(score) == 0
    err = capsys.readouterr().err
    assert "(serve.alerts: consecutive 1, " in err, err
    # serve's windows take the swapped row back within the tolerance: evaluate scores it
    monkeypatch.delenv("ANOMALY_GAN__SERVE__ALERTS__CONSECUTIVE")
    assert main(evaluate) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 119  # the late row left out
    monkeypatch.setenv("ANOMALY_GAN__SERVE__WINDOWS__REORDER_TOLERANCE_SECONDS", "2")
    assert main(evaluate) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 120

    # refused in one line before TensorFlow, as with --config
    monkeypatch.delenv("ANOMALY_GAN__SERVE__WINDOWS__REORDER_TOLERANCE_SECONDS")
    bad = run_cli(score, env={"ANOMALY_GAN__SERVE__ALERTS__CONSECUTIVE": "0"})
    assert bad["results"] == [[2, (
        f"anomaly-gan: error: {model}/config.yaml (+ ANOMALY_GAN__SERVE__ALERTS__CONSECUTIVE): "
        "serve.alerts.consecutive: expected an integer >= 1 and <= 1000, got 0\n")]]
    assert not bad["tensorflow"]
    line = ("anomaly-gan: error: environment ANOMALY_GAN_SERVE__ALERTS__CONSECUTIVE: would be "
            "ignored: not a config override (ANOMALY_GAN__<SECTION>__<KEY>, upper case); did "
            "you mean ANOMALY_GAN__SERVE__ALERTS__CONSECUTIVE?\n")
    alike = run_cli(score, evaluate, plot, env={"ANOMALY_GAN_SERVE__ALERTS__CONSECUTIVE": "1"})
    assert alike["results"] == [[2, line]] * 3 and not alike["tensorflow"]
    assert not (tmp_path / "p.png").exists()


def test_a_bundles_section_set_from_the_environment_is_named_as_left_out(
        tmp_path, tiny_detector, monkeypatch, capsys):
    """The model scores as trained: ANOMALY_GAN__DATA__WINDOW=4 leaves its window of 16,
    and a note says so, as score --config says of a file's data: section (whose note named
    only the file's sections, not those the environment set over it)."""
    from anomaly_gan.artifacts import save_bundle
    from tests.support_models import normal_series

    model = str(save_bundle(tiny_detector, tmp_path / "m"))
    data = _timed_csv(tmp_path / "pump-7.csv", normal_series(60, seed=3))
    score = ["score", "--model", model, "--data", str(data), "--out"]
    assert main([*score, str(tmp_path / "plain.csv")]) == 0
    capsys.readouterr()
    monkeypatch.setenv("ANOMALY_GAN__DATA__WINDOW", "4")
    monkeypatch.setenv("ANOMALY_GAN__TRAINING__EPOCHS", "3")  # not a scoring key: no word
    assert main([*score, str(tmp_path / "s.csv")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("note: environment ANOMALY_GAN__DATA__WINDOW: only serve: keys are used; "
                      "data: differs from the model's and is left out (the model scores as "
                      "trained)")
    assert (tmp_path / "s.csv").read_text() == (tmp_path / "plain.csv").read_text()
    cfg = tmp_path / "serve.yaml"
    cfg.write_text("serve: {alerts: {consecutive: 1}}\n")
    assert main([*score, str(tmp_path / "s.csv"), "--config", str(cfg)]) == 0
    assert capsys.readouterr().err.splitlines()[0] == err[0]
    cfg.write_text("data: {window: 8}\n")  # the file's section: the file's note
    assert main([*score, str(tmp_path / "s.csv"), "--config", str(cfg)]) == 0
    assert capsys.readouterr().err.splitlines()[0] == (
        f"note: --config {cfg}: only its serve: section is used; its data: differs from the "
        f"model's and is left out (the model scores as trained)")


def test_score_writes_a_small_threshold_with_its_significant_digits(tiny_detector, tmp_path,
                                                                    capsys):
    """A threshold below 5e-4 was written 'above threshold 0.000' in score's summary line,
    as if every window scoring over zero were flagged."""
    import csv
    import dataclasses

    from anomaly_gan.artifacts import save_bundle
    from anomaly_gan.scoring import Threshold
    from tests.support_models import FEATURES, normal_series

    small = dataclasses.replace(tiny_detector, calibration=dataclasses.replace(
        tiny_detector.calibration, threshold=Threshold(3.1234e-4, "quantile", {})))
    bundle = save_bundle(small, tmp_path / "bundle")
    data = tmp_path / "d.csv"
    with open(data, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(FEATURES)
        w.writerows(normal_series(60, seed=3).tolist())
    assert main(["score", "--model", str(bundle), "--data", str(data),
                 "--out", str(tmp_path / "s.csv")]) == 0
    summary = [line for line in capsys.readouterr().err.splitlines()
               if line.startswith("scored ")]
    assert len(summary) == 1 and " above threshold 0.0003123 -> " in summary[0], summary


@pytest.mark.slow
def test_training_under_a_keras_backend_it_cannot_train_on_is_one_line(tmp_path):
    """KERAS_BACKEND=torch (or numpy, which ships with Keras and scores a bundle) trained
    nothing and printed a Python traceback ending in an ImportError, exit 1, where every
    other refusal is one line and exit 2."""
    (tmp_path / "d.csv").write_text("a,b\n" + "1,2\n" * 70)
    out = run_cli(["train", "--data", str(tmp_path / "d.csv"), "--out", str(tmp_path / "m")],
                  env={"KERAS_BACKEND": "numpy"})
    (rc, err), = out["results"]
    assert rc == 2
    assert err == ("anomaly-gan: error: KERAS_BACKEND='numpy' is not supported for training; "
                   "anomaly-gan trains on tensorflow or jax (set KERAS_BACKEND to one of them)\n")
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
@pytest.mark.parametrize("backend, why", [
    ("bogus", "Unable to import backend : bogus"),
    pytest.param("torch", "No module named 'torch'", marks=pytest.mark.skipif(
        importlib.util.find_spec("torch") is not None, reason="PyTorch is installed")),
])
def test_a_keras_backend_keras_cannot_load_is_one_line(tmp_path, backend, why):
    """A misspelt KERAS_BACKEND, or torch without PyTorch, failed inside `import keras` with
    a ValueError's or ImportError's traceback (exit 1) for train and score alike."""
    (tmp_path / "d.csv").write_text("a,b\n" + "1,2\n" * 70)
    out = run_cli(["train", "--data", str(tmp_path / "d.csv"), "--out", str(tmp_path / "m")],
                  env={"KERAS_BACKEND": backend})
    (rc, err), = out["results"]
    assert rc == 2
    assert err == (f"anomaly-gan: error: KERAS_BACKEND={backend!r}: Keras cannot load it "
                   f"({why}); anomaly-gan runs on tensorflow or jax (set KERAS_BACKEND to one "
                   f"of them)\n")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("config", [None, "configs/logs.yaml"])
def test_train_refuses_a_pipe_it_would_read_twice(tmp_path, capsys, config):
    """``train --data <(cat normal.csv)`` with no config peeked at the pipe's first lines to
    tell a log file from a CSV, then read the pipe again from where the peek had stopped: a
    3,000-row headerless CSV trained on its last 430 rows, a 6,000-line log on its last
    3,768 (a cut line first), both silently (``logs.format: auto`` peeks too)."""
    read, write = os.pipe()
    os.write(write, b"1.0,2.0\n" * 200)
    os.close(write)
    try:
        args = ["train", "--data", f"/dev/fd/{read}", "--out", str(tmp_path / "m")]
        assert main(args + (["--config", config] if config else [])) == 2
    finally:
        os.close(read)
    err = capsys.readouterr().err
    assert err.startswith(f"anomaly-gan: error: /dev/fd/{read}: a pipe, which train reads "
                          f"twice"), err
    assert not (tmp_path / "m").exists()
