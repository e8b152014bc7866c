"""Hypothesis strategies shared by the fuzz tests of JSON documents (OTLP log and metric
batches): any JSON value, to put where a document expects something else, and an OTLP
request's envelope around a signal's items."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hypothesis import strategies as st

from anomaly_gan.otlp import Signal

# 10**400: a JSON number beyond a double's range, which json.loads reads as an exact int
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                   st.sampled_from([10**400, -(10**400)]), st.floats(allow_nan=False),
                   st.text(max_size=12))
JSON = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)


def encoded(doc: Any) -> bytes:
    """``doc`` as a record's bytes (lone surrogates kept); ``{}`` where JSON cannot hold it."""
    try:
        return json.dumps(doc).encode("utf-8", "surrogatepass")
    except (ValueError, OverflowError):
        return b"{}"


def otlp_document(signal: Signal, attributes: st.SearchStrategy[Any],
                  items: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An OTLP/JSON request of ``signal`` (resources, each with ``attributes``, of scopes of
    ``items``), any JSON value standing in for any of its parts."""
    resource = st.one_of(st.fixed_dictionaries({}, optional={"attributes": attributes}), JSON)
    scope = st.one_of(st.fixed_dictionaries({}, optional={
        signal.items: st.one_of(st.lists(items, max_size=4), JSON)}), JSON)
    return st.fixed_dictionaries({}, optional={signal.resources: st.one_of(st.lists(
        st.one_of(st.fixed_dictionaries({}, optional={
            "resource": resource,
            signal.scopes: st.one_of(st.lists(scope, max_size=3), JSON)}), JSON),
        max_size=3), JSON)})


def seed_blocks(start: int, count: int, size: int = 100) -> list[range]:
    """The seeds ``start`` to ``start + count - 1`` in blocks of ``size``, a test each (with
    :func:`each_seed`): a test per seed made a few thousand items of a spec fuzz's default
    run, each with pytest-xdist's cost and a line in the count."""
    return [range(s, min(s + size, start + count)) for s in range(start, start + count, size)]


def block_id(seeds: range) -> str:
    """A block's test id: its first and last seed."""
    return f"seeds{seeds.start}-{seeds.stop - 1}"


def each_seed(seeds: range, check: Any) -> None:
    """``check(seed)`` for each seed of a block; a failure names its seed (rerun it alone
    with the file's ``*_SEED_START`` and ``*_SEEDS=1``)."""
    for seed in seeds:
        try:
            check(seed)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}: {exc}") from None


def first_difference(want: list[Any], got: list[Any], same: Any = None) -> tuple[int, list[str]]:
    """Where the reference's list ``want`` and the product's ``got`` first differ (the
    shorter one's length when one begins the other), and the two lines that show it (None
    past an end); ``same(a, b)``: whether two items agree (default ``==``)."""
    agree = same or (lambda a, b: a == b)
    first = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if not agree(a, b)),
                 min(len(want), len(got)))
    return first, [f"  docs:    {want[first] if first < len(want) else None}",
                   f"  product: {got[first] if first < len(got) else None}"]


def assert_every_rule_reached(rules: set[str], check: Any, seeds: range,
                              *counters: Counter[str]) -> None:
    """A spec fuzz file's coverage test: ``check(seed)`` for each of ``seeds`` with the
    reference's rule ``counters`` cleared first, then every rule of ``rules`` must have been
    taken at least once, so that a rule no case reaches cannot hide a disagreement."""
    for counter in counters:
        counter.clear()
    for seed in seeds:
        check(seed)
    missing = rules - {rule for counter in counters for rule, n in counter.items() if n}
    assert not missing, f"rules no seed reached: {sorted(missing)}"
