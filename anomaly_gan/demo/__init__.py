"""Demos and their tools, kept out of the production packages.

- :mod:`.offline`  ``anomaly-gan offline-demo``: synthetic plant, train, score, evaluate
- :mod:`.stream`   ``anomaly-gan demo``: the whole streaming path on one machine
- :mod:`.logs`     ``anomaly-gan demo --logs``: a synthetic service's logs through the log path
- :mod:`.broker`   an embedded Kafka-protocol broker (Tansu) for the demo, tests and bench
- :mod:`.common`   what the live demos share: the scorer on a thread, an output reader
"""
