"""The stream tests' plant (the ``plant`` fixture, tests/stream/conftest.py) with one more
incident injected (``injected_values``): tests/stream/test_scorer_kafka.py and
tests/stream/test_kafka_tls.py stream it to a real broker."""

from __future__ import annotations


def injected_values(plant):
    """The plant's rows with one more, unmistakable incident on pump-2 at rows 700..709."""
    values = plant.values.copy()
    sd = values[1, :600].std(axis=0)
    values[1, 700:710, 1] += 40 * sd[1]
    return values
