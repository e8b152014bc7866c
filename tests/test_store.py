"""The model store: opening rules, immutable versions, promote/rollback/prune, the lock."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from anomaly_gan.cli import main
from anomaly_gan.errors import BundleError, StoreError
from anomaly_gan.store import ModelStore, gate_of, health_of
from tests.support.store import deny_search, fake_version, full_disk_for_history, hold_run_lock


@pytest.fixture
def store(tmp_path) -> ModelStore:
    s = ModelStore.open(tmp_path / "store", create=True)
    for i in range(1, 6):
        fake_version(s.root, f"v{i}", f"2026-11-0{i}T00:00:00+00:00")
    return s


def test_open_refuses_what_is_not_a_store(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        ModelStore.open(tmp_path / "file")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    with pytest.raises(StoreError, match="not a model store"):
        ModelStore.open(other, create=True)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text("{}")
    with pytest.raises(StoreError, match="is a model bundle"):
        ModelStore.open(bundle)
    with pytest.raises(StoreError, match="does not exist"):
        ModelStore.open(tmp_path / "missing")
    assert ModelStore.open(tmp_path / "new", create=True).versions() == []
    assert not (tmp_path / "new").exists()  # made by the first add(), not by opening


def test_a_directory_with_strays_names_them_all_counted_and_not_its_versions(tmp_path):
    """The line named the directory's first three entries, a version among them as if it
    were a stray, and said nothing of the others: the README's error lines list at most 10
    names and count the rest."""
    root = tmp_path / "models"
    fake_version(root, "v1", "2026-11-01T00:00:00+00:00")
    for i in range(12):
        (root / f"stray{i:02d}.csv").write_text("x\n")
    with pytest.raises(StoreError) as err:
        ModelStore.open(root)
    line = str(err.value)
    assert "holds 12 entries that are not a version (stray00.csv, " in line
    assert "stray09.csv (and 2 more)) beside 1 version(s)" in line and "v1" not in line


def test_a_volume_with_lost_and_found_is_a_store(tmp_path, monkeypatch):
    """A fresh ext4 PersistentVolume mounted as the store holds a root-owned lost+found: the
    first retrain (open with create), `train --out` + `models promote` and `models list` see
    an empty store, not "holds other files (lost+found)"."""
    root = tmp_path / "volume"
    (root / "lost+found").mkdir(parents=True)
    deny_search(monkeypatch, root / "lost+found")  # mode 0700, owned by root
    assert ModelStore.open(root, create=True).versions() == []
    fake_version(root, "v1", "2026-11-01T00:00:00+00:00")
    s = ModelStore.open(root)  # versions, nothing promoted yet
    s.promote("v1", verify=False)
    assert [v.name for v in s.versions()] == ["v1"] and s.current() == "v1"


def test_promote_rollback_walks_back_the_promotions(store):
    for v in ("v1", "v2", "v3"):
        store.promote(v, verify=False)
    assert store.current() == "v3" and store.predecessor() == "v2"
    assert store.rollback(verify=False) == ("v3", "v2")
    assert store.rollback(verify=False) == ("v2", "v1")
    with pytest.raises(StoreError, match="nothing to roll back"):
        store.rollback(verify=False)
    assert store.current() == "v1"
    assert [e["action"] for e in store.history()] == ["promote"] * 3 + ["rollback"] * 2
    assert (store.root / "current").read_text() == "v1\n"


def test_a_link_planted_at_a_temporary_name_is_not_written_through(store, tmp_path):
    """promote writes current and history.json through '.NAME.PID@HOST.tmp', a name anyone
    who can write the store can guess (a retrain in a pod is process 1): a link planted
    there had promote write 'v1' into the file it pointed at, outside the store."""
    from anomaly_gan.store import _writer

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    for name in ("current", "history.json"):
        (store.root / f".{name}.{_writer()}.tmp").symlink_to(victim)
    store.promote("v1", verify=False)
    assert victim.read_text() == "precious\n"
    assert store.current() == "v1" and not list(store.root.glob(".*.tmp"))


def test_a_rejected_version_is_never_made_current(store):
    fake_version(store.root, "bad", "2026-11-09T00:00:00+00:00", gate=False)
    store.promote("v1", verify=False)
    with pytest.raises(StoreError, match="rejected by the validation gate .*false-alarm"):
        store.promote("bad", verify=False)
    assert store.current() == "v1"
    assert gate_of(store.info("bad").metadata) == "rejected"


def test_prune_keeps_current_and_its_predecessor(store):
    store.promote("v1", verify=False)
    store.promote("v2", verify=False)
    gone = store.prune(keep=1)
    assert sorted(gone) == ["v3", "v4"]
    assert [v.name for v in store.versions()] == ["v1", "v2", "v5"]
    assert store.rollback(verify=False) == ("v2", "v1")


def test_prune_keeps_the_versions_it_is_told_to(store, capsys):
    """A scorer's shadow model (serve.shadow_model_path, often a candidate kept with
    --no-promote) is a version prune cannot know of: --keep 0 deleted it, and the scorer
    then failed to start at its next restart. --keep-version names it; a version that is
    not in the store is refused before anything is deleted."""
    store.promote("v1", verify=False)
    store.promote("v2", verify=False)
    before = [v.name for v in store.versions()]
    assert main(["models", "prune", "--store", str(store.root), "--keep", "0",
                 "--keep-version", "v3", "--keep-version", "v9"]) == 2
    assert capsys.readouterr().err == (f"anomaly-gan: error: prune: --keep-version v9: "
                                       f"{store.root}: no version 'v9' (latest: v1, v2, v3, v4, "
                                       f"v5); nothing pruned\n")
    assert [v.name for v in store.versions()] == before
    assert main(["models", "prune", "--store", str(store.root), "--keep", "0",
                 "--keep-version", "v3", "--keep-version", "v4"]) == 0
    assert capsys.readouterr().err == "pruned 1 version(s): v5\n"
    assert [v.name for v in store.versions()] == ["v1", "v2", "v3", "v4"]


def test_current_ahead_of_history_is_its_top(store):
    """`current` naming v3 and history.json ending at v2 (set by hand, or a promote killed
    between its renames before history.json was renamed first): `models list` marked v1 as
    the rollback target and `prune --keep 0` deleted v2, the version rollback was to
    restore."""
    store.promote("v1", verify=False)
    store.promote("v2", verify=False)
    (store.root / "current").write_text("v3\n")
    assert store.predecessor() == "v2"
    assert store.prune(keep=0) == ["v1", "v4", "v5"]
    assert store.rollback(verify=False) == ("v3", "v2")


class Killed(BaseException):
    """SIGKILL at a rename: nothing after it runs (not even an ``except Exception``)."""


@pytest.mark.parametrize("renames", [0, 1])
@pytest.mark.parametrize("action", ["promote", "rollback"])
def test_a_change_killed_at_either_rename_leaves_the_old_state(store, monkeypatch, action,
                                                               renames):
    """A rollback from v3 to v2 killed between its two renames (current first) left
    history.json's stack [v1, v2, v3] under a current of v2: v3, the version rolled away
    from, was read as the predecessor, so `models list` marked it ^, the next rollback went
    back to it and `prune --keep 0` deleted v1, the real rollback target."""
    for v in ("v1", "v2", "v3"):
        store.promote(v, verify=False)
    old = (store.current(), store.predecessor(), store.history())
    real_replace = os.replace
    done = []

    def replace(src, dst):
        if len(done) == renames:
            raise Killed
        done.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(Killed):
        store.promote("v4", verify=False) if action == "promote" else store.rollback(verify=False)
    monkeypatch.setattr(os, "replace", real_replace)
    assert (store.current(), store.predecessor(), store.history()) == old
    assert store.prune(keep=0) == ["v1", "v4", "v5"]
    assert store.rollback(verify=False) == ("v3", "v2")


def test_a_version_pruned_while_promote_verifies_it_is_not_made_current(store, monkeypatch):
    """promote verifies a bundle (loads its networks: seconds) before it takes the lock; a
    prune meanwhile deleted the version and promote then made current name a directory
    that was gone (score and serve refused the store)."""
    import anomaly_gan.artifacts

    store.promote("v4", verify=False)
    store.promote("v5", verify=False)
    monkeypatch.setattr(anomaly_gan.artifacts, "load_bundle", lambda _path: store.prune(keep=0))
    with pytest.raises(StoreError, match=r"store/v1: not promoted: removed while it was "
                                         r"verified .*current stays v5"):
        store.promote("v1")
    assert store.current() == "v5" and store.predecessor() == "v4"


def test_a_version_removed_by_hand_is_no_rollback_target(store):
    """rollback skips a version deleted by hand (rm -r to free space) and goes to the one
    before it, but `models list` named the deleted one as the rollback target and prune
    protected it instead, so `prune --keep 0` deleted the version rollback restores."""
    for v in ("v1", "v2", "v3"):
        store.promote(v, verify=False)
    shutil.rmtree(store.root / "v2")
    assert store.predecessor() == "v1"
    assert store.prune(keep=0) == ["v4", "v5"]
    assert store.rollback(verify=False) == ("v3", "v1")
    assert store.predecessor() is None


@pytest.mark.parametrize("steps", ["promote-twice-garble-current", "prune-between",
                                   "remove-between"])
def test_the_current_version_is_never_its_own_rollback_target(store, steps):
    """A stack holding the current's name under its top (v1 promoted again after `current`
    was garbled; a prune or `rm -r` of the version between two promotes of v1) made v1 its
    own predecessor: `models rollback` printed "rolled back from v1 to v1" with exit 0,
    `models list` showed no `^` and prune kept no rollback target (tests/retrain/
    test_store_spec_fuzz.py, seeds 23 and 112)."""
    if steps == "promote-twice-garble-current":
        store.promote("v1", verify=False)
        (store.root / "current").write_bytes(b"\xff\xfe\n")
        store.promote("v1", verify=False)
        with pytest.raises(StoreError, match="nothing to roll back"):
            store.rollback(verify=False)
        assert store.predecessor() is None
        return
    if steps == "prune-between":
        for v in ("v1", "v2", "v1", "v3"):
            store.promote(v, verify=False)
        assert store.prune(keep=0) == ["v2", "v4", "v5"]  # the stack: v1, v1, v3
        assert store.rollback(verify=False) == ("v3", "v1")
    else:
        for v in ("v1", "v2", "v1"):
            store.promote(v, verify=False)
        shutil.rmtree(store.root / "v2")
    assert store.predecessor() is None
    with pytest.raises(StoreError, match="nothing to roll back"):
        store.rollback(verify=False)
    assert store.current() == "v1"


def test_prune_removes_a_linked_version_but_not_what_it_links_to(store, tmp_path):
    """A version that is a link to a bundle elsewhere was pruned into a hidden link that
    nothing ever removed (rmtree refuses links)."""
    fake_version(tmp_path / "elsewhere", "v9", "2026-11-09T00:00:00+00:00")
    (store.root / "v9").symlink_to(tmp_path / "elsewhere" / "v9")
    store.promote("v4", verify=False)
    store.promote("v5", verify=False)
    assert "v9" in store.prune(keep=0)
    assert sorted(p.name for p in store.root.iterdir()) == [
        ".lock", "current", "history.json", "v4", "v5"]
    assert (tmp_path / "elsewhere" / "v9" / "manifest.json").is_file()


def test_a_version_prune_cannot_remove_is_one_line_naming_what_it_deleted(store, monkeypatch,
                                                                          capsys):
    """A version whose directory cannot be renamed away (EACCES, EBUSY: a mount point) was a
    PermissionError traceback, and the versions deleted before it went unsaid."""
    store.promote("v5", verify=False)
    real_rename = os.rename

    def rename(src, dst):
        if Path(src).name == "v2":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(src))
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    assert main(["models", "prune", "--store", str(store.root), "--keep", "0"]) == 2
    assert capsys.readouterr().err == (f"anomaly-gan: error: {store.root / 'v2'}: cannot remove: "
                                       f"Permission denied; prune stopped there (deleted before "
                                       f"it: v1)\n")
    assert [v.name for v in store.versions()] == ["v2", "v3", "v4", "v5"]
    assert store.current() == "v5" and not list(store.root.glob(".incoming-*"))


def test_prune_refuses_a_store_where_nothing_was_promoted(store):
    """A folder of bundles (train --out models/v1, models/v2, ...) is a store with no
    current version: `prune --keep 0` deleted every bundle in it."""
    before = sorted(p.name for p in store.root.iterdir())
    with pytest.raises(StoreError, match="has no current version .*promote the one to keep"):
        store.prune(keep=0)
    assert sorted(p.name for p in store.root.iterdir()) == before  # not even a lock file


def test_rollback_refuses_a_damaged_target_and_prune_keeps_up_to_keep(store):
    """rollback made a version with a deleted network file current (a restarting scorer
    then exited 2); prune --keep 5 of 4 versions deleted one (a negative slice start)."""
    store.promote("v1", verify=False)
    store.promote("v2", verify=False)
    with pytest.raises(StoreError, match=r"not rolled back: v1 is damaged .*current stays v2; "
                                         r"promote an intact version instead"):
        store.rollback()  # fake_version's v1 is no bundle: it fails the check
    assert store.current() == "v2"
    before = [v.name for v in store.versions()]
    assert store.prune(keep=len(before) + 1) == [] and store.prune(keep=2 * len(before) - 1) == []
    assert [v.name for v in store.versions()] == before


def test_an_empty_current_file_is_an_error_and_a_lock_it_cannot_take_is_one_line(
        store, monkeypatch):
    """An empty `current` was 'nothing promoted' to the store (retrain then trained and
    promoted a parentless version) and an error to score and serve; a .lock of another
    UID was a PermissionError traceback from models promote/rollback/prune."""
    (store.root / "current").write_text("")
    with pytest.raises(StoreError, match=r"current: expected the name of a version"):
        store.current()
    (store.root / "current").unlink()
    real_open = os.open

    def denied(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(StoreError, match=r"\.lock: cannot take the store's lock: Permission "
                                        r"denied; run as a user that may write the store"):
        store.promote("v1", verify=False)


OTHER_USER = "run as a user that may write the store"
READ_ONLY = ("the store's volume is mounted read-only here (as in a scorer's pod); run it where "
             "the volume is mounted read-write")
NOT_A_FILE = ".lock is not a file; remove it (the next command that writes the store makes a new one)"


@pytest.mark.parametrize(("code", "advice"), [
    (errno.EACCES, OTHER_USER), (errno.EPERM, OTHER_USER), (errno.EROFS, READ_ONLY),
    (errno.EISDIR, NOT_A_FILE), (errno.ENOTDIR, NOT_A_FILE),
])
def test_the_lock_error_advises_what_fits_its_reason(store, monkeypatch, capsys, code, advice):
    """`models promote` in a scorer's pod (the store mounted read-only) said to "run as a user
    that may write the store", which no user may there; so did a .lock that is a directory."""
    store.promote("v1", verify=False)
    store.promote("v2", verify=False)
    real_open = os.open

    def refused(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refused)
    assert main(["models", "rollback", "--store", str(store.root)]) == 2
    assert capsys.readouterr().err == (f"anomaly-gan: error: {store.root / '.lock'}: cannot "
                                       f"take the store's lock: {os.strerror(code)}; {advice}\n")
    assert store.current() == "v2"


