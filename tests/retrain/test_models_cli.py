"""`anomaly-gan models` on stores built by hand (no model is trained): a damaged store file is
one line and exit 2 before TensorFlow loads, and options may come before or after VERSION."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from anomaly_gan.cli import build_parser, main
from anomaly_gan.store import ModelStore
from tests.retrain.conftest import snapshot
from tests.support.cli import run_cli
from tests.support.store import fake_version


@pytest.fixture
def store(tmp_path) -> Path:
    """v1 and v2 (bundles as far as the store can tell), v2 promoted after v1."""
    s = ModelStore.open(tmp_path / "store", create=True)
    for i in (1, 2):
        fake_version(s.root, f"v{i}", f"2026-11-0{i}T00:00:00+00:00")
        s.promote(f"v{i}", verify=False)
    return s.root


# (command after `models`, file, its damaged content, the error after "<store>/<file>: ")
DAMAGED = [
    (["list"], "current", b"\xff\xfe\n",
     ("expected the name of a version directory as UTF-8 text, got undecodable bytes; "
      "`anomaly-gan models promote --store {store} VERSION` replaces it")),
    (["rollback"], "history.json", b'{"stack": ["v1", 5], "log": []}',
     "stack[1]: expected a version name, got 5"),
    (["promote", "v1"], "history.json", b'{"stack": ["v1", "v2"], "log": {}}',
     "log: expected a list of promotion records, got {}"),
    (["list"], "history.json", b"[1, 2]",
     "expected a JSON object with a 'stack' list of version names, got [1, 2]"),
    (["show", "v1"], "v1/metadata.json", b"[1]", "expected a JSON object, got [1]"),
    (["promote", "v1"], "v1/metadata.json", b'{"lineage": "retrain"}',
     "lineage: expected an object, got 'retrain'"),
]


def test_a_damaged_store_is_one_line_exit_2_before_tensorflow(store, tmp_path):
    """Until 2026-12-04 each of these ended in a traceback (UnicodeDecodeError, TypeError,
    AttributeError), `models promote` only after loading TensorFlow and the bundle."""
    argvs, expected = [], []
    for i, (command, name, content, message) in enumerate(DAMAGED):
        damaged = tmp_path / f"damaged-{i}"
        shutil.copytree(store, damaged)
        (damaged / name).write_bytes(content)
        argvs.append(["models", *command, "--store", str(damaged)])
        message = message.replace("{store}", str(damaged))
        if name == "history.json":
            history = damaged / name
            message += (f"; move it aside (`mv {history} {history}.damaged`): the store then "
                        f"starts a new history at `current`, and `models rollback` has no "
                        f"target until the next promote")
        expected.append((f"anomaly-gan: error: {damaged / name}: {message}\n", snapshot(damaged)))
    out = run_cli(*argvs)
    assert not out["tensorflow"]
    for argv, (rc, err), (line, before) in zip(argvs, out["results"], expected):
        assert (rc, err) == (2, line), argv
        assert snapshot(Path(argv[-1])) == before, argv


def _variants(action: list[str], store: str) -> list[list[str]]:
    """``models ACTION [VERSION/options] --store S`` with --store first, last and before it."""
    head, rest = action[0], action[1:]
    return [["models", head, "--store", store, *rest],
            ["models", head, *rest, "--store", store],
            ["models", "--store", store, head, *rest]]


@pytest.mark.parametrize("action, parsed", [
    (["list", "--json"], {"json": True}),
    (["show", "v1"], {"version": "v1"}),
    (["show"], {"version": None}),
    (["promote", "v1"], {"version": "v1"}),
    (["rollback"], {}),
    (["prune", "--keep", "2"], {"keep": 2}),
])
def test_store_option_comes_before_or_after_the_version(action, parsed):
    """README and docs write `models promote --store models/ VERSION`; until 2026-12-04 that
    form was refused ("unrecognized arguments: VERSION") and only VERSION first worked."""
    for argv in _variants(action, "st"):
        args = build_parser().parse_args(argv)
        got = {"action": args.action, "store": args.store, **{k: getattr(args, k) for k in parsed}}
        assert got == {"action": action[0], "store": "st", **parsed}, argv


def test_show_and_rollback_in_every_order(store, capsys, monkeypatch):
    import anomaly_gan.artifacts

    # these versions only look like bundles to the store: rollback's bundle check is
    # tested in tests/test_store.py
    monkeypatch.setattr(anomaly_gan.artifacts, "inspect_bundle", lambda path: None)
    shown = []
    for argv in _variants(["show", "v1"], str(store)):
        assert main(argv) == 0
        shown.append(json.loads(capsys.readouterr().out))
    assert shown[0]["version"] == "v1" and shown[0] == shown[1] == shown[2]
    for argv in _variants(["rollback"], str(store)):
        ModelStore.open(store).promote("v2", verify=False)
        assert main(argv) == 0, argv
        assert (store / "current").read_text() == "v1\n"
        assert capsys.readouterr().err.startswith("rolled back from v2 to v1")


def test_missing_store_or_unknown_option_is_refused(capsys):
    assert main(["models", "list"]) == 2
    assert capsys.readouterr().err == "anomaly-gan: error: models list: --store DIR is required\n"
    with pytest.raises(SystemExit) as info:
        main(["models", "list", "--keep", "2", "--store", "st"])  # --keep is prune's
    assert info.value.code == 2 and "unrecognized arguments: --keep 2" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "usage", "missing"), [
    (["models", "prune", "--store", "st"], "--keep K", "--keep"),
    (["models", "promote", "--store", "st"], "VERSION", "VERSION"),
])
def test_what_an_action_needs_is_required_in_its_usage(argv, usage, missing, capsys):
    """`models prune --help` showed `[--keep K]` and `models promote --help` `[VERSION]`,
    as if optional, where each run without them is refused: the usage line an operator
    copies from now says what the action needs, and argparse's line names it."""
    with pytest.raises(SystemExit) as info:
        main([*argv[:2], "--help"])
    assert info.value.code == 0
    shown = " ".join(capsys.readouterr().out.split("\n\n")[0].split())
    assert f" {usage}" in shown and f"[{usage}]" not in shown, shown
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert capsys.readouterr().err == (
        f"anomaly-gan {' '.join(argv[:2])}: error: the following arguments are required: "
        f"{missing} (see anomaly-gan {' '.join(argv[:2])} --help)\n")


