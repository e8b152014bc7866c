"""The chart's containers, run: each rendered command with the image's entrypoint, the
container's environment and the files of its volumes, against a real broker.

No cluster runs here, so each container is run as a process: the ConfigMaps are written to a
directory, each mount path the command names is mapped to that directory (the model store's
mount path is one of this test's own directories, which the chart allows), the image's
ENTRYPOINT (deploy/Dockerfile) runs the args where the container gives no command, and /tmp,
the pod's writable scratch space, is a directory of the test's. What only a pod adds (the
read-only root, UID 10001 with no home directory) is not simulated here.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from anomaly_gan.demo.broker import FAST_GROUP, free_port
from tests.deploy.conftest import DEPLOY, ROOT, find
from tests.support_models import FEATURES, normal_series

pytestmark = [pytest.mark.helm, pytest.mark.kafka, pytest.mark.slow]

#: The model of tests/support_models.tiny_config, as chart values (config:), so that the
#: retraining Job trains in seconds and keeps the store's data.window.
TINY = {"model": {"kind": "ganomaly", "backbone": "conv1d", "latent_dim": 8, "hidden": [16, 32]},
        "data": {"window": 16, "stride": 2},
        "training": {"epochs": 2, "batch_size": 64, "patience": 3, "seed": 0, "verbose": 0,
                     "learning_rate": 1e-3, "min_steps": 0, "max_attempts": 1}}


def image_entrypoint() -> list[str]:
    text = (DEPLOY / "Dockerfile").read_text()
    return json.loads(re.findall(r"^ENTRYPOINT (\[.*\])$", text, re.MULTILINE)[-1])


def container(docs: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    spec = find(docs, kind, suffix)["spec"]
    if kind == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    return {**c, "pod": pod}


class Pod:
    """One rendered container, its volumes as directories under ``root``."""

    def __init__(self, docs: list[dict[str, Any]], c: dict[str, Any], root: Path,
                 claims: dict[str, Path]) -> None:
        self.c, self.root = c, root
        self.mounts: dict[str, Path] = {}
        volumes = {v["name"]: v for v in c["pod"]["volumes"]}
        for m in c["volumeMounts"]:
            v = volumes[m["name"]]
            if "configMap" in v:
                d = root / m["name"]
                d.mkdir(parents=True, exist_ok=True)
                (cm,) = [d for d in docs if d["kind"] == "ConfigMap"
                         and d["metadata"]["name"] == v["configMap"]["name"]]
                for key, text in cm["data"].items():
                    (d / key).write_text(text)
            elif "emptyDir" in v:
                d = root / "scratch"
                d.mkdir(parents=True, exist_ok=True)
            else:
                d = claims[v["persistentVolumeClaim"]["claimName"]]
            self.mounts[m["mountPath"]] = d

    def host_path(self, path: str) -> str:
        """``path`` in the container as the directory standing for its volume here."""
        for mount, d in sorted(self.mounts.items(), key=lambda kv: -len(kv[0])):
            if path == mount or path.startswith(mount.rstrip("/") + "/"):
                return str(d) + path[len(mount.rstrip("/")):]
        return path

    def argv(self) -> list[str]:
        command = self.c.get("command") or image_entrypoint()
        assert command == ["anomaly-gan"], command
        exe = str(Path(sys.executable).parent / "anomaly-gan")
        return [exe] + [self.host_path(a) if a.startswith("/") else a for a in self.c["args"]]

    def env(self) -> dict[str, str]:
        env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
        for e in self.c.get("env", []):
            if "value" in e:
                env[e["name"]] = self.host_path(e["value"])
            else:  # the scorer's ANOMALY_GAN_CPUS: its CPU request, rounded up
                ref = e["valueFrom"]["resourceFieldRef"]
                request = self.c["resources"]["requests"][ref["resource"].split(".")[1]]
                cpus = float(request[:-1]) / 1000 if request.endswith("m") else float(request)
                env[e["name"]] = str(math.ceil(cpus))
        return env

    def run(self, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(), env=self.env(), cwd=self.mounts["/tmp"],
                              capture_output=True, text=True, timeout=timeout, check=False)


def http_status(port: int, path: str) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def test_every_container_of_the_chart_runs_its_rendered_command(render, kafka_bootstrap,
                                                                kafka_topics, tiny_detector,
                                                                tmp_path) -> None:
    """The config check passes, the scorer answers its startup, liveness and readiness
    probes on the port they name and drains on SIGTERM with exit 0, and the retraining Job
    trains from its data volume into the scorer's store: what the chart renders runs with
    the CLI the image installs."""
    from anomaly_gan.store import ModelStore
    from tests.retrain.conftest import add_version

    topics = kafka_topics(events=1, alerts=1, dlq=1)
    store, archive = tmp_path / "models", tmp_path / "archive"
    archive.mkdir()
    rows = normal_series(600, seed=3)
    (archive / "normal.csv").write_text(
        "ts," + ",".join(FEATURES) + "\n"
        + "".join(f"{1_790_000_000 + 10 * i}," + ",".join(map(str, r)) + "\n"
                  for i, r in enumerate(rows)))
    models = ModelStore.open(store, create=True)
    first = add_version(models, tiny_detector)  # the session's: tiny_config, two epochs
    models.promote(first, verify=False)
    port = free_port()
    # allow_unhealthy: two epochs of tiny_config are judged unhealthy, which serve refuses
    config = {**TINY, "serve": {"kafka": FAST_GROUP, "grace_seconds": 10,
                                "allow_unhealthy": True}}
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({
        "config": config, "model": {"mountPath": str(store)},
        "kafka": {"bootstrapServers": kafka_bootstrap, "inputTopic": topics["events"],
                  "alertTopic": topics["alerts"], "dlqTopic": topics["dlq"],
                  "groupId": f"g-{topics['events']}"},
        "service": {"containerPort": port},
        "retrain": {"enabled": True, "dataExistingClaim": "archive", "dataPath": "/data/normal.csv",
                    "promote": False}}))
    docs = render(values)
    claims = {find(docs, "PersistentVolumeClaim")["metadata"]["name"]: store, "archive": archive}

    check = Pod(docs, container(docs, "Job", "-validate-config"), tmp_path / "check", claims)
    proc = check.run(timeout=60)
    assert proc.returncode == 0 and ": ok (model ganomaly/conv1d, window 16)" in proc.stdout, (
        proc.stdout + proc.stderr)

    scorer = Pod(docs, container(docs, "Deployment", ""), tmp_path / "scorer", claims)
    env = scorer.env()
    # The pod has a network namespace of its own; here the scorer listens on loopback only.
    env["ANOMALY_GAN__SERVE__HTTP__HOST"] = "127.0.0.1"
    log = (tmp_path / "scorer.log").open("wb")
    proc_ = subprocess.Popen(scorer.argv(), env=env, cwd=scorer.mounts["/tmp"], stdout=log,
                             stderr=subprocess.STDOUT)
    try:
        c = scorer.c
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        probes = {name: (ports[c[name]["httpGet"]["port"]], c[name]["httpGet"]["path"])
                  for name in ("startupProbe", "livenessProbe", "readinessProbe")}
        deadline = time.monotonic() + 120
        while any(http_status(*probe) != 200 for probe in probes.values()):
            assert proc_.poll() is None, (tmp_path / "scorer.log").read_text()
            assert time.monotonic() < deadline, (
                {n: http_status(*p) for n, p in probes.items()},
                (tmp_path / "scorer.log").read_text())
            time.sleep(0.2)
        proc_.send_signal(signal.SIGTERM)
        grace = find(docs, "Deployment")["spec"]["template"]["spec"][
            "terminationGracePeriodSeconds"]
        assert proc_.wait(timeout=grace) == 0, (tmp_path / "scorer.log").read_text()
    finally:
        if proc_.poll() is None:
            proc_.kill()
            proc_.wait()
        log.close()

    retrain = Pod(docs, container(docs, "CronJob", "-retrain"), tmp_path / "retrain", claims)
    assert retrain.mounts["/data"] == archive
    proc = retrain.run()
    # Trained, gated and kept (promoted or not is the gate's affair with two epochs).
    assert proc.returncode in (0, 4), proc.stdout + proc.stderr
    assert "[read] 1 file(s)" in proc.stderr and "[gate]" in proc.stderr, proc.stderr
    assert len(ModelStore.open(store).versions()) == 2
    assert ModelStore.open(store).current() == first  # retrain.promote: false
