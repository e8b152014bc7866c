"""The model store: opening rules, immutable versions, promote/rollback/prune, the lock."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from anomaly_gan.errors import StoreError
from anomaly_gan.store import ModelStore, gate_of, health_of


def fake_version(store: Path, name: str, created: str, gate: bool | None = None) -> str:
    """A directory that looks like a bundle to the store (promote with verify=False)."""
    d = store / name
    d.mkdir(parents=True)
    (d / "manifest.json").write_text("{}")
    meta = {"created": created, "health": {"status": "healthy", "issues": []}}
    if gate is not None:
        meta["gate"] = {"passed": gate, "reasons": [] if gate else ["false-alarm rate too high"]}
    (d / "metadata.json").write_text(json.dumps(meta))
    return name


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


def test_promote_rollback_walks_back_the_promotions(store):
    for v in ("v1", "v2", "v3"):
        store.promote(v, verify=False)
    assert store.current() == "v3" and store.predecessor() == "v2"
    assert store.rollback() == ("v3", "v2")
    assert store.rollback() == ("v2", "v1")
    with pytest.raises(StoreError, match="nothing to roll back"):
        store.rollback()
    assert store.current() == "v1"
    assert [e["action"] for e in store.history()] == ["promote"] * 3 + ["rollback"] * 2
    assert (store.root / "current").read_text() == "v1\n"


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
    assert store.rollback() == ("v2", "v1")


def test_unknown_version_is_named(store):
    with pytest.raises(StoreError, match="no version 'v9'"):
        store.promote("v9", verify=False)
    with pytest.raises(StoreError, match="not a version name"):
        store.promote("../etc", verify=False)


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


def test_dead_writers_leftovers_are_cleaned_and_never_listed(store):
    leftover = store.root / ".incoming-999999999-1"
    leftover.mkdir()
    (leftover / "manifest.json").write_text("{}")
    assert "incoming" not in " ".join(v.name for v in store.versions())
    assert store.clean_incoming() == 1 and not leftover.exists()


@pytest.mark.parametrize("meta, status, attempts", [
    ({"health": {"status": "healthy", "issues": []}}, "healthy", 1),
    ({"health": {"status": "unhealthy", "issues": ["mode collapse"], "attempts": 3}},
     "unhealthy", 3),
    ({"health": {"status": "healthy", "attempts": [{}, {}]}}, "healthy", 2),
    ({}, "unknown", 1),
])
def test_health_of_reads_old_and_new_metadata(meta, status, attempts):
    h = health_of(meta)
    assert h["status"] == status and h["attempts"] == attempts
