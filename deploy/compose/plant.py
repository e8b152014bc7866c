"""Feed the local stack: seed a model store and replay a synthetic plant into Kafka.

Used by deploy/docker-compose.yml (services ``model-init`` and ``producer``) and by
tests/deploy/test_prometheus_e2e.py, so the stack and the test drive the scorer the same way.

    python deploy/compose/plant.py seed-model --store /models [--epochs 3]
    python deploy/compose/plant.py replay --bootstrap kafka:9092 --topic anomaly-gan.events \
        [--rate 200] [--invalid-every 50] [--loop]

``seed-model`` trains on the normal first half of the synthetic plant and promotes the bundle
(``<store>/current``); it does nothing when the store already has a ``current`` model.
``replay`` sends the second half, which holds the injected incidents, as JSON events stamped
with the wall clock (so the scorer's event lag is real), optionally with malformed records
mixed in (they exercise the DLQ and ``anomaly_gan_events_invalid_total``), and with
``--amplify`` it scales each incident's deviation so that a briefly trained model flags it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from anomaly_gan.data.synthetic import SyntheticPlant, make_plant

_INVALID = (
    b"{not json",
    b'["an", "array"]',
    b'{"entity": "pump-x", "values": {"load": 1.0}}',
)


def plant(entities: int, steps: int, seed: int) -> SyntheticPlant:
    return make_plant(n_entities=entities, n_steps=steps, seed=seed)


def seed_model(args: argparse.Namespace) -> int:
    from anomaly_gan.artifacts import promote, save_bundle
    from anomaly_gan.config import load_config
    from anomaly_gan.train import train_detector

    store = Path(args.store)
    if (store / "current").is_file() and not args.force:
        print(f"{store}/current exists ({(store / 'current').read_text().strip()}): nothing to do")
        return 0
    cfg = load_config(args.config)
    if args.epochs is not None:
        import dataclasses

        cfg = cfg.replace(training=dataclasses.replace(cfg.training, epochs=args.epochs, verbose=0))
    p = plant(args.entities, args.steps, args.seed)
    normal = [p.values[e, : p.train_steps] for e in range(len(p.entities))]
    det = train_detector(cfg, normal, p.feature_names, progress=print)
    store.mkdir(parents=True, exist_ok=True)
    save_bundle(det, store / det.version, overwrite=True)
    promote(store, det.version)
    print(f"promoted {det.version} in {store} (threshold {det.threshold:.3f})")
    return 0


def _amplified(p: SyntheticPlant, factor: float) -> np.ndarray:
    """The plant's values with the rows inside incidents pushed ``factor`` times further from
    each entity's normal mean."""
    if factor == 1.0:
        return p.values
    mean = p.values[:, : p.train_steps].mean(axis=1, keepdims=True)
    boosted = mean + (p.values - mean) * factor
    mask = p.labels.astype(bool)
    out = p.values.copy()
    out[mask] = boosted[mask]
    return out


def replay(args: argparse.Namespace) -> int:
    from kafka import KafkaProducer

    p = plant(args.entities, args.steps, args.seed)
    values = _amplified(p, args.amplify)
    names = p.feature_names
    producer = KafkaProducer(bootstrap_servers=args.bootstrap, linger_ms=20, acks="all",
                             key_serializer=str.encode)
    interval = 1.0 / args.rate if args.rate > 0 else 0.0
    sent = invalid = 0
    start = time.monotonic()
    try:
        while True:
            for t in range(p.train_steps, values.shape[1]):
                for e, entity in enumerate(p.entities):
                    event = {"entity": entity, "ts": round(time.time(), 3),
                             "values": dict(zip(names, values[e, t].tolist()))}
                    producer.send(args.topic, key=entity, value=json.dumps(event).encode())
                    sent += 1
                    if args.invalid_every and sent % args.invalid_every == 0:
                        producer.send(args.topic, key=entity,
                                      value=_INVALID[invalid % len(_INVALID)])
                        invalid += 1
                    if interval:
                        # Pace against the start time so slow sends do not add up.
                        delay = start + sent * interval - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
            producer.flush()
            print(f"replayed {sent} events and {invalid} malformed records to {args.topic}",
                  flush=True)
            if not args.loop:
                return 0
    finally:
        producer.close(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2000, help="rows per entity (half train)")
    parser.add_argument("--seed", type=int, default=0)
    sub = parser.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("seed-model", help="train on the normal half and promote the bundle")
    s.add_argument("--store", required=True)
    s.add_argument("--config", help="anomaly-gan YAML (default: shipped defaults)")
    s.add_argument("--epochs", type=int, help="override training.epochs")
    s.add_argument("--force", action="store_true", help="train even if current exists")
    s.set_defaults(func=seed_model)

    r = sub.add_parser("replay", help="send the incident half to Kafka as JSON events")
    r.add_argument("--bootstrap", required=True)
    r.add_argument("--topic", default="anomaly-gan.events")
    r.add_argument("--rate", type=float, default=200.0, help="events per second (0 = no pacing)")
    r.add_argument("--invalid-every", type=int, default=0,
                   help="after every N events also send one malformed record (0 = never)")
    r.add_argument("--amplify", type=float, default=1.0,
                   help="scale the incidents' deviation from normal (1 = as generated)")
    r.add_argument("--loop", action="store_true", help="start over at the end, forever")
    r.set_defaults(func=replay)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
