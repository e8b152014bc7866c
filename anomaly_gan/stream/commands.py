"""The ``serve`` and ``demo`` subcommands, registered into the main ``anomaly-gan`` CLI.

Each handler is a thin call into the library and returns an exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Iterator

from anomaly_gan.runtime import Interrupts

__all__ = ["cmd_demo", "cmd_serve", "register"]


def cmd_serve(args: argparse.Namespace) -> int:
    # Until serve() installs its own handlers (drain, commit, exit 0), a SIGTERM or Ctrl-C
    # interrupts the start-up: exit 130 with one line, as README says. Python's default
    # SIGTERM ended the process silently with 143 during the seconds of config, bundle and
    # TensorFlow loading (helper probe of 2026-12-05).
    with Interrupts().installed() as stop, _sighup_ignored():
        return _serve(args, stop)


@contextlib.contextmanager
def _sighup_ignored() -> Iterator[None]:
    """SIGHUP does nothing until serve() installs its own handler (check the model path at
    once): the start-up reads that path anyway. Python's default ended the process silently
    with 129 during the seconds of config, bundle and TensorFlow loading. A handler, not
    SIG_IGN, which a process started meanwhile would inherit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGHUP, lambda _signum, _frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


def _serve(args: argparse.Namespace, stop: Interrupts) -> int:
    from anomaly_gan.artifacts import inspect_bundle
    from anomaly_gan.config import load_config, source_of
    from anomaly_gan.errors import BundleError
    from anomaly_gan.runtime import import_tensorflow_quietly
    from anomaly_gan.stream.http import check_listen
    from anomaly_gan.stream.kafka_io import client_kwargs
    from anomaly_gan.stream.logs import configure_logging
    from anomaly_gan.stream.reload import unhealthy_reason
    from anomaly_gan.stream.service import serve

    cfg = load_config(args.config)
    if args.model:
        import dataclasses

        cfg = cfg.replace(serve=dataclasses.replace(cfg.serve, model_path=args.model))
    # The log format first, so that under log_format json even a bad bundle's line is JSON.
    configure_logging(cfg.serve.log_format, cfg.serve.log_level)
    # The Kafka security settings (TLS files, the password file) before the model and
    # TensorFlow load: a missing or bad file was found only when connecting, seconds later,
    # after the "starting" line had logged the password as set.
    client_kwargs(cfg.serve.kafka)
    try:
        bundle = inspect_bundle(cfg.serve.model_path)  # path, store, manifest, checksums
    except BundleError as exc:
        if args.model:  # the path is on the command line, as the user typed it
            raise
        # A path from the config names where it was set: 'models: model path does not exist'
        # did not say that serve.model_path of local.yaml (or its variable) held it.
        raise BundleError(f"{source_of('serve.model_path', args.config)}: serve.model_path: "
                          f"{exc}") from None
    # A model whose training failed is refused here as at a hot reload (the watcher keeps
    # the running one): a restarted pod must not serve what a running one refused.
    unhealthy = unhealthy_reason(bundle, cfg.serve.allow_unhealthy)
    if unhealthy is not None:
        raise BundleError(f"{bundle.path}: {unhealthy}")
    # A port in use, likewise before TensorFlow; after the checks of the config and the
    # bundle, which fail alike wherever they run: the port's answer depends on what else
    # runs on the host (another scorer on 9108 gave a bad model path's error the port's).
    check_listen(cfg.serve.http.host, cfg.serve.http.port)
    # After the config and the bundle: a typo in a path or key is one line at once, not after
    # seconds of import (TensorFlow's start-up notices are captured, not logged). A signal
    # that interrupted the import crashed the interpreter (exit 139): it waits for its end.
    with stop.deferred():
        import_tensorflow_quietly()
    stop.check()
    return serve(cfg, bundle=bundle)