def test_a_lock_that_is_a_directory_is_named_so(store, capsys):
    store.promote("v1", verify=False)
    (store.root / ".lock").unlink()
    (store.root / ".lock").mkdir()
    assert main(["models", "prune", "--store", str(store.root), "--keep", "0"]) == 2
    assert capsys.readouterr().err.endswith(
        f": cannot take the store's lock: Is a directory; {NOT_A_FILE}\n")
    (store.root / ".lock").rmdir()
    assert main(["models", "prune", "--store", str(store.root), "--keep", "0"]) == 0


@pytest.mark.parametrize("link", [True, False])
def test_a_current_that_is_a_directory_is_refused_not_taken_for_none(store, link, capsys):
    """`current` made a link to the version directory (as deploy tools do) read as "nothing
    promoted": `models list` showed a version called current, prune and score said there
    was no current file, and retrain trained a version with no parent and made it current."""
    from anomaly_gan.artifacts import resolve_bundle_path

    if link:
        (store.root / "current").symlink_to("v2")
    else:
        (store.root / "current").mkdir()
    expected = (rf"store/current: is a directory{' [(]a link to one[)]' if link else ''}; "
                rf"expected a file holding the name of the version directory to serve; remove "
                rf"it, then `anomaly-gan models promote --store .*store VERSION` writes one")
    with pytest.raises(StoreError, match=expected):
        store.current()
    with pytest.raises(BundleError, match=expected):
        resolve_bundle_path(store.root)
    with pytest.raises(StoreError, match="'current': not a version name"):
        store.path_of("current")
    assert main(["models", "list", "--store", str(store.root)]) == 2
    assert "is a directory" in capsys.readouterr().err
    (store.root / "current").unlink() if link else (store.root / "current").rmdir()
    store.promote("v2", verify=False)
    assert "current" not in [v.name for v in store.versions()] and store.current() == "v2"