def test_a_reader_that_stops_early_gets_no_traceback(store):
    """`models list | head -1` ended in a BrokenPipeError traceback and exit 1."""
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-m", "anomaly_gan", "models", "list", "--store",
                          str(store)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader is gone before anything is written
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "Exception ignored" not in err


def test_a_current_whose_version_is_gone_is_named_as_such(store, tmp_path, capsys):
    """With the current version deleted, `models list` showed no row marked current and no
    word about it, and `models show` and `retrain` said only "no version 'v2'"."""
    import yaml

    from tests.retrain.plant import TINY

    shutil.rmtree(store / "v2")
    assert main(["models", "list", "--store", str(store)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "(* current: v2 (MISSING: not a version in this store; roll back or promote one); "
        "^ rollback target: v1)")
    line = (f"anomaly-gan: error: {store / 'current'}: names 'v2', which is not a version in "
            f"{store} (latest: v1); expected a version: `anomaly-gan models rollback` or "
            f"`models promote` one\n")
    assert main(["models", "show", "--store", str(store)]) == 2
    assert capsys.readouterr().err == line
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(TINY))
    (tmp_path / "d.csv").write_text("a\n1\n")
    assert main(["retrain", "--store", str(store), "--config", str(tmp_path / "c.yaml"),
                 "--data", str(tmp_path / "d.csv")]) == 2
    assert capsys.readouterr().err == line