def cmd_demo(args: argparse.Namespace) -> int:
    """The options are checked first (a typo costs no TensorFlow import); TensorFlow is
    imported before the demo starts logging, so no banner lands among its lines."""
    from anomaly_gan.demo.common import note_environment_not_used
    from anomaly_gan.demo.stream import DemoOptions, run_demo
    from anomaly_gan.runtime import import_tensorflow_quietly

    if args.logs:
        from anomaly_gan.demo.logs import LogsDemoOptions, run_logs_demo
        from anomaly_gan.errors import ConfigError

        if args.keep_running:
            raise ConfigError("demo --logs: --keep-running is for the sensor demo only")
        logs_opts = LogsDemoOptions(
            speed=60.0 if args.speed is None else args.speed, seed=args.seed,
            http_port=args.http_port, out=args.out or "out/demo-logs", epochs=args.epochs)
        note_environment_not_used("demo --logs")
        import_tensorflow_quietly()
        return run_logs_demo(logs_opts)

    opts = DemoOptions(
        entities=args.entities,
        steps=args.steps,
        speed=1000.0 if args.speed is None else args.speed,
        seed=args.seed,
        http_port=args.http_port,
        out=args.out or "out/demo",
        keep_running=args.keep_running,
        epochs=args.epochs,
    )
    note_environment_not_used("demo")
    import_tensorflow_quietly()
    return run_demo(opts)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``serve`` and ``demo`` to the main parser's subcommands."""
    p = sub.add_parser(
        "serve", help="score a live Kafka stream: alerts, scores, DLQ, metrics",
        description="Consume events, score windows, produce alerts/scores/dead letters and "
                    "serve /metrics, /healthz, /readyz until SIGTERM or SIGINT (SIGHUP checks the "
                    "model path for a new bundle at once). Exit codes: 0 "
                    "stopped cleanly (everything consumed was scored and committed); 1 the final "
                    "flush or commit failed, or a record not delivered still waited for its "
                    "replay (the uncommitted events are re-read on restart); "
                    "2 bad config or model bundle (one line, no traceback); 130 SIGTERM or "
                    "Ctrl-C while it starts (config, TensorFlow and the model loading), before "
                    "it can drain (one line), or a second one while it drains (at once, "
                    "committing nothing more).")
    p.add_argument("--config", help="YAML config (the serve: section; default: shipped defaults)")
    p.add_argument("--model", help="bundle directory or store with a 'current' file "
                                   "(overrides serve.model_path)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="embedded broker + synthetic plant + trained model + "
                                    "the scorer, live alerts and a summary",
                       description="Start an embedded Kafka-protocol broker, train on a synthetic "
                                   "plant, stream it through the scorer and print alerts and a "
                                   "summary. Exit codes: 0 every window was scored; 1 some were "
                                   "not; 2 bad option or output path; 3 training ended with "
                                   "non-finite networks (no bundle); 130 interrupted (Ctrl-C or "
                                   "SIGTERM; its broker stopped).")
    p.add_argument("--entities", type=int, default=6, help="number of pumps (default 6)")
    p.add_argument("--steps", type=int, default=3000,
                   help="rows per pump; the first half trains the model (default 3000)")
    p.add_argument("--speed", type=float, default=None,
                   help="times faster than real time (rows are 10 s apart; default 1000, "
                        "60 with --logs; 0 = as fast as possible)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the synthetic plant (default 0)")
    from anomaly_gan.config import TrainingConfig
    from anomaly_gan.demo.logs import LOGS_DEMO_CONFIG
    from anomaly_gan.demo.offline import DEMO_CONFIG

    p.add_argument("--epochs", type=int, default=None,
                   help=f"training epochs, exactly that many (a quick run: no step floor; "
                        f"default {DEMO_CONFIG['training']['epochs']}, "
                        f"{LOGS_DEMO_CONFIG['training']['epochs']} with --logs, and at least "
                        f"{TrainingConfig().min_steps:,} steps)")
    p.add_argument("--http-port", type=int, default=9108,
                   help="port for /metrics, /healthz, /readyz on 127.0.0.1 (default 9108; 0 = "
                        "any free port)")
    p.add_argument("--out", default=None, help="output directory: the model bundle is "
                   "written to OUT/model (default out/demo, out/demo-logs with --logs); one "
                   "demo at a time per directory")
    p.add_argument("--logs", action="store_true",
                   help="the log scenario: a synthetic service's logs with an error burst, a "
                        "new exception and a silent component (--entities/--steps do not apply; "
                        "nor does --keep-running, which it refuses)")
    p.add_argument("--keep-running", action="store_true",
                   help="after the summary keep the broker, scorer and /metrics up until "
                        "Ctrl-C (the sensor demo only)")
    p.set_defaults(func=cmd_demo)