@pytest.mark.parametrize("content", [b"", b"\n", b"models/v2\n", b"v2/\n", b"\xff\xfe\n"])
def test_a_current_naming_no_version_is_replaced_by_a_promote(store, content, capsys):
    """An empty or hand-written `current` (a path, `v2/` from tab completion, bytes of a
    damaged write) stopped every command: `models list`, `show`, `rollback` and the
    `promote` that the runbook's "no model loaded" says to run, each with a line that said
    what was wrong and not what to do; the way out was editing the file by hand."""
    store.promote("v1", verify=False)
    store.promote("v2", verify=False)
    (store.root / "current").write_bytes(content)
    assert main(["models", "list", "--store", str(store.root)]) == 2
    assert capsys.readouterr().err.endswith(
        f"; `anomaly-gan models promote --store {store.root} VERSION` replaces it\n")
    assert main(["models", "promote", "--store", str(store.root), "v3"]) == 2  # no bundle
    assert "v3: " in capsys.readouterr().err and (store.root / "current").read_bytes() == content
    store.promote("v3", verify=False)
    assert store.current() == "v3"
    assert store.history()[-1]["previous"] is None
    assert main(["models", "list", "--store", str(store.root)]) == 0
    assert "rollback target: v2" in capsys.readouterr().out
    assert store.rollback(verify=False) == ("v3", "v2")


@pytest.mark.parametrize("content", [b"", b"models/v1\n", b"\xff\xfe\n"])
def test_a_current_damaged_after_the_first_promote_keeps_its_history(store, content):
    """A `current` naming no version after the store's first promote was read as a promote
    killed between its two renames (history.json written for v1, `current` not yet: None,
    as before that promote), so the promote that replaced it dropped the first promote from
    the log and the stack: `models rollback` had no target (tests/retrain/
    test_store_spec_fuzz.py, seed 0 and 38 of the first 3,000)."""
    store.promote("v1", verify=False)
    (store.root / "current").write_bytes(content)
    store.promote("v2", verify=False)
    assert [(e["action"], e["version"]) for e in store.history()] == [
        ("promote", "v1"), ("promote", "v2")]
    assert store.predecessor() == "v1"
    assert store.rollback(verify=False) == ("v2", "v1")


def test_a_current_that_is_a_directory_is_not_replaced_by_a_promote(store):
    """A directory is no file a rename can replace: its own message says to remove it."""
    (store.root / "current").mkdir()
    with pytest.raises(StoreError, match="is a directory"):
        store.promote("v1", verify=False)


