"""The Helm chart, rendered and linted by the real helm binary.

No cluster can run here, so these tests check what `helm install` would send: lint, the
objects each switch creates, probes and security settings, the service config the pod reads
(validated by `anomaly-gan validate-config`), and values the schema must refuse.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import (
    ALL_FEATURES,
    CHART,
    DASHBOARD,
    DEPLOY,
    ROOT,
    RULES,
    find,
    run,
)

pytestmark = pytest.mark.helm

BASE_KINDS = {"ServiceAccount", "ConfigMap", "PersistentVolumeClaim", "Service", "Deployment",
              "PodDisruptionBudget", "Pod", "Job"}
OPTIONAL = {
    # switch -> kinds it adds
    "serviceMonitor.enabled=true": {"ServiceMonitor"},
    "prometheusRule.enabled=true": {"PrometheusRule"},
    "grafanaDashboard.enabled=true": {"ConfigMap"},
    "autoscaling.enabled=true": {"HorizontalPodAutoscaler"},
    "keda.enabled=true": {"ScaledObject"},
    "networkPolicy.enabled=true": {"NetworkPolicy"},
}


def kinds(docs: list[dict[str, Any]]) -> list[str]:
    return sorted(d["kind"] for d in docs)


def pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every pod spec the chart renders, by the owning object's kind/name."""
    specs = {}
    for d in docs:
        name = f"{d['kind']}/{d['metadata']['name']}"
        if d["kind"] == "Deployment":
            specs[name] = d["spec"]["template"]["spec"]
        elif d["kind"] == "CronJob":
            specs[name] = d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        elif d["kind"] == "Job":
            specs[name] = d["spec"]["template"]["spec"]
        elif d["kind"] == "Pod":
            specs[name] = d["spec"]
    return specs