def test_list_json_names_a_current_whose_version_is_gone(store, capsys):
    """The text listing flags a current whose version was deleted MISSING in its footer;
    `models list --json` had no footer and no row for it, so a script found no current at
    all. It is now a row marked * with "missing": true (every other row false)."""
    assert main(["models", "list", "--json", "--store", str(store)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["mark"], r["version"], r["missing"]) for r in rows] == [("^", "v1", False),
                                                                      ("*", "v2", False)]
    shutil.rmtree(store / "v2")
    assert main(["models", "list", "--json", "--store", str(store)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["version"] == "v1" and not rows[0]["missing"]
    assert rows[1:] == [{"mark": "*", "version": "v2", "input": None, "created": None,
                         "data_range": None, "gate": None, "health": None, "parent": None,
                         "missing": True}]


def test_json_writes_null_where_the_table_writes_a_placeholder(store, capsys):
    """`models list --json` wrote the table's "-" for a version with no gate, no data range
    and no parent, and "" for no mark, so a script testing for null found a value; `models
    show` wrote "-" as its data_range. The table keeps its placeholders."""
    (store / "v1" / "metadata.json").write_text(json.dumps({"health": {"status": "healthy"}}))
    assert main(["models", "list", "--json", "--store", str(store)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0] == {"mark": "^", "version": "v1", "input": "metrics", "created": None,
                       "data_range": None, "gate": None, "health": "healthy", "parent": None,
                       "missing": False}
    assert rows[1]["mark"] == "*" and rows[1]["gate"] is None
    fake_version(store, "v3", "2026-11-03T00:00:00+00:00")  # no mark
    assert main(["models", "list", "--json", "--store", str(store)]) == 0
    assert json.loads(capsys.readouterr().out)[2]["mark"] is None
    assert main(["models", "show", "v1", "--store", str(store)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["created"], shown["data_range"], shown["gate"], shown["parent"]) == (
        None, None, None, None)
    assert main(["models", "list", "--store", str(store)]) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == [
        "^", "v1", "metrics", "-", "-", "-", "healthy", "-"]


# A SIGTERM sent by the process to itself at one point of a `models` command. The versions
# only look like bundles to the store, so the bundle checks (and TensorFlow) are left out.
SIGTERM_AT = """
import os, shutil, signal, sys
import anomaly_gan.artifacts, anomaly_gan.runtime
from anomaly_gan.cli import main

def then(real):  # the first call only: a second signal stops the command at once
    sent = []
    def signalled(*args, **kwargs):
        if not sent:
            sent.append(os.kill(os.getpid(), signal.SIGTERM))
        return real(*args, **kwargs)
    return signalled

anomaly_gan.runtime.import_tensorflow_quietly = lambda: None
anomaly_gan.artifacts.inspect_bundle = anomaly_gan.artifacts.load_bundle = lambda path: None
point = sys.argv[1]
if point == "verify":  # promote's check of the bundle, before the lock
    anomaly_gan.artifacts.load_bundle = then(lambda path: None)
elif point == "rename":  # between staging current and history.json and renaming them
    os.replace = then(os.replace)
elif point == "remove":  # prune, after renaming the first version away
    shutil.rmtree = then(shutil.rmtree)
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("point, command, code, current, versions", [
    ("verify", ["promote", "v1"], 130, "v2", ["v1", "v2", "v3", "v4"]),
    ("rename", ["promote", "v1"], 0, "v1", ["v1", "v2", "v3", "v4"]),
    ("rename", ["rollback"], 0, "v1", ["v1", "v2", "v3", "v4"]),
    ("remove", ["prune", "--keep", "0"], 0, "v2", ["v1", "v2"]),
])
def test_sigterm_stops_models_before_the_store_changes_or_after(store, point, command, code,
                                                                current, versions):
    """`models promote`, `rollback` and `prune` had no SIGTERM handler: a SIGTERM ended them
    by the signal (exit 143), where Ctrl-C and every other writing command exit 130. Before
    the store changes: 130 and the store as it was; while it changes: the renames end, and
    the command exits as it would have, with the store in its new state."""
    import subprocess
    import sys

    from tests.retrain.conftest import ENV

    for name, day in (("v3", 3), ("v4", 4)):
        fake_version(store, name, f"2026-11-0{day}T00:00:00+00:00")
    before = snapshot(store)
    r = subprocess.run([sys.executable, "-c", SIGTERM_AT, point, "models", *command, "--store",
                        str(store)], capture_output=True, text=True, env=ENV, timeout=120,
                       check=False)
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr
    s = ModelStore.open(store)
    assert s.current() == current and [v.name for v in s.versions()] == versions
    assert sorted(p.name for p in store.iterdir() if p.name.startswith(".")) == [".lock"]
    if code == 130:
        assert r.stderr == "anomaly-gan: interrupted\n" and snapshot(store) == before
    else:
        assert s._history()["stack"][-1] == current  # history.json renamed too


def test_a_signal_whose_exception_was_dropped_still_stops_models_before_the_write(
        store, monkeypatch, capsys):
    """A signal whose KeyboardInterrupt Python dropped (raised in a garbage-collector
    callback while TensorFlow starts, before promote's write) is raised when the write
    begins, not forgotten: exit 130, the store as it was."""
    import anomaly_gan.artifacts
    from anomaly_gan.retrain import commands
    from anomaly_gan.runtime import Interrupts

    class Dropped(Interrupts):
        def installed(self):
            self._event.set()  # what the handler does before its exception is dropped
            return super().installed()

    monkeypatch.setattr(commands, "Interrupts", Dropped)
    monkeypatch.setattr(anomaly_gan.artifacts, "load_bundle", lambda path: None)
    monkeypatch.setattr("anomaly_gan.runtime.import_tensorflow_quietly", lambda: None)
    before = snapshot(store)
    assert main(["models", "promote", "v1", "--store", str(store)]) == 130
    assert capsys.readouterr().err == "anomaly-gan: interrupted\n"
    assert snapshot(store) == before


def test_show_says_when_how_and_by_whom_a_version_was_made_current(store, capsys):
    """`models show` gave lineage, health and gate, but not when the version was made
    current, whether by hand, by a retrain's gate or by a rollback, nor who did it: the
    store's log had no user, and show did not read it."""
    import getpass
    import socket

    ModelStore.open(store).rollback(verify=False)  # fake bundles: no checksums to verify
    assert main(["models", "show", "--store", str(store)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == "v1"
    by = f"{getpass.getuser()}@{socket.gethostname()}"
    assert [(p["action"], p["previous"], p["by"]) for p in shown["promotions"]] == [
        ("promote", None, by), ("rollback", "v2", by)]
    assert all(p["at"] for p in shown["promotions"])
    assert main(["models", "show", "v2", "--store", str(store)]) == 0
    assert [p["action"] for p in json.loads(capsys.readouterr().out)["promotions"]] == [
        "promote"]


def _rejected(root: Path, name: str, health: str = "healthy") -> str:
    """A version the gate rejected for its false alarms (a bundle as far as the store can
    tell)."""
    fake_version(root, name, "2026-11-09T00:00:00+00:00", gate=False)
    meta = json.loads((root / name / "metadata.json").read_text())
    meta["health"] = {"status": health, "issues": [] if health == "healthy"
                      else ["generator collapsed"]}
    (root / name / "metadata.json").write_text(json.dumps(meta))
    return name


def test_promote_over_gate_promotes_a_rejected_version_with_a_warning_and_logs_it(
        store, capsys, monkeypatch):
    """A gate-rejected version could never be made current: an operator who read the report
    and accepted it (the baseline moved: a new normal that the false-alarm budget calls
    anomalous) had to edit the config and retrain. --over-gate promotes it, says so, and the
    store's history tells it later."""
    import getpass
    import socket

    import anomaly_gan.artifacts

    _rejected(store, "v3")
    assert main(["models", "promote", "v3", "--store", str(store)]) == 2
    assert capsys.readouterr().err == (
        f"anomaly-gan: error: v3: rejected by the validation gate (false-alarm rate too high); "
        f"not promoted (`anomaly-gan models show --store {store} v3` has the report; if you "
        f"accept it, `anomaly-gan models promote --store {store} v3 --over-gate` promotes "
        f"it)\n")
    assert (store / "current").read_text() == "v2\n"

    monkeypatch.setattr(anomaly_gan.artifacts, "load_bundle", lambda path: None)  # fake bundles
    monkeypatch.setattr("anomaly_gan.runtime.import_tensorflow_quietly", lambda: None)
    assert main(["models", "promote", "v3", "--over-gate", "--store", str(store)]) == 0
    assert capsys.readouterr().err == (
        "WARNING: v3 was rejected by the validation gate (false-alarm rate too high); promoted "
        "over it (--over-gate), logged in the store's history as 'promote over the gate'\n"
        "promoted v3 (was v2); serve picks it up on its next reload\n")
    assert (store / "current").read_text() == "v3\n"
    assert main(["models", "show", "--store", str(store)]) == 0
    by = f"{getpass.getuser()}@{socket.gethostname()}"
    assert [(p["action"], p["previous"], p["by"])
            for p in json.loads(capsys.readouterr().out)["promotions"]] == [
        ("promote over the gate", "v2", by)]
    assert ModelStore.open(store).predecessor() == "v2"  # rollback undoes it as any promote


def test_promote_over_gate_still_refuses_a_version_whose_training_was_unhealthy(
        store, capsys, monkeypatch):
    """The flag overrides the gate's judgement of the data, not a model whose training
    failed."""
    import anomaly_gan.artifacts

    monkeypatch.setattr(anomaly_gan.artifacts, "load_bundle", lambda path: None)
    _rejected(store, "v3", health="unhealthy")
    before = snapshot(store)
    assert main(["models", "promote", "v3", "--over-gate", "--store", str(store)]) == 2
    assert capsys.readouterr().err == (
        "anomaly-gan: error: v3: training health is unhealthy (generator collapsed); not "
        "promoted, --over-gate or not (it overrides the gate's judgement of the data, not a "
        "model whose training failed): retrain it\n")
    assert snapshot(store) == before


def test_promote_of_a_gate_rejected_unhealthy_version_offers_no_over_gate(store, capsys):
    """A retrain whose candidate trained unhealthy is rejected by the gate too. The refusal
    without the flag said "`... --over-gate` promotes it", and that command was then refused
    for the health: an operator was sent to a command that cannot work."""
    _rejected(store, "v3", health="unhealthy")
    before = snapshot(store)
    assert main(["models", "promote", "v3", "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert "--over-gate` promotes it" not in err
    assert err.startswith("anomaly-gan: error: v3: training health is unhealthy") and \
        err.endswith("retrain it\n")
    assert snapshot(store) == before


def test_promote_over_gate_promotes_a_version_with_no_recorded_health_with_a_warning(
        store, capsys, monkeypatch):
    """A rejected bundle with no training health recorded (health 'unknown': one written
    before health was, or by hand) was refused as if its training had failed, though nothing
    says it did and a plain promote of an ungated one takes it. --over-gate accepts the
    gate's rejection; the unknown health is a second WARNING line, not a refusal."""
    import anomaly_gan.artifacts

    monkeypatch.setattr(anomaly_gan.artifacts, "load_bundle", lambda path: None)
    monkeypatch.setattr("anomaly_gan.runtime.import_tensorflow_quietly", lambda: None)
    _rejected(store, "v3")
    meta = json.loads((store / "v3" / "metadata.json").read_text())
    del meta["health"]
    (store / "v3" / "metadata.json").write_text(json.dumps(meta))
    assert main(["models", "promote", "v3", "--over-gate", "--store", str(store)]) == 0
    assert capsys.readouterr().err == (
        "WARNING: v3 was rejected by the validation gate (false-alarm rate too high); promoted "
        "over it (--over-gate), logged in the store's history as 'promote over the gate'\n"
        "WARNING: v3's training health is unknown (no training health recorded): nothing "
        "says whether its training went well; promoted, as --over-gate accepts it\n"
        "promoted v3 (was v2); serve picks it up on its next reload\n")
    assert (store / "current").read_text() == "v3\n"
    assert ModelStore.open(store).history()[-1]["action"] == "promote over the gate"


def test_promote_over_gate_still_verifies_the_bundle(tmp_path, tiny_detector, capsys):
    """A real gate-rejected bundle: promoted over the gate, and refused, flag or not, once
    one of its files is corrupted."""
    import copy

    s = ModelStore.open(tmp_path / "store", create=True)
    names = []
    for _ in range(2):
        det = copy.copy(tiny_detector)
        det.metadata = {**tiny_detector.metadata,  # (two epochs: it may be unhealthy)
                        "health": {"status": "healthy", "issues": []},
                        "gate": {"passed": False,
                                 "reasons": ["false-alarm rate 0.2 is over the budget 0.02"]}}
        names.append(s.add(det))
    good, corrupt = names
    with open(s.root / corrupt / "nets" / "scorer.keras", "ab") as fh:
        fh.write(b"\0")
    before = snapshot(s.root)
    assert main(["models", "promote", corrupt, "--over-gate", "--store", str(s.root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"anomaly-gan: error: {s.root / corrupt}: checksum mismatch for "
                          f"nets/scorer.keras") and "WARNING" not in err
    assert snapshot(s.root) == before and s.current() is None
    assert main(["models", "promote", good, "--over-gate", "--store", str(s.root)]) == 0
    assert capsys.readouterr().err.startswith(f"WARNING: {good} was rejected by the "
                                              f"validation gate (false-alarm rate 0.2")
    assert s.current() == good and s.history()[-1]["action"] == "promote over the gate"


def test_promote_refuses_an_ungated_version_whose_training_was_unhealthy_unless_allowed(
        store, capsys, monkeypatch):
    """A version kept with `train --allow-unhealthy` (or put in the store by hand) went
    through no gate and was promoted as any other, and serve, which refuses a model whose
    training failed unless serve.allow_unhealthy, then exited 2 at every restart. It is
    refused the same way; --allow-unhealthy promotes it for a scorer that allows it."""
    import anomaly_gan.artifacts

    monkeypatch.setattr(anomaly_gan.artifacts, "load_bundle", lambda path: None)  # fake bundles
    monkeypatch.setattr("anomaly_gan.runtime.import_tensorflow_quietly", lambda: None)
    fake_version(store, "v3", "2026-11-09T00:00:00+00:00")
    meta = json.loads((store / "v3" / "metadata.json").read_text())
    meta["health"] = {"status": "unhealthy", "issues": ["mode collapse"]}
    (store / "v3" / "metadata.json").write_text(json.dumps(meta))
    before = snapshot(store)
    assert main(["models", "promote", "v3", "--store", str(store)]) == 2
    assert capsys.readouterr().err == (
        f"anomaly-gan: error: v3: training health is unhealthy (mode collapse); not promoted: "
        f"serve refuses a model whose training failed unless serve.allow_unhealthy is true "
        f"(for such a scorer, `anomaly-gan models promote --store {store} v3 "
        f"--allow-unhealthy` promotes it)\n")
    assert snapshot(store) == before
    assert main(["models", "promote", "v3", "--allow-unhealthy", "--store", str(store)]) == 0
    assert capsys.readouterr().err == "promoted v3 (was v2); serve picks it up on its next reload\n"
    assert (store / "current").read_text() == "v3\n"


def test_promote_help_says_what_each_flag_lets_through():
    """`models promote --help` said --over-gate refuses a version whose health "is not
    healthy", though one with no health recorded (unknown) is promoted with a WARNING (test
    above), and neither the action's description nor `models`' exit codes named the refusal
    of an unhealthy version that --allow-unhealthy lifts."""
    import argparse

    from anomaly_gan.cli import build_parser

    def subs(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return dict(action.choices)

    models = subs(build_parser())["models"]
    promote = subs(models)["promote"]
    over_gate = " ".join(next(a.help for a in promote._actions
                              if "--over-gate" in a.option_strings).split())
    assert "unhealthy (or damaged) is refused all the same" in over_gate, over_gate
    assert "(unknown) is promoted" in over_gate, over_gate
    for text in (promote.description, models.description):
        text = " ".join(text.split())
        assert "training ended unhealthy without --allow-unhealthy" in text, text


def test_promote_and_rollback_say_when_a_running_serve_cannot_hot_reload_the_version(
        tmp_path, tiny_detector, capsys):
    """A version with other features than the current one was promoted with "serve picks it
    up on its next reload": a running serve refuses it (incompatible model), keeps the
    version it runs and counts a failed reload, while a replica that restarts runs the new
    one. The promote's line says so, and so does a rollback's to such a version."""
    import copy

    from tests.retrain.conftest import add_version

    s = ModelStore.open(tmp_path / "store", create=True)
    healthy = copy.copy(tiny_detector)  # (two epochs: it may be unhealthy)
    healthy.metadata = {**tiny_detector.metadata, "health": {"status": "healthy", "issues": []}}
    base = add_version(s, healthy)
    renamed = copy.copy(healthy)
    renamed.feature_names = ("a", "b", "c")
    other = add_version(s, renamed)
    same = add_version(s, healthy)
    assert main(["models", "promote", base, "--store", str(s.root)]) == 0
    assert capsys.readouterr().err == (
        f"promoted {base} (was none); serve picks it up on its next reload\n")
    assert main(["models", "promote", other, "--store", str(s.root)]) == 0
    why = (f"feature names ['a', 'b', 'c'] differ from the running model's "
           f"{list(tiny_detector.feature_names)}")
    assert capsys.readouterr().err == (
        f"promoted {other} (was {base}); a serve running {base} cannot hot-reload it ({why}) "
        f"and keeps {base} until restarted: restart serve to run {other}\n")
    assert s.current() == other
    assert main(["models", "rollback", "--store", str(s.root)]) == 0
    back = (f"feature names {list(tiny_detector.feature_names)} differ from the running "
            f"model's ['a', 'b', 'c']")
    assert capsys.readouterr().err == (
        f"rolled back from {other} to {base}; a serve running {other} cannot hot-reload it "
        f"({back}) and keeps {other} until restarted: restart serve to run {base}; "
        f"a serve running {base} goes on with it\n")  # the serve that refused other
    assert main(["models", "promote", same, "--store", str(s.root)]) == 0  # same shape
    assert capsys.readouterr().err == (  # ... as the one rolled back to, not as the one before
        f"promoted {same} (was {base}); a serve running {other} cannot hot-reload it ({back}) "
        f"and keeps {other} until restarted: restart serve to run {same}; a serve running "
        f"{base} picks it up on its next reload\n")


def test_promoting_the_current_version_says_nothing_changed(tmp_path, tiny_detector, capsys):
    """Promoting the version already current logs a promote and changes nothing else, but
    the line said "promoted v1 (was v1); serve picks it up on its next reload": a running
    serve has nothing to pick up (its model did not change)."""
    import copy

    from tests.retrain.conftest import add_version

    s = ModelStore.open(tmp_path / "store", create=True)
    healthy = copy.copy(tiny_detector)  # (two epochs: it may be unhealthy)
    healthy.metadata = {**tiny_detector.metadata, "health": {"status": "healthy", "issues": []}}
    v = add_version(s, healthy)
    assert main(["models", "promote", v, "--store", str(s.root)]) == 0
    capsys.readouterr()
    before = snapshot(s.root / v)
    assert main(["models", "promote", v, "--store", str(s.root)]) == 0
    assert capsys.readouterr().err == (
        f"{v} is already current; nothing changed (the promote is logged in the store's "
        f"history)\n")
    assert s.current() == v and snapshot(s.root / v) == before
    assert [e["action"] for e in s.history()] == ["promote", "promote"]


def test_a_damaged_version_has_no_input_kind_and_its_name_cannot_forge_a_row(store, capsys):
    """A damaged version (its metadata unreadable, or a bundle under a name no version may
    have) was listed as a `metrics` model whatever it held: the kind is read from the
    metadata it lacks (a logs model's too), so a script selecting `"input": "metrics"` took
    it. And its name went into the table as it is, so a directory named with a line break
    wrote a row of its own, here one marked current: it is written escaped."""
    (store / "v1" / "metadata.json").write_text('{"logs": {"lines": 5}, "created": ')
    forged = "v9\n*  v8  metrics  2026-11-09T00:00:00+00:00"
    shutil.copytree(store / "v2", store / forged)
    assert main(["models", "list", "--json", "--store", str(store)]) == 0
    rows = {r["version"]: r for r in json.loads(capsys.readouterr().out)}
    assert (rows["v1"]["health"], rows["v1"]["input"]) == ("damaged", None)
    assert (rows[forged]["health"], rows[forged]["input"]) == ("damaged", None)
    assert rows["v2"]["input"] == "metrics"
    assert main(["models", "list", "--store", str(store)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + 3 + 1  # header, three versions, footer
    assert [line[0] for line in lines[1:4]] == ["^", " ", "*"]
    assert lines[1].split() == ["^", "v1", "-", "-", "-", "-", "damaged", "-"]
    assert lines[2].split() == ["v9\\n*", "v8", "metrics", "2026-11-09T00:00:00+00:00",
                                "-", "-", "-", "-", "damaged", "-"]
    assert main(["models", "prune", "--keep", "0", "--store", str(store)]) == 0
    assert capsys.readouterr().err == ("pruned 1 version(s): v9\\n*  v8  metrics  "
                                       "2026-11-09T00:00:00+00:00\n")


def test_show_gives_the_model_version_that_alerts_and_score_name(store, capsys):
    """A bundle `train --out models/v1` wrote is the store's v1, but it carries the version
    it was trained as (`ganomaly-20261207T204505Z-91d9d8b0`), which serve's alerts, score
    records, metrics and log lines and score's summary line name: neither `models list`
    nor `models show` gave it, so an alert's model_version led to no version of the store."""
    meta = json.loads((store / "v1" / "metadata.json").read_text())
    meta["version"] = "ganomaly-20261207T204505Z-91d9d8b0"
    (store / "v1" / "metadata.json").write_text(json.dumps(meta))
    assert main(["models", "show", "v1", "--store", str(store)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["version"], shown["model_version"]) == (
        "v1", "ganomaly-20261207T204505Z-91d9d8b0")
    assert main(["models", "show", "--store", str(store)]) == 0  # none recorded: null
    assert json.loads(capsys.readouterr().out)["model_version"] is None


def test_the_reload_note_names_the_version_a_serve_kept_when_it_refused_the_one_before(
        tmp_path, tiny_detector, capsys):
    """A serve keeps the shape it started with: one that refused ``other`` (other features)
    and was not restarted still runs ``base``, so it refuses ``other2`` (the shape of
    ``other``) too. The note looked at the previous current only: "promoted other2 (was
    other); serve picks it up on its next reload", while that serve refused it. A rollback
    over a refused promote names the serve that refused it: it goes on with what it runs."""
    import copy

    from tests.retrain.conftest import add_version

    s = ModelStore.open(tmp_path / "store", create=True)
    healthy = copy.copy(tiny_detector)
    healthy.metadata = {**tiny_detector.metadata, "health": {"status": "healthy", "issues": []}}
    base = add_version(s, healthy)
    renamed = copy.copy(healthy)
    renamed.feature_names = ("a", "b", "c")
    other, other2 = add_version(s, renamed), add_version(s, renamed)
    same = add_version(s, healthy)
    for version in (base, other):
        assert main(["models", "promote", version, "--store", str(s.root)]) == 0
    capsys.readouterr()
    to_other = (f"feature names ['a', 'b', 'c'] differ from the running model's "
                f"{list(tiny_detector.feature_names)}")
    to_base = (f"feature names {list(tiny_detector.feature_names)} differ from the running "
               f"model's ['a', 'b', 'c']")
    assert main(["models", "promote", other2, "--store", str(s.root)]) == 0
    assert capsys.readouterr().err == (
        f"promoted {other2} (was {other}); a serve running {base} cannot hot-reload it "
        f"({to_other}) and keeps {base} until restarted: restart serve to run {other2}; "
        f"a serve running {other} picks it up on its next reload\n")
    assert main(["models", "promote", same, "--store", str(s.root)]) == 0
    assert capsys.readouterr().err == (
        f"promoted {same} (was {other2}); a serve running {other2} cannot hot-reload it "
        f"({to_base}) and keeps {other2} until restarted: restart serve to run {same}\n")
    assert main(["models", "rollback", "--store", str(s.root)]) == 0
    assert capsys.readouterr().err == (
        f"rolled back from {same} to {other2}; a serve running {same} cannot hot-reload it "
        f"({to_other}) and keeps {same} until restarted: restart serve to run {other2}; "
        f"a serve running {other2} goes on with it\n")