@pytest.mark.parametrize("content", [b"{bad", b"[1, 2]", b'{"stack": ["../v1"]}', b"\xff"])
def test_a_damaged_history_names_the_way_out_and_moving_it_aside_works(store, content, capsys):
    """A damaged history.json stopped `models list`, `show`, `promote`, `rollback` and
    `prune` ("promotion history is not valid JSON: ...", exit 2) and named no way out."""
    store.promote("v1", verify=False)
    store.promote("v2", verify=False)
    history = store.root / "history.json"
    history.write_bytes(content)
    advice = (f"; move it aside (`mv {history} {history}.damaged`): the store then starts a "
              f"new history at `current`, and `models rollback` has no target until the "
              f"next promote\n")
    for command in (["list"], ["rollback"], ["prune", "--keep", "1"]):
        assert main(["models", *command, "--store", str(store.root)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"anomaly-gan: error: {history}: ") and err.endswith(advice)
    history.rename(f"{history}.damaged")
    assert main(["models", "list", "--store", str(store.root)]) == 0
    assert "(* current: v2; ^ rollback target: none)" in capsys.readouterr().out
    store.promote("v3", verify=False)
    assert store.rollback(verify=False) == ("v3", "v2")


def test_a_version_with_damaged_metadata_is_listed_and_can_be_pruned(store):
    """One damaged old version made `models list` and `models prune` fail for the whole
    store: the commands that would show it and remove it."""
    store.promote("v4", verify=False)
    (store.root / "v2" / "metadata.json").write_text('{"gate": 5')
    first = store.versions()[0]
    assert first.name == "v2" and first.metadata["health"]["status"] == "damaged"
    assert "v2/metadata.json" in first.metadata["health"]["issues"][0]
    assert "v2" in store.prune(keep=1)


@pytest.mark.parametrize("name", ["v1 copy", "v1 (1)", "vé", "-v1"])
def test_a_bundle_under_a_name_no_version_has_is_listed_as_damaged(store, name, capsys):
    """A bundle copied inside the store under a name promote refuses (`cp -r v1 "v1 copy"`,
    a file manager's "v1 (1)") stopped `models list` and `models prune` for the whole store
    with "'v1 copy': not a version name", naming neither the store nor the way out."""
    store.promote("v4", verify=False)
    shutil.copytree(store.root / "v1", store.root / name)
    listed = {v.name: v.metadata["health"] for v in store.versions()}
    assert listed[name]["status"] == "damaged"
    assert f"{store.root / name}: not a version name" in listed[name]["issues"][0]
    assert main(["models", "list", "--store", str(store.root)]) == 0
    assert name in capsys.readouterr().out
    assert name in store.prune(keep=1)
    assert not (store.root / name).exists() and store.current() == "v4"


def test_a_version_whose_training_data_is_not_an_object_is_listed_as_damaged(store):
    """A bundle `train` wrote has no lineage and `models list` reads its DATA RANGE from
    its training_data: a hand-edited one (not an object, file names that are no strings)
    ended `models list` and `models show` in an AttributeError or TypeError traceback."""
    store.promote("v3", verify=False)
    for bad in ("x", {"files": [1, 2]}):
        (store.root / "v2" / "metadata.json").write_text(json.dumps({"training_data": bad}))
        listed = {v.name: (v.data_range, v.metadata["health"]["status"])
                  for v in store.versions()}
        assert listed["v2"] == (None, "damaged")


def test_pointer_temporaries_are_never_left_behind(store, monkeypatch):
    """A kill inside the write of `current` left `.current.PID.tmp` in the store."""
    store.promote("v1", verify=False)
    (store.root / ".current.999999999.tmp").write_text("v9\n")  # a dead process's
    (store.root / ".history.json.999999999.tmp").write_text("{}")
    assert store.clean_incoming() == 2
    assert not list(store.root.glob(".*.tmp"))

    def interrupted(*_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)  # a signal before the rename
    with pytest.raises(KeyboardInterrupt):
        store.promote("v2", verify=False)
    assert not list(store.root.glob(".*.tmp")) and store.current() == "v1"


def test_a_full_disk_changes_nothing_and_is_one_line(store, monkeypatch, capsys):
    """A full disk (or a quota) while promote or rollback wrote history.json ended in a
    traceback, after `current` had already moved."""
    import anomaly_gan.artifacts

    store.promote("v1", verify=False)
    store.promote("v2", verify=False)
    before = {p.name: p.read_bytes() for p in store.root.iterdir() if p.is_file()}
    room_again = full_disk_for_history(monkeypatch)
    monkeypatch.setattr(anomaly_gan.artifacts, "inspect_bundle", lambda _path: None)
    assert main(["models", "rollback", "--store", str(store.root)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.endswith(
        f"{store.root / 'history.json'}: cannot write: No space left on device; v1 not made "
        f"current (the store is unchanged)")
    with pytest.raises(StoreError, match="history.json: cannot write: No space left"):
        store.prune(keep=0)  # it deleted v3..v5 first; history.json still names none of them
    room_again()
    assert {p.name: p.read_bytes() for p in store.root.iterdir() if p.is_file()} == before
    assert store.current() == "v2" and store.rollback(verify=False) == ("v2", "v1")


def test_a_version_that_does_not_fit_on_the_disk_is_named_not_its_temporary(store,
                                                                            monkeypatch):
    """A full volume while retrain saved its candidate said '<store>/.incoming-PID@HOST-NS:
    cannot write the bundle: No space left on device', a hidden name the operator never
    made, and nothing about which store or version."""
    from anomaly_gan import artifacts
    from tests.support.detectors import untrained_detector

    store.promote("v1", verify=False)
    before = sorted(p.name for p in store.root.iterdir())
    real_write = artifacts._write_json

    def full(path, payload):
        if path.name == "metadata.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_write(path, payload)

    monkeypatch.setattr(artifacts, "_write_json", full)
    with pytest.raises(StoreError) as caught:
        store.add(untrained_detector("v7"))
    assert str(caught.value) == (f"{store.root}: cannot save version v7: No space left on "
                                 f"device (the store is unchanged)")
    assert sorted(p.name for p in store.root.iterdir()) == before  # no hidden leftover
    assert store.current() == "v1"


def test_unknown_version_is_named(store):
    with pytest.raises(StoreError, match="no version 'v9'"):
        store.promote("v9", verify=False)
    with pytest.raises(StoreError, match="not a version name"):
        store.promote("../etc", verify=False)


def test_a_version_given_as_a_path_names_the_version_meant(store):
    """`models promote --store models v1/` (a shell completes a directory with a slash) and
    `models show --store models models/v1` said only "'v1/': not a version name": neither
    what a version name is nor the one meant."""
    for given in ("v1/", f"{store.root}/v1", "./v1"):
        with pytest.raises(StoreError, match=rf"'{re.escape(given)}': not a version name: "
                                             rf"expected a version's directory name as `anomaly-gan "
                                             rf"models list` shows it, not a path; did you mean 'v1'\?"):
            store.promote(given, verify=False)
    with pytest.raises(StoreError, match=r"'\.\./etc': not a version name: expected a version's "
                                         r"directory name as `anomaly-gan models list` shows it "
                                         r"\(a letter or digit, then letters, digits"):
        store.path_of("../etc")


def test_lock_serialises_promoters(store):
    store.promote("v1", verify=False)
    order = []
    with store.lock():
        t = threading.Thread(target=lambda: order.append(store.promote("v2", verify=False)))
        t.start()
        t.join(0.3)
        assert t.is_alive() and store.current() == "v1"  # waiting for the lock
    t.join(10)
    assert order == ["v1"] and store.current() == "v2"
    with (store.lock(), pytest.raises(StoreError, match="locked by another process"),
          ModelStore.open(store.root).lock(timeout_s=0.2)):
        pass


def test_two_writers_of_one_name_both_add_a_version(tmp_path, monkeypatch):
    """The name is chosen before the bundle is saved (outside the lock, it takes a while).
    Another writer that took the same name meanwhile made the slower one fail with 'appeared
    while writing it; retry' after its whole retrain; now it takes the next free name, and
    its bundle carries that name."""
    from anomaly_gan import artifacts
    from anomaly_gan.artifacts import inspect_bundle
    from tests.support.detectors import untrained_detector

    store = ModelStore.open(tmp_path / "store", create=True)
    real_save = artifacts.save_bundle

    def save_racing(detector, out_dir, overwrite=False):
        real_save(detector, out_dir, overwrite)
        monkeypatch.setattr(artifacts, "save_bundle", real_save)
        # the other writer adds its version while this one is saving
        assert store.add(untrained_detector("v7")) == "v7"

    monkeypatch.setattr(artifacts, "save_bundle", save_racing)
    assert store.add(untrained_detector("v7")) == "v7-2"
    assert sorted(v.name for v in store.versions()) == ["v7", "v7-2"]
    for name in ("v7", "v7-2"):
        info = inspect_bundle(store.root / name)  # checksums match the renamed metadata
        assert (info.version, info.metadata["version"]) == (name, name)
    assert not [p.name for p in store.root.iterdir() if "incoming" in p.name]


def test_dead_writers_leftovers_are_cleaned_and_never_listed(store):
    leftover = store.root / ".incoming-999999999-1"
    leftover.mkdir()
    (leftover / "manifest.json").write_text("{}")
    assert "incoming" not in " ".join(v.name for v in store.versions())
    assert store.clean_incoming() == 1 and not leftover.exists()
    # killed inside save_bundle: its temporary sibling of the .incoming- directory; a live
    # writer's (this process) stays
    half = store.root / "..incoming-999999999-2.k3j_x"
    live = store.root / f"..incoming-{os.getpid()}-3.a8b_c"
    for d in (half, live):
        d.mkdir()
    assert "incoming" not in " ".join(v.name for v in store.versions())
    assert store.clean_incoming() == 1 and not half.exists() and live.exists()


def test_a_promote_or_a_rollback_removes_a_killed_writers_leftovers(store):
    """The README says what a killed retrain leaves is removed by the next write into the
    store: prune and the next retrain did, a promote or a rollback (the usual next write
    after a failed retrain) did not, and its half-written candidate stayed."""
    for action in (lambda: store.promote("v1", verify=False),
                   lambda: store.promote("v2", verify=False),
                   lambda: store.rollback(verify=False)):
        leftover = store.root / ".incoming-999999999-1"
        leftover.mkdir()
        (leftover / "manifest.json").write_text("{}")
        action()
        assert not leftover.exists()


def test_another_hosts_leftovers_are_judged_by_age_not_by_process_id(store):
    """Pods that share the store's volume each have their own process ids, and a retrain is
    often process 1: by the id alone a pod took another pod's leftover for a live process's
    for ever (a killed retrain's half-written version stayed), or a live writer's for a
    dead one's and removed it under the writer. Another host's leftover now goes only once
    it is older than any write into the store takes."""
    from anomaly_gan import store as store_module

    mine = store.incoming_dir()
    assert "@" in mine.name and store_module._host() in mine.name
    fresh = store.root / ".incoming-999999999@other_pod-5"  # its pid means nothing here
    init = store.root / ".incoming-1@other_pod-6"  # process 1 is alive in every pod
    old_tmp = store.root / ".current.1@other_pod.tmp"
    hand = store.root / ".incoming-by-hand"
    for d in (fresh, init, hand):
        d.mkdir()
    old_tmp.write_text("v9\n")
    stale = time.time() - store_module.FOREIGN_LEFTOVER_SECONDS - 60
    for path in (init, old_tmp):
        os.utime(path, (stale, stale))
    assert store.clean_incoming() == 2
    assert fresh.exists() and hand.exists() and not init.exists() and not old_tmp.exists()
    # this host's leftover of a dead process goes at once, as before
    dead_here = store.root / f".incoming-999999999@{store_module._host()}-7"
    dead_here.mkdir()
    assert store.clean_incoming() == 1 and not dead_here.exists() and fresh.exists()


@pytest.mark.parametrize("meta, status, attempts", [
    ({"health": {"status": "healthy", "issues": []}}, "healthy", 1),
    ({"health": {"status": "unhealthy", "issues": ["mode collapse"], "attempts": 3}},
     "unhealthy", 3),
    ({"health": {"status": "healthy", "attempts": [{}, {}]}}, "healthy", 2),
    ({}, "unknown", 1),
    ({"health": {"status": "unhealthy", "issues": 7}}, "unhealthy", 1),  # hand-edited
])
def test_health_of_reads_old_and_new_metadata(meta, status, attempts):
    h = health_of(meta)
    assert h["status"] == status and h["attempts"] == attempts
    assert all(isinstance(i, str) for i in h["issues"])


def _rollback(s: ModelStore) -> None:
    s.rollback(verify=False)


def _promote(s: ModelStore) -> None:
    s.promote("v3", verify=False)


def _show(s: ModelStore) -> None:  # a version read by name (models show, promote)
    s.info("v1")


def _list(s: ModelStore) -> None:  # what `models list` reads
    s.versions()
    s.current()
    s.predecessor()


# (file, its damaged content, what reads it, the error, the message after "<store>/<file>: ")
DAMAGED = [
    ("current", b"\xff\xfe\n", _list, StoreError,
     "expected the name of a version directory as UTF-8 text, got undecodable bytes"),
    ("current", b"../v1\n", _rollback, StoreError,
     "expected the name of a version directory, got '../v1'"),
    ("history.json", b'{"stack": ["v1", 5], "log": []}', _rollback, StoreError,
     "stack[1]: expected a version name, got 5"),
    ("history.json", b'{"stack": ["../../etc", "v2"], "log": []}', _rollback, StoreError,
     "stack[0]: expected a version name, got '../../etc'"),
    ("history.json", b'{"stack": ["v1", "v2"], "log": {}}', _promote, StoreError,
     "log: expected a list of promotion records, got {}"),
    ("history.json", b'{"stack": ["v1", "v2"], "log": ["promoted"]}', _list, StoreError,
     "log[0]: expected an object, got 'promoted'"),
    ("history.json", b'{"stack": ["v1"], "current": 5}', _list, StoreError,
     "current: expected a version name or null, got 5"),
    ("history.json", b'{"stack": ["v1"], "before": {"current": "v1", "stack": ["../v2"]}}',
     _rollback, StoreError, ("before: expected an object with 'current' (a version name or "
     "null) and a 'stack' list of version names, got {'current': 'v1', 'stack': ['../v2']}")),
    ("history.json", b"[1, 2]", _promote, StoreError,
     "expected a JSON object with a 'stack' list of version names, got [1, 2]"),
    ("history.json", b'{"stack": ["\xff"]}', _list, StoreError,
     "expected promotion history as UTF-8 JSON, got undecodable bytes at byte 12"),
    ("history.json", b'{"stack": [', _rollback, StoreError,
     "promotion history is not valid JSON: Expecting value: line 1 column 12"),
    ("history.json", b"[" * 100_000, _list, StoreError,
     "promotion history is nested too deeply to be read as JSON"),
    ("v1/metadata.json", b"[1]", _show, BundleError, "expected a JSON object, got [1]"),
    ("v1/metadata.json", b'{"lineage": "retrain"}', _show, BundleError,
     "lineage: expected an object, got 'retrain'"),
    ("v1/metadata.json", b'{"lineage": {"parent": 5}}', _show, BundleError,
     "lineage.parent: expected a version name (a string), got 5"),
    ("v1/metadata.json", b'{"lineage": {"source": {"files": [1]}}}', _show, BundleError,
     "lineage.source.files: expected a list of file names, got [1]"),
    # what `train` records (a bundle with no lineage): DATA RANGE read it with .get and
    # Path(), and `models list` and `models show` ended in an AttributeError or TypeError
    ("v1/metadata.json", b'{"training_data": "x"}', _show, BundleError,
     "training_data: expected an object, got 'x'"),
    ("v1/metadata.json", b'{"training_data": {"files": [1, 2]}}', _show, BundleError,
     "training_data.files: expected a list of file names, got [1, 2]"),
    # Not an object, the gate would read as "trained without the gate" and be promoted.
    ("v3/metadata.json", b'{"gate": ["rejected"]}', _promote, BundleError,
     "gate: expected an object, got ['rejected']"),
    ("v3/metadata.json", b'{"gate": {"passed": false, "reasons": "too many alerts"}}',
     _promote, BundleError, "gate.reasons: expected a list of strings, got 'too many alerts'"),
]


@pytest.mark.parametrize("name, content, read, error, message", DAMAGED)
def test_a_damaged_file_is_one_error_naming_it(store, name, content, read, error, message):
    """A hand-edited or damaged current, history.json or metadata.json is reported with its
    path and what was expected, and a promote or rollback that meets one changes nothing.
    Until 2026-12-04 most of these were a TypeError or AttributeError with a traceback."""
    store.promote("v1", verify=False)
    store.promote("v2", verify=False)
    (store.root / name).write_bytes(content)
    before = {f: (store.root / f).read_bytes() for f in ("current", "history.json")}
    with pytest.raises(error) as info:
        read(store)
    assert str(info.value).startswith(f"{store.root / name}: {message}")
    assert "\n" not in str(info.value)
    assert {f: (store.root / f).read_bytes() for f in before} == before


def test_null_lineage_and_gate_read_as_absent(store):
    (store.root / "v1" / "metadata.json").write_text(json.dumps(
        {"created": "2026-11-01T00:00:00+00:00", "lineage": None, "gate": None}))
    v1 = store.versions()[0]
    assert (v1.name, v1.data_range, v1.parent, v1.gate) == ("v1", None, None, None)


def test_an_unreadable_version_is_one_line_saying_so(store, monkeypatch, capsys):
    """Until 2026-12 `models list` and `models show` ended in a PermissionError traceback."""
    store.promote("v1", verify=False)
    deny_search(monkeypatch, store.root / "v1")
    expected = f"{store.root / 'v1'}: cannot read: Permission denied"
    for read in (_list, lambda s: s.info("v1"), lambda s: s.path_of("v1")):
        with pytest.raises(StoreError) as info:
            read(store)
        assert str(info.value) == expected
    assert main(["models", "show", "--store", str(store.root)]) == 2
    assert capsys.readouterr().err == f"anomaly-gan: error: {expected}\n"


def test_a_version_of_another_input_kind_is_not_promoted(store):
    """serve reads one kind of input with one config: a logs model never replaces a metrics
    one in a store (or the reverse), also not by hand; a damaged current does not block."""
    logs = fake_version(store.root, "logs-v1", "2026-11-09T00:00:00+00:00")
    meta_path = store.root / logs / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "logs": {"lines": 10}}))
    store.promote("v1", verify=False)
    with pytest.raises(StoreError, match="logs-v1: a logs model; the current version v1 is "
                                         "a metrics model"):
        store.promote("logs-v1", verify=False)
    assert store.current() == "v1"
    assert [store.info(v).input for v in ("v1", "logs-v1")] == ["metrics", "logs"]
    (store.root / "v1" / "metadata.json").write_text("not json")
    store.promote("logs-v1", verify=False)
    with pytest.raises(StoreError, match="v2: a metrics model; the current version logs-v1"):
        store.promote("v2", verify=False)