def service_config(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The scorer's config (its ConfigMap, not the config check's copy)."""
    return yaml.safe_load(find(docs, "ConfigMap", "anomaly-gan")["data"]["config.yaml"])


def scorer(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


# ----------------------------------------------------------------------------- lint


@pytest.mark.parametrize("values", [None, ALL_FEATURES], ids=["defaults", "all-features"])
def test_helm_lint_strict_passes(helm: str, values: Path | None) -> None:
    cmd = [helm, "lint", "--strict", str(CHART)] + (["-f", str(values)] if values else [])
    out = run(cmd).stdout
    assert "0 chart(s) failed" in out


# ----------------------------------------------------------------------------- what is rendered


def test_defaults_render_only_the_core_objects(render) -> None:
    docs = render()
    assert set(kinds(docs)) == BASE_KINDS
    # The scorer's ConfigMap and the config check's (no dashboard); the test pod is a helm
    # test hook and the Job the config check.
    assert kinds(docs).count("ConfigMap") == 2
    test_pod = find(docs, "Pod")
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert find(docs, "Job", "-validate-config")


@pytest.mark.parametrize("switch", sorted(OPTIONAL))
def test_each_optional_object_appears_only_when_enabled(render, switch: str) -> None:
    base = kinds(render())
    enabled = kinds(render(sets=(switch,)))
    added = list(enabled)
    for k in base:
        added.remove(k)
    assert set(added) == OPTIONAL[switch], f"{switch} added {added}"


def retrain_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return find(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"][0]


def test_retrain_cronjob_appears_only_when_enabled(render) -> None:
    assert "CronJob" not in kinds(render())
    docs = render(sets=("retrain.enabled=true",))
    c = retrain_container(docs)
    assert c["command"] == ["anomaly-gan"]
    assert c["args"] == ["retrain", "--config", "/etc/anomaly-gan/config.yaml", "--store",
                         "/models", "--last", "7d", "--quiet"]
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["models"]["mountPath"] == "/models" and not mounts["models"].get("readOnly")


def test_retrain_job_is_cleaned_up_and_never_retries_a_rejection(render) -> None:
    job = find(render(sets=("retrain.enabled=true",)), "CronJob")["spec"]["jobTemplate"]["spec"]
    assert job["ttlSecondsAfterFinished"] == 7 * 86400  # a weekend's failure kept till Monday
    rule = job["podFailurePolicy"]["rules"][0]
    assert rule["action"] == "FailJob"
    assert rule["onExitCodes"] == {"containerName": "retrain", "operator": "In",
                                   "values": [2, 3, 4]}
    # A node drain or a preemption is no reason to use up backoffLimit (1 by default).
    assert job["podFailurePolicy"]["rules"][1] == {
        "action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
    assert job["template"]["spec"]["restartPolicy"] == "Never"


def test_pod_annotations_and_labels_reach_the_retrain_job_too(render) -> None:
    """A mesh's sidecar left running in the Job's pod would keep the Job from completing: its
    opt-out annotation must reach that pod as well as the scorer's."""
    opt_out = {"sidecar.istio.io/inject": "false"}
    docs = render(sets=("retrain.enabled=true", f"json:podAnnotations={json.dumps(opt_out)}",
                        "podLabels.team=ops"))
    scorer_pod = find(docs, "Deployment")["spec"]["template"]["metadata"]
    job_pod = find(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["metadata"]
    for name, meta in (("scorer", scorer_pod), ("retrain", job_pod)):
        assert opt_out.items() <= meta["annotations"].items(), name
        assert meta["labels"]["team"] == "ops", name
    assert job_pod["labels"]["app.kubernetes.io/component"] == "retrain"


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load, refusing a mapping that repeats a key (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
        repeated = sorted({str(k) for k in keys if keys.count(k) > 1})
        if repeated:
            raise yaml.constructor.ConstructorError(
                None, None, f"repeated keys {repeated}", node.start_mark)
        return super().construct_mapping(node, deep=deep)


def test_pod_labels_may_replace_the_charts_other_labels_once(helm: str) -> None:
    """podLabels repeating a label the chart sets on its pods (app.kubernetes.io/part-of, a
    team's convention) rendered the key twice in the pod template, the operator's last: a
    manifest a strict YAML reader refuses. Each key is written once, the operator's value."""
    ours = {"app.kubernetes.io/part-of": "plant", "app.kubernetes.io/version": "2026.12",
            "app.kubernetes.io/managed-by": "argo", "helm.sh/chart": "x", "team": "ml"}
    out = run([helm, "template", "prod", str(CHART), "--set", "retrain.enabled=true",
               "--set-json", f"podLabels={json.dumps(ours)}"]).stdout
    docs = [d for d in yaml.load_all(out, Loader=_UniqueKeyLoader) if d]
    pods = {name: spec for name, spec in pod_specs(docs).items() if not name.startswith("Pod/")}
    assert len(pods) == 3, pods.keys()  # scorer, retrain, config check
    for d in docs:
        template = {"Deployment": lambda d: d["spec"]["template"],
                    "CronJob": lambda d: d["spec"]["jobTemplate"]["spec"]["template"],
                    "Job": lambda d: d["spec"]["template"]}.get(d["kind"])
        if template:
            labels = template(d)["metadata"]["labels"]
            assert ours.items() <= labels.items(), d["kind"]
            assert labels["app.kubernetes.io/name"] == "anomaly-gan", d["kind"]


def test_the_jobs_pods_get_no_prometheus_scrape_annotations(render) -> None:
    """podAnnotations reach the Jobs' pods (a mesh's opt-out must), and with them
    prometheus.io/scrape and port: Prometheus' pod discovery then scraped each retraining and
    config-check pod on the scorer's port, where nothing listens (a target down, and
    kube-prometheus' TargetDown, at every retrain). Those stay on the scorer's pods."""
    annotations = {"prometheus.io/scrape": "true", "prometheus.io/port": "9108",
                   "prometheus.io/path": "/metrics", "sidecar.istio.io/inject": "false"}
    docs = render(sets=("retrain.enabled=true", f"json:podAnnotations={json.dumps(annotations)}"))
    scorer_pod = find(docs, "Deployment")["spec"]["template"]["metadata"]
    assert annotations.items() <= scorer_pod["annotations"].items()
    job_pods = {"retrain": find(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"],
                "config check": find(docs, "Job")["spec"]["template"]}
    for name, pod in job_pods.items():
        meta = pod["metadata"]
        assert meta["annotations"]["sidecar.istio.io/inject"] == "false", name
        assert not [k for k in meta["annotations"] if k.startswith("prometheus.io/")], name
    only_scrape = render(sets=('json:podAnnotations={"prometheus.io/scrape": "true"}',))
    assert "annotations" not in find(only_scrape, "Job")["spec"]["template"]["metadata"]


def test_retrain_from_a_file_with_labels_and_without_promotion(render) -> None:
    c = retrain_container(render(sets=("retrain.enabled=true", "retrain.dataPath=/data/n.csv",
                                       "retrain.labelsPath=/data/l.csv", "retrain.promote=false",
                                       "retrain.dataExistingClaim=archive")))
    args = c["args"]
    assert args[args.index("--data") + 1] == "/data/n.csv" and "--last" not in args
    assert args[args.index("--labels") + 1] == "/data/l.csv"
    assert "--no-promote" in args and "python" not in " ".join(args)


def _under(path: str, mount: str) -> bool:
    return path == mount or path.startswith(mount.rstrip("/") + "/")


@pytest.mark.parametrize("sets", [
    ("retrain.labelsPath=/data/incidents.csv",),  # the claim was forgotten
    ("retrain.dataPath=/data/normal.parquet",),
    ("retrain.dataExistingClaim=archive", "retrain.labelsPath=/archive/incidents.csv"),
    ("retrain.dataExistingClaim=archive", "retrain.dataPath=/data/../etc/normal.csv"),
    ("retrain.dataExistingClaim=archive", "retrain.dataPath=/data"),  # the volume, not a file
], ids=["labels-no-claim", "data-no-claim", "labels-elsewhere", "data-escapes", "data-is-dir"])
def test_retrain_files_outside_the_jobs_volumes_fail_the_render(render_error, sets) -> None:
    """The image holds no data, so a retrain.dataPath or labelsPath in no volume the Job
    mounts rendered a CronJob whose every run failed ('/data/incidents.csv: file not found',
    exit 2, no retry) a week after the install passed."""
    key = next(s for s in sets if s.startswith(("retrain.dataPath", "retrain.labelsPath")))
    err = render_error(sets=("retrain.enabled=true", *sets))
    assert f"values: {key.replace('=', ' ')} is in no volume the retraining Job mounts" in err, err


@pytest.mark.parametrize("values", [
    ((), ("retrain.enabled=true",)),
    ((), ("retrain.enabled=true", "retrain.dataExistingClaim=archive",
          "retrain.dataPath=/data/2026/normal.parquet", "retrain.labelsPath=/models/labels.csv")),
    ((), ("retrain.enabled=true", "retrain.dataExistingClaim=archive",
          "retrain.dataMountPath=/srv/archive/", "retrain.dataPath=/srv/archive/n.csv")),
    ((ALL_FEATURES,), ()),
], ids=["defaults", "data-and-labels", "mount-with-slash", "all-features"])
def test_every_file_a_rendered_command_reads_is_in_a_volume_it_mounts(render, values) -> None:
    """What each container runs names its files (the args, and the paths of the service config
    it reads): each must be under one of that container's mounts, since the image's read-only
    root holds none of them."""
    files, sets = values
    docs = render(*files, sets=sets)
    cfg = service_config(docs)
    kafka = cfg["serve"]["kafka"]
    config_paths = [cfg["serve"]["model_path"], cfg["serve"].get("alerts", {}).get("silences_path")]
    config_paths += [v for k, v in kafka.items() if k.endswith(("file", "_path"))]
    checked = 0
    for owner, spec in pod_specs(docs).items():
        for c in spec["containers"]:
            if owner.startswith("Pod/"):  # helm test: busybox, no files
                continue
            mounts = [m["mountPath"] for m in c["volumeMounts"]]
            named = [a for a in c["args"] if a.startswith("/")]
            # The config check reads the config's silences only; the others every path.
            named += [p for p in (config_paths[1:2] if "validate-config" in c["args"]
                                  else config_paths) if p]
            for path in named:
                assert any(_under(path, m) for m in mounts), f"{owner}: {path} not in {mounts}"
                checked += 1
    assert checked >= 4


@pytest.mark.parametrize("path", ["/srv/candidates/v7", "models/v7", "/modelsx/v7"])
def test_a_shadow_model_outside_the_store_mount_fails_the_render(render_error, path) -> None:
    """The scorer's only volume holding bundles is the store at model.mountPath (the image
    holds none): a shadow_model_path elsewhere installed fine, and every scorer logged one
    error at start and ran without its shadow for good."""
    err = render_error(sets=(f"config.serve.shadow_model_path={path}",))
    assert (f"values: config.serve.shadow_model_path {path} is in no volume the scorer mounts; "
            "expected a version directory under model.mountPath (/models)") in err, err


def test_a_shadow_model_in_the_store_mount_renders(render) -> None:
    for path in ("/models/v7", "/models/v7/", "/models"):
        cfg = service_config(render(sets=(f"config.serve.shadow_model_path={path}",)))
        assert cfg["serve"]["shadow_model_path"] == path


def test_retrain_job_prunes_by_the_config_and_keeps_the_scorers_shadow_version(render) -> None:
    """Every retrain adds a version: config.retrain.keep_versions prunes after a promote,
    and the Job reads the scorer's ConfigMap, so the shadow version the scorers run
    (config.serve.shadow_model_path) is one it keeps."""
    docs = render(sets=("retrain.enabled=true", "config.retrain.keep_versions=10",
                        "config.serve.shadow_model_path=/models/v7"))
    spec = find(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    config = next(v for v in spec["volumes"] if v["name"] == "config")["configMap"]["name"]
    cfg = yaml.safe_load(find(docs, "ConfigMap", config)["data"]["config.yaml"])
    assert cfg == service_config(docs)
    assert cfg["retrain"]["keep_versions"] == 10
    assert cfg["serve"]["shadow_model_path"] == "/models/v7"
    assert "keep_versions" not in service_config(render(sets=("retrain.enabled=true",))).get(
        "retrain", {})  # off unless set: pruning deletes versions


@pytest.mark.parametrize(("lookback", "accepted"), [
    ("99999999999w", False), ("1000000d", False), ("9" * 400 + ".5s", False),
    ("0000000000000000000000000003000000d", False), ("520w", True), ("0.5d", True),
    ("0000000000000000000000000000000090m", True), ("0.000001s", True),
])
def test_the_chart_takes_the_lookbacks_retrain_last_takes(render, render_error, lookback,
                                                          accepted) -> None:
    """The schema took any positive duration, and `retrain --last` refuses one that reaches
    back before 1970 (99999999999w): every scheduled run failed with exit 2. The chart now
    refuses what the command refuses at the time of the render (later runs reach back less)."""
    from anomaly_gan.errors import DataError
    from anomaly_gan.retrain.commands import last_range

    sets = ("retrain.enabled=true", f"retrain.lookback={lookback}")
    if accepted:
        assert last_range(lookback, time.time()) > 0
        assert find(render(sets=sets), "CronJob")
    else:
        with pytest.raises(DataError, match="before 1970"):
            last_range(lookback, time.time())
        err = render_error(sets=sets)
        assert f"values: retrain.lookback {lookback} reaches back before 1970" in err, err


def test_retrain_job_runs_at_the_scorers_priority_or_its_own(render) -> None:
    """priorityClassName reached the scorer and the config check but not the retraining Job,
    which then ran at the cluster's default priority, outside a quota scoped to the release's
    class; retrain.priorityClassName gives the Job another (a lower one, not to preempt)."""
    def job_priority(*sets: str) -> str | None:
        job = find(render(sets=("retrain.enabled=true", *sets)), "CronJob")
        return job["spec"]["jobTemplate"]["spec"]["template"]["spec"].get("priorityClassName")

    assert job_priority() is None
    assert job_priority("priorityClassName=ops") == "ops"
    assert job_priority("priorityClassName=ops", "retrain.priorityClassName=batch") == "batch"
    assert job_priority("retrain.priorityClassName=batch") == "batch"


def test_retrain_job_reaches_kafka_with_the_scorers_secrets(render) -> None:
    docs = render(ALL_FEATURES)
    scorer_mounts = {m["name"] for m in scorer(docs)["volumeMounts"]}
    retrain_mounts = {m["name"] for m in retrain_container(docs)["volumeMounts"]}
    assert {"kafka-sasl", "kafka-ca", "kafka-client-tls"} <= scorer_mounts & retrain_mounts
    assert retrain_container(docs)["args"][-5:] == ["--last", "14d", "--labels",
                                                    "/data/labels/incidents.csv", "--quiet"]


# A digest pins what runs even when a tag is moved; image.digest and tests.image.digest.
DIGEST = "sha256:" + "0123456789abcdef" * 4
TEST_DIGEST = "sha256:" + "fedcba9876543210" * 4


def container_images(docs: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The images of every (init) container, by the owning object's kind/name."""
    return {name: [c["image"] for c in spec.get("initContainers", []) + spec["containers"]]
            for name, spec in pod_specs(docs).items()}


def test_project_image_is_referenced_by_tag_without_a_digest(render) -> None:
    images = container_images(render(sets=("retrain.enabled=true",)))
    assert images == {"Deployment/prod-anomaly-gan": ["anomaly-gan:0.1.0"],
                      "CronJob/prod-anomaly-gan-retrain": ["anomaly-gan:0.1.0"],
                      "Job/prod-anomaly-gan-validate-config": ["anomaly-gan:0.1.0"],
                      "Pod/prod-anomaly-gan-test-readyz": ["busybox:1.36"]}


def test_image_digest_pins_every_container_of_the_chart(render) -> None:
    repo = "registry.example.com/ops/anomaly-gan"
    sets = ("retrain.enabled=true", f"image.repository={repo}", "image.tag=0.2.0",
            f"image.digest={DIGEST}")
    images = container_images(render(sets=sets))
    # The helm test pod runs tests.image, not the project image: its own digest pins it.
    assert images.pop("Pod/prod-anomaly-gan-test-readyz") == ["busybox:1.36"]
    assert images == {"Deployment/prod-anomaly-gan": [f"{repo}@{DIGEST}"],
                      "CronJob/prod-anomaly-gan-retrain": [f"{repo}@{DIGEST}"],
                      "Job/prod-anomaly-gan-validate-config": [f"{repo}@{DIGEST}"]}
    pinned = container_images(render(sets=(*sets, f"tests.image.digest={TEST_DIGEST}")))
    assert pinned["Pod/prod-anomaly-gan-test-readyz"] == [f"busybox@{TEST_DIGEST}"]


def test_retrain_time_zone_is_rendered_only_when_set(render) -> None:
    assert "timeZone" not in find(render(sets=("retrain.enabled=true",)), "CronJob")["spec"]
    zone = "America/Argentina/Buenos_Aires"
    cronjob = find(render(sets=("retrain.enabled=true", f"retrain.timeZone={zone}")), "CronJob")
    assert cronjob["spec"]["timeZone"] == zone
    assert cronjob["spec"]["schedule"] == "0 3 * * 0"


def test_every_pod_pulls_with_the_image_pull_secrets(render) -> None:
    """The helm test pod too: `helm test` against a private registry needs the same secret."""
    assert not any("imagePullSecrets" in s for s in pod_specs(render(ALL_FEATURES)).values())
    specs = pod_specs(render(ALL_FEATURES, sets=("imagePullSecrets[0].name=regcred",)))
    assert len(specs) == 4  # scorer, retrain job, config check, helm test
    for name, spec in specs.items():
        assert spec["imagePullSecrets"] == [{"name": "regcred"}], name


def test_hpa_without_cpu_target_scales_on_the_extra_metrics_only(render) -> None:
    lag = {"type": "External", "external": {
        "metric": {"name": "kafka_consumergroup_lag"},
        "target": {"type": "AverageValue", "averageValue": "1000"}}}
    docs = render(sets=("autoscaling.enabled=true",
                        "autoscaling.targetCPUUtilizationPercentage=null",
                        f"json:autoscaling.extraMetrics=[{json.dumps(lag)}]"))
    assert find(docs, "HorizontalPodAutoscaler")["spec"]["metrics"] == [lag]


def test_all_features_render_every_optional_object(render) -> None:
    docs = render(ALL_FEATURES)
    want = BASE_KINDS - {"PersistentVolumeClaim"} | {
        "ServiceMonitor", "PrometheusRule", "ScaledObject", "TriggerAuthentication", "Secret",
        "CronJob", "NetworkPolicy"}
    assert set(kinds(docs)) == want
    # An existing claim is used, none is created.
    assert "PersistentVolumeClaim" not in kinds(docs)
    assert find(docs, "ConfigMap", "-dashboard")["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_replicas_left_to_the_autoscaler(render) -> None:
    assert find(render(), "Deployment")["spec"]["replicas"] == 1
    for switch in ("autoscaling.enabled=true", "keda.enabled=true"):
        assert "replicas" not in find(render(sets=(switch,)), "Deployment")["spec"], switch


# ----------------------------------------------------------------------------- the scorer pod


@pytest.mark.parametrize("values", [(), (ALL_FEATURES,)], ids=["defaults", "all-features"])
def test_probes_hit_healthz_and_readyz_on_the_metrics_port(render, values) -> None:
    docs = render(*values)
    c = scorer(docs)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    cfg = service_config(docs)
    assert ports == {"http-metrics": cfg["serve"]["http"]["port"]}
    assert cfg["serve"]["http"]["host"] == "0.0.0.0"
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    svc = find(docs, "Service")
    assert svc["spec"]["ports"][0]["targetPort"] == "http-metrics"
    pod_labels = find(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    for selector in (svc["spec"]["selector"],
                     find(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= pod_labels.items()


def test_a_service_port_below_1024_leaves_the_scorer_on_its_container_port(render) -> None:
    """service.port was the scorer's listen port too: service.port=80 rendered, and the
    non-root scorer (every capability dropped) failed to bind port 80 and restarted for ever.
    The Service's port is now the Service's alone; it forwards to service.containerPort."""
    docs = render(sets=("service.port=80",))
    svc = find(docs, "Service")["spec"]["ports"][0]
    assert (svc["port"], svc["targetPort"]) == (80, "http-metrics")
    ports = {p["name"]: p["containerPort"] for p in scorer(docs)["ports"]}
    assert ports == {"http-metrics": 9108}
    assert service_config(docs)["serve"]["http"]["port"] == 9108
    moved = render(sets=("service.containerPort=9200",))
    assert {p["name"]: p["containerPort"] for p in scorer(moved)["ports"]} == {"http-metrics": 9200}
    assert service_config(moved)["serve"]["http"]["port"] == 9200
    assert find(moved, "Service")["spec"]["ports"][0]["port"] == 9108


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        # Before service.containerPort, service.port: 9200 moved the scorer too, so probes and
        # annotations written for it said 9200; the same values now listen on 9108.
        (("service.port=9200", "livenessProbe.httpGet.port=9200"),
         "livenessProbe.httpGet.port is 9200, but the scorer listens on service.containerPort (9108)"),
        (("service.port=9200", 'json:startupProbe={"tcpSocket": {"port": 9200}}'),
         "startupProbe.tcpSocket.port is 9200"),
        (("service.containerPort=9200", 'json:readinessProbe={"grpc": {"port": 9108}}'),
         "readinessProbe.grpc.port is 9108, but the scorer listens on service.containerPort (9200)"),
        (("livenessProbe.httpGet.port=metrics",), "livenessProbe.httpGet.port is \"metrics\""),
        (("service.port=9200", 'json:podAnnotations={"prometheus.io/port": "9200"}'),
         ('podAnnotations sets prometheus.io/port "9200", but the scorer listens on '
          'service.containerPort (9108)')),
        # Endpoints discovery scrapes the pods' addresses with the Service's annotation.
        (("service.port=80", 'json:service.annotations={"prometheus.io/port": "80"}'),
         'service.annotations sets prometheus.io/port "80"'),
    ],
)
def test_probes_and_scrape_annotations_must_name_the_port_the_scorer_listens_on(
        render_error, sets, message) -> None:
    err = render_error(sets=sets)
    assert message in err, err
    assert "use port: http-metrics" in err or 'set it to "' in err, err


def test_probes_and_scrape_annotations_on_the_container_port_render(render) -> None:
    annotations = '{"prometheus.io/scrape": "true", "prometheus.io/port": "9200"}'
    docs = render(sets=("service.port=80", "service.containerPort=9200",
                        "livenessProbe.httpGet.port=9200", 'json:startupProbe={"tcpSocket": {"port": 9200}}',
                        f"json:podAnnotations={annotations}", f"json:service.annotations={annotations}"))
    c = scorer(docs)
    assert c["livenessProbe"]["httpGet"]["port"] == 9200
    assert c["readinessProbe"]["httpGet"]["port"] == "http-metrics"
    assert find(docs, "Service")["metadata"]["annotations"]["prometheus.io/port"] == "9200"
    # An exec probe, or none, names no port.
    assert find(render(sets=('json:livenessProbe={"exec": {"command": ["true"]}}',
                             "json:startupProbe={}")), "Deployment")


@pytest.mark.parametrize("values", [(), (ALL_FEATURES,)], ids=["defaults", "all-features"])
def test_every_pod_runs_non_root_read_only_without_privileges(render, values) -> None:
    specs = pod_specs(render(*values))
    # scorer, config check, helm test (+ retrain job)
    assert len(specs) == (3 if not values else 4)
    for name, spec in specs.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec["automountServiceAccountToken"] is False, name
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in sc["capabilities"], name
            assert c["resources"]["limits"]["memory"], name


def test_scorer_has_resources_and_a_writable_tmp(render) -> None:
    docs = render()
    c = scorer(docs)
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert "/tmp" in mounts and not mounts["/tmp"].get("readOnly")
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["HOME"].startswith("/tmp") and env["MPLCONFIGDIR"].startswith("/tmp")


def test_scorer_and_retrain_threads_are_sized_from_their_cpu_request(render) -> None:
    """With no CPU limit TensorFlow sized its pools from the node's cores (63 threads on a
    64-core node for a 500m request): the request reaches anomaly_gan.inference.cpu_limit,
    in the scorer and in the retraining Job (which trains, and had no such variable)."""
    from anomaly_gan.inference import CPUS_ENV

    docs = render(sets=("retrain.enabled=true",))
    for container in (scorer(docs), retrain_container(docs)):
        env = {e["name"]: e for e in container["env"]}
        ref = env[CPUS_ENV]["valueFrom"]["resourceFieldRef"]
        assert ref["resource"] == "requests.cpu" and ref["divisor"] == "1"



def test_extra_env_replaces_a_variable_of_the_chart_instead_of_repeating_it(render,
                                                                         render_error) -> None:
    """Server-side apply, Helm 4's default, refuses a container whose env names a variable
    twice ('duplicate entries for key [name="TF_CPP_MIN_LOG_LEVEL"]'): extraEnv repeating
    one of the chart's variables failed the install, and the scorer's ANOMALY_GAN_CPUS,
    written after extraEnv, would have won over the operator's anyway."""
    extra = [{"name": "TF_CPP_MIN_LOG_LEVEL", "value": "0"},
             {"name": "ANOMALY_GAN_CPUS", "value": "4"}, {"name": "TZ", "value": "UTC"}]
    docs = render(ALL_FEATURES, sets=("json:extraEnv=" + json.dumps(extra),))
    for owner, spec in pod_specs(docs).items():
        for c in spec["containers"]:
            names = [e["name"] for e in c.get("env", [])]
            assert len(names) == len(set(names)), f"{owner}: {names}"
            if "HOME" in names:  # the scorer and the retrain Job
                env = {e["name"]: e for e in c["env"]}
                assert env["TF_CPP_MIN_LOG_LEVEL"]["value"] == "0" and env["TZ"]["value"] == "UTC"
                assert env["HOME"]["value"] == "/tmp"
    assert {e["name"]: e for e in scorer(docs)["env"]}["ANOMALY_GAN_CPUS"] == extra[1]
    err = render_error(sets=("json:extraEnv=" + json.dumps([extra[2], extra[2]]),))
    assert "extraEnv names TZ twice" in err, err


def _chart_owned_keys() -> list[str]:
    """The service config keys the chart sets (scripts/values_schema.py, CHART_OWNED)."""
    spec = importlib.util.spec_from_file_location("values_schema",
                                                  ROOT / "scripts" / "values_schema.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return sorted(f"{section}.{key}" for section, keys in module.CHART_OWNED.items()
                  for key in keys)


@pytest.mark.parametrize("key", _chart_owned_keys())
def test_extra_env_cannot_override_a_key_the_chart_sets(render_error, key: str) -> None:
    """The schema refuses these keys under config:, but an ANOMALY_GAN__* variable in
    extraEnv overrode them in the scorer alone: ANOMALY_GAN__SERVE__HTTP__PORT=9000 left the
    probes and the Service on 9108 and every pod restarting (the config check passed it),
    a group id or topic left KEDA on another group's lag."""
    name = "ANOMALY_GAN__" + key.upper().replace(".", "__")
    err = render_error(sets=("json:extraEnv=" + json.dumps([{"name": name, "value": "x"}]),))
    assert f"values: extraEnv sets {name}, an override of {key}, which the chart sets from" in err, err


@pytest.mark.parametrize(("name", "map_key"), [
    ("ANOMALY_GAN__SERVE", "serve"),
    ("ANOMALY_GAN__SERVE__KAFKA", "serve.kafka"),
    ("ANOMALY_GAN__serve____Http", "serve.http"),  # as the service reads the name
])
def test_extra_env_cannot_replace_a_map_holding_a_key_the_chart_sets(render, render_error,
                                                                     name, map_key) -> None:
    err = render_error(sets=("json:extraEnv=" + json.dumps([{"name": name, "value": "{}"}]),))
    assert f"values: extraEnv sets {name}, an override of the whole {map_key}," in err, err
    # Other keys of those maps stay the operator's to override.
    extra = [{"name": "ANOMALY_GAN__SERVE__KAFKA__AUTO_OFFSET_RESET", "value": "latest"},
             {"name": "ANOMALY_GAN__SERVE__ALERTS__CONSECUTIVE", "value": "3"},
             {"name": "ANOMALY_GAN__SERVE__LOG_LEVEL", "value": "DEBUG"}]
    env = {e["name"] for e in scorer(render(sets=("json:extraEnv=" + json.dumps(extra),)))["env"]}
    assert {e["name"] for e in extra} <= env


@pytest.mark.parametrize(("key", "sets", "derived"), [
    ("serve.grace_seconds", (), "the pods' terminationGracePeriodSeconds"),
    ("serve.kafka.auto_offset_reset", ("keda.enabled=true",), "KEDA's offsetResetPolicy"),
])
def test_extra_env_cannot_override_a_key_other_objects_are_derived_from(render_error, key, sets,
                                                                        derived) -> None:
    """ANOMALY_GAN__SERVE__GRACE_SECONDS=120 rendered: the scorer drained for up to 120 s
    (the loader read 120.0) in pods whose terminationGracePeriodSeconds stayed 30, from
    config.serve.grace_seconds, so the kubelet killed it mid-drain; an auto_offset_reset
    override (latest) left KEDA's offsetResetPolicy earliest."""
    name = "ANOMALY_GAN__" + key.upper().replace(".", "__")
    err = render_error(sets=("json:extraEnv=" + json.dumps([{"name": name, "value": "120"}]),
                             *sets))
    assert (f"values: extraEnv sets {name}, an override of {key}, from which the chart derives "
            f"{derived}") in err and f"set config.{key} instead" in err, err


@pytest.mark.parametrize("address", [None, "::"])
def test_the_scorer_listens_on_the_service_listen_address(render, address) -> None:
    """IPv6-only clusters probe the pod's IPv6 address, which 0.0.0.0 does not take."""
    docs = render(sets=() if address is None else (f"service.listenAddress={address}",))
    assert service_config(docs)["serve"]["http"]["host"] == (address or "0.0.0.0")

@pytest.mark.parametrize("grace", [20, 45.5, 300])
def test_termination_grace_exceeds_the_drain_budget(render, grace: float) -> None:
    docs = render(sets=(f"json:config.serve.grace_seconds={grace}",))
    cfg = service_config(docs)
    assert cfg["serve"]["grace_seconds"] == grace
    period = find(docs, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert period > grace and period >= math.ceil(grace) + 1


def test_model_volume_is_the_store_passed_to_serve(render) -> None:
    for values, claim in (((), "prod-anomaly-gan-models"), ((ALL_FEATURES,), "anomaly-gan-models")):
        docs = render(*values)
        spec = find(docs, "Deployment")["spec"]["template"]["spec"]
        c = spec["containers"][0]
        model_path = service_config(docs)["serve"]["model_path"]
        assert c["args"][:2] == ["serve", "--config"]
        assert c["args"][c["args"].index("--model") + 1] == model_path
        mount = next(m for m in c["volumeMounts"] if m["mountPath"] == model_path)
        assert mount["readOnly"] is True
        vol = next(v for v in spec["volumes"] if v["name"] == mount["name"])
        assert vol["persistentVolumeClaim"]["claimName"] == claim
    pvc = find(render(), "PersistentVolumeClaim")
    assert pvc["metadata"]["name"] == "prod-anomaly-gan-models"
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


@pytest.mark.parametrize(("sets", "message"), [
    # The API server refuses two mounts at one path, after the config check has run.
    (("model.mountPath=/tmp",), "model.mountPath /tmp overlaps /tmp, where the chart mounts"),
    (("model.mountPath=/etc/anomaly-gan/",), "overlaps /etc/anomaly-gan, where the chart mounts the config"),
    (("retrain.enabled=true", "retrain.dataExistingClaim=archive", "retrain.dataMountPath=/models"),
     "retrain.dataMountPath and model.mountPath are both /models"),
    (("retrain.enabled=true", "retrain.dataExistingClaim=archive", "retrain.dataMountPath=/tmp"),
     "retrain.dataMountPath /tmp overlaps /tmp"),
    # Inside a read-only volume the runtime cannot make the mount point; over /etc or / the
    # image's own files are gone.
    (("model.mountPath=/etc/anomaly-gan-silences/models",), "where the chart mounts the silences"),
    (("model.mountPath=/etc",), "model.mountPath /etc overlaps /etc/anomaly-gan"),
    (("model.mountPath=/",), "model.mountPath / overlaps"),
])
def test_mount_paths_that_collide_with_the_charts_fail_naming_the_value(render, render_error,
                                                                       sets, message) -> None:
    err = render_error(sets=sets)
    assert message in err, err
    # Paths of their own, and one inside the writable /tmp, render.
    for ok in (("model.mountPath=/srv/models",), ("model.mountPath=/tmp/models",),
               ("retrain.enabled=true", "retrain.dataExistingClaim=archive",
                "retrain.dataMountPath=/models-data")):
        assert find(render(sets=ok), "Deployment")


def test_rollout_stops_an_old_pod_before_starting_its_successor(render) -> None:
    """A surge pod is one consumer more than the partitions when replicaCount equals them: the
    member the group leaves without a partition answers /readyz 503, and when that is the new
    pod the rollout never completes (nor can a surge pod attach a ReadWriteOnce store on
    another node)."""
    strategy = find(render(), "Deployment")["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate",
                        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}


def test_config_change_rolls_the_pods(render) -> None:
    def checksum(docs):
        return find(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    assert checksum(render()) != checksum(render(sets=("config.serve.alerts.consecutive=5",)))


# ----------------------------------------------------------------------------- service config


@pytest.mark.parametrize("values", [(), (ALL_FEATURES,)], ids=["defaults", "all-features"])
def test_mounted_config_passes_validate_config(render, values, tmp_path: Path) -> None:
    docs = render(*values)
    cm = find(docs, "ConfigMap", "anomaly-gan")
    path = tmp_path / "config.yaml"
    path.write_text(cm["data"]["config.yaml"])
    proc = run([sys.executable, "-m", "anomaly_gan", "validate-config", str(path)], check=False)
    assert proc.returncode == 0, f"validate-config rejected the chart's config:\n{proc.stdout}{proc.stderr}"
    # The file is mounted where --config points.
    c = scorer(docs)
    config_arg = c["args"][c["args"].index("--config") + 1]
    mount = next(m for m in c["volumeMounts"] if m["name"] == "config")
    assert config_arg == f"{mount['mountPath']}/config.yaml"


def test_small_and_large_numbers_survive_rendering(render) -> None:
    """Go writes 1e-05 where PyYAML needs 1.0e-05 to read a float; the chart fixes that."""
    cfg = service_config(render(ALL_FEATURES))
    assert cfg["training"]["learning_rate"] == pytest.approx(1e-5)
    assert cfg["threshold"]["pot_risk"] == pytest.approx(1e-5)
    assert cfg["serve"]["windows"]["max_entities"] == 2_000_000
    assert cfg["serve"]["kafka"]["max_poll_interval_ms"] == 1_000_000
    cfg = service_config(render(sets=("json:config.training.learning_rate=1e-7",
                                      "json:config.scoring.weights={\"reconstruction\": 2e-9}",
                                      "json:config.data.counters=[\"1e-05\", \"a\\\": 1e-05\"]")))
    assert cfg["training"]["learning_rate"] == pytest.approx(1e-7)
    assert cfg["scoring"]["weights"] == {"reconstruction": pytest.approx(2e-9)}
    assert cfg["data"]["counters"] == ["1e-05", 'a": 1e-05']  # strings stay strings


# Every character that ends a line for some reader (str.splitlines, YAML 1.1, JSON's
# escaping), alone, at the end, between spaces and doubled: YAML 1.1 (PyYAML) reads NEL,
# U+2028 and U+2029 as line breaks where go-yaml writes them raw inside quotes; and the
# characters YAML may hold only escaped (DEL, C1 controls, U+FEFF, U+FFFE, U+FFFF).
LINE_BREAKS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
               "\u2029"]


@pytest.mark.parametrize("text", [
    *(f"a{b}" for b in LINE_BREAKS), *(f"{b}b" for b in LINE_BREAKS),
    *(f"a {b} b" for b in LINE_BREAKS), "\u2028", "\u2029\u2029", "\u2028\u2029\x85",
    "é\u2028日 🙂\u2029", "'\u2028\"\\", "a\x7f\x80\x9f\ufeff\ufffe\uffffb"], ids=ascii)
def test_a_config_string_with_any_line_break_reaches_the_scorer_as_written(
        render, tmp_path: Path, text: str) -> None:
    """A string of the service config (here a JSON field name, which may hold any character)
    comes back from both ConfigMaps exactly as the values hold it, read by PyYAML (the
    scorer's loader) and by the API's YAML reader (helm's own parse of its output)."""
    from anomaly_gan.config import load_config

    docs = render(sets=("json:config.logs.json_fields.message=" + json.dumps(text),))
    for name in ("anomaly-gan", CHECK):
        path = tmp_path / "config.yaml"
        path.write_text(find(docs, "ConfigMap", name)["data"]["config.yaml"], encoding="utf-8")
        assert load_config(path, env={}).logs.json_fields.message == text, name


@pytest.mark.parametrize("text", ["a\u2028", "\u2029b", "a \x85 b", "x\x9f\ufeffy"], ids=ascii)
def test_a_silence_comment_with_any_line_break_reaches_the_scorer_as_written(
        render, tmp_path: Path, text: str) -> None:
    from anomaly_gan.stream.silences import load_silences

    entry = {"entity": "pump-7", "end": "2026-03-01T06:00:00Z", "comment": text}
    docs = render(sets=("silences.enabled=true", "json:silences.entries=" + json.dumps([entry])))
    path = tmp_path / "silences.yaml"
    path.write_text(find(docs, "ConfigMap", "anomaly-gan-silences")["data"]["silences.yaml"],
                    encoding="utf-8")
    assert load_silences(str(path)).match("pump-7", 0.0).comment == text


def test_kafka_credentials_come_from_secrets_never_the_configmap(render) -> None:
    docs = render(ALL_FEATURES)
    kafka = service_config(docs)["serve"]["kafka"]
    assert kafka["security_protocol"] == "SASL_SSL"
    assert kafka["sasl_mechanism"] == "SCRAM-SHA-512"
    assert "sasl_password" not in kafka and "sasl_username" not in kafka
    spec = find(docs, "Deployment")["spec"]["template"]["spec"]
    c = spec["containers"][0]
    volumes = {v["name"]: v for v in spec["volumes"]}

    mount_paths = [m["mountPath"] for m in c["volumeMounts"]]
    for a in mount_paths:  # no volume nested inside another one
        assert not any(b != a and b.startswith(a + "/") for b in mount_paths), a

    def secret_behind(path: str) -> str:
        mount = next(m for m in c["volumeMounts"] if path.startswith(m["mountPath"] + "/"))
        assert mount["readOnly"] is True
        return volumes[mount["name"]]["secret"]["secretName"]

    assert secret_behind(kafka["sasl_password_file"]) == "kafka-anomaly-gan-user"
    assert secret_behind(kafka["ssl_cafile"]) == "kafka-cluster-ca"
    assert secret_behind(kafka["ssl_certfile"]) == "kafka-anomaly-gan-tls"
    assert secret_behind(kafka["ssl_keyfile"]) == "kafka-anomaly-gan-tls"
    assert secret_behind(kafka["ssl_password_file"]) == "kafka-anomaly-gan-tls-passphrase"
    assert kafka["ssl_password_file"].endswith("/passphrase")
    assert "ssl_password" not in kafka
    user = next(e for e in c["env"] if e["name"] == "ANOMALY_GAN__SERVE__KAFKA__SASL_USERNAME")
    assert user["valueFrom"]["secretKeyRef"] == {"name": "kafka-anomaly-gan-user", "key": "username"}
    for d in docs:  # no credential material rendered anywhere
        assert "password:" not in yaml.safe_dump(d.get("data", {}))



def test_every_pod_that_reads_the_config_mounts_the_key_passphrase(render) -> None:
    """The scorer, the retraining Job and the config check read one config: each must find
    the passphrase file it names, mounted read-only from the Secret's one key."""
    docs = render(ALL_FEATURES)
    path = service_config(docs)["serve"]["kafka"]["ssl_password_file"]
    specs = pod_specs(docs)
    readers = [name for name in specs if not name.startswith("Pod/")]  # the test pod: no config
    assert {name.split("/")[0] for name in readers} == {"Deployment", "CronJob", "Job"}
    for name in readers:
        spec = specs[name]
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = [m for c in spec["containers"] for m in c["volumeMounts"]
                  if path.startswith(m["mountPath"] + "/")]
        assert len(mounts) == 1 and mounts[0]["readOnly"] is True, name
        secret = volumes[mounts[0]["name"]]["secret"]
        assert secret["secretName"] == "kafka-anomaly-gan-tls-passphrase", name
        assert secret["items"] == [{"key": "passphrase", "path": "passphrase"}], name
        assert mounts[0]["mountPath"] + "/passphrase" == path, name

@pytest.mark.parametrize("username", ["12345", "svc-anomaly-gan", "yes"])
def test_sasl_username_from_the_secret_reaches_the_service_as_stored(render, tmp_path,
                                                                    username: str) -> None:
    """The Secret holds the username as it is (no YAML quoting), as docs/deployment.md says."""
    from anomaly_gan.config import load_config

    docs = render(ALL_FEATURES)
    path = tmp_path / "config.yaml"
    path.write_text(find(docs, "ConfigMap", "anomaly-gan")["data"]["config.yaml"])
    env_names = [e["name"] for e in scorer(docs)["env"] if "secretKeyRef" in e.get("valueFrom", {})]
    assert env_names == ["ANOMALY_GAN__SERVE__KAFKA__SASL_USERNAME"]
    cfg = load_config(path, env={env_names[0]: username})
    assert cfg.serve.kafka.sasl_username == username


def test_keda_scales_on_the_scorers_consumer_group(render) -> None:
    docs = render(ALL_FEATURES)
    trigger = find(docs, "ScaledObject")["spec"]["triggers"][0]
    kafka = service_config(docs)["serve"]["kafka"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == kafka["group_id"]
    assert trigger["metadata"]["topic"] == kafka["input_topic"]
    assert trigger["metadata"]["bootstrapServers"] == kafka["bootstrap_servers"]
    auth = {p["parameter"]: p for p in find(docs, "TriggerAuthentication")["spec"]["secretTargetRef"]}
    assert {"sasl", "username", "password", "tls", "ca", "cert", "key"} <= auth.keys()
    # KEDA's scaler reads the encrypted client key too: it needs the passphrase.
    assert auth["keyPassword"] == {"parameter": "keyPassword",
                                   "name": "kafka-anomaly-gan-tls-passphrase", "key": "passphrase"}
    switches = find(docs, "Secret", "-keda-kafka")["stringData"]
    assert switches == {"sasl": "scram_sha512", "tls": "enable"}


@pytest.mark.parametrize(("section", "policy"), [
    ("    kafka:\n      # auto_offset_reset: latest\n", "earliest"),  # YAML: kafka is null
    ("    kafka:\n      auto_offset_reset: latest\n", "latest"),
    ("", "earliest"),
])
def test_keda_reads_the_offset_reset_of_a_config_whose_kafka_section_is_empty(
        render, tmp_path: Path, section: str, policy: str) -> None:
    """A `kafka:` whose keys are all commented out is null: the ScaledObject's dig through
    it failed the render with 'interface conversion: interface {} is nil', naming no value."""
    values = tmp_path / "values.yaml"
    values.write_text("keda:\n  enabled: true\nconfig:\n  serve:\n    log_level: INFO\n" + section)
    docs = render(values)
    assert find(docs, "ScaledObject")["spec"]["triggers"][0]["metadata"]["offsetResetPolicy"] == policy
    assert service_config(docs)["serve"]["kafka"]["group_id"] == "anomaly-gan"


def test_keda_speaks_tls_to_brokers_whose_certificates_the_system_trusts(render) -> None:
    """securityProtocol SSL without kafka.tls.caSecret (a public CA, as on managed Kafka): the
    scorer used TLS, while the trigger had no TriggerAuthentication and read the lag in
    plaintext from a TLS listener, so KEDA never scaled."""
    docs = render(sets=("keda.enabled=true", "kafka.securityProtocol=SSL"))
    trigger = find(docs, "ScaledObject")["spec"]["triggers"][0]
    auth = find(docs, "TriggerAuthentication")
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    tls = next(p for p in auth["spec"]["secretTargetRef"] if p["parameter"] == "tls")
    assert find(docs, "Secret", "-keda-kafka")["stringData"][tls["key"]] == "enable"
    assert not {"ca", "cert", "key", "sasl"} & {p["parameter"] for p in auth["spec"]["secretTargetRef"]}
    plain = render(sets=("keda.enabled=true",))
    assert "authenticationRef" not in find(plain, "ScaledObject")["spec"]["triggers"][0]
    assert "TriggerAuthentication" not in kinds(plain)


def test_network_policy_lets_prometheus_and_helm_test_in_and_kafka_out(render) -> None:
    docs = render(ALL_FEATURES)
    np_ = find(docs, "NetworkPolicy", "prod-anomaly-gan")
    peers = np_["spec"]["ingress"][0]["from"]
    assert any("namespaceSelector" in p for p in peers)
    test_pod_labels = find(docs, "Pod")["metadata"]["labels"]
    assert any(p.get("podSelector", {}).get("matchLabels", {}).items() <= test_pod_labels.items()
               for p in peers if "podSelector" in p)
    egress_ports = {p["port"] for rule in np_["spec"]["egress"] for p in rule["ports"]}
    assert {53, 9093} <= egress_ports


# ----------------------------------------------------------------------------- config check hook

CHECK = "-validate-config"
HOOK_EVENTS = "pre-install,pre-upgrade"


def config_check(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config check's ConfigMap and its Job's pod spec."""
    return find(docs, "ConfigMap", CHECK), find(docs, "Job", CHECK)["spec"]["template"]["spec"]


def run_check(docs: list[dict[str, Any]], tmp_path: Path) -> Any:
    """The check's command, as its pod runs it: the files of the ConfigMaps its pod mounts
    (the hook's copies) under tmp_path as under /, the Job's literal environment
    (ANOMALY_GAN__* overrides included), the container's arguments. The config's
    serve.alerts.silences_path is read where the pod mounts it, under tmp_path."""
    _, spec = config_check(docs)
    (c,) = spec["containers"]
    assert c["command"] == ["anomaly-gan"]
    (config_arg,) = c["args"][1:]
    volumes = {v["name"]: v for v in spec["volumes"]}
    for mount in c["volumeMounts"]:
        if "configMap" in volumes[mount["name"]]:
            cm = find(docs, "ConfigMap", volumes[mount["name"]]["configMap"]["name"])
            assert "helm.sh/hook" in cm["metadata"]["annotations"]  # exists at pre-install
            folder = tmp_path / mount["mountPath"].lstrip("/")
            folder.mkdir(parents=True)
            for key, text in cm["data"].items():
                (folder / key).write_text(text)
    env = {e["name"]: e["value"] for e in c["env"] if "value" in e}
    config = tmp_path / config_arg.lstrip("/")
    silences = yaml.safe_load(config.read_text())["serve"].get("alerts", {}).get("silences_path")
    if silences:
        env["ANOMALY_GAN__SERVE__ALERTS__SILENCES_PATH"] = str(tmp_path / silences.lstrip("/"))
    import os
    return run([sys.executable, "-m", "anomaly_gan", c["args"][0], str(config)], check=False,
               env={**os.environ, **env})


SILENCE = ("silences.entries[0].entity=pump-7", "silences.entries[0].end=2026-03-01T06:00:00Z")


@pytest.mark.parametrize("values", [(), (ALL_FEATURES,)], ids=["defaults", "all-features"])
def test_config_check_reads_the_bytes_the_scorer_reads(render, values) -> None:
    """At pre-install the scorer's ConfigMap does not exist yet: the check brings its own,
    rendered by the same helper, so it validates exactly what the scorer will load."""
    docs = render(*values, sets=("json:extraEnv=" + json.dumps(
        [{"name": "ANOMALY_GAN__SERVE__LOG_LEVEL", "value": "DEBUG"}]), *SILENCE))
    cm, spec = config_check(docs)
    assert cm["data"] == find(docs, "ConfigMap", "anomaly-gan")["data"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["config"]["configMap"]["name"] == cm["metadata"]["name"]
    (c,) = spec["containers"]
    assert c["args"] == ["validate-config", "/etc/anomaly-gan/config.yaml"]
    # The silences too (the scorer's config names them): a copy mounted where the scorer's is.
    silences = find(docs, "ConfigMap", f"{CHECK}-silences")
    assert silences["data"] == find(docs, "ConfigMap", "anomaly-gan-silences")["data"]
    assert volumes["silences"]["configMap"]["name"] == silences["metadata"]["name"]
    assert next(m for m in c["volumeMounts"] if m["name"] == "silences") == next(
        m for m in scorer(docs)["volumeMounts"] if m["name"] == "silences")
    # The scorer's environment (overrides and the SASL username), less its thread count.
    scorer_env = [e for e in scorer(docs)["env"] if e["name"] != "ANOMALY_GAN_CPUS"]
    assert c["env"] == scorer_env
    # The Kafka Secrets as the scorer mounts them, and not the model store: validate-config
    # reads neither, but a missing Secret must stop the check's pod as it stops the scorer's.
    scorer_spec = find(docs, "Deployment")["spec"]["template"]["spec"]
    kafka_volumes = [v for v in scorer_spec["volumes"] if v["name"].startswith("kafka-")]
    assert [v for v in spec["volumes"] if v["name"].startswith("kafka-")] == kafka_volumes
    assert {m["name"] for m in c["volumeMounts"]} == {"config", "tmp", "silences"} | {
        v["name"] for v in kafka_volumes}
    assert not any("persistentVolumeClaim" in v for v in spec["volumes"])
    # The scorer's image, user, privileges and ServiceAccount, without a token.
    assert c["image"] == scorer(docs)["image"]
    assert c["securityContext"] == scorer(docs)["securityContext"]
    assert spec["securityContext"] == scorer_spec["securityContext"]
    assert spec["serviceAccountName"] == scorer_spec["serviceAccountName"]
    assert spec["automountServiceAccountToken"] is False


def hook_service_account(docs: list[dict[str, Any]]) -> dict[str, Any] | None:
    hooks = [d for d in docs if d["kind"] == "ServiceAccount"
             and "helm.sh/hook" in d["metadata"].get("annotations", {})]
    assert len(hooks) <= 1
    return hooks[0] if hooks else None


@pytest.mark.parametrize("sets, account", [
    ((), "prod-anomaly-gan"),
    (("serviceAccount.name=scoring",), "scoring"),
    (("serviceAccount.create=false", "serviceAccount.name=ops"), "ops"),
    (("serviceAccount.create=false",), "default"),
], ids=["created", "created-named", "existing", "namespace-default"])
def test_config_check_runs_under_the_release_service_account(render, sets, account) -> None:
    """An admission policy or an OpenShift SCC granted to the release's account must apply
    to the check as to the scorer and the retraining Job. At pre-install an account the
    chart creates does not exist yet: a hook copy of it comes first."""
    docs = render(sets=("retrain.enabled=true", "serviceAccount.annotations.team=ml", *sets))
    _, spec = config_check(docs)
    cron = find(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    deployment = find(docs, "Deployment")["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == deployment["serviceAccountName"] == \
        cron["serviceAccountName"] == account
    copy = hook_service_account(docs)
    if "serviceAccount.create=false" in sets:
        assert copy is None  # an account that exists before the release: nothing to create
        return
    assert copy is not None
    (release_sa,) = [d for d in docs if d["kind"] == "ServiceAccount" and d is not copy]
    assert copy["metadata"]["name"] == release_sa["metadata"]["name"] == account
    annotations = copy["metadata"]["annotations"]
    assert annotations["team"] == "ml"
    assert copy["automountServiceAccountToken"] is False
    # Before the check's ConfigMap and Job, removed with them; a copy left behind is the
    # release's to adopt.
    assert annotations["helm.sh/hook"] == HOOK_EVENTS
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    weights = {d["kind"]: int(d["metadata"]["annotations"]["helm.sh/hook-weight"])
               for d in (copy, *[d for d in docs if d["metadata"]["name"].endswith(CHECK)])}
    assert weights["ServiceAccount"] < weights["ConfigMap"] < weights["Job"]
    assert annotations["meta.helm.sh/release-name"] == "prod"
    assert annotations["meta.helm.sh/release-namespace"] == "plant"


def test_config_check_runs_before_the_release_changes_and_is_removed_once_passed(render) -> None:
    docs = render(sets=SILENCE)
    files = [find(docs, "ConfigMap", CHECK), find(docs, "ConfigMap", f"{CHECK}-silences")]
    job = find(docs, "Job", CHECK)
    hook = job["metadata"]["annotations"]
    for a in (*[f["metadata"]["annotations"] for f in files], hook):
        assert a["helm.sh/hook"] == HOOK_EVENTS
        assert a["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    for f in files:  # the files first
        assert int(f["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
            hook["helm.sh/hook-weight"])
    # Helm 4 copies the failed check's log into the output of `helm upgrade`.
    assert hook["helm.sh/hook-output-log-policy"] == "hook-failed"
    assert job["spec"]["backoffLimit"] == 0  # a refused config is refused again
    assert job["spec"]["activeDeadlineSeconds"] < 300  # fails before helm's default timeout
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    # Every other object is an ordinary part of the release (or the helm test pod).
    others = [d for d in docs if d["kind"] != "Pod" and d not in (
        *files, job, hook_service_account(docs))]
    assert not any("helm.sh/hook" in d["metadata"].get("annotations", {}) for d in others)


def test_config_check_runs_where_the_scorer_runs_and_asks_for_little(render) -> None:
    sets = ("nodeSelector.pool=scoring", "tolerations[0].key=dedicated",
            "tolerations[0].operator=Exists", "imagePullSecrets[0].name=regcred",
            'json:podAnnotations={"sidecar.istio.io/inject": "false"}', "priorityClassName=ops")
    docs = render(sets=sets)
    _, spec = config_check(docs)
    scorer_spec = find(docs, "Deployment")["spec"]["template"]["spec"]
    for key in ("nodeSelector", "tolerations", "imagePullSecrets", "priorityClassName"):
        assert spec[key] == scorer_spec[key], key
    # A mesh's sidecar would keep the Job from completing: its opt-out reaches the pod.
    meta = find(docs, "Job", CHECK)["spec"]["template"]["metadata"]
    assert meta["annotations"] == {"sidecar.istio.io/inject": "false"}
    assert meta["labels"]["app.kubernetes.io/component"] == "validate-config"
    # It runs next to the scorer it checks for: a fraction of the scorer's request.
    resources = spec["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "50m", "memory": "64Mi"}
    assert resources["limits"]["cpu"] and resources["limits"]["memory"]


def test_config_check_can_be_turned_off(render) -> None:
    on, off = render(), render(sets=("validateConfig.enabled=false",))
    assert kinds(on) == sorted(kinds(off) + ["ConfigMap", "Job", "ServiceAccount"])
    assert hook_service_account(off) is None
    assert not [d for d in off if d["metadata"]["name"].endswith(CHECK)]
    assert not [d for d in render(ALL_FEATURES, sets=("validateConfig.enabled=false", *SILENCE))
                if CHECK in d["metadata"]["name"]]


@pytest.mark.parametrize("values, sets", [((), ()), ((ALL_FEATURES,), ()), ((), SILENCE),
                                          ((), ("silences.enabled=true",))],
                         ids=["defaults", "all-features", "silences", "no-silences-yet"])
def test_config_check_passes_the_chart_config(render, values, sets, tmp_path: Path) -> None:
    proc = run_check(render(*values, sets=sets), tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "config.yaml: ok" in proc.stdout
    if sets:  # the silences file was read, not skipped as absent
        count = 1 if sets == SILENCE else 0
        assert f"{count} silences in {tmp_path}/etc/anomaly-gan-silences/silences.yaml" \
            in proc.stdout, proc.stdout


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        # Each value alone is in the schema's range; together the scorer refuses them.
        (("config.serve.kafka.heartbeat_interval_ms=20000",),
         "serve.kafka.heartbeat_interval_ms: expected < serve.kafka.session_timeout_ms (10000)"),
        (("config.data.window=16", "config.data.stride=32"),
         "data.stride: expected <= data.window (16), got 32"),
        (("config.serve.event_format=otlp_json",), "serve.assemble_seconds:"),
        # An override in extraEnv is part of the config the scorer loads.
        (('json:extraEnv=[{"name": "ANOMALY_GAN__DATA__STRIDE", "value": "4096"}]',),
         "data.stride: expected <= data.window"),
        # A silence the schema lets through (end is a string): the scorer would start with
        # no silence in force.
        (("silences.entries[0].entity=pump-7", "silences.entries[0].end=tomorrow"),
         ("/etc/anomaly-gan-silences/silences.yaml: silences[0].end: expected an RFC 3339 "
          "time with a zone (2026-03-01T02:00:00Z) or epoch seconds, got 'tomorrow'")),
    ],
)
def test_a_config_the_scorer_would_refuse_fails_the_check(render, tmp_path: Path, sets,
                                                          message) -> None:
    """helm renders these (the schema checks one key at a time), so before the check the
    upgrade went through and the new scorer crash-looped; now the hook Job exits 2 with the
    scorer's line, which fails `helm upgrade` before the running scorer is stopped."""
    proc = run_check(render(sets=sets), tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr


def pod_metadata(d: dict[str, Any]) -> dict[str, Any]:
    if d["kind"] == "CronJob":
        return d["spec"]["jobTemplate"]["spec"]["template"]["metadata"]
    return d["metadata"] if d["kind"] == "Pod" else d["spec"]["template"]["metadata"]


def policies_selecting(docs: list[dict[str, Any]], owner: dict[str, Any]) -> list[dict[str, Any]]:
    labels = pod_metadata(owner)["labels"]
    return [d for d in docs if d["kind"] == "NetworkPolicy"
            and d["spec"]["podSelector"]["matchLabels"].items() <= labels.items()]


def test_every_pod_of_the_chart_is_under_exactly_one_network_policy(render) -> None:
    """In a namespace that denies egress by default, the retrain Job's pods reached neither
    DNS nor Kafka: the chart's only policy selected the scorer pods."""
    docs = render(ALL_FEATURES)
    owners = {f"{d['kind']}/{d['metadata']['name']}": d for d in docs
              if d["kind"] in ("Deployment", "CronJob", "Job")}
    assert len(owners) == 3
    for name, owner in owners.items():
        assert len(policies_selecting(docs, owner)) == 1, name
    # The helm test pod calls the scorer; the scorer's policy lets it in (CKV2_K8S_6).
    assert policies_selecting(docs, find(docs, "Pod")) == []


def test_retrain_pods_reach_dns_and_the_brokers_and_nothing_reaches_them(render) -> None:
    docs = render(ALL_FEATURES, sets=("json:networkPolicy.extraEgress=" + json.dumps(
        [{"ports": [{"port": 8081, "protocol": "TCP"}]}]),))
    (policy,) = policies_selecting(docs, find(docs, "CronJob"))
    assert policy["metadata"]["name"] == "prod-anomaly-gan-retrain"
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in policy["spec"]  # nothing in
    # The scorer's egress: DNS, the brokers' ports and peers, extraEgress.
    scorer_policy = find(docs, "NetworkPolicy", "prod-anomaly-gan")
    assert policy["spec"]["egress"] == scorer_policy["spec"]["egress"]
    rules = policy["spec"]["egress"]
    assert {(p["port"], p["protocol"]) for p in rules[0]["ports"]} == {(53, "UDP"), (53, "TCP")}
    assert [p["port"] for p in rules[1]["ports"]] == [9093]  # kafka.bootstrapServers' port
    assert rules[1]["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kafka"}
    assert rules[2] == {"ports": [{"port": 8081, "protocol": "TCP"}]}
    # No retrain policy without the CronJob.
    names = [d["metadata"]["name"] for d in render(sets=("networkPolicy.enabled=true",))
             if d["kind"] == "NetworkPolicy"]
    assert names == ["prod-anomaly-gan", "prod-anomaly-gan-validate-config"]


def test_the_config_check_gets_no_network(render) -> None:
    """It reads a mounted file: deny all, in a policy that is a hook like the Job, so that it
    exists at pre-install (before anything of the release does)."""
    docs = render(ALL_FEATURES)
    (policy,) = policies_selecting(docs, find(docs, "Job", CHECK))
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in policy["spec"] and "egress" not in policy["spec"]
    annotations = policy["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == HOOK_EVENTS
    job_weight = find(docs, "Job", CHECK)["metadata"]["annotations"]["helm.sh/hook-weight"]
    assert int(annotations["helm.sh/hook-weight"]) < int(job_weight)
    # Without networkPolicy.enabled no policy selects it (none selects the scorer either).
    assert "NetworkPolicy" not in kinds(render(sets=("retrain.enabled=true",)))


# ----------------------------------------------------------------------------- schema


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("config.serve.bogus=1",), "additional properties 'bogus' not allowed"),
        (("config.training.epochs=0",), "/config/training/epochs"),
        (("config.model.kind=vae",), "/config/model/kind"),
        (("config.serve.model_path=/elsewhere",), "additional properties 'model_path' not allowed"),
        (("config.serve.kafka.sasl_password=hunter2",), "'sasl_password' not allowed"),
        (("config.serve.kafka.ssl_password=hunter2",), "'ssl_password' not allowed"),
        (("config.serve.kafka.ssl_password_file=/p",), "'ssl_password_file' not allowed"),
        (("kafka.tls.keyPasswordSecret=Kafka_Pass",), "/kafka/tls/keyPasswordSecret"),
        (("kafka.tls.keyPasswordKey=",), "/kafka/tls/keyPasswordKey"),
        (("kafka.bootstrapServers=",), "/kafka/bootstrapServers"),
        (("kafka.securityProtocol=TLS",), "/kafka/securityProtocol"),
        (("kafka.securityProtocol=SASL_SSL",), "/kafka/sasl/mechanism"),
        (("securityContext.readOnlyRootFilesystem=false",), "/securityContext/readOnlyRootFilesystem"),
        (("securityContext.runAsNonRoot=false",), "/securityContext/runAsNonRoot"),
        (("securityContext.seccompProfile.type=Unconfined",),
         "/securityContext/seccompProfile/type"),
        (("podSecurityContext.seccompProfile.type=Unconfined",),
         "/podSecurityContext/seccompProfile/type"),
        (("securityContext.procMount=Unmasked",), "/securityContext/procMount"),
        (("securityContext.appArmorProfile.type=Unconfined",),
         "/securityContext/appArmorProfile/type"),
        (("podSecurityContext.appArmorProfile.type=Unconfined",),
         "/podSecurityContext/appArmorProfile/type"),
        (("securityContext.windowsOptions.hostProcess=true",),
         "/securityContext/windowsOptions/hostProcess"),
        (("podSecurityContext.windowsOptions.hostProcess=true",),
         "/podSecurityContext/windowsOptions/hostProcess"),
        # A namespace is a DNS-1123 label: no dots, at most 63 characters.
        (("grafanaDashboard.namespace=monitoring.prod",), "/grafanaDashboard/namespace"),
        (("grafanaDashboard.namespace=" + "m" * 64,), "/grafanaDashboard/namespace"),
        (("service.port=70000",), "/service/port"),
        # The scorer runs non-root with no capabilities: it could not bind the port.
        (("service.containerPort=80",), "/service/containerPort"),
        (("replicaCount=-1",), "/replicaCount"),
        (("image.pullPolicy=Sometimes",), "/image/pullPolicy"),
        (("retrain.lookback=a week",), "/retrain/lookback"),
        # `retrain --last` refuses these: every scheduled Job would exit 2.
        (("retrain.lookback=0d",), "/retrain/lookback"),
        (("retrain.lookback=.5d",), "/retrain/lookback"),
        (("retrain.dataPath=data.csv",), "/retrain/dataPath"),
        (("config.retrain.gate.max_false_alarm_rate=2",), "/config/retrain/gate/max_false_alarm_rate"),
        (("config.retrain.keep_versions=-1",), "/config/retrain/keep_versions"),
        # config.py refuses a weights map with no weight > 0: the pod would crash-loop
        (('json:config.scoring.weights={"knn": 0, "latent": 0}',), "/config/scoring/weights"),
        (("json:config.scoring.weights={}",), "/config/scoring/weights"),
        (("retrain.schedule=weekly",), "/retrain/schedule"),
        (("serviceMonitor.interval=15",), "/serviceMonitor/interval"),
        (("unknownTopLevel=1",), "additional properties 'unknownTopLevel' not allowed"),
        # The API server would refuse these only at install time.
        (("podDisruptionBudget.maxUnavailable=abc",), "/podDisruptionBudget/maxUnavailable"),
        (("podDisruptionBudget.minAvailable=-1",), "/podDisruptionBudget/minAvailable"),
        (("fullnameOverride=ml.scorer",), "/fullnameOverride"),  # the Service name: no dots
        (("securityContext.runAsUser=0",), "/securityContext/runAsUser"),
        (("podSecurityContext.runAsUser=0",), "/podSecurityContext/runAsUser"),
        (("image.digest=sha256:0123abcd",), "/image/digest"),  # too short
        (("image.digest=" + DIGEST.upper(),), "/image/digest"),
        (("image.digest=" + DIGEST.removeprefix("sha256:"),), "/image/digest"),
        (("tests.image.digest=md5:0123456789abcdef0123456789abcdef",), "/tests/image/digest"),
        # A digest or a tag where the chart appends its own rendered 'anomaly-gan:sha256:...'
        # or 'anomaly-gan:0.1.0:0.1.0': InvalidImageName, and the config check then failed the
        # install only at its 4-minute deadline.
        (("image.tag=" + DIGEST,), "a sha256 digest goes in digest"),
        (("image.tag=0.1.0@" + DIGEST,), "/image/tag"),
        (("tests.image.tag=" + TEST_DIGEST,), "/tests/image/tag"),
        (("image.repository=anomaly-gan:0.1.0",), "the tag goes in tag"),
        (("image.repository=ghcr.io/ops/anomaly-gan@" + DIGEST,), "a sha256 digest in digest"),
        (("image.repository=Anomaly-GAN",), "/image/repository"),
        (("retrain.timeZone=Mars Standard Time",), "/retrain/timeZone"),
        (("retrain.timeZone=../../etc/passwd",), "/retrain/timeZone"),
        (("json:retrain.timeZone=1",), "/retrain/timeZone"),
        # Go's name for the host's zone; the API server wants an explicit one, and says so.
        (("retrain.timeZone=Local",), ("/retrain/timeZone': value must be 'an IANA zone name "
                                       "such as Etc/UTC (the API server refuses Local)'")),
        (("retrain.timeZone=local",), "the API server refuses Local"),
        # Two retrains on one store: the later one of every overlap refused (exit 2).
        (("retrain.concurrencyPolicy=Allow",), "/retrain/concurrencyPolicy"),
    ],
)
def test_schema_rejects_bad_values_with_the_key_named(render_error, sets, message) -> None:
    err = render_error(sets=sets)
    assert "don't meet the specifications of the schema" in err
    assert message in err, err


# Values the chart writes into a manifest as they are (toYaml): the API server refused these
# only at `helm install/upgrade`, a failed release (found by test_helm_values_fuzz.py's
# Kubernetes validation). The schema holds the API's own definitions for them now.
@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (('readinessProbe.timeoutSeconds="2026-01-01"',), "/readinessProbe/timeoutSeconds"),
        (("json:livenessProbe.periodSeconds=true",), "/livenessProbe/periodSeconds"),
        (("json:startupProbe.httpGet.port=null",), "/startupProbe/httpGet"),  # no port
        (("livenessProbe.httpGet.replicas=2",), "/livenessProbe/httpGet"),
        (("startupProbe.x=1",), "/startupProbe"),
        (("securityContext.x=1",), "/securityContext"),
        (("securityContext.capabilities.kind=x",), "/securityContext/capabilities"),
        (("json:podSecurityContext.seccompProfile=[1, 2]",), "/podSecurityContext/seccompProfile"),
        (("json:networkPolicy.metricsFrom=[[]]",), "/networkPolicy/metricsFrom/0"),
        (("json:networkPolicy.kafkaEgress.to=" + json.dumps(
            [{"namespaceSelector": {"matchLabels": 65536}}]),),
         "/networkPolicy/kafkaEgress/to/0/namespaceSelector/matchLabels"),
        (("json:networkPolicy.extraEgress=[{\"ports\": 53}]",), "/networkPolicy/extraEgress/0"),
        (("json:tolerations=[{\"effect\": 1}]",), "/tolerations/0/effect"),
        (("json:affinity={\"nodeAffinity\": []}",), "/affinity/nodeAffinity"),
        (("json:topologySpreadConstraints=[{\"maxSkew\": 1}]",), "/topologySpreadConstraints/0"),
        (("json:extraEnv=[{\"name\": \"A\", \"value\": 1}]",), "/extraEnv/0/value"),
        (("json:autoscaling.extraMetrics=[{\"type\": \"Pods\", \"pods\": []}]",),
         "/autoscaling/extraMetrics/0/pods"),
        (("json:autoscaling.behavior={\"scaleUp\": 1}",), "/autoscaling/behavior/scaleUp"),
        # The ServiceMonitor CRD's Duration (Prometheus' own): each unit once, largest first.
        (("serviceMonitor.enabled=true", "serviceMonitor.interval=30s1m"),
         "/serviceMonitor/interval"),
        (("serviceMonitor.enabled=true", "serviceMonitor.scrapeTimeout=5s5s"),
         "/serviceMonitor/scrapeTimeout"),
        # null deletes the default: an emptyDir /tmp with `sizeLimit: null`, unbounded.
        (("json:tmpSizeLimit=null",), "tmpSizeLimit"),
        # A Secret's key deleted: a secretKeyRef or a secret volume item with `key: null`.
        (("json:kafka.sasl.usernameKey=null",), "usernameKey"),
        (("json:kafka.sasl.passwordKey=null",), "passwordKey"),
        (("json:kafka.tls.caKey=null",), "caKey"),
        (("json:kafka.tls.keyPasswordKey=null",), "keyPasswordKey"),
    ],
)
def test_schema_refuses_what_the_api_server_would(render_error, sets, message) -> None:
    err = render_error(sets=sets)
    assert "don't meet the specifications of the schema" in err, err
    assert message in err, err


def test_conflicting_autoscalers_fail_with_a_clear_message(render_error) -> None:
    err = render_error(sets=("autoscaling.enabled=true", "keda.enabled=true"))
    assert "enable only one" in err


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("autoscaling.enabled=true", "autoscaling.minReplicas=4", "autoscaling.maxReplicas=2"),
         "autoscaling.minReplicas (4) is greater than autoscaling.maxReplicas (2)"),
        (("keda.enabled=true", "keda.minReplicaCount=4", "keda.maxReplicaCount=2"),
         "keda.minReplicaCount (4) is greater than keda.maxReplicaCount (2)"),
        # The default scrapeTimeout (10s) with a faster scrape.
        (("serviceMonitor.enabled=true", "serviceMonitor.interval=5s"),
         "serviceMonitor.scrapeTimeout (10s) is longer than serviceMonitor.interval (5s)"),
        # The scorer would ignore the CA in plaintext while KEDA's trigger switched TLS on.
        (("kafka.tls.caSecret=kafka-ca",), "kafka.securityProtocol is PLAINTEXT"),
        (("kafka.tls.keyPasswordSecret=kafka-pass",), "kafka.securityProtocol is PLAINTEXT"),
        # A passphrase with no key to decrypt: the scorer would refuse it at every start.
        (("kafka.securityProtocol=SSL", "kafka.tls.keyPasswordSecret=kafka-pass"),
         "kafka.tls.keyPasswordSecret is set without kafka.tls.clientCertSecret"),
        (("networkPolicy.enabled=true", "kafka.bootstrapServers=kafka:9094"),
         "does not include port 9094 of kafka.bootstrapServers"),
        # The Job could never write the store the chart creates for it.
        (("retrain.enabled=true", "model.persistence.accessModes[0]=ReadOnlyMany"),
         "model.persistence.accessModes [ReadOnlyMany] lets no pod write it"),
        (("retrain.enabled=true", "model.persistence.accessModes[0]=ReadWriteOncePod"),
         "use ReadWriteMany (or ReadWriteOnce with the Job on the scorers' node"),
        # Beyond 2m a missed scrape outlives Prometheus' 5m lookback: the rules blink out.
        (("serviceMonitor.enabled=true", "prometheusRule.enabled=true",
          "serviceMonitor.interval=2m30s"),
         ('serviceMonitor.interval is "2m30s", but the shipped rules (prometheusRule.enabled) '
          'need a scrape at least every 2m')),
        # The shipped rules select job="anomaly-gan": the scorer-down alert would never fire.
        (("serviceMonitor.enabled=true", "prometheusRule.enabled=true",
          "serviceMonitor.jobName=scorers"),
         'serviceMonitor.jobName is "scorers", but the shipped rules'),
        # The pods would no longer match the Deployment's selector: the API refuses it.
        ((r"podLabels.app\.kubernetes\.io/component=ml",),
         "podLabels sets app.kubernetes.io/component, a label the Deployment selects"),
        ((r"podLabels.app\.kubernetes\.io/instance=shared",),
         "podLabels sets app.kubernetes.io/instance"),
        # The config's hash, which rolls the pods when the config changes: replaced, a config
        # change would no longer restart the scorers.
        (("podAnnotations.checksum/config=pinned",),
         "podAnnotations sets checksum/config, the hash of the service config"),
        # With no metrics Kubernetes would quietly scale on 80% CPU instead.
        (("autoscaling.enabled=true", "autoscaling.targetCPUUtilizationPercentage=null"),
         "set autoscaling.targetCPUUtilizationPercentage or autoscaling.extraMetrics"),
        # Utilization of no CPU request: the HPA reported FailedGetResourceMetric, never scaled.
        (("autoscaling.enabled=true", "json:resources.requests.cpu=null"),
         ("autoscaling.targetCPUUtilizationPercentage is a percentage of resources.requests.cpu, "
          "which is not set or 0")),
        (("autoscaling.enabled=true", "json:resources.requests=null"), "would never scale"),
    ],
)
def test_contradictory_values_fail_with_the_keys_named(render_error, sets, message) -> None:
    err = render_error(sets=sets)
    assert message in err, err


# A template's run-time failure: what helm printed where the schema let a value through that
# the chart cannot take (found by tests/deploy/test_helm_values_fuzz.py).
TEMPLATE_FAILURE = re.compile(r"nil pointer|error calling|wrong type for value|invalid value")


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        # null removes a default (helm's way to unset it); the templates read these sections
        # and keys unconditionally and failed with "nil pointer evaluating interface {}.create".
        *((("json:" + key + "=null",), f"missing property '{key}'") for key in (
            "serviceAccount", "podLabels", "silences", "validateConfig", "extraEnv",
            "podDisruptionBudget", "serviceMonitor", "prometheusRule", "grafanaDashboard",
            "autoscaling", "keda", "retrain", "networkPolicy", "tests")),
        (("json:kafka.tls=null",), "at '/kafka': missing property 'tls'"),
        (("json:tests.image=null",), "at '/tests': missing property 'image'"),
        (("serviceMonitor.enabled=true", "json:serviceMonitor.scrapeTimeout=null"),
         "at '/serviceMonitor': missing property 'scrapeTimeout'"),
        (("serviceMonitor.enabled=true", "json:serviceMonitor.interval=null"),
         "at '/serviceMonitor': missing property 'interval'"),
        (("grafanaDashboard.enabled=true", "json:grafanaDashboard.label=null"),
         "at '/grafanaDashboard': missing property 'label'"),
        (("grafanaDashboard.enabled=true", "json:grafanaDashboard.folderAnnotation=null"),
         "at '/grafanaDashboard': missing property 'folderAnnotation'"),
        (("retrain.enabled=true", "retrain.dataExistingClaim=archive",
          "json:retrain.dataMountPath=null"), "at '/retrain': missing property 'dataMountPath'"),
        (("networkPolicy.enabled=true", "json:networkPolicy.kafkaEgress=null"),
         "at '/networkPolicy': missing property 'kafkaEgress'"),
        # Rendered as null, each reached the API server (a PVC or CronJob it refuses, after
        # the config check) or dropped the containers' hardening: securityContext: null left
        # a writable root, privilege escalation and every capability, which the schema's
        # consts (readOnlyRootFilesystem: true, ...) exist to refuse.
        (("json:securityContext=null",), "missing property 'securityContext'"),
        (("json:model.persistence.size=null",),
         "at '/model/persistence': missing property 'size'"),
        (("json:model.persistence.accessModes=null",),
         "at '/model/persistence': missing property 'accessModes'"),
        (("retrain.enabled=true", "json:retrain.schedule=null"),
         "at '/retrain': missing property 'schedule'"),
        # rendered `--last ""`: every scheduled run failed (exit 2)
        (("retrain.enabled=true", "json:retrain.lookback=null"),
         "at '/retrain': missing property 'lookback'"),
        (("serviceMonitor.enabled=true", "prometheusRule.enabled=true",
          "json:serviceMonitor.jobName=null"),
         "at '/serviceMonitor': missing property 'jobName'"),
        # A probe's handler is a map: a list failed in the port check ("error calling dig").
        (('json:startupProbe.httpGet=["/healthz"]',), "/startupProbe/httpGet"),
        (("json:livenessProbe.tcpSocket=[]",), "/livenessProbe/tcpSocket"),
        (("json:readinessProbe.grpc=9108",), "/readinessProbe/grpc"),
    ],
)
def test_values_the_templates_need_are_refused_naming_the_key_when_removed_or_misshapen(
        render_error, sets, message) -> None:
    err = render_error(sets=sets)
    assert not TEMPLATE_FAILURE.search(err), err
    assert message in err, err


def test_secret_names_and_keys_that_look_like_numbers_stay_strings(render) -> None:
    """A Secret's name and its keys may be all digits (Kubernetes allows it); written
    unquoted they became YAML integers, which the API server refuses in a volume's secretName
    or items and in KEDA's TriggerAuthentication."""
    digits = {"sasl.existingSecret": "2024", "sasl.usernameKey": "1", "sasl.passwordKey": "2",
              "tls.caSecret": "3", "tls.caKey": "4", "tls.clientCertSecret": "5",
              "tls.keyPasswordSecret": "6", "tls.keyPasswordKey": "7"}
    docs = render(sets=("kafka.securityProtocol=SASL_SSL", "kafka.sasl.mechanism=PLAIN",
                        "keda.enabled=true",
                        *(f'json:kafka.{key}="{value}"' for key, value in digits.items())))
    secrets = [v["secret"] for spec in pod_specs(docs).values() for v in spec.get("volumes", [])
               if "secret" in v]
    assert secrets
    for secret in secrets:
        assert isinstance(secret["secretName"], str), secret
        for item in secret.get("items", []):
            assert isinstance(item["key"], str) and isinstance(item["path"], str), secret
    auth = find(docs, "TriggerAuthentication")["spec"]["secretTargetRef"]
    for ref in auth:
        assert isinstance(ref["name"], str) and isinstance(ref["key"], str), ref


@pytest.mark.parametrize(("sets", "message"), [
    (("grafanaDashboard.label=" + "x" * 2000,), "/grafanaDashboard/label"),
    (("grafanaDashboard.label=a: b",), "/grafanaDashboard/label"),
    (("grafanaDashboard.folderAnnotation=" + "y" * 2000,), "/grafanaDashboard/folderAnnotation"),
    (("grafanaDashboard.labelValue=" + "z" * 64,), "/grafanaDashboard/labelValue"),
    (("kafka.tls.caKey=" + "9" * 5000,), "/kafka/tls/caKey"),
    (("kafka.sasl.passwordKey=a/b",), "/kafka/sasl/passwordKey"),
    (("kafka.tls.keyPasswordKey=..",), "/kafka/tls/keyPasswordKey"),
])
def test_label_and_secret_keys_kubernetes_refuses_are_refused_naming_the_key(
        render_error, sets, message) -> None:
    """A label key of over 1024 characters made the dashboard's ConfigMap unparseable YAML
    ("YAML parse error on grafana-dashboard.yaml", naming no value); a Secret key Kubernetes
    refuses (over 253 characters, a '/', '..') installed nothing either."""
    err = render_error(sets=sets)
    assert not TEMPLATE_FAILURE.search(err) and "YAML parse error" not in err, err
    assert message in err, err


@pytest.mark.parametrize(
    "sets",
    [
        ("podDisruptionBudget.minAvailable=50%",),
        ("podDisruptionBudget.maxUnavailable=0",),
        ("serviceMonitor.enabled=true", "serviceMonitor.interval=5s",
         "serviceMonitor.scrapeTimeout=4s500ms"),
        ("serviceMonitor.enabled=true", "serviceMonitor.interval=1m", "serviceMonitor.scrapeTimeout=1m"),
        ("serviceMonitor.enabled=true", "prometheusRule.enabled=true", "serviceMonitor.interval=2m"),
        ("autoscaling.enabled=true", "autoscaling.minReplicas=3", "autoscaling.maxReplicas=3"),
        # A CPU limit alone is the request too.
        ("autoscaling.enabled=true", "json:resources.requests=null", "resources.limits.cpu=2"),
        ("autoscaling.enabled=true", "json:resources.requests.cpu=null",
         "json:autoscaling.targetCPUUtilizationPercentage=null",
         ('json:autoscaling.extraMetrics=[{"type": "External", "external": {"metric": {"name": '
          '"lag"}, "target": {"type": "AverageValue", "averageValue": "1000"}}}]')),
        ("keda.enabled=true", "keda.minReplicaCount=0"),
        ("kafka.securityProtocol=SSL", "kafka.tls.caSecret=kafka-ca"),
        ("networkPolicy.enabled=true", r"kafka.bootstrapServers=k-0:9092\,k-1:9093"),
        ("networkPolicy.enabled=true", "json:networkPolicy.kafkaEgress.ports=[]",
         "kafka.bootstrapServers=kafka:29092"),  # no ports listed: any port
        ("fullnameOverride=scorer", "securityContext.runAsUser=2000"),
        ("retrain.enabled=true", "retrain.timeZone=Etc/GMT+5"),
        ("retrain.enabled=true", "retrain.timeZone=America/Port-au-Prince"),
        ("retrain.enabled=true", "retrain.timeZone=UTC"),
        ("retrain.enabled=true", "retrain.lookback=0.5d"),
        ("retrain.enabled=true", "retrain.lookback=520w"),
        ("securityContext.seccompProfile.type=Localhost",
         "securityContext.seccompProfile.localhostProfile=profiles/scorer.json",
         "securityContext.procMount=Default", "securityContext.appArmorProfile.type=RuntimeDefault"),
        ("grafanaDashboard.enabled=true", "grafanaDashboard.namespace=monitoring-2"),
        ("retrain.enabled=true", "model.persistence.accessModes[0]=ReadOnlyMany",
         "model.persistence.existingClaim=written-elsewhere"),  # the chart cannot tell
        ("retrain.enabled=true", "retrain.timeZone="),
        ("retrain.enabled=true", "retrain.concurrencyPolicy=Replace"),
        ("podLabels.team=ml", r"podLabels.app\.kubernetes\.io/part-of=plant"),
        (f"image.digest={DIGEST}", f"tests.image.digest={TEST_DIGEST}"),
        ("image.repository=registry.example.com:5000/ops/anomaly-gan", "image.tag=0.2.0-rc.1_b7"),
        ("image.repository=localhost:5000/anomaly-gan", "tests.image.repository=docker.io/library/busybox"),
    ],
)
def test_sensible_values_render(render, sets) -> None:
    assert find(render(sets=sets), "Deployment")


# Longest names the API server accepts; a CronJob leaves 11 characters for its Jobs' suffix.
# A Job's name is its pods' job-name label.
NAME_LIMITS = {"CronJob": 52, "Service": 63, "Deployment": 63, "Job": 63}


def test_long_release_names_fit_every_kubernetes_name_limit(render) -> None:
    release = "telemetry-scorer-for-the-north-plant-production-env1"  # helm allows 53
    docs = render(ALL_FEATURES, release=release, sets=("silences.enabled=true",))
    assert {"CronJob", "Service", "Deployment", "Job"} <= set(kinds(docs))
    for d in docs:
        name = d["metadata"]["name"]
        assert len(name) <= NAME_LIMITS.get(d["kind"], 253), f"{d['kind']}/{name}"
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), f"{d['kind']}/{name}"
        for value in d["metadata"].get("labels", {}).values():
            assert len(value) <= 63, f"{d['kind']}/{name}: label {value}"
    assert find(docs, "CronJob")["metadata"]["name"].endswith("-retrain")


@pytest.mark.parametrize("release", ["2024-plant", "plant.north"])
def test_release_names_the_service_cannot_take_fail_with_the_way_out(render, render_error,
                                                                     release: str) -> None:
    """Helm takes these release names, but a Service name must be a DNS-1035 label (a letter
    first, no dots): the API server refused the chart's Service at install time."""
    err = render_error(release=release)
    assert f'release name "{release}"' in err and "set fullnameOverride" in err, err
    docs = render(release=release, sets=("fullnameOverride=plant-scorer",))
    assert find(docs, "Service")["metadata"]["name"] == "plant-scorer"


def test_schema_config_section_matches_config_py() -> None:
    """The generator (scripts/values_schema.py) says the shipped schema is current."""
    proc = run([sys.executable, str(ROOT / "scripts" / "values_schema.py"), "--check"],
               check=False)
    assert proc.returncode == 0, proc.stderr + " (run: make helm-schema)"


# ----------------------------------------------------------------------------- monitoring objects


def test_prometheus_rule_is_the_shipped_rules_file(render) -> None:
    docs = render(sets=("prometheusRule.enabled=true", "prometheusRule.labels.release=kps"))
    pr = find(docs, "PrometheusRule")
    assert pr["metadata"]["labels"]["release"] == "kps"
    assert pr["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]
    # The file is written for scrapes up to 30s (its ranges hold four): unchanged there, but
    # for absent(), which the ServiceMonitor's target labels narrow to this release.
    own = 'absent(up{job="anomaly-gan", namespace="plant", service="prod-anomaly-gan"})'
    for interval in ("15s", "30s"):
        docs = render(sets=("prometheusRule.enabled=true", "serviceMonitor.enabled=true",
                            f"serviceMonitor.interval={interval}"))
        shipped = yaml.safe_load(RULES.read_text())["groups"]
        for group in shipped:
            for rule in group["rules"]:
                rule["expr"] = rule["expr"].replace('absent(up{job="anomaly-gan"})', own)
        assert find(docs, "PrometheusRule")["spec"]["groups"] == shipped
        assert any(r["expr"].startswith(own) for g in shipped for r in g["rules"])


def test_runbook_base_url_links_each_alert_to_its_runbook_section(render, render_error) -> None:
    base = "https://git.example.com/ops/anomaly-gan/blob/main/docs/runbook.md"
    docs = render(sets=("prometheusRule.enabled=true", f"prometheusRule.runbookBaseUrl={base}"))
    shipped = yaml.safe_load(RULES.read_text())["groups"]
    linked = find(docs, "PrometheusRule")["spec"]["groups"]
    alerts = 0
    for group, ours in zip(shipped, linked, strict=True):
        for rule, out in zip(group["rules"], ours["rules"], strict=True):
            if "alert" in rule:
                alerts += 1
                url = out["annotations"].pop("runbook_url")
                assert url == f"{base}#{rule['alert'].lower()}"
            assert out == rule  # nothing else changed
    assert alerts >= 10
    assert "runbookBaseUrl" in render_error(sets=("prometheusRule.enabled=true",
                                                  "prometheusRule.runbookBaseUrl=runbook.md"))


def test_dashboard_configmap_is_the_shipped_dashboard(render) -> None:
    docs = render(sets=("grafanaDashboard.enabled=true", "grafanaDashboard.folder=Ops"))
    cm = find(docs, "ConfigMap", "-dashboard")
    assert json.loads(cm["data"]["anomaly-gan.json"]) == json.loads(DASHBOARD.read_text())
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Ops"}


def test_service_monitor_scrapes_the_metrics_port_as_the_rules_job(render) -> None:
    docs = render(sets=("serviceMonitor.enabled=true",))
    sm = find(docs, "ServiceMonitor")
    ep = sm["spec"]["endpoints"][0]
    assert ep["port"] == find(docs, "Service")["spec"]["ports"][0]["name"]
    assert ep["path"] == "/metrics"
    assert {"targetLabel": "job", "replacement": "anomaly-gan"} in ep["relabelings"]
    assert 'up{job="anomaly-gan"}' in RULES.read_text()
    assert sm["spec"]["selector"]["matchLabels"].items() <= find(docs, "Service")["metadata"]["labels"].items()


def test_helm_test_pod_checks_readyz_through_the_service(render) -> None:
    docs = render()
    pod = find(docs, "Pod")
    script = pod["spec"]["containers"][0]["args"][0]
    svc = find(docs, "Service")
    assert f"http://{svc['metadata']['name']}.plant.svc:{svc['spec']['ports'][0]['port']}" in script
    assert '"$url/readyz"' in script


def test_notes_say_where_metrics_and_alerts_are(helm: str) -> None:
    out = run([helm, "install", "prod", str(CHART), "--namespace", "plant", "--dry-run=client",
               "-f", str(ALL_FEATURES)]).stdout
    notes = out.split("NOTES:", 1)[1]
    assert "port-forward svc/prod-anomaly-gan 9108:9108" in notes
    assert "http://prod-anomaly-gan.plant.svc:9108/metrics" in notes
    assert "service.containerPort" not in notes  # one port: nothing to tell apart
    assert "PrometheusRule prod-anomaly-gan" in notes and "Alertmanager" in notes
    assert "plant.anomalies" in notes  # the Kafka alert topic
    assert "helm test prod" in notes



def test_notes_forward_a_local_port_a_user_can_bind_when_the_service_port_is_privileged(
        helm: str) -> None:
    """With service.port=80 the NOTES said 'port-forward svc/... 80:80': kubectl, run as a user,
    cannot bind local port 80 (EACCES, as the scorer could not). The local port is now the
    pods' port (service.containerPort, at least 1024), and the NOTES say what listens where."""
    out = run([helm, "install", "prod", str(CHART), "--namespace", "plant", "--dry-run=client",
               "--set", "service.port=80", "--set", "service.containerPort=9200"]).stdout
    notes = out.split("NOTES:", 1)[1]
    assert "port-forward svc/prod-anomaly-gan 9200:80" in notes
    assert "curl -s localhost:9200/readyz" in notes
    assert "http://prod-anomaly-gan.plant.svc:80/metrics" in notes
    assert "The pods listen on 9200 (service.containerPort), not on service.port" in notes

# ----------------------------------------------------------------------------- one copy


def test_rules_and_dashboard_exist_once_and_deploy_mounts_them() -> None:
    """The chart's files/ are the single copy: no duplicate anywhere in the repository, and the
    compose stack mounts exactly these paths."""
    originals = {RULES.read_bytes(): RULES, DASHBOARD.read_bytes(): DASHBOARD}
    skip = {".git", ".venv", ".tools", "node_modules", "__pycache__", ".pytest_cache"}
    for path in ROOT.rglob("*"):
        if any(part in skip for part in path.relative_to(ROOT).parts) or not path.is_file():
            continue
        if path.is_symlink() or path in originals.values() or path.stat().st_size > 5_000_000:
            continue
        data = path.read_bytes()
        assert data not in originals, f"{path} is a copy of {originals.get(data)}"
        if path.name in (RULES.name, DASHBOARD.name):
            pytest.fail(f"{path}: a second {path.name}; use {RULES.parent} (the single copy)")
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    mounts = [v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])]
    for original in (RULES, DASHBOARD):
        rel = Path("..") / original.relative_to(ROOT)
        assert str(rel) in mounts, f"docker-compose.yml does not mount {rel}"
    for m in mounts:
        if m.startswith("."):
            assert (DEPLOY / m).resolve().exists(), f"docker-compose.yml mounts missing {m}"


def test_compose_scorer_config_passes_validate_config() -> None:
    path = DEPLOY / "compose" / "anomaly-gan.yaml"
    proc = run([sys.executable, "-m", "anomaly_gan", "validate-config", str(path)], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_is_multistage_non_root_and_installs_like_the_readme() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) == 2
    assert re.search(r"^RUN pip install \"?\.", text, re.MULTILINE)
    user = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert user and not user[-1].startswith(("root", "0"))
    assert "COPY --from=build /opt/anomaly-gan /opt/anomaly-gan" in text
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert f"ARG UID={values['podSecurityContext']['runAsUser']}" in text


def test_image_reads_the_parquet_files_the_retraining_job_may_be_given() -> None:
    """retrain.dataPath may be Parquet (values.yaml, README), which needs pyarrow, an extra:
    the image installed `pip install .` alone, so such a CronJob failed every run with
    'reading Parquet needs pyarrow (pip install ...)', which no one can do in a pod."""
    import tomllib

    text = (DEPLOY / "Dockerfile").read_text()
    spec = re.search(r"^RUN pip install \"?\.(?:\[([a-z,-]+)\])?\"?", text, re.MULTILINE)
    assert spec, "the Dockerfile's pip install of the package"
    extras = (spec.group(1) or "").split(",")
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    installed = [r for e in extras if e for r in optional[e]]
    assert any(r.startswith("pyarrow") for r in installed), f"extras {extras}: no pyarrow"
    assert not {"dev", "demo"} & set(extras), extras  # tools, not what the pods run
    values = (CHART / "values.yaml").read_text()
    assert "(CSV/Parquet)" in values


def test_packaged_chart_carries_the_rules_and_dashboard(helm: str, tmp_path: Path) -> None:
    import tarfile

    run([helm, "package", str(CHART), "--destination", str(tmp_path)])
    (archive,) = tmp_path.glob("anomaly-gan-*.tgz")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        assert "anomaly-gan/files/rules.yaml" in names
        assert "anomaly-gan/files/anomaly-gan.json" in names
        assert "anomaly-gan/values.schema.json" in names
        assert not any(n.startswith("anomaly-gan/ci/") for n in names)
        rules = tar.extractfile("anomaly-gan/files/rules.yaml")
        assert rules is not None and rules.read() == RULES.read_bytes()


# ----------------------------------------------------------------------------- silences


def test_silences_render_a_configmap_mounted_where_the_config_points(render, tmp_path) -> None:
    """silences.entries: a ConfigMap the scorer mounts read-only, at the path the chart sets
    as serve.alerts.silences_path; its file is one the scorer accepts. Without entries (and
    silences.enabled false) nothing is rendered and the config names no file."""
    from anomaly_gan.stream.silences import load_silences

    assert "alerts" not in service_config(render())["serve"]
    assert not any(d["metadata"]["name"].endswith("-silences") for d in render())
    values = tmp_path / "silences.yaml"
    values.write_text(yaml.safe_dump({"silences": {"entries": [
        {"entity": "pump-7", "start": "2026-03-01T02:00:00Z", "end": "2026-03-01T06:00:00Z",
         "comment": "bearing swap", "created_by": "ops"},
        {"entity": "web-?/cpu*", "end": 1772344800}]}}))
    docs = render(values)
    path = service_config(docs)["serve"]["alerts"]["silences_path"]
    cm = find(docs, "ConfigMap", "anomaly-gan-silences")
    (tmp_path / "mounted.yaml").write_text(cm["data"]["silences.yaml"])
    s = load_silences(str(tmp_path / "mounted.yaml"))
    assert [(x.entity, x.start, x.end, x.comment) for x in s.all] == [
        ("pump-7", 1772330400.0, 1772344800.0, "bearing swap"),
        ("web-?/cpu*", None, 1772344800.0, "")]
    pod = find(docs, "Deployment")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v.get("configMap", {}).get("name")
                  == cm["metadata"]["name"])
    mount = next(m for m in scorer(docs)["volumeMounts"] if m["name"] == volume["name"])
    assert mount["readOnly"] and path == f"{mount['mountPath']}/silences.yaml"
    # enabled with no entries: an empty list to kubectl edit later
    docs = render(sets=("silences.enabled=true",))
    assert yaml.safe_load(find(docs, "ConfigMap", "anomaly-gan-silences")["data"]["silences.yaml"]) \
        == {"silences": []}
    assert service_config(docs)["serve"]["alerts"]["silences_path"] == path


