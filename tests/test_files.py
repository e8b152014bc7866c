import os
import stat
import threading

import pytest

from anomaly_gan.data import read_table
from anomaly_gan.errors import DataError, OutputError, StoreError
from anomaly_gan.files import (
    atomic_write_bytes,
    atomic_write_text,
    check_creatable,
    check_input,
    check_output_apart,
    check_output_file,
    current_umask,
    open_input,
)
from anomaly_gan.logs.offline import read_log_file
from anomaly_gan.retrain.source import read_labels_file
from tests.support.files import deny_new_entries


def test_current_umask_reads_without_changing():
    old = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        assert current_umask() == 0o027
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_write_follows_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        atomic_write_text(tmp_path / "sub" / "a.csv", lambda fh: fh.write("x\n"))
    finally:
        os.umask(old)
    out = tmp_path / "sub" / "a.csv"
    assert out.read_text() == "x\n" and stat.S_IMODE(out.stat().st_mode) == mode
    assert [p.name for p in out.parent.iterdir()] == ["a.csv"]


def test_failed_write_leaves_nothing(tmp_path):
    def boom(fh):
        fh.write("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match="a.csv: cannot write: No space left on device"):
        atomic_write_text(tmp_path / "a.csv", boom)
    assert list(tmp_path.iterdir()) == []


def test_failed_binary_write_keeps_the_old_file(tmp_path):
    (tmp_path / "fig.png").write_bytes(b"old figure")

    def boom(fh):
        fh.write(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match="fig.png: cannot write: No space left on device"):
        atomic_write_bytes(tmp_path / "fig.png", boom)
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]
    assert (tmp_path / "fig.png").read_bytes() == b"old figure"


