"""Demos and their tools, kept out of the production packages.

- :mod:`.offline`  ``anomaly-gan offline-demo``: synthetic plant, train, score, evaluate
- :mod:`.stream`   ``anomaly-gan demo``: the whole streaming path on one machine
- :mod:`.broker`   an embedded Kafka-protocol broker (Tansu) for the demo, tests and bench
"""