def test_the_retrain_job_mounts_the_silences_where_the_config_points(render) -> None:
    """retrain reads serve.alerts.silences_path (it leaves the silenced spans out of the new
    baseline, and refuses to run without the file): the Job mounted the scorer's config,
    which names the file, but not the silences ConfigMap, so every run failed on it."""
    assert "silences" not in {m["name"] for m in retrain_container(
        render(sets=("retrain.enabled=true",)))["volumeMounts"]}
    docs = render(sets=("retrain.enabled=true", "silences.enabled=true"))
    path = service_config(docs)["serve"]["alerts"]["silences_path"]
    pod = find(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v.get("configMap", {}).get("name")
                  == find(docs, "ConfigMap", "anomaly-gan-silences")["metadata"]["name"])
    mount = next(m for m in retrain_container(docs)["volumeMounts"]
                 if m["name"] == volume["name"])
    assert mount["readOnly"] and path == f"{mount['mountPath']}/silences.yaml"


@pytest.mark.parametrize(("sets", "message"), [
    (("silences.entries[0].entity=pump-7",), "missing property 'end'"),
    (("silences.entries[0].entity=pump-7", "silences.entries[0].end=x",
      "silences.entries[0].reason=y"), "additional properties 'reason' not allowed"),
    (("config.serve.alerts.silences_path=/x",), "additional properties 'silences_path'"),
])
def test_schema_rejects_bad_silences(render_error, sets, message) -> None:
    err = render_error(sets=sets)
    assert message in err, err