def test_an_output_is_never_an_input_however_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("a\n1\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "d.csv")
    os.link(tmp_path / "d.csv", tmp_path / "hard.csv")
    (tmp_path / "sub").mkdir()
    for out, data in [("./d.csv", "d.csv"), ("sub/../d.csv", str(tmp_path / "d.csv")),
                      ("d.csv", "link.csv"), ("hard.csv", "d.csv")]:
        with pytest.raises(OutputError, match=rf"^{out}: is the same file as the --data input "
                                              rf"{data}; write the scores CSV to another path$"):
            check_output_apart(out, "scores CSV", [("--labels", None), ("--data", data)])
    check_output_apart("s.csv", "scores CSV", [("--data", "d.csv")])


def test_an_output_is_never_inside_the_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bundle" / "nets").mkdir(parents=True)
    (tmp_path / "alias").symlink_to(tmp_path / "bundle")
    for out, model in [("bundle/calibration.json", "bundle"), ("bundle/nets/new.csv", "alias"),
                       ("alias/x.csv", str(tmp_path / "bundle"))]:
        with pytest.raises(OutputError, match=rf"^{out}: is inside the --model directory {model}"
                                              rf", which must not change; write the figure "
                                              rf"outside it$"):
            check_output_apart(out, "figure", directories=[("--model", model)])
    check_output_apart("bundle.png", "figure", directories=[("--model", "bundle")])
    check_output_apart("nope/x.csv", "figure", directories=[("--model", "nope")])


def test_output_must_be_a_regular_file(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        check_output_file(tmp_path / "dir")
    with pytest.raises(OutputError, match="is a device"):
        check_output_file("/dev/null")
    (tmp_path / "f").write_text("old")
    check_output_file(tmp_path / "f")  # an existing regular file may be replaced


def test_a_directory_to_create_entries_in_is_checked_itself(tmp_path, monkeypatch):
    """``inside`` (a store taking new versions): the directory, once it exists, must be
    writable, not its parent; the caller's error class carries the message."""
    store = tmp_path / "store"
    deny_new_entries(monkeypatch, store)  # root may write anywhere
    check_creatable(store, "a new version", StoreError, inside=True)  # made with its parent
    store.mkdir()
    check_creatable(store, "a new version", StoreError)  # its parent may take a sibling
    with pytest.raises(StoreError, match=rf"^{store}: cannot create a new version in {store}: "
                                         rf"permission denied$"):
        check_creatable(store, "a new version", StoreError, inside=True)


def test_a_directory_that_takes_no_new_entry_is_refused_for_root_too(tmp_path):
    """``os.access`` says yes to root for any directory: as root ``train --out /proc/x/y``
    passed the check, trained for a minute, then could not create the bundle. An entry
    made and removed proves the directory (as any user), and nothing is left behind."""
    with pytest.raises(OutputError, match=r"^/proc/x/y: cannot create the bundle directory "
                                          r"in /proc: "):
        check_creatable("/proc/x/y", "the bundle directory")
    with pytest.raises(OutputError, match=r"^/proc/x/s.csv: cannot create scores in /proc: "):
        check_output_file("/proc/x/s.csv", "scores")
    with pytest.raises(StoreError, match=r"^/proc/self/store: cannot create a new version in "
                                         r"/proc/self: "):
        check_creatable("/proc/self/store", "a new version", StoreError, inside=True)
    check_creatable(tmp_path / "a" / "b", "the bundle directory")
    check_creatable(tmp_path, "a new version", StoreError, inside=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("check", [check_input, open_input])
def test_inputs_fail_in_one_line_naming_the_path(tmp_path, check):
    with pytest.raises(DataError, match=rf"^{tmp_path / 'nope.csv'}: file not found$"):
        check(tmp_path / "nope.csv")
    with pytest.raises(DataError, match=rf"^{tmp_path}: cannot read: is a directory$"):
        check(tmp_path)
    with pytest.raises(DataError, match=r"/x: cannot read: Not a directory$"):
        (tmp_path / "f").write_text("1\n")
        check(tmp_path / "f" / "x")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
@pytest.mark.parametrize("check", [check_input, open_input])
def test_unreadable_input_is_named(tmp_path, check):
    f = tmp_path / "secret.csv"
    f.write_text("1\n")
    f.chmod(0)
    with pytest.raises(DataError, match=r"secret\.csv: cannot read: Permission denied$"):
        check(f)


def test_every_reader_uses_the_same_messages(tmp_path):
    """Data files, log files and labels files: one form of error for a path (the retrain
    check before TensorFlow loads uses :func:`check_input`, which says the same)."""
    from anomaly_gan.config import LogsConfig

    for read in (read_table, lambda p: read_log_file(p, LogsConfig()), read_labels_file):
        with pytest.raises(DataError, match=rf"^{tmp_path / 'gone'}: file not found$"):
            read(tmp_path / "gone")
        with pytest.raises(DataError, match=rf"^{tmp_path}: cannot read: is a directory$"):
            read(tmp_path)


def test_a_pipe_is_read(tmp_path):
    """``--data <(zcat train.csv.gz)``: the reader reads its input once, so a FIFO works."""
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "w") as fh:
            fh.write("a,b\n1,2\n3,4\n")

    writer = threading.Thread(target=write)
    writer.start()
    table = read_table(fifo)
    writer.join()
    assert list(table.feature_names) == ["a", "b"]
    assert table.values.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_a_dash_for_an_input_names_standard_input(tmp_path, monkeypatch):
    """'--data -' (as '--out -' writes to stdout) was refused as '-: file not found', which
    left the user to guess that standard input is read as /dev/stdin."""
    monkeypatch.chdir(tmp_path)
    for read in (read_table, check_input):
        with pytest.raises(DataError, match=r"^-: file not found \(standard input is read as "
                                            r"/dev/stdin\)$"):
            read("-")
    with pytest.raises(DataError, match=r"^x\.csv: file not found$"):
        read_table("x.csv")


@pytest.mark.parametrize("write", ["text", "bytes", "texts"])
def test_an_atomic_write_is_synced_before_and_after_its_rename(tmp_path, monkeypatch, write):
    """The temporary file was renamed into place unsynced, and the rename itself was not
    synced: after a power loss the output could be there empty or cut, or be the old one."""
    from anomaly_gan.files import atomic_write_texts
    from tests.support.durability import record_renames, record_syncs

    events: list[tuple[str, str]] = []
    record_syncs(monkeypatch, events)
    record_renames(monkeypatch, events, os, "replace")
    outs = [tmp_path / "a.csv", tmp_path / "sub" / "b.csv"]
    if write == "text":
        atomic_write_text(outs[0], lambda fh: fh.write("x\n"))
    elif write == "bytes":
        atomic_write_bytes(outs[0], lambda fh: fh.write(b"x"))
    else:
        atomic_write_texts([(out, lambda fh: fh.write("x\n")) for out in outs])
    written = outs if write == "texts" else outs[:1]
    renames = [i for i, (what, _) in enumerate(events) if what == "rename"]
    assert [events[i][1] for i in renames] == [str(out) for out in written]
    for out in written:
        # the data synced under its temporary name, before any rename
        assert any(what == "sync" and os.path.dirname(path) == str(out.parent)
                   and os.path.basename(path).startswith(f".{out.name}.")
                   for what, path in events[:renames[0]])
        assert ("sync", str(out.parent)) in events[renames[-1]:]