def test_rollback_does_not_cross_input_kinds(store):
    """With a pruned current, promote lets another kind through (the way out of a damaged
    store); rolling back from it must not bring the other kind back."""
    import shutil

    logs = fake_version(store.root, "logs-v1", "2026-11-09T00:00:00+00:00")
    meta_path = store.root / logs / "metadata.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "logs": {}}))
    store.promote("v1", verify=False)
    store.promote("v2", verify=False)
    shutil.rmtree(store.root / "v2")
    store.promote("logs-v1", verify=False)
    with pytest.raises(StoreError, match="not rolled back: v1 is a metrics model and the "
                                         "current logs-v1 is not"):
        store.rollback(verify=False)
    assert store.current() == "logs-v1"


# ------------------------------------------------------------------ the run lock of a retrain


def test_a_run_lock_held_by_another_process_refuses_at_once_and_leaves_models_working(store):
    """A second retrain of a store trained for minutes and then failed at its promote (exit
    2). The run lock refuses it at once, naming the holder; promote, rollback and prune, which
    take the store's short lock only, go on while a retrain holds the store."""
    from anomaly_gan.store import RUN_LOCK, _host

    store.promote("v1", verify=False)
    holder = hold_run_lock(store)
    try:
        with pytest.raises(StoreError) as refused, store.run_lock():
            pytest.fail("took a run lock another process holds")
        since = (store.root / RUN_LOCK).read_text().split()[1]
        assert str(refused.value) == (
            f"{store.root}: another retrain is running on this store: {holder.pid}@{_host()} "
            f"since {since}; wait for it to end and run again (a lock left by a process that "
            f"died is taken over: at once on its host, after 10 minutes without its refresh from another; if "
            f"{holder.pid}@{_host()} is gone for good, remove {store.root / RUN_LOCK})")
        store.promote("v2", verify=False)
        assert store.rollback(verify=False) == ("v2", "v1")
        assert store.prune(keep=1) == ["v2", "v3", "v4"]
    finally:
        holder.communicate("", timeout=30)
    assert holder.returncode == 0
    assert not (store.root / RUN_LOCK).exists()  # released at the end
    with store.run_lock():
        assert (store.root / RUN_LOCK).read_text().startswith(f"{os.getpid()}@{_host()} ")


