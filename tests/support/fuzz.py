"""Hypothesis strategies shared by the fuzz tests of JSON documents (OTLP log and metric
batches): any JSON value, to put where a document expects something else."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                   st.floats(allow_nan=False), st.text(max_size=12))
JSON = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)


def encoded(doc: Any) -> bytes:
    """``doc`` as a record's bytes (lone surrogates kept); ``{}`` where JSON cannot hold it."""
    try:
        return json.dumps(doc).encode("utf-8", "surrogatepass")
    except (ValueError, OverflowError):
        return b"{}"