def test_silences_over_a_configmaps_1_mib_fail_the_render_naming_the_key(
        render, render_error, tmp_path: Path) -> None:
    """1,000 entries with 1,100-character comments rendered: Kubernetes then refused the
    config check's ConfigMap at pre-install ('Too long: must have at most 1048576 bytes',
    naming no value), and the scorer reads no silences file over 1 MiB either
    (MAX_SILENCES_BYTES). A file of exactly 1 MiB renders, and the scorer takes it."""
    from anomaly_gan.stream.silences import MAX_SILENCES_BYTES, load_silences

    def values(comment: int) -> Path:
        path = tmp_path / f"silences-{comment}.yaml"
        path.write_text(yaml.safe_dump({"silences": {"entries": [
            {"entity": "pump-7", "end": "2026-03-01T06:00:00Z", "comment": "x" * comment}]}}))
        return path

    def file_of(docs: list[dict[str, Any]]) -> str:
        return str(find(docs, "ConfigMap", "anomaly-gan-silences")["data"]["silences.yaml"])

    pad = MAX_SILENCES_BYTES - len(file_of(render(values(1)))) + 1
    exact = file_of(render(values(pad)))
    assert len(exact.encode()) == MAX_SILENCES_BYTES == 1 << 20
    (tmp_path / "silences.yaml").write_text(exact)
    assert len(load_silences(str(tmp_path / "silences.yaml"))) == 1
    err = render_error(values(pad + 1))
    assert ("values: silences.entries render a silences file of 1048577 bytes (1 entries); "
            "expected at most 1048576 (1 MiB") in err, err