def test_a_run_lock_left_by_a_dead_process_on_this_host_is_taken_over(store):
    from anomaly_gan.store import RUN_LOCK

    dead = hold_run_lock(store, "die")
    dead.wait(timeout=30)
    left = (store.root / RUN_LOCK).read_text()
    assert left.startswith(f"{dead.pid}@")
    with store.run_lock():
        assert (store.root / RUN_LOCK).read_text().startswith(f"{os.getpid()}@")
    assert not (store.root / RUN_LOCK).exists()


@pytest.mark.parametrize("content, named", [
    ("1@other_pod 2026-12-01T03:00:00+00:00\n", "1@other_pod since 2026-12-01T03:00:00+00:00"),
    ("", "unknown ({lock} names none)"),  # its taker killed before it wrote itself in
    # its write torn (a power loss): process 1 is alive here too, but named by no whole
    # record; such a lock held the store for ever (store crash fuzz, seed 1)
    ("1", "unknown ({lock} holds '1', not 'PID@HOST SINCE')"),
    ("1@this_host 2026-1", "unknown ({lock} holds '1@this_host 2026-1', not 'PID@HOST SINCE')"),
    ("\0" * 40, "unknown ({lock} holds"),
])
def test_a_run_lock_from_another_host_blocks_until_its_refresh_is_ten_minutes_late(store, content, named):
    """Process 1 is alive in every pod: another pod's lock is judged by its age, which its
    holder refreshes while it runs; so is a lock that holds no whole ``PID@HOST SINCE``."""
    from anomaly_gan import store as store_module
    from anomaly_gan.store import RUN_LOCK

    lock = store.root / RUN_LOCK
    lock.write_text(content)
    with pytest.raises(StoreError, match=re.escape(named.format(lock=lock))), store.run_lock():
        pass
    assert lock.read_text() == content
    stale = time.time() - store_module.RUN_LOCK_STALE_SECONDS - 60
    os.utime(lock, (stale, stale))
    with store.run_lock():
        assert lock.read_text().startswith(f"{os.getpid()}@")


