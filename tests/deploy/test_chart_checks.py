"""The rendered chart checked by real tools, for the default values and every values file in
helm/anomaly-gan/ci/: `kubernetes-validate --strict` against the Kubernetes API schemas, and
a `checkov` security scan whose every finding is either fixed or listed, with its reason, in
docs/deployment.md ("Accepted checkov findings")."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import CHART, CRD_KINDS, ROOT, find_tool, run

pytestmark = [pytest.mark.helm, pytest.mark.slow]

VALUES = [None, *sorted((CHART / "ci").glob("*-values.yaml"))]
IDS = ["defaults", *(p.stem for p in VALUES[1:] if p is not None)]
DOCS = ROOT / "docs" / "deployment.md"


# Combinations no ci/ file can hold (the HPA and KEDA exclude each other): the kind they are
# about, and --set-json pairs.
DIGEST = "sha256:" + "0123456789abcdef" * 4
SETS = {
    "hpa-on-extra-metrics-only": ("HorizontalPodAutoscaler", (
        "autoscaling.enabled=true", "autoscaling.targetCPUUtilizationPercentage=null",
        "autoscaling.extraMetrics=" + json.dumps([{"type": "Pods", "pods": {
            "metric": {"name": "lag"}, "target": {"type": "AverageValue", "averageValue": "1k"}}}]),
    )),
    "pinned-images-time-zone-pull-secrets": ("CronJob", (
        f'image.digest="{DIGEST}"', f'tests.image.digest="{DIGEST}"', "retrain.enabled=true",
        'retrain.timeZone="Etc/UTC"', 'imagePullSecrets=[{"name": "regcred"}]')),
}


def render_to(helm: str, values: Path | None, out: Path,
              sets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    import yaml

    cmd = [helm, "template", "prod", str(CHART), "--namespace", "plant"]
    if values is not None:
        cmd += ["-f", str(values)]
    for s in sets:
        cmd += ["--set-json", s]
    text = run(cmd).stdout
    out.write_text(text)
    return [d for d in yaml.safe_load_all(text) if d]


def assert_kubernetes_validate_strict(manifest: Path, docs: list[dict[str, Any]]) -> None:
    tool = find_tool("kubernetes-validate")
    proc = run([tool, "--strict", str(manifest)], check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    validated = {m.lower() for m in re.findall(r"passed for resource (\S+)/", output)}
    expected = {d["kind"].lower() for d in docs if d["kind"] not in CRD_KINDS}
    assert validated == expected, output


@pytest.mark.parametrize("values", VALUES, ids=IDS)
def test_rendered_chart_passes_kubernetes_validate_strict(helm, values, tmp_path) -> None:
    manifest = tmp_path / "chart.yaml"
    assert_kubernetes_validate_strict(manifest, render_to(helm, values, manifest))


@pytest.mark.parametrize(("kind", "sets"), SETS.values(), ids=SETS.keys())
def test_optional_settings_pass_kubernetes_validate_strict(helm, kind, sets, tmp_path) -> None:
    manifest = tmp_path / "chart.yaml"
    docs = render_to(helm, None, manifest, sets)
    assert kind in {d["kind"] for d in docs}
    assert_kubernetes_validate_strict(manifest, docs)


def accepted_findings() -> dict[str, set[str]]:
    """``{check id: {kinds}}`` from the docs table (| CKV_... | kinds | reason |)."""
    accepted: dict[str, set[str]] = {}
    for line in DOCS.read_text().splitlines():
        m = re.match(r"^\| `?(CKV2?_K8S_\d+)`? \| ([^|]+) \| ([^|]+) \|$", line.strip())
        if m:
            assert len(m.group(3).strip()) > 20, f"{m.group(1)}: give the reason"
            accepted[m.group(1)] = {k.strip() for k in m.group(2).split(",")}
    assert accepted, f"no accepted-findings table in {DOCS}"
    return accepted


def test_checkov_findings_are_fixed_or_accepted_with_a_reason(helm, tmp_path) -> None:
    tool = find_tool("checkov")
    found: dict[str, set[str]] = {}
    for i, values in enumerate(VALUES):
        d = tmp_path / f"render-{i}"
        d.mkdir()
        render_to(helm, values, d / "chart.yaml")
        proc = run([tool, "-d", str(d), "--framework", "kubernetes", "-o", "json", "--compact",
                    "--quiet", "--skip-download"], check=False, timeout=600)
        assert proc.returncode in (0, 1), proc.stderr[-2000:]
        report = json.loads(proc.stdout)
        for failed in report["results"]["failed_checks"]:
            kind = failed["resource"].split(".")[0]
            found.setdefault(failed["check_id"], set()).add(kind)
    accepted = accepted_findings()
    unexplained = {c: k - accepted.get(c, set()) for c, k in found.items()}
    assert not {c: k for c, k in unexplained.items() if k}, (
        f"checkov findings neither fixed nor listed in {DOCS.name}: {unexplained}")
    stale = {c: k - found.get(c, set()) for c, k in accepted.items()}
    assert not {c: k for c, k in stale.items() if k}, f"listed but no longer found: {stale}"