def test_the_holder_of_a_run_lock_keeps_its_time_fresh(store, monkeypatch):
    """A retrain runs for hours (the chart allows six): without a refresh another pod took
    its lock for a dead one's after ten minutes."""
    from anomaly_gan import store as store_module
    from anomaly_gan.store import RUN_LOCK

    monkeypatch.setattr(store_module, "RUN_LOCK_REFRESH_S", 0.01)
    lock = store.root / RUN_LOCK
    with store.run_lock():
        stale = time.time() - store_module.RUN_LOCK_STALE_SECONDS - 60
        os.utime(lock, (stale, stale))
        deadline = time.monotonic() + 30
        while lock.stat().st_mtime < time.time() - 300:
            assert time.monotonic() < deadline, "the run lock's time was not refreshed"
            time.sleep(0.01)


def test_a_run_lock_taken_over_meanwhile_is_not_removed_by_its_former_holder(store):
    from anomaly_gan.store import RUN_LOCK

    lock = store.root / RUN_LOCK
    with store.run_lock():
        lock.unlink()
        lock.write_text("1@other_pod 2026-12-01T03:00:00+00:00\n")  # took it for stale
    assert lock.read_text() == "1@other_pod 2026-12-01T03:00:00+00:00\n"


def test_version_at_names_a_version_of_the_store_by_any_path(store, tmp_path):
    (tmp_path / "shadow").symlink_to(store.root / "v3")
    assert store.version_at(store.root / "v3") == "v3"
    assert store.version_at(tmp_path / "shadow") == "v3"
    assert store.version_at(f"{store.root}/../store/v4/") == "v4"
    assert store.version_at(store.root / "v9") is None
    assert store.version_at(store.root) is None
    assert store.version_at(tmp_path) is None


@pytest.mark.parametrize("age", [0, 3600])
def test_a_run_lock_that_is_a_directory_is_one_line_naming_it(store, age):
    """Taken for a lock naming no holder, then (ten minutes old) unlinked: a traceback
    (IsADirectoryError), exit 1."""
    from anomaly_gan.store import RUN_LOCK

    lock = store.root / RUN_LOCK
    lock.mkdir()
    old = time.time() - age
    os.utime(lock, (old, old))
    with pytest.raises(StoreError) as refused, store.run_lock():
        pytest.fail("took a run lock that is a directory")
    assert str(refused.value) == (
        f"{lock}: is a directory, not the store's run lock (a file holding 'PID@HOST SINCE' "
        f"of the retrain running); remove it (the next retrain makes a new one)")
    assert lock.is_dir()


def test_a_run_lock_holding_no_writer_is_not_named_as_one(store):
    """'hello world' was named as the retrain 'hello since world'."""
    from anomaly_gan.store import RUN_LOCK

    lock = store.root / RUN_LOCK
    lock.write_text("hello world\n")
    with pytest.raises(StoreError, match=re.escape(
            f"another retrain is running on this store: unknown ({lock} holds 'hello world', "
            f"not 'PID@HOST SINCE'); wait for it") + ".*; if it is gone for good, remove"
    ), store.run_lock():
        pass


def test_a_run_lock_naming_this_process_that_it_does_not_hold_is_taken_over(store):
    """A container restarted in its pod (same host name) runs the retrain as process 1
    again: the lock its killed predecessor left named this very process, which was never
    taken for dead, and every run was refused (exit 2) until the lock was removed by hand.
    A lock this process holds is still refused to it."""
    from anomaly_gan.store import RUN_LOCK, _host

    lock = store.root / RUN_LOCK
    lock.write_text(f"{os.getpid()}@{_host()} 2026-12-01T03:00:00+00:00\n")
    with store.run_lock():
        assert lock.read_text().startswith(f"{os.getpid()}@{_host()} ")
        assert not lock.read_text().endswith("2026-12-01T03:00:00+00:00\n")
        with pytest.raises(StoreError, match="another retrain is running"), \
                ModelStore.open(str(store.root.resolve())).run_lock():
            pass
    assert not lock.exists()


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="process start times: Linux")
def test_a_run_lock_whose_process_id_a_later_process_has_is_taken_over(store):
    """A retrain killed by SIGKILL whose id the host gave to another process (a long-lived
    one: a shell, a server) held the store until that process ended. A process that started
    after the lock was written is not its writer."""
    from anomaly_gan.store import RUN_LOCK, _host

    lock = store.root / RUN_LOCK
    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE, text=True)
    try:
        lock.write_text(f"{other.pid}@{_host()} 2026-12-01T03:00:00+00:00\n")
        with store.run_lock():
            assert lock.read_text().startswith(f"{os.getpid()}@{_host()} ")
        assert other.poll() is None  # alive all along
    finally:
        other.communicate("", timeout=30)


@pytest.mark.parametrize("content", ["1@other_pod 2026-12-01T03:00:00+00:00\n", ""])
def test_a_run_lock_is_judged_by_the_clock_that_stamps_the_store(store, monkeypatch, content):
    """On NFS a file's times are the server's: a host whose clock ran ten minutes ahead of
    it took another host's live run lock, refreshed a moment ago, for a dead one's, and two
    retrains ran. The lock's age is measured against the store's own clock."""
    from anomaly_gan.store import RUN_LOCK

    lock = store.root / RUN_LOCK
    lock.write_text(content)  # written (or refreshed) just now, by the file system's clock
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 700)  # this host's clock ahead
    with pytest.raises(StoreError, match="another retrain is running"), store.run_lock():
        pass
    assert lock.read_text() == content


def test_prune_keeps_the_candidate_of_a_retrain_that_still_runs(store):
    """A `models prune --keep 0` between a retrain's add and its promote (the gate scoring
    the candidate) deleted the candidate, and the retrain then failed at its promote with
    its model lost (found by the store review of 2026-12-05). Versions created since a live
    retrain of another process took the run lock are kept; once it is gone they are pruned
    as any other. (A retrain's own prune names its candidate: keep_versions.)"""
    store.promote("v3", verify=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import sys\nfrom anomaly_gan.store import ModelStore\n"
         "with ModelStore.open(sys.argv[1]).run_lock():\n"
         "    print('held', flush=True)\n    sys.stdin.read()\n"), str(store.root)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        assert holder.stdout.readline() == "held\n"
        fake_version(store.root, "v6", datetime.now(UTC).isoformat())  # its candidate
        assert store.prune(keep=0) == ["v1", "v2", "v4", "v5"]
        assert [v.name for v in store.versions()] == ["v3", "v6"]
    finally:
        holder.communicate("", timeout=30)
    assert holder.returncode == 0
    assert store.prune(keep=0) == ["v6"]


def test_prune_keeps_an_intact_version_under_a_damaged_rollback_target(tmp_path):
    """Rollback refuses a target that fails its checksums; prune kept that damaged target
    (the predecessor) and deleted the intact version under it, so that once the damaged one
    was removed there was nothing left to roll back to."""
    from tests.retrain.conftest import add_version
    from tests.support.detectors import untrained_detector

    store = ModelStore.open(tmp_path / "store", create=True)
    det = untrained_detector()
    v1, v2, v3 = (add_version(store, det) for _ in range(3))
    for v in (v1, v2, v3):
        store.promote(v, verify=False)
    (store.root / v2 / "metadata.json").write_text("{")  # damaged: rollback refuses it
    with pytest.raises(StoreError, match="not rolled back") as refused:
        store.rollback()
    # the way out, which the line did not give: rollback skips a version removed by hand
    assert (f"; remove {store.root / v2} to roll back to {v1}, the intact version under it"
            in str(refused.value)), refused.value
    assert store.prune(keep=0) == []
    shutil.rmtree(store.root / v2)
    assert store.rollback() == (v3, v1)


def test_a_writability_probe_left_by_a_killed_writer_is_removed_by_the_next_write(store):
    """A retrain (and every add) proves the store writable by making and removing a hidden
    directory in it (files.check_creatable); killed in between (tests/test_store_crash_fuzz.py,
    seed 0), it left `.anomaly-gan-probe-XXXX` in the store for ever: it named no writer,
    so no later write could tell it from a live one's."""
    from anomaly_gan import files
    from anomaly_gan.store import _host

    real_rmdir = os.rmdir
    try:
        os.rmdir = lambda *_a, **_k: None  # killed before it removes its probe
        files.check_creatable(store.root, "a new version", StoreError, inside=True)
    finally:
        os.rmdir = real_rmdir
    (probe,) = store.root.glob(".anomaly-gan-probe-*")
    dead = probe.rename(store.root / f".anomaly-gan-probe-999999999@{_host()}-x1")
    live = probe.parent / probe.name  # this process's, at work: stays
    live.mkdir()
    store.promote("v1", verify=False)
    assert not dead.exists() and live.exists()


def test_a_promote_syncs_the_store_directory_after_its_renames(store, monkeypatch):
    """`current` and history.json were synced before their renames, but not the renames
    themselves: after a power loss the store could come back with the old `current`
    beside the new history."""
    from tests.support.durability import record_renames, record_syncs

    events: list[tuple[str, str]] = []
    record_syncs(monkeypatch, events)
    record_renames(monkeypatch, events, os, "replace")
    store.promote("v2", verify=False)
    last = max(i for i, (what, _) in enumerate(events) if what == "rename")
    assert ("sync", str(store.root)) in events[last:]


def test_a_prune_with_nothing_to_delete_leaves_the_store_untouched(store, capsys):
    """A prune that deleted nothing still wrote history.json again (a new file by rename:
    another inode, its ``before`` dropped), a write into the store for no change."""
    store.promote("v4", verify=False)
    store.promote("v5", verify=False)
    history = store.root / "history.json"
    before = history.stat()
    text = history.read_bytes()
    assert main(["models", "prune", "--store", str(store.root), "--keep", "5"]) == 0
    assert "pruned 0 version(s)" in capsys.readouterr().err
    after = history.stat()
    assert history.read_bytes() == text
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_link_loop_at_a_version_name_is_listed_as_damaged_and_pruned(store, capsys):
    """A link to itself at a version's name stopped `models list` and `models prune`, the
    commands that show and remove it, with "v9/manifest.json: cannot read: Too many levels
    of symbolic links"."""
    store.promote("v4", verify=False)
    store.promote("v5", verify=False)
    (store.root / "v9").symlink_to("v9")
    assert main(["models", "list", "--store", str(store.root)]) == 0
    listed = {v.name: v.metadata["health"] for v in store.versions()}
    assert listed["v9"]["status"] == "damaged" and "v9" in listed["v9"]["issues"][0]
    assert "v9" in capsys.readouterr().out
    assert "v9" in store.prune(keep=0)
    assert not os.path.lexists(store.root / "v9") and store.current() == "v5"


def test_prune_removes_a_version_whose_name_is_as_long_as_a_file_name_may_be(tmp_path):
    """Prune renames a version out of sight before deleting it, and the name it gave held the
    version's name after the writer's pid and host: a version named by hand (``train --out
    store/NAME``) of 200 bytes or more made it past the 255 bytes a file name may have, and
    prune stopped there with "File name too long"."""
    s = ModelStore.open(tmp_path / "store", create=True)
    long = "v" + "x" * 254
    for i, name in enumerate([long, "v2", "v3"]):
        fake_version(s.root, name, f"2026-11-0{i + 1}T00:00:00+00:00")
    s.promote("v2", verify=False)
    s.promote("v3", verify=False)
    assert s.prune(keep=0) == [long]
    assert sorted(p.name for p in s.root.iterdir()) == [
        ".lock", "current", "history.json", "v2", "v3"]
